//! Editing books: one book, several in one request, unlocking a field,
//! and the record of edits.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Actor;
use super::error::{ApiError, ApiJson, query_u64};
use crate::edits_engine::{EditRequest, bulk_ids};
use crate::store::{Book, BookEditRecord, BookField};

/// The fields of an edit (documentation of the body; any subset). Each
/// field given is set, marked `user` and locked; `null` or `[]` clears it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BookPatch {
    title: Option<String>,
    authors: Option<Vec<String>>,
    narrators: Option<Vec<String>>,
    series: Option<String>,
    /// Text or a number (`"2.5"`, `3`).
    series_index: Option<String>,
    year: Option<i32>,
    /// ISBN-10 or ISBN-13, check digit verified; stored without hyphens.
    isbn: Option<String>,
    asin: Option<String>,
    description: Option<String>,
    language: Option<String>,
    publisher: Option<String>,
    genres: Option<Vec<String>>,
    /// Fields to unlock: the next scan or lookup may replace them.
    unlock: Option<Vec<BookField>>,
}

/// A bulk edit: the same fields as `BookPatch`, for every book of `ids`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BulkBookPatch {
    /// 1 to 1,000 book ids; every one must exist, else nothing changes.
    ids: Vec<String>,
    #[schema(inline)]
    fields: BookPatch,
}

#[derive(Serialize, ToSchema)]
pub struct EditedBooks {
    pub books: Vec<Book>,
}

#[derive(Serialize, ToSchema)]
pub struct BookEdits {
    pub edits: Vec<BookEditRecord>,
}

async fn edit(
    s: &AppState,
    ids: Vec<String>,
    req: EditRequest,
    actor: &Actor,
) -> Result<Vec<Book>, ApiError> {
    let engine = s.engine.clone();
    let by = actor.0.to_string();
    Ok(tokio::task::spawn_blocking(move || engine.edit_books(&ids, &req, &by)).await??)
}

/// Edit a book: every field given is set, its provenance becomes `user`
/// and it is locked (scans and lookups leave it alone).
#[utoipa::path(patch, path = "/api/v1/books/{id}", tag = "books",
    params(("id" = String, Path)), request_body = BookPatch,
    responses((status = 200, body = Book),
              (status = 400, description = "an unknown field or a bad value"), (status = 404)))]
pub async fn edit_one(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Book>, ApiError> {
    let req = EditRequest::from_json(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut books = edit(&s, vec![id], req, &actor).await?;
    books
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::Internal("the edited book is gone".into()))
}

/// Edit several books the same way in one transaction: all or none.
#[utoipa::path(patch, path = "/api/v1/books", tag = "books",
    request_body = BulkBookPatch,
    responses((status = 200, body = EditedBooks),
              (status = 400, description = "bad ids, an unknown field or a bad value"),
              (status = 404, description = "one of the books does not exist (none was changed)")))]
pub async fn edit_many(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<EditedBooks>, ApiError> {
    let bad = |e: crate::edits_engine::EditError| ApiError::BadRequest(e.to_string());
    let ids = bulk_ids(body.remove("ids").as_ref()).map_err(bad)?;
    let req = EditRequest::from_json(&body).map_err(bad)?;
    let books = edit(&s, ids, req, &actor).await?;
    Ok(Json(EditedBooks { books }))
}

/// Unlock one field of a book: its value stays until the next scan or
/// lookup gives another.
#[utoipa::path(delete, path = "/api/v1/books/{id}/locks/{field}", tag = "books",
    params(("id" = String, Path), ("field" = String, Path, description = "a field name, e.g. `title`")),
    responses((status = 200, body = Book), (status = 400, description = "not a field"), (status = 404)))]
pub async fn unlock(
    State(s): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((id, field)): Path<(String, String)>,
) -> Result<Json<Book>, ApiError> {
    let field = BookField::parse(&field)
        .ok_or_else(|| ApiError::BadRequest(format!("{field:?} is not a book field")))?;
    let req = EditRequest {
        set: Vec::new(),
        unlock: vec![field],
    };
    let mut books = edit(&s, vec![id], req, &actor).await?;
    books
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::Internal("the edited book is gone".into()))
}

/// Who changed what in a book, newest first.
#[utoipa::path(get, path = "/api/v1/books/{id}/edits", tag = "books",
    params(("id" = String, Path), ("limit" = Option<u64>, Query, description = "1 to 500, default 100")),
    responses((status = 200, body = BookEdits), (status = 400), (status = 404)))]
pub async fn edits(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<BookEdits>, ApiError> {
    let limit = query_u64(&q, "limit")?.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit: 1 to 500".into()));
    }
    let store = s.engine.store.clone();
    tokio::task::spawn_blocking(move || {
        if store.get_book(&id)?.is_none() {
            return Err(ApiError::NotFound(format!("book {id} not found")));
        }
        Ok(Json(BookEdits {
            edits: store.book_edits(&id, limit as usize)?,
        }))
    })
    .await?
}
