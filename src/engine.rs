//! Wires the layers together: store, log writer, event bus, metrics, jobs
//! and queue. The CLI and (later) the HTTP server drive an `Engine`; nothing
//! here is global.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use ulid::Ulid;

use crate::config::Config;
use crate::jobs::{JobContext, registry};
use crate::metrics::Metrics;
use crate::ops::events::EventBus;
use crate::ops::{BusSink, Queue, QueueConfig, QueueError};
use crate::store::log_writer::LogWriter;
use crate::store::{ImportPath, Mutation, RedbStore, Store, StoreError, now};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("import path {path}: {reason}")]
    BadImportPath { path: String, reason: String },
    #[error("import path {0} not found")]
    ImportPathNotFound(String),
}

pub struct Engine {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub writer: LogWriter,
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    pub queue: Queue,
}

/// How the engine starts.
#[derive(Debug, Clone, Copy)]
pub struct StartOptions {
    /// Run operations that an earlier process left queued.
    pub resume_queued: bool,
}

impl Engine {
    pub fn start(config: Config, opts: StartOptions) -> Result<Self, EngineError> {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&config.db)?);
        Self::start_with_store(config, store, opts)
    }

    pub fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
        opts: StartOptions,
    ) -> Result<Self, EngineError> {
        let bus = EventBus::default();
        let metrics = Arc::new(Metrics::default());
        let writer = LogWriter::start(store.clone(), Arc::new(BusSink(bus.clone())));
        let ctx = Arc::new(JobContext {
            store: store.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            organize_lock: Mutex::new(()),
        });
        let queue = Queue::start(
            store.clone(),
            writer.clone(),
            bus.clone(),
            metrics.clone(),
            registry(ctx),
            QueueConfig {
                workers: config.workers,
                timeouts: config.timeouts.clone(),
                resume_queued: opts.resume_queued,
                ..QueueConfig::default()
            },
        )?;
        Ok(Self {
            config,
            store,
            writer,
            bus,
            metrics,
            queue,
        })
    }

    /// Registers a folder to scan, or returns the one already registered.
    pub fn add_import_path(
        &self,
        path: &Path,
        name: Option<&str>,
    ) -> Result<ImportPath, EngineError> {
        let shown = path.display().to_string();
        let bad = |reason: String| EngineError::BadImportPath {
            path: shown.clone(),
            reason,
        };
        let canonical = std::fs::canonicalize(path).map_err(|e| bad(e.to_string()))?;
        if !canonical.is_dir() {
            return Err(bad("not a directory".into()));
        }
        std::fs::read_dir(&canonical).map_err(|e| bad(format!("not readable: {e}")))?;
        let canonical = canonical
            .to_str()
            .ok_or_else(|| bad("the path is not valid UTF-8".into()))?
            .to_string();
        if let Some(existing) = self
            .store
            .list_import_paths()?
            .into_iter()
            .find(|p| p.path == canonical)
        {
            return Ok(existing);
        }
        let name = name.map(str::to_string).unwrap_or_else(|| {
            Path::new(&canonical)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("import")
                .to_string()
        });
        let p = ImportPath {
            id: Ulid::generate().to_string(),
            path: canonical,
            name,
            enabled: true,
            created_at: now(),
        };
        self.store
            .apply(&[Mutation::PutImportPath(p.clone())], true)?;
        Ok(p)
    }

    pub fn remove_import_path(&self, id: &str) -> Result<(), EngineError> {
        let changed = self
            .store
            .apply(&[Mutation::DeleteImportPath(id.to_string())], true)?;
        if changed.first() == Some(&true) {
            Ok(())
        } else {
            Err(EngineError::ImportPathNotFound(id.to_string()))
        }
    }

    /// Stops the queue (running work gets `grace` to finish), flushes, and
    /// closes the store cleanly once every handle is gone.
    pub fn shutdown(self, grace: Duration) {
        self.queue.shutdown(grace);
        // Drop (below) finds nothing left to wait for.
    }
}

impl Drop for Engine {
    /// Leaving early (an error, a panic) still stops the workers and lets
    /// the writer thread and the store close cleanly.
    fn drop(&mut self) {
        self.queue.shutdown(Duration::from_secs(5));
        let _ = self.writer.flush();
    }
}
