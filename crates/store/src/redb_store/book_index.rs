//! The book indexes the write path keeps: one table per sort order (key:
//! the book's sort key, then its id) and one of words (key: a folded word
//! of its title, authors, series or narrators, then its id). Only live
//! books are indexed.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::super::fold::{fold, words};
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
fn push_natural(key: &mut Vec<u8>, text: &str) {
    let folded = fold(text);
    let folded = cut(&folded, MAX_SORT_TEXT);
    let bytes = folded.as_bytes();
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

/// The key of `book` in the table of `sort`.
pub(super) fn sort_key(sort: BookSort, book: &Book) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    match sort {
        BookSort::Added => {
            let nanos = unix_nanos(book.created_at);
            key.extend_from_slice(&nanos.to_be_bytes());
            key.extend_from_slice(book.id.as_bytes());
            return key;
        }
        BookSort::Title => push_natural(&mut key, &book.title),
        BookSort::Author => {
            push_natural(&mut key, &book.author);
            key.push(SEP);
            push_natural(&mut key, &book.title);
        }
        BookSort::Series => match book.series.as_deref().filter(|s| !s.trim().is_empty()) {
            // Books of a series first, in series order; the rest by title.
            Some(series) => {
                key.push(1);
                push_natural(&mut key, series);
                key.push(SEP);
                push_natural(&mut key, book.series_index.as_deref().unwrap_or(""));
                key.push(SEP);
                push_natural(&mut key, &book.title);
            }
            None => {
                key.push(2);
                push_natural(&mut key, &book.title);
            }
        },
    }
    finish(key, &book.id)
}

/// Every distinct word of what a search matches, each as its index key.
pub(super) fn word_keys(book: &Book) -> Vec<Vec<u8>> {
    let mut all: Vec<String> = Vec::new();
    let mut add = |s: &str| all.extend(words(s).map(|w| cut(&w, MAX_WORD).to_string()));
    add(&book.title);
    add(&book.author);
    for a in &book.authors {
        add(a);
    }
    if let Some(s) = &book.series {
        add(s);
    }
    if let Some(n) = &book.narrator {
        add(n);
    }
    for n in &book.narrators {
        add(n);
    }
    all.sort_unstable();
    all.dedup();
    all.into_iter()
        .map(|w| finish(w.into_bytes(), &book.id))
        .collect()
}

/// A change the write path made to a sort table, for the in-memory rank
/// directory: `+1` inserted, `-1` removed.
pub(super) type SortChange = (usize, Vec<u8>, i8);

/// The open index tables of one write transaction.
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

    /// Moves a book's entries from what `old` was to what `new` is (either
    /// may be absent or not live), noting sort-table changes in `changes`.
    pub(super) fn update(
        &mut self,
        old: Option<&Book>,
        new: Option<&Book>,
        changes: &mut Vec<SortChange>,
    ) -> StoreResult<()> {
        let old = old.filter(|b| b.is_live());
        let new = new.filter(|b| b.is_live());
        for (i, sort) in BookSort::ALL.into_iter().enumerate() {
            let was = old.map(|b| sort_key(sort, b));
            let is = new.map(|b| sort_key(sort, b));
            if was == is {
                continue;
            }
            let table = &mut self.sorted[i];
            if let Some(k) = was
                && table.remove(k.as_slice()).map_err(backend)?.is_some()
            {
                changes.push((i, k, -1));
            }
            if let (Some(k), Some(b)) = (is, new)
                && table
                    .insert(k.as_slice(), b.id.as_str())
                    .map_err(backend)?
                    .is_none()
            {
                changes.push((i, k, 1));
            }
        }
        let was = old.map(word_keys).unwrap_or_default();
        let is = new.map(word_keys).unwrap_or_default();
        for k in was.iter().filter(|k| is.binary_search(k).is_err()) {
            self.words.remove(k.as_slice()).map_err(backend)?;
        }
        for k in is.iter().filter(|k| was.binary_search(k).is_err()) {
            self.words.insert(k.as_slice(), ()).map_err(backend)?;
        }
        Ok(())
    }
}

/// Builds the indexes from the books, once per index version (stores
/// written before there were indexes, or with other keys).
pub(super) fn migrate(txn: &WriteTransaction) -> StoreResult<()> {
    let mut meta = txn.open_table(super::tables::META).map_err(backend)?;
    let current = meta
        .get(INDEX_META)
        .map_err(backend)?
        .and_then(|v| v.value().first().copied());
    if current == Some(INDEX_VERSION) {
        return Ok(());
    }
    for d in SORTED {
        txn.delete_table(d).map_err(backend)?;
    }
    txn.delete_table(WORDS).map_err(backend)?;
    let mut tables = IndexTables::open(txn)?;
    let books = txn.open_table(super::tables::BOOKS).map_err(backend)?;
    let mut ignored = Vec::new();
    for item in books.iter().map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        let b = decode_book(k.value(), v.value())?;
        tables.update(None, Some(&b), &mut ignored)?;
        ignored.clear();
    }
    meta.insert(INDEX_META, [INDEX_VERSION].as_slice())
        .map_err(backend)?;
    Ok(())
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
