//! A book's editable fields, where each value came from, the locks a
//! user's edit puts on them, and the record every edit leaves.
//!
//! The store applies an edit inside its write transaction
//! ([`crate::Mutation::EditBook`]), and a job's write of a book never
//! changes a locked field: the stored value, provenance and lock win over
//! whatever copy the job held (`keep_locked`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::records::Book;

/// The fields a user can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookField {
    Title,
    Authors,
    Narrators,
    Series,
    SeriesIndex,
    Year,
    Isbn,
    Asin,
    Description,
    Language,
    Publisher,
    Genres,
}

impl BookField {
    pub const ALL: [BookField; 12] = [
        BookField::Title,
        BookField::Authors,
        BookField::Narrators,
        BookField::Series,
        BookField::SeriesIndex,
        BookField::Year,
        BookField::Isbn,
        BookField::Asin,
        BookField::Description,
        BookField::Language,
        BookField::Publisher,
        BookField::Genres,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookField::Title => "title",
            BookField::Authors => "authors",
            BookField::Narrators => "narrators",
            BookField::Series => "series",
            BookField::SeriesIndex => "series_index",
            BookField::Year => "year",
            BookField::Isbn => "isbn",
            BookField::Asin => "asin",
            BookField::Description => "description",
            BookField::Language => "language",
            BookField::Publisher => "publisher",
            BookField::Genres => "genres",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Its number in the store's compact layout: its place in `ALL`
    /// (stored, so fields are only ever added at the end).
    pub(crate) fn code(self) -> u8 {
        Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }
}

/// Where a field's value came from: the audio tags, the folder and file
/// names, a named source (a side file such as `opf`, or a lookup such as
/// `openlibrary`), or a user's edit. In JSON: `tag`, `path`,
/// `source:<name>`, `user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Provenance {
    Tag,
    Path,
    Source(String),
    User,
}

impl Provenance {
    pub fn source(name: &str) -> Self {
        Provenance::Source(name.to_string())
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tag" => Some(Provenance::Tag),
            "path" => Some(Provenance::Path),
            "user" => Some(Provenance::User),
            _ => s
                .strip_prefix("source:")
                .filter(|n| !n.is_empty())
                .map(Provenance::source),
        }
    }
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Tag => f.write_str("tag"),
            Provenance::Path => f.write_str("path"),
            Provenance::User => f.write_str("user"),
            Provenance::Source(name) => write!(f, "source:{name}"),
        }
    }
}

impl Serialize for Provenance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Provenance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Provenance::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown provenance {s:?}")))
    }
}

/// The sources named often enough to have a code of their own.
const KNOWN_SOURCES: [&str; 4] = ["txt", "opf", "metadata.json", "openlibrary"];
/// The code of a source named otherwise (its name kept beside).
const OTHER: u8 = 15;

impl Provenance {
    fn code(&self) -> u8 {
        match self {
            Provenance::Tag => 1,
            Provenance::Path => 2,
            Provenance::User => 3,
            Provenance::Source(name) => KNOWN_SOURCES
                .iter()
                .position(|k| k == name)
                .map_or(OTHER, |i| 4 + i as u8),
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Provenance::Tag,
            2 => Provenance::Path,
            3 => Provenance::User,
            4..=7 => Provenance::source(KNOWN_SOURCES[(code - 4) as usize]),
            _ => return None,
        })
    }
}

/// Provenance by field (fields with no value have none): a code per field
/// (no allocation for tags, path, user and the usual sources), and the
/// names of other sources beside. A scan sets it for every book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceMap {
    codes: [u8; BookField::ALL.len()],
    other: Vec<(BookField, String)>,
}

impl ProvenanceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, field: BookField, from: Provenance) {
        let code = from.code();
        self.other.retain(|(f, _)| *f != field);
        if let (OTHER, Provenance::Source(name)) = (code, from) {
            self.other.push((field, name));
        }
        self.codes[field.code() as usize] = code;
    }

    pub fn remove(&mut self, field: &BookField) {
        self.codes[field.code() as usize] = 0;
        self.other.retain(|(f, _)| f != field);
    }

    pub fn get(&self, field: &BookField) -> Option<Provenance> {
        match self.codes[field.code() as usize] {
            0 => None,
            OTHER => self
                .other
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, n)| Provenance::Source(n.clone())),
            code => Provenance::from_code(code),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.codes.iter().all(|c| *c == 0)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Every field with a provenance, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (BookField, Provenance)> + '_ {
        BookField::ALL
            .into_iter()
            .filter_map(|f| self.get(&f).map(|p| (f, p)))
    }

    /// The store's compact form: a nibble per field, then the names of
    /// other sources.
    pub(crate) fn codes(&self) -> ([u8; 6], &[(BookField, String)]) {
        let mut packed = [0u8; 6];
        for (i, c) in self.codes.iter().enumerate() {
            packed[i / 2] |= c << (4 * (i % 2));
        }
        (packed, &self.other)
    }

    pub(crate) fn from_codes(packed: [u8; 6], other: Vec<(BookField, String)>) -> Option<Self> {
        let mut codes = [0u8; BookField::ALL.len()];
        for (i, c) in codes.iter_mut().enumerate() {
            *c = (packed[i / 2] >> (4 * (i % 2))) & 0xF;
            if *c != 0 && *c != OTHER && Provenance::from_code(*c).is_none() {
                return None;
            }
        }
        let named = |f: &BookField| other.iter().any(|(o, _)| o == f);
        let consistent = BookField::ALL
            .iter()
            .all(|f| (codes[f.code() as usize] == OTHER) == named(f));
        consistent.then_some(Self { codes, other })
    }
}

impl<const N: usize> From<[(BookField, Provenance); N]> for ProvenanceMap {
    fn from(entries: [(BookField, Provenance); N]) -> Self {
        let mut m = Self::new();
        for (f, p) in entries {
            m.insert(f, p);
        }
        m
    }
}

impl Serialize for ProvenanceMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ProvenanceMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<BookField, Provenance>::deserialize(d)?;
        let mut m = Self::new();
        for (f, p) in entries {
            m.insert(f, p);
        }
        Ok(m)
    }
}

/// A field's value: text, a list of names, or a year; `None`/empty for
/// no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum FieldValue {
    Year(Option<i32>),
    Text(Option<String>),
    List(Vec<String>),
}

impl Book {
    pub fn field(&self, field: BookField) -> FieldValue {
        let text = |s: &Option<String>| FieldValue::Text(s.clone());
        match field {
            BookField::Title => FieldValue::Text(Some(self.title.clone())),
            BookField::Authors => FieldValue::List(self.authors.clone()),
            BookField::Narrators => FieldValue::List(self.narrators.clone()),
            BookField::Series => text(&self.series),
            BookField::SeriesIndex => text(&self.series_index),
            BookField::Year => FieldValue::Year(self.year),
            BookField::Isbn => text(&self.isbn),
            BookField::Asin => text(&self.asin),
            BookField::Description => text(&self.description),
            BookField::Language => text(&self.language),
            BookField::Publisher => text(&self.publisher),
            BookField::Genres => FieldValue::List(self.genres.clone()),
        }
    }

    /// Sets one field (a value of another shape is ignored: edits are
    /// checked before they reach the store); the joined `author` and
    /// `narrator` follow their lists.
    pub fn set_field(&mut self, field: BookField, value: FieldValue) {
        match (field, value) {
            (BookField::Title, FieldValue::Text(Some(t))) => self.title = t,
            (BookField::Authors, FieldValue::List(l)) => {
                self.author = if l.is_empty() {
                    "Unknown Author".into()
                } else {
                    l.join(", ")
                };
                self.authors = l;
            }
            (BookField::Narrators, FieldValue::List(l)) => {
                self.narrator = (!l.is_empty()).then(|| l.join(", "));
                self.narrators = l;
            }
            (BookField::Genres, FieldValue::List(l)) => self.genres = l,
            (BookField::Year, FieldValue::Year(y)) => self.year = y,
            (BookField::Series, FieldValue::Text(t)) => self.series = t,
            (BookField::SeriesIndex, FieldValue::Text(t)) => self.series_index = t,
            (BookField::Isbn, FieldValue::Text(t)) => self.isbn = t,
            (BookField::Asin, FieldValue::Text(t)) => self.asin = t,
            (BookField::Description, FieldValue::Text(t)) => self.description = t,
            (BookField::Language, FieldValue::Text(t)) => self.language = t,
            (BookField::Publisher, FieldValue::Text(t)) => self.publisher = t,
            _ => {}
        }
    }

    /// Whether the field holds a value.
    pub fn has(&self, field: BookField) -> bool {
        match self.field(field) {
            FieldValue::Year(y) => y.is_some(),
            FieldValue::Text(t) => t.is_some(),
            FieldValue::List(l) => !l.is_empty(),
        }
    }

    /// Sets a field from a job (a scan, a lookup) unless a user locked
    /// it; records where the value came from. True when it changed.
    pub fn set_from(&mut self, field: BookField, value: FieldValue, from: Provenance) -> bool {
        if self.locked.contains(&field) || self.field(field) == value {
            return false;
        }
        self.set_field(field, value);
        if self.has(field) {
            self.provenance.insert(field, from);
        } else {
            self.provenance.remove(&field);
        }
        true
    }
}

/// One edit of one book: values to set (each then locked) and fields to
/// unlock, by whom and when.
#[derive(Debug, Clone, PartialEq)]
pub struct BookEdit {
    /// The record's id (a ULID from the caller: keys sort by time).
    pub id: String,
    pub book_id: String,
    pub set: Vec<(BookField, FieldValue)>,
    pub unlock: Vec<BookField>,
    pub by: String,
    pub at: OffsetDateTime,
}

/// A field an edit changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    pub field: BookField,
    pub from: FieldValue,
    pub to: FieldValue,
}

/// The record an edit leaves: `GET /api/v1/books/{id}/edits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookEditRecord {
    pub id: String,
    pub book_id: String,
    /// The API key's label, or `local` where the server takes no key.
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: OffsetDateTime,
    pub changes: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlocked: Vec<BookField>,
    /// Fields set to the value they already had (now locked all the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<BookField>,
}

impl BookEdit {
    /// Applies the edit to `book`: every field set is the user's and
    /// locked, every field unlocked keeps its value and may be replaced by
    /// the next scan or lookup. Returns what it did.
    pub fn apply_to(&self, book: &mut Book) -> BookEditRecord {
        let mut changes = Vec::new();
        let mut locked = Vec::new();
        for (field, value) in &self.set {
            let from = book.field(*field);
            if from != *value {
                book.set_field(*field, value.clone());
                changes.push(FieldChange {
                    field: *field,
                    from,
                    to: book.field(*field),
                });
            } else {
                locked.push(*field);
            }
            book.provenance.insert(*field, Provenance::User);
            book.locked.insert(*field);
        }
        let mut unlocked = Vec::new();
        for field in &self.unlock {
            if book.locked.remove(field) {
                unlocked.push(*field);
            }
        }
        if !changes.is_empty() || !unlocked.is_empty() || !locked.is_empty() {
            book.updated_at = self.at;
        }
        BookEditRecord {
            id: self.id.clone(),
            book_id: book.id.clone(),
            by: self.by.clone(),
            at: self.at,
            changes,
            unlocked,
            locked,
        }
    }
}

/// A job's copy of a book about to replace `stored`: the fields `stored`
/// has locked keep their stored value and provenance, and the locks stay
/// as stored (a job neither edits nor unlocks). True when that changed
/// the copy.
pub fn keep_locked(stored: &Book, incoming: &mut Book) -> bool {
    let mut changed = incoming.locked != stored.locked;
    incoming.locked = stored.locked.clone();
    for field in &stored.locked {
        let value = stored.field(*field);
        if incoming.field(*field) != value {
            incoming.set_field(*field, value);
            changed = true;
        }
        let from = stored.provenance.get(field);
        if incoming.provenance.get(field) != from {
            match from {
                Some(p) => incoming.provenance.insert(*field, p),
                None => incoming.provenance.remove(field),
            }
            changed = true;
        }
    }
    changed
}

/// Locked fields, in the store's compact layout and the API.
pub type LockedFields = BTreeSet<BookField>;
