//! Follows one operation on the event bus until it ends: a progress bar on a
//! terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::broadcast::error::TryRecvError;

use crate::engine::Engine;
use crate::store::Operation;

pub fn follow(
    engine: &Engine,
    mut rx: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::ops::events::Event>>,
    id: &str,
) -> anyhow::Result<Operation> {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let mut last_plain_pct = -10i64;
    loop {
        match rx.try_recv() {
            Ok(ev) if ev.id == id => match ev.kind.as_str() {
                "operation.progress" => {
                    let cur = ev.data["current"].as_u64().unwrap_or(0);
                    let total = ev.data["total"].as_u64().unwrap_or(0);
                    let msg = ev.data["message"].as_str().unwrap_or("").to_string();
                    match &bar {
                        Some(b) => {
                            b.set_length(total);
                            b.set_position(cur);
                            b.set_message(msg);
                        }
                        None => {
                            let pct = (cur * 100).checked_div(total).unwrap_or(0) as i64;
                            if pct >= last_plain_pct + 10 || (cur == total && pct != last_plain_pct)
                            {
                                last_plain_pct = pct;
                                eprintln!("progress {cur}/{total} ({pct}%) {msg}");
                            }
                        }
                    }
                }
                "operation.log" => {
                    let level = ev.data["level"].as_str().unwrap_or("info");
                    let msg = ev.data["message"].as_str().unwrap_or("");
                    let line = format!("[{level}] {msg}");
                    match &bar {
                        Some(b) if level != "info" => b.println(line),
                        Some(_) => {}
                        None => eprintln!("{line}"),
                    }
                }
                _ => {}
            },
            Ok(_) => {}
            Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty) => {
                let op = engine.queue.wait(id, Duration::from_millis(50))?;
                if op.status.is_terminal() {
                    // Drain what is left so the last lines are shown.
                    while let Ok(ev) = rx.try_recv() {
                        if ev.id == id && ev.kind == "operation.log" && bar.is_none() {
                            eprintln!(
                                "[{}] {}",
                                ev.data["level"].as_str().unwrap_or("info"),
                                ev.data["message"].as_str().unwrap_or("")
                            );
                        }
                    }
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    return Ok(op);
                }
            }
            Err(TryRecvError::Closed) => {
                return Ok(engine.queue.wait(id, Duration::from_secs(3600))?);
            }
        }
    }
}
