//! The workers: each takes the next operation the schedule allows, runs
//! its job inside the operation's span, and maps the outcome to the
//! operation's end (status, message, error, timing).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

pub(super) fn worker_loop(shared: Arc<Shared>, worker: usize) {
    loop {
        let (id, token, activity) = {
            let mut st = shared.lock();
            loop {
                if st.stopping {
                    return;
                }
                let now = Instant::now();
                // The schedule decides what may start beside what runs.
                let running: Vec<String> = st.running.values().map(|r| r.op_type.clone()).collect();
                let allowed = shared
                    .schedule
                    .may_start(running.iter().map(String::as_str));
                let may_start = |w: &Waiting| allowed(&w.op_type);
                let next = if st.paused {
                    None
                } else {
                    st.waiting.pop_next(now, shared.config.aging, may_start)
                };
                if let Some(w) = next {
                    // Taken from `waiting` and put in `running` under one
                    // lock: a cancel always finds the operation somewhere.
                    let deadline = shared.config.timeouts.get(&w.op_type).map(|d| now + *d);
                    let token = CancelToken::new(deadline);
                    let activity = Arc::new(Activity::new());
                    st.running.insert(
                        w.id.clone(),
                        Running {
                            token: token.clone(),
                            op_type: w.op_type.clone(),
                            activity: activity.clone(),
                            started: now,
                            slow_reported: false,
                            stall_reported: false,
                        },
                    );
                    st.utilization.begin(worker, &w.id, now);
                    break (w.id, token, activity);
                }
                // Aging can change the order while nothing else happens.
                st = shared
                    .changed
                    .wait_timeout(st, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        shared.publish_status();
        run_one(&shared, &id, token, activity);
        {
            let mut st = shared.lock();
            st.running.remove(&id);
            st.utilization.end(worker, Instant::now());
        }
        shared.changed.notify_all();
        shared.publish_status();
        // What the operation wrote reaches the listing indexes now rather
        // than in the first listing after it; what it freed goes back to
        // the system.
        if let Err(e) = shared.store.settle_indexes() {
            tracing::warn!(error = %e, "could not bring the book indexes up to date");
        }
        ao_core::memory::release_freed();
    }
}

/// The text of a panic payload.
pub use ao_core::panic_message;

/// The span an operation runs in: its id, type, priority and folder now;
/// its status, error and timing recorded as it ends.
pub(super) fn operation_span(op: &Operation) -> tracing::Span {
    use tracing::field::Empty;
    tracing::info_span!(
        "operation",
        operation_id = op.id.as_str(),
        operation_type = op.op_type.as_str(),
        priority = op.priority.as_str(),
        folder = op.folder_path.as_deref(),
        status = Empty,
        error = Empty,
        queue_wait_seconds = Empty,
        files = Empty,
        bytes = Empty,
    )
}

fn run_one(shared: &Shared, id: &str, token: CancelToken, activity: Arc<Activity>) {
    let op = match shared.store.get_operation(id) {
        Ok(Some(op)) if !op.status.is_terminal() => op,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(operation_id = %id, error = %e, "cannot load the operation");
            return;
        }
    };
    // Every diagnostic of the operation's work carries its id and type;
    // the span ends with the outcome (the OTLP export reads it).
    let span = operation_span(&op);
    let _in_operation = span.enter();
    if token.is_cancelled() {
        // Canceled between leaving the waiting set and starting: never runs.
        let status = match token.reason() {
            Some(CancelReason::Shutdown) => OperationStatus::Interrupted,
            _ => OperationStatus::Canceled,
        };
        if status == OperationStatus::Canceled {
            shared.metrics.operations_canceled.inc(&op.op_type);
        }
        let _ = shared
            .writer
            .status(id, status, Some("canceled before it started".into()), None);
        span.record("status", status.as_str());
        return;
    }
    if shared
        .writer
        .status(id, OperationStatus::Running, Some("running".into()), None)
        .is_err()
    {
        return;
    }
    shared.metrics.operations_started.inc(&op.op_type);
    let started = Instant::now();
    let queue_wait = (time::OffsetDateTime::now_utc() - op.created_at)
        .as_seconds_f64()
        .max(0.0);
    let reporter = Reporter::with_activity(
        id,
        &op.op_type,
        shared.writer.clone(),
        token.clone(),
        activity.clone(),
    );
    let outcome = match shared.jobs.get(&op.op_type) {
        None => Err(JobError::Invalid(format!(
            "unknown operation type {:?}",
            op.op_type
        ))),
        Some(job) => match catch_unwind(AssertUnwindSafe(|| job(&reporter, &op.params))) {
            Ok(r) => r,
            Err(payload) => Err(JobError::Failed(format!(
                "panicked: {}",
                panic_message(&*payload)
            ))),
        },
    };
    let elapsed = started.elapsed();
    let (status, message, error) = match (outcome, token.reason()) {
        (Ok(summary), _) => (OperationStatus::Completed, summary, None),
        (Err(e), Some(CancelReason::Shutdown)) => (
            OperationStatus::Interrupted,
            "interrupted by shutdown".to_string(),
            Some(e.to_string()),
        ),
        (Err(_), Some(CancelReason::Timeout)) => {
            let limit = shared
                .config
                .timeouts
                .get(&op.op_type)
                .copied()
                .unwrap_or_default();
            let msg = format!("timed out after {:.1}s", limit.as_secs_f64());
            (OperationStatus::Failed, msg.clone(), Some(msg))
        }
        (Err(_), Some(CancelReason::User)) | (Err(JobError::Canceled), None) => {
            (OperationStatus::Canceled, "canceled".to_string(), None)
        }
        (Err(e), None) => {
            let m = e.to_string();
            (OperationStatus::Failed, m.clone(), Some(m))
        }
    };
    match status {
        OperationStatus::Failed => {
            reporter.error(format!("failed: {message}"), None);
            shared.metrics.operations_failed.inc(&op.op_type);
        }
        OperationStatus::Canceled => {
            reporter.info("canceled");
            shared.metrics.operations_canceled.inc(&op.op_type);
        }
        OperationStatus::Interrupted => reporter.warn("interrupted by shutdown", None),
        _ => shared.metrics.operations_completed.inc(&op.op_type),
    }
    shared.metrics.observe_duration(&op.op_type, elapsed);
    let timing = OperationTiming::new(
        elapsed.as_secs_f64(),
        queue_wait,
        activity.files(),
        activity.bytes(),
    );
    span.record("status", status.as_str());
    if let Some(e) = &error {
        span.record("error", e.as_str());
    }
    span.record("queue_wait_seconds", timing.queue_wait_seconds);
    span.record("files", timing.files);
    span.record("bytes", timing.bytes);
    shared.record_end(Unrecorded {
        id: id.to_string(),
        status,
        message,
        error,
        timing,
    });
}
