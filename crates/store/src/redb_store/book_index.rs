//! The book indexes the write path keeps: one table per sort order (key:
//! the book's sort key, then its id) and one of words (key: a folded word
//! of its title, authors, series or narrators, then its id). Only live
//! books are indexed.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::super::fold::fold;
use super::super::*;
use super::backend;
use super::book_codec::decode_book;

pub(super) const BY_ADDED: TableDefinition<&[u8], &str> = TableDefinition::new("books_by_added");
pub(super) const BY_TITLE: TableDefinition<&[u8], &str> = TableDefinition::new("books_by_title");
pub(super) const BY_AUTHOR: TableDefinition<&[u8], &str> = TableDefinition::new("books_by_author");
pub(super) const BY_SERIES: TableDefinition<&[u8], &str> = TableDefinition::new("books_by_series");
pub(super) const WORDS: TableDefinition<&[u8], ()> = TableDefinition::new("book_words");

/// The tables of the sort orders, in `BookSort::ALL` order.
pub(super) const SORTED: [TableDefinition<&[u8], &str>; 4] =
    [BY_ADDED, BY_TITLE, BY_AUTHOR, BY_SERIES];

/// Bumped when keys or folding change: the indexes are built again.
const INDEX_VERSION: u8 = 1;
const INDEX_META: &str = "book_index_version";

/// Folded text kept in a sort key: enough to order any real title.
const MAX_SORT_TEXT: usize = 120;
/// Longest word indexed (longer ones are cut at a character boundary).
pub(super) const MAX_WORD: usize = 48;

/// Separates the parts of a key: below every byte folded text holds.
const SEP: u8 = 0;

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Folded text for ordering, digits in natural order ("Part 2" before
/// "Part 10"): each run of digits without its leading zeros, prefixed by
/// its length.
fn push_natural(key: &mut Vec<u8>, folded: &str) {
    let bytes = cut(folded, MAX_SORT_TEXT).as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &bytes[start..i];
            let first = digits.iter().position(|&d| d != b'0');
            let digits = first.map_or(&b"0"[..], |f| &digits[f..]);
            // A length byte above the separator and below a space (runs
            // of more than 30 digits compare among themselves as text).
            key.push(digits.len().min(30) as u8 + 1);
            key.extend_from_slice(digits);
        } else {
            key.push(bytes[i]);
            i += 1;
        }
    }
}

fn finish(mut key: Vec<u8>, id: &str) -> Vec<u8> {
    key.push(SEP);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The fields of a book the indexes compare, each folded once.
struct Folded {
    title: String,
    author: String,
    series: Option<String>,
    series_index: String,
}

impl Folded {
    fn of(book: &Book) -> Self {
        Self {
            title: fold(&book.title),
            author: fold(&book.author),
            series: book.series.as_deref().map(fold).filter(|s| !s.is_empty()),
            series_index: book.series_index.as_deref().map(fold).unwrap_or_default(),
        }
    }
}

/// The key of `book` in the table of `sort`.
pub(super) fn sort_key(sort: BookSort, book: &Book) -> Vec<u8> {
    folded_sort_key(sort, book, &Folded::of(book))
}

fn folded_sort_key(sort: BookSort, book: &Book, f: &Folded) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    match sort {
        BookSort::Added => {
            let nanos = unix_nanos(book.created_at);
            key.extend_from_slice(&nanos.to_be_bytes());
            key.extend_from_slice(book.id.as_bytes());
            return key;
        }
        BookSort::Title => push_natural(&mut key, &f.title),
        BookSort::Author => {
            push_natural(&mut key, &f.author);
            key.push(SEP);
            push_natural(&mut key, &f.title);
        }
        BookSort::Series => match &f.series {
            // Books of a series first, in series order; the rest by title.
            Some(series) => {
                key.push(1);
                push_natural(&mut key, series);
                key.push(SEP);
                push_natural(&mut key, &f.series_index);
                key.push(SEP);
                push_natural(&mut key, &f.title);
            }
            None => {
                key.push(2);
                push_natural(&mut key, &f.title);
            }
        },
    }
    finish(key, &book.id)
}

/// Every distinct word of what a search matches, each as its index key.
pub(super) fn word_keys(book: &Book) -> Vec<Vec<u8>> {
    folded_word_keys(book, &Folded::of(book))
}

fn folded_word_keys(book: &Book, f: &Folded) -> Vec<Vec<u8>> {
    let mut all: Vec<&str> = Vec::new();
    let more: Vec<String> = book
        .authors
        .iter()
        .chain(&book.narrator)
        .chain(&book.narrators)
        .map(|s| fold(s))
        .collect();
    for text in [&f.title, &f.author]
        .into_iter()
        .chain(&f.series)
        .chain(&more)
    {
        all.extend(
            text.split(' ')
                .filter(|w| !w.is_empty())
                .map(|w| cut(w, MAX_WORD)),
        );
    }
    all.sort_unstable();
    all.dedup();
    all.into_iter()
        .map(|w| finish(w.as_bytes().to_vec(), &book.id))
        .collect()
}

/// A change to a sort table, for the in-memory rank directory: `+1`
/// inserted, `-1` removed.
pub(super) type SortChange = (usize, Vec<u8>, i8);

/// Meta key set (in the same commit) while books written are not yet in
/// the indexes, cleared when they are: a store opened with it set (the
/// process ended before catching up) builds its indexes again.
const DIRTY_META: &str = "book_index_dirty";

/// Books whose index entries are behind their record, each with the
/// entries it has in the indexes now (to be removed when caught up).
pub(super) type Pending = crate::fast_map::FastMap<String, IndexKeys>;

/// Every index entry of one live book.
#[derive(Default, Clone)]
pub(super) struct IndexKeys {
    sorts: Vec<Vec<u8>>,
    words: Vec<Vec<u8>>,
}

impl IndexKeys {
    pub(super) fn of(book: &Book) -> Self {
        if !book.is_live() {
            return Self::default();
        }
        let f = Folded::of(book);
        Self {
            sorts: BookSort::ALL
                .iter()
                .map(|s| folded_sort_key(*s, book, &f))
                .collect(),
            words: folded_word_keys(book, &f),
        }
    }
}

/// Whether a put of `new` over `old` moves any index entry.
fn moves_entries(old: Option<&Book>, new: &Book) -> bool {
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

/// Notes in `noted` that `new` (replacing `old`) is behind in the indexes,
/// with the entries `old` has there: the write path does only this, in
/// memory; the entries move in sorted runs when the indexes catch up. The
/// first note of a book while it is pending is the one that counts.
pub(super) fn note_put(noted: &mut Vec<(String, IndexKeys)>, old: Option<&Book>, new: &Book) {
    if moves_entries(old, new) {
        noted.push((new.id.clone(), old.map(IndexKeys::of).unwrap_or_default()));
    }
}

/// Marks the indexes behind, in the transaction that puts them behind.
pub(super) fn mark_dirty(meta: &mut redb::Table<&'static str, &'static [u8]>) -> StoreResult<()> {
    meta.insert(DIRTY_META, [1u8].as_slice()).map_err(backend)?;
    Ok(())
}

/// Brings `behind` (pending ids and the entries each has in the indexes)
/// into the indexes in one transaction, each table's removals and
/// insertions in key order; sort-table changes go to `moved`. `last`:
/// nothing else is pending, the indexes are clean once this commits.
pub(super) fn catch_up(
    txn: &WriteTransaction,
    behind: &[(String, IndexKeys)],
    last: bool,
    moved: &mut Vec<SortChange>,
) -> StoreResult<()> {
    let books = txn.open_table(super::tables::BOOKS).map_err(backend)?;
    let mut gone: Vec<Vec<&[u8]>> = vec![Vec::new(); SORTED.len() + 1];
    let mut come: Vec<Vec<(Vec<u8>, &str)>> = vec![Vec::new(); SORTED.len() + 1];
    for (id, was) in behind {
        let is = match books.get(id.as_str()).map_err(backend)? {
            Some(b) => IndexKeys::of(&decode_book(id, b.value())?),
            None => IndexKeys::default(),
        };
        for (i, k) in was.sorts.iter().enumerate() {
            gone[i].push(k);
        }
        gone[SORTED.len()].extend(was.words.iter().map(Vec::as_slice));
        for (i, k) in is.sorts.into_iter().enumerate() {
            come[i].push((k, id.as_str()));
        }
        come[SORTED.len()].extend(is.words.into_iter().map(|w| (w, "")));
    }
    let mut tables = IndexTables::open(txn)?;
    for (i, (mut gone, mut come)) in gone.into_iter().zip(come).enumerate() {
        gone.sort_unstable();
        come.sort_unstable();
        for k in gone {
            if tables.remove(i, k)? && i < SORTED.len() {
                moved.push((i, k.to_vec(), -1));
            }
        }
        for (k, id) in come {
            if tables.insert(i, &k, id)? && i < SORTED.len() {
                moved.push((i, k, 1));
            }
        }
    }
    if last {
        let mut meta = txn.open_table(super::tables::META).map_err(backend)?;
        meta.remove(DIRTY_META).map_err(backend)?;
    }
    Ok(())
}

/// The open index tables of one write transaction: the sort tables in
/// `SORTED` order, then the words.
pub(super) struct IndexTables<'t> {
    sorted: Vec<redb::Table<'t, &'static [u8], &'static str>>,
    words: redb::Table<'t, &'static [u8], ()>,
}

impl<'t> IndexTables<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> StoreResult<Self> {
        Ok(Self {
            sorted: SORTED
                .iter()
                .map(|d| txn.open_table(*d).map_err(backend))
                .collect::<StoreResult<_>>()?,
            words: txn.open_table(WORDS).map_err(backend)?,
        })
    }

    /// Whether `key` was there.
    fn remove(&mut self, table: usize, key: &[u8]) -> StoreResult<bool> {
        Ok(match self.sorted.get_mut(table) {
            Some(t) => t.remove(key).map_err(backend)?.is_some(),
            None => self.words.remove(key).map_err(backend)?.is_some(),
        })
    }

    /// Whether `key` is new.
    fn insert(&mut self, table: usize, key: &[u8], id: &str) -> StoreResult<bool> {
        Ok(match self.sorted.get_mut(table) {
            Some(t) => t.insert(key, id).map_err(backend)?.is_none(),
            None => self.words.insert(key, ()).map_err(backend)?.is_none(),
        })
    }
}

/// Empties the indexes when their version changed (stores written before
/// there were indexes, or with other keys) or the last process ended
/// before catching them up; then every book is to be caught up
/// (`every_book`), like any write. Whether that is so.
pub(super) fn migrate(txn: &WriteTransaction) -> StoreResult<bool> {
    let mut meta = txn.open_table(super::tables::META).map_err(backend)?;
    let current = meta
        .get(INDEX_META)
        .map_err(backend)?
        .and_then(|v| v.value().first().copied());
    let dirty = meta.get(DIRTY_META).map_err(backend)?.is_some();
    if current == Some(INDEX_VERSION) && !dirty {
        return Ok(false);
    }
    for d in SORTED {
        txn.delete_table(d).map_err(backend)?;
    }
    txn.delete_table(WORDS).map_err(backend)?;
    IndexTables::open(txn)?;
    meta.insert(INDEX_META, [INDEX_VERSION].as_slice())
        .map_err(backend)?;
    meta.insert(DIRTY_META, [1u8].as_slice()).map_err(backend)?;
    Ok(true)
}

/// Every book, as pending with no entries in the (emptied) indexes.
pub(super) fn every_book(db: &impl redb::ReadableDatabase) -> StoreResult<Pending> {
    let txn = db.begin_read().map_err(backend)?;
    let books = txn.open_table(super::tables::BOOKS).map_err(backend)?;
    let mut out = Pending::default();
    for item in books.iter().map_err(backend)? {
        out.insert(
            item.map_err(backend)?.0.value().to_string(),
            IndexKeys::default(),
        );
    }
    Ok(out)
}

/// A book with only an id and a title, for tests.
#[cfg(test)]
pub(super) fn tests_book(id: &str, title: &str) -> Book {
    tests::book(id, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn book(id: &str, title: &str) -> Book {
        Book {
            id: id.into(),
            title: title.into(),
            author: "A".into(),
            authors: vec![],
            album: None,
            narrator: None,
            narrators: vec![],
            series: None,
            series_index: None,
            year: None,
            isbn: None,
            asin: None,
            description: None,
            cover_url: None,
            cover: None,
            duration_secs: 0.0,
            codec: None,
            bitrate_kbps: None,
            status: BookStatus::Imported,
            deleted: false,
            source_dir: String::new(),
            group_key: String::new(),
            files: vec![],
            file_hash: String::new(),
            duplicates: vec![],
            editions: vec![],
            organized_dir: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn titles_sort_naturally_and_without_case_or_accents() {
        let order = [
            "Part 2",
            "part 10",
            "Part 010b",
            "Émile",
            "emile zola",
            "Zed",
        ];
        let mut keys: Vec<(Vec<u8>, &str)> = order
            .iter()
            .enumerate()
            .map(|(i, t)| (sort_key(BookSort::Title, &book(&format!("{i}"), t)), *t))
            .collect();
        keys.reverse();
        keys.sort();
        let got: Vec<&str> = keys.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            got,
            [
                "Émile",
                "emile zola",
                "Part 2",
                "part 10",
                "Part 010b",
                "Zed"
            ]
        );
    }

    #[test]
    fn a_series_sorts_by_its_index_and_books_without_one_come_last() {
        let mut a = book("1", "Z");
        a.series = Some("Saga".into());
        a.series_index = Some("10".into());
        let mut b = book("2", "Y");
        b.series = Some("saga".into());
        b.series_index = Some("2".into());
        let c = book("3", "A");
        let mut keys = [&a, &b, &c].map(|x| (sort_key(BookSort::Series, x), x.id.clone()));
        keys.sort();
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["2", "1", "3"]);
    }
}
