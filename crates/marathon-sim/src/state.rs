//! The simulator's state and its write pipeline: apply a write with Marathon's semantics, run
//! Marathon 1.3's plan-size check, refuse conflicting deployments, persist into ZooKeeper in the
//! chosen layout, then commit, publish events and keep the deployment listed for the delay.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use marathon_model::ops::{self, Change, ChangeError, Flavour, History, Outcome, Step, Write};
use marathon_model::app_diff::app_diff;
use marathon_model::{App, Group, PathId, SharedApp, Timestamp};
use marathon_zk::{legacy, v14, StoreError, ZkSpec, ZkStore};
use serde_json::{json, Map, Value};

use crate::events::{Event, EventBus};
use crate::persisted::{self, AppFlavor, Encoder, Layout, StoreConfig};
use crate::marathon_order::{in_set_order, marathon_order};
use crate::plan_validator;
use crate::render::{self, Lists};
use crate::{SimConfig, StoredOrder};

/// A deployment that is still listed.
#[derive(Clone)]
pub struct Deployment {
    pub id: String,
    pub version: Timestamp,
    pub affected: Vec<PathId>,
    pub steps: Vec<Step>,
    pub original: Arc<Group>,
    pub target: Arc<Group>,
}

/// An HTTP answer from the pipeline, before it becomes a hyper response.
pub struct Answer {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Answer {
        Answer { status, body: Some(body), headers: Vec::new() }
    }
    pub fn error(err: &ChangeError) -> Answer {
        Answer::json(err.status(), err.body())
    }
}

#[derive(Default)]
struct Versions {
    /// Root versions, oldest first (bounded).
    roots: Vec<(String, Arc<Group>)>,
    /// App versions by id, oldest first (bounded).
    apps: HashMap<String, Vec<(String, App)>>,
}

/// Root versions kept for rollback and `/versions`: at most this many, and fewer for big roots
/// (the model has no structural sharing, so each version is a full copy).
const MAX_HISTORY: usize = 50;
const MAX_HISTORY_APPS: usize = 100_000;

impl History for Versions {
    fn root_at(&self, version: &str) -> Option<Group> {
        let want = Timestamp::parse(version).ok()?.to_joda();
        self.roots.iter().rev().find(|(v, _)| *v == want).map(|(_, g)| (**g).clone())
    }
    fn app_at(&self, id: &PathId, version: &str) -> Option<App> {
        let want = Timestamp::parse(version).ok()?.to_joda();
        self.apps.get(&id.to_string())?.iter().rev().find(|(v, _)| *v == want).map(|(_, a)| a.clone())
    }
}

/// Counters served on `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub rejected_size: AtomicU64,
    pub zk_failures: AtomicU64,
    pub last_plan_bytes: AtomicU64,
    pub last_root_bytes: AtomicU64,
}

pub struct Sim {
    pub cfg: SimConfig,
    pub flavour: Flavour,
    pub store: StoreConfig,
    pub encoder: Encoder,
    root: RwLock<Arc<Group>>,
    write_lock: tokio::sync::Mutex<()>,
    versions: Mutex<Versions>,
    deployments: Mutex<Vec<Deployment>>,
    last_version: Mutex<Timestamp>,
    pub events: EventBus,
    /// Apps' JSON between renders of groups.
    app_json: render::AppJson,
    pub zk: Option<ZkStore>,
    pub counters: Counters,
    pub http_addr: Mutex<String>,
    /// [`SimConfig::write_delay`], in milliseconds, as it is now.
    write_delay_ms: AtomicU64,
}

/// The message of the `TimeoutException` Marathon's REST layer answers with once it stopped
/// waiting for a write: Scala's `Await.result` names the duration as configured, in
/// milliseconds (`zkTimeoutDuration = Duration(zooKeeperTimeout(), MILLISECONDS)`).
fn futures_timed_out(zk_timeout: Duration) -> String {
    format!("Futures timed out after [{} milliseconds]", zk_timeout.as_millis())
}

fn api_post_app(change: &Change) -> bool {
    matches!(change, Change::CreateApp { .. } | Change::PutApp { .. } | Change::PatchApp { .. })
}

impl Sim {
    pub async fn new(cfg: SimConfig) -> anyhow::Result<Arc<Sim>> {
        let flavour = cfg.marathon.flavour();
        let mut store = match flavour {
            Flavour::V13 => StoreConfig::marathon_1_3(),
            Flavour::V14 => StoreConfig::marathon_1_4(),
        };
        store.layout = cfg.marathon.layout();
        store.flavor = if flavour == Flavour::V13 { AppFlavor::V13 } else { AppFlavor::V14 };
        store.zk_max_node_size = cfg.zk_max_node_size;
        store.compression = cfg.zk_compression;
        store.compression_threshold = cfg.zk_compression_threshold;
        if let Some(spec) = &cfg.zk {
            store.zk_path = ZkSpec::parse(spec)?.path;
        }
        let encoder = Encoder::new(store.clone());
        let seed = cfg.state.clone().unwrap_or_else(Group::empty_root);
        let mut seed = seed.normalized(&PathId::root()).map_err(|e| anyhow::anyhow!("seed state: {e}"))?;
        if !seed.path_id().is_root() {
            // A group file rather than a root: place it at its path under an empty root.
            let mut root = Group::empty_root();
            let mut sub = seed;
            let mut id = sub.path_id();
            while !id.parent().is_root() {
                let mut parent = Group::empty(&id.parent());
                parent.groups = Some(vec![sub]);
                sub = parent;
                id = id.parent();
            }
            root.groups = Some(vec![sub]);
            seed = root;
        }
        let mut root = ops::canonical_root(seed, flavour);
        stamp_missing_versions(&mut root, &Timestamp::now().to_joda());
        if cfg.stored_order == StoredOrder::Marathon {
            root = marathon_order(None, root, flavour);
        }
        let root = Arc::new(root);
        if store.layout == Layout::Legacy {
            // Every plan starts from the current root: its encoding is kept from the start.
            encoder.committed(&root, encoder.root_payload(&root));
        }
        let zk = match &cfg.zk {
            Some(spec) => Some(ZkStore::connect(&ZkSpec::parse(spec)?, &cfg.zk_login).await?),
            None => None,
        };
        let sim = Arc::new(Sim {
            flavour,
            store,
            encoder,
            root: RwLock::new(root.clone()),
            write_lock: tokio::sync::Mutex::new(()),
            versions: Mutex::new(Versions::default()),
            deployments: Mutex::new(Vec::new()),
            last_version: Mutex::new(Timestamp::from_millis(0)),
            events: EventBus::default(),
            app_json: render::AppJson::default(),
            zk,
            counters: Counters::default(),
            http_addr: Mutex::new(String::new()),
            write_delay_ms: AtomicU64::new(cfg.write_delay.as_millis() as u64),
            cfg,
        });
        sim.remember(&root, &root.transitive_apps());
        if sim.zk.is_some() {
            // Persist the seed as Marathon's state (no deployment).
            sim.persist_seed(&root).await.map_err(|e| anyhow::anyhow!("writing the seed state to ZooKeeper: {e}"))?;
        }
        Ok(sim)
    }

    /// A snapshot of the current root group.
    pub fn root(&self) -> Arc<Group> {
        self.root.read().unwrap().clone()
    }

    pub fn deployments(&self) -> Vec<Deployment> {
        self.deployments.lock().unwrap().clone()
    }

    pub fn root_versions(&self) -> Vec<String> {
        self.versions.lock().unwrap().roots.iter().rev().map(|(v, _)| v.clone()).collect()
    }

    pub fn root_at(&self, version: &str) -> Option<Group> {
        self.versions.lock().unwrap().root_at(version)
    }

    pub fn app_versions(&self, id: &PathId) -> Vec<String> {
        self.versions
            .lock()
            .unwrap()
            .apps
            .get(&id.to_string())
            .map(|v| v.iter().rev().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    pub fn app_at(&self, id: &PathId, version: &str) -> Option<App> {
        self.versions.lock().unwrap().app_at(id, version)
    }

    /// `g` as `GET /v2/groups` renders it (see [`render::AppJson::group`]).
    pub fn group_json(&self, g: &Group, embed_apps: bool, embed_groups: bool) -> Vec<u8> {
        let lists = match self.cfg.stored_order {
            StoredOrder::AsListed => Lists::AsStored,
            StoredOrder::Marathon => Lists::ById,
        };
        self.app_json.group(g, self.flavour, embed_apps, embed_groups, lists)
    }

    /// Apps as `GET /v2/apps` lists them: with [`StoredOrder::Marathon`], in the order of
    /// Marathon's set of apps.
    pub fn app_list<'a>(&self, apps: Vec<&'a SharedApp>) -> Vec<&'a SharedApp> {
        match self.cfg.stored_order {
            StoredOrder::AsListed => apps,
            StoredOrder::Marathon => in_set_order(apps),
        }
    }

    /// Keeps `root` as a version, and the versions of `apps` (of `root`: all of them for the seed;
    /// after a write, those it does not share with the previous root, the only ones whose version
    /// can have changed).
    fn remember(&self, root: &Arc<Group>, apps: &[&SharedApp]) {
        let mut h = self.versions.lock().unwrap();
        let v = root.version.clone().unwrap_or_default();
        h.roots.retain(|(x, _)| *x != v);
        h.roots.push((v, root.clone()));
        let per_root = root.transitive_apps().len().max(1);
        let keep = MAX_HISTORY.min((MAX_HISTORY_APPS / per_root).max(2));
        while h.roots.len() > keep {
            h.roots.remove(0);
        }
        for app in apps {
            let (Some(id), Some(ver)) = (app.id(), app.version()) else { continue };
            let list = h.apps.entry(id.to_string()).or_default();
            if list.last().map(|(v, _)| v.as_str()) != Some(ver) {
                list.retain(|(v, _)| v != ver);
                list.push((ver.to_string(), app.app().into_owned()));
                if list.len() > MAX_HISTORY {
                    list.remove(0);
                }
            }
        }
    }

    /// A version timestamp strictly after the previous one (versions are keys).
    fn next_version(&self) -> Timestamp {
        let mut last = self.last_version.lock().unwrap();
        let mut now = Timestamp::now();
        if now <= *last {
            now = Timestamp::from_millis(last.millis() + 1);
        }
        *last = now;
        now
    }

    fn timestamp(&self) -> String {
        Timestamp::now().to_joda()
    }

    fn publish(&self, event_type: &str, body: Map<String, Value>) {
        self.events.publish(Event::new(event_type, body, &self.timestamp()));
    }

    fn publish_json(&self, event_type: &str, fields: &[(&str, &str)]) {
        self.events.publish(Event::from_json_fields(event_type, fields, &self.timestamp()));
    }

    /// The plan as the deployment events of 1.3 carry it, whole root groups included (JSON text).
    /// Marathon writes these groups as it holds them: in the persisted order, not sorted.
    fn heavy_plan(&self, d: &Deployment) -> String {
        let json = |g: &Group| self.app_json.group(g, self.flavour, true, true, Lists::AsStored);
        let original = String::from_utf8(json(&d.original)).unwrap_or_default();
        let target = String::from_utf8(json(&d.target)).unwrap_or_default();
        render::object(&[
            ("id", &json!(d.id).to_string()),
            ("original", &original),
            ("target", &target),
            ("steps", &json!(d.steps).to_string()),
            ("version", &json!(d.version.to_joda()).to_string()),
        ])
    }

    /// Runs one state-changing write, as Marathon's REST layer does: it awaits the write for at
    /// most `zk_timeout` (`RestResource.result`: `Await.result(fn, config.zkTimeoutDuration)`),
    /// then answers 503 with the `TimeoutException`'s message while the write goes on, and may
    /// still be applied. `client_ip` and `uri` feed `api_post_event`.
    pub async fn write(self: &Arc<Self>, w: Write, client_ip: &str, uri: &str) -> Answer {
        let (me, client_ip, uri) = (self.clone(), client_ip.to_owned(), uri.to_owned());
        let write = tokio::spawn(async move { me.write_to_the_end(w, &client_ip, &uri).await });
        match tokio::time::timeout(self.cfg.zk_timeout, write).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Answer::json(500, json!({ "message": format!("the write failed: {e}") })),
            Err(_) => Answer::json(503, json!({ "message": futures_timed_out(self.cfg.zk_timeout) })),
        }
    }

    /// Each write from now on takes `delay` longer to persist (a slow ZooKeeper).
    pub fn set_write_delay(&self, delay: Duration) {
        self.write_delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// One write, however long it takes.
    async fn write_to_the_end(self: &Arc<Self>, w: Write, client_ip: &str, uri: &str) -> Answer {
        let _serial = self.write_lock.lock().await;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let root = self.root();
        let mut w = w;
        let mut reverting: Option<String> = None;
        if let Change::RevertDeployment { id, plan } = &mut w.change {
            let Some(d) = self.deployments().into_iter().find(|d| d.id == *id) else {
                return Answer::error(&ChangeError::UnknownDeployment(id.clone()));
            };
            *plan = Some(Box::new(((*d.original).clone(), (*d.target).clone())));
            reverting = Some(id.clone());
        }
        let now = self.next_version();
        let outcome = {
            let versions = self.versions.lock().unwrap();
            ops::apply(&root, &w, now, self.flavour, &*versions)
        };
        let mut out = match outcome {
            Ok(out) => out,
            Err(err) => return Answer::error(&err),
        };
        if w.change.is_dry_run() {
            return Answer::json(200, json!({"steps": out.steps}));
        }
        if self.cfg.stored_order == StoredOrder::Marathon {
            // Before the size check: what is checked is what is persisted.
            out.root = marathon_order(Some(root.as_ref()), std::mem::take(&mut out.root), self.flavour);
        }
        let plan_id = uuid::Uuid::new_v4().to_string();
        let version = now.to_joda();
        let group_id = change_group(&w.change);

        // Marathon 1.3's own plan-size validator (legacy layout only), written apart from the
        // encoder, which gives the plan node and the root node written below.
        let legacy = (self.store.layout == Layout::Legacy)
            .then(|| self.encoder.legacy_deployment(&plan_id, &version, &root, &out.root));
        if let Some(d) = &legacy {
            // The validator encodes both roots again (about twice the encoder's cost, 0.2 s at
            // 2,000 apps): it judges where a verdict can differ from the encoder's, within 2% of
            // the limit; further away the encoder's length stands.
            let near = d.check.entry_len.abs_diff(self.store.zk_max_node_size) <= self.store.zk_max_node_size / 50;
            let (entry_len, accepted) = if near {
                let verdict = plan_validator::plan_is_valid(&plan_id, &version, &root, &out.root, &self.store);
                if verdict.entry_len != d.plan_entry.len() as u64 {
                    // The validator measures what Marathon would write; the node written is the encoder's.
                    tracing::warn!(validator = verdict.entry_len, encoder = d.plan_entry.len(), "the plan node differs from the one Marathon validates");
                }
                (verdict.entry_len, verdict.accepted)
            } else {
                (d.check.entry_len, d.check.accepted)
            };
            self.counters.last_plan_bytes.store(entry_len, Ordering::Relaxed);
            if self.flavour == Flavour::V13 && !accepted {
                self.counters.rejected_size.fetch_add(1, Ordering::Relaxed);
                let mut body = Map::new();
                body.insert("groupId".into(), json!(group_id));
                body.insert("version".into(), json!(version));
                body.insert("reason".into(), json!("Validation failed"));
                self.publish("group_change_failed", body);
                return Answer::json(422, render::zk_size_error(self.store.zk_max_node_size));
            }
        }

        // Conflicting deployments (after the size check, as in Marathon).
        let blocking: Vec<Deployment> = self
            .deployments()
            .into_iter()
            .filter(|d| Some(&d.id) != reverting.as_ref())
            .filter(|d| d.affected.iter().any(|a| out.affected.contains(a)))
            .collect();
        if !blocking.is_empty() && !w.force {
            return Answer::json(409, render::app_locked(&blocking.iter().map(|d| d.id.clone()).collect::<Vec<_>>()));
        }

        let delay = self.write_delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        // Persist, in Marathon's order. A refused write leaves the in-memory state untouched.
        if let Err(err) = self.persist_change(&plan_id, &version, &root, &out, legacy.as_ref()).await {
            self.counters.zk_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%err, "ZooKeeper refused the write");
            let (status, message) = match err {
                StoreError::Timeout(m) => (503, format!("{} ({m})", futures_timed_out(self.cfg.zk_timeout))),
                StoreError::Failed(m) => (500, m),
            };
            let mut body = Map::new();
            body.insert("groupId".into(), json!(group_id));
            body.insert("version".into(), json!(version));
            body.insert("reason".into(), json!(message.clone()));
            self.publish("group_change_failed", body);
            return Answer::json(status, json!({ "message": message }));
        }

        // Forced or reverted deployments that the new one replaces are cancelled.
        let mut cancelled: Vec<Deployment> = Vec::new();
        {
            let mut ds = self.deployments.lock().unwrap();
            ds.retain(|d| {
                let cancel = Some(&d.id) == reverting.as_ref() || blocking.iter().any(|b| b.id == d.id);
                if cancel {
                    cancelled.push(d.clone());
                }
                !cancel
            });
        }
        for d in &cancelled {
            self.finish_deployment_events(d, false);
            self.delete_plan_node(&d.id).await;
        }

        // Commit.
        // Move, not copy: the outcome's root becomes the state (answers only need the ids).
        let new_root = Arc::new(std::mem::take(&mut out.root));
        *self.root.write().unwrap() = new_root.clone();
        if let Some(d) = &legacy {
            self.encoder.committed(&new_root, d.target_payload.clone());
        }
        let touched: Vec<&SharedApp> = app_diff(&root, &new_root).touched.iter().map(|t| t.after).collect();
        self.remember(&new_root, &touched);
        let deployment = Deployment {
            id: plan_id.clone(),
            version: now,
            affected: out.affected.clone(),
            steps: out.steps.clone(),
            original: root.clone(),
            target: new_root.clone(),
        };
        self.deployments.lock().unwrap().push(deployment.clone());

        // Events: api_post_event, group_change_success, deployment_info.
        if api_post_app(&w.change) {
            if let Some(app) = out.app.as_ref() {
                let mut body = Map::new();
                body.insert("clientIp".into(), json!(client_ip));
                body.insert("uri".into(), json!(uri));
                body.insert("appDefinition".into(), render::app(app, self.flavour));
                self.publish("api_post_event", body);
            }
        }
        if let (Flavour::V14, Some(_)) = (self.flavour, out.pod.as_ref()) {
            let kind = match &w.change {
                Change::CreatePod { .. } => "pod_created_event",
                Change::PutPod { .. } if out.created.is_some() => "pod_created_event",
                _ => "pod_updated_event",
            };
            let mut body = Map::new();
            body.insert("clientIp".into(), json!(client_ip));
            body.insert("uri".into(), json!(uri));
            self.publish(kind, body);
        }
        if let Change::DeletePod { .. } = &w.change {
            let mut body = Map::new();
            body.insert("clientIp".into(), json!(client_ip));
            body.insert("uri".into(), json!(uri));
            self.publish("pod_deleted_event", body);
        }
        let mut body = Map::new();
        body.insert("groupId".into(), json!(group_id));
        body.insert("version".into(), json!(version));
        self.publish("group_change_success", body);
        if self.events.wants("deployment_info") {
            let step = json!(deployment.steps.first().cloned().unwrap_or(Step { actions: vec![] })).to_string();
            self.publish_json("deployment_info", &[("plan", &self.heavy_plan(&deployment)), ("currentStep", &step)]);
        }
        self.schedule_finish(plan_id.clone());
        self.answer(&w, &out, &plan_id, &version)
    }

    fn answer(&self, w: &Write, out: &Outcome, plan_id: &str, version: &str) -> Answer {
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if self.flavour == Flavour::V14 {
            headers.push(("Marathon-Deployment-Id", plan_id.to_string()));
        }
        let host = self.http_addr.lock().unwrap().clone();
        let location = |id: &PathId| format!("http://{host}{id}");
        let result = json!({"version": version, "deploymentId": plan_id});
        match &w.change {
            Change::CreateApp { .. } => {
                let app = out.app.as_ref().expect("create returns the app");
                let mut body = match render::app(app, self.flavour) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                body.insert("tasksStaged".into(), json!(0));
                body.insert("tasksRunning".into(), json!(0));
                body.insert("tasksHealthy".into(), json!(0));
                body.insert("tasksUnhealthy".into(), json!(0));
                body.insert("deployments".into(), json!([{"id": plan_id}]));
                body.insert("tasks".into(), json!([]));
                if let Some(id) = &out.created {
                    headers.push(("Location", location(id)));
                }
                Answer { status: 201, body: Some(Value::Object(body)), headers }
            }
            Change::PutApp { .. } | Change::CreateGroup { .. } if out.created.is_some() => {
                headers.push(("Location", location(out.created.as_ref().unwrap())));
                Answer { status: 201, body: Some(result), headers }
            }
            Change::CreatePod { .. } | Change::PutPod { .. } => {
                let pod = out.pod.as_ref().map(|p| serde_json::to_value(p).unwrap_or(Value::Null));
                let status = if matches!(w.change, Change::CreatePod { .. }) { 201 } else { 200 };
                if status == 201 {
                    if let Some(id) = &out.created {
                        headers.push(("Location", location(id)));
                    }
                }
                Answer { status, body: pod, headers }
            }
            Change::DeletePod { .. } => {
                headers.push(("Location", plan_id.to_string()));
                Answer { status: 202, body: None, headers }
            }
            _ => Answer { status: 200, body: Some(result), headers },
        }
    }

    fn finish_deployment_events(&self, d: &Deployment, success: bool) {
        let last = if success { "deployment_success" } else { "deployment_failed" };
        let steps = success && self.events.wants("deployment_step_success");
        if !steps && !self.events.wants(last) {
            return;
        }
        let plan = self.heavy_plan(d);
        if steps {
            for step in &d.steps {
                self.publish_json("deployment_step_success", &[("plan", &plan), ("currentStep", &json!(step).to_string())]);
            }
        }
        self.publish_json(last, &[("id", &json!(d.id).to_string()), ("plan", &plan)]);
    }

    fn schedule_finish(self: &Arc<Self>, plan_id: String) {
        let sim = Arc::downgrade(self);
        let delay = self.cfg.deploy_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(sim) = sim.upgrade() else { return };
            let _serial = sim.write_lock.lock().await;
            let done = {
                let mut ds = sim.deployments.lock().unwrap();
                let pos = ds.iter().position(|d| d.id == plan_id);
                pos.map(|p| ds.remove(p))
            };
            if let Some(d) = done {
                sim.delete_plan_node(&d.id).await;
                sim.finish_deployment_events(&d, true);
            }
        });
    }

    /// `DELETE /v2/deployments/{id}?force=true`: stop the deployment, keep the state.
    pub async fn cancel_deployment(&self, id: &str) -> Answer {
        let _serial = self.write_lock.lock().await;
        let removed = {
            let mut ds = self.deployments.lock().unwrap();
            ds.iter().position(|d| d.id == id).map(|p| ds.remove(p))
        };
        match removed {
            Some(d) => {
                self.delete_plan_node(&d.id).await;
                self.finish_deployment_events(&d, false);
                Answer { status: 202, body: None, headers: Vec::new() }
            }
            None => Answer::error(&ChangeError::UnknownDeployment(id.to_string())),
        }
    }

    // ---------------------------------------------------------------- ZooKeeper persistence

    async fn delete_plan_node(&self, plan_id: &str) {
        let Some(zk) = &self.zk else { return };
        let key = match self.store.layout {
            Layout::Legacy => legacy::deployment(plan_id),
            Layout::V14 => v14::deployment(plan_id),
        };
        if let Err(e) = zk.delete(&key).await {
            tracing::warn!(%e, "deleting the deployment node");
        }
    }

    async fn persist_seed(&self, root: &Arc<Group>) -> Result<(), StoreError> {
        let Some(zk) = &self.zk else { return Ok(()) };
        let version = root.version.clone().unwrap_or_default();
        match self.store.layout {
            Layout::Legacy => {
                for app in root.transitive_apps() {
                    let id = app.id().unwrap_or("/");
                    let name = legacy::app(id);
                    let entry = self.encoder.legacy_app_entry(&app.app(), &name);
                    zk.put(&name, &entry).await?;
                }
                let entry = self.encoder.legacy_root_entry(root);
                zk.put(legacy::ROOT, &entry).await?;
                zk.put(&legacy::root_version(&version), &entry).await?;
            }
            Layout::V14 => {
                for app in root.transitive_apps() {
                    let id = app.id().unwrap_or("/");
                    let bytes = self.encoder.service_definition(&app.app());
                    let ts = v14::iso(app.version().unwrap_or(&version));
                    zk.put(&v14::app_version(id, &ts), &bytes).await?;
                    zk.put(&v14::app(id), &bytes).await?;
                }
                let bytes = persisted::stored_group(root);
                zk.put(&v14::root_version(&v14::iso(&version)), &bytes).await?;
                zk.put(&v14::root(), &bytes).await?;
            }
        }
        Ok(())
    }

    async fn persist_change(
        &self,
        plan_id: &str,
        version: &str,
        original: &Group,
        out: &Outcome,
        legacy_plan: Option<&persisted::LegacyDeployment>,
    ) -> Result<(), StoreError> {
        let Some(zk) = &self.zk else {
            return Ok(());
        };
        let target = &out.root;
        let changed = acted_on(target, &out.affected);
        let deleted: Vec<String> = app_diff(original, target).removed.iter().filter_map(|a| a.id().map(str::to_string)).collect();
        match self.store.layout {
            Layout::Legacy => {
                // 9. the plan, 10. affected apps (+ versions), removed apps expunged, 11. the root.
                let d = legacy_plan.expect("legacy layout encodes the plan");
                zk.put(&legacy::deployment(plan_id), &d.plan_entry).await?;
                for app in &changed {
                    let id = app.id().unwrap_or("/");
                    let name = legacy::app(id);
                    let entry = self.encoder.legacy_app_entry(&app.app(), &name);
                    zk.put(&name, &entry).await?;
                    let ver = app.version().unwrap_or(version);
                    zk.put(&legacy::app_version(id, ver), &entry).await?;
                }
                let children = if deleted.is_empty() { Vec::new() } else { zk.children("").await? };
                for id in &deleted {
                    let name = legacy::app(id);
                    for v in legacy::versions_of(&children, &name) {
                        zk.delete(&format!("{name}:{v}")).await?;
                    }
                    zk.delete(&name).await?;
                }
                let entry = self.encoder.legacy_root_entry_from(&d.target_payload);
                self.counters.last_root_bytes.store(entry.len() as u64, Ordering::Relaxed);
                zk.put(legacy::ROOT, &entry).await?;
                zk.put(&legacy::root_version(version), &entry).await?;
                self.prune_legacy(zk, &changed).await?;
            }
            Layout::V14 => {
                // storeRootVersion (app versions, root version) → plan → storeRoot (apps, root).
                let ts = v14::iso(version);
                for app in &changed {
                    let id = app.id().unwrap_or("/");
                    let app_ts = v14::iso(app.version().unwrap_or(version));
                    zk.put(&v14::app_version(id, &app_ts), &self.encoder.service_definition(&app.app())).await?;
                }
                for pod in target.transitive_groups().into_iter().flat_map(|g| g.pods()) {
                    let id = pod.id.as_deref().unwrap_or("/");
                    if out.affected.contains(&PathId::parse(id)) {
                        let pts = v14::iso(pod.version.as_deref().unwrap_or(version));
                        zk.put(&v14::pod_version(id, &pts), &persisted::pod_json(pod)).await?;
                    }
                }
                let root_bytes = persisted::stored_group(target);
                self.counters.last_root_bytes.store(root_bytes.len() as u64, Ordering::Relaxed);
                zk.put(&v14::root_version(&ts), &root_bytes).await?;
                let original_ts = v14::iso(original.version.as_deref().unwrap_or(version));
                zk.put(&v14::deployment(plan_id), &persisted::stored_plan(plan_id, &ts, &original_ts, &ts)).await?;
                for app in &changed {
                    let id = app.id().unwrap_or("/");
                    zk.put(&v14::app(id), &self.encoder.service_definition(&app.app())).await?;
                }
                for id in &deleted {
                    zk.put(&v14::app(id), &[]).await?;
                }
                for pod in target.transitive_groups().into_iter().flat_map(|g| g.pods()) {
                    let id = pod.id.as_deref().unwrap_or("/");
                    if out.affected.contains(&PathId::parse(id)) {
                        zk.put(&v14::pod(id), &persisted::pod_json(pod)).await?;
                    }
                }
                zk.put(&v14::root(), &root_bytes).await?;
            }
        }
        Ok(())
    }

    /// Keeps at most `zk_max_versions` versions of the root and of each changed app.
    async fn prune_legacy(&self, zk: &ZkStore, changed: &[&SharedApp]) -> Result<(), StoreError> {
        let max = self.cfg.zk_max_versions;
        let children = zk.children("").await?;
        let mut keys = vec![legacy::ROOT.to_string()];
        keys.extend(changed.iter().filter_map(|a| a.id()).map(legacy::app));
        for key in keys {
            for v in legacy::versions_of(&children, &key).into_iter().skip(max) {
                zk.delete(&format!("{key}:{v}")).await?;
            }
        }
        Ok(())
    }
}

/// The apps of `root` among `run_specs` (a plan's `affectedRunSpecIds`), in the tree's order.
fn acted_on<'a>(root: &'a Group, run_specs: &[PathId]) -> Vec<&'a SharedApp> {
    let ids: HashSet<String> = run_specs.iter().map(PathId::to_string).collect();
    root.transitive_apps().into_iter().filter(|a| a.id().is_some_and(|id| ids.contains(id))).collect()
}

/// The group a change is about (`groupId` in `group_change_*` events).
fn change_group(change: &Change) -> String {
    match change {
        Change::CreateGroup { base, group } | Change::UpdateGroup { base, update: group, .. } => group
            .id
            .as_deref()
            .map(|raw| PathId::resolve(raw, base))
            .unwrap_or_else(|| base.clone())
            .to_string(),
        Change::DeleteGroup { id } => id.parent().to_string(),
        _ => "/".to_string(),
    }
}

/// Seeds without versions get one (Marathon never stores an unversioned group or app).
fn stamp_missing_versions(g: &mut Group, v: &str) {
    g.version.get_or_insert_with(|| v.to_string());
    if let Some(apps) = g.apps.as_mut() {
        for a in apps.iter_mut().filter(|a| a.version().is_none()) {
            a.make_mut().version = Some(v.to_string());
        }
    }
    if let Some(groups) = g.groups.as_mut() {
        for sub in groups {
            stamp_missing_versions(sub, v);
        }
    }
}

/// Deploy delay default.
pub const DEFAULT_DEPLOY_DELAY: Duration = Duration::from_millis(0);
