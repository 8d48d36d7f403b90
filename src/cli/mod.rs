//! Command-line interface: clap definitions and one runner per subcommand.

mod args;
mod entrypoint;
mod ops_cmd;
mod progress;
mod run_cmd;
mod serve_cmd;
mod stdout_log;
mod trace;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

pub use args::Cli;
use args::{BooksCommand, Command, ImportCommand, OpsCommand};

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    // Before the config is read: it prepares the config's folder.
    if let Command::Entrypoint(a) = cli.command {
        return entrypoint::run(a, cli.global.config, cli.global.db);
    }
    if !matches!(cli.command, Command::Serve(_)) {
        trace::init_cli();
    }
    let mut overrides = cli.global.overrides();
    if let Command::Serve(a) = &cli.command {
        overrides.host = a.host.clone();
        overrides.port = a.port;
        overrides.auth = a.auth.clone();
    }
    let config = crate::config::load(&overrides)?;
    match cli.command {
        Command::Serve(_) => serve_cmd::serve(config),
        Command::Healthcheck(a) => serve_cmd::healthcheck(&config, a),
        Command::ApiKey => ops_cmd::api_key(&config),
        Command::Scan(a) => run_cmd::scan(config, a),
        Command::Organize(a) => run_cmd::organize(config, a),
        Command::Demo(a) => run_cmd::demo(config, a),
        Command::Sample { path } => {
            let n = crate::sample::write_sample_tree(&path)?;
            println!("wrote {n} sample audio files under {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Hash { files } => {
            for f in files {
                let h = crate::hash::compute_file_hash(&f)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                println!("{h}  {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tags { files } => tags_cmd(&files),
        Command::Books { command } => match command {
            BooksCommand::List(a) => ops_cmd::books_list(&config, a),
        },
        Command::Import { command } => match command {
            ImportCommand::Add {
                path,
                name,
                exclude,
                watch,
            } => run_cmd::import_add(config, &path, name.as_deref(), exclude, watch),
            ImportCommand::List { json } => ops_cmd::import_list(&config, json),
            ImportCommand::Remove { id } => run_cmd::import_remove(config, &id),
        },
        Command::Entrypoint(_) => unreachable!("handled above"),
        Command::Backup { list, json } => run_cmd::backup(config, list, json),
        Command::Restore { file } => run_cmd::restore(&config, &file),
        Command::Ops { command } => match command {
            OpsCommand::List(a) => ops_cmd::ops_list(&config, a),
            OpsCommand::Show { id, json } => ops_cmd::ops_show(&config, &id, json),
            OpsCommand::Logs(a) => ops_cmd::ops_logs(&config, a),
            OpsCommand::Cancel { id } => run_cmd::ops_cancel(config, &id),
        },
    }
}

/// `tags FILE...`: the scanner's reading of each file as a JSON line.
fn tags_cmd(files: &[std::path::PathBuf]) -> Result<ExitCode> {
    use crate::jobs::scan::tags::{picture, read_audio_info};
    let mut failed = false;
    for f in files {
        let ext = f
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let line = match read_audio_info(f, &ext) {
            Ok(i) => {
                // The front cover as a cover request would serve it.
                let cover = i
                    .has_picture
                    .then(|| picture::embedded(f).ok().flatten())
                    .flatten()
                    .map(|p| {
                        serde_json::json!({
                            "type": p.mime,
                            "bytes": p.data.len(),
                            "sha256": crate::hash::sha256_hex(&p.data),
                        })
                    });
                serde_json::json!({
                "path": f,
                "title": i.title,
                "artists": i.artists,
                "album_artists": i.album_artists,
                "album": i.album,
                "narrators": i.narrators,
                "series": i.series,
                "series_index": i.series_index,
                "year": i.year,
                "track": i.track,
                "disc": i.disc,
                "genre": i.genre,
                "duration_secs": i.duration_known.then_some(i.duration_secs),
                "duration_estimated": i.duration_estimated,
                "codec": i.codec,
                "bitrate_kbps": i.bitrate_kbps,
                "cover": cover,
                "notes": i.notes,
                })
            }
            Err(e) => {
                failed = true;
                serde_json::json!({"path": f, "error": e})
            }
        };
        println!("{line}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
