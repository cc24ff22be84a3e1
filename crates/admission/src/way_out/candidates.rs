//! The candidate steps, handed out best first, each with its estimate of what it frees
//! ([`super::sizes`]).
//!
//! Best is the estimate weighted by what the step costs its users: deleting what runs nothing
//! weighs [`IDLE_WEIGHT`], emptying an environment [`CLEAR_ENV_WEIGHT`], deleting a running app
//! 1; a deletion weighs up to twice more the longer its app (or group) has gone unchanged. So
//! an idle app comes before a running one unless the running one frees several times more, and
//! the step count stays small without sacrificing what people use. A running app with a large
//! environment is offered for deletion only once its environment is emptied (and for what is
//! left of it): moving variables out always comes before deleting what runs.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use marathon_model::{App, Group, PathId, SharedApp, Timestamp};
use znode_size::StoreConfig;

use super::sizes::Sizes;
use super::Action;

/// Deleting what runs nothing costs its users nothing.
const IDLE_WEIGHT: f64 = 4.0;
/// Emptying an environment costs a config file, not the app.
const CLEAR_ENV_WEIGHT: f64 = 2.0;
/// An environment at least this share of its app's bytes is worth moving out.
const LARGE_ENV_SHARE: f64 = 1.0 / 3.0;
/// Emptying an environment is a step worth proposing from this many bytes on: near-duplicate
/// environments cost almost nothing in a gzipped plan.
const MIN_ENV_FREES: f64 = 16.0;
/// Unchanged for this long (or longer) doubles a deletion's weight.
const STALE_MILLIS: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

/// One step to consider.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub action: Action,
    pub id: PathId,
    /// Estimated bytes of the binding node it frees.
    pub est: f64,
    /// `est` weighted by what the step costs users (see the module documentation).
    score: f64,
    /// When the app or group last changed (ms since the epoch), older first on equal scores.
    changed_at: i64,
}

impl Candidate {
    /// A step to apply, without estimates.
    pub fn new(action: Action, id: PathId) -> Candidate {
        Candidate { action, id, est: 0.0, score: 0.0, changed_at: 0 }
    }
}

/// The candidates, best first.
pub(super) struct Queue {
    heap: BinaryHeap<Candidate>,
    /// The deletion of a running app offered once its environment is emptied, by app id.
    after_clear: HashMap<String, Candidate>,
}

impl Queue {
    pub fn new(root: &Group, store: &StoreConfig, binding: u64, protect: &[PathId]) -> Queue {
        let sizes = Sizes::of(root, store, binding);
        let running = running_apps(root, store, &sizes, protect);
        let newest = newest_change(root);
        let mut queue = Queue { heap: BinaryHeap::new(), after_clear: HashMap::new() };
        queue.add_group(root, &sizes, &running, protect, newest);
        queue
    }

    /// Candidates in order until their estimates add up to `need` or `max` are taken (at least
    /// one while any is left).
    pub fn take(&mut self, max: usize, need: f64) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        let mut sum = 0.0;
        while out.len() < max && (out.is_empty() || sum < need) {
            let Some(c) = self.pop() else { break };
            sum += c.est;
            out.push(c);
        }
        out
    }

    /// The first candidate in order that is estimated to free at least `need`, else the one
    /// estimated to free the most; `skip` names candidates not to hand out. Nothing else leaves
    /// the queue, and what this hands out is not yet taken: [`Queue::taken`] or put it back.
    pub fn take_at_least(&mut self, need: f64, skip: &[Candidate]) -> Option<Candidate> {
        let mut all = std::mem::take(&mut self.heap).into_sorted_vec();
        all.reverse();
        let open = |c: &Candidate| !skip.iter().any(|s| s.id == c.id && s.action == c.action);
        let at = all.iter().position(|c| open(c) && c.est >= need).or_else(|| {
            let largest = all.iter().enumerate().filter(|(_, c)| open(c)).max_by(|a, b| a.1.est.total_cmp(&b.1.est));
            largest.map(|(i, _)| i)
        });
        let found = at.map(|i| all.remove(i));
        self.heap = BinaryHeap::from(all);
        found
    }

    /// Puts back what [`Queue::take_at_least`] handed out.
    pub fn put_back(&mut self, candidates: Vec<Candidate>) {
        self.heap.extend(candidates);
    }

    /// `c` is in the plan: what it makes possible joins the queue (once an environment is
    /// emptied, the rest of the app may be deleted).
    pub fn taken(&mut self, c: &Candidate) {
        if c.action == Action::ClearEnv {
            if let Some(delete) = self.after_clear.remove(&c.id.to_string()) {
                self.heap.push(delete);
            }
        }
    }

    fn pop(&mut self) -> Option<Candidate> {
        let c = self.heap.pop()?;
        self.taken(&c);
        Some(c)
    }

    /// Adds the candidates of `group`'s subtree: the group itself when nothing in it runs
    /// (its apps then need no step of their own), else its apps and subgroups'.
    fn add_group(&mut self, group: &Group, sizes: &Sizes, running: &HashMap<String, Running>, protect: &[PathId], newest: i64) {
        let id = group.path_id();
        if !id.is_root() && is_idle(group) && !protect.iter().any(|p| p.includes(&id) || id.includes(p)) {
            let est = sizes.group(&id);
            let changed_at = group_changed_at(group);
            let score = est * IDLE_WEIGHT * staleness(newest, changed_at);
            self.push(Action::DeleteGroup, id, est, score, changed_at);
            return;
        }
        for app in group.apps() {
            let app_id = PathId::parse(app.id().unwrap_or_default());
            if !protect.iter().any(|p| p.includes(&app_id)) {
                self.add_app(app, app_id, sizes, running, newest);
            }
        }
        for sub in group.groups() {
            self.add_group(sub, sizes, running, protect, newest);
        }
    }

    fn add_app(&mut self, app: &SharedApp, id: PathId, sizes: &Sizes, running: &HashMap<String, Running>, newest: i64) {
        let key = app.id().unwrap_or_default();
        let est = sizes.app(key);
        let Some(r) = running.get(key) else {
            let changed_at = version_millis(app.version());
            self.push(Action::DeleteApp, id, est, est * IDLE_WEIGHT * staleness(newest, changed_at), changed_at);
            return;
        };
        let stale = staleness(newest, r.changed_at);
        match r.env_frees {
            Some(env) => {
                self.push(Action::ClearEnv, id.clone(), env, env * CLEAR_ENV_WEIGHT, r.changed_at);
                // What is left of the app; estimated in another context than its environment,
                // so never taken for nothing.
                let rest = (est - env).max(1.0);
                let delete = Candidate { action: Action::DeleteApp, id: id.clone(), est: rest, score: rest * stale, changed_at: r.changed_at };
                self.after_clear.insert(id.to_string(), delete);
            }
            None => self.push(Action::DeleteApp, id, est, est * stale, r.changed_at),
        }
    }

    fn push(&mut self, action: Action, id: PathId, est: f64, score: f64, changed_at: i64) {
        if est > 0.0 {
            self.heap.push(Candidate { action, id, est, score, changed_at });
        }
    }
}

/// What the ranking needs of a running app.
struct Running {
    /// When its configuration last changed (ms since the epoch).
    changed_at: i64,
    /// What emptying its environment frees, estimated, when that is worth a step.
    env_frees: Option<f64>,
}

/// The running apps outside `protect`, read in full once (a packed app is decoded here).
fn running_apps(root: &Group, store: &StoreConfig, sizes: &Sizes, protect: &[PathId]) -> HashMap<String, Running> {
    let mut changed = HashMap::new();
    let mut stripped = HashMap::new();
    for app in root.transitive_apps().into_iter().filter(|a| a.instances() > 0) {
        let Some(id) = app.id() else { continue };
        if protect.iter().any(|p| p.includes(&PathId::parse(id))) {
            continue;
        }
        let full = app.app();
        changed.insert(id.to_string(), changed_at(&full));
        if let Some(bytes) = sizes.without_env(&full, store, LARGE_ENV_SHARE) {
            stripped.insert(id.to_string(), bytes);
        }
    }
    let env = sizes.env_frees(&stripped);
    changed
        .into_iter()
        .map(|(id, changed_at)| {
            let env_frees = env.get(&id).copied().filter(|f| *f >= MIN_ENV_FREES);
            (id, Running { changed_at, env_frees })
        })
        .collect()
}

/// Nothing in the group runs: every app at `instances` 0, no pods, the same for its subgroups.
fn is_idle(group: &Group) -> bool {
    group.pods().is_empty() && group.apps().iter().all(|a| a.instances() == 0) && group.groups().iter().all(is_idle)
}

/// 1 for the newest change in the state, rising to 2 for what has not changed in a year.
fn staleness(newest: i64, changed_at: i64) -> f64 {
    1.0 + ((newest - changed_at) as f64 / STALE_MILLIS).clamp(0.0, 1.0)
}

/// The last configuration change of a running app: `versionInfo.lastConfigChangeAt`, else its
/// `version` (scaling changes the version, not the configuration).
fn changed_at(app: &App) -> i64 {
    let info = app.version_info.as_ref().and_then(|v| v.last_config_change_at.as_deref());
    version_millis(info.or(app.version.as_deref()))
}

fn version_millis(raw: Option<&str>) -> i64 {
    raw.and_then(|v| Timestamp::parse(v).ok()).map_or(0, Timestamp::millis)
}

/// The newest app version in the state: "unchanged for long" is measured from there, not from
/// the clock, so the plan depends on the state alone.
fn newest_change(root: &Group) -> i64 {
    root.transitive_apps().iter().map(|a| version_millis(a.version())).max().unwrap_or(0)
}

/// A group's last change: its newest app's version (its own version moves with any app's).
fn group_changed_at(group: &Group) -> i64 {
    group.transitive_apps().iter().map(|a| version_millis(a.version())).max().unwrap_or(0)
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.changed_at.cmp(&self.changed_at))
            .then_with(|| other.id.to_string().cmp(&self.id.to_string()))
            .then_with(|| (other.action as u8).cmp(&(self.action as u8)))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

