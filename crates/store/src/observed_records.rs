//! Records the observability features keep: operation timing, daily growth
//! snapshots, integrity findings and aggregated errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Stored when an operation ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationTiming {
    /// From start to end, in seconds.
    pub wall_seconds: f64,
    /// From being queued to starting, in seconds.
    pub queue_wait_seconds: f64,
    pub files: u64,
    pub bytes: u64,
    pub files_per_second: f64,
    pub mb_per_second: f64,
}

impl OperationTiming {
    pub fn new(wall_seconds: f64, queue_wait_seconds: f64, files: u64, bytes: u64) -> Self {
        let per_sec = |n: f64| {
            if wall_seconds > 0.0 {
                n / wall_seconds
            } else {
                0.0
            }
        };
        Self {
            wall_seconds,
            queue_wait_seconds,
            files,
            bytes,
            files_per_second: per_sec(files as f64),
            mb_per_second: per_sec(bytes as f64 / 1_000_000.0),
        }
    }
}

/// What the library holds right now, from maintained counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LibraryTotals {
    pub books: u64,
    pub total_bytes: u64,
    /// Live books by the extension of their first file ("mp3", "m4b", ...).
    pub formats: BTreeMap<String, u64>,
}

/// One day's snapshot of the library; only days the server saw exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrowthSnapshot {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    pub books: u64,
    pub total_bytes: u64,
    pub formats: BTreeMap<String, u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// The file's hash differs from the stored one.
    Mismatch,
    /// The file is gone.
    Missing,
    /// The file exists but cannot be read.
    Unreadable,
}

impl FindingKind {
    pub const ALL: [FindingKind; 3] = [Self::Mismatch, Self::Missing, Self::Unreadable];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mismatch => "mismatch",
            Self::Missing => "missing",
            Self::Unreadable => "unreadable",
        }
    }
}

/// One bad file of a book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileFinding {
    pub kind: FindingKind,
    pub file_path: String,
    pub stored_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_hash: Option<String>,
    /// `file_hash` (source file) or `organized_file_hash` (library copy).
    pub hash_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Stored under `integrity:mismatch:<book_id>`. The top-level fields describe
/// the first bad file (the plan's shape); `files` lists all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityFinding {
    pub book_id: String,
    pub book_title: String,
    pub kind: FindingKind,
    pub file_path: String,
    pub stored_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_hash: Option<String>,
    pub hash_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    pub operation_id: String,
    pub files: Vec<FileFinding>,
}

impl IntegrityFinding {
    pub fn new(
        book_id: &str,
        book_title: &str,
        operation_id: &str,
        detected_at: OffsetDateTime,
        files: Vec<FileFinding>,
    ) -> Option<Self> {
        let first = files.first()?.clone();
        Some(Self {
            book_id: book_id.to_string(),
            book_title: book_title.to_string(),
            kind: first.kind,
            file_path: first.file_path,
            stored_hash: first.stored_hash,
            computed_hash: first.computed_hash,
            hash_type: first.hash_type,
            detected_at,
            operation_id: operation_id.to_string(),
            files,
        })
    }
}

/// Where an example of an aggregated error came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorExample {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    pub operation_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Warn and error lines that share a fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorGroup {
    pub fingerprint: String,
    /// The message with numbers, ids, paths and hashes replaced.
    pub pattern: String,
    pub level: super::LogLevel,
    pub count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    pub last_example: ErrorExample,
    pub operation_types: Vec<String>,
    /// Count per UTC day (`YYYY-MM-DD`), the last 90 days, for `since`.
    #[serde(default)]
    pub daily: BTreeMap<String, u64>,
}

/// What one bounded retention step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireStep {
    pub lines_deleted: u64,
    pub operations_deleted: u64,
    /// Whether expired work remains for another step.
    pub more: bool,
}
