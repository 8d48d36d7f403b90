//! A consistent copy of the whole store while it is in use: every table
//! read in one read transaction (redb keeps that version intact while
//! writers go on) and written into a new store file.

use std::path::Path;

use redb::{Builder, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::tables::*;
use super::{RedbStore, backend};
use crate::{StoreError, StoreResult};

/// Copies one table; a table this store never made is skipped.
fn copy<V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &WriteTransaction,
    def: TableDefinition<&str, V>,
) -> StoreResult<u64> {
    let src = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(backend(e)),
    };
    let mut dst = to.open_table(def).map_err(backend)?;
    let mut n = 0;
    for item in src.iter().map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        dst.insert(k.value(), v.value()).map_err(backend)?;
        n += 1;
    }
    Ok(n)
}

impl RedbStore {
    /// Writes a copy of the store as it is now to `to` (a new file);
    /// returns how many records it holds.
    pub(super) fn write_snapshot(&self, to: &Path) -> StoreResult<u64> {
        let from = self.read()?;
        let db = Builder::new()
            .set_cache_size(super::CACHE_BYTES)
            .create(to)
            .map_err(|e| StoreError::Open {
                path: to.display().to_string(),
                reason: e.to_string(),
            })?;
        let txn = db.begin_write().map_err(backend)?;
        let mut n = 0;
        for def in [
            BOOKS,
            FILES,
            DIRS,
            IMPORT_PATHS,
            OPERATIONS,
            LOGS,
            META,
            GROWTH,
            FINDINGS,
            ERRORS,
            BOOK_EDITS,
        ] {
            n += copy(&from, &txn, def)?;
        }
        for def in [HASHES, OLD_GROUPS, EXPIRE_LOGS, EXPIRE_OPS] {
            n += copy(&from, &txn, def)?;
        }
        n += copy(&from, &txn, ACTIVE_OPS)?;
        n += copy(&from, &txn, COUNTERS)?;
        txn.commit().map_err(backend)?;
        Ok(n)
    }
}
