//! Wires the layers together: store, log writer, event bus, metrics, jobs
//! and queue. The CLI and (later) the HTTP server drive an `Engine`; nothing
//! here is global.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use ulid::Ulid;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::jobs::{JobContext, registry};
use crate::logs::writer::LogWriter;
use crate::maintenance::health::HealthMonitor;
use crate::maintenance::{Maintenance, growth, health, retention, schedule};
use crate::metrics::Metrics;
use crate::ops::events::{Event, EventBus};
use crate::ops::{BusSink, Queue, QueueConfig, QueueError};
use crate::sources::Breakers;
use crate::store::{
    Book, BookEdit, ImportPath, Mutation, Priority, RedbStore, Store, StoreError, now,
};

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
    #[error(transparent)]
    BadEdit(#[from] crate::book_edits::EditError),
    #[error("book {0} not found")]
    BookNotFound(String),
}

pub struct Engine {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub writer: LogWriter,
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    pub queue: Queue,
    pub clock: Arc<dyn Clock>,
    /// The latest health ping.
    pub health: Arc<HealthMonitor>,
    pub breakers: Arc<Breakers>,
    /// How each watched import folder is watched (a serving engine's).
    pub watch_states: Arc<crate::watch::WatchStates>,
    maintenance: Mutex<Option<Maintenance>>,
}

/// What `Engine::update_import_path` changes (`None`: left as it is).
#[derive(Debug, Default, Clone)]
pub struct ImportPathChange {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub exclude: Option<Vec<String>>,
    pub watch: Option<crate::store::WatchSetting>,
}

/// At most this many exclude patterns per import path.
pub const MAX_EXCLUDE_PATTERNS: usize = 100;

/// How the engine starts.
#[derive(Clone)]
pub struct StartOptions {
    /// Run operations that an earlier process left queued.
    pub resume_queued: bool,
    /// What time-based features read; tests move a manual clock.
    pub clock: Arc<dyn Clock>,
    /// Operation types beyond the built-in ones (an embedding program's own
    /// work, or a test's), run by the same queue with the same reporter.
    pub extra_jobs: Vec<(String, crate::ops::JobFn)>,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            resume_queued: true,
            clock: Arc::new(SystemClock),
            extra_jobs: Vec::new(),
        }
    }
}

impl Engine {
    pub fn start(config: Config, opts: StartOptions) -> Result<Self, EngineError> {
        let store: Arc<dyn Store> =
            Arc::new(RedbStore::open_with_mode(&config.db, config.store_mode)?);
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
        let breakers = Arc::new(Breakers::new(bus.clone(), opts.clock.clone()));
        let ctx = Arc::new(JobContext {
            store: store.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            clock: opts.clock.clone(),
            notify: Arc::new(BusNotify(bus.clone())),
            breakers: breakers.clone(),
        });
        let f = &config.features;
        let queue = Queue::start(
            store.clone(),
            writer.clone(),
            bus.clone(),
            metrics.clone(),
            {
                let mut jobs = registry(ctx);
                jobs.extend(opts.extra_jobs);
                jobs
            },
            QueueConfig {
                workers: config.workers,
                timeouts: config.timeouts.clone(),
                resume_queued: opts.resume_queued,
                aging: f.queue_aging,
                slow_after: f.slow_after.clone(),
                stall_after: f.stall_after,
                watch_interval: f.watch_interval,
                one_at_a_time: crate::jobs::ONE_AT_A_TIME.map(str::to_string).to_vec(),
                ..QueueConfig::default()
            },
        )?;
        let engine = Self {
            config,
            store,
            writer,
            bus,
            metrics,
            queue,
            clock: opts.clock,
            health: Arc::new(HealthMonitor::default()),
            breakers,
            watch_states: Default::default(),
            maintenance: Mutex::new(None),
        };
        Ok(engine)
    }

    /// Starts the background tasks; they hold what they use, not the engine.
    pub fn start_background(self: &Arc<Self>) {
        // The newest backup from before this start, for its age alert.
        if let Ok(Some(newest)) =
            crate::backup::list(&self.config.backup_dir()).map(|l| l.into_iter().next())
        {
            use std::sync::atomic::Ordering::Relaxed;
            let at = newest.created_at.unix_timestamp().max(0) as u64;
            self.metrics.backup_last_success.store(at, Relaxed);
            self.metrics.backup_last_bytes.store(newest.bytes, Relaxed);
        }
        let mut m = Maintenance::default();
        let stopper = m.stopper();
        let f = self.config.features.clone();
        let (store, clock, metrics) =
            (self.store.clone(), self.clock.clone(), self.metrics.clone());
        let cfg = f.clone();
        let bus = self.bus.clone();
        m.every(
            "retention",
            f.retention_interval,
            move || match retention::run_once(&*store, &*clock, &cfg, &metrics, &stopper) {
                Ok(out) if out.lines_deleted + out.operations_deleted > 0 => {
                    bus.publish(Event::new(
                        "retention.completed",
                        "",
                        serde_json::json!({
                            "lines_deleted": out.lines_deleted,
                            "operations_deleted": out.operations_deleted,
                        }),
                    ));
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention failed"),
            },
        );
        // Daily snapshot and the integrity schedule share a minute tick.
        let weak = Arc::downgrade(self);
        m.every("daily", f.growth_check, move || {
            if let Some(engine) = weak.upgrade() {
                engine.daily_tick();
            }
        });
        let weak = Arc::downgrade(self);
        m.every("health", f.health.interval, move || {
            if let Some(engine) = weak.upgrade() {
                engine.health_tick();
            }
        });
        match crate::watch::start(self, self.watch_states.clone(), m.stopper()) {
            Ok(handle) => m.adopt(handle),
            Err(e) => tracing::error!(error = %e, "cannot start watching import folders"),
        }
        *self.maintenance.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
    }

    fn daily_tick(&self) {
        match growth::ensure_today(&*self.store, &*self.clock) {
            Ok(Some(snap)) => self.bus.publish(Event::new(
                "growth.snapshot",
                "",
                serde_json::to_value(&snap).unwrap_or_default(),
            )),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "growth snapshot failed"),
        }
        if let Some(at) = self.config.features.backup.schedule {
            let key = schedule::LAST_BACKUP_META;
            match schedule::due_for(&*self.store, key, self.clock.local_now(), at) {
                Ok(true) => {
                    if let Err(e) = self.start_backup() {
                        tracing::warn!(error = %e, "scheduled backup not started");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "backup schedule failed"),
            }
        }
        let Some(at) = self.config.features.integrity_schedule else {
            return;
        };
        match schedule::due(&*self.store, self.clock.local_now(), at) {
            Ok(true) => {
                if let Err(e) = self.start_integrity_check() {
                    tracing::warn!(error = %e, "scheduled integrity check not started");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "integrity schedule failed"),
        }
    }

    /// Enqueues a backup, unless one is already waiting or running (that
    /// one is returned).
    pub fn start_backup(&self) -> Result<crate::store::Operation, EngineError> {
        if let Some(op) = self
            .store
            .active_operations()?
            .into_iter()
            .find(|op| op.op_type == crate::jobs::BACKUP)
        {
            return Ok(op);
        }
        Ok(self.enqueue(crate::jobs::Job::Backup, Priority::Normal)?)
    }

    fn health_tick(&self) {
        let reading = health::probe(&*self.store, &self.config.features.health, self.clock.now());
        if let Some(previous) = self.health.record(reading.clone()) {
            let mut data = serde_json::to_value(&reading).unwrap_or_default();
            data["previous"] = serde_json::json!(previous.map(|p| p.as_str()));
            self.bus.publish(Event::new("system.health", "", data));
        }
    }

    /// Enqueues an integrity check at low priority, unless one is already
    /// waiting or running (that one is returned).
    pub fn start_integrity_check(&self) -> Result<crate::store::Operation, EngineError> {
        if let Some(op) = self
            .store
            .active_operations()?
            .into_iter()
            .find(|op| op.op_type == crate::jobs::INTEGRITY_CHECK)
        {
            return Ok(op);
        }
        Ok(self.enqueue(crate::jobs::Job::IntegrityCheck, Priority::Low)?)
    }

    /// Touches the store (a counter read): the `/ping` answer.
    pub fn ping(&self) -> Result<(), crate::store::StoreError> {
        self.store.count_books().map(|_| ())
    }

    /// The store's read and write latency now, as the background pings
    /// measure them.
    pub fn probe_health(&self) -> crate::maintenance::health::HealthReading {
        crate::maintenance::health::probe(
            &*self.store,
            &self.config.features.health,
            self.clock.now(),
        )
    }

    /// The store's kind (`redb`).
    pub fn store_backend(&self) -> &'static str {
        self.store.backend_name()
    }

    /// One operation.
    pub fn operation(
        &self,
        id: &str,
    ) -> Result<Option<crate::store::Operation>, crate::store::StoreError> {
        self.store.get_operation(id)
    }

    /// Operations, newest first, of one status and type if given: the
    /// `limit` after skipping `offset`.
    pub fn list_operations(
        &self,
        status: Option<crate::store::OperationStatus>,
        op_type: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<Vec<crate::store::Operation>, crate::store::StoreError> {
        let mut out = Vec::new();
        let mut seen = 0u64;
        let mut before: Option<String> = None;
        loop {
            let page = self.store.list_operations(before.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            before = Some(last.id.clone());
            for op in page {
                if status.is_some_and(|st| op.status != st)
                    || op_type.is_some_and(|t| op.op_type != t)
                {
                    continue;
                }
                if seen >= offset {
                    out.push(op);
                    if out.len() as u64 >= limit {
                        return Ok(out);
                    }
                }
                seen += 1;
            }
        }
        Ok(out)
    }

    /// A window of an operation's log (`None`: no such operation) and how
    /// many lines it has.
    pub fn operation_logs(
        &self,
        id: &str,
        window: crate::logs::query::Window,
        level: Option<crate::store::LogLevel>,
    ) -> Result<Option<(Vec<crate::store::LogEntry>, u64)>, crate::store::StoreError> {
        if self.store.get_operation(id)?.is_none() {
            return Ok(None);
        }
        crate::logs::query::read(&*self.store, id, window, level).map(Some)
    }

    /// The most frequent recurring warnings and errors.
    pub fn top_errors(
        &self,
        since: Option<time::OffsetDateTime>,
        limit: usize,
        with_acknowledged: bool,
    ) -> Result<crate::logs::top::TopErrors, crate::store::StoreError> {
        crate::logs::top::top(&*self.store, since, limit, with_acknowledged)
    }

    /// Acknowledges an error group now; false if there is none.
    pub fn acknowledge_error(&self, fingerprint: &str) -> Result<bool, crate::store::StoreError> {
        crate::logs::top::acknowledge(&*self.store, fingerprint, self.clock.now())
    }

    /// Enqueues one of this build's jobs.
    pub fn enqueue(
        &self,
        job: crate::jobs::Job,
        priority: Priority,
    ) -> Result<crate::store::Operation, QueueError> {
        self.queue
            .enqueue(job.op_type(), priority, job.params(), job.folder())
    }

    fn stop_background(&self) {
        let m = self
            .maintenance
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(m) = m {
            m.stop();
        }
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
            exclude: Vec::new(),
            watch: crate::store::WatchSetting::Off,
            created_at: now(),
        };
        self.store
            .apply(&[Mutation::PutImportPath(p.clone())], true)?;
        Ok(p)
    }

    /// Changes an import path's name, whether it is scanned, or its
    /// exclude patterns (each checked; the list replaces the old one).
    /// Applies one edit to each book of `ids` in one transaction (all or
    /// none), recorded as made `by` (the API key's label or `local`);
    /// returns the books as they are now.
    pub fn edit_books(
        &self,
        ids: &[String],
        edit: &crate::book_edits::EditRequest,
        by: &str,
    ) -> Result<Vec<Book>, EngineError> {
        for id in ids {
            if self.store.get_book(id)?.is_none() {
                return Err(EngineError::BookNotFound(id.clone()));
            }
        }
        let at = now();
        let batch: Vec<Mutation> = ids
            .iter()
            .map(|id| {
                Mutation::EditBook(BookEdit {
                    id: ulid::Ulid::generate().to_string(),
                    book_id: id.clone(),
                    set: edit.set.clone(),
                    unlock: edit.unlock.clone(),
                    by: by.to_string(),
                    at,
                })
            })
            .collect();
        self.store.apply(&batch, true)?;
        ids.iter()
            .map(|id| {
                self.store
                    .get_book(id)?
                    .ok_or_else(|| EngineError::BookNotFound(id.clone()))
            })
            .collect()
    }

    pub fn update_import_path(
        &self,
        id: &str,
        change: ImportPathChange,
    ) -> Result<ImportPath, EngineError> {
        let mut p = self
            .store
            .list_import_paths()?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| EngineError::ImportPathNotFound(id.to_string()))?;
        if let Some(name) = change.name {
            let name = name.trim();
            if name.is_empty() || name.len() > 200 {
                return Err(EngineError::BadImportPath {
                    path: p.path,
                    reason: "a name is 1 to 200 characters".into(),
                });
            }
            p.name = name.to_string();
        }
        if let Some(enabled) = change.enabled {
            p.enabled = enabled;
        }
        if let Some(watch) = change.watch {
            p.watch = watch;
        }
        if let Some(exclude) = change.exclude {
            if exclude.len() > MAX_EXCLUDE_PATTERNS {
                return Err(EngineError::BadImportPath {
                    path: p.path,
                    reason: format!("at most {MAX_EXCLUDE_PATTERNS} exclude patterns"),
                });
            }
            for pattern in &exclude {
                ao_walk::ExcludePattern::parse(pattern).map_err(|e| {
                    EngineError::BadImportPath {
                        path: p.path.clone(),
                        reason: e.to_string(),
                    }
                })?;
            }
            p.exclude = exclude;
        }
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
        self.stop_background();
        self.queue.shutdown(grace);
        // Drop (below) finds nothing left to wait for.
    }
}

impl Drop for Engine {
    /// Leaving early (an error, a panic) still stops the workers and lets
    /// the writer thread and the store close cleanly.
    fn drop(&mut self) {
        self.stop_background();
        self.queue.shutdown(Duration::from_secs(5));
        let _ = self.writer.flush();
    }
}

/// Publishes jobs' notices on the bus (they are stored by then).
struct BusNotify(EventBus);

impl crate::jobs::Notify for BusNotify {
    fn notify(&self, operation_id: &str, notice: crate::jobs::Notice) {
        let (kind, payload) = match notice {
            crate::jobs::Notice::Mismatch(f) => (
                "integrity.mismatch",
                serde_json::to_value(&f).unwrap_or_default(),
            ),
            crate::jobs::Notice::BooksAdded { new, organize } => (
                "scan.books_added",
                serde_json::json!({ "new": new, "organize": organize }),
            ),
        };
        self.0.publish(Event::new(kind, operation_id, payload));
    }
}
