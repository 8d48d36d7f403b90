//! Subcommands that write: they start an engine in this process.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::config::Config;
use crate::engine::{Engine, StartOptions};
use crate::jobs::organize::strategy::Strategy;
use crate::jobs::{ORGANIZE, SCAN};
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
fn run_operation(
    engine: &Engine,
    op_type: &str,
    prio: Priority,
    params: serde_json::Value,
    folder: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let rx = engine.bus.subscribe();
    let op = engine.queue.enqueue(op_type, prio, params, folder)?;
    let done = follow(engine, rx, &op.id)?;
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
    let folder = (paths.len() == 1).then(|| paths[0].clone());
    let params = if paths.is_empty() {
        json!({})
    } else {
        json!({ "paths": paths })
    };
    let code = run_operation(&engine, SCAN, prio, params, folder, a.json);
    engine.shutdown(Duration::from_secs(5));
    code
}

fn strategy_param(s: Option<String>) -> Result<serde_json::Value> {
    Ok(match s {
        Some(s) => {
            let st = Strategy::parse(&s).with_context(|| {
                format!("strategy {s:?} is not one of auto, copy, hardlink, reflink, symlink")
            })?;
            json!({ "strategy": st.as_str() })
        }
        None => json!({}),
    })
}

pub fn organize(config: Config, a: OrganizeArgs) -> Result<ExitCode> {
    let prio = priority(&a.priority)?;
    let params = strategy_param(a.strategy)?;
    let engine = engine(config)?;
    let code = run_operation(&engine, ORGANIZE, prio, params, None, a.json);
    engine.shutdown(Duration::from_secs(5));
    code
}

pub fn demo(config: Config, a: DemoArgs) -> Result<ExitCode> {
    let params = strategy_param(a.strategy)?;
    if !a.imports.exists() {
        let n = crate::sample::write_sample_tree(&a.imports)?;
        println!("wrote {n} sample audio files under {}", a.imports.display());
    }
    let library = config.library.clone();
    let engine = engine(config)?;
    let ip = engine.add_import_path(&a.imports, Some("sample"))?;
    let scan = run_operation(
        &engine,
        SCAN,
        Priority::Normal,
        json!({ "paths": [ip.path] }),
        Some(ip.path.clone()),
        false,
    );
    let organize = match scan {
        Ok(code) if code == ExitCode::SUCCESS => {
            run_operation(&engine, ORGANIZE, Priority::Normal, params, None, false)
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

pub fn import_add(config: Config, path: &Path, name: Option<&str>) -> Result<ExitCode> {
    let engine = engine(config)?;
    let ip = engine.add_import_path(path, name);
    engine.shutdown(Duration::from_secs(1));
    let ip = ip?;
    println!("{} {} ({})", ip.id, ip.path, ip.name);
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
