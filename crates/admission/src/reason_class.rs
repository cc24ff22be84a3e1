//! Why a decision came out as it did, as one word from a fixed set: the `reason` of the audit
//! line and of the decision metrics.
//!
//! The sentences of a [`Decision`] explain one write to a person; a class sums decisions up
//! (dashboards, alerts), so the set is closed and small. Which class a decision gets follows from
//! the decision itself and the mode it was made in, so it is policy and is derived here, next to
//! [`crate::decide`], rather than by whoever records it.

use crate::{Decision, Mode, Verdict};

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonClass {
    /// Below `warn_at`.
    WithinLimit,
    /// Above `warn_at`, below the admission threshold.
    NearLimit,
    /// At or over the admission threshold and growing.
    OverLimit,
    /// Over the threshold but shrinking: forwarded ("never block the way out").
    Shrinking,
    /// Over the threshold, forwarded because the mode (global or group) is `warn`.
    ModeWarn,
    /// Admission `off` for this write.
    ModeOff,
    /// Marathon-side health checks x instances above the threshold.
    HealthChecks,
    /// Model not synced: failure policy applied.
    NotSynced,
    /// A per-group quota refused or warned (`[[quota]]`).
    Quota,
    /// The write carries more apps than `max_batch_apps`: refused before any work.
    BatchTooLarge,
}

impl ReasonClass {
    /// The class of a size decision made by [`crate::decide`] in `mode`; `over` is whether the
    /// binding node reaches the admission threshold.
    pub fn of_size_decision(decision: &Decision, mode: Mode, over: bool) -> ReasonClass {
        match (decision.decision, mode) {
            (_, Mode::Off) => ReasonClass::ModeOff,
            (Verdict::Reject, _) => ReasonClass::OverLimit,
            (Verdict::Warn, _) if over && decision.shrinking => ReasonClass::Shrinking,
            (Verdict::Warn, Mode::Warn) if over => ReasonClass::ModeWarn,
            (Verdict::Warn, _) => ReasonClass::NearLimit,
            (Verdict::Allow, _) => ReasonClass::WithinLimit,
        }
    }

    /// The class once the quotas have been folded in: `Quota` when they refused the write (and
    /// the size check did not), or when they made an otherwise unremarkable write a warning.
    pub fn after_quota(self, quota_rejects: bool, quota_verdict: Verdict) -> ReasonClass {
        if quota_rejects || (quota_verdict != Verdict::Allow && self == ReasonClass::WithinLimit) {
            ReasonClass::Quota
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonClass::WithinLimit => "within_limit",
            ReasonClass::NearLimit => "near_limit",
            ReasonClass::OverLimit => "over_limit",
            ReasonClass::Shrinking => "shrinking",
            ReasonClass::ModeWarn => "mode_warn",
            ReasonClass::ModeOff => "mode_off",
            ReasonClass::HealthChecks => "health_checks",
            ReasonClass::NotSynced => "not_synced",
            ReasonClass::Quota => "quota",
            ReasonClass::BatchTooLarge => "batch_too_large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(verdict: Verdict, shrinking: bool) -> Decision {
        Decision { decision: verdict, reasons: Vec::new(), shrinking }
    }

    #[test]
    fn size_decisions() {
        let of = |v, shrinking, mode, over| ReasonClass::of_size_decision(&decision(v, shrinking), mode, over);
        assert_eq!(of(Verdict::Allow, false, Mode::Off, true), ReasonClass::ModeOff);
        assert_eq!(of(Verdict::Reject, false, Mode::Enforce, true), ReasonClass::OverLimit);
        assert_eq!(of(Verdict::Warn, true, Mode::Enforce, true), ReasonClass::Shrinking);
        assert_eq!(of(Verdict::Warn, true, Mode::Warn, true), ReasonClass::Shrinking);
        assert_eq!(of(Verdict::Warn, false, Mode::Warn, true), ReasonClass::ModeWarn);
        assert_eq!(of(Verdict::Warn, false, Mode::Warn, false), ReasonClass::NearLimit);
        assert_eq!(of(Verdict::Warn, true, Mode::Enforce, false), ReasonClass::NearLimit);
        assert_eq!(of(Verdict::Allow, false, Mode::Enforce, false), ReasonClass::WithinLimit);
    }

    #[test]
    fn quotas_take_over_a_refusal_or_an_unremarkable_write() {
        let within = ReasonClass::WithinLimit;
        assert_eq!(within.after_quota(false, Verdict::Allow), ReasonClass::WithinLimit);
        assert_eq!(within.after_quota(false, Verdict::Warn), ReasonClass::Quota);
        assert_eq!(ReasonClass::NearLimit.after_quota(false, Verdict::Warn), ReasonClass::NearLimit);
        assert_eq!(ReasonClass::NearLimit.after_quota(true, Verdict::Reject), ReasonClass::Quota);
        assert_eq!(ReasonClass::OverLimit.after_quota(false, Verdict::Reject), ReasonClass::OverLimit);
    }

    #[test]
    fn labels_are_distinct() {
        let all = [
            ReasonClass::WithinLimit,
            ReasonClass::NearLimit,
            ReasonClass::OverLimit,
            ReasonClass::Shrinking,
            ReasonClass::ModeWarn,
            ReasonClass::ModeOff,
            ReasonClass::HealthChecks,
            ReasonClass::NotSynced,
            ReasonClass::Quota,
        ];
        let labels: std::collections::HashSet<&str> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(labels.len(), all.len());
    }
}
