//! Group-commit writer for log lines, progress and status changes.
//!
//! One thread owns the write path: it takes everything waiting in its
//! channel, applies it in one durable transaction (one fsync for many lines),
//! and only then hands the committed items to the sink that publishes them.
//! So a line is on disk before anyone can see it, and every status change is
//! durable before `status()` returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use time::OffsetDateTime;

use super::error_groups::ErrorAggregator;
use crate::store::{
    LogEntry, LogLevel, Mutation, OperationChange, OperationStatus, OperationTiming, Store,
    StoreError, unix_nanos,
};

/// The most items one commit takes; more wait for the next.
const MAX_BATCH: usize = 20_000;
/// Producers block (never drop) when this many items wait.
const CHANNEL_BOUND: usize = 16_384;
/// How long a commit in a burst waits after its first line for more to
/// share it.
const LINGER: Duration = Duration::from_millis(2);
/// A commit of this many items or more means a burst.
const BURST: usize = 32;

/// What has been committed, in commit order.
#[derive(Debug, Clone)]
pub enum Committed {
    Log(LogEntry),
    Progress {
        operation_id: String,
        current: u64,
        total: u64,
        message: String,
    },
    Status {
        operation_id: String,
        status: OperationStatus,
        message: Option<String>,
        error_message: Option<String>,
        timing: Option<OperationTiming>,
    },
}

/// Receives committed items; the operations layer publishes them as events.
pub trait CommitSink: Send + Sync {
    fn committed(&self, items: &[Committed]);
}

type Ack = Sender<Result<(), Arc<StoreError>>>;

enum Request {
    Log {
        operation_id: String,
        level: LogLevel,
        message: String,
        details: Option<String>,
        at: OffsetDateTime,
    },
    Progress {
        operation_id: String,
        current: u64,
        total: u64,
        message: String,
    },
    Status {
        operation_id: String,
        status: OperationStatus,
        at: OffsetDateTime,
        message: Option<String>,
        error_message: Option<String>,
        timing: Option<OperationTiming>,
        ack: Ack,
    },
    Flush(Ack),
}

impl Request {
    /// Whether a caller waits for this to be committed.
    fn waited_on(&self) -> bool {
        matches!(self, Request::Status { .. } | Request::Flush(_))
    }
}

/// Joins the writer thread when the last `LogWriter` is gone (its sender
/// is dropped first, so the thread has already been told to finish), so
/// the store it holds is closed before the process exits.
struct Joiner(std::sync::Mutex<Option<JoinHandle<()>>>);

impl Drop for Joiner {
    fn drop(&mut self) {
        if let Some(h) = self.0.lock().ok().and_then(|mut h| h.take()) {
            let _ = h.join();
        }
    }
}

/// Cheap to clone; every clone feeds the same writer thread.
#[derive(Clone)]
pub struct LogWriter {
    // Field order matters: `tx` drops before `thread` joins.
    tx: Sender<Request>,
    _thread: Arc<Joiner>,
}

impl LogWriter {
    pub fn start(store: Arc<dyn Store>, sink: Arc<dyn CommitSink>) -> Self {
        let (tx, rx) = bounded(CHANNEL_BOUND);
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run(store, sink, rx))
            .expect("spawn log writer thread");
        Self {
            tx,
            _thread: Arc::new(Joiner(std::sync::Mutex::new(Some(handle)))),
        }
    }

    /// Queues a log line; it is durable within one commit (milliseconds).
    pub fn log(
        &self,
        operation_id: &str,
        level: LogLevel,
        message: String,
        details: Option<String>,
    ) {
        let _ = self.tx.send(Request::Log {
            operation_id: operation_id.to_string(),
            level,
            message,
            details,
            at: OffsetDateTime::now_utc(),
        });
    }

    pub fn progress(&self, operation_id: &str, current: u64, total: u64, message: String) {
        let _ = self.tx.send(Request::Progress {
            operation_id: operation_id.to_string(),
            current,
            total,
            message,
        });
    }

    /// Changes an operation's status and waits until that is on disk.
    pub fn status(
        &self,
        operation_id: &str,
        status: OperationStatus,
        message: Option<String>,
        error_message: Option<String>,
    ) -> Result<(), StoreError> {
        self.finish(operation_id, status, message, error_message, None)
    }

    /// `status` that also records how the operation went.
    pub fn finish(
        &self,
        operation_id: &str,
        status: OperationStatus,
        message: Option<String>,
        error_message: Option<String>,
        timing: Option<OperationTiming>,
    ) -> Result<(), StoreError> {
        let (ack, done) = bounded(1);
        self.tx
            .send(Request::Status {
                operation_id: operation_id.to_string(),
                status,
                at: OffsetDateTime::now_utc(),
                message,
                error_message,
                timing,
                ack,
            })
            .map_err(|_| StoreError::WriterStopped)?;
        wait(done)
    }

    /// Waits until everything queued before this call is durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = bounded(1);
        self.tx
            .send(Request::Flush(ack))
            .map_err(|_| StoreError::WriterStopped)?;
        wait(done)
    }

    /// Flushes and lets go of this handle; the last one stops the thread.
    pub fn shutdown(self) {
        let _ = self.flush();
    }
}

fn wait(done: Receiver<Result<(), Arc<StoreError>>>) -> Result<(), StoreError> {
    match done.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Shared(e)),
        Err(_) => Err(StoreError::WriterStopped),
    }
}

/// Where the next log line of an operation goes: time never goes backwards
/// within one operation, so key order is sequence order.
struct Position {
    last_ts: u64,
    last_seq: u64,
    op_type: String,
}

fn run(store: Arc<dyn Store>, sink: Arc<dyn CommitSink>, rx: Receiver<Request>) {
    let mut positions: HashMap<String, Position> = HashMap::new();
    let mut errors = ErrorAggregator::default();
    // Whether the last commit took a burst of lines.
    let mut burst = false;
    while let Ok(first) = rx.recv() {
        // In a burst, lines share a commit: the batch waits up to LINGER
        // for more, unless someone waits for it (a status change, a flush).
        // Lines that come one by one are committed as they come.
        let deadline = Instant::now() + LINGER;
        let mut at_once = first.waited_on() || !burst;
        let mut requests = vec![first];
        while requests.len() < MAX_BATCH {
            let next = if at_once {
                rx.try_recv().ok()
            } else {
                rx.recv_deadline(deadline).ok()
            };
            let Some(r) = next else { break };
            at_once |= r.waited_on();
            requests.push(r);
        }
        burst = requests.len() >= BURST;
        commit_batch(&*store, &*sink, &mut positions, &mut errors, requests);
    }
}

fn commit_batch(
    store: &dyn Store,
    sink: &dyn CommitSink,
    positions: &mut HashMap<String, Position>,
    errors: &mut ErrorAggregator,
    requests: Vec<Request>,
) {
    let mut mutations = Vec::with_capacity(requests.len());
    let mut committed = Vec::with_capacity(requests.len());
    let mut acks = Vec::new();
    // Progress is coalesced: only the latest value per operation is written,
    // at the place of its first request, so it never passes a status change.
    let mut progress_slot: HashMap<String, usize> = HashMap::new();
    let mut finished = Vec::new();
    for req in requests {
        match req {
            Request::Log {
                operation_id,
                level,
                message,
                details,
                at,
            } => {
                let pos = positions.entry(operation_id.clone()).or_insert_with(|| {
                    let (last_ts, last_seq) = store
                        .last_log_position(&operation_id)
                        .ok()
                        .flatten()
                        .unwrap_or((0, 0));
                    let op_type = store
                        .get_operation(&operation_id)
                        .ok()
                        .flatten()
                        .map(|op| op.op_type)
                        .unwrap_or_else(|| "unknown".into());
                    Position {
                        last_ts,
                        last_seq,
                        op_type,
                    }
                });
                let mut ts = unix_nanos(at);
                let mut created_at = at;
                if ts < pos.last_ts {
                    ts = pos.last_ts;
                    created_at =
                        OffsetDateTime::from_unix_timestamp_nanos(ts as i128).unwrap_or(at);
                }
                pos.last_ts = ts;
                pos.last_seq += 1;
                let entry = LogEntry {
                    id: pos.last_seq,
                    operation_id,
                    level,
                    message,
                    details,
                    created_at,
                };
                errors.observe(store, &entry, &pos.op_type);
                mutations.push(Mutation::AppendLog(entry.clone()));
                committed.push(Some(Committed::Log(entry)));
            }
            Request::Progress {
                operation_id,
                current,
                total,
                message,
            } => {
                let change = OperationChange::Progress {
                    current,
                    total,
                    message: message.clone(),
                };
                let item = Committed::Progress {
                    operation_id: operation_id.clone(),
                    current,
                    total,
                    message,
                };
                if let Some(&slot) = progress_slot.get(&operation_id) {
                    mutations[slot] = Mutation::UpdateOperation {
                        id: operation_id,
                        change,
                    };
                    committed[slot] = Some(item);
                } else {
                    progress_slot.insert(operation_id.clone(), mutations.len());
                    mutations.push(Mutation::UpdateOperation {
                        id: operation_id,
                        change,
                    });
                    committed.push(Some(item));
                }
            }
            Request::Status {
                operation_id,
                status,
                at,
                message,
                error_message,
                timing,
                ack,
            } => {
                // Later progress of this operation must come after the status.
                progress_slot.remove(&operation_id);
                if status.is_terminal() {
                    finished.push(operation_id.clone());
                }
                mutations.push(Mutation::UpdateOperation {
                    id: operation_id.clone(),
                    change: OperationChange::Status {
                        status,
                        at,
                        message: message.clone(),
                        error_message: error_message.clone(),
                        timing: timing.clone(),
                    },
                });
                committed.push(Some(Committed::Status {
                    operation_id,
                    status,
                    message,
                    error_message,
                    timing,
                }));
                acks.push(ack);
            }
            Request::Flush(ack) => acks.push(ack),
        }
    }
    let groups = errors.take_dirty();
    let appended = mutations.len();
    mutations.extend(groups.into_iter().map(Mutation::PutErrorGroup));
    let result = if mutations.is_empty() {
        store.flush().map(|_| Vec::new())
    } else {
        store.apply(&mutations, true)
    };
    match result {
        Ok(applied) => {
            let items: Vec<Committed> = committed
                .into_iter()
                .zip(
                    applied
                        .into_iter()
                        .take(appended)
                        .chain(std::iter::repeat(true)),
                )
                .filter_map(|(item, applied)| if applied { item } else { None })
                .collect();
            sink.committed(&items);
            for ack in acks {
                let _ = ack.send(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(
                writes = mutations.len(),
                error = %e,
                "could not commit log and status writes"
            );
            // Sequence numbers handed out in this batch were not used.
            positions.clear();
            errors.forget();
            let e = Arc::new(e);
            for ack in acks {
                let _ = ack.send(Err(e.clone()));
            }
        }
    }
    for id in finished {
        positions.remove(&id);
    }
}
