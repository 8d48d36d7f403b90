//! Watched import folders: a change is scanned after the quiet time, only
//! the folders that changed; several changes make one scan; a scan that
//! found new books is followed by an organize when configured; a folder
//! set to poll is rescanned on its interval. Each trigger is an event and
//! a metric.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestDir, mp3, tagged};
use crate::server_helpers::{SseClient, TestApp, metric, spawn_app_opts, test_config, titles};
use audiobook_organizer::engine::StartOptions;

async fn app(auto_organize: bool) -> TestApp {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.watch.debounce = Duration::from_millis(400);
    c.features.watch.poll_interval = Duration::from_millis(1500);
    c.features.watch.auto_organize = auto_organize;
    spawn_app_opts(dir, c, StartOptions::default()).await
}

async fn watch_mode(app: &TestApp) -> Value {
    for _ in 0..100 {
        let (_, list) = app.get("/api/v1/import-paths").await;
        let mode = list["import_paths"][0]["watch_mode"].clone();
        if mode["mode"] != "off" {
            return mode;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the folder is never watched");
}

/// Adds the test's import folder with `watch` set to `mode`: the answer.
async fn watch_imports(app: &TestApp, mode: &str) -> Value {
    let (code, p) = app
        .post(
            "/api/v1/import-paths",
            json!({ "path": app.dir.imports(), "watch": mode }),
        )
        .await;
    assert_eq!(code, 201, "{p}");
    p
}

async fn triggered(sse: &mut SseClient) -> Value {
    sse.next_of(&["watch.triggered"], Duration::from_secs(20))
        .await
        .expect("a watch trigger")
        .data["data"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_a_watched_folder_scans_just_that_folder_after_the_quiet_time() {
    let app = app(false).await;
    let imports = app.dir.imports();
    std::fs::create_dir_all(&imports).unwrap();
    app.dir.write(
        "Old Author/Old Book/01.mp3",
        &mp3(&tagged("Old Book", "Old Author"), 0.5, 1),
    );
    let p = watch_imports(&app, "auto").await;
    assert_eq!(p["watch"], "auto");
    assert_eq!(watch_mode(&app).await, json!({ "mode": "notify" }));
    let mut sse = app.sse("?types=watch.triggered", None).await;

    // Two books arrive a moment apart: one scan, after the quiet time,
    // of the two folders that changed.
    app.dir.write(
        "Ann Leckie/Ancillary Justice/01.mp3",
        &mp3(&tagged("Ancillary Justice", "Ann Leckie"), 0.5, 2),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.dir.write(
        "Becky Chambers/Closed and Common Orbit/01.mp3",
        &mp3(
            &tagged("A Closed and Common Orbit", "Becky Chambers"),
            0.5,
            3,
        ),
    );
    let t = triggered(&mut sse).await;
    assert_eq!(t["mode"], "notify");
    let canon = std::fs::canonicalize(&imports).unwrap();
    assert_eq!(
        t["folders"],
        json!([canon.join("Ann Leckie"), canon.join("Becky Chambers")]),
        "{t}"
    );
    let op = app.wait_op(t["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    assert_eq!(op["params"]["within"].as_array().unwrap().len(), 2);
    assert!(
        op["message"].as_str().unwrap().contains(": 2 new book(s)"),
        "{op}"
    );
    // The books are named from the import folder (author from the path).
    let (_, page) = app.get("/api/v1/books?sort=title").await;
    assert_eq!(
        titles(&page),
        ["A Closed and Common Orbit", "Ancillary Justice"]
    );
    // Nothing more without changes; the one trigger counted.
    assert!(
        sse.next_of(&["watch.triggered"], Duration::from_millis(1200))
            .await
            .is_none()
    );
    assert_eq!(
        metric(
            &app.metrics_text().await,
            "audiobook_organizer_watch_triggers_total{mode=\"notify\"}"
        ),
        Some(1.0)
    );

    // Turned off: changes are left for the next scan.
    let id = p["id"].as_str().unwrap();
    let (code, _) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/import-paths/{id}"),
            Some(json!({ "watch": "off" })),
        )
        .await;
    assert_eq!(code, 200);
    for _ in 0..100 {
        let (_, list) = app.get("/api/v1/import-paths").await;
        if list["import_paths"][0]["watch_mode"]["mode"] == "off" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.dir.write(
        "Late/Late Book/01.mp3",
        &mp3(&tagged("Late Book", "Late"), 0.5, 4),
    );
    assert!(
        sse.next_of(&["watch.triggered"], Duration::from_millis(1500))
            .await
            .is_none()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_folder_is_rescanned_and_new_books_are_organized_when_configured() {
    let app = app(true).await;
    let imports = app.dir.imports();
    std::fs::create_dir_all(&imports).unwrap();
    watch_imports(&app, "poll").await;
    assert_eq!(
        watch_mode(&app).await,
        json!({ "mode": "poll", "reason": "set to poll" })
    );
    let mut sse = app.sse("?types=watch.triggered,watch.organize", None).await;
    app.dir.write(
        "N. K. Jemisin/The Fifth Season/01.mp3",
        &mp3(&tagged("The Fifth Season", "N. K. Jemisin"), 0.5, 5),
    );
    // A poll finds it; the organize follows the scan that added it.
    let organize = loop {
        let m = sse
            .next_of(
                &["watch.triggered", "watch.organize"],
                Duration::from_secs(20),
            )
            .await
            .expect("a poll and an organize");
        if m.data["type"] == "watch.triggered" {
            assert_eq!(m.data["data"]["mode"], "poll");
            assert_eq!(m.data["data"]["folders"], json!([]));
            continue;
        }
        break m.data["data"].clone();
    };
    let op = app
        .wait_op(organize["operation_id"].as_str().unwrap())
        .await;
    assert_eq!(op["status"], "completed", "{op}");
    assert!(
        op["message"]
            .as_str()
            .unwrap()
            .starts_with("organized 1 book(s)"),
        "{op}"
    );
    let (_, page) = app.get("/api/v1/books").await;
    assert_eq!(page["books"][0]["status"], "organized");
    assert!(
        metric(
            &app.metrics_text().await,
            "audiobook_organizer_watch_triggers_total{mode=\"poll\"}"
        )
        .unwrap()
            >= 1.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_out_of_a_watched_folder_is_never_scanned_as_a_folder() {
    let app = app(false).await;
    let imports = app.dir.imports();
    std::fs::create_dir_all(&imports).unwrap();
    // A book outside the import folder, and a torrent's link to it.
    let outside = app.dir.path().join("outside/Secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("01.mp3"),
        mp3(&tagged("Not Yours", "Someone Else"), 0.5, 7),
    )
    .unwrap();
    watch_imports(&app, "auto").await;
    assert_eq!(watch_mode(&app).await, json!({ "mode": "notify" }));
    let mut sse = app.sse("?types=watch.triggered", None).await;
    std::os::unix::fs::symlink(app.dir.path().join("outside"), imports.join("Linked")).unwrap();
    app.dir.write(
        "Real/Book/01.mp3",
        &mp3(&tagged("Real Book", "Real Author"), 0.5, 8),
    );
    // The import folder is scanned whole (under the symlink policy), not
    // the link as a folder of its own.
    let t = triggered(&mut sse).await;
    assert_eq!(t["folders"], json!([]), "{t}");
    let op = app.wait_op(t["operation_id"].as_str().unwrap()).await;
    assert_eq!(op["status"], "completed", "{op}");
    let (_, page) = app.get("/api/v1/books").await;
    assert_eq!(titles(&page), ["Real Book"], "{page}");
    app.stop().await;
}
