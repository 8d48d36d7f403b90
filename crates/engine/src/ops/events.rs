//! Event shapes shared with the Go server, and the in-process bus that
//! carries them. The realtime layer subscribes; nothing here knows HTTP.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::store::{LogEntry, OperationStatus};

/// `{type, id, timestamp, data}`: `id` is the operation id, or empty for
/// system-wide events that go to every client.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: Value,
}

impl Event {
    /// An `operation.status` event whose status is terminal.
    pub fn ends_operation(&self) -> bool {
        self.kind == "operation.status"
            && self
                .data
                .get("status")
                .and_then(Value::as_str)
                .and_then(OperationStatus::parse)
                .is_some_and(OperationStatus::is_terminal)
    }

    pub fn new(kind: &str, operation_id: &str, data: Value) -> Self {
        Self {
            kind: kind.to_string(),
            id: operation_id.to_string(),
            timestamp: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
            data,
        }
    }

    pub fn operation_status(
        operation_id: &str,
        status: OperationStatus,
        details: Option<&str>,
    ) -> Self {
        Self::new(
            "operation.status",
            operation_id,
            json!({"operation_id": operation_id, "status": status, "details": details.unwrap_or("")}),
        )
    }

    pub fn operation_progress(operation_id: &str, current: u64, total: u64, message: &str) -> Self {
        let percentage = if total > 0 {
            ((current as f64 / total as f64) * 100.0).min(100.0)
        } else {
            0.0
        };
        Self::new(
            "operation.progress",
            operation_id,
            json!({"operation_id": operation_id, "current": current, "total": total,
                   "message": message, "percentage": percentage}),
        )
    }

    pub fn operation_log(entry: &LogEntry) -> Self {
        let mut data = json!({"operation_id": entry.operation_id, "level": entry.level,
                              "message": entry.message, "seq": entry.id});
        if let Some(d) = &entry.details {
            data["details"] = Value::String(d.clone());
        }
        Self::new("operation.log", &entry.operation_id, data)
    }
}

/// Fan-out of events to every subscriber. Publishing never blocks; a
/// subscriber that falls behind is told how much it missed (`Lagged`).
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self { tx }
    }

    pub fn publish(&self, event: Event) {
        // No subscribers is fine: events are also in the store.
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(8192)
    }
}
