//! The admission policy: given what Marathon stores now and what it would store after a write,
//! allow, warn or reject, and say why in words a developer understands. No IO.
//!
//! Rules (DESIGN.md): reject when the binding node (legacy: the deployment plan; 1.4+: the largest
//! ZooKeeper request) reaches the limit minus a margin; warn above `warn_at` of the limit; never
//! reject a change that makes the persisted state smaller ("never block the way out"), but warn
//! when Marathon is still predicted to refuse it.
//!
//! Around [`decide`]: the mode of a write from its groups ([`GroupModes`]), the health-check wall
//! ([`fold_health_check_wall`]), the quotas ([`quota`]) and the class of the outcome
//! ([`ReasonClass`]); each later check may only make the decision stricter.
//!
//! Beside it, [`way_out`]: when the answer is no, the changes that make room again.

mod health_checks;
mod modes;
pub mod quota;
mod reason_class;
pub mod way_out;

pub use health_checks::{fold_health_check_wall, HealthCheckCounts};
pub use modes::GroupModes;
pub use reason_class::ReasonClass;

use serde::{Deserialize, Serialize};
use znode_size::{Estimate, Layout};

/// How strictly decisions are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Reject what does not fit.
    #[default]
    Enforce,
    /// Turn every rejection into a warning.
    Warn,
    /// Decide nothing.
    Off,
}

/// Limits and thresholds; defaults as DESIGN.md states them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Safety margin below the limit, as a fraction of the limit (default 1%).
    pub margin: f64,
    /// Warn when the binding node exceeds this fraction of the limit (default 80%).
    pub warn_at: f64,
    pub mode: Mode,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { margin: 0.01, warn_at: 0.80, mode: Mode::Enforce }
    }
}

impl Policy {
    /// The largest binding size that is admitted.
    pub fn reject_at(&self, limit: u64) -> u64 {
        limit.saturating_sub((limit as f64 * self.margin).ceil() as u64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Warn,
    Reject,
}

/// A decision and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: Verdict,
    pub reasons: Vec<String>,
    /// True when the change does not grow the persisted state.
    pub shrinking: bool,
}

impl Decision {
    pub fn admitted(&self) -> bool {
        self.decision != Verdict::Reject
    }
}

/// Decides a write from the state's sizes now (`current`, without a deployment) and the
/// deployment's predicted sizes (`predicted`).
pub fn decide(policy: &Policy, current: &Estimate, predicted: &Estimate) -> Decision {
    let limit = predicted.limit_bytes;
    let reject_at = policy.reject_at(limit);
    let warn_at = (limit as f64 * policy.warn_at) as u64;
    let shrinking = shrinks(current, predicted);
    let binding = predicted.binding_bytes;
    let pct = |b: u64| 100.0 * b as f64 / limit as f64;
    let mut reasons = Vec::new();
    let what = binding_description(predicted);

    if policy.mode == Mode::Off {
        return Decision { decision: Verdict::Allow, reasons: vec!["admission is off".into()], shrinking };
    }
    let over = binding >= reject_at;
    let verdict = if over && !shrinking {
        reasons.push(format!(
            "{what} would be {binding} bytes, over the admission threshold of {reject_at} bytes \
             (limit {limit} bytes minus a {:.1}% safety margin); Marathon would {}",
            policy.margin * 100.0,
            if predicted.accepted { "be left too close to the wall" } else { "refuse it" },
        ));
        if policy.mode == Mode::Warn {
            reasons.push("admission mode is `warn`: forwarded anyway".into());
            Verdict::Warn
        } else {
            Verdict::Reject
        }
    } else if over {
        reasons.push(format!(
            "{what} would be {binding} bytes ({:.1}% of the {limit}-byte limit); the change shrinks the \
             state, so it is forwarded{}",
            pct(binding),
            if predicted.accepted { "" } else { ", but Marathon is still predicted to refuse it" },
        ));
        Verdict::Warn
    } else if binding >= warn_at {
        reasons.push(format!(
            "{what} would be {binding} bytes, {:.1}% of the {limit}-byte limit (warning above {:.0}%)",
            pct(binding),
            policy.warn_at * 100.0
        ));
        Verdict::Warn
    } else {
        reasons.push(format!("{what} would be {binding} bytes, {:.1}% of the {limit}-byte limit", pct(binding)));
        Verdict::Allow
    };
    Decision { decision: verdict, reasons, shrinking }
}

/// Whether a change makes the persisted state smaller: no node it writes grows. Legacy: the
/// root node (the plan holds the root twice, so it follows). 1.4+: the root node and every app
/// and pod node it writes, each a budget of its own (an update that grows one app's node past the
/// limit is no way out, however much the root shrinks).
fn shrinks(current: &Estimate, predicted: &Estimate) -> bool {
    let root_shrinks = predicted.root_bytes <= current.root_bytes;
    match predicted.layout {
        Layout::Legacy => root_shrinks,
        Layout::V14 => root_shrinks && !predicted.grows_a_node,
    }
}

fn binding_description(e: &Estimate) -> String {
    match (e.layout, e.plan_bytes) {
        (Layout::Legacy, Some(_)) => {
            "the deployment plan (the original and the target root group side by side)".to_string()
        }
        (Layout::Legacy, None) => "the root group node".to_string(),
        (Layout::V14, _) => format!("the largest ZooKeeper write ({})", e.binding_node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(root: u64, binding: u64) -> Estimate {
        Estimate {
            layout: Layout::Legacy,
            root_bytes: root,
            plan_bytes: Some(binding),
            binding_node: "deployment plan".into(),
            binding_bytes: binding,
            limit_bytes: 1_024_000,
            accepted: binding < 1_024_000,
            plan_raw_bytes: None,
            grows_a_node: false,
        }
    }

    #[test]
    fn thresholds() {
        let p = Policy::default();
        assert_eq!(p.reject_at(1_024_000), 1_013_760);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 500_000)).decision, Verdict::Allow);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 900_000)).decision, Verdict::Warn);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 1_013_760)).decision, Verdict::Reject);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 1_013_759)).decision, Verdict::Warn);
    }

    #[test]
    fn shrinking_changes_are_never_rejected() {
        let d = decide(&Policy::default(), &est(500, 0), &est(400, 1_100_000));
        assert_eq!(d.decision, Verdict::Warn);
        assert!(d.reasons[0].contains("still predicted to refuse"), "{:?}", d.reasons);
    }

    #[test]
    fn on_1_4_an_app_node_that_grows_is_not_shrinking() {
        let v14 = |root: u64, binding: u64| Estimate { layout: Layout::V14, plan_bytes: None, ..est(root, binding) };
        let growing = |root: u64, binding: u64| Estimate { grows_a_node: true, ..v14(root, binding) };
        // The root node (references only) is unchanged, the app's own node grows past the limit.
        let d = decide(&Policy::default(), &v14(500, 20_000), &growing(500, 1_100_000));
        assert_eq!(d.decision, Verdict::Reject, "{:?}", d.reasons);
        assert!(!d.shrinking);
        // The same with a larger node stored elsewhere and a root that shrinks: each node is its own budget.
        let d = decide(&Policy::default(), &v14(500, 1_200_000), &growing(400, 1_069_017));
        assert_eq!(d.decision, Verdict::Reject, "{:?}", d.reasons);
        // A deletion writes only the smaller root: still the way out.
        let d = decide(&Policy::default(), &v14(500, 1_050_000), &v14(400, 400));
        assert!(d.shrinking && d.admitted());
    }

    #[test]
    fn modes() {
        let warn = Policy { mode: Mode::Warn, ..Policy::default() };
        assert_eq!(decide(&warn, &est(1, 1), &est(2, 2_000_000)).decision, Verdict::Warn);
        let off = Policy { mode: Mode::Off, ..Policy::default() };
        assert_eq!(decide(&off, &est(1, 1), &est(2, 2_000_000)).decision, Verdict::Allow);
    }
}
