use std::sync::Arc;
use std::time::{Duration, Instant};

use audiobook_organizer::config::AuthMode;
use audiobook_organizer::ops::events::Event;
use audiobook_organizer::sample::write_sample_tree;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestDir, mp3, tagged};
use crate::server_helpers::*;

const T: Duration = Duration::from_secs(10);

/// A WebSocket subscribes after the upgrade: wait until it is registered.
async fn wait_for_clients(app: &TestApp, n: usize) {
    let deadline = Instant::now() + T;
    while app.state.hub.client_count() < n {
        assert!(Instant::now() < deadline, "clients did not connect");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// No heartbeats or status events to wade through.
async fn quiet_app() -> TestApp {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.status_interval = Duration::from_secs(3600);
    c.server.heartbeat = Duration::from_secs(3600);
    spawn_app_with(dir, c).await
}

async fn app_with_samples() -> (TestApp, String) {
    let app = spawn_app().await;
    let imports = app.dir.path().join("imports");
    write_sample_tree(&imports).unwrap();
    let (code, ip) = app
        .post(
            "/api/v1/import-paths",
            json!({"path": imports, "name": "samples"}),
        )
        .await;
    assert_eq!(code, 201, "{ip}");
    (app, imports.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_over_http_followed_over_sse_then_logs_by_tail_after_and_level() {
    let (app, _) = app_with_samples().await;
    let mut sse = app.sse("", None).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", app.addr))
        .await
        .unwrap();
    wait_for_clients(&app, 2).await;
    let (code, body) = app.post("/api/v1/operations/scan", json!({})).await;
    assert_eq!(code, 202, "{body}");
    let id = body["operation_id"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    let mut last_id = 0;
    let mut saw_progress = false;
    let mut saw_log = false;
    while statuses.last().map(String::as_str) != Some("completed") {
        let m = sse.next(T).await.expect("events keep coming");
        if let Some(i) = m.id {
            assert!(i > last_id, "ids increase: {i} after {last_id}");
            last_id = i;
        }
        assert_eq!(m.data["type"], m.event.as_str());
        if m.data["id"] != id.as_str() {
            continue;
        }
        match m.event.as_str() {
            "operation.status" => {
                statuses.push(m.data["data"]["status"].as_str().unwrap().to_string())
            }
            "operation.progress" => saw_progress = true,
            "operation.log" => saw_log = true,
            _ => {}
        }
    }
    assert_eq!(statuses, ["queued", "running", "completed"]);
    assert!(saw_progress && saw_log);
    // The same operation, followed over the WebSocket.
    let mut ws_statuses = Vec::new();
    while ws_statuses.last().map(String::as_str) != Some("completed") {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "operation.status" && v["id"] == id.as_str() {
            ws_statuses.push(v["data"]["status"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ws_statuses, ["queued", "running", "completed"]);

    let (code, books) = app.get("/api/v1/books?limit=2").await;
    assert_eq!(code, 200);
    assert_eq!(books["total"], 5);
    assert_eq!(books["books"].as_array().unwrap().len(), 2);
    let (_, found) = app.get("/api/v1/books?q=tolst").await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["books"][0]["title"], "War and Peace");

    let (code, logs) = app
        .get(&format!("/api/v1/operations/{id}/logs?tail=2"))
        .await;
    assert_eq!(code, 200);
    let total = logs["total"].as_u64().unwrap();
    // Start, what was found, the new books (one line for the batch), the
    // summary, and warnings.
    assert!(total >= 4, "{logs}");
    let lines = logs["logs"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"].as_u64().unwrap(), total);
    let (_, after) = app
        .get(&format!("/api/v1/operations/{id}/logs?after={}", total - 3))
        .await;
    let ids: Vec<u64> = after["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [total - 2, total - 1, total]);
    let (_, infos) = app
        .get(&format!("/api/v1/operations/{id}/logs?level=info"))
        .await;
    assert!(
        infos["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["level"] == "info")
    );
    let (_, warns) = app
        .get(&format!("/api/v1/operations/{id}/logs?level=warn&tail=5"))
        .await;
    assert!(
        warns["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["level"] == "warn")
    );

    for (path, code) in [
        ("/api/v1/operations/NOPE/logs".to_string(), 404),
        (format!("/api/v1/operations/{id}/logs?tail=-1"), 400),
        (format!("/api/v1/operations/{id}/logs?tail=abc"), 400),
        (format!("/api/v1/operations/{id}/logs?after=1.5"), 400),
        (format!("/api/v1/operations/{id}/logs?level=loud"), 400),
        ("/api/v1/operations/NOPE".to_string(), 404),
        ("/api/v1/books/NOPE".to_string(), 404),
        (
            "/api/v1/books?limit=99999999999999999999999".to_string(),
            400,
        ),
        ("/api/v1/nothing/here".to_string(), 404),
    ] {
        let (got, body) = app.get(&path).await;
        assert_eq!(got, code, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organize_followed_over_websocket_and_cancel_through_both() {
    let (app, _) = app_with_samples().await;
    let (_, s) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(s["operation_id"].as_str().unwrap()).await;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", app.addr))
        .await
        .unwrap();
    let (code, body) = app
        .post(
            "/api/v1/operations/organize",
            json!({"strategy": "copy", "priority": "high"}),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = body["operation_id"].as_str().unwrap().to_string();
    loop {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "operation.status"
            && v["id"] == id.as_str()
            && v["data"]["status"] == "completed"
        {
            break;
        }
    }
    let (_, books) = app.get("/api/v1/books").await;
    assert!(
        books["books"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["status"] == "organized")
    );

    // Bad messages get an error frame; the connection stays.
    ws.send(Message::Text("not json".into())).await.unwrap();
    ws.send(Message::Text(r#"{"action":"dance"}"#.into()))
        .await
        .unwrap();
    let mut errors = 0;
    while errors < 2 {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "error" {
            errors += 1;
        }
    }

    // Two slow scans on two workers, then two more that wait: cancel one
    // waiting through DELETE and one through the WebSocket.
    let big = app.dir.path().join("big");
    for i in 0..600 {
        let p = big.join(format!("d{i}/f.mp3"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, mp3(&tagged(&format!("T{i}"), "A"), 20.0, i)).unwrap();
    }
    app.engine.queue.pause().unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, b) = app
            .post("/api/v1/operations/scan", json!({"paths": [big]}))
            .await;
        ids.push(b["operation_id"].as_str().unwrap().to_string());
    }
    let (code, op) = app.delete(&format!("/api/v1/operations/{}", ids[0])).await;
    assert_eq!(code, 200, "{op}");
    assert_eq!(op["status"], "canceled");
    ws.send(Message::Text(
        json!({"action": "cancel", "operation_id": ids[1]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "canceled" {
            assert_eq!(v["data"]["operation_id"], ids[1].as_str());
            break;
        }
    }
    app.engine.queue.resume().unwrap();
    for id in &ids {
        let op = app.wait_op(id).await;
        assert_eq!(op["status"], "canceled");
        assert!(op["started_at"].is_string() && op["completed_at"].is_string());
    }
    let (code, _) = app.delete(&format!("/api/v1/operations/{}", ids[0])).await;
    assert_eq!(code, 409);

    // A running scan canceled through DELETE ends canceled, not failed.
    let (_, b) = app
        .post("/api/v1/operations/scan", json!({"paths": [big]}))
        .await;
    let running = b["operation_id"].as_str().unwrap().to_string();
    loop {
        let (_, op) = app.get(&format!("/api/v1/operations/{running}")).await;
        if op["status"] == "running" || op["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    app.delete(&format!("/api/v1/operations/{running}")).await;
    let op = app.wait_op(&running).await;
    assert!(
        op["status"] == "canceled" || op["status"] == "completed",
        "{op}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_system_status_with_diffs() {
    let app = spawn_app().await;
    let mut sse = app.sse("", None).await;
    let a = sse.next_of(&["heartbeat"], T).await.unwrap();
    let t0 = Instant::now();
    let b = sse.next_of(&["heartbeat"], T).await.unwrap();
    let gap = t0.elapsed();
    assert!(
        gap >= Duration::from_millis(120) && gap <= Duration::from_millis(1500),
        "heartbeat every 200 ms, saw {gap:?}"
    );
    for h in [&a, &b] {
        assert_eq!(h.data["type"], "heartbeat");
        assert!(h.data["timestamp"].is_string());
        assert!(h.id.is_none());
    }
    let st = sse.next_of(&["system.status"], T).await.unwrap();
    let d = &st.data["data"];
    for field in [
        "books",
        "folders",
        "memory_alloc",
        "goroutines",
        "timestamp",
        "active_operations",
        "queued_operations",
        "sse_clients",
        "db_type",
        "circuit_breakers",
        "uptime_seconds",
    ] {
        assert!(!d[field].is_null(), "system.status lacks {field}: {d}");
    }
    assert_eq!(st.data["id"], "");
    assert_eq!(d["db_type"], "redb");
    assert!(d["memory_alloc"].as_u64().unwrap() > 0);
    assert!(d["sse_clients"].as_u64().unwrap() >= 1);

    let mut diff = app.sse("?status=diff", None).await;
    let first = diff.next_of(&["system.status"], T).await.unwrap();
    assert!(
        first.data["data"]["db_type"].is_string(),
        "the first one is whole"
    );
    let second = diff.next_of(&["system.status"], T).await.unwrap();
    let fields = second.data["data"].as_object().unwrap();
    assert!(fields.contains_key("timestamp"));
    assert!(
        !fields.contains_key("db_type"),
        "unchanged fields are left out: {fields:?}"
    );
    assert!(!fields.contains_key("books"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_operation_and_type() {
    let app = quiet_app().await;
    let bus = app.engine.bus.clone();
    let mut only_a = app.sse("?operations=A", None).await;
    let mut only_logs = app.sse("?types=operation.log", None).await;
    for (kind, op) in [
        ("operation.log", "B"),
        ("operation.log", "A"),
        ("operation.status", "A"),
        ("custom.system", ""),
    ] {
        bus.publish(Event::new(kind, op, json!({"n": 1})));
    }
    let mut got = Vec::new();
    // What the server publishes on its own is not under test here.
    let own = [
        "heartbeat",
        "system.status",
        "system.health",
        "growth.snapshot",
    ];
    while let Some(m) = only_a.next(Duration::from_millis(400)).await {
        if !own.contains(&m.event.as_str()) {
            got.push((m.event, m.data["id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(
        got,
        [
            ("operation.log".into(), "A".into()),
            ("operation.status".into(), "A".into()),
            ("custom.system".into(), String::new())
        ]
    );
    let mut got = Vec::new();
    while let Some(m) = only_logs.next(Duration::from_millis(400)).await {
        got.push((m.event, m.data["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(
        got,
        [
            ("operation.log".into(), "B".into()),
            ("operation.log".into(), "A".into())
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_replays_and_a_lost_id_resets() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.event_ring = 20;
    c.server.status_interval = Duration::from_secs(3600);
    let app = spawn_app_with(dir, c).await;
    let bus = app.engine.bus.clone();
    // A client that stays: once it has an event, the hub's ring has it.
    let mut watcher = app.sse("?types=operation.log", None).await;
    let mut first = app.sse("?types=operation.log", None).await;
    bus.publish(Event::new("operation.log", "X", json!({"n": 0})));
    let seen = first.next(T).await.unwrap();
    let last = seen.id.unwrap();
    drop(first);
    for n in 1..=5 {
        bus.publish(Event::new("operation.log", "X", json!({"n": n})));
    }
    while watcher.next(T).await.unwrap().data["data"]["n"] != 5 {}
    let mut again = app.sse("?types=operation.log", Some(last)).await;
    for n in 1..=5 {
        let m = again.next(T).await.unwrap();
        assert_eq!(m.data["data"]["n"], n);
    }
    let mut replay = app.sse("?types=operation.log&replay=2", None).await;
    let r = replay.next(T).await.unwrap();
    assert_eq!(r.data["data"]["n"], 4, "{r:?}");
    assert_eq!(replay.next(T).await.unwrap().data["data"]["n"], 5);

    for n in 6..=40 {
        bus.publish(Event::new("operation.log", "X", json!({"n": n})));
    }
    while watcher.next(T).await.unwrap().data["data"]["n"] != 40 {}
    let mut lost = app.sse("?types=operation.log", Some(last)).await;
    let reset = lost.next(T).await.unwrap();
    assert_eq!(reset.event, "stream.reset");
    assert_eq!(reset.data["data"]["requested_id"], last);
    let next = lost.next(T).await.unwrap();
    assert_eq!(next.event, "operation.log");
    assert!(next.data["data"]["n"].as_u64().unwrap() > 20);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gets_stream_lagged_and_others_do_not_wait() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.status_interval = Duration::from_secs(3600);
    c.server.heartbeat = Duration::from_secs(3600);
    let app = spawn_app_with(dir, c).await;
    let bus = app.engine.bus.clone();
    // A raw client with a tiny receive buffer that sends its request and
    // then stops reading.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(app.addr).await.unwrap();
    stalled
        .write_all(b"GET /api/events?types=operation.log HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    // Its response headers come once the hub has registered it: read them,
    // then read nothing more.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stalled.read(&mut byte).await.unwrap(), 1, "headers");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut reader = app.sse("?types=operation.log", None).await;
    // Far more than the socket buffers and the client's queue hold.
    let big = "x".repeat(4000);
    let n = 8000u64;
    let publisher = tokio::task::spawn_blocking(move || {
        for i in 0..n {
            bus.publish(Event::new(
                "operation.log",
                "L",
                json!({"n": i, "pad": big}),
            ));
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    // The reading client gets every event, in order, while the other sleeps.
    for i in 0..n {
        let m = reader.next(T).await.expect("the reader is not held up");
        assert_eq!(m.event, "operation.log", "{:?}", m.data);
        assert_eq!(m.data["data"]["n"], i);
    }
    publisher.await.unwrap();
    // Now read what the stalled client was sent.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen_notice = false;
    loop {
        match tokio::time::timeout_at(deadline, stalled.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(k)) => {
                let from = raw.len().saturating_sub(64);
                raw.extend_from_slice(&buf[..k]);
                let recent = String::from_utf8_lossy(&raw[from..]);
                if recent.contains("event: stream.lagged")
                    || (seen_notice && raw.ends_with(b"\n\n"))
                {
                    seen_notice = true;
                    if raw.ends_with(b"\n\n") {
                        break;
                    }
                }
            }
            Ok(Err(e)) => panic!("{e}"),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let at = text
        .find("event: stream.lagged")
        .expect("a stream.lagged notice instead of silent loss");
    let notice = &text[at..];
    assert!(
        notice.contains("first_missed_id"),
        "{}",
        &notice[..notice.len().min(300)]
    );
    let delivered = text[..at].matches("event: operation.log").count();
    assert!(
        delivered > 0 && (delivered as u64) < n,
        "{delivered} delivered before the notice"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_coalesced_but_the_last_value_arrives() {
    let app = quiet_app().await;
    let bus = app.engine.bus.clone();
    let mut sse = app
        .sse("?types=operation.progress,operation.status", None)
        .await;
    let started = Instant::now();
    for i in 1..=200u64 {
        bus.publish(Event::operation_progress("P", i, 400, "working"));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bus.publish(Event::operation_progress("P", 399, 400, "almost"));
    let elapsed = started.elapsed();
    let mut got = Vec::new();
    while let Some(m) = sse.next(Duration::from_millis(600)).await {
        got.push(m.data["data"]["current"].as_u64().unwrap());
    }
    let allowed = (elapsed.as_millis() / 250) as usize + 3;
    assert!(
        got.len() <= allowed,
        "{} progress events in {elapsed:?}: {got:?}",
        got.len()
    );
    assert_eq!(*got.last().unwrap(), 399, "the latest value is delivered");
    bus.publish(Event::operation_progress("P", 400, 400, "done"));
    bus.publish(Event::operation_progress("P", 400, 400, "done"));
    let f1 = sse.next(T).await.unwrap();
    assert_eq!(
        f1.data["data"]["current"], 400,
        "the final one is never held back"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_modes() {
    let app = spawn_app_auth(AuthMode::Key).await;
    let key = app.key.clone().expect("a key was generated");
    let url = app.url("/api/v1/books");
    let c = reqwest::Client::new();
    let missing = c.get(&url).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("API key"));
    assert_eq!(
        c.get(&url)
            .header("X-Api-Key", "wrong")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        c.get(&url)
            .header("X-Api-Key", &key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // A key in the URL is taken only on the streams (it ends up in logs).
    assert_eq!(
        c.get(format!("{url}?apikey={key}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let sse = c
        .get(app.url(&format!("/api/events?apikey={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 200);
    drop(sse);
    // Open endpoints.
    for p in ["/health", "/ping", "/metrics"] {
        assert_eq!(
            c.get(app.url(p)).send().await.unwrap().status().as_u16(),
            200,
            "{p}"
        );
    }
    // The key is stored: a restart keeps it.
    let stored = audiobook_organizer::http::ensure_api_key(&app.engine).unwrap();
    assert_eq!(stored, (key, false));
    app.stop().await;

    // Loopback only in auto mode: no key needed.
    let app = spawn_app_auth(AuthMode::Auto).await;
    assert!(app.key.is_none());
    assert_eq!(
        c.get(app.url("/api/v1/books"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    app.stop().await;
    let app = spawn_app_auth(AuthMode::None).await;
    assert!(app.key.is_none());
    assert_eq!(
        c.get(app.url("/api/v1/books"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(audiobook_organizer::http::key_required(
        AuthMode::Auto,
        "0.0.0.0"
    ));
    assert!(!audiobook_organizer::http::key_required(
        AuthMode::Auto,
        "::1"
    ));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_4xx_never_a_panic() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let cases: Vec<(&str, &str, String)> = vec![
        ("POST", "/api/v1/import-paths", "{not json".into()),
        ("POST", "/api/v1/import-paths", r#"{"path": 12}"#.into()),
        (
            "POST",
            "/api/v1/import-paths",
            r#"{"path": "/definitely/not/here"}"#.into(),
        ),
        ("POST", "/api/v1/import-paths", r#"{"path": ""}"#.into()),
        (
            "POST",
            "/api/v1/operations/scan",
            r#"{"priority": "urgent"}"#.into(),
        ),
        (
            "POST",
            "/api/v1/operations/scan",
            r#"{"paths": ["/nope"]}"#.into(),
        ),
        (
            "POST",
            "/api/v1/operations/organize",
            r#"{"strategy": "teleport"}"#.into(),
        ),
        (
            "POST",
            "/api/v1/operations/organize",
            r#"{"priority": 1e999}"#.into(),
        ),
        (
            "POST",
            "/api/v1/operations/organize",
            "x".repeat(2 * 1024 * 1024),
        ),
    ];
    for (method, path, body) in cases {
        let r = c
            .request(method.parse().unwrap(), app.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{method} {path} {}: {status}",
            &body[..body.len().min(40)]
        );
    }
    let (code, _) = app.get("/api/v1/books/..%2F..%2Fetc%2Fpasswd").await;
    assert_eq!(code, 404);
    let (code, _) = app.delete("/api/v1/import-paths/%00").await;
    assert_eq!(code, 404);
    // Still serving.
    assert_eq!(app.get("/api/v1/books").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_soft_delete_and_restore_keep_counts_right() {
    let (app, _) = app_with_samples().await;
    let (_, s) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(s["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books").await;
    let id = page["books"][0]["id"].as_str().unwrap().to_string();
    let (code, b) = app.delete(&format!("/api/v1/books/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(b["deleted"], true);
    let (_, page) = app.get("/api/v1/books").await;
    assert_eq!(page["total"], 4);
    assert!(
        page["books"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["id"] != id.as_str())
    );
    let (code, _) = app
        .post(&format!("/api/v1/books/{id}/restore"), json!({}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(app.get("/api/v1/books").await.1["total"], 5);
    let (_, ips) = app.get("/api/v1/import-paths").await;
    assert_eq!(ips["total"], 1);
    let ip = ips["import_paths"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.delete(&format!("/api/v1/import-paths/{ip}")).await.0,
        204
    );
    assert_eq!(
        app.delete(&format!("/api/v1/import-paths/{ip}")).await.0,
        404
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_every_planned_family() {
    let app = spawn_app().await;
    let (_, s) = app
        .post("/api/v1/operations/scan", json!({"paths": []}))
        .await;
    app.wait_op(s["operation_id"].as_str().unwrap()).await;
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, kind) in [
        ("audiobook_organizer_operations_started_total", "counter"),
        ("audiobook_organizer_operations_completed_total", "counter"),
        ("audiobook_organizer_operations_failed_total", "counter"),
        ("audiobook_organizer_operations_canceled_total", "counter"),
        (
            "audiobook_organizer_operation_duration_seconds",
            "histogram",
        ),
        ("audiobook_organizer_books_total", "gauge"),
        ("audiobook_organizer_import_paths_total", "gauge"),
        ("audiobook_organizer_process_memory_alloc_bytes", "gauge"),
        ("audiobook_organizer_process_goroutines", "gauge"),
        ("audiobook_organizer_scan_files_scanned_total", "counter"),
        ("audiobook_organizer_scan_books_discovered_total", "counter"),
        (
            "audiobook_organizer_organize_files_processed_total",
            "counter",
        ),
        ("audiobook_organizer_organize_strategy_total", "counter"),
        ("audiobook_organizer_sse_clients_connected", "gauge"),
        ("audiobook_organizer_circuit_breaker_state", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} missing"
        );
    }
    // The scan with no import paths failed: counted by type.
    assert!(
        text.contains("audiobook_organizer_operations_failed_total{type=\"scan\"} 1"),
        "{text}"
    );
    let top = text
        .lines()
        .filter(|l| l.starts_with("audiobook_organizer_operation_duration_seconds_bucket"))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    assert!(
        top >= 1800.0,
        "the top finite bucket is {top} s; it must reach 30 minutes"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_committed_copy() {
    let app = spawn_app().await;
    let (code, served) = app.get("/api/v1/openapi.json").await;
    assert_eq!(code, 200);
    let generated = audiobook_organizer::http::openapi::document();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).expect("docs/openapi.json is committed");
    assert_eq!(
        committed, generated,
        "docs/openapi.json drifted from the code; run UPDATE_OPENAPI=1 cargo test openapi and commit it"
    );
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(served, committed);
    assert!(committed["paths"]["/api/v1/operations/{id}/logs"]["get"].is_object());
    let _ = Arc::new(());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribe_unsubscribe_and_resume() {
    let app = quiet_app().await;
    let bus = app.engine.bus.clone();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/ws?types=operation.log", app.addr))
            .await
            .unwrap();
    wait_for_clients(&app, 1).await;
    bus.publish(Event::new("operation.log", "A", json!({"n": 1})));
    let first = next_ws_json(&mut ws).await;
    assert_eq!(first["data"]["n"], 1);
    let seq_of_first = app.state.hub.last_seq();
    // Narrow to operation B only.
    ws.send(Message::Text(
        json!({"action": "subscribe", "operations": ["B"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_ws_json(&mut ws).await["type"], "subscribed");
    bus.publish(Event::new("operation.log", "A", json!({"n": 2})));
    bus.publish(Event::new("operation.log", "B", json!({"n": 3})));
    let v = next_ws_json(&mut ws).await;
    assert_eq!(
        (v["id"].as_str(), v["data"]["n"].as_u64()),
        (Some("B"), Some(3))
    );
    // Dropping B leaves an empty set: nothing per-operation gets through.
    ws.send(Message::Text(
        json!({"action": "unsubscribe", "operations": ["B"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_ws_json(&mut ws).await["type"], "unsubscribed");
    bus.publish(Event::new("operation.log", "B", json!({"n": 4})));
    // The bus feeds the hub asynchronously: wait until n = 4 is in the ring.
    let deadline = Instant::now() + T;
    while app.state.hub.last_seq() < seq_of_first + 3 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Resume from the first event: the ring still has n = 2, 3, 4, filtered.
    ws.send(Message::Text(
        json!({"action": "subscribe", "operations": ["A", "B"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_ws_json(&mut ws).await["type"], "subscribed");
    ws.send(Message::Text(
        json!({"action": "resume", "since": seq_of_first})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let replayed: Vec<u64> = vec![
        next_ws_json(&mut ws).await["data"]["n"].as_u64().unwrap(),
        next_ws_json(&mut ws).await["data"]["n"].as_u64().unwrap(),
        next_ws_json(&mut ws).await["data"]["n"].as_u64().unwrap(),
    ];
    assert_eq!(replayed, [2, 3, 4]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_stays_paused_across_a_restart() {
    let dir = TestDir::new();
    let config = test_config(&dir);
    let app = spawn_app_with(dir, config.clone()).await;
    let mut sse = app.sse("?types=queue.status", None).await;
    let (code, q) = app.post("/api/v1/queue/pause", json!({})).await;
    assert_eq!(code, 200, "{q}");
    assert_eq!(q["paused"], true);
    let ev = sse
        .next_of(&["queue.status"], T)
        .await
        .expect("a queue.status event");
    assert_eq!(ev.data["data"]["paused"], true);
    let (_, op) = app
        .post("/api/v1/operations/scan", json!({"priority": "low"}))
        .await;
    let id = op["operation_id"].as_str().unwrap().to_string();
    // Waiting is what is measured: until the queue has seen it wait.
    let mut q = app.get("/api/v1/queue").await.1;
    while q["oldest_wait_seconds"].as_f64().unwrap_or(0.0) <= 0.0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        q = app.get("/api/v1/queue").await.1;
    }
    assert_eq!(q["depth"]["low"], 1);
    assert_eq!(q["queued"], 1);
    assert!(q["oldest_wait_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        app.get(&format!("/api/v1/operations/{id}")).await.1["status"],
        "queued"
    );

    // Restart on the same store: still paused, the operation still waits.
    drop(sse);
    let dir = app.stop_and_release().await;
    let app = spawn_app_with(dir, config).await;
    let (_, q) = app.get("/api/v1/queue").await;
    assert_eq!(q["paused"], true, "{q}");
    assert_eq!(q["queued"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/operations/{id}")).await.1["status"],
        "queued"
    );
    let (code, q) = app.post("/api/v1/queue/resume", json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(q["paused"], false);
    let done = app.wait_op(&id).await;
    assert!(
        done["status"] == "completed" || done["status"] == "failed",
        "{done}"
    );
    app.stop().await;
}
