//! The `system.status` payload, from maintained counters only, and the loop
//! that publishes it every few seconds.

use serde_json::{Value, json};

use super::AppState;
use crate::ops::events::Event;

pub fn system_status(state: &AppState) -> Value {
    let engine = &state.engine;
    let q = engine.queue.snapshot();
    let now = time::OffsetDateTime::now_utc();
    json!({
        "books": engine.store.count_books().unwrap_or(0),
        "folders": engine.store.count_import_paths().unwrap_or(0),
        "memory_alloc": crate::process_stats::allocated_bytes(),
        "goroutines": tokio::runtime::Handle::try_current().map(|h| h.metrics().num_alive_tasks()).unwrap_or(0),
        "timestamp": now.unix_timestamp(),
        "active_operations": q.running,
        "queued_operations": q.queued,
        "sse_clients": state.hub.client_count(),
        "db_type": engine.store.backend_name(),
        "circuit_breakers": engine.breakers.states().into_iter().map(|(k, s)| (k, Value::from(s.as_str()))).collect::<serde_json::Map<_, _>>(),
        "health": engine.health.latest(),
        "queue_paused": q.paused,
        "uptime_seconds": state.started.elapsed().as_secs(),
    })
}

/// The live system status: books, import paths, memory, tasks, operations,
/// stream clients, store health, circuit breakers (the `system.status`
/// event's payload, on demand).
#[utoipa::path(get, path = "/api/v1/system/status", tag = "system", responses((status = 200, description = "the system.status payload")))]
pub async fn show(axum::extract::State(s): axum::extract::State<AppState>) -> axum::Json<Value> {
    axum::Json(system_status(&s))
}

pub fn spawn_status_loop(state: AppState) -> tokio::task::JoinHandle<()> {
    let period = state.config.server.status_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tick.tick().await;
            let data = system_status(&state);
            state
                .hub
                .publish(std::sync::Arc::new(Event::new("system.status", "", data)));
        }
    })
}
