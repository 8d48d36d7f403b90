//! Settings of the observability features: retention, slow and stalled
//! operations, queue aging, growth snapshots, the integrity checker,
//! health pings and the metadata source.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

const DAY: u64 = 24 * 3600;

#[derive(Debug, Clone)]
pub struct FeatureConfig {
    /// Logs of operations that ended longer ago than this are deleted.
    pub log_retention: Duration,
    /// Operation records are kept this long (never shorter than logs).
    pub operation_retention: Duration,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// Lines deleted per transaction, so writers are never held up long.
    pub retention_batch: usize,
    /// Per operation type; crossing it reports the operation as slow.
    pub slow_after: HashMap<String, Duration>,
    /// No progress for this long reports the operation as stalled.
    pub stall_after: Duration,
    /// A waiting operation gains one priority level per this much waiting.
    pub queue_aging: Duration,
    /// How often running operations are checked for slow/stalled.
    pub watch_interval: Duration,
    /// How often the growth task looks for a missing daily snapshot.
    pub growth_check: Duration,
    /// Local time of day of the scheduled integrity check; `None`: off.
    pub integrity_schedule: Option<(u8, u8)>,
    /// Read limit of the integrity checker in MB/s; 0: unlimited.
    pub integrity_max_read_mb_s: f64,
    pub health: HealthThresholds,
    pub metadata: MetadataConfig,
    pub backup: BackupConfig,
    pub watch: WatchConfig,
}

/// Watching import folders (those whose `watch` is on).
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Quiet time after the last change before the scan starts.
    pub debounce: Duration,
    /// A folder that keeps changing is scanned after this long anyway.
    pub max_wait: Duration,
    /// Where notifications do not work (NFS, SMB): a rescan this often.
    pub poll_interval: Duration,
    /// Organize after a watch's scan that found new books.
    pub auto_organize: bool,
}

/// Backups of the store.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Where backups go; `None`: `backups/` beside the store file.
    pub dir: Option<std::path::PathBuf>,
    /// How many backups are kept (the oldest go first).
    pub keep: usize,
    /// Local time of day of the scheduled backup; `None`: off.
    pub schedule: Option<(u8, u8)>,
}

#[derive(Debug, Clone)]
pub struct HealthThresholds {
    pub interval: Duration,
    pub read_slow: Duration,
    pub write_slow: Duration,
    pub read_degraded: Duration,
    pub write_degraded: Duration,
}

#[derive(Debug, Clone)]
pub struct MetadataConfig {
    /// Open Library (or a mirror / test server).
    pub base_url: String,
    /// Where cover images are linked from.
    pub covers_url: String,
    pub timeout: Duration,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit waits before a half-open probe.
    pub open_for: Duration,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            log_retention: Duration::from_secs(7 * DAY),
            operation_retention: Duration::from_secs(90 * DAY),
            retention_interval: Duration::from_secs(3600),
            retention_batch: 5_000,
            slow_after: default_slow_after(),
            stall_after: Duration::from_secs(600),
            queue_aging: Duration::from_secs(300),
            watch_interval: Duration::from_secs(1),
            growth_check: Duration::from_secs(60),
            integrity_schedule: Some((3, 0)),
            integrity_max_read_mb_s: 0.0,
            health: HealthThresholds {
                interval: Duration::from_secs(5),
                read_slow: Duration::from_millis(50),
                write_slow: Duration::from_millis(250),
                read_degraded: Duration::from_millis(1000),
                write_degraded: Duration::from_millis(5000),
            },
            watch: WatchConfig {
                debounce: Duration::from_secs(30),
                max_wait: Duration::from_secs(600),
                poll_interval: Duration::from_secs(900),
                auto_organize: false,
            },
            backup: BackupConfig {
                dir: None,
                keep: 7,
                schedule: Some((2, 30)),
            },
            metadata: MetadataConfig {
                base_url: "https://openlibrary.org".into(),
                covers_url: "https://covers.openlibrary.org".into(),
                timeout: Duration::from_secs(10),
                failure_threshold: 5,
                open_for: Duration::from_secs(30),
            },
        }
    }
}

/// The TOML keys of these settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureFile {
    pub log_retention_days: Option<f64>,
    pub operation_retention_days: Option<f64>,
    pub retention_interval_secs: Option<u64>,
    /// Seconds per operation type, e.g. `[slow_thresholds] scan = 1800`.
    pub slow_thresholds: Option<HashMap<String, u64>>,
    pub stall_after_secs: Option<u64>,
    pub queue_aging_secs: Option<u64>,
    /// `"HH:MM"` local time, or `"off"`.
    pub integrity_schedule: Option<String>,
    pub integrity_max_read_mb_s: Option<f64>,
    pub health_interval_secs: Option<u64>,
    pub health_read_slow_ms: Option<u64>,
    pub health_write_slow_ms: Option<u64>,
    pub health_read_degraded_ms: Option<u64>,
    pub health_write_degraded_ms: Option<u64>,
    pub metadata_base_url: Option<String>,
    pub metadata_covers_url: Option<String>,
    pub metadata_timeout_secs: Option<u64>,
    /// Folder of the store's backups.
    pub backup_dir: Option<std::path::PathBuf>,
    /// Backups kept (1 or more).
    pub backup_keep: Option<usize>,
    /// `"HH:MM"` local time of the daily backup, or `"off"`.
    pub backup_schedule: Option<String>,
    /// Seconds of quiet after a change in a watched folder before its scan.
    pub watch_debounce_secs: Option<f64>,
    /// Seconds between rescans of watched folders where notifications do
    /// not work (network file systems).
    pub watch_poll_interval_secs: Option<u64>,
    /// Organize after a watch's scan found new books.
    pub auto_organize: Option<bool>,
}

/// Every key of `FeatureFile`, so the config file can be split.
pub const FEATURE_KEYS: &[&str] = &[
    "log_retention_days",
    "operation_retention_days",
    "retention_interval_secs",
    "slow_thresholds",
    "stall_after_secs",
    "queue_aging_secs",
    "integrity_schedule",
    "integrity_max_read_mb_s",
    "health_interval_secs",
    "health_read_slow_ms",
    "health_write_slow_ms",
    "health_read_degraded_ms",
    "health_write_degraded_ms",
    "metadata_base_url",
    "metadata_covers_url",
    "metadata_timeout_secs",
    "backup_dir",
    "backup_keep",
    "backup_schedule",
    "watch_debounce_secs",
    "watch_poll_interval_secs",
    "auto_organize",
];

fn invalid(key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason,
    }
}

fn days(key: &str, d: f64) -> Result<Duration, ConfigError> {
    if !(d.is_finite() && d > 0.0 && d <= 36_500.0) {
        return Err(invalid(
            key,
            format!("{d} is not a number of days in (0, 36500]"),
        ));
    }
    Ok(Duration::from_secs_f64(d * DAY as f64))
}

/// `"HH:MM"` → (hour, minute); `"off"`/`""` → None.
pub fn parse_schedule(v: &str) -> Result<Option<(u8, u8)>, ConfigError> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let bad = || {
        invalid(
            "integrity_schedule",
            format!("{v:?} is not HH:MM or \"off\""),
        )
    };
    let (h, m) = v.split_once(':').ok_or_else(bad)?;
    let h: u8 = h.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(Some((h, m)))
}

impl FeatureConfig {
    /// Applies the file's keys, then the few `AO_*` variables that matter in
    /// containers.
    pub fn apply(&mut self, f: FeatureFile, env: &super::EnvSettings) -> Result<(), ConfigError> {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let log_days = set(&env.log_retention_days)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| invalid("AO_LOG_RETENTION_DAYS", format!("{v:?} is not a number")))
            })
            .transpose()?
            .or(f.log_retention_days);
        if let Some(d) = log_days {
            self.log_retention = days("log_retention_days", d)?;
        }
        if let Some(d) = f.operation_retention_days {
            self.operation_retention = days("operation_retention_days", d)?;
        }
        if self.operation_retention < self.log_retention {
            return Err(invalid(
                "operation_retention_days",
                "must not be shorter than log_retention_days".into(),
            ));
        }
        if let Some(s) = f.retention_interval_secs {
            self.retention_interval = Duration::from_secs(s.max(1));
        }
        if let Some(t) = f.slow_thresholds {
            for (k, secs) in t {
                self.slow_after.insert(k, Duration::from_secs(secs));
            }
        }
        if let Some(s) = f.stall_after_secs {
            self.stall_after = Duration::from_secs(s);
        }
        if let Some(s) = f.queue_aging_secs {
            self.queue_aging = Duration::from_secs(s);
        }
        if let Some(v) = set(&env.integrity_schedule).or(f.integrity_schedule) {
            self.integrity_schedule = parse_schedule(&v)?;
        }
        if let Some(d) = f.watch_debounce_secs {
            if !(d.is_finite() && (0.0..=3600.0).contains(&d)) {
                return Err(invalid(
                    "watch_debounce_secs",
                    format!("{d} is not 0 to 3600 seconds"),
                ));
            }
            self.watch.debounce = Duration::from_secs_f64(d);
        }
        if let Some(s) = f.watch_poll_interval_secs {
            self.watch.poll_interval = Duration::from_secs(s.max(10));
        }
        if let Some(b) = f.auto_organize {
            self.watch.auto_organize = b;
        }
        if let Some(d) = f.backup_dir {
            self.backup.dir = Some(d);
        }
        if let Some(k) = f.backup_keep {
            if k == 0 {
                return Err(invalid("backup_keep", "keep at least one backup".into()));
            }
            self.backup.keep = k;
        }
        if let Some(v) = f.backup_schedule {
            self.backup.schedule = parse_schedule(&v)?;
        }
        if let Some(r) = f.integrity_max_read_mb_s {
            if !(r.is_finite() && r >= 0.0) {
                return Err(invalid(
                    "integrity_max_read_mb_s",
                    format!("{r} is negative"),
                ));
            }
            self.integrity_max_read_mb_s = r;
        }
        let h = &mut self.health;
        let ms = Duration::from_millis;
        if let Some(s) = f.health_interval_secs {
            h.interval = Duration::from_secs(s.max(1));
        }
        if let Some(v) = f.health_read_slow_ms {
            h.read_slow = ms(v);
        }
        if let Some(v) = f.health_write_slow_ms {
            h.write_slow = ms(v);
        }
        if let Some(v) = f.health_read_degraded_ms {
            h.read_degraded = ms(v);
        }
        if let Some(v) = f.health_write_degraded_ms {
            h.write_degraded = ms(v);
        }
        let m = &mut self.metadata;
        if let Some(u) = set(&env.metadata_base_url).or(f.metadata_base_url) {
            m.base_url = u.trim_end_matches('/').to_string();
        }
        if let Some(u) = f.metadata_covers_url {
            m.covers_url = u.trim_end_matches('/').to_string();
        }
        if let Some(s) = f.metadata_timeout_secs {
            m.timeout = Duration::from_secs(s.max(1));
        }
        if !(m.base_url.starts_with("http://") || m.base_url.starts_with("https://")) {
            return Err(invalid(
                "metadata_base_url",
                format!("{:?} is not an http(s) URL", m.base_url),
            ));
        }
        Ok(())
    }
}

/// Slow thresholds: scan 30 min, organize 60 min, integrity check 6 h.
pub fn default_slow_after() -> HashMap<String, Duration> {
    [
        ("scan", 30 * 60),
        ("organize", 60 * 60),
        ("integrity_check", 6 * 3600),
        ("metadata_fetch", 60 * 60),
    ]
    .into_iter()
    .map(|(t, s)| (t.to_string(), Duration::from_secs(s)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_key_is_read_from_a_file() {
        let text = r#"
            log_retention_days = 3
            operation_retention_days = 30.5
            retention_interval_secs = 60
            stall_after_secs = 5
            queue_aging_secs = 10
            integrity_schedule = "04:15"
            integrity_max_read_mb_s = 20
            health_interval_secs = 2
            health_read_slow_ms = 1
            health_write_slow_ms = 2
            health_read_degraded_ms = 3
            health_write_degraded_ms = 4
            metadata_base_url = "http://127.0.0.1:9/"
            metadata_covers_url = "http://127.0.0.1:9/covers"
            metadata_timeout_secs = 2
            backup_dir = "/var/backups/ao"
            backup_keep = 3
            backup_schedule = "off"
            watch_debounce_secs = 2.5
            watch_poll_interval_secs = 60
            auto_organize = true
            [slow_thresholds]
            scan = 60
        "#;
        let table: toml::Table = toml::from_str(text).unwrap();
        assert_eq!(table.len(), FEATURE_KEYS.len());
        let f = FeatureFile::deserialize(table).unwrap();
        let mut c = FeatureConfig::default();
        c.apply(f, &Default::default()).unwrap();
        assert_eq!(c.integrity_schedule, Some((4, 15)));
        assert_eq!(c.metadata.base_url, "http://127.0.0.1:9");
        assert_eq!(c.slow_after["scan"], Duration::from_secs(60));
        assert_eq!(c.backup.keep, 3);
        assert_eq!(c.backup.schedule, None);
        assert_eq!(
            c.backup.dir.as_deref(),
            Some(std::path::Path::new("/var/backups/ao"))
        );
        assert_eq!(c.watch.debounce, Duration::from_millis(2500));
        assert_eq!(c.watch.poll_interval, Duration::from_secs(60));
        assert!(c.watch.auto_organize);
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(parse_schedule("03:30").unwrap(), Some((3, 30)));
        assert_eq!(parse_schedule("off").unwrap(), None);
        assert!(parse_schedule("25:00").is_err());
        assert!(parse_schedule("3").is_err());
    }

    #[test]
    fn operation_retention_cannot_be_shorter_than_logs() {
        let mut c = FeatureConfig::default();
        let f = FeatureFile {
            log_retention_days: Some(30.0),
            operation_retention_days: Some(10.0),
            ..Default::default()
        };
        assert!(c.apply(f, &Default::default()).is_err());
    }
}
