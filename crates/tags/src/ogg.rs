//! Ogg (RFC 3533) holding Vorbis, Opus (RFC 7845), Speex or FLAC: the
//! first logical stream's identification and comment packets (which may
//! span many pages), and its length from the granule position of its last
//! page (for Opus, less the pre-skip, at 48 kHz).

use super::source::{Exhausted, Source, le};
use super::{Found, Props, flac, vorbis};

struct Page {
    granule: i64,
    serial: u32,
    /// Segment sizes, then where the payload starts and its length.
    segments: Vec<u8>,
    payload_at: u64,
    payload_len: u64,
}

fn page_at(src: &mut Source<'_>, at: u64) -> Result<Option<Page>, Exhausted> {
    let Some(h) = src.exact(at, 27)? else {
        return Ok(None);
    };
    if &h[..4] != b"OggS" || h[4] != 0 {
        return Ok(None);
    }
    let n = usize::from(h[26]);
    let Some(segments) = src.exact(at + 27, n)? else {
        return Ok(None);
    };
    let payload_len = segments.iter().map(|s| u64::from(*s)).sum();
    Ok(Some(Page {
        granule: le(&h, 6, 8).unwrap_or(0) as i64,
        serial: le(&h, 14, 4).unwrap_or(0) as u32,
        segments: segments.into_owned(),
        payload_at: at + 27 + n as u64,
        payload_len,
    }))
}

/// The first `want` packets of the stream the first page belongs to.
fn first_packets(
    src: &mut Source<'_>,
    want: usize,
) -> Result<(Option<u32>, Vec<Vec<u8>>), Exhausted> {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut at = 0u64;
    let mut serial = None;
    // Comment packets hold cover art at times; past 16 MiB a packet is cut
    // (its text came first).
    const MAX_PACKET: usize = 16 * 1024 * 1024;
    for _ in 0..100_000 {
        let Some(page) = page_at(src, at)? else { break };
        at = page.payload_at + page.payload_len;
        if *serial.get_or_insert(page.serial) != page.serial {
            continue;
        }
        let payload = src.read(page.payload_at, page.payload_len as usize)?;
        let mut off = 0usize;
        for &seg in &page.segments {
            let end = (off + usize::from(seg)).min(payload.len());
            if current.len() < MAX_PACKET {
                current.extend_from_slice(&payload[off.min(end)..end]);
            }
            off = end;
            if seg < 255 {
                packets.push(std::mem::take(&mut current));
                if packets.len() >= want {
                    return Ok((serial, packets));
                }
            }
        }
    }
    if !current.is_empty() {
        packets.push(current);
    }
    Ok((serial, packets))
}

/// The granule position of the stream's last page.
fn last_granule(src: &mut Source<'_>, serial: u32) -> Result<Option<i64>, Exhausted> {
    let len = src.len();
    let mut window = 16 * 1024u64;
    loop {
        let from = len.saturating_sub(window);
        let tail = src.read(from, window as usize)?;
        let mut end = tail.len();
        while let Some(i) = tail[..end].windows(4).rposition(|w| w == b"OggS") {
            if let Some(p) = page_at(src, from + i as u64)?
                && p.serial == serial
                && p.granule >= 0
            {
                return Ok(Some(p.granule));
            }
            end = i + 3;
        }
        if from == 0 || window >= 4 * 1024 * 1024 {
            return Ok(None);
        }
        window *= 4;
    }
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let (serial, packets) = first_packets(src, 2)?;
    let (Some(serial), Some(ident)) = (serial, packets.first()) else {
        found.problems.push("not an Ogg stream".into());
        return Ok(found);
    };
    let comment = packets.get(1).map(Vec::as_slice).unwrap_or(&[]);
    // (codec, sample rate, samples to skip)
    let (codec, rate, skip) = if ident.starts_with(b"\x01vorbis") {
        ("vorbis", le(ident, 12, 4).unwrap_or(0) as u32, 0)
    } else if ident.starts_with(b"OpusHead") {
        ("opus", 48_000, le(ident, 10, 2).unwrap_or(0) as i64)
    } else if ident.starts_with(b"Speex   ") {
        ("speex", le(ident, 36, 4).unwrap_or(0) as u32, 0)
    } else if ident.starts_with(b"\x7FFLAC") {
        // Mapping header (9 bytes), `fLaC`, then STREAMINFO's block header.
        let rate = ident
            .get(17..)
            .and_then(flac::streaminfo)
            .map_or(0, |(r, _)| r);
        ("flac", rate, 0)
    } else {
        found
            .problems
            .push("an Ogg stream of a codec this reader does not know".into());
        return Ok(found);
    };
    let tags = comments_of(ident, comment).and_then(vorbis::comments);
    if let Some(t) = tags {
        found.tag = t;
    }
    found.props.codec = Some(codec);
    let granule = last_granule(src, serial)?;
    match granule {
        Some(g) if rate > 0 && g > skip => {
            let secs = (g - skip) as f64 / f64::from(rate);
            found.props = Props {
                duration_secs: Some(secs),
                estimated: false,
                codec: Some(codec),
                bitrate_kbps: Some((src.len() as f64 * 8.0 / secs / 1000.0).round() as u32),
            };
        }
        _ => found
            .problems
            .push("the Ogg stream gives no length (no final granule position)".into()),
    }
    Ok(found)
}

/// The base64 picture comments of the first stream, as (picture type,
/// data).
pub fn pictures(src: &mut Source<'_>) -> Result<Vec<(u32, Vec<u8>)>, Exhausted> {
    let (_, packets) = first_packets(src, 2)?;
    let (Some(ident), Some(comment)) = (packets.first(), packets.get(1)) else {
        return Ok(Vec::new());
    };
    Ok(comments_of(ident, comment)
        .map(super::picture::from_comments)
        .unwrap_or_default())
}

/// The Vorbis comments inside a stream's comment packet, by codec.
fn comments_of<'p>(ident: &[u8], comment: &'p [u8]) -> Option<&'p [u8]> {
    if ident.starts_with(b"\x01vorbis") {
        comment.strip_prefix(b"\x03vorbis")
    } else if ident.starts_with(b"OpusHead") {
        comment.strip_prefix(b"OpusTags")
    } else if ident.starts_with(b"Speex   ") {
        Some(comment)
    } else if ident.starts_with(b"\x7FFLAC") {
        match comment.first() {
            Some(b) if b & 0x7F == 4 => comment.get(4..),
            _ => None,
        }
    } else {
        None
    }
}
