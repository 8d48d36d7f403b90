//! One OpenTelemetry span per finished operation, exported over OTLP/HTTP
//! with the JSON encoding (`POST {endpoint}/v1/traces`), so a Jaeger,
//! Tempo or OpenTelemetry Collector shows every scan, organize and check
//! with its timing and outcome. The operation's ULID is the trace id.
//!
//! Fed from `tracing`: [`OtlpLayer`] watches the `operation` spans the
//! queue opens around each operation, which carry its id, type, priority
//! and folder and, by the time they close, its status, error and timing.
//!
//! Spans are batched (up to `BATCH` or every `FLUSH`), sent from their own
//! thread through the process's circuit breaker for the `otlp` source; a
//! collector that is down costs nothing but the dropped spans (counted on
//! stderr), never a slower operation.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::sources::{Breakers, CircuitBreaker};

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

/// What an `operation` span says about its operation.
#[derive(Debug, Default, Clone)]
pub struct OperationFields {
    pub id: String,
    pub op_type: String,
    pub priority: String,
    pub folder: Option<String>,
    /// Recorded when it ends: `completed`, `failed`, ...
    pub status: Option<String>,
    pub error: Option<String>,
    pub queue_wait_seconds: Option<f64>,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
}

impl Visit for OperationFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let v = Some(value.to_string());
        match field.name() {
            "operation_id" => self.id = value.to_string(),
            "operation_type" => self.op_type = value.to_string(),
            "priority" => self.priority = value.to_string(),
            "folder" => self.folder = v,
            "status" => self.status = v,
            "error" => self.error = v,
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "files" => self.files = Some(value),
            "bytes" => self.bytes = Some(value),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "queue_wait_seconds" {
            self.queue_wait_seconds = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// The span of a finished operation (OTLP JSON), or `None` if it has no
/// status (it did not end). Times in nanoseconds since the epoch.
pub fn span(f: &OperationFields, start_ns: u128, end_ns: u128) -> Option<Value> {
    let status = f.status.as_deref()?;
    let (trace_id, span_id) = ids(&f.id);
    let mut attributes = vec![
        attr("operation.id", json!(f.id)),
        attr("operation.type", json!(f.op_type)),
        attr("operation.status", json!(status)),
        attr("operation.priority", json!(f.priority)),
    ];
    if let Some(w) = f.queue_wait_seconds {
        attributes.push(attr("operation.queue_wait_seconds", json!(w)));
    }
    if let Some(n) = f.files {
        attributes.push(attr("operation.files", json!(n)));
    }
    if let Some(n) = f.bytes {
        attributes.push(attr("operation.bytes", json!(n)));
    }
    if let Some(d) = &f.folder {
        attributes.push(attr("operation.folder", json!(d)));
    }
    // OTLP status: 1 = ok, 2 = error (failed, or cut short).
    let status = match status {
        "completed" | "canceled" => json!({ "code": 1 }),
        other => {
            json!({ "code": 2, "message": f.error.clone().unwrap_or_else(|| other.to_string()) })
        }
    };
    Some(json!({
        "traceId": trace_id,
        "spanId": span_id,
        "name": f.op_type,
        "kind": 1,
        "startTimeUnixNano": start_ns.to_string(),
        "endTimeUnixNano": end_ns.max(start_ns).to_string(),
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

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// An `operation` span being watched: when it opened, what it says.
struct Open {
    start_ns: u128,
    fields: OperationFields,
}

/// The `tracing` layer that turns every closed `operation` span into an
/// OTLP span for the sender thread ([`start`]).
pub struct OtlpLayer {
    spans: Sender<Value>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for OtlpLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "operation" {
            return;
        }
        let mut fields = OperationFields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Open {
                start_ns: now_ns(),
                fields,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(open) = span.extensions_mut().get_mut::<Open>()
        {
            values.record(&mut open.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        if let Some(s) = self::span(&open.fields, open.start_ns, now_ns()) {
            // A full queue (collector far behind): drop, never block.
            let _ = self.spans.try_send(s);
        }
    }
}

/// Starts the sender thread for `endpoint` and returns the layer that
/// feeds it (the thread ends once the layer is gone).
pub fn start(
    breakers: &Breakers,
    endpoint: &str,
) -> std::io::Result<(OtlpLayer, std::thread::JoinHandle<()>)> {
    let (tx, spans) = bounded::<Value>(4 * BATCH);
    let url = format!("{endpoint}/v1/traces");
    let breaker = breakers.get("otlp", 5, Duration::from_secs(30));
    let sender = std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || send_loop(spans, &url, &breaker))?;
    Ok((OtlpLayer { spans: tx }, sender))
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

    #[test]
    fn a_failed_operation_is_an_error_span_with_its_ulid_as_trace_id() {
        let mut f = OperationFields {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            op_type: "scan".into(),
            priority: "normal".into(),
            ..OperationFields::default()
        };
        assert!(span(&f, 1, 2).is_none(), "no span without an end");
        f.status = Some("failed".into());
        f.error = Some("disk full".into());
        let s = span(&f, 5_000_000_000, 7_000_000_000).unwrap();
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
