//! What a running operation uses to tell the world how it is doing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::logs::writer::LogWriter;
use crate::store::LogLevel;

use super::cancel::CancelToken;

/// What a running operation has done so far, shared with the queue's
/// watchdog (stall detection) and timing; atomics only.
pub struct Activity {
    base: Instant,
    files: AtomicU64,
    bytes: AtomicU64,
    /// Milliseconds after `base` of the last progress.
    last_progress_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_progress_ms: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_progress_ms.fetch_max(ms, Ordering::Relaxed);
    }
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// How long since the operation last made progress (or started).
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Reporter {
    operation_id: String,
    op_type: String,
    writer: LogWriter,
    token: CancelToken,
    activity: Arc<Activity>,
}

impl Reporter {
    pub fn new(operation_id: &str, op_type: &str, writer: LogWriter, token: CancelToken) -> Self {
        Self::with_activity(operation_id, op_type, writer, token, Arc::default())
    }

    pub fn with_activity(
        operation_id: &str,
        op_type: &str,
        writer: LogWriter,
        token: CancelToken,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            operation_id: operation_id.to_string(),
            op_type: op_type.to_string(),
            writer,
            token,
            activity,
        }
    }

    /// Counts work done, for the operation's timing summary (files, bytes
    /// and throughput); counts as progress.
    pub fn add_work(&self, files: u64, bytes: u64) {
        self.activity.files.fetch_add(files, Ordering::Relaxed);
        self.activity.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.activity.touch();
    }

    pub fn operation_id(&self) -> &str {
        &self.operation_id
    }

    pub fn op_type(&self) -> &str {
        &self.op_type
    }

    /// Persisted (coalesced) and published; never overwrites a final status.
    pub fn update_progress(&self, current: u64, total: u64, message: impl Into<String>) {
        self.activity.touch();
        self.writer
            .progress(&self.operation_id, current, total, message.into());
    }

    /// Persisted first, then published.
    pub fn log(&self, level: LogLevel, message: impl Into<String>, details: Option<String>) {
        self.writer
            .log(&self.operation_id, level, message.into(), details);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message, None);
    }

    pub fn warn(&self, message: impl Into<String>, details: Option<String>) {
        self.log(LogLevel::Warn, message, details);
    }

    pub fn error(&self, message: impl Into<String>, details: Option<String>) {
        self.log(LogLevel::Error, message, details);
    }

    /// An atomic load (and a clock read when a timeout is set): no I/O.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}
