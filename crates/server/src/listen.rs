//! The accept loop: HTTP/1.1 connections served by hyper with a deadline
//! for request headers, and a cap on open connections. A client that sends
//! part of its headers and stops is cut off after `header_read_timeout`;
//! connections beyond `max_connections` get a 503 and are closed, so a
//! flood of half-open sockets can neither pin descriptors forever nor
//! starve the process of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::{Semaphore, watch};

/// What a connection over the cap is told before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 5\r\n\
connection: close\r\n\
content-length: 66\r\n\r\n\
{\"error\":\"too many open connections to this server; retry shortly\"}";

/// The connection's place under the cap, in every request's extensions:
/// a WebSocket keeps it for as long as it stays open (the upgraded socket
/// outlives the HTTP connection task).
#[derive(Clone)]
pub struct ConnSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// How long a shutdown waits for open connections to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, asks every open connection to finish its current request
/// and waits for them all.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        // Reap finished connection tasks as we go.
        while tasks.try_join_next().is_some() {}
        let (mut stream, _peer) = match accepted {
            Ok(x) => x,
            // Out of descriptors or a connection reset before accept:
            // wait a moment rather than spin, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tasks.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let _ = stream.write_all(OVER_CAPACITY).await;
                    let _ = stream.shutdown().await;
                })
                .await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnSlot(Arc::new(permit));
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(slot.clone());
                tower_service::Service::call(&mut app.clone(), req)
            });
        let mut stop = stop_rx.clone();
        let timeout = limits.header_read_timeout;
        tasks.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Connections finish their request; one stuck mid-headers is cut off
    // when this wait ends (dropping the set aborts what is left).
    let _ = tokio::time::timeout(SHUTDOWN_WAIT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
