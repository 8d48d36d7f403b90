//! What `serve` writes to stdout while it runs: operation log lines, status
//! changes and the server's own warnings (slow or stalled operations,
//! store health, circuit breakers, integrity findings), as text lines or
//! one JSON object per line for log shippers (Loki, Vector). It follows
//! the event bus (so every line is already in the store when printed) and
//! hands each logged event to `tracing`; `trace.rs` writes the lines.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::config::LogFormat;
use crate::ops::events::{Event, EventBus};
use crate::store::Store;

use super::trace::BUS_EVENTS;

/// Severity, in the order `log_level` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warn,
    Info,
    Debug,
}

impl Severity {
    pub fn parse(s: &str) -> Severity {
        match s {
            "error" => Severity::Error,
            "warn" => Severity::Warn,
            "debug" | "trace" => Severity::Debug,
            _ => Severity::Info,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

/// One line to print, or `None` for events that are not logged
/// (progress, queue snapshots, periodic status; slow and stalled
/// operations arrive as their own warn log line).
pub fn describe(ev: &Event) -> Option<(Severity, String, Option<String>)> {
    let d = &ev.data;
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
    Some(match ev.kind.as_str() {
        "operation.log" => (
            Severity::parse(s("level")),
            s("message").to_string(),
            d.get("details").and_then(Value::as_str).map(str::to_string),
        ),
        "operation.status" => {
            let status = s("status");
            let sev = match status {
                "failed" => Severity::Error,
                "interrupted" => Severity::Warn,
                _ => Severity::Info,
            };
            let details = Some(s("details"))
                .filter(|x| !x.is_empty())
                .map(str::to_string);
            (sev, format!("operation {status}"), details)
        }
        "system.health" => {
            let status = s("status");
            let sev = if status == "ok" {
                Severity::Info
            } else {
                Severity::Warn
            };
            (
                sev,
                format!("store health {status}"),
                d.get("error").and_then(Value::as_str).map(str::to_string),
            )
        }
        "circuit_breaker.state" => {
            let state = s("state");
            let sev = if state == "open" {
                Severity::Warn
            } else {
                Severity::Info
            };
            (
                sev,
                format!("circuit breaker {} {state}", s("source")),
                None,
            )
        }
        "integrity.mismatch" => (
            Severity::Warn,
            format!(
                "integrity {}: {} ({})",
                s("kind"),
                s("file_path"),
                s("book_title")
            ),
            None,
        ),
        "retention.completed" | "growth.snapshot" => {
            (Severity::Info, ev.kind.clone(), Some(d.to_string()))
        }
        _ => return None,
    })
}

/// One line's parts.
pub struct Line<'a> {
    pub timestamp: &'a str,
    pub severity: Severity,
    /// The bus event's kind (`operation.log`), or `server`.
    pub event: &'a str,
    pub operation_id: Option<&'a str>,
    pub operation_type: Option<&'a str>,
    pub message: &'a str,
    pub details: Option<&'a str>,
}

/// Renders one line (without the newline).
pub fn render_line(format: LogFormat, l: &Line<'_>) -> String {
    match format {
        LogFormat::Json => {
            let mut o = json!({"timestamp": l.timestamp, "level": l.severity.as_str(), "event": l.event, "message": l.message});
            if let Some(id) = l.operation_id.filter(|id| !id.is_empty()) {
                o["operation_id"] = Value::from(id);
            }
            if let Some(t) = l.operation_type {
                o["operation_type"] = Value::from(t);
            }
            if let Some(d) = l.details {
                o["details"] = Value::from(d);
            }
            o.to_string()
        }
        LogFormat::Text => {
            let mut line = format!(
                "{} {:<5}",
                l.timestamp,
                l.severity.as_str().to_ascii_uppercase()
            );
            if let Some(id) = l.operation_id.filter(|id| !id.is_empty()) {
                line.push_str(&format!(
                    " [{} {id}]",
                    l.operation_type.unwrap_or("operation")
                ));
            }
            line.push(' ');
            line.push_str(l.message);
            if let Some(d) = l.details {
                line.push_str(" | ");
                line.push_str(&d.replace('\n', " "));
            }
            line
        }
    }
}

/// Renders a bus event's line (as the layer does, from the same parts).
#[cfg(test)]
pub fn render(
    format: LogFormat,
    ev: &Event,
    sev: Severity,
    message: &str,
    details: Option<&str>,
    op_type: Option<&str>,
) -> String {
    let ts = timestamp(ev);
    render_line(
        format,
        &Line {
            timestamp: &ts,
            severity: sev,
            event: &ev.kind,
            operation_id: Some(ev.id.as_str()),
            operation_type: op_type,
            message,
            details,
        },
    )
}

fn timestamp(ev: &Event) -> String {
    ev.timestamp
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A JSON or text line for the server's own messages (listening, key).
pub fn server_line(format: LogFormat, message: &str, fields: Value) -> String {
    match format {
        LogFormat::Text => message.to_string(),
        LogFormat::Json => {
            let ts = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let mut o =
                json!({"timestamp": ts, "level": "info", "event": "server", "message": message});
            if let (Value::Object(m), Value::Object(f)) = (&mut o, fields) {
                m.extend(f);
            }
            o.to_string()
        }
    }
}

/// Follows the bus until it closes, handing each event that is logged to
/// `tracing` (target [`BUS_EVENTS`]). Operation types are looked up once
/// per operation and forgotten when it ends.
pub fn spawn(bus: &EventBus, store: &Arc<dyn Store>) -> std::thread::JoinHandle<()> {
    let mut rx = bus.subscribe();
    // Weak: printing must not keep the store open past the engine.
    let store = Arc::downgrade(store);
    std::thread::Builder::new()
        .name("stdout-log".into())
        .spawn(move || {
            let mut types: HashMap<String, String> = HashMap::new();
            loop {
                let ev = match rx.blocking_recv() {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(
                            "stdout log fell behind: {n} event(s) not printed (they are in the store)"
                        );
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let Some((sev, message, details)) = describe(&ev) else { continue };
                let op_type = if ev.id.is_empty() {
                    None
                } else {
                    if !types.contains_key(&ev.id)
                        && let Some(store) = store.upgrade()
                        && let Ok(Some(op)) = store.get_operation(&ev.id)
                    {
                        types.insert(ev.id.clone(), op.op_type.clone());
                    }
                    types.get(&ev.id).cloned()
                };
                emit(&ev, sev, &message, details.as_deref(), op_type.as_deref());
                if ev.ends_operation() {
                    types.remove(&ev.id);
                }
            }
        })
        .expect("spawn the stdout log thread")
}

/// One bus event as a `tracing` event at its severity.
pub(super) fn emit(
    ev: &Event,
    sev: Severity,
    message: &str,
    details: Option<&str>,
    op_type: Option<&str>,
) {
    let ts = timestamp(ev);
    let id = Some(ev.id.as_str()).filter(|id| !id.is_empty());
    macro_rules! at {
        ($level:expr) => {
            tracing::event!(
                target: BUS_EVENTS,
                $level,
                kind = ev.kind.as_str(),
                operation_id = id,
                operation_type = op_type,
                details = details,
                timestamp = ts.as_str(),
                "{message}"
            )
        };
    }
    match sev {
        Severity::Error => at!(tracing::Level::ERROR),
        Severity::Warn => at!(tracing::Level::WARN),
        Severity::Info => at!(tracing::Level::INFO),
        Severity::Debug => at!(tracing::Level::DEBUG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_level_operation_and_details() {
        let ev = Event::new(
            "operation.log",
            "01ABC",
            json!({"operation_id": "01ABC", "level": "warn", "message": "skipped a \"file\"", "seq": 3, "details": "why"}),
        );
        let (sev, msg, details) = describe(&ev).unwrap();
        assert_eq!(sev, Severity::Warn);
        let line = render(
            LogFormat::Json,
            &ev,
            sev,
            &msg,
            details.as_deref(),
            Some("scan"),
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["message"], "skipped a \"file\"");
        assert_eq!(v["operation_id"], "01ABC");
        assert_eq!(v["operation_type"], "scan");
        assert_eq!(v["details"], "why");
        let text = render(
            LogFormat::Text,
            &ev,
            sev,
            &msg,
            details.as_deref(),
            Some("scan"),
        );
        assert!(
            text.ends_with("WARN  [scan 01ABC] skipped a \"file\" | why"),
            "{text}"
        );
    }

    #[test]
    fn chatty_events_are_not_logged_and_levels_filter() {
        let progress = Event::new("operation.progress", "01ABC", json!({"current": 1}));
        assert!(describe(&progress).is_none());
        let failed = Event::new(
            "operation.status",
            "01ABC",
            json!({"status": "failed", "details": "boom"}),
        );
        assert_eq!(describe(&failed).unwrap().0, Severity::Error);
        assert!(
            Severity::Info > Severity::Warn,
            "info is filtered out at warn"
        );
    }
}
