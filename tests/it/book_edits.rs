//! Editing books through the API: provenance, locks, bulk edits, the
//! record of who changed what, and refusals of bad input.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{mp3, tagged};
use crate::server_helpers::{TestApp, spawn_app, spawn_app_auth};
use audiobook_organizer::config::AuthMode;

/// Scans `titles` (one tagged one-file book each) and returns the books
/// by title order.
async fn scanned(app: &TestApp, titles: &[&str]) -> Vec<Value> {
    for (i, t) in titles.iter().enumerate() {
        app.dir.write(
            &format!("{t}/{t}.mp3"),
            &mp3(&tagged(t, "Tag Author"), 1.0, i as u64 + 1),
        );
    }
    let imports = app.dir.imports();
    app.post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    let (code, r) = app.post("/api/v1/operations/scan", json!({})).await;
    assert_eq!(code, 202, "{r}");
    let op = app.wait_op(r["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    let (_, page) = app.get("/api/v1/books?sort=title").await;
    page["books"].as_array().unwrap().clone()
}

async fn patch(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.send(Method::PATCH, path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_the_users_locked_and_recorded_and_a_rescan_keeps_it() {
    let app = spawn_app().await;
    let books = scanned(&app, &["Dune"]).await;
    let b = &books[0];
    let id = b["id"].as_str().unwrap();
    assert_eq!(b["provenance"]["title"], "tag", "{b}");
    assert_eq!(b["provenance"]["authors"], "tag", "{b}");
    assert_eq!(b["locked"], json!([]));

    let (code, e) = patch(
        &app,
        &format!("/api/v1/books/{id}"),
        json!({ "title": " Dune Messiah ", "authors": ["Frank Herbert", "Brian Herbert"],
                "isbn": "978-0-441-17271-9", "genres": ["Science Fiction"], "year": 1969,
                "language": "en" }),
    )
    .await;
    assert_eq!(code, 200, "{e}");
    assert_eq!(e["title"], "Dune Messiah");
    assert_eq!(e["author"], "Frank Herbert, Brian Herbert");
    assert_eq!(e["isbn"], "9780441172719");
    assert_eq!(e["genres"], json!(["Science Fiction"]));
    for f in ["title", "authors", "isbn", "genres", "year", "language"] {
        assert_eq!(e["provenance"][f], "user", "{f}: {e}");
    }
    assert_eq!(
        e["locked"],
        json!(["title", "authors", "year", "isbn", "language", "genres"])
    );
    // The book page shows the same.
    let (_, got) = app.get(&format!("/api/v1/books/{id}")).await;
    assert_eq!(got, e);
    // The listing and its search follow the new title.
    let (_, page) = app.get("/api/v1/books?q=messiah").await;
    assert_eq!(page["total"], 1, "{page}");

    // Recorded: who, when, what it was and what it became.
    let (code, edits) = app.get(&format!("/api/v1/books/{id}/edits")).await;
    assert_eq!(code, 200);
    let edits = edits["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["by"], "local");
    assert!(edits[0]["at"].as_str().unwrap().starts_with("20"));
    let title = edits[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "title")
        .unwrap();
    assert_eq!(title["from"], "Dune");
    assert_eq!(title["to"], "Dune Messiah");

    // A rescan after the file changed on disk keeps the user's fields.
    app.dir.write(
        "Dune/Dune.mp3",
        &mp3(&tagged("Dune (retagged)", "Someone Else"), 1.5, 99),
    );
    let (_, r) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(r["operation_id"].as_str().unwrap()).await;
    let (_, after) = app.get(&format!("/api/v1/books/{id}")).await;
    assert_eq!(after["title"], "Dune Messiah", "{after}");
    assert_eq!(after["author"], "Frank Herbert, Brian Herbert");

    // Unlocking is one call; the value stays until something replaces it.
    let (code, u) = app.delete(&format!("/api/v1/books/{id}/locks/title")).await;
    assert_eq!(code, 200, "{u}");
    assert_eq!(u["title"], "Dune Messiah");
    assert!(!u["locked"].as_array().unwrap().contains(&json!("title")));
    let (_, edits) = app.get(&format!("/api/v1/books/{id}/edits")).await;
    assert_eq!(edits["edits"][0]["unlocked"], json!(["title"]));
    assert_eq!(edits["edits"].as_array().unwrap().len(), 2);

    // Clearing a field: null, locked as empty.
    let (code, c) = patch(
        &app,
        &format!("/api/v1/books/{id}"),
        json!({ "year": null }),
    )
    .await;
    assert_eq!(code, 200);
    assert!(c.get("year").is_none(), "{c}");
    assert!(c["locked"].as_array().unwrap().contains(&json!("year")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_edit_changes_every_book_or_none() {
    let app = spawn_app().await;
    let books = scanned(&app, &["Alpha", "Beta", "Gamma"]).await;
    let ids: Vec<&str> = books.iter().map(|b| b["id"].as_str().unwrap()).collect();

    let (code, r) = patch(
        &app,
        "/api/v1/books",
        json!({ "ids": [ids[0], ids[1]], "series": "The Letters", "narrators": ["Ann Reader"] }),
    )
    .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["books"].as_array().unwrap().len(), 2);
    for b in r["books"].as_array().unwrap() {
        assert_eq!(b["series"], "The Letters");
        assert_eq!(b["narrator"], "Ann Reader");
        assert_eq!(b["provenance"]["series"], "user");
    }
    let (_, gamma) = app.get(&format!("/api/v1/books/{}", ids[2])).await;
    assert!(gamma.get("series").is_none(), "{gamma}");

    // One unknown id: nothing changes anywhere.
    let (code, r) = patch(
        &app,
        "/api/v1/books",
        json!({ "ids": [ids[2], "01NOSUCHBOOK0000000000000"], "series": "Other" }),
    )
    .await;
    assert_eq!(code, 404, "{r}");
    assert!(r["error"].as_str().unwrap().contains("01NOSUCHBOOK"));
    let (_, gamma) = app.get(&format!("/api/v1/books/{}", ids[2])).await;
    assert!(gamma.get("series").is_none(), "{gamma}");
    let (_, edits) = app.get(&format!("/api/v1/books/{}/edits", ids[2])).await;
    assert_eq!(edits["edits"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_edits_are_refused_with_a_reason_and_change_nothing() {
    let app = spawn_app().await;
    let books = scanned(&app, &["Solo"]).await;
    let id = books[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/books/{id}");
    for (body, says) in [
        (json!({}), "nothing to change"),
        (json!({ "owner": "me" }), "owner"),
        (json!({ "title": "" }), "title"),
        (json!({ "title": "bad\u{7}bell" }), "control"),
        (json!({ "isbn": "9780441172718" }), "ISBN"),
        (json!({ "year": "nineteen" }), "year"),
        (json!({ "authors": "One Name" }), "list"),
        (json!({ "unlock": ["owner"] }), "unlock"),
        (json!(["title"]), ""),
        (json!({ "description": "x".repeat(20_001) }), "20000"),
    ] {
        let (code, r) = patch(&app, &path, body.clone()).await;
        assert_eq!(code, 400, "{body}: {r}");
        assert!(r["error"].as_str().unwrap().contains(says), "{body}: {r}");
    }
    for (body, code_wanted) in [
        (json!({ "series": "S" }), 404),
        (json!({ "ids": [], "series": "S" }), 400),
        (json!({ "ids": "x", "series": "S" }), 400),
    ] {
        let p = if body.get("ids").is_some() {
            "/api/v1/books".to_string()
        } else {
            "/api/v1/books/01NOSUCHBOOK0000000000000".to_string()
        };
        let (code, r) = patch(&app, &p, body.clone()).await;
        assert_eq!(code, code_wanted, "{body}: {r}");
        assert!(r["error"].is_string(), "{r}");
    }
    let (code, r) = app.delete(&format!("{path}/locks/owner")).await;
    assert_eq!(code, 400, "{r}");
    let (_, after) = app.get(&path).await;
    assert_eq!(after, books[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_a_key_is_recorded_under_the_keys_label() {
    let app = spawn_app_auth(AuthMode::Key).await;
    let books = scanned(&app, &["Keyed"]).await;
    let id = books[0]["id"].as_str().unwrap();
    let (code, _) = patch(
        &app,
        &format!("/api/v1/books/{id}"),
        json!({ "publisher": "Tor" }),
    )
    .await;
    assert_eq!(code, 200);
    let (_, edits) = app.get(&format!("/api/v1/books/{id}/edits")).await;
    assert_eq!(edits["edits"][0]["by"], "api-key", "{edits}");
}
