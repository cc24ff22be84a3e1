//! Where a decision's time went: each phase of a decision timed as it ends, kept in the audit
//! line (`phases_ms`), so that a slow decision in production says which part was slow (waiting
//! for the decision order, reading the ledger, applying its writes, sizing, checks, reserving)
//! without a profiler on the host.

use std::time::Instant;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The phases of one decision, in the order they ran.
#[derive(Debug, Clone)]
pub struct PhaseClock {
    since: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl PhaseClock {
    pub fn start() -> PhaseClock {
        PhaseClock { since: Instant::now(), laps: Vec::with_capacity(8) }
    }

    /// Ends the phase `name`: the time since the previous lap (or the start).
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, (now - self.since).as_secs_f64() * 1000.0));
        self.since = now;
    }

    /// Where the phases from now on begin, for [`PhaseClock::fold_since`].
    pub fn mark(&self) -> usize {
        self.laps.len()
    }

    /// Ends the phase `name` as the laps since `mark` and the time since the last one, in one:
    /// a pass that was done again is one phase of the decision, not its phases twice.
    pub fn fold_since(&mut self, mark: usize, name: &'static str) {
        let folded: f64 = self.laps.drain(mark.min(self.laps.len())..).map(|(_, ms)| ms).sum();
        self.lap(name);
        if let Some(last) = self.laps.last_mut() {
            last.1 += folded;
        }
    }

    pub fn laps(&self) -> &[(&'static str, f64)] {
        &self.laps
    }
}

/// An object whose keys keep the order the phases ran in (milliseconds, to the microsecond).
impl Serialize for PhaseClock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.laps.len()))?;
        for (name, ms) in &self.laps {
            map.serialize_entry(name, &((ms * 1000.0).round() / 1000.0))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_are_kept_in_order_and_serialised_in_that_order() {
        let mut clock = PhaseClock::start();
        std::thread::sleep(std::time::Duration::from_millis(3));
        clock.lap("sizes");
        clock.lap("apply");
        let laps = clock.laps();
        assert_eq!(laps.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["sizes", "apply"]);
        assert!(laps[0].1 >= 3.0, "the first lap counts from the start: {laps:?}");
        assert!(laps[1].1 < laps[0].1);
        let json = serde_json::to_string(&clock).unwrap();
        assert!(json.starts_with("{\"sizes\":") && json.contains(",\"apply\":"), "{json}");
    }

    #[test]
    fn a_pass_done_again_folds_into_one_phase() {
        let mut clock = PhaseClock::start();
        clock.lap("understand");
        let mark = clock.mark();
        std::thread::sleep(std::time::Duration::from_millis(2));
        clock.lap("ahead");
        std::thread::sleep(std::time::Duration::from_millis(2));
        clock.lap("order");
        std::thread::sleep(std::time::Duration::from_millis(2));
        clock.fold_since(mark, "moved");
        clock.lap("ahead");
        let names: Vec<_> = clock.laps().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["understand", "moved", "ahead"]);
        assert!(clock.laps()[1].1 >= 6.0, "the folded phase holds all of the pass: {:?}", clock.laps());
    }
}
