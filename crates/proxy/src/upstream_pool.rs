//! Connections to Marathon for forwarded requests: each client connection keeps the Marathon
//! connection its last request used, and a shared pool holds the ones no client connection keeps.
//!
//! Why not hyper-util's pooled client (the leader poller and the model sync still use it): on the
//! request path its per-request checkout and return (a lock, a key hash, a lazily built connect
//! future, a hand-back when the response head arrives) cost more CPU than the proxy's own work for
//! a small answer like `/ping`. A client connection sends its requests one after another, so the
//! Marathon connection its previous request used is free again when the next one comes: taking it
//! back from the connection's own [`Affinity`] slot needs no search and no contention. Measured
//! with `bench/proxy/cpu_per_request.sh` (see docs/BENCHMARKS.md, "Proxy read path").
//!
//! Rules:
//! - A connection goes back to its slot (or, when the slot is taken, to the pool) as soon as the
//!   response head arrives; it is taken again only when it is ready for a new request, so a
//!   connection still streaming a body is never handed out. Event streams keep theirs to the end.
//! - A request is sent again on another connection only when hyper hands it back unsent (a kept
//!   connection that Marathon had closed meanwhile); once written, never (Marathon may have acted).
//! - The pool keeps at most `upstream.pool_max_idle_per_host` connections per Marathon, each at
//!   most `upstream.pool_idle_timeout_secs`; closed ones are dropped whenever the pool is looked at.
//!   When a client connection ends, its kept connection goes to the pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::body::{BoxError, UpstreamBody};
use crate::coalesce_writes::CoalesceWrites;
use crate::config::UpstreamConfig;

type Sender = http1::SendRequest<UpstreamBody>;

/// Which Marathon a connection goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    scheme: Scheme,
    authority: Authority,
}

impl PoolKey {
    /// The key of an absolute URI (`None` for a relative one, which no configured Marathon is).
    pub fn of(uri: &Uri) -> Option<PoolKey> {
        Some(PoolKey {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
        })
    }

    fn matches(&self, uri: &Uri) -> bool {
        uri.scheme() == Some(&self.scheme) && uri.authority() == Some(&self.authority)
    }

    fn connect_uri(&self) -> Uri {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query("/")
            .build()
            .expect("scheme and authority of a valid URI")
    }
}

/// Why a request did not get an answer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made (nothing was sent).
    Connect(BoxError),
    /// The connection failed after the request was handed to it.
    Broken(hyper::Error),
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// The connector and the connections no client connection keeps.
pub(crate) struct UpstreamPool {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

/// The Marathon connection one client connection keeps between its requests.
pub(crate) struct Affinity {
    pool: Arc<UpstreamPool>,
    kept: Mutex<Option<(PoolKey, Sender)>>,
}

impl Affinity {
    pub fn new(pool: Arc<UpstreamPool>) -> Affinity {
        Affinity { pool, kept: Mutex::new(None) }
    }

    fn take_ready(&self, uri: &Uri) -> Option<Sender> {
        let kept = self.kept.lock().unwrap().take()?;
        let (key, sender) = kept;
        if key.matches(uri) && sender.is_ready() {
            return Some(sender);
        }
        // Busy (a concurrent HTTP/2 stream), closed, or another Marathon: the pool decides.
        self.pool.put_idle(key, sender);
        None
    }

    fn keep(&self, key: PoolKey, sender: Sender) {
        let mut kept = self.kept.lock().unwrap();
        if kept.is_none() {
            *kept = Some((key, sender));
        } else {
            drop(kept);
            self.pool.put_idle(key, sender);
        }
    }
}

impl Drop for Affinity {
    fn drop(&mut self) {
        if let Some((key, sender)) = self.kept.get_mut().unwrap().take() {
            self.pool.put_idle(key, sender);
        }
    }
}

impl UpstreamPool {
    pub fn new(cfg: &UpstreamConfig) -> anyhow::Result<Arc<UpstreamPool>> {
        Ok(Arc::new(UpstreamPool {
            connector: crate::upstream::build_connector(cfg)?,
            idle: Mutex::new(HashMap::new()),
            max_idle_per_host: cfg.pool_max_idle_per_host,
            idle_timeout: Duration::from_secs(cfg.pool_idle_timeout_secs),
        }))
    }

    /// Sends `req` (absolute URI: which Marathon; it goes out in origin form) on the client
    /// connection's kept connection, an idle one, or a new one. `keep`: give the connection back
    /// for the next request once the response head is in (false for event streams).
    pub async fn send(
        &self,
        affinity: &Affinity,
        mut req: Request<UpstreamBody>,
        keep: bool,
    ) -> Result<Response<Incoming>, SendError> {
        let Some(key) = PoolKey::of(req.uri()) else {
            return Err(SendError::Connect(format!("not an absolute URL: {}", req.uri()).into()));
        };
        let target = std::mem::take(req.uri_mut());
        *req.uri_mut() = origin_form(&target);
        loop {
            let reused = affinity.take_ready(&target).or_else(|| self.take_idle(&key));
            let was_reused = reused.is_some();
            let mut sender = match reused {
                Some(s) => s,
                // Boxed: the connect future is most of this one's size, and only a miss needs it.
                None => Box::pin(self.connect(&key)).await.map_err(SendError::Connect)?,
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    if keep {
                        affinity.keep(key, sender);
                    }
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if was_reused => {
                        tracing::debug!("kept Marathon connection was closed; trying another: {}", e.error());
                        req = unsent;
                    }
                    _ => return Err(SendError::Broken(e.into_error())),
                },
            }
        }
    }

    async fn connect(&self, key: &PoolKey) -> Result<Sender, BoxError> {
        let io = self.connector.clone().oneshot(key.connect_uri()).await?;
        let (sender, conn) = http1::Builder::new().handshake(CoalesceWrites::new(io)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("Marathon connection ended: {e}");
            }
        });
        Ok(sender)
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < self.idle_timeout);
        let at = list.iter().position(|i| i.sender.is_ready())?;
        Some(list.swap_remove(at).sender)
    }

    fn put_idle(&self, key: PoolKey, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(key).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(Idle { sender, since: Instant::now() });
        }
    }

    /// Drops idle connections past their time and closed ones.
    fn sweep(&self) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap();
        for list in idle.values_mut() {
            list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < self.idle_timeout);
        }
        idle.retain(|_, list| !list.is_empty());
    }

    /// Number of idle connections in the pool (not counting the ones client connections keep).
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().values().map(Vec::len).sum()
    }

    /// Sweeps the pool until `cancel` or until the pool is gone.
    pub async fn sweep_loop(pool: Weak<UpstreamPool>, cancel: CancellationToken) {
        let every = match pool.upgrade() {
            Some(p) => (p.idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30)),
            None => return,
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match pool.upgrade() {
                Some(p) => p.sweep(),
                None => return,
            }
        }
    }
}

/// `/path?query` of an absolute URI: what an HTTP/1.1 request line carries to an origin server.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

#[cfg(test)]
mod tests;
