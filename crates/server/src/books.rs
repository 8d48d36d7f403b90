use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, query_u64};
use crate::store::{Book, BookQuery, BookSort, Cursor, Mutation, now};

#[derive(Serialize, ToSchema)]
pub struct BooksPage {
    pub books: Vec<Book>,
    /// Matching live books (all live books when there is no `q`).
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// `title`, `author`, `series` or `added`.
    pub sort: String,
    /// `asc` or `desc`.
    pub order: String,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The listing a request asks for: every parameter checked.
fn book_query(q: &HashMap<String, String>) -> Result<BookQuery, ApiError> {
    let limit = query_u64(q, "limit")?.unwrap_or(50).min(1000);
    let offset = query_u64(q, "offset")?.unwrap_or(0);
    let sort = match q.get("sort").map(|s| s.trim()) {
        None | Some("") => BookSort::Added,
        Some(s) => BookSort::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "sort must be one of title, author, series, added; not {s:?}"
            ))
        })?,
    };
    let descending = match q.get("order").map(|s| s.trim()) {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::BadRequest(format!(
                "order must be asc or desc, not {o:?}"
            )));
        }
    };
    let after = match q.get("after").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(_) if offset > 0 => {
            return Err(ApiError::BadRequest(
                "give offset or after, not both".into(),
            ));
        }
        Some(c) => Some(Cursor::parse(c).ok_or_else(|| {
            ApiError::BadRequest("after must be the next value of an earlier page".into())
        })?),
    };
    Ok(BookQuery {
        sort,
        descending,
        search: q
            .get("q")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
        offset,
        after,
        limit: limit as usize,
    })
}

/// List live books in an indexed order, by position or cursor, optionally
/// searched: each word of `q` must start a word of the title, an author,
/// the series or a narrator (case and accents ignored).
#[utoipa::path(get, path = "/api/v1/books", tag = "books",
    params(("limit" = Option<u64>, Query, description = "at most 1000, default 50"),
           ("offset" = Option<u64>, Query),
           ("after" = Option<String>, Query, description = "the `next` of the previous page (instead of offset)"),
           ("sort" = Option<String>, Query, description = "title, author, series or added (default)"),
           ("order" = Option<String>, Query, description = "asc (default) or desc"),
           ("q" = Option<String>, Query, description = "words, each the start of a word of title, author, series or narrator")),
    responses((status = 200, body = BooksPage), (status = 400, description = "bad paging, sort or cursor")))]
pub async fn list(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<BooksPage>, ApiError> {
    let query = book_query(&q)?;
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        let page = store.query_books(&query)?;
        Ok(Json(BooksPage {
            books: page.books,
            total: page.total,
            limit: query.limit as u64,
            offset: query.offset,
            sort: query.sort.as_str().into(),
            order: if query.descending { "desc" } else { "asc" }.into(),
            next: page.next.map(|c| c.to_string()),
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
