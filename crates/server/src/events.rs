//! `/api/events` (SSE) and `/api/ws` (WebSocket) over the realtime hub.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, Query, State};
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, query_u64};
use super::listen::ConnSlot;
use crate::realtime::{ClientOptions, ClientStream, Filter, Replay};

/// The largest WebSocket message (and frame) a client may send; commands
/// are a few hundred bytes.
pub const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Operation ids and event types one client may filter on, together.
pub const MAX_FILTER_ENTRIES: usize = 1_000;
/// `resume` commands one WebSocket may send per window.
const RESUMES_PER_WINDOW: u32 = 10;
const RESUME_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

fn csv_set(v: Option<&String>) -> Option<HashSet<String>> {
    v.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect::<HashSet<_>>()
    })
    .filter(|s| !s.is_empty())
}

fn filter_size(f: &Filter) -> usize {
    f.operations.as_ref().map_or(0, HashSet::len) + f.types.as_ref().map_or(0, HashSet::len)
}

fn filter_from(q: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let f = Filter {
        operations: csv_set(q.get("operations")),
        types: csv_set(q.get("types")),
    };
    if filter_size(&f) > MAX_FILTER_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_FILTER_ENTRIES} operations and types may be filtered on"
        )));
    }
    Ok(f)
}

fn replay_from(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<Replay, ApiError> {
    // The header is what EventSource sends on its own reconnects; the query
    // parameter is for clients that open a new stream themselves.
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("last_event_id").map(String::as_str));
    if let Some(v) = given {
        let id = v.trim().parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("Last-Event-ID must be a number, not {v:?}"))
        })?;
        return Ok(Replay::After(id));
    }
    if let Some(n) = query_u64(q, "replay")? {
        return Ok(Replay::Last(n as usize));
    }
    Ok(Replay::None)
}

fn options_from(q: &HashMap<String, String>) -> ClientOptions {
    ClientOptions {
        status_diff: q.get("status").is_some_and(|v| v == "diff"),
    }
}

/// How long a busy stream gathers events before a write.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(10);
/// Events waiting in a client's channel that mean it is behind: it
/// writes at once (the channel holds 1,024).
const BEHIND: usize = 32;
/// A stream that wrote within this long is busy.
const BUSY: std::time::Duration = std::time::Duration::from_millis(50);

/// Largest chunk written at once when events queue up.
const MAX_CHUNK: usize = 64 * 1024;

/// Server-Sent Events: `event:` type, `id:` sequence, `data:` JSON. Frames
/// are rendered once in the hub and shared; whatever is ready is written in
/// one chunk, so a busy stream costs few writes.
pub async fn sse(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let replay = replay_from(&q, &headers)?;
    let client = ClientStream::new(&s.hub, filter_from(&q)?, replay, options_from(&q));
    let stream = futures_util::stream::unfold((client, None), |(mut c, busy_until)| async move {
        let first = c.next().await?;
        // A stream that wrote a moment ago is busy: wait a little for more,
        // so a thousand watchers of a fast log each get one write of many
        // events instead of one wakeup and one write per event. A quiet
        // stream's first event goes out at once, and one already behind
        // (its channel filling) does not wait.
        if busy_until.is_some_and(|t| tokio::time::Instant::now() < t) && c.waiting() < BEHIND {
            tokio::time::sleep(COALESCE).await;
        }
        let busy_until = Some(tokio::time::Instant::now() + BUSY);
        let Some(second) = c.try_next() else {
            // Alone: the shared frame goes out as is, no copy.
            return Some((Ok::<_, Infallible>(first.sse_frame()), (c, busy_until)));
        };
        let mut chunk = BytesMut::from(&first.sse_frame()[..]);
        chunk.extend_from_slice(&second.sse_frame());
        while chunk.len() < MAX_CHUNK {
            match c.try_next() {
                Some(o) => chunk.extend_from_slice(&o.sse_frame()),
                None => break,
            }
        }
        Some((Ok::<_, Infallible>(chunk.freeze()), (c, busy_until)))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// WebSocket: the same events as JSON text frames, plus client commands.
pub async fn ws(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    slot: Option<Extension<ConnSlot>>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let replay = replay_from(&q, &headers)?;
    let filter = filter_from(&q)?;
    let options = options_from(&q);
    Ok(upgrade
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| async move {
            // The socket counts against the connection cap while it is open.
            let _slot = slot;
            run_ws(s, socket, filter, replay, options).await
        })
        .into_response())
}

#[derive(Deserialize)]
struct Command {
    action: String,
    #[serde(default)]
    operations: Option<Vec<String>>,
    #[serde(default)]
    types: Option<Vec<String>>,
    #[serde(default)]
    operation_id: Option<String>,
    #[serde(default)]
    since: Option<u64>,
}

fn set_of(v: Vec<String>) -> HashSet<String> {
    v.into_iter().collect()
}

/// How many `resume` commands a client has sent in the current window.
struct ResumeBudget {
    window_start: tokio::time::Instant,
    used: u32,
}

impl ResumeBudget {
    fn new() -> Self {
        Self {
            window_start: tokio::time::Instant::now(),
            used: 0,
        }
    }

    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.window_start) >= RESUME_WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        self.used += 1;
        self.used <= RESUMES_PER_WINDOW
    }
}

async fn handle_command(
    s: &AppState,
    client: &mut ClientStream,
    resumes: &mut ResumeBudget,
    text: &str,
) {
    let cmd: Command = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            return client.push_local("error", json!({"error": format!("invalid message: {e}")}));
        }
    };
    match cmd.action.as_str() {
        "subscribe" => {
            let mut f = client.filter();
            if let Some(ops) = cmd.operations {
                f.operations.get_or_insert_with(HashSet::new).extend(ops);
            }
            if let Some(types) = cmd.types {
                f.types.get_or_insert_with(HashSet::new).extend(types);
            }
            if filter_size(&f) > MAX_FILTER_ENTRIES {
                return client.push_local(
                    "error",
                    json!({"error": format!("at most {MAX_FILTER_ENTRIES} operations and types may be subscribed to; unsubscribe some first")}),
                );
            }
            client.set_filter(f);
            client.push_local("subscribed", json!({"ok": true}));
        }
        "unsubscribe" => {
            let mut f = client.filter();
            if let (Some(ops), Some(current)) = (cmd.operations, f.operations.as_mut()) {
                let drop = set_of(ops);
                current.retain(|o| !drop.contains(o));
            }
            if let (Some(types), Some(current)) = (cmd.types, f.types.as_mut()) {
                let drop = set_of(types);
                current.retain(|t| !drop.contains(t));
            }
            client.set_filter(f);
            client.push_local("unsubscribed", json!({"ok": true}));
        }
        "cancel" => {
            let Some(id) = cmd.operation_id else {
                return client.push_local("error", json!({"error": "cancel needs operation_id"}));
            };
            let engine = s.engine.clone();
            let result = tokio::task::spawn_blocking(move || engine.queue.cancel(&id)).await;
            match result {
                Ok(Ok(op)) => client.push_local(
                    "canceled",
                    json!({"operation_id": op.id, "status": op.status}),
                ),
                Ok(Err(e)) => client.push_local("error", json!({"error": e.to_string()})),
                Err(e) => client.push_local("error", json!({"error": e.to_string()})),
            }
        }
        "resume" if !resumes.take() => client.push_local(
            "error",
            json!({"error": format!("at most {RESUMES_PER_WINDOW} resume requests per {} s", RESUME_WINDOW.as_secs())}),
        ),
        "resume" => match cmd.since {
            Some(since) => client.resume(since),
            None => client.push_local("error", json!({"error": "resume needs since"})),
        },
        other => client.push_local(
            "error",
            json!({"error": format!("unknown action {other:?}")}),
        ),
    }
}

async fn run_ws(
    s: AppState,
    mut socket: WebSocket,
    filter: Filter,
    replay: Replay,
    options: ClientOptions,
) {
    let mut client = ClientStream::new(&s.hub, filter, replay, options);
    let mut resumes = ResumeBudget::new();
    loop {
        tokio::select! {
            out = client.next() => {
                let Some(o) = out else { break };
                if socket.send(Message::Text(o.json().to_string().into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => handle_command(&s, &mut client, &mut resumes, t.as_str()).await,
                Some(Ok(Message::Binary(_))) => client.push_local("error", json!({"error": "send JSON text frames"})),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    // Over the size limit: say so with 1009 before closing.
                    let (code, reason) = if e.to_string().contains("too long") {
                        (close_code::SIZE, "message too big (64 KiB at most)")
                    } else {
                        (close_code::PROTOCOL, "protocol error")
                    };
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await;
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}
