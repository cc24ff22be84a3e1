//! The quotas' verdict folded into the size decision.
//!
//! Quotas are checked after the size walls and may only make a decision stricter: a quota warning
//! turns an allowed write into a warning, a quota refusal rejects it (a warning when the write's
//! mode is `warn`), and their sentences follow the size decision's. Which answer the client gets
//! follows from the same fold: when the quotas refuse a write the size check admitted, the 422 is
//! the quotas' own.

use super::QuotaOutcome;
use crate::{Decision, Mode, Verdict};

/// Folds `outcome` into `decision` for a write in `mode` (never `off`: quotas are not evaluated
/// then). Returns true when the quotas refused a write the size check did not.
pub fn fold_quota_outcome(outcome: &QuotaOutcome, mode: Mode, decision: &mut Decision) -> bool {
    let warn_mode = mode == Mode::Warn;
    let size_rejected = decision.decision == Verdict::Reject;
    let refuses = outcome.verdict == Verdict::Reject && !warn_mode;
    if refuses {
        decision.decision = Verdict::Reject;
    } else if outcome.verdict != Verdict::Allow && decision.decision == Verdict::Allow {
        decision.decision = Verdict::Warn;
    }
    decision.reasons.extend(outcome.reasons());
    if outcome.verdict == Verdict::Reject && warn_mode {
        decision.reasons.push("admission mode is `warn`: the quota refusal is forwarded anyway".into());
    }
    refuses && !size_rejected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(verdict: Verdict, expired: &[&str]) -> QuotaOutcome {
        QuotaOutcome { verdict, expired_ignored: expired.iter().map(|t| t.to_string()).collect(), ..QuotaOutcome::allow() }
    }

    fn fold(quota: Verdict, mode: Mode, size: Verdict) -> (Decision, bool) {
        let mut d = Decision { decision: size, reasons: vec!["size".into()], shrinking: false };
        let rejects = fold_quota_outcome(&outcome(quota, &["T-1"]), mode, &mut d);
        (d, rejects)
    }

    #[test]
    fn a_refusal_rejects_and_answers_for_itself() {
        let (d, rejects) = fold(Verdict::Reject, Mode::Enforce, Verdict::Allow);
        assert_eq!((d.decision, rejects), (Verdict::Reject, true));
        assert_eq!(d.reasons, ["size", "exemption T-1 has expired and was ignored"]);
        // The size check refused it already: its 422 answers.
        assert!(!fold(Verdict::Reject, Mode::Enforce, Verdict::Reject).1);
        assert_eq!(fold(Verdict::Reject, Mode::Enforce, Verdict::Warn).0.decision, Verdict::Reject);
    }

    #[test]
    fn warn_mode_forwards_a_refusal_with_a_warning() {
        let (d, rejects) = fold(Verdict::Reject, Mode::Warn, Verdict::Allow);
        assert_eq!((d.decision, rejects), (Verdict::Warn, false));
        assert!(d.reasons.last().unwrap().contains("forwarded anyway"), "{:?}", d.reasons);
        // Never looser than the size decision.
        assert_eq!(fold(Verdict::Reject, Mode::Warn, Verdict::Reject).0.decision, Verdict::Reject);
    }

    #[test]
    fn a_warning_only_raises_an_allowed_write() {
        let (d, rejects) = fold(Verdict::Warn, Mode::Enforce, Verdict::Allow);
        assert_eq!((d.decision, rejects), (Verdict::Warn, false));
        assert_eq!(fold(Verdict::Warn, Mode::Enforce, Verdict::Reject).0.decision, Verdict::Reject);
    }

    #[test]
    fn an_allowing_outcome_only_adds_its_sentences() {
        let (d, rejects) = fold(Verdict::Allow, Mode::Enforce, Verdict::Allow);
        assert_eq!((d.decision, rejects, d.reasons.len()), (Verdict::Allow, false, 2));
    }
}
