//! The redb backend: one file, crash-safe commits, ordered keys.

use std::path::Path;

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, WriteTransaction,
};

use super::keys;
use super::*;

const BOOKS: TableDefinition<&str, &[u8]> = TableDefinition::new("books");
const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const HASHES: TableDefinition<&str, &str> = TableDefinition::new("hashes");
const GROUPS: TableDefinition<&str, &str> = TableDefinition::new("groups");
const IMPORT_PATHS: TableDefinition<&str, &[u8]> = TableDefinition::new("import_paths");
const OPERATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("operations");
/// Ids of queued and running operations, so start-up never scans history.
const ACTIVE_OPS: TableDefinition<&str, u8> = TableDefinition::new("active_operations");
const LOGS: TableDefinition<&str, &[u8]> = TableDefinition::new("operation_logs");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
}

pub struct RedbStore {
    db: Handle,
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// File records are read for every file on every scan: a fixed binary
/// layout instead of JSON. Version byte 1, then size, mtime, role, missing,
/// and the two strings with u16 lengths.
fn encode_file(r: &FileRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + r.book_id.len() + r.hash.len());
    out.push(1u8);
    out.extend_from_slice(&r.size.to_le_bytes());
    out.extend_from_slice(&r.mtime_ns.to_le_bytes());
    out.push(match r.role {
        FileRole::Source => 0,
        FileRole::Duplicate => 1,
        FileRole::Organized => 2,
    });
    out.push(r.missing as u8);
    for s in [&r.book_id, &r.hash] {
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn decode_file(key: &str, b: &[u8]) -> StoreResult<FileRecord> {
    let corrupt = || StoreError::Corrupt {
        key: key.to_string(),
        reason: "bad file record".into(),
    };
    if b.len() < 23 || b[0] != 1 {
        return Err(corrupt());
    }
    let size = u64::from_le_bytes(b[1..9].try_into().map_err(|_| corrupt())?);
    let mtime_ns = i64::from_le_bytes(b[9..17].try_into().map_err(|_| corrupt())?);
    let role = match b[17] {
        0 => FileRole::Source,
        1 => FileRole::Duplicate,
        2 => FileRole::Organized,
        _ => return Err(corrupt()),
    };
    let missing = b[18] != 0;
    let mut at = 19;
    let mut strings = Vec::with_capacity(2);
    for _ in 0..2 {
        let len = u16::from_le_bytes(
            b.get(at..at + 2)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        at += 2;
        let s =
            std::str::from_utf8(b.get(at..at + len).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        strings.push(s.to_string());
        at += len;
    }
    let hash = strings.pop().ok_or_else(corrupt)?;
    let book_id = strings.pop().ok_or_else(corrupt)?;
    Ok(FileRecord {
        book_id,
        size,
        mtime_ns,
        hash,
        role,
        missing,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records always serialize")
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
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let db = Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        let txn = db.begin_write().map_err(backend)?;
        {
            // Create every table so that readers never meet a missing one.
            txn.open_table(BOOKS).map_err(backend)?;
            txn.open_table(FILES).map_err(backend)?;
            txn.open_table(HASHES).map_err(backend)?;
            txn.open_table(GROUPS).map_err(backend)?;
            txn.open_table(IMPORT_PATHS).map_err(backend)?;
            txn.open_table(OPERATIONS).map_err(backend)?;
            txn.open_table(ACTIVE_OPS).map_err(backend)?;
            txn.open_table(LOGS).map_err(backend)?;
            txn.open_table(COUNTERS).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        Ok(Self {
            db: Handle::Write(db),
        })
    }

    /// Opens an existing store read-only; works while another process writes.
    pub fn open_read_only(path: &Path) -> StoreResult<Self> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                reason: "no store there yet (run a scan or serve first)".into(),
            });
        }
        let db = Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .open_read_only(path)
            .map_err(|e| open_error(path, e))?;
        Ok(Self {
            db: Handle::Read(db),
        })
    }

    fn read(&self) -> StoreResult<ReadTransaction> {
        match &self.db {
            Handle::Write(db) => db.begin_read().map_err(backend),
            Handle::Read(db) => db.begin_read().map_err(backend),
        }
    }

    fn write(&self) -> StoreResult<WriteTransaction> {
        match &self.db {
            Handle::Write(db) => db.begin_write().map_err(backend),
            Handle::Read(_) => Err(StoreError::ReadOnly),
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        key: &str,
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

fn add_counter(
    table: &mut redb::Table<&str, u64>,
    key: &str,
    delta: i64,
) -> Result<(), redb::StorageError> {
    if delta == 0 {
        return Ok(());
    }
    let current = table.get(key)?.map(|v| v.value()).unwrap_or(0);
    let next = (current as i64 + delta).max(0) as u64;
    table.insert(key, next)?;
    Ok(())
}

fn apply_operation_change(op: &mut Operation, change: &OperationChange) -> bool {
    match change {
        OperationChange::Progress {
            current,
            total,
            message,
        } => {
            if op.status.is_terminal() {
                return false;
            }
            op.progress = *current;
            op.total = *total;
            op.message = message.clone();
            true
        }
        OperationChange::Status {
            status,
            at,
            message,
            error_message,
        } => {
            if op.status.is_terminal() {
                return false;
            }
            op.status = *status;
            if *status == OperationStatus::Running && op.started_at.is_none() {
                op.started_at = Some(*at);
            }
            if status.is_terminal() {
                op.started_at.get_or_insert(*at);
                op.completed_at = Some(*at);
            }
            if let Some(m) = message {
                op.message = m.clone();
            }
            if error_message.is_some() {
                op.error_message = error_message.clone();
            }
            true
        }
    }
}

fn is_active(status: OperationStatus) -> bool {
    matches!(
        status,
        OperationStatus::Pending | OperationStatus::Queued | OperationStatus::Running
    )
}

fn apply_batch(txn: &WriteTransaction, batch: &[Mutation]) -> StoreResult<Vec<bool>> {
    let mut books = txn.open_table(BOOKS).map_err(backend)?;
    let mut files = txn.open_table(FILES).map_err(backend)?;
    let mut hashes = txn.open_table(HASHES).map_err(backend)?;
    let mut groups = txn.open_table(GROUPS).map_err(backend)?;
    let mut import_paths = txn.open_table(IMPORT_PATHS).map_err(backend)?;
    let mut operations = txn.open_table(OPERATIONS).map_err(backend)?;
    let mut active = txn.open_table(ACTIVE_OPS).map_err(backend)?;
    let mut logs = txn.open_table(LOGS).map_err(backend)?;
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let mut meta = txn.open_table(META).map_err(backend)?;
    let mut changed = Vec::with_capacity(batch.len());
    // Counter changes are summed and written once per batch.
    let mut deltas: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for m in batch {
        let did = match m {
            Mutation::PutBook(book) => {
                let old_live = match books.get(book.id.as_str()).map_err(backend)? {
                    Some(v) => decode::<Book>(&book.id, v.value())?.is_live(),
                    None => false,
                };
                books
                    .insert(book.id.as_str(), encode(book).as_slice())
                    .map_err(backend)?;
                let delta = book.is_live() as i64 - old_live as i64;
                *deltas.entry(keys::BOOKS_COUNT.to_string()).or_default() += delta;
                true
            }
            Mutation::PutFile { path, record } => {
                files
                    .insert(path.as_str(), encode_file(record).as_slice())
                    .map_err(backend)?;
                true
            }
            Mutation::DeleteFile(path) => files.remove(path.as_str()).map_err(backend)?.is_some(),
            Mutation::PutHash { hash, book_id } => {
                hashes
                    .insert(hash.as_str(), book_id.as_str())
                    .map_err(backend)?;
                true
            }
            Mutation::PutGroup { key, book_id } => {
                groups
                    .insert(key.as_str(), book_id.as_str())
                    .map_err(backend)?;
                true
            }
            Mutation::PutImportPath(p) => {
                let existed = import_paths
                    .insert(p.id.as_str(), encode(p).as_slice())
                    .map_err(backend)?
                    .is_some();
                if !existed {
                    *deltas
                        .entry(keys::IMPORT_PATHS_COUNT.to_string())
                        .or_default() += 1;
                }
                true
            }
            Mutation::DeleteImportPath(id) => {
                let existed = import_paths.remove(id.as_str()).map_err(backend)?.is_some();
                if existed {
                    *deltas
                        .entry(keys::IMPORT_PATHS_COUNT.to_string())
                        .or_default() -= 1;
                }
                existed
            }
            Mutation::PutOperation(op) => {
                operations
                    .insert(op.id.as_str(), encode(op).as_slice())
                    .map_err(backend)?;
                if is_active(op.status) {
                    active.insert(op.id.as_str(), 1u8).map_err(backend)?;
                } else {
                    active.remove(op.id.as_str()).map_err(backend)?;
                }
                true
            }
            Mutation::UpdateOperation { id, change } => {
                let current = match operations.get(id.as_str()).map_err(backend)? {
                    Some(v) => Some(decode::<Operation>(id, v.value())?),
                    None => None,
                };
                match current {
                    Some(mut op) => {
                        let did = apply_operation_change(&mut op, change);
                        if did {
                            operations
                                .insert(id.as_str(), encode(&op).as_slice())
                                .map_err(backend)?;
                            if !is_active(op.status) {
                                active.remove(id.as_str()).map_err(backend)?;
                            }
                        }
                        did
                    }
                    None => false,
                }
            }
            Mutation::AppendLog(entry) => {
                let key =
                    keys::log_key(&entry.operation_id, unix_nanos(entry.created_at), entry.id);
                logs.insert(key.as_str(), encode(entry).as_slice())
                    .map_err(backend)?;
                *deltas
                    .entry(keys::log_count_key(&entry.operation_id))
                    .or_default() += 1;
                true
            }
            Mutation::SetMeta { key, value } => {
                meta.insert(key.as_str(), value.as_slice())
                    .map_err(backend)?;
                true
            }
        };
        changed.push(did);
    }
    for (key, delta) in deltas {
        add_counter(&mut counters, &key, delta).map_err(backend)?;
    }
    Ok(changed)
}

impl Store for RedbStore {
    fn apply(&self, batch: &[Mutation], durable: bool) -> StoreResult<Vec<bool>> {
        // Readers in other processes follow our commits, which redb allows
        // only for durable commits; callers batch to keep fsyncs few.
        let _ = durable;
        let txn = self.write()?;
        let changed = apply_batch(&txn, batch)?;
        txn.commit().map_err(backend)?;
        Ok(changed)
    }

    fn flush(&self) -> StoreResult<()> {
        // An empty commit with immediate durability persists earlier
        // non-durable commits too.
        let txn = self.write()?;
        txn.commit().map_err(backend)
    }

    fn get_book(&self, id: &str) -> StoreResult<Option<Book>> {
        self.get_json(BOOKS, id)
    }

    fn list_books(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<Book>> {
        let txn = self.read()?;
        let table = txn.open_table(BOOKS).map_err(backend)?;
        let mut out = Vec::new();
        let range = match after {
            Some(a) => {
                table.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
            }
            None => table.range::<&str>(..),
        }
        .map_err(backend)?;
        for item in range.take(limit) {
            let (k, v) = item.map_err(backend)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn count_books(&self) -> StoreResult<u64> {
        self.counter(keys::BOOKS_COUNT)
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

    fn file_paths_under(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let txn = self.read()?;
        let table = txn.open_table(FILES).map_err(backend)?;
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a),
            _ => std::ops::Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for item in table
            .range::<&str>((start, std::ops::Bound::Unbounded))
            .map_err(backend)?
        {
            let (k, _) = item.map_err(backend)?;
            let key = k.value();
            if !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(key.to_string());
        }
        Ok(out)
    }

    fn get_hashes(&self, hashes: &[&str]) -> StoreResult<Vec<Option<String>>> {
        self.get_strings(HASHES, hashes)
    }

    fn get_groups(&self, keys: &[&str]) -> StoreResult<Vec<Option<String>>> {
        self.get_strings(GROUPS, keys)
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
}
