//! What a running operation uses to tell the world how it is doing.

use crate::store::LogLevel;
use crate::store::log_writer::LogWriter;

use super::cancel::CancelToken;

pub struct Reporter {
    operation_id: String,
    op_type: String,
    writer: LogWriter,
    token: CancelToken,
}

impl Reporter {
    pub fn new(operation_id: &str, op_type: &str, writer: LogWriter, token: CancelToken) -> Self {
        Self {
            operation_id: operation_id.to_string(),
            op_type: op_type.to_string(),
            writer,
            token,
        }
    }

    pub fn operation_id(&self) -> &str {
        &self.operation_id
    }

    pub fn op_type(&self) -> &str {
        &self.op_type
    }

    /// Persisted (coalesced) and published; never overwrites a final status.
    pub fn update_progress(&self, current: u64, total: u64, message: impl Into<String>) {
        self.writer
            .progress(&self.operation_id, current, total, message.into());
    }

    /// Persisted first, then published.
    pub fn log(&self, level: LogLevel, message: impl Into<String>, details: Option<String>) {
        self.writer
            .log(&self.operation_id, level, message.into(), details);
    }

    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message, None);
    }

    pub fn warn(&self, message: impl Into<String>, details: Option<String>) {
        self.log(LogLevel::Warn, message, details);
    }

    pub fn error(&self, message: impl Into<String>, details: Option<String>) {
        self.log(LogLevel::Error, message, details);
    }

    /// An atomic load (and a clock read when a timeout is set): no I/O.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}
