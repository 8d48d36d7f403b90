//! `metadata_fetch` against a local fake of Open Library that answers,
//! fails or hangs on demand; the circuit breaker opens after five
//! consecutive failures and closes again after a successful probe.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{TestDir, mp3, tagged};
use audiobook_organizer::clock::ManualClock;
use audiobook_organizer::engine::StartOptions;

use crate::server_helpers::{TestApp, metric, spawn_app_with_options, test_config};

const ANSWER: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

#[derive(Clone, Default)]
struct Fake {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

async fn search(
    State(f): State<Fake>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    f.calls.fetch_add(1, Ordering::SeqCst);
    match f.mode.load(Ordering::SeqCst) {
        FAIL => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        _ => {
            let title = q.get("title").cloned().unwrap_or_default();
            axum::Json(json!({
                "numFound": 1,
                "docs": [{
                    "key": "/works/OL1W",
                    "title": title,
                    "first_publish_year": 1999,
                    "isbn": ["0123456789", "9780123456786"],
                    "cover_i": 42
                }]
            }))
            .into_response()
        }
    }
}

async fn work(State(f): State<Fake>) -> Response {
    f.calls.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({ "description": { "type": "/type/text", "value": "A fine book." } }))
        .into_response()
}

async fn fake_server() -> (String, Fake) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/search.json", get(search))
        .route("/works/OL1W.json", get(work))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

async fn run(app: &TestApp, body: Value) -> Value {
    let (code, r) = app.post("/api/v1/operations/metadata", body).await;
    assert_eq!(code, 202, "{r}");
    app.wait_op(r["operation_id"].as_str().unwrap()).await
}

async fn status_breaker(app: &TestApp) -> String {
    let m = app
        .sse("?types=system.status", None)
        .await
        .next_of(&["system.status"], Duration::from_secs(5))
        .await
        .expect("system.status");
    m.data["data"]["circuit_breakers"]["openlibrary"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn breaker_metric(app: &TestApp) -> Option<f64> {
    metric(
        &app.metrics_text().await,
        "audiobook_organizer_circuit_breaker_state{source=\"openlibrary\"}",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_fills_missing_fields_and_the_breaker_opens_and_recovers() {
    let (base, fake) = fake_server().await;
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.metadata.base_url = base.clone();
    c.features.metadata.covers_url = format!("{base}/covers");
    c.features.metadata.timeout = Duration::from_millis(300);
    c.features.metadata.open_for = Duration::from_secs(600);
    // The open period passes by the engine's clock: moved, not waited for.
    let clock = Arc::new(ManualClock::new(
        time::OffsetDateTime::now_utc(),
        time::UtcOffset::UTC,
    ));
    let opts = StartOptions {
        clock: clock.clone(),
        ..StartOptions::default()
    };
    let app = spawn_app_with_options(dir, c, opts).await;
    for i in 0..3 {
        let t = format!("Title {i}");
        app.dir.write(
            &format!("{t}/{t}.mp3"),
            &mp3(&tagged(&t, "Some Author"), 2.0, i + 1),
        );
    }
    let imports = app.dir.imports();
    app.post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    let (code, r) = app.post("/api/v1/operations/scan", json!({})).await;
    assert_eq!(code, 202);
    app.wait_op(r["operation_id"].as_str().unwrap()).await;

    let mut sse = app.sse("?types=circuit_breaker.state", None).await;

    // Failing: three failures, the circuit stays closed.
    fake.mode.store(FAIL, Ordering::SeqCst);
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "completed", "{op}");
    assert!(op["message"].as_str().unwrap().contains("3 failed"), "{op}");
    assert_eq!(breaker_metric(&app).await, Some(0.0));
    assert_eq!(status_breaker(&app).await, "closed");

    // Hanging: two timeouts make five consecutive failures; the circuit
    // opens and the third book is not asked.
    fake.mode.store(HANG, Ordering::SeqCst);
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "failed", "{op}");
    assert!(
        op["error_message"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{op}"
    );
    let ev = sse
        .next_of(&["circuit_breaker.state"], Duration::from_secs(5))
        .await
        .expect("circuit_breaker.state");
    assert_eq!(ev.data["data"]["source"], "openlibrary");
    assert_eq!(ev.data["data"]["state"], "open");
    assert_eq!(breaker_metric(&app).await, Some(1.0));
    assert_eq!(status_breaker(&app).await, "open");

    // While open, nothing reaches the source.
    let calls = fake.calls.load(Ordering::SeqCst);
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "failed");
    assert_eq!(fake.calls.load(Ordering::SeqCst), calls);

    // Recovered: after the open period a probe goes through, the circuit
    // closes, and every book gets its missing fields.
    fake.mode.store(ANSWER, Ordering::SeqCst);
    clock.advance(time::Duration::seconds(599));
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "failed", "still open a second before: {op}");
    assert_eq!(fake.calls.load(Ordering::SeqCst), calls);
    clock.advance(time::Duration::seconds(1));
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "completed", "{op}");
    let mut states = Vec::new();
    while let Some(ev) = sse
        .next_of(&["circuit_breaker.state"], Duration::from_millis(500))
        .await
    {
        states.push(ev.data["data"]["state"].as_str().unwrap().to_string());
    }
    assert_eq!(states, ["half_open", "closed"]);
    assert_eq!(breaker_metric(&app).await, Some(0.0));
    let (_, books) = app.get("/api/v1/books").await;
    for b in books["books"].as_array().unwrap() {
        assert_eq!(b["isbn"], "9780123456786", "{b}");
        assert_eq!(b["description"], "A fine book.");
        assert_eq!(b["cover_url"], format!("{base}/covers/b/id/42-L.jpg"));
        assert_eq!(b["year"], 1999);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_fills_only_what_no_user_locked_and_says_where_it_came_from() {
    let (base, _fake) = fake_server().await;
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.features.metadata.base_url = base.clone();
    c.features.metadata.covers_url = format!("{base}/covers");
    let app = spawn_app_with_options(dir, c, StartOptions::default()).await;
    app.dir.write(
        "Mine/Mine.mp3",
        &mp3(&tagged("Mine", "Some Author"), 1.0, 7),
    );
    let imports = app.dir.imports();
    app.post("/api/v1/import-paths", json!({ "path": imports }))
        .await;
    let (_, r) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(r["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books").await;
    let id = page["books"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/books/{id}");
    // The user cleared the year and wrote the description.
    let (code, _) = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(json!({ "year": null, "description": "My own words." })),
        )
        .await;
    assert_eq!(code, 200);
    let op = run(&app, json!({})).await;
    assert_eq!(op["status"], "completed", "{op}");
    let (_, b) = app.get(&path).await;
    assert_eq!(b["isbn"], "9780123456786", "{b}");
    assert_eq!(b["provenance"]["isbn"], "source:openlibrary");
    assert!(
        b.get("year").is_none(),
        "a locked empty year stays empty: {b}"
    );
    assert_eq!(b["description"], "My own words.");
    assert_eq!(b["provenance"]["description"], "user");
    // Unlocked, the next lookup fills it.
    let (code, _) = app.delete(&format!("{path}/locks/year")).await;
    assert_eq!(code, 200);
    let op = run(&app, json!({ "book_ids": [id] })).await;
    assert_eq!(op["status"], "completed", "{op}");
    let (_, b) = app.get(&path).await;
    assert_eq!(b["year"], 1999, "{b}");
    assert_eq!(b["provenance"]["year"], "source:openlibrary");
    assert_eq!(b["description"], "My own words.");
}
