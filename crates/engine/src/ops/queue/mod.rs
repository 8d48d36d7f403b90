//! The persistent priority queue and the workers that run operations.
//!
//! One mutex guards what is waiting and what runs; a worker takes the next
//! operation out of the waiting set under that mutex, so no operation is
//! ever dispatched twice. Every state change is durable before it is
//! published.

mod errors;
mod run;
mod schedule;
mod utilization;
mod waiting;
mod watchdog;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use ulid::Ulid;

use crate::logs::writer::LogWriter;
use crate::metrics::Metrics;
use crate::store::{
    LogLevel, Mutation, Operation, OperationStatus, OperationTiming, Priority, Store,
};

use super::cancel::{CancelReason, CancelToken};
use super::events::{Event, EventBus};
use super::reporter::{Activity, Reporter};
pub use errors::{JobError, QueueError};
pub use run::panic_message;
use run::{operation_span, worker_loop};
use schedule::Schedule;
use utilization::Utilization;
pub use utilization::{BusyFractions, UtilizationReport, WorkerUtilization};
use waiting::{Waiting, WaitingSet};

/// A job: runs with a reporter and its parameters, returns a summary line.
pub type JobFn = Arc<dyn Fn(&Reporter, &Value) -> Result<String, JobError> + Send + Sync>;

#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub workers: usize,
    /// Enqueue fails with `QueueError::Full` past this many waiting operations.
    pub max_queued: usize,
    /// Optional time limit per operation type.
    pub timeouts: HashMap<String, Duration>,
    /// Whether operations left queued by an earlier process run here.
    pub resume_queued: bool,
    /// A waiting operation gains one priority level per this much waiting
    /// (zero: no aging).
    pub aging: Duration,
    /// Running longer than this (per type) is reported once as slow.
    pub slow_after: HashMap<String, Duration>,
    /// No progress for this long is reported as stalled (zero: never).
    pub stall_after: Duration,
    /// How often running operations are checked for the two above.
    pub watch_interval: Duration,
    /// Operation types that run one at a time: one of these waits, queued
    /// and cancellable, while another of its type runs.
    pub one_at_a_time: Vec<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            max_queued: 10_000,
            timeouts: HashMap::new(),
            resume_queued: true,
            aging: Duration::from_secs(300),
            slow_after: default_slow_after(),
            stall_after: Duration::from_secs(600),
            watch_interval: Duration::from_secs(1),
            one_at_a_time: Vec::new(),
        }
    }
}

pub use crate::config::default_slow_after;

/// A running operation, as the queue and its watchdog see it.
struct Running {
    token: CancelToken,
    op_type: String,
    activity: Arc<Activity>,
    started: Instant,
    slow_reported: bool,
    stall_reported: bool,
}

struct State {
    waiting: WaitingSet,
    running: HashMap<String, Running>,
    utilization: Utilization,
    /// Monotonic within a millisecond, so id order is creation order.
    ids: ulid::Generator,
    paused: bool,
    stopping: bool,
    /// Places taken by operations being written to the store by `enqueue`
    /// (counted against `max_queued` before they are waiting).
    reserved: usize,
    /// Ends of operations the store could not record (a full disk, say);
    /// the watchdog retries them until they are stored.
    unrecorded: Vec<Unrecorded>,
}

/// An operation's end, waiting to be written.
struct Unrecorded {
    id: String,
    status: OperationStatus,
    message: String,
    error: Option<String>,
    timing: OperationTiming,
}

impl Shared {
    /// Writes an operation's end; if the store refuses, keeps it for the
    /// watchdog to retry, so the record does not stay `running` for good.
    fn record_end(&self, end: Unrecorded) {
        if let Err(e) = self.write_end(&end) {
            tracing::warn!(
                operation_id = %end.id,
                error = %e,
                "cannot record the end of the operation yet; will retry"
            );
            self.lock().unrecorded.push(end);
        }
    }

    /// One retry of every end not yet stored.
    fn retry_unrecorded(&self) {
        let pending = std::mem::take(&mut self.lock().unrecorded);
        for end in pending {
            if self.write_end(&end).is_err() {
                self.lock().unrecorded.push(end);
            }
        }
    }

    fn write_end(&self, end: &Unrecorded) -> Result<(), crate::store::StoreError> {
        self.writer.finish(
            &end.id,
            end.status,
            Some(end.message.clone()),
            end.error.clone(),
            Some(end.timing.clone()),
        )
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Orders pause and resume writes, so the stored flag is the last one
    /// set; the state lock is never held across a durable write.
    pause_writes: Mutex<()>,
    store: Arc<dyn Store>,
    writer: LogWriter,
    bus: EventBus,
    metrics: Arc<Metrics>,
    jobs: HashMap<String, JobFn>,
    config: QueueConfig,
    schedule: Schedule,
}

pub struct Queue {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// A snapshot of the queue for status displays.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueSnapshot {
    pub queued: usize,
    pub running: usize,
    pub paused: bool,
    pub workers: usize,
    /// Waiting operations per priority.
    pub depth: PriorityDepth,
    /// How long the oldest waiting operation has waited, in seconds.
    pub oldest_wait_seconds: f64,
    /// Seconds of waiting that raise an operation one priority level (0: off).
    pub aging_seconds: f64,
    /// Busy fraction per worker and overall over 1, 5 and 15 minutes.
    pub utilization: UtilizationReport,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriorityDepth {
    pub high: usize,
    pub normal: usize,
    pub low: usize,
}

/// Store meta key holding the paused flag, so a pause survives restarts.
pub const PAUSED_META: &str = "queue_paused";

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> QueueSnapshot {
        let st = self.lock();
        let now = Instant::now();
        QueueSnapshot {
            queued: st.waiting.len(),
            running: st.running.len(),
            paused: st.paused,
            workers: self.config.workers.max(1),
            depth: st.waiting.depth(),
            oldest_wait_seconds: st.waiting.oldest_wait(now).as_secs_f64(),
            aging_seconds: self.config.aging.as_secs_f64(),
            utilization: st.utilization.report(now),
        }
    }

    /// Publishes `queue.status` with the current snapshot and returns it.
    fn publish_status(&self) -> QueueSnapshot {
        let snap = self.snapshot();
        self.bus.publish(Event::new(
            "queue.status",
            "",
            serde_json::to_value(&snap).unwrap_or_default(),
        ));
        snap
    }
}

impl Queue {
    /// Recovers what an earlier process left (running operations become
    /// `interrupted`; queued ones wait again) and starts the workers.
    pub fn start(
        store: Arc<dyn Store>,
        writer: LogWriter,
        bus: EventBus,
        metrics: Arc<Metrics>,
        jobs: HashMap<String, JobFn>,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: WaitingSet::default(),
                running: HashMap::new(),
                utilization: Utilization::new(config.workers.max(1), Instant::now()),
                ids: ulid::Generator::new(),
                paused: false,
                stopping: false,
                unrecorded: Vec::new(),
                reserved: 0,
            }),
            changed: Condvar::new(),
            pause_writes: Mutex::new(()),
            store,
            writer,
            bus,
            metrics,
            jobs,
            schedule: Schedule::new(&config.one_at_a_time),
            config,
        });
        {
            let mut st = shared.lock();
            st.paused = shared
                .store
                .get_meta(PAUSED_META)?
                .is_some_and(|v| v.first() == Some(&1));
            for op in shared.store.active_operations()? {
                match op.status {
                    OperationStatus::Running => {
                        shared.writer.log(
                            &op.id,
                            LogLevel::Warn,
                            "interrupted: the process stopped while this operation was running; start it again to finish".into(),
                            None,
                        );
                        shared.writer.status(
                            &op.id,
                            OperationStatus::Interrupted,
                            Some("interrupted by a restart".into()),
                            Some("the process stopped while this operation was running".into()),
                        )?;
                    }
                    OperationStatus::Queued | OperationStatus::Pending
                        if shared.config.resume_queued =>
                    {
                        // Waiting time carries over a restart.
                        let waited = (time::OffsetDateTime::now_utc() - op.created_at)
                            .try_into()
                            .unwrap_or(Duration::ZERO);
                        let now = Instant::now();
                        st.waiting.push(Waiting {
                            since: now.checked_sub(waited).unwrap_or(now),
                            id: op.id,
                            op_type: op.op_type,
                            priority: op.priority,
                        });
                    }
                    _ => {}
                }
            }
        }
        let queue = Self {
            shared: shared.clone(),
            workers: Mutex::new(Vec::new()),
        };
        let mut workers = queue.workers.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..shared.config.workers.max(1) {
            let s = shared.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker_loop(s, i))
                    .expect("spawn worker"),
            );
        }
        let s = shared.clone();
        workers.push(
            std::thread::Builder::new()
                .name("queue-watchdog".into())
                .spawn(move || watchdog::run(s))
                .expect("spawn watchdog"),
        );
        drop(workers);
        Ok(queue)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    pub fn has_type(&self, op_type: &str) -> bool {
        self.shared.jobs.contains_key(op_type)
    }

    /// Persists a new operation and queues it. Fails loudly, never drops.
    pub fn enqueue(
        &self,
        op_type: &str,
        priority: Priority,
        params: Value,
        folder_path: Option<String>,
    ) -> Result<Operation, QueueError> {
        if !self.shared.jobs.contains_key(op_type) {
            return Err(QueueError::UnknownType(op_type.to_string()));
        }
        // The checks and the id under the lock; the durable write outside
        // it (a place is held meanwhile), so no fsync blocks dispatch.
        let id = {
            let mut st = self.shared.lock();
            if st.stopping {
                return Err(QueueError::ShuttingDown);
            }
            let queued = st.waiting.len() + st.reserved;
            if queued >= self.shared.config.max_queued {
                return Err(QueueError::Full(queued));
            }
            st.reserved += 1;
            st.ids
                .generate()
                .unwrap_or_else(|_| Ulid::generate())
                .to_string()
        };
        let op = Operation::new(id, op_type, priority, params, folder_path);
        let stored = self
            .shared
            .store
            .apply(&[Mutation::PutOperation(op.clone())], true);
        let mut st = self.shared.lock();
        st.reserved -= 1;
        stored?;
        // Stored as queued: if the queue stopped meanwhile, the next start
        // resumes it.
        st.waiting.push(Waiting {
            id: op.id.clone(),
            op_type: op.op_type.clone(),
            priority,
            since: Instant::now(),
        });
        drop(st);
        self.shared.bus.publish(Event::operation_status(
            &op.id,
            OperationStatus::Queued,
            Some("queued"),
        ));
        self.shared.changed.notify_all();
        self.shared.publish_status();
        Ok(op)
    }

    /// Cancels a waiting operation (it never starts) or asks a running one
    /// to stop at its next check (it ends `canceled`).
    pub fn cancel(&self, id: &str) -> Result<Operation, QueueError> {
        let mut st = self.shared.lock();
        if st.waiting.remove(id).is_some() {
            drop(st);
            let op = self.finish_unstarted(id);
            self.shared.publish_status();
            return op;
        }
        if let Some(run) = st.running.get(id) {
            run.token.cancel(CancelReason::User);
            drop(st);
            return self
                .shared
                .store
                .get_operation(id)?
                .ok_or_else(|| QueueError::NotFound(id.to_string()));
        }
        drop(st);
        match self.shared.store.get_operation(id)? {
            None => Err(QueueError::NotFound(id.to_string())),
            Some(op) if op.status.is_terminal() => Err(QueueError::AlreadyFinished {
                id: id.to_string(),
                status: op.status.as_str(),
            }),
            // Queued by an earlier process and not resumed here.
            Some(_) => self.finish_unstarted(id),
        }
    }

    fn finish_unstarted(&self, id: &str) -> Result<Operation, QueueError> {
        let op = self
            .shared
            .store
            .get_operation(id)?
            .ok_or_else(|| QueueError::NotFound(id.to_string()))?;
        self.shared.writer.log(
            id,
            LogLevel::Info,
            "canceled before it started".into(),
            None,
        );
        self.shared.writer.status(
            id,
            OperationStatus::Canceled,
            Some("canceled before it started".into()),
            None,
        )?;
        self.shared.metrics.operations_canceled.inc(&op.op_type);
        // Its span opens and closes here: the OTLP export shows it too.
        operation_span(&op).record("status", OperationStatus::Canceled.as_str());
        self.shared.changed.notify_all();
        self.shared
            .store
            .get_operation(id)?
            .ok_or_else(|| QueueError::NotFound(id.to_string()))
    }

    /// Starts nothing new until resumed; running operations finish. The
    /// state is stored, so a restart stays paused.
    pub fn pause(&self) -> Result<QueueSnapshot, QueueError> {
        self.set_paused(true)
    }

    pub fn resume(&self) -> Result<QueueSnapshot, QueueError> {
        self.set_paused(false)
    }

    fn set_paused(&self, paused: bool) -> Result<QueueSnapshot, QueueError> {
        {
            let _ordered = self
                .shared
                .pause_writes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.shared.store.apply(
                &[Mutation::SetMeta {
                    key: PAUSED_META.into(),
                    value: vec![paused as u8],
                }],
                true,
            )?;
            self.shared.lock().paused = paused;
        }
        self.shared.changed.notify_all();
        Ok(self.shared.publish_status())
    }

    pub fn snapshot(&self) -> QueueSnapshot {
        self.shared.snapshot()
    }

    /// Blocks until the operation has ended or `timeout` passes.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<Operation, QueueError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Read without the state lock; a change between the read and
            // the wait is caught by the wait's timeout.
            let op = self
                .shared
                .store
                .get_operation(id)?
                .ok_or_else(|| QueueError::NotFound(id.to_string()))?;
            let now = Instant::now();
            if op.status.is_terminal() || now >= deadline {
                return Ok(op);
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            let st = self.shared.lock();
            drop(
                self.shared
                    .changed
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner()),
            );
        }
    }

    /// Waits until nothing runs or `until` passes.
    fn wait_idle<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        until: Instant,
    ) -> MutexGuard<'a, State> {
        while !st.running.is_empty() && Instant::now() < until {
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st
    }

    /// Stops taking work, lets running operations finish within `grace`,
    /// then cancels them (they end `interrupted`) and flushes the store.
    pub fn shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut st = self.shared.lock();
        st.stopping = true;
        self.shared.changed.notify_all();
        st = self.wait_idle(st, deadline);
        for run in st.running.values() {
            run.token.cancel(CancelReason::Shutdown);
        }
        // Give cancelled operations a moment to reach their next check.
        let hard = Instant::now() + Duration::from_secs(10);
        st = self.wait_idle(st, hard);
        let stuck: Vec<String> = st.running.keys().cloned().collect();
        drop(st);
        for id in stuck {
            let _ = self.shared.writer.status(
                &id,
                OperationStatus::Interrupted,
                Some("interrupted by shutdown".into()),
                Some("did not stop within the shutdown grace period".into()),
            );
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        let until = Instant::now() + Duration::from_secs(2);
        while workers.iter().any(|w| !w.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        for w in workers {
            // A job that ignores cancellation keeps its thread; leave it.
            if w.is_finished() {
                let _ = w.join();
            }
        }
        // A last try for ends the store refused; what still fails shows as
        // `interrupted` at the next start.
        self.shared.retry_unrecorded();
        let _ = self.shared.writer.flush();
    }
}
