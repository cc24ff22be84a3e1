//! The tower stack of the proxy listener, outermost first:
//!
//! 1. [`MetricsLayer`]: asks the phases for the route, counts the response by method/route/status and
//!    body bytes both ways (sees local answers too).
//! 2. [`HopByHopLayer`]: strips hop-by-hop headers from the request, and from the response.
//! 3. [`ForwardedHeadersLayer`]: adds `X-Forwarded-*` (after stripping, so they always survive).
//! 4. [`ProxyService`]: phases and forwarding.
//!
//! Why tower: each concern is a small service of its own, testable alone, and the order is
//! written down in one place.
//!
//! One stack per client connection, built when it is accepted: the connection's [`ClientInfo`]
//! (peer address, TLS) and the Marathon connection it keeps between requests
//! ([`crate::upstream_pool::Affinity`]) are part of the stack rather than of each request's
//! extensions, and the layers pass nothing else through extensions either (the forwarder
//! classifies the route itself, which costs less than a map in every request's extensions).

use std::sync::Arc;

use tower::ServiceBuilder;

use crate::forward::{ProxyService, Shared};
use crate::forwarded_headers::{ClientInfo, ForwardedHeadersLayer};
use crate::hop_by_hop::HopByHopLayer;
use crate::metrics::MetricsLayer;
use crate::upstream_pool::Affinity;

/// Builds the stack around the forwarder, for one client connection.
pub(crate) fn build(
    shared: Arc<Shared>,
    client: ClientInfo,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<
        crate::metrics::CountingBody<crate::body::ProxyBody>,
    >,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let metrics = shared.metrics.clone();
    let affinity = Arc::new(Affinity::new(shared.pool.clone()));
    ServiceBuilder::new()
        .layer(MetricsLayer::new(metrics, shared.phases.clone()))
        .layer(HopByHopLayer)
        .layer(ForwardedHeadersLayer::new(client))
        .service(ProxyService { shared, client, affinity })
}
