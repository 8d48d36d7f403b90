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

/// Counters and listing entries follow a book's new version.
fn book_changed(deltas: &mut Deltas, noted: &mut Vec<String>, old: Option<&Book>, new: &Book) {
    for (b, sign) in [(old, -1i64), (Some(new), 1)] {
        if let Some(b) = b.filter(|b| b.is_live()) {
            count_book(deltas, b, sign);
        }
    }
    if moves_entries(old, new) {
        noted.push(new.id.clone());
    }
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
                // A user's locked fields outlive a job's older copy.
                let mut kept = None;
                if let Some(old) = old.as_ref().filter(|o| !o.locked.is_empty()) {
                    let mut merged = book.clone();
                    if crate::book_edit::keep_locked(old, &mut merged) {
                        books
                            .insert(book.id.as_str(), encode_book(&merged).as_slice())
                            .map_err(backend)?;
                        kept = Some(merged);
                    }
                }
                book_changed(
                    &mut deltas,
                    noted,
                    old.as_ref(),
                    kept.as_ref().unwrap_or(book),
                );
                true
            }
            Mutation::EditBook(edit) => {
                let id = edit.book_id.as_str();
                let old = books
                    .get(id)
                    .map_err(backend)?
                    .map(|v| decode_book(id, v.value()))
                    .transpose()?
                    .ok_or_else(|| StoreError::BookNotFound(id.to_string()))?;
                let mut book = old.clone();
                let record = edit.apply_to(&mut book);
                books
                    .insert(id, encode_book(&book).as_slice())
                    .map_err(backend)?;
                book_changed(&mut deltas, noted, Some(&old), &book);
                let mut edits = txn.open_table(BOOK_EDITS).map_err(backend)?;
                edits
                    .insert(
                        format!("{id}:{}", record.id).as_str(),
                        encode(&record).as_slice(),
                    )
                    .map_err(backend)?;
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

#[cfg(test)]
mod tests {
    use super::super::RedbStore;
    use crate::book_edit::{BookEdit, BookField, FieldValue, Provenance};
    use crate::{Mutation, Store, StoreError};

    #[test]
    fn a_jobs_stale_copy_never_undoes_a_users_edit() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let mut book = crate::book_index::tests::book("b1", "");
        book.title = "From the tags".into();
        book.provenance.insert(BookField::Title, Provenance::Tag);
        store
            .apply(&[Mutation::PutBook(book.clone())], true)
            .unwrap();
        // A job read the book before the user's edit...
        let mut stale = store.get_book("b1").unwrap().unwrap();
        let edit = |set, unlock| BookEdit {
            id: format!("01EDIT{}", store.book_edits("b1", 10).unwrap().len()),
            book_id: "b1".into(),
            set,
            unlock,
            by: "local".into(),
            at: crate::now(),
        };
        store
            .apply(
                &[Mutation::EditBook(edit(
                    vec![(BookField::Title, FieldValue::Text(Some("Mine".into())))],
                    vec![],
                ))],
                true,
            )
            .unwrap();
        // ...and writes it back with other changes after it.
        stale.series = Some("Job's series".into());
        store
            .apply(&[Mutation::PutBook(stale.clone())], true)
            .unwrap();
        let now = store.get_book("b1").unwrap().unwrap();
        assert_eq!(now.title, "Mine");
        assert_eq!(
            now.provenance.get(&BookField::Title),
            Some(Provenance::User)
        );
        assert!(now.locked.contains(&BookField::Title));
        assert_eq!(now.series.as_deref(), Some("Job's series"));
        // The listing's index follows the title the store kept.
        let q = crate::BookQuery {
            sort: crate::BookSort::Title,
            search: Some("mine".into()),
            limit: 10,
            ..Default::default()
        };
        let page = store.query_books(&q).unwrap();
        assert_eq!(page.books.len(), 1);
        assert_eq!(page.books[0].title, "Mine");
        // Unlocked, the next job write may replace it.
        store
            .apply(
                &[Mutation::EditBook(edit(vec![], vec![BookField::Title]))],
                true,
            )
            .unwrap();
        store.apply(&[Mutation::PutBook(stale)], true).unwrap();
        assert_eq!(
            store.get_book("b1").unwrap().unwrap().title,
            "From the tags"
        );
        let edits = store.book_edits("b1", 10).unwrap();
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0].unlocked, vec![BookField::Title], "newest first");
        // An edit of a book that is not there fails its whole batch.
        let mut missing = edit(vec![], vec![BookField::Title]);
        missing.book_id = "nope".into();
        let err = store
            .apply(&[Mutation::EditBook(missing)], true)
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::BookNotFound(id) if id == "nope")
                || err.to_string().contains("nope"),
            "{err}"
        );
    }
}
