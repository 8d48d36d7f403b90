//! `/metrics`: the engine's counters plus gauges read from maintained
//! counters (never from scanning the store), process figures, and the
//! standard `process_*` metrics.
//!
//! `audiobook_organizer_process_goroutines` keeps the Go server's name; here
//! it holds the number of live async tasks in the tokio runtime.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use ao_engine::metrics::{Gauge, NAMESPACE};

pub fn render_text(s: &AppState) -> String {
    let engine = &s.engine;
    let q = engine.queue.snapshot();
    let tasks = tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_alive_tasks())
        .unwrap_or(0);
    let gauges = [
        Gauge {
            name: "books_total",
            help: "Current book count in library",
            value: engine.store.count_books().unwrap_or(0) as f64,
        },
        Gauge {
            name: "import_paths_total",
            help: "Number of enabled import paths",
            value: engine.store.count_import_paths().unwrap_or(0) as f64,
        },
        // The two above keep the Go server's names (dashboards use them),
        // which promtool's lint flags for a gauge ending in _total; these
        // carry the same values under lint-clean names.
        Gauge {
            name: "books",
            help: "Current book count in library (lint-clean alias of books_total)",
            value: engine.store.count_books().unwrap_or(0) as f64,
        },
        Gauge {
            name: "import_paths",
            help: "Number of enabled import paths (lint-clean alias of import_paths_total)",
            value: engine.store.count_import_paths().unwrap_or(0) as f64,
        },
        Gauge {
            name: "process_memory_alloc_bytes",
            help: "Bytes currently allocated on the heap by the process",
            value: crate::process_stats::allocated_bytes() as f64,
        },
        Gauge {
            name: "process_goroutines",
            help: "Live async tasks in the runtime (named after the Go server's goroutine gauge)",
            value: tasks as f64,
        },
        Gauge {
            name: "sse_clients_connected",
            help: "Number of currently connected SSE and WebSocket clients",
            value: s.hub.client_count() as f64,
        },
        Gauge {
            name: "queue_depth",
            help: "Operations waiting in the queue",
            value: q.queued as f64,
        },
        Gauge {
            name: "queue_busy_workers",
            help: "Workers running an operation",
            value: q.running as f64,
        },
        Gauge {
            name: "queue_paused",
            help: "1 when the queue is paused",
            value: if q.paused { 1.0 } else { 0.0 },
        },
    ];
    let mut out = engine.metrics.render(&gauges);
    let labeled = |out: &mut String, name: &str, help: &str, rows: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {NAMESPACE}_{name} {help}");
        let _ = writeln!(out, "# TYPE {NAMESPACE}_{name} gauge");
        for (labels, v) in rows {
            if labels.is_empty() {
                let _ = writeln!(out, "{NAMESPACE}_{name} {v}");
            } else {
                let _ = writeln!(out, "{NAMESPACE}_{name}{{{labels}}} {v}");
            }
        }
    };
    let breakers: Vec<(String, f64)> = engine
        .breakers
        .states()
        .into_iter()
        .map(|(src, st)| (format!("source=\"{src}\""), st.gauge() as f64))
        .collect();
    labeled(
        &mut out,
        "circuit_breaker_state",
        "Circuit breaker state per source (0=closed, 1=open, 2=half_open)",
        &breakers,
    );
    let findings: Vec<(String, f64)> = engine
        .store
        .count_findings()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, n)| (format!("kind=\"{}\"", k.as_str()), n as f64))
        .collect();
    labeled(
        &mut out,
        "integrity_findings",
        "Current integrity findings (books with a bad file) by kind",
        &findings,
    );
    let u = &q.utilization.overall;
    labeled(
        &mut out,
        "queue_worker_utilization",
        "Busy fraction of all workers over the window",
        &[
            ("window=\"1m\"".into(), u.m1),
            ("window=\"5m\"".into(), u.m5),
            ("window=\"15m\"".into(), u.m15),
        ],
    );
    let depth = &q.depth;
    labeled(
        &mut out,
        "queue_depth_by_priority",
        "Operations waiting, by priority",
        &[
            ("priority=\"high\"".into(), depth.high as f64),
            ("priority=\"normal\"".into(), depth.normal as f64),
            ("priority=\"low\"".into(), depth.low as f64),
        ],
    );
    if let Some(h) = engine.health.latest() {
        labeled(
            &mut out,
            "store_probe_latency_seconds",
            "Latency of the last background store probe",
            &[
                ("op=\"read\"".into(), h.read_latency_ms / 1000.0),
                ("op=\"write\"".into(), h.write_latency_ms / 1000.0),
            ],
        );
        labeled(
            &mut out,
            "store_health_status",
            "Store health from the background pings (0=ok, 1=slow, 2=degraded)",
            &[(String::new(), h.status.level() as f64)],
        );
    }
    let p = crate::process_stats::proc_stats();
    let std_metrics: [(&str, &str, &str, f64); 6] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes as f64,
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds as f64,
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            p.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        ),
    ];
    for (name, kind, help, v) in std_metrics {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {v}");
    }
    out
}

pub async fn render(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render_text(&s),
    )
}
