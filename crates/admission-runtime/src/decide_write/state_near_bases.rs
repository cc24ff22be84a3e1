//! A warm state prepared for a decision's base, when the model's has drifted too far from it.
//!
//! Why: a decision composes its sizes against the last warm state the model prepared (`S`), and
//! the error bound of that composition grows with every app its base changed since `S` (about
//! 2.4 KB per changed app on the heroku roots, 25 apps to use up the distance between 92% of the
//! limit and the lowest threshold). The model prepares a state at most every few hundred
//! milliseconds, since a preparation costs about one exact decision; during a release train the
//! bases then drift by tens of writes, and once the bound reached the nearest threshold a
//! decision went to the exact path, inside the decision order, while every decision behind it
//! waited. A state prepared for the base itself costs about as much as that exact sizing, but it
//! is prepared ahead of the order, and the decisions after it compose against it with a small
//! bound.
//!
//! One preparation at a time: a decision that finds one under way waits for it (outside the
//! order), and tries it before preparing its own. The state is kept beside the model's, and a
//! decision tries the newer of the two first: a state the model prepared later may still be
//! further from the bases (it lacks the ledger's writes, which alone can use up the room during a
//! burst of many clients). It is replaced by the next one prepared here, and dropped when the
//! model's store changes.
//!
//! Prepared early: once a base was out of reach, for a while (`EARLY_AFTER_OUT_OF_REACH`) a
//! decision that finds its base half-way out of the newest state's reach (`Warm::Drifting`)
//! starts a preparation for the root its write leaves, in the background, on the upkeep thread
//! behind the decisions, and no decision waits for it. With many clients, when the model's own
//! states start half-way out of reach (they lack the writes in flight), that state is ready
//! before the drift stops a decision, and decisions stop waiting for preparations. Only after a
//! base was out of reach: with fewer clients the model's own states keep the drift in check, and
//! preparing at every half-way mark (every few writes) only took cores from the decisions. A
//! decision that finds its base out of reach while one is under way still waits for it, rather
//! than preparing a second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marathon_model::Group;
use znode_size::StoreConfig;

use crate::decision_sizes::Prepared;
use crate::upkeep_lane;
use crate::work_in_place::work_in_place;

/// How long after a base was out of reach states are prepared early.
const EARLY_AFTER_OUT_OF_REACH: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct StateNearBases {
    latest: Arc<Mutex<Option<Arc<Prepared>>>>,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
    out_of_reach_at: Mutex<Option<Instant>>,
}

/// Where a nearer state came from.
pub(super) enum Nearer {
    /// Another decision prepared it meanwhile.
    Found(Arc<Prepared>),
    /// Prepared for this decision's base.
    Prepared(Arc<Prepared>),
}

impl Nearer {
    pub fn state(&self) -> &Arc<Prepared> {
        match self {
            Nearer::Found(p) | Nearer::Prepared(p) => p,
        }
    }
}

impl StateNearBases {
    /// The warm states to compose against, for `store`: the model's (`model`) and the one
    /// prepared here, the newer first (on a tie, the one prepared here: its root holds the
    /// ledger's writes as well). The one prepared here is dropped when it is for another store.
    pub fn states(&self, model: Option<Arc<Prepared>>, store: &StoreConfig) -> Vec<Arc<Prepared>> {
        let mut latest = self.latest.lock().unwrap();
        if latest.as_ref().is_some_and(|near| near.store != *store) {
            *latest = None;
        }
        let model = model.filter(|m| m.store == *store);
        match (latest.clone(), model) {
            (Some(near), Some(m)) if m.generation > near.generation => vec![m, near],
            (Some(near), Some(m)) => vec![near, m],
            (near, m) => near.into_iter().chain(m).collect(),
        }
    }

    /// A state nearer to `base` than those in `tried` (each too far from it): the one prepared
    /// here, when another decision prepared it meanwhile, or else one prepared for `base` itself,
    /// whose model root has generation `generation`. `None` when the preparation failed.
    pub async fn nearer(&self, tried: &[Arc<Prepared>], base: &Arc<Group>, generation: u64, store: &StoreConfig) -> Option<Nearer> {
        self.note_out_of_reach();
        let _one = self.one_at_a_time.lock().await;
        let latest = self.latest.lock().unwrap().clone();
        if let Some(other) = latest.filter(|p| p.store == *store && !tried.iter().any(|t| Arc::ptr_eq(t, p))) {
            return Some(Nearer::Found(other));
        }
        let (root, store) = (base.clone(), store.clone());
        let prepared = match work_in_place(move || Prepared::prepare(root, generation, store)).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::error!(error = %e, "admission: preparing a warm state for a decision's base failed");
                return None;
            }
        };
        *self.latest.lock().unwrap() = Some(prepared.clone());
        Some(Nearer::Prepared(prepared))
    }

    /// A decision found its base out of reach of every state it tried.
    pub fn note_out_of_reach(&self) {
        *self.out_of_reach_at.lock().unwrap() = Some(Instant::now());
    }

    /// Starts preparing a state for `root` (a decision's target, whose model root has generation
    /// `generation`) in the background, on the upkeep thread; `prepared` runs once it is kept.
    /// Nothing starts unless a base was out of reach lately, while a preparation is under way,
    /// or when the one prepared here is not among the states `tried` (a newer one came since the
    /// decision took its states: the drift it saw is already dealt with). Returns whether it
    /// started.
    pub fn prepare_early(&self, tried: &[Arc<Prepared>], root: &Arc<Group>, generation: u64, store: &StoreConfig, prepared: impl FnOnce() + Send + 'static) -> bool {
        let lately = self.out_of_reach_at.lock().unwrap().is_some_and(|at| at.elapsed() < EARLY_AFTER_OUT_OF_REACH);
        if !lately {
            return false;
        }
        let Ok(one) = self.one_at_a_time.clone().try_lock_owned() else { return false };
        let latest = self.latest.lock().unwrap().clone();
        if latest.is_some_and(|p| !tried.iter().any(|t| Arc::ptr_eq(t, &p))) {
            return false;
        }
        let (kept, root, store) = (self.latest.clone(), root.clone(), store.clone());
        tokio::spawn(async move {
            let state = upkeep_lane::run(move || Prepared::prepare(root, generation, store)).await;
            let state = state.map(|state| *kept.lock().unwrap() = Some(Arc::new(state)));
            drop(one);
            match state {
                Ok(()) => prepared(),
                Err(e) => tracing::error!(error = %e, "admission: preparing a warm state ahead of the drift failed"),
            }
        });
        true
    }
}

#[cfg(test)]
mod tests;
