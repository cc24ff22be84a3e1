//! This replica's view of the shared ledger, and when a decision may take it for the ledger's
//! present state instead of reading ZooKeeper.
//!
//! Why: reading the ledger is a round trip to ZooKeeper before every decision, on top of the
//! compare-and-set that records an admitted write; on a busy machine the read alone cost a few
//! milliseconds at the median and over ten at p99. Kubernetes' quota admission decides from its
//! informer's cache the same way and reads the quota afresh only when its update conflicts.
//!
//! Why it is safe: every reservation is created in the same transaction that moves
//! `{path}/version` on, so a view at version `v` holds every reservation up to `v`; what
//! happens to the ledger without moving the version only takes from the count (an answer
//! marked, an entry pruned), so an older view is stricter, never looser. (A refused write's
//! deletion moves the version too, so that the others stop counting it at once.)
//! - A **write** is recorded only if the version is still the one its view is at (the
//!   compare-and-set), so a stale view costs a conflict and a fresh read, never a wrong count.
//! - A **dry run** records nothing: it takes the view only while a watch on the version node,
//!   set at or before the view's version, has not fired, i.e. while no other replica admitted
//!   anything since, as far as this session has been told.

use std::time::{Duration, Instant};

/// A view read longer ago than this is read again in the background (the keepalive's round,
/// every 500 ms): that read is what sees others' answers and prunes the ledger of entries that
/// timed out.
pub const REFRESH_AFTER: Duration = Duration::from_secs(1);

/// The newest listing this replica read, its own reservations since, and what is known of the
/// ledger's version.
#[derive(Debug, Default)]
pub struct WatchedView<L> {
    pub listing: L,
    /// The version of `{path}/version` the listing is at: the version read, plus one for each of
    /// this replica's own reservations recorded since.
    version: Option<i32>,
    read_at: Option<Instant>,
    /// The version the watch on `{path}/version` saw when it was set, while it has not fired.
    watched: Option<i32>,
    /// A compare-and-set from the view at this version failed: it is stale.
    conflicted_at: Option<i32>,
}

impl<L> WatchedView<L> {
    /// The version a decision may take the view at without reading ZooKeeper, if any.
    pub fn current(&self) -> Option<i32> {
        let (v, w) = (self.version?, self.watched?);
        // Above the watched version only by this replica's own reservations (any other change
        // fires the watch); below it, others admitted writes the view does not hold.
        (v >= w && self.conflicted_at != Some(v)).then_some(v)
    }

    /// Whether the view should be read again.
    pub fn due_for_refresh(&self, now: Instant) -> bool {
        self.read_at.is_none_or(|at| now.duration_since(at) >= REFRESH_AFTER)
    }

    /// A fresh read at `version`: it replaces the view unless the view is already further on
    /// (this replica's own reservation landed after the read began). Returns whether it did.
    pub fn read(&mut self, version: i32, listing: L, now: Instant) -> bool {
        if self.version.is_some_and(|v| v > version) {
            return false;
        }
        // A read cannot see the version a compare-and-set of this session failed on; kept anyway.
        let conflicted_at = self.conflicted_at.filter(|c| *c == version);
        *self = WatchedView { listing, version: Some(version), read_at: Some(now), watched: self.watched, conflicted_at };
        true
    }

    /// This replica recorded a reservation by a compare-and-set from `from`: the view moves on
    /// by one if it was at `from`. Returns whether the listing should take the reservation in
    /// (the view is at the version the reservation made).
    pub fn reserved(&mut self, from: i32) -> bool {
        match self.version {
            Some(v) if v == from => {
                self.version = Some(from + 1);
                true
            }
            Some(v) => v == from + 1,
            None => false,
        }
    }

    /// A compare-and-set from `from` failed: another replica admitted a write since.
    pub fn conflicted(&mut self, from: i32) {
        self.conflicted_at = Some(from);
    }

    #[cfg(test)]
    pub fn version(&self) -> Option<i32> {
        self.version
    }

    #[cfg(test)]
    pub fn watched_at(&self) -> Option<i32> {
        self.watched
    }

    /// The watch was set at `version`, or (None) it fired or could not be set.
    pub fn watched(&mut self, version: Option<i32>) {
        self.watched = version;
    }
}

#[cfg(test)]
mod tests;
