//! FLAC (xiph.org's format description): `fLaC` (after an ID3v2 tag some
//! taggers put in front), metadata blocks of a type and a 24-bit length;
//! STREAMINFO gives sample rate and total samples, VORBIS_COMMENT the tags.
//! A broken STREAMINFO costs the duration, never the tags.

use super::source::{Exhausted, Source, be};
use super::{Found, Props, id3v2, vorbis};

/// Parses a STREAMINFO block's 34 bytes into (sample rate, total samples).
pub fn streaminfo(b: &[u8]) -> Option<(u32, u64)> {
    if b.len() < 18 {
        return None;
    }
    let rate = (be(b, 10, 3)? >> 4) as u32;
    let total = be(b, 13, 5)? & 0xF_FFFF_FFFF;
    (rate > 0).then_some((rate, total))
}

/// Where a PICTURE block's parts are: type, MIME type, description, four
/// numbers, then the picture data, each string and the data with a 32-bit
/// length in front. Returns (picture type, data offset, data length).
fn picture_at(src: &mut Source<'_>, at: u64) -> Result<Option<(u32, u64, u64)>, Exhausted> {
    let Some(h) = src.exact(at, 8)? else {
        return Ok(None);
    };
    let kind = be(&h, 0, 4).unwrap_or(0) as u32;
    let mime = be(&h, 4, 4).unwrap_or(0);
    let Some(d) = src.exact(at + 8 + mime, 4)? else {
        return Ok(None);
    };
    let desc = be(&d, 0, 4).unwrap_or(0);
    let data_at = at + 8 + mime + 4 + desc + 16;
    let Some(n) = src.exact(data_at, 4)? else {
        return Ok(None);
    };
    Ok(Some((kind, data_at + 4, be(&n, 0, 4).unwrap_or(0))))
}

/// A picture block's bytes in memory (a base64 Vorbis comment decoded):
/// (picture type, data).
pub fn picture_block(b: &[u8]) -> Option<(u32, &[u8])> {
    let mut src = Source::from_bytes(b);
    let (kind, at, len) = picture_at(&mut src, 0).ok()??;
    let start = usize::try_from(at).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some((kind, b.get(start..end)?))
}

/// What a metadata block is to the walk.
enum Block<'a> {
    StreamInfo(u64, usize),
    /// The block's bytes and the comments read from them.
    Comments(std::borrow::Cow<'a, [u8]>, Option<Box<super::Tag>>),
    Picture(u32, u64, u64),
}

/// Walks the metadata blocks, handing each of interest to `each`; returns
/// where the audio starts, or `None` if this is not a FLAC stream. Block
/// sizes of comments and pictures are not trusted (some writers got them
/// wrong): their own structure says where they end, as in the reference
/// decoder.
fn blocks<'a>(
    src: &mut Source<'a>,
    mut each: impl FnMut(&mut Source<'a>, Block<'a>) -> Result<(), Exhausted>,
) -> Result<Option<u64>, Exhausted> {
    let mut at = 0u64;
    let head = src.read(0, 10)?;
    if let Some(len) = id3v2::tag_len(&head) {
        at = len;
    }
    if *src.read(at, 4)? != *b"fLaC" {
        return Ok(None);
    }
    at += 4;
    for _ in 0..1024 {
        let Some(h) = src.exact(at, 4)? else { break };
        let last = h[0] & 0x80 != 0;
        let kind = h[0] & 0x7F;
        let len = be(&h, 1, 3).unwrap_or(0) as usize;
        let body_at = at + 4;
        at = body_at + len as u64;
        match kind {
            0 => each(src, Block::StreamInfo(body_at, len))?,
            4 => {
                let mut body = src.read(body_at, len)?;
                let mut parsed = vorbis::comments_and_len(&body);
                if parsed.as_ref().is_none_or(|(_, _, complete)| !complete) {
                    body = src.read(body_at, len.saturating_add(64 * 1024))?;
                    parsed = vorbis::comments_and_len(&body);
                }
                let tag = parsed.map(|(tag, real, _)| {
                    at = body_at + real as u64;
                    Box::new(tag)
                });
                each(src, Block::Comments(body, tag))?;
            }
            6 => {
                if let Some((kind, data_at, data_len)) = picture_at(src, body_at)? {
                    at = data_at.saturating_add(data_len);
                    each(src, Block::Picture(kind, data_at, data_len))?;
                }
            }
            127 => break, // invalid
            _ => {}
        }
        if last {
            break;
        }
    }
    Ok(Some(at))
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let mut info = None;
    let walked = blocks(src, |src, block| {
        match block {
            Block::StreamInfo(at, len) if info.is_none() => {
                info = streaminfo(&src.read(at, len.min(34))?)
            }
            Block::Comments(_, Some(t)) => found.tag.fill_from(*t),
            Block::Picture(..) => found.tag.has_picture = true,
            _ => {}
        }
        Ok(())
    })?;
    let Some(audio_start) = walked else {
        found.problems.push("not a FLAC stream".into());
        return Ok(found);
    };
    match info {
        Some((rate, total)) if total > 0 => {
            let secs = total as f64 / f64::from(rate);
            let audio = src.len().saturating_sub(audio_start);
            found.props = Props {
                duration_secs: Some(secs),
                estimated: false,
                codec: Some("flac"),
                bitrate_kbps: Some((audio as f64 * 8.0 / secs / 1000.0).round() as u32),
            };
        }
        _ => {
            found.props.codec = Some("flac");
            found
                .problems
                .push("the FLAC STREAMINFO block is missing or gives no length".into());
        }
    }
    Ok(found)
}

/// The pictures of a FLAC stream: PICTURE blocks and base64 picture
/// comments, as (picture type, data).
pub fn pictures(src: &mut Source<'_>) -> Result<Vec<(u32, Vec<u8>)>, Exhausted> {
    let mut out = Vec::new();
    blocks(src, |src, block| {
        match block {
            Block::Picture(kind, at, len) => {
                let data = src.read(at, usize::try_from(len).unwrap_or(usize::MAX))?;
                if data.len() as u64 == len {
                    out.push((kind, data.into_owned()));
                }
            }
            Block::Comments(body, _) => out.extend(super::picture::from_comments(&body)),
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}
