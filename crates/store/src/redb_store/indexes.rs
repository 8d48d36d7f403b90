//! What the write path and retention both keep in step: the maintained
//! counters and the expiry indexes of finished operations.

use redb::ReadableTable;

use super::super::*;
use super::backend;
use super::tables::expiry_key;

/// Adds `delta` to a counter (never below zero).
pub(super) fn add_counter(
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

/// Puts a finished operation in both expiry indexes (nothing if it has not
/// ended).
pub(super) fn index_finished<'t>(
    expire_logs: &mut redb::Table<'t, &'static str, &'static str>,
    expire_ops: &mut redb::Table<'t, &'static str, &'static str>,
    op: &Operation,
) -> StoreResult<()> {
    if let Some(at) = op.completed_at.filter(|_| op.status.is_terminal()) {
        let key = expiry_key(unix_nanos(at), &op.id);
        for index in [expire_logs, expire_ops] {
            index
                .insert(key.as_str(), op.id.as_str())
                .map_err(backend)?;
        }
    }
    Ok(())
}
