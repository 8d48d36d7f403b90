//! Reading tags and stream properties of audio files, in-process, with
//! readers of our own for every container the scan accepts: ID3v2 (2.2 to
//! 2.4), ID3v1, APEv2, Vorbis comments (FLAC, Ogg Vorbis, Opus, Speex),
//! MP4 `ilst`, ASF (WMA), RIFF INFO (WAV), AIFF, Matroska/WebM and CAF.
//!
//! Tags and properties are read independently: a file whose audio cannot be
//! parsed keeps its tags and only its duration is unknown (or estimated,
//! which a note says). Within a tag the first frame of a kind wins; title
//! and album take the first value, artists, album artists, composers and
//! narrators keep every value. Between tags of one file, ID3v2 beats APEv2
//! beats ID3v1. No value holds a control character.
//!
//! This module depends on nothing else in the crate, so the fuzz targets
//! compile it on its own.

mod amr;
mod ape;
mod asf;
mod caf;
mod flac;
mod id3v1;
mod id3v2;
mod mkv;
mod mp4;
mod mpeg;
mod ogg;
pub mod picture;
mod riff;
mod source;
pub mod text;
mod vorbis;
pub mod write;
mod write_mp4;

use std::io::{Read, Seek};
use std::path::Path;

use source::{Exhausted, Source};

/// The fuzz targets reach each reader through these.
pub mod readers {
    pub use super::ape::read as ape;
    pub use super::asf::read as asf;
    pub use super::caf::read as caf;
    pub use super::id3v1::parse as id3v1;
    pub use super::id3v2::parse as id3v2;
    pub use super::mkv::read as mkv;
    pub use super::mp4::read as mp4;
    pub use super::ogg::read as ogg;
    pub use super::riff::read as riff;
    pub use super::source::Source;
}

/// Audio extensions the scan reads: every one Audiobookshelf accepts.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "m4b", "mp3", "m4a", "flac", "opus", "ogg", "oga", "mp4", "aac", "wma", "aiff", "aif", "wav",
    "webm", "webma", "mka", "awb", "caf", "mpg", "mpeg", "spx",
];

/// What one tag says. Filled by the readers through [`Tag::add`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tag {
    pub title: Option<String>,
    pub artists: Vec<String>,
    pub album_artists: Vec<String>,
    pub album: Option<String>,
    pub composers: Vec<String>,
    pub narrators: Vec<String>,
    pub series: Option<String>,
    pub series_index: Option<String>,
    pub year: Option<i32>,
    pub track: Option<u32>,
    pub disc: Option<u32>,
    pub genre: Option<String>,
    /// The tag holds a picture (cover art); [`picture::embedded`] reads it.
    pub has_picture: bool,
}

/// The fields a tag can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Title,
    Artist,
    AlbumArtist,
    Album,
    Composer,
    Narrator,
    Series,
    SeriesIndex,
    Year,
    Track,
    Disc,
    Genre,
}

impl Key {
    /// The field a name means in Vorbis comments, APEv2, Matroska, CAF and
    /// ASF's extended content (compared without regard to case).
    pub fn from_name(name: &str) -> Option<Key> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.strip_prefix("wm/").unwrap_or(&n);
        Some(match n {
            "title" => Key::Title,
            "artist" | "artists" => Key::Artist,
            "albumartist" | "album artist" | "album_artist" | "album artists" => Key::AlbumArtist,
            "album" | "albumtitle" => Key::Album,
            "composer" => Key::Composer,
            "narrator" | "narratedby" | "narrated by" | "reader" => Key::Narrator,
            "series" | "movementname" | "mvnm" => Key::Series,
            "series-part" | "seriespart" | "series part" | "movement" | "mvin" => Key::SeriesIndex,
            "date" | "year" | "recorded date" | "date_recorded" | "date_released" => Key::Year,
            "tracknumber" | "track" | "track number" | "track_number" => Key::Track,
            "discnumber" | "disc" | "disk" | "partofset" | "disc number" => Key::Disc,
            "genre" => Key::Genre,
            _ => return None,
        })
    }
}

fn first_of(slot: &mut Option<String>, raw: &str) {
    if slot.is_none() {
        *slot = text::values(raw).into_iter().next();
    }
}

fn all_of(slot: &mut Vec<String>, raw: &str) {
    if slot.is_empty() {
        *slot = text::values(raw);
    }
}

impl Tag {
    /// Adds what one frame or item says; the first of a kind wins. `raw`
    /// may hold several values separated by NUL.
    pub fn add(&mut self, key: Key, raw: &str) {
        match key {
            Key::Title => first_of(&mut self.title, raw),
            Key::Album => first_of(&mut self.album, raw),
            Key::Series => first_of(&mut self.series, raw),
            Key::SeriesIndex => first_of(&mut self.series_index, raw),
            Key::Genre => first_of(&mut self.genre, raw),
            Key::Artist => all_of(&mut self.artists, raw),
            Key::AlbumArtist => all_of(&mut self.album_artists, raw),
            Key::Composer => all_of(&mut self.composers, raw),
            Key::Narrator => all_of(&mut self.narrators, raw),
            Key::Year => {
                if self.year.is_none() {
                    self.year = text::year(raw);
                }
            }
            Key::Track => {
                if self.track.is_none() {
                    self.track = text::number(raw);
                }
            }
            Key::Disc => {
                if self.disc.is_none() {
                    self.disc = text::number(raw);
                }
            }
        }
    }

    /// Adds `name = value` if the name means a field.
    pub fn add_named(&mut self, name: &str, raw: &str) {
        if let Some(k) = Key::from_name(name) {
            self.add(k, raw);
        }
    }

    /// Fills what this tag leaves empty from `other` (a tag of lower
    /// precedence in the same file).
    pub fn fill_from(&mut self, other: Tag) {
        fn opt<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        fn list(a: &mut Vec<String>, b: Vec<String>) {
            if a.is_empty() {
                *a = b;
            }
        }
        opt(&mut self.title, other.title);
        list(&mut self.artists, other.artists);
        list(&mut self.album_artists, other.album_artists);
        opt(&mut self.album, other.album);
        list(&mut self.composers, other.composers);
        list(&mut self.narrators, other.narrators);
        opt(&mut self.series, other.series);
        opt(&mut self.series_index, other.series_index);
        opt(&mut self.year, other.year);
        opt(&mut self.track, other.track);
        opt(&mut self.disc, other.disc);
        opt(&mut self.genre, other.genre);
        self.has_picture |= other.has_picture;
    }

    pub fn is_empty(&self) -> bool {
        *self == Tag::default()
    }
}

/// What the audio stream says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    pub duration_secs: Option<f64>,
    /// The duration was worked out from size and bitrate, not counted.
    pub estimated: bool,
    pub codec: Option<&'static str>,
    pub bitrate_kbps: Option<u32>,
}

/// What a container reader found: its tags (merged by precedence), the
/// stream's properties, and why either is missing.
#[derive(Debug, Default)]
pub struct Found {
    pub tag: Tag,
    pub props: Props,
    pub problems: Vec<String>,
}

/// What the tags and the stream say about one file. Everything optional:
/// the path heuristics fill the gaps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioInfo {
    pub title: Option<String>,
    /// Every artist, and the display string (`, `-joined).
    pub artists: Vec<String>,
    pub artist: Option<String>,
    pub album_artists: Vec<String>,
    pub album_artist: Option<String>,
    pub album: Option<String>,
    pub narrators: Vec<String>,
    pub narrator: Option<String>,
    pub series: Option<String>,
    pub series_index: Option<String>,
    pub year: Option<i32>,
    pub track: Option<u32>,
    pub disc: Option<u32>,
    pub genre: Option<String>,
    /// 0 when unknown (`duration_known` says which).
    pub duration_secs: f64,
    pub duration_known: bool,
    pub duration_estimated: bool,
    pub codec: Option<String>,
    pub bitrate_kbps: Option<u32>,
    /// A tag holds cover art.
    pub has_picture: bool,
    /// What could not be read, for the scan's log (a file with readable
    /// tags and an unreadable stream still reads).
    pub notes: Vec<String>,
}

fn joined(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(", "))
}

impl AudioInfo {
    fn from_found(f: Found) -> Self {
        let Found {
            tag,
            props,
            mut problems,
        } = f;
        // Audiobooks often carry the narrator as composer.
        let narrators = if tag.narrators.is_empty() {
            tag.composers
        } else {
            tag.narrators
        };
        let duration = props.duration_secs.filter(|d| d.is_finite() && *d > 0.0);
        if duration.is_none() {
            problems.push("duration unknown".into());
        } else if props.estimated {
            problems.push("duration estimated from size and bitrate".into());
        }
        AudioInfo {
            title: tag.title,
            artist: joined(&tag.artists),
            artists: tag.artists,
            album_artist: joined(&tag.album_artists),
            album_artists: tag.album_artists,
            album: tag.album,
            narrator: joined(&narrators),
            narrators,
            series: tag.series,
            series_index: tag.series_index,
            year: tag.year,
            track: tag.track,
            disc: tag.disc,
            genre: tag.genre,
            has_picture: tag.has_picture,
            // Milliseconds: what players and JSON readers can use.
            duration_secs: duration.map_or(0.0, |d| (d * 1000.0).round() / 1000.0),
            duration_known: duration.is_some(),
            duration_estimated: duration.is_some() && props.estimated,
            codec: props.codec.map(str::to_string),
            bitrate_kbps: props.bitrate_kbps.filter(|b| *b > 0),
            notes: problems,
        }
    }
}

/// Whether a file name (bytes, as a directory gives it) ends in an
/// extension the scan reads: after its last dot, a leading dot making no
/// extension, in any case.
pub fn is_audio_name(name: &[u8]) -> bool {
    match name.iter().rposition(|b| *b == b'.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => {
            let ext = &name[dot + 1..];
            AUDIO_EXTENSIONS
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

/// The lowercase extension if it is one the scan reads.
pub fn audio_extension(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    AUDIO_EXTENSIONS.contains(&ext.as_str()).then_some(ext)
}

/// Reads tags and stream properties of the file at `path`.
pub fn read_audio_info(path: &Path, ext: &str) -> Result<AudioInfo, String> {
    let mut f = std::fs::File::open(path)
        .map(|f| std::io::BufReader::with_capacity(64 * 1024, f))
        .map_err(|e| e.to_string())?;
    read_audio_info_from(&mut f, ext)
}

/// The same from any seekable reader (the scan passes the bytes it
/// hashed). `Err` means nothing could be read: neither a tag nor a stream
/// of the kind the extension or the content says; the caller falls back
/// to the path. A reader that panics on a malformed file makes this one
/// file unreadable, never the scan.
pub fn read_audio_info_from<R: Read + Seek>(r: &mut R, ext: &str) -> Result<AudioInfo, String> {
    read_with(ext, || Source::new(r).map_err(|e| e.to_string()))
}

/// The same from the whole file in memory (what the scan has of small
/// files): the readers borrow from it instead of copying.
pub fn read_audio_info_from_bytes(bytes: &[u8], ext: &str) -> Result<AudioInfo, String> {
    read_with(ext, || Ok(Source::from_bytes(bytes)))
}

fn read_with<'a>(
    ext: &str,
    source: impl FnOnce() -> Result<Source<'a>, String>,
) -> Result<AudioInfo, String> {
    guarded(|| {
        let mut src = source()?;
        let found = read_any(&mut src, ext)
            .map_err(|Exhausted| "the tag reader went round in circles on this file".to_string())?;
        if found.tag.is_empty()
            && found.props.duration_secs.is_none()
            && found.props.codec.is_none()
        {
            let why = found.problems.join("; ");
            return Err(if why.is_empty() {
                format!("not a readable .{ext} file")
            } else {
                why
            });
        }
        Ok(AudioInfo::from_found(found))
    })
}

/// Runs a reader; a panic on a malformed file becomes an `Err` for this
/// one file, never the caller's.
fn guarded<T>(read: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let _quiet = quiet_panics::Quiet::new();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(format!("the tag reader failed on this file ({why})"))
        }
    }
}

/// A reader that panics is caught and its file reported in one line; the
/// panic's message and backtrace must not reach stderr on top. The hook
/// that keeps them back is installed once for the process (a panic hook is
/// process-wide by nature) and stays silent only on a thread inside a
/// reader, passing every other panic to the hook it replaced.
mod quiet_panics {
    use std::cell::Cell;
    use std::sync::Once;

    thread_local! {
        static IN_READER: Cell<bool> = const { Cell::new(false) };
    }

    pub struct Quiet {
        was: bool,
    }

    impl Quiet {
        pub fn new() -> Self {
            static INSTALL: Once = Once::new();
            INSTALL.call_once(|| {
                let previous = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    if !IN_READER.with(Cell::get) {
                        previous(info);
                    }
                }));
            });
            Quiet {
                was: IN_READER.with(|q| q.replace(true)),
            }
        }
    }

    impl Drop for Quiet {
        fn drop(&mut self) {
            IN_READER.with(|q| q.set(self.was));
        }
    }
}

/// The container the first bytes say, else the one the extension says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mpeg,
    Adts,
    Flac,
    Ogg,
    Mp4,
    Asf,
    Riff,
    Aiff,
    Matroska,
    Caf,
    Amr,
}

fn by_extension(ext: &str) -> Option<Kind> {
    Some(match ext {
        "mp3" | "mpg" | "mpeg" => Kind::Mpeg,
        "aac" => Kind::Adts,
        "flac" => Kind::Flac,
        "ogg" | "oga" | "opus" | "spx" => Kind::Ogg,
        "m4a" | "m4b" | "mp4" => Kind::Mp4,
        "wma" => Kind::Asf,
        "wav" => Kind::Riff,
        "aif" | "aiff" => Kind::Aiff,
        "mka" | "webm" | "webma" => Kind::Matroska,
        "caf" => Kind::Caf,
        "awb" => Kind::Amr,
        _ => return None,
    })
}

fn sniff(head: &[u8]) -> Option<Kind> {
    Some(match head {
        [b'f', b'L', b'a', b'C', ..] => Kind::Flac,
        [b'O', b'g', b'g', b'S', ..] => Kind::Ogg,
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Kind::Mp4,
        [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, ..] => Kind::Asf,
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
            b'A',
            b'V',
            b'E',
            ..,
        ] => Kind::Riff,
        [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', ..] => Kind::Aiff,
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Kind::Matroska,
        [b'c', b'a', b'f', b'f', ..] => Kind::Caf,
        [b'#', b'!', b'A', b'M', b'R', ..] => Kind::Amr,
        _ => return None,
    })
}

fn read_any(src: &mut Source<'_>, ext: &str) -> Result<Found, Exhausted> {
    let head = src.read(0, 16)?;
    // A leading ID3v2 tag says nothing of what follows: look past it.
    let after_id3 = if head.starts_with(b"ID3") {
        id3v2::tag_len(&head).unwrap_or(0)
    } else {
        0
    };
    let kind = match sniff(&head) {
        Some(k) => Some(k),
        None if after_id3 > 0 => {
            let next = src.read(after_id3, 16)?;
            sniff(&next).or_else(|| by_extension(ext))
        }
        None => by_extension(ext),
    };
    let mut found = match kind {
        Some(Kind::Mpeg) => mpeg::read(src, false)?,
        Some(Kind::Adts) => mpeg::read(src, true)?,
        Some(Kind::Flac) => flac::read(src)?,
        Some(Kind::Ogg) => ogg::read(src)?,
        Some(Kind::Mp4) => mp4::read(src)?,
        Some(Kind::Asf) => asf::read(src)?,
        Some(Kind::Riff) => riff::read(src)?,
        Some(Kind::Aiff) => riff::read(src)?,
        Some(Kind::Matroska) => mkv::read(src)?,
        Some(Kind::Caf) => caf::read(src)?,
        Some(Kind::Amr) => amr::read(src)?,
        None => Found {
            problems: vec![format!("unsupported extension {ext}")],
            ..Found::default()
        },
    };
    // Tags that taggers put in front of or behind any file (an ID3v2 tag
    // before FLAC, APEv2 or ID3v1 at the end) fill what the container's
    // own tag leaves empty.
    if !matches!(kind, Some(Kind::Mpeg) | Some(Kind::Adts)) {
        let (outer, _) = mpeg::outer_tags(src)?;
        found.tag.fill_from(outer);
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
