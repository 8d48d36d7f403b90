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

/// The comments, the bytes they took and whether all the entries the
/// count promised were there (FLAC writers have been known to put a wrong
/// length on the block: the comments' own lengths tell).
pub fn comments_and_len(b: &[u8]) -> Option<(Tag, usize, bool)> {
    let vendor = le(b, 0, 4)? as usize;
    let mut at = 4usize.checked_add(vendor)?;
    let count = le(b, at, 4)?;
    at += 4;
    // Every value of a name, in order, so that lists keep them all.
    let mut seen: Vec<(Key, Vec<String>)> = Vec::new();
    let mut read = 0u64;
    for _ in 0..count.min(100_000) {
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
        // The name first: values of names that mean nothing here (cover
        // art in base64, lyrics) are never decoded.
        let Some(eq) = entry.iter().position(|c| *c == b'=') else {
            continue;
        };
        let Some(key) = std::str::from_utf8(&entry[..eq])
            .ok()
            .and_then(Key::from_name)
        else {
            continue;
        };
        let value = text::utf8(&entry[eq + 1..]);
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(value),
            None => seen.push((key, vec![value])),
        }
    }
    let mut tag = Tag::default();
    for (key, values) in seen {
        tag.add(key, &values.join("\0"));
    }
    Some((tag, at.min(b.len()), read == count.min(100_000)))
}
