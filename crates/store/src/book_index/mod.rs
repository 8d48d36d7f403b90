//! The listing's indexes, kept in memory beside the store: every live book
//! folded and packed once, and one sorted array of book numbers per order.
//! A page by position is a slice of an array; a page after a cursor is a
//! binary search; a search checks each book's packed words in the order's
//! sequence (about 100 bytes a book, a few milliseconds for 100,000).
//!
//! Measured against keeping the same indexes in redb tables (key: sort key
//! or word, then id): at 100,000 books those took 12 s to build and 210 MB
//! of store file, with every insert thrashing the store's page cache. See
//! ARCHITECTURE.md for tantivy.

mod keys;
mod names;

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::{BookQuery, BookSort, Cursor};
use keys::Doc;
pub use names::NameCount;
use names::NameIndex;

/// A changed book to bring into the index: its current record, or `None`
/// when it is gone or soft-deleted.
pub(crate) type Change<'a> = (&'a str, Option<&'a crate::Book>);

/// Past this share of the books changed at once, the orders are sorted
/// anew instead of moving books one by one.
const RESORT_SHARE: usize = 8;

#[derive(Default)]
pub(crate) struct BookIndex {
    /// By book number; `None` for a freed number.
    docs: Vec<Option<Doc>>,
    free: Vec<u32>,
    /// Book numbers by id.
    by_id: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Per `BookSort::ALL`, live book numbers in that order.
    orders: [Vec<u32>; 4],
    /// Each folded word, with the numbers of the books that have it.
    words: BTreeMap<Box<str>, Postings>,
    authors: NameIndex,
    series: NameIndex,
}

/// Book numbers in increasing order; one without an allocation (most
/// words, numbers in titles say, belong to one book).
#[derive(Debug)]
enum Postings {
    One(u32),
    Many(Vec<u32>),
}

impl Postings {
    fn as_slice(&self) -> &[u32] {
        match self {
            Postings::One(n) => std::slice::from_ref(n),
            Postings::Many(v) => v,
        }
    }

    fn add(&mut self, n: u32) {
        match self {
            Postings::One(m) if *m == n => {}
            Postings::One(m) => {
                *self = Postings::Many(if *m < n { vec![*m, n] } else { vec![n, *m] })
            }
            // Numbers mostly grow: a new book goes at the end.
            Postings::Many(v) if v.last().is_some_and(|&l| l < n) => v.push(n),
            Postings::Many(v) => {
                if let Err(at) = v.binary_search(&n) {
                    v.insert(at, n);
                }
            }
        }
    }

    /// Whether any book is left.
    fn remove(&mut self, n: u32) -> bool {
        match self {
            Postings::One(m) => *m != n,
            Postings::Many(v) => {
                if let Ok(at) = v.binary_search(&n) {
                    v.remove(at);
                }
                if let [only] = v[..] {
                    *self = Postings::One(only);
                }
                !self.as_slice().is_empty()
            }
        }
    }
}

/// Which ids a page holds, how many books the listing has, and where the
/// next page starts.
pub(crate) struct IndexPage {
    pub ids: Vec<String>,
    pub total: u64,
    pub next: Option<Cursor>,
}

fn order_of(sort: BookSort) -> usize {
    BookSort::ALL
        .iter()
        .position(|s| *s == sort)
        .expect("every sort is in ALL")
}

impl BookIndex {
    /// From every live book.
    #[cfg(test)]
    pub(crate) fn build<'a>(books: impl Iterator<Item = &'a crate::Book>) -> Self {
        let mut index = Self::default();
        for b in books {
            index.add(b);
        }
        index.finish();
        index
    }

    /// Adds a book while building (the orders wait for `finish`).
    pub(crate) fn add(&mut self, book: &crate::Book) {
        if book.is_live() {
            self.put_doc(Doc::of(book), book);
        }
    }

    /// Orders what `add` added.
    pub(crate) fn finish(&mut self) {
        self.resort();
    }

    pub(crate) fn len(&self) -> usize {
        self.orders[0].len()
    }

    fn doc(&self, n: u32) -> &Doc {
        self.docs[n as usize].as_ref().expect("ordered books exist")
    }

    fn find(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.by_id
            .find(hash, |&n| {
                self.docs[n as usize].as_ref().is_some_and(|d| d.id() == id)
            })
            .copied()
    }

    /// Files `doc` under a book number and its words (not yet in the
    /// orders).
    fn put_doc(&mut self, doc: Doc, book: &crate::Book) -> u32 {
        let hash = self.hasher.hash_one(doc.id());
        let n = match self.free.pop() {
            Some(n) => {
                self.docs[n as usize] = Some(doc);
                n
            }
            None => {
                self.docs.push(Some(doc));
                (self.docs.len() - 1) as u32
            }
        };
        let (docs, hasher) = (&self.docs, &self.hasher);
        self.by_id.insert_unique(hash, n, |&m| {
            hasher.hash_one(docs[m as usize].as_ref().map_or("", |d| d.id()))
        });
        let doc = self.docs[n as usize].as_ref().expect("just put");
        for w in doc.words() {
            match self.words.get_mut(w) {
                Some(p) => p.add(n),
                None => {
                    self.words.insert(w.into(), Postings::One(n));
                }
            }
        }
        for a in &book.authors {
            self.authors.add(a, n);
        }
        if let Some(s) = &book.series {
            self.series.add(s, n);
        }
        n
    }

    fn take_doc(&mut self, id: &str) -> Option<Doc> {
        let hash = self.hasher.hash_one(id);
        let docs = &self.docs;
        let entry = self
            .by_id
            .find_entry(hash, |&n| {
                docs[n as usize].as_ref().is_some_and(|d| d.id() == id)
            })
            .ok()?;
        let (n, _) = entry.remove();
        self.free.push(n);
        let doc = self.docs[n as usize].take()?;
        for w in doc.words() {
            if let Some(p) = self.words.get_mut(w)
                && !p.remove(n)
            {
                self.words.remove(w);
            }
        }
        for a in doc.author_keys() {
            self.authors.remove(a, n);
        }
        self.series.remove(doc.series_key(), n);
        Some(doc)
    }

    fn resort(&mut self) {
        let live: Vec<u32> = (0..self.docs.len() as u32)
            .filter(|&n| self.docs[n as usize].is_some())
            .collect();
        for (i, sort) in BookSort::ALL.into_iter().enumerate() {
            let mut order = live.clone();
            order.sort_by_cached_key(|&n| self.doc(n).sort_key(sort));
            self.orders[i] = order;
        }
    }

    /// Where `key` goes in order `i`: after every book whose key is below.
    fn position(&self, i: usize, key: &[u8]) -> usize {
        let sort = BookSort::ALL[i];
        self.orders[i].partition_point(|&n| self.doc(n).sort_key(sort).as_slice() < key)
    }

    /// Brings changed books in: each one's old entries out, its new ones in.
    pub(crate) fn apply(&mut self, changes: &[Change<'_>]) {
        let many = changes.len() * RESORT_SHARE > self.len().max(1);
        for (id, book) in changes {
            if let Some(n) = self.find(id) {
                if !many {
                    for (i, sort) in BookSort::ALL.into_iter().enumerate() {
                        let at = self.position(i, &self.doc(n).sort_key(sort));
                        if self.orders[i].get(at) == Some(&n) {
                            self.orders[i].remove(at);
                        }
                    }
                }
                self.take_doc(id);
            }
            if let Some(b) = book.filter(|b| b.is_live()) {
                let doc = Doc::of(b);
                let keys: Vec<Vec<u8>> = if many {
                    Vec::new()
                } else {
                    BookSort::ALL.iter().map(|s| doc.sort_key(*s)).collect()
                };
                let n = self.put_doc(doc, b);
                for (i, key) in keys.iter().enumerate() {
                    let at = self.position(i, key);
                    self.orders[i].insert(at, n);
                }
            }
        }
        if many {
            self.resort();
        }
    }

    /// Which books have, for each of `wanted`, a word starting with it: a
    /// bit per book number.
    fn matching(&self, wanted: &[String]) -> Vec<u64> {
        let mut all: Option<Vec<u64>> = None;
        for w in wanted {
            let mut bits = vec![0u64; self.docs.len().div_ceil(64)];
            for (_, p) in self
                .words
                .range::<str, _>((
                    std::ops::Bound::Included(w.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(k, _)| k.starts_with(w.as_str()))
            {
                for &n in p.as_slice() {
                    bits[n as usize / 64] |= 1 << (n % 64);
                }
            }
            all = Some(match all {
                None => bits,
                Some(mut a) => {
                    a.iter_mut().zip(&bits).for_each(|(x, y)| *x &= y);
                    a
                }
            });
        }
        all.unwrap_or_default()
    }

    /// A page of the listing `q` asks for (search words already folded).
    pub(crate) fn page(&self, q: &BookQuery, words: &[String]) -> IndexPage {
        let i = order_of(q.sort);
        let order = &self.orders[i];
        let n = order.len();
        // Positions in reading order (descending reads the array backwards).
        let at = |p: usize| {
            if q.descending {
                order[n - 1 - p]
            } else {
                order[p]
            }
        };
        let start = match &q.after {
            Some(c) => {
                let split = self.position(i, &c.0);
                // The first position past the cursor, in reading order.
                if q.descending {
                    n - split
                } else if order
                    .get(split)
                    .is_some_and(|&m| self.doc(m).sort_key(q.sort) == c.0)
                {
                    split + 1
                } else {
                    split
                }
            }
            None => 0,
        };
        let mut ids = Vec::new();
        let mut last = None;
        let (total, more) = if words.is_empty() {
            let first = if q.after.is_some() {
                start
            } else {
                q.offset.min(n as u64) as usize
            };
            let end = first.saturating_add(q.limit).min(n);
            for p in first..end {
                ids.push(self.doc(at(p)).id().to_string());
                last = Some(at(p));
            }
            (n as u64, end < n)
        } else {
            // Every book is checked: the total counts them all.
            let bits = self.matching(words);
            let has = |m: u32| {
                bits.get(m as usize / 64)
                    .is_some_and(|b| b & (1 << (m % 64)) != 0)
            };
            let mut total = 0u64;
            let mut skip = if q.after.is_some() { 0 } else { q.offset };
            let mut more = false;
            for p in 0..n {
                let m = at(p);
                if !has(m) {
                    continue;
                }
                total += 1;
                if p < start {
                    continue;
                }
                if skip > 0 {
                    skip -= 1;
                } else if ids.len() < q.limit {
                    ids.push(self.doc(m).id().to_string());
                    last = Some(m);
                } else {
                    more = true;
                }
            }
            (total, more)
        };
        IndexPage {
            next: last
                .filter(|_| more && q.limit > 0)
                .map(|m| Cursor(self.doc(m).sort_key(q.sort))),
            ids,
            total,
        }
    }
}

/// Which names a listing of authors or series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Author,
    Series,
}

impl BookIndex {
    fn names(&self, kind: NameKind) -> &NameIndex {
        match kind {
            NameKind::Author => &self.authors,
            NameKind::Series => &self.series,
        }
    }

    /// A page of authors or series (search words already folded).
    pub(crate) fn name_page(
        &self,
        kind: NameKind,
        words: &[String],
        offset: usize,
        limit: usize,
    ) -> (Vec<NameCount>, u64) {
        self.names(kind).page(words, offset, limit)
    }

    /// The ids of a name's books (a series in series order, an author's
    /// books by series then title): the name as shown, the page's ids and
    /// how many books there are.
    pub(crate) fn named_books(
        &self,
        kind: NameKind,
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Option<(String, Vec<String>, u64)> {
        let (shown, numbers) = self.names(kind).books(name)?;
        let mut numbers = numbers.to_vec();
        numbers.sort_by_cached_key(|&n| self.doc(n).sort_key(BookSort::Series));
        let ids = numbers
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&n| self.doc(n).id().to_string())
            .collect();
        Some((shown.to_string(), ids, numbers.len() as u64))
    }
}

/// `book`'s key in `sort` (what a cursor holds), for tests.
#[cfg(test)]
pub(crate) fn sort_key_of(sort: BookSort, book: &crate::Book) -> Vec<u8> {
    Doc::of(book).sort_key(sort)
}

/// Whether a put of `new` over `old` changes what the index holds of it.
pub(crate) fn moves_entries(old: Option<&crate::Book>, new: &crate::Book) -> bool {
    let Some(old) = old else { return true };
    old.deleted != new.deleted
        || old.title != new.title
        || old.author != new.author
        || old.authors != new.authors
        || old.series != new.series
        || old.series_index != new.series_index
        || old.narrator != new.narrator
        || old.narrators != new.narrators
        || old.created_at != new.created_at
}

#[cfg(test)]
pub(crate) mod tests;
