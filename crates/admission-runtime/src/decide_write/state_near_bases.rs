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
//! order), and tries it before preparing its own. The state is dropped once the model has
//! prepared a newer one.

use std::sync::{Arc, Mutex};

use marathon_model::Group;
use znode_size::StoreConfig;

use crate::decision_sizes::Prepared;
use crate::work_in_place::work_in_place;

#[derive(Default)]
pub(super) struct StateNearBases {
    latest: Mutex<Option<Arc<Prepared>>>,
    one_at_a_time: tokio::sync::Mutex<()>,
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
    /// The state to compose against: the newer of the model's (`model`) and the one prepared
    /// here. A tie goes to the one prepared here (its root holds the ledger's writes as well);
    /// it is dropped once the model's is newer, or for another store.
    pub fn newest(&self, model: Option<Arc<Prepared>>) -> Option<Arc<Prepared>> {
        let mut latest = self.latest.lock().unwrap();
        match (latest.as_ref(), model) {
            (Some(near), Some(m)) if m.generation > near.generation || m.store != near.store => {
                *latest = None;
                Some(m)
            }
            (Some(near), _) => Some(near.clone()),
            (None, m) => m,
        }
    }

    /// A state nearer to `base` than `tried` (which proved too far from it): the newest, when
    /// another decision prepared it meanwhile, or else one prepared for `base` itself, whose
    /// model root has generation `generation`. `None` when the preparation failed.
    pub async fn nearer(
        &self,
        tried: &Arc<Prepared>,
        base: &Arc<Group>,
        generation: u64,
        store: &StoreConfig,
        model: Option<Arc<Prepared>>,
    ) -> Option<Nearer> {
        let _one = self.one_at_a_time.lock().await;
        if let Some(newest) = self.newest(model).filter(|p| !Arc::ptr_eq(p, tried) && p.store == *store) {
            return Some(Nearer::Found(newest));
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
}

#[cfg(test)]
mod tests;
