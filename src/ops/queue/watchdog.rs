//! Watches running operations: crossing the slow threshold of its type, or
//! making no progress for `stall_after`, writes a warn line on the
//! operation, publishes `operation.slow` / `operation.stalled` and counts
//! it. Slow is reported once per run; stalled again after progress resumes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Shared;
use crate::ops::events::Event;
use crate::store::LogLevel;

enum Finding {
    Slow {
        id: String,
        op_type: String,
        elapsed: Duration,
        threshold: Duration,
    },
    Stalled {
        id: String,
        op_type: String,
        idle: Duration,
        threshold: Duration,
    },
}

pub(super) fn run(shared: Arc<Shared>) {
    let period = shared.config.watch_interval.max(Duration::from_millis(10));
    loop {
        {
            let st = shared.lock();
            let (st, _) = shared
                .changed
                .wait_timeout_while(st, period, |st| !st.stopping)
                .unwrap_or_else(|e| e.into_inner());
            if st.stopping {
                return;
            }
        }
        for f in check(&shared, Instant::now()) {
            report(&shared, f);
        }
    }
}

fn check(shared: &Shared, now: Instant) -> Vec<Finding> {
    let stall_after = shared.config.stall_after;
    let mut out = Vec::new();
    let mut st = shared.lock();
    for (id, run) in st.running.iter_mut() {
        let elapsed = now.saturating_duration_since(run.started);
        if let Some(threshold) = shared.config.slow_after.get(&run.op_type)
            && !run.slow_reported
            && !threshold.is_zero()
            && elapsed >= *threshold
        {
            run.slow_reported = true;
            out.push(Finding::Slow {
                id: id.clone(),
                op_type: run.op_type.clone(),
                elapsed,
                threshold: *threshold,
            });
        }
        if stall_after.is_zero() {
            continue;
        }
        let idle = run.activity.idle();
        if idle >= stall_after && !run.stall_reported {
            run.stall_reported = true;
            out.push(Finding::Stalled {
                id: id.clone(),
                op_type: run.op_type.clone(),
                idle,
                threshold: stall_after,
            });
        } else if idle < stall_after {
            run.stall_reported = false;
        }
    }
    out
}

fn report(shared: &Shared, f: Finding) {
    match f {
        Finding::Slow {
            id,
            op_type,
            elapsed,
            threshold,
        } => {
            shared.writer.log(
                &id,
                LogLevel::Warn,
                format!(
                    "slow: running for {:.0}s, over the {:.0}s threshold for {op_type}",
                    elapsed.as_secs_f64(),
                    threshold.as_secs_f64()
                ),
                None,
            );
            shared.metrics.operations_slow.inc(&op_type);
            shared.bus.publish(Event::new(
                "operation.slow",
                &id,
                json!({
                    "operation_id": id,
                    "type": op_type,
                    "elapsed_seconds": elapsed.as_secs_f64(),
                    "threshold_seconds": threshold.as_secs_f64(),
                }),
            ));
        }
        Finding::Stalled {
            id,
            op_type,
            idle,
            threshold,
        } => {
            shared.writer.log(
                &id,
                LogLevel::Warn,
                format!(
                    "stalled: no progress for {:.0}s (threshold {:.0}s)",
                    idle.as_secs_f64(),
                    threshold.as_secs_f64()
                ),
                None,
            );
            shared.metrics.operations_stalled.inc(&op_type);
            shared.bus.publish(Event::new(
                "operation.stalled",
                &id,
                json!({
                    "operation_id": id,
                    "type": op_type,
                    "idle_seconds": idle.as_secs_f64(),
                    "threshold_seconds": threshold.as_secs_f64(),
                }),
            ));
        }
    }
}
