//! Applying a batch of mutations inside one write transaction, keeping
//! every maintained counter and index in step.

use redb::{ReadableTable, WriteTransaction};

use crate::fast_map::FastMap;

use super::super::keys;
use super::super::*;
use super::backend;
use super::book_codec::{decode_book, encode_book};
use super::codec::{decode, encode, encode_file};
use super::indexes::{add_counter, index_finished};
use super::tables::*;
use crate::book_index::moves_entries;

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
            timing,
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
            if timing.is_some() {
                op.timing = timing.clone();
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

/// Adds `by` to the batch's change of counter `key` (allocating the key
/// only the first time).
fn bump(deltas: &mut Deltas, key: &str, by: i64) {
    match deltas.get_mut(key) {
        Some(d) => *d += by,
        None => {
            deltas.insert(key.to_string(), by);
        }
    }
}

/// Adds (sign 1) or removes (sign -1) a live book from the library counters.
fn count_book(deltas: &mut Deltas, b: &Book, sign: i64) {
    bump(deltas, keys::BOOKS_COUNT, sign);
    bump(deltas, keys::LIBRARY_BYTES, sign * b.total_bytes() as i64);
    bump(deltas, &keys::format_count_key(&b.format()), sign);
}

/// Counter changes of a batch, summed and written once.
type Deltas = FastMap<String, i64>;

fn count_finding(deltas: &mut Deltas, kind: FindingKind, sign: i64) {
    *deltas
        .entry(keys::finding_count_key(kind.as_str()))
        .or_default() += sign;
}

/// Applies `batch`; books whose listing entries it changed go to `noted`.
pub(super) fn apply_batch(
    txn: &WriteTransaction,
    batch: &[Mutation],
    noted: &mut Vec<String>,
) -> StoreResult<Vec<bool>> {
    let mut books = txn.open_table(BOOKS).map_err(backend)?;
    let mut files = txn.open_table(FILES).map_err(backend)?;
    let mut dirs = txn.open_table(DIRS).map_err(backend)?;
    let mut hashes = txn.open_table(HASHES).map_err(backend)?;
    let mut import_paths = txn.open_table(IMPORT_PATHS).map_err(backend)?;
    let mut operations = txn.open_table(OPERATIONS).map_err(backend)?;
    let mut active = txn.open_table(ACTIVE_OPS).map_err(backend)?;
    let mut logs = txn.open_table(LOGS).map_err(backend)?;
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let mut meta = txn.open_table(META).map_err(backend)?;
    let mut expire_logs = txn.open_table(EXPIRE_LOGS).map_err(backend)?;
    let mut expire_ops = txn.open_table(EXPIRE_OPS).map_err(backend)?;
    let mut growth = txn.open_table(GROWTH).map_err(backend)?;
    let mut findings = txn.open_table(FINDINGS).map_err(backend)?;
    let mut errors = txn.open_table(ERRORS).map_err(backend)?;
    let mut changed = Vec::with_capacity(batch.len());
    let mut deltas = Deltas::default();
    for m in batch {
        let did = match m {
            Mutation::PutBook(book) => {
                // One descent: insert hands back what it replaced.
                let old = books
                    .insert(book.id.as_str(), encode_book(book).as_slice())
                    .map_err(backend)?
                    .map(|v| decode_book(&book.id, v.value()))
                    .transpose()?;
                for (b, sign) in [(old.as_ref(), -1i64), (Some(book), 1)] {
                    if let Some(b) = b.filter(|b| b.is_live()) {
                        count_book(&mut deltas, b, sign);
                    }
                }
                if moves_entries(old.as_ref(), book) {
                    noted.push(book.id.clone());
                }
                true
            }
            Mutation::PutFile { path, record } => {
                files
                    .insert(path.as_str(), encode_file(record).as_slice())
                    .map_err(backend)?;
                true
            }
            Mutation::DeleteFile(path) => files.remove(path.as_str()).map_err(backend)?.is_some(),
            Mutation::PutDir { path, record } => {
                dirs.insert(path.as_str(), &record[..]).map_err(backend)?;
                true
            }
            Mutation::DeleteDir(path) => dirs.remove(path.as_str()).map_err(backend)?.is_some(),
            Mutation::PutHash { hash, book_id } => {
                hashes
                    .insert(hash.as_str(), book_id.as_str())
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
                index_finished(&mut expire_logs, &mut expire_ops, op)?;
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
                            index_finished(&mut expire_logs, &mut expire_ops, &op)?;
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
            Mutation::DeleteMeta(key) => meta.remove(key.as_str()).map_err(backend)?.is_some(),
            Mutation::PutGrowth(snap) => {
                growth
                    .insert(snap.date.as_str(), encode(snap).as_slice())
                    .map_err(backend)?;
                true
            }
            Mutation::PutFinding(f) => {
                let key = finding_key(&f.book_id);
                let old = findings
                    .insert(key.as_str(), encode(f).as_slice())
                    .map_err(backend)?
                    .map(|v| decode::<IntegrityFinding>(&key, v.value()))
                    .transpose()?;
                if let Some(old) = old {
                    count_finding(&mut deltas, old.kind, -1);
                }
                count_finding(&mut deltas, f.kind, 1);
                true
            }
            Mutation::DeleteFinding(book_id) => {
                let key = finding_key(book_id);
                let old = findings
                    .remove(key.as_str())
                    .map_err(backend)?
                    .map(|v| decode::<IntegrityFinding>(&key, v.value()))
                    .transpose()?;
                match old {
                    Some(old) => {
                        count_finding(&mut deltas, old.kind, -1);
                        true
                    }
                    None => false,
                }
            }
            Mutation::PutErrorGroup(g) => {
                errors
                    .insert(g.fingerprint.as_str(), encode(g).as_slice())
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
