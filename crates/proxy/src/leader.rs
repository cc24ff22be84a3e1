//! Which Marathon to talk to: leader discovery through `/v2/leader`, kept current in the
//! background, and the order in which Marathons are tried.
//!
//! Why: any Marathon answers the API (a non-leader proxies to the leader), but going to the
//! leader directly saves a hop and keeps working when a standby's proxying is broken. A task asks
//! every configured Marathon `GET /v2/leader` every `upstream.leader_poll_interval_ms` (all at
//! once; a dead one costs at most the connect timeout), records which answered (health, for
//! `/readyz` and `upstream_up`), and takes the leader from the first answer. A request triggers an
//! early poll when it meets a connection error, or an `X-Marathon-Leader` header naming a
//! different leader.
//!
//! Order of attempts for a request: the leader (if reachable), then the other configured
//! Marathons that answered, then those that did not (they may have come back). A leader that is
//! not in the configured list is used too (a list may be incomplete), built with the scheme and
//! path prefix of the Marathon that named it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::body::UpstreamBody;
use crate::metrics::{Metrics, UpstreamLabels};
use crate::upstream::{display_base, same_authority, target_uri, HttpClient};

#[derive(Debug)]
struct State {
    /// Per configured Marathon: None = not polled yet, Some(true) = answered the last poll.
    up: Vec<Option<bool>>,
    leader: Option<Uri>,
    leader_up: bool,
    /// `leader` is one of the configured URLs.
    leader_configured: bool,
    polled: bool,
    last_leader_header: Option<HeaderValue>,
    candidates: Arc<Vec<Uri>>,
    last_error: Option<String>,
}

/// The set of Marathons and what is known about them.
#[derive(Debug)]
pub struct Upstreams {
    configured: Vec<Uri>,
    state: RwLock<State>,
    refresh: Notify,
    metrics: Arc<Metrics>,
}

enum LeaderAnswer {
    Leader(String),
    NoLeader,
}

impl Upstreams {
    pub fn new(configured: Vec<Uri>, metrics: Arc<Metrics>) -> Arc<Self> {
        let n = configured.len();
        let u = Upstreams {
            state: RwLock::new(State {
                up: vec![None; n],
                leader: None,
                leader_up: false,
                leader_configured: false,
                polled: false,
                last_leader_header: None,
                candidates: Arc::new(configured.clone()),
                last_error: None,
            }),
            configured,
            refresh: Notify::new(),
            metrics,
        };
        Arc::new(u)
    }

    /// The Marathons to try, in order.
    pub fn candidates(&self) -> Arc<Vec<Uri>> {
        self.state.read().unwrap().candidates.clone()
    }

    /// The current leader, if known.
    pub fn leader(&self) -> Option<Uri> {
        self.state.read().unwrap().leader.clone()
    }

    fn recompute(&self, st: &mut State) {
        let mut v: Vec<Uri> = Vec::with_capacity(self.configured.len() + 1);
        let is_leader = |u: &Uri, st: &State| st.leader.as_ref().is_some_and(|l| same_authority(l, u));
        if let Some(l) = &st.leader {
            if st.leader_up {
                v.push(l.clone());
            }
        }
        for (i, u) in self.configured.iter().enumerate() {
            if st.up[i] != Some(false) && !(st.leader_up && is_leader(u, st)) {
                v.push(u.clone());
            }
        }
        for (i, u) in self.configured.iter().enumerate() {
            if st.up[i] == Some(false) && !(st.leader_up && is_leader(u, st)) {
                v.push(u.clone());
            }
        }
        if let Some(l) = &st.leader {
            if !st.leader_up && !st.leader_configured {
                v.push(l.clone());
            }
        }
        st.candidates = Arc::new(v);
    }

    fn set_up(&self, st: &mut State, base: &Uri, up: bool) {
        for (i, u) in self.configured.iter().enumerate() {
            if same_authority(u, base) {
                st.up[i] = Some(up);
                self.metrics
                    .upstream_up
                    .get_or_create(&UpstreamLabels {
                        upstream: display_base(u),
                    })
                    .set(up as i64);
            }
        }
        if st.leader.as_ref().is_some_and(|l| same_authority(l, base)) {
            st.leader_up = up;
        }
    }

    /// A request could not connect to `base`: try others first from now on, and poll soon.
    pub fn mark_unreachable(&self, base: &Uri) {
        let mut st = self.state.write().unwrap();
        self.set_up(&mut st, base, false);
        self.recompute(&mut st);
        drop(st);
        self.refresh.notify_one();
    }

    /// A request got an answer from `base`.
    pub fn mark_answered(&self, base: &Uri) {
        let needs = {
            let st = self.state.read().unwrap();
            let conf_down = self
                .configured
                .iter()
                .enumerate()
                .any(|(i, u)| st.up[i] != Some(true) && same_authority(u, base));
            let leader_down = !st.leader_up && st.leader.as_ref().is_some_and(|l| same_authority(l, base));
            conf_down || leader_down
        };
        if needs {
            let mut st = self.state.write().unwrap();
            self.set_up(&mut st, base, true);
            self.recompute(&mut st);
        }
    }

    /// Marathon's `X-Marathon-Leader` on a response: poll early if it names someone new.
    pub fn observe_leader_header(&self, v: &HeaderValue) {
        {
            let st = self.state.read().unwrap();
            if st.last_leader_header.as_ref() == Some(v) {
                return;
            }
        }
        let mut st = self.state.write().unwrap();
        let changed = match (v.to_str().ok().and_then(|s| s.parse::<Uri>().ok()), &st.leader) {
            (Some(named), Some(cur)) => !same_authority(&named, cur),
            (Some(_), None) => true,
            _ => false,
        };
        st.last_leader_header = Some(v.clone());
        drop(st);
        if changed {
            self.refresh.notify_one();
        }
    }

    /// Asks for a poll as soon as possible.
    pub fn request_refresh(&self) {
        self.refresh.notify_one();
    }

    /// A Marathon known to us (configured or the leader) with this authority.
    pub fn known(&self, target: &Uri) -> bool {
        self.configured.iter().any(|u| same_authority(u, target))
            || self
                .state
                .read()
                .unwrap()
                .leader
                .as_ref()
                .is_some_and(|l| same_authority(l, target))
    }

    /// For `/readyz`: Ok when at least one Marathon answered the last poll.
    pub fn readiness(&self) -> Result<(), String> {
        let st = self.state.read().unwrap();
        if !st.polled {
            return Err("Marathon not polled yet".into());
        }
        if st.up.contains(&Some(true)) || st.leader_up {
            Ok(())
        } else {
            Err(format!(
                "no Marathon reachable{}",
                st.last_error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ))
        }
    }

    async fn ask_leader(
        client: &HttpClient,
        base: &Uri,
        timeout: Duration,
    ) -> Result<LeaderAnswer, String> {
        let pq = http::uri::PathAndQuery::from_static("/v2/leader");
        let uri = target_uri(base, Some(&pq)).map_err(|e| e.to_string())?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(UpstreamBody::Full(None))
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = client
                .request(req)
                .await
                .map_err(|e| crate::upstream::error_chain(&e))?;
            let status = resp.status();
            let body: Bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status.is_success() {
                let v: serde_json::Value =
                    serde_json::from_slice(&body).map_err(|e| format!("/v2/leader: {e}"))?;
                match v.get("leader").and_then(|l| l.as_str()) {
                    Some(l) => Ok(LeaderAnswer::Leader(l.to_owned())),
                    None => Ok(LeaderAnswer::NoLeader),
                }
            } else {
                // 404 "There is no leader", or 401/403 from an auth plugin: it answered.
                Ok(LeaderAnswer::NoLeader)
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// One poll of every configured Marathon (and of a discovered leader outside the list).
    pub async fn poll_once(&self, client: &HttpClient, timeout: Duration) {
        let answers = futures_util::future::join_all(
            self.configured
                .iter()
                .map(|u| Self::ask_leader(client, u, timeout)),
        )
        .await;
        let mut leader: Option<(Uri, bool)> = None; // (uri, configured)
        let mut up = Vec::with_capacity(answers.len());
        let mut last_error = None;
        for (i, a) in answers.iter().enumerate() {
            match a {
                Ok(LeaderAnswer::Leader(hostport)) => {
                    up.push(true);
                    if leader.is_none() {
                        leader = Self::resolve_leader(&self.configured[i], hostport, &self.configured);
                    }
                }
                Ok(LeaderAnswer::NoLeader) => up.push(true),
                Err(e) => {
                    up.push(false);
                    last_error = Some(format!("{}: {e}", display_base(&self.configured[i])));
                }
            }
        }
        let mut leader_up = false;
        if let Some((l, configured)) = &leader {
            leader_up = if *configured {
                self.configured
                    .iter()
                    .zip(&up)
                    .any(|(u, ok)| *ok && same_authority(u, l))
            } else {
                Self::ask_leader(client, l, timeout).await.is_ok()
            };
        }
        let mut st = self.state.write().unwrap();
        let old = st.leader.clone();
        for (i, ok) in up.iter().enumerate() {
            let base = self.configured[i].clone();
            self.set_up(&mut st, &base, *ok);
        }
        st.leader = leader.as_ref().map(|(l, _)| l.clone());
        st.leader_configured = leader.as_ref().is_some_and(|(_, c)| *c);
        st.leader_up = leader_up;
        st.polled = true;
        st.last_error = last_error;
        let changed = match (&old, &st.leader) {
            (Some(a), Some(b)) => !same_authority(a, b),
            (None, Some(_)) => true,
            _ => false,
        };
        if changed {
            if old.is_some() {
                self.metrics.leader_changes.inc();
            }
            tracing::info!(
                leader = %st.leader.as_ref().map(display_base).unwrap_or_default(),
                "Marathon leader"
            );
        }
        self.recompute(&mut st);
    }

    /// Maps `/v2/leader`'s `host:port` to a configured URL, or builds one from `asked`.
    fn resolve_leader(asked: &Uri, hostport: &str, configured: &[Uri]) -> Option<(Uri, bool)> {
        let scheme = asked.scheme_str().unwrap_or("http");
        let candidate: Uri = format!("{scheme}://{hostport}{}", asked.path().trim_end_matches('/'))
            .parse()
            .ok()?;
        if let Some(c) = configured.iter().find(|c| same_authority(c, &candidate)) {
            return Some((c.clone(), true));
        }
        Some((candidate, false))
    }

    /// Polls until `cancel`, every `every`, or sooner when asked.
    pub(crate) async fn run(
        self: Arc<Self>,
        client: HttpClient,
        every: Duration,
        timeout: Duration,
        cancel: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.poll_once(&client, timeout) => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
                _ = self.refresh.notified() => {
                    // Coalesce bursts of requests (many failing at once) into one poll.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn order_is_leader_then_up_then_down() {
        let ups = Upstreams::new(
            vec![u("http://a:1"), u("http://b:2"), u("http://c:3")],
            Arc::new(Metrics::new()),
        );
        assert_eq!(ups.candidates().len(), 3);
        {
            let mut st = ups.state.write().unwrap();
            st.up = vec![Some(false), Some(true), Some(true)];
            st.leader = Some(u("http://c:3"));
            st.leader_configured = true;
            st.leader_up = true;
            ups.recompute(&mut st);
        }
        let order: Vec<String> = ups.candidates().iter().map(|x| x.to_string()).collect();
        assert_eq!(order, vec!["http://c:3/", "http://b:2/", "http://a:1/"]);
        ups.mark_unreachable(&u("http://c:3"));
        let order: Vec<String> = ups.candidates().iter().map(|x| x.to_string()).collect();
        assert_eq!(order, vec!["http://b:2/", "http://a:1/", "http://c:3/"]);
    }

    #[test]
    fn resolves_leader_against_configured_list() {
        let conf = vec![u("https://m1:8443/marathon"), u("https://m2:8443/marathon")];
        let (l, c) = Upstreams::resolve_leader(&conf[0], "m2:8443", &conf).unwrap();
        assert!(c);
        assert_eq!(l, conf[1]);
        let (l, c) = Upstreams::resolve_leader(&conf[0], "m3:8443", &conf).unwrap();
        assert!(!c);
        assert_eq!(l.to_string(), "https://m3:8443/marathon");
    }
}
