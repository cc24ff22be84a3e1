//! The in-flight ledger: writes admitted and forwarded that the model does not show yet.
//!
//! Why a trait: decisions must count what was admitted but not yet seen, or two writes decided
//! at the same moment could together pass the wall. In one process the ledger lives in memory
//! ([`LocalLedger`]); several replicas in front of one Marathon need one ledger they all see,
//! stored elsewhere (ZooKeeper), behind the same four operations. A [`Reservation`] therefore
//! carries the write as received (method, path, query, body), so that another process can apply
//! it to its own model, and the wall-clock time it was admitted.
//!
//! Life of an entry: [`Ledger::begin`] takes the ledger's decision lock and reads what is
//! pending; [`LedgerDecision::reserve`] records an admitted write before the lock is released and
//! the write forwarded; [`Ledger::mark_answered`] when Marathon answers 2xx or the outcome is
//! unknown (it may have applied it, or may yet); [`Ledger::release`] when Marathon refuses it.
//! Reading drops entries Marathon took before the model's last sync started (the model shows
//! them) and entries answered longer than the ledger timeout ago; an entry whose outcome is
//! unknown leaves only with time, as no sync proves that Marathon will not apply it later.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use marathon_model::ops::{Flavour, Write};
use serde::{Deserialize, Serialize};

/// A write admitted and not yet seen in the model, as another process could re-apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub method: String,
    /// The path as sent.
    pub path: String,
    pub query: Option<String>,
    pub body: Vec<u8>,
    /// Milliseconds since the Unix epoch when it was admitted.
    pub admitted_at_ms: u64,
}

impl Reservation {
    pub fn new(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Reservation {
        Reservation { method: method.into(), path: path.into(), query: query.map(Into::into), body: body.to_vec(), admitted_at_ms: now_ms() }
    }
}

/// How Marathon answered a write the ledger holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// It took it (2xx): a model synced after the answer shows it.
    Applied,
    /// Nobody knows: a 5xx (Marathon's REST layer answers 503 "Futures timed out" when it stops
    /// waiting for a write, which goes on), no answer, or the client gone mid-flight. Marathon may
    /// apply it later, so a sync after the answer proves nothing: it stays charged until the
    /// ledger timeout passes.
    Unknown,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    ms_of(SystemTime::now())
}

/// Milliseconds since the Unix epoch of `t`.
pub fn ms_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How long a write still in flight stays charged, at least: far beyond any answer Marathon
/// gives (the proxy's own response timeout ends a request long before), so that only a request
/// the proxy lost track of (a replica that died mid-flight) ever reaches it.
const IN_FLIGHT_AT_LEAST: Duration = Duration::from_secs(600);

/// Whether an entry has outlived the ledger's timeout. The timeout counts from Marathon's answer:
/// a write still in flight may yet be applied, so until then it stays charged for ten times the
/// timeout, and at least [`IN_FLIGHT_AT_LEAST`].
pub fn expired(now_ms: u64, admitted_at_ms: u64, answered_at_ms: Option<u64>, timeout: Duration) -> bool {
    match answered_at_ms {
        Some(answered) => now_ms.saturating_sub(answered) > timeout.as_millis() as u64,
        None => now_ms.saturating_sub(admitted_at_ms) > (timeout * 10).max(IN_FLIGHT_AT_LEAST).as_millis() as u64,
    }
}

/// What a decision reads: the writes still pending, in admission order, and what to prune.
#[derive(Debug, Clone, Copy)]
pub struct PendingQuery {
    /// When the model's last sync started (wall clock, ms): entries answered before are shown
    /// by the model.
    pub model_synced_at_ms: Option<u64>,
    /// Entries older than this leave.
    pub timeout: Duration,
    /// How to read writes other processes reserved.
    pub flavour: Flavour,
}

/// The ledger could not be read or written (a shared ledger's store is unreachable or slow).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LedgerUnavailable(pub String);

/// Why a reservation was not recorded.
#[derive(Debug, Clone)]
pub enum ReserveError {
    /// Another process admitted a write since this decision read the ledger: decide again.
    Conflict,
    /// The ledger could not be written.
    Unavailable(LedgerUnavailable),
}

/// One decision: what was pending when it began, and the way to record its write.
#[async_trait]
pub trait LedgerDecision: Send {
    /// The writes still pending (ticket, write), in admission order.
    fn pending(&self) -> &[(u64, Write)];
    /// Records an admitted write (`write` is `reservation` parsed); returns its ticket.
    async fn reserve(&mut self, reservation: Reservation, write: Write) -> Result<u64, ReserveError>;
    /// Why this decision runs on less than the shared ledger, if it does (said to the client).
    fn degraded(&self) -> Option<&str> {
        None
    }
}

/// The ledger's operations; see the module documentation for an entry's life.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Reads what is pending for one decision (the caller takes this process's decisions one at
    /// a time).
    async fn begin(&self, query: PendingQuery) -> Result<Box<dyn LedgerDecision + '_>, LedgerUnavailable>;
    /// Marathon answered: keep the write until the model shows it ([`Answered::Applied`]) or
    /// until the timeout passes.
    fn mark_answered(&self, ticket: u64, answered: Answered);
    /// Marathon did not take it.
    fn release(&self, ticket: u64);
    /// What a decision beginning now would read, when this process knows it without asking a
    /// store (its own ledger); `None` otherwise. Lets work for the next decision start early.
    fn pending_known(&self, _query: PendingQuery) -> Option<Vec<(u64, Write)>> {
        None
    }
    /// How many entries it held at the last look.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// For `/readyz`: whether decisions can use it.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
    /// Its own metrics, if any.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

#[derive(Debug, Clone)]
struct Entry {
    write: Write,
    admitted_at_ms: u64,
    answered_at_ms: Option<u64>,
    answered: Option<Answered>,
}

impl Entry {
    /// Neither timed out nor shown by the model `q` reads against.
    fn pending(&self, now_ms: u64, q: PendingQuery) -> bool {
        if expired(now_ms, self.admitted_at_ms, self.answered_at_ms, q.timeout) {
            return false;
        }
        match (self.answered_at_ms, self.answered, q.model_synced_at_ms) {
            (Some(answered), Some(Answered::Applied), Some(sync)) => answered >= sync,
            _ => true,
        }
    }
}

/// The ledger of one process. Its decision lock is the caller's (decisions in one process are
/// already taken one at a time).
#[derive(Default)]
pub struct LocalLedger {
    entries: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

impl LocalLedger {
    /// Prunes and lists, as [`Ledger::begin`] does.
    pub fn pending(&self, q: PendingQuery) -> Vec<(u64, Write)> {
        let now = now_ms();
        let mut guard = self.entries.lock().unwrap();
        guard.1.retain(|_, e| e.pending(now, q));
        guard.1.iter().map(|(id, e)| (*id, e.write.clone())).collect()
    }

    /// Lists what [`Self::pending`] would, pruning nothing: `q` may be of a model root not
    /// installed yet, and a decision on the installed one still needs what that root shows.
    fn listed(&self, q: PendingQuery) -> Vec<(u64, Write)> {
        let now = now_ms();
        let guard = self.entries.lock().unwrap();
        guard.1.iter().filter(|(_, e)| e.pending(now, q)).map(|(id, e)| (*id, e.write.clone())).collect()
    }

    /// Records an admitted write; its ticket.
    pub fn reserve_now(&self, reservation: &Reservation, write: Write) -> u64 {
        let mut guard = self.entries.lock().unwrap();
        guard.0 += 1;
        let ticket = guard.0;
        guard.1.insert(ticket, Entry { write, admitted_at_ms: reservation.admitted_at_ms, answered_at_ms: None, answered: None });
        ticket
    }
}

struct LocalDecision<'a> {
    ledger: &'a LocalLedger,
    pending: Vec<(u64, Write)>,
    degraded: Option<String>,
}

#[async_trait]
impl LedgerDecision for LocalDecision<'_> {
    fn pending(&self) -> &[(u64, Write)] {
        &self.pending
    }

    async fn reserve(&mut self, reservation: Reservation, write: Write) -> Result<u64, ReserveError> {
        Ok(self.ledger.reserve_now(&reservation, write))
    }

    fn degraded(&self) -> Option<&str> {
        self.degraded.as_deref()
    }
}

impl LocalLedger {
    /// A decision on this ledger; `degraded`: why a shared ledger fell back to it.
    pub fn decision(&self, q: PendingQuery, degraded: Option<String>) -> Box<dyn LedgerDecision + '_> {
        Box::new(LocalDecision { ledger: self, pending: self.pending(q), degraded })
    }
}

#[async_trait]
impl Ledger for LocalLedger {
    async fn begin(&self, q: PendingQuery) -> Result<Box<dyn LedgerDecision + '_>, LedgerUnavailable> {
        Ok(self.decision(q, None))
    }

    fn mark_answered(&self, ticket: u64, answered: Answered) {
        if let Some(e) = self.entries.lock().unwrap().1.get_mut(&ticket) {
            if e.answered.is_none() {
                (e.answered_at_ms, e.answered) = (Some(now_ms()), Some(answered));
            }
        }
    }

    fn release(&self, ticket: u64) {
        self.entries.lock().unwrap().1.remove(&ticket);
    }

    fn pending_known(&self, query: PendingQuery) -> Option<Vec<(u64, Write)>> {
        Some(self.listed(query))
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap().1.len()
    }
}

#[cfg(test)]
mod tests {
    use marathon_model::ops::{parse_write, Flavour};

    use super::*;

    fn reserve(ledger: &LocalLedger, path: &str, admitted_at_ms: u64) -> u64 {
        let write = parse_write("DELETE", path, None, b"", Flavour::V13).unwrap().unwrap();
        let mut r = Reservation::new("DELETE", path, None, b"");
        r.admitted_at_ms = admitted_at_ms;
        ledger.reserve_now(&r, write)
    }

    fn query(model_synced_at_ms: Option<u64>, timeout: Duration) -> PendingQuery {
        PendingQuery { model_synced_at_ms, timeout, flavour: Flavour::V13 }
    }

    #[test]
    fn entries_leave_when_refused_when_the_model_shows_them_or_when_they_time_out() {
        let ledger = LocalLedger::default();
        let now = now_ms();
        let (a, b, c) = (reserve(&ledger, "/v2/apps/a", now), reserve(&ledger, "/v2/apps/b", now), reserve(&ledger, "/v2/apps/c", now));
        ledger.mark_answered(a, Answered::Applied);
        let sync_started = now_ms() + 1;
        ledger.mark_answered(b, Answered::Applied);
        ledger.entries.lock().unwrap().1.get_mut(&b).unwrap().answered_at_ms = Some(sync_started + 1);
        ledger.release(c);
        let ids: Vec<u64> = ledger.pending(query(Some(sync_started), Duration::from_secs(30))).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![b], "a was answered before the sync started; c was refused");
        assert_eq!(ledger.len(), 1);
        let old = reserve(&ledger, "/v2/apps/d", now - 31_000);
        ledger.entries.lock().unwrap().1.get_mut(&old).unwrap().answered_at_ms = Some(now - 31_000);
        let ids: Vec<u64> = ledger.pending(query(None, Duration::from_secs(30))).into_iter().map(|(id, _)| id).collect();
        assert!(!ids.contains(&old), "timed out");
    }

    #[test]
    fn a_look_ahead_for_a_root_not_installed_yet_prunes_nothing() {
        let ledger = LocalLedger::default();
        let now = now_ms();
        let a = reserve(&ledger, "/v2/apps/a", now);
        ledger.mark_answered(a, Answered::Applied);
        let next_sync = query(Some(now_ms() + 1), Duration::from_secs(30));
        assert!(ledger.pending_known(next_sync).unwrap().is_empty(), "the next root shows it");
        let installed = query(Some(now - 1), Duration::from_secs(30));
        assert_eq!(ledger.pending(installed).len(), 1, "the installed root does not: still charged");
    }

    #[test]
    fn the_timeout_counts_from_the_answer_and_a_write_in_flight_stays_charged() {
        let ledger = LocalLedger::default();
        let now = now_ms();
        let timeout = Duration::from_secs(30);
        // Admitted long ago, Marathon still working on it: charged.
        let slow = reserve(&ledger, "/v2/apps/slow", now - 120_000);
        // Answered just now after a long wait: charged until the timeout passes after the answer.
        let answered = reserve(&ledger, "/v2/apps/answered", now - 120_000);
        ledger.mark_answered(answered, Answered::Applied);
        let ids: Vec<u64> = ledger.pending(query(None, timeout)).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![slow, answered]);
        // A request the proxy lost track of leaves in the end.
        assert!(expired(now, now - 601_000, None, timeout));
        assert!(!expired(now, now - 299_000, None, timeout));
        assert!(expired(now, now - 601_000, Some(now - 31_000), timeout));
        assert!(!expired(now, now - 601_000, Some(now - 29_000), timeout));
    }

    #[test]
    fn a_write_whose_outcome_is_unknown_stays_through_later_syncs_and_leaves_with_time() {
        let ledger = LocalLedger::default();
        let now = now_ms();
        let timeout = Duration::from_secs(30);
        let (taken, unknown) = (reserve(&ledger, "/v2/apps/taken", now), reserve(&ledger, "/v2/apps/unknown", now));
        ledger.mark_answered(taken, Answered::Applied);
        ledger.mark_answered(unknown, Answered::Unknown);
        // A second answer (the client gone after Marathon answered) changes nothing.
        ledger.mark_answered(unknown, Answered::Applied);
        let later_sync = query(Some(now_ms() + 1), timeout);
        let ids: Vec<u64> = ledger.pending(later_sync).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![unknown], "a sync after the answers shows the taken write, and proves nothing of the other");
        ledger.entries.lock().unwrap().1.get_mut(&unknown).unwrap().answered_at_ms = Some(now - 31_000);
        assert!(ledger.pending(later_sync).is_empty(), "the timeout passed");
    }

    #[test]
    fn a_reservation_carries_the_write_as_received() {
        let r = Reservation::new("PUT", "/v2/apps/a", Some("force=true"), br#"{"instances":2}"#);
        let back: Reservation = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(back.admitted_at_ms > 1_700_000_000_000);
    }
}
