//! Pages of the book listing, read from the sort tables at a position the
//! rank directory finds, and searches, read from the word table.

use std::ops::Bound;

use std::sync::atomic::Ordering;

use redb::{ReadTransaction, ReadableTable};

use crate::fast_map::FastSet;

use super::super::fold::words;
use super::super::*;
use super::RedbStore;
use super::backend;
use super::book_codec::decode_book;
use super::book_index::{IndexKeys, MAX_WORD, SORTED, SortChange, WORDS, catch_up, sort_key};
use super::ranks::Order;
use super::tables::BOOKS;

/// Candidates a search checks book by book; past this it intersects the
/// words' whole id lists instead.
const CHECK_BOOKS: usize = if cfg!(test) { 40 } else { 2_000 };
/// Matches a search orders by reading the books; past this it walks the
/// sort table instead, reading only the page's books.
const SORT_BOOKS: usize = if cfg!(test) { 100 } else { 5_000 };

/// Books caught up per transaction.
const SETTLE_BOOKS: usize = 2_000;

type Entry = (Vec<u8>, String);

fn sort_index(sort: BookSort) -> usize {
    BookSort::ALL
        .iter()
        .position(|s| *s == sort)
        .expect("every sort is in ALL")
}

/// The id at the end of a word key (`word`, a zero byte, the id).
fn word_key_id(key: &[u8]) -> Option<&str> {
    let at = key.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&key[at + 1..]).ok()
}

fn read_books(txn: &ReadTransaction, ids: &[&str]) -> StoreResult<Vec<Book>> {
    let table = txn.open_table(BOOKS).map_err(backend)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(v) = table.get(*id).map_err(backend)? {
            out.push(decode_book(id, v.value())?);
        }
    }
    Ok(out)
}

/// Collects the key and id of each entry `iter` yields, up to `n`.
fn take_entries<'a>(
    iter: impl Iterator<
        Item = Result<
            (
                redb::AccessGuard<'a, &'static [u8]>,
                redb::AccessGuard<'a, &'static str>,
            ),
            redb::StorageError,
        >,
    >,
    skip: u64,
    n: usize,
) -> StoreResult<Vec<Entry>> {
    let mut out = Vec::with_capacity(n.min(1024));
    for item in iter.skip(skip as usize).take(n) {
        let (k, v) = item.map_err(backend)?;
        out.push((k.value().to_vec(), v.value().to_string()));
    }
    Ok(out)
}

impl RedbStore {
    /// Runs `f` on the rank directory, building it from the sort tables
    /// the first time (no commit runs meanwhile).
    fn with_ranks<T>(&self, f: impl FnOnce(&[Order]) -> T) -> StoreResult<T> {
        {
            let ranks = self.ranks.read().unwrap_or_else(|e| e.into_inner());
            if let Some(orders) = ranks.as_ref() {
                return Ok(f(orders));
            }
        }
        let _commits = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut ranks = self.ranks.write().unwrap_or_else(|e| e.into_inner());
        if ranks.is_none() {
            let txn = self.read()?;
            let mut orders = Vec::with_capacity(SORTED.len());
            for def in SORTED {
                let table = txn.open_table(def).map_err(backend)?;
                let mut keys = Vec::new();
                for item in table.iter().map_err(backend)? {
                    keys.push(item.map_err(backend)?.0.value().to_vec());
                }
                orders.push(Order::build(keys.into_iter()));
            }
            *ranks = Some(orders);
        }
        Ok(f(ranks.as_deref().expect("just built")))
    }

    /// Brings the rank directory (if built) up to a commit that moved
    /// sort keys; the caller holds `commit_lock`, so the newest snapshot
    /// is that commit, and blocks that outgrew their size are split at
    /// their middle key read from it.
    pub(super) fn follow_ranks(&self, moved: &[SortChange]) {
        let mut ranks = self.ranks.write().unwrap_or_else(|e| e.into_inner());
        let Some(orders) = ranks.as_mut() else {
            return;
        };
        for (i, key, delta) in moved {
            orders[*i].change(key, *delta);
        }
        let split = |orders: &mut Vec<Order>| -> StoreResult<()> {
            let txn = self.read()?;
            for (i, order) in orders.iter_mut().enumerate() {
                while let Some((b, fence, count)) = order.oversized() {
                    let table = txn.open_table(SORTED[i]).map_err(backend)?;
                    let middle = table
                        .range::<&[u8]>(fence.as_slice()..)
                        .map_err(backend)?
                        .nth((count / 2) as usize)
                        .transpose()
                        .map_err(backend)?
                        .map(|(k, _)| k.value().to_vec());
                    match middle {
                        Some(key) => order.split(b, key, count / 2),
                        None => {
                            return Err(StoreError::Corrupt {
                                key: "book ranks".into(),
                                reason: "a block counts more keys than its table holds".into(),
                            });
                        }
                    }
                }
            }
            Ok(())
        };
        if split(orders).is_err() {
            *ranks = None;
        }
    }

    /// Catches the indexes up with every pending book, in transactions of
    /// `SETTLE_BOOKS`, the rank directory following each.
    pub(super) fn settle(&self) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let _commits = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
            let (chunk, last) = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if pending.is_empty() {
                    return Ok(total);
                }
                let ids: Vec<String> = pending.keys().take(SETTLE_BOOKS).cloned().collect();
                let chunk: Vec<(String, IndexKeys)> = ids
                    .into_iter()
                    .filter_map(|id| pending.remove_entry(&id))
                    .collect();
                (chunk, pending.is_empty())
            };
            let mut moved = Vec::new();
            match self.in_write(|txn| catch_up(txn, &chunk, last, &mut moved)) {
                Ok(()) => {
                    total += chunk.len() as u64;
                    if last {
                        self.index_dirty.store(false, Ordering::SeqCst);
                    }
                    self.follow_ranks(&moved);
                }
                Err(e) => {
                    // Still behind; whether the commit landed is unknown,
                    // so the ranks are counted again when next asked.
                    let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    pending.extend(chunk);
                    *self.ranks.write().unwrap_or_else(|e| e.into_inner()) = None;
                    return Err(e);
                }
            }
        }
    }

    pub(super) fn query(&self, q: &BookQuery) -> StoreResult<BookPage> {
        let mut wanted: Vec<String> = q
            .search
            .as_deref()
            .map(|s| words(s).map(|w| cut_word(&w)).collect())
            .unwrap_or_default();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            self.page(q)
        } else {
            self.search(q, &wanted)
        }
    }

    fn page(&self, q: &BookQuery) -> StoreResult<BookPage> {
        let i = sort_index(q.sort);
        let limit = q.limit;
        let (total, start) = self.with_ranks(|orders| {
            let order = &orders[i];
            let total = order.total();
            // Descending pages are the ascending positions read backwards.
            let (first, n) = if q.descending {
                let end = total.saturating_sub(q.offset);
                let first = end.saturating_sub(limit as u64);
                (first, (end - first) as usize)
            } else {
                (q.offset, limit)
            };
            let (fence, skip) = order.seek(first);
            (total, (fence.to_vec(), skip, n))
        })?;
        let txn = self.read()?;
        let table = txn.open_table(SORTED[i]).map_err(backend)?;
        let mut entries = match &q.after {
            Some(c) if q.descending => take_entries(
                table
                    .range::<&[u8]>((Bound::Unbounded, Bound::Excluded(c.0.as_slice())))
                    .map_err(backend)?
                    .rev(),
                0,
                limit + 1,
            )?,
            Some(c) => take_entries(
                table
                    .range::<&[u8]>((Bound::Excluded(c.0.as_slice()), Bound::Unbounded))
                    .map_err(backend)?,
                0,
                limit + 1,
            )?,
            None => {
                let (fence, skip, n) = start;
                let mut e = take_entries(
                    table.range::<&[u8]>(fence.as_slice()..).map_err(backend)?,
                    skip,
                    n,
                )?;
                if q.descending {
                    e.reverse();
                }
                // More follow unless this page reaches the end.
                if limit > 0 && q.offset.saturating_add(limit as u64) < total && e.len() == limit {
                    e.push(Default::default());
                }
                e
            }
        };
        let next = (entries.len() > limit).then(|| {
            entries.truncate(limit);
            Cursor(entries.last().map(|e| e.0.clone()).unwrap_or_default())
        });
        let ids: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        Ok(BookPage {
            books: read_books(&txn, &ids)?,
            total,
            next,
        })
    }

    /// Books with a word starting with each of `wanted`.
    fn search(&self, q: &BookQuery, wanted: &[String]) -> StoreResult<BookPage> {
        let txn = self.read()?;
        let table = txn.open_table(WORDS).map_err(backend)?;
        // Each word's entries, read in turn until one runs out: that word
        // has the fewest books, and only they can match.
        let mut ranges = Vec::with_capacity(wanted.len());
        for w in wanted {
            ranges.push(table.range::<&[u8]>(w.as_bytes()..).map_err(backend)?);
        }
        let mut seen: Vec<Vec<String>> = vec![Vec::new(); wanted.len()];
        let mut open: Vec<bool> = vec![true; wanted.len()];
        let fewest = 'read: loop {
            for (j, range) in ranges.iter_mut().enumerate() {
                let next = range.next().transpose().map_err(backend)?;
                match next {
                    Some((k, _)) if k.value().starts_with(wanted[j].as_bytes()) => {
                        if let Some(id) = word_key_id(k.value()) {
                            seen[j].push(id.to_string());
                        }
                    }
                    _ => {
                        open[j] = false;
                        break 'read j;
                    }
                }
            }
        };
        let mut candidates = std::mem::take(&mut seen[fewest]);
        candidates.sort_unstable();
        candidates.dedup();
        let mut books: Option<Vec<Book>> = None;
        if wanted.len() > 1 {
            if candidates.len() <= CHECK_BOOKS {
                // Few: read each and check it has every word.
                let ids: Vec<&str> = candidates.iter().map(String::as_str).collect();
                let mut read = read_books(&txn, &ids)?;
                read.retain(|b| b.is_live() && has_every_word(b, wanted));
                candidates = read.iter().map(|b| b.id.clone()).collect();
                books = Some(read);
            } else {
                // Many: each other word's entries, looked up among the
                // candidates (nothing allocated per entry).
                for (j, range) in ranges.iter_mut().enumerate() {
                    if j == fewest || candidates.is_empty() {
                        continue;
                    }
                    let at: crate::fast_map::FastMap<&str, usize> = candidates
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.as_str(), i))
                        .collect();
                    let mut hit = vec![false; candidates.len()];
                    for id in &seen[j] {
                        if let Some(&i) = at.get(id.as_str()) {
                            hit[i] = true;
                        }
                    }
                    if open[j] {
                        for item in range.by_ref() {
                            let (k, _) = item.map_err(backend)?;
                            let k = k.value();
                            if !k.starts_with(wanted[j].as_bytes()) {
                                break;
                            }
                            if let Some(&i) = word_key_id(k).and_then(|id| at.get(id)) {
                                hit[i] = true;
                            }
                        }
                    }
                    drop(at);
                    let mut hit = hit.into_iter();
                    candidates.retain(|_| hit.next().unwrap_or(false));
                }
            }
        }
        drop(ranges);
        let total = candidates.len() as u64;
        if candidates.len() <= SORT_BOOKS {
            let books = match books {
                Some(b) => b,
                None => {
                    let ids: Vec<&str> = candidates.iter().map(String::as_str).collect();
                    read_books(&txn, &ids)?
                }
            };
            return Ok(sorted_page(q, books, total));
        }
        // Many matches: walk the order, keeping the matching ones.
        let matching: FastSet<String> = candidates.into_iter().collect();
        let sorted = txn
            .open_table(SORTED[sort_index(q.sort)])
            .map_err(backend)?;
        let range = match (&q.after, q.descending) {
            (Some(c), false) => {
                sorted.range::<&[u8]>((Bound::Excluded(c.0.as_slice()), Bound::Unbounded))
            }
            (Some(c), true) => {
                sorted.range::<&[u8]>((Bound::Unbounded, Bound::Excluded(c.0.as_slice())))
            }
            (None, _) => sorted.range::<&[u8]>(..),
        }
        .map_err(backend)?;
        let skip = if q.after.is_some() { 0 } else { q.offset };
        let walk: Box<dyn Iterator<Item = _>> = if q.descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut passed = 0u64;
        let mut entries: Vec<Entry> = Vec::new();
        for item in walk {
            let (k, v) = item.map_err(backend)?;
            if !matching.contains(v.value()) {
                continue;
            }
            if passed < skip {
                passed += 1;
                continue;
            }
            entries.push((k.value().to_vec(), v.value().to_string()));
            if entries.len() > q.limit {
                break;
            }
        }
        let next = (entries.len() > q.limit).then(|| {
            entries.truncate(q.limit);
            Cursor(entries.last().map(|e| e.0.clone()).unwrap_or_default())
        });
        let ids: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        Ok(BookPage {
            books: read_books(&txn, &ids)?,
            total,
            next,
        })
    }
}

fn cut_word(w: &str) -> String {
    let mut end = w.len().min(MAX_WORD);
    while !w.is_char_boundary(end) {
        end -= 1;
    }
    w[..end].to_string()
}

/// Whether each of `wanted` starts a word of what a search matches.
fn has_every_word(b: &Book, wanted: &[String]) -> bool {
    let keys = super::book_index::word_keys(b);
    wanted
        .iter()
        .all(|w| keys.iter().any(|k| k.starts_with(w.as_bytes())))
}

/// A page of `books` (all the matches) in the query's order.
fn sorted_page(q: &BookQuery, books: Vec<Book>, total: u64) -> BookPage {
    let mut keyed: Vec<(Vec<u8>, Book)> = books
        .into_iter()
        .map(|b| (sort_key(q.sort, &b), b))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if q.descending {
        keyed.reverse();
    }
    let start = match &q.after {
        Some(c) if q.descending => keyed.partition_point(|(k, _)| k.as_slice() >= c.0.as_slice()),
        Some(c) => keyed.partition_point(|(k, _)| k.as_slice() <= c.0.as_slice()),
        None => (q.offset as usize).min(keyed.len()),
    };
    let rest = keyed.len() - start;
    let mut page: Vec<(Vec<u8>, Book)> = keyed.into_iter().skip(start).take(q.limit).collect();
    let next =
        (rest > q.limit).then(|| Cursor(page.last().map(|e| e.0.clone()).unwrap_or_default()));
    BookPage {
        books: page.drain(..).map(|(_, b)| b).collect(),
        total,
        next,
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
        let mut b = super::super::book_index::tests_book(&format!("{n:06}"), "");
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
                    .map(|b| (sort_key(sort, b), b.id.clone()))
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

    #[test]
    fn pages_and_searches_agree_with_sorting_everything_through_inserts_edits_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        let mut live: Vec<Book> = Vec::new();
        // The directory is built after the first batch, then follows commits
        // (splitting blocks as the same titles crowd them).
        for chunk in (0..1500u64).collect::<Vec<_>>().chunks(150) {
            let batch: Vec<Book> = chunk.iter().map(|n| book(*n)).collect();
            store
                .apply(
                    &batch
                        .iter()
                        .cloned()
                        .map(Mutation::PutBook)
                        .collect::<Vec<_>>(),
                    true,
                )
                .unwrap();
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
        // Edited twice before the indexes catch up: the entries of the
        // first version leave, the last version's come.
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
        // A store opened again builds its directory from the tables.
        drop(store);
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        check(&store, &live);
        // Books written by a process that ended before the indexes caught
        // up (the catch-up lives in memory): the next open builds them again.
        let more: Vec<Book> = (1500..1700).map(book).collect();
        store
            .apply(
                &more
                    .iter()
                    .cloned()
                    .map(Mutation::PutBook)
                    .collect::<Vec<_>>(),
                true,
            )
            .unwrap();
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
