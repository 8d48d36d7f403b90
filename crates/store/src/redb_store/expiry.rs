//! Retention in short, bounded write transactions, and the one-time
//! migration that builds the indexes it reads.

use redb::{ReadableTable, WriteTransaction};

use super::super::keys;
use super::super::*;
use super::backend;
use super::book_codec::decode_book;
use super::codec::decode;
use super::indexes::{add_counter, index_finished};
use super::tables::*;

const SCHEMA_META: &str = "schema_version";
const SCHEMA_VERSION: u8 = 3;

/// Brings a store written by an older build up to date, once: library
/// counters (bytes, formats) and the expiry indexes (from version 1); the
/// group index no longer kept (from 2).
pub(super) fn migrate(txn: &WriteTransaction) -> StoreResult<()> {
    let mut meta = txn.open_table(META).map_err(backend)?;
    let version = meta
        .get(SCHEMA_META)
        .map_err(backend)?
        .and_then(|v| v.value().first().copied())
        .unwrap_or(1);
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    txn.delete_table(OLD_GROUPS).map_err(backend)?;
    if version >= 2 {
        meta.insert(SCHEMA_META, [SCHEMA_VERSION].as_slice())
            .map_err(backend)?;
        return Ok(());
    }
    let books = txn.open_table(BOOKS).map_err(backend)?;
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let mut fresh: std::collections::HashMap<String, u64> = Default::default();
    for item in books.iter().map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        let b = decode_book(k.value(), v.value())?;
        if b.is_live() {
            *fresh.entry(keys::LIBRARY_BYTES.into()).or_default() += b.total_bytes();
            *fresh
                .entry(keys::format_count_key(&b.format()))
                .or_default() += 1;
        }
    }
    for (k, v) in fresh {
        counters.insert(k.as_str(), v).map_err(backend)?;
    }
    let ops = txn.open_table(OPERATIONS).map_err(backend)?;
    let mut expire_logs = txn.open_table(EXPIRE_LOGS).map_err(backend)?;
    let mut expire_ops = txn.open_table(EXPIRE_OPS).map_err(backend)?;
    for item in ops.iter().map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        let op: Operation = decode(k.value(), v.value())?;
        index_finished(&mut expire_logs, &mut expire_ops, &op)?;
    }
    meta.insert(SCHEMA_META, [SCHEMA_VERSION].as_slice())
        .map_err(backend)?;
    Ok(())
}

/// The first index entry that expired before `cutoff`: (key, operation id).
fn first_expired(
    table: &redb::Table<&str, &str>,
    cutoff: u64,
) -> StoreResult<Option<(String, String)>> {
    let end = expiry_key(cutoff, "");
    match table.range::<&str>(..end.as_str()).map_err(backend)?.next() {
        Some(item) => {
            let (k, v) = item.map_err(backend)?;
            Ok(Some((k.value().to_string(), v.value().to_string())))
        }
        None => Ok(None),
    }
}

/// Removes up to `budget` log lines of one operation; returns how many.
fn delete_lines(
    logs: &mut redb::Table<&str, &[u8]>,
    counters: &mut redb::Table<&str, u64>,
    operation_id: &str,
    budget: usize,
) -> StoreResult<u64> {
    let prefix = keys::log_prefix(operation_id);
    let end = keys::prefix_end(&prefix);
    let mut removed = 0u64;
    for item in logs
        .extract_from_if::<&str, _>(prefix.as_str()..end.as_str(), |_, _| true)
        .map_err(backend)?
        .take(budget)
    {
        item.map_err(backend)?;
        removed += 1;
    }
    add_counter(
        counters,
        &keys::log_count_key(operation_id),
        -(removed as i64),
    )
    .map_err(backend)?;
    Ok(removed)
}

pub(super) fn expire_logs(
    txn: &WriteTransaction,
    cutoff: u64,
    max_lines: usize,
) -> StoreResult<ExpireStep> {
    let mut index = txn.open_table(EXPIRE_LOGS).map_err(backend)?;
    let mut logs = txn.open_table(LOGS).map_err(backend)?;
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let mut step = ExpireStep::default();
    let mut budget = max_lines;
    while let Some((key, id)) = first_expired(&index, cutoff)? {
        if budget == 0 {
            step.more = true;
            break;
        }
        let removed = delete_lines(&mut logs, &mut counters, &id, budget)?;
        step.lines_deleted += removed;
        if (removed as usize) < budget {
            // Nothing of this operation is left.
            index.remove(key.as_str()).map_err(backend)?;
            counters
                .remove(keys::log_count_key(&id).as_str())
                .map_err(backend)?;
        }
        budget -= removed as usize;
    }
    Ok(step)
}

pub(super) fn expire_operations(
    txn: &WriteTransaction,
    cutoff: u64,
    max_ops: usize,
) -> StoreResult<ExpireStep> {
    let mut index = txn.open_table(EXPIRE_OPS).map_err(backend)?;
    let log_index = txn.open_table(EXPIRE_LOGS).map_err(backend)?;
    let mut ops = txn.open_table(OPERATIONS).map_err(backend)?;
    let mut active = txn.open_table(ACTIVE_OPS).map_err(backend)?;
    let mut step = ExpireStep::default();
    while let Some((key, id)) = first_expired(&index, cutoff)? {
        if step.operations_deleted as usize >= max_ops {
            step.more = true;
            break;
        }
        if log_index.get(key.as_str()).map_err(backend)?.is_some() {
            // Its lines go first, in their own bounded steps.
            step.more = true;
            break;
        }
        ops.remove(id.as_str()).map_err(backend)?;
        active.remove(id.as_str()).map_err(backend)?;
        index.remove(key.as_str()).map_err(backend)?;
        step.operations_deleted += 1;
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use redb::TableHandle;

    use super::super::RedbStore;
    use super::*;

    #[test]
    fn a_version_2_store_loses_its_group_index_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        // What a version 2 build left: the group index, schema version 2.
        let store = RedbStore::open(&path).unwrap();
        let txn = store.write().unwrap();
        {
            let mut groups = txn.open_table(OLD_GROUPS).unwrap();
            groups.insert("/in/Book\0book", "01BOOK").unwrap();
            let mut counters = txn.open_table(COUNTERS).unwrap();
            counters.insert(keys::BOOKS_COUNT, 7).unwrap();
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(SCHEMA_META, [2u8].as_slice()).unwrap();
        }
        txn.commit().unwrap();
        drop(store);

        let store = RedbStore::open(&path).unwrap();
        let txn = store.read().unwrap();
        let tables: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_string())
            .collect();
        assert!(!tables.iter().any(|t| t == "groups"), "{tables:?}");
        let meta = txn.open_table(META).unwrap();
        let version = meta.get(SCHEMA_META).unwrap().unwrap().value().to_vec();
        assert_eq!(version, [SCHEMA_VERSION]);
        // The rest stays as it was.
        assert_eq!(store.count_books().unwrap(), 7);
    }
}
