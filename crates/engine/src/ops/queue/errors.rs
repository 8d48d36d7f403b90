//! How a job ends when it does not succeed, and what the queue refuses.

use thiserror::Error;

use crate::store::StoreError;

/// How a job ends when it does not succeed.
#[derive(Debug, Error)]
pub enum JobError {
    #[error("canceled")]
    Canceled,
    /// What the operation was asked to do cannot be done (a bad parameter,
    /// nothing to work on): running it again fails the same way.
    #[error("{0}")]
    Invalid(String),
    /// The store failed under the job.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file-system call failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A failure of a lower layer (the walk), with what it means here.
    #[error("{context}: {source}{hint}")]
    Stopped {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        hint: &'static str,
    },
    /// Anything else (a panic, a source that is down), as a message.
    #[error("{0}")]
    Failed(String),
}

impl JobError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> JobError {
        let context = context.into();
        move |source| JobError::Io { context, source }
    }

    /// Whether running the operation again may succeed (the failure lay
    /// with the machine, not with what was asked).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, JobError::Canceled | JobError::Invalid(_))
    }
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("operation {0} not found")]
    NotFound(String),
    #[error("unknown operation type {0:?}")]
    UnknownType(String),
    #[error("the queue is full ({0} operations waiting); try again later")]
    Full(usize),
    #[error("operation {id} already ended ({status})")]
    AlreadyFinished { id: String, status: &'static str },
    #[error("the queue is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}
