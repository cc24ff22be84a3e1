//! Which Marathon to talk to: what the leader polls found (who leads, who answered) and the
//! order in which Marathons are tried. The polling itself is [`crate::marathon_client`]'s.
//!
//! Why: any Marathon answers the API (a non-leader proxies to the leader), but going to the
//! leader directly saves a hop and keeps working when a standby's proxying is broken. Every
//! `upstream.leader_poll_interval_ms` each configured Marathon is asked `GET /v2/leader` (all at
//! once; a dead one costs at most the connect timeout); [`Upstreams::record_poll`] keeps which
//! answered (health, for `/readyz` and `upstream_up`) and the leader from the first answer. A
//! request triggers an early poll when it meets a connection error, or an `X-Marathon-Leader`
//! header naming a different leader.
//!
//! Order of attempts for a request: the leader (if reachable), then the other configured
//! Marathons that answered, then those that did not (they may have come back). A leader that is
//! not in the configured list is used too (a list may be incomplete), built with the scheme and
//! path prefix of the Marathon that named it.

use std::sync::{Arc, RwLock};

use http::{HeaderValue, Uri};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

use crate::metrics::UpstreamLabels;
use crate::upstream::{display_base, same_authority};

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
    health: UpstreamHealth,
}

/// The poll's metrics: `leader_changes_total` and `upstream_up{upstream}`.
#[derive(Debug, Clone, Default)]
struct UpstreamHealth {
    leader_changes: Counter,
    upstream_up: Family<UpstreamLabels, Gauge>,
}

/// What one Marathon said to `GET /v2/leader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAnswer {
    /// `{"leader": "host:port"}`.
    Leader(String),
    /// It answered, but named no leader (404 "There is no leader", or a 401/403 from an auth
    /// plugin): it is up.
    NoLeader,
}

impl Upstreams {
    pub fn new(configured: Vec<Uri>) -> Arc<Self> {
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
            health: UpstreamHealth::default(),
        };
        Arc::new(u)
    }

    /// Registers `leader_changes` and `upstream_up` (in the proxy's registry).
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "leader_changes",
            "Times the Marathon leader seen through /v2/leader changed",
            self.health.leader_changes.clone(),
        );
        registry.register(
            "upstream_up",
            "1 when the Marathon answered the last /v2/leader poll",
            self.health.upstream_up.clone(),
        );
    }

    /// The Marathons of the configuration, in its order.
    pub fn configured(&self) -> &[Uri] {
        &self.configured
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
                self.health
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

    /// The base URL of the known Marathon (configured or the leader) at `target`'s authority.
    pub fn known_base(&self, target: &Uri) -> Option<Uri> {
        if let Some(c) = self.configured.iter().find(|u| same_authority(u, target)) {
            return Some(c.clone());
        }
        self.state.read().unwrap().leader.clone().filter(|l| same_authority(l, target))
    }

    /// A Marathon known to us (configured or the leader) with this authority.
    pub fn known(&self, target: &Uri) -> bool {
        self.known_base(target).is_some()
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

    /// Completes when a request asked for an early poll.
    pub(crate) async fn refresh_requested(&self) {
        self.refresh.notified().await
    }

    /// The leader named by the first Marathon that named one (the URL to use for it, and whether
    /// it is one of the configured ones). `answers` are in the configured order.
    pub fn leader_named(&self, answers: &[Result<LeaderAnswer, String>]) -> Option<(Uri, bool)> {
        answers.iter().zip(&self.configured).find_map(|(a, asked)| match a {
            Ok(LeaderAnswer::Leader(hostport)) => resolve_leader(asked, hostport, &self.configured),
            _ => None,
        })
    }

    /// Records one poll: `answers` of the configured Marathons (in order), the `leader` they
    /// named ([`Self::leader_named`]) and, when it is not configured, whether it answered itself.
    pub fn record_poll(
        &self,
        answers: &[Result<LeaderAnswer, String>],
        leader: Option<(Uri, bool)>,
        unlisted_leader_up: bool,
    ) {
        let up: Vec<bool> = answers.iter().map(|a| a.is_ok()).collect();
        let last_error = answers
            .iter()
            .zip(&self.configured)
            .filter_map(|(a, u)| a.as_ref().err().map(|e| format!("{}: {e}", display_base(u))))
            .last();
        let leader_up = match &leader {
            Some((l, true)) => self.configured.iter().zip(&up).any(|(u, ok)| *ok && same_authority(u, l)),
            Some((_, false)) => unlisted_leader_up,
            None => false,
        };
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
                self.health.leader_changes.inc();
            }
            tracing::info!(
                leader = %st.leader.as_ref().map(display_base).unwrap_or_default(),
                "Marathon leader"
            );
        }
        self.recompute(&mut st);
    }
}

/// Maps `/v2/leader`'s `host:port` to a configured URL, or builds one from `asked` (its scheme and
/// path prefix).
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
        let (l, c) = resolve_leader(&conf[0], "m2:8443", &conf).unwrap();
        assert!(c);
        assert_eq!(l, conf[1]);
        let (l, c) = resolve_leader(&conf[0], "m3:8443", &conf).unwrap();
        assert!(!c);
        assert_eq!(l.to_string(), "https://m3:8443/marathon");
    }
}
