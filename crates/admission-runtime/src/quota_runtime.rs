//! Per-group quotas in the proxy: the `[[quota]]` and `[[exemption]]` tables of `proxy.toml`, kept
//! reloadable ([`super::reload`]), checked on every decided write after the size decision
//! ([`QuotaRuntime::check`], called from [`super::decide_write`]), their metrics, and the ring
//! buffer of recent decisions the budget page shows.
//!
//! The arithmetic is pure and lives in [`admission::quota`]: usage of a subtree (persisted bytes
//! as uncompressed protobuf, apps, instances, resources x instances), nested quotas, "never block
//! the way out", exemptions, and how the quotas' verdict folds into the size decision.
//!
//! Interplay with `[admission] mode` (global or `[[admission.group]]`): `off` checks no quota for
//! the write, `warn` turns a quota refusal into a warning, like a size refusal.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use admission::quota::{
    evaluate, fold_quota_outcome, ClientIdentity, FindingKind, QuotaChange, QuotaEngine, QuotaOutcome, QuotaSet,
};
use admission::{Decision, Mode};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use marathon_model::{Group, Timestamp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use znode_size::StoreConfig;


type FloatGauge = Gauge<f64, AtomicU64>;

/// How many recent decisions `/admission/v1/decisions` keeps.
pub const DECISIONS_KEPT: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    pub group: String,
    pub resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub group: String,
    pub resource: &'static str,
    /// `reject`, `warn`, `exempted`, `still_over`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TicketLabels {
    pub ticket: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopGroupLabels {
    pub group: String,
}

/// Quota, budget and reload metrics (prefix `marathon_admission_proxy_`). Label values: quota
/// groups and tickets from `proxy.toml`, top-level group ids (at most
/// [`super::admit_metrics::MAX_GROUP_LABELS`]). Never an env value or a label.
#[derive(Clone, Debug, Default)]
pub struct QuotaMetrics {
    pub used: Family<QuotaLabels, FloatGauge>,
    pub limit: Family<QuotaLabels, FloatGauge>,
    pub used_ratio: Family<QuotaLabels, FloatGauge>,
    pub findings: Family<FindingLabels, Counter>,
    pub exemptions_used: Family<TicketLabels, Counter>,
    pub group_limit_share: Family<TopGroupLabels, FloatGauge>,
    pub headroom_ratio: FloatGauge,
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub last_reload_success: Gauge,
    pub quotas: Gauge,
    pub exemptions_active: Gauge,
}

impl QuotaMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register("quota_used", "Usage of a quota's resource over its group's subtree (bytes, count, cpus, MiB)", self.used.clone());
        r.register("quota_limit", "The limit of a quota's resource ([[quota]] max_*)", self.limit.clone());
        r.register("quota_used_ratio", "quota_used / quota_limit", self.used_ratio.clone());
        r.register(
            "quota_findings",
            "Quota resources over their limit in decided writes, by outcome (reject, warn, exempted, still_over)",
            self.findings.clone(),
        );
        r.register("quota_exemptions_used", "Writes let through by an [[exemption]], by ticket", self.exemptions_used.clone());
        r.register(
            "group_limit_share",
            "Each top-level group's share of the limit: its share of the root group's bytes times the current binding size over the limit",
            self.group_limit_share.clone(),
        );
        r.register(
            "budget_headroom_ratio",
            "(limit - current binding size) / limit: the root's headroom to the ZooKeeper limit",
            self.headroom_ratio.clone(),
        );
        r.register("config_reloads", "Configuration reloads applied (SIGHUP or file change)", self.reloads.clone());
        r.register(
            "config_reload_failures",
            "Configuration reloads refused (the running configuration was kept)",
            self.reload_failures.clone(),
        );
        r.register(
            "config_last_reload_success",
            "1 when the last configuration (re)load succeeded, 0 when it was refused",
            self.last_reload_success.clone(),
        );
        r.register("quotas", "[[quota]] entries in force", self.quotas.clone());
        r.register("exemptions_active", "[[exemption]] entries in force and not expired", self.exemptions_active.clone());
    }
}

/// The most recent decisions (the audit records), newest last.
#[derive(Debug, Default)]
pub struct DecisionRing {
    inner: Mutex<VecDeque<serde_json::Value>>,
}

impl DecisionRing {
    pub fn push(&self, record: &impl serde::Serialize) {
        let Ok(v) = serde_json::to_value(record) else { return };
        let mut q = self.inner.lock().unwrap();
        if q.len() >= DECISIONS_KEPT {
            q.pop_front();
        }
        q.push_back(v);
    }

    /// Newest first, at most `n`.
    pub fn latest(&self, n: usize) -> Vec<serde_json::Value> {
        self.inner.lock().unwrap().iter().rev().take(n).cloned().collect()
    }
}

/// The quota verdict on one write, kept with the decision.
#[derive(Debug, Clone)]
pub struct QuotaResult {
    pub outcome: QuotaOutcome,
    /// The quotas refused the write (and the size check did not): answer with [`Self::response`].
    pub rejects: bool,
}

/// Quotas and exemptions in force (swapped whole on reload), their engine and metrics.
pub struct QuotaRuntime {
    set: RwLock<Arc<QuotaSet>>,
    generation: AtomicU64,
    engine: Mutex<QuotaEngine>,
    pub metrics: QuotaMetrics,
    pub decisions: DecisionRing,
    /// The usage report cache of [`super::usage_api`].
    pub(crate) usage: tokio::sync::Mutex<Option<Arc<super::usage_api::UsageReport>>>,
    pub(crate) usage_engine: Mutex<Option<znode_size::Estimator>>,
    /// The non-reloadable part of the configuration last loaded (see [`super::reload`]).
    pub(crate) loaded_restart_part: Mutex<Option<String>>,
}

impl std::fmt::Debug for QuotaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.set();
        f.debug_struct("QuotaRuntime")
            .field("quotas", &set.quota.len())
            .field("exemptions", &set.exemption.len())
            .field("generation", &self.generation())
            .finish()
    }
}

impl Default for QuotaRuntime {
    fn default() -> Self {
        QuotaRuntime::new(QuotaSet::default())
    }
}

/// What `[[quota]]` and `[[exemption]]` deserialize into (other keys of the file are ignored here).
#[derive(Deserialize)]
struct QuotaTables {
    #[serde(default)]
    quota: Vec<admission::quota::Quota>,
    #[serde(default)]
    exemption: Vec<admission::quota::Exemption>,
}

/// Parses the `[[quota]]` and `[[exemption]]` entries of a whole `proxy.toml` text; errors carry
/// the line and column (from `toml`) and the file name.
pub(crate) fn parse_text(text: &str, origin: &str) -> anyhow::Result<QuotaSet> {
    let t: QuotaTables = toml::from_str(text).map_err(|e| proxy::config::toml_errors::describe(&e, text, origin))?;
    Ok(QuotaSet { quota: t.quota, exemption: t.exemption })
}

/// Parses already-split tables (as [`proxy::ProxyConfig`] keeps them).
pub(crate) fn parse_tables(quota: &[toml::Table], exemption: &[toml::Table]) -> anyhow::Result<QuotaSet> {
    let mut set = QuotaSet::default();
    for (i, t) in quota.iter().enumerate() {
        let q = toml::Value::Table(t.clone()).try_into().map_err(|e| anyhow::anyhow!("[[quota]] #{}: {}", i + 1, suggest(&e)))?;
        set.quota.push(q);
    }
    for (i, t) in exemption.iter().enumerate() {
        let e = toml::Value::Table(t.clone()).try_into().map_err(|e| anyhow::anyhow!("[[exemption]] #{}: {}", i + 1, suggest(&e)))?;
        set.exemption.push(e);
    }
    Ok(set)
}

fn suggest(e: &toml::de::Error) -> String {
    proxy::config::toml_errors::with_suggestion(e.message())
}

impl QuotaRuntime {
    pub fn new(set: QuotaSet) -> QuotaRuntime {
        let rt = QuotaRuntime {
            set: RwLock::new(Arc::new(QuotaSet::default())),
            generation: AtomicU64::new(0),
            engine: Mutex::new(QuotaEngine::new(znode_size::AppFlavor::V13)),
            metrics: QuotaMetrics::default(),
            decisions: DecisionRing::default(),
            usage: tokio::sync::Mutex::new(None),
            usage_engine: Mutex::new(None),
            loaded_restart_part: Mutex::new(None),
        };
        rt.install(set);
        rt.metrics.last_reload_success.set(1);
        rt
    }

    /// The set in force.
    pub fn set(&self) -> Arc<QuotaSet> {
        self.set.read().unwrap().clone()
    }

    /// Bumped by every install (the usage cache keys on it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Puts `set` in force.
    pub fn install(&self, set: QuotaSet) {
        let now = Timestamp::now();
        self.metrics.quotas.set(set.quota.len() as i64);
        self.metrics.exemptions_active.set(set.exemption.iter().filter(|e| e.active(now)).count() as i64);
        // Series of quotas that are gone must not linger.
        self.metrics.used.clear();
        self.metrics.limit.clear();
        self.metrics.used_ratio.clear();
        *self.set.write().unwrap() = Arc::new(set);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether any exemption in force is keyed on a client identity (only then is one worth
    /// establishing).
    pub fn exemptions_name_clients(&self) -> bool {
        self.set().exemption.iter().any(|e| e.client.is_some())
    }

    /// The client identity exemptions see: `user` (a Basic user whose credentials Marathon
    /// accepted), and the identity headers the exemptions name when `headers` (from a trusted
    /// source) is given.
    pub fn client_identity(&self, user: Option<String>, headers: Option<&HeaderMap>) -> ClientIdentity {
        let set = self.set();
        let headers = headers
            .map(|headers| {
                set.identity_headers()
                    .into_iter()
                    .filter_map(|h| headers.get(h).and_then(|v| v.to_str().ok()).map(|v| (h.to_string(), v.trim().to_string())))
                    .collect()
            })
            .unwrap_or_default();
        ClientIdentity { user, headers }
    }

    /// Checks the quotas on the path of `base -> target` and folds the verdict into `decision`.
    /// `touched`: the ids the write touches. Returns `None` when no quota applies.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        mode: Mode,
        store: &StoreConfig,
        base: &Group,
        target: &Group,
        touched: &[String],
        client: &ClientIdentity,
        decision: &mut Decision,
    ) -> Option<QuotaResult> {
        let set = self.set();
        if set.is_empty() || mode == Mode::Off {
            return None;
        }
        let outcome = {
            let mut engine = self.engine.lock().unwrap();
            engine.set_flavor(store.flavor);
            evaluate(&set, &mut engine, QuotaChange { base, target, touched }, client, Timestamp::now())
        };
        if outcome.evaluated.is_empty() {
            return None;
        }
        let warn_mode = mode == Mode::Warn;
        for f in &outcome.findings {
            let label = match (f.kind, &f.exempted_by) {
                (FindingKind::StillOver, _) => "still_over",
                (_, Some(_)) => "exempted",
                _ if f.refuses() && !warn_mode => "reject",
                _ => "warn",
            };
            self.metrics
                .findings
                .get_or_create(&FindingLabels { group: f.quota.clone(), resource: f.resource.as_str(), outcome: label })
                .inc();
        }
        for u in &outcome.exemptions_used {
            self.metrics.exemptions_used.get_or_create(&TicketLabels { ticket: u.ticket.clone() }).inc();
            tracing::warn!(
                ticket = %u.ticket,
                quota = %u.quota,
                resource = u.resource.as_str(),
                client = u.client.as_deref().unwrap_or("-"),
                expires = %u.expires,
                "quota exemption used: a write over a quota was forwarded"
            );
        }
        let rejects = fold_quota_outcome(&outcome, mode, decision);
        Some(QuotaResult { outcome, rejects })
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }
}

impl QuotaResult {
    /// The refusing findings' sentences, first the ones that refuse.
    pub fn points(&self, method: &str, path: &str) -> Vec<String> {
        let refusing: Vec<&admission::quota::Finding> = self.outcome.findings.iter().filter(|f| f.refuses()).collect();
        let groups: Vec<&str> = {
            let mut g: Vec<&str> = refusing.iter().map(|f| f.quota.as_str()).collect();
            g.dedup();
            g
        };
        let path = super::rejection::as_marathon_names_it(path);
        let mut out = vec![format!(
            "marathon-admission rejected {method} {path}: it would exceed the quota of {} (per-group quotas set in the proxy's proxy.toml; Marathon itself would accept it).",
            groups.join(" and ")
        )];
        out.extend(self.outcome.reasons());
        out
    }

    /// 422 in Marathon's error shape; `message` holds every point.
    pub fn response(&self, method: &str, path: &str) -> Response<Bytes> {
        let points = self.points(method, path);
        let first = self.outcome.findings.iter().find(|f| f.refuses());
        let detail_path = first.map(|f| f.app.clone().unwrap_or_else(|| f.quota.clone())).unwrap_or_else(|| "/".into());
        let body = serde_json::json!({
            "message": points.join(" "),
            "details": [{"path": detail_path, "errors": points}],
        });
        let mut resp = Response::new(Bytes::from(body.to_string()));
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(f) = first {
            let r = f.resource;
            let who = f.owner.as_deref().map(|o| format!("; ask {o}")).unwrap_or_default();
            let short = format!(
                "marathon-admission: exceeded quota {}: {} would be {}, limit {}{who}",
                f.quota,
                r.as_str(),
                r.fmt_value(f.after),
                r.fmt_value(f.limit)
            );
            let short: String = short.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
            if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(short) {
                resp.extensions_mut().insert(reason);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_and_bad_values_name_key_and_line() {
        let text = r#"
[[quota]]
group = "/dev"
max_bytes = 200000
max_apps = 150
max_instances = 400
max_cpus = 64.0
max_mem = 131072
max_disk = 10240.5
max_gpus = 2
max_env_vars = 60
max_app_bytes = 8000
mode = "warn"
owner = "team-dev@example.com"

[[exemption]]
group = "/dev/legacy"
client = "ci-bot"
header = "X-Client-Id"
expires = 2030-06-30T00:00:00Z
ticket = "OPS-1234"

[[exemption]]
client = "release-bot"
expires = "2030-06-30T00:00:00+02:00"
ticket = "OPS-2"
"#;
        let set = parse_text(text, "p.toml").unwrap();
        let q = &set.quota[0];
        assert_eq!(q.group.as_str(), "/dev");
        assert_eq!(q.max_bytes, Some(200000));
        assert_eq!(q.max_apps, Some(150));
        assert_eq!(q.max_instances, Some(400));
        assert_eq!(q.max_cpus.unwrap().0, 64.0);
        assert_eq!(q.max_mem.unwrap().0, 131072.0);
        assert_eq!(q.max_disk.unwrap().0, 10240.5);
        assert_eq!(q.max_gpus.unwrap().0, 2.0);
        assert_eq!(q.max_env_vars, Some(60));
        assert_eq!(q.max_app_bytes, Some(8000));
        assert_eq!(q.mode, admission::quota::QuotaMode::Warn);
        assert_eq!(q.owner.as_deref(), Some("team-dev@example.com"));
        let e = &set.exemption[0];
        assert_eq!(e.group.as_ref().unwrap().as_str(), "/dev/legacy");
        assert_eq!(e.client.as_deref(), Some("ci-bot"));
        assert_eq!(e.header.as_deref(), Some("x-client-id"));
        assert_eq!(e.ticket, "OPS-1234");
        assert_eq!(e.expires.0, Timestamp::parse("2030-06-30T00:00:00Z").unwrap());
        assert_eq!(set.exemption[1].expires.0, Timestamp::parse("2030-06-29T22:00:00Z").unwrap());

        // Bad values: the error names the key (or the entry) and the line.
        for (text, line, needle) in [
            ("[[quota]]\ngroup = \"/dev\"\nmax_apps = -3\n", 3, "max_apps"),
            ("[[quota]]\ngroup = \"dev\"\nmax_apps = 3\n", 2, "absolute group id"),
            ("[[quota]]\ngroup = \"/dev\"\nmax_cpus = \"lots\"\n", 3, "max_cpus"),
            ("[[quota]]\ngroup = \"/dev\"\nmax_cpus = -1.0\n", 3, "non-negative"),
            ("[[quota]]\ngroup = \"/dev\"\nmax_apps = 3\nmode = \"strict\"\n", 4, "strict"),
            ("\n[[quota]]\ngroup = \"/dev\"\nmax_aps = 3\n", 4, "max_aps"),
            ("[[quota]]\ngroup = \"/dev\"\n", 1, "sets no limit"),
            ("[[exemption]]\ngroup = \"/dev\"\nexpires = \"soon\"\nticket = \"T\"\n", 3, "RFC 3339"),
            ("[[exemption]]\ngroup = \"/dev\"\nexpires = 2030-06-30\nticket = \"T\"\n", 3, "RFC 3339"),
            ("[[exemption]]\ngroup = \"/dev\"\nticket = \"T\"\n", 1, "expires"),
        ] {
            let err = parse_text(text, "p.toml").unwrap_err().to_string();
            assert!(err.contains("p.toml"), "{err}");
            assert!(err.contains(&format!("line {line}")), "want line {line} for {text:?}: {err}");
            assert!(err.contains(needle), "want {needle:?} for {text:?}: {err}");
        }
        // A file with only [[quota]] entries is a valid proxy configuration.
        let c = proxy::ProxyConfig::from_toml_str("[[quota]]\ngroup = \"/dev\"\nmax_apps = 3\n", None).unwrap();
        assert_eq!(parse_tables(&c.quota, &c.exemption).unwrap().quota.len(), 1);
    }

    #[test]
    fn decisions_ring_keeps_the_latest() {
        let r = DecisionRing::default();
        for i in 0..(DECISIONS_KEPT + 5) {
            r.push(&serde_json::json!({"i": i}));
        }
        let l = r.latest(3);
        assert_eq!(l[0]["i"], DECISIONS_KEPT + 4);
        assert_eq!(l.len(), 3);
        assert_eq!(r.latest(1000).len(), DECISIONS_KEPT);
    }
}
