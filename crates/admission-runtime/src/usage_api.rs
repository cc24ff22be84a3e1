//! The platform team's view of the budget, on the proxy port:
//!
//! - `GET /admission/v1/groups`: every group with its own and subtree usage (persisted bytes,
//!   apps, instances, cpus / mem / disk / gpus x instances, the largest app's env vars and bytes),
//!   every quota that applies to it with used / limit, the root's headroom to the limit, the
//!   quotas and the exemptions. `?tree=1` adds the treemap tree of the budget page (apps under
//!   0.1% of the root, and beyond the 25 largest of a group, merged into one "other" leaf per
//!   group, so that 10,000 apps stay a few hundred rectangles).
//! - `GET /admission/v1/decisions?limit=N`: the latest decisions (audit records), newest first.
//! - `GET /admission/v1/way-out?target=F`: the steps that bring the binding node to `F` of the
//!   limit (default `warn_at`), never touching `[admission] protect` ([`super::way_out`]).
//! - `GET /admission/v1/history`: the binding node's size over time with the limit, the warning
//!   and rejection levels and the growth of the last 7 days ([`super::binding_history`]); served
//!   from memory, also while Marathon cannot be read.
//! - `GET /admission/ui`: the budget page ([`super::ui`]).
//!
//! The groups answer also carries `footprint`: what ZooKeeper holds for Marathon's apps in all,
//! version copies included ([`znode_size::footprint`]).
//!
//! Bytes are uncompressed protobuf bytes as Marathon persists them (a group: the length of its
//! encoded `GroupDefinition`, apps inline; own bytes: the group's header, its apps and its
//! dependencies). The report is computed once per model generation and quota reload, off the
//! async workers, and feeds the quota and budget gauges ([`spawn_gauges`]), which describe the
//! root the warm state was prepared for, on the upkeep thread: background work that never holds
//! a decision back.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use admission::quota::{QuotaSet, Resource, Usage};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};
use marathon_model::{SharedApp, Timestamp};
use serde::Serialize;
use znode_size::encoded_tree::EncodedGroup;
use znode_size::footprint::CurrentNodes;
use znode_size::{Estimator, Footprint, Layout};

use super::admit_metrics::MAX_GROUP_LABELS;
use super::live_model::{LiveModel, Snapshot};
use super::quota_runtime::{QuotaLabels, QuotaRuntime, TopGroupLabels};
use super::decision_sizes::Prepared;
use proxy::phases::WriteRequest;

/// Apps below this share of the root's bytes are merged into their group's "other" leaf.
const TREE_MIN_SHARE: f64 = 0.001;
/// At most this many app leaves per group in the tree.
const TREE_APPS_PER_GROUP: usize = 25;

#[derive(Debug, Clone, Serialize)]
pub struct QuotaResourceRow {
    pub resource: Resource,
    pub key: &'static str,
    pub used: f64,
    pub limit: f64,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuotaRow {
    pub group: String,
    pub owner: Option<String>,
    pub mode: &'static str,
    pub resources: Vec<QuotaResourceRow>,
    /// The largest `used / limit` over its resources.
    pub max_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub id: String,
    pub own: Usage,
    pub subtree: Usage,
    /// Every quota whose subtree holds this group, outermost first.
    pub quotas: Vec<QuotaRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExemptionRow {
    pub ticket: String,
    pub group: Option<String>,
    pub client: Option<String>,
    pub header: Option<String>,
    pub expires: String,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TreeNode {
    pub id: String,
    /// "group", "app" or "other".
    pub kind: &'static str,
    pub bytes: u64,
    /// For "other": how many apps it stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apps: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TreeNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub model_generation: u64,
    #[serde(skip)]
    pub quota_generation: u64,
    pub marathon_version: String,
    pub layout: &'static str,
    pub limit_bytes: u64,
    pub reject_at_bytes: u64,
    /// The binding size now (legacy: the plan of a deployment that changes nothing).
    pub current_bytes: u64,
    pub binding_node: String,
    /// The root group, uncompressed.
    pub root_bytes: u64,
    /// `limit_bytes - current_bytes`.
    pub headroom_bytes: i64,
    /// `headroom_bytes / limit_bytes`.
    pub headroom_ratio: f64,
    pub groups: Vec<GroupRow>,
    pub quotas: Vec<QuotaRow>,
    pub exemptions: Vec<ExemptionRow>,
    /// Everything ZooKeeper holds for Marathon's apps, at most: the current nodes, the version
    /// copies `zk_max_versions` keeps, pending plans (not known here: none counted).
    pub footprint: Footprint,
    #[serde(skip)]
    pub tree: TreeNode,
}

fn quota_rows(set: &QuotaSet, usage_of: &dyn Fn(&str) -> Usage) -> Vec<QuotaRow> {
    set.quota
        .iter()
        .map(|q| {
            let u = usage_of(q.group.as_str());
            let resources: Vec<QuotaResourceRow> = Resource::ALL
                .iter()
                .filter_map(|r| {
                    let limit = r.limit(q)?;
                    let used = r.of(&u);
                    let ratio = if limit > 0.0 { used / limit } else if used > 0.0 { f64::INFINITY } else { 0.0 };
                    Some(QuotaResourceRow { resource: *r, key: r.key(), used, limit, ratio: if ratio.is_finite() { ratio } else { 1e9 } })
                })
                .collect();
            let max_ratio = resources.iter().map(|r| r.ratio).fold(0.0, f64::max);
            QuotaRow { group: q.group.to_string(), owner: q.owner.clone(), mode: q.mode.as_str(), resources, max_ratio }
        })
        .collect()
}

/// Walks the encoded tree: rows (preorder) and the subtree usage.
fn walk(eg: &EncodedGroup, apps: &HashMap<&str, &SharedApp>, rows: &mut Vec<GroupRow>) -> Usage {
    let mut own = Usage { bytes: eg.own_len() as u64, ..Usage::default() };
    for a in &eg.apps {
        if let Some(app) = apps.get(a.id()) {
            own.add_app(app, a.bytes.len() as u64);
        }
    }
    let at = rows.len();
    rows.push(GroupRow { id: eg.id.to_string(), own: own.clone(), subtree: Usage::default(), quotas: Vec::new() });
    let mut subtree = own;
    subtree.bytes = eg.len() as u64;
    for g in &eg.groups {
        let c = walk(g, apps, rows);
        subtree.add_counts(&c);
    }
    rows[at].subtree = subtree.clone();
    subtree
}

fn tree(eg: &EncodedGroup, min_bytes: u64) -> TreeNode {
    let mut children: Vec<TreeNode> = eg.groups.iter().map(|g| tree(g, min_bytes)).collect();
    let mut apps: Vec<(&str, u64)> = eg.apps.iter().map(|a| (a.id(), a.bytes.len() as u64)).collect();
    apps.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let (mut other_bytes, mut other_n) = (0u64, 0u64);
    for (i, (id, bytes)) in apps.into_iter().enumerate() {
        if i < TREE_APPS_PER_GROUP && bytes >= min_bytes {
            children.push(TreeNode { id: id.to_string(), kind: "app", bytes, apps: None, children: Vec::new() });
        } else {
            other_bytes += bytes;
            other_n += 1;
        }
    }
    if other_n > 0 {
        let id = format!("{}/({other_n} smaller apps)", if eg.id.is_root() { String::new() } else { eg.id.to_string() });
        children.push(TreeNode { id, kind: "other", bytes: other_bytes, apps: Some(other_n), children: Vec::new() });
    }
    TreeNode { id: eg.id.to_string(), kind: "group", bytes: eg.len() as u64, apps: None, children }
}

/// Computes the report (blocking: encodes the root, and gzips it when no warm state fits).
fn compute(
    snap: &Snapshot,
    prepared: Option<Arc<Prepared>>,
    set: &QuotaSet,
    quota_generation: u64,
    reject_at: u64,
    estimator: &mut Option<Estimator>,
) -> UsageReport {
    let est = match estimator {
        Some(e) if e.cfg == snap.store => e,
        slot => slot.insert(Estimator::new(snap.store.clone())),
    };
    let root = &snap.root;
    let encoded = est.encode(root);
    let current = match prepared.filter(|p| Arc::ptr_eq(&p.root, root) && p.store == snap.store) {
        Some(p) => p.binding().clone(),
        None if snap.store.layout == Layout::Legacy => est.deployment(root, root),
        None => est.state(root),
    };
    let apps: HashMap<&str, &SharedApp> = root.transitive_apps().into_iter().filter_map(|a| a.id().map(|id| (id, a))).collect();
    let mut rows = Vec::new();
    walk(&encoded, &apps, &mut rows);
    let by_id: HashMap<String, Usage> = rows.iter().map(|r| (r.id.clone(), r.subtree.clone())).collect();
    let usage_of = |g: &str| by_id.get(g).cloned().unwrap_or_default();
    let quotas = quota_rows(set, &usage_of);
    for row in &mut rows {
        row.quotas = set
            .quota
            .iter()
            .zip(&quotas)
            .filter(|(q, _)| q.group.contains(&row.id))
            .map(|(_, r)| r.clone())
            .collect();
        row.quotas.sort_by_key(|r| r.group.len());
    }
    let now = Timestamp::now();
    let exemptions = set
        .exemption
        .iter()
        .map(|e| ExemptionRow {
            ticket: e.ticket.clone(),
            group: e.group.as_ref().map(|g| g.to_string()),
            client: e.client.clone(),
            header: e.header.clone(),
            expires: e.expires.0.to_iso_offset(),
            active: e.active(now),
        })
        .collect();
    let limit = current.limit_bytes;
    let root_bytes = encoded.len() as u64;
    let min_bytes = ((root_bytes as f64) * TREE_MIN_SHARE) as u64;
    UsageReport {
        model_generation: snap.generation,
        quota_generation,
        marathon_version: snap.version.clone(),
        layout: snap.store.layout.as_str(),
        limit_bytes: limit,
        reject_at_bytes: reject_at,
        current_bytes: current.binding_bytes,
        binding_node: current.binding_node.clone(),
        root_bytes,
        headroom_bytes: limit as i64 - current.binding_bytes as i64,
        headroom_ratio: if limit > 0 { (limit as f64 - current.binding_bytes as f64) / limit as f64 } else { 0.0 },
        groups: rows,
        quotas,
        exemptions,
        footprint: Footprint::of(&CurrentNodes::from_estimate(root, &encoded, &current, &snap.store), &snap.store, None),
        tree: tree(&encoded, min_bytes),
    }
}

fn set_gauges(q: &QuotaRuntime, r: &UsageReport) {
    let m = &q.metrics;
    m.used.clear();
    m.limit.clear();
    m.used_ratio.clear();
    for row in &r.quotas {
        for res in &row.resources {
            let l = QuotaLabels { group: row.group.clone(), resource: res.resource.as_str() };
            m.used.get_or_create(&l).set(res.used);
            m.limit.get_or_create(&l).set(res.limit);
            m.used_ratio.get_or_create(&l).set(res.ratio);
        }
    }
    m.group_limit_share.clear();
    let scale = if r.limit_bytes > 0 && r.root_bytes > 0 {
        r.current_bytes as f64 / r.limit_bytes as f64 / r.root_bytes as f64
    } else {
        0.0
    };
    let mut top: Vec<&GroupRow> = r.groups.iter().filter(|g| g.id.matches('/').count() == 1 && g.id != "/").collect();
    top.sort_by(|a, b| b.subtree.bytes.cmp(&a.subtree.bytes));
    for g in top.into_iter().take(MAX_GROUP_LABELS) {
        m.group_limit_share.get_or_create(&TopGroupLabels { group: g.id.clone() }).set(g.subtree.bytes as f64 * scale);
    }
    m.headroom_ratio.set(r.headroom_ratio);
    let now = Timestamp::now();
    m.exemptions_active.set(q.set().exemption.iter().filter(|e| e.active(now)).count() as i64);
}

/// The report for the model's current snapshot (cached per model generation and quota reload).
/// `None` while the model is not synced.
pub async fn report(model: &Arc<LiveModel>, quotas: &Arc<QuotaRuntime>) -> Option<Arc<UsageReport>> {
    let snap = model.snapshot().await?;
    report_on(snap, model, quotas, Lane::Asked).await
}

/// Where a report is computed.
#[derive(Clone, Copy)]
enum Lane {
    /// Someone waits for it: the blocking pool.
    Asked,
    /// The gauges: the upkeep thread, which the kernel schedules behind decisions.
    Background,
}

async fn report_on(snap: Snapshot, model: &Arc<LiveModel>, quotas: &Arc<QuotaRuntime>, lane: Lane) -> Option<Arc<UsageReport>> {
    let mut cache = quotas.usage.lock().await;
    if let Some(r) = cache.as_ref() {
        if r.model_generation == snap.generation && r.quota_generation == quotas.generation() {
            return Some(r.clone());
        }
    }
    let prepared = model.prepared();
    let set = quotas.set();
    let qgen = quotas.generation();
    let reject_at = model.config().policy.reject_at(snap.store.limit_bytes());
    let q = quotas.clone();
    let job = move || {
        let mut est = q.usage_engine.lock().unwrap().take();
        let r = compute(&snap, prepared, &set, qgen, reject_at, &mut est);
        *q.usage_engine.lock().unwrap() = est;
        r
    };
    let r = match lane {
        Lane::Asked => tokio::task::spawn_blocking(job).await.ok()?,
        Lane::Background => super::upkeep_lane::run(job).await.ok()?,
    };
    let r = Arc::new(r);
    set_gauges(quotas, &r);
    *cache = Some(r.clone());
    Some(r)
}

/// What the gauges describe: the root the warm state was prepared for (at most one preparation
/// behind the model) when there is one. During a burst of deployments the model moves faster
/// than it is prepared, and a report of the newest root would gzip the whole plan every time.
fn gauged_snapshot(snap: Snapshot, prepared: Option<Arc<Prepared>>) -> Snapshot {
    match prepared {
        Some(p) if p.store == snap.store && p.generation <= snap.generation => {
            Snapshot { root: p.root.clone(), generation: p.generation, body_hash: None, ..snap }
        }
        _ => snap,
    }
}

/// Keeps the quota and budget gauges current (every 2 s, recomputed only when something changed).
pub fn spawn_gauges(model: Arc<LiveModel>, quotas: &Arc<QuotaRuntime>) {
    let weak: Weak<QuotaRuntime> = Arc::downgrade(quotas);
    tokio::spawn(async move {
        loop {
            let Some(q) = weak.upgrade() else { return };
            if let Some(snap) = model.snapshot().await {
                let snap = gauged_snapshot(snap, model.prepared());
                let _ = report_on(snap, &model, &q, Lane::Background).await;
            }
            drop(q);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

fn respond(status: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').filter_map(|kv| kv.split_once('=').or(Some((kv, "")))).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Answers the usage endpoints and the page; `None` for other `/admission/...` paths.
pub async fn route(model: &Arc<LiveModel>, quotas: &Arc<QuotaRuntime>, req: &WriteRequest<'_>) -> Option<Response<Bytes>> {
    let segs = marathon_model::ops::request_path::normalized_segments(req.path());
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let known = matches!(
        segs.as_slice(),
        ["admission", "v1", "groups"] | ["admission", "v1", "decisions"] | ["admission", "v1", "way-out"]
            | ["admission", "v1", "history"]
            | ["admission", "ui", ..]
    );
    if !known {
        return None;
    }
    if *req.method != Method::GET && *req.method != Method::HEAD {
        return Some(proxy::marathon_error(StatusCode::METHOD_NOT_ALLOWED, format!("marathon-admission: only GET on {}", req.path())));
    }
    Some(match segs.as_slice() {
        ["admission", "ui", rest @ ..] => super::ui::serve(rest),
        ["admission", "v1", "way-out"] => super::way_out::get(model, req.query()).await,
        ["admission", "v1", "history"] => respond(StatusCode::OK, "application/json", model.history_answer().to_string()),
        ["admission", "v1", "decisions"] => {
            let n = query_param(req.query(), "limit").and_then(|v| v.parse().ok()).unwrap_or(50usize);
            let body = serde_json::json!({"decisions": quotas.decisions.latest(n)});
            respond(StatusCode::OK, "application/json", body.to_string())
        }
        _ => match report(model, quotas).await {
            None => {
                let reason = model.not_ready_reason().unwrap_or_else(|| "admission model not synced".into());
                let mut r = proxy::marathon_error(StatusCode::SERVICE_UNAVAILABLE, format!("marathon-admission: {reason}; retry in a few seconds"));
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            Some(r) => {
                let mut v = serde_json::to_value(&*r).unwrap_or_default();
                if query_param(req.query(), "tree").is_some_and(|t| t != "0" && t != "false") {
                    v["tree"] = serde_json::to_value(&r.tree).unwrap_or_default();
                }
                respond(StatusCode::OK, "application/json", v.to_string())
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_model::ops::{canonical_root, Flavour};
    use marathon_model::Group;

    /// While the model moves ahead of its warm state, the gauges describe the prepared root, which
    /// needs no gzip; a warm state for another store, or none, leaves the model's root.
    #[test]
    fn the_gauges_describe_the_prepared_root_while_the_model_moves() {
        let parse = |json: serde_json::Value| {
            let g = Group::parse(json.to_string().as_bytes()).unwrap().normalized(&marathon_model::PathId::root()).unwrap();
            Arc::new(canonical_root(g, Flavour::V13))
        };
        let older = parse(serde_json::json!({"id": "/", "apps": [{"id": "/a", "cmd": "x"}]}));
        let newer = parse(serde_json::json!({"id": "/", "apps": [{"id": "/a", "cmd": "x"}, {"id": "/b", "cmd": "y"}]}));
        let store = znode_size::StoreConfig::marathon_1_3();
        let snap = Snapshot {
            root: newer.clone(),
            version: "1.3.14".into(),
            flavour: Flavour::V13,
            store: store.clone(),
            fetch_started: std::time::Instant::now(),
            generation: 9,
            body_hash: Some(1),
            order_known: false,
        };
        let prepared = Arc::new(Prepared::prepare(older.clone(), 7, store.clone()));
        let gauged = gauged_snapshot(snap.clone(), Some(prepared.clone()));
        assert!(Arc::ptr_eq(&gauged.root, &older));
        assert_eq!(gauged.generation, 7);
        // Its report describes the prepared root: its binding node, and one app.
        let r = compute(&gauged, Some(prepared.clone()), &QuotaSet::default(), 1, 1000, &mut None);
        assert_eq!(r.current_bytes, prepared.binding().binding_bytes);
        assert_eq!(r.model_generation, 7);
        assert_eq!(r.groups[0].subtree.apps, 1);

        let other_store = Arc::new(Prepared::prepare(older.clone(), 7, znode_size::StoreConfig::marathon_1_4()));
        assert!(Arc::ptr_eq(&gauged_snapshot(snap.clone(), Some(other_store)).root, &newer));
        let unprepared = gauged_snapshot(snap, None);
        assert!(Arc::ptr_eq(&unprepared.root, &newer));
        assert_eq!(unprepared.generation, 9);
    }

    #[test]
    fn report_rows_quotas_and_an_aggregated_tree() {
        let mut apps = Vec::new();
        for i in 0..60 {
            apps.push(serde_json::json!({"id": format!("/big/a{i:02}"), "cmd": "x".repeat(if i == 0 { 4000 } else { 10 }), "instances": 2, "cpus": 0.5}));
        }
        apps.push(serde_json::json!({"id": "/small/b", "cmd": "y"}));
        let root_json = serde_json::json!({"id": "/", "apps": [], "groups": [
            {"id": "/big", "apps": apps[..60], "groups": []},
            {"id": "/small", "apps": [apps[60]], "groups": []}
        ]});
        let root = Group::parse(root_json.to_string().as_bytes()).unwrap().normalized(&marathon_model::PathId::root()).unwrap();
        let root = Arc::new(canonical_root(root, Flavour::V13));
        let store = znode_size::StoreConfig::marathon_1_3();
        let snap = Snapshot {
            root,
            version: "1.3.14".into(),
            flavour: Flavour::V13,
            store: store.clone(),
            fetch_started: std::time::Instant::now(),
            generation: 7,
            body_hash: None,
            order_known: false,
        };
        let set = super::super::quota_runtime::parse_text(
            "[[quota]]\ngroup = \"/big\"\nmax_apps = 100\nmax_cpus = 30\nowner = \"o\"\n[[quota]]\ngroup = \"/\"\nmax_instances = 1000\n",
            "t",
        )
        .unwrap();
        let mut est = None;
        let r = compute(&snap, None, &set, 1, 1000, &mut est);
        assert_eq!(r.groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), vec!["/", "/big", "/small"]);
        let big = &r.groups[1];
        assert_eq!(big.subtree.apps, 60);
        assert_eq!(big.subtree.instances, 120);
        assert!((big.subtree.cpus - 60.0).abs() < 1e-9);
        assert_eq!(big.quotas.iter().map(|q| q.group.as_str()).collect::<Vec<_>>(), vec!["/", "/big"]);
        let q = &r.quotas[0];
        assert_eq!(q.resources[1].key, "max_cpus");
        assert!((q.resources[1].ratio - 2.0).abs() < 1e-9);
        assert_eq!(r.groups[0].subtree.bytes, r.root_bytes);
        assert_eq!(r.groups[0].subtree.apps, 61);
        assert!(r.current_bytes > r.root_bytes, "legacy: the plan holds the root twice");
        assert_eq!(r.headroom_bytes, r.limit_bytes as i64 - r.current_bytes as i64);
        // The footprint: the same figures as `report`'s, from the root the report was made of.
        assert_eq!(r.footprint, znode_size::footprint(&snap.root, &store, None));
        assert_eq!(r.footprint.item(znode_size::footprint::Part::Services).nodes, 61);
        // The tree: /big keeps its 25 largest apps above 0.1%, the rest is one "other" leaf.
        let tb = &r.tree.children[0];
        assert_eq!(tb.id, "/big");
        let leaves = tb.children.iter().filter(|c| c.kind == "app").count();
        let other = tb.children.iter().find(|c| c.kind == "other").unwrap();
        assert!(leaves <= TREE_APPS_PER_GROUP);
        assert_eq!(leaves as u64 + other.apps.unwrap(), 60);
        assert_eq!(tb.children[0].id, "/big/a00");
    }

    /// 10,000 apps: the page gets a few dozen rectangles, not 10,000.
    #[test]
    fn ten_thousand_apps_stay_a_small_tree() {
        let root = Arc::new(znode_size::synthetic::heroku_root(10_000, 5));
        let store = znode_size::StoreConfig::marathon_1_3();
        let snap = Snapshot {
            root,
            version: "1.3.14".into(),
            flavour: Flavour::V13,
            store,
            fetch_started: std::time::Instant::now(),
            generation: 1,
            body_hash: None,
            order_known: false,
        };
        let r = compute(&snap, None, &QuotaSet::default(), 0, 1, &mut None);
        assert_eq!(r.groups[0].subtree.apps, 10_000);
        fn count(n: &TreeNode) -> usize {
            1 + n.children.iter().map(count).sum::<usize>()
        }
        let nodes = count(&r.tree);
        assert!(nodes < 300, "{nodes} tree nodes");
        let json = serde_json::to_string(&r.tree).unwrap();
        assert!(json.len() < 50_000, "{} bytes of tree", json.len());
    }
}
