//! The tables of the store file.

use redb::TableDefinition;

pub(super) const BOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("books");
pub(super) const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// Directory listings of the last scan, by absolute path.
pub(super) const DIRS: TableDefinition<&str, &[u8]> = TableDefinition::new("dirs");
pub(super) const HASHES: TableDefinition<&str, &str> = TableDefinition::new("hashes");
/// Folder-and-album key -> book, kept by builds before the scan looked
/// these up from the files of the folder; dropped by the migration.
pub(super) const OLD_GROUPS: TableDefinition<&str, &str> = TableDefinition::new("groups");
pub(super) const IMPORT_PATHS: TableDefinition<&str, &[u8]> = TableDefinition::new("import_paths");
pub(super) const OPERATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("operations");
/// Ids of queued and running operations, so start-up never scans history.
pub(super) const ACTIVE_OPS: TableDefinition<&str, u8> = TableDefinition::new("active_operations");
pub(super) const LOGS: TableDefinition<&str, &[u8]> = TableDefinition::new("operation_logs");
pub(super) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Finished operations whose logs still exist, keyed
/// `<completed_nanos:020>:<id>`, so retention reads only what has expired.
pub(super) const EXPIRE_LOGS: TableDefinition<&str, &str> = TableDefinition::new("expire_logs");
/// Every finished operation by the same key, for record retention.
pub(super) const EXPIRE_OPS: TableDefinition<&str, &str> =
    TableDefinition::new("expire_operations");
/// Daily growth snapshots by local date.
pub(super) const GROWTH: TableDefinition<&str, &[u8]> = TableDefinition::new("growth");
/// Integrity findings under `integrity:mismatch:<book_id>`.
pub(super) const FINDINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("integrity");
/// Every edit of a book, keyed `<book_id>:<edit id>` (a ULID: time order).
pub(super) const BOOK_EDITS: TableDefinition<&str, &[u8]> = TableDefinition::new("book_edits");
/// Aggregated warn/error lines by fingerprint.
pub(super) const ERRORS: TableDefinition<&str, &[u8]> = TableDefinition::new("error_groups");

/// `<completed_nanos:020>:<operation_id>`: byte order is completion order.
pub(super) fn expiry_key(completed_nanos: u64, id: &str) -> String {
    format!("{completed_nanos:020}:{id}")
}

pub(super) fn finding_key(book_id: &str) -> String {
    format!("integrity:mismatch:{book_id}")
}

pub(super) const FINDING_PREFIX: &str = "integrity:mismatch:";
