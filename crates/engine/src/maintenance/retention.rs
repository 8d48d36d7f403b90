//! Deletes the logs of operations that ended more than the log retention
//! ago, then the records of those past the operation retention. Work is
//! done in bounded steps (one short transaction each) with a pause between
//! them, so the log writer never waits long.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::FeatureConfig;
use crate::metrics::Metrics;
use crate::store::{Store, StoreResult, unix_nanos};

use super::Stopper;

/// Operation records per step.
const OPS_PER_STEP: usize = 500;
/// Pause between steps: the writer's turn.
const BREATHE: Duration = Duration::from_millis(2);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub lines_deleted: u64,
    pub operations_deleted: u64,
}

pub fn run_once(
    store: &dyn Store,
    clock: &dyn Clock,
    cfg: &FeatureConfig,
    metrics: &Metrics,
    stopper: &Stopper,
) -> StoreResult<RetentionOutcome> {
    let now = clock.now();
    let mut out = RetentionOutcome::default();
    let log_cutoff = unix_nanos(now - cfg.log_retention);
    loop {
        let step = store.expire_logs(log_cutoff, cfg.retention_batch.max(1))?;
        out.lines_deleted += step.lines_deleted;
        metrics
            .retention_lines_deleted
            .fetch_add(step.lines_deleted, Ordering::Relaxed);
        if !step.more || stopper.sleep(BREATHE) {
            break;
        }
    }
    let op_cutoff = unix_nanos(now - cfg.operation_retention);
    loop {
        let step = store.expire_operations(op_cutoff, OPS_PER_STEP)?;
        out.operations_deleted += step.operations_deleted;
        metrics
            .retention_operations_deleted
            .fetch_add(step.operations_deleted, Ordering::Relaxed);
        if !step.more || step.operations_deleted == 0 || stopper.sleep(BREATHE) {
            break;
        }
    }
    Ok(out)
}
