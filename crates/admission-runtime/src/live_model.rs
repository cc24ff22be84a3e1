//! The live model: Marathon's root group in memory.
//!
//! - **Full sync**: `GET /v2/info` (version → layout and write semantics, overridable in
//!   `[admission]`) and `GET /v2/groups?embed=group.groups&embed=group.apps&embed=group.pods`,
//!   at start, periodically (`resync_interval_ms` while the event stream is down,
//!   `events_resync_interval_ms` while it is up: the safety net), and soon after an event says the
//!   state changed (debounced by `events_debounce_ms`). A body identical to the last one (same
//!   hash) is not parsed again: the snapshot is only re-confirmed.
//! - **Events** ([`super::follow_events`]): `api_post_event` carries the whole app, which replaces
//!   the model's copy (on the upkeep thread, in the order the events came); group, deployment and
//!   pod events trigger a resync.
//! - **Warm state**: after the root changed, a [`Prepared`] estimate state is built on the
//!   upkeep thread ([`super::upkeep_lane`]) so that decisions are fast; until it is ready,
//!   decisions use the last one prepared (composition, see [`super::decision_sizes`]) or the
//!   exact path.
//! - **Stored order** ([`super::read_stored_root`], with `[zookeeper] read`): the order of
//!   subgroups and apps Marathon stored, read from its root node, is laid over every root the
//!   model takes (the API sorts them by id), so that the model encodes to ZooKeeper's bytes.
//! - **History**: each preparation records the binding size it measured in
//!   [`super::binding_history`] (off the request path, like the gauges it sets); `serve` keeps it
//!   in `[admission] history_file` ([`super::binding_history_file`]).

use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use marathon_model::ops::{canonical_app, nothing_while_typed, parse_packed_root, AppTexts, Flavour};
use marathon_model::{App, Group, PathId, SharedApp};
use tokio::sync::{watch, Notify, RwLock};
use znode_size::{AppFlavor, Estimator, Layout, StoreConfig};

use super::admit_metrics::{AdmitMetrics, GroupLabels, MAX_GROUP_LABELS};
use super::binding_history::{Bounds, History, Levels};
use super::config::AdmitConfig;
use super::decision_sizes::Prepared;
use super::read_stored_root::{StoredRoot, ZkReadStatus};
use proxy::MarathonClient;

/// The whole root group, as the model needs it (apps, groups and pods embedded).
pub const GROUPS_EMBEDDED: &str = "/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods";

/// One synced view of Marathon.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub root: Arc<Group>,
    /// `/v2/info` `version`.
    pub version: String,
    pub flavour: Flavour,
    pub store: StoreConfig,
    /// When the `/v2/groups` request was sent: every write Marathon answered before this is in
    /// `root`.
    pub fetch_started: Instant,
    pub generation: u64,
    /// Hash of the `/v2/groups` body `root` was parsed from; `None` after an event patched it.
    pub body_hash: Option<u64>,
    /// The root's order of subgroups and apps is the one Marathon stored (read from ZooKeeper,
    /// for this very version of the root): `/readyz` says so.
    pub order_known: bool,
}

pub struct LiveModel {
    marathon: MarathonClient,
    config: AdmitConfig,
    current: RwLock<Option<Snapshot>>,
    last_ok: std::sync::Mutex<Option<Instant>>,
    last_error: std::sync::Mutex<Option<String>>,
    generation: AtomicU64,
    synced_tx: watch::Sender<u64>,
    prepared: std::sync::Mutex<Option<Arc<Prepared>>>,
    preparing: AtomicBool,
    prepare_again: AtomicBool,
    resync_now: Notify,
    sync_lock: tokio::sync::Mutex<()>,
    pub(crate) stream_up: AtomicBool,
    pub metrics: AdmitMetrics,
    /// The binding size over time, and how many times it changed (what the saver compares).
    history: std::sync::Mutex<(History, u64)>,
    history_changed: Notify,
    /// The root node read from ZooKeeper (`[zookeeper] read`), and how reading it goes.
    stored: std::sync::Mutex<(Option<Arc<StoredRoot>>, ZkReadStatus)>,
    /// Work for decisions on a new root, done by the sync before it installs the root.
    before_install: std::sync::Mutex<Option<Arc<BeforeInstall>>>,
    /// The apps of the last sync by their text: a resync parses only the apps that changed.
    app_texts: std::sync::Mutex<AppTexts>,
    /// Work on each new warm state, done before decisions can use it.
    after_prepare: std::sync::Mutex<Option<Arc<AfterPrepare>>>,
}

/// What [`LiveModel::after_prepare`] registers: called with each new warm state on the upkeep
/// thread, before it is installed.
pub type AfterPrepare = dyn Fn(&Prepared) + Send + Sync;

/// What [`LiveModel::before_install`] registers: called with a root a sync built or an event
/// patched (off the async workers), before any decision can see it.
pub type BeforeInstall = dyn Fn(&NewRoot) + Send + Sync;

/// A root a sync built or an event patched, about to be installed.
pub struct NewRoot {
    pub root: Arc<Group>,
    /// Below the generation the root is installed with, above every root installed before.
    pub generation: u64,
    /// When the fetch of `/v2/groups` the root comes from started: what Marathon answered
    /// before, the root shows.
    pub fetch_started: Instant,
    pub flavour: Flavour,
    pub layout: Layout,
}

impl LiveModel {
    /// A model that reads Marathon through `marathon` (see [`Self::spawn_resync`]).
    pub fn new(marathon: MarathonClient, config: AdmitConfig) -> Arc<LiveModel> {
        Arc::new(LiveModel {
            marathon,
            config,
            current: RwLock::new(None),
            last_ok: std::sync::Mutex::new(None),
            last_error: std::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            synced_tx: watch::channel(0).0,
            prepared: std::sync::Mutex::new(None),
            preparing: AtomicBool::new(false),
            prepare_again: AtomicBool::new(false),
            resync_now: Notify::new(),
            sync_lock: tokio::sync::Mutex::new(()),
            stream_up: AtomicBool::new(false),
            metrics: AdmitMetrics::default(),
            history: std::sync::Mutex::new((History::new(Bounds::default()), 0)),
            history_changed: Notify::new(),
            stored: std::sync::Mutex::new((None, ZkReadStatus { state: "off", ..ZkReadStatus::default() })),
            before_install: std::sync::Mutex::new(None),
            app_texts: Default::default(),
            after_prepare: std::sync::Mutex::new(None),
        })
    }

    /// Each root a sync builds or an event patches is handed to `work` before it is installed
    /// (replacing what was registered before).
    pub fn before_install(&self, work: Arc<BeforeInstall>) {
        *self.before_install.lock().unwrap() = Some(work);
    }

    /// Each new warm state is handed to `work` before it is installed (replacing what was
    /// registered before).
    pub fn after_prepare(&self, work: Arc<AfterPrepare>) {
        *self.after_prepare.lock().unwrap() = Some(work);
    }

    pub fn config(&self) -> &AdmitConfig {
        &self.config
    }

    pub(crate) fn marathon(&self) -> &MarathonClient {
        &self.marathon
    }

    /// Starts the periodic resync, the event stream (unless `events = false`) and the model-age
    /// gauge on the current tokio runtime.
    pub fn spawn_resync(self: Arc<Self>) {
        if self.config.events {
            tokio::spawn(super::follow_events::run(self.clone()));
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let age = me.last_ok.lock().unwrap().map(|t| t.elapsed().as_secs_f64()).unwrap_or(-1.0);
                me.metrics.model_age_seconds.set(age);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.sync_once().await {
                    tracing::warn!(error = %e, "admission: model sync failed");
                    self.metrics.model_sync_failures.inc();
                    *self.last_error.lock().unwrap() = Some(e.to_string());
                }
                let interval = if self.stream_up.load(Ordering::SeqCst) {
                    self.config.events_resync_interval
                } else {
                    self.config.resync_interval
                };
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = self.resync_now.notified() => {
                        tokio::time::sleep(self.config.events_debounce).await;
                    }
                }
            }
        });
    }

    /// Asks the resync loop for a full sync soon (debounced).
    pub fn request_resync(&self) {
        self.resync_now.notify_one();
    }

    /// Model older than this is not trusted (Marathon unreachable). While the event stream is
    /// up, the periodic resync is slower, and so is this.
    pub fn stale_after(&self) -> Duration {
        let base = (self.config.resync_interval * 10).max(Duration::from_secs(5));
        if self.stream_up.load(Ordering::SeqCst) {
            base.max(self.config.events_resync_interval * 3)
        } else {
            base
        }
    }

    /// The warm state prepared for the most recent root it could be (may lag the snapshot).
    pub fn prepared(&self) -> Option<Arc<Prepared>> {
        self.prepared.lock().unwrap().clone()
    }

    /// The snapshot, when synced and fresh.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        if !self.is_fresh() {
            return None;
        }
        self.current.read().await.clone()
    }

    pub fn is_fresh(&self) -> bool {
        matches!(*self.last_ok.lock().unwrap(), Some(t) if t.elapsed() < self.stale_after())
    }

    /// Why the model cannot be used, if it cannot.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.is_fresh() {
            return None;
        }
        let err = self.last_error.lock().unwrap().clone();
        let base = if self.last_ok.lock().unwrap().is_none() {
            "admission model not synced with Marathon yet".to_string()
        } else {
            format!("admission model not refreshed for more than {:?}", self.stale_after())
        };
        Some(match err {
            Some(e) => format!("{base} (last error: {e})"),
            None => base,
        })
    }

    /// `GET /admission/v1/history`: the binding size over time (see [`History::answer`]).
    pub fn history_answer(&self) -> serde_json::Value {
        self.history.lock().unwrap().0.answer(unix_ms_now())
    }

    /// Starts from a history read back (before the first sync records into it).
    pub(crate) fn replace_history(&self, history: History) {
        self.history.lock().unwrap().0 = history;
    }

    /// The history and its change count.
    pub(crate) fn history_snapshot(&self) -> (History, u64) {
        self.history.lock().unwrap().clone()
    }

    /// Completes after the history changed (at once if it changed since the last call).
    pub(crate) async fn history_changed(&self) {
        self.history_changed.notified().await
    }

    fn record_history(&self, binding_bytes: u64, limit_bytes: u64) {
        let policy = &self.config.policy;
        let levels = Levels {
            limit_bytes,
            reject_at_bytes: policy.reject_at(limit_bytes),
            warn_at_bytes: (limit_bytes as f64 * policy.warn_at) as u64,
        };
        let mut h = self.history.lock().unwrap();
        if h.0.record(unix_ms_now(), binding_bytes, levels) {
            h.1 += 1;
            self.history_changed.notify_one();
        }
    }

    /// Completes once a sync newer than `after` (a generation) has been installed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.synced_tx.subscribe()
    }

    /// Fetches `/v2/info` and `/v2/groups` (each from the first Marathon that answers, leader
    /// first) and installs the result.
    pub async fn sync_once(self: &Arc<Self>) -> anyhow::Result<u64> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let info = self.marathon.get("/v2/info").await?;
        let info: serde_json::Value = serde_json::from_slice(&info)
            .map_err(|e| anyhow::anyhow!("/v2/info is not JSON: {e}"))?;
        let version = info.get("version").and_then(|v| v.as_str()).unwrap_or("1.4.0").to_string();
        let store = self.config.store_config(&version);
        let flavour = match store.flavor {
            AppFlavor::V13 => Flavour::V13,
            AppFlavor::V14 => Flavour::V14,
        };
        let fetch_started = Instant::now();
        let body = self.marathon.get(GROUPS_EMBEDDED).await?;
        // Off the async workers: hashing tens of megabytes would hold a worker, and the
        // decisions waiting on it, for as long.
        let hash = {
            let body = body.clone();
            super::upkeep_lane::run(move || {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                h.write(&body);
                h.finish()
            })
            .await?
        };
        let confirmed = {
            let mut cur = self.current.write().await;
            match cur.as_mut() {
                Some(c) if c.body_hash == Some(hash) && c.version == version && c.store == store => {
                    // The same bytes as last time: the same root, now confirmed at `fetch_started`.
                    c.fetch_started = fetch_started;
                    c.generation = self.next_generation();
                    Some(c.generation)
                }
                _ => None,
            }
        };
        let unchanged = confirmed.is_some();
        let mut generation = confirmed.unwrap_or_default();
        if !unchanged {
            let previous = self.current.read().await.as_ref().map(|c| c.root.clone());
            let app_flavor = store.flavor;
            let stored = self.stored_root();
            let laid = stored.clone();
            let layout = store.layout;
            let me = self.clone();
            let (root, order_known) = super::upkeep_lane::run(move || {
                // One sync at a time (`sync_lock`): the texts are this sync's to replace.
                let mut texts = std::mem::take(&mut *me.app_texts.lock().unwrap());
                let built = build_root(body, flavour, app_flavor, previous, &mut texts);
                *me.app_texts.lock().unwrap() = texts;
                let mut root = built?;
                let (_, order_known) = lay_stored_order(&mut root, stored.as_deref());
                let root = Arc::new(root);
                me.run_before_install(&root, fetch_started, flavour, layout);
                Ok::<_, anyhow::Error>((root, order_known))
            })
            .await
            .map_err(|e| anyhow::anyhow!("parsing /v2/groups: {e}"))??;
            let mut cur = self.current.write().await;
            generation = self.next_generation();
            *cur = Some(Snapshot {
                root,
                version,
                flavour,
                store,
                fetch_started,
                generation,
                body_hash: Some(hash),
                order_known,
            });
            drop(cur);
            self.note_order_known(order_known);
            // A read of the root node that came in while this root was built was laid over the
            // root this one replaced, or not at all: lay it over this one.
            let newest = self.stored_root();
            if !same_read(&laid, &newest) {
                self.stored_root_read(newest).await;
            }
        }
        *self.last_ok.lock().unwrap() = Some(Instant::now());
        *self.last_error.lock().unwrap() = None;
        self.metrics.model_syncs.inc();
        self.metrics.model_age_seconds.set(0.0);
        self.synced_tx.send_replace(generation);
        if !unchanged {
            self.schedule_prepare();
        }
        Ok(generation)
    }

    /// Installs `root` as if a sync had just fetched it from a Marathon reporting `version`
    /// (`check` with a state file, tests). The root must be canonical (see [`parse_root`]).
    pub async fn install(self: &Arc<Self>, root: Group, version: &str) -> u64 {
        let store = self.config.store_config(version);
        let flavour = match store.flavor {
            AppFlavor::V13 => Flavour::V13,
            AppFlavor::V14 => Flavour::V14,
        };
        let mut cur = self.current.write().await;
        let generation = self.next_generation();
        let snap = Snapshot {
            root: Arc::new(root),
            version: version.to_string(),
            flavour,
            store,
            fetch_started: Instant::now(),
            generation,
            body_hash: None,
            order_known: false,
        };
        *cur = Some(snap);
        drop(cur);
        *self.last_ok.lock().unwrap() = Some(Instant::now());
        self.synced_tx.send_replace(generation);
        self.schedule_prepare();
        generation
    }

    /// `api_post_event`: the app as Marathon now has it replaces the model's copy (or joins its
    /// group). Returns false when the model cannot take it (not synced, group unknown, app not
    /// parsable): the caller then asks for a resync.
    pub async fn apply_app_event(self: &Arc<Self>, app_json: &serde_json::Value) -> bool {
        let Some(snap) = self.current.read().await.clone() else { return false };
        let Ok(app) = App::parse(app_json.to_string().as_bytes()) else { return false };
        let Some(id) = app.id.as_deref().filter(|i| i.starts_with('/')).map(PathId::parse) else { return false };
        let flavour = snap.flavour;
        let old_root = snap.root.clone();
        let (me, fetch_started, layout) = (self.clone(), snap.fetch_started, snap.store.layout);
        // On the upkeep thread, behind the decisions: during a burst every answered write brings
        // an event, and patching the root then building its ledger base (the pending writes
        // applied again) took a core for milliseconds at the decisions' priority, preempting the
        // decision that held the decision order. The ledger counts the write until the patch lands.
        let patched = super::upkeep_lane::run(move || {
            let mut app = SharedApp::new(canonical_app(app, &id.parent(), flavour));
            app.pack();
            if old_root.find_app(&id).is_some_and(|a| *a == app) {
                return Some(None);
            }
            let mut root = (*old_root).clone();
            let apps = root.find_group_mut(&id.parent())?.apps.get_or_insert_with(Default::default);
            match apps.iter_mut().find(|a| a.id() == app.id()) {
                Some(slot) => *slot = app,
                None => apps.push(app),
            }
            let root = Arc::new(root);
            // Shows no more of Marathon's answers than the root it patches.
            me.run_before_install(&root, fetch_started, flavour, layout);
            Some(Some(root))
        })
        .await
        .ok()
        .flatten();
        let root = match patched {
            None => return false,
            Some(None) => return true, // already in the model
            Some(Some(root)) => root,
        };
        {
            let mut cur = self.current.write().await;
            match cur.as_mut() {
                // Only if no sync replaced the root meanwhile.
                Some(c) if Arc::ptr_eq(&c.root, &snap.root) => {
                    c.root = root;
                    c.body_hash = None;
                    // The root's version is not in the event: known again after the next sync.
                    c.order_known = false;
                    self.note_order_known(false);
                    c.generation = self.next_generation();
                }
                _ => return true,
            }
        }
        self.schedule_prepare();
        true
    }

    /// The next generation. Roots are installed with one drawn under the write lock of
    /// `current`, so installed generations grow in the order roots are installed, and
    /// [`Self::run_before_install`] draws one before that: below the one its root is installed
    /// with, above every root installed before.
    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The work registered with [`Self::before_install`], for a root about to be installed (off
    /// the async workers).
    fn run_before_install(&self, root: &Arc<Group>, fetch_started: Instant, flavour: Flavour, layout: Layout) {
        let work = self.before_install.lock().unwrap().clone();
        if let Some(work) = work {
            let generation = self.next_generation();
            work(&NewRoot { root: root.clone(), generation, fetch_started, flavour, layout });
        }
    }

    /// The root node last read from ZooKeeper (`[zookeeper] read`).
    fn stored_root(&self) -> Option<Arc<StoredRoot>> {
        self.stored.lock().unwrap().0.clone()
    }

    /// How reading the root node from ZooKeeper goes (`/readyz` detail).
    pub fn zk_read(&self) -> ZkReadStatus {
        self.stored.lock().unwrap().1.clone()
    }

    pub(crate) fn zk_read_status(&self, state: &'static str, error: Option<String>) {
        if let Some(e) = &error {
            tracing::warn!(error = %e, "[zookeeper] read: {state}");
        }
        let mut stored = self.stored.lock().unwrap();
        stored.1.state = state;
        stored.1.error = error;
        self.metrics.zookeeper_read_up.set(i64::from(state == "reading"));
    }

    fn note_order_known(&self, known: bool) {
        self.stored.lock().unwrap().1.order_from_zookeeper = known;
    }

    /// The layout of the Marathon synced (waits for the first sync).
    pub(crate) async fn layout(&self) -> Layout {
        let mut synced = self.subscribe();
        loop {
            if let Some(c) = self.current.read().await.as_ref() {
                return c.store.layout;
            }
            if synced.changed().await.is_err() {
                return Layout::Legacy;
            }
        }
    }

    /// A new read of the root node (`None`: Marathon has not written it yet): its order is laid
    /// over the model's root, and the estimate error measured again.
    pub(crate) async fn stored_root_read(self: &Arc<Self>, stored: Option<Arc<StoredRoot>>) {
        {
            let mut s = self.stored.lock().unwrap();
            s.0 = stored.clone();
            s.1.state = if stored.is_some() { "reading" } else { "absent" };
            s.1.error = None;
        }
        self.metrics.zookeeper_read_up.set(1);
        let Some(snap) = self.current.read().await.clone() else { return };
        let old_root = snap.root.clone();
        let reordered = super::upkeep_lane::run(move || {
            let mut root = (*old_root).clone();
            let (moved, order_known) = lay_stored_order(&mut root, stored.as_deref());
            (root, order_known, moved)
        })
        .await;
        let Ok((root, order_known, moved)) = reordered else { return };
        let changed = {
            let mut cur = self.current.write().await;
            match cur.as_mut() {
                // Only if no sync replaced the root meanwhile (a sync lays the order itself).
                Some(c) if Arc::ptr_eq(&c.root, &snap.root) => {
                    c.order_known = order_known;
                    self.note_order_known(order_known);
                    if moved {
                        c.root = Arc::new(root);
                        c.generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    }
                    moved
                }
                _ => false,
            }
        };
        if changed {
            self.schedule_prepare();
        } else {
            self.measure_estimate_error(&snap);
        }
    }

    /// `estimate_error_bytes`: the model's size of the current root minus ZooKeeper's, measured
    /// off the decision path.
    fn measure_estimate_error(self: &Arc<Self>, snap: &Snapshot) {
        let Some(stored) = self.stored_root() else { return };
        let (root, store, me) = (snap.root.clone(), snap.store.clone(), self.clone());
        super::upkeep_lane::spawn(move || {
            let error = stored.estimate_error(&root, &store);
            let mut s = me.stored.lock().unwrap();
            // Only for the node this was measured against (a newer read measures again).
            if s.0.as_ref().is_some_and(|now| Arc::ptr_eq(now, &stored)) {
                s.1.estimate_error_bytes = error;
                if let Some(e) = error {
                    me.metrics.estimate_error_bytes.set(e);
                }
            }
        });
    }

    /// Builds a [`Prepared`] warm state (legacy layout, `warm = true`) and the per-group gauges
    /// for the current root, off the async workers; one at a time, always for the latest root.
    fn schedule_prepare(self: &Arc<Self>) {
        self.prepare_again.store(true, Ordering::SeqCst);
        if self.preparing.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            // On the upkeep thread (behind the decisions), and spaced: during a burst of writes,
            // decisions compose against the last prepared state, and a state prepared often
            // keeps what they compose small; but a preparation costs about one exact decision,
            // and preparing back to back took more of the machine than the decisions it served.
            // So at least PREPARE_SPACING apart, and PREPARE_SPACING_FACTOR times as long as the
            // last preparation took.
            const PREPARE_SPACING: Duration = Duration::from_millis(250);
            const PREPARE_SPACING_FACTOR: u32 = 4;
            let mut last: Option<Instant> = None;
            let mut spacing = PREPARE_SPACING;
            loop {
                if let Some(t) = last {
                    tokio::time::sleep(spacing.saturating_sub(t.elapsed())).await;
                }
                last = Some(Instant::now());
                me.prepare_again.store(false, Ordering::SeqCst);
                let snap = me.current.read().await.clone();
                if let Some(snap) = snap {
                    let fits = me
                        .prepared
                        .lock()
                        .unwrap()
                        .as_ref()
                        .is_some_and(|p| Arc::ptr_eq(&p.root, &snap.root) && p.store == snap.store);
                    if !fits {
                        let warm = me.config.warm;
                        let (root, generation, store) = (snap.root.clone(), snap.generation, snap.store.clone());
                        let reject_at = me.config.policy.reject_at(store.limit_bytes());
                        let after_prepare = me.after_prepare.lock().unwrap().clone();
                        let done = super::upkeep_lane::run(move || {
                            let started = Instant::now();
                            let groups = top_group_bytes(&root, &store);
                            let (p, hc, current) = if warm {
                                // The preparation counted the health checks already.
                                let p = Prepared::prepare(root, generation, store);
                                if let Some(work) = after_prepare {
                                    work(&p);
                                }
                                let (hc, current) = (p.health_checks, p.binding().binding_bytes);
                                (Some(p), hc, current)
                            } else {
                                let hc = root.marathon_health_checks();
                                let e = Estimator::new(store.clone());
                                let current = if store.layout == Layout::Legacy {
                                    e.deployment(&root, &root).binding_bytes
                                } else {
                                    e.state(&root).binding_bytes
                                };
                                (None, hc, current)
                            };
                            (p, groups, hc, current, started.elapsed())
                        })
                        .await;
                        if let Ok((p, groups, hc, current, took)) = done {
                            spacing = PREPARE_SPACING.max(took * PREPARE_SPACING_FACTOR);
                            if let Some(p) = p {
                                *me.prepared.lock().unwrap() = Some(Arc::new(p));
                            }
                            // The previous root and warm state, and this round's scratch, are free.
                            super::upkeep_lane::spawn(super::release_memory::release_freed_memory);
                            let m = &me.metrics;
                            m.group_bytes.clear();
                            for (g, bytes) in groups.into_iter().take(MAX_GROUP_LABELS) {
                                m.group_bytes.get_or_create(&GroupLabels { group: g }).set(bytes as i64);
                            }
                            m.marathon_health_checks.set(hc as i64);
                            m.current_bytes.set(current as i64);
                            m.limit_bytes.set(snap.store.limit_bytes() as i64);
                            m.headroom_bytes.set(reject_at as i64 - current as i64);
                            me.record_history(current, snap.store.limit_bytes());
                            me.measure_estimate_error(&snap);
                        }
                    }
                }
                if !me.prepare_again.load(Ordering::SeqCst) {
                    me.preparing.store(false, Ordering::SeqCst);
                    // A request that arrived between the check and the store restarts us.
                    if !me.prepare_again.load(Ordering::SeqCst) || me.preparing.swap(true, Ordering::SeqCst) {
                        break;
                    }
                }
            }
        });
    }
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// (top-level group id, uncompressed encoded bytes), largest first.
fn top_group_bytes(root: &Group, store: &StoreConfig) -> Vec<(String, u64)> {
    let encoded = Estimator::new(store.clone()).encode(root);
    let mut out: Vec<(String, u64)> = encoded.groups.iter().map(|g| (g.id.to_string(), g.len() as u64)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn same_read(a: &Option<Arc<StoredRoot>>, b: &Option<Arc<StoredRoot>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Lays the stored order over `root`: (whether anything moved, whether the root then has exactly
/// the stored order and is the stored version: what `/readyz` reports as `order_from_zookeeper`).
fn lay_stored_order(root: &mut Group, stored: Option<&StoredRoot>) -> (bool, bool) {
    let Some(order) = stored.and_then(|s| s.order.as_ref()) else { return (false, false) };
    let moved = order.apply(root);
    let version = root.version.as_deref().and_then(|v| marathon_model::Timestamp::parse(v).ok());
    (moved, version.is_some() && version == stored.and_then(|s| s.version) && order.matches(root))
}

/// What `/v2/groups` returns, as the canonical root the estimator expects, its apps packed (the
/// model is kept for long and reads few apps in full; see `marathon_model::SharedApp`).
pub fn parse_root(bytes: &[u8], flavour: Flavour) -> anyhow::Result<Group> {
    parse_packed_root(bytes, flavour, None, &nothing_while_typed, &mut AppTexts::default()).map_err(|e| anyhow::anyhow!("/v2/groups: {e}"))
}

/// As a full sync builds its root from a `/v2/groups` body with nothing before it: parsed, packed
/// and every app encoded (benchmarks).
pub fn parse_root_encoded(bytes: &[u8], flavour: Flavour) -> anyhow::Result<Group> {
    let app_flavor = match flavour {
        Flavour::V13 => AppFlavor::V13,
        Flavour::V14 => AppFlavor::V14,
    };
    build_root(Bytes::copy_from_slice(bytes), flavour, app_flavor, None, &mut AppTexts::default())
}

/// The model root from a `/v2/groups` body: parsed and packed, apps that did not change since
/// `previous` taken from it (and apps whose text is in `texts`, unparsed), every app encoded (what a preparation needs first). New apps are
/// encoded while still typed (decoding 50,000 packed apps again costs a second); apps that
/// changed, after.
fn build_root(body: Bytes, flavour: Flavour, app_flavor: AppFlavor, previous: Option<Arc<Group>>, texts: &mut AppTexts) -> anyhow::Result<Group> {
    let encode = move |app: &SharedApp| {
        znode_size::encoded_tree::EncodedApp::of(app, app_flavor);
    };
    let root = parse_packed_root(&body, flavour, previous.as_deref(), &encode, texts).map_err(|e| anyhow::anyhow!("/v2/groups: {e}"))?;
    drop(body);
    for app in root.transitive_apps() {
        znode_size::encoded_tree::EncodedApp::of(app, app_flavor);
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apps encoded while typed during the parse carry the same bytes as apps encoded from their
    /// packed form, for new apps and for apps taken from the previous root or the previous
    /// parse's texts, or changed since.
    #[test]
    fn apps_encoded_while_parsing_equal_apps_encoded_from_the_packed_form() {
        for (flavour, app_flavor) in [(Flavour::V13, AppFlavor::V13), (Flavour::V14, AppFlavor::V14)] {
            let root = znode_size::synthetic::deep_root(60, 3);
            let body = marathon_sim::render::group(&root, flavour, true, true).to_string();
            let mut texts = AppTexts::default();
            let first = build_root(Bytes::from(body.clone()), flavour, app_flavor, None, &mut texts).unwrap();
            let changed = body.replacen("\"instances\":2", "\"instances\":7", 1);
            assert_ne!(changed, body, "the test changes one app");
            let second = build_root(Bytes::from(changed), flavour, app_flavor, Some(Arc::new(first.clone())), &mut texts).unwrap();
            assert_eq!(second, parse_root(body.replacen("\"instances\":2", "\"instances\":7", 1).as_bytes(), flavour).unwrap());
            for built in [&first, &second] {
                for app in built.transitive_apps() {
                    assert!(app.is_packed());
                    let cached = znode_size::encoded_tree::EncodedApp::of(app, app_flavor).bytes;
                    let fresh = znode_size::service_definition_bytes(&app.app(), app_flavor);
                    assert_eq!(&cached[..], &fresh[..], "{:?}", app.id());
                }
            }
        }
    }

    /// An event's app is patched into the root, and the patched root's ledger base built, on the
    /// upkeep thread: behind the decisions, in the order the events came.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_patches_the_root_on_the_upkeep_thread() {
        let nowhere = proxy::MarathonClient::for_marathons(vec!["http://127.0.0.1:1".parse().unwrap()], &Default::default()).unwrap();
        let model = LiveModel::new(nowhere, AdmitConfig::default());
        let root = znode_size::synthetic::heroku_root(20, 2);
        let group = PathId::parse(root.transitive_apps()[0].id().expect("synthetic apps have ids")).parent();
        let id = group.child("added-by-an-event").to_string();
        model.install(root, "1.3.14").await;
        let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = threads.clone();
        model.before_install(Arc::new(move |new: &NewRoot| {
            let on = std::thread::current().name().map(str::to_owned);
            seen.lock().unwrap().push((on, new.root.transitive_apps().len()));
        }));
        let generation = model.snapshot().await.unwrap().generation;
        let app = serde_json::json!({"id": id, "cmd": "sleep 1", "instances": 3});
        assert!(model.apply_app_event(&app).await);
        let snap = model.snapshot().await.unwrap();
        assert!(snap.generation > generation, "the patched root is installed");
        assert!(snap.root.find_app(&PathId::parse(&id)).is_some());
        assert_eq!(*threads.lock().unwrap(), vec![(Some("model-upkeep".to_string()), 21)]);
    }
}
