//! The scan's tag reader before it read tags itself (lofty), kept as the
//! baseline of the tag-reading benchmark.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use lofty::config::ParseOptions;
use lofty::file::AudioFile;
use lofty::id3::v2::Id3v2Tag;
use lofty::mp4::{AtomData, AtomIdent, Ilst};
use lofty::ogg::tag::VorbisComments;
use lofty::tag::Accessor;

/// What the tags and the stream say about one file. Everything optional:
/// the path heuristics fill the gaps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioInfo {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album_artist: Option<String>,
    pub album: Option<String>,
    pub narrator: Option<String>,
    pub series: Option<String>,
    pub series_index: Option<String>,
    pub year: Option<i32>,
    pub track: Option<u32>,
    pub disc: Option<u32>,
    pub duration_secs: f64,
    pub codec: Option<String>,
    pub bitrate_kbps: Option<u32>,
}

fn clean(s: Option<impl AsRef<str>>) -> Option<String> {
    s.map(|v| v.as_ref().trim().trim_matches('\0').to_string())
        .filter(|v| !v.is_empty())
}

fn parse_year(s: &str) -> Option<i32> {
    let digits: String = s.trim().chars().take(4).collect();
    digits.parse().ok().filter(|y| (1..=9999).contains(y))
}

fn common<T: Accessor>(tag: &T, info: &mut AudioInfo) {
    info.title = clean(tag.title());
    info.artist = clean(tag.artist());
    info.album = clean(tag.album());
    info.track = tag.track();
    info.disc = tag.disk();
    if let Some(d) = tag.date() {
        info.year = Some(d.year as i32);
    }
}

fn from_id3(tag: &Id3v2Tag, info: &mut AudioInfo) {
    common(tag, info);
    let text = |id: &'static str| {
        lofty::id3::v2::FrameId::new(id)
            .ok()
            .and_then(|fid| clean(tag.get_text(&fid)))
    };
    info.album_artist = text("TPE2");
    info.narrator = clean(tag.get_user_text("NARRATOR"))
        .or_else(|| clean(tag.get_user_text("narrator")))
        .or_else(|| text("TCOM"));
    info.series = clean(tag.get_user_text("SERIES")).or_else(|| text("MVNM"));
    info.series_index = clean(tag.get_user_text("SERIES-PART"))
        .or_else(|| clean(tag.get_user_text("SERIESPART")))
        .or_else(|| text("MVIN"));
    if info.year.is_none() {
        info.year = text("TDRC")
            .or_else(|| text("TYER"))
            .and_then(|y| parse_year(&y));
    }
}

fn ilst_string(ilst: &Ilst, ident: &AtomIdent<'_>) -> Option<String> {
    ilst.get(ident).and_then(|atom| {
        atom.data().find_map(|d| match d {
            AtomData::UTF8(s) | AtomData::UTF16(s) => clean(Some(s)),
            _ => None,
        })
    })
}

fn from_ilst(ilst: &Ilst, info: &mut AudioInfo) {
    common(ilst, info);
    let four = |id: &[u8; 4]| ilst_string(ilst, &AtomIdent::Fourcc(*id));
    let free = |name: &'static str| {
        ilst_string(
            ilst,
            &AtomIdent::Freeform {
                mean: "com.apple.iTunes".into(),
                name: name.into(),
            },
        )
    };
    info.album_artist = four(b"aART");
    info.narrator = four(b"\xa9nrt")
        .or_else(|| free("NARRATOR"))
        .or_else(|| four(b"\xa9wrt"));
    info.series = free("SERIES").or_else(|| four(b"\xa9mvn"));
    info.series_index = free("SERIES-PART").or_else(|| four(b"\xa9mvi"));
    if info.year.is_none() {
        info.year = four(b"\xa9day").and_then(|y| parse_year(&y));
    }
}

fn from_vorbis(tag: &VorbisComments, info: &mut AudioInfo) {
    common(tag, info);
    let get = |k: &str| clean(tag.get(k));
    info.album_artist = get("ALBUMARTIST").or_else(|| get("ALBUM ARTIST"));
    info.narrator = get("NARRATOR")
        .or_else(|| get("PERFORMER"))
        .or_else(|| get("COMPOSER"));
    info.series = get("SERIES").or_else(|| get("MOVEMENTNAME"));
    info.series_index = get("SERIES-PART")
        .or_else(|| get("SERIESPART"))
        .or_else(|| get("MOVEMENT"));
    if info.year.is_none() {
        info.year = get("DATE")
            .or_else(|| get("YEAR"))
            .and_then(|y| parse_year(&y));
    }
}

/// Stream bitrate in kbit/s; lofty gives `u32` or `Option<u32>` by format.
fn kbps(v: impl Into<Option<u32>>) -> Option<u32> {
    v.into().filter(|b| *b > 0)
}

fn opts() -> ParseOptions {
    ParseOptions::new().read_cover_art(false)
}

/// Reads tags and stream properties. `Err` means the file could not be
/// parsed as its extension says; the caller falls back to the path.
pub fn read_audio_info(path: &Path, ext: &str) -> Result<AudioInfo, String> {
    let mut r = File::open(path)
        .map(BufReader::new)
        .map_err(|e| e.to_string())?;
    read_audio_info_from(&mut r, ext)
}

/// The same from any seekable reader (the scan passes the bytes it hashed).
/// A tag reader that panics on a malformed file makes this one file
/// unreadable, never the scan.
pub fn read_audio_info_from<R: Read + Seek>(r: &mut R, ext: &str) -> Result<AudioInfo, String> {
    let len = r
        .seek(std::io::SeekFrom::End(0))
        .and_then(|len| r.seek(std::io::SeekFrom::Start(0)).map(|_| len))
        .map_err(|e| e.to_string())?;
    let mut r = Budgeted {
        inner: r,
        bytes_left: len.saturating_mul(8).saturating_add(4 << 20),
        seeks_left: 20_000 + len / 64,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&mut r, ext))).unwrap_or_else(
        |panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(format!("the tag reader failed on this file ({why})"))
        },
    )
}

/// Bounds the work a tag reader may do on one file: a malformed file can
/// send a reader round in circles (found by `fuzz/fuzz_targets/tags.rs`:
/// lofty's ADTS frame search on 123 bytes never ended). Past the budget,
/// reads and seeks fail, and the file is reported unreadable.
struct Budgeted<'a, R> {
    inner: &'a mut R,
    bytes_left: u64,
    seeks_left: u64,
}

fn exhausted() -> std::io::Error {
    std::io::Error::other("the tag reader went round in circles on this file")
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes_left == 0 {
            return Err(exhausted());
        }
        let n = self.inner.read(buf)?;
        self.bytes_left = self.bytes_left.saturating_sub(n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for Budgeted<'_, R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        if self.seeks_left == 0 {
            return Err(exhausted());
        }
        self.seeks_left -= 1;
        self.inner.seek(pos)
    }
}

fn parse<R: Read + Seek>(r: &mut R, ext: &str) -> Result<AudioInfo, String> {
    let mut info = AudioInfo::default();
    match ext {
        "mp3" => {
            let f = lofty::mpeg::MpegFile::read_from(r, opts()).map_err(|e| e.to_string())?;
            if let Some(t) = f.id3v2() {
                from_id3(t, &mut info);
            }
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some("mp3".into());
        }
        "m4b" | "m4a" => {
            let f = lofty::mp4::Mp4File::read_from(r, opts()).map_err(|e| e.to_string())?;
            if let Some(t) = f.ilst() {
                from_ilst(t, &mut info);
            }
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some(match p.codec() {
                Some(lofty::mp4::Mp4Codec::ALAC) => "alac".into(),
                Some(lofty::mp4::Mp4Codec::FLAC) => "flac".into(),
                Some(lofty::mp4::Mp4Codec::MP3) => "mp3".into(),
                _ => "aac".into(),
            });
        }
        "flac" => {
            let f = lofty::flac::FlacFile::read_from(r, opts()).map_err(|e| e.to_string())?;
            if let Some(t) = f.vorbis_comments() {
                from_vorbis(t, &mut info);
            } else if let Some(t) = f.id3v2() {
                from_id3(t, &mut info);
            }
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some("flac".into());
        }
        "ogg" => {
            let f = lofty::ogg::VorbisFile::read_from(r, opts()).map_err(|e| e.to_string())?;
            from_vorbis(f.vorbis_comments(), &mut info);
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some("vorbis".into());
        }
        "opus" => {
            let f = lofty::ogg::OpusFile::read_from(r, opts()).map_err(|e| e.to_string())?;
            from_vorbis(f.vorbis_comments(), &mut info);
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some("opus".into());
        }
        "aac" => {
            let f = lofty::aac::AacFile::read_from(r, opts()).map_err(|e| e.to_string())?;
            if let Some(t) = f.id3v2() {
                from_id3(t, &mut info);
            }
            let p = f.properties();
            info.duration_secs = p.duration().as_secs_f64();
            info.bitrate_kbps = kbps(p.audio_bitrate());
            info.codec = Some("aac".into());
        }
        "wma" => {
            info.codec = Some("wma".into());
            return Err("no tag reader for WMA (ASF); using the path".into());
        }
        other => return Err(format!("unsupported extension {other}")),
    }
    Ok(info)
}
