//! The way out, computed: the shortest ordered list of changes that brings the binding node down
//! to a target, each step with the bytes it frees as Marathon persists them.
//!
//! A rejection that only says "delete apps" leaves people guessing which ones, and guessing badly:
//! with gzip, deleting one of many near-duplicate apps frees a fraction of its JSON, while one app
//! with a few hundred random env values frees a lot. So the plan is computed on the model:
//!
//! - **What is measured.** The binding node of the *next deployment* of the state: legacy, the
//!   plan holding the root twice (`Estimator::deployment(root, root)`, gzipped where Marathon
//!   gzips it); 1.4+, the root node (apps are nodes of their own and a deletion writes none). That
//!   is what every later write pays on top of its own growth, so "the rejected write fits" means:
//!   this figure at most `reject_at - growth` ([`target_for_write`]).
//! - **What may change**, preferring what costs users least:
//!   1. apps that run nothing (`instances` 0) are deleted, and groups where nothing runs are
//!      deleted whole (one step instead of one per app);
//!   2. running apps whose environment is a large part of them get it emptied (`clear_env`: the
//!      variables move to a config file fetched at start or to secrets). Never on 1.4+, where an
//!      app's environment is not in the binding node;
//!   3. running apps are deleted, those unchanged for longest first (`versionInfo`'s
//!      `lastConfigChangeAt`, else `version`): the likeliest to be abandoned. An app with a large
//!      environment only once that is emptied.
//!
//!   Candidates are ranked by the bytes they free weighted by that preference (see
//!   `candidates.rs`), so that a few large steps beat many small ones of a cheaper kind only
//!   when they free several times more. Nothing under a `protect` prefix is touched, and no
//!   group holding one is deleted.
//! - **How much each frees** is first estimated cheaply: one deflate pass over the root flushed
//!   after every app ([`znode_size::deflate_shares`]) gives each app's compressed share, scaled
//!   to the measured total (raw lengths when nothing is compressed; app references on 1.4+); an
//!   environment, the share it adds to its app in the stream (so near-duplicate environments,
//!   nearly free once gzipped, are not worth a step).
//!   Steps are then applied on a copy of the root and re-measured with the exact path: each of
//!   the first [`EXACT_STEPS`] steps alone, then in batches sized by the calibrated estimates to
//!   close the remaining gap, the last batch cut to its shortest prefix that reaches the target.
//!   A step measured to free nothing is dropped. In a batch, the measured difference is shared
//!   among its steps in proportion to their estimates; the binding after every measured step (the
//!   first steps, the end of each batch, the end of the plan) is exact, so the plan's outcome is
//!   verified by the exact path before anyone sees it.
//! - **A state past Marathon's own limit.** Marathon then refuses every deployment, deletions
//!   included, unless the deployment itself fits; its plan holds the state as it is beside the
//!   state after the step, so the first step must free about twice the excess at once. It is
//!   chosen for that (the best ranked candidate estimated to free enough) and checked with the
//!   exact path; every later step starts from a state under the limit.
//! - **Where it aims.** Marathon stamps what a step changes (the app's versions, its groups')
//!   with the time of the change, and gzip compresses those digits a little differently from any
//!   stand-in: a compressed plan aims [`aim_below`] the target, so that the state Marathon ends
//!   with is at the target too.
//!
//! No IO: the caller brings the root, the store settings, the target and the protected prefixes.

mod candidates;
mod edit;
mod sizes;

use marathon_model::{Group, PathId};
use serde::{Deserialize, Serialize};
use znode_size::{Estimator, Layout, StoreConfig};

use candidates::{Candidate, Queue};
pub use edit::apply_step;

/// The first steps are measured one by one: they are what a rejection shows, and what people
/// apply first.
pub const EXACT_STEPS: usize = 5;

/// Candidates measured alone and dropped for freeing nothing before the search moves on to
/// batches: estimates that wrong would otherwise cost one exact measurement each.
const MAX_DROPPED_ALONE: usize = 20;

/// Candidates tried for a first step that Marathon can store (see [`Search::storable_first_step`]).
const FIRST_STEP_TRIES: usize = 4;

/// Estimates are aimed this far past the gap, so that a batch rarely falls just short (which
/// costs a whole extra measurement) and the cut to the shortest prefix takes back the excess.
const AIM_PAST_GAP: f64 = 1.05;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `DELETE /v2/apps/{id}`.
    DeleteApp,
    /// `DELETE /v2/groups/{id}`: the group and everything in it.
    DeleteGroup,
    /// `PUT /v2/apps/{id}` with `{"env": {}}`, once the variables live elsewhere.
    ClearEnv,
}

/// One change, with what it frees in the binding node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    pub id: String,
    /// Bytes of the binding node this step frees, as persisted (compressed where Marathon
    /// compresses).
    pub frees_bytes: u64,
    /// The binding node once this step and every one before it are applied.
    pub binding_bytes_after: u64,
}

/// The plan, steps in the order to apply them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The binding node now (see the module documentation for which node).
    pub binding_bytes: u64,
    /// Where the plan aims: the binding node at most this.
    pub target_bytes: u64,
    pub limit_bytes: u64,
    /// True when the binding node after the last step is at most `target_bytes`.
    pub reached: bool,
    pub steps: Vec<Step>,
}

/// What to plan for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub root: &'a Group,
    pub store: &'a StoreConfig,
    /// The binding node must end at most this.
    pub target_bytes: u64,
    /// Group or app ids whose subtrees are never touched.
    pub protect: &'a [PathId],
    /// Stop after this many steps (a rejection shows only the first few); `None`: until reached.
    pub max_steps: Option<usize>,
    /// The binding node of `root` when the caller has it measured already (saves one exact
    /// measurement).
    pub known_binding: Option<u64>,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DeleteApp => "delete_app",
            Action::DeleteGroup => "delete_group",
            Action::ClearEnv => "clear_env",
        }
    }
}

impl Step {
    /// The request that applies the step through Marathon's API: method, path, body.
    pub fn request(&self) -> (&'static str, String, Option<&'static str>) {
        let id = self.id.trim_start_matches('/');
        match self.action {
            Action::DeleteApp => ("DELETE", format!("/v2/apps/{id}"), None),
            Action::DeleteGroup => ("DELETE", format!("/v2/groups/{id}"), None),
            Action::ClearEnv => ("PUT", format!("/v2/apps/{id}"), Some(r#"{"env":{}}"#)),
        }
    }

    /// One line for people: what to do and what it frees.
    pub fn describe(&self) -> String {
        let what = match self.action {
            Action::DeleteApp => format!("delete app {}", self.id),
            Action::DeleteGroup => format!("delete group {} (and everything in it)", self.id),
            Action::ClearEnv => format!("move the environment of {} to a config file or secrets, then empty it", self.id),
        };
        format!("{what}: frees {} bytes", self.frees_bytes)
    }
}

/// The binding node of the next deployment of `root` (see the module documentation).
pub fn binding_bytes(root: &Group, store: &StoreConfig) -> u64 {
    Estimator::new(store.clone()).deployment(root, root).binding_bytes
}

/// The target that lets a write through: its deployment grows the binding node from
/// `binding_now` to `predicted`, and is admitted strictly under `reject_at`. Growth is assumed to
/// stay what it is now; `slack` covers its compressed size shifting with the state around it.
pub fn target_for_write(reject_at: u64, binding_now: u64, predicted: u64) -> u64 {
    let growth = predicted.saturating_sub(binding_now);
    let slack = 64 + growth / 50;
    reject_at.saturating_sub(growth + slack + 1)
}

/// How far below the target a plan aims (see the module documentation): what the timestamps
/// of the changes may shift a gzipped plan by.
pub fn aim_below(store: &StoreConfig, binding: u64) -> u64 {
    match store.layout == Layout::Legacy && store.compression {
        true => 64 + binding / 1000,
        false => 0,
    }
}

/// Computes the plan (see the module documentation).
pub fn plan(req: &Request<'_>) -> Plan {
    let estimator = Estimator::new(req.store.clone());
    let measure = |root: &Group| estimator.deployment(root, root).binding_bytes;
    let stored = |after: &Group| estimator.deployment(req.root, after).accepted;
    let start = req.known_binding.unwrap_or_else(|| measure(req.root));
    let limit = req.store.limit_bytes();
    let mut search = Search {
        root: req.root.clone(),
        binding: start,
        target: req.target_bytes.saturating_sub(aim_below(req.store, start)),
        steps: Vec::new(),
        calibration: Calibration::default(),
        measure: &measure,
    };
    if start > req.target_bytes {
        let mut queue = Queue::new(req.root, req.store, start, req.protect);
        if start >= limit {
            search.storable_first_step(&mut queue, limit, &stored);
        }
        search.run(&mut queue, req.max_steps.unwrap_or(usize::MAX));
    }
    Plan {
        binding_bytes: start,
        target_bytes: req.target_bytes,
        limit_bytes: limit,
        reached: search.binding <= req.target_bytes,
        steps: search.steps,
    }
}

/// The greedy search: the working copy of the root, where it stands, and the steps so far.
struct Search<'m> {
    root: Group,
    binding: u64,
    target: u64,
    steps: Vec<Step>,
    /// Measured bytes freed per estimated byte (see [`Calibration`]).
    calibration: Calibration,
    measure: &'m dyn Fn(&Group) -> u64,
}

/// How far the estimates are off. Single steps are the best ranked, where estimates err most
/// (an app that opens the stream, one that later apps refer back to), so their median counts;
/// once a batch is measured, its ratio stands for the many candidates after it.
#[derive(Default)]
struct Calibration {
    singles: Vec<f64>,
    batch: Option<f64>,
}

impl Calibration {
    fn ratio(&self) -> f64 {
        let mut singles = self.singles.clone();
        singles.sort_by(f64::total_cmp);
        let median = singles.get(singles.len() / 2).copied();
        self.batch.or(median).unwrap_or(1.0).clamp(0.05, 20.0)
    }

    fn record(&mut self, steps: usize, estimated: f64, measured: u64) {
        if estimated <= 0.0 {
            return;
        }
        let ratio = measured as f64 / estimated;
        match steps {
            1 => self.singles.push(ratio),
            _ => self.batch = Some(ratio),
        }
    }
}

impl Search<'_> {
    /// The first step of a state past the limit (see the module documentation): among the
    /// candidates estimated to free twice the excess, the best ranked whose deployment Marathon
    /// stores. When none does, the search goes on as usual (and Marathon will refuse the plan's
    /// first deployments until enough is deleted some other way).
    fn storable_first_step(&mut self, queue: &mut Queue, limit: u64, stored: &dyn Fn(&Group) -> bool) {
        let mut need = 2.0 * (self.binding + 1 - limit) as f64;
        let mut tried = Vec::new();
        for _ in 0..FIRST_STEP_TRIES {
            let Some(c) = queue.take_at_least(need, &tried) else { break };
            if c.est * 2.0 < need {
                // Not even close by the estimates: no single step will do.
                tried.push(c);
                break;
            }
            let mut root = self.root.clone();
            edit::apply(&mut root, std::slice::from_ref(&c));
            let after = stored(&root).then(|| (self.measure)(&root)).filter(|after| *after < self.binding);
            if let Some(after) = after {
                queue.taken(&c);
                self.record(std::slice::from_ref(&c), after);
                self.root = root;
                break;
            }
            need = need.max(c.est) * 1.5;
            tried.push(c);
        }
        queue.put_back(tried);
    }

    fn run(&mut self, queue: &mut Queue, max_steps: usize) {
        let mut dropped = 0;
        while self.binding > self.target && self.steps.len() < max_steps {
            let room = max_steps - self.steps.len();
            let one_by_one = self.steps.len() < EXACT_STEPS && dropped < MAX_DROPPED_ALONE;
            let batch = match one_by_one {
                true => queue.take(1, 0.0),
                false => {
                    let need = (self.binding - self.target) as f64 / self.calibration.ratio() * AIM_PAST_GAP;
                    queue.take(room, need)
                }
            };
            if batch.is_empty() {
                return;
            }
            match self.apply_batch(&batch) {
                Some((kept, freed)) => {
                    let estimated = batch[..kept].iter().map(|c| c.est).sum::<f64>();
                    self.calibration.record(kept, estimated, freed);
                }
                None => dropped += 1,
            }
        }
    }

    /// Applies `batch` on the working root and measures; cuts a batch that overshoots the target
    /// to its shortest prefix that still reaches it. Returns how many steps were kept and the
    /// bytes they freed, or `None` when the batch freed nothing (then nothing of it is kept).
    fn apply_batch(&mut self, batch: &[Candidate]) -> Option<(usize, u64)> {
        let mut root = self.root.clone();
        edit::apply(&mut root, batch);
        let mut after = (self.measure)(&root);
        if after >= self.binding {
            return None;
        }
        let mut kept = batch.len();
        if after <= self.target && batch.len() > 1 {
            (kept, root, after) = self.shortest_prefix(batch, root, after);
        }
        let freed = self.binding - after;
        self.record(&batch[..kept], after);
        self.root = root;
        Some((kept, freed))
    }

    /// The shortest prefix of `batch` that brings the working root to the target; `full` is the
    /// whole batch applied. The binding node only shrinks as steps are added, and about in
    /// proportion to their estimates, so each probe goes where the estimates put the target
    /// between the two prefixes measured so far (a few probes where bisection takes a dozen on
    /// thousands of steps); a probe that does not halve the interval makes the next one bisect.
    fn shortest_prefix(&self, batch: &[Candidate], full: Group, full_after: u64) -> (usize, Group, u64) {
        let mut cum = Vec::with_capacity(batch.len() + 1);
        cum.push(0.0);
        for c in batch {
            cum.push(cum[cum.len() - 1] + c.est.max(1.0));
        }
        // `lo` does not reach the target (the empty prefix), `hi` does (the whole batch).
        let (mut lo, mut lo_after) = (0, self.binding);
        let mut best = (batch.len(), full, full_after);
        let mut bisect = false;
        while best.0 - lo > 1 {
            let hi = best.0;
            let k = match bisect {
                true => (lo + hi) / 2,
                false => {
                    let share = (lo_after - self.target) as f64 / (lo_after - best.2).max(1) as f64;
                    let want = cum[lo] + share * (cum[hi] - cum[lo]);
                    cum.partition_point(|c| *c < want).clamp(lo + 1, hi - 1)
                }
            };
            let mut root = self.root.clone();
            edit::apply(&mut root, &batch[..k]);
            let after = (self.measure)(&root);
            let width = hi - lo;
            if after <= self.target && after < self.binding {
                best = (k, root, after);
            } else {
                (lo, lo_after) = (k, after);
            }
            bisect = (best.0 - lo) * 2 > width;
        }
        best
    }

    /// Records `kept` (applied together, bringing the binding to `after`): the measured
    /// difference shared in proportion to the estimates, the last step's figure exact.
    fn record(&mut self, kept: &[Candidate], after: u64) {
        let freed = self.binding - after;
        let total_est: f64 = kept.iter().map(|c| c.est.max(1.0)).sum();
        let mut left = freed;
        for (i, c) in kept.iter().enumerate() {
            let still_to_share = (kept.len() - i - 1) as u64;
            let share = match still_to_share {
                0 => left,
                _ => ((freed as f64 * c.est.max(1.0) / total_est).round() as u64).clamp(1, left.saturating_sub(still_to_share).max(1)),
            };
            left = left.saturating_sub(share);
            self.binding = self.binding.saturating_sub(share);
            let binding_bytes_after = if still_to_share == 0 { after } else { self.binding };
            self.steps.push(Step { action: c.action, id: c.id.to_string(), frees_bytes: share, binding_bytes_after });
        }
        self.binding = after;
    }
}

#[cfg(test)]
mod tests;
