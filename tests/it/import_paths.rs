//! Import folders over the API: exclude patterns set when a folder is
//! added or changed, checked, and honoured by scans.

use serde_json::{Value, json};

use crate::helpers::{mp3, tagged};
use crate::server_helpers::{TestApp, spawn_app, titles};

async fn scan(app: &TestApp) -> String {
    let (code, r) = app.post("/api/v1/operations/scan", json!({})).await;
    assert_eq!(code, 202, "{r}");
    let op = app.wait_op(r["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    op["message"].as_str().unwrap().to_string()
}

async fn all_titles(app: &TestApp) -> Vec<String> {
    let (_, page) = app.get("/api/v1/books?sort=title&limit=100").await;
    titles(&page)
}

async fn patch(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.send(
        reqwest::Method::PATCH,
        &format!("/api/v1/import-paths/{id}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn exclude_patterns_of_an_import_path_leave_out_what_they_match() {
    let app = spawn_app().await;
    let w = |rel: &str, title: &str, seed: u64| {
        app.dir.write(rel, &mp3(&tagged(title, "Anon"), 0.5, seed));
    };
    w("Keep/A/a.mp3", "A", 1);
    w("Incomplete/B/b.mp3", "B", 2);
    w("Keep/Sample Book/c.mp3", "C", 3);
    w("Keep/D/d.mp3", "D", 4);
    w("Keep/D/d-preview.mp3", "D preview", 5);
    w("Keep/E/Incomplete/e.mp3", "E", 6);
    let imports = app.dir.imports();

    // Set when the folder is added.
    let (code, ip) = app
        .post(
            "/api/v1/import-paths",
            json!({ "path": imports, "exclude": ["/Incomplete", "Sample*"] }),
        )
        .await;
    assert_eq!(code, 201, "{ip}");
    assert_eq!(ip["exclude"], json!(["/Incomplete", "Sample*"]));
    let id = ip["id"].as_str().unwrap().to_string();

    // Bad patterns, unknown fields and unknown folders are refused with a
    // JSON error; nothing changes.
    for bad in [
        json!({ "exclude": ["a/../b"] }),
        json!({ "exclude": ["[ab"] }),
    ] {
        let (code, body) = patch(&app, &id, bad).await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("exclude pattern"),
            "{body}"
        );
    }
    let (code, body) = patch(&app, &id, json!({ "excludes": ["x"] })).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = patch(&app, "01HNOSUCHIMPORTPATH0000000", json!({ "exclude": [] })).await;
    assert_eq!(code, 404, "{body}");

    // One more pattern, by name at any depth.
    let (code, ip) = patch(
        &app,
        &id,
        json!({ "exclude": ["/Incomplete", "Sample*", "*-preview.mp3"] }),
    )
    .await;
    assert_eq!(code, 200, "{ip}");
    let (_, list) = app.get("/api/v1/import-paths").await;
    assert_eq!(
        list["import_paths"][0]["exclude"].as_array().unwrap().len(),
        3
    );

    let summary = scan(&app).await;
    assert!(summary.contains("3 path(s) by a pattern"), "{summary}");
    // `/Incomplete` is anchored: Keep/E/Incomplete is scanned.
    assert_eq!(all_titles(&app).await, ["A", "D", "E"]);

    // The patterns removed, the next scan takes everything.
    let (code, ip) = patch(&app, &id, json!({ "exclude": [] })).await;
    assert_eq!(code, 200, "{ip}");
    let summary = scan(&app).await;
    assert!(summary.contains("3 new book(s)"), "{summary}");
    assert_eq!(
        all_titles(&app).await,
        ["A", "B", "C", "D", "D preview", "E"]
    );

    // Turned off, the folder is not scanned at all.
    let (code, ip) = patch(&app, &id, json!({ "enabled": false })).await;
    assert_eq!((code, &ip["enabled"]), (200, &json!(false)), "{ip}");
    let (code, r) = app.post("/api/v1/operations/scan", json!({})).await;
    assert_eq!(code, 202, "{r}");
    let op = app.wait_op(r["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "failed", "{op}");
    app.stop().await;
}
