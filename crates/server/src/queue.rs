use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use crate::ops::queue::QueueSnapshot;

/// Queue state: paused, depth per priority, oldest wait, workers.
#[utoipa::path(get, path = "/api/v1/queue", tag = "queue", responses((status = 200, body = QueueSnapshot)))]
pub async fn show(State(s): State<AppState>) -> Json<QueueSnapshot> {
    Json(s.engine.queue.snapshot())
}

/// Start nothing new (running operations finish); survives restarts.
#[utoipa::path(post, path = "/api/v1/queue/pause", tag = "queue", responses((status = 200, body = QueueSnapshot)))]
pub async fn pause(State(s): State<AppState>) -> Result<Json<QueueSnapshot>, ApiError> {
    let engine = s.engine.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || engine.queue.pause()).await??,
    ))
}

/// Start dispatching again.
#[utoipa::path(post, path = "/api/v1/queue/resume", tag = "queue", responses((status = 200, body = QueueSnapshot)))]
pub async fn resume(State(s): State<AppState>) -> Result<Json<QueueSnapshot>, ApiError> {
    let engine = s.engine.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || engine.queue.resume()).await??,
    ))
}
