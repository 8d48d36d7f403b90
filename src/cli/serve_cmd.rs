//! `serve` and `healthcheck`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::engine::{Engine, StartOptions};
use crate::http::Server;

use super::args::HealthcheckArgs;
use super::stdout_log;

/// Resolves on the first SIGINT or SIGTERM. Only this task listens for
/// signals, so none is swallowed elsewhere; a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing running operations (a second signal stops at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::warn!("second signal: exiting now; running operations will show as interrupted");
        std::process::exit(130);
    });
}

pub fn serve(config: Config) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("http")
        .build()
        .context("cannot start the async runtime")?;
    let grace = config.server.shutdown_grace;
    let format = config.log_format;
    let level = stdout_log::Severity::parse(&config.log_level);
    let engine = Arc::new(Engine::start(config, StartOptions::default())?);
    let otlp = match &engine.config.server.otlp_endpoint {
        Some(endpoint) => Some(
            crate::telemetry::otlp::start(&engine.breakers, endpoint)
                .context("cannot start the OTLP exporter")?
                .0,
        ),
        None => None,
    };
    super::trace::init_server(format, level, otlp);
    let _stdout_log = stdout_log::spawn(&engine.bus, &engine.store);
    engine.start_background();
    runtime.block_on(async {
        let (server, key) = Server::bind(engine.clone())
            .await
            .context("cannot listen")?;
        let addr = server.local_addr();
        let url = format!("http://{addr}");
        let say = |message: &str, fields: serde_json::Value| {
            println!("{}", stdout_log::server_line(format, message, fields));
        };
        say(
            &format!("audiobook-organizer listening on {url}"),
            serde_json::json!({"url": url}),
        );
        if let Some(endpoint) = &engine.config.server.otlp_endpoint {
            say(
                &format!("exporting a trace span per operation to {endpoint}/v1/traces"),
                serde_json::json!({"otlp_endpoint": endpoint}),
            );
        }
        match key {
            Some((k, true)) => say(
                &format!("API key (shown once; send it as X-Api-Key): {k}"),
                serde_json::json!({"api_key": k}),
            ),
            Some((_, false)) => say(
                "API key required (X-Api-Key or Authorization: Bearer; ?apikey= on the event streams)",
                serde_json::json!({}),
            ),
            None => say(
                "no API key required (auth: none, or listening on loopback only)",
                serde_json::json!({}),
            ),
        }
        server
            .run_until(shutdown_signal())
            .await
            .context("server error")?;
        let e = engine.clone();
        tokio::task::spawn_blocking(move || e.queue.shutdown(grace)).await?;
        anyhow::Ok(())
    })?;
    // Last handle: the store closes cleanly here.
    drop(engine);
    drop(runtime);
    Ok(ExitCode::SUCCESS)
}

pub fn healthcheck(config: &Config, a: HealthcheckArgs) -> Result<ExitCode> {
    let port = a.port.unwrap_or(config.server.port);
    if !a.path.starts_with('/') || a.path.contains(char::is_whitespace) {
        anyhow::bail!(
            "--path must start with / and hold no spaces, not {:?}",
            a.path
        );
    }
    let path = a.path.clone();
    let host = match &a.url {
        Some(u) => {
            let rest = u
                .strip_prefix("http://")
                .context("only http:// URLs are supported")?;
            let (host, _) = rest.split_once('/').unwrap_or((rest, ""));
            host.to_string()
        }
        None => format!("127.0.0.1:{port}"),
    };
    let mut stream =
        TcpStream::connect(&host).with_context(|| format!("cannot connect to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") {
        println!("OK");
        Ok(ExitCode::SUCCESS)
    } else {
        let first = response.lines().next().unwrap_or("no answer");
        anyhow::bail!("unhealthy: {first}")
    }
}
