//! Writing a book's tags into a copy of an audio file, as the pieces of
//! the new file: new bytes (an ID3v2.4 tag for MP3, the metadata blocks for
//! FLAC, the `moov` atom for MP4/M4B) and ranges of the old file copied
//! unchanged (the audio). Frames, comments and items this does not set are
//! kept; an MP4's chunk offsets follow a `moov` that grew before its
//! media data.

use std::io::{Read, Seek, SeekFrom};

/// What is written.
pub struct NewTags<'a> {
    pub title: &'a str,
    pub authors: &'a [String],
    pub narrators: &'a [String],
    pub series: Option<&'a str>,
    pub series_part: Option<&'a str>,
}

/// A part of the tagged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of its own.
    Bytes(Vec<u8>),
    /// The old file's bytes `start..end`, unchanged.
    Copy { start: u64, end: u64 },
}

/// The tagged file: its pieces in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retag {
    pub pieces: Vec<Piece>,
}

impl Retag {
    /// The tagged file's length.
    pub fn len(&self) -> u64 {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::Copy { start, end } => end - start,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tagged file made from `old` in memory (tests, fuzzing).
    pub fn apply(&self, old: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.pieces {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Copy { start, end } => {
                    out.extend_from_slice(&old[*start as usize..*end as usize])
                }
            }
        }
        out
    }

    fn head_and_rest(head: Vec<u8>, audio_start: u64, len: u64) -> Self {
        Retag {
            pieces: vec![
                Piece::Bytes(head),
                Piece::Copy {
                    start: audio_start,
                    end: len,
                },
            ],
        }
    }
}

#[derive(Debug)]
pub enum RetagError {
    /// Tags of this format are not written.
    Unsupported(String),
    /// The file is not what its name says, or is damaged.
    Malformed(String),
    Io(std::io::Error),
}

impl std::fmt::Display for RetagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetagError::Unsupported(ext) => write!(f, "tags are not written into .{ext} files"),
            RetagError::Malformed(why) => write!(f, "cannot write tags: {why}"),
            RetagError::Io(e) => write!(f, "cannot write tags: {e}"),
        }
    }
}

impl std::error::Error for RetagError {}

impl From<std::io::Error> for RetagError {
    fn from(e: std::io::Error) -> Self {
        RetagError::Io(e)
    }
}

const PADDING: usize = 1024;
/// A tag or metadata larger than this is not rewritten.
pub(crate) const MAX_HEAD: u64 = 64 << 20;

/// The new head for the file read by `r` (extension `ext`).
///
/// The format is told by the content, as the readers tell it (a FLAC
/// named `.mp3` gets Vorbis comments), else by the extension.
pub fn retag<R: Read + Seek>(
    r: &mut R,
    ext: &str,
    tags: &NewTags<'_>,
) -> Result<Retag, RetagError> {
    use crate::Kind;
    let ext = ext.to_ascii_lowercase();
    r.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 16];
    let n = read_up_to(r, &mut head)?;
    let head = &head[..n];
    let behind_id3 = head.starts_with(b"ID3");
    let mut kind = crate::sniff(head);
    if kind.is_none() && behind_id3 {
        let after = crate::id3v2::tag_len(head).unwrap_or(0);
        r.seek(SeekFrom::Start(after))?;
        let mut next = [0u8; 16];
        let n = read_up_to(r, &mut next)?;
        kind = crate::sniff(&next[..n]);
    }
    match kind.or_else(|| crate::by_extension(&ext)) {
        Some(Kind::Mpeg) => id3(r, tags),
        // What follows an ID3v2 tag is read as FLAC: its comments would
        // have to be written, and the tag in front kept; not done.
        Some(Kind::Flac) if !behind_id3 => flac(r, tags),
        Some(Kind::Mp4) => crate::write_mp4::retag(r, tags),
        _ => Err(RetagError::Unsupported(ext)),
    }
}

fn syncsafe(b: &[u8]) -> u32 {
    b.iter()
        .take(4)
        .fold(0, |acc, &x| (acc << 7) | (x & 0x7f) as u32)
}

fn put_syncsafe(out: &mut Vec<u8>, n: usize) -> Result<(), RetagError> {
    if n >= 1 << 28 {
        return Err(RetagError::Malformed("the tag would be too large".into()));
    }
    out.extend((0..4).rev().map(|i| ((n >> (7 * i)) & 0x7f) as u8));
    Ok(())
}

/// The description of a TXXX frame's payload, lower case.
fn txxx_description(payload: &[u8]) -> String {
    let Some((&enc, rest)) = payload.split_first() else {
        return String::new();
    };
    match enc {
        1 | 2 => {
            let end = rest
                .chunks_exact(2)
                .position(|c| c == [0, 0])
                .map_or(rest.len(), |i| i * 2);
            let units: Vec<u16> = rest[..end]
                .chunks_exact(2)
                .map(|c| {
                    if enc == 2 {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    }
                })
                .filter(|u| *u != 0xFEFF)
                .collect();
            String::from_utf16_lossy(&units).to_ascii_lowercase()
        }
        _ => {
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase()
        }
    }
}

fn replaced_frame(id: &[u8], payload: &[u8]) -> bool {
    match id {
        b"TIT2" | b"TALB" | b"TPE1" | b"TPE2" | b"TCOM" | b"MVNM" | b"MVIN" => true,
        b"TXXX" => matches!(
            txxx_description(payload).trim(),
            "narrator" | "series" | "series-part"
        ),
        _ => false,
    }
}

/// The frames of an ID3v2.3 or 2.4 tag body worth keeping, re-encoded for
/// 2.4; frames that are compressed, encrypted or unsynchronised are left
/// out, as are all frames of 2.2 tags.
fn kept_frames(version: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if !(version == 3 || version == 4) || flags & 0x80 != 0 {
        return out;
    }
    let mut at = 0usize;
    if flags & 0x40 != 0 && body.len() >= 4 {
        at = if version == 3 {
            4 + u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize
        } else {
            syncsafe(&body[..4]) as usize
        };
    }
    while at + 10 <= body.len() {
        let id = &body[at..at + 4];
        if id[0] == 0
            || !id
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            break;
        }
        let size = if version == 4 {
            syncsafe(&body[at + 4..at + 8]) as usize
        } else {
            u32::from_be_bytes([body[at + 4], body[at + 5], body[at + 6], body[at + 7]]) as usize
        };
        let format_flags = body[at + 9];
        let start = at + 10;
        let Some(end) = start.checked_add(size).filter(|e| *e <= body.len()) else {
            break;
        };
        let payload = &body[start..end];
        if format_flags == 0 && !replaced_frame(id, payload) {
            out.extend_from_slice(id);
            // Sizes below 2^28 were checked by the slice above.
            let _ = put_syncsafe(&mut out, size);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(payload);
        }
        at = end;
    }
    out
}

fn text_frame(out: &mut Vec<u8>, id: &[u8; 4], values: &[&str]) -> Result<(), RetagError> {
    let mut payload = vec![3u8];
    payload.extend_from_slice(values.join("\0").as_bytes());
    out.extend_from_slice(id);
    put_syncsafe(out, payload.len())?;
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&payload);
    Ok(())
}

fn txxx_frame(out: &mut Vec<u8>, description: &str, values: &[&str]) -> Result<(), RetagError> {
    let mut payload = vec![3u8];
    payload.extend_from_slice(description.as_bytes());
    payload.push(0);
    payload.extend_from_slice(values.join("\0").as_bytes());
    out.extend_from_slice(b"TXXX");
    put_syncsafe(out, payload.len())?;
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&payload);
    Ok(())
}

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn id3<R: Read + Seek>(r: &mut R, tags: &NewTags<'_>) -> Result<Retag, RetagError> {
    r.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 10];
    let n = read_up_to(r, &mut header)?;
    let (mut frames, audio_start) = if n == 10 && &header[..3] == b"ID3" {
        let size = syncsafe(&header[6..10]) as u64;
        if size > MAX_HEAD {
            return Err(RetagError::Malformed("its ID3v2 tag is too large".into()));
        }
        let footer = if header[3] == 4 && header[5] & 0x10 != 0 {
            10
        } else {
            0
        };
        let mut body = vec![0u8; size as usize];
        r.read_exact(&mut body)
            .map_err(|_| RetagError::Malformed("its ID3v2 tag is cut short".into()))?;
        (kept_frames(header[3], header[5], &body), 10 + size + footer)
    } else {
        (Vec::new(), 0)
    };
    text_frame(&mut frames, b"TIT2", &[tags.title])?;
    text_frame(&mut frames, b"TALB", &[tags.title])?;
    if !tags.authors.is_empty() {
        text_frame(&mut frames, b"TPE1", &strs(tags.authors))?;
        text_frame(&mut frames, b"TPE2", &strs(tags.authors))?;
    }
    if !tags.narrators.is_empty() {
        text_frame(&mut frames, b"TCOM", &strs(tags.narrators))?;
        txxx_frame(&mut frames, "narrator", &strs(tags.narrators))?;
    }
    if let Some(s) = tags.series {
        txxx_frame(&mut frames, "series", &[s])?;
        text_frame(&mut frames, b"MVNM", &[s])?;
        if let Some(p) = tags.series_part {
            txxx_frame(&mut frames, "series-part", &[p])?;
            text_frame(&mut frames, b"MVIN", &[p])?;
        }
    }
    let mut head = b"ID3\x04\x00\x00".to_vec();
    put_syncsafe(&mut head, frames.len() + PADDING)?;
    head.extend_from_slice(&frames);
    head.resize(head.len() + PADDING, 0);
    let len = r.seek(SeekFrom::End(0))?;
    if audio_start > len {
        return Err(RetagError::Malformed("its ID3v2 tag is cut short".into()));
    }
    Ok(Retag::head_and_rest(head, audio_start, len))
}

pub(crate) fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

const STREAMINFO: u8 = 0;
const BLOCK_PADDING: u8 = 1;
const VORBIS_COMMENT: u8 = 4;

/// Keys this writes: any old comment the reader takes as one of their
/// fields goes (under any of its names, such as `ARTISTS`).
fn replaced_key(key: &str) -> bool {
    use crate::Key;
    matches!(
        Key::from_name(key),
        Some(
            Key::Title
                | Key::Album
                | Key::Artist
                | Key::AlbumArtist
                | Key::Composer
                | Key::Narrator
                | Key::Series
                | Key::SeriesIndex
        )
    )
}

fn flac<R: Read + Seek>(r: &mut R, tags: &NewTags<'_>) -> Result<Retag, RetagError> {
    let bad = |why: &str| RetagError::Malformed(format!("not a FLAC file: {why}"));
    r.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    if read_up_to(r, &mut magic)? != 4 || &magic != b"fLaC" {
        return Err(bad("no fLaC marker"));
    }
    let mut at = 4u64;
    let mut blocks: Vec<(u8, Vec<u8>)> = Vec::new();
    loop {
        let mut h = [0u8; 4];
        r.read_exact(&mut h)
            .map_err(|_| bad("metadata cut short"))?;
        let last = h[0] & 0x80 != 0;
        let kind = h[0] & 0x7f;
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as u64;
        at += 4 + len;
        if at > MAX_HEAD {
            return Err(bad("metadata too large"));
        }
        let mut data = vec![0u8; len as usize];
        r.read_exact(&mut data)
            .map_err(|_| bad("metadata cut short"))?;
        if kind == 127 {
            return Err(bad("invalid metadata block"));
        }
        blocks.push((kind, data));
        if last {
            break;
        }
    }
    if blocks.first().map(|b| b.0) != Some(STREAMINFO) {
        return Err(bad("no STREAMINFO first"));
    }
    // The old comments: vendor kept, those of other keys kept.
    let mut vendor = b"audiobook-organizer".to_vec();
    let mut comments: Vec<Vec<u8>> = Vec::new();
    if let Some((_, data)) = blocks.iter().find(|b| b.0 == VORBIS_COMMENT) {
        let word = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        if let Some(vlen) = word(0)
            && let Some(v) = data.get(4..4 + vlen)
        {
            vendor = v.to_vec();
            let mut p = 4 + vlen;
            let count = word(p).unwrap_or(0);
            p += 4;
            for _ in 0..count {
                let Some(len) = word(p) else { break };
                let Some(c) = data.get(p + 4..p + 4 + len) else {
                    break;
                };
                let key = c.split(|b| *b == b'=').next().unwrap_or_default();
                if !replaced_key(&String::from_utf8_lossy(key)) {
                    comments.push(c.to_vec());
                }
                p += 4 + len;
            }
        }
    }
    let mut add = |key: &str, value: &str| comments.push(format!("{key}={value}").into_bytes());
    add("TITLE", tags.title);
    add("ALBUM", tags.title);
    for a in tags.authors {
        add("ARTIST", a);
        add("ALBUMARTIST", a);
    }
    for n in tags.narrators {
        add("COMPOSER", n);
        add("NARRATOR", n);
    }
    if let Some(s) = tags.series {
        add("SERIES", s);
        if let Some(p) = tags.series_part {
            add("SERIES-PART", p);
        }
    }
    let mut vc = Vec::new();
    vc.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    vc.extend_from_slice(&vendor);
    vc.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in &comments {
        vc.extend_from_slice(&(c.len() as u32).to_le_bytes());
        vc.extend_from_slice(c);
    }
    // STREAMINFO, the comments right after it (where readers meet them
    // first), the other blocks as they were, padding.
    let mut rest = blocks
        .into_iter()
        .filter(|b| b.0 != VORBIS_COMMENT && b.0 != BLOCK_PADDING);
    let mut out_blocks: Vec<(u8, Vec<u8>)> = rest.next().into_iter().collect();
    out_blocks.push((VORBIS_COMMENT, vc));
    out_blocks.extend(rest);
    out_blocks.push((BLOCK_PADDING, vec![0; PADDING]));
    let mut head = b"fLaC".to_vec();
    let n = out_blocks.len();
    for (i, (kind, data)) in out_blocks.into_iter().enumerate() {
        if data.len() >= 1 << 24 {
            return Err(RetagError::Malformed(
                "a metadata block would be too large".into(),
            ));
        }
        head.push(if i + 1 == n { kind | 0x80 } else { kind });
        head.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        head.extend_from_slice(&data);
    }
    let len = r.seek(SeekFrom::End(0))?;
    Ok(Retag::head_and_rest(head, at, len))
}
