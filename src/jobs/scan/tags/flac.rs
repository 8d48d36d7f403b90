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

/// A PICTURE block's real length: type, MIME type, description, four
/// numbers, then the picture data, each string and the data with a 32-bit
/// length in front.
fn picture_len(src: &mut Source<'_>, at: u64) -> Result<Option<u64>, Exhausted> {
    let Some(h) = src.exact(at, 8)? else {
        return Ok(None);
    };
    let mime = be(&h, 4, 4).unwrap_or(0);
    let Some(d) = src.exact(at + 8 + mime, 4)? else {
        return Ok(None);
    };
    let desc = be(&d, 0, 4).unwrap_or(0);
    let data_at = at + 8 + mime + 4 + desc + 16;
    let Some(n) = src.exact(data_at, 4)? else {
        return Ok(None);
    };
    Ok(Some(data_at + 4 + be(&n, 0, 4).unwrap_or(0) - at))
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let mut at = 0u64;
    let head = src.read(0, 10)?;
    if let Some(len) = id3v2::tag_len(&head) {
        at = len;
    }
    if *src.read(at, 4)? != *b"fLaC" {
        found.problems.push("not a FLAC stream".into());
        return Ok(found);
    }
    at += 4;
    let mut info = None;
    let mut audio_start = at;
    for _ in 0..1024 {
        let Some(h) = src.exact(at, 4)? else { break };
        let last = h[0] & 0x80 != 0;
        let kind = h[0] & 0x7F;
        let len = be(&h, 1, 3).unwrap_or(0) as usize;
        let body_at = at + 4;
        match kind {
            0 if info.is_none() => info = streaminfo(&src.read(body_at, len.min(34))?),
            // Block sizes of comments and pictures are not trusted (some
            // writers got them wrong): their own structure says where
            // they end, as in the reference decoder.
            4 => {
                let mut body = src.read(body_at, len)?;
                if vorbis::comments_and_len(&body).is_none_or(|(_, _, complete)| !complete) {
                    body = src.read(body_at, len.saturating_add(64 * 1024))?;
                }
                if let Some((t, real, _)) = vorbis::comments_and_len(&body) {
                    found.tag.fill_from(t);
                    at = body_at + real as u64;
                    audio_start = at;
                    if last {
                        break;
                    }
                    continue;
                }
            }
            6 => {
                if let Some(real) = picture_len(src, body_at)? {
                    at = body_at + real;
                    audio_start = at;
                    if last {
                        break;
                    }
                    continue;
                }
            }
            127 => break, // invalid
            _ => {}
        }
        at = body_at + len as u64;
        audio_start = at;
        if last {
            break;
        }
    }
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
