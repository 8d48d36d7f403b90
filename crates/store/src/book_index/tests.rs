use super::*;
use crate::{Book, BookStatus, now};

pub(crate) fn book(id: &str, title: &str) -> Book {
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
        language: None,
        publisher: None,
        genres: Vec::new(),
        provenance: Default::default(),
        locked: Default::default(),
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
        .map(|(i, t)| (sort_key_of(BookSort::Title, &book(&format!("{i}"), t)), *t))
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
    let mut keys = [&a, &b, &c].map(|x| (sort_key_of(BookSort::Series, x), x.id.clone()));
    keys.sort();
    let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["2", "1", "3"]);
}

#[test]
fn a_search_word_matches_the_start_of_any_word_of_the_fields_it_covers() {
    let mut b = book("01ABC", "The Left Hand of Darkness");
    b.author = "Ursula K. Le Guin".into();
    b.narrators = vec!["Gérard Doyle".into()];
    b.series = Some("Hainish Cycle".into());
    let mut index = BookIndex::build(std::iter::once(&b));
    let has = |index: &BookIndex, q: &str| {
        let words: Vec<String> = crate::fold::words(q).collect();
        let q = BookQuery {
            search: Some(q.into()),
            limit: 1,
            ..Default::default()
        };
        index.page(&q, &words).total == 1
    };
    assert!(has(&index, "left hand"));
    assert!(has(&index, "GUIN hain"));
    assert!(has(&index, "gerard"));
    assert!(!has(&index, "eft"), "not inside a word");
    assert!(!has(&index, "01abc"), "not the id");
    assert!(!has(&index, "left nothing"));
    // Its words leave with it.
    index.apply(&[("01ABC", None)]);
    assert!(!has(&index, "left"));
    assert!(index.words.is_empty());
}
