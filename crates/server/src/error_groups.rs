//! `GET /api/v1/errors/top`: the most frequent warn/error fingerprints, and
//! acknowledging one: it leaves the list until it happens again.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use time::OffsetDateTime;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::logs::top::TopErrors;

/// Top recurring warnings and errors across all operations.
#[utoipa::path(get, path = "/api/v1/errors/top", tag = "errors",
    params(("limit" = Option<u64>, Query, description = "at most 500, default 20"),
           ("since" = Option<String>, Query, description = "RFC 3339 time; counts from that day (UTC)"),
           ("acknowledged" = Option<bool>, Query, description = "also list groups acknowledged since they last happened")),
    responses((status = 200, body = TopErrors), (status = 400)))]
pub async fn top(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TopErrors>, ApiError> {
    let limit = query_u64(&q, "limit")?.unwrap_or(20).clamp(1, 500) as usize;
    let since = match q.get("since") {
        Some(v) => Some(
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(
                |_| ApiError::BadRequest(format!("since must be an RFC 3339 time, not {v:?}")),
            )?,
        ),
        None => None,
    };
    let with_acknowledged = match q.get("acknowledged").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "acknowledged must be true or false, not {v:?}"
            )));
        }
    };
    let engine = s.engine.clone();
    let out =
        tokio::task::spawn_blocking(move || engine.top_errors(since, limit, with_acknowledged))
            .await??;
    Ok(Json(out))
}

/// Acknowledge a recurring error: it leaves `top` until it happens again.
#[utoipa::path(delete, path = "/api/v1/errors/{fingerprint}", tag = "errors",
    params(("fingerprint" = String, Path)),
    responses((status = 204, description = "acknowledged"), (status = 404)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = s.engine.clone();
    let found = tokio::task::spawn_blocking(move || {
        engine
            .acknowledge_error(&fingerprint)
            .map(|found| (found, fingerprint))
    })
    .await??;
    match found {
        (true, _) => Ok(StatusCode::NO_CONTENT),
        (false, fingerprint) => Err(ApiError::NotFound(format!("no error group {fingerprint}"))),
    }
}
