//! The library listing over HTTP: pages in each indexed order by position
//! or by cursor, word-prefix search without case or accents, and bad
//! parameters refused.

use crate::helpers::{TestDir, mp3};
use crate::server_helpers::{TestApp, spawn_app_with, test_config, titles};
use audiobook_organizer::sample::SampleTags;

/// Title, author, series and its number, narrator.
type Sample<'a> = (
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
    Option<&'a str>,
);

/// Every title of a listing, following `next` from page to page.
async fn walk(app: &TestApp, query: &str, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let (code, page) = app
            .get(&format!("/api/v1/books?{query}&limit={limit}{after}"))
            .await;
        assert_eq!(code, 200, "{page}");
        out.extend(titles(&page));
        match page["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_pages_in_every_order_and_finds_books_by_the_start_of_their_words() {
    let t = TestDir::new();
    let books: [Sample; 7] = [
        ("Part 10", "Émile Zola", None, None),
        ("part 2", "Émile Zola", None, Some("Ünique Reader")),
        ("Les Misérables", "Victor Hugo", None, None),
        ("Wuthering Heights", "Emily Brontë", None, None),
        (
            "Ender's Game",
            "Orson Scott Card",
            Some(("Ender Saga", "1")),
            None,
        ),
        (
            "Speaker for the Dead",
            "Orson Scott Card",
            Some(("Ender Saga", "2")),
            None,
        ),
        (
            "Xenocide",
            "Orson Scott Card",
            Some(("Ender Saga", "10")),
            None,
        ),
    ];
    for (i, (title, author, series, narrator)) in books.iter().enumerate() {
        let mut tags = SampleTags::book(title, author);
        if let Some((s, n)) = series {
            tags.series = Some(s.to_string());
            tags.series_part = Some(n.to_string());
        }
        tags.narrator = narrator.map(str::to_string);
        t.write(
            &format!("{author}/{title}/01.mp3"),
            &mp3(&tags, 1.0, i as u64),
        );
    }
    let imports = t.imports();
    let c = test_config(&t);
    let app = spawn_app_with(t, c).await;
    let (_, op) = app
        .post(
            "/api/v1/operations/scan",
            serde_json::json!({ "paths": [imports] }),
        )
        .await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;

    let by_title = walk(&app, "sort=title", 3).await;
    assert_eq!(
        by_title,
        [
            "Ender's Game",
            "Les Misérables",
            "part 2",
            "Part 10",
            "Speaker for the Dead",
            "Wuthering Heights",
            "Xenocide"
        ]
    );
    let mut reversed = by_title.clone();
    reversed.reverse();
    assert_eq!(walk(&app, "sort=title&order=desc", 2).await, reversed);
    // By position: the same books.
    let (_, page) = app.get("/api/v1/books?sort=title&offset=5&limit=5").await;
    assert_eq!(titles(&page), ["Wuthering Heights", "Xenocide"]);
    assert_eq!(page["total"], 7);
    assert!(page.get("next").is_none(), "{page}");
    let (_, page) = app
        .get("/api/v1/books?sort=title&order=desc&offset=1&limit=2")
        .await;
    assert_eq!(titles(&page), ["Wuthering Heights", "Speaker for the Dead"]);
    // Series in series order (10 after 2), the rest after them.
    let by_series = walk(&app, "sort=series", 50).await;
    assert_eq!(
        &by_series[..3],
        ["Ender's Game", "Speaker for the Dead", "Xenocide"]
    );
    let by_author = walk(&app, "sort=author", 50).await;
    assert_eq!(&by_author[..2], ["part 2", "Part 10"]);
    assert_eq!(by_author[2], "Wuthering Heights");

    // Search: the start of words, any case, accents or none.
    for (q, want) in [
        ("emile", vec!["part 2", "Part 10"]),
        ("ZOLA part 1", vec!["Part 10"]),
        ("brontë", vec!["Wuthering Heights"]),
        ("miserables", vec!["Les Misérables"]),
        ("enders", vec!["Ender's Game"]),
        (
            "ender sag",
            vec!["Ender's Game", "Speaker for the Dead", "Xenocide"],
        ),
        ("unique", vec!["part 2"]),
        ("ola", vec![]),
    ] {
        let found = walk(&app, &format!("sort=title&q={}", urlencode(q)), 2).await;
        assert_eq!(found, want, "q={q}");
    }
    let (_, page) = app.get("/api/v1/books?q=card&sort=title&limit=1").await;
    assert_eq!(page["total"], 3);

    for bad in [
        "sort=rating",
        "order=up",
        "after=zz",
        "after=abc",
        "offset=3&after=00",
        "limit=-1",
    ] {
        let (code, body) = app.get(&format!("/api/v1/books?{bad}")).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {body}"
        );
    }
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
