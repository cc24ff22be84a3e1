//! The proxy's own reads of Marathon: the leader poll (`/v2/leader`), and what admission reads
//! (`/v2/info`, `/v2/groups`, the `/v2/events` subscription) and the offline commands fetch.
//!
//! Why one client: it is the one place where what the proxy sends *as itself* is decided (the
//! Marathons tried and their order, leader first; timeouts; TLS, through the shared connector;
//! and, when Marathon requires them, the proxy's own credentials). Forwarded requests never go
//! through it: they carry the client's own headers, and nothing of the proxy's.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use crate::body::UpstreamBody;
use crate::config::{ProxyConfig, UpstreamConfig};
use crate::own_credentials::OwnCredentials;
use crate::upstream::{build_client, display_base, error_chain, target_uri, HttpClient};
use crate::upstreams::{LeaderAnswer, Upstreams};

/// How long a read (`/v2/info`, `/v2/groups`) may take, head and body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a subscription may take to answer with its head.
const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Cheap to clone: clones share the connection pool and what is known of the Marathons.
#[derive(Clone)]
pub struct MarathonClient {
    http: HttpClient,
    credentials: Arc<OwnCredentials>,
    upstreams: Arc<Upstreams>,
    poll_every: Duration,
    poll_timeout: Duration,
}

/// A read that no Marathon answered: each one's error, in the order tried.
#[derive(Debug)]
pub struct ReadError {
    what: String,
    tries: Vec<String>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tries.as_slice() {
            [] => write!(f, "{}: no Marathon configured", self.what),
            tries => write!(f, "{}", tries.join("; ")),
        }
    }
}

impl std::error::Error for ReadError {}

/// Marathon's verdict on a caller's credentials ([`MarathonClient::ask_as_caller`]).
#[derive(Debug, Clone)]
pub enum CallerVerdict {
    /// Marathon answered the caller's read.
    Accepted,
    /// Marathon refused it: 401 (with its `WWW-Authenticate` challenge) or 403.
    Refused { status: http::StatusCode, challenge: Option<http::HeaderValue> },
}

/// Why one Marathon gave no usable answer.
enum TryError {
    /// No connection, or no answer in time: the next Marathon may do better.
    Unreachable(String),
    /// It answered, with an error status or a broken body.
    Answered(String),
    /// It answered 404: it does not hold what was asked for.
    NotHeld,
}

impl TryError {
    fn into_message(self) -> String {
        match self {
            TryError::Unreachable(m) | TryError::Answered(m) => m,
            TryError::NotHeld => "answered 404 Not Found".to_owned(),
        }
    }
}

impl MarathonClient {
    /// The client for `config`'s Marathons and `[upstream]` settings, with the proxy's own
    /// credentials (`[upstream.auth]` and the environment).
    pub fn new(config: &ProxyConfig) -> anyhow::Result<Self> {
        let credentials = config.own_credentials()?;
        Self::with_credentials(config.marathon_uris()?, &config.upstream, credentials)
    }

    /// The client for these Marathons (base URLs, optionally with a path prefix), without
    /// credentials.
    pub fn for_marathons(marathons: Vec<Uri>, upstream: &UpstreamConfig) -> anyhow::Result<Self> {
        Self::with_credentials(marathons, upstream, OwnCredentials::none())
    }

    /// The client for these Marathons, with `credentials` on every request of its own.
    pub fn with_credentials(marathons: Vec<Uri>, upstream: &UpstreamConfig, credentials: OwnCredentials) -> anyhow::Result<Self> {
        if credentials.configured() {
            tracing::info!(credentials = %credentials.describe(), "the proxy's own reads of Marathon authenticate");
        }
        Ok(MarathonClient {
            http: build_client(upstream)?,
            credentials: Arc::new(credentials),
            upstreams: Upstreams::new(marathons),
            poll_every: upstream.leader_poll_interval(),
            poll_timeout: upstream.connect_timeout().max(Duration::from_millis(500)) * 2,
        })
    }

    /// What is known of the Marathons (leader, health, order of attempts).
    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    /// `GET path_and_query` from the first Marathon that answers 2xx, leader first; the body.
    pub async fn get(&self, path_and_query: &str) -> Result<Bytes, ReadError> {
        let mut tries = Vec::new();
        for base in self.upstreams.candidates().iter() {
            match self.get_from(base, path_and_query).await {
                Ok(body) => return Ok(body),
                Err(TryError::Unreachable(e)) => {
                    self.upstreams.mark_unreachable(base);
                    tries.push(format!("{}: {e}", display_base(base)));
                }
                Err(TryError::Answered(e)) => tries.push(format!("{}: {e}", display_base(base))),
                Err(TryError::NotHeld) => tries.push(format!("{}: {path_and_query} answered 404 Not Found", display_base(base))),
            }
        }
        Err(ReadError { what: path_and_query.to_owned(), tries })
    }

    /// `GET path_and_query` for something Marathon may not hold: `None` when a Marathon answers
    /// 404 (it does not hold it), the body when one answers 2xx.
    pub async fn get_if_held(&self, path_and_query: &str) -> Result<Option<Bytes>, ReadError> {
        let mut tries = Vec::new();
        for base in self.upstreams.candidates().iter() {
            match self.get_from(base, path_and_query).await {
                Ok(body) => return Ok(Some(body)),
                Err(TryError::NotHeld) => return Ok(None),
                Err(TryError::Unreachable(e)) => {
                    self.upstreams.mark_unreachable(base);
                    tries.push(format!("{}: {e}", display_base(base)));
                }
                Err(TryError::Answered(e)) => tries.push(format!("{}: {e}", display_base(base))),
            }
        }
        Err(ReadError { what: path_and_query.to_owned(), tries })
    }

    /// Opens a server-sent event subscription (`GET path_and_query`, `Accept: text/event-stream`)
    /// on the first Marathon that accepts it, leader first; that Marathon and the open response.
    pub async fn subscribe(&self, path_and_query: &str) -> Result<(Uri, Response<Incoming>), ReadError> {
        let mut tries = Vec::new();
        for base in self.upstreams.candidates().iter() {
            match self.open_stream(base, path_and_query).await {
                Ok(resp) => return Ok((base.clone(), resp)),
                Err(TryError::Unreachable(e)) => {
                    self.upstreams.mark_unreachable(base);
                    tries.push(format!("{}: {e}", display_base(base)));
                }
                Err(e) => tries.push(format!("{}: {}", display_base(base), e.into_message())),
            }
        }
        Err(ReadError { what: path_and_query.to_owned(), tries })
    }

    /// Asks Marathon (leader first) whether it accepts a caller's credentials: `GET /v2/info` with
    /// the caller's own `Authorization` and `Cookie` headers and nothing of the proxy's. When
    /// Marathon requires no authentication, every caller is accepted.
    pub async fn ask_as_caller(&self, caller: &http::HeaderMap) -> Result<CallerVerdict, ReadError> {
        let mut tries = Vec::new();
        for base in self.upstreams.candidates().iter() {
            match self.ask_as_caller_at(base, caller).await {
                Ok(verdict) => return Ok(verdict),
                Err(e) => tries.push(format!("{}: {e}", display_base(base))),
            }
        }
        Err(ReadError { what: "/v2/info".to_owned(), tries })
    }

    async fn ask_as_caller_at(&self, base: &Uri, caller: &http::HeaderMap) -> Result<CallerVerdict, String> {
        let uri = target_uri(base, Some(&http::uri::PathAndQuery::from_static("/v2/info"))).map_err(|e| e.to_string())?;
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(UpstreamBody::Full(None))
            .map_err(|e| e.to_string())?;
        for name in [http::header::AUTHORIZATION, http::header::COOKIE] {
            for value in caller.get_all(&name) {
                req.headers_mut().append(name.clone(), value.clone());
            }
        }
        let asked = async {
            let resp = self.http.request(req).await.map_err(|e| error_chain(&e))?;
            let status = resp.status();
            let challenge = resp.headers().get(http::header::WWW_AUTHENTICATE).cloned();
            // Drained, so that the connection goes back to the pool.
            let _ = resp.into_body().collect().await;
            match status.as_u16() {
                200..=299 => Ok(CallerVerdict::Accepted),
                401 | 403 => Ok(CallerVerdict::Refused { status, challenge }),
                _ => Err(format!("/v2/info answered {status}")),
            }
        };
        tokio::time::timeout(self.poll_timeout, asked).await.unwrap_or_else(|_| Err(format!("no answer within {:?}", self.poll_timeout)))
    }

    /// One poll of every configured Marathon (and of a named leader outside the list).
    pub async fn poll_leader_once(&self) {
        let configured = self.upstreams.configured();
        let answers = futures_util::future::join_all(configured.iter().map(|u| self.ask_leader(u))).await;
        let leader = self.upstreams.leader_named(&answers);
        let unlisted_leader_up = match &leader {
            Some((l, false)) => self.ask_leader(l).await.is_ok(),
            _ => false,
        };
        self.upstreams.record_poll(&answers, leader, unlisted_leader_up);
    }

    /// Polls until `cancel`, every `upstream.leader_poll_interval_ms`, or sooner when asked.
    pub(crate) async fn run_leader_poll(self, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.poll_leader_once() => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.poll_every) => {}
                _ = self.upstreams.refresh_requested() => {
                    // Coalesce bursts of requests (many failing at once) into one poll.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    async fn ask_leader(&self, base: &Uri) -> Result<LeaderAnswer, String> {
        let asked = async {
            let resp = self.send(base, "/v2/leader", "application/json").await.map_err(TryError::into_message)?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            if !status.is_success() {
                return Ok(LeaderAnswer::NoLeader);
            }
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("/v2/leader: {e}"))?;
            Ok(match v.get("leader").and_then(|l| l.as_str()) {
                Some(l) => LeaderAnswer::Leader(l.to_owned()),
                None => LeaderAnswer::NoLeader,
            })
        };
        match tokio::time::timeout(self.poll_timeout, asked).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.poll_timeout)),
        }
    }

    async fn get_from(&self, base: &Uri, path_and_query: &str) -> Result<Bytes, TryError> {
        let read = async {
            let resp = self.send(base, path_and_query, "application/json").await?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| TryError::Answered(format!("{path_and_query}: the answer broke off: {e}")))?
                .to_bytes();
            if status == http::StatusCode::NOT_FOUND {
                return Err(TryError::NotHeld);
            }
            if !status.is_success() {
                return Err(TryError::Answered(self.refusal(path_and_query, status)));
            }
            Ok(body)
        };
        tokio::time::timeout(READ_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| Err(TryError::Unreachable(format!("{path_and_query}: no answer within {READ_TIMEOUT:?}"))))
    }

    async fn open_stream(&self, base: &Uri, path_and_query: &str) -> Result<Response<Incoming>, TryError> {
        let resp = tokio::time::timeout(STREAM_OPEN_TIMEOUT, self.send(base, path_and_query, "text/event-stream"))
            .await
            .map_err(|_| TryError::Unreachable(format!("{path_and_query}: no answer within {STREAM_OPEN_TIMEOUT:?}")))??;
        if !resp.status().is_success() {
            return Err(TryError::Answered(self.refusal(path_and_query, resp.status())));
        }
        Ok(resp)
    }

    /// "answered 401", and what to do about it when it is about credentials.
    fn refusal(&self, path_and_query: &str, status: http::StatusCode) -> String {
        let hint = match (status.as_u16(), self.credentials.configured()) {
            (401, false) => ": Marathon requires authentication; give the proxy credentials of its own in [upstream.auth]",
            (401, true) => ": Marathon refused the proxy's own credentials ([upstream.auth])",
            (403, _) => ": the proxy's own credentials lack the permission to read this",
            _ => "",
        };
        format!("{path_and_query} answered {status}{hint}")
    }

    /// The one place a request of the proxy's own is built and sent: with the proxy's own
    /// credentials, and once more with fresh ones when Marathon answers 401 (a rotated file, an
    /// expired DC/OS token).
    async fn send(&self, base: &Uri, path_and_query: &str, accept: &'static str) -> Result<Response<Incoming>, TryError> {
        let resp = self.send_once(base, path_and_query, accept).await?;
        if resp.status() != http::StatusCode::UNAUTHORIZED || !self.credentials.configured() {
            return Ok(resp);
        }
        self.credentials.refused().await;
        self.send_once(base, path_and_query, accept).await
    }

    async fn send_once(&self, base: &Uri, path_and_query: &str, accept: &'static str) -> Result<Response<Incoming>, TryError> {
        let uri = path_and_query
            .parse()
            .map_err(http::Error::from)
            .and_then(|pq| target_uri(base, Some(&pq)))
            .map_err(|e| TryError::Answered(format!("{path_and_query}: {e}")))?;
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, accept)
            .body(UpstreamBody::Full(None))
            .map_err(|e| TryError::Answered(format!("{path_and_query}: {e}")))?;
        // A credential that cannot be had (a missing file, a refused DC/OS login) says nothing
        // about whether this Marathon is reachable.
        let authorization = self.credentials.authorization(&self.http).await.map_err(|e| TryError::Answered(format!("{e:#}")))?;
        if let Some(authorization) = authorization {
            req.headers_mut().insert(http::header::AUTHORIZATION, authorization);
        }
        self.http.request(req).await.map_err(|e| TryError::Unreachable(error_chain(&e)))
    }
}

#[cfg(test)]
mod tests;
