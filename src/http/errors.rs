//! `GET /api/v1/errors/top`: the most frequent warn/error fingerprints.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::ErrorGroup;

#[derive(Serialize, ToSchema)]
pub struct TopError {
    #[serde(flatten)]
    pub group: ErrorGroup,
    /// Occurrences on or after the day of `since` (all of them without it).
    pub count_since: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TopErrors {
    pub errors: Vec<TopError>,
    /// Distinct fingerprints seen (in range).
    pub groups: u64,
}

/// Top recurring warnings and errors across all operations.
#[utoipa::path(get, path = "/api/v1/errors/top", tag = "errors",
    params(("limit" = Option<u64>, Query, description = "at most 500, default 20"),
           ("since" = Option<String>, Query, description = "RFC 3339 time; counts from that day (UTC)")),
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
    let store = s.engine.store.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<TopErrors, ApiError> {
        let since_day = since.map(|t| t.to_offset(time::UtcOffset::UTC).date().to_string());
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list_error_groups(after.as_deref(), 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.fingerprint.clone());
            for g in page {
                let count_since = match &since_day {
                    None => g.count,
                    Some(d) => g.daily.range(d.clone()..).map(|(_, n)| n).sum(),
                };
                if count_since > 0 {
                    all.push(TopError {
                        group: g,
                        count_since,
                    });
                }
            }
        }
        let groups = all.len() as u64;
        all.sort_by(|a, b| {
            b.count_since
                .cmp(&a.count_since)
                .then(b.group.last_seen.cmp(&a.group.last_seen))
        });
        all.truncate(limit);
        Ok(TopErrors {
            errors: all,
            groups,
        })
    })
    .await??;
    Ok(Json(out))
}
