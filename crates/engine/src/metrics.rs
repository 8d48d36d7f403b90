//! Every metric the server records, by its Prometheus name, in one place.
//! Recorded in-process with atomics; rendered as Prometheus text on demand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const NAMESPACE: &str = "audiobook_organizer";

/// Upper bounds of the duration histogram: 50 ms growing by 1.6, 24 buckets,
/// the last at ~41 minutes (the Go server's 10 buckets stopped at 3.4 s).
pub fn duration_buckets() -> Vec<f64> {
    // Rounded so the `le` labels read 0.08, 0.128, ... rather than float noise.
    (0..24)
        .map(|i| (0.05 * 1.6f64.powi(i) * 1e6).round() / 1e6)
        .collect()
}

#[derive(Default)]
pub struct LabeledCounter {
    values: Mutex<BTreeMap<String, u64>>,
}

impl LabeledCounter {
    pub fn inc(&self, label: &str) {
        self.add(label, 1);
    }
    pub fn add(&self, label: &str, n: u64) {
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *v.entry(label.to_string()).or_default() += n;
    }
    pub fn get(&self, label: &str) -> u64 {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.get(label).copied().unwrap_or(0)
    }
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.iter().map(|(k, n)| (k.clone(), *n)).collect()
    }
}

#[derive(Clone, Default)]
struct HistogramData {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

pub struct LabeledHistogram {
    bounds: Vec<f64>,
    values: Mutex<BTreeMap<String, HistogramData>>,
}

impl LabeledHistogram {
    pub fn new(bounds: Vec<f64>) -> Self {
        Self {
            bounds,
            values: Mutex::new(BTreeMap::new()),
        }
    }
    pub fn observe(&self, label: &str, seconds: f64) {
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let h = v.entry(label.to_string()).or_insert_with(|| HistogramData {
            counts: vec![0; self.bounds.len()],
            ..Default::default()
        });
        for (i, b) in self.bounds.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
    pub fn count(&self, label: &str) -> u64 {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.get(label).map(|h| h.count).unwrap_or(0)
    }
}

/// The counters and histograms the engine records. Gauges that mirror
/// state (books, queue depth, ...) are read from maintained counters when
/// rendering, so they are never stale.
pub struct Metrics {
    pub operations_started: LabeledCounter,
    pub operations_completed: LabeledCounter,
    pub operations_failed: LabeledCounter,
    pub operations_canceled: LabeledCounter,
    pub operation_duration: LabeledHistogram,
    pub scan_files_scanned: AtomicU64,
    pub scan_books_discovered: AtomicU64,
    pub organize_files_processed: AtomicU64,
    pub organize_strategy: LabeledCounter,
    pub operations_slow: LabeledCounter,
    pub operations_stalled: LabeledCounter,
    pub retention_lines_deleted: AtomicU64,
    pub retention_operations_deleted: AtomicU64,
    pub integrity_files_checked: AtomicU64,
    pub integrity_bytes_read: AtomicU64,
    /// Backups by outcome (`ok`, `failed`).
    pub backups: LabeledCounter,
    /// Unix time of the newest good backup (0: none known).
    pub backup_last_success: AtomicU64,
    pub backup_last_bytes: AtomicU64,
    /// Scans started by watching import folders, by mode (`notify`, `poll`).
    pub watch_triggers: LabeledCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            operations_started: LabeledCounter::default(),
            operations_completed: LabeledCounter::default(),
            operations_failed: LabeledCounter::default(),
            operations_canceled: LabeledCounter::default(),
            operation_duration: LabeledHistogram::new(duration_buckets()),
            scan_files_scanned: AtomicU64::new(0),
            scan_books_discovered: AtomicU64::new(0),
            organize_files_processed: AtomicU64::new(0),
            organize_strategy: LabeledCounter::default(),
            operations_slow: LabeledCounter::default(),
            operations_stalled: LabeledCounter::default(),
            retention_lines_deleted: AtomicU64::new(0),
            retention_operations_deleted: AtomicU64::new(0),
            integrity_files_checked: AtomicU64::new(0),
            backups: LabeledCounter::default(),
            backup_last_success: AtomicU64::new(0),
            backup_last_bytes: AtomicU64::new(0),
            watch_triggers: LabeledCounter::default(),
            integrity_bytes_read: AtomicU64::new(0),
        }
    }
}

/// A gauge value supplied by the caller at render time.
pub struct Gauge<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub value: f64,
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_counter(out: &mut String, name: &str, help: &str, label: &str, c: &LabeledCounter) {
    let _ = writeln!(out, "# HELP {NAMESPACE}_{name} {help}");
    let _ = writeln!(out, "# TYPE {NAMESPACE}_{name} counter");
    for (l, v) in c.snapshot() {
        let _ = writeln!(
            out,
            "{NAMESPACE}_{name}{{{label}=\"{}\"}} {v}",
            escape_label(&l)
        );
    }
}

fn write_plain_counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {NAMESPACE}_{name} {help}");
    let _ = writeln!(out, "# TYPE {NAMESPACE}_{name} counter");
    let _ = writeln!(out, "{NAMESPACE}_{name} {v}");
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

impl Metrics {
    pub fn observe_duration(&self, op_type: &str, d: Duration) {
        self.operation_duration.observe(op_type, d.as_secs_f64());
    }

    /// Prometheus text exposition of everything recorded plus `gauges`.
    pub fn render(&self, gauges: &[Gauge<'_>]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        write_counter(
            &mut out,
            "operations_started_total",
            "Total operations started, by type",
            "type",
            &self.operations_started,
        );
        write_counter(
            &mut out,
            "operations_completed_total",
            "Total operations completed successfully",
            "type",
            &self.operations_completed,
        );
        write_counter(
            &mut out,
            "operations_failed_total",
            "Total operations that failed",
            "type",
            &self.operations_failed,
        );
        write_counter(
            &mut out,
            "operations_canceled_total",
            "Total operations canceled by user",
            "type",
            &self.operations_canceled,
        );
        let name = format!("{NAMESPACE}_operation_duration_seconds");
        let _ = writeln!(out, "# HELP {name} Duration of operations, by type");
        let _ = writeln!(out, "# TYPE {name} histogram");
        {
            let v = self
                .operation_duration
                .values
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (label, h) in v.iter() {
                let l = escape_label(label);
                for (b, c) in self.operation_duration.bounds.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{type=\"{l}\",le=\"{}\"}} {c}",
                        fmt_f64(*b)
                    );
                }
                let _ = writeln!(out, "{name}_bucket{{type=\"{l}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{type=\"{l}\"}} {}", fmt_f64(h.sum));
                let _ = writeln!(out, "{name}_count{{type=\"{l}\"}} {}", h.count);
            }
        }
        write_plain_counter(
            &mut out,
            "scan_files_scanned_total",
            "Total number of files examined during all scans",
            self.scan_files_scanned.load(Ordering::Relaxed),
        );
        write_plain_counter(
            &mut out,
            "scan_books_discovered_total",
            "Total number of audiobook files discovered across all scans",
            self.scan_books_discovered.load(Ordering::Relaxed),
        );
        write_plain_counter(
            &mut out,
            "organize_files_processed_total",
            "Total number of files organized (moved/linked/copied)",
            self.organize_files_processed.load(Ordering::Relaxed),
        );
        write_counter(
            &mut out,
            "organize_strategy_total",
            "Files organized by strategy used",
            "strategy",
            &self.organize_strategy,
        );
        write_counter(
            &mut out,
            "operations_slow_total",
            "Operations that ran past the slow threshold of their type",
            "type",
            &self.operations_slow,
        );
        write_counter(
            &mut out,
            "operations_stalled_total",
            "Times an operation made no progress for the stall threshold",
            "type",
            &self.operations_stalled,
        );
        let plain: [(&str, &str, &AtomicU64); 4] = [
            (
                "retention_log_lines_deleted_total",
                "Operation log lines deleted by retention",
                &self.retention_lines_deleted,
            ),
            (
                "retention_operations_deleted_total",
                "Operation records deleted by retention",
                &self.retention_operations_deleted,
            ),
            (
                "integrity_files_checked_total",
                "Files whose hash the integrity checker recomputed",
                &self.integrity_files_checked,
            ),
            (
                "integrity_bytes_read_total",
                "Bytes the integrity checker read",
                &self.integrity_bytes_read,
            ),
        ];
        for (name, help, v) in plain {
            write_plain_counter(&mut out, name, help, v.load(Ordering::Relaxed));
        }
        write_counter(
            &mut out,
            "backups_total",
            "Backups of the store by outcome (ok, failed)",
            "outcome",
            &self.backups,
        );
        write_counter(
            &mut out,
            "watch_triggers_total",
            "Scans started by watched import folders, by mode (notify, poll)",
            "mode",
            &self.watch_triggers,
        );
        let backup_gauges = [
            (
                "backup_last_success_timestamp_seconds",
                "Unix time of the newest good backup of the store (0: none)",
                self.backup_last_success.load(Ordering::Relaxed),
            ),
            (
                "backup_last_size_bytes",
                "Size of the newest good backup of the store",
                self.backup_last_bytes.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in backup_gauges {
            let _ = writeln!(out, "# HELP {NAMESPACE}_{name} {help}");
            let _ = writeln!(out, "# TYPE {NAMESPACE}_{name} gauge");
            let _ = writeln!(out, "{NAMESPACE}_{name} {v}");
        }
        for g in gauges {
            let _ = writeln!(out, "# HELP {NAMESPACE}_{} {}", g.name, g.help);
            let _ = writeln!(out, "# TYPE {NAMESPACE}_{} gauge", g.name);
            let _ = writeln!(out, "{NAMESPACE}_{} {}", g.name, fmt_f64(g.value));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_buckets_reach_thirty_minutes() {
        let b = duration_buckets();
        assert!(
            *b.last().unwrap() >= 1800.0,
            "top bucket {}",
            b.last().unwrap()
        );
        assert!((b[0] - 0.05).abs() < 1e-9);
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_duration("scan", Duration::from_millis(10));
        m.observe_duration("scan", Duration::from_secs(1000));
        let text = m.render(&[]);
        assert!(text.contains("operation_duration_seconds_bucket{type=\"scan\",le=\"0.05\"} 1"));
        assert!(text.contains("operation_duration_seconds_bucket{type=\"scan\",le=\"+Inf\"} 2"));
        assert!(text.contains("operation_duration_seconds_count{type=\"scan\"} 2"));
    }
}
