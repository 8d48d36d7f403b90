//! `GET /api/v1/stats/growth?days=N`: daily library snapshots.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{GrowthSnapshot, LibraryTotals};

#[derive(Serialize, ToSchema)]
pub struct Growth {
    pub days: u64,
    /// Snapshots of the days the server ran, oldest first; missing days are
    /// missing, never filled in.
    pub snapshots: Vec<GrowthSnapshot>,
    /// The library right now.
    pub current: LibraryTotals,
    /// Books added between the first snapshot in range and now.
    pub books_change: i64,
    pub bytes_change: i64,
}

/// Library growth: one snapshot per day over the last `days` days.
#[utoipa::path(get, path = "/api/v1/stats/growth", tag = "stats",
    params(("days" = Option<u64>, Query, description = "1..=3660, default 30")),
    responses((status = 200, body = Growth), (status = 400)))]
pub async fn growth(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Growth>, ApiError> {
    let days = query_u64(&q, "days")?.unwrap_or(30);
    if !(1..=3660).contains(&days) {
        return Err(ApiError::BadRequest(format!(
            "days must be between 1 and 3660, not {days}"
        )));
    }
    let engine = &s.engine;
    let today = engine.clock.local_today();
    let from = today - time::Duration::days(days as i64 - 1);
    let snapshots = engine
        .store
        .growth_since(&from.to_string(), days as usize)?;
    let current = engine.store.library_totals()?;
    let (books_change, bytes_change) = match snapshots.first() {
        Some(f) => (
            current.books as i64 - f.books as i64,
            current.total_bytes as i64 - f.total_bytes as i64,
        ),
        None => (0, 0),
    };
    Ok(Json(Growth {
        days,
        snapshots,
        current,
        books_change,
        bytes_change,
    }))
}
