//! Subcommands that write: they start an engine in this process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::engine::{Engine, ImportPathChange, StartOptions};
use crate::jobs::organize::strategy::Strategy;
use crate::jobs::{Job, OrganizeParams, ScanParams};
use crate::store::{OperationStatus, Priority};

use super::args::{DemoArgs, OrganizeArgs, ScanArgs};
use super::progress::follow;

fn engine(config: Config) -> Result<Engine> {
    // A CLI run does only its own work; operations queued by a server stay
    // queued for it.
    Ok(Engine::start(
        config,
        StartOptions {
            resume_queued: false,
            ..Default::default()
        },
    )?)
}

fn priority(s: &str) -> Result<Priority> {
    Priority::parse(s).with_context(|| format!("priority {s:?} is not one of low, normal, high"))
}

/// Enqueues, follows to the end, prints the outcome; non-zero unless completed.
fn run_operation(engine: &Engine, job: Job, prio: Priority, json: bool) -> Result<ExitCode> {
    run_operation_then(engine, job, prio, json, |_| Ok(()))
}

/// Runs `job` to its end, calls `then` with it, prints it.
fn run_operation_then(
    engine: &Engine,
    job: Job,
    prio: Priority,
    json: bool,
    then: impl FnOnce(&crate::store::Operation) -> Result<()>,
) -> Result<ExitCode> {
    let rx = engine.bus.subscribe();
    let op = engine.enqueue(job, prio)?;
    let done = follow(engine, rx, &op.id)?;
    then(&done)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!(
            "{} {} {}: {}",
            done.op_type,
            done.id,
            done.status.as_str(),
            done.message
        );
    }
    Ok(if done.status == OperationStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn scan(config: Config, a: ScanArgs) -> Result<ExitCode> {
    let prio = priority(&a.priority)?;
    let engine = engine(config)?;
    let mut paths = Vec::new();
    for p in &a.paths {
        let ip = engine.add_import_path(p, None)?;
        paths.push(ip.path);
    }
    let paths = paths.into_iter().map(PathBuf::from).collect();
    let code = run_operation(
        &engine,
        Job::Scan(ScanParams {
            paths,
            ..ScanParams::default()
        }),
        prio,
        a.json,
    );
    engine.shutdown(Duration::from_secs(5));
    code
}

fn organize_job(s: Option<String>, dry_run: bool) -> Result<Job> {
    let strategy = match s {
        Some(s) => Some(Strategy::parse(&s).with_context(|| {
            format!("strategy {s:?} is not one of auto, copy, hardlink, reflink, symlink")
        })?),
        None => None,
    };
    Ok(Job::Organize(OrganizeParams { strategy, dry_run }))
}

pub fn organize(config: Config, a: OrganizeArgs) -> Result<ExitCode> {
    let prio = priority(&a.priority)?;
    let job = organize_job(a.strategy, a.dry_run)?;
    let engine = engine(config)?;
    let show_plan = a.dry_run && !a.json;
    let code = run_operation_then(&engine, job, prio, a.json, |op| {
        if show_plan {
            print_plan(&engine, &op.id)?;
        }
        Ok(())
    });
    engine.shutdown(Duration::from_secs(5));
    code
}

pub fn backup(config: Config, list: bool, json: bool) -> Result<ExitCode> {
    if list {
        let backups = crate::backup::list(&config.backup_dir())?;
        if json {
            println!("{}", serde_json::to_string_pretty(&backups)?);
        } else if backups.is_empty() {
            println!("no backups in {}", config.backup_dir().display());
        }
        if !json {
            for b in &backups {
                println!("{}  {:>12} bytes  {}", b.name, b.bytes, b.created_at);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let engine = engine(config)?;
    let code = run_operation(&engine, Job::Backup, Priority::Normal, json);
    engine.shutdown(Duration::from_secs(5));
    code
}

pub fn restore(config: &Config, file: &std::path::Path) -> Result<ExitCode> {
    let done = crate::backup::restore(file, &config.db, crate::store::now())?;
    println!(
        "restored {} ({} book(s)) into {}",
        file.display(),
        done.books,
        config.db.display()
    );
    if let Some(previous) = done.previous {
        println!("the store it replaced is kept at {}", previous.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A dry run's plan and conflicts, one line each, as its log holds them.
fn print_plan(engine: &Engine, op_id: &str) -> Result<()> {
    let mut after = 0;
    loop {
        let lines = engine.store.logs_after(op_id, after, 1000)?;
        let Some(last) = lines.last() else {
            return Ok(());
        };
        after = last.id;
        for l in &lines {
            if l.message.starts_with("plan: ") || l.message.starts_with("conflict: ") {
                println!("{}", l.message);
            }
        }
    }
}

pub fn demo(config: Config, a: DemoArgs) -> Result<ExitCode> {
    let organize = organize_job(a.strategy, false)?;
    if !a.imports.exists() {
        let n = crate::sample::write_sample_tree(&a.imports)?;
        println!("wrote {n} sample audio files under {}", a.imports.display());
    }
    let library = config.library.clone();
    let engine = engine(config)?;
    let ip = engine.add_import_path(&a.imports, Some("sample"))?;
    let scan = Job::Scan(ScanParams {
        paths: vec![PathBuf::from(&ip.path)],
        ..ScanParams::default()
    });
    let scan = run_operation(&engine, scan, Priority::Normal, false);
    let organize = match scan {
        Ok(code) if code == ExitCode::SUCCESS => {
            run_operation(&engine, organize, Priority::Normal, false)
        }
        other => other,
    };
    let books = engine.store.count_books()?;
    engine.shutdown(Duration::from_secs(5));
    let code = organize?;
    println!(
        "{books} book(s) in the store; library at {}",
        library.display()
    );
    Ok(code)
}

pub fn import_add(
    config: Config,
    path: &Path,
    name: Option<&str>,
    exclude: Vec<String>,
    watch: Option<String>,
) -> Result<ExitCode> {
    use crate::store::WatchSetting;
    let watch = match watch.as_deref().map(str::trim) {
        None => None,
        Some("auto") => Some(WatchSetting::Auto),
        Some("poll") => Some(WatchSetting::Poll),
        Some("off") => Some(WatchSetting::Off),
        Some(other) => anyhow::bail!("--watch {other:?} is not one of auto, poll, off"),
    };
    let engine = engine(config)?;
    // The patterns are checked before the folder is registered.
    for pattern in &exclude {
        ao_walk::ExcludePattern::parse(pattern)?;
    }
    let ip = engine.add_import_path(path, name).and_then(|ip| {
        if exclude.is_empty() && watch.is_none() {
            return Ok(ip);
        }
        let change = ImportPathChange {
            exclude: (!exclude.is_empty()).then_some(exclude),
            watch,
            ..Default::default()
        };
        engine.update_import_path(&ip.id, change)
    });
    engine.shutdown(Duration::from_secs(1));
    let ip = ip?;
    println!("{} {} ({})", ip.id, ip.path, ip.name);
    for pattern in &ip.exclude {
        println!("  exclude {pattern}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn import_remove(config: Config, id: &str) -> Result<ExitCode> {
    let engine = engine(config)?;
    let r = engine.remove_import_path(id);
    engine.shutdown(Duration::from_secs(1));
    r?;
    println!("removed import path {id}");
    Ok(ExitCode::SUCCESS)
}

pub fn ops_cancel(config: Config, id: &str) -> Result<ExitCode> {
    let engine = match Engine::start(
        config,
        StartOptions {
            resume_queued: false,
            ..Default::default()
        },
    ) {
        Ok(e) => e,
        Err(crate::engine::EngineError::Store(crate::store::StoreError::Locked { path })) => {
            bail!(
                "the store {path} is in use by a running audiobook-organizer; cancel the operation through that process"
            )
        }
        Err(e) => return Err(e.into()),
    };
    let r = engine.queue.cancel(id);
    engine.shutdown(Duration::from_secs(1));
    let op = r?;
    println!("{} {}", op.id, op.status.as_str());
    Ok(ExitCode::SUCCESS)
}
