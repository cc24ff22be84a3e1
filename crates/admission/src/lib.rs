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
use znode_size::{ErrorBound, Estimate, Layout};

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
    /// How far below the limit growing writes are refused (default: measured per decision).
    pub margin: Margin,
    /// Warn when the binding node exceeds this fraction of the limit (default 80%).
    pub warn_at: f64,
    pub mode: Mode,
}

/// How far below the limit growing writes are refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Margin {
    /// The decision's own measured error bound ([`ErrorBound`]) plus `floor`, a fraction of the
    /// limit for what no measurement sees. Bounds are measured only for estimates within
    /// [`AUTO_WINDOW`] of that threshold; a larger bound counts as the window.
    Auto { floor: f64 },
    /// A fixed fraction of the limit, whatever the decision.
    Fixed(f64),
}

/// The default floor under a measured bound: 0.05% of the limit (512 bytes of a 1 MB node).
pub const DEFAULT_FLOOR: f64 = 0.0005;

/// How far below the threshold an estimate's bound is measured, as a fraction of the limit: the
/// spread of a plan's gzip size over every order measured on synthetic plans is at most 0.79%.
pub const AUTO_WINDOW: f64 = 0.01;

impl Default for Margin {
    fn default() -> Self {
        Margin::Auto { floor: DEFAULT_FLOOR }
    }
}

impl Margin {
    /// The fraction of the limit refused whatever the decision's bound.
    pub fn fixed_part(&self) -> f64 {
        match *self {
            Margin::Auto { floor } => floor,
            Margin::Fixed(f) => f,
        }
    }

    /// In words, for explanations.
    pub fn describe(&self, bound: Option<&ErrorBound>) -> String {
        match (self, bound) {
            (Margin::Fixed(f), _) => format!("minus a {:.2}% safety margin", f * 100.0),
            (Margin::Auto { floor }, Some(b)) => format!(
                "minus a {:.2}% floor and this estimate's error bound of {} bytes ({})",
                floor * 100.0,
                b.bytes,
                b.describe()
            ),
            (Margin::Auto { floor }, None) => format!("minus a {:.2}% floor", floor * 100.0),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy { margin: Margin::default(), warn_at: 0.80, mode: Mode::Enforce }
    }
}

impl Policy {
    /// The largest binding size that is admitted when the estimate is exact (no bound): the
    /// threshold budgets and histories show.
    pub fn reject_at(&self, limit: u64) -> u64 {
        limit.saturating_sub((limit as f64 * self.margin.fixed_part()).ceil() as u64)
    }

    /// The lowest threshold any decision can get: below it nothing is refused, and no bound needs
    /// measuring.
    pub fn reject_from(&self, limit: u64) -> u64 {
        match self.margin {
            Margin::Auto { .. } => self.reject_at(limit).saturating_sub(window(limit)),
            Margin::Fixed(_) => self.reject_at(limit),
        }
    }

    /// The threshold of a decision whose estimate may lie `bound` below Marathon's bytes.
    pub fn reject_at_with(&self, limit: u64, bound: Option<&ErrorBound>) -> u64 {
        match (self.margin, bound) {
            (Margin::Auto { .. }, Some(b)) => self.reject_at(limit).saturating_sub(b.bytes.min(window(limit))),
            _ => self.reject_at(limit),
        }
    }
}

fn window(limit: u64) -> u64 {
    (limit as f64 * AUTO_WINDOW).ceil() as u64
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
/// deployment's predicted sizes (`predicted`), which may lie up to `bound` below Marathon's.
pub fn decide(policy: &Policy, current: &Estimate, predicted: &Estimate, bound: Option<&ErrorBound>) -> Decision {
    let limit = predicted.limit_bytes;
    let reject_at = policy.reject_at_with(limit, bound);
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
             (limit {limit} bytes {}); Marathon would {}",
            policy.margin.describe(bound),
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

    fn bound(bytes: u64) -> ErrorBound {
        ErrorBound { bytes, unknown_orders: 2, rounds: 6 }
    }

    #[test]
    fn fixed_margin_thresholds() {
        let p = Policy { margin: Margin::Fixed(0.01), ..Policy::default() };
        assert_eq!(p.reject_at(1_024_000), 1_013_760);
        assert_eq!(p.reject_from(1_024_000), 1_013_760);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 500_000), None).decision, Verdict::Allow);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 900_000), None).decision, Verdict::Warn);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 1_013_760), None).decision, Verdict::Reject);
        assert_eq!(decide(&p, &est(100, 100), &est(200, 1_013_759), None).decision, Verdict::Warn);
        // A fixed margin ignores a measured bound.
        assert_eq!(decide(&p, &est(100, 100), &est(200, 1_013_759), Some(&bound(5_000))).decision, Verdict::Warn);
    }

    #[test]
    fn auto_margin_is_the_floor_plus_the_decision_s_bound() {
        let p = Policy::default();
        // 0.05% of 1,024,000 = 512 bytes.
        assert_eq!(p.reject_at(1_024_000), 1_023_488);
        assert_eq!(p.reject_from(1_024_000), 1_023_488 - 10_240);
        let at = |binding: u64, b: Option<ErrorBound>| decide(&p, &est(100, 100), &est(200, binding), b.as_ref());
        // 0.3% under the limit, with a bound of 1,500 bytes: admitted.
        assert!(at(1_020_928, Some(bound(1_500))).admitted());
        // The same estimate whose bound reaches the threshold: refused, and the reason says the bound.
        let d = at(1_020_928, Some(bound(2_560)));
        assert_eq!(d.decision, Verdict::Reject);
        assert!(d.reasons[0].contains("error bound of 2560 bytes"), "{:?}", d.reasons);
        assert_eq!(at(1_023_487, None).decision, Verdict::Warn);
        assert_eq!(at(1_023_488, None).decision, Verdict::Reject);
        // A bound beyond the window counts as the window.
        assert_eq!(p.reject_at_with(1_024_000, Some(&bound(50_000))), p.reject_from(1_024_000));
    }

    #[test]
    fn shrinking_changes_are_never_rejected() {
        let d = decide(&Policy::default(), &est(500, 0), &est(400, 1_100_000), None);
        assert_eq!(d.decision, Verdict::Warn);
        assert!(d.reasons[0].contains("still predicted to refuse"), "{:?}", d.reasons);
    }

    #[test]
    fn on_1_4_an_app_node_that_grows_is_not_shrinking() {
        let v14 = |root: u64, binding: u64| Estimate { layout: Layout::V14, plan_bytes: None, ..est(root, binding) };
        let growing = |root: u64, binding: u64| Estimate { grows_a_node: true, ..v14(root, binding) };
        // The root node (references only) is unchanged, the app's own node grows past the limit.
        let d = decide(&Policy::default(), &v14(500, 20_000), &growing(500, 1_100_000), None);
        assert_eq!(d.decision, Verdict::Reject, "{:?}", d.reasons);
        assert!(!d.shrinking);
        // The same with a larger node stored elsewhere and a root that shrinks: each node is its own budget.
        let d = decide(&Policy::default(), &v14(500, 1_200_000), &growing(400, 1_069_017), None);
        assert_eq!(d.decision, Verdict::Reject, "{:?}", d.reasons);
        // A deletion writes only the smaller root: still the way out.
        let d = decide(&Policy::default(), &v14(500, 1_050_000), &v14(400, 400), None);
        assert!(d.shrinking && d.admitted());
    }

    #[test]
    fn modes() {
        let warn = Policy { mode: Mode::Warn, ..Policy::default() };
        assert_eq!(decide(&warn, &est(1, 1), &est(2, 2_000_000), None).decision, Verdict::Warn);
        let off = Policy { mode: Mode::Off, ..Policy::default() };
        assert_eq!(decide(&off, &est(1, 1), &est(2, 2_000_000), None).decision, Verdict::Allow);
    }
}
