//! The OpenAPI document, generated from the handlers' annotations. A
//! committed copy lives in `docs/openapi.json`; a test fails when they drift.

use axum::Json;
use utoipa::OpenApi;

use super::{
    backups, book_edits, books, error_groups, growth, health, import_paths, integrity, names,
    operations, queue, status, summary,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "audiobook-organizer", description = "Audiobook library server: scans, organizes, and shows every operation."),
    paths(
        import_paths::list, import_paths::add, import_paths::remove, import_paths::update,
        books::list, books::get_one, books::soft_delete, books::restore, books::cover,
        book_edits::edit_one, book_edits::edit_many, book_edits::unlock, book_edits::edits,
        names::authors, names::series, names::author_books, names::series_books,
        backups::start, backups::list,
        operations::start_scan, operations::start_organize, operations::list,
        operations::start_metadata, operations::get_one, operations::cancel, operations::logs,
        summary::summary,
        queue::show, queue::pause, queue::resume,
        health::detailed,
        status::show,
        growth::growth,
        integrity::check, integrity::list, integrity::acknowledge,
        error_groups::top,
        error_groups::acknowledge,
    ),
    components(schemas(crate::store::Operation, crate::store::Book, crate::store::BookFile, crate::store::ImportPath, crate::store::LogEntry)),
    modifiers(&ApiKeyScheme),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The document as pretty JSON (what the committed copy holds).
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}
