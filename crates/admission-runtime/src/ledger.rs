//! The in-flight ledger: writes admitted and forwarded that the model does not show yet.
//!
//! Why a trait: decisions must count what was admitted but not yet seen, or two writes decided
//! at the same moment could together pass the wall. In one process the ledger lives in memory
//! ([`LocalLedger`]); several replicas in front of one Marathon need one ledger they all see,
//! stored elsewhere (ZooKeeper), behind the same four operations. A [`Reservation`] therefore
//! carries the write as received (method, path, query, body), so that another process can apply
//! it to its own model, and the wall-clock time it was admitted.
//!
//! Life of an entry: [`Ledger::reserve`] under the decision lock, before the write is forwarded;
//! [`Ledger::mark_answered`] when Marathon answers 2xx or the outcome is unknown (it may have
//! applied it); [`Ledger::release`] when Marathon refuses it; [`Ledger::pending`] drops entries
//! answered before the model's last sync started (the model shows them) and entries older than
//! the ledger timeout.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use marathon_model::ops::Write;
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
        let admitted_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Reservation { method: method.into(), path: path.into(), query: query.map(Into::into), body: body.to_vec(), admitted_at_ms }
    }
}

/// The ledger's operations; see the module documentation for an entry's life.
pub trait Ledger: Send + Sync {
    /// Records an admitted write (`write` is `reservation` parsed); returns its ticket.
    fn reserve(&self, reservation: Reservation, write: Write) -> u64;
    /// Marathon answered 2xx, or nobody knows whether it applied the write: keep it until the
    /// model shows it.
    fn mark_answered(&self, ticket: u64);
    /// Marathon did not take it.
    fn release(&self, ticket: u64);
    /// The writes still pending, in admission order, after dropping those answered before
    /// `synced_from` (the start of the model's last sync, if any) and those older than `timeout`.
    fn pending(&self, synced_from: Option<Instant>, timeout: Duration) -> Vec<(u64, Write)>;
    /// How many entries it holds.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone)]
struct Entry {
    #[allow(dead_code)] // kept for a ledger shared with other processes
    reservation: Reservation,
    write: Write,
    admitted_at: Instant,
    answered_at: Option<Instant>,
}

/// The ledger of one process.
#[derive(Default)]
pub struct LocalLedger {
    entries: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

impl Ledger for LocalLedger {
    fn reserve(&self, reservation: Reservation, write: Write) -> u64 {
        let mut guard = self.entries.lock().unwrap();
        guard.0 += 1;
        let ticket = guard.0;
        guard.1.insert(ticket, Entry { reservation, write, admitted_at: Instant::now(), answered_at: None });
        ticket
    }

    fn mark_answered(&self, ticket: u64) {
        if let Some(e) = self.entries.lock().unwrap().1.get_mut(&ticket) {
            e.answered_at.get_or_insert_with(Instant::now);
        }
    }

    fn release(&self, ticket: u64) {
        self.entries.lock().unwrap().1.remove(&ticket);
    }

    fn pending(&self, synced_from: Option<Instant>, timeout: Duration) -> Vec<(u64, Write)> {
        let mut guard = self.entries.lock().unwrap();
        guard.1.retain(|_, e| {
            if e.admitted_at.elapsed() > timeout {
                return false;
            }
            match (e.answered_at, synced_from) {
                (Some(answered), Some(sync)) => answered >= sync,
                _ => true,
            }
        });
        guard.1.iter().map(|(id, e)| (*id, e.write.clone())).collect()
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap().1.len()
    }
}

#[cfg(test)]
mod tests {
    use marathon_model::ops::{parse_write, Flavour};

    use super::*;

    fn reserve(ledger: &LocalLedger, path: &str) -> u64 {
        let write = parse_write("DELETE", path, None, b"", Flavour::V13).unwrap().unwrap();
        ledger.reserve(Reservation::new("DELETE", path, None, b""), write)
    }

    #[test]
    fn entries_leave_when_refused_when_the_model_shows_them_or_when_they_time_out() {
        let ledger = LocalLedger::default();
        let (a, b, c) = (reserve(&ledger, "/v2/apps/a"), reserve(&ledger, "/v2/apps/b"), reserve(&ledger, "/v2/apps/c"));
        ledger.mark_answered(a);
        let sync_started = Instant::now();
        ledger.mark_answered(b);
        ledger.release(c);
        let ids: Vec<u64> = ledger.pending(Some(sync_started), Duration::from_secs(30)).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![b], "a was answered before the sync started; c was refused");
        assert_eq!(ledger.len(), 1);
        std::thread::sleep(Duration::from_millis(2));
        assert!(ledger.pending(None, Duration::ZERO).is_empty(), "timed out");
    }

    #[test]
    fn a_reservation_carries_the_write_as_received() {
        let r = Reservation::new("PUT", "/v2/apps/a", Some("force=true"), br#"{"instances":2}"#);
        let back: Reservation = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(back.admitted_at_ms > 1_700_000_000_000);
    }
}
