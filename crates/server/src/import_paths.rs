use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiJson};
use crate::store::ImportPath;

#[derive(Serialize, ToSchema)]
pub struct ImportPathList {
    pub import_paths: Vec<ImportPath>,
    pub total: u64,
}

#[derive(Deserialize, ToSchema)]
pub struct NewImportPath {
    pub path: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Registered import folders.
#[utoipa::path(get, path = "/api/v1/import-paths", tag = "import paths", responses((status = 200, body = ImportPathList)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<ImportPathList>, ApiError> {
    let import_paths = s.engine.store.list_import_paths()?;
    Ok(Json(ImportPathList {
        total: s.engine.store.count_import_paths()?,
        import_paths,
    }))
}

/// Register a folder to scan; it must exist and be readable.
#[utoipa::path(post, path = "/api/v1/import-paths", tag = "import paths", request_body = NewImportPath,
    responses((status = 201, body = ImportPath), (status = 400, description = "missing, unreadable or not a folder")))]
pub async fn add(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<NewImportPath>,
) -> Result<(StatusCode, Json<ImportPath>), ApiError> {
    if body.path.trim().is_empty() || body.path.contains('\0') {
        return Err(ApiError::BadRequest("path must be a folder path".into()));
    }
    let engine = s.engine.clone();
    let p = tokio::task::spawn_blocking(move || {
        engine.add_import_path(std::path::Path::new(&body.path), body.name.as_deref())
    })
    .await??;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Forget a folder (its books stay).
#[utoipa::path(delete, path = "/api/v1/import-paths/{id}", tag = "import paths",
    params(("id" = String, Path)), responses((status = 204), (status = 404)))]
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || engine.remove_import_path(&id)).await??;
    Ok(StatusCode::NO_CONTENT)
}
