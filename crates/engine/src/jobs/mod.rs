//! The work that runs as operations. Each job is a function of a context and
//! a reporter; none of them knows about HTTP or the event stream: what a
//! job tells besides its log and progress is a [`Notice`], which the engine
//! publishes.

pub mod cover;
pub mod integrity;
pub mod metadata;
pub mod organize;
pub mod scan;

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ops::JobFn;
use crate::sources::Breakers;
use crate::store::{IntegrityFinding, Store};

/// What jobs share. Built once by the engine; no globals.
pub struct JobContext {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Where notices go (once what they tell is stored).
    pub notify: Arc<dyn Notify>,
    /// Circuit breakers of the metadata sources, for the process's life.
    pub breakers: Arc<Breakers>,
}

/// What a job tells besides its log lines and progress.
#[derive(Debug, Clone)]
pub enum Notice {
    /// An integrity check found a book whose files no longer match.
    Mismatch(IntegrityFinding),
}

/// Takes a job's notices; the engine's publishes them as events.
pub trait Notify: Send + Sync {
    fn notify(&self, operation_id: &str, notice: Notice);
}

pub const SCAN: &str = "scan";
/// Operation types the queue runs one at a time (the others of the type
/// wait, queued and cancellable): two scans at once that met the same new
/// content in different folders could each make a book of it (each looks
/// the content up before the other's writes are in); organize owns the
/// library's temp files.
pub const ONE_AT_A_TIME: [&str; 2] = [SCAN, ORGANIZE];
pub const ORGANIZE: &str = "organize";
pub const INTEGRITY_CHECK: &str = "integrity_check";
pub const METADATA_FETCH: &str = "metadata_fetch";

/// The operation types this build can run.
pub fn registry(ctx: Arc<JobContext>) -> HashMap<String, JobFn> {
    let mut jobs: HashMap<String, JobFn> = HashMap::new();
    let c = ctx.clone();
    jobs.insert(SCAN.into(), Arc::new(move |r, p| scan::run(&c, r, p)));
    let c = ctx.clone();
    jobs.insert(
        ORGANIZE.into(),
        Arc::new(move |r, p| organize::run(&c, r, p)),
    );
    let c = ctx.clone();
    jobs.insert(
        INTEGRITY_CHECK.into(),
        Arc::new(move |r, p| integrity::run(&c, r, p)),
    );
    let c = ctx;
    jobs.insert(
        METADATA_FETCH.into(),
        Arc::new(move |r, p| metadata::run(&c, r, p)),
    );
    jobs
}
