//! Path-pattern expansion: any pattern that parses, with any tag values,
//! expands to plain path components (no separators, no NUL, never `.` or
//! `..`, never empty) and never to more components than it has segments:
//! tag values can never add or climb directories.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/engine/src/config/pattern.rs"]
#[allow(dead_code)]
mod pattern;

use pattern::{Field, Pattern};

const FIELDS: [Field; 9] = [
    Field::Author,
    Field::Title,
    Field::Series,
    Field::SeriesIndex,
    Field::Narrator,
    Field::Year,
    Field::PrintYear,
    Field::Album,
    Field::Part,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{0}');
    let Some(pattern) = parts.next() else { return };
    let values: Vec<Option<String>> = (0..FIELDS.len())
        .map(|_| parts.next().map(str::to_string).filter(|v| !v.is_empty()))
        .collect();
    let Ok(p) = Pattern::parse(pattern) else { return };
    let value = |f: Field| {
        FIELDS
            .iter()
            .position(|x| *x == f)
            .and_then(|i| values[i].clone())
    };
    let out = p.expand(&value);
    let segments = pattern.split('/').count();
    assert!(out.len() <= segments, "{pattern:?} gave {out:?}");
    for c in &out {
        assert!(!c.is_empty(), "{pattern:?} gave an empty component");
        assert!(c != "." && c != "..", "{pattern:?} gave {c:?}");
        assert!(!c.contains(['/', '\\', '\u{0}']), "{pattern:?} gave {c:?}");
    }
});
