//! The client side: the connector to Marathon (plain or TLS) and the pooled hyper client of the
//! background work, plus the URL helpers the request path shares.
//!
//! Why: TCP connect has its own timeout (a dead Marathon fails over quickly); HTTPS goes through
//! rustls with the configured trust store, client certificate and SNI name. Forwarded requests use
//! the same connector through [`crate::upstream_pool`] (a Marathon connection kept per client
//! connection); the leader poller and the model sync use the `hyper_util` pooled client.

use std::time::Duration;

use anyhow::Context;
use http::uri::PathAndQuery;
use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::UpstreamBody;
use crate::config::UpstreamConfig;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// Builds the shared pooled client (leader poller, model sync; forwarded requests go through
/// [`crate::upstream_pool`]).
pub fn build_client(cfg: &UpstreamConfig) -> anyhow::Result<HttpClient> {
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(cfg.pool_idle_timeout_secs))
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(build_connector(cfg)?);
    Ok(client)
}

/// TCP (no Nagle, connect timeout) and, for `https` Marathons, TLS with the configured trust
/// store, client certificate and SNI name.
pub fn build_connector(cfg: &UpstreamConfig) -> anyhow::Result<HttpsConnector<HttpConnector>> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(cfg.connect_timeout()));
    let tls = crate::tls::client_config(&cfg.tls).context("[upstream.tls]")?;
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match &cfg.tls.server_name {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone())
                .with_context(|| format!("[upstream.tls] server_name {name:?}"))?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    Ok(builder.enable_http1().wrap_connector(http))
}

/// `base` (scheme, authority, optional path prefix) joined with the request's path and query,
/// both as sent.
pub fn target_uri(base: &Uri, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
    let prefix = base.path().trim_end_matches('/');
    let pq = match (prefix.is_empty(), pq) {
        (true, Some(pq)) => pq.clone(),
        (true, None) => PathAndQuery::from_static("/"),
        (false, Some(pq)) => format!("{prefix}{}", pq.as_str())
            .parse()
            .map_err(http::Error::from)?,
        (false, None) => format!("{prefix}/").parse().map_err(http::Error::from)?,
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = base.scheme().cloned();
    parts.authority = base.authority().cloned();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).map_err(http::Error::from)
}

/// `scheme://authority[/prefix]` of a base URL, for messages.
pub fn display_base(base: &Uri) -> String {
    base.to_string().trim_end_matches('/').to_owned()
}

/// The error and its causes on one line ("client error (Connect): tcp connect error: Connection
/// refused (os error 111)").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// True when two URIs name the same host and port (scheme default ports applied).
pub fn same_authority(a: &Uri, b: &Uri) -> bool {
    fn port(u: &Uri) -> Option<u16> {
        u.port_u16().or(match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    }
    match (a.host(), b.host()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y) && port(a) == port(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_prefix_and_keeps_query_as_sent() {
        let pq: PathAndQuery = "/v2/apps?embed=apps.tasks&label=a%3Db".parse().unwrap();
        let b: Uri = "http://m:8080".parse().unwrap();
        assert_eq!(
            target_uri(&b, Some(&pq)).unwrap().to_string(),
            "http://m:8080/v2/apps?embed=apps.tasks&label=a%3Db"
        );
        let b: Uri = "https://m/marathon/".parse().unwrap();
        assert_eq!(
            target_uri(&b, Some(&pq)).unwrap().to_string(),
            "https://m/marathon/v2/apps?embed=apps.tasks&label=a%3Db"
        );
    }

    #[test]
    fn authorities() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert!(same_authority(&u("http://M:80/"), &u("http://m")));
        assert!(!same_authority(&u("http://m:8080"), &u("http://m:8081")));
        assert!(same_authority(&u("https://m"), &u("https://m:443/x")));
    }
}
