//! APEv2 (and v1) tags at the end of a file, before an ID3v1 tag and a
//! Lyrics3v2 block if there are any: a 32-byte footer (`APETAGEX`,
//! version, size, item count, flags), items of `value size, flags, key\0,
//! value`; text values are UTF-8, several separated by NUL.

use super::Tag;
use super::source::{Exhausted, Source, le};
use super::text;

/// Where the tags at the end of a file end: before ID3v1 and Lyrics3v2.
pub fn end_of_tags(src: &mut Source<'_>) -> Result<u64, Exhausted> {
    let len = src.len();
    let mut end = len;
    if len >= 128 && *src.read(len - 128, 3)? == *b"TAG" {
        end -= 128;
    }
    if end >= 15 && *src.read(end - 9, 9)? == *b"LYRICS200" {
        let digits = src.read(end - 15, 6)?;
        if let Some(n) = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            && n + 15 <= end
        {
            end -= n + 15;
        }
    }
    Ok(end)
}

/// The APEv2 tag at the end of the file, and the offset where it starts.
pub fn read(src: &mut Source<'_>) -> Result<Option<(Tag, u64)>, Exhausted> {
    let end = end_of_tags(src)?;
    if end < 32 {
        return Ok(None);
    }
    let footer = src.read(end - 32, 32)?;
    if footer.len() != 32 || &footer[..8] != b"APETAGEX" {
        return Ok(None);
    }
    let size = le(&footer, 12, 4).unwrap_or(0);
    let count = le(&footer, 16, 4).unwrap_or(0);
    let flags = le(&footer, 20, 4).unwrap_or(0);
    // The size counts items and footer, not the optional header.
    if size < 32 || size > end {
        return Ok(None);
    }
    let start = end - size;
    let items = src.read(start, (size - 32) as usize)?;
    let mut tag = Tag::default();
    let mut at = 0usize;
    for _ in 0..count.min(65_536) {
        let (Some(vlen), Some(iflags)) = (le(&items, at, 4), le(&items, at + 4, 4)) else {
            break;
        };
        let key_start = at + 8;
        let Some(key_len) = items
            .get(key_start..)
            .and_then(|r| r.iter().position(|c| *c == 0))
        else {
            break;
        };
        let key = text::latin1(&items[key_start..key_start + key_len]);
        let value_start = key_start + key_len + 1;
        let value_end = value_start.saturating_add(vlen as usize);
        let Some(value) = items.get(value_start..value_end) else {
            break;
        };
        // Type 0 is text; 1 binary, 2 an external link.
        if (iflags >> 1) & 3 == 0 {
            tag.add_named(&key, &text::utf8(value));
        }
        at = value_end;
    }
    let header_len = if flags & (1 << 31) != 0 { 32 } else { 0 };
    Ok(Some((tag, start.saturating_sub(header_len))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, value: &str) -> Vec<u8> {
        let mut b = (value.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(key.as_bytes());
        b.push(0);
        b.extend_from_slice(value.as_bytes());
        b
    }

    #[test]
    fn items_before_a_footer_and_an_id3v1_tag() {
        let items = [
            item("Title", "Dune"),
            item("Artist", "A\0B"),
            item("Track", "2/9"),
        ]
        .concat();
        let mut file = b"audio".to_vec();
        file.extend_from_slice(&items);
        file.extend_from_slice(b"APETAGEX");
        file.extend_from_slice(&2000u32.to_le_bytes());
        file.extend_from_slice(&(items.len() as u32 + 32).to_le_bytes());
        file.extend_from_slice(&3u32.to_le_bytes());
        file.extend_from_slice(&[0u8; 12]);
        let mut v1 = vec![0u8; 128];
        v1[..3].copy_from_slice(b"TAG");
        file.extend_from_slice(&v1);
        let mut c = std::io::Cursor::new(file);
        let mut src = Source::new(&mut c).unwrap();
        let (t, start) = read(&mut src).unwrap().unwrap();
        assert_eq!(start, 5);
        assert_eq!(t.title.as_deref(), Some("Dune"));
        assert_eq!(t.artists, ["A", "B"]);
        assert_eq!(t.track, Some(2));
    }
}
