//! Persistent state behind one `Store` trait: books, import paths, operations
//! and their logs. Knows nothing of scheduling, HTTP or events.

pub mod book_edit;
mod book_index;
pub mod fold;
pub mod keys;
mod observed_records;
pub mod records;
mod redb_store;

pub use book_edit::{BookEdit, BookEditRecord, BookField, FieldChange, FieldValue, Provenance};
pub use book_index::{NameCount, NameKind};
pub use observed_records::*;
pub use records::*;
pub use redb_store::RedbStore;

use thiserror::Error;

use ao_core::{fast_map, hash};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the store at {path} is in use by another audiobook-organizer process")]
    Locked { path: String },
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "the store at {path} was not closed cleanly; run a writing command (scan, organize, serve) once to repair it"
    )]
    NeedsRepair { path: String },
    #[error("the store is read-only in this process")]
    ReadOnly,
    #[error("store error: {0}")]
    Backend(#[source] redb::Error),
    /// The store failed and could not be opened again.
    #[error("store error: the store is unavailable after an I/O error{}", reopen_failure(.0))]
    Unavailable(Option<Box<StoreError>>),
    /// Our own transactions from before an I/O error still hold the file.
    #[error("store error: still closing the handle that failed; retrying on the next call")]
    Closing,
    /// The log writer's thread is gone.
    #[error("store error: log writer stopped")]
    WriterStopped,
    /// A write another thread made for this caller failed (one error,
    /// shared by every caller whose write was in that commit).
    #[error("{0}")]
    Shared(#[source] std::sync::Arc<StoreError>),
    /// The thread writing a batch panicked.
    #[error("store error: the store writer failed: {0}")]
    WriterPanicked(String),
    #[error("book {0} not found")]
    BookNotFound(String),
    #[error("corrupt record under {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

fn reopen_failure(e: &Option<Box<StoreError>>) -> String {
    e.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How a stored operation changes. Applied as read-modify-write inside the
/// store's transaction so that concurrent writers never lose each other's
/// fields, and progress can never overwrite a terminal status.
#[derive(Debug, Clone)]
pub enum OperationChange {
    Progress {
        current: u64,
        total: u64,
        message: String,
    },
    Status {
        status: OperationStatus,
        at: time::OffsetDateTime,
        message: Option<String>,
        error_message: Option<String>,
        timing: Option<OperationTiming>,
    },
}

/// One write; a batch of them is applied atomically.
#[derive(Debug, Clone)]
// Books are what a scan writes most; a box each would cost an allocation
// per book for a variant that is rarely far from the largest anyway.
#[allow(clippy::large_enum_variant)]
pub enum Mutation {
    /// A job's write of a book: fields the stored book has locked keep
    /// their stored values.
    PutBook(Book),
    /// A user's edit, applied to the stored book in the same transaction
    /// (an unknown book fails the batch) and recorded.
    EditBook(BookEdit),
    PutFile {
        path: String,
        record: FileRecord,
    },
    DeleteFile(String),
    /// A folder listing, in the walk's format (the store does not look
    /// into it).
    PutDir {
        path: String,
        record: Box<[u8]>,
    },
    DeleteDir(String),
    PutHash {
        hash: String,
        book_id: String,
    },
    PutImportPath(ImportPath),
    DeleteImportPath(String),
    PutOperation(Operation),
    UpdateOperation {
        id: String,
        change: OperationChange,
    },
    /// Appends a log line; its key comes from `created_at` and `id`.
    AppendLog(LogEntry),
    SetMeta {
        key: String,
        value: Vec<u8>,
    },
    DeleteMeta(String),
    PutGrowth(GrowthSnapshot),
    /// Replaces the book's finding (counts per kind follow).
    PutFinding(IntegrityFinding),
    DeleteFinding(String),
    PutErrorGroup(ErrorGroup),
}

/// An order of the book listing, kept as an index by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BookSort {
    /// When the book was first found (the listing's default).
    #[default]
    Added,
    /// By title: case, accents and punctuation ignored, numbers in order.
    Title,
    /// By author, then title.
    Author,
    /// Books of a series together in series order, then those without one.
    Series,
}

impl BookSort {
    pub const ALL: [BookSort; 4] = [Self::Added, Self::Title, Self::Author, Self::Series];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Title => "title",
            Self::Author => "author",
            Self::Series => "series",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One page of the book listing: by position (`offset`) or after a cursor
/// a previous page handed out, optionally only books matching every word
/// of `search` (each a prefix of a word of the title, an author, the
/// series or a narrator; case and accents ignored).
#[derive(Debug, Clone, Default)]
pub struct BookQuery {
    pub sort: BookSort,
    pub descending: bool,
    pub search: Option<String>,
    pub offset: u64,
    /// A `BookPage::next` of the same sort, order and search.
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// Where a page ended: opaque to clients (hex of an index key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub Vec<u8>);

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 1024 {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(Cursor)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[derive(Debug, Clone, Default)]
pub struct BookPage {
    pub books: Vec<Book>,
    /// Live books in the listing (matching the search, if any).
    pub total: u64,
    /// Continues after this page; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The embedded store. Every listing is paged; every count is maintained.
pub trait Store: Send + Sync {
    /// Applies the batch in one transaction. `durable` waits for the disk.
    /// Returns, per mutation, whether it changed anything (an operation
    /// update on a finished operation does not).
    fn apply(&self, batch: &[Mutation], durable: bool) -> StoreResult<Vec<bool>>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> StoreResult<()>;

    fn get_book(&self, id: &str) -> StoreResult<Option<Book>>;
    /// A book's edits, newest first.
    fn book_edits(&self, book_id: &str, limit: usize) -> StoreResult<Vec<BookEditRecord>>;
    /// Books in id order, starting after `after`.
    fn list_books(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<Book>>;
    fn count_books(&self) -> StoreResult<u64>;
    /// A page of live books in an indexed order, optionally searched
    /// (catching the indexes up first: every book written is in it).
    fn query_books(&self, query: &BookQuery) -> StoreResult<BookPage>;
    /// Authors or series with their live books' counts, in name order,
    /// those whose words start with every word of `search`: the page and
    /// how many match.
    fn list_names(
        &self,
        kind: NameKind,
        search: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<NameCount>, u64)>;
    /// One author's or series' live books (a series in its order); `None`
    /// for a name no live book carries. The name as first seen, the page,
    /// and how many books there are.
    fn named_books(
        &self,
        kind: NameKind,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Option<(String, BookPage)>>;
    /// Catches the listing indexes up with the books written since they
    /// last were (writes only note what changed); how many books that was.
    fn settle_indexes(&self) -> StoreResult<u64>;

    /// Many lookups in one read transaction, results in input order.
    fn get_files(&self, paths: &[&str]) -> StoreResult<Vec<Option<FileRecord>>>;
    fn get_file(&self, path: &str) -> StoreResult<Option<FileRecord>> {
        Ok(self.get_files(&[path])?.pop().flatten())
    }
    /// Known files under `prefix` with what tells a change, in path order,
    /// after `after`: at most `limit` of them, each handed to `each` (no
    /// list built); how many there were.
    fn file_stamps_under(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&str, FileStamp),
    ) -> StoreResult<usize>;
    /// Directory listings kept by scans under `prefix`, in path order,
    /// after `after`, as stored (a record that does not `view` is one to
    /// read again, not an error), handed to `each` like
    /// `file_stamps_under`'s.
    fn dirs_under(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&str, Box<[u8]>),
    ) -> StoreResult<usize>;
    /// Book ids by content hash, in one read transaction.
    fn get_hashes(&self, hashes: &[&str]) -> StoreResult<Vec<Option<String>>>;
    /// How many content hashes are indexed (kept by the index: no scan).
    fn count_hashes(&self) -> StoreResult<u64>;
    fn get_hash(&self, hash: &str) -> StoreResult<Option<String>> {
        Ok(self.get_hashes(&[hash])?.pop().flatten())
    }

    fn list_import_paths(&self) -> StoreResult<Vec<ImportPath>>;
    fn count_import_paths(&self) -> StoreResult<u64>;

    fn get_operation(&self, id: &str) -> StoreResult<Option<Operation>>;
    /// Newest first, starting before `before`.
    fn list_operations(&self, before: Option<&str>, limit: usize) -> StoreResult<Vec<Operation>>;
    /// Operations that are queued or running, oldest first.
    fn active_operations(&self) -> StoreResult<Vec<Operation>>;

    fn count_logs(&self, operation_id: &str) -> StoreResult<u64>;
    /// The last `n` lines, oldest first, read backwards from the end.
    fn tail_logs(&self, operation_id: &str, n: usize) -> StoreResult<Vec<LogEntry>>;
    /// Lines in order starting with sequence number `> after_seq`.
    fn logs_after(
        &self,
        operation_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>>;
    /// Timestamp and sequence of the newest line, if any.
    fn last_log_position(&self, operation_id: &str) -> StoreResult<Option<(u64, u64)>>;

    fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// One bounded retention step: deletes at most `max_lines` log lines of
    /// operations that ended before `cutoff_nanos`, in one short transaction.
    fn expire_logs(&self, cutoff_nanos: u64, max_lines: usize) -> StoreResult<ExpireStep>;
    /// Deletes at most `max_ops` operation records (and any lines left)
    /// that ended before `cutoff_nanos`.
    fn expire_operations(&self, cutoff_nanos: u64, max_ops: usize) -> StoreResult<ExpireStep>;

    /// Book count, bytes and formats from maintained counters.
    fn library_totals(&self) -> StoreResult<LibraryTotals>;
    fn get_growth(&self, date: &str) -> StoreResult<Option<GrowthSnapshot>>;
    /// Snapshots from `from_date` (inclusive, `YYYY-MM-DD`) on, oldest first.
    fn growth_since(&self, from_date: &str, limit: usize) -> StoreResult<Vec<GrowthSnapshot>>;

    fn get_finding(&self, book_id: &str) -> StoreResult<Option<IntegrityFinding>>;
    /// Findings in book id order, after `after`.
    fn list_findings(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IntegrityFinding>>;
    /// Current findings per kind, from maintained counters.
    fn count_findings(&self) -> StoreResult<Vec<(FindingKind, u64)>>;

    fn get_error_group(&self, fingerprint: &str) -> StoreResult<Option<ErrorGroup>>;
    /// Groups in fingerprint order, after `after`.
    fn list_error_groups(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<ErrorGroup>>;
    /// Short name of the backend, e.g. "redb".
    fn backend_name(&self) -> &'static str;
    /// Writes a consistent copy of the whole store, as it is now, to a new
    /// file at `to` (a store file itself); returns how many records it
    /// holds. Writers go on meanwhile.
    fn snapshot_to(&self, to: &std::path::Path) -> StoreResult<u64>;
}
