//! The phases of a request's life, and the hook through which admission plugs in.
//!
//! Why this shape: modelled on Pingora's `ProxyHttp` trait. The proxy owns the transport (sockets,
//! TLS, pooling, failover, streaming, timeouts); a policy such as admission only needs to be told,
//! at well-defined points, what is going on and be allowed to answer in place of Marathon. Every
//! phase has a default that does nothing, so [`NoPhases`] is a transparent proxy and an
//! implementation overrides only what it needs.
//!
//! Order, for one request (each at most once):
//!
//! 0. [`RequestPhases::route`]: every request, method and path only: its family (metrics label),
//!    whether its body is read in full for phase 2, whether it is the event stream. The default
//!    reads the path as sent and never asks for a body (a transparent proxy).
//! 1. [`RequestPhases::early_request_filter`]: every request, head only, before any body byte is
//!    read. May answer locally (e.g. serve `/admission/...`).
//! 2. [`RequestPhases::request_filter`]: only for requests whose route asks for it
//!    ([`crate::routes::Route::admission_write`]), after the whole body was read (bounded by
//!    `limits.max_write_body_bytes`; a larger body is answered 413 before this phase and nothing
//!    is forwarded). May answer locally ([`Flow::Respond`]), or continue, possibly after
//!    [`RequestCtx::add_warning`].
//! 3. The request goes upstream (leader first, failover on connection errors, 302 from a
//!    non-leader followed when configured). Then exactly one of:
//!    - [`RequestPhases::response_filter`]: Marathon answered; sees status and headers (the body
//!      streams afterwards, untouched). Where a write's 2xx is recorded and a 4xx released.
//!    - [`RequestPhases::upstream_failed`]: no answer (no Marathon reachable, timeout, broken
//!      connection); the client gets a Marathon-shaped 502/504.
//! 4. [`RequestPhases::logging`]: when the response body has been fully sent, or the client went
//!    away, or the upstream broke mid-body; with timings and byte counts.
//!
//! `request_filter` and `upstream_failed` are async and run on the request's task. The phases every
//! request passes through (1, 3a and 4) are synchronous and must not block: a read that only
//! passes through carries no boxed future for them (measured: two allocations of the dozen a
//! proxied `/ping` costs). `logging` runs from the response body's completion (including its
//! `Drop` when a client disconnects), where nothing can be awaited; an implementation that needs
//! IO (an audit file) should hand the record to a channel.
//!
//! Secrets: `Authorization` and cookie headers are visible to the phases (admission may need
//! identity) but must never be logged; the proxy itself never logs a header value. Credentials in
//! a write's query are replaced before the phases see it ([`WriteRequest::uri`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};

use crate::routes::Route;

/// What a filter phase decides.
#[derive(Debug)]
pub enum Flow {
    /// Go on to the next phase (and eventually to Marathon).
    Continue,
    /// Answer the client with this response; nothing is sent to Marathon. Use
    /// [`crate::marathon_error`] for Marathon's error shape.
    Respond(Response<Bytes>),
}

/// Per-request state, created when the request head arrives and handed to every phase.
#[derive(Debug)]
pub struct RequestCtx {
    /// Process-unique, increasing request number (for correlating log lines).
    pub id: u64,
    pub received_at: Instant,
    /// The peer of the client connection (not `X-Forwarded-For`).
    pub client_addr: SocketAddr,
    /// Whether the client came over TLS.
    pub client_tls: bool,
    pub method: Method,
    pub route: Route,
    /// The Marathon that answered (its base URL; [`crate::upstream::display_base`] writes it
    /// for messages), once one did.
    pub upstream: Option<http::Uri>,
    /// When Marathon's response head arrived.
    pub upstream_response_at: Option<Instant>,
    /// Free space for phase implementations to carry state from one phase to the next (e.g. an
    /// in-flight reservation taken in `request_filter` and settled in `response_filter`).
    pub extensions: http::Extensions,
    warnings: Vec<String>,
}

impl RequestCtx {
    /// A context as the proxy creates it when a request head arrives (public for tests of phase
    /// implementations).
    pub fn new(
        id: u64,
        client_addr: SocketAddr,
        client_tls: bool,
        method: Method,
        route: Route,
    ) -> Self {
        RequestCtx {
            id,
            received_at: Instant::now(),
            client_addr,
            client_tls,
            method,
            route,
            upstream: None,
            upstream_response_at: None,
            extensions: http::Extensions::new(),
            warnings: Vec::new(),
        }
    }

    /// Asks for `Warning: 299 - "<text>"` on the response the client eventually gets (Marathon's
    /// response, unchanged otherwise; or a local one). Quotes and backslashes are escaped,
    /// control characters replaced by spaces.
    pub fn add_warning(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// A state-changing write, read in full, as [`RequestPhases::request_filter`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    pub method: &'a Method,
    /// The target as sent, except that the values of query parameters carrying credentials
    /// (`access_token`, `password`, ...: [`crate::redact_query`]) read `%3Credacted%3E`: no phase
    /// holds them, so none can log, audit or store them. Marathon gets the target as sent.
    pub uri: &'a http::Uri,
    pub headers: &'a HeaderMap,
    /// The whole body, exactly as the client sent it (and as it will be forwarded).
    pub body: &'a Bytes,
}

impl<'a> WriteRequest<'a> {
    /// The path as sent (not decoded).
    pub fn path(&self) -> &'a str {
        self.uri.path()
    }
    /// The query string as sent, without `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.uri.query()
    }
}

/// How a request ended, for [`RequestPhases::logging`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The whole response body was handed to the connection.
    Completed,
    /// The client went away before the response body ended (or, for an event stream, closed it).
    ClientGone,
    /// Marathon's response body broke off (connection reset, malformed framing).
    UpstreamBodyError,
    /// The stream was closed because the proxy is shutting down.
    Shutdown,
}

/// What happened to one request; given to [`RequestPhases::logging`].
#[derive(Debug, Clone)]
pub struct RequestSummary {
    pub status: StatusCode,
    /// True when the proxy (or a phase) answered instead of Marathon.
    pub local_response: bool,
    /// Time from the request head to Marathon's response head.
    pub upstream_latency: Option<Duration>,
    /// Time from the request head to the end of the response body.
    pub total: Duration,
    /// Body bytes sent to the client.
    pub response_bytes: u64,
    pub outcome: Outcome,
}

/// Why a request got no answer from Marathon.
#[derive(Debug, Clone)]
pub enum UpstreamFailure {
    /// No Marathon accepted a connection (every candidate tried); `detail` names them.
    Unreachable { detail: String },
    /// Marathon accepted the request but did not answer within `upstream.response_timeout_ms`.
    Timeout { upstream: String, after: Duration },
    /// The connection broke before a response head arrived.
    Broken { upstream: String, detail: String },
}

/// The phases; see the module documentation for their order. All default to "do nothing".
#[async_trait]
pub trait RequestPhases: Send + Sync + 'static {
    /// Phase 0: what this request is, from its method and path as sent. Called for every
    /// request (by the metrics layer and the forwarder): must be cheap and must not block.
    fn route(&self, method: &Method, raw_path: &str) -> Route {
        Route::of_raw_path(method, raw_path)
    }

    /// Phase 1: every request, head only, before any body is read. Synchronous: must not block.
    fn early_request_filter(
        &self,
        _ctx: &mut RequestCtx,
        _head: &http::request::Parts,
    ) -> Flow {
        Flow::Continue
    }

    /// Phase 2: state-changing writes only, with the whole body.
    async fn request_filter(&self, _ctx: &mut RequestCtx, _req: &WriteRequest<'_>) -> Flow {
        Flow::Continue
    }

    /// Phase 3a: Marathon answered (status and headers; hop-by-hop headers already removed).
    /// Called for every forwarded request; check `ctx.route.admission_write` to act on writes
    /// only. The response is never altered except for the `Warning` headers asked for with
    /// [`RequestCtx::add_warning`]. Synchronous: must not block.
    fn response_filter(&self, _ctx: &mut RequestCtx, _resp: &http::response::Parts) {}

    /// Phase 3b: Marathon did not answer. The client gets a Marathon-shaped 502 or 504.
    async fn upstream_failed(&self, _ctx: &mut RequestCtx, _failure: &UpstreamFailure) {}

    /// Phase 4: the request is over. Synchronous: must not block.
    fn logging(&self, _ctx: &RequestCtx, _summary: &RequestSummary) {}

    /// Extra readiness condition for `/readyz` (e.g. "model synced"). `Err(reason)` makes the
    /// admin endpoint answer 503 with the reason.
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }

    /// What `/readyz` adds under `detail` (state that informs without gating readiness); `Null`
    /// adds nothing.
    fn readiness_detail(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Called once when the proxy is bound: add the implementation's metrics to the proxy's
    /// Prometheus registry (served on the admin listener's `/metrics`).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// The transparent proxy: every phase does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPhases;

impl RequestPhases for NoPhases {}

/// Formats one `Warning` header value (RFC 7234 §5.5, code 299, agent `-`).
pub(crate) fn warning_header_value(text: &str) -> http::HeaderValue {
    let mut s = String::with_capacity(text.len() + 10);
    s.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            c if c.is_control() => s.push(' '),
            c if !c.is_ascii() => s.push('?'),
            c => s.push(c),
        }
    }
    s.push('"');
    http::HeaderValue::from_str(&s).unwrap_or_else(|_| http::HeaderValue::from_static("299 - \"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_values_are_escaped() {
        assert_eq!(warning_header_value("near the limit"), "299 - \"near the limit\"");
        assert_eq!(warning_header_value("a \"b\"\n"), "299 - \"a \\\"b\\\" \"");
        assert_eq!(warning_header_value("é"), "299 - \"?\"");
    }
}
