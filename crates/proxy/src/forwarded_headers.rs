//! Adds `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` to requests.
//!
//! Why: Marathon logs and its `api_post_event.clientIp` would otherwise show the proxy, and a
//! Marathon that builds absolute URLs needs the original host and scheme. `X-Forwarded-For` is
//! appended to (a chain of proxies keeps its history); `-Proto` and `-Host` describe the hop that
//! reached this proxy and are set. Runs after hop-by-hop stripping, so a client cannot make us
//! drop these by naming them in `Connection`.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use http::header::{self, HeaderName, HeaderValue};
use http::Request;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The client connection a request came on; put in the request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// Adds the three headers in place.
pub fn add_forwarded_headers<B>(req: &mut Request<B>, client: &ClientInfo) {
    let ip = client.addr.ip().to_string();
    let xff = {
        let previous: Vec<&str> = req
            .headers()
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if previous.is_empty() {
            ip
        } else {
            format!("{}, {ip}", previous.join(", "))
        }
    };
    let host = req
        .headers()
        .get(header::HOST)
        .cloned()
        .or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
    let headers = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if client.tls { "https" } else { "http" }),
    );
    match host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST.clone(), h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
}

#[derive(Clone, Copy, Default)]
pub struct ForwardedHeadersLayer;

impl<S> tower::Layer<S> for ForwardedHeadersLayer {
    type Service = ForwardedHeaders<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ForwardedHeaders { inner }
    }
}

#[derive(Clone)]
pub struct ForwardedHeaders<S> {
    inner: S,
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
        if let Some(client) = req.extensions().get::<ClientInfo>().copied() {
            add_forwarded_headers(&mut req, &client);
        }
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
        add_forwarded_headers(&mut req, &client(false));
        assert_eq!(req.headers()["x-forwarded-for"], "10.1.2.3");
        assert_eq!(req.headers()["x-forwarded-proto"], "http");
        assert_eq!(req.headers()["x-forwarded-host"], "marathon.example:8081");
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
        add_forwarded_headers(&mut req, &client(true));
        assert_eq!(req.headers()["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
        assert_eq!(req.headers()["x-forwarded-host"], "m.example");
    }
}
