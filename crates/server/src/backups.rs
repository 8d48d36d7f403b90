//! Backups of the store: take one now (an operation), list them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::operations::Accepted;
use crate::backup::BackupInfo;

#[derive(Serialize, ToSchema)]
pub struct BackupList {
    /// The backup folder.
    pub dir: String,
    /// Newest first.
    pub backups: Vec<BackupInfo>,
}

/// Take a backup of the store now: a `backup` operation (one already
/// waiting or running is returned instead of a second).
#[utoipa::path(post, path = "/api/v1/backups", tag = "backups",
    responses((status = 202, body = Accepted), (status = 503)))]
pub async fn start(State(s): State<AppState>) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let engine = s.engine.clone();
    let op = tokio::task::spawn_blocking(move || engine.start_backup()).await??;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            operation_id: op.id,
        }),
    ))
}

/// The backups in the backup folder, newest first, with the checksum each
/// one states (`audiobook-organizer restore` verifies it).
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups",
    responses((status = 200, body = BackupList)))]
pub async fn list(State(s): State<AppState>) -> Result<Json<BackupList>, ApiError> {
    let dir = s.engine.config.backup_dir();
    let backups = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || crate::backup::list(&dir)
    })
    .await?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(BackupList {
        dir: dir.display().to_string(),
        backups,
    }))
}
