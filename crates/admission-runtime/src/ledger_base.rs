//! The base of a decision: the model root with the in-flight ledger's writes applied on it.
//!
//! Why it is kept: applying one write copies and walks the whole tree (about half a millisecond
//! at 10,000 apps), and during a burst of deployments the ledger holds 15-25 writes (one in
//! flight per client, and the answered ones the model does not show yet) while the model root
//! changes with nearly every sync. Applying them all again for every decision was most of a burst
//! decision's time. So a base is kept per recent root, built from a prefix of the ledger's list
//! (it lists in admission order): a decision applies only what came after that prefix. Each
//! new root (a sync's, or an event's: one app replaced) gets its base before it is installed
//! (`Admission::build_bases_before_install`), so a decision during a burst applies its own write
//! and little else. Several roots' bases are kept, not one: the base of a root about to be
//! installed is built while decisions still run on the installed one, and a root patched by an
//! event is dropped when a sync replaced its parent meanwhile; neither may cost the installed
//! root its base.
//!
//! A pending write is applied with the same version stamp on every root (the one it was
//! admitted with, or the first one it was applied with here): then its app has the same bytes in
//! every base, and the warm estimate, which caches what it measured by the bytes, measures it
//! once. With a new stamp per base, every decision of a burst measured every pending app again
//! (a deflate primed with 32 KiB each: 11 per decision at 2,000 apps, 8 of them the pending
//! writes'). The stamps are only a cache: a write without one gets the caller's.
//!
//! Pure logic over trees; the caller says how one write is applied.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use marathon_model::ops::Write;
use marathon_model::{Group, Timestamp};

/// The model root a base is built on: the snapshot's root and its sync generation.
#[derive(Clone)]
pub struct ModelRoot {
    pub root: Arc<Group>,
    pub generation: u64,
}

struct Kept {
    on: ModelRoot,
    /// The tickets applied, in order.
    ids: Vec<u64>,
    base: Arc<Group>,
}

/// How many roots' bases are kept: the installed root's, the next one's, and one never installed.
const KEPT: usize = 3;

/// The kept bases, one per recent root (see the module documentation).
#[derive(Default)]
pub struct LedgerBases {
    kept: Mutex<Vec<Kept>>,
    /// Each pending write's version stamp, by ticket.
    stamps: Mutex<HashMap<u64, Timestamp>>,
}

impl LedgerBases {
    /// `on.root` with `pending` applied in order (a write that cannot be applied is skipped), and
    /// how many writes that took: from the kept base when it was built on the same root from a
    /// prefix of `pending`, from the root otherwise. The result is kept for the next caller.
    /// `apply` gets each write's stamp; `now` is the stamp of a write that has none yet.
    pub fn base_for(
        &self,
        on: &ModelRoot,
        pending: &[(u64, Write)],
        now: &Timestamp,
        apply: impl Fn(&Group, &Write, Timestamp) -> Option<Group>,
    ) -> (Arc<Group>, usize) {
        if pending.is_empty() {
            return (on.root.clone(), 0);
        }
        let (mut base, done) = self.kept_prefix(on, pending).unwrap_or_else(|| (on.root.clone(), 0));
        let stamps = self.stamps_of(pending, now);
        for ((_, w), stamp) in pending[done..].iter().zip(&stamps[done..]) {
            if let Some(next) = apply(&base, w, stamp.clone()) {
                base = Arc::new(next);
            }
        }
        let ids = pending.iter().map(|(id, _)| *id).collect();
        self.keep(on, ids, base.clone());
        (base, pending.len() - done)
    }

    /// How many of `pending` [`Self::base_for`] would apply now.
    pub fn to_apply(&self, on: &ModelRoot, pending: &[(u64, Write)]) -> usize {
        pending.len() - self.kept_prefix(on, pending).map_or(0, |(_, done)| done)
    }

    /// Keeps `base` (`on.root` with the writes `ids` applied) as `on.root`'s, unless the base
    /// kept for that root extends it (built from more of the same list), or `on.root` is older
    /// than the roots whose bases fill the set.
    pub fn keep(&self, on: &ModelRoot, ids: Vec<u64>, base: Arc<Group>) {
        let mut kept = self.kept.lock().unwrap();
        if let Some(k) = kept.iter_mut().find(|k| Arc::ptr_eq(&k.on.root, &on.root)) {
            let extends = k.ids.len() > ids.len() && k.ids.starts_with(&ids);
            if !extends {
                *k = Kept { on: on.clone(), ids, base };
            }
            return;
        }
        kept.push(Kept { on: on.clone(), ids, base });
        if kept.len() > KEPT {
            let oldest = (0..kept.len()).min_by_key(|&i| kept[i].on.generation).expect("not empty");
            kept.swap_remove(oldest);
        }
    }

    /// The base kept for `root`, if any: where the decisions on `root` start.
    pub fn kept_on(&self, root: &Arc<Group>) -> Option<Arc<Group>> {
        let kept = self.kept.lock().unwrap();
        kept.iter().find(|k| Arc::ptr_eq(&k.on.root, root)).map(|k| k.base.clone())
    }

    /// Records the stamp the write `id` was admitted with.
    pub fn stamp(&self, id: u64, stamp: Timestamp) {
        self.stamps.lock().unwrap().insert(id, stamp);
    }

    /// The stamps of `pending`, in order (`now`, recorded, for a write without one). Forgets the
    /// writes that left the ledger: those not in `pending` that were listed before its newest.
    fn stamps_of(&self, pending: &[(u64, Write)], now: &Timestamp) -> Vec<Timestamp> {
        let mut stamps = self.stamps.lock().unwrap();
        let listed: HashSet<u64> = pending.iter().map(|(id, _)| *id).collect();
        let newest = listed.iter().max().copied();
        stamps.retain(|id, _| listed.contains(id) || Some(*id) > newest);
        pending.iter().map(|(id, _)| stamps.entry(*id).or_insert_with(|| now.clone()).clone()).collect()
    }

    /// The kept base and how many of `pending` it holds, when it was built on `on.root` from a
    /// prefix of `pending`.
    fn kept_prefix(&self, on: &ModelRoot, pending: &[(u64, Write)]) -> Option<(Arc<Group>, usize)> {
        let kept = self.kept.lock().unwrap();
        let k = kept.iter().find(|k| Arc::ptr_eq(&k.on.root, &on.root))?;
        let is_prefix = k.ids.len() <= pending.len() && k.ids.iter().zip(pending).all(|(a, (b, _))| a == b);
        is_prefix.then(|| (k.base.clone(), k.ids.len()))
    }
}

#[cfg(test)]
mod tests;
