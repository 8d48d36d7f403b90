//! Backups of the store: taken while the server writes, listed, counted in
//! the metrics; restored by the CLI after checking them; a damaged one is
//! refused and changes nothing.

use std::path::Path;

use serde_json::json;

use crate::helpers::{TestDir, binary, mp3, tagged};
use crate::server_helpers::{metric, spawn_app};

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = binary().current_dir(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_scan_restores_to_a_consistent_store() {
    let app = spawn_app().await;
    for i in 0..300u64 {
        let t = format!("Title {i:03}");
        app.dir.write(
            &format!("{t}/{t}.mp3"),
            &mp3(&tagged(&t, "An Author"), 0.3, i + 1),
        );
    }
    let imports = app.dir.imports();
    app.post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    // The backup runs while the scan writes books.
    let (_, scan) = app.post("/api/v1/operations/scan", json!({})).await;
    let (code, b) = app.post("/api/v1/backups", json!({})).await;
    assert_eq!(code, 202, "{b}");
    let done = app.wait_op(b["operation_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .starts_with("backed up to ")
    );
    app.wait_op(scan["operation_id"].as_str().unwrap()).await;
    // A second one after the scan, with an edit in it.
    let (_, page) = app.get("/api/v1/books?sort=title&limit=1").await;
    let id = page["books"][0]["id"].as_str().unwrap().to_string();
    let (code, _) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/books/{id}"),
            Some(json!({ "title": "Edited Before The Backup" })),
        )
        .await;
    assert_eq!(code, 200);
    let (_, b) = app.post("/api/v1/backups", json!({})).await;
    let done = app.wait_op(b["operation_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");

    let (code, list) = app.get("/api/v1/backups").await;
    assert_eq!(code, 200);
    let backups = list["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{list}");
    assert_eq!(backups[0]["sha256"].as_str().unwrap().len(), 64);
    let text = app.metrics_text().await;
    assert_eq!(
        metric(&text, "audiobook_organizer_backups_total{outcome=\"ok\"}"),
        Some(2.0)
    );
    let last = metric(
        &text,
        "audiobook_organizer_backup_last_success_timestamp_seconds",
    )
    .unwrap();
    assert!(last > 1.7e9, "{last}");
    assert_eq!(
        metric(&text, "audiobook_organizer_backup_last_size_bytes"),
        backups[0]["bytes"].as_f64()
    );

    // Each restores into a store whose counters agree with its records.
    let work = TestDir::new();
    for (i, b) in backups.iter().enumerate() {
        let store = work.path().join(format!("restored{i}.redb"));
        let file = b["path"].as_str().unwrap();
        let (ok, out, err) = run(
            work.path(),
            &["--db", store.to_str().unwrap(), "restore", file],
        );
        assert!(ok, "{out}{err}");
        assert!(out.contains("restored "), "{out}");
        let s = audiobook_organizer::store::RedbStore::open(&store).unwrap();
        use audiobook_organizer::store::Store;
        let mut records = 0u64;
        let mut after: Option<String> = None;
        let mut edited = false;
        loop {
            let page = s.list_books(after.as_deref(), 100).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            records += page.iter().filter(|b| b.is_live()).count() as u64;
            edited |= page.iter().any(|b| b.title == "Edited Before The Backup");
        }
        assert_eq!(s.count_books().unwrap(), records, "backup {i}");
        if i == 0 {
            // The newest: after the scan and the edit.
            assert_eq!(records, 300);
            assert!(edited);
        }
    }
    app.stop().await;
}

#[test]
fn the_cli_backs_up_and_restores_and_refuses_a_damaged_backup() {
    let t = TestDir::new();
    for i in 0..3u64 {
        let title = format!("Book {i}");
        t.write(
            &format!("{title}/{title}.mp3"),
            &mp3(&tagged(&title, "Someone"), 0.5, i + 1),
        );
    }
    let dir = t.path();
    let imports = t.imports();
    let (ok, _, err) = run(dir, &["scan", imports.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(dir, &["backup", "--json"]);
    assert!(ok, "{err}");
    let op: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(op["type"], "backup");
    assert_eq!(op["status"], "completed");
    let (ok, out, _) = run(dir, &["backup", "--list", "--json"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let file = list[0]["path"].as_str().unwrap().to_string();
    assert!(
        file.starts_with(dir.join("data/backups").to_str().unwrap()),
        "{file}"
    );

    // The store changes after the backup: a fourth book.
    t.write(
        "Book 3/Book 3.mp3",
        &mp3(&tagged("Book 3", "Someone"), 0.5, 9),
    );
    let (ok, _, err) = run(dir, &["scan", imports.to_str().unwrap()]);
    assert!(ok, "{err}");
    let store = dir.join("data/audiobook-organizer.redb");
    let before = std::fs::read(&store).unwrap();
    let books_in = |p: &Path| {
        use audiobook_organizer::store::Store;
        audiobook_organizer::store::RedbStore::open(p)
            .unwrap()
            .count_books()
            .unwrap()
    };

    // Damaged in the middle: refused with the reason, nothing replaced.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let damaged = dir.join("damaged.aobackup");
    std::fs::write(&damaged, &bytes).unwrap();
    let (ok, _, err) = run(dir, &["restore", damaged.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("is damaged") && err.contains("nothing was replaced"),
        "{err}"
    );
    assert_eq!(std::fs::read(&store).unwrap(), before);
    // Not a backup at all.
    let (ok, _, err) = run(dir, &["restore", store.to_str().unwrap()]);
    assert!(!ok && err.contains("not a backup"), "{err}");

    // The good one: three books again, the replaced store kept aside.
    let (ok, out, err) = run(dir, &["restore", &file]);
    assert!(ok, "{err}");
    assert!(
        out.contains("3 book(s)") && out.contains("kept at"),
        "{out}"
    );
    let (ok, out, _) = run(dir, &["books", "list", "--json"]);
    assert!(ok);
    let books: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(books["books"].as_array().map(Vec::len), Some(3), "{out}");
    let kept: Vec<_> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        books_in(&kept[0].path()),
        4,
        "the replaced store, kept whole"
    );
}
