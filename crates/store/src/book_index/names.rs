//! Authors and series as the index holds them: each folded name with the
//! name as first seen and the numbers of its books, kept in step with the
//! books (a name goes when its last book does).

use std::collections::BTreeMap;

use super::Postings;
use crate::fold::fold;

struct Named {
    shown: Box<str>,
    books: Postings,
}

#[derive(Default)]
pub(super) struct NameIndex {
    /// By folded name: "Anne Brontë" and "anne bronte" are one author.
    by_key: BTreeMap<Box<str>, Named>,
}

/// A name and how many live books carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NameCount {
    pub name: String,
    pub books: u64,
}

/// Of two spellings of a name, the one shown: accents and capitals kept
/// ("Anne Brontë" over "Anne Bronte" and "anne brontë"), whatever order
/// the books came in.
fn richness(s: &str) -> (usize, usize, std::cmp::Reverse<&str>) {
    let s = s.trim();
    (
        s.chars().filter(|c| !c.is_ascii()).count(),
        s.chars().filter(|c| c.is_uppercase()).count(),
        std::cmp::Reverse(s),
    )
}

impl NameIndex {
    pub(super) fn add(&mut self, shown: &str, n: u32) {
        let key = fold(shown);
        if key.is_empty() {
            return;
        }
        match self.by_key.get_mut(key.as_str()) {
            Some(named) => {
                named.books.add(n);
                if richness(shown) > richness(&named.shown) {
                    named.shown = shown.trim().into();
                }
            }
            None => {
                self.by_key.insert(
                    key.into(),
                    Named {
                        shown: shown.trim().into(),
                        books: Postings::One(n),
                    },
                );
            }
        }
    }

    /// Takes book `n` off the name folded as `key`.
    pub(super) fn remove(&mut self, key: &str, n: u32) {
        if let Some(named) = self.by_key.get_mut(key)
            && !named.books.remove(n)
        {
            self.by_key.remove(key);
        }
    }

    /// Names in folded order whose words start with every one of `words`
    /// (folded): the `offset..offset + limit` of them, and how many match.
    pub(super) fn page(
        &self,
        words: &[String],
        offset: usize,
        limit: usize,
    ) -> (Vec<NameCount>, u64) {
        let matches = |key: &str| {
            words
                .iter()
                .all(|w| key.split(' ').any(|k| k.starts_with(w.as_str())))
        };
        let mut total = 0u64;
        let mut out = Vec::new();
        for (key, named) in &self.by_key {
            if !matches(key) {
                continue;
            }
            if total as usize >= offset && out.len() < limit {
                out.push(NameCount {
                    name: named.shown.to_string(),
                    books: named.books.as_slice().len() as u64,
                });
            }
            total += 1;
        }
        (out, total)
    }

    /// The name as shown and its books' numbers, for any spelling that
    /// folds the same.
    pub(super) fn books(&self, name: &str) -> Option<(&str, &[u32])> {
        self.by_key
            .get(fold(name).as_str())
            .map(|n| (&*n.shown, n.books.as_slice()))
    }
}
