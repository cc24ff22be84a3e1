//! A write worked out on a base: the target it would leave and its sizes. This is the costly
//! part of a decision, and it needs no place in the decision order.
//!
//! Why it runs before the order: a decision holds the order from reading the ledger to
//! reserving, so a decision that was preempted while it sized held back every decision queued
//! behind it. On a busy machine, during a release train, the worst decisions were those queued
//! behind a preempted one. A real write is therefore worked out first on the base its decision
//! would see now, outside the order. In the order, the decision reads the ledger again; when the
//! base is the same object (the same model root with the same pending writes), the work stands:
//! the target and the sizes are functions of the base, the write, its stamp and the store. When
//! another decision reserved meanwhile, or the model moved, the base differs: the decision leaves
//! the order and works the write out once more on the base it just saw (the base seldom moves
//! twice in a row), and only when that misses too is the write worked out in the order, as before
//! (a write worked out again in the order during a burst had often met a new warm state, measured
//! its base's apps again, and was preempted with the order held). The order still covers what
//! must not interleave: reading the ledger, the checks against it, and the reservation.
//!
//! Ahead of the order, only the warm path sizes: where only the exact path can decide (one gzip
//! of the whole plan, hundreds of milliseconds on a large root), the base has nearly always moved
//! by the time the order comes during a burst, and that work would be done twice. Where the warm
//! state could not decide only because the base drifted too far from it, a state is prepared for
//! the base ahead of the order instead (`state_near_bases`), and it serves the next decisions.

use std::sync::Arc;

use admission::Policy;
use marathon_model::ops::{apply_assuming_accepted, FetchedHistory, Write};
use marathon_model::{Group, PathId, Timestamp};
use znode_size::StoreConfig;

use super::{url_resource_id, Admission, Asked, Evaluation};
use super::state_near_bases::Nearer;
use crate::decision_sizes::{warm_first, Prepared, SizeEngine, Sizes, Thresholds, Warm};
use crate::ledger_base::ModelRoot;
use crate::live_model::Snapshot;
use crate::phase_clock::PhaseClock;
use crate::work_in_place::work_in_place;

/// A write to work out: as asked, as parsed, what it needs from Marathon, and the version stamp
/// it is decided with (the same in every pass, so that its app has the same bytes in each).
#[derive(Clone, Copy)]
pub(super) struct ToWorkOut<'a> {
    pub asked: Asked<'a>,
    pub write: &'a Write,
    pub history: &'a FetchedHistory,
    pub now: Timestamp,
}

/// A write applied to a base and sized.
pub(super) struct Worked {
    /// What the write was applied to: the model root with the ledger's writes.
    pub base: Arc<Group>,
    pub target: Arc<Group>,
    pub affected: Vec<PathId>,
    /// The paths whose groups' mode applies: the ones the write touches and the one its URL names.
    pub ids: Vec<String>,
    /// The policy in force for those groups (their mode).
    pub policy: Policy,
    pub sizes: Sizes,
    pub store: StoreConfig,
}

impl Worked {
    /// Whether this work holds for a decision on `base` under `store`.
    pub fn holds_for(&self, base: &Arc<Group>, store: &StoreConfig) -> bool {
        Arc::ptr_eq(&self.base, base) && self.store == *store
    }
}

/// A write applied to a base, not sized yet.
struct Applied {
    base: Arc<Group>,
    target: Arc<Group>,
    affected: Vec<PathId>,
    ids: Vec<String>,
    policy: Policy,
    th: Thresholds,
}

impl Applied {
    fn sized(self, sizes: Sizes, store: &StoreConfig) -> Box<Worked> {
        let Applied { base, target, affected, ids, policy, th: _ } = self;
        Box::new(Worked { base, target, affected, ids, policy, sizes, store: store.clone() })
    }
}

impl Admission {
    /// `write` applied to `base` with the stamp `now`, and its sizes; `Err`: what the decision
    /// answers instead. Laps `apply` and `sizes`.
    pub(super) async fn work_out(&self, w: ToWorkOut<'_>, base: Arc<Group>, snap: &Snapshot, clock: &mut PhaseClock) -> Result<Box<Worked>, Evaluation> {
        let applied = self.apply_write(w, base, snap)?;
        clock.lap("apply");
        let states = self.sizing_states(&snap.store);
        let sizes = self.size(&applied, states, snap, |store, states, base, target, th| SizeEngine::default().sizes(store, states, base, target, th)).await?;
        clock.lap("sizes");
        Ok(applied.sized(sizes, &snap.store))
    }

    /// `write` worked out on the base a decision on `snap` would see now, before the decision
    /// takes its place in the order; `None` when the ledger's writes are not known here without
    /// the order, when only the exact path can size it (no warm state, or a threshold within the
    /// bound of the write's own change), or when the write ends in no sizes (the decision finds
    /// out again, cheaply). Where the warm state is too far from the base to decide, a state
    /// nearer to it is taken or prepared (see `state_near_bases`); where it is half-way there,
    /// and a base was out of reach lately, one for the write's target is prepared in the
    /// background.
    pub(super) async fn work_out_ahead(&self, w: ToWorkOut<'_>, snap: &Snapshot) -> Option<Box<Worked>> {
        // No warm state for this store (the first sync, a new version): nothing to size ahead.
        let mut states = self.sizing_states(&snap.store);
        if states.is_empty() {
            return None;
        }
        let pending = self.ledger.pending_known(self.pending_query(snap))?;
        let on = ModelRoot { root: snap.root.clone(), generation: snap.generation };
        let base = self.base_for(&on, &pending, &w.now, snap.flavour).await;
        let applied = self.apply_write(w, base, snap).ok()?;
        // The states there are; one another decision prepared meanwhile; one prepared for this
        // base. When even that one is too far, its bound was misjudged: the exact path decides.
        let mut tried = Vec::new();
        let mut prepared_here = false;
        loop {
            match self.size(&applied, states.clone(), snap, warm_first).await.ok()? {
                Warm::Sized(sizes) => return Some(applied.sized(sizes, &snap.store)),
                Warm::Drifting(sizes) => {
                    tried.extend(states);
                    let counted = self.metrics.base_states_prepared_early.clone();
                    self.near.prepare_early(&tried, &applied.target, snap.generation, &snap.store, move || {
                        counted.inc();
                    });
                    return Some(applied.sized(sizes, &snap.store));
                }
                Warm::ExactOnly => return None,
                Warm::Drifted if prepared_here => return None,
                Warm::Drifted => {
                    tried.extend(states);
                    let nearer = self.near.nearer(&tried, &applied.base, snap.generation, &snap.store).await?;
                    if let Nearer::Prepared(_) = nearer {
                        self.metrics.base_states_prepared.inc();
                        prepared_here = true;
                    }
                    states = vec![nearer.state().clone()];
                }
            }
        }
    }

    /// The warm states decisions compose against, the likely nearest first: the model's, and one
    /// prepared for a decision's base.
    pub(super) fn sizing_states(&self, store: &StoreConfig) -> Vec<Arc<Prepared>> {
        self.near.states(self.model.prepared(), store)
    }

    /// `write` applied to `base`, with the policy of the groups it touches; `Err`: what the
    /// decision answers instead.
    fn apply_write(&self, w: ToWorkOut<'_>, base: Arc<Group>, snap: &Snapshot) -> Result<Applied, Evaluation> {
        let outcome = apply_assuming_accepted(&base, w.write, w.now, snap.flavour, w.history).map_err(Evaluation::MarathonAnswers)?;
        if !outcome.deployment {
            return Err(Evaluation::NoDeployment);
        }
        let affected = outcome.affected;
        let ids: Vec<String> =
            affected.iter().map(|p| p.to_string()).chain(url_resource_id(w.asked.method, w.asked.path)).collect();
        let mode = self.config.groups.mode_for(self.config.policy.mode, ids.iter().map(String::as_str));
        let policy = Policy { mode, ..self.config.policy.clone() };
        let th = Thresholds::of(&policy, snap.store.limit_bytes());
        Ok(Applied { base, target: Arc::new(outcome.root), affected, ids, policy, th })
    }

    /// `measure` of `applied` against the warm states `states`, in place (the exact path gzips
    /// megabytes: the worker's other tasks go elsewhere meanwhile); `Err` when it panicked: the
    /// write is then forwarded, as a write admission does not know is.
    async fn size<R: Send + 'static>(
        &self,
        applied: &Applied,
        states: Vec<Arc<Prepared>>,
        snap: &Snapshot,
        measure: impl FnOnce(&StoreConfig, &[&Prepared], &Arc<Group>, &Group, Thresholds) -> R + Send + 'static,
    ) -> Result<R, Evaluation> {
        let (base, target, store, th) = (applied.base.clone(), applied.target.clone(), snap.store.clone(), applied.th);
        work_in_place(move || {
            let states: Vec<&Prepared> = states.iter().map(|s| s.as_ref()).collect();
            measure(&store, &states, &base, &target, th)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "admission: estimate failed; forwarding");
            Evaluation::NotAWrite
        })
    }
}

#[cfg(test)]
mod tests;
