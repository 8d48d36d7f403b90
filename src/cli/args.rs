use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{EnvSettings, Overrides};

/// Self-hosted audiobook library organizer: scans import folders, reads tags,
/// hashes files and organizes them into a clean library. Every piece of work
/// runs as an observable operation with persisted logs.
#[derive(Debug, Parser)]
#[command(name = "audiobook-organizer", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Store file [default: ./data/audiobook-organizer.redb]
    #[arg(long, global = true, env = "AO_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Library root that organize writes into [default: ./data/library]
    #[arg(long, global = true, env = "AO_DIR", value_name = "LIBRARY")]
    pub dir: Option<PathBuf>,
    /// TOML configuration file (flags and AO_* variables override it)
    #[arg(long, global = true, env = "AO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Operations run at once [env: AO_WORKERS] [default: 2]
    #[arg(long, global = true, value_name = "N")]
    pub workers: Option<usize>,
    /// error, warn, info, debug or trace [env: AO_LOG_LEVEL] [default: info]
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// The server's stdout: text or json (one object per line, for Loki or
    /// Vector) [env: AO_LOG_FORMAT] [default: text]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Symlinks a scan follows in an import folder: inside (only those that
    /// point inside the import folder), all, or none
    /// [env: AO_FOLLOW_SYMLINKS] [default: inside]
    #[arg(long, global = true, value_name = "WHICH")]
    pub follow_symlinks: Option<String>,
    #[command(flatten)]
    pub env: EnvArgs,
}

/// The environment's settings, read by clap like every other input (hidden
/// `--env-*` forms exist only because clap reads a variable through an
/// argument). Checked by the configuration, which names the variable in
/// its errors.
#[derive(Debug, Args)]
pub struct EnvArgs {
    #[arg(
        id = "env_workers",
        long = "env-ao-workers",
        env = "AO_WORKERS",
        hide = true,
        global = true
    )]
    pub workers: Option<String>,
    #[arg(
        id = "env_scan_threads",
        long = "env-ao-scan-threads",
        env = "AO_SCAN_THREADS",
        hide = true,
        global = true
    )]
    pub scan_threads: Option<String>,
    #[arg(
        id = "env_strategy",
        long = "env-ao-strategy",
        env = "AO_STRATEGY",
        hide = true,
        global = true
    )]
    pub strategy: Option<String>,
    #[arg(
        id = "env_organize_preset",
        long = "env-ao-organize-preset",
        env = "AO_ORGANIZE_PRESET",
        hide = true,
        global = true
    )]
    pub organize_preset: Option<String>,
    #[arg(
        id = "env_folder_pattern",
        long = "env-ao-folder-pattern",
        env = "AO_FOLDER_PATTERN",
        hide = true,
        global = true
    )]
    pub folder_pattern: Option<String>,
    #[arg(
        id = "env_file_pattern",
        long = "env-ao-file-pattern",
        env = "AO_FILE_PATTERN",
        hide = true,
        global = true
    )]
    pub file_pattern: Option<String>,
    #[arg(
        id = "env_log_level",
        long = "env-ao-log-level",
        env = "AO_LOG_LEVEL",
        hide = true,
        global = true
    )]
    pub log_level: Option<String>,
    #[arg(
        id = "env_log_format",
        long = "env-ao-log-format",
        env = "AO_LOG_FORMAT",
        hide = true,
        global = true
    )]
    pub log_format: Option<String>,
    #[arg(
        id = "env_follow_symlinks",
        long = "env-ao-follow-symlinks",
        env = "AO_FOLLOW_SYMLINKS",
        hide = true,
        global = true
    )]
    pub follow_symlinks: Option<String>,
    #[arg(
        id = "env_host",
        long = "env-ao-host",
        env = "AO_HOST",
        hide = true,
        global = true
    )]
    pub host: Option<String>,
    #[arg(
        id = "env_port",
        long = "env-ao-port",
        env = "AO_PORT",
        hide = true,
        global = true
    )]
    pub port: Option<String>,
    #[arg(
        id = "env_auth",
        long = "env-ao-auth",
        env = "AO_AUTH",
        hide = true,
        global = true
    )]
    pub auth: Option<String>,
    #[arg(
        id = "env_api_key",
        long = "env-ao-api-key",
        env = "AO_API_KEY",
        hide = true,
        global = true
    )]
    pub api_key: Option<String>,
    #[arg(
        id = "env_allowed_origins",
        long = "env-ao-allowed-origins",
        env = "AO_ALLOWED_ORIGINS",
        hide = true,
        global = true
    )]
    pub allowed_origins: Option<String>,
    #[arg(
        id = "env_allowed_hosts",
        long = "env-ao-allowed-hosts",
        env = "AO_ALLOWED_HOSTS",
        hide = true,
        global = true
    )]
    pub allowed_hosts: Option<String>,
    #[arg(
        id = "env_otlp_endpoint",
        long = "env-ao-otlp-endpoint",
        env = "AO_OTLP_ENDPOINT",
        hide = true,
        global = true
    )]
    pub otlp_endpoint: Option<String>,
    #[arg(
        id = "env_otel_exporter_otlp_endpoint",
        long = "env-otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        hide = true,
        global = true
    )]
    pub otel_exporter_otlp_endpoint: Option<String>,
    #[arg(
        id = "env_log_retention_days",
        long = "env-ao-log-retention-days",
        env = "AO_LOG_RETENTION_DAYS",
        hide = true,
        global = true
    )]
    pub log_retention_days: Option<String>,
    #[arg(
        id = "env_integrity_schedule",
        long = "env-ao-integrity-schedule",
        env = "AO_INTEGRITY_SCHEDULE",
        hide = true,
        global = true
    )]
    pub integrity_schedule: Option<String>,
    #[arg(
        id = "env_metadata_base_url",
        long = "env-ao-metadata-base-url",
        env = "AO_METADATA_BASE_URL",
        hide = true,
        global = true
    )]
    pub metadata_base_url: Option<String>,
}

impl EnvArgs {
    fn settings(&self) -> EnvSettings {
        EnvSettings {
            workers: self.workers.clone(),
            scan_threads: self.scan_threads.clone(),
            strategy: self.strategy.clone(),
            organize_preset: self.organize_preset.clone(),
            folder_pattern: self.folder_pattern.clone(),
            file_pattern: self.file_pattern.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            follow_symlinks: self.follow_symlinks.clone(),
            host: self.host.clone(),
            port: self.port.clone(),
            auth: self.auth.clone(),
            api_key: self.api_key.clone(),
            allowed_origins: self.allowed_origins.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            otlp_endpoint: self.otlp_endpoint.clone(),
            otel_exporter_otlp_endpoint: self.otel_exporter_otlp_endpoint.clone(),
            log_retention_days: self.log_retention_days.clone(),
            integrity_schedule: self.integrity_schedule.clone(),
            metadata_base_url: self.metadata_base_url.clone(),
        }
    }
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            db: self.db.clone(),
            dir: self.dir.clone(),
            config: self.config.clone(),
            workers: self.workers,
            strategy: None,
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            host: None,
            port: None,
            auth: None,
            follow_symlinks: self.follow_symlinks.clone(),
            env: self.env.settings(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan import folders (the given PATHs, registered as import paths, or
    /// every enabled import path) and wait for the operation to finish.
    /// Rescans read and hash only new or changed files
    Scan(ScanArgs),
    /// Organize every imported book into the library and wait
    Organize(OrganizeArgs),
    /// Run the server: web dashboard, REST API, live events (SSE, WebSocket),
    /// metrics
    Serve(ServeArgs),
    /// Exit 0 if the server on this machine answers /ping (for container
    /// health checks; no curl needed)
    Healthcheck(HealthcheckArgs),
    /// Write a sample import tree, then scan and organize it into the library
    Demo(DemoArgs),
    /// Write a small tree of generated audio files (for trying things out)
    Sample {
        /// Where to write it
        path: PathBuf,
    },
    /// Print the server's stored API key (it is shown once at first start)
    ApiKey,
    /// Print ComputeFileHash of files (SHA-256; ends only for files > 100 MiB)
    Hash {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print what the scanner reads from audio files (tags, duration,
    /// codec), one JSON object per line; exit 1 if a file cannot be read
    Tags {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Books in the library
    Books {
        #[command(subcommand)]
        command: BooksCommand,
    },
    /// Import folders that scans walk
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Operations: list, show, logs, cancel
    Ops {
        #[command(subcommand)]
        command: OpsCommand,
    },
    /// Back up the store (a consistent snapshot, also while a server runs
    /// on it: use the server's API then), compressed, with a checksum; the
    /// newest `backup_keep` are kept in the backup folder
    Backup {
        /// List the backups instead of taking one
        #[arg(long)]
        list: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// The container image's entrypoint: as root, give the config and data
    /// folders to PUID:PGID, drop to that user and run ARGS (refused for
    /// PUID or PGID 0, exit 64); as another user, run ARGS
    Entrypoint(EntrypointArgs),
    /// Replace the store with a backup: its checksum and the store inside
    /// are checked first, a damaged file is refused, and the store it
    /// replaces is kept beside it (the server must be stopped)
    Restore {
        /// The backup file (`audiobook-organizer-*.aobackup`)
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct EntrypointArgs {
    /// User id the server runs as
    #[arg(long, env = "PUID", default_value_t = 1000)]
    pub puid: u32,
    /// Group id the server runs as
    #[arg(long, env = "PGID", default_value_t = 1000)]
    pub pgid: u32,
    /// File mode mask (octal) for what the server creates; 027 lets a media
    /// server in the same group read the library
    #[arg(long, env = "UMASK", default_value = "077")]
    pub umask: String,
    /// The command to run (default: serve)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        default_value = "serve"
    )]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: AO_HOST] [default: 0.0.0.0]
    #[arg(long)]
    pub host: Option<String>,
    /// Port (0 picks a free one) [env: AO_PORT] [default: 8484]
    #[arg(long)]
    pub port: Option<u16>,
    /// auto (key unless loopback only), key, or none [env: AO_AUTH]
    #[arg(long)]
    pub auth: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the server [default: http://127.0.0.1:<port>]
    #[arg(long)]
    pub url: Option<String>,
    /// Port to check on 127.0.0.1 [env: AO_PORT] [default: 8484]
    #[arg(long)]
    pub port: Option<u16>,
    /// Endpoint to ask: /ping also touches the store, /health only says
    /// the process answers
    #[arg(long, default_value = "/ping")]
    pub path: String,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Folders to scan (registered as import paths)
    pub paths: Vec<PathBuf>,
    /// low, normal or high
    #[arg(long, default_value = "normal")]
    pub priority: String,
    /// Print the final operation as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OrganizeArgs {
    /// auto, copy, hardlink, reflink or symlink [env: AO_STRATEGY] [default: auto]
    #[arg(long)]
    pub strategy: Option<String>,
    /// low, normal or high
    #[arg(long, default_value = "normal")]
    pub priority: String,
    /// Plan only: print every book's target, strategy and conflicts;
    /// change nothing on disk
    #[arg(long)]
    pub dry_run: bool,
    /// Print the final operation as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the sample import tree goes
    #[arg(long, default_value = "data/sample-imports")]
    pub imports: PathBuf,
    /// auto, copy, hardlink, reflink or symlink
    #[arg(long)]
    pub strategy: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BooksCommand {
    /// List books, oldest first
    List(BooksListArgs),
}

#[derive(Debug, Args)]
pub struct BooksListArgs {
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Start after this book id (for paging)
    #[arg(long)]
    pub after: Option<String>,
    /// JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Register a folder to scan
    Add {
        path: PathBuf,
        #[arg(long)]
        name: Option<String>,
        /// A glob of what not to scan, relative to the folder (`*.part`,
        /// `Incomplete/*`, `**/Samples`); repeat for more
        #[arg(long = "exclude", value_name = "GLOB")]
        exclude: Vec<String>,
        /// Scan what changes as it changes, while `serve` runs: auto
        /// (notifications; a periodic rescan on network file systems),
        /// poll (a periodic rescan) or off
        #[arg(long, value_name = "MODE")]
        watch: Option<String>,
    },
    /// List registered folders
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a folder (its books stay)
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// List operations, newest first
    List(OpsListArgs),
    /// Show one operation
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print an operation's log lines
    Logs(OpsLogsArgs),
    /// Cancel a queued operation (a running one is canceled through the
    /// process that runs it)
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub struct OpsListArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only this status (queued, running, completed, failed, canceled, ...)
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OpsLogsArgs {
    pub id: String,
    /// Only the last N lines
    #[arg(long)]
    pub tail: Option<usize>,
    /// Keep printing new lines until the operation ends
    #[arg(long, short)]
    pub follow: bool,
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
