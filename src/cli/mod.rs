//! Command-line interface: clap definitions and one runner per subcommand.

mod args;
mod ops_cmd;
mod progress;
mod run_cmd;
mod serve_cmd;
mod stdout_log;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

pub use args::Cli;
use args::{BooksCommand, Command, ImportCommand, OpsCommand};

pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
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
        Command::Books { command } => match command {
            BooksCommand::List(a) => ops_cmd::books_list(&config, a),
        },
        Command::Import { command } => match command {
            ImportCommand::Add { path, name } => {
                run_cmd::import_add(config, &path, name.as_deref())
            }
            ImportCommand::List { json } => ops_cmd::import_list(&config, json),
            ImportCommand::Remove { id } => run_cmd::import_remove(config, &id),
        },
        Command::Ops { command } => match command {
            OpsCommand::List(a) => ops_cmd::ops_list(&config, a),
            OpsCommand::Show { id, json } => ops_cmd::ops_show(&config, &id, json),
            OpsCommand::Logs(a) => ops_cmd::ops_logs(&config, a),
            OpsCommand::Cancel { id } => run_cmd::ops_cancel(config, &id),
        },
    }
}
