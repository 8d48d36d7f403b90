//! ASF (WMA), Microsoft's Advanced Systems Format specification: a Header
//! Object of child objects, each a GUID and a 64-bit size. Title and author
//! from the Content Description Object; `WM/AlbumTitle`, `WM/AlbumArtist`,
//! `WM/Year`, `WM/TrackNumber`, `WM/PartOfSet`, `WM/Composer`, `WM/Genre`
//! and the like from the Extended Content Description Object (and the
//! Metadata and Metadata Library Objects inside the Header Extension); the
//! length from the File Properties Object: play duration less preroll.

use super::source::{Exhausted, Source, le};
use super::text;
use super::{Found, Key, Tag};

pub(super) const HEADER: [u8; 16] = guid(
    0x75B22630,
    0x668E,
    0x11CF,
    [0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C],
);
pub(super) const FILE_PROPERTIES: [u8; 16] = guid(
    0x8CABDCA1,
    0xA947,
    0x11CF,
    [0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);
pub(super) const CONTENT_DESCRIPTION: [u8; 16] = guid(
    0x75B22633,
    0x668E,
    0x11CF,
    [0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C],
);
pub(super) const EXTENDED_CONTENT: [u8; 16] = guid(
    0xD2D0A440,
    0xE307,
    0x11D2,
    [0x97, 0xF0, 0x00, 0xA0, 0xC9, 0x5E, 0xA8, 0x50],
);
const HEADER_EXTENSION: [u8; 16] = guid(
    0x5FBF03B5,
    0xA92E,
    0x11CF,
    [0x8E, 0xE3, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);
const METADATA: [u8; 16] = guid(
    0xC5F8CBEA,
    0x5BAF,
    0x4877,
    [0x84, 0x67, 0xAA, 0x8C, 0x44, 0xFA, 0x4C, 0xCA],
);
const METADATA_LIBRARY: [u8; 16] = guid(
    0x44231C94,
    0x9498,
    0x49D1,
    [0xA1, 0x41, 0x1D, 0x13, 0x4E, 0x45, 0x70, 0x54],
);
const STREAM_PROPERTIES: [u8; 16] = guid(
    0xB7DC0791,
    0xA9B7,
    0x11CF,
    [0x8E, 0xE6, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65],
);

/// A GUID as it is stored: the first three fields little-endian.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// Child objects of `b` from `at`: (GUID, body).
fn objects(b: &[u8], mut at: usize) -> Vec<([u8; 16], &[u8])> {
    let mut out = Vec::new();
    while at.checked_add(24).is_some_and(|e| e <= b.len()) && out.len() < 10_000 {
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[at..at + 16]);
        let size = le(b, at + 16, 8).unwrap_or(0) as usize;
        if size < 24 {
            break;
        }
        let end = at.saturating_add(size).min(b.len());
        out.push((id, &b[at + 24..end]));
        at = at.saturating_add(size);
    }
    out
}

/// A value of the given ASF data type as text.
fn value(kind: u64, v: &[u8]) -> Option<String> {
    Some(match kind {
        0 => text::utf16(v, false),
        2 => (le(v, 0, v.len().min(4))? != 0).to_string(),
        3 => le(v, 0, 4)?.to_string(),
        4 => le(v, 0, 8)?.to_string(),
        5 => le(v, 0, 2)?.to_string(),
        _ => return None,
    })
}

fn content_description(b: &[u8], tag: &mut Tag) {
    let lens: Vec<usize> = (0..5)
        .filter_map(|i| le(b, i * 2, 2).map(|n| n as usize))
        .collect();
    if lens.len() < 5 {
        return;
    }
    let mut at = 10;
    for (i, len) in lens.iter().enumerate() {
        let Some(s) = b.get(at..at + len) else { return };
        let s = text::utf16(s, false);
        match i {
            0 => tag.add(Key::Title, &s),
            1 => tag.add(Key::Artist, &s),
            _ => {}
        }
        at += len;
    }
}

/// Extended Content Description: (name, value) pairs.
fn extended(b: &[u8], out: &mut Vec<(String, String)>) {
    let count = le(b, 0, 2).unwrap_or(0);
    let mut at = 2;
    for _ in 0..count {
        let Some(nlen) = le(b, at, 2).map(|n| n as usize) else {
            return;
        };
        let Some(name) = b.get(at + 2..at + 2 + nlen) else {
            return;
        };
        at += 2 + nlen;
        let (Some(kind), Some(vlen)) = (le(b, at, 2), le(b, at + 2, 2).map(|n| n as usize)) else {
            return;
        };
        let Some(v) = b.get(at + 4..at + 4 + vlen) else {
            return;
        };
        at += 4 + vlen;
        if let Some(v) = value(kind, v) {
            out.push((
                text::utf16(name, false).trim_end_matches('\0').to_string(),
                v,
            ));
        }
    }
}

/// Metadata and Metadata Library Objects: records of stream, name, type
/// and value (their lengths 16 and 32 bits).
fn metadata(b: &[u8], out: &mut Vec<(String, String)>) {
    let count = le(b, 0, 2).unwrap_or(0);
    let mut at = 2;
    for _ in 0..count {
        let (Some(nlen), Some(kind), Some(vlen)) = (
            le(b, at + 4, 2).map(|n| n as usize),
            le(b, at + 6, 2),
            le(b, at + 8, 4).map(|n| n as usize),
        ) else {
            return;
        };
        let Some(name) = b.get(at + 12..at + 12 + nlen) else {
            return;
        };
        let vat = at + 12 + nlen;
        let Some(v) = b.get(vat..vat.saturating_add(vlen)) else {
            return;
        };
        at = vat + vlen;
        if let Some(v) = value(kind, v) {
            out.push((
                text::utf16(name, false).trim_end_matches('\0').to_string(),
                v,
            ));
        }
    }
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let head = src.read(0, 30)?;
    if head.get(..16) != Some(&HEADER[..]) {
        found.problems.push("not an ASF file".into());
        return Ok(found);
    }
    let size = le(&head, 16, 8).unwrap_or(0) as usize;
    let header = src.read(0, size)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut duration = None;
    let mut bitrate = None;
    let mut codec = "wma";
    for (id, body) in objects(&header, 30) {
        match id {
            CONTENT_DESCRIPTION => content_description(body, &mut found.tag),
            EXTENDED_CONTENT => extended(body, &mut pairs),
            FILE_PROPERTIES => {
                // Play duration (100 ns units) less preroll (ms).
                if let (Some(play), Some(preroll)) = (le(body, 40, 8), le(body, 56, 8)) {
                    let secs = play as f64 / 1e7 - preroll as f64 / 1e3;
                    duration = (secs > 0.0).then_some(secs);
                }
            }
            STREAM_PROPERTIES => {
                // An audio stream's WAVEFORMATEX: codec id and bytes per second.
                let audio = body.get(..16)
                    == Some(
                        &guid(
                            0xF8699E40,
                            0x5B4D,
                            0x11CF,
                            [0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B],
                        )[..],
                    );
                if audio && bitrate.is_none() {
                    let fmt = 54;
                    if let Some(id) = le(body, fmt, 2) {
                        codec = match id {
                            0x0161..=0x0163 => "wma",
                            0x000A => "wmavoice",
                            0x0055 => "mp3",
                            _ => "wma",
                        };
                    }
                    bitrate = le(body, fmt + 8, 4).map(|bps| (bps * 8 / 1000) as u32);
                }
            }
            HEADER_EXTENSION => {
                // Reserved GUID, reserved u16, data size u32, then objects.
                for (inner, ib) in objects(body, 22) {
                    if inner == METADATA || inner == METADATA_LIBRARY {
                        metadata(ib, &mut pairs);
                    }
                }
            }
            _ => {}
        }
    }
    // Names may repeat (several authors): every value of a name, in order.
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in pairs {
        let n = name.to_ascii_lowercase();
        match names.iter_mut().find(|(k, _)| *k == n) {
            Some((_, v)) => v.push(value),
            None => names.push((n, vec![value])),
        }
    }
    // The 0-based WM/Track only where no WM/TrackNumber is.
    names.sort_by_key(|(n, _)| n == "wm/track");
    for (name, values) in names {
        let joined = values.join("\0");
        match name.as_str() {
            // 0-based in old files, 1-based in new: WM/TrackNumber wins.
            "wm/track" => {
                if found.tag.track.is_none() {
                    found.tag.track = values
                        .first()
                        .and_then(|v| v.trim().parse::<u32>().ok())
                        .map(|n| n + 1);
                }
            }
            "author" => found.tag.add(Key::Artist, &joined),
            _ => found.tag.add_named(&name, &joined),
        }
    }
    found.props.codec = Some(codec);
    found.props.bitrate_kbps = bitrate;
    match duration {
        Some(d) => found.props.duration_secs = Some(d),
        None => found
            .problems
            .push("the ASF File Properties give no length".into()),
    }
    Ok(found)
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// `fuzz/fuzz_targets/tag_asf.rs` found an object size that took the
    /// walk's position past the end of the address space.
    #[test]
    fn an_object_size_near_the_end_of_the_address_space_ends_the_walk() {
        let data = include_bytes!("../../../fuzz/seeds/tag_asf/regression-object-size-overflow");
        let mut c = std::io::Cursor::new(&data[..]);
        let mut src = Source::new(&mut c).unwrap();
        assert!(read(&mut src).is_ok());
    }
}
