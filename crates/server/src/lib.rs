//! The HTTP edge: axum router, handlers by resource, auth, the one error
//! mapping, SSE and WebSocket endpoints over the realtime hub, /metrics and
//! the OpenAPI document. Everything reaches the engine through `AppState`.

mod auth;
mod backups;
mod book_edits;
mod books;
pub mod error;
mod error_groups;
mod events;
mod growth;
mod guard;
mod health;
mod import_paths;
mod integrity;
mod listen;
mod metrics;
mod names;
pub mod openapi;
mod operations;
mod queue;
mod status;
mod summary;
mod web;

use ao_core::hash;
use ao_engine::{
    backup, book_edits as edits_engine, config, engine, jobs, logs, maintenance, ops,
    process_stats, realtime, watch,
};
use ao_store as store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tower_http::timeout::TimeoutLayer;

use crate::config::{AuthMode, Config};
use crate::engine::Engine;
use crate::realtime::{Hub, HubConfig};
use crate::store::Mutation;

pub use status::system_status;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub hub: Arc<Hub>,
    /// `None` when no key is required.
    pub api_key: Option<String>,
    pub started: Instant,
    pub config: Arc<Config>,
}

/// Where the generated API key is kept in the store's meta table.
pub const API_KEY_META: &str = "api_key";

/// The stored key, creating one on first start. Returns it and whether it
/// is new (so it is printed once).
pub fn ensure_api_key(engine: &Engine) -> Result<(String, bool), error::ApiError> {
    if let Some(k) = &engine.config.server.api_key {
        return Ok((k.clone(), false));
    }
    if let Some(bytes) = engine.store.get_meta(API_KEY_META)?
        && let Ok(k) = String::from_utf8(bytes)
    {
        return Ok((k, false));
    }
    let key = auth::generate_key().map_err(|e| error::ApiError::Internal(e.to_string()))?;
    engine.store.apply(
        &[Mutation::SetMeta {
            key: API_KEY_META.into(),
            value: key.clone().into_bytes(),
        }],
        true,
    )?;
    Ok((key, true))
}

fn is_loopback(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost",
    }
}

/// Whether `/api/*` needs the key, given the mode and the listen address.
pub fn key_required(mode: AuthMode, host: &str) -> bool {
    match mode {
        AuthMode::None => false,
        AuthMode::Key => true,
        AuthMode::Auto => !is_loopback(host),
    }
}

pub fn router(state: AppState) -> Router {
    let cfg = &state.config.server;
    let api = Router::new()
        .route(
            "/v1/import-paths",
            get(import_paths::list).post(import_paths::add),
        )
        .route(
            "/v1/import-paths/{id}",
            delete(import_paths::remove).patch(import_paths::update),
        )
        .route("/v1/books", get(books::list).patch(book_edits::edit_many))
        .route(
            "/v1/books/{id}",
            get(books::get_one)
                .delete(books::soft_delete)
                .patch(book_edits::edit_one),
        )
        .route("/v1/books/{id}/locks/{field}", delete(book_edits::unlock))
        .route("/v1/books/{id}/edits", get(book_edits::edits))
        .route("/v1/backups", get(backups::list).post(backups::start))
        .route("/v1/authors", get(names::authors))
        .route("/v1/authors/{name}/books", get(names::author_books))
        .route("/v1/series", get(names::series))
        .route("/v1/series/{name}/books", get(names::series_books))
        .route("/v1/books/{id}/restore", post(books::restore))
        .route("/v1/books/{id}/cover", get(books::cover))
        .route("/v1/operations", get(operations::list))
        .route("/v1/operations/scan", post(operations::start_scan))
        .route("/v1/operations/organize", post(operations::start_organize))
        .route("/v1/operations/metadata", post(operations::start_metadata))
        .route("/v1/operations/{id}/summary", get(summary::summary))
        .route("/v1/stats/growth", get(growth::growth))
        .route("/v1/integrity/check", post(integrity::check))
        .route("/v1/integrity/mismatches", get(integrity::list))
        .route(
            "/v1/integrity/mismatches/{book_id}",
            delete(integrity::acknowledge),
        )
        .route("/v1/errors/top", get(error_groups::top))
        .route(
            "/v1/errors/{fingerprint}",
            delete(error_groups::acknowledge),
        )
        .route(
            "/v1/operations/{id}",
            get(operations::get_one).delete(operations::cancel),
        )
        .route("/v1/operations/{id}/logs", get(operations::logs))
        .route("/v1/queue", get(queue::show))
        .route("/v1/queue/pause", post(queue::pause))
        .route("/v1/queue/resume", post(queue::resume))
        .route("/v1/health", get(health::detailed))
        .route("/v1/system/status", get(status::show))
        .route("/v1/openapi.json", get(openapi::serve))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ))
        // Streams are long-lived: no request timeout on them.
        .route("/events", get(events::sse))
        .route("/ws", get(events::ws))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let mut metrics_route = Router::new().route("/metrics", get(metrics::render));
    if state.config.server.metrics_auth {
        metrics_route = metrics_route.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    }
    Router::new()
        .nest("/api", api)
        .merge(metrics_route)
        .route("/", get(web::index))
        .route("/ui/{*path}", get(web::asset))
        .route("/health", get(health::live))
        .route("/ping", get(health::ping))
        .fallback(|| async { error::ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(cfg.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .with_state(state)
}

/// A bound server, ready to run (zero2prod's `Application`).
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl Server {
    /// Binds the listener and starts the hub; the engine must be running.
    pub async fn bind(engine: Arc<Engine>) -> std::io::Result<(Self, Option<(String, bool)>)> {
        let config = Arc::new(engine.config.clone());
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let hub = Hub::new(HubConfig {
            ring: config.server.event_ring,
            progress_interval: config.server.progress_interval,
            heartbeat: config.server.heartbeat,
            client_buffer: config.server.client_buffer,
            client_queue_bytes: config.server.client_queue_bytes,
        });
        hub.clone().forward(&engine.bus);
        let required = key_required(config.server.auth, &config.server.host);
        let key = if required {
            Some(ensure_api_key(&engine).map_err(|e| std::io::Error::other(e.to_string()))?)
        } else {
            None
        };
        let state = AppState {
            engine,
            hub,
            api_key: key.as_ref().map(|(k, _)| k.clone()),
            started: Instant::now(),
            config,
        };
        Ok((Self { listener, state }, key))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting and lets open
    /// requests end (streams end when the hub's clients are dropped).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let status_task = status::spawn_status_loop(self.state.clone());
        let hub = self.state.hub.clone();
        let limits = listen::Limits {
            header_read_timeout: self.state.config.server.header_read_timeout,
            max_connections: self.state.config.server.max_connections,
        };
        let app = router(self.state);
        // Streams never end on their own: close them when shutdown starts,
        // so the graceful shutdown can finish.
        let shutdown = async move {
            shutdown.await;
            hub.close_all();
        };
        let result = listen::serve(self.listener, app, limits, shutdown).await;
        status_task.abort();
        // Wait for it to be gone, so no handle on the engine outlives the server.
        let _ = status_task.await;
        result
    }
}
