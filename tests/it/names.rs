//! Authors and series: counts, search, paging, each one's books, and
//! counts that follow edits and deletions.

use audiobook_organizer::sample::SampleTags;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{mp3, tagged};
use crate::server_helpers::{TestApp, spawn_app};

/// Title, author, and series with its number.
type Sample = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

async fn library(app: &TestApp) {
    let books: [Sample; 6] = [
        ("Agnes Grey", "Anne Brontë", None),
        ("The Tenant of Wildfell Hall", "Anne Bronte", None),
        ("Jane Eyre", "Charlotte Brontë", None),
        ("Book Ten", "Saga Writer", Some(("The Saga", "10"))),
        ("Book Two", "Saga Writer", Some(("The Saga", "2"))),
        ("Book One", "Saga Writer", Some(("the saga", "1"))),
    ];
    for (i, (title, author, series)) in books.iter().enumerate() {
        let tags = SampleTags {
            series: series.map(|s| s.0.to_string()),
            series_part: series.map(|s| s.1.to_string()),
            ..tagged(title, author)
        };
        app.dir.write(
            &format!("{title}/{title}.mp3"),
            &mp3(&tags, 1.0, i as u64 + 1),
        );
    }
    let imports = app.dir.imports();
    app.post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    let (_, r) = app.post("/api/v1/operations/scan", json!({})).await;
    let op = app.wait_op(r["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_and_series_list_their_books_with_counts_that_follow_edits() {
    let app = spawn_app().await;
    library(&app).await;

    // Spellings that differ only in accents or case are one name.
    let (code, a) = app.get("/api/v1/authors").await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(
        a["names"],
        json!([
            { "name": "Anne Brontë", "books": 2 },
            { "name": "Charlotte Brontë", "books": 1 },
            { "name": "Saga Writer", "books": 3 },
        ])
    );
    assert_eq!(a["total"], 3);
    // Searched by the start of words, accents ignored; paged.
    let (_, found) = app.get("/api/v1/authors?q=BRONTE%20char").await;
    assert_eq!(
        found["names"],
        json!([{ "name": "Charlotte Brontë", "books": 1 }])
    );
    let (_, second) = app.get("/api/v1/authors?limit=1&offset=1").await;
    assert_eq!(second["names"][0]["name"], "Charlotte Brontë");
    assert_eq!(second["total"], 3);

    let (_, s) = app.get("/api/v1/series").await;
    assert_eq!(s["names"], json!([{ "name": "The Saga", "books": 3 }]));
    // A series' books in series order (1, 2, 10), found by any spelling.
    let (code, saga) = app.get("/api/v1/series/THE%20SAGA/books").await;
    assert_eq!(code, 200, "{saga}");
    assert_eq!(saga["name"], "The Saga");
    let titles: Vec<&str> = saga["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Book One", "Book Two", "Book Ten"]);
    let (_, anne) = app.get("/api/v1/authors/anne%20bronte/books").await;
    assert_eq!(anne["total"], 2, "{anne}");

    // An edit moves a book from one author to another.
    let id = anne["books"][0]["id"].as_str().unwrap().to_string();
    let (code, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/books/{id}"),
            Some(json!({ "authors": ["Charlotte Brontë", "Anne Brontë"] })),
        )
        .await;
    assert_eq!(code, 200);
    let (_, a) = app.get("/api/v1/authors?q=bronte").await;
    assert_eq!(
        a["names"],
        json!([
            { "name": "Anne Brontë", "books": 2 },
            { "name": "Charlotte Brontë", "books": 2 },
        ])
    );
    // The last book of a series leaves it: the series goes.
    for b in saga["books"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let (code, _) = app.delete(&format!("/api/v1/books/{id}")).await;
        assert_eq!(code, 200);
    }
    let (_, s) = app.get("/api/v1/series").await;
    assert_eq!(s["names"], json!([]));
    assert_eq!(s["total"], 0);
    let (code, gone) = app.get("/api/v1/series/The%20Saga/books").await;
    assert_eq!(code, 404, "{gone}");
    assert!(gone["error"].as_str().unwrap().contains("The Saga"));
    let (code, bad) = app.get("/api/v1/authors?limit=0").await;
    assert_eq!(code, 400, "{bad}");
}
