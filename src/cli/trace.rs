//! Where diagnostics go. Everything the engine and the server say about
//! themselves is a `tracing` event (inside an `operation` span while an
//! operation runs); under `serve` the bus's logged events are turned into
//! `tracing` events too (`stdout_log.rs`), and one layer writes them all to
//! stdout as text lines or JSON objects (`log_format`), filtered by
//! `log_level`. Other commands write the engine's warnings to stderr as
//! `audiobook-organizer: ...` lines.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use super::stdout_log::{Line, Severity, render_line};
use crate::config::LogFormat;

/// The target of events that carry a bus event (their fields are the
/// line's: `kind`, `operation_id`, `operation_type`, `details`,
/// `timestamp`).
pub const BUS_EVENTS: &str = "audiobook_organizer::events";

/// Fields of an event or span, by name, as text.
#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<(&'static str, String)>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.values.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.values.push((field.name(), text));
        }
    }
}

/// What an `operation` span knows: its id and type.
struct OperationOf {
    id: String,
    op_type: String,
}

fn severity(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warn,
        Level::INFO => Severity::Info,
        _ => Severity::Debug,
    }
}

/// Where finished lines go (stdout; a buffer in tests).
type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// Writes events as the server's stdout lines.
struct StdoutLines {
    format: LogFormat,
    level: Severity,
    out: Sink,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StdoutLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "operation" {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(OperationOf {
                id: f.get("operation_id").unwrap_or_default().to_string(),
                op_type: f.get("operation_type").unwrap_or_default().to_string(),
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let sev = severity(event.metadata().level());
        if sev > self.level {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let bus = event.metadata().target() == BUS_EVENTS;
        // The operation: the bus event's own, else the span it happened in.
        let mut operation = f.get("operation_id").map(|id| OperationOf {
            id: id.to_string(),
            op_type: f.get("operation_type").unwrap_or_default().to_string(),
        });
        if operation.is_none()
            && let Some(scope) = ctx.event_scope(event)
        {
            for span in scope.from_root() {
                if let Some(o) = span.extensions().get::<OperationOf>() {
                    operation = Some(OperationOf {
                        id: o.id.clone(),
                        op_type: o.op_type.clone(),
                    });
                }
            }
        }
        // A diagnostic's own fields (an error, a path) are its details.
        let extra: Vec<String> = f
            .values
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    *k,
                    "kind" | "operation_id" | "operation_type" | "details" | "timestamp"
                )
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let details = match (f.get("details"), extra.is_empty()) {
            (Some(d), _) => Some(d.to_string()),
            (None, false) => Some(extra.join(" ")),
            (None, true) => None,
        };
        let timestamp = f.get("timestamp").map(str::to_string).unwrap_or_else(|| {
            time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        });
        let line = render_line(
            self.format,
            &Line {
                timestamp: &timestamp,
                severity: sev,
                event: if bus {
                    f.get("kind").unwrap_or("server")
                } else {
                    "server"
                },
                operation_id: operation.as_ref().map(|o| o.id.as_str()),
                operation_type: operation
                    .as_ref()
                    .map(|o| o.op_type.as_str())
                    .filter(|t| !t.is_empty()),
                message: &f.message,
                details: details.as_deref(),
            },
        );
        (self.out)(&line);
    }
}

/// Writes warnings and errors to stderr for the short-lived commands.
struct StderrLines;

impl<S: Subscriber> Layer<S> for StderrLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if severity(event.metadata().level()) > Severity::Warn {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let mut line = format!("audiobook-organizer: {}", f.message);
        for (k, v) in &f.values {
            let _ = write!(line, " {k}={v}");
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// Installs the server's writer (every diagnostic and every logged bus
/// event as a stdout line) and, if configured, the OTLP exporter of
/// `operation` spans.
pub fn init_server(
    format: LogFormat,
    level: Severity,
    otlp: Option<crate::telemetry::otlp::OtlpLayer>,
) {
    let out: Sink = Box::new(|line| {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    });
    let _ = tracing_subscriber::registry()
        .with(StdoutLines { format, level, out })
        .with(otlp)
        .try_init();
}

/// Installs the writer of the other commands.
pub fn init_cli() {
    let _ = tracing_subscriber::registry().with(StderrLines).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::events::Event;
    use std::sync::{Arc, Mutex};

    fn capture(format: LogFormat, level: Severity, f: impl FnOnce()) -> Vec<String> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let layer = StdoutLines {
            format,
            level,
            out: Box::new(move |l| sink.lock().unwrap().push(l.to_string())),
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        lines.lock().unwrap().clone()
    }

    #[test]
    fn a_diagnostic_inside_an_operation_names_it_and_keeps_its_fields() {
        let lines = capture(LogFormat::Json, Severity::Info, || {
            let span =
                tracing::info_span!("operation", operation_id = "01OP", operation_type = "scan");
            let _in = span.enter();
            tracing::warn!(error = "disk full", "cannot record the end yet");
            tracing::debug!("filtered out at info");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["event"], "server");
        assert_eq!(v["operation_id"], "01OP");
        assert_eq!(v["operation_type"], "scan");
        assert_eq!(v["message"], "cannot record the end yet");
        assert_eq!(v["details"], "error=disk full");
    }

    #[test]
    fn a_bus_event_prints_as_it_always_did_in_both_formats() {
        let ev = Event::new(
            "operation.log",
            "01ABC",
            serde_json::json!({"operation_id": "01ABC", "level": "warn", "message": "skipped", "seq": 3, "details": "why\nnext"}),
        );
        for format in [LogFormat::Text, LogFormat::Json] {
            let (sev, msg, details) = super::super::stdout_log::describe(&ev).unwrap();
            let want = super::super::stdout_log::render(
                format,
                &ev,
                sev,
                &msg,
                details.as_deref(),
                Some("scan"),
            );
            let lines = capture(format, Severity::Info, || {
                super::super::stdout_log::emit(&ev, sev, &msg, details.as_deref(), Some("scan"))
            });
            assert_eq!(lines, vec![want]);
        }
    }
}
