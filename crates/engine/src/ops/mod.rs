//! Operations: the queue that runs every piece of work, the reporter jobs
//! use, cancellation, and the event bus. Knows nothing of HTTP.

pub mod cancel;
pub mod events;
pub mod queue;
pub mod reporter;

use crate::logs::writer::{CommitSink, Committed};
use events::{Event, EventBus};

pub use queue::{JobError, JobFn, Queue, QueueConfig, QueueError};
pub use reporter::Reporter;

/// Publishes what the log writer committed: persisted first, then seen.
pub struct BusSink(pub EventBus);

impl CommitSink for BusSink {
    fn committed(&self, items: &[Committed]) {
        for item in items {
            let event = match item {
                Committed::Log(entry) => Event::operation_log(entry),
                Committed::Progress {
                    operation_id,
                    current,
                    total,
                    message,
                } => Event::operation_progress(operation_id, *current, *total, message),
                Committed::Status {
                    operation_id,
                    status,
                    message,
                    error_message,
                    timing,
                } => {
                    let mut e = Event::operation_status(
                        operation_id,
                        *status,
                        error_message.as_deref().or(message.as_deref()),
                    );
                    // The final status carries how the operation went.
                    if let Some(t) = timing {
                        e.data["timing"] = serde_json::to_value(t).unwrap_or_default();
                    }
                    e
                }
            };
            self.0.publish(event);
        }
    }
}
