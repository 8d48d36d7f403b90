//! `GET /api/v1/errors/top`: the most frequent warn/error fingerprints, and
//! acknowledging one: it leaves the list until it happens again.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{ErrorGroup, Mutation};

/// Meta key of an acknowledgement: the time (unix nanoseconds) it was made.
fn ack_key(fingerprint: &str) -> String {
    format!("error_ack:{fingerprint}")
}

fn acknowledged_at(store: &dyn crate::store::Store, fingerprint: &str) -> Option<OffsetDateTime> {
    let bytes = store.get_meta(&ack_key(fingerprint)).ok().flatten()?;
    let nanos: i128 = std::str::from_utf8(&bytes).ok()?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[derive(Serialize, ToSchema)]
pub struct TopError {
    #[serde(flatten)]
    pub group: ErrorGroup,
    /// Occurrences on or after the day of `since` (all of them without it).
    pub count_since: u64,
    /// When it was last acknowledged (only with `acknowledged=true`; an
    /// acknowledged group comes back by itself when it happens again).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub acknowledged_at: Option<OffsetDateTime>,
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
                let acked =
                    acknowledged_at(&*store, &g.fingerprint).filter(|at| *at >= g.last_seen);
                if count_since > 0 && (acked.is_none() || with_acknowledged) {
                    all.push(TopError {
                        group: g,
                        count_since,
                        acknowledged_at: acked,
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

/// Acknowledge a recurring error: it leaves `top` until it happens again.
#[utoipa::path(delete, path = "/api/v1/errors/{fingerprint}", tag = "errors",
    params(("fingerprint" = String, Path)),
    responses((status = 204, description = "acknowledged"), (status = 404)))]
pub async fn acknowledge(
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        if store.get_error_group(&fingerprint)?.is_none() {
            return Err(ApiError::NotFound(format!("no error group {fingerprint}")));
        }
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
        store.apply(
            &[Mutation::SetMeta {
                key: ack_key(&fingerprint),
                value: now.to_string().into_bytes(),
            }],
            true,
        )?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await?
}
