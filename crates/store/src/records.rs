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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Whether and how an import folder is watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WatchSetting {
    /// Scanned when a scan is started.
    #[default]
    Off,
    /// Filesystem notifications, debounced; a periodic rescan where they
    /// do not work (NFS, SMB, a refused watch).
    Auto,
    /// A periodic rescan (bind mounts whose host does not pass
    /// notifications through, say).
    Poll,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportPath {
    pub id: String,
    pub path: String,
    pub name: String,
    pub enabled: bool,
    /// Exclude patterns (globs relative to the folder: `*.part`,
    /// `Incomplete/*`, `**/Samples`); what they match is not scanned.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Scan what changes as it changes.
    #[serde(default)]
    pub watch: WatchSetting,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cover {
    pub source: CoverSource,
    /// The image file, or the audio file whose tags hold the picture.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CoverSource {
    /// An image file in the book's folder (`cover.jpg`, `folder.jpg`, ...).
    File,
    /// The picture in an audio file's tags.
    Embedded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genres: Vec<String>,
    /// Where each field's value came from: `tag`, `path`,
    /// `source:<name>` or `user`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub provenance: crate::book_edit::ProvenanceMap,
    /// Fields a user edited: scans and lookups leave them alone.
    #[serde(default)]
    pub locked: crate::book_edit::LockedFields,
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

/// Seconds rounded to milliseconds: sums of part lengths carry float noise
/// (`6.113999999999999`) that no reader wants.
fn millis<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1000.0).round() / 1000.0)
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
