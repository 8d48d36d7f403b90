use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiJson};
use crate::engine::ImportPathChange;
use crate::store::ImportPath;

#[derive(Serialize, ToSchema)]
pub struct ImportPathList {
    pub import_paths: Vec<ImportPathView>,
    pub total: u64,
}

/// An import folder and how it is watched now.
#[derive(Serialize, ToSchema)]
pub struct ImportPathView {
    #[serde(flatten)]
    pub import_path: ImportPath,
    /// `notify`, `poll` (with the reason) or `off`.
    pub watch_mode: crate::watch::WatchStatus,
}

#[derive(Deserialize, ToSchema)]
pub struct NewImportPath {
    pub path: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Exclude patterns (see `ImportPathUpdate`).
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
    /// Watch the folder (see `ImportPathUpdate`).
    #[serde(default)]
    pub watch: Option<crate::store::WatchSetting>,
}

/// Fields to change; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportPathUpdate {
    #[serde(default)]
    pub name: Option<String>,
    /// Whether scans without explicit paths include this folder.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Globs relative to the folder, replacing the current list: `*` and
    /// `?` within a name, `[a-z]` sets, `**` for any depth; a pattern
    /// without `/` matches names at any depth, one with `/` from the top;
    /// a trailing `/` matches folders only. At most 100.
    #[serde(default)]
    pub exclude: Option<Vec<String>>,
    /// Scan what changes in the folder as it changes: `auto`
    /// (filesystem notifications, debounced; a periodic rescan where they
    /// do not work: NFS, SMB), `poll` (a periodic rescan) or `off`.
    /// `watch_mode` in the listing says how it is watched now.
    #[serde(default)]
    pub watch: Option<crate::store::WatchSetting>,
}

/// Registered import folders.
#[utoipa::path(get, path = "/api/v1/import-paths", tag = "import paths", responses((status = 200, body = ImportPathList)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<ImportPathList>, ApiError> {
    let import_paths = s
        .engine
        .store
        .list_import_paths()?
        .into_iter()
        .map(|p| ImportPathView {
            watch_mode: s.engine.watch_states.get(&p.id),
            import_path: p,
        })
        .collect();
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
        let p = engine.add_import_path(std::path::Path::new(&body.path), body.name.as_deref())?;
        if body.exclude.is_none() && body.watch.is_none() {
            return Ok(p);
        }
        engine.update_import_path(
            &p.id,
            ImportPathChange {
                exclude: body.exclude,
                watch: body.watch,
                ..Default::default()
            },
        )
    })
    .await??;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Rename a folder, turn its scanning on or off, or set its exclude
/// patterns.
#[utoipa::path(patch, path = "/api/v1/import-paths/{id}", tag = "import paths",
    params(("id" = String, Path)), request_body = ImportPathUpdate,
    responses((status = 200, body = ImportPath), (status = 400, description = "a bad name or exclude pattern"), (status = 404)))]
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ImportPathUpdate>,
) -> Result<Json<ImportPath>, ApiError> {
    let engine = s.engine.clone();
    let change = ImportPathChange {
        name: body.name,
        enabled: body.enabled,
        exclude: body.exclude,
        watch: body.watch,
    };
    let p = tokio::task::spawn_blocking(move || engine.update_import_path(&id, change)).await??;
    Ok(Json(p))
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
