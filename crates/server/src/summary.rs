//! `GET /api/v1/operations/{id}/summary`: timing and throughput.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::store::{OperationStatus, OperationTiming};

#[derive(Serialize, ToSchema)]
pub struct OperationSummary {
    pub operation_id: String,
    #[serde(rename = "type")]
    pub op_type: String,
    pub status: OperationStatus,
    /// False while the operation has not ended; the timing so far is shown.
    pub finished: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    pub timing: OperationTiming,
    pub log_lines: u64,
}

/// Wall time, queue wait, files, bytes and throughput of an operation.
#[utoipa::path(get, path = "/api/v1/operations/{id}/summary", tag = "operations",
    params(("id" = String, Path)), responses((status = 200, body = OperationSummary), (status = 404)))]
pub async fn summary(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OperationSummary>, ApiError> {
    let store = &s.engine.store;
    let op = store
        .get_operation(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("operation {id} not found")))?;
    let timing = match (&op.timing, op.started_at) {
        (Some(t), _) => t.clone(),
        (None, started) => {
            // Not ended (or ended before it started): time so far.
            let now = OffsetDateTime::now_utc();
            let end = op.completed_at.unwrap_or(now);
            let wait = (started.unwrap_or(end) - op.created_at).as_seconds_f64();
            let wall = started.map(|s| (end - s).as_seconds_f64()).unwrap_or(0.0);
            OperationTiming::new(wall.max(0.0), wait.max(0.0), 0, 0)
        }
    };
    Ok(Json(OperationSummary {
        operation_id: op.id.clone(),
        op_type: op.op_type.clone(),
        status: op.status,
        finished: op.status.is_terminal(),
        created_at: op.created_at,
        started_at: op.started_at,
        completed_at: op.completed_at,
        timing,
        log_lines: store.count_logs(&op.id)?,
    }))
}
