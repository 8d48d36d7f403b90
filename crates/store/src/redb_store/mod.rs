//! The redb backend: one file, crash-safe commits, ordered keys.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

mod apply;
mod book_codec;
mod book_query;
mod codec;
mod expiry;
mod indexes;
mod observed;
mod snapshot;
mod tables;

use super::keys;
use super::*;
use apply::apply_batch;
use book_codec::decode_book;
use codec::{decode, decode_file, decode_stamp};
use tables::*;

enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
}

/// The database handle, replaced after an I/O error: redb refuses every
/// transaction after a failed write ("previous I/O error") until the
/// database is closed and opened again. `None` while reopening failed
/// (the disk is still full, say); the next call tries again.
pub struct RedbStore {
    path: PathBuf,
    writable: bool,
    db: RwLock<Option<Handle>>,
    /// Bumped on each reopen, so concurrent callers reopen once.
    generation: AtomicU64,
    /// The listing's index (see `book_index`), built on first use.
    index: RwLock<Option<crate::book_index::BookIndex>>,
    /// Books written since the index last caught up.
    pending: Mutex<crate::fast_map::FastSet<String>>,
    /// One catch-up (or build) of the index at a time.
    settle_lock: Mutex<()>,
}

/// redb's page cache (its default is 1 GiB): enough for the hot part of a
/// large library, and a ceiling on what a long-running server holds.
const CACHE_BYTES: usize = 16 << 20;

fn is_previous_io(e: &redb::StorageError) -> bool {
    matches!(
        e,
        redb::StorageError::PreviousIo | redb::StorageError::DatabaseClosed
    )
}

fn txn_previous_io(e: &redb::TransactionError) -> bool {
    matches!(e, redb::TransactionError::Storage(s) if is_previous_io(s))
}

pub(super) fn backend<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Backend(e.into())
}

fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    let shown = path.display().to_string();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: shown },
        redb::DatabaseError::RepairAborted => StoreError::NeedsRepair { path: shown },
        other => StoreError::Open {
            path: shown,
            reason: other.to_string(),
        },
    }
}

impl RedbStore {
    /// Opens (creating if needed) the store for reading and writing. Other
    /// processes may still open it read-only and follow our commits.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_mode(path, 0o600)
    }

    /// The same, creating a missing store file with permission bits `mode`
    /// and missing folders above it with `mode` plus search bits where it
    /// allows reading (0600 gives 0700): the store holds the API key.
    pub fn open_with_mode(path: &Path, mode: u32) -> StoreResult<Self> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let open_err = |e: std::io::Error| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let dir_mode = mode | ((mode & 0o444) >> 2);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(dir_mode)
                .create(parent)
                .map_err(open_err)?;
        }
        // Created here, not by redb, so that it never exists with wider bits.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_err(e)),
        }
        let db = Self::open_write(path)?;
        Ok(Self::with(path, true, Handle::Write(db)))
    }

    fn with(path: &Path, writable: bool, handle: Handle) -> Self {
        Self {
            index: RwLock::new(None),
            pending: Mutex::new(Default::default()),
            settle_lock: Mutex::new(()),
            path: path.to_path_buf(),
            writable,
            db: RwLock::new(Some(handle)),
            generation: AtomicU64::new(0),
        }
    }

    fn open_write(path: &Path) -> StoreResult<Database> {
        let db = Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        let txn = db.begin_write().map_err(backend)?;
        {
            // Create every table so that readers never meet a missing one.
            txn.open_table(BOOKS).map_err(backend)?;
            txn.open_table(FILES).map_err(backend)?;
            txn.open_table(DIRS).map_err(backend)?;
            txn.open_table(HASHES).map_err(backend)?;
            txn.open_table(IMPORT_PATHS).map_err(backend)?;
            txn.open_table(OPERATIONS).map_err(backend)?;
            txn.open_table(ACTIVE_OPS).map_err(backend)?;
            txn.open_table(LOGS).map_err(backend)?;
            txn.open_table(COUNTERS).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
            txn.open_table(EXPIRE_LOGS).map_err(backend)?;
            txn.open_table(EXPIRE_OPS).map_err(backend)?;
            txn.open_table(GROWTH).map_err(backend)?;
            txn.open_table(FINDINGS).map_err(backend)?;
            txn.open_table(ERRORS).map_err(backend)?;
            txn.open_table(BOOK_EDITS).map_err(backend)?;
            expiry::migrate(&txn)?;
        }
        txn.commit().map_err(backend)?;
        Ok(db)
    }

    fn open_read(path: &Path) -> StoreResult<ReadOnlyDatabase> {
        Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_cache_size(CACHE_BYTES)
            .open_read_only(path)
            .map_err(|e| open_error(path, e))
    }

    /// Closes the database and opens it again (after an I/O error), unless
    /// another caller already did since `seen`.
    fn reopen(&self, seen: u64) -> StoreResult<()> {
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::SeqCst) != seen && slot.is_some() {
            return Ok(());
        }
        // The old handle must be gone before the file can be opened again.
        *slot = None;
        let opened = if self.writable {
            Self::open_write(&self.path).map(Handle::Write)
        } else {
            Self::open_read(&self.path).map(Handle::Read)
        };
        let handle = opened.map_err(|e| match e {
            // Our own transactions from before the error still hold it.
            StoreError::Locked { .. } => StoreError::Closing,
            other => other,
        })?;
        *slot = Some(handle);
        self.generation.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            path = %self.path.display(),
            "reopened the store after an I/O error"
        );
        Ok(())
    }

    /// Runs `f` on the current handle; after "previous I/O error" (or
    /// while no handle is open) reopens once and tries again.
    fn attempt<T>(
        &self,
        f: impl Fn(&Handle) -> Result<T, redb::TransactionError>,
    ) -> StoreResult<T> {
        for _ in 0..2 {
            let seen = self.generation.load(Ordering::SeqCst);
            {
                let slot = self.db.read().unwrap_or_else(|e| e.into_inner());
                if let Some(h) = slot.as_ref() {
                    match f(h) {
                        Ok(v) => return Ok(v),
                        Err(e) if txn_previous_io(&e) => {}
                        Err(e) => return Err(backend(e)),
                    }
                }
            }
            self.reopen(seen)
                .map_err(|e| StoreError::Unavailable(Some(Box::new(e))))?;
        }
        Err(StoreError::Unavailable(None))
    }

    /// Opens an existing store read-only; works while another process writes.
    pub fn open_read_only(path: &Path) -> StoreResult<Self> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "no store there yet (run a scan or serve first)".into(),
            });
        }
        let db = Self::open_read(path)?;
        Ok(Self::with(path, false, Handle::Read(db)))
    }

    fn read(&self) -> StoreResult<ReadTransaction> {
        self.attempt(|h| match h {
            Handle::Write(db) => db.begin_read(),
            Handle::Read(db) => db.begin_read(),
        })
    }

    fn write(&self) -> StoreResult<WriteTransaction> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        self.attempt(|h| match h {
            Handle::Write(db) => db.begin_write(),
            Handle::Read(_) => Err(redb::TransactionError::Storage(
                redb::StorageError::Unsupported,
            )),
        })
    }

    /// Runs `f` in one write transaction and commits it.
    fn in_write<T>(&self, f: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.write()?;
        let out = f(&txn)?;
        txn.commit().map_err(backend)?;
        Ok(out)
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> StoreResult<Option<T>> {
        self.get_record(def, key, decode)
    }

    /// The record under `key`, read by `decode`.
    fn get_record<T>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        key: &str,
        decode: fn(&str, &[u8]) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let txn = self.read()?;
        let table = txn.open_table(def).map_err(backend)?;
        match table.get(key).map_err(backend)? {
            Some(v) => decode(key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn get_strings(
        &self,
        def: TableDefinition<&str, &str>,
        keys: &[&str],
    ) -> StoreResult<Vec<Option<String>>> {
        let txn = self.read()?;
        let table = txn.open_table(def).map_err(backend)?;
        keys.iter()
            .map(|k| {
                Ok(table
                    .get(*k)
                    .map_err(backend)?
                    .map(|v| v.value().to_string()))
            })
            .collect()
    }

    /// Records of `def` under `prefix` after `after`, at most `limit`,
    /// decoded and handed to `each` in key order; how many there were.
    fn range_under<T>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        decode: impl Fn(&str, &[u8]) -> StoreResult<T>,
        each: &mut dyn FnMut(&str, T),
    ) -> StoreResult<usize> {
        let txn = self.read()?;
        let table = txn.open_table(def).map_err(backend)?;
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a),
            _ => std::ops::Bound::Included(prefix),
        };
        let mut n = 0;
        for item in table
            .range::<&str>((start, std::ops::Bound::Unbounded))
            .map_err(backend)?
        {
            let (k, v) = item.map_err(backend)?;
            let key = k.value();
            if !key.starts_with(prefix) || n >= limit {
                break;
            }
            each(key, decode(key, v.value())?);
            n += 1;
        }
        Ok(n)
    }

    fn counter(&self, key: &str) -> StoreResult<u64> {
        let txn = self.read()?;
        let table = txn.open_table(COUNTERS).map_err(backend)?;
        Ok(table
            .get(key)
            .map_err(backend)?
            .map(|v| v.value())
            .unwrap_or(0))
    }
}

impl Store for RedbStore {
    fn apply(&self, batch: &[Mutation], durable: bool) -> StoreResult<Vec<bool>> {
        // Readers in other processes follow our commits, which redb allows
        // only for durable commits; callers batch to keep fsyncs few.
        let _ = durable;
        let mut noted = Vec::new();
        let done = self.in_write(|txn| apply_batch(txn, batch, &mut noted));
        if !noted.is_empty() {
            // Noted after the commit (a catch-up reading before it would
            // miss it), and even if it failed: catching up a book that did
            // not change moves nothing.
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(noted);
        }
        done
    }

    fn flush(&self) -> StoreResult<()> {
        // An empty commit with immediate durability persists earlier
        // non-durable commits too.
        let txn = self.write()?;
        txn.commit().map_err(backend)
    }

    fn get_book(&self, id: &str) -> StoreResult<Option<Book>> {
        self.get_record(BOOKS, id, decode_book)
    }

    fn book_edits(&self, book_id: &str, limit: usize) -> StoreResult<Vec<BookEditRecord>> {
        let txn = self.read()?;
        let table = txn.open_table(BOOK_EDITS).map_err(backend)?;
        let prefix = format!("{book_id}:");
        let end = keys::prefix_end(&prefix);
        let mut out = Vec::new();
        for item in table
            .range::<&str>(prefix.as_str()..end.as_str())
            .map_err(backend)?
            .rev()
            .take(limit)
        {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn list_books(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<Book>> {
        self.list_records(BOOKS, "", after, limit, decode_book)
    }

    fn count_books(&self) -> StoreResult<u64> {
        self.counter(keys::BOOKS_COUNT)
    }

    fn query_books(&self, query: &BookQuery) -> StoreResult<BookPage> {
        self.query(query)
    }

    fn snapshot_to(&self, to: &Path) -> StoreResult<u64> {
        self.write_snapshot(to)
    }

    fn list_names(
        &self,
        kind: NameKind,
        search: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<NameCount>, u64)> {
        self.names(kind, search, offset, limit)
    }

    fn named_books(
        &self,
        kind: NameKind,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Option<(String, BookPage)>> {
        self.books_of(kind, name, offset, limit)
    }

    fn settle_indexes(&self) -> StoreResult<u64> {
        self.settle()
    }

    fn get_files(&self, paths: &[&str]) -> StoreResult<Vec<Option<FileRecord>>> {
        let txn = self.read()?;
        let table = txn.open_table(FILES).map_err(backend)?;
        paths
            .iter()
            .map(|p| match table.get(*p).map_err(backend)? {
                Some(v) => decode_file(p, v.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn file_stamps_under(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&str, FileStamp),
    ) -> StoreResult<usize> {
        self.range_under(FILES, prefix, after, limit, decode_stamp, each)
    }

    fn dirs_under(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&str, Box<[u8]>),
    ) -> StoreResult<usize> {
        let packed = |_: &str, b: &[u8]| Ok(Box::from(b));
        self.range_under(DIRS, prefix, after, limit, packed, each)
    }

    fn get_hashes(&self, hashes: &[&str]) -> StoreResult<Vec<Option<String>>> {
        self.get_strings(HASHES, hashes)
    }

    fn count_hashes(&self) -> StoreResult<u64> {
        let txn = self.read()?;
        let table = txn.open_table(HASHES).map_err(backend)?;
        table.len().map_err(backend)
    }

    fn list_import_paths(&self) -> StoreResult<Vec<ImportPath>> {
        let txn = self.read()?;
        let table = txn.open_table(IMPORT_PATHS).map_err(backend)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn count_import_paths(&self) -> StoreResult<u64> {
        self.counter(keys::IMPORT_PATHS_COUNT)
    }

    fn get_operation(&self, id: &str) -> StoreResult<Option<Operation>> {
        self.get_json(OPERATIONS, id)
    }

    fn list_operations(&self, before: Option<&str>, limit: usize) -> StoreResult<Vec<Operation>> {
        let txn = self.read()?;
        let table = txn.open_table(OPERATIONS).map_err(backend)?;
        let range = match before {
            Some(b) => table.range::<&str>(..b),
            None => table.range::<&str>(..),
        }
        .map_err(backend)?;
        let mut out = Vec::new();
        for item in range.rev().take(limit) {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn active_operations(&self) -> StoreResult<Vec<Operation>> {
        let txn = self.read()?;
        let active = txn.open_table(ACTIVE_OPS).map_err(backend)?;
        let ops = txn.open_table(OPERATIONS).map_err(backend)?;
        let mut out = Vec::new();
        for item in active.iter().map_err(backend)? {
            let (k, _) = item.map_err(backend)?;
            if let Some(v) = ops.get(k.value()).map_err(backend)? {
                out.push(decode(k.value(), v.value())?);
            }
        }
        Ok(out)
    }

    fn count_logs(&self, operation_id: &str) -> StoreResult<u64> {
        self.counter(&keys::log_count_key(operation_id))
    }

    fn tail_logs(&self, operation_id: &str, n: usize) -> StoreResult<Vec<LogEntry>> {
        let txn = self.read()?;
        let table = txn.open_table(LOGS).map_err(backend)?;
        let prefix = keys::log_prefix(operation_id);
        let end = keys::prefix_end(&prefix);
        let mut out = Vec::with_capacity(n.min(10_000));
        for item in table
            .range::<&str>(prefix.as_str()..end.as_str())
            .map_err(backend)?
            .rev()
            .take(n)
        {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        out.reverse();
        Ok(out)
    }

    fn logs_after(
        &self,
        operation_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        let txn = self.read()?;
        let table = txn.open_table(LOGS).map_err(backend)?;
        let prefix = keys::log_prefix(operation_id);
        let end = keys::prefix_end(&prefix);
        // Time and sequence grow together within an operation, so the first
        // line after `after_seq` is found by bisecting on the timestamp.
        let first_at = |ts: u64| -> StoreResult<Option<(u64, u64)>> {
            let from = keys::log_key(operation_id, ts, 0);
            match table
                .range::<&str>(from.as_str()..end.as_str())
                .map_err(backend)?
                .next()
            {
                Some(item) => {
                    let (k, _) = item.map_err(backend)?;
                    Ok(keys::parse_log_key(k.value()))
                }
                None => Ok(None),
            }
        };
        // P(t): the first line at or after time t comes after `after_seq`.
        // P is monotone; the smallest t with P(t), less one, is where the
        // lines we want begin (lines may share a timestamp).
        let (mut lo, mut hi) = (0u64, u64::MAX / 2);
        if after_seq > 0 {
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let p = match first_at(mid)? {
                    Some((_, seq)) => seq > after_seq,
                    None => true,
                };
                if p {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo = lo.saturating_sub(1);
        }
        let from = keys::log_key(operation_id, lo, 0);
        let mut out = Vec::new();
        for item in table
            .range::<&str>(from.as_str()..end.as_str())
            .map_err(backend)?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(backend)?;
            let entry: LogEntry = decode(k.value(), v.value())?;
            if entry.id > after_seq {
                out.push(entry);
            }
        }
        Ok(out)
    }

    fn last_log_position(&self, operation_id: &str) -> StoreResult<Option<(u64, u64)>> {
        let txn = self.read()?;
        let table = txn.open_table(LOGS).map_err(backend)?;
        let prefix = keys::log_prefix(operation_id);
        let end = keys::prefix_end(&prefix);
        match table
            .range::<&str>(prefix.as_str()..end.as_str())
            .map_err(backend)?
            .next_back()
        {
            Some(item) => {
                let (k, _) = item.map_err(backend)?;
                Ok(keys::parse_log_key(k.value()))
            }
            None => Ok(None),
        }
    }

    fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(backend)?;
        Ok(table.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn backend_name(&self) -> &'static str {
        "redb"
    }

    fn expire_logs(&self, cutoff_nanos: u64, max_lines: usize) -> StoreResult<ExpireStep> {
        self.in_write(|txn| expiry::expire_logs(txn, cutoff_nanos, max_lines))
    }

    fn expire_operations(&self, cutoff_nanos: u64, max_ops: usize) -> StoreResult<ExpireStep> {
        self.in_write(|txn| expiry::expire_operations(txn, cutoff_nanos, max_ops))
    }

    fn library_totals(&self) -> StoreResult<LibraryTotals> {
        self.totals()
    }

    fn get_growth(&self, date: &str) -> StoreResult<Option<GrowthSnapshot>> {
        self.get_json(GROWTH, date)
    }

    fn growth_since(&self, from_date: &str, limit: usize) -> StoreResult<Vec<GrowthSnapshot>> {
        let txn = self.read()?;
        let table = txn.open_table(GROWTH).map_err(backend)?;
        let mut out = Vec::new();
        for item in table
            .range::<&str>(from_date..)
            .map_err(backend)?
            .take(limit)
        {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn get_finding(&self, book_id: &str) -> StoreResult<Option<IntegrityFinding>> {
        self.get_json(FINDINGS, &finding_key(book_id))
    }

    fn list_findings(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IntegrityFinding>> {
        self.findings_page(after, limit)
    }

    fn count_findings(&self) -> StoreResult<Vec<(FindingKind, u64)>> {
        self.finding_counts()
    }

    fn get_error_group(&self, fingerprint: &str) -> StoreResult<Option<ErrorGroup>> {
        self.get_json(ERRORS, fingerprint)
    }

    fn list_error_groups(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<ErrorGroup>> {
        self.list_json(ERRORS, "", after, limit)
    }
}
