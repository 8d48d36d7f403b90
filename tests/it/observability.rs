//! The observability features through the HTTP API and the event stream on
//! a real server with a real store and real files: retention, timing, slow
//! and stalled operations, growth, integrity, health pings, error
//! aggregation, aging and utilization. Time moves by a manual clock or by
//! short configured intervals.

use std::sync::Arc;
use std::time::Duration;

use audiobook_organizer::clock::ManualClock;
use audiobook_organizer::config::Config;
use audiobook_organizer::engine::StartOptions;
use serde_json::{Value, json};
use time::macros::{datetime, offset};

use crate::helpers::{TestDir, mp3, tagged};
use crate::server_helpers::{TestApp, metric, spawn_app_opts, test_config};

fn clock_at(t: time::OffsetDateTime) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t, offset!(+0)))
}

async fn app(dir: TestDir, c: Config, clock: Option<Arc<ManualClock>>) -> TestApp {
    let mut opts = StartOptions::default();
    if let Some(clock) = clock {
        opts.clock = clock;
    }
    spawn_app_opts(dir, c, opts).await
}

/// `n` small tagged MP3 books under imports/, registered as an import path.
async fn with_books(app: &TestApp, n: usize) {
    for i in 0..n {
        let title = format!("Book {i:02}");
        app.dir.write(
            &format!("Author {i}/{title}/{title}.mp3"),
            &mp3(&tagged(&title, &format!("Author {i}")), 2.0, i as u64 + 1),
        );
    }
    let imports = app.dir.imports();
    let (code, body) = app
        .post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    assert_eq!(code, 201, "{body}");
}

async fn run(app: &TestApp, path: &str, body: Value) -> Value {
    let (code, r) = app.post(path, body).await;
    assert_eq!(code, 202, "{r}");
    let id = r["operation_id"].as_str().unwrap().to_string();
    app.wait_op(&id).await
}

async fn metrics(app: &TestApp) -> String {
    app.metrics_text().await
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_logs_then_old_operation_records() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.retention_interval = Duration::from_millis(50);
    // Small steps: the deletion takes several transactions.
    c.features.retention_batch = 2;
    let clock = clock_at(time::OffsetDateTime::now_utc());
    let app = app(dir, c, Some(clock.clone())).await;
    with_books(&app, 3).await;
    let op = run(&app, "/api/v1/operations/scan", json!({})).await;
    let id = op["id"].as_str().unwrap().to_string();
    let (_, logs) = app.get(&format!("/api/v1/operations/{id}/logs")).await;
    let lines = logs["total"].as_u64().unwrap();
    assert!(lines >= 3, "{logs}");

    // Six days later nothing is due.
    clock.advance(time::Duration::days(6));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, logs) = app.get(&format!("/api/v1/operations/{id}/logs")).await;
    assert_eq!(logs["total"].as_u64(), Some(lines));

    // Past seven days the lines go, the record stays.
    let mut sse = app.sse("?types=retention.completed", None).await;
    clock.advance(time::Duration::days(2));
    eventually("the logs to be deleted", || async {
        let (_, logs) = app.get(&format!("/api/v1/operations/{id}/logs")).await;
        logs["total"] == 0 && logs["logs"].as_array().is_some_and(|l| l.is_empty())
    })
    .await;
    let (code, rec) = app.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(rec["status"], "completed");
    let ev = sse
        .next_of(&["retention.completed"], Duration::from_secs(5))
        .await
        .expect("retention.completed");
    assert_eq!(ev.data["data"]["lines_deleted"], lines);
    assert_eq!(ev.data["data"]["operations_deleted"], 0);
    let m = metrics(&app).await;
    assert_eq!(
        metric(&m, "audiobook_organizer_retention_log_lines_deleted_total"),
        Some(lines as f64)
    );

    // Past ninety days the record goes too.
    clock.advance(time::Duration::days(90));
    eventually("the operation record to be deleted", || async {
        app.get(&format!("/api/v1/operations/{id}")).await.0 == 404
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_operations_carry_timing_and_a_summary() {
    let dir = TestDir::new();
    let c = test_config(&dir);
    let app = app(dir, c, None).await;
    with_books(&app, 4).await;
    let mut sse = app.sse("?types=operation.status", None).await;
    let asked = std::time::Instant::now();
    let op = run(&app, "/api/v1/operations/scan", json!({})).await;
    let waited = asked.elapsed().as_secs_f64();
    let t = &op["timing"];
    // The final status event carries the same timing.
    loop {
        let ev = sse
            .next_of(&["operation.status"], Duration::from_secs(5))
            .await
            .expect("operation.status");
        if ev.data["data"]["status"] == "completed" {
            assert_eq!(&ev.data["data"]["timing"], t);
            break;
        }
    }
    assert_eq!(t["files"], 4, "{op}");
    assert!(t["bytes"].as_u64().unwrap() > 1000, "{op}");
    assert!(t["wall_seconds"].as_f64().unwrap() > 0.0);
    // Both lie within the time the test waited for the operation.
    let queue_wait = t["queue_wait_seconds"].as_f64().unwrap();
    assert!(
        queue_wait + t["wall_seconds"].as_f64().unwrap() <= waited,
        "{t}"
    );
    assert!(t["files_per_second"].as_f64().unwrap() > 0.0);
    assert!(t["mb_per_second"].as_f64().unwrap() > 0.0);
    let id = op["id"].as_str().unwrap();
    let (code, s) = app.get(&format!("/api/v1/operations/{id}/summary")).await;
    assert_eq!(code, 200);
    assert_eq!(s["finished"], true);
    assert_eq!(s["type"], "scan");
    assert_eq!(s["files"], 4);
    assert_eq!(s["bytes"], t["bytes"]);
    assert!(s["log_lines"].as_u64().unwrap() > 0);
    let (code, e) = app.get("/api/v1/operations/NOPE/summary").await;
    assert_eq!(code, 404);
    assert!(e["error"].is_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_operations_are_reported() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.watch_interval = Duration::from_millis(20);
    c.features
        .slow_after
        .insert("integrity_check".into(), Duration::from_millis(150));
    c.features.stall_after = Duration::from_millis(400);
    // A throttled check: each small file takes about a second.
    c.features.integrity_max_read_mb_s = 0.01;
    let app = app(dir, c, None).await;
    with_books(&app, 3).await;
    run(&app, "/api/v1/operations/scan", json!({})).await;
    let mut sse = app
        .sse("?types=operation.slow,operation.stalled", None)
        .await;
    let (code, r) = app.post("/api/v1/integrity/check", json!({})).await;
    assert_eq!(code, 202, "{r}");
    let id = r["operation_id"].as_str().unwrap().to_string();
    let slow = sse
        .next_of(&["operation.slow"], Duration::from_secs(10))
        .await
        .expect("operation.slow");
    assert_eq!(slow.data["data"]["operation_id"], id.as_str());
    assert_eq!(slow.data["data"]["type"], "integrity_check");
    let stalled = sse
        .next_of(&["operation.stalled"], Duration::from_secs(10))
        .await
        .expect("operation.stalled");
    assert_eq!(stalled.data["data"]["operation_id"], id.as_str());
    assert!(stalled.data["data"]["idle_seconds"].as_f64().unwrap() >= 0.4);
    let m = metrics(&app).await;
    assert_eq!(
        metric(
            &m,
            "audiobook_organizer_operations_slow_total{type=\"integrity_check\"}"
        ),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "audiobook_organizer_operations_stalled_total{type=\"integrity_check\"}"
        )
        .unwrap()
            >= 1.0
    );
    let (_, logs) = app
        .get(&format!("/api/v1/operations/{id}/logs?level=warn"))
        .await;
    let text = logs.to_string();
    assert!(text.contains("slow: running for"), "{text}");
    assert!(text.contains("stalled: no progress"), "{text}");
    let (code, _) = app.delete(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(app.wait_op(&id).await["status"], "canceled");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_growth_snapshot_per_day_the_server_ran() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.growth_check = Duration::from_millis(30);
    let clock = clock_at(datetime!(2026-11-28 10:00 UTC));
    let app = app(dir, c, Some(clock.clone())).await;
    let snaps = |v: &Value| v["snapshots"].as_array().unwrap().clone();
    eventually("the start-up snapshot", || async {
        snaps(&app.get("/api/v1/stats/growth?days=30").await.1).len() == 1
    })
    .await;
    let (_, g) = app.get("/api/v1/stats/growth?days=30").await;
    assert_eq!(g["snapshots"][0]["date"], "2026-11-28");
    assert_eq!(g["snapshots"][0]["books"], 0);

    with_books(&app, 3).await;
    run(&app, "/api/v1/operations/scan", json!({})).await;
    let mut sse = app.sse("?types=growth.snapshot", None).await;
    // Just after local midnight: the new day's snapshot.
    clock.set(datetime!(2026-11-29 00:00:05 UTC));
    let ev = sse
        .next_of(&["growth.snapshot"], Duration::from_secs(5))
        .await
        .expect("growth.snapshot");
    assert_eq!(ev.data["data"]["date"], "2026-11-29");
    assert_eq!(ev.data["data"]["books"], 3);
    eventually("the second day's snapshot", || async {
        snaps(&app.get("/api/v1/stats/growth?days=30").await.1).len() == 2
    })
    .await;
    let (_, g) = app.get("/api/v1/stats/growth?days=30").await;
    let day2 = &g["snapshots"][1];
    assert_eq!(day2["date"], "2026-11-29");
    assert_eq!(day2["books"], 3);
    assert!(day2["total_bytes"].as_u64().unwrap() > 1000);
    assert_eq!(day2["formats"]["mp3"], 3);
    assert_eq!(g["current"]["books"], 3);

    // Four days without a server run leave no snapshots behind.
    clock.set(datetime!(2026-12-03 09:00 UTC));
    eventually("the next day's snapshot", || async {
        snaps(&app.get("/api/v1/stats/growth?days=30").await.1).len() == 3
    })
    .await;
    let (_, g) = app.get("/api/v1/stats/growth?days=30").await;
    let dates: Vec<&str> = g["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-11-28", "2026-11-29", "2026-12-03"]);
    let (_, g) = app.get("/api/v1/stats/growth?days=4").await;
    assert_eq!(snaps(&g).len(), 1, "{g}");
    for bad in ["0", "abc", "99999"] {
        let (code, e) = app.get(&format!("/api/v1/stats/growth?days={bad}")).await;
        assert_eq!(code, 400, "{bad}: {e}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_check_finds_corrupt_and_missing_files_everywhere() {
    let dir = TestDir::new();
    let c = test_config(&dir);
    let app = app(dir, c, None).await;
    with_books(&app, 4).await;
    run(&app, "/api/v1/operations/scan", json!({})).await;
    let org = run(
        &app,
        "/api/v1/operations/organize",
        json!({"strategy": "copy"}),
    )
    .await;
    assert_eq!(org["status"], "completed", "{org}");
    let (_, books) = app.get("/api/v1/books?limit=10").await;
    let organized = |title: &str| -> (String, String) {
        let b = books["books"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["title"] == title)
            .unwrap();
        (
            b["id"].as_str().unwrap().to_string(),
            b["files"][0]["organized_path"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let (corrupt_id, corrupt_path) = organized("Book 01");
    let (gone_id, gone_path) = organized("Book 02");
    let original = std::fs::read(&corrupt_path).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&corrupt_path, &bytes).unwrap();
    std::fs::remove_file(&gone_path).unwrap();

    let mut sse = app.sse("?types=integrity.mismatch", None).await;
    let (code, r) = app.post("/api/v1/integrity/check", json!({})).await;
    assert_eq!(code, 202);
    assert_eq!(r["message"], "integrity check enqueued");
    let id = r["operation_id"].as_str().unwrap().to_string();
    let op = app.wait_op(&id).await;
    assert_eq!(op["status"], "completed", "{op}");
    assert_eq!(op["type"], "integrity_check");
    assert_eq!(op["priority"], "low");
    assert_eq!(op["total"], 4, "the total is the book count");

    let mut seen = Vec::new();
    for _ in 0..2 {
        let ev = sse
            .next_of(&["integrity.mismatch"], Duration::from_secs(5))
            .await
            .expect("integrity.mismatch");
        seen.push((
            ev.data["data"]["book_id"].as_str().unwrap().to_string(),
            ev.data["data"]["kind"].as_str().unwrap().to_string(),
        ));
    }
    seen.sort();
    let mut want = vec![
        (corrupt_id.clone(), "mismatch".to_string()),
        (gone_id.clone(), "missing".to_string()),
    ];
    want.sort();
    assert_eq!(seen, want);

    let (code, page) = app.get("/api/v1/integrity/mismatches").await;
    assert_eq!(code, 200);
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["by_kind"]["mismatch"], 1);
    assert_eq!(page["by_kind"]["missing"], 1);
    let m = page["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["book_id"] == corrupt_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(m["file_path"], corrupt_path.as_str());
    assert_eq!(m["hash_type"], "organized_file_hash");
    assert_ne!(m["stored_hash"], m["computed_hash"]);
    assert_eq!(m["operation_id"], id.as_str());
    // Paging.
    let (_, p1) = app.get("/api/v1/integrity/mismatches?limit=1").await;
    assert_eq!(p1["mismatches"].as_array().unwrap().len(), 1);
    let next = p1["next_after"].as_str().unwrap();
    let (_, p2) = app
        .get(&format!(
            "/api/v1/integrity/mismatches?limit=1&after={next}"
        ))
        .await;
    assert_eq!(p2["mismatches"].as_array().unwrap().len(), 1);
    assert!(p2.get("next_after").is_none());

    let text = metrics(&app).await;
    assert_eq!(
        metric(
            &text,
            "audiobook_organizer_integrity_findings{kind=\"mismatch\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "audiobook_organizer_integrity_findings{kind=\"missing\"}"
        ),
        Some(1.0)
    );
    assert!(metric(&text, "audiobook_organizer_integrity_files_checked_total").unwrap() >= 4.0);
    let (_, logs) = app
        .get(&format!("/api/v1/operations/{id}/logs?level=warn"))
        .await;
    assert!(logs.to_string().contains("integrity mismatch"), "{logs}");

    // Acknowledge the missing one; fix the corrupt one and check again.
    assert_eq!(
        app.delete(&format!("/api/v1/integrity/mismatches/{gone_id}"))
            .await
            .0,
        204
    );
    assert_eq!(
        app.delete(&format!("/api/v1/integrity/mismatches/{gone_id}"))
            .await
            .0,
        404
    );
    std::fs::write(&corrupt_path, &original).unwrap();
    run(&app, "/api/v1/integrity/check", json!({})).await;
    let (_, page) = app.get("/api/v1/integrity/mismatches").await;
    let left: Vec<(String, String)> = page["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["book_id"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The fixed file is cleared; the still-missing one is found again.
    assert_eq!(left, [(gone_id, "missing".to_string())]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_integrity_check_resumes_where_it_stopped() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.integrity_max_read_mb_s = 0.05;
    c.server.shutdown_grace = Duration::from_millis(100);
    let app = app(dir, c.clone(), None).await;
    with_books(&app, 6).await;
    run(&app, "/api/v1/operations/scan", json!({})).await;
    let (_, r) = app.post("/api/v1/integrity/check", json!({})).await;
    let id = r["operation_id"].as_str().unwrap().to_string();
    eventually("two books checked", || async {
        let (_, op) = app.get(&format!("/api/v1/operations/{id}")).await;
        op["progress"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    let dir = app.stop_and_release().await;

    c.features.integrity_max_read_mb_s = 0.0;
    let app = app_again(dir, c).await;
    let (_, first) = app.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(first["status"], "interrupted", "{first}");
    let op = run(&app, "/api/v1/integrity/check", json!({})).await;
    assert_eq!(op["status"], "completed", "{op}");
    let id2 = op["id"].as_str().unwrap();
    let (_, logs) = app.get(&format!("/api/v1/operations/{id2}/logs")).await;
    let text = logs.to_string();
    assert!(text.contains("resuming an unfinished check"), "{text}");
    // Only what was left was read again.
    assert!(op["timing"]["files"].as_u64().unwrap() < 6, "{op}");
    assert_eq!(op["progress"], 6);
    app.stop().await;
}

async fn app_again(dir: TestDir, c: Config) -> TestApp {
    app(dir, c, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_pings_classify_the_store_and_report_changes() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.health.interval = Duration::from_millis(50);
    // Any latency counts as slow: the first ping must say so.
    c.features.health.read_slow = Duration::ZERO;
    let app = app(dir, c, None).await;
    let mut sse = app.sse("?types=system.health,system.status", None).await;
    let ev = sse
        .next_of(&["system.health"], Duration::from_secs(5))
        .await;
    // The first ping may have run before we subscribed: then replay has it.
    let ev = match ev {
        Some(e) => e,
        None => app
            .sse("?types=system.health&replay=100", None)
            .await
            .next_of(&["system.health"], Duration::from_secs(5))
            .await
            .expect("system.health"),
    };
    assert_eq!(ev.data["data"]["status"], "slow", "{:?}", ev.data);
    let read_ms = ev.data["data"]["read_latency_ms"].as_f64().unwrap();
    assert!((0.0..5_000.0).contains(&read_ms), "{read_ms}");
    assert!(ev.data["data"]["write_latency_ms"].as_f64().unwrap() > 0.0);
    let st = sse
        .next_of(&["system.status"], Duration::from_secs(5))
        .await
        .expect("system.status");
    assert_eq!(st.data["data"]["health"]["status"], "slow");
    let (code, h) = app.get("/api/v1/health").await;
    assert_eq!(code, 200);
    assert_eq!(h["status"], "slow");
    assert_eq!(h["ping"]["status"], "slow");
    let m = metrics(&app).await;
    assert_eq!(
        metric(&m, "audiobook_organizer_store_health_status"),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "audiobook_organizer_store_probe_latency_seconds{op=\"write\"}"
        )
        .unwrap()
            > 0.0
    );
    // Unchanged status: no second event.
    assert!(
        sse.next_of(&["system.health"], Duration::from_millis(400))
            .await
            .is_none()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_errors_are_aggregated_by_fingerprint() {
    let dir = TestDir::new();
    let c = test_config(&dir);
    let app = app(dir, c, None).await;
    // Files that look like audio but are not: each gives a warn line that
    // differs only in its path.
    for i in 0..3 {
        app.dir.write(
            &format!("junk{i}/broken {i}.mp3"),
            b"this is not audio at all",
        );
    }
    with_books(&app, 1).await;
    let op = run(&app, "/api/v1/operations/scan", json!({})).await;
    let id = op["id"].as_str().unwrap();
    let (_, warns) = app
        .get(&format!("/api/v1/operations/{id}/logs?level=warn"))
        .await;
    assert!(warns["logs"].as_array().unwrap().len() >= 3, "{warns}");

    let (code, top) = app.get("/api/v1/errors/top?limit=5").await;
    assert_eq!(code, 200);
    let first = &top["errors"][0];
    assert!(first["count"].as_u64().unwrap() >= 3, "{top}");
    assert_eq!(first["count_since"], first["count"]);
    assert_eq!(first["operation_types"], json!(["scan"]));
    assert!(
        first["pattern"].as_str().unwrap().contains("<path>"),
        "{top}"
    );
    assert!(
        first["last_example"]["message"]
            .as_str()
            .unwrap()
            .contains("broken")
    );
    assert_eq!(first["last_example"]["operation_id"], id);
    assert!(first["first_seen"].is_string() && first["last_seen"].is_string());

    // A second scan of the same junk adds to the same group.
    let before = first["count"].as_u64().unwrap();
    let fp = first["fingerprint"].as_str().unwrap().to_string();
    for i in 3..5 {
        app.dir
            .write(&format!("junk{i}/broken {i}.mp3"), b"still not audio");
    }
    run(&app, "/api/v1/operations/scan", json!({})).await;
    let (_, top) = app.get("/api/v1/errors/top?limit=50").await;
    let same = top["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fingerprint"] == fp.as_str())
        .unwrap();
    assert!(same["count"].as_u64().unwrap() > before, "{top}");

    let (_, later) = app
        .get("/api/v1/errors/top?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(later["errors"], json!([]));
    let (code, _) = app.get("/api/v1/errors/top?since=yesterday").await;
    assert_eq!(code, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aged_low_priority_work_runs_before_fresh_high_priority_work() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.workers = 1;
    c.features.queue_aging = Duration::from_millis(150);
    let app = app(dir, c, None).await;
    with_books(&app, 1).await;
    assert_eq!(app.post("/api/v1/queue/pause", json!({})).await.0, 200);
    let (_, low) = app
        .post("/api/v1/operations/scan", json!({"priority": "low"}))
        .await;
    // Two intervals later the low one counts as high, and it came first.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (_, high) = app
        .post("/api/v1/operations/scan", json!({"priority": "high"}))
        .await;
    let (_, q) = app.get("/api/v1/queue").await;
    assert_eq!(q["depth"]["low"], 1);
    assert_eq!(q["depth"]["high"], 1);
    assert!((q["aging_seconds"].as_f64().unwrap() - 0.15).abs() < 1e-9);
    assert!(q["oldest_wait_seconds"].as_f64().unwrap() >= 0.3);
    assert_eq!(app.post("/api/v1/queue/resume", json!({})).await.0, 200);
    let low = app.wait_op(low["operation_id"].as_str().unwrap()).await;
    let high = app.wait_op(high["operation_id"].as_str().unwrap()).await;
    assert!(
        low["started_at"].as_str().unwrap() < high["started_at"].as_str().unwrap(),
        "low {low} high {high}"
    );

    // Utilization: one worker, busy for part of the last minute.
    let (_, q) = app.get("/api/v1/queue").await;
    let workers = q["utilization"]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    let m1 = q["utilization"]["overall"]["1m"].as_f64().unwrap();
    assert!(m1 > 0.0 && m1 <= 1.0, "{q}");
    assert!(q["utilization"]["overall"]["15m"].as_f64().unwrap() > 0.0);
    let m = metrics(&app).await;
    assert!(
        metric(
            &m,
            "audiobook_organizer_queue_worker_utilization{window=\"1m\"}"
        )
        .unwrap()
            > 0.0
    );
    app.stop().await;
}
