//! Accepting connections: the proxy listener (HTTP, or HTTPS with ALPN h2/http1.1) and the admin
//! listener, served by hyper-util's auto builder (HTTP/1.1 and HTTP/2 on the same port), and
//! graceful shutdown.
//!
//! Why here: TLS handshakes run on the connection's own task (a slow client never blocks
//! `accept`), each connection is watched by hyper-util's `GracefulShutdown`, and the shutdown
//! order is: stop accepting, end event streams (they would never finish on their own), let
//! in-flight requests finish within the grace period, then drop what is left.
//!
//! What a client may hold, on both listeners: a place under the connection cap
//! ([`crate::connection_limit`]; past it, a 503 and the connection closed), and its connection only
//! as long as its first request head (TLS handshake included) arrives within
//! `[listener] header_read_timeout_ms` of `accept` ([`crate::head_deadline`]; later heads on a
//! kept-alive connection: hyper's timer, same value). So a crowd of silent connections cannot
//! starve `/readyz` or the next client. A client that half-closes its side after a complete
//! request (`shutdown(SHUT_WR)`, as `nc -N` or some scripts do) still gets its answer: HTTP/1
//! half-close is allowed; the price is that a client gone while its request waits for Marathon is
//! noticed when the answer is written, not before.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::admin::Admin;
use crate::coalesce_writes::CoalesceWrites;
use crate::connection_limit::{fit_to_fd_limit, ConnectionLimit, Slot};
use crate::forward::Shared;
use crate::forwarded_headers::ClientInfo;
use crate::head_deadline::HeadDeadline;
use crate::metrics::{ListenerLabels, Metrics};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections allowed on the admin listener (probes and scrapes need few); part of the
/// descriptors [`crate::connection_limit::FD_RESERVE`] keeps free.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The listeners' limits, from `[listener]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerSettings {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// On shutdown: how long in-flight requests get before connections are cut.
    pub shutdown_grace: Duration,
}

fn builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .half_close(true);
    b.http2().timer(TokioTimer::new());
    b
}

async fn accept_one(l: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match l.accept().await {
        Ok(c) => Some(c),
        Err(e) => {
            // EMFILE and friends: back off instead of spinning.
            tracing::warn!("accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// A connection just accepted, with its place under the cap.
struct Accepted {
    tcp: TcpStream,
    addr: SocketAddr,
    /// Its first request head (and TLS handshake) must be in by then.
    deadline: Instant,
    _slot: Slot,
}

fn limit(metrics: &Metrics, listener: &'static str, max: usize, setting: &str) -> ConnectionLimit {
    let labels = ListenerLabels { listener };
    let open = metrics.client_connections.get_or_create(&labels).clone();
    let refused = metrics.client_connections_refused.get_or_create(&labels).clone();
    ConnectionLimit::new(listener, max, setting, open, refused)
}

pub(crate) async fn serve_until(
    listener: TcpListener,
    admin_listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    admin: Admin,
    settings: ListenerSettings,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let cancel = shared.cancel.clone();
    let builder = builder(settings.header_read_timeout);
    let max = fit_to_fd_limit(settings.max_connections);
    let proxy_limit = limit(&shared.metrics, "proxy", max, "[listener] max_connections");
    let admin_limit = limit(&shared.metrics, "admin", ADMIN_MAX_CONNECTIONS, "fixed limit on the admin listener");
    let accepted = |tcp: TcpStream, addr: SocketAddr, limit: &ConnectionLimit, tls: Option<TlsAcceptor>| {
        let at = Instant::now();
        let deadline = at + settings.header_read_timeout;
        match limit.take() {
            Some(slot) => Some(Accepted { tcp, addr, deadline, _slot: slot }),
            None => {
                limit.refuse(tcp, tls, deadline.min(at + TLS_HANDSHAKE_TIMEOUT));
                None
            }
        }
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            c = accept_one(&listener) => {
                let Some((tcp, addr)) = c else { continue };
                let Some(conn) = accepted(tcp, addr, &proxy_limit, tls.clone()) else { continue };
                tokio::spawn(serve_client(conn, tls.clone(), shared.clone(), builder.clone(), graceful.watcher()));
            }
            c = accept_one(&admin_listener) => {
                let Some((tcp, addr)) = c else { continue };
                let Some(conn) = accepted(tcp, addr, &admin_limit, None) else { continue };
                tokio::spawn(serve_admin(conn, admin.clone(), builder.clone(), graceful.watcher()));
            }
        }
    }
    drop(listener);
    drop(admin_listener);
    // End event streams and background tasks, then wait for in-flight requests.
    cancel.cancel();
    tracing::info!(connections = graceful.count(), "shutting down: waiting for in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(settings.shutdown_grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

/// Serves one client connection of the proxy listener.
async fn serve_client(c: Accepted, tls: Option<TlsAcceptor>, shared: Arc<Shared>, builder: auto::Builder<TokioExecutor>, watcher: Watcher) {
    let _ = c.tcp.set_nodelay(true);
    let info = ClientInfo { addr: c.addr, tls: tls.is_some() };
    let timeouts = shared.metrics.client_head_timeouts.get_or_create(&ListenerLabels { listener: "proxy" }).clone();
    let stack = crate::stack::build(shared, info);
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| stack.clone().oneshot(req));
    let res = match tls {
        None => {
            let io = CoalesceWrites::new(TokioIo::new(HeadDeadline::new(c.tcp, c.deadline, timeouts)));
            watcher.watch(builder.serve_connection(io, svc).into_owned()).await
        }
        Some(acceptor) => {
            let handshake_by = c.deadline.min(Instant::now() + TLS_HANDSHAKE_TIMEOUT);
            let stream = match tokio::time::timeout_at(handshake_by, acceptor.accept(c.tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(addr = %c.addr, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    timeouts.inc();
                    tracing::debug!(addr = %c.addr, "TLS handshake timed out");
                    return;
                }
            };
            let io = TokioIo::new(HeadDeadline::new(stream, c.deadline, timeouts));
            watcher.watch(builder.serve_connection(io, svc).into_owned()).await
        }
    };
    if let Err(e) = res {
        tracing::debug!(addr = %c.addr, "connection ended: {e}");
    }
}

/// Serves one connection of the admin listener.
async fn serve_admin(c: Accepted, admin: Admin, builder: auto::Builder<TokioExecutor>, watcher: Watcher) {
    let timeouts = admin.metrics.client_head_timeouts.get_or_create(&ListenerLabels { listener: "admin" }).clone();
    let svc = service_fn(move |req| admin.clone().handle(req));
    let io = TokioIo::new(HeadDeadline::new(c.tcp, c.deadline, timeouts));
    let _ = watcher.watch(builder.serve_connection(io, svc).into_owned()).await;
}
