//! Removes hop-by-hop headers (RFC 9110 §7.6.1) from requests and responses.
//!
//! Why: those headers describe one connection (client <-> proxy, proxy <-> Marathon), not the
//! message; forwarding them would, for instance, pass Marathon's `Connection: close` on the event
//! stream to the client, or a client's `Transfer-Encoding` to an upstream connection that frames
//! the body differently. Removed: `Connection` and every header it names, `Keep-Alive`,
//! `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`,
//! `Proxy-Authorization` (the latter two address this proxy, not Marathon). Everything else,
//! `Authorization` and cookies included, passes untouched. hyper re-frames bodies itself.

use futures_util::future::{MapOk, TryFutureExt};
use http::header::{self, HeaderName};
use http::{HeaderMap, Request, Response};
use std::task::{Context, Poll};

const ALWAYS: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Strips hop-by-hop headers in place.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Runs on every request and, twice, on every response (before the phases see it, and in the
    // layer); most messages carry none: one pass over the few names present costs less than a
    // hashed lookup for each of the eight (and `Connection`, which names the others, is one).
    if !headers.keys().any(|name| ALWAYS.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|s| s.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in ALWAYS.iter() {
        headers.remove(name);
    }
}

#[derive(Clone, Copy, Default)]
pub struct HopByHopLayer;

impl<S> tower::Layer<S> for HopByHopLayer {
    type Service = HopByHop<S>;
    fn layer(&self, inner: S) -> Self::Service {
        HopByHop { inner }
    }
}

#[derive(Clone)]
pub struct HopByHop<S> {
    inner: S,
}

fn strip_response<B>(mut resp: Response<B>) -> Response<B> {
    strip_hop_by_hop(resp.headers_mut());
    resp
}

impl<S, B, RB> tower::Service<Request<B>> for HopByHop<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = MapOk<S::Future, fn(Response<RB>) -> Response<RB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        strip_hop_by_hop(req.headers_mut());
        self.inner
            .call(req)
            .map_ok(strip_response as fn(Response<RB>) -> Response<RB>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_each_standard_header_without_a_connection_header() {
        for name in ALWAYS.iter().skip(1) {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), "x".parse().unwrap());
            h.insert("x-marathon-leader", "http://m:8080".parse().unwrap());
            strip_hop_by_hop(&mut h);
            let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(left, ["x-marathon-leader"], "{name}");
        }
    }

    #[test]
    fn strips_standard_and_listed_headers_only() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, X-Secret-Hop".parse().unwrap());
        h.append("connection", "Upgrade".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("upgrade", "h2c".parse().unwrap());
        h.insert("proxy-authorization", "Basic x".parse().unwrap());
        h.insert("authorization", "Bearer t".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        h.insert("x-marathon-leader", "http://m:8080".parse().unwrap());
        h.insert("content-length", "3".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str().to_owned()).collect();
        left.sort();
        assert_eq!(
            left,
            vec!["authorization", "content-length", "cookie", "x-marathon-leader"]
        );
    }
}
