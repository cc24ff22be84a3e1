//! Callers of the proxy's own surface (`/admission/*`: the usage API, recent decisions, the
//! dry-run check, the budget page) and identities claimed for quota exemptions count only when
//! Marathon itself accepts the credentials that carry them.
//!
//! Why ask Marathon: it is the one that knows its users (`--http_credentials`, a DC/OS IAM, an
//! auth plugin); the proxy keeps no user list of its own. The caller's own `Authorization` and
//! `Cookie` go to Marathon's `GET /v2/info` (never the proxy's credentials), and the verdict is
//! kept briefly in a bounded cache keyed by a hash of those headers (with a key random to this
//! process), never the credentials themselves. When Marathon requires no authentication, every
//! caller is accepted and the surface stays open.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use proxy::marathon_client::CallerVerdict;
use proxy::MarathonClient;

/// How long a verdict is kept.
const VERDICT_TTL: Duration = Duration::from_secs(30);
/// At most this many verdicts are kept.
const MAX_VERDICTS: u64 = 10_000;

/// Asks Marathon about callers, with the answers cached.
pub struct RequireMarathonIdentity {
    marathon: MarathonClient,
    verdicts: moka::future::Cache<u64, CallerVerdict>,
    hash_key: std::collections::hash_map::RandomState,
    trusted_header_sources: Vec<ipnet::IpNet>,
}

impl RequireMarathonIdentity {
    /// `trusted_header_sources`: the peers (e.g. an authenticating front proxy) whose identity
    /// headers count for exemptions.
    pub fn new(marathon: MarathonClient, trusted_header_sources: Vec<ipnet::IpNet>) -> Self {
        RequireMarathonIdentity {
            marathon,
            verdicts: moka::future::Cache::builder().max_capacity(MAX_VERDICTS).time_to_live(VERDICT_TTL).build(),
            hash_key: Default::default(),
            trusted_header_sources,
        }
    }

    /// Ok when Marathon accepts the caller; else the answer to give: Marathon's own 401 (with its
    /// challenge, so that a browser asks for a login) or 403, or 503 when no Marathon answered.
    pub async fn admit(&self, headers: &HeaderMap) -> Result<(), Response<Bytes>> {
        match self.verdict(headers).await {
            Ok(CallerVerdict::Accepted) => Ok(()),
            Ok(CallerVerdict::Refused { status, challenge }) => {
                let mut resp = proxy::marathon_error(
                    status,
                    format!(
                        "marathon-admission: Marathon {} these credentials; /admission/* answers the callers Marathon accepts",
                        if status == StatusCode::FORBIDDEN { "forbids" } else { "does not accept" }
                    ),
                );
                if let Some(challenge) = challenge {
                    resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, challenge);
                }
                Err(resp)
            }
            Err(e) => Err(proxy::marathon_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("marathon-admission cannot ask Marathon whether it accepts these credentials: {e}"),
            )),
        }
    }

    /// Whether an identity in the `Authorization` header (a Basic user) may be believed.
    pub async fn credentials_accepted(&self, headers: &HeaderMap) -> bool {
        matches!(self.verdict(headers).await, Ok(CallerVerdict::Accepted))
    }

    /// Whether identity headers from `peer` may be believed.
    pub fn trusts_headers_from(&self, peer: IpAddr) -> bool {
        self.trusted_header_sources.iter().any(|net| net.contains(&peer))
    }

    async fn verdict(&self, headers: &HeaderMap) -> Result<CallerVerdict, String> {
        let key = self.key(headers);
        if let Some(v) = self.verdicts.get(&key).await {
            return Ok(v);
        }
        // Only Marathon's answers are kept: a Marathon that did not answer is asked again.
        let v = self.marathon.ask_as_caller(headers).await.map_err(|e| e.to_string())?;
        self.verdicts.insert(key, v.clone()).await;
        Ok(v)
    }

    fn key(&self, headers: &HeaderMap) -> u64 {
        let mut h = self.hash_key.build_hasher();
        for name in [http::header::AUTHORIZATION, http::header::COOKIE] {
            name.as_str().hash(&mut h);
            for v in headers.get_all(&name) {
                v.as_bytes().hash(&mut h);
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    fn never_asked(trusted: &[&str]) -> RequireMarathonIdentity {
        let marathon = MarathonClient::for_marathons(Vec::new(), &Default::default()).unwrap();
        RequireMarathonIdentity::new(marathon, trusted.iter().map(|t| t.parse().unwrap()).collect())
    }

    #[test]
    fn verdicts_are_keyed_by_the_credentials_not_holding_them() {
        let r = never_asked(&[]);
        assert_eq!(r.key(&with(Some("Basic YTpi"))), r.key(&with(Some("Basic YTpi"))));
        assert_ne!(r.key(&with(Some("Basic YTpi"))), r.key(&with(Some("Basic YTpj"))));
        assert_ne!(r.key(&with(None)), r.key(&with(Some("Basic YTpi"))));
    }

    #[test]
    fn identity_headers_count_only_from_trusted_sources() {
        let r = never_asked(&["10.0.0.0/8", "::1/128"]);
        assert!(r.trusts_headers_from("10.1.2.3".parse().unwrap()));
        assert!(r.trusts_headers_from("::1".parse().unwrap()));
        assert!(!r.trusts_headers_from("192.168.1.1".parse().unwrap()));
        assert!(!never_asked(&[]).trusts_headers_from("127.0.0.1".parse().unwrap()));
    }

    #[tokio::test]
    async fn no_marathon_to_ask_is_a_503_not_an_open_door() {
        let e = never_asked(&[]).admit(&with(Some("Basic YTpi"))).await.unwrap_err();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
