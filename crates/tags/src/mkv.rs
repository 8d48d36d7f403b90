//! Matroska and WebM (EBML, IETF RFC 8794 and 9559): elements of a
//! variable-length id and size. Segment `Info` gives `TimestampScale` and
//! `Duration` (and a `Title`); `Tags`/`Tag`/`SimpleTag` give name-value
//! pairs, at album level (`TargetTypeValue` 50) or track level (30, or no
//! target, as ffmpeg writes them). Clusters are stepped over; a `Tags`
//! element after them is found through the `SeekHead`.

use super::source::{Exhausted, Source, be};
use super::text;
use super::{Found, Key, Tag};

const SEGMENT: u64 = 0x1853_8067;
const SEEK_HEAD: u64 = 0x114D_9B74;
const SEEK: u64 = 0x4DBB;
const SEEK_ID: u64 = 0x53AB;
const SEEK_POSITION: u64 = 0x53AC;
const INFO: u64 = 0x1549_A966;
const TIMESTAMP_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;
const TITLE: u64 = 0x7BA9;
const TAGS: u64 = 0x1254_C367;
const TAG: u64 = 0x7373;
const TARGETS: u64 = 0x63C0;
const TARGET_TYPE_VALUE: u64 = 0x68CA;
const SIMPLE_TAG: u64 = 0x67C8;
const TAG_NAME: u64 = 0x45A3;
const TAG_STRING: u64 = 0x4487;
const CLUSTER: u64 = 0x1F43_B675;
const TRACKS: u64 = 0x1654_AE6B;
const CODEC_ID: u64 = 0x86;

/// A variable-length integer at `b[at..]`: (value, length). Ids keep their
/// marker bit; sizes lose it (all ones: unknown).
fn vint(b: &[u8], at: usize, keep_marker: bool) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut v = if keep_marker {
        u64::from(first)
    } else {
        u64::from(first) & (0xFF >> len)
    };
    for i in 1..len {
        v = v << 8 | u64::from(*b.get(at + i)?);
    }
    Some((v, len))
}

struct El {
    id: u64,
    body: usize,
    end: usize,
}

/// The elements of `b` from `at` to its end (an unknown size runs to it).
fn elements(b: &[u8], mut at: usize) -> Vec<El> {
    let mut out = Vec::new();
    while at < b.len() && out.len() < 100_000 {
        let Some((id, il)) = vint(b, at, true) else {
            break;
        };
        let Some((size, sl)) = vint(b, at + il, false) else {
            break;
        };
        let body = at + il + sl;
        let unknown = size == (1u64 << (7 * sl)) - 1;
        let end = if unknown {
            b.len()
        } else {
            body.saturating_add(size as usize).min(b.len())
        };
        out.push(El { id, body, end });
        at = end;
    }
    out
}

fn uint(b: &[u8]) -> u64 {
    be(b, 0, b.len().min(8)).unwrap_or(0)
}

fn float(b: &[u8]) -> Option<f64> {
    match b.len() {
        4 => Some(f64::from(f32::from_bits(be(b, 0, 4)? as u32))),
        8 => Some(f64::from_bits(be(b, 0, 8)?)),
        _ => None,
    }
}

fn simple_tags(b: &[u8], level: u64, album: &mut Tag, track: &mut Tag) {
    for st in elements(b, 0).into_iter().filter(|e| e.id == SIMPLE_TAG) {
        let body = &b[st.body..st.end];
        let (mut name, mut value) = (String::new(), None);
        for e in elements(body, 0) {
            match e.id {
                TAG_NAME => name = text::utf8(&body[e.body..e.end]),
                TAG_STRING => value = Some(text::utf8(&body[e.body..e.end])),
                _ => {}
            }
        }
        let Some(value) = value else { continue };
        let target = if level >= 50 {
            &mut *album
        } else {
            &mut *track
        };
        match name.to_ascii_uppercase().as_str() {
            // At album level, the title is the album's; a part number
            // there is the disc.
            "TITLE" if level >= 50 => target.add(Key::Album, &value),
            "PART_NUMBER" if level >= 50 => target.add(Key::Disc, &value),
            "PART_NUMBER" => target.add(Key::Track, &value),
            "DATE_RELEASED" | "DATE_RECORDED" | "DATE" => target.add(Key::Year, &value),
            "ARTIST" if level >= 50 => target.add(Key::AlbumArtist, &value),
            _ => target.add_named(&name, &value),
        }
    }
}

fn tags_element(b: &[u8], album: &mut Tag, track: &mut Tag) {
    for t in elements(b, 0).into_iter().filter(|e| e.id == TAG) {
        let body = &b[t.body..t.end];
        let parts = elements(body, 0);
        let level = parts
            .iter()
            .find(|e| e.id == TARGETS)
            .and_then(|e| {
                let tb = &body[e.body..e.end];
                elements(tb, 0)
                    .into_iter()
                    .find(|x| x.id == TARGET_TYPE_VALUE)
                    .map(|x| uint(&tb[x.body..x.end]))
            })
            .unwrap_or(30);
        simple_tags(body, level, album, track);
    }
}

/// Reads an element's header at `at` of the file: (id, body offset,
/// size, size unknown).
fn header_at(src: &mut Source<'_>, at: u64) -> Result<Option<(u64, u64, u64, bool)>, Exhausted> {
    let h = src.read(at, 12)?;
    let Some((id, il)) = vint(&h, 0, true) else {
        return Ok(None);
    };
    let Some((size, sl)) = vint(&h, il, false) else {
        return Ok(None);
    };
    let unknown = size == (1u64 << (7 * sl)) - 1;
    Ok(Some((id, at + (il + sl) as u64, size, unknown)))
}

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let len = src.len();
    let Some((_, body, size, _)) = header_at(src, 0)? else {
        found.problems.push("not a Matroska file".into());
        return Ok(found);
    };
    let Some((SEGMENT, seg, seg_size, seg_unknown)) = header_at(src, body.saturating_add(size))?
    else {
        found.problems.push("no Matroska segment".into());
        return Ok(found);
    };
    let seg_end = if seg_unknown {
        len
    } else {
        seg.saturating_add(seg_size).min(len)
    };
    let (mut scale, mut duration, mut title) = (1_000_000u64, None, None);
    let (mut album, mut track) = (Tag::default(), Tag::default());
    let mut codec = None;
    let mut tags_at: Vec<u64> = Vec::new();
    let mut tags_read = false;
    let mut at = seg;
    while at < seg_end {
        let Some((id, body, size, unknown)) = header_at(src, at)? else {
            break;
        };
        if unknown || id == CLUSTER {
            if unknown {
                break;
            }
            at = body.saturating_add(size);
            // Past the clusters only what the SeekHead points at is read.
            if !tags_read && let Some(&t) = tags_at.iter().find(|t| **t >= at) {
                at = t;
                continue;
            }
            break;
        }
        match id {
            SEEK_HEAD => {
                let b = src.read(body, size as usize)?;
                for s in elements(&b, 0).into_iter().filter(|e| e.id == SEEK) {
                    let sb = &b[s.body..s.end];
                    let parts = elements(sb, 0);
                    let id = parts
                        .iter()
                        .find(|e| e.id == SEEK_ID)
                        .map(|e| uint(&sb[e.body..e.end]));
                    let pos = parts
                        .iter()
                        .find(|e| e.id == SEEK_POSITION)
                        .map(|e| uint(&sb[e.body..e.end]));
                    if let (Some(TAGS), Some(p)) = (id, pos) {
                        tags_at.push(seg.saturating_add(p));
                    }
                }
            }
            INFO => {
                let b = src.read(body, size as usize)?;
                for e in elements(&b, 0) {
                    match e.id {
                        TIMESTAMP_SCALE => scale = uint(&b[e.body..e.end]).max(1),
                        DURATION => duration = float(&b[e.body..e.end]),
                        TITLE => title = Some(text::utf8(&b[e.body..e.end])),
                        _ => {}
                    }
                }
            }
            TRACKS => {
                let b = src.read(body, (size as usize).min(1 << 20))?;
                codec = find_codec(&b);
            }
            TAGS => {
                let b = src.read(body, size as usize)?;
                tags_element(&b, &mut album, &mut track);
                tags_read = true;
            }
            _ => {}
        }
        at = body.saturating_add(size);
    }
    track.fill_from(album);
    if let Some(t) = title {
        track.add(Key::Title, &t);
    }
    found.tag = track;
    found.props.codec = Some(codec.unwrap_or("matroska"));
    match duration.filter(|d| *d > 0.0) {
        Some(d) => {
            let secs = d * scale as f64 / 1e9;
            found.props.duration_secs = Some(secs);
            found.props.bitrate_kbps = Some((len as f64 * 8.0 / secs / 1000.0).round() as u32);
        }
        None => found
            .problems
            .push("the Matroska segment gives no duration".into()),
    }
    Ok(found)
}

/// The first track's codec, from its `CodecID` (`A_OPUS`, `A_VORBIS`, ...).
fn find_codec(b: &[u8]) -> Option<&'static str> {
    for entry in elements(b, 0) {
        for e in elements(&b[entry.body..entry.end], 0) {
            if e.id == CODEC_ID {
                let id = &b[entry.body..entry.end][e.body..e.end];
                return Some(match id {
                    b"A_OPUS" => "opus",
                    b"A_VORBIS" => "vorbis",
                    b"A_FLAC" => "flac",
                    b"A_MPEG/L3" => "mp3",
                    x if x.starts_with(b"A_AAC") => "aac",
                    _ => "matroska",
                });
            }
        }
    }
    None
}
