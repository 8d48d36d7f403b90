//! Configuration: flags > `AO_*` environment > TOML file > defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

mod features;
pub mod pattern;
mod strategy;
pub use features::{
    FeatureConfig, HealthThresholds, MetadataConfig, default_slow_after, parse_schedule,
};
pub use strategy::Strategy;

use pattern::Pattern;

pub const DEFAULT_FOLDER_PATTERN: &str = "{author}/{series}/{title} ({print_year})";
pub const DEFAULT_FILE_PATTERN: &str = "{title} - {author} - read by {narrator}";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// The resolved configuration every command runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: PathBuf,
    pub library: PathBuf,
    pub workers: usize,
    pub scan_threads: usize,
    pub strategy: Strategy,
    pub folder_pattern: String,
    pub file_pattern: String,
    /// A fixed layout instead of the patterns.
    pub organize_preset: OrganizePreset,
    /// Organize writes `metadata.json`, `desc.txt` and `reader.txt` beside
    /// each book's audio.
    pub organize_side_files: bool,
    /// Organize writes title, authors, narrators and series into the tags
    /// of the copies it makes (copies and clones only: never a source, nor
    /// a hard link or symlink that shares a source's data).
    pub organize_write_tags: bool,
    pub log_level: String,
    /// What the server writes to stdout: text lines or JSON lines.
    pub log_format: LogFormat,
    pub timeouts: HashMap<String, Duration>,
    /// Which symlinks a scan follows inside an import folder.
    pub follow_symlinks: FollowSymlinks,
    /// Where a new book's metadata comes from, lowest precedence first; a
    /// source left out is not read.
    pub metadata_precedence: Vec<MetadataSource>,
    /// Permission bits of the store file when it is created (its folder
    /// gets the same plus search bits where read is allowed).
    pub store_mode: u32,
    pub server: ServerConfig,
    pub features: FeatureConfig,
}

/// The server's stdout: one text line per event, or one JSON object per
/// line (for Loki, Vector and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub use ao_walk::FollowSymlinks;

/// How organize lays out the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrganizePreset {
    /// The configured folder and file patterns.
    #[default]
    Default,
    /// `Author/Series/Vol N - Year - Title {Narrator}/`.
    Audiobookshelf,
    /// `Author/Title/`.
    Plex,
}

impl OrganizePreset {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "default" | "patterns" => Self::Default,
            "audiobookshelf" | "abs" => Self::Audiobookshelf,
            "plex" => Self::Plex,
            _ => return None,
        })
    }
}

/// A source of a book's metadata. A scan layers them in the configured
/// order, later ones winning (Audiobookshelf's default order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// Folder and file names.
    Folder,
    /// The audio files' tags.
    Tags,
    /// `desc.txt` and `reader.txt`.
    Txt,
    /// An OPF file (Calibre's `metadata.opf`).
    Opf,
    /// Audiobookshelf's `metadata.json`.
    Json,
}

impl MetadataSource {
    pub const DEFAULT: [MetadataSource; 5] = [
        MetadataSource::Folder,
        MetadataSource::Tags,
        MetadataSource::Txt,
        MetadataSource::Opf,
        MetadataSource::Json,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "folder" | "folders" | "path" => Self::Folder,
            "tags" | "tag" => Self::Tags,
            "txt" => Self::Txt,
            "opf" => Self::Opf,
            "json" | "metadata.json" => Self::Json,
            _ => return None,
        })
    }
}

/// The shortest API key the server accepts: a key is a password that any
/// web page or LAN host may guess at.
pub const MIN_API_KEY_LEN: usize = 32;

/// Who may call `/api/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A key is required unless the server listens on loopback only.
    Auto,
    /// A key is always required.
    Key,
    /// No key, anywhere (behind an authenticating proxy, say).
    None,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub auth: AuthMode,
    /// A fixed key; otherwise one is generated on first start and stored.
    pub api_key: Option<String>,
    /// `/metrics` needs the key too.
    pub metrics_auth: bool,
    /// How long running operations may finish after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
    pub event_ring: usize,
    /// Events buffered per client before it is told it lagged.
    pub client_buffer: usize,
    pub progress_interval: Duration,
    pub heartbeat: Duration,
    pub status_interval: Duration,
    pub request_timeout: Duration,
    pub body_limit: usize,
    /// Origins (`https://books.example.com`) besides the server's own whose
    /// pages may send state-changing requests and open WebSockets.
    pub allowed_origins: Vec<String>,
    /// Host names a keyless server answers to besides loopback,
    /// `localhost` and IP literals (DNS rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// Open connections beyond this get a 503 and are closed.
    pub max_connections: usize,
    /// Bytes a WebSocket or SSE client may have waiting to be sent before
    /// it is told it lagged.
    pub client_queue_bytes: usize,
    /// OTLP/HTTP collector base URL (`http://collector:4318`): one trace
    /// span per finished operation. `None`: no export.
    pub otlp_endpoint: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8484,
            auth: AuthMode::Auto,
            api_key: None,
            metrics_auth: false,
            shutdown_grace: Duration::from_secs(30),
            event_ring: 1000,
            client_buffer: 1024,
            progress_interval: Duration::from_millis(250),
            heartbeat: Duration::from_secs(5),
            status_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            client_queue_bytes: 4 * 1024 * 1024,
            otlp_endpoint: None,
        }
    }
}

impl Config {
    /// Where backups of the store go: the configured folder, else
    /// `backups/` beside the store file.
    pub fn backup_dir(&self) -> PathBuf {
        let dir = self.features.backup.dir.clone().unwrap_or_else(|| {
            self.db
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("backups")
        });
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// Defaults rooted at `base` (tests use a temp dir; the CLI uses `.`).
    pub fn with_base(base: &Path) -> Self {
        Self {
            db: base.join("data").join("audiobook-organizer.redb"),
            library: base.join("data").join("library"),
            workers: 2,
            scan_threads: default_scan_threads(),
            strategy: Strategy::Auto,
            folder_pattern: DEFAULT_FOLDER_PATTERN.into(),
            file_pattern: DEFAULT_FILE_PATTERN.into(),
            organize_preset: OrganizePreset::Default,
            organize_side_files: false,
            organize_write_tags: false,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            timeouts: HashMap::new(),
            follow_symlinks: FollowSymlinks::Inside,
            metadata_precedence: MetadataSource::DEFAULT.to_vec(),
            store_mode: 0o600,
            server: ServerConfig::default(),
            features: FeatureConfig::default(),
        }
    }
}

fn default_scan_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

/// Values given on the command line (and, through clap, `AO_DB`, `AO_DIR`,
/// `AO_CONFIG`).
/// The settings the environment gives (`AO_*`, and OpenTelemetry's
/// endpoint variable), as the CLI read them: nothing in the engine reads
/// the environment itself. Empty values count as unset.
#[derive(Debug, Clone, Default)]
pub struct EnvSettings {
    /// `AO_WORKERS`
    pub workers: Option<String>,
    /// `AO_SCAN_THREADS`
    pub scan_threads: Option<String>,
    /// `AO_STRATEGY`
    pub strategy: Option<String>,
    /// `AO_ORGANIZE_PRESET`
    pub organize_preset: Option<String>,
    /// `AO_FOLDER_PATTERN`
    pub folder_pattern: Option<String>,
    /// `AO_FILE_PATTERN`
    pub file_pattern: Option<String>,
    /// `AO_LOG_LEVEL`
    pub log_level: Option<String>,
    /// `AO_LOG_FORMAT`
    pub log_format: Option<String>,
    /// `AO_FOLLOW_SYMLINKS`
    pub follow_symlinks: Option<String>,
    /// `AO_HOST`
    pub host: Option<String>,
    /// `AO_PORT`
    pub port: Option<String>,
    /// `AO_AUTH`
    pub auth: Option<String>,
    /// `AO_API_KEY`
    pub api_key: Option<String>,
    /// `AO_ALLOWED_ORIGINS`
    pub allowed_origins: Option<String>,
    /// `AO_ALLOWED_HOSTS`
    pub allowed_hosts: Option<String>,
    /// `AO_OTLP_ENDPOINT`
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `AO_LOG_RETENTION_DAYS`
    pub log_retention_days: Option<String>,
    /// `AO_INTEGRITY_SCHEDULE`
    pub integrity_schedule: Option<String>,
    /// `AO_METADATA_BASE_URL`
    pub metadata_base_url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// What the environment says (below the flags, above the file).
    pub env: EnvSettings,
    pub db: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub workers: Option<usize>,
    pub strategy: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub auth: Option<String>,
    pub follow_symlinks: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    #[serde(alias = "dir")]
    library: Option<PathBuf>,
    workers: Option<usize>,
    scan_threads: Option<usize>,
    strategy: Option<String>,
    folder_pattern: Option<String>,
    file_pattern: Option<String>,
    organize_preset: Option<String>,
    organize_side_files: Option<bool>,
    organize_write_tags: Option<bool>,
    log_level: Option<String>,
    log_format: Option<String>,
    otlp_endpoint: Option<String>,
    /// Seconds per operation type, e.g. `[timeouts] scan = 3600`.
    timeouts: Option<HashMap<String, u64>>,
    host: Option<String>,
    port: Option<u16>,
    auth: Option<String>,
    api_key: Option<String>,
    metrics_auth: Option<bool>,
    shutdown_grace_secs: Option<u64>,
    event_ring: Option<usize>,
    progress_interval_ms: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    header_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    follow_symlinks: Option<String>,
    /// Octal permission bits, `"0600"`.
    store_mode: Option<String>,
    /// `["folder", "tags", "txt", "opf", "json"]`, lowest first.
    metadata_precedence: Option<Vec<String>>,
}

/// Splits the file into the core keys and the feature keys; each half
/// still rejects keys it does not know.
fn parse_file(text: &str) -> Result<(FileConfig, features::FeatureFile), String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut feature_table = toml::Table::new();
    for key in features::FEATURE_KEYS {
        if let Some(v) = table.remove(*key) {
            feature_table.insert(key.to_string(), v);
        }
    }
    let core = FileConfig::deserialize(table).map_err(|e| e.to_string())?;
    let feats = features::FeatureFile::deserialize(feature_table).map_err(|e| e.to_string())?;
    Ok((core, feats))
}

fn set(v: &Option<String>) -> Option<String> {
    v.clone().filter(|v| !v.is_empty())
}

fn parse_num(key: &str, v: &str) -> Result<usize, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        reason: format!("{v:?} is not a whole number"),
    })
}

/// `a, b ,c` as a list, empty entries left out.
fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An allowed origin as browsers send it: `scheme://host[:port]`,
/// lowercase, no path.
fn parse_origin_setting(o: &str) -> Result<String, ConfigError> {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    let ok = o.split_once("://").is_some_and(|(scheme, rest)| {
        (scheme == "http" || scheme == "https") && !rest.is_empty() && !rest.contains('/')
    });
    if !ok {
        return Err(ConfigError::Invalid {
            key: "allowed_origins".into(),
            reason: format!("{o:?} is not an origin like https://books.example.com"),
        });
    }
    Ok(o)
}

/// Resolves the configuration in precedence order.
pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
    let mut c = Config::with_base(Path::new("."));
    let (file, feature_file) = match &o.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            parse_file(&text).map_err(|reason| ConfigError::Parse {
                path: path.display().to_string(),
                reason,
            })?
        }
        None => Default::default(),
    };
    let e = &o.env;
    let pick = |flag: Option<String>, env: &Option<String>, file: Option<String>| {
        flag.or_else(|| set(env)).or(file)
    };
    if let Some(v) = o.db.clone().or(file.db) {
        c.db = v;
    }
    if let Some(v) = o.dir.clone().or(file.library) {
        c.library = v;
    }
    let workers = match (o.workers, set(&e.workers)) {
        (Some(n), _) => Some(n),
        (None, Some(v)) => Some(parse_num("AO_WORKERS", &v)?),
        (None, None) => file.workers,
    };
    if let Some(n) = workers {
        if n == 0 || n > 64 {
            return Err(ConfigError::Invalid {
                key: "workers".into(),
                reason: format!("{n} is outside 1..=64"),
            });
        }
        c.workers = n;
    }
    if let Some(v) = set(&e.scan_threads) {
        c.scan_threads = parse_num("AO_SCAN_THREADS", &v)?.clamp(1, 64);
    } else if let Some(n) = file.scan_threads {
        c.scan_threads = n.clamp(1, 64);
    }
    if let Some(s) = pick(o.strategy.clone(), &e.strategy, file.strategy) {
        c.strategy = Strategy::parse(&s).ok_or_else(|| ConfigError::Invalid {
            key: "strategy".into(),
            reason: format!("{s:?} is not one of auto, copy, hardlink, reflink, symlink"),
        })?;
    }
    if let Some(p) = pick(None, &e.organize_preset, file.organize_preset) {
        c.organize_preset = OrganizePreset::parse(&p).ok_or_else(|| ConfigError::Invalid {
            key: "organize_preset".into(),
            reason: format!("{p:?} is not one of default, audiobookshelf, plex"),
        })?;
    }
    if let Some(b) = file.organize_write_tags {
        c.organize_write_tags = b;
    }
    if let Some(b) = file.organize_side_files {
        c.organize_side_files = b;
    }
    if let Some(p) = pick(None, &e.folder_pattern, file.folder_pattern) {
        c.folder_pattern = p;
    }
    if let Some(p) = pick(None, &e.file_pattern, file.file_pattern) {
        c.file_pattern = p;
    }
    for (key, p) in [
        ("folder_pattern", &c.folder_pattern),
        ("file_pattern", &c.file_pattern),
    ] {
        Pattern::parse(p).map_err(|e| ConfigError::Invalid {
            key: key.into(),
            reason: e.to_string(),
        })?;
    }
    if let Some(l) = pick(o.log_level.clone(), &e.log_level, file.log_level) {
        let l = l.to_ascii_lowercase();
        if !["error", "warn", "info", "debug", "trace"].contains(&l.as_str()) {
            return Err(ConfigError::Invalid {
                key: "log_level".into(),
                reason: format!("{l:?} is not one of error, warn, info, debug, trace"),
            });
        }
        c.log_level = l;
    }
    if let Some(f) = pick(o.log_format.clone(), &e.log_format, file.log_format) {
        c.log_format = match f.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "log_format".into(),
                    reason: format!("{f:?} is not text or json"),
                });
            }
        };
    }
    let srv = &mut c.server;
    if let Some(h) = pick(o.host.clone(), &e.host, file.host) {
        srv.host = h;
    }
    let port = match (o.port, set(&e.port)) {
        (Some(p), _) => Some(p),
        (None, Some(v)) => Some(v.parse().map_err(|_| ConfigError::Invalid {
            key: "AO_PORT".into(),
            reason: format!("{v:?} is not a port number"),
        })?),
        (None, None) => file.port,
    };
    if let Some(p) = port {
        srv.port = p;
    }
    if let Some(a) = pick(o.auth.clone(), &e.auth, file.auth) {
        srv.auth = match a.to_ascii_lowercase().as_str() {
            "auto" => AuthMode::Auto,
            "key" | "apikey" | "required" => AuthMode::Key,
            "none" => AuthMode::None,
            other => {
                return Err(ConfigError::Invalid {
                    key: "auth".into(),
                    reason: format!("{other:?} is not one of auto, key, none"),
                });
            }
        };
    }
    if let Some(k) = pick(None, &e.api_key, file.api_key) {
        if k.chars().count() < MIN_API_KEY_LEN
            || k.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::Invalid {
                key: "api_key".into(),
                reason: format!(
                    "a key must be at least {MIN_API_KEY_LEN} characters without spaces (this one has {}); leave it unset to have one generated",
                    k.chars().count()
                ),
            });
        }
        srv.api_key = Some(k);
    }
    if let Some(list) = set(&e.allowed_origins)
        .map(|v| split_list(&v))
        .or(file.allowed_origins)
    {
        srv.allowed_origins = list
            .into_iter()
            .map(|o| parse_origin_setting(&o))
            .collect::<Result<_, _>>()?;
    }
    if let Some(list) = set(&e.allowed_hosts)
        .map(|v| split_list(&v))
        .or(file.allowed_hosts)
    {
        srv.allowed_hosts = list
            .into_iter()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
    }
    if let Some(s) = file.header_read_timeout_secs {
        srv.header_read_timeout = Duration::from_secs(s.clamp(1, 3600));
    }
    if let Some(n) = file.max_connections {
        srv.max_connections = n.clamp(1, 1_000_000);
    }
    // OpenTelemetry's own variable is honoured too.
    let otlp = set(&e.otlp_endpoint)
        .or_else(|| set(&e.otel_exporter_otlp_endpoint))
        .or(file.otlp_endpoint);
    if let Some(u) = otlp {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "otlp_endpoint".into(),
                reason: format!("{u:?} is not an http:// or https:// URL"),
            });
        }
        srv.otlp_endpoint = Some(u.trim_end_matches('/').to_string());
    }
    if let Some(m) = file.metrics_auth {
        srv.metrics_auth = m;
    }
    if let Some(g) = file.shutdown_grace_secs {
        srv.shutdown_grace = Duration::from_secs(g);
    }
    if let Some(r) = file.event_ring {
        srv.event_ring = r.clamp(10, 1_000_000);
    }
    if let Some(ms) = file.progress_interval_ms {
        srv.progress_interval = Duration::from_millis(ms);
    }
    if let Some(f) = pick(
        o.follow_symlinks.clone(),
        &e.follow_symlinks,
        file.follow_symlinks,
    ) {
        c.follow_symlinks = FollowSymlinks::parse(&f).ok_or_else(|| ConfigError::Invalid {
            key: "follow_symlinks".into(),
            reason: format!("{f:?} is not one of inside, all, none"),
        })?;
    }
    if let Some(list) = file.metadata_precedence {
        let mut order = Vec::new();
        for name in &list {
            let source = MetadataSource::parse(name).ok_or_else(|| ConfigError::Invalid {
                key: "metadata_precedence".into(),
                reason: format!("{name:?} is not one of folder, tags, txt, opf, json"),
            })?;
            if order.contains(&source) {
                return Err(ConfigError::Invalid {
                    key: "metadata_precedence".into(),
                    reason: format!("{name:?} is listed twice"),
                });
            }
            order.push(source);
        }
        c.metadata_precedence = order;
    }
    if let Some(m) = file.store_mode {
        c.store_mode = u32::from_str_radix(m.trim().trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m & !0o777 == 0 && *m & 0o600 == 0o600)
            .ok_or_else(|| ConfigError::Invalid {
                key: "store_mode".into(),
                reason: format!(
                    "{m:?} is not octal permission bits that let the owner read and write (\"0600\", \"0640\")"
                ),
            })?;
    }
    c.features.apply(feature_file, &o.env)?;
    if let Some(t) = file.timeouts {
        c.timeouts = t
            .into_iter()
            .filter(|(_, s)| *s > 0)
            .map(|(k, s)| (k, Duration::from_secs(s)))
            .collect();
    }
    Ok(c)
}
