//! Apple's Core Audio Format: `caff`, then chunks of a type and a 64-bit
//! size. `desc` gives the sample rate and frames per packet, `pakt` the
//! frames in the file (else `data` over bytes per packet for constant-size
//! packets), `info` the tags as NUL-terminated key-value strings
//! (`title`, `artist`, `album`, `year`, `track number`, `composer`,
//! `genre`, `recorded date`).

use super::Found;
use super::source::{Exhausted, Source, be};
use super::text;

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    if *src.read(0, 4)? != *b"caff" {
        found.problems.push("not a CAF file".into());
        return Ok(found);
    }
    let len = src.len();
    let (mut rate, mut bytes_per_packet, mut frames_per_packet) = (0f64, 0u64, 0u64);
    let (mut valid_frames, mut data_len, mut format) = (None, None, [0u8; 4]);
    let mut at = 8u64;
    for _ in 0..10_000 {
        let Some(h) = src.exact(at, 12)? else { break };
        let size = be(&h, 4, 8).unwrap_or(0);
        let body = at + 12;
        // -1: the data chunk runs to the end of the file.
        let size = if size == u64::MAX {
            len.saturating_sub(body)
        } else {
            size
        };
        match &h[..4] {
            b"desc" => {
                let b = src.read(body, 32)?;
                rate = be(&b, 0, 8).map(f64::from_bits).unwrap_or(0.0);
                if let Some(f) = b.get(8..12) {
                    format.copy_from_slice(f);
                }
                bytes_per_packet = be(&b, 16, 4).unwrap_or(0);
                frames_per_packet = be(&b, 20, 4).unwrap_or(0);
            }
            b"pakt" => valid_frames = be(&src.read(body, 16)?, 8, 8),
            b"data" => data_len = Some(size.saturating_sub(4)),
            b"info" => {
                let b = src.read(body, size as usize)?;
                let count = be(&b, 0, 4).unwrap_or(0);
                let mut parts = b.get(4..).unwrap_or(&[]).split(|c| *c == 0);
                for _ in 0..count.min(10_000) {
                    let (Some(k), Some(v)) = (parts.next(), parts.next()) else {
                        break;
                    };
                    found.tag.add_named(&text::utf8(k), &text::utf8(v));
                }
            }
            _ => {}
        }
        at = body.saturating_add(size);
        if at >= len {
            break;
        }
    }
    let frames = valid_frames.or_else(|| {
        let d = data_len?;
        (bytes_per_packet > 0).then(|| d / bytes_per_packet * frames_per_packet)
    });
    found.props.codec = Some(match &format {
        b"aac " => "aac",
        b"alac" => "alac",
        b"opus" => "opus",
        b".mp3" => "mp3",
        b"flac" => "flac",
        _ => "pcm",
    });
    match frames {
        Some(f) if rate > 0.0 && f > 0 => {
            let secs = f as f64 / rate;
            found.props.duration_secs = Some(secs);
            found.props.bitrate_kbps = Some((len as f64 * 8.0 / secs / 1000.0).round() as u32);
        }
        _ => found.problems.push("the CAF chunks give no length".into()),
    }
    Ok(found)
}
