//! The way out ([`admission::way_out`]) where people meet it: `GET /admission/v1/way-out` (the
//! full plan on the live model, also drawn by the budget page) and the first steps at the end of
//! a rejection.
//!
//! Planning measures the state exactly a few times (a gzip of the plan each, about 0.1 s at
//! 10,000 apps), so it never runs on the async workers, and:
//! - the endpoint keeps its last plan and computes again only when the model's root, the store
//!   settings or the target changed (the budget page polls it);
//! - a rejection computes only its first steps, after the decision (no decision waits for it),
//!   and gives up after [`REJECTION_BUDGET`]: the 422 then points to the endpoint instead.

use std::sync::Arc;
use std::time::Duration;

use admission::way_out::{self, Plan, Request};
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use marathon_model::{Group, PathId};
use znode_size::{Estimate, Layout, StoreConfig};

use super::live_model::LiveModel;

/// Steps a rejection lists.
pub const REJECTION_STEPS: usize = 3;
/// How long a rejection may wait for its steps.
pub const REJECTION_BUDGET: Duration = Duration::from_secs(2);

/// One rejection's planner at a time.
static REJECTION_PLANNER: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The last plan the endpoint computed and what it was computed for.
struct Cached {
    root: Arc<Group>,
    store: StoreConfig,
    target_bytes: u64,
    protect: Vec<PathId>,
    plan: Arc<Plan>,
}

/// One for the process: plans are computed one at a time, and a second caller waits for the
/// first one's plan rather than computing it again.
static LAST_PLAN: tokio::sync::Mutex<Option<Cached>> = tokio::sync::Mutex::const_new(None);

/// The binding node of `root`'s next deployment when the model's warm state has it already.
fn known_binding(model: &LiveModel, root: &Arc<Group>, store: &StoreConfig) -> Option<u64> {
    let p = model.prepared()?;
    (Arc::ptr_eq(&p.root, root) && p.store == *store && store.layout == Layout::Legacy).then(|| p.binding().binding_bytes)
}

/// The first steps that make room for a rejected write: the base it was applied to must shrink
/// by the write's growth below the admission threshold ([`way_out::target_for_write`]). `None`
/// when nothing could be computed in time (or another rejection's planner still runs), or when
/// deleting other apps cannot help (1.4+: the write's own node is what is too large).
pub async fn for_rejection(
    model: &LiveModel,
    base: Arc<Group>,
    store: &StoreConfig,
    predicted: &Estimate,
    reject_at: u64,
) -> Option<Plan> {
    if predicted.layout == Layout::V14 && predicted.binding_node != "group root" {
        return None;
    }
    // A planner that outlives its budget keeps its core until it ends: while one runs, further
    // rejections point to the endpoint rather than pile more planners onto the machine.
    let Ok(running) = REJECTION_PLANNER.try_acquire() else { return None };
    let known = known_binding(model, &base, store);
    let protect = model.config().protect.clone();
    let (store, predicted) = (store.clone(), predicted.binding_bytes);
    let job = tokio::task::spawn_blocking(move || {
        let _running = running;
        let binding = known.unwrap_or_else(|| way_out::binding_bytes(&base, &store));
        let target_bytes = way_out::target_for_write(reject_at, binding, predicted);
        let req = Request { root: &base, store: &store, target_bytes, protect: &protect, max_steps: Some(REJECTION_STEPS), known_binding: Some(binding) };
        way_out::plan(&req)
    });
    match tokio::time::timeout(REJECTION_BUDGET, job).await {
        Ok(Ok(plan)) => Some(plan),
        _ => None,
    }
}

/// The plan to bring the live model's binding node to `target` of the limit (default:
/// `warn_at`); `Err` with the answer to give when there is none.
pub async fn live_plan(model: &LiveModel, target: Option<f64>) -> Result<Arc<Plan>, Response<Bytes>> {
    let Some(snap) = model.snapshot().await else {
        let reason = model.not_ready_reason().unwrap_or_else(|| "admission model not synced".into());
        let mut r = proxy::marathon_error(StatusCode::SERVICE_UNAVAILABLE, format!("marathon-admission: {reason}; retry in a few seconds"));
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Err(r);
    };
    let fraction = target.unwrap_or(model.config().policy.warn_at);
    let target_bytes = (snap.store.limit_bytes() as f64 * fraction) as u64;
    let protect = model.config().protect.clone();
    let mut last = LAST_PLAN.lock().await;
    if let Some(c) = last.as_ref() {
        if Arc::ptr_eq(&c.root, &snap.root) && c.store == snap.store && c.target_bytes == target_bytes && c.protect == protect {
            return Ok(c.plan.clone());
        }
    }
    let known = known_binding(model, &snap.root, &snap.store);
    let (root, store, p) = (snap.root.clone(), snap.store.clone(), protect.clone());
    let plan = tokio::task::spawn_blocking(move || {
        way_out::plan(&Request { root: &root, store: &store, target_bytes, protect: &p, max_steps: None, known_binding: known })
    })
    .await
    .map_err(|e| proxy::marathon_error(StatusCode::INTERNAL_SERVER_ERROR, format!("marathon-admission: the way out failed: {e}")))?;
    let plan = Arc::new(plan);
    *last = Some(Cached { root: snap.root, store: snap.store, target_bytes, protect, plan: plan.clone() });
    Ok(plan)
}

/// `GET /admission/v1/way-out[?target=0.8]`.
pub async fn get(model: &LiveModel, query: Option<&str>) -> Response<Bytes> {
    let target = match target_param(query) {
        Ok(t) => t,
        Err(why) => return proxy::marathon_error(StatusCode::BAD_REQUEST, why),
    };
    match live_plan(model, target).await {
        Ok(plan) => {
            let mut r = Response::new(Bytes::from(serde_json::to_vec(&*plan).unwrap_or_default()));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(resp) => resp,
    }
}

/// `target` as a fraction of the limit, in (0, 1]; `Err`: why not.
fn target_param(query: Option<&str>) -> Result<Option<f64>, String> {
    let q = marathon_model::ops::Query::parse(query);
    let Some(raw) = q.get("target") else { return Ok(None) };
    match raw.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 1.0 => Ok(Some(t)),
        _ => Err(format!("marathon-admission: target is a fraction of the limit in (0, 1], e.g. 0.8; got {raw:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdmitConfig;
    use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
    use marathon_model::Timestamp;
    use znode_size::Estimator;

    /// A model past the admission threshold of a 20,000-byte limit, `/keep` protected.
    async fn over_the_wall() -> (Arc<LiveModel>, AdmitConfig) {
        let table: toml::Table = "zk_max_node_size = 20000\naudit_log = \"off\"\nevents = false\nprotect = [\"/keep\"]".parse().unwrap();
        let config = AdmitConfig::from_table(Some(&table)).unwrap();
        let upstream = proxy::config::UpstreamConfig::default();
        let marathon = proxy::MarathonClient::for_marathons(vec!["http://127.0.0.1:9".parse().unwrap()], &upstream).unwrap();
        let model = LiveModel::new(marathon, config.clone());
        let app = |id: String, instances: u32, vars: usize| {
            let env: serde_json::Map<String, serde_json::Value> = (0..vars).map(|k| (format!("VAR_{k:03}"), serde_json::json!(format!("value-{id}-{k}")))).collect();
            serde_json::json!({"id": id, "cmd": "sleep 1", "instances": instances, "env": env})
        };
        let big: Vec<serde_json::Value> = (0..14).map(|i| app(format!("/big/app-{i:02}"), if i < 2 { 0 } else { 1 }, 12)).collect();
        let keep = vec![app("/keep/db".into(), 0, 40)];
        let seed = serde_json::json!({"id": "/", "apps": [], "groups": [{"id": "/big", "apps": big, "groups": []}, {"id": "/keep", "apps": keep, "groups": []}]});
        let root = crate::live_model::parse_root(seed.to_string().as_bytes(), Flavour::V13).unwrap();
        model.install(root, "1.3.14").await;
        (model, config)
    }

    #[tokio::test]
    async fn a_rejected_write_gets_the_first_steps_that_make_room_for_it() {
        let (model, config) = over_the_wall().await;
        let snap = model.snapshot().await.unwrap();
        // Larger than what one deletion frees: the steps must make room for the write itself.
        let env: serde_json::Map<String, serde_json::Value> = (0..30).map(|k| (format!("NEW_{k:03}"), serde_json::json!(format!("a-new-configuration-value-{k}-of-some-length")))).collect();
        let body = serde_json::json!({"id": "/big/new", "cmd": "sleep 1", "env": env}).to_string();
        let write = parse_write("POST", "/v2/apps", None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
        let target = |base: &Group| apply(base, &write, Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root;
        let estimator = Estimator::new(snap.store.clone());
        let predicted = estimator.deployment(&snap.root, &target(&snap.root));
        let reject_at = config.policy.reject_at(snap.store.limit_bytes());
        assert!(predicted.binding_bytes >= reject_at, "the write must be rejected ({} vs {reject_at})", predicted.binding_bytes);

        let plan = for_rejection(&model, snap.root.clone(), &snap.store, &predicted, reject_at).await.unwrap();
        assert!(plan.reached && plan.steps.len() > 1 && plan.steps.len() <= REJECTION_STEPS, "{plan:?}");
        assert_eq!(plan.steps[0].id, "/big/app-00", "what runs nothing goes first: {plan:?}");
        assert!(plan.steps.iter().all(|s| s.frees_bytes > 0 && !s.id.starts_with("/keep")), "{plan:?}");
        // The steps, then the write: admitted.
        let mut base = (*snap.root).clone();
        for s in &plan.steps {
            way_out::apply_step(&mut base, s.action, &s.id);
        }
        let after = estimator.deployment(&base, &target(&base));
        assert!(after.binding_bytes < reject_at, "{} vs {reject_at}: {plan:?}", after.binding_bytes);
    }

    #[test]
    fn the_target_is_a_fraction_of_the_limit() {
        assert_eq!(target_param(None).unwrap(), None);
        assert_eq!(target_param(Some("target=0.5")).unwrap(), Some(0.5));
        assert_eq!(target_param(Some("x=1&target=1")).unwrap(), Some(1.0));
        for bad in ["target=0", "target=1.5", "target=abc", "target=-1"] {
            assert!(target_param(Some(bad)).unwrap_err().contains("fraction of the limit"), "{bad}");
        }
    }
}
