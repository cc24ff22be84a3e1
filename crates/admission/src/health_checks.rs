//! The second wall: Marathon-side health checks.
//!
//! Marathon runs HTTP, HTTPS and TCP health checks itself, one per check per instance, and slows
//! down with many thousands of them, long before any node is too large. Past a threshold a write
//! that does not lower the count is forwarded with a warning that names the way out (Mesos-side
//! checks, which the agents run). It never rejects: this wall is advice, the size wall decides.

use crate::{Decision, Mode, ReasonClass, Verdict};

/// Marathon-side health checks x instances, before and after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckCounts {
    pub base: u64,
    pub target: u64,
}

/// Folds the health-check wall into `decision`: above `threshold` (0: no wall), and not lower
/// than before, the reason is added and an allowed write becomes a warning (class
/// [`ReasonClass::HealthChecks`]). Never stricter than a warning; nothing in mode `off`.
pub fn fold_health_check_wall(
    decision: &mut Decision,
    class: &mut ReasonClass,
    mode: Mode,
    threshold: u64,
    counts: HealthCheckCounts,
) {
    let Some(reason) = wall_reason(mode, threshold, counts) else { return };
    decision.reasons.push(reason);
    if decision.decision == Verdict::Allow {
        decision.decision = Verdict::Warn;
        *class = ReasonClass::HealthChecks;
    }
}

/// The sentence of the wall, when the write meets it.
fn wall_reason(mode: Mode, threshold: u64, counts: HealthCheckCounts) -> Option<String> {
    let HealthCheckCounts { base, target } = counts;
    if mode == Mode::Off || threshold == 0 || target <= threshold || target < base {
        return None;
    }
    Some(format!(
        "Marathon itself would run {target} health checks (HTTP/HTTPS/TCP checks x instances), above \
         {threshold}: Marathon slows down with that many; use MESOS_HTTP / MESOS_TCP health checks, which \
         the Mesos agents run instead"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(verdict: Verdict, mode: Mode, threshold: u64, base: u64, target: u64) -> (Decision, ReasonClass) {
        let mut d = Decision { decision: verdict, reasons: vec!["size".into()], shrinking: false };
        let mut class = ReasonClass::WithinLimit;
        fold_health_check_wall(&mut d, &mut class, mode, threshold, HealthCheckCounts { base, target });
        (d, class)
    }

    #[test]
    fn over_the_threshold_an_allowed_write_warns() {
        let (d, class) = fold(Verdict::Allow, Mode::Enforce, 5, 4, 6);
        assert_eq!(d.decision, Verdict::Warn);
        assert_eq!(class, ReasonClass::HealthChecks);
        assert_eq!(d.reasons.len(), 2);
        assert!(d.reasons[1].contains("would run 6 health checks") && d.reasons[1].contains("above 5"), "{:?}", d.reasons);
    }

    #[test]
    fn at_or_under_the_threshold_nothing_happens() {
        let (d, class) = fold(Verdict::Allow, Mode::Enforce, 5, 0, 5);
        assert_eq!((d.decision, class, d.reasons.len()), (Verdict::Allow, ReasonClass::WithinLimit, 1));
    }

    #[test]
    fn a_write_that_lowers_the_count_is_the_way_out() {
        let (d, _) = fold(Verdict::Allow, Mode::Enforce, 5, 9, 8);
        assert_eq!((d.decision, d.reasons.len()), (Verdict::Allow, 1));
        // Unchanged (e.g. an unrelated write) still warns.
        assert_eq!(fold(Verdict::Allow, Mode::Enforce, 5, 8, 8).0.decision, Verdict::Warn);
    }

    #[test]
    fn off_and_zero_threshold_disable_the_wall() {
        assert_eq!(fold(Verdict::Allow, Mode::Off, 5, 0, 100).0.reasons.len(), 1);
        assert_eq!(fold(Verdict::Allow, Mode::Enforce, 0, 0, 100).0.reasons.len(), 1);
    }

    #[test]
    fn never_stricter_than_a_warning_and_keeps_the_size_class() {
        let (d, class) = fold(Verdict::Reject, Mode::Enforce, 5, 0, 100);
        assert_eq!((d.decision, class, d.reasons.len()), (Verdict::Reject, ReasonClass::WithinLimit, 2));
        let (d, class) = fold(Verdict::Warn, Mode::Warn, 5, 0, 100);
        assert_eq!((d.decision, class), (Verdict::Warn, ReasonClass::WithinLimit));
    }
}
