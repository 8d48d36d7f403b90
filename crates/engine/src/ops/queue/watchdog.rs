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

#[derive(Clone, Copy)]
enum Kind {
    /// Running longer than its type's threshold.
    Slow,
    /// No progress for the stall threshold.
    Stalled,
}

struct Finding {
    kind: Kind,
    id: String,
    op_type: String,
    /// Time running (slow) or time without progress (stalled).
    span: Duration,
    threshold: Duration,
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
        shared.retry_unrecorded();
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
            out.push(Finding {
                kind: Kind::Slow,
                id: id.clone(),
                op_type: run.op_type.clone(),
                span: elapsed,
                threshold: *threshold,
            });
        }
        if stall_after.is_zero() {
            continue;
        }
        let idle = run.activity.idle();
        if idle >= stall_after && !run.stall_reported {
            run.stall_reported = true;
            out.push(Finding {
                kind: Kind::Stalled,
                id: id.clone(),
                op_type: run.op_type.clone(),
                span: idle,
                threshold: stall_after,
            });
        } else if idle < stall_after {
            run.stall_reported = false;
        }
    }
    out
}

fn report(shared: &Shared, f: Finding) {
    let (span, limit) = (f.span.as_secs_f64(), f.threshold.as_secs_f64());
    let (message, event, counter, span_field) = match f.kind {
        Kind::Slow => (
            format!(
                "slow: running for {span:.1}s, over the {limit:.1}s threshold for {}",
                f.op_type
            ),
            "operation.slow",
            &shared.metrics.operations_slow,
            "elapsed_seconds",
        ),
        Kind::Stalled => (
            format!("stalled: no progress for {span:.1}s (threshold {limit:.1}s)"),
            "operation.stalled",
            &shared.metrics.operations_stalled,
            "idle_seconds",
        ),
    };
    shared.writer.log(&f.id, LogLevel::Warn, message, None);
    // Persist, then publish: the warn line is on disk before the event.
    let _ = shared.writer.flush();
    counter.inc(&f.op_type);
    shared.bus.publish(Event::new(
        event,
        &f.id,
        json!({
            "operation_id": f.id,
            "type": f.op_type,
            span_field: span,
            "threshold_seconds": limit,
        }),
    ));
}
