//! Accepting connections: the proxy listener (HTTP, or HTTPS with ALPN h2/http1.1) and the admin
//! listener, served by hyper-util's auto builder (HTTP/1.1 and HTTP/2 on the same port), and
//! graceful shutdown.
//!
//! Why here: TLS handshakes run on the connection's own task (a slow client never blocks
//! `accept`), each connection is watched by hyper-util's `GracefulShutdown`, and the shutdown
//! order is: stop accepting, end event streams (they would never finish on their own), let
//! in-flight requests finish within the grace period, then drop what is left.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::admin::Admin;
use crate::coalesce_writes::CoalesceWrites;
use crate::forward::Shared;
use crate::forwarded_headers::ClientInfo;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

fn builder() -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    b.http2().timer(TokioTimer::new());
    b
}

async fn accept_one(l: &TcpListener) -> Option<(TcpStream, std::net::SocketAddr)> {
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

pub(crate) async fn serve_until(
    listener: TcpListener,
    admin_listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    admin: Admin,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let cancel = shared.cancel.clone();
    let builder = builder();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            c = accept_one(&listener) => {
                let Some((tcp, addr)) = c else { continue };
                let _ = tcp.set_nodelay(true);
                let info = ClientInfo { addr, tls: tls.is_some() };
                let stack = crate::stack::build(shared.clone(), info);
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    stack.clone().oneshot(req)
                });
                let watcher = graceful.watcher();
                let builder = builder.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let res = match tls {
                        None => {
                            let io = CoalesceWrites::new(TokioIo::new(tcp));
                            watcher.watch(builder.serve_connection(io, svc).into_owned()).await
                        }
                        Some(acceptor) => {
                            let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => { tracing::debug!(%addr, "TLS handshake failed: {e}"); return; }
                                Err(_) => { tracing::debug!(%addr, "TLS handshake timed out"); return; }
                            };
                            watcher.watch(builder.serve_connection(TokioIo::new(stream), svc).into_owned()).await
                        }
                    };
                    if let Err(e) = res {
                        tracing::debug!(%addr, "connection ended: {e}");
                    }
                });
            }
            c = accept_one(&admin_listener) => {
                let Some((tcp, _addr)) = c else { continue };
                let admin = admin.clone();
                let svc = service_fn(move |req| admin.clone().handle(req));
                let watcher = graceful.watcher();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let _ = watcher.watch(builder.serve_connection(TokioIo::new(tcp), svc).into_owned()).await;
                });
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
        _ = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}
