//! Operations: the queue that runs every piece of work, the reporter jobs
//! use, cancellation, and the event bus. Knows nothing of HTTP.

pub mod cancel;
pub mod events;
pub mod queue;
pub mod reporter;

use crate::store::log_writer::{CommitSink, Committed};
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
                } => Event::operation_status(
                    operation_id,
                    *status,
                    error_message.as_deref().or(message.as_deref()),
                ),
            };
            self.0.publish(event);
        }
    }
}
