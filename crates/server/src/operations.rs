use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiJson, query_u64};
use crate::jobs::organize::strategy::Strategy;
use crate::jobs::{Job, MetadataParams, OrganizeParams, ScanParams};
use crate::logs::query::Window;
use crate::store::{LogEntry, LogLevel, Operation, OperationStatus, Priority};

#[derive(Deserialize, ToSchema, Default)]
pub struct ScanRequest {
    /// Folders to scan; default: every enabled import path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// low, normal (default) or high.
    #[serde(default)]
    pub priority: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct OrganizeRequest {
    /// auto, copy, hardlink, reflink or symlink; default from the config.
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    /// Plan only: the operation's log lists every book's target, the
    /// strategy it would use and every conflict; nothing on disk changes.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub operation_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperationList {
    pub operations: Vec<Operation>,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub operation_id: String,
    pub logs: Vec<LogEntry>,
    /// How many lines the operation has in all.
    pub total: u64,
}

fn priority(p: Option<&str>) -> Result<Priority, ApiError> {
    match p {
        None => Ok(Priority::Normal),
        Some(v) => Priority::parse(v).ok_or_else(|| {
            ApiError::BadRequest(format!("priority must be low, normal or high, not {v:?}"))
        }),
    }
}

async fn enqueue(
    s: &AppState,
    job: Job,
    prio: Priority,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let engine = s.engine.clone();
    let op = tokio::task::spawn_blocking(move || engine.enqueue(job, prio)).await??;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            operation_id: op.id,
        }),
    ))
}

/// Start a scan.
#[utoipa::path(post, path = "/api/v1/operations/scan", tag = "operations", request_body = ScanRequest,
    responses((status = 202, body = Accepted), (status = 400), (status = 503, description = "queue full or shutting down")))]
pub async fn start_scan(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<ScanRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let prio = priority(body.priority.as_deref())?;
    for p in &body.paths {
        let path = std::path::Path::new(p);
        if !path.is_dir() {
            return Err(ApiError::BadRequest(format!(
                "{p:?} is not a readable folder"
            )));
        }
    }
    let paths = body.paths.iter().map(std::path::PathBuf::from).collect();
    enqueue(
        &s,
        Job::Scan(ScanParams {
            paths,
            ..ScanParams::default()
        }),
        prio,
    )
    .await
}

/// Start an organize.
#[utoipa::path(post, path = "/api/v1/operations/organize", tag = "operations", request_body = OrganizeRequest,
    responses((status = 202, body = Accepted), (status = 400), (status = 503)))]
pub async fn start_organize(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OrganizeRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let prio = priority(body.priority.as_deref())?;
    let strategy = match body.strategy.as_deref() {
        None => None,
        Some(v) => Some(Strategy::parse(v).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "strategy must be auto, copy, hardlink, reflink or symlink, not {v:?}"
            ))
        })?),
    };
    let params = OrganizeParams {
        strategy,
        dry_run: body.dry_run,
    };
    enqueue(&s, Job::Organize(params), prio).await
}

#[derive(Deserialize, ToSchema, Default)]
pub struct MetadataRequest {
    /// Books to look up; default: every live book missing a field.
    #[serde(default)]
    pub book_ids: Option<Vec<String>>,
    #[serde(default)]
    pub priority: Option<String>,
}

/// Fill missing year, ISBN, description and cover URL from Open Library.
#[utoipa::path(post, path = "/api/v1/operations/metadata", tag = "operations", request_body = MetadataRequest,
    responses((status = 202, body = Accepted), (status = 400), (status = 503)))]
pub async fn start_metadata(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<MetadataRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let prio = priority(body.priority.as_deref().or(Some("low")))?;
    if body
        .book_ids
        .as_ref()
        .is_some_and(|ids| ids.len() > 100_000)
    {
        return Err(ApiError::BadRequest("at most 100000 book_ids".into()));
    }
    let job = Job::MetadataFetch(MetadataParams {
        book_ids: body.book_ids,
    });
    enqueue(&s, job, prio).await
}

/// Operations, newest first.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations",
    params(("status" = Option<String>, Query), ("type" = Option<String>, Query),
           ("limit" = Option<u64>, Query, description = "at most 1000, default 50"), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = OperationList), (status = 400)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<OperationList>, ApiError> {
    let limit = query_u64(&q, "limit")?.unwrap_or(50).min(1000);
    let offset = query_u64(&q, "offset")?.unwrap_or(0);
    let status = match q.get("status") {
        None => None,
        Some(v) => Some(
            OperationStatus::parse(v)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown status {v:?}")))?,
        ),
    };
    let op_type = q.get("type").cloned();
    let engine = s.engine.clone();
    let operations = tokio::task::spawn_blocking(move || {
        engine.list_operations(status, op_type.as_deref(), limit, offset)
    })
    .await??;
    Ok(Json(OperationList {
        operations,
        limit,
        offset,
    }))
}

/// One operation.
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path)), responses((status = 200, body = Operation), (status = 404)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Operation>, ApiError> {
    s.engine
        .operation(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("operation {id} not found")))
}

/// Cancel: a queued operation never starts; a running one stops at its
/// next check and ends `canceled`.
#[utoipa::path(delete, path = "/api/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path)), responses((status = 200, body = Operation), (status = 404), (status = 409, description = "already ended")))]
pub async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Operation>, ApiError> {
    let engine = s.engine.clone();
    let op = tokio::task::spawn_blocking(move || engine.queue.cancel(&id)).await??;
    Ok(Json(op))
}

/// Log lines of an operation. `tail=N`: the last N; `after=SEQ`: lines
/// after that sequence number (up to 1,000 unless `tail` says); `before=SEQ`:
/// the last lines before that one (up to `tail`, default 1,000), for paging
/// back through a long log; `level`: only info, warn or error. Reads backwards from the end for a tail, so
/// the cost follows what is returned, not the operation's size.
#[utoipa::path(get, path = "/api/v1/operations/{id}/logs", tag = "operations",
    params(("id" = String, Path), ("tail" = Option<u64>, Query), ("after" = Option<u64>, Query),
           ("before" = Option<u64>, Query), ("level" = Option<String>, Query, description = "info, warn or error")),
    responses((status = 200, body = LogPage), (status = 400), (status = 404)))]
pub async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LogPage>, ApiError> {
    let tail = query_u64(&q, "tail")?;
    let after = query_u64(&q, "after")?;
    let before = query_u64(&q, "before")?;
    if before.is_some() && after.is_some() {
        return Err(ApiError::BadRequest(
            "give either before or after, not both".into(),
        ));
    }
    let level = match q.get("level") {
        None => None,
        Some(v) => Some(LogLevel::parse(v).ok_or_else(|| {
            ApiError::BadRequest(format!("level must be info, warn or error, not {v:?}"))
        })?),
    };
    let window = match (tail, after, before) {
        (n, _, Some(before)) => Window::Before { before, n },
        (Some(n), after, None) => Window::Tail { n, after },
        (None, after, None) => Window::After(after),
    };
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let Some((logs, total)) = engine.operation_logs(&id, window, level)? else {
            return Err(ApiError::NotFound(format!("operation {id} not found")));
        };
        Ok(Json(LogPage {
            operation_id: id,
            logs,
            total,
        }))
    })
    .await?
}
