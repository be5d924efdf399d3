//! The accept loop: HTTP/1.1 with a header-read timeout, WebSocket upgrades, and the shutdown
//! sequence (not ready -> drain delay -> stop accepting -> close sockets with 1001 -> wait up to
//! the grace period).

use std::{future::Future, sync::atomic::Ordering, time::Duration};

use hyper::server::conn::http1;
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, runtime::RuntimeFlavor};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::{AppState, Error, address::PeerAddr, presence};

/// Kernel queue of connections not yet accepted. tokio's `TcpListener::bind` uses 128, which 450
/// clients arriving at once overflow: the dropped ones retry after a 1 s SYN timeout
/// (docs/benchmarks.md, "C"). The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// The tokio runtime the server runs on: on one CPU (a pod limited to one core, a `taskset`) the
/// current-thread scheduler, else the multi-thread one. Its one FIFO run queue runs sessions in
/// the order they were woken. The multi-thread scheduler's single worker runs the last-woken task
/// first (its LIFO slot) and moves its local queue's overflow to a global queue it looks at only
/// every 31st task, so in the closed loop some members waited many turns of others: a p99 two to
/// three times the p50. Round 3 of issue #10 tried this and took it back: in the saturated
/// 1,000-member fanout, every message woke each member (1,000 wake-ups a message), and half of
/// the runs fell seconds behind. Since a coalescing member is no longer woken by the messages of
/// its window (`session/write.rs`), the FIFO queue keeps up there as well as the multi-thread one
/// and halves the closed loop's p99 again (docs/benchmarks.md, "Issue #10, round 4").
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = match flavor_for(cpus) {
        RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Which scheduler [`runtime`] picks for `cpus` CPUs.
fn flavor_for(cpus: usize) -> RuntimeFlavor {
    if cpus <= 1 {
        RuntimeFlavor::CurrentThread
    } else {
        RuntimeFlavor::MultiThread
    }
}

/// Bind `addr` for [`serve`] with a backlog sized for bursts of connections.
pub fn bind(addr: std::net::SocketAddr) -> crate::Result<TcpListener> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|source| Error::Listen { addr, source })
}

/// Serve on `listener` until `shutdown` resolves, then drain and return.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = crate::http::app(state.clone());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(state.config.header_timeout_secs));
    let http_conns = TaskTracker::new();
    let stop_http = tokio_util::sync::CancellationToken::new();
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    tokio::pin!(shutdown);

    let accept = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let svc = router
                .clone()
                .map_request(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    req
                });
            let svc = TowerToHyperService::new(svc);
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            let stop = stop_http.clone();
            http_conns.spawn(async move {
                tokio::pin!(conn);
                tokio::select! {
                    res = conn.as_mut() => {
                        if let Err(e) = res {
                            tracing::debug!(%peer, error = %e, "http connection ended");
                        }
                    }
                    () = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(grace, conn).await;
                    }
                }
            });
        }
    };

    tokio::pin!(accept);
    tokio::select! {
        () = &mut accept => {}
        () = &mut shutdown => {}
    }
    tracing::info!("shutting down: not ready any more");
    let lifecycle = &state.lifecycle;
    lifecycle.draining.store(true, Ordering::Relaxed);
    if state.config.drain_delay_secs > 0 {
        // Keep serving while load balancers notice /readyz; new WebSockets are refused meanwhile.
        let delay = tokio::time::sleep(Duration::from_secs(state.config.drain_delay_secs));
        tokio::select! {
            () = &mut accept => {}
            () = delay => {}
        }
    }
    lifecycle.sessions.cancel();
    stop_http.cancel();
    lifecycle.tracker.close();
    http_conns.close();
    let drained = tokio::time::timeout(grace, async {
        lifecycle.tracker.wait().await;
        http_conns.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over with connections still open; exiting anyway");
    }
    // Stop the presence heartbeat first so it cannot re-announce members after they are cleared.
    lifecycle.background.cancel();
    presence::depart(&state).await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One core: one FIFO run queue (docs/benchmarks.md, "Issue #10, round 4"); more: workers.
    #[test]
    fn one_cpu_gets_the_current_thread_scheduler() {
        assert_eq!(flavor_for(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor_for(4), RuntimeFlavor::MultiThread);
    }

    #[test]
    fn the_runtime_for_this_machine_builds_and_runs() {
        let flavor = runtime()
            .unwrap()
            .block_on(async { tokio::runtime::Handle::current().runtime_flavor() });
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(flavor, flavor_for(cpus));
    }
}
