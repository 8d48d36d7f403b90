//! The records the store holds, with the JSON shapes the API keeps compatible
//! with the earlier Go server (see ARCHITECTURE.md).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Current UTC time, the one clock the records use.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Nanoseconds since the Unix epoch (clamped at zero).
pub fn unix_nanos(t: OffsetDateTime) -> u64 {
    t.unix_timestamp_nanos().max(0) as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    Pending,
    Queued,
    Running,
    Completed,
    Failed,
    Canceled,
    Interrupted,
}

impl OperationStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Canceled | Self::Interrupted
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Self::Low),
            "normal" => Some(Self::Normal),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// One unit of background work. Field names follow the Go server's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: String,
    #[serde(rename = "type")]
    pub op_type: String,
    pub status: OperationStatus,
    pub priority: Priority,
    pub progress: u64,
    pub total: u64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_path: Option<String>,
    /// Job parameters (paths to scan, organize strategy, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Wall time, queue wait and throughput, set when the operation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<super::OperationTiming>,
}

impl Operation {
    /// A new queued operation created now.
    pub fn new(
        id: String,
        op_type: &str,
        priority: Priority,
        params: serde_json::Value,
        folder_path: Option<String>,
    ) -> Self {
        Self {
            id,
            op_type: op_type.to_string(),
            status: OperationStatus::Queued,
            priority,
            progress: 0,
            total: 0,
            message: "queued".into(),
            folder_path,
            params,
            created_at: now(),
            started_at: None,
            completed_at: None,
            error_message: None,
            timing: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warn" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// One persisted log line of an operation; `id` is its 1-based sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub id: u64,
    pub operation_id: String,
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportPath {
    pub id: String,
    pub path: String,
    pub name: String,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookStatus {
    /// Found by a scan, not yet placed in the library.
    Imported,
    /// Placed in the library with a verified hash.
    Organized,
    /// One or more of its source files vanished.
    Missing,
}

/// One audio file that is part of a book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BookFile {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    /// ComputeFileHash of the file as scanned.
    pub hash: String,
    #[serde(default)]
    #[serde(serialize_with = "millis")]
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disc: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organized_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organized_hash: Option<String>,
}

/// Where a book's cover image is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cover {
    pub source: CoverSource,
    /// The image file, or the audio file whose tags hold the picture.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CoverSource {
    /// An image file in the book's folder (`cover.jpg`, `folder.jpg`, ...).
    File,
    /// The picture in an audio file's tags.
    Embedded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Book {
    pub id: String,
    pub title: String,
    /// Every author's name joined with `, ` (for display and patterns).
    pub author: String,
    /// Every author, as the tags or the folder name list them.
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrator: Option<String>,
    #[serde(default)]
    pub narrators: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_index: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
    /// Audible's identifier, from a `[B0…]` in the folder name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_url: Option<String>,
    /// The cover image found with the book (served by
    /// `GET /api/v1/books/{id}/cover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<Cover>,
    #[serde(serialize_with = "millis")]
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
    pub status: BookStatus,
    #[serde(default)]
    pub deleted: bool,
    /// Folder the book was found in and the key that grouped its parts.
    pub source_dir: String,
    pub group_key: String,
    /// Parts in playing order.
    pub files: Vec<BookFile>,
    /// Hash of the first part: the book's identity for duplicate detection.
    pub file_hash: String,
    /// Other places the same content was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<String>,
    /// Books that are the same work in another format in the same folder
    /// (an `.m4b` beside `.mp3` parts): duplicate editions of this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub editions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organized_dir: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Book {
    /// A live book counts towards `books` (not soft-deleted).
    pub fn is_live(&self) -> bool {
        !self.deleted
    }
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
    /// Lowercased extension of the first part ("mp3", "m4b", ...).
    pub fn format(&self) -> String {
        self.files
            .first()
            .and_then(|f| std::path::Path::new(&f.path).extension())
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// What a known path on disk is, so that rescans skip unchanged files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    Source,
    Duplicate,
    Organized,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub book_id: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: String,
    pub role: FileRole,
    /// Set when a scan no longer finds the file; cleared when it returns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// What a scan needs of a known file to tell whether it changed: the
/// fixed-size part of its `FileRecord`, read without its strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub role: FileRole,
    pub missing: bool,
}

/// A directory as the last scan listed it. While its identity and change
/// time are the same, its entries are too, so a rescan uses `subdirs` and
/// `files` instead of reading the directory again (the "untracked cache"
/// idea from git). `settled` is false when the directory changed so close
/// to the listing that a later change could carry the same timestamp
/// (coarse clocks, FAT's 2 s); such a listing is never trusted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirRecord {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub settled: bool,
    /// Names of entries that are directories or lead to one.
    pub subdirs: Vec<String>,
    /// Names of entries with an audiobook extension.
    pub files: Vec<String>,
}

/// A `DirRecord` in its stored form: version 1, dev, ino, mtime, ctime,
/// settled, the subdirectory and file name counts (u32), then the names,
/// each with a u16 length. A rescan reads one per folder and uses it in
/// place through `view`, without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedDir(Box<[u8]>);

/// The fields of a `PackedDir`, checked, borrowed from it.
#[derive(Debug, Clone)]
pub struct DirView<'a> {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub settled: bool,
    pub subdirs: Names<'a>,
    pub files: Names<'a>,
}

/// Length-prefixed names, already checked to be whole and UTF-8.
#[derive(Debug, Clone)]
pub struct Names<'a> {
    bytes: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let (name, rest) = split_name(self.bytes)?;
        self.bytes = rest;
        self.left -= 1;
        Some(name)
    }
}

fn split_name(b: &[u8]) -> Option<(&str, &[u8])> {
    let len = u16::from_le_bytes(b.get(..2)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(b.get(2..2 + len)?).ok()?;
    Some((name, &b[2 + len..]))
}

const PACKED_HEADER: usize = 42;

/// Builds a `PackedDir` while a directory is read: names go straight into
/// two runs of bytes, with no string per name. Reused from folder to
/// folder (`clear`), so a walk allocates once per folder, for the result.
#[derive(Debug, Default)]
pub struct DirPacker {
    subdirs: Vec<u8>,
    files: Vec<u8>,
    n_subdirs: u32,
    n_files: u32,
    /// Where each name of a run starts and ends, for sorting.
    spans: Vec<(usize, usize)>,
}

fn push_name(run: &mut Vec<u8>, name: &str) {
    // File names are at most 255 bytes (NAME_MAX); never cut one.
    let len = u16::try_from(name.len()).unwrap_or(0);
    run.extend_from_slice(&len.to_le_bytes());
    run.extend_from_slice(&name.as_bytes()[..len as usize]);
}

impl DirPacker {
    pub fn clear(&mut self) {
        self.subdirs.clear();
        self.files.clear();
        self.n_subdirs = 0;
        self.n_files = 0;
    }

    pub fn subdir(&mut self, name: &str) {
        push_name(&mut self.subdirs, name);
        self.n_subdirs += 1;
    }

    pub fn file(&mut self, name: &str) {
        push_name(&mut self.files, name);
        self.n_files += 1;
    }

    /// The record: `head`'s identity, times and settledness with the
    /// names added since `clear` (its own name lists are not used), each
    /// list in byte order: a walk that follows a kept listing then meets
    /// folders and files in the order the store keeps their records, so
    /// its lookups move a step at a time (a directory gives its names in
    /// hash order on ext4, and lookups from there took a binary search).
    pub fn pack(&mut self, head: &DirRecord) -> PackedDir {
        let mut out = Vec::with_capacity(PACKED_HEADER + self.subdirs.len() + self.files.len());
        out.push(1u8);
        out.extend_from_slice(&head.dev.to_le_bytes());
        out.extend_from_slice(&head.ino.to_le_bytes());
        out.extend_from_slice(&head.mtime_ns.to_le_bytes());
        out.extend_from_slice(&head.ctime_ns.to_le_bytes());
        out.push(head.settled as u8);
        out.extend_from_slice(&self.n_subdirs.to_le_bytes());
        out.extend_from_slice(&self.n_files.to_le_bytes());
        sorted_into(&mut out, &self.subdirs, &mut self.spans);
        sorted_into(&mut out, &self.files, &mut self.spans);
        PackedDir(out.into_boxed_slice())
    }
}

/// Appends the length-prefixed names of `run` to `out`, sorted by name.
fn sorted_into(out: &mut Vec<u8>, run: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut at = 0;
    while let Some(len) = run.get(at..at + 2) {
        let end = at + 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
        spans.push((at, end.min(run.len())));
        at = end;
    }
    let name = |&(start, end): &(usize, usize)| &run[start + 2..end];
    if spans.is_sorted_by(|a, b| name(a) <= name(b)) {
        out.extend_from_slice(run);
        return;
    }
    spans.sort_unstable_by(|a, b| name(a).cmp(name(b)));
    for &(start, end) in spans.iter() {
        out.extend_from_slice(&run[start..end]);
    }
}

impl PackedDir {
    pub fn pack(d: &DirRecord) -> Self {
        let mut packer = DirPacker::default();
        d.subdirs.iter().for_each(|n| packer.subdir(n));
        d.files.iter().for_each(|n| packer.file(n));
        packer.pack(d)
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        Self(b.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The record's fields, or None if the bytes are not a whole record.
    pub fn view(&self) -> Option<DirView<'_>> {
        let b = &self.0;
        if b.first() != Some(&1) {
            return None;
        }
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
        };
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let n_subdirs = u32_at(34)?;
        let n_files = u32_at(38)?;
        let names = b.get(PACKED_HEADER..)?;
        // Check every name once, and find where the file names start.
        let mut rest = names;
        let mut files_at = names;
        for i in 0..n_subdirs.checked_add(n_files)? {
            if i == n_subdirs {
                files_at = rest;
            }
            rest = split_name(rest)?.1;
        }
        if n_files == 0 {
            files_at = rest;
        }
        if !rest.is_empty() {
            return None;
        }
        Some(DirView {
            dev: u64_at(1)?,
            ino: u64_at(9)?,
            mtime_ns: u64_at(17)? as i64,
            ctime_ns: u64_at(25)? as i64,
            settled: *b.get(33)? != 0,
            subdirs: Names {
                bytes: names,
                left: n_subdirs,
            },
            files: Names {
                bytes: files_at,
                left: n_files,
            },
        })
    }

    #[cfg(test)]
    fn unpack(&self) -> Option<DirRecord> {
        let v = self.view()?;
        Some(DirRecord {
            dev: v.dev,
            ino: v.ino,
            mtime_ns: v.mtime_ns,
            ctime_ns: v.ctime_ns,
            settled: v.settled,
            subdirs: v.subdirs.map(str::to_string).collect(),
            files: v.files.map(str::to_string).collect(),
        })
    }
}

/// Seconds rounded to milliseconds: sums of part lengths carry float noise
/// (`6.113999999999999`) that no reader wants.
fn millis<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod packed_dir_tests {
    use super::*;

    #[test]
    fn directory_records_round_trip() {
        let d = DirRecord {
            dev: 2049,
            ino: u64::MAX - 3,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_123_456_789,
            settled: true,
            subdirs: vec!["Book One".into(), "ünïcode".into()],
            files: vec![String::new(), "01.mp3".into(), "b.m4b".into()],
        };
        assert_eq!(PackedDir::pack(&d).unpack(), Some(d));
        let only_files = DirRecord {
            files: vec!["a.mp3".into()],
            ..Default::default()
        };
        assert_eq!(PackedDir::pack(&only_files).unpack(), Some(only_files));
        let empty = DirRecord::default();
        assert_eq!(PackedDir::pack(&empty).unpack(), Some(empty));
    }

    #[test]
    fn a_reused_packer_holds_only_the_names_since_it_was_cleared() {
        let mut packer = DirPacker::default();
        packer.subdir("old");
        packer.file("old.mp3");
        packer.clear();
        packer.file("b.m4b");
        packer.subdir("Book");
        packer.file("c.mp3");
        let head = DirRecord {
            dev: 7,
            ino: 9,
            settled: true,
            ..Default::default()
        };
        let expected = DirRecord {
            subdirs: vec!["Book".into()],
            files: vec!["b.m4b".into(), "c.mp3".into()],
            ..head.clone()
        };
        assert_eq!(packer.pack(&head).unpack(), Some(expected));
    }

    #[test]
    fn names_are_kept_in_byte_order_whatever_order_they_were_read_in() {
        let mut packer = DirPacker::default();
        for name in ["book10", "Book", "book02", "ä", "book1", "book02x"] {
            packer.subdir(name);
        }
        for name in ["z.mp3", "a.m4b", "M.flac"] {
            packer.file(name);
        }
        let view = packer.pack(&DirRecord::default()).unpack().unwrap();
        assert_eq!(
            view.subdirs,
            ["Book", "book02", "book02x", "book1", "book10", "ä"]
        );
        assert_eq!(view.files, ["M.flac", "a.m4b", "z.mp3"]);
    }

    #[test]
    fn truncated_padded_or_foreign_records_do_not_view() {
        let packed = PackedDir::pack(&DirRecord {
            subdirs: vec!["a".into()],
            files: vec!["b.mp3".into()],
            ..Default::default()
        });
        let bytes = packed.as_bytes();
        for cut in 0..bytes.len() {
            assert!(
                PackedDir::from_bytes(&bytes[..cut]).view().is_none(),
                "cut at {cut}"
            );
        }
        let mut padded = bytes.to_vec();
        padded.push(0);
        assert!(PackedDir::from_bytes(&padded).view().is_none());
        let mut huge = bytes.to_vec();
        huge[34..38].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PackedDir::from_bytes(&huge).view().is_none());
        let mut not_utf8 = bytes.to_vec();
        let at = not_utf8.len() - 1;
        not_utf8[at] = 0xff;
        assert!(PackedDir::from_bytes(&not_utf8).view().is_none());
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn durations_in_json_are_whole_milliseconds() {
        let f = BookFile {
            path: "/in/a.mp3".into(),
            size: 1,
            mtime_ns: 0,
            hash: "h".into(),
            duration_secs: 6.113999999999999,
            track: None,
            disc: None,
            organized_path: None,
            organized_hash: None,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"duration_secs\":6.114"), "{json}");
    }
}
