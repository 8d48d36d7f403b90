//! ID3v2.2, 2.3 and 2.4 (id3.org's specifications): unsynchronisation
//! (whole-tag and per-frame), extended headers, frame flags, the four text
//! encodings, several values per frame, and 2.4 tags whose frame sizes
//! were written without the synchsafe encoding (iTunes did).

use super::text;
use super::{Key, Tag};

/// A synchsafe integer (7 bits a byte).
fn synchsafe(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, x| acc << 7 | u32::from(x & 0x7F))
}

fn plain(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |acc, x| acc << 8 | u32::from(*x))
}

/// Whole length of the tag starting `head` (header, body and footer), if
/// `head` starts one.
pub fn tag_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[..3] != b"ID3" || head[3] == 0xFF || head[4] == 0xFF {
        return None;
    }
    let footer = if head[3] == 4 && head[5] & 0x10 != 0 {
        10
    } else {
        0
    };
    Some(10 + u64::from(synchsafe(&head[6..10])) + footer)
}

/// Undoes unsynchronisation: `FF 00` becomes `FF`.
fn resync(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        out.push(b[i]);
        if b[i] == 0xFF && b.get(i + 1) == Some(&0) {
            i += 1;
        }
        i += 1;
    }
    out
}

/// The text of a text frame's payload (encoding byte first), its values
/// still NUL-separated.
pub fn decode_text(payload: &[u8]) -> String {
    let Some((&enc, rest)) = payload.split_first() else {
        return String::new();
    };
    match enc {
        1 => utf16_values(rest, false),
        2 => utf16_values(rest, true),
        3 => text::utf8(rest),
        _ => text::latin1(rest),
    }
}

/// UTF-16 values separated by a two-byte NUL, each with its own BOM.
fn utf16_values(b: &[u8], big: bool) -> String {
    let mut out = String::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == 0 && b[i + 1] == 0 {
            if !out.is_empty() || start > 0 {
                out.push('\0');
            }
            out.push_str(&text::utf16(&b[start..i], big));
            start = i + 2;
        }
        i += 2;
    }
    if start < b.len() {
        if start > 0 {
            out.push('\0');
        }
        out.push_str(&text::utf16(&b[start..], big));
    }
    out
}

/// `description\0value` of TXXX (and the like), decoded.
fn split_described(payload: &[u8]) -> Option<(String, String)> {
    let all = decode_text(payload);
    let (desc, value) = all.split_once('\0')?;
    Some((desc.to_string(), value.to_string()))
}

fn key_of(id: &str) -> Option<Key> {
    Some(match id {
        "TIT2" | "TT2" => Key::Title,
        "TPE1" | "TP1" => Key::Artist,
        "TPE2" | "TP2" => Key::AlbumArtist,
        "TALB" | "TAL" => Key::Album,
        "TCOM" | "TCM" => Key::Composer,
        "TRCK" | "TRK" => Key::Track,
        "TPOS" | "TPA" => Key::Disc,
        "TDRC" | "TYER" | "TYE" | "TDRL" | "TORY" | "TOR" | "TDOR" => Key::Year,
        "TCON" | "TCO" => Key::Genre,
        "MVNM" => Key::Series,
        "MVIN" => Key::SeriesIndex,
        _ => return None,
    })
}

/// Reads a whole tag (header included). Frames it cannot read are left
/// out; whatever came before them stands.
pub fn parse(tag: &[u8]) -> Tag {
    let mut out = Tag::default();
    // Description-keyed frames: the first wins per description.
    let mut years: Vec<(u8, String)> = Vec::new();
    frames(tag, |id, payload| frame(&mut out, &mut years, id, payload));
    // The recording date beats release and original dates.
    years.sort_by_key(|(rank, _)| *rank);
    for (_, y) in years {
        out.add(Key::Year, &y);
    }
    out
}

/// The pictures of a whole tag (`APIC`, 2.2's `PIC`): (picture type,
/// data), in order.
pub fn pictures(tag: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    frames(tag, |id, payload| {
        if let Some(p) = picture(id, payload) {
            out.push(p);
        }
    });
    out
}

/// An `APIC` frame: encoding, MIME type (Latin-1, NUL-ended), picture
/// type, description (ended as its encoding says), data. 2.2's `PIC` has a
/// three-letter format in place of the MIME type.
fn picture(id: &str, payload: &[u8]) -> Option<(u32, Vec<u8>)> {
    let encoding = *payload.first()?;
    let mut at = match id {
        "APIC" => 1 + payload.get(1..)?.iter().position(|b| *b == 0)? + 1,
        "PIC" => 4,
        _ => return None,
    };
    let kind = u32::from(*payload.get(at)?);
    at += 1;
    let rest = payload.get(at..)?;
    let data_at = match encoding {
        1 | 2 => rest
            .chunks_exact(2)
            .position(|c| c == [0, 0])
            .map(|i| i * 2 + 2)?,
        _ => rest.iter().position(|b| *b == 0)? + 1,
    };
    Some((kind, rest.get(data_at..)?.to_vec()))
}

/// Calls `each` with every frame's id and payload (decompressed frames
/// aside, resynchronised), in order.
fn frames(tag: &[u8], mut each: impl FnMut(&str, &[u8])) {
    if tag_len(tag).is_none() {
        return;
    }
    let major = tag[3];
    let flags = tag[5];
    let size = synchsafe(&tag[6..10]) as usize;
    let body = &tag[10..tag.len().min(10 + size)];
    let body = if flags & 0x80 != 0 && major < 4 {
        resync(body)
    } else {
        body.to_vec()
    };
    let mut at = 0usize;
    if flags & 0x40 != 0 && major >= 3 {
        let ext = match major {
            3 => plain(body.get(..4).unwrap_or(&[])) as usize + 4,
            _ => synchsafe(body.get(..4).unwrap_or(&[])) as usize,
        };
        at = ext.min(body.len());
    }
    let (id_len, header_len) = if major == 2 { (3, 6) } else { (4, 10) };
    while at.checked_add(header_len).is_some_and(|e| e <= body.len()) {
        let h = &body[at..at + header_len];
        if h[0] == 0 {
            break; // padding
        }
        let Ok(id) = std::str::from_utf8(&h[..id_len]) else {
            break;
        };
        if !id
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            break;
        }
        let size = match major {
            2 => plain(&h[3..6]) as usize,
            3 => plain(&h[4..8]) as usize,
            _ => frame_size_v24(&body, at, header_len),
        };
        let start = at + header_len;
        let end = start.saturating_add(size).min(body.len());
        let mut payload = body[start..end].to_vec();
        at = start.saturating_add(size);
        if major >= 3 {
            let fl = u16::from_be_bytes([h[8], h[9]]);
            let (compressed, encrypted, grouping, unsync, length_ind) = if major == 3 {
                (
                    fl & 0x0080 != 0,
                    fl & 0x0040 != 0,
                    fl & 0x0020 != 0,
                    false,
                    fl & 0x0080 != 0,
                )
            } else {
                (
                    fl & 0x0008 != 0,
                    fl & 0x0004 != 0,
                    fl & 0x0040 != 0,
                    fl & 0x0002 != 0,
                    fl & 0x0001 != 0,
                )
            };
            if compressed || encrypted {
                continue; // zlib or encryption: not for text we need
            }
            let mut skip = 0;
            if grouping {
                skip += 1;
            }
            if length_ind {
                skip += 4;
            }
            payload.drain(..skip.min(payload.len()));
            if unsync || (major == 4 && flags & 0x80 != 0) {
                payload = resync(&payload);
            }
        }
        each(id, &payload);
    }
}

/// A 2.4 frame's size: synchsafe as the standard says, unless that lands
/// in the middle of nowhere while the plain reading lands on a frame (as
/// iTunes wrote them).
fn frame_size_v24(body: &[u8], at: usize, header_len: usize) -> usize {
    let raw = &body[at + 4..at + 8];
    let safe = synchsafe(raw) as usize;
    if raw.iter().all(|b| b & 0x80 == 0) {
        let looks_like_frame = |next: usize| {
            next >= body.len()
                || body[next] == 0
                || body.get(next..next + 4).is_some_and(|id| {
                    id.iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                })
        };
        let plain_size = plain(raw) as usize;
        if safe != plain_size
            && !looks_like_frame(at + header_len + safe)
            && looks_like_frame(at + header_len + plain_size)
        {
            return plain_size;
        }
        return safe;
    }
    plain(raw) as usize
}

fn frame(out: &mut Tag, years: &mut Vec<(u8, String)>, id: &str, payload: &[u8]) {
    match id {
        "TXXX" | "TXX" => {
            let Some((desc, value)) = split_described(payload) else {
                return;
            };
            let desc = desc.trim().to_ascii_lowercase();
            match desc.as_str() {
                // What other taggers call the same thing.
                "albumartist" | "album artist" => out.add(Key::AlbumArtist, &value),
                "series-part" | "seriespart" | "series part" => out.add(Key::SeriesIndex, &value),
                "narrator" | "narrated by" | "narratedby" | "reader" => {
                    out.add(Key::Narrator, &value)
                }
                "series" | "mvnm" => out.add(Key::Series, &value),
                _ => {}
            }
        }
        "TDRC" | "TYER" | "TYE" => years.push((0, decode_text(payload))),
        "TDRL" => years.push((1, decode_text(payload))),
        "TDOR" | "TORY" | "TOR" => years.push((2, decode_text(payload))),
        "TCON" | "TCO" => {
            let g = decode_text(payload);
            out.add(Key::Genre, &genre_name(&g));
        }
        "APIC" | "PIC" => out.has_picture = true,
        _ if id.starts_with('T') => {
            if let Some(k) = key_of(id) {
                out.add(k, &decode_text(payload));
            }
        }
        _ => {}
    }
}

/// `(12)`, `12` or `(12)Other` as the genre's name where it is a number
/// of the ID3v1 list's first entries; anything else as written.
fn genre_name(g: &str) -> String {
    let t = g.trim();
    let n = t.trim_start_matches('(');
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() && (t.len() == digits.len() || t.starts_with('(')) {
        let rest = n[digits.len()..].trim_start_matches(')');
        if !rest.is_empty() {
            return rest.to_string();
        }
        if let Some(name) = digits
            .parse::<usize>()
            .ok()
            .and_then(|i| super::id3v1::GENRES.get(i))
        {
            return (*name).to_string();
        }
    }
    g.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame24(id: &str, payload: &[u8]) -> Vec<u8> {
        let mut f = id.as_bytes().to_vec();
        let n = payload.len() as u32;
        f.extend_from_slice(&[
            (n >> 21 & 0x7F) as u8,
            (n >> 14 & 0x7F) as u8,
            (n >> 7 & 0x7F) as u8,
            (n & 0x7F) as u8,
            0,
            0,
        ]);
        f.extend_from_slice(payload);
        f
    }

    fn tag24(frames: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = frames.concat();
        let n = body.len() as u32;
        let mut t = b"ID3\x04\x00\x00".to_vec();
        t.extend_from_slice(&[
            (n >> 21 & 0x7F) as u8,
            (n >> 14 & 0x7F) as u8,
            (n >> 7 & 0x7F) as u8,
            (n & 0x7F) as u8,
        ]);
        t.extend_from_slice(&body);
        t
    }

    #[test]
    fn several_values_split_and_the_first_frame_wins() {
        let t = parse(&tag24(&[
            frame24("TIT2", b"\x03some title\x00another title"),
            frame24("TPE1", b"\x03artist6\x00artist7"),
            frame24("TIT2", b"\x03a later title"),
            frame24("TPE1", b"\x03someone else"),
            frame24("TRCK", b"\x0304/12"),
        ]));
        assert_eq!(t.title.as_deref(), Some("some title"));
        assert_eq!(t.artists, ["artist6", "artist7"]);
        assert_eq!(t.track, Some(4));
    }

    #[test]
    fn utf16_values_each_with_a_bom() {
        let mut p = vec![1u8];
        for (i, v) in ["One", "Two"].iter().enumerate() {
            if i > 0 {
                p.extend_from_slice(&[0, 0]);
            }
            p.extend_from_slice(&[0xFF, 0xFE]);
            for c in v.encode_utf16() {
                p.extend_from_slice(&c.to_le_bytes());
            }
        }
        let t = parse(&tag24(&[frame24("TPE1", &p)]));
        assert_eq!(t.artists, ["One", "Two"]);
    }

    #[test]
    fn numeric_genres_become_names() {
        assert_eq!(genre_name("(101)"), "Speech");
        assert_eq!(genre_name("101"), "Speech");
        assert_eq!(genre_name("(12)Audiobook"), "Audiobook");
        assert_eq!(genre_name("Audiobook"), "Audiobook");
    }
}
