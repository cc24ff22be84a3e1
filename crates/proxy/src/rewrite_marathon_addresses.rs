//! Addresses in Marathon's answers that would lead a client around the proxy: `Location` (a
//! created app, a deployment, a non-leader's redirect) and `X-Marathon-Leader` name Marathon's
//! own address, and a client that follows them sends its next writes straight to Marathon,
//! unchecked. Both are rewritten to the proxy's public address, as nginx's `proxy_redirect` and
//! Apache's `ProxyPassReverse` do (`[upstream] rewrite_marathon_addresses`, on by default).
//!
//! The proxy's public address is `[listener] public_url` when set, else the scheme of the listener
//! and the `Host` (or HTTP/2 `:authority`) the client used. Only addresses of known Marathons
//! (configured, or the leader) are rewritten, and a Marathon's path prefix is replaced by the
//! proxy's; `/v2/leader`'s body is left as it is (it answers a different question: which
//! Marathon leads).

use http::{header, HeaderMap, HeaderValue, Uri};

use crate::upstreams::Upstreams;

pub(crate) static X_MARATHON_LEADER: header::HeaderName = header::HeaderName::from_static("x-marathon-leader");

/// Rewrites `Location` and `X-Marathon-Leader` in `headers` that name a Marathon `upstreams`
/// knows to `public` (`scheme://authority[/prefix]`, no trailing slash).
pub(crate) fn rewrite(headers: &mut HeaderMap, upstreams: &Upstreams, public: &str) {
    for name in [&header::LOCATION, &X_MARATHON_LEADER] {
        let Some(rewritten) = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| rewritten(v, upstreams, public)) else {
            continue;
        };
        if let Ok(v) = HeaderValue::try_from(rewritten) {
            headers.insert(name, v);
        }
    }
}

/// `value` with a known Marathon's `scheme://authority[/prefix]` replaced by `public`; None when
/// it names no known Marathon (a relative `Location`, another host).
fn rewritten(value: &str, upstreams: &Upstreams, public: &str) -> Option<String> {
    let uri: Uri = value.parse().ok()?;
    uri.authority()?;
    let base = upstreams.known_base(&uri)?;
    let prefix = base.path().trim_end_matches('/');
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("");
    let rest = path_and_query.strip_prefix(prefix).filter(|r| r.is_empty() || r.starts_with('/') || r.starts_with('?')).unwrap_or(path_and_query);
    Some(format!("{public}{}", if rest == "/" { "" } else { rest }))
}

/// The proxy's public address for a request: `public_url`, else `scheme://host` from the request.
pub(crate) fn public_base(public_url: Option<&str>, tls: bool, request: &http::request::Parts) -> Option<String> {
    if let Some(url) = public_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let host = request
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri.authority().map(|a| a.to_string()))?;
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams() -> std::sync::Arc<Upstreams> {
        Upstreams::new(vec!["http://m1:8080".parse().unwrap(), "https://m2:8443/marathon".parse().unwrap()])
    }

    fn rewrite_one(name: &header::HeaderName, value: &str) -> String {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        rewrite(&mut h, &upstreams(), "https://proxy.example:8081");
        h[name].to_str().unwrap().to_owned()
    }

    #[test]
    fn known_marathons_become_the_proxy() {
        assert_eq!(rewrite_one(&header::LOCATION, "http://m1:8080/v2/deployments/abc"), "https://proxy.example:8081/v2/deployments/abc");
        assert_eq!(rewrite_one(&header::LOCATION, "https://m2:8443/marathon/v2/apps/x?embed=a"), "https://proxy.example:8081/v2/apps/x?embed=a");
        assert_eq!(rewrite_one(&X_MARATHON_LEADER, "http://m1:8080"), "https://proxy.example:8081");
        assert_eq!(rewrite_one(&X_MARATHON_LEADER, "https://m2:8443"), "https://proxy.example:8081");
    }

    #[test]
    fn other_addresses_stay() {
        assert_eq!(rewrite_one(&header::LOCATION, "/v2/apps/x"), "/v2/apps/x");
        assert_eq!(rewrite_one(&header::LOCATION, "http://elsewhere:8080/v2/apps"), "http://elsewhere:8080/v2/apps");
        assert_eq!(rewrite_one(&header::LOCATION, "http://m1:9999/v2/apps"), "http://m1:9999/v2/apps");
    }

    #[test]
    fn the_public_address_comes_from_the_config_or_the_request() {
        let (parts, _) = http::Request::builder().uri("/v2/apps").header("host", "admission:8081").body(()).unwrap().into_parts();
        assert_eq!(public_base(None, false, &parts).as_deref(), Some("http://admission:8081"));
        assert_eq!(public_base(None, true, &parts).as_deref(), Some("https://admission:8081"));
        assert_eq!(public_base(Some("https://m.example/api/"), false, &parts).as_deref(), Some("https://m.example/api"));
        let (bare, _) = http::Request::builder().uri("/v2/apps").body(()).unwrap().into_parts();
        assert_eq!(public_base(None, false, &bare), None);
    }
}
