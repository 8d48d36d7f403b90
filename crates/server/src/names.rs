//! Authors and series: paged and searchable lists with book counts, and
//! each one's books.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{Book, NameCount, NameKind};

#[derive(Serialize, ToSchema)]
pub struct NamesPage {
    /// Names in alphabetical order (case and accents ignored), each with
    /// its live books' count.
    pub names: Vec<NameCount>,
    /// Names matching `q` (all of them without one).
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Serialize, ToSchema)]
pub struct NamedBooks {
    /// The name as first found (any spelling that differs only in case
    /// or accents finds it).
    pub name: String,
    /// A series' books in series order; an author's by series, then title.
    pub books: Vec<Book>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

fn paging(q: &HashMap<String, String>) -> Result<(u64, u64), ApiError> {
    let limit = query_u64(q, "limit")?.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit: 1 to 1000".into()));
    }
    Ok((limit, query_u64(q, "offset")?.unwrap_or(0)))
}

async fn names(
    s: AppState,
    kind: NameKind,
    q: HashMap<String, String>,
) -> Result<Json<NamesPage>, ApiError> {
    let (limit, offset) = paging(&q)?;
    let search = q.get("q").map(|v| v.trim().to_string());
    if search.as_ref().is_some_and(|s| s.len() > 500) {
        return Err(ApiError::BadRequest("q: at most 500 bytes".into()));
    }
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        let (names, total) = store.list_names(
            kind,
            search.as_deref().filter(|s| !s.is_empty()),
            usize::try_from(offset).unwrap_or(usize::MAX),
            limit as usize,
        )?;
        Ok(Json(NamesPage {
            names,
            total,
            limit,
            offset,
        }))
    })
    .await?
}

async fn books(
    s: AppState,
    kind: NameKind,
    name: String,
    q: HashMap<String, String>,
) -> Result<Json<NamedBooks>, ApiError> {
    let (limit, offset) = paging(&q)?;
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        let what = match kind {
            NameKind::Author => "author",
            NameKind::Series => "series",
        };
        let (shown, page) = store
            .named_books(
                kind,
                &name,
                usize::try_from(offset).unwrap_or(usize::MAX),
                limit as usize,
            )?
            .ok_or_else(|| ApiError::NotFound(format!("no {what} {name:?} in the library")))?;
        Ok(Json(NamedBooks {
            name: shown,
            books: page.books,
            total: page.total,
            limit,
            offset,
        }))
    })
    .await?
}

/// Authors of live books, with how many books each has.
#[utoipa::path(get, path = "/api/v1/authors", tag = "books",
    params(("q" = Option<String>, Query, description = "words, each the start of a word of the name"),
           ("limit" = Option<u64>, Query, description = "1 to 1000, default 50"), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = NamesPage), (status = 400)))]
pub async fn authors(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<NamesPage>, ApiError> {
    names(s, NameKind::Author, q).await
}

/// Series of live books, with how many books each has.
#[utoipa::path(get, path = "/api/v1/series", tag = "books",
    params(("q" = Option<String>, Query, description = "words, each the start of a word of the name"),
           ("limit" = Option<u64>, Query, description = "1 to 1000, default 50"), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = NamesPage), (status = 400)))]
pub async fn series(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<NamesPage>, ApiError> {
    names(s, NameKind::Series, q).await
}

/// One author's live books.
#[utoipa::path(get, path = "/api/v1/authors/{name}/books", tag = "books",
    params(("name" = String, Path), ("limit" = Option<u64>, Query), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = NamedBooks), (status = 400), (status = 404)))]
pub async fn author_books(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<NamedBooks>, ApiError> {
    books(s, NameKind::Author, name, q).await
}

/// One series' live books, in series order.
#[utoipa::path(get, path = "/api/v1/series/{name}/books", tag = "books",
    params(("name" = String, Path), ("limit" = Option<u64>, Query), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = NamedBooks), (status = 400), (status = 404)))]
pub async fn series_books(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<NamedBooks>, ApiError> {
    books(s, NameKind::Series, name, q).await
}
