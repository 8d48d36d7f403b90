//! The API pieces the web dashboard relies on: the embedded page and its
//! assets, paging back through a long log, the system status on demand,
//! acknowledging a recurring error, and a stream resumed from before a
//! restart.

use std::time::Duration;

use audiobook_organizer::sample::finished_operation_with_logs;
use serde_json::json;

use crate::helpers::TestDir;
use crate::server_helpers::{spawn_app_with, test_config};

#[tokio::test]
async fn the_page_and_its_modules_are_served_from_the_binary() {
    let t = TestDir::new();
    let config = test_config(&t);
    let app = spawn_app_with(t, config).await;
    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("/ui/js/main.js"));
    let r = app
        .http
        .get(app.url("/ui/js/main.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let (status, body) = app.get("/ui/js/nope.js").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn logs_page_backwards_with_before() {
    let t = TestDir::new();
    let config = test_config(&t);
    let app = spawn_app_with(t, config).await;
    let ended = time::OffsetDateTime::now_utc();
    app.engine
        .store
        .apply(
            &finished_operation_with_logs("01OLDLOG", ended, 2_500),
            true,
        )
        .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u64> {
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_u64().unwrap())
            .collect()
    };
    let (status, page) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=101&tail=50")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), (51..=100).collect::<Vec<_>>());
    assert_eq!(page["total"], 2500);
    // Default page size, and the start of the log.
    let (_, page) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=2001")
        .await;
    assert_eq!(ids(&page), (1001..=2000).collect::<Vec<_>>());
    let (_, page) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=30&tail=100")
        .await;
    assert_eq!(ids(&page), (1..=29).collect::<Vec<_>>());
    // A `before` far past the end is the end, answered at once.
    let (_, page) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=18446744073709551615&tail=3")
        .await;
    assert_eq!(ids(&page), [2498, 2499, 2500]);
    let (_, page) = app.get("/api/v1/operations/01OLDLOG/logs?before=1").await;
    assert!(ids(&page).is_empty());
    // A level filter that nothing passes ends at the start, not in a loop.
    let (_, page) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=2500&level=error")
        .await;
    assert!(ids(&page).is_empty());
    let (status, body) = app
        .get("/api/v1/operations/01OLDLOG/logs?before=10&after=2")
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("before or after"));
    let (status, _) = app.get("/api/v1/operations/01OLDLOG/logs?before=x").await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn an_acknowledged_error_leaves_the_top_list_until_it_happens_again() {
    let t = TestDir::new();
    t.write("A/One/1.mp3", b"not audio");
    let imports = t.imports();
    let config = test_config(&t);
    let app = spawn_app_with(t, config).await;
    let scan = |app: &crate::server_helpers::TestApp| {
        let body = json!({"paths": [imports.clone()]});
        let app_url = app.url("/api/v1/operations/scan");
        let http = app.http.clone();
        async move {
            let r: serde_json::Value = http
                .post(app_url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["operation_id"].as_str().unwrap().to_string()
        }
    };
    let id = scan(&app).await;
    app.wait_op(&id).await;
    let (_, top) = app.get("/api/v1/errors/top").await;
    assert_eq!(top["errors"].as_array().unwrap().len(), 1, "{top}");
    let fp = top["errors"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = app.delete(&format!("/api/v1/errors/{fp}")).await;
    assert_eq!(status, 204);
    let (_, top) = app.get("/api/v1/errors/top").await;
    assert!(top["errors"].as_array().unwrap().is_empty(), "{top}");
    let (_, top) = app.get("/api/v1/errors/top?acknowledged=true").await;
    assert!(top["errors"][0]["acknowledged_at"].is_string(), "{top}");
    let (status, body) = app.delete("/api/v1/errors/0000nope").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get("/api/v1/errors/top?acknowledged=maybe").await;
    assert_eq!(status, 400);

    // The same problem in another file: back on the list.
    tokio::time::sleep(Duration::from_millis(5)).await;
    std::fs::create_dir_all(imports.join("B/Two")).unwrap();
    std::fs::write(imports.join("B/Two/2.mp3"), b"not audio either").unwrap();
    let id = scan(&app).await;
    app.wait_op(&id).await;
    let (_, top) = app.get("/api/v1/errors/top").await;
    assert_eq!(top["errors"][0]["fingerprint"], fp.as_str(), "{top}");
    assert_eq!(top["errors"][0]["count"], 2);
    app.stop().await;
}

#[tokio::test]
async fn system_status_on_demand_and_a_stream_resumed_from_before_a_restart_is_reset() {
    let t = TestDir::new();
    let config = test_config(&t);
    let app = spawn_app_with(t, config).await;
    let (status, s) = app.get("/api/v1/system/status").await;
    assert_eq!(status, 200);
    assert_eq!(s["books"], 0);
    assert!(s["health"].is_object() || s["health"].is_null());
    assert!(s["queue_paused"].is_boolean());
    // An id this server never issued (the page's last id before a restart),
    // given as the query parameter a page uses when it reconnects itself.
    let mut sse = app.sse("?last_event_id=900000", None).await;
    let first = sse
        .next_of(&["stream.reset"], Duration::from_secs(5))
        .await
        .expect("stream.reset");
    assert_eq!(first.data["data"]["requested_id"], 900000);
    let (status, _) = app
        .send(reqwest::Method::GET, "/api/events?last_event_id=abc", None)
        .await;
    assert_eq!(status, 400);
    app.stop().await;
}
