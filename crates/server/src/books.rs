use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{Book, Mutation, now};

#[derive(Serialize, ToSchema)]
pub struct BooksPage {
    pub books: Vec<Book>,
    /// Matching live books (all live books when there is no `q`).
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

fn matches(b: &Book, q: &str) -> bool {
    let q = q.to_lowercase();
    b.title.to_lowercase().contains(&q)
        || b.author.to_lowercase().contains(&q)
        || b.series
            .as_deref()
            .is_some_and(|s| s.to_lowercase().contains(&q))
}

/// List live books, oldest first, with paging and a substring search.
#[utoipa::path(get, path = "/api/v1/books", tag = "books",
    params(("limit" = Option<u64>, Query, description = "at most 1000, default 50"),
           ("offset" = Option<u64>, Query), ("q" = Option<String>, Query, description = "substring of title, author or series")),
    responses((status = 200, body = BooksPage), (status = 400, description = "bad paging")))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<BooksPage>, ApiError> {
    let limit = query_u64(&q, "limit")?.unwrap_or(50).min(1000);
    let offset = query_u64(&q, "offset")?.unwrap_or(0);
    let needle = q
        .get("q")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut books = Vec::new();
        let mut seen = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page = store.list_books(after.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for b in page {
                if b.deleted || needle.as_deref().is_some_and(|n| !matches(&b, n)) {
                    continue;
                }
                if seen >= offset && (books.len() as u64) < limit {
                    books.push(b);
                }
                seen += 1;
            }
            // Without a search, the total is maintained: stop once the page is full.
            if needle.is_none() && books.len() as u64 >= limit {
                break;
            }
        }
        let total = if needle.is_none() {
            store.count_books()?
        } else {
            seen
        };
        Ok(Json(BooksPage {
            books,
            total,
            limit,
            offset,
        }))
    })
    .await?
}

/// One book (soft-deleted ones too, with `deleted: true`).
#[utoipa::path(get, path = "/api/v1/books/{id}", tag = "books",
    params(("id" = String, Path)), responses((status = 200, body = Book), (status = 404)))]
pub async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Book>, ApiError> {
    s.engine
        .store
        .get_book(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("book {id} not found")))
}

async fn set_deleted(s: AppState, id: String, deleted: bool) -> Result<Json<Book>, ApiError> {
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut book = store
            .get_book(&id)?
            .ok_or_else(|| ApiError::NotFound(format!("book {id} not found")))?;
        if book.deleted != deleted {
            book.deleted = deleted;
            book.updated_at = now();
            store.apply(&[Mutation::PutBook(book.clone())], true)?;
        }
        Ok(Json(book))
    })
    .await?
}

/// Soft delete: hidden from listings and counts, files untouched.
#[utoipa::path(delete, path = "/api/v1/books/{id}", tag = "books",
    params(("id" = String, Path)), responses((status = 200, body = Book), (status = 404)))]
pub async fn soft_delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Book>, ApiError> {
    set_deleted(s, id, true).await
}

/// Undo a soft delete.
#[utoipa::path(post, path = "/api/v1/books/{id}/restore", tag = "books",
    params(("id" = String, Path)), responses((status = 200, body = Book), (status = 404)))]
pub async fn restore(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Book>, ApiError> {
    set_deleted(s, id, false).await
}

/// The book's cover image: the image file found with it (`cover.jpg`,
/// `folder.jpg`, ...), else the picture in its parts' tags. The type is
/// the one the bytes' signature names; `If-None-Match` with the `ETag`
/// gives 304.
#[utoipa::path(get, path = "/api/v1/books/{id}/cover", tag = "books",
    params(("id" = String, Path)),
    responses((status = 200, description = "a JPEG, PNG, WebP or GIF image",
               content_type = "image/*"),
              (status = 304, description = "the image has not changed"),
              (status = 404, description = "no such book, or it has no cover that can be read")))]
pub async fn cover(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let store = s.engine.store.clone();
    let picture = tokio::task::spawn_blocking(move || {
        let book = store
            .get_book(&id)?
            .ok_or_else(|| ApiError::NotFound(format!("book {id} not found")))?;
        crate::jobs::cover::load(&book)
            .ok_or_else(|| ApiError::NotFound(format!("book {id} has no cover")))
    })
    .await??;
    let etag = format!("\"{}\"", &crate::hash::sha256_hex(&picture.data)[..32]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        picture.data.into_response()
    };
    let h = res.headers_mut();
    if !fresh {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(picture.mime));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(res)
}
