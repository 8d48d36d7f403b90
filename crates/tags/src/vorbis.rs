//! Vorbis comments (xiph.org): a vendor string, then `NAME=value` pairs,
//! all lengths 32-bit little-endian. Used by FLAC, Ogg Vorbis, Opus,
//! Speex and FLAC in Ogg. Names are matched without regard to case; a
//! name that appears several times gives several values.

use super::source::le;
use super::text;
use super::{Key, Tag};

pub fn comments(b: &[u8]) -> Option<Tag> {
    comments_and_len(b).map(|(t, _, _)| t)
}

/// Calls `each` with the name and value of every entry; returns the bytes
/// the entries took and whether all the count promised were there.
fn entries<'b>(b: &'b [u8], mut each: impl FnMut(&'b [u8], &'b [u8])) -> Option<(usize, bool)> {
    let vendor = le(b, 0, 4)? as usize;
    let mut at = 4usize.checked_add(vendor)?;
    let count = le(b, at, 4)?.min(100_000);
    at += 4;
    let mut read = 0u64;
    for _ in 0..count {
        let Some(len) = le(b, at, 4) else { break };
        let start = at + 4;
        let Some(entry) = start
            .checked_add(len as usize)
            .and_then(|end| b.get(start..end))
        else {
            break;
        };
        at = start + len as usize;
        read += 1;
        if let Some(eq) = entry.iter().position(|c| *c == b'=') {
            each(&entry[..eq], &entry[eq + 1..]);
        }
    }
    Some((at.min(b.len()), read == count))
}

/// The comments, the bytes they took and whether all the entries the
/// count promised were there (FLAC writers have been known to put a wrong
/// length on the block: the comments' own lengths tell).
pub fn comments_and_len(b: &[u8]) -> Option<(Tag, usize, bool)> {
    // Every value of a name, in order, so that lists keep them all.
    let mut seen: Vec<(Key, Vec<String>)> = Vec::new();
    let mut has_picture = false;
    let (len, complete) = entries(b, |name, value| {
        // The name first: values of names that mean nothing here (cover
        // art in base64, lyrics) are never decoded.
        if is_picture_name(name) {
            has_picture = true;
            return;
        }
        let Some(key) = std::str::from_utf8(name).ok().and_then(Key::from_name) else {
            return;
        };
        let value = text::utf8(value);
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(value),
            None => seen.push((key, vec![value])),
        }
    })?;
    let mut tag = Tag {
        has_picture,
        ..Tag::default()
    };
    for (key, values) in seen {
        tag.add(key, &values.join("\0"));
    }
    Some((tag, len, complete))
}

/// Names of comments holding cover art: a base64 FLAC picture block, or
/// (older writers) a base64 image.
fn is_picture_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"METADATA_BLOCK_PICTURE") || name.eq_ignore_ascii_case(b"COVERART")
}

/// The values of comments holding cover art, in order, still in base64,
/// each with whether it is a FLAC picture block (else a bare image).
pub fn picture_values(b: &[u8]) -> Vec<(bool, &[u8])> {
    let mut out = Vec::new();
    entries(b, |name, value| {
        if is_picture_name(name) {
            out.push((name.eq_ignore_ascii_case(b"METADATA_BLOCK_PICTURE"), value));
        }
    });
    out
}
