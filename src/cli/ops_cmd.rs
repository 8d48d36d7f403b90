//! Subcommands that only read: they open the store read-only, so they work
//! while another process (a scan, or the server) is writing.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::config::Config;
use crate::store::{LogEntry, OperationStatus, RedbStore, Store};

use super::args::{BooksListArgs, OpsListArgs, OpsLogsArgs};

fn open(config: &Config) -> Result<RedbStore> {
    match RedbStore::open_read_only(&config.db) {
        Err(crate::store::StoreError::NeedsRepair { .. }) => {
            // Left unclean by a crash and nobody is writing: opening it for
            // writing repairs it; then read as usual.
            drop(RedbStore::open(&config.db)?);
            Ok(RedbStore::open_read_only(&config.db)?)
        }
        other => Ok(other?),
    }
}

pub fn books_list(config: &Config, a: BooksListArgs) -> Result<ExitCode> {
    let store = open(config)?;
    let books = store.list_books(a.after.as_deref(), a.limit)?;
    if a.json {
        let total = store.count_books()?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"books": books, "total": total}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for b in &books {
        println!(
            "{}  {:<9} {} - {}{}{}  [{} file(s), {:.0}s]",
            b.id,
            format!("{:?}", b.status).to_lowercase(),
            b.author,
            b.title,
            b.series
                .as_ref()
                .map(|s| format!(
                    " ({s}{})",
                    b.series_index
                        .as_ref()
                        .map(|i| format!(" #{i}"))
                        .unwrap_or_default()
                ))
                .unwrap_or_default(),
            b.narrator
                .as_ref()
                .map(|n| format!(", read by {n}"))
                .unwrap_or_default(),
            b.files.len(),
            b.duration_secs
        );
    }
    eprintln!("{} of {} book(s)", books.len(), store.count_books()?);
    Ok(ExitCode::SUCCESS)
}

pub fn api_key(config: &Config) -> Result<ExitCode> {
    if let Some(k) = &config.server.api_key {
        println!("{k}");
        return Ok(ExitCode::SUCCESS);
    }
    let store = open(config)?;
    match store.get_meta(crate::http::API_KEY_META)? {
        Some(k) => {
            println!("{}", String::from_utf8_lossy(&k));
            Ok(ExitCode::SUCCESS)
        }
        None => bail!(
            "no API key stored yet: the server makes one on its first start with a key required"
        ),
    }
}

pub fn import_list(config: &Config, json: bool) -> Result<ExitCode> {
    let store = open(config)?;
    let paths = store.list_import_paths()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&paths)?);
    } else {
        for p in paths {
            println!(
                "{}  {}  {}{}",
                p.id,
                p.name,
                p.path,
                if p.enabled { "" } else { " (disabled)" }
            );
            for pattern in &p.exclude {
                println!("    exclude {pattern}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ops_list(config: &Config, a: OpsListArgs) -> Result<ExitCode> {
    let store = open(config)?;
    let want = match &a.status {
        Some(s) => {
            Some(OperationStatus::parse(s).ok_or_else(|| anyhow::anyhow!("unknown status {s:?}"))?)
        }
        None => None,
    };
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    while out.len() < a.limit {
        let page = store.list_operations(before.as_deref(), 200)?;
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        out.extend(
            page.into_iter()
                .filter(|o| want.is_none_or(|w| o.status == w)),
        );
    }
    out.truncate(a.limit);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for o in out {
            println!(
                "{}  {:<9} {:<11} {}/{}  {}",
                o.id,
                o.op_type,
                o.status.as_str(),
                o.progress,
                o.total,
                o.message
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ops_show(config: &Config, id: &str, json: bool) -> Result<ExitCode> {
    let store = open(config)?;
    let Some(op) = store.get_operation(id)? else {
        bail!("operation {id} not found")
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&op)?);
    } else {
        println!("id:        {}", op.id);
        println!("type:      {}", op.op_type);
        println!("status:    {}", op.status.as_str());
        println!("progress:  {}/{}", op.progress, op.total);
        println!("message:   {}", op.message);
        if let Some(e) = &op.error_message {
            println!("error:     {e}");
        }
        println!("created:   {}", op.created_at);
        if let Some(t) = op.started_at {
            println!("started:   {t}");
        }
        if let Some(t) = op.completed_at {
            println!("completed: {t}");
        }
        println!("log lines: {}", store.count_logs(id)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_line(e: &LogEntry, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(e)?);
    } else {
        let details = e
            .details
            .as_ref()
            .map(|d| format!("  ({d})"))
            .unwrap_or_default();
        println!(
            "{} {:>5} {}{}",
            e.created_at,
            e.level.as_str(),
            e.message,
            details
        );
    }
    Ok(())
}

pub fn ops_logs(config: &Config, a: OpsLogsArgs) -> Result<ExitCode> {
    let mut store = open(config)?;
    if store.get_operation(&a.id)?.is_none() {
        bail!("operation {} not found", a.id);
    }
    let mut last_seq = 0;
    let first = match a.tail {
        Some(n) => store.tail_logs(&a.id, n)?,
        None => store.logs_after(&a.id, 0, usize::MAX)?,
    };
    for e in &first {
        print_line(e, a.json)?;
        last_seq = e.id;
    }
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let ended = store
            .get_operation(&a.id)?
            .is_none_or(|o| o.status.is_terminal());
        let more = store.logs_after(&a.id, last_seq, 10_000)?;
        for e in &more {
            print_line(e, a.json)?;
            last_seq = e.id;
        }
        if ended && more.is_empty() {
            break;
        }
        if more.is_empty() {
            std::thread::sleep(Duration::from_millis(250));
            // Reopen to see the writer's newest commits.
            store = open(config)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
