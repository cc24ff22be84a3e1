//! The request path: phases, bounded read of writes, forwarding with failover, timeouts,
//! redirects from non-leaders, and the shape of the proxy's own error answers.
//!
//! Why it is the one place that knows the order of a request's life: admission (and anything
//! after it) must be able to rely on it. See [`crate::phases`] for the order as the phases see
//! it. What is *not* here: hop-by-hop headers, `X-Forwarded-*` and metrics counting, which are
//! tower layers around this service (see [`crate::stack`]).
//!
//! Refused at once, before any phase: `CONNECT` (405). A write's target reaches the phases with the
//! values of credential query parameters replaced ([`crate::redact_query`]); Marathon gets it as sent.
//!
//! Failover rules: a request is sent again to the next Marathon only when the previous one could
//! not be connected to (nothing was sent) and its body is known in full (writes are buffered, most
//! reads have no body). A streamed body goes to one Marathon only. A timeout after the request was
//! sent is never retried (Marathon may have acted): the client gets 504.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use crate::body::{BoxError, Finish, Kind, ProxyBody, UpstreamBody};
use crate::config::ProxyConfig;
use crate::relay_event_stream::EventsBody;
use crate::forwarded_headers::ClientInfo;
use crate::hop_by_hop::strip_hop_by_hop;
use crate::marathon_client::MarathonClient;
use crate::upstreams::Upstreams;
use crate::marathon_error::marathon_error;
use crate::metrics::Metrics;
use crate::phases::{warning_header_value, Flow, RequestCtx, RequestPhases, UpstreamFailure, WriteRequest};
use crate::read_bounded_body::{read_bounded, BodyReadError};
use crate::rewrite_marathon_addresses::{self, public_base, X_MARATHON_LEADER};
use crate::upstream::{display_base, error_chain, target_uri};
use crate::upstream_pool::{Affinity, SendError, UpstreamPool};

const MAX_REDIRECTS: usize = 3;

/// Settings the request path reads, copied out of [`ProxyConfig`].
#[derive(Debug, Clone)]
pub(crate) struct ForwardSettings {
    pub response_timeout: Duration,
    pub follow_leader_redirects: bool,
    pub preserve_host: bool,
    pub max_write_body_bytes: u64,
    pub client_body_timeout: Duration,
    pub rewrite_marathon_addresses: bool,
    pub public_url: Option<String>,
    pub tls_listener: bool,
}

impl ForwardSettings {
    pub fn from_config(c: &ProxyConfig) -> Self {
        ForwardSettings {
            response_timeout: c.upstream.response_timeout(),
            follow_leader_redirects: c.upstream.follow_leader_redirects,
            preserve_host: c.upstream.preserve_host,
            max_write_body_bytes: c.limits.max_write_body_bytes,
            client_body_timeout: Duration::from_millis(c.limits.client_body_timeout_ms),
            rewrite_marathon_addresses: c.upstream.rewrite_marathon_addresses,
            public_url: c.listener.public_url.clone(),
            tls_listener: c.listener.tls.is_some(),
        }
    }
}

pub(crate) struct Shared {
    pub phases: Arc<dyn RequestPhases>,
    pub upstreams: Arc<Upstreams>,
    /// The proxy's own reads; its leader poll runs with the proxy (forwarded requests use `pool`).
    pub marathon: MarathonClient,
    /// Forwarded requests' connections to Marathon.
    pub pool: Arc<UpstreamPool>,
    pub metrics: Arc<Metrics>,
    pub settings: ForwardSettings,
    pub cancel: CancellationToken,
    pub next_id: AtomicU64,
}

/// The innermost service: takes a request of one client connection and produces the client's
/// response. Never fails: every problem becomes a Marathon-shaped response.
#[derive(Clone)]
pub struct ProxyService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: ClientInfo,
    /// The Marathon connection this client connection keeps between requests.
    pub(crate) affinity: Arc<Affinity>,
}

enum ReqBody {
    Replayable(Bytes),
    Streaming(UpstreamBody),
}

impl<B> tower::Service<Request<B>> for ProxyService
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let client = self.client;
        let affinity = self.affinity.clone();
        Box::pin(async move { Ok(shared.handle(req, client, affinity).await) })
    }
}

impl Shared {
    async fn handle<B>(
        self: Arc<Self>,
        req: Request<B>,
        client: ClientInfo,
        affinity: Arc<Affinity>,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        // Classified again rather than handed down from the metrics layer in the request's
        // extensions: without allocation, it costs less than the extensions map would.
        let route = self.phases.route(&parts.method, parts.uri.path());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut ctx = RequestCtx::new(id, client.addr, client.tls, parts.method.clone(), route);

        if parts.method == Method::CONNECT {
            return self.local(ctx, refuse_connect());
        }
        if let Flow::Respond(r) = self.phases.early_request_filter(&mut ctx, &parts) {
            return self.local(ctx, r);
        }

        let body = if route.admission_write {
            // Boxed, so that the future of every read (most requests) does not carry the space
            // that reading and judging a write needs.
            match Box::pin(self.read_and_filter_write(&mut ctx, &parts, body)).await {
                Ok(bytes) => ReqBody::Replayable(bytes),
                Err(local) => return self.local(ctx, local),
            }
        } else if body.is_end_stream() {
            ReqBody::Replayable(Bytes::new())
        } else {
            ReqBody::Streaming(UpstreamBody::Stream(
                body.map_err(Into::into).boxed_unsync(),
            ))
        };

        self.forward(ctx, parts, body, &affinity).await
    }

    /// Reads a write's body (bounded) and runs the `request_filter` phase on it: the body to
    /// send, or the answer to give instead.
    async fn read_and_filter_write<B>(
        &self,
        ctx: &mut RequestCtx,
        parts: &http::request::Parts,
        body: B,
    ) -> Result<Bytes, Response<Bytes>>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let s = &self.settings;
        match read_bounded(body, &parts.headers, s.max_write_body_bytes, s.client_body_timeout).await {
            Ok(bytes) => {
                // Phases see the target without credentials in its query (see `redact_query`).
                let uri = crate::redact_query::redact_uri(&parts.uri);
                let wr = WriteRequest {
                    method: &parts.method,
                    uri: &uri,
                    headers: &parts.headers,
                    body: &bytes,
                };
                match self.phases.request_filter(ctx, &wr).await {
                    Flow::Respond(r) => Err(r),
                    Flow::Continue => Ok(bytes),
                }
            }
            Err(BodyReadError::TooLarge { limit, announced }) => {
                let size = match announced {
                    Some(n) => format!("{n} bytes"),
                    None => format!("more than {limit} bytes"),
                };
                let msg = format!(
                    "Request body too large: {size}. The admission proxy in front of Marathon \
                     reads at most {limit} bytes of a deployment request (limits.max_write_body_bytes); \
                     nothing was sent to Marathon."
                );
                Err(marathon_error(StatusCode::PAYLOAD_TOO_LARGE, msg))
            }
            Err(BodyReadError::Timeout(after)) => {
                let msg = format!("Request body not received within {after:?}; nothing was sent to Marathon.");
                Err(marathon_error(StatusCode::REQUEST_TIMEOUT, msg))
            }
            Err(BodyReadError::Broken(e)) => {
                tracing::debug!(id = ctx.id, "client request body broke off: {e}");
                let msg = format!("Request body incomplete ({e}); nothing was sent to Marathon.");
                Err(marathon_error(StatusCode::BAD_REQUEST, msg))
            }
        }
    }

    fn build_request(
        &self,
        parts: &http::request::Parts,
        uri: Uri,
        body: UpstreamBody,
    ) -> Request<UpstreamBody> {
        let mut headers = parts.headers.clone();
        // The client's Host when preserved (or, from an HTTP/2 client, its :authority); else, and
        // when the client sent neither, Marathon's own: an HTTP/1.1 request must carry one.
        let client_host = self.settings.preserve_host
            && (headers.contains_key(header::HOST) || set_host(&mut headers, parts.uri.authority()));
        if !client_host {
            set_host(&mut headers, uri.authority());
        }
        let mut req = Request::new(body);
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = headers;
        req
    }

    /// Sends on the client connection's Marathon connection (event streams keep theirs), within
    /// `timeout` when there is one. `Ok(Err(_))`: no answer; `Err(after)`: timed out.
    async fn send(
        &self,
        affinity: &Affinity,
        req: Request<UpstreamBody>,
        timeout: Option<Duration>,
        event_stream: bool,
    ) -> Result<Result<Response<Incoming>, SendError>, Duration> {
        let fut = self.pool.send(affinity, req, !event_stream);
        let res = match timeout {
            None => fut.await,
            Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| t)?,
        };
        Ok(res)
    }

    async fn forward(
        self: Arc<Self>,
        mut ctx: RequestCtx,
        parts: http::request::Parts,
        body: ReqBody,
        affinity: &Affinity,
    ) -> Response<ProxyBody> {
        let candidates = self.upstreams.candidates();
        let (replay, mut streaming) = match body {
            ReqBody::Replayable(b) => (Some(b), None),
            ReqBody::Streaming(s) => (None, Some(s)),
        };
        let timeout = (!ctx.route.event_stream).then_some(self.settings.response_timeout);
        let mut failures: Vec<String> = Vec::new();
        let mut next = 0usize;
        let mut redirect: Option<Uri> = None;
        let mut redirects = 0usize;

        loop {
            // Where to: a redirect target, or the next candidate.
            let (base, uri) = match redirect.take() {
                Some(target) => (target.clone(), target),
                None => {
                    let Some(base) = candidates.get(next).cloned() else { break };
                    next += 1;
                    match target_uri(&base, parts.uri.path_and_query()) {
                        Ok(u) => (base, u),
                        Err(e) => {
                            return self.local(ctx, marathon_error(StatusCode::BAD_REQUEST, format!("bad request target: {e}")));
                        }
                    }
                }
            };
            let up_body = match (&replay, streaming.take()) {
                (Some(b), _) => UpstreamBody::full(b.clone()),
                (None, Some(s)) => s,
                (None, None) => break, // a streamed body cannot be sent twice
            };
            let req = self.build_request(&parts, uri, up_body);
            let started = Instant::now();
            match self.send(affinity, req, timeout, ctx.route.event_stream).await {
                Ok(Ok(resp)) => {
                    let latency = started.elapsed();
                    self.metrics.observe_upstream_latency(ctx.route.class, latency);
                    if self.settings.follow_leader_redirects
                        && replay.is_some()
                        && redirects < MAX_REDIRECTS
                        && matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308)
                    {
                        if let Some(target) = self.redirect_target(&resp, &base) {
                            tracing::debug!(id = ctx.id, to = %display_base(&target), "following a non-leader's redirect");
                            self.metrics.upstream_error("redirect");
                            self.upstreams.request_refresh();
                            redirects += 1;
                            redirect = Some(target);
                            continue;
                        }
                    }
                    self.upstreams.mark_answered(&base);
                    if let Some(v) = resp.headers().get(&X_MARATHON_LEADER) {
                        self.upstreams.observe_leader_header(v);
                    }
                    let public = self
                        .settings
                        .rewrite_marathon_addresses
                        .then(|| public_base(self.settings.public_url.as_deref(), self.settings.tls_listener, &parts))
                        .flatten();
                    return self.upstream_response(ctx, resp, &base, started, latency, public.as_deref());
                }
                Ok(Err(SendError::Connect(e))) => {
                    self.metrics.upstream_error("connect");
                    let detail = error_chain(&*e);
                    tracing::warn!(id = ctx.id, upstream = %display_base(&base), "cannot connect to Marathon: {detail}");
                    self.upstreams.mark_unreachable(&base);
                    failures.push(format!("{}: {detail}", display_base(&base)));
                    continue;
                }
                Err(after) => {
                    self.metrics.upstream_error("timeout");
                    let up = display_base(&base);
                    tracing::warn!(id = ctx.id, upstream = %up, "Marathon did not answer within {after:?}");
                    let failure = UpstreamFailure::Timeout { upstream: up.clone(), after };
                    self.phases.upstream_failed(&mut ctx, &failure).await;
                    let msg = format!(
                        "Marathon at {up} did not answer within {} ms (upstream.response_timeout_ms of the admission proxy). \
                         The request may or may not have been applied: check before retrying.",
                        after.as_millis()
                    );
                    return self.local(ctx, marathon_error(StatusCode::GATEWAY_TIMEOUT, msg));
                }
                Ok(Err(SendError::Broken(e))) => {
                    self.metrics.upstream_error("broken");
                    let up = display_base(&base);
                    let detail = error_chain(&e);
                    tracing::warn!(id = ctx.id, upstream = %up, "Marathon connection failed: {detail}");
                    let failure = UpstreamFailure::Broken { upstream: up.clone(), detail: detail.clone() };
                    self.phases.upstream_failed(&mut ctx, &failure).await;
                    let msg = format!("Marathon at {up} closed the connection without an answer: {detail}");
                    return self.local(ctx, marathon_error(StatusCode::BAD_GATEWAY, msg));
                }
            }
        }

        let detail = if failures.is_empty() {
            "no Marathon configured".to_owned()
        } else {
            failures.join("; ")
        };
        let failure = UpstreamFailure::Unreachable { detail: detail.clone() };
        self.phases.upstream_failed(&mut ctx, &failure).await;
        let msg = format!("No Marathon reachable through the admission proxy: {detail}");
        self.local(ctx, marathon_error(StatusCode::BAD_GATEWAY, msg))
    }

    /// An absolute `Location` naming another known Marathon.
    fn redirect_target(&self, resp: &Response<Incoming>, asked: &Uri) -> Option<Uri> {
        let loc = resp.headers().get(header::LOCATION)?.to_str().ok()?;
        let target: Uri = loc.parse().ok()?;
        target.authority()?;
        if crate::upstream::same_authority(&target, asked) || !self.upstreams.known(&target) {
            return None;
        }
        Some(target)
    }

    fn upstream_response(
        &self,
        mut ctx: RequestCtx,
        resp: Response<Incoming>,
        base: &Uri,
        sent_at: Instant,
        latency: Duration,
        public: Option<&str>,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(public) = public {
            rewrite_marathon_addresses::rewrite(&mut parts.headers, &self.upstreams, public);
        }
        ctx.upstream = Some(base.clone());
        ctx.upstream_response_at = Some(sent_at + latency);
        self.phases.response_filter(&mut ctx, &parts);
        for w in ctx.warnings() {
            parts.headers.append(header::WARNING, warning_header_value(w));
        }
        let kind = if ctx.route.event_stream && parts.status.is_success() {
            Kind::Events(EventsBody::new(
                body,
                self.metrics.open_streams.clone(),
                self.cancel.clone(),
            ))
        } else {
            Kind::Upstream(body)
        };
        let status = parts.status;
        let finish = Finish {
            phases: self.phases.clone(),
            metrics: self.metrics.clone(),
            ctx,
            status,
            local: false,
            upstream_latency: Some(latency),
        };
        Response::from_parts(parts, ProxyBody::new(kind, Some(finish)))
    }

    /// A response made here (by the proxy or a phase).
    fn local(&self, ctx: RequestCtx, resp: Response<Bytes>) -> Response<ProxyBody> {
        let (mut parts, body) = resp.into_parts();
        for w in ctx.warnings() {
            parts.headers.append(header::WARNING, warning_header_value(w));
        }
        if !parts.headers.contains_key(header::CONTENT_LENGTH) {
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        let finish = Finish {
            phases: self.phases.clone(),
            metrics: self.metrics.clone(),
            ctx,
            status: parts.status,
            local: true,
            upstream_latency: None,
        };
        let kind = Kind::Full((!body.is_empty()).then_some(body));
        Response::from_parts(parts, ProxyBody::new(kind, Some(finish)))
    }
}

/// The answer to `CONNECT`: at once, in Marathon's error shape. Marathon's API has no use for a
/// tunnel, and forwarding one would hold the connection until Marathon gave up on it.
fn refuse_connect() -> Response<Bytes> {
    let mut resp = marathon_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "CONNECT is not supported: marathon-admission is a reverse proxy for Marathon's REST API, not a \
         forward proxy or a tunnel; nothing was sent to Marathon.",
    );
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"));
    resp
}

/// Sets `Host` to `authority`; false when there is none (or it is not a valid header value).
fn set_host(headers: &mut http::HeaderMap, authority: Option<&http::uri::Authority>) -> bool {
    match authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
        Some(v) => {
            headers.insert(header::HOST, v);
            true
        }
        None => false,
    }
}
