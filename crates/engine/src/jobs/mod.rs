//! The work that runs as operations. Each job is a function of a context and
//! a reporter; none of them knows about HTTP or the event stream: what a
//! job tells besides its log and progress is a [`Notice`], which the engine
//! publishes.

pub mod backup;
pub mod cover;
pub mod integrity;
pub mod kind;
pub mod metadata;
pub mod organize;
pub mod scan;

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ops::{JobError, JobFn, Reporter};

use crate::sources::Breakers;
use crate::store::{IntegrityFinding, Store};
pub use kind::{
    BACKUP, INTEGRITY_CHECK, Job, METADATA_FETCH, MetadataParams, ONE_AT_A_TIME, ORGANIZE,
    OrganizeParams, SCAN, ScanParams,
};

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
    Mismatch(Box<IntegrityFinding>),
    /// A scan added new books; `organize`: the scan asked for an organize
    /// after it.
    BooksAdded { new: u64, organize: bool },
}

/// Takes a job's notices; the engine's publishes them as events.
pub trait Notify: Send + Sync {
    fn notify(&self, operation_id: &str, notice: Notice);
}

/// The operation types this build can run: each parses its parameters,
/// then runs with them typed.
pub fn registry(ctx: Arc<JobContext>) -> HashMap<String, JobFn> {
    [SCAN, ORGANIZE, INTEGRITY_CHECK, METADATA_FETCH, BACKUP]
        .into_iter()
        .map(|op_type| {
            let c = ctx.clone();
            let run: JobFn = Arc::new(move |r, params| run(&c, r, op_type, params));
            (op_type.to_string(), run)
        })
        .collect()
}

fn run(
    ctx: &JobContext,
    r: &Reporter,
    op_type: &str,
    params: &serde_json::Value,
) -> Result<String, JobError> {
    match Job::from_stored(op_type, params)? {
        Some(Job::Scan(p)) => scan::run(ctx, r, &p),
        Some(Job::Organize(p)) => organize::run(ctx, r, &p),
        Some(Job::IntegrityCheck) => integrity::run(ctx, r),
        Some(Job::MetadataFetch(p)) => metadata::run(ctx, r, &p),
        Some(Job::Backup) => backup::run(ctx, r),
        None => Err(JobError::Invalid(format!(
            "unknown operation type {op_type:?}"
        ))),
    }
}
