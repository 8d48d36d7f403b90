//! The listing through the in-memory book index: built from the books on
//! first use, caught up with the books each write changed before every
//! listing and after every operation, the page's books read from the store.

use redb::ReadableTable;

use crate::book_index::{BookIndex, Change};
use crate::fold::words;

use super::super::*;
use super::RedbStore;
use super::backend;
use super::book_codec::decode_book;
use super::tables::BOOKS;

impl RedbStore {
    /// Brings the index up to every book written since it last was; how
    /// many books that was. Before the index is built there is nothing to
    /// do: it is built from the store as it is then.
    pub(super) fn settle(&self) -> StoreResult<u64> {
        let _one = self.settle_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Taken before reading: a book written after this is noted again.
        let ids: Vec<String> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.drain().collect()
        };
        if ids.is_empty()
            || self
                .index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        {
            return Ok(0);
        }
        let read = (|| {
            let txn = self.read()?;
            let table = txn.open_table(BOOKS).map_err(backend)?;
            let mut books = Vec::with_capacity(ids.len());
            for id in &ids {
                books.push(match table.get(id.as_str()).map_err(backend)? {
                    Some(v) => Some(decode_book(id, v.value())?),
                    None => None,
                });
            }
            Ok(books)
        })();
        let books = match read {
            Ok(b) => b,
            Err(e) => {
                // Still behind: noted again for the next try.
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(ids);
                return Err(e);
            }
        };
        let changes: Vec<Change> = ids
            .iter()
            .zip(&books)
            .map(|(id, b)| (id.as_str(), b.as_ref()))
            .collect();
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = index.as_mut() {
            index.apply(&changes);
        }
        Ok(ids.len() as u64)
    }

    /// Builds the index from every book, unless it is built.
    fn ensure_index(&self) -> StoreResult<()> {
        let built = || {
            self.index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
        };
        if built() {
            return Ok(());
        }
        // Checked again under the lock: another caller may have built it.
        let _one = self.settle_lock.lock().unwrap_or_else(|e| e.into_inner());
        if built() {
            return Ok(());
        }
        // Everything noted so far is in what is read next.
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let txn = self.read()?;
        let table = txn.open_table(BOOKS).map_err(backend)?;
        // One book decoded at a time: what stays is the index.
        let mut built = BookIndex::default();
        for item in table.iter().map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            built.add(&decode_book(k.value(), v.value())?);
        }
        built.finish();
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(built);
        ao_core::memory::release_freed();
        Ok(())
    }

    /// The index, settled and built, for one read.
    fn ready_index(&self) -> StoreResult<()> {
        if self.writable {
            self.settle()?;
        }
        self.ensure_index()
    }

    pub(super) fn names(
        &self,
        kind: NameKind,
        search: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<NameCount>, u64)> {
        self.ready_index()?;
        let mut wanted: Vec<String> = search.map(|s| words(s).collect()).unwrap_or_default();
        wanted.sort_unstable();
        wanted.dedup();
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        Ok(index
            .as_ref()
            .expect("built above")
            .name_page(kind, &wanted, offset, limit))
    }

    pub(super) fn books_of(
        &self,
        kind: NameKind,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<Option<(String, BookPage)>> {
        self.ready_index()?;
        let found = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            index
                .as_ref()
                .expect("built above")
                .named_books(kind, name, offset, limit)
        };
        let Some((shown, ids, total)) = found else {
            return Ok(None);
        };
        let books = self.books_by_id(&ids)?;
        Ok(Some((
            shown,
            BookPage {
                books,
                total,
                next: None,
            },
        )))
    }

    fn books_by_id(&self, ids: &[String]) -> StoreResult<Vec<Book>> {
        let txn = self.read()?;
        let table = txn.open_table(BOOKS).map_err(backend)?;
        let mut books = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = table.get(id.as_str()).map_err(backend)? {
                books.push(decode_book(id, v.value())?);
            }
        }
        Ok(books)
    }

    pub(super) fn query(&self, q: &BookQuery) -> StoreResult<BookPage> {
        self.ready_index()?;
        let mut wanted: Vec<String> = q
            .search
            .as_deref()
            .map(|s| words(s).collect())
            .unwrap_or_default();
        wanted.sort_unstable();
        wanted.dedup();
        let page = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            index.as_ref().expect("built above").page(q, &wanted)
        };
        Ok(BookPage {
            books: self.books_by_id(&page.ids)?,
            total: page.total,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLES: [&str; 6] = [
        "Émile",
        "the Zola case",
        "Part",
        "Ænigma",
        "Brontë days",
        "zoom",
    ];
    const AUTHORS: [&str; 4] = ["Émile Zola", "Anne Brontë", "Zoë Ark", "Łukasz Orbitowski"];

    fn book(n: u64) -> Book {
        let mut b = crate::book_index::tests::book(&format!("{n:06}"), "");
        b.title = format!("{} {}", TITLES[(n % 6) as usize], n % 37);
        b.author = AUTHORS[(n % 4) as usize].into();
        if n.is_multiple_of(3) {
            b.series = Some(format!("Saga {}", n % 5));
            b.series_index = Some(format!("{}", n % 11));
        }
        if n.is_multiple_of(7) {
            b.narrators = vec!["Nárrator Ünique".into()];
        }
        b.created_at =
            time::OffsetDateTime::from_unix_timestamp((1_700_000_000 + n * 7919 % 1000) as i64)
                .unwrap();
        b
    }

    fn matches(b: &Book, wanted: &[String]) -> bool {
        let mut all = vec![b.title.clone(), b.author.clone()];
        all.extend(b.series.clone());
        all.extend(b.narrators.clone());
        let ws: Vec<String> = all.iter().flat_map(|s| words(s)).collect();
        wanted
            .iter()
            .all(|w| ws.iter().any(|x| x.starts_with(w.as_str())))
    }

    fn ids(p: &BookPage) -> Vec<String> {
        p.books.iter().map(|b| b.id.clone()).collect()
    }

    fn check(store: &RedbStore, live: &[Book]) {
        for sort in BookSort::ALL {
            for descending in [false, true] {
                let mut want: Vec<(Vec<u8>, String)> = live
                    .iter()
                    .map(|b| (crate::book_index::sort_key_of(sort, b), b.id.clone()))
                    .collect();
                want.sort();
                if descending {
                    want.reverse();
                }
                let want: Vec<String> = want.into_iter().map(|w| w.1).collect();
                let n = want.len() as u64;
                for offset in [0, 37, 256, 700, n.saturating_sub(10), n + 5] {
                    let q = BookQuery {
                        sort,
                        descending,
                        offset,
                        limit: 50,
                        ..Default::default()
                    };
                    let page = store.query_books(&q).unwrap();
                    let end = (offset + 50).min(n) as usize;
                    let start = (offset as usize).min(end);
                    assert_eq!(page.total, n);
                    assert_eq!(
                        ids(&page),
                        want[start..end],
                        "{sort:?} desc={descending} offset={offset}"
                    );
                }
                let mut walked = Vec::new();
                let mut q = BookQuery {
                    sort,
                    descending,
                    limit: 97,
                    ..Default::default()
                };
                loop {
                    let page = store.query_books(&q).unwrap();
                    walked.extend(ids(&page));
                    match page.next {
                        Some(c) => q.after = Some(c),
                        None => break,
                    }
                }
                assert_eq!(walked, want, "{sort:?} desc={descending} by cursor");
                for search in [
                    "emile",
                    "BRONTE",
                    "zo",
                    "zola emile",
                    "saga 3",
                    "narrator unique zoe",
                    "nothing",
                ] {
                    let wanted: Vec<String> = words(search).collect();
                    let found: Vec<String> = want
                        .iter()
                        .filter(|id| matches(live.iter().find(|b| &&b.id == id).unwrap(), &wanted))
                        .cloned()
                        .collect();
                    let mut q = BookQuery {
                        sort,
                        descending,
                        search: Some(search.into()),
                        limit: 30,
                        ..Default::default()
                    };
                    let mut walked = Vec::new();
                    loop {
                        let page = store.query_books(&q).unwrap();
                        assert_eq!(page.total, found.len() as u64, "{search}");
                        walked.extend(ids(&page));
                        match page.next {
                            Some(c) => q.after = Some(c),
                            None => break,
                        }
                    }
                    assert_eq!(walked, found, "{search} {sort:?} desc={descending}");
                    let q = BookQuery {
                        sort,
                        descending,
                        search: Some(search.into()),
                        offset: 45,
                        limit: 30,
                        ..Default::default()
                    };
                    let end = found.len().min(75);
                    assert_eq!(
                        ids(&store.query_books(&q).unwrap()),
                        found[45.min(end)..end],
                        "{search} offset"
                    );
                }
            }
        }
    }

    fn put(store: &RedbStore, books: &[Book]) {
        let batch: Vec<Mutation> = books.iter().cloned().map(Mutation::PutBook).collect();
        store.apply(&batch, true).unwrap();
    }

    #[test]
    fn pages_and_searches_agree_with_sorting_everything_through_inserts_edits_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let mut live: Vec<Book> = Vec::new();
        // The index is built after the first batch, then catches up with
        // each (large batches sort it anew, small ones move books one by one).
        for chunk in (0..1500u64).collect::<Vec<_>>().chunks(150) {
            let batch: Vec<Book> = chunk.iter().map(|n| book(*n)).collect();
            put(&store, &batch);
            live.extend(batch);
            store
                .query_books(&BookQuery {
                    limit: 1,
                    ..Default::default()
                })
                .unwrap();
        }
        check(&store, &live);
        let mut edits = Vec::new();
        for b in live.iter_mut().filter(|b| b.id.ends_with('3')) {
            b.title = format!("Retitled Émile {}", b.id);
            b.series = None;
            edits.push(Mutation::PutBook(b.clone()));
        }
        for b in live.iter_mut().filter(|b| b.id.ends_with("7")) {
            b.deleted = true;
            edits.push(Mutation::PutBook(b.clone()));
        }
        store.apply(&edits, true).unwrap();
        live.retain(|b| !b.deleted);
        check(&store, &live);
        // Edited twice before the index catches up: the first version's
        // words and places leave, the last version's come.
        for round in 0..2 {
            let mut edits = Vec::new();
            for b in live.iter_mut().filter(|b| b.id.ends_with('1')) {
                b.title = format!("Round {round} {}", b.title);
                b.author = format!("Writer{round}");
                edits.push(Mutation::PutBook(b.clone()));
            }
            store.apply(&edits, true).unwrap();
        }
        check(&store, &live);
        let stale = BookQuery {
            search: Some("writer0".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.query_books(&stale).unwrap().total, 0);
        // A store opened again builds its index from the books.
        drop(store);
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        check(&store, &live);
        // Books written by a process that ended before the index caught up
        // (what is pending lives in memory): the next open has them all.
        let more: Vec<Book> = (1500..1700).map(book).collect();
        put(&store, &more);
        live.extend(more);
        drop(store);
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        check(&store, &live);
    }

    #[test]
    fn a_cursor_from_anywhere_is_only_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        store.apply(&[Mutation::PutBook(book(1))], true).unwrap();
        for raw in [vec![], vec![0xff; 300], b"zzz".to_vec()] {
            let q = BookQuery {
                after: Some(Cursor(raw)),
                limit: 10,
                sort: BookSort::Title,
                ..Default::default()
            };
            assert!(store.query_books(&q).unwrap().books.len() <= 1);
        }
    }
}
