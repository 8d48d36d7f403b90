//! One OpenTelemetry span per finished operation, exported over OTLP/HTTP
//! with the JSON encoding (`POST {endpoint}/v1/traces`), so a Jaeger,
//! Tempo or OpenTelemetry Collector shows every scan, organize and check
//! with its timing and outcome. The operation's ULID is the trace id.
//!
//! Spans are batched (up to `BATCH` or every `FLUSH`), sent from their own
//! thread through the process's circuit breaker for the `otlp` source; a
//! collector that is down costs nothing but the dropped spans (counted on
//! stderr), never a slower operation.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, bounded};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::ops::events::EventBus;
use crate::sources::{Breakers, CircuitBreaker};
use crate::store::{Operation, OperationStatus, Store};

const BATCH: usize = 256;
const FLUSH: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(5);

fn attr(key: &str, value: Value) -> Value {
    let v = match value {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_u64() || n.is_i64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n.as_f64().unwrap_or(0.0) }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": v })
}

fn nanos(t: time::OffsetDateTime) -> String {
    t.unix_timestamp_nanos().max(0).to_string()
}

/// The ULID's 128 bits as the trace id; its low 64 bits as the span id.
fn ids(operation_id: &str) -> (String, String) {
    match ulid::Ulid::from_string(operation_id) {
        Ok(u) => {
            let hex = format!("{:032x}", u.0);
            let span = hex[16..].to_string();
            (hex, span)
        }
        Err(_) => {
            let h = crate::hash::to_hex(&sha2_16(operation_id));
            (h.clone(), h[16..].to_string())
        }
    }
}

fn sha2_16(s: &str) -> [u8; 16] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// The span of a finished operation (OTLP JSON), or `None` while it runs.
pub fn span(op: &Operation) -> Option<Value> {
    if !op.status.is_terminal() {
        return None;
    }
    let end = op.completed_at?;
    let start = op.started_at.unwrap_or(op.created_at);
    let (trace_id, span_id) = ids(&op.id);
    let mut attributes = vec![
        attr("operation.id", json!(op.id)),
        attr("operation.type", json!(op.op_type)),
        attr("operation.status", json!(op.status.as_str())),
        attr("operation.priority", json!(op.priority)),
    ];
    if let Some(t) = &op.timing {
        attributes.push(attr(
            "operation.queue_wait_seconds",
            json!(t.queue_wait_seconds),
        ));
        attributes.push(attr("operation.files", json!(t.files)));
        attributes.push(attr("operation.bytes", json!(t.bytes)));
    }
    if let Some(f) = &op.folder_path {
        attributes.push(attr("operation.folder", json!(f)));
    }
    // OTLP status: 1 = ok, 2 = error (failed, or cut short).
    let status = match op.status {
        OperationStatus::Completed | OperationStatus::Canceled => json!({ "code": 1 }),
        _ => {
            json!({ "code": 2, "message": op.error_message.clone().unwrap_or_else(|| op.status.as_str().to_string()) })
        }
    };
    Some(json!({
        "traceId": trace_id,
        "spanId": span_id,
        "name": op.op_type,
        "kind": 1,
        "startTimeUnixNano": nanos(start),
        "endTimeUnixNano": nanos(end),
        "attributes": attributes,
        "status": status,
    }))
}

/// The request body for a batch of spans.
pub fn export_body(spans: Vec<Value>) -> Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                attr("service.name", json!("audiobook-organizer")),
                attr("service.version", json!(env!("CARGO_PKG_VERSION"))),
            ]},
            "scopeSpans": [{
                "scope": { "name": "audiobook-organizer", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
}

/// Follows the bus and exports a span for every operation that ends.
/// Returns the two threads (bus reader, sender); both end with the bus.
pub fn spawn(
    bus: &EventBus,
    store: &Arc<dyn Store>,
    breakers: &Breakers,
    endpoint: &str,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut rx = bus.subscribe();
    let store: Weak<dyn Store> = Arc::downgrade(store);
    let (tx, spans) = bounded::<Value>(4 * BATCH);
    let reader = std::thread::Builder::new()
        .name("otlp-spans".into())
        .spawn(move || {
            loop {
                let ev = match rx.blocking_recv() {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if !ev.ends_operation() {
                    continue;
                }
                let Some(store) = store.upgrade() else { return };
                if let Ok(Some(op)) = store.get_operation(&ev.id)
                    && let Some(s) = span(&op)
                {
                    // A full queue (collector far behind): drop, never block.
                    let _ = tx.try_send(s);
                }
            }
        })?;
    let url = format!("{endpoint}/v1/traces");
    let breaker = breakers.get("otlp", 5, Duration::from_secs(30));
    let sender = std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || send_loop(spans, &url, &breaker))?;
    Ok(vec![reader, sender])
}

fn send_loop(spans: Receiver<Value>, url: &str, breaker: &CircuitBreaker) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut batch: Vec<Value> = Vec::new();
    let mut dropped = 0u64;
    let mut due = Instant::now() + FLUSH;
    loop {
        let wait = due.saturating_duration_since(Instant::now());
        let closed = match spans.recv_timeout(wait) {
            Ok(s) => {
                batch.push(s);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if batch.len() >= BATCH || Instant::now() >= due || closed {
            if !batch.is_empty() {
                let n = batch.len() as u64;
                if let Err(why) = send(&agent, url, breaker, std::mem::take(&mut batch)) {
                    dropped += n;
                    tracing::warn!(
                        endpoint = %url,
                        error = %why,
                        dropped,
                        "OTLP export failed; spans dropped"
                    );
                }
            }
            due = Instant::now() + FLUSH;
        }
        if closed {
            return;
        }
    }
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    breaker: &CircuitBreaker,
    spans: Vec<Value>,
) -> Result<(), String> {
    breaker.allow().map_err(|_| "circuit open".to_string())?;
    let body = export_body(spans).to_string();
    let result = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.as_bytes());
    match result {
        Ok(res) if res.status().is_success() => {
            breaker.record_success();
            Ok(())
        }
        Ok(res) => {
            breaker.record_failure();
            Err(format!("HTTP {}", res.status()))
        }
        Err(e) => {
            breaker.record_failure();
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Priority;

    #[test]
    fn a_failed_operation_is_an_error_span_with_its_ulid_as_trace_id() {
        let mut op = Operation::new(
            "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            "scan",
            Priority::Normal,
            Value::Null,
            None,
        );
        assert!(span(&op).is_none(), "no span while it runs");
        op.status = OperationStatus::Failed;
        op.started_at = Some(op.created_at);
        op.completed_at = Some(op.created_at + time::Duration::seconds(2));
        op.error_message = Some("disk full".into());
        let s = span(&op).unwrap();
        assert_eq!(s["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(s["spanId"].as_str().unwrap().len(), 16);
        assert_eq!(s["name"], "scan");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(s["status"]["message"], "disk full");
        let start: u128 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u128 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert_eq!(end - start, 2_000_000_000);
    }
}
