//! Per-group quotas and their exemptions: what a platform team promises each team of a shared
//! Marathon, checked before a write reaches Marathon. No IO.
//!
//! - A [`Quota`] (`[[quota]]` in `proxy.toml`) limits a group's **subtree**: persisted bytes,
//!   apps, instances, resources (`cpus`, `mem`, `disk`, `gpus`, each summed as value x
//!   instances; MiB for `mem` and `disk`), and per app: environment variables and persisted bytes.
//! - **Bytes** are the uncompressed protobuf bytes Marathon persists for the subtree: the length
//!   of the subtree's encoded `GroupDefinition` (apps inline, as the legacy layout stores them;
//!   in the 1.4+ layout the same `ServiceDefinition` bytes are stored as separate nodes, so the
//!   sum is the same budget). Compression (legacy, above the threshold) applies to the whole
//!   root group, not to a subtree, so quotas count before it. An app's bytes are its encoded
//!   `ServiceDefinition`.
//! - Every quota on the path of a change applies (nested quotas all hold): a quota is on the path
//!   when one of the ids the write touches lies in its subtree. Each is evaluated against the
//!   target root (after the change) and the base (before).
//! - **Never block the way out**: a resource over its limit is refused only when the change grows
//!   it. Over the limit but not growing: forwarded with a warning.
//! - A finding says, like Kubernetes' ResourceQuota, which quota, requested (the increase),
//!   used, limited, the owner, and the way out.
//! - An [`Exemption`] (`[[exemption]]`) turns matching refusals into warnings while it has not
//!   expired: by group prefix and/or client identity (the Basic auth user, or the value of a
//!   named header). Every use is reported ([`QuotaOutcome::exemptions_used`]) for the audit log and a
//!   counter; expired ones are ignored and said so.
//! - [`fold_quota_outcome`] folds the quotas' verdict into the size decision (only ever stricter).

use std::collections::HashMap;
use std::fmt;

use marathon_model::{Group, PathId, Pod, SharedApp, Timestamp};
use serde::{Deserialize, Serialize};
use znode_size::encoded_tree::EncodedGroup;
use znode_size::AppFlavor;

use crate::Verdict;

mod fold;
pub use fold::fold_quota_outcome;

/// What a quota does when it is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QuotaMode {
    /// Refuse a change that grows a resource past its limit (422).
    #[default]
    Enforce,
    /// Forward it with a `Warning` header.
    Warn,
}

impl QuotaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaMode::Enforce => "enforce",
            QuotaMode::Warn => "warn",
        }
    }
}

/// An absolute group id (`/`, `/dev`, `/dev/team-a`), without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupPath(String);

impl GroupPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `/dev` contains `/dev` and `/dev/x`, not `/devops`; `/` contains everything.
    pub fn contains(&self, id: &str) -> bool {
        let p = self.0.as_str();
        p == "/" || id == p || (id.starts_with(p) && id.as_bytes().get(p.len()) == Some(&b'/'))
    }

    pub fn path_id(&self) -> PathId {
        PathId::parse(&self.0)
    }
}

impl TryFrom<String> for GroupPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if !s.starts_with('/') {
            return Err(format!("{s:?} is not an absolute group id (like \"/dev\")"));
        }
        let t = s.trim_end_matches('/');
        if t.is_empty() {
            return Ok(GroupPath("/".into()));
        }
        if t[1..].split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return Err(format!("{s:?} is not a group id: empty, `.` or `..` segment"));
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{s:?} is not a group id: it contains white space"));
        }
        Ok(GroupPath(t.to_string()))
    }
}

impl From<GroupPath> for String {
    fn from(g: GroupPath) -> String {
        g.0
    }
}

impl fmt::Display for GroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A non-negative, finite amount (cpus, MiB, gpus).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Amount(pub f64);

impl TryFrom<f64> for Amount {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if v.is_finite() && v >= 0.0 {
            Ok(Amount(v))
        } else {
            Err(format!("{v} is not a non-negative amount"))
        }
    }
}

impl From<Amount> for f64 {
    fn from(a: Amount) -> f64 {
        a.0
    }
}

/// An RFC 3339 date-time with an offset; accepts a TOML string or a TOML offset date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(pub Timestamp);

impl Expiry {
    pub fn parse(raw: &str) -> Result<Expiry, String> {
        Timestamp::parse(raw.trim()).map(Expiry).map_err(|_| {
            format!("{raw:?} is not an RFC 3339 date-time with an offset (like \"2025-06-30T00:00:00Z\")")
        })
    }
}

impl Serialize for Expiry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_iso_offset())
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Expiry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 date-time with an offset, like \"2025-06-30T00:00:00Z\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Expiry, E> {
                Expiry::parse(v).map_err(E::custom)
            }
            // TOML's own date-time values arrive as a one-entry map holding their text.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Expiry, A::Error> {
                let Some((_, text)) = map.next_entry::<String, String>()? else {
                    return Err(serde::de::Error::custom("empty date-time"));
                };
                Expiry::parse(&text).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[quota]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QuotaRaw")]
pub struct Quota {
    pub group: GroupPath,
    pub max_bytes: Option<u64>,
    pub max_apps: Option<u64>,
    pub max_instances: Option<u64>,
    pub max_cpus: Option<Amount>,
    pub max_mem: Option<Amount>,
    pub max_disk: Option<Amount>,
    pub max_gpus: Option<Amount>,
    pub max_env_vars: Option<u64>,
    pub max_app_bytes: Option<u64>,
    pub mode: QuotaMode,
    pub owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaRaw {
    group: GroupPath,
    max_bytes: Option<u64>,
    max_apps: Option<u64>,
    max_instances: Option<u64>,
    max_cpus: Option<Amount>,
    max_mem: Option<Amount>,
    max_disk: Option<Amount>,
    max_gpus: Option<Amount>,
    max_env_vars: Option<u64>,
    max_app_bytes: Option<u64>,
    #[serde(default)]
    mode: QuotaMode,
    owner: Option<String>,
}

impl TryFrom<QuotaRaw> for Quota {
    type Error = String;
    fn try_from(r: QuotaRaw) -> Result<Quota, String> {
        let q = Quota {
            group: r.group,
            max_bytes: r.max_bytes,
            max_apps: r.max_apps,
            max_instances: r.max_instances,
            max_cpus: r.max_cpus,
            max_mem: r.max_mem,
            max_disk: r.max_disk,
            max_gpus: r.max_gpus,
            max_env_vars: r.max_env_vars,
            max_app_bytes: r.max_app_bytes,
            mode: r.mode,
            owner: r.owner.filter(|o| !o.trim().is_empty()),
        };
        if Resource::ALL.iter().all(|r| r.limit(&q).is_none()) {
            return Err(format!(
                "the [[quota]] for {} sets no limit: give at least one of {}",
                q.group,
                Resource::ALL.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(q)
    }
}

/// One `[[exemption]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ExemptionRaw")]
pub struct Exemption {
    /// Writes under this group prefix (and findings about it).
    pub group: Option<GroupPath>,
    /// The client identity: the Basic auth user, or the value of `header` when that is set.
    pub client: Option<String>,
    /// A request header carrying the client identity (e.g. `X-Client-Id`).
    pub header: Option<String>,
    pub expires: Expiry,
    pub ticket: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionRaw {
    group: Option<GroupPath>,
    client: Option<String>,
    header: Option<String>,
    expires: Option<Expiry>,
    ticket: Option<String>,
}

impl TryFrom<ExemptionRaw> for Exemption {
    type Error = String;
    fn try_from(r: ExemptionRaw) -> Result<Exemption, String> {
        if r.group.is_none() && r.client.is_none() {
            return Err("an [[exemption]] needs `group` (a group prefix) and/or `client` (a client identity)".into());
        }
        if r.header.is_some() && r.client.is_none() {
            return Err("an [[exemption]] with `header` needs `client` (the value that header must carry)".into());
        }
        if let Some(h) = &r.header {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b)) {
                return Err(format!("`header` {h:?} is not an HTTP header name"));
            }
        }
        let Some(expires) = r.expires else {
            return Err("an [[exemption]] needs `expires` (RFC 3339, like \"2025-06-30T00:00:00Z\"): exemptions are time-limited".into());
        };
        let ticket = r.ticket.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            "an [[exemption]] needs `ticket` (the change or incident that grants it), for the audit log".to_string()
        })?;
        Ok(Exemption { group: r.group, client: r.client, header: r.header.map(|h| h.to_ascii_lowercase()), expires, ticket })
    }
}

impl Exemption {
    pub fn active(&self, now: Timestamp) -> bool {
        self.expires.0 > now
    }
}

/// The quotas and exemptions in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaSet {
    #[serde(default)]
    pub quota: Vec<Quota>,
    #[serde(default)]
    pub exemption: Vec<Exemption>,
}

impl QuotaSet {
    pub fn is_empty(&self) -> bool {
        self.quota.is_empty()
    }

    /// The quotas whose subtree holds `id` (outermost first).
    pub fn applying_to<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Quota> + 'a {
        let mut v: Vec<&Quota> = self.quota.iter().filter(|q| q.group.contains(id)).collect();
        v.sort_by_key(|q| q.group.as_str().len());
        v.into_iter()
    }

    /// Who answers for a write touching `ids`: the innermost quota over one of them that names
    /// an owner (its group and owner); else the top-level group of the first id, without owner.
    /// Notifications are grouped, and `check` lines labelled, by it.
    pub fn responsible<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Responsible {
        let ids: Vec<&str> = ids.into_iter().collect();
        let owned = ids
            .iter()
            .flat_map(|id| self.quota.iter().filter(move |q| q.owner.is_some() && q.group.contains(id)))
            .max_by_key(|q| q.group.as_str().len());
        if let Some(q) = owned {
            return Responsible { group: q.group.to_string(), owner: q.owner.clone() };
        }
        let top = ids.first().and_then(|id| id.trim_start_matches('/').split('/').next()).filter(|s| !s.is_empty());
        Responsible { group: top.map_or_else(|| "/".to_string(), |t| format!("/{t}")), owner: None }
    }

    /// Header names that exemptions read (lower case).
    pub fn identity_headers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.exemption.iter().filter_map(|e| e.header.as_deref()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The group a write belongs to as people know it, and who answers for it
/// ([`QuotaSet::responsible`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Responsible {
    pub group: String,
    pub owner: Option<String>,
}

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Bytes,
    Apps,
    Instances,
    Cpus,
    Mem,
    Disk,
    Gpus,
    EnvVars,
    AppBytes,
}

impl Resource {
    pub const ALL: [Resource; 9] = [
        Resource::Bytes,
        Resource::Apps,
        Resource::Instances,
        Resource::Cpus,
        Resource::Mem,
        Resource::Disk,
        Resource::Gpus,
        Resource::EnvVars,
        Resource::AppBytes,
    ];

    /// The name used in messages and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Bytes => "bytes",
            Resource::Apps => "apps",
            Resource::Instances => "instances",
            Resource::Cpus => "cpus",
            Resource::Mem => "mem",
            Resource::Disk => "disk",
            Resource::Gpus => "gpus",
            Resource::EnvVars => "env_vars",
            Resource::AppBytes => "app_bytes",
        }
    }

    /// The `proxy.toml` key.
    pub fn key(self) -> &'static str {
        match self {
            Resource::Bytes => "max_bytes",
            Resource::Apps => "max_apps",
            Resource::Instances => "max_instances",
            Resource::Cpus => "max_cpus",
            Resource::Mem => "max_mem",
            Resource::Disk => "max_disk",
            Resource::Gpus => "max_gpus",
            Resource::EnvVars => "max_env_vars",
            Resource::AppBytes => "max_app_bytes",
        }
    }

    /// Limits that hold for each app rather than for the subtree's sum.
    pub fn per_app(self) -> bool {
        matches!(self, Resource::EnvVars | Resource::AppBytes)
    }

    fn fractional(self) -> bool {
        matches!(self, Resource::Cpus | Resource::Mem | Resource::Disk | Resource::Gpus)
    }

    pub fn limit(self, q: &Quota) -> Option<f64> {
        match self {
            Resource::Bytes => q.max_bytes.map(|v| v as f64),
            Resource::Apps => q.max_apps.map(|v| v as f64),
            Resource::Instances => q.max_instances.map(|v| v as f64),
            Resource::Cpus => q.max_cpus.map(|v| v.0),
            Resource::Mem => q.max_mem.map(|v| v.0),
            Resource::Disk => q.max_disk.map(|v| v.0),
            Resource::Gpus => q.max_gpus.map(|v| v.0),
            Resource::EnvVars => q.max_env_vars.map(|v| v as f64),
            Resource::AppBytes => q.max_app_bytes.map(|v| v as f64),
        }
    }

    /// The usage of a subtree (for per-app limits: the largest app).
    pub fn of(self, u: &Usage) -> f64 {
        match self {
            Resource::Bytes => u.bytes as f64,
            Resource::Apps => u.apps as f64,
            Resource::Instances => u.instances as f64,
            Resource::Cpus => u.cpus,
            Resource::Mem => u.mem,
            Resource::Disk => u.disk,
            Resource::Gpus => u.gpus,
            Resource::EnvVars => u.max_env_vars as f64,
            Resource::AppBytes => u.max_app_bytes as f64,
        }
    }

    fn of_app(self, a: &AppFacts) -> f64 {
        match self {
            Resource::EnvVars => a.env_vars as f64,
            Resource::AppBytes => a.bytes as f64,
            _ => 0.0,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Resource::Bytes => "persisted bytes of the subtree (uncompressed protobuf)",
            Resource::Apps => "apps in the subtree",
            Resource::Instances => "instances summed over the subtree",
            Resource::Cpus => "cpus x instances summed over the subtree",
            Resource::Mem => "mem (MiB) x instances summed over the subtree",
            Resource::Disk => "disk (MiB) x instances summed over the subtree",
            Resource::Gpus => "gpus x instances summed over the subtree",
            Resource::EnvVars => "environment variables of one app",
            Resource::AppBytes => "persisted bytes of one app definition (uncompressed protobuf)",
        }
    }

    pub fn fmt_value(self, v: f64) -> String {
        if self.fractional() {
            let s = format!("{v:.2}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            s.to_string()
        } else {
            format!("{}", v.round() as i64)
        }
    }
}

/// What one app contributes to per-app limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppFacts {
    pub id: String,
    pub bytes: u64,
    pub env_vars: u64,
}

/// A subtree's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Uncompressed persisted bytes (the encoded `GroupDefinition` of the subtree).
    pub bytes: u64,
    pub apps: u64,
    pub instances: u64,
    /// cpus x instances, summed.
    pub cpus: f64,
    /// MiB x instances, summed.
    pub mem: f64,
    pub disk: f64,
    pub gpus: f64,
    /// The most environment variables of one app.
    pub max_env_vars: u64,
    /// The most persisted bytes of one app.
    pub max_app_bytes: u64,
}

impl Usage {
    /// Adds one app (its resources x instances).
    pub fn add_app(&mut self, app: &SharedApp, app_bytes: u64) {
        let n = app.instances() as f64;
        self.apps += 1;
        self.instances += app.instances() as u64;
        self.cpus += app.cpus() * n;
        self.mem += app.mem() * n;
        self.disk += app.disk() * n;
        self.gpus += app.gpus() * n;
        self.max_env_vars = self.max_env_vars.max(app.env_count() as u64);
        self.max_app_bytes = self.max_app_bytes.max(app_bytes);
    }

    /// Adds one pod (1.4+), counted as an app is: its resources per instance x instances.
    pub fn add_pod(&mut self, pod: &Pod, pod_bytes: u64) {
        let n = pod.instances();
        let [cpus, mem, disk, gpus] = pod.resources_per_instance();
        self.apps += 1;
        self.instances += n;
        self.cpus += cpus * n as f64;
        self.mem += mem * n as f64;
        self.disk += disk * n as f64;
        self.gpus += gpus * n as f64;
        self.max_env_vars = self.max_env_vars.max(pod.env_count() as u64);
        self.max_app_bytes = self.max_app_bytes.max(pod_bytes);
    }

    /// Adds another subtree's counts and resources (bytes excluded: a group's bytes are not a sum).
    pub fn add_counts(&mut self, o: &Usage) {
        self.apps += o.apps;
        self.instances += o.instances;
        self.cpus += o.cpus;
        self.mem += o.mem;
        self.disk += o.disk;
        self.gpus += o.gpus;
        self.max_env_vars = self.max_env_vars.max(o.max_env_vars);
        self.max_app_bytes = self.max_app_bytes.max(o.max_app_bytes);
    }
}

/// Encodes subtrees (apps keep their bytes between calls: see `znode_size`) and measures them.
pub struct QuotaEngine {
    flavor: AppFlavor,
}

impl QuotaEngine {
    pub fn new(flavor: AppFlavor) -> QuotaEngine {
        QuotaEngine { flavor }
    }

    pub fn set_flavor(&mut self, flavor: AppFlavor) {
        self.flavor = flavor;
    }

    /// The usage of the subtree `group` of `root` and its apps' facts (zero when absent).
    pub fn usage(&mut self, root: &Group, group: &GroupPath, need_bytes: bool) -> (Usage, Vec<AppFacts>) {
        let Some(g) = find_group(root, group) else { return (Usage::default(), Vec::new()) };
        let mut usage = Usage::default();
        let mut facts = Vec::new();
        if need_bytes {
            let encoded = EncodedGroup::legacy(g, self.flavor);
            usage.bytes = encoded.len() as u64;
            let mut bytes_of: HashMap<String, u64> = HashMap::new();
            encoded.visit(&mut |eg| {
                for a in &eg.apps {
                    bytes_of.insert(a.id().to_string(), a.bytes.len() as u64);
                }
            });
            for app in g.transitive_apps() {
                let id = app.id().unwrap_or_default().to_string();
                let b = bytes_of.get(&id).copied().unwrap_or(0);
                usage.add_app(app, b);
                facts.push(AppFacts { id, bytes: b, env_vars: app.env_count() as u64 });
            }
        } else {
            for app in g.transitive_apps() {
                usage.add_app(app, 0);
                facts.push(AppFacts { id: app.id().unwrap_or_default().to_string(), bytes: 0, env_vars: app.env_count() as u64 });
            }
        }
        // Pods (persisted as their JSON text, already in the subtree's bytes) count as apps do.
        for pod in g.transitive_groups().into_iter().flat_map(|sub| sub.pods()) {
            let bytes = if need_bytes { znode_size::v14::pod_data_len(pod) as u64 } else { 0 };
            usage.add_pod(pod, bytes);
            facts.push(AppFacts { id: pod.id.clone().unwrap_or_default(), bytes, env_vars: pod.env_count() as u64 });
        }
        (usage, facts)
    }
}

fn find_group<'a>(root: &'a Group, group: &GroupPath) -> Option<&'a Group> {
    if group.as_str() == "/" {
        return Some(root);
    }
    root.find_group(&group.path_id())
}

/// Who sends the write.
#[derive(Debug, Clone, Default)]
pub struct ClientIdentity {
    /// The user of a Basic `Authorization` header.
    pub user: Option<String>,
    /// The identity headers exemptions name ([`QuotaSet::identity_headers`]), lower-case names.
    pub headers: Vec<(String, String)>,
}

impl ClientIdentity {
    fn matches(&self, e: &Exemption) -> bool {
        let Some(want) = &e.client else { return true };
        match &e.header {
            Some(h) => self.headers.iter().any(|(k, v)| k == h && v == want),
            None => self.user.as_deref() == Some(want.as_str()),
        }
    }

    /// For messages and the audit log.
    pub fn describe(&self) -> Option<String> {
        self.user.clone().or_else(|| self.headers.first().map(|(k, v)| format!("{k}: {v}")))
    }
}

/// A change to check.
#[derive(Debug, Clone, Copy)]
pub struct QuotaChange<'a> {
    pub base: &'a Group,
    pub target: &'a Group,
    /// Absolute ids the write touches (the apps and pods the plan acts on, and the URL's id).
    pub touched: &'a [String],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Over the limit and growing.
    Exceeded,
    /// Over the limit, but the change does not grow it: forwarded ("never block the way out").
    StillOver,
}

/// One quota resource over its limit after the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The quota's group.
    pub quota: String,
    pub owner: Option<String>,
    pub mode: QuotaMode,
    pub resource: Resource,
    pub kind: FindingKind,
    /// After the change (for per-app limits: that app's value).
    pub after: f64,
    /// Before the change.
    pub used: f64,
    pub limit: f64,
    /// For per-app limits: the app.
    pub app: Option<String>,
    /// The ticket of the exemption that let it pass.
    pub exempted_by: Option<String>,
}

impl Finding {
    /// The increase the change asks for (Kubernetes' "requested").
    pub fn requested(&self) -> f64 {
        (self.after - self.used).max(0.0)
    }

    /// True when this finding refuses the write.
    pub fn refuses(&self) -> bool {
        self.kind == FindingKind::Exceeded && self.mode == QuotaMode::Enforce && self.exempted_by.is_none()
    }

    /// One sentence with the numbers, the owner and the way out.
    pub fn message(&self) -> String {
        let r = self.resource;
        let v = |x: f64| r.fmt_value(x);
        let n = r.as_str();
        let owner = self.owner.as_deref().map(|o| format!(" (owner: {o})")).unwrap_or_default();
        let head = match self.kind {
            FindingKind::Exceeded => format!("exceeded quota {}{owner}", self.quota),
            FindingKind::StillOver => format!("quota {}{owner} is already exceeded", self.quota),
        };
        let numbers = match &self.app {
            Some(app) => format!(
                "app {app}: requested: {n}={}, used: {n}={}, limited: {n}={} ({})",
                v(self.after),
                v(self.used),
                v(self.limit),
                r.what()
            ),
            None => format!(
                "requested: {n}={}, used: {n}={}, limited: {n}={} ({}; {} after this change)",
                v(self.requested()),
                v(self.used),
                v(self.limit),
                r.what(),
                v(self.after)
            ),
        };
        let tail = match (self.kind, &self.exempted_by) {
            (FindingKind::StillOver, _) => {
                "this change does not grow it, so it is forwarded; bring the group back under its quota".to_string()
            }
            (_, Some(ticket)) => format!("forwarded under exemption {ticket}"),
            (_, None) if self.mode == QuotaMode::Warn => "quota mode is `warn`: forwarded anyway".to_string(),
            _ => String::new(),
        };
        let way_out = self.way_out();
        let mut s = format!("{head}: {numbers}");
        if !tail.is_empty() {
            s.push_str("; ");
            s.push_str(&tail);
        }
        if self.kind == FindingKind::Exceeded && self.exempted_by.is_none() {
            s.push_str(". Way out: ");
            s.push_str(&way_out);
        }
        s.push('.');
        s
    }

    fn way_out(&self) -> String {
        let q = &self.quota;
        let fix = match self.resource {
            Resource::Bytes => format!(
                "delete apps in {q} you no longer use (deletions always pass), or move environment variables and \
                 labels out of app definitions"
            ),
            Resource::Apps => format!("delete apps in {q} you no longer use (deletions always pass)"),
            Resource::Instances | Resource::Cpus | Resource::Mem | Resource::Disk | Resource::Gpus => format!(
                "scale down or remove other apps in {q} (scale-downs always pass), or ask for fewer resources per instance"
            ),
            Resource::EnvVars => format!(
                "move environment variables of {} into a config file (fetched with `fetch`), a config service or secrets",
                self.app.as_deref().unwrap_or("the app")
            ),
            Resource::AppBytes => format!(
                "make {} smaller: fewer or shorter environment variables, labels and commands",
                self.app.as_deref().unwrap_or("the app")
            ),
        };
        let who = self.owner.as_deref().unwrap_or("the platform team");
        format!(
            "{fix}; or ask {who} to raise `{}` of the [[quota]] for {q}, or for a time-limited [[exemption]] with a ticket",
            self.resource.key()
        )
    }
}

/// An exemption that let a finding pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExemptionUse {
    pub ticket: String,
    pub quota: String,
    pub resource: Resource,
    pub group: Option<String>,
    pub client: Option<String>,
    pub expires: String,
}

/// The quotas' verdict on one change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaOutcome {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub exemptions_used: Vec<ExemptionUse>,
    /// Tickets of expired exemptions that would have matched (ignored).
    pub expired_ignored: Vec<String>,
    /// The quotas evaluated (their groups).
    pub evaluated: Vec<String>,
}

impl QuotaOutcome {
    pub fn allow() -> QuotaOutcome {
        QuotaOutcome {
            verdict: Verdict::Allow,
            findings: Vec::new(),
            exemptions_used: Vec::new(),
            expired_ignored: Vec::new(),
            evaluated: Vec::new(),
        }
    }

    /// One sentence per finding (refusals first), and one per expired exemption.
    pub fn reasons(&self) -> Vec<String> {
        let mut f: Vec<&Finding> = self.findings.iter().collect();
        f.sort_by_key(|f| !f.refuses());
        let mut out: Vec<String> = f.into_iter().map(Finding::message).collect();
        for t in &self.expired_ignored {
            out.push(format!("exemption {t} has expired and was ignored"));
        }
        out
    }
}

const EPS: f64 = 1e-9;

/// Evaluates every quota on the path of `change`.
pub fn evaluate(
    set: &QuotaSet,
    engine: &mut QuotaEngine,
    change: QuotaChange<'_>,
    client: &ClientIdentity,
    now: Timestamp,
) -> QuotaOutcome {
    let mut out = QuotaOutcome::allow();
    for q in &set.quota {
        let on_path = change.touched.iter().any(|id| q.group.contains(id) || GroupPath(id.clone()).contains(q.group.as_str()));
        if !on_path {
            continue;
        }
        out.evaluated.push(q.group.to_string());
        let need_bytes = q.max_bytes.is_some() || q.max_app_bytes.is_some();
        let (before, before_apps) = engine.usage(change.base, &q.group, need_bytes);
        let (after, after_apps) = engine.usage(change.target, &q.group, need_bytes);
        let mut found: Vec<Finding> = Vec::new();
        for r in Resource::ALL {
            let Some(limit) = r.limit(q) else { continue };
            let finding = |kind, after: f64, used: f64, app: Option<String>| Finding {
                quota: q.group.to_string(),
                owner: q.owner.clone(),
                mode: q.mode,
                resource: r,
                kind,
                after,
                used,
                limit,
                app,
                exempted_by: None,
            };
            if r.per_app() {
                let old: HashMap<&str, &AppFacts> = before_apps.iter().map(|a| (a.id.as_str(), a)).collect();
                let mut over: Vec<Finding> = after_apps
                    .iter()
                    .filter(|a| r.of_app(a) > limit + EPS)
                    .map(|a| {
                        let was = old.get(a.id.as_str()).map(|o| r.of_app(o)).unwrap_or(0.0);
                        let kind = if r.of_app(a) > was + EPS { FindingKind::Exceeded } else { FindingKind::StillOver };
                        finding(kind, r.of_app(a), was, Some(a.id.clone()))
                    })
                    .collect();
                // The growing apps all count; of the ones merely still over, the worst is enough.
                over.sort_by(|a, b| b.after.total_cmp(&a.after));
                let mut still = 0;
                over.retain(|f| f.kind == FindingKind::Exceeded || {
                    still += 1;
                    still == 1
                });
                found.extend(over);
            } else {
                let (a, b) = (r.of(&after), r.of(&before));
                if a > limit + EPS {
                    let kind = if a > b + EPS { FindingKind::Exceeded } else { FindingKind::StillOver };
                    found.push(finding(kind, a, b, None));
                }
            }
        }
        for mut f in found {
            if f.kind == FindingKind::Exceeded {
                let subject = f.app.clone().unwrap_or_else(|| f.quota.clone());
                let touched_here: Vec<&String> = change.touched.iter().filter(|id| q.group.contains(id)).collect();
                let matching = |e: &&Exemption| {
                    client.matches(e)
                        && e.group.as_ref().is_none_or(|p| {
                            p.contains(&subject)
                                || (!touched_here.is_empty() && touched_here.iter().all(|id| p.contains(id)))
                        })
                };
                let mut active = None;
                for e in set.exemption.iter().filter(matching) {
                    if e.active(now) {
                        active.get_or_insert(e);
                    } else if !out.expired_ignored.contains(&e.ticket) {
                        out.expired_ignored.push(e.ticket.clone());
                    }
                }
                if let Some(e) = active {
                    f.exempted_by = Some(e.ticket.clone());
                    out.exemptions_used.push(ExemptionUse {
                        ticket: e.ticket.clone(),
                        quota: f.quota.clone(),
                        resource: f.resource,
                        group: e.group.as_ref().map(|g| g.to_string()),
                        client: client.describe().filter(|_| e.client.is_some()),
                        expires: e.expires.0.to_iso_offset(),
                    });
                }
            }
            out.findings.push(f);
        }
    }
    out.verdict = if out.findings.iter().any(Finding::refuses) {
        Verdict::Reject
    } else if out.findings.is_empty() && out.expired_ignored.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Warn
    };
    out
}

#[cfg(test)]
mod tests;
