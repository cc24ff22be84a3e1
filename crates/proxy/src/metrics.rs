//! Prometheus metrics and the tower layer that counts requests and body bytes.
//!
//! Why a layer: counting is cross-cutting; it must see every request, including the ones the
//! proxy answers itself, without the forwarding code having to remember it. Label values are
//! bounded (method normalised, route class, status code): never a path, never a header.
//!
//! Families (prefix `marathon_admission_proxy_`):
//! - `requests_total{method,route,status}`: responses sent, by status.
//! - `upstream_response_seconds{route}`: histogram, request sent to Marathon -> response head.
//! - `request_body_bytes_total`, `response_body_bytes_total`: body bytes in from clients, out to
//!   clients.
//! - `open_streams`: event streams currently open.
//! - `upstream_errors_total{kind}`: connect, timeout, broken, body, redirect.
//! - `leader_changes_total`, `upstream_up{upstream}`.
//! - `client_connections{listener}`: open client connections (`proxy` or `admin` listener);
//!   `client_connections_refused_total{listener}`: connections answered 503 and closed at the cap;
//!   `client_head_timeouts_total{listener}`: connections closed because their first request head
//!   (TLS handshake included) did not arrive within `[listener] header_read_timeout_ms`.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::phases::RequestPhases;
use crate::routes::{Route, RouteClass};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// `proxy` or `admin`.
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms .. ~16 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 17))
}

/// All the proxy's metrics, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub upstream_latency: HistogramFamily,
    pub request_bytes: Counter,
    pub response_bytes: Counter,
    pub open_streams: Gauge,
    pub upstream_errors: Family<ErrorLabels, Counter>,
    pub client_connections: Family<ListenerLabels, Gauge>,
    pub client_connections_refused: Family<ListenerLabels, Counter>,
    pub client_head_timeouts: Family<ListenerLabels, Counter>,
    /// `upstream_latency`'s histogram of each route class, once it exists (a clone shares the
    /// family's series): observing on every request skips the family's lock and label hashing.
    latency_by_route: [OnceLock<Histogram>; RouteClass::COUNT],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("marathon_admission_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let upstream_latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let request_bytes = Counter::default();
        let response_bytes = Counter::default();
        let open_streams = Gauge::default();
        let upstream_errors = Family::<ErrorLabels, Counter>::default();
        let client_connections = Family::<ListenerLabels, Gauge>::default();
        let client_connections_refused = Family::<ListenerLabels, Counter>::default();
        let client_head_timeouts = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "requests",
            "Responses sent to clients, by method, route class and status",
            requests.clone(),
        );
        registry.register(
            "upstream_response_seconds",
            "Time from sending a request to Marathon to its response head",
            upstream_latency.clone(),
        );
        registry.register(
            "request_body_bytes",
            "Request body bytes received from clients",
            request_bytes.clone(),
        );
        registry.register(
            "response_body_bytes",
            "Response body bytes sent to clients",
            response_bytes.clone(),
        );
        registry.register(
            "open_streams",
            "Event streams (/v2/events) currently open",
            open_streams.clone(),
        );
        registry.register(
            "upstream_errors",
            "Failures talking to Marathon, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "client_connections",
            "Client connections open, by listener (proxy, admin)",
            client_connections.clone(),
        );
        registry.register(
            "client_connections_refused",
            "Client connections answered 503 and closed because the listener's connection limit was reached",
            client_connections_refused.clone(),
        );
        registry.register(
            "client_head_timeouts",
            "Client connections closed because their first request head did not arrive within [listener] header_read_timeout_ms",
            client_head_timeouts.clone(),
        );
        Metrics {
            registry,
            requests,
            upstream_latency,
            request_bytes,
            response_bytes,
            open_streams,
            upstream_errors,
            client_connections,
            client_connections_refused,
            client_head_timeouts,
            latency_by_route: Default::default(),
        }
    }

    /// Records the time from sending a request to Marathon to its response head.
    pub fn observe_upstream_latency(&self, route: RouteClass, latency: Duration) {
        self.latency_by_route[route.index()]
            .get_or_init(|| {
                self.upstream_latency
                    .get_or_create(&RouteLabels { route: route.as_str() })
                    .clone()
            })
            .observe(latency.as_secs_f64());
    }

    /// The registry, for families registered by others (see
    /// [`crate::RequestPhases::register_metrics`]) before the metrics are shared.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors.get_or_create(&ErrorLabels { kind }).inc();
    }
}

/// A bounded label for a method.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests and body bytes, by route class (classified here for the labels; the forwarder
/// classifies on its own).
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
    phases: Arc<dyn RequestPhases>,
}

impl MetricsLayer {
    /// `phases` say what each request is ([`RequestPhases::route`]), for the `route` label.
    pub fn new(metrics: Arc<Metrics>, phases: Arc<dyn RequestPhases>) -> Self {
        MetricsLayer { metrics, phases }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
            phases: self.phases.clone(),
        }
    }
}

#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    phases: Arc<dyn RequestPhases>,
}

impl<S, B, RB> tower::Service<Request<B>> for MetricsService<S>
where
    S: tower::Service<Request<CountingBody<B>>, Response = Response<RB>>,
    S::Future: Unpin,
{
    type Response = Response<CountingBody<RB>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = self.phases.route(req.method(), req.uri().path());
        let method = method_label(req.method());
        let (parts, body) = req.into_parts();
        let body = CountingBody::new(body, self.metrics.request_bytes.clone());
        MetricsFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            method,
            route,
            metrics: self.metrics.clone(),
        }
    }
}

pub struct MetricsFuture<F> {
    inner: F,
    method: &'static str,
    route: Route,
    metrics: Arc<Metrics>,
}

impl<F, RB, E> std::future::Future for MetricsFuture<F>
where
    F: std::future::Future<Output = Result<Response<RB>, E>> + Unpin,
{
    type Output = Result<Response<CountingBody<RB>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(resp)) => {
                this.metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        method: this.method,
                        route: this.route.class.as_str(),
                        status: resp.status().as_u16(),
                    })
                    .inc();
                let counter = this.metrics.response_bytes.clone();
                Poll::Ready(Ok(resp.map(|b| CountingBody::new(b, counter))))
            }
        }
    }
}

/// A body that adds the length of every data frame to a counter.
pub struct CountingBody<B> {
    inner: B,
    counter: Counter,
}

impl<B> CountingBody<B> {
    pub fn new(inner: B, counter: Counter) -> Self {
        CountingBody { inner, counter }
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &res {
            if let Some(d) = frame.data_ref() {
                this.counter.inc_by(d.len() as u64);
            }
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
