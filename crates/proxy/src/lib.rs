//! `proxy`: the transparent reverse proxy in front of Marathon's REST API.
//!
//! Every request is forwarded untouched (method, path and query as sent, headers minus hop-by-hop
//! ones plus `X-Forwarded-*`, bodies streamed both ways), except that state-changing writes are
//! read in full (bounded) and shown to a [`RequestPhases`] implementation first: that is where
//! admission plugs in (the `admission-runtime` crate). The proxy itself knows nothing of
//! Marathon's model: which requests are writes is the phases' answer ([`RequestPhases::route`]). See [`phases`] for the life of a request, [`config`] for `proxy.toml`.
//!
//! Layout, one concern per module:
//! - [`listener`]: accepting HTTP / HTTPS (h1 + h2 via ALPN), graceful shutdown; with
//!   `head_deadline` and `connection_limit`, what a client connection may hold.
//! - [`stack`]: the tower stack around the forwarder (metrics, hop-by-hop, forwarded headers).
//! - [`forward`]: the request path itself; [`read_bounded_body`], [`relay_event_stream`], [`body`].
//! - [`upstream`], [`upstreams`], [`tls`]: talking to Marathon for clients;
//!   [`marathon_client`]: the proxy's own reads (leader poll; what admission reads).
//! - [`admin`], [`metrics`]: the admin listener.
//! - [`redact_query`]: credentials in query strings, replaced wherever a target is shown.
//! - `test_util` (feature `test-util`, tests only): a fake Marathon, a running proxy, clients.
//!
//! Entry points: [`serve`] (bind, run until `shutdown`), or [`Proxy::bind`] then [`Proxy::run`]
//! when the caller needs the bound addresses first (tests bind port 0).

pub mod admin;
pub mod body;
pub(crate) mod coalesce_writes;
pub mod config;
pub(crate) mod connection_limit;
pub mod relay_event_stream;
mod rewrite_marathon_addresses;
pub mod forward;
pub mod forwarded_headers;
pub(crate) mod head_deadline;
pub mod hop_by_hop;
pub mod listener;
pub mod marathon_client;
pub mod marathon_error;
pub mod metrics;
pub mod own_credentials;
pub mod phases;
pub mod read_bounded_body;
pub mod redact_query;
pub mod routes;
pub mod stack;
pub mod tls;
pub mod upstream;
pub mod upstreams;
pub(crate) mod upstream_pool;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::ProxyConfig;
pub use marathon_client::MarathonClient;
pub use marathon_error::marathon_error;
pub use metrics::Metrics;
pub use phases::{
    Flow, NoPhases, Outcome, RequestCtx, RequestPhases, RequestSummary, UpstreamFailure,
    WriteRequest,
};
pub use routes::{Route, RouteClass};

/// A bound, not yet running proxy.
pub struct Proxy {
    config: ProxyConfig,
    listener: TcpListener,
    admin_listener: TcpListener,
    shared: Arc<forward::Shared>,
    admin: admin::Admin,
    tls: Option<(Arc<rustls::ServerConfig>, Arc<tls::ReloadingCert>)>,
}

impl Proxy {
    /// Validates the configuration and binds both listeners. `marathon` is the client of the
    /// proxy's own reads (built from `config`, [`MarathonClient::new`]): its leader poll runs with
    /// the proxy, and the order it finds is the one forwarded requests follow.
    pub async fn bind(
        config: ProxyConfig,
        phases: Arc<dyn RequestPhases>,
        marathon: MarathonClient,
    ) -> anyhow::Result<Proxy> {
        config.validate()?;
        redact_query::set_extra_params(&config.listener.redact_query_params);
        let upstreams = marathon.upstreams().clone();
        let metrics = {
            let mut m = Metrics::new();
            upstreams.register_metrics(m.registry_mut());
            phases.register_metrics(m.registry_mut());
            Arc::new(m)
        };
        let tls = match &config.listener.tls {
            Some(t) => Some(tls::server_config(t).context("[listener.tls]")?),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let admin_listener = TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (admin)", config.admin_listen))?;
        let shared = Arc::new(forward::Shared {
            phases: phases.clone(),
            upstreams: upstreams.clone(),
            marathon,
            pool: upstream_pool::UpstreamPool::new(&config.upstream)?,
            metrics: metrics.clone(),
            settings: forward::ForwardSettings::from_config(&config),
            cancel: CancellationToken::new(),
            next_id: AtomicU64::new(1),
        });
        let admin = admin::Admin {
            metrics,
            upstreams,
            phases,
        };
        Ok(Proxy {
            config,
            listener,
            admin_listener,
            shared,
            admin,
            tls,
        })
    }

    /// The proxy listener's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The admin listener's bound address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener.local_addr().expect("bound listener")
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Serves until `shutdown` completes; then stops accepting, ends event streams, lets in-flight
    /// requests finish (at most `listener.shutdown_grace_secs`) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let cancel = self.shared.cancel.clone();
        tokio::spawn(self.shared.marathon.clone().run_leader_poll(cancel.clone()));
        tokio::spawn(upstream_pool::UpstreamPool::sweep_loop(
            Arc::downgrade(&self.shared.pool),
            cancel.clone(),
        ));
        if let (Some((_, cert)), Some(t)) = (&self.tls, &self.config.listener.tls) {
            tokio::spawn(cert.clone().reload_loop(
                Duration::from_secs(t.reload_interval_secs.max(1)),
                cancel.clone(),
            ));
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(
            listen = %format!("{scheme}://{}", self.local_addr()),
            admin = %format!("http://{}", self.admin_addr()),
            marathon = %self.config.marathon.join(", "),
            "marathon-admission proxy serving"
        );
        let settings = listener::ListenerSettings {
            header_read_timeout: self.config.listener.header_read_timeout(),
            max_connections: self.config.listener.max_connections,
            shutdown_grace: Duration::from_secs(self.config.listener.shutdown_grace_secs),
        };
        listener::serve_until(
            self.listener,
            self.admin_listener,
            self.tls.map(|(c, _)| tokio_rustls::TlsAcceptor::from(c)),
            self.shared,
            self.admin,
            settings,
            shutdown,
        )
        .await;
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes.
pub async fn serve(
    config: ProxyConfig,
    phases: Arc<dyn RequestPhases>,
    marathon: MarathonClient,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    Proxy::bind(config, phases, marathon).await?.run(shutdown).await
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
