use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::ops::queue::QueueSnapshot;

/// Liveness: the process answers. No auth, no store.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Sonarr-style ping: touches the store; 503 when it cannot.
pub async fn ping(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    let engine = s.engine.clone();
    match tokio::task::spawn_blocking(move || engine.ping()).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({ "status": "OK" }))),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "error": e.to_string() })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "error": e.to_string() })),
        ),
    }
}

#[derive(Serialize, ToSchema)]
pub struct StoreHealth {
    pub backend: String,
    pub read_latency_ms: f64,
    /// A small durable write (includes the fsync).
    pub write_latency_ms: f64,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// From the background health pings: ok, slow or degraded.
    pub status: String,
    /// The latest background ping (every few seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<crate::maintenance::health::HealthReading>,
    pub version: String,
    pub uptime_seconds: u64,
    pub store: StoreHealth,
    pub queue: QueueSnapshot,
}

/// Store read/write latency, queue state and version.
#[utoipa::path(get, path = "/api/v1/health", tag = "health", responses((status = 200, body = Health), (status = 503)))]
pub async fn detailed(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let engine = s.engine.clone();
    // The same probe the background pings run, measured now.
    let now = tokio::task::spawn_blocking(move || engine.probe_health()).await?;
    if let Some(e) = now.error {
        return Err(ApiError::Unavailable(format!("store unhealthy: {e}")));
    }
    let ping = s.engine.health.latest();
    Ok(Json(Health {
        status: ping
            .as_ref()
            .map(|p| p.status.as_str())
            .unwrap_or("ok")
            .into(),
        ping,
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: s.started.elapsed().as_secs(),
        store: StoreHealth {
            backend: s.engine.store_backend().into(),
            read_latency_ms: now.read_latency_ms,
            write_latency_ms: now.write_latency_ms,
        },
        queue: s.engine.queue.snapshot(),
    }))
}
