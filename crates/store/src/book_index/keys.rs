//! What the book index compares: a live book's fields folded once and
//! packed in one string, and the sort keys built from them.

use crate::fold::fold;
use crate::{Book, BookSort, unix_nanos};

/// Folded text kept for ordering: enough to order any real title.
const MAX_SORT_TEXT: usize = 120;

/// Separates the parts of a sort key: below every byte folded text holds.
const SEP: u8 = 0;
/// Separates the packed fields of a `Doc` (folded text holds no control
/// characters).
const FIELD: char = '\u{1}';

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

/// One live book as the index holds it: its id and folded fields in one
/// allocation (about 100 bytes a book), and when it was added.
pub(super) struct Doc {
    /// id, title, author, series, other names (authors, narrators), series
    /// index, separated by `FIELD`.
    packed: Box<str>,
    /// Each author's name folded, separated by `FIELD` (the keys of the
    /// authors index).
    authors: Box<str>,
    added: u64,
}

impl Doc {
    pub(super) fn of(book: &Book) -> Self {
        let mut others = String::new();
        for name in book
            .authors
            .iter()
            .chain(&book.narrator)
            .chain(&book.narrators)
        {
            if !others.is_empty() {
                others.push(' ');
            }
            others.push_str(&fold(name));
        }
        let packed = [
            book.id.as_str(),
            &fold(&book.title),
            &fold(&book.author),
            &book.series.as_deref().map(fold).unwrap_or_default(),
            &others,
            &book.series_index.as_deref().map(fold).unwrap_or_default(),
        ]
        .join(&FIELD.to_string());
        let authors: Vec<String> = book.authors.iter().map(|a| fold(a)).collect();
        Self {
            packed: packed.into(),
            authors: authors.join(&FIELD.to_string()).into(),
            added: unix_nanos(book.created_at),
        }
    }

    /// The folded names of the book's authors.
    pub(super) fn author_keys(&self) -> impl Iterator<Item = &str> {
        self.authors.split(FIELD).filter(|a| !a.is_empty())
    }

    /// The book's series, folded ("" for none).
    pub(super) fn series_key(&self) -> &str {
        self.field(3)
    }

    fn field(&self, n: usize) -> &str {
        self.packed.split(FIELD).nth(n).unwrap_or("")
    }

    pub(super) fn id(&self) -> &str {
        self.field(0)
    }

    /// The distinct words a search finds the book by: of its title,
    /// author, series and other names (not its id or series index).
    pub(super) fn words(&self) -> Vec<&str> {
        let end = self.packed.rfind(FIELD).unwrap_or(self.packed.len());
        let text = &self.packed[self.id().len()..end];
        let mut words: Vec<&str> = text.split([' ', FIELD]).filter(|w| !w.is_empty()).collect();
        words.sort_unstable();
        words.dedup();
        words
    }

    /// The doc's key in `sort`: byte order is the listing's order, and
    /// the id at the end makes every key distinct.
    pub(super) fn sort_key(&self, sort: BookSort) -> Vec<u8> {
        let mut key = Vec::with_capacity(64);
        let (title, author, series, index) =
            (self.field(1), self.field(2), self.field(3), self.field(5));
        match sort {
            BookSort::Added => key.extend_from_slice(&self.added.to_be_bytes()),
            BookSort::Title => push_natural(&mut key, title),
            BookSort::Author => {
                push_natural(&mut key, author);
                key.push(SEP);
                push_natural(&mut key, title);
            }
            // Books of a series first, in series order; the rest by title.
            BookSort::Series if !series.is_empty() => {
                key.push(1);
                push_natural(&mut key, series);
                key.push(SEP);
                push_natural(&mut key, index);
                key.push(SEP);
                push_natural(&mut key, title);
            }
            BookSort::Series => {
                key.push(2);
                push_natural(&mut key, title);
            }
        }
        key.push(SEP);
        key.extend_from_slice(self.id().as_bytes());
        key
    }
}
