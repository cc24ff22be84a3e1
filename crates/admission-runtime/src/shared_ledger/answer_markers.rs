//! The answer markers (`a-<seq>-<answered ms>`) this replica has still to write, and which of
//! them may ride in the transaction of its next reservation.
//!
//! Why: every write ZooKeeper commits costs a transaction-log sync, and the requests of one
//! session are answered in order. A marker written on its own right after Marathon answers is
//! what the next decision's compare-and-set waited behind during a burst. A marker only lets the
//! others stop counting sooner (a write whose answer is not marked yet stays counted: stricter,
//! never looser), so it can wait: it rides with the next reservation, or, when none comes within
//! [`FLUSH_AFTER`], all that wait are written in one transaction.
//!
//! A marker whose transaction ended without a clear answer (a timeout) may exist already: it is
//! never put in a reservation again, where its existence would fail the reservation, but only
//! in the flush, which takes an existing marker for written.

use std::time::Duration;

/// How long a marker waits for a reservation to ride with.
pub const FLUSH_AFTER: Duration = Duration::from_millis(250);

/// At most this many markers ride with one reservation.
pub const RIDE_AT_MOST: usize = 64;

/// Markers still to be written.
#[derive(Debug, Default)]
pub struct AnswerMarkers {
    /// Sure not to exist yet: may ride with a reservation.
    ride: Vec<String>,
    /// Perhaps written already: for the flush only.
    alone: Vec<String>,
    /// A flush is scheduled (it finds nothing when reservations took everything).
    flush_scheduled: bool,
}

impl AnswerMarkers {
    /// Queues a marker not written before. Returns whether the caller must schedule a flush.
    pub fn push(&mut self, name: String) -> bool {
        self.ride.push(name);
        self.needs_flush()
    }

    /// The markers to ride with a reservation, oldest first.
    pub fn take_to_ride(&mut self) -> Vec<String> {
        let n = self.ride.len().min(RIDE_AT_MOST);
        self.ride.drain(..n).collect()
    }

    /// Markers from a reservation whose transaction surely failed (it is all or nothing): they
    /// ride again. Returns whether the caller must schedule a flush.
    pub fn failed(&mut self, names: Vec<String>) -> bool {
        self.ride.splice(0..0, names);
        self.needs_flush()
    }

    /// Markers from a transaction whose outcome is unknown: only the flush writes them again.
    /// Returns whether the caller must schedule a flush.
    pub fn uncertain(&mut self, names: Vec<String>) -> bool {
        self.alone.extend(names);
        self.needs_flush()
    }

    /// Everything still to write, for the scheduled flush; the next marker schedules another.
    pub fn take_for_flush(&mut self) -> Vec<String> {
        self.flush_scheduled = false;
        let mut all = std::mem::take(&mut self.alone);
        all.append(&mut self.ride);
        all
    }

    fn needs_flush(&mut self) -> bool {
        let waiting = !self.ride.is_empty() || !self.alone.is_empty();
        let schedule = waiting && !self.flush_scheduled;
        self.flush_scheduled |= schedule;
        schedule
    }
}

#[cfg(test)]
mod tests;
