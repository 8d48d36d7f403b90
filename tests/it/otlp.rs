//! OpenTelemetry export: every finished operation reaches a collector as
//! one span (OTLP/HTTP, JSON), fed from the operation's `tracing` span in
//! the real server process, checked against an HTTP collector stand-in on
//! loopback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use crate::helpers::{ServeProcess, TestDir, free_port, mp3, tagged};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finished_operation_is_exported_as_a_span() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |body: axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body.0);
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let t = TestDir::new();
    t.write("A/Book/1.mp3", &mp3(&tagged("Book", "A"), 1.0, 1));
    let imports = t.imports();
    let port = free_port();
    let server = ServeProcess::start(t.path(), port, &format!("otlp_endpoint = \"{endpoint}\"\n"));
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let http = http.clone();
        let url = format!("{}/api/v1/operations/scan", server.base);
        async move {
            let r: Value = http
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["operation_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string()
        }
    };
    let wait = |id: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/operations/{id}", server.base);
        async move {
            loop {
                let op: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
                if ["completed", "failed", "canceled", "interrupted"]
                    .contains(&op["status"].as_str().unwrap_or(""))
                {
                    return op;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let ok = post(json!({"paths": [imports]})).await;
    wait(ok.clone()).await;
    // No paths and no import paths registered: the scan fails.
    let bad = post(json!({})).await;
    let failed = wait(bad.clone()).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                b["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if spans.len() >= 2 {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans: {spans:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body = received.lock().unwrap()[0].clone();
    assert_eq!(
        body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
        "audiobook-organizer"
    );
    let attr = |s: &Value, k: &str| -> Value {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    let by_id = |id: &str| {
        spans
            .iter()
            .find(|s| attr(s, "operation.id")["stringValue"] == id)
            .cloned()
            .unwrap()
    };
    let good = by_id(&ok);
    assert_eq!(good["name"], "scan");
    assert_eq!(good["status"]["code"], 1);
    assert_eq!(attr(&good, "operation.files")["intValue"], "1");
    let start: u128 = good["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = good["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(end >= start);
    let failed_span = by_id(&bad);
    assert_eq!(failed_span["status"]["code"], 2);
    assert_eq!(failed_span["status"]["message"], failed["error_message"]);
    server.kill9();
}
