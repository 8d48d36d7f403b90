//! Reads of the observability tables: growth, findings, error groups and
//! the library totals.

use std::ops::Bound;

use redb::TableDefinition;

use super::super::keys;
use super::super::*;
use super::codec::decode;
use super::tables::*;
use super::{RedbStore, backend};

impl RedbStore {
    /// JSON records of `def` in key order, after `after`, keys starting with `prefix`.
    pub(super) fn list_json<T: serde::de::DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        self.list_records(def, prefix, after, limit, decode)
    }

    /// Records of `def` read by `decode`, like `list_json`.
    pub(super) fn list_records<T>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        decode: fn(&str, &[u8]) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let txn = self.read()?;
        let table = txn.open_table(def).map_err(backend)?;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Included(prefix),
        };
        let mut out = Vec::new();
        for item in table
            .range::<&str>((start, Bound::Unbounded))
            .map_err(backend)?
        {
            let (k, v) = item.map_err(backend)?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Counters whose key starts with `prefix`, prefix stripped.
    pub(super) fn counters_with_prefix(&self, prefix: &str) -> StoreResult<Vec<(String, u64)>> {
        let txn = self.read()?;
        let table = txn.open_table(COUNTERS).map_err(backend)?;
        let mut out = Vec::new();
        for item in table.range::<&str>(prefix..).map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            let Some(name) = k.value().strip_prefix(prefix) else {
                break;
            };
            out.push((name.to_string(), v.value()));
        }
        Ok(out)
    }

    pub(super) fn totals(&self) -> StoreResult<LibraryTotals> {
        Ok(LibraryTotals {
            books: self.counter(keys::BOOKS_COUNT)?,
            total_bytes: self.counter(keys::LIBRARY_BYTES)?,
            formats: self
                .counters_with_prefix(keys::FORMAT_PREFIX)?
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect(),
        })
    }

    pub(super) fn findings_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IntegrityFinding>> {
        let after = after.map(finding_key);
        self.list_json(FINDINGS, FINDING_PREFIX, after.as_deref(), limit)
    }

    pub(super) fn finding_counts(&self) -> StoreResult<Vec<(FindingKind, u64)>> {
        FindingKind::ALL
            .iter()
            .map(|k| Ok((*k, self.counter(&keys::finding_count_key(k.as_str()))?)))
            .collect()
    }
}
