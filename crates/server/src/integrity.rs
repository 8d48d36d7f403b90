//! The integrity checker's API: start a check, page through findings,
//! acknowledge one.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{IntegrityFinding, Mutation};

#[derive(Serialize, ToSchema)]
pub struct CheckStarted {
    pub operation_id: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct FindingsPage {
    pub mismatches: Vec<IntegrityFinding>,
    /// All current findings.
    pub total: u64,
    /// Current findings per kind (mismatch, missing, unreadable).
    pub by_kind: HashMap<String, u64>,
    pub limit: u64,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Start an integrity check (low priority); an already waiting or running
/// one is returned instead of a second.
#[utoipa::path(post, path = "/api/v1/integrity/check", tag = "integrity",
    responses((status = 202, body = CheckStarted), (status = 503)))]
pub async fn check(
    State(s): State<AppState>,
) -> Result<(StatusCode, Json<CheckStarted>), ApiError> {
    let engine = s.engine.clone();
    let op = tokio::task::spawn_blocking(move || engine.start_integrity_check()).await??;
    Ok((
        StatusCode::ACCEPTED,
        Json(CheckStarted {
            operation_id: op.id,
            message: "integrity check enqueued".into(),
        }),
    ))
}

/// Current findings in book id order, paged with `after`.
#[utoipa::path(get, path = "/api/v1/integrity/mismatches", tag = "integrity",
    params(("limit" = Option<u64>, Query, description = "at most 1000, default 100"),
           ("after" = Option<String>, Query, description = "book id from next_after")),
    responses((status = 200, body = FindingsPage), (status = 400)))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<FindingsPage>, ApiError> {
    let limit = query_u64(&q, "limit")?.unwrap_or(100).clamp(1, 1000);
    let store = &s.engine.store;
    let mut page = store.list_findings(q.get("after").map(String::as_str), limit as usize + 1)?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    let counts = store.count_findings()?;
    Ok(Json(FindingsPage {
        next_after: if more {
            page.last().map(|f| f.book_id.clone())
        } else {
            None
        },
        mismatches: page,
        total: counts.iter().map(|(_, n)| n).sum(),
        by_kind: counts
            .into_iter()
            .map(|(k, n)| (k.as_str().to_string(), n))
            .collect(),
        limit,
    }))
}

/// Acknowledge (remove) the finding of a book.
#[utoipa::path(delete, path = "/api/v1/integrity/mismatches/{book_id}", tag = "integrity",
    params(("book_id" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    Path(book_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let changed = s
        .engine
        .store
        .apply(&[Mutation::DeleteFinding(book_id.clone())], true)?;
    if changed.first() == Some(&true) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no integrity finding for book {book_id}"
        )))
    }
}
