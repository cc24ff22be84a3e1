//! The rejection: HTTP 422 in Marathon's error shape, with everything a developer needs in
//! `message` (many clients print only that) and the same points, one per string, in
//! `details[0].errors`. When the way out was computed ([`super::way_out::for_rejection`]), its
//! first steps end the message, each with the bytes it frees.
//!
//! Every figure about the parts of the state is in one unit, the bytes of the node compared with
//! the limit (legacy: the deployment plan, gzipped where Marathon gzips it), so that what the
//! write adds, the room left and what each large group takes can be compared at a glance
//! ([`znode_size::binding_shares`]). The write's path is named as Marathon names it (no `//`).

use std::sync::Arc;

use admission::way_out::Plan;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use marathon_model::{Group, PathId};
use znode_size::binding_shares;
use znode_size::encoded_tree::EncodedGroup;
use znode_size::{Estimate, Layout, StoreConfig};

/// The largest parts of the node the write is refused for, each in bytes of that node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakdown {
    /// (group id, bytes of the binding node), largest first, at most 3.
    pub groups: Vec<(String, u64)>,
    /// (app id, bytes, number of env vars), largest first, at most 3: bytes of the binding node
    /// (legacy), or of the app's own node (1.4+, where each app is one).
    pub apps: Vec<(String, u64, usize)>,
    /// The binding node of the next deployment of the state as it is (before the write), in the
    /// same unit; `None` when not measured (1.4+ with an app's node binding).
    pub before: Option<u64>,
}

/// One breakdown measured at a time.
static MEASURING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

impl Breakdown {
    /// The parts of the node `predicted` binds on, for the deployment `base -> target`, and
    /// `before` (measured on `base` when not given): off the async workers and outside the
    /// decision order, as it costs an encoding of the target, a gzip of each root, and of the plan
    /// when `before` is not known.
    pub async fn measure(
        base: Arc<Group>,
        target: Arc<Group>,
        store: StoreConfig,
        predicted: Estimate,
        before: Option<u64>,
    ) -> Breakdown {
        // A burst of rejections gets its details one at a time, off a single core: while one is
        // measured, the others answer with the sizes alone rather than queue work on the machine.
        let Ok(measuring) = MEASURING.try_acquire() else { return Breakdown::default() };
        let job = tokio::task::spawn_blocking(move || {
            let _measuring = measuring;
            let before = || before.unwrap_or_else(|| admission::way_out::binding_bytes(&base, &store));
            let encoded = EncodedGroup::legacy(&target, store.flavor);
            Breakdown::of(&encoded, &base, &target, &store, &predicted, before)
        });
        job.await.unwrap_or_default()
    }

    fn of(encoded: &EncodedGroup, base: &Group, target: &Group, store: &StoreConfig, predicted: &Estimate, before: impl FnOnce() -> u64) -> Breakdown {
        let binding = predicted.binding_bytes;
        let (shares, before) = match predicted.layout {
            Layout::Legacy => {
                let before = before();
                let raw = predicted.plan_raw_bytes.unwrap_or(2 * encoded.len() as u64);
                let original = EncodedGroup::legacy(base, store.flavor);
                (binding_shares::legacy_plan(&original, encoded, store.compresses(raw as usize), before, binding), Some(before))
            }
            Layout::V14 if binds_on_root(predicted) => (binding_shares::v14_root(target, binding), Some(before())),
            Layout::V14 => (binding_shares::BindingShares::default(), None),
        };
        let apps: Vec<(String, u64)> = match predicted.layout {
            Layout::Legacy => shares.apps,
            Layout::V14 => {
                let mut own = Vec::new();
                encoded.visit(&mut |g| own.extend(g.apps.iter().map(|a| (a.id().to_string(), a.bytes.len() as u64))));
                own.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                own
            }
        };
        let env = |id: &str| {
            let id = PathId::parse(id);
            target.find_app(&id).or_else(|| base.find_app(&id)).map(|app| app.env_count()).unwrap_or(0)
        };
        Breakdown {
            groups: shares.groups.into_iter().take(3).collect(),
            apps: apps.into_iter().take(3).map(|(id, bytes)| (id.clone(), bytes, env(&id))).collect(),
            before,
        }
    }
}

/// 1.4+: the root node is what binds (not an app's node, not a transaction).
fn binds_on_root(p: &Estimate) -> bool {
    p.layout == Layout::V14 && p.binding_node == "group root"
}

/// `path` (with its query) as Marathon names it: the segments Marathon reads, so that
/// `/v2/apps//dev/x` (an absolute id appended to a prefix) reads `/v2/apps/dev/x`.
pub fn as_marathon_names_it(path: &str) -> String {
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let named = format!("/{}", marathon_model::ops::request_path::normalized_segments(p).join("/"));
    match q {
        Some(q) => format!("{named}?{q}"),
        None => named,
    }
}

/// What the rejection talks about.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    pub method: &'a str,
    /// Path and query as sent.
    pub path: &'a str,
    pub current: &'a Estimate,
    pub predicted: &'a Estimate,
    /// The admission threshold (limit minus margin).
    pub reject_at: u64,
    /// How the threshold lies below the limit, in words ([`admission::Margin::describe`]).
    pub margin: &'a str,
    pub breakdown: &'a Breakdown,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl Rejection<'_> {
    /// The points, in order; `message` is them joined.
    pub fn points(&self) -> Vec<String> {
        let p = self.predicted;
        let c = self.current;
        let limit = p.limit_bytes;
        let mut out = Vec::new();
        out.push(format!(
            "marathon-admission rejected {} {}: Marathon could not store the deployment it creates.",
            self.method,
            as_marathon_names_it(self.path)
        ));
        match p.layout {
            Layout::Legacy => out.push(format!(
                "Predicted deployment plan: {} bytes; current root group: {} bytes (after this write: {} bytes); \
                 ZooKeeper node limit (zk_max_node_size): {} bytes; admission threshold: {} bytes (the limit {}).",
                p.binding_bytes, c.root_bytes, p.root_bytes, limit, self.reject_at, self.margin
            )),
            Layout::V14 => out.push(format!(
                "Predicted largest ZooKeeper write ({}): {} bytes; current: {} bytes; \
                 ZooKeeper packet limit (jute.maxbuffer): {} bytes; admission threshold: {} bytes (the limit {}).",
                p.binding_node, p.binding_bytes, c.binding_bytes, limit, self.reject_at, self.margin
            )),
        }
        out.push(match p.layout {
            Layout::Legacy => "Why: every deployment stores the original and the target root group side by side in one \
                 ZooKeeper node, so the plan is about twice the size of the root group; the root group already \
                 holds every app definition in this Marathon."
                .to_string(),
            Layout::V14 => "Why: Marathon writes the root group (with a reference to every app) and each changed app \
                 definition as ZooKeeper requests; one of them would exceed the largest request ZooKeeper accepts."
                .to_string(),
        });
        out.extend(self.in_one_unit());
        out.push(
            "Way out: delete apps you no longer use (deletions always pass admission); move environment \
             variables out of app definitions (config files fetched via `fetch`, a config service, secrets); \
             or shard onto another Marathon."
                .to_string(),
        );
        out
    }

    /// What the write adds, the room left and the largest parts, all in bytes of the binding node.
    fn in_one_unit(&self) -> Vec<String> {
        let p = self.predicted;
        let b = self.breakdown;
        let unit = match p.layout {
            Layout::Legacy => "bytes of the deployment plan (as Marathon stores it, gzipped above the compression threshold)",
            Layout::V14 => "bytes of the root node (group root)",
        };
        // Legacy: the plan holds the state as it is and the state after the write; each part
        // counts in both copies.
        let mut out = Vec::new();
        if let Some(before) = b.before {
            let change = match p.binding_bytes.checked_sub(before) {
                Some(adds) => format!("this write adds {adds} bytes"),
                None => format!("this write frees {} bytes", before - p.binding_bytes),
            };
            out.push(format!(
                "In {unit}: {change} (the next deployment of the current state: {before} bytes; with this write: {} bytes); \
                 room left under the admission threshold: {} bytes.",
                p.binding_bytes,
                self.reject_at.saturating_sub(before)
            ));
        }
        if !b.groups.is_empty() {
            let list: Vec<String> =
                b.groups.iter().map(|(id, bytes)| format!("{id} {bytes} bytes ({:.0}%)", pct(*bytes, p.binding_bytes))).collect();
            out.push(format!("Largest groups, in the same bytes (their part of the {} bytes): {}.", p.binding_bytes, list.join(", ")));
        }
        if !b.apps.is_empty() {
            let list: Vec<String> = b.apps.iter().map(|(id, bytes, env)| format!("{id} {bytes} bytes, {env} env vars")).collect();
            let what = match p.layout {
                Layout::Legacy => "Largest apps, in the same bytes",
                Layout::V14 => "Largest apps (each stored in a node of its own, uncompressed)",
            };
            out.push(format!("{what}: {}.", list.join("; ")));
        }
        out
    }

    /// [`Rejection::points`], then the way out: its first steps, or why there are none, and
    /// where the full plan is. `None` (not computed in time, or no deletion helps this write):
    /// only where to get it.
    pub fn points_with_way_out(&self, way_out: Option<&Plan>) -> Vec<String> {
        let mut out = self.points();
        out.push(way_out_point(way_out));
        out
    }

    /// 422, `application/json`, `{"message": ..., "details": [{"path": "/", "errors": [...]}]}`:
    /// [`Rejection::points_with_way_out`], the way out's first steps when they could be computed.
    pub fn response_with_way_out(&self, way_out: Option<&Plan>) -> Response<Bytes> {
        self.respond(self.points_with_way_out(way_out))
    }

    /// The short form for the HTTP/1 reason phrase (clients such as the Jenkins plugin print
    /// only that): visible ASCII, one line.
    pub fn short(&self) -> String {
        let p = self.predicted;
        let what = match p.layout {
            Layout::Legacy => "deployment plan".to_string(),
            Layout::V14 => p.binding_node.clone(),
        };
        // "now": the same node for the state as it is, when measured.
        let now = self.breakdown.before.unwrap_or(self.current.binding_bytes);
        let s = format!(
            "marathon-admission: {what} would be {} bytes, over {} (ZooKeeper limit {}; now {now}); delete unused apps or move env out",
            p.binding_bytes, self.reject_at, p.limit_bytes
        );
        s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
    }

    fn respond(&self, points: Vec<String>) -> Response<Bytes> {
        let body = serde_json::json!({
            "message": points.join(" "),
            "details": [{"path": "/", "errors": points}],
        });
        let mut resp = Response::new(Bytes::from(body.to_string()));
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(self.short()) {
            resp.extensions_mut().insert(reason);
        }
        resp
    }
}

const FULL_PLAN: &str = "Full plan: GET /admission/v1/way-out or `marathon-admission report --way-out`.";

/// The way out in one point: the steps that make room for the write, in order.
fn way_out_point(plan: Option<&Plan>) -> String {
    let Some(plan) = plan else { return format!("Which apps to delete or change first: {FULL_PLAN}") };
    if plan.steps.is_empty() {
        return match plan.reached {
            true => format!("The state already leaves room for this write now; retry it. {FULL_PLAN}"),
            false => format!("Nothing outside the protected groups ([admission] protect) can make room for this write. {FULL_PLAN}"),
        };
    }
    let steps: Vec<String> = plan.steps.iter().enumerate().map(|(i, s)| format!("{}. {}", i + 1, s.describe())).collect();
    let last = plan.steps.last().map_or(plan.binding_bytes, |s| s.binding_bytes_after);
    let outcome = match plan.reached {
        true => "this makes room for the write".to_string(),
        false => format!("this brings the deployment plan to {last} bytes; more steps are needed for this write"),
    };
    format!(
        "The way out, computed on the current state (bytes as Marathon persists them): {}; {outcome}. {FULL_PLAN}",
        steps.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(root: u64, binding: u64) -> Estimate {
        Estimate {
            layout: Layout::Legacy,
            root_bytes: root,
            plan_bytes: Some(binding),
            binding_node: "deployment plan".into(),
            binding_bytes: binding,
            limit_bytes: 20_000,
            accepted: binding < 20_000,
            plan_raw_bytes: None,
            grows_a_node: false,
        }
    }

    fn sample() -> (Estimate, Estimate, Breakdown) {
        let b = Breakdown {
            groups: vec![("/prod".into(), 18_000), ("/prod/web".into(), 12_000), ("/dev".into(), 1000)],
            apps: vec![
                ("/prod/web/a".into(), 6000, 120),
                ("/prod/web/b".into(), 5000, 90),
                ("/prod/db".into(), 2000, 3),
            ],
            before: Some(19_000),
        };
        (est(9_500, 9_500), est(10_100, 20_400), b)
    }

    #[test]
    fn message_says_it_all() {
        let (c, p, b) = sample();
        let margin = "minus a 0.05% floor and this estimate's error bound of 190 bytes (the order Marathon stores 2 sets in)";
        let r = Rejection { method: "POST", path: "/v2/apps", current: &c, predicted: &p, reject_at: 19_800, margin, breakdown: &b };
        let m = r.points().join(" ");
        for needle in [
            "POST /v2/apps",
            // The threshold says how it lies below the limit: the decision's own bound.
            "admission threshold: 19800 bytes (the limit minus a 0.05% floor and this estimate's error bound of 190 bytes",
            "20400 bytes",
            "9500 bytes",
            "20000 bytes",
            "19800 bytes",
            "side by side",
            "twice",
            // One unit: what the write adds, the room left and the parts, in plan bytes.
            "this write adds 1400 bytes",
            "room left under the admission threshold: 800 bytes",
            "/prod 18000 bytes (88%)",
            "/prod/web/a 6000 bytes, 120 env vars",
            "/prod/db 2000 bytes, 3 env vars",
            "delete apps",
            "deletions always pass",
            "environment",
            "shard onto another Marathon",
        ] {
            assert!(m.contains(needle), "missing {needle:?} in {m}");
        }
    }

    #[test]
    fn response_shape() {
        let (c, p, b) = sample();
        let r = Rejection { method: "PUT", path: "/v2/apps/x?force=true", current: &c, predicted: &p, reject_at: 19_800, margin: "minus a 1.00% safety margin", breakdown: &b };
        let resp = r.response_with_way_out(None);
        assert_eq!(resp.status(), 422);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        let errors = v["details"][0]["errors"].as_array().unwrap();
        assert_eq!(v["details"][0]["path"], "/");
        assert_eq!(errors.len(), r.points().len() + 1);
        assert_eq!(v["message"].as_str().unwrap(), r.points_with_way_out(None).join(" "));
        assert!(v["message"].as_str().unwrap().contains("PUT /v2/apps/x?force=true"));
        let reason = resp.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        let reason = std::str::from_utf8(reason.as_bytes()).unwrap();
        assert!(reason.contains("20400") && reason.contains("19800") && reason.contains("20000"), "{reason}");
        assert!(reason.contains("now 19000"), "the plan now, not the root: {reason}");
    }

    #[test]
    fn the_path_is_named_as_marathon_names_it() {
        let (c, p, b) = sample();
        let r = Rejection { method: "PUT", path: "/v2/apps//dev/./x?force=true", current: &c, predicted: &p, reject_at: 19_800, margin: "minus a 1.00% safety margin", breakdown: &b };
        let first = &r.points()[0];
        assert!(first.contains("PUT /v2/apps/dev/x?force=true:"), "{first}");
        assert_eq!(as_marathon_names_it("/v2/groups//"), "/v2/groups");
        assert_eq!(as_marathon_names_it("/v2/apps/dev%2Fx?a=b//c"), "/v2/apps/dev/x?a=b//c");
    }

    /// On a real state: the write's growth, the room and the groups' shares are all bytes of the
    /// same gzipped plan, so that they add up.
    #[tokio::test]
    async fn every_figure_is_in_the_gzipped_plans_bytes() {
        use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
        let app = |id: String, vars: usize| {
            let env: serde_json::Map<String, serde_json::Value> =
                (0..vars).map(|k| (format!("VAR_{k:03}"), serde_json::json!(format!("{:032x}", (k as u128 + 1) * 0x9e37_79b9_7f4a_7c15 * (id.len() as u128))))).collect();
            serde_json::json!({"id": id, "cmd": "sleep 1", "env": env})
        };
        let dev: Vec<_> = (0..30).map(|i| app(format!("/dev/app-{i:02}"), 40)).collect();
        let prod: Vec<_> = (0..3).map(|i| app(format!("/prod/app-{i:02}"), 5)).collect();
        let seed = serde_json::json!({"id": "/", "apps": [], "groups": [{"id": "/dev", "apps": dev}, {"id": "/prod", "apps": prod}]});
        let base = Arc::new(crate::live_model::parse_root(seed.to_string().as_bytes(), Flavour::V13).unwrap());
        let body = app("/prod/new".into(), 60).to_string();
        let write = parse_write("POST", "/v2/apps", None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
        let target = Arc::new(apply(&base, &write, marathon_model::Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root);
        let store = StoreConfig { compression_threshold: 4096, ..StoreConfig::marathon_1_3() };
        let estimator = znode_size::Estimator::new(store.clone());
        let predicted = estimator.deployment(&base, &target);
        let b = Breakdown::measure(base.clone(), target.clone(), store.clone(), predicted.clone(), None).await;

        let before = b.before.unwrap();
        assert_eq!(before, estimator.deployment(&base, &base).binding_bytes);
        assert!(before < predicted.binding_bytes);
        assert_eq!(b.groups[0].0, "/dev", "{b:?}");
        let top: u64 = b.groups.iter().filter(|g| g.0 == "/dev" || g.0 == "/prod").map(|g| g.1).sum();
        assert!(top.abs_diff(predicted.binding_bytes) * 30 < predicted.binding_bytes, "{top} vs {}: {b:?}", predicted.binding_bytes);
        // The old unit (uncompressed length of the group) is far larger than its share of the plan.
        let dev_raw = encoded_len_of(&estimator.encode(&target), "/dev");
        assert!(b.groups[0].1 < dev_raw, "{} vs {dev_raw}", b.groups[0].1);

        let r = Rejection { method: "POST", path: "/v2/apps", current: &predicted, predicted: &predicted, reject_at: before + 10, margin: "minus a 1.00% safety margin", breakdown: &b };
        let m = r.points().join(" ");
        let adds = predicted.binding_bytes - before;
        assert!(m.contains(&format!("this write adds {adds} bytes")), "{m}");
        assert!(m.contains("room left under the admission threshold: 10 bytes"), "{m}");
        assert!(m.contains(&format!("{} bytes (", b.groups[0].1)), "{m}");
    }

    fn encoded_len_of(root: &EncodedGroup, id: &str) -> u64 {
        let mut len = 0;
        root.visit(&mut |g| {
            if g.id.to_string() == id {
                len = g.len() as u64;
            }
        });
        len
    }

    fn plan(reached: bool, steps: usize) -> Plan {
        use admission::way_out::{Action, Step};
        let steps = (0..steps)
            .map(|i| Step { action: Action::DeleteApp, id: format!("/dev/app-{i}"), frees_bytes: 900 - i as u64, binding_bytes_after: 19_000 - 900 * i as u64 })
            .collect();
        Plan { binding_bytes: 20_000, target_bytes: 17_000, limit_bytes: 20_000, reached, steps }
    }

    #[test]
    fn the_way_out_ends_the_message() {
        let (c, p, b) = sample();
        let r = Rejection { method: "POST", path: "/v2/apps", current: &c, predicted: &p, reject_at: 19_800, margin: "minus a 1.00% safety margin", breakdown: &b };
        let points = r.points_with_way_out(Some(&plan(true, 3)));
        assert_eq!(points.len(), r.points().len() + 1);
        let last = points.last().unwrap();
        for needle in ["1. delete app /dev/app-0: frees 900 bytes", "3. delete app /dev/app-2: frees 898 bytes", "makes room", "GET /admission/v1/way-out", "report --way-out"] {
            assert!(last.contains(needle), "missing {needle:?} in {last}");
        }
        let v: serde_json::Value = serde_json::from_slice(r.response_with_way_out(Some(&plan(false, 3))).body()).unwrap();
        assert!(v["message"].as_str().unwrap().ends_with("report --way-out`."), "{v}");
        assert!(v["message"].as_str().unwrap().contains("more steps are needed"), "{v}");
        assert!(r.points_with_way_out(Some(&plan(false, 0))).last().unwrap().contains("protect"));
        assert!(r.points_with_way_out(None).last().unwrap().contains("GET /admission/v1/way-out"));
    }

    #[test]
    fn empty_breakdown_still_explains() {
        let (c, p, _) = sample();
        let b = Breakdown::default();
        let r = Rejection { method: "POST", path: "/v2/groups", current: &c, predicted: &p, reject_at: 19_800, margin: "minus a 1.00% safety margin", breakdown: &b };
        let points = r.points();
        assert!(points.iter().all(|s| !s.contains("Largest")));
        assert!(points.last().unwrap().starts_with("Way out"));
    }
}
