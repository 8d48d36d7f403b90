//! WAV (RIFF, little-endian chunks) and AIFF/AIFF-C (IFF, big-endian):
//! chunks of a four-character id and a 32-bit size, padded to even sizes.
//! WAV: `fmt ` and `data` give the length, a `LIST`/`INFO` chunk the tags
//! (`INAM`, `IART`, `IPRD`, `ICRD`, `ITRK`/`IPRT`, `IGNR`). AIFF: `COMM`
//! gives frames and sample rate, `NAME` and `AUTH` title and author. An
//! `id3 `/`ID3 ` chunk in either holds an ID3v2 tag, which comes first.

use super::source::{Exhausted, Source, be, le};
use super::text;
use super::{Found, Key, Props, Tag, id3v2};

/// An 80-bit IEEE extended float (AIFF's sample rate).
fn extended(b: &[u8]) -> Option<f64> {
    let exp = (be(b, 0, 2)? & 0x7FFF) as i32;
    let mantissa = be(b, 2, 8)?;
    if exp == 0 && mantissa == 0 {
        return Some(0.0);
    }
    Some(mantissa as f64 * 2f64.powi(exp - 16383 - 63))
}

/// Text of no declared encoding (INFO, NAME, AUTH): up to a NUL, UTF-8
/// where it is valid (as ffmpeg and most tools write it), else Latin-1.
fn undeclared(raw: &[u8]) -> String {
    let cut = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
    match std::str::from_utf8(&raw[..cut]) {
        Ok(s) => s.to_string(),
        Err(_) => text::latin1(&raw[..cut]),
    }
}

fn info_list(b: &[u8], tag: &mut Tag) {
    let mut at = 4; // "INFO"
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = le(b, at + 4, 4).unwrap_or(0) as usize;
        let end = (at + 8).saturating_add(len).min(b.len());
        let raw = &b[at + 8..end];
        let value = undeclared(raw);
        let key = match id {
            b"INAM" => Some(Key::Title),
            b"IART" => Some(Key::Artist),
            b"IPRD" => Some(Key::Album),
            b"ICRD" => Some(Key::Year),
            b"ITRK" | b"IPRT" => Some(Key::Track),
            b"IGNR" => Some(Key::Genre),
            _ => None,
        };
        if let Some(k) = key {
            tag.add(k, &value);
        }
        at = end + (len & 1);
    }
}

/// Walks the chunks of a RIFF (little-endian) or AIFF (big-endian) file,
/// handing each one's id, body offset and size to `each`; `None` if the
/// file is neither.
fn chunks(
    src: &mut Source<'_>,
    mut each: impl FnMut(&mut Source<'_>, [u8; 4], u64, u64) -> Result<(), Exhausted>,
) -> Result<Option<bool>, Exhausted> {
    let head = src.read(0, 12)?;
    let big = match head.get(..4) {
        Some(b"RIFF") => false,
        Some(b"FORM") => true,
        _ => return Ok(None),
    };
    let mut at = 12u64;
    let len = src.len();
    for _ in 0..10_000 {
        let Some(h) = src.exact(at, 8)? else { break };
        let size = if big { be(&h, 4, 4) } else { le(&h, 4, 4) }.unwrap_or(0);
        let body = at + 8;
        each(src, [h[0], h[1], h[2], h[3]], body, size)?;
        at = body.saturating_add(size).saturating_add(size & 1);
        if at >= len {
            break;
        }
    }
    Ok(Some(big))
}

/// The pictures of the ID3v2 chunk (WAV `id3 `, AIFF `ID3 `).
pub fn pictures(src: &mut Source<'_>) -> Result<Vec<(u32, Vec<u8>)>, Exhausted> {
    let mut out = Vec::new();
    chunks(src, |src, id, body, size| {
        if matches!(&id, b"id3 " | b"ID3 ") {
            out.extend(id3v2::pictures(&src.read(body, size as usize)?));
        }
        Ok(())
    })?;
    Ok(out)
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let mut id3 = Tag::default();
    let mut own = Tag::default();
    let (mut byte_rate, mut data_len, mut frames, mut rate) = (None, None, None, None);
    let len = src.len();
    let walked = chunks(src, |src, id, body, size| {
        match &id {
            b"fmt " => {
                let b = src.read(body, 16)?;
                byte_rate = le(&b, 8, 4);
            }
            b"data" => data_len = Some(size.min(len.saturating_sub(body))),
            b"COMM" => {
                let b = src.read(body, 18)?;
                frames = be(&b, 2, 4);
                rate = b.get(8..18).and_then(extended);
            }
            b"LIST" => {
                let b = src.read(body, size as usize)?;
                if b.starts_with(b"INFO") {
                    info_list(&b, &mut own);
                }
            }
            b"NAME" => own.add(Key::Title, &undeclared(&src.read(body, size as usize)?)),
            b"AUTH" => own.add(Key::Artist, &undeclared(&src.read(body, size as usize)?)),
            b"id3 " | b"ID3 " => {
                let b = src.read(body, size as usize)?;
                id3.fill_from(id3v2::parse(&b));
            }
            _ => {}
        }
        Ok(())
    })?;
    let Some(big) = walked else {
        found.problems.push("not a RIFF or AIFF file".into());
        return Ok(found);
    };
    id3.fill_from(own);
    found.tag = id3;
    let secs = if big {
        match (frames, rate) {
            (Some(f), Some(r)) if r > 0.0 => Some(f as f64 / r),
            _ => None,
        }
    } else {
        match (data_len, byte_rate) {
            (Some(d), Some(b)) if b > 0 => Some(d as f64 / b as f64),
            _ => None,
        }
    };
    found.props = Props {
        duration_secs: secs,
        estimated: false,
        codec: Some("pcm"),
        bitrate_kbps: byte_rate.map(|b| (b * 8 / 1000) as u32),
    };
    if secs.is_none() {
        found
            .problems
            .push("the file's format chunks give no length".into());
    }
    Ok(found)
}
