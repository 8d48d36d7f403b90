//! Cover art held in a file's tags: ID3v2 `APIC` (in front of MP3, AAC
//! and FLAC, or in a WAV or AIFF chunk), FLAC `PICTURE` blocks, base64 picture comments (FLAC, Ogg
//! Vorbis, Opus) and MP4 `covr`. The scan only notes that a tag holds a
//! picture ([`super::Tag::has_picture`]); the bytes are read here when a
//! cover is asked for.
//!
//! What a tag claims a picture is counts for nothing: the bytes must be
//! a JPEG, PNG, WebP or GIF image by their own signature, and the type
//! sent with them is the one that signature names.

use std::path::Path;

use super::source::{Exhausted, Source};
use super::{Kind, flac, id3v2, mp4, ogg, riff, sniff};

/// An image read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// What the bytes are (`image/jpeg`, `image/png`, `image/webp`,
    /// `image/gif`).
    pub mime: &'static str,
    pub data: Vec<u8>,
}

/// The image type the bytes' signature names, if they are an image of a
/// kind every browser shows.
pub fn image_type(data: &[u8]) -> Option<&'static str> {
    match data {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

/// The file extension an image of this type is written with.
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "jpg",
    }
}

/// The front cover among `(picture type, data)` candidates: the first of
/// type 3 ("Cover (front)") that is an image, else the first image.
fn choose(candidates: Vec<(u32, Vec<u8>)>) -> Option<Picture> {
    let mut first = None;
    for (kind, data) in candidates {
        let Some(mime) = image_type(&data) else {
            continue;
        };
        let p = Picture { mime, data };
        if kind == 3 {
            return Some(p);
        }
        first.get_or_insert(p);
    }
    first
}

/// The cover art of the file at `path`, if its tags hold one. `Err` when
/// the file cannot be opened; a malformed file gives `Ok(None)`.
pub fn embedded(path: &Path) -> Result<Option<Picture>, String> {
    let mut f = std::fs::File::open(path)
        .map(|f| std::io::BufReader::with_capacity(64 * 1024, f))
        .map_err(|e| e.to_string())?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    super::guarded(|| {
        let mut src = Source::new(&mut f).map_err(|e| e.to_string())?;
        Ok(candidates(&mut src, &ext).ok().and_then(choose))
    })
}

/// The same from a file in memory.
pub fn embedded_in_bytes(bytes: &[u8], ext: &str) -> Option<Picture> {
    super::guarded(|| {
        let mut src = Source::from_bytes(bytes);
        Ok(candidates(&mut src, ext).ok().and_then(choose))
    })
    .ok()
    .flatten()
}

fn candidates(src: &mut Source<'_>, ext: &str) -> Result<Vec<(u32, Vec<u8>)>, Exhausted> {
    let mut out = Vec::new();
    // ID3v2 tags in front of any file, one after the other.
    let mut at = 0u64;
    for _ in 0..8 {
        let head = src.read(at, 10)?;
        let Some(len) = id3v2::tag_len(&head) else {
            break;
        };
        out.extend(id3v2::pictures(&src.read(at, len as usize)?));
        at += len;
    }
    let head = src.read(at, 16)?;
    let kind = sniff(&head).or_else(|| super::by_extension(ext));
    match kind {
        Some(Kind::Flac) => out.extend(flac::pictures(src)?),
        Some(Kind::Mp4) => out.extend(mp4::pictures(src)?),
        Some(Kind::Ogg) => out.extend(ogg::pictures(src)?),
        Some(Kind::Riff | Kind::Aiff) => out.extend(riff::pictures(src)?),
        _ => {}
    }
    Ok(out)
}

/// The pictures of base64 Vorbis comments: FLAC picture blocks, or bare
/// images (`COVERART`, type unknown: counted as a front cover).
pub fn from_comments(comments: &[u8]) -> Vec<(u32, Vec<u8>)> {
    super::vorbis::picture_values(comments)
        .into_iter()
        .filter_map(|(block, b64)| {
            let bytes = base64(b64)?;
            if block {
                flac::picture_block(&bytes).map(|(kind, data)| (kind, data.to_vec()))
            } else {
                Some((3, bytes))
            }
        })
        .collect()
}

/// Standard base64 (RFC 4648), padding optional, whitespace skipped;
/// `None` on any other character.
fn base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\r' | b'\n' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64(b"aGVs\nbG8h").unwrap(), b"hello!");
        assert!(base64(b"a*b").is_none());
    }

    #[test]
    fn only_bytes_that_are_images_count_and_the_front_cover_wins() {
        let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2];
        let png = b"\x89PNG\r\n\x1a\n....".to_vec();
        let html = b"<html><script>".to_vec();
        assert_eq!(image_type(&html), None);
        let p = choose(vec![(0, html.clone()), (4, png.clone()), (3, jpeg.clone())]).unwrap();
        assert_eq!((p.mime, p.data), ("image/jpeg", jpeg));
        let p = choose(vec![(0, html), (4, png.clone())]).unwrap();
        assert_eq!((p.mime, p.data), ("image/png", png));
    }
}
