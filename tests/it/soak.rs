//! Soak: many operations while many SSE clients keep dropping and
//! reconnecting with Last-Event-ID, against the real server in its own
//! process. Afterwards the heap is back near where it was after a warm-up
//! (no leak), every client is gone, and every client saw the end of every
//! operation unless the server told it (`stream.lagged`, `stream.reset`)
//! that it missed events.
//!
//! Small by default (CI); by hand:
//! `AO_SOAK_OPS=10000 AO_SOAK_CLIENTS=1000 cargo test --release --test it soak -- --nocapture`
//! (`AO_SOAK_WARMUP` operations before the heap baseline: a tenth of them
//! unless set; a long warm-up fills the store's page cache first).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{ServeProcess, TestDir, free_port, mp3, tagged};
use crate::server_helpers::metric;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct ClientReport {
    ended: HashSet<String>,
    notices: usize,
    connections: usize,
    /// The last event id seen, and how many events the final catch-up read.
    last_id: Option<u64>,
    final_events: usize,
}

/// One client: connect (resuming from the last id), read a while, drop,
/// pause, again, until told to stop; then one last resume to catch up.
async fn client(
    base: String,
    done: Arc<std::sync::OnceLock<HashSet<String>>>,
    connected_once: Arc<AtomicUsize>,
    seed: u64,
) -> ClientReport {
    let http = reqwest::Client::new();
    let mut report = ClientReport::default();
    let mut last: Option<u64> = None;
    let mut s = seed | 1;
    let mut rand = move |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    };
    let mut finishing = false;
    let mut final_deadline = tokio::time::Instant::now();
    let mut remaining = usize::MAX;
    loop {
        let mut rb = http.get(format!("{base}/api/events?types=operation.status"));
        if let Some(id) = last {
            rb = rb.header("Last-Event-ID", id.to_string());
        }
        let Ok(res) = rb.send().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        report.connections += 1;
        if report.connections == 1 {
            connected_once.fetch_add(1, Ordering::SeqCst);
        }
        let mut body = res.bytes_stream();
        let mut buf = String::new();
        // While the work runs: drop the connection after a random while.
        // Once all of it is done: read until every end has arrived (or the
        // server said something was missed), however long the backlog of a
        // thousand clients resuming at once takes, within a generous bound.
        let read_for = if finishing {
            final_deadline.saturating_duration_since(tokio::time::Instant::now())
        } else {
            Duration::from_millis(50 + rand(400))
        };
        // A client that has no event id yet cannot resume where it left
        // (neither can a browser's EventSource): it keeps its first
        // connection until it has one.
        let mut until = tokio::time::Instant::now()
            + if last.is_none() {
                Duration::from_secs(120)
            } else {
                read_for
            };
        while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(until, body.next()).await {
            let had_id = last.is_some();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut kind = "";
                let mut data = "";
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = v;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        last = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v;
                    }
                }
                if finishing {
                    report.final_events += 1;
                }
                match kind {
                    "operation.status" => {
                        let v: Value = serde_json::from_str(data).unwrap();
                        if v["data"]["status"] == "completed" {
                            let id = v["id"].as_str().unwrap().to_string();
                            if report.ended.insert(id.clone())
                                && done.get().is_some_and(|d| d.contains(&id))
                            {
                                remaining = remaining.saturating_sub(1);
                            }
                        }
                    }
                    "stream.lagged" | "stream.reset" => report.notices += 1,
                    _ => {}
                }
            }
            if !had_id && last.is_some() && !finishing {
                until = tokio::time::Instant::now() + read_for;
            }
            if finishing && (remaining == 0 || report.notices > 0) {
                break;
            }
        }
        drop(body);
        if finishing
            && (remaining == 0
                || report.notices > 0
                || tokio::time::Instant::now() >= final_deadline)
        {
            report.last_id = last;
            return report;
        }
        if !finishing && let Some(all) = done.get() {
            finishing = true;
            final_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            remaining = all.iter().filter(|id| !report.ended.contains(*id)).count();
            continue;
        }
        if finishing {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(rand(60))).await;
    }
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn heap(http: &reqwest::Client, base: &str) -> (f64, f64) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (
        metric(&text, "audiobook_organizer_process_memory_alloc_bytes").unwrap(),
        metric(&text, "audiobook_organizer_sse_clients_connected").unwrap(),
    )
}

async fn run_scans(
    http: &reqwest::Client,
    base: &str,
    dir: &std::path::Path,
    n: usize,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let r: Value = http
            .post(format!("{base}/api/v1/operations/scan"))
            .json(&json!({"paths": [dir]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(
            r["operation_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string(),
        );
        // Keep the queue short: wait for it now and then.
        if i % 50 == 49 {
            loop {
                let q: Value = get_json(http, format!("{base}/api/v1/queue")).await;
                if q["queued"].as_u64().unwrap() < 20 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let q: Value = get_json(http, format!("{base}/api/v1/queue")).await;
        if q["queued"] == 0 && q["running"] == 0 {
            return ids;
        }
        assert!(Instant::now() < deadline, "the queue did not drain: {q}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_operations_and_reconnecting_clients_leak_nothing_and_lose_nothing() {
    let ops = env_or("AO_SOAK_OPS", 600);
    let clients = env_or("AO_SOAK_CLIENTS", 100);
    let t = TestDir::new();
    let dir = t.path().join("in");
    for i in 0..3u64 {
        let p = dir.join(format!("A/B{i}/b.mp3"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, mp3(&tagged(&format!("B{i}"), "A"), 1.0, i)).unwrap();
    }
    // A ring that holds a reconnect's worth of events; lag is still possible
    // and is then announced.
    let port = free_port();
    let server = ServeProcess::start(t.path(), port, "event_ring = 4000\n");
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // Warm-up: caches, pools and the store's first pages.
    run_scans(
        &http,
        &base,
        &dir,
        env_or("AO_SOAK_WARMUP", (ops / 10).max(20)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (warm, _) = heap(&http, &base).await;

    let done = Arc::new(std::sync::OnceLock::new());
    let connected_once = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(client(
                base.clone(),
                done.clone(),
                connected_once.clone(),
                0x9e37_79b9 ^ (i as u64 * 7919),
            ))
        })
        .collect();
    // Every client holds a position in the stream before the work starts:
    // what ends later must reach it.
    while connected_once.load(Ordering::SeqCst) < clients {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ids = run_scans(&http, &base, &dir, ops).await;
    let _ = done.set(ids.iter().cloned().collect::<HashSet<String>>());
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();

    // Every operation ended well.
    for id in ids.iter().step_by((ids.len() / 50).max(1)) {
        let op: Value = get_json(&http, format!("{base}/api/v1/operations/{id}")).await;
        assert_eq!(op["status"], "completed", "{op}");
    }
    // No event lost beyond what the server announced.
    let all: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut silent_losses = 0;
    let mut with_notices = 0;
    for r in &reports {
        if r.notices > 0 {
            with_notices += 1;
            continue;
        }
        let missing: Vec<&&str> = all.iter().filter(|id| !r.ended.contains(**id)).collect();
        if !missing.is_empty() {
            silent_losses += 1;
            let first: Value =
                get_json(&http, format!("{base}/api/v1/operations/{}", missing[0])).await;
            eprintln!(
                "a client missed {} operation ends without a notice ({} connections, last id {:?}, {} events in the final catch-up); the first: {first}",
                missing.len(),
                r.connections,
                r.last_id,
                r.final_events
            );
        }
    }
    let connections: usize = reports.iter().map(|r| r.connections).sum();
    assert_eq!(
        silent_losses, 0,
        "clients lost events without stream.lagged or stream.reset"
    );

    // Clients gone, heap back near the warm-up level.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (after, connected) = heap(&http, &base).await;
    assert_eq!(connected, 0.0, "SSE clients left registered");
    eprintln!(
        "soak: {ops} operations and {clients} clients ({connections} connections, {with_notices} told of lag) in {:.1}s; heap {:.1} MiB after warm-up, {:.1} MiB after",
        elapsed.as_secs_f64(),
        warm / 1048576.0,
        after / 1048576.0
    );
    assert!(
        after < warm + 24.0 * 1048576.0,
        "heap grew from {warm} to {after} bytes"
    );
    drop(server);
}
