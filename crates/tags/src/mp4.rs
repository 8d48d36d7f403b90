//! MP4 / M4A / M4B (ISO base media file format, Apple's `ilst` metadata):
//! atoms of a 32-bit size (1: a 64-bit size follows; 0: to the end) and a
//! type. Tags from `moov/udta/meta/ilst` (`©nam`, `©ART`, `aART`, `©alb`,
//! `©wrt`, `©day`, `trkn`, `disk`, `©gen`/`gnre`, `©nrt`, and `----`
//! freeform items by name); the length from the sound track's `mdhd`
//! (else `mvhd`); the codec from its `stsd`. Only the atoms needed are
//! read: sample tables and cover art are stepped over.

use super::source::{Exhausted, Source, be};
use super::text;
use super::{Found, Key, Tag, id3v1};

#[derive(Clone, Copy)]
struct Atom {
    kind: [u8; 4],
    /// Where its content starts and ends.
    body: u64,
    end: u64,
}

/// The atoms between `from` and `to`, in order.
fn children(src: &mut Source<'_>, from: u64, to: u64) -> Result<Vec<Atom>, Exhausted> {
    let mut out = Vec::new();
    let mut at = from;
    while at.checked_add(8).is_some_and(|e| e <= to) && out.len() < 10_000 {
        let Some(h) = src.exact(at, 16.min((to - at) as usize))? else {
            break;
        };
        if h.len() < 8 {
            break;
        }
        let size32 = be(&h, 0, 4).unwrap_or(0);
        let kind = [h[4], h[5], h[6], h[7]];
        let (header, size) = match size32 {
            1 => match be(&h, 8, 8) {
                Some(s) => (16, s),
                None => break,
            },
            0 => (8, to - at),
            s => (8, s),
        };
        if size < header || at + header > to {
            break;
        }
        // A cut-off file: the last atom ends where the file does.
        let end = at.saturating_add(size).min(to);
        out.push(Atom {
            kind,
            body: at + header,
            end,
        });
        at = at.saturating_add(size);
    }
    Ok(out)
}

fn child(src: &mut Source<'_>, parent: Atom, kind: &[u8; 4]) -> Result<Option<Atom>, Exhausted> {
    Ok(children(src, parent.body, parent.end)?
        .into_iter()
        .find(|a| &a.kind == kind))
}

/// (timescale, duration) of an `mvhd` or `mdhd` body.
fn header_duration(b: &[u8]) -> Option<(u64, u64)> {
    match b.first()? {
        1 => Some((be(b, 20, 4)?, be(b, 24, 8)?)),
        _ => Some((be(b, 12, 4)?, be(b, 16, 4)?)),
    }
}

fn codec_of(format: &[u8]) -> &'static str {
    match format {
        b"alac" => "alac",
        b"fLaC" => "flac",
        b"Opus" => "opus",
        b"ac-3" => "ac3",
        b"ec-3" => "eac3",
        b".mp3" => "mp3",
        _ => "aac",
    }
}

/// Whether a `meta` atom is a full box (version and flags before its
/// children, as the standard has it) or QuickTime's plain container.
fn meta_children_start(src: &mut Source<'_>, meta: Atom) -> Result<u64, Exhausted> {
    let h = src.read(meta.body, 8)?;
    Ok(
        if h.get(4..8) == Some(b"hdlr") || h.get(4..8) == Some(b"ilst") {
            meta.body
        } else {
            meta.body + 4
        },
    )
}

/// The `ilst` of a `udta` (through its `meta`) or of a `meta`.
fn ilst_in(src: &mut Source<'_>, a: Atom) -> Result<Option<Atom>, Exhausted> {
    let meta = match &a.kind {
        b"udta" => match child(src, a, b"meta")? {
            Some(m) => m,
            None => return Ok(None),
        },
        _ => a,
    };
    let start = meta_children_start(src, meta)?;
    child(
        src,
        Atom {
            body: start,
            ..meta
        },
        b"ilst",
    )
}

fn ilst(src: &mut Source<'_>, list: Atom, tag: &mut Tag) -> Result<(), Exhausted> {
    for item in children(src, list.body, list.end)? {
        if &item.kind == b"covr" {
            tag.has_picture = true;
            continue;
        }
        let mut values: Vec<String> = Vec::new();
        let mut numbers: Option<(u64, u64)> = None;
        let mut name = String::new();
        for a in children(src, item.body, item.end)? {
            let len = (a.end - a.body) as usize;
            match &a.kind {
                b"name" => {
                    let b = src.read(a.body, len.min(1024))?;
                    name = text::utf8(b.get(4..).unwrap_or(&[]));
                }
                b"data" => {
                    let b = src.read(a.body, len.min(1 << 20))?;
                    let kind = be(&b, 0, 4).unwrap_or(0) & 0xFF_FFFF;
                    let payload = b.get(8..).unwrap_or(&[]);
                    match kind {
                        1 => values.push(text::utf8(payload)),
                        2 => values.push(text::utf16(payload, true)),
                        // Implicit (trkn, disk) or integers (gnre, ©mvi).
                        0 | 21 | 22 => {
                            if payload.len() >= 6 && matches!(&item.kind, b"trkn" | b"disk") {
                                numbers = Some((
                                    be(payload, 2, 2).unwrap_or(0),
                                    be(payload, 4, 2).unwrap_or(0),
                                ));
                            } else if let Some(n) = be(payload, 0, payload.len().min(8)) {
                                values.push(n.to_string());
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let joined = values.join("\0");
        match &item.kind {
            b"trkn" => {
                if let Some((n, _)) = numbers.filter(|(n, _)| *n > 0) {
                    tag.track.get_or_insert(n as u32);
                }
            }
            b"disk" => {
                if let Some((n, _)) = numbers.filter(|(n, _)| *n > 0) {
                    tag.disc.get_or_insert(n as u32);
                }
            }
            b"gnre" => {
                if let Some(g) = values
                    .first()
                    .and_then(|v| v.parse::<usize>().ok())
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| id3v1::GENRES.get(i))
                {
                    tag.add(Key::Genre, g);
                }
            }
            b"----" => tag.add_named(&name, &joined),
            kind => {
                let key = match kind {
                    b"\xa9nam" => Some(Key::Title),
                    b"\xa9ART" => Some(Key::Artist),
                    b"aART" => Some(Key::AlbumArtist),
                    b"\xa9alb" => Some(Key::Album),
                    b"\xa9wrt" => Some(Key::Composer),
                    b"\xa9nrt" => Some(Key::Narrator),
                    b"\xa9day" => Some(Key::Year),
                    b"\xa9gen" => Some(Key::Genre),
                    b"\xa9mvn" => Some(Key::Series),
                    b"\xa9mvi" => Some(Key::SeriesIndex),
                    _ => None,
                };
                if let Some(k) = key {
                    tag.add(k, &joined);
                }
            }
        }
    }
    Ok(())
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let top = children(src, 0, src.len())?;
    let Some(moov) = top.iter().find(|a| &a.kind == b"moov").copied() else {
        found
            .problems
            .push("no moov atom (not an MP4 file, or cut off before it)".into());
        return Ok(found);
    };
    let mut movie = None;
    let mut track = None;
    let mut codec = None;
    for a in children(src, moov.body, moov.end)? {
        match &a.kind {
            b"mvhd" => movie = header_duration(&src.read(a.body, 32)?),
            b"trak" if track.is_none() => {
                let Some(mdia) = child(src, a, b"mdia")? else {
                    continue;
                };
                let parts = children(src, mdia.body, mdia.end)?;
                let sound = match parts.iter().find(|p| &p.kind == b"hdlr") {
                    Some(h) => src.read(h.body, 12)?.get(8..12) == Some(b"soun"),
                    None => false,
                };
                if !sound {
                    continue;
                }
                if let Some(h) = parts.iter().find(|p| &p.kind == b"mdhd") {
                    track = header_duration(&src.read(h.body, 32)?);
                }
                let stsd = match parts.iter().find(|p| &p.kind == b"minf") {
                    Some(minf) => match child(src, *minf, b"stbl")? {
                        Some(stbl) => child(src, stbl, b"stsd")?,
                        None => None,
                    },
                    None => None,
                };
                if let Some(s) = stsd {
                    let b = src.read(s.body, 16)?;
                    codec = b.get(12..16).map(codec_of);
                }
            }
            b"udta" | b"meta" => {
                if let Some(list) = ilst_in(src, a)? {
                    ilst(src, list, &mut found.tag)?;
                }
            }
            _ => {}
        }
    }
    found.props.codec = Some(codec.unwrap_or("aac"));
    match track.or(movie) {
        Some((scale, dur))
            if scale > 0 && dur > 0 && dur != u64::from(u32::MAX) && dur != u64::MAX =>
        {
            let secs = dur as f64 / scale as f64;
            found.props.duration_secs = Some(secs);
            found.props.bitrate_kbps =
                Some((src.len() as f64 * 8.0 / secs / 1000.0).round() as u32);
        }
        _ => found.problems.push("the MP4 headers give no length".into()),
    }
    Ok(found)
}

/// The cover art of `moov/udta/meta/ilst/covr` (or `moov/meta`): every
/// `data` atom's payload. MP4 gives pictures no type: each counts as a
/// front cover.
pub fn pictures(src: &mut Source<'_>) -> Result<Vec<(u32, Vec<u8>)>, Exhausted> {
    let mut out = Vec::new();
    let top = children(src, 0, src.len())?;
    let Some(moov) = top.iter().find(|a| &a.kind == b"moov").copied() else {
        return Ok(out);
    };
    for a in children(src, moov.body, moov.end)? {
        if !matches!(&a.kind, b"udta" | b"meta") {
            continue;
        }
        let Some(list) = ilst_in(src, a)? else {
            continue;
        };
        for item in children(src, list.body, list.end)? {
            if &item.kind != b"covr" {
                continue;
            }
            for d in children(src, item.body, item.end)? {
                if &d.kind == b"data" && d.end >= d.body + 8 {
                    let len = usize::try_from(d.end - d.body - 8).unwrap_or(usize::MAX);
                    let data = src.read(d.body + 8, len)?;
                    if data.len() == len {
                        out.push((3, data.into_owned()));
                    }
                }
            }
        }
    }
    Ok(out)
}
