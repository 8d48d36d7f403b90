//! A real server on 127.0.0.1:0 with a fresh store, and real SSE and
//! WebSocket clients.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use audiobook_organizer::config::{AuthMode, Config};
use audiobook_organizer::engine::{Engine, StartOptions};
use audiobook_organizer::http::{AppState, Server};
use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::TestDir;

pub struct TestApp {
    pub dir: TestDir,
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub key: Option<String>,
    pub http: reqwest::Client,
    pub engine: Arc<Engine>,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Fast timings so cadence tests take milliseconds, not seconds.
pub fn test_config(dir: &TestDir) -> Config {
    let mut c = dir.config();
    c.server.host = "127.0.0.1".into();
    c.server.port = 0;
    c.server.heartbeat = Duration::from_millis(200);
    c.server.status_interval = Duration::from_millis(150);
    c.server.progress_interval = Duration::from_millis(250);
    c
}

/// Without background tasks: their events would mix into stream tests.
pub async fn spawn_app_with(dir: TestDir, config: Config) -> TestApp {
    spawn_app_inner(dir, config, StartOptions::default(), false).await
}

/// Without background tasks, with start options (a test's clock).
pub async fn spawn_app_with_options(dir: TestDir, config: Config, opts: StartOptions) -> TestApp {
    spawn_app_inner(dir, config, opts, false).await
}

/// With the background tasks (retention, growth, health, schedule) running.
pub async fn spawn_app_opts(dir: TestDir, config: Config, opts: StartOptions) -> TestApp {
    spawn_app_inner(dir, config, opts, true).await
}

async fn spawn_app_inner(dir: TestDir, config: Config, opts: StartOptions, bg: bool) -> TestApp {
    let engine = Arc::new(Engine::start(config, opts).expect("engine"));
    if bg {
        engine.start_background();
    }
    let (server, key) = Server::bind(engine.clone()).await.expect("bind");
    let addr = server.local_addr();
    let state = server.state();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    TestApp {
        dir,
        base: format!("http://{addr}"),
        addr,
        key: key.map(|(k, _)| k),
        http: reqwest::Client::new(),
        engine,
        state,
        stop: Some(tx),
        task: Some(task),
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = TestDir::new();
    let c = test_config(&dir);
    spawn_app_with(dir, c).await
}

pub async fn spawn_app_auth(mode: AuthMode) -> TestApp {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.auth = mode;
    spawn_app_with(dir, c).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => rb.header("X-Api-Key", k),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .auth(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self.auth(self.http.request(method, self.url(path)));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The `/metrics` body.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Polls until the operation ends.
    pub async fn wait_op(&self, id: &str) -> Value {
        for _ in 0..2000 {
            let (_, op) = self.get(&format!("/api/v1/operations/{id}")).await;
            if ["completed", "failed", "canceled", "interrupted"]
                .contains(&op["status"].as_str().unwrap_or(""))
            {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("operation {id} did not end");
    }

    pub async fn sse(&self, query: &str, last_event_id: Option<u64>) -> SseClient {
        let mut rb = self.auth(self.http.get(self.url(&format!("/api/events{query}"))));
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id.to_string());
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseClient {
            stream: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    /// Stops the server and closes the engine and its store, keeping the
    /// directory, so a new app can start on the same store.
    pub async fn stop_and_release(mut self) -> TestDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("server stopped")
                .unwrap();
        }
        let TestApp {
            dir, engine, state, ..
        } = self;
        drop(state);
        // axum's connection tasks let go of their router (and its engine
        // handle) a moment after the server future returns: wait for that.
        let mut engine = engine;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let engine = loop {
            match Arc::try_unwrap(engine) {
                Ok(e) => break e,
                Err(still_shared) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "an engine handle outlived the server"
                    );
                    engine = still_shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        tokio::task::spawn_blocking(move || engine.shutdown(Duration::from_secs(1)))
            .await
            .unwrap();
        dir
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// The titles of a page of `/api/v1/books`, in order.
pub fn titles(page: &Value) -> Vec<String> {
    page["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect()
}

/// The value of one series (`name{labels}`) in a Prometheus text body.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[derive(Debug, Clone)]
pub struct SseMsg {
    pub event: String,
    pub id: Option<u64>,
    pub data: Value,
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes_alias::Bytes>> + Send>>;

mod bytes_alias {
    pub type Bytes = axum::body::Bytes;
}

/// A minimal, strict SSE reader: `event:`, `id:`, `data:` lines, blank
/// line ends a message.
pub struct SseClient {
    stream: ByteStream,
    buf: String,
}

impl SseClient {
    fn parse_one(&mut self) -> Option<SseMsg> {
        let end = self.buf.find("\n\n")?;
        let block: String = self.buf.drain(..end + 2).collect();
        let mut msg = SseMsg {
            event: "message".into(),
            id: None,
            data: Value::Null,
        };
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                msg.event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                msg.id = Some(v.trim().parse().expect("numeric id"));
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        msg.data = serde_json::from_str(&data).expect("data is JSON");
        Some(msg)
    }

    pub async fn next(&mut self, timeout: Duration) -> Option<SseMsg> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(m) = self.parse_one() {
                return Some(m);
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next message of one of `kinds`, skipping others.
    pub async fn next_of(&mut self, kinds: &[&str], timeout: Duration) -> Option<SseMsg> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.next(left).await?;
            if kinds.contains(&m.event.as_str()) {
                return Some(m);
            }
        }
    }
}

/// The next JSON text frame of a WebSocket (other frames are skipped).
pub async fn next_ws_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a valid frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).expect("JSON text frame");
        }
    }
}
