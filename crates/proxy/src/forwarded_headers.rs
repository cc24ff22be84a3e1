//! Adds `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` to requests.
//!
//! Why: Marathon logs and its `api_post_event.clientIp` would otherwise show the proxy, and a
//! Marathon that builds absolute URLs needs the original host and scheme. `X-Forwarded-For` is
//! appended to (a chain of proxies keeps its history); `-Proto` and `-Host` describe the hop that
//! reached this proxy and are set. Runs after hop-by-hop stripping, so a client cannot make us
//! drop these by naming them in `Connection`.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::Request;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The client connection a request came on; the listener builds the stack of each connection with
/// it (see [`crate::stack`]), so no request carries it in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// What a client connection's requests say about it: its address as a header value, written
/// once when the connection is accepted rather than formatted on every request, and its scheme.
#[derive(Clone)]
pub struct ForwardedFor {
    ip: HeaderValue,
    proto: HeaderValue,
}

impl ForwardedFor {
    pub fn new(client: &ClientInfo) -> Self {
        let ip = HeaderValue::try_from(client.addr.ip().to_string()).expect("an IP address is a valid header value");
        let proto = HeaderValue::from_static(if client.tls { "https" } else { "http" });
        ForwardedFor { ip, proto }
    }

    /// Adds the three headers in place.
    pub fn add_to<B>(&self, req: &mut Request<B>) {
        let xff = self.chain(req.headers());
        let host = req.headers().get(header::HOST).cloned().or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let headers = req.headers_mut();
        headers.insert(X_FORWARDED_FOR.clone(), xff);
        headers.insert(X_FORWARDED_PROTO.clone(), self.proto.clone());
        match host {
            Some(h) => {
                headers.insert(X_FORWARDED_HOST.clone(), h);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }

    /// `X-Forwarded-For`: the chain the request came with, then the client's address.
    fn chain(&self, headers: &http::HeaderMap) -> HeaderValue {
        let mut earlier = headers.get_all(&X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).peekable();
        if earlier.peek().is_none() {
            return self.ip.clone();
        }
        let mut xff = String::with_capacity(64);
        for s in earlier {
            xff.push_str(s);
            xff.push_str(", ");
        }
        xff.push_str(self.ip.to_str().unwrap_or_default());
        HeaderValue::from_maybe_shared(Bytes::from(xff)).unwrap_or_else(|_| self.ip.clone())
    }
}

/// Adds the headers for the requests of one client connection.
#[derive(Clone)]
pub struct ForwardedHeadersLayer {
    client: ForwardedFor,
}

impl ForwardedHeadersLayer {
    pub fn new(client: ClientInfo) -> Self {
        ForwardedHeadersLayer {
            client: ForwardedFor::new(&client),
        }
    }
}

impl<S> tower::Layer<S> for ForwardedHeadersLayer {
    type Service = ForwardedHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ForwardedHeaders {
            inner,
            client: self.client.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ForwardedHeaders<S> {
    inner: S,
    client: ForwardedFor,
}

impl<S, B> tower::Service<Request<B>> for ForwardedHeaders<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        self.client.add_to(&mut req);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(tls: bool) -> ClientInfo {
        ClientInfo {
            addr: "10.1.2.3:5555".parse().unwrap(),
            tls,
        }
    }

    #[test]
    fn adds_all_three() {
        let mut req = Request::get("/v2/apps")
            .header("host", "marathon.example:8081")
            .body(())
            .unwrap();
        ForwardedFor::new(&client(false)).add_to(&mut req);
        assert_eq!(req.headers()["x-forwarded-for"], "10.1.2.3");
        assert_eq!(req.headers()["x-forwarded-proto"], "http");
        assert_eq!(req.headers()["x-forwarded-host"], "marathon.example:8081");
    }

    #[test]
    fn an_ipv6_client_without_a_chain() {
        let mut req = Request::get("/ping").body(()).unwrap();
        let v6 = ClientInfo { addr: "[::1]:5555".parse().unwrap(), tls: false };
        ForwardedFor::new(&v6).add_to(&mut req);
        assert_eq!(req.headers()["x-forwarded-for"], "::1");
        assert!(req.headers().get("x-forwarded-host").is_none());
    }

    #[test]
    fn appends_to_an_existing_chain_and_uses_h2_authority() {
        let mut req = Request::get("https://m.example/v2/apps")
            .header("x-forwarded-for", "1.1.1.1")
            .header("x-forwarded-proto", "http")
            .body(())
            .unwrap();
        req.headers_mut()
            .append("x-forwarded-for", "2.2.2.2".parse().unwrap());
        ForwardedFor::new(&client(true)).add_to(&mut req);
        assert_eq!(req.headers()["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
        assert_eq!(req.headers()["x-forwarded-host"], "m.example");
    }
}
