//! A deployment `base -> target` from fast estimates made from one prepared state `S`.
//!
//! A [`WarmState`](super::WarmState) is prepared for one state `S` and is expensive to prepare
//! again, while decisions are made on top of writes `S` does not hold yet (the model moved on,
//! writes in flight). A legacy plan is the original root beside the target root, so its length
//! is the sum of the two halves: the original half changes from `S` as `base` does, the target
//! half as `target` does, and
//! `plan(base, target) = plan(S, target) + plan(S, base) - plan(S, S)`.
//! The error bounds of the three estimates add up, with a few bytes of slack for the varint
//! length prefixes that may shift around the composed lengths.

use super::FastEstimate;
use crate::config::{Layout, StoreConfig};
use crate::estimate::{legacy_state, Estimate};

/// The varint length prefixes around composed lengths may differ by a byte or two.
const VARINT_SLACK: u64 = 8;

/// The sizes of a decision on `base -> target`, composed.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposedPlan {
    /// `base` at rest.
    pub current: Estimate,
    /// The deployment `base -> target`, with the composition's error bound.
    pub predicted: FastEstimate,
}

/// Composes `base -> target` (legacy layout) from the fast estimates of `S -> S` (`self_plan`),
/// `S -> base` and `S -> target`. `None` when compression would start or stop between `S`'s plan
/// and the composed one: only the exact path can say then.
pub fn compose_plan(
    self_plan: &FastEstimate,
    to_base: &FastEstimate,
    to_target: &FastEstimate,
    store: &StoreConfig,
) -> Option<ComposedPlan> {
    let (s, b, t) = (&self_plan.estimate, &to_base.estimate, &to_target.estimate);
    let raw = |e: &Estimate| e.plan_raw_bytes.unwrap_or(0);
    let plan_raw = compose(raw(t), raw(b), raw(s));
    if store.compresses(plan_raw as usize) != store.compresses(raw(s) as usize) {
        return None;
    }
    let stored = |e: &Estimate| e.plan_bytes.unwrap_or(0);
    let plan = compose(stored(t), stored(b), stored(s));
    let exact = to_target.exact && to_base.exact;
    let error_bound =
        if exact { 0 } else { to_target.error_bound + to_base.error_bound + self_plan.error_bound + VARINT_SLACK };
    let estimate = plan_estimate(store, t.root_bytes, plan, plan_raw);
    Some(ComposedPlan {
        current: legacy_state(store, b.root_bytes),
        predicted: FastEstimate { estimate, exact, error_bound },
    })
}

/// `x + y - z`, never below zero.
fn compose(x: u64, y: u64, z: u64) -> u64 {
    (x + y).saturating_sub(z)
}

fn plan_estimate(store: &StoreConfig, root_bytes: u64, plan: u64, plan_raw: u64) -> Estimate {
    Estimate {
        layout: Layout::Legacy,
        root_bytes,
        plan_bytes: Some(plan),
        binding_node: "deployment plan".into(),
        binding_bytes: plan,
        limit_bytes: store.limit_bytes(),
        accepted: plan < store.zk_max_node_size,
        plan_raw_bytes: Some(plan_raw),
        grows_a_node: false,
    }
}

#[cfg(test)]
mod tests {
    use marathon_model::{Group, PathId, SharedApp};

    use super::*;
    use crate::synthetic::{app, heroku_root};
    use crate::{Estimator, WarmState};

    const LATER: &str = "2017-03-02T10:00:00.000Z";

    /// A new version of the synthetic app `id` (Marathon stamps every change with one).
    fn changed_app(id: &str, env_vars: usize, seed: u64) -> SharedApp {
        let mut app = app(id, env_vars, seed);
        app.version = Some(LATER.into());
        SharedApp::new(app)
    }

    /// `root` with the app `id` replaced by `app`, or with `app` added to its group.
    fn put_app(root: &Group, id: &str, app: SharedApp) -> Group {
        let mut out = root.clone();
        let apps = out.find_group_mut(&PathId::parse(id).parent()).expect("group").apps.get_or_insert_with(Default::default);
        match apps.iter_mut().find(|a| a.id() == Some(id)) {
            Some(slot) => *slot = app,
            None => apps.push(app),
        }
        out
    }

    /// A state `S` of `apps` synthetic apps, a base that changes one of them and a target that
    /// adds one (`env_vars` each, a few more for the changed ones): the composition from a warm
    /// state of `S`, and the exact sizes of `base` and of `base -> target`.
    fn composed_and_exact(apps: usize, env_vars: usize) -> (ComposedPlan, Estimate, Estimate) {
        let store = StoreConfig::marathon_1_3();
        let s = heroku_root(apps, env_vars);
        let base = put_app(&s, "/heroku/app-0", changed_app("/heroku/app-0", env_vars + 10, 7));
        let target = put_app(&base, "/team-1/new", changed_app("/team-1/new", env_vars + 5, 99));
        let warm = WarmState::prepare(&s, &store);
        let fast = |root: &Group| warm.deployment(root, &[]);
        let composed = compose_plan(&fast(&s), &fast(&base), &fast(&target), &store).expect("no compression boundary crossed");
        let exact = Estimator::new(store.clone());
        (composed, exact.state(&base), exact.deployment(&base, &target))
    }

    #[test]
    fn uncompressed_composition_is_exact() {
        let (c, current, predicted) = composed_and_exact(10, 3);
        assert!(!StoreConfig::marathon_1_3().compresses(predicted.plan_raw_bytes.unwrap() as usize), "meant uncompressed");
        assert_eq!((c.predicted.exact, c.predicted.error_bound), (true, 0));
        assert_eq!(c.predicted.estimate, predicted);
        assert_eq!(c.current, current);
    }

    #[test]
    fn compressed_composition_is_within_its_bound() {
        let (c, current, predicted) = composed_and_exact(60, 20);
        assert!(StoreConfig::marathon_1_3().compresses(predicted.plan_raw_bytes.unwrap() as usize), "meant compressed");
        assert!(!c.predicted.exact);
        let bound = c.predicted.error_bound;
        let err = c.predicted.estimate.binding_bytes.abs_diff(predicted.binding_bytes);
        assert!(err <= bound, "plan error {err} > bound {bound}");
        assert!(c.current.root_bytes.abs_diff(current.root_bytes) <= bound);
        assert_eq!(c.predicted.estimate.plan_raw_bytes, predicted.plan_raw_bytes, "raw lengths compose exactly");
    }

    #[test]
    fn crossing_the_compression_threshold_needs_the_exact_path() {
        let fast = |raw: u64| FastEstimate {
            estimate: plan_estimate(&StoreConfig::marathon_1_3(), 100, raw, raw),
            exact: true,
            error_bound: 0,
        };
        let store = StoreConfig::marathon_1_3();
        let t = store.compression_threshold;
        assert!(compose_plan(&fast(t - 100), &fast(t - 100), &fast(t + 50), &store).is_none());
        assert!(compose_plan(&fast(t - 100), &fast(t - 100), &fast(t - 50), &store).is_some());
    }

    #[test]
    fn bounds_add_up_unless_both_halves_are_exact() {
        let store = StoreConfig::marathon_1_3();
        let fast = |exact: bool, error_bound: u64| FastEstimate {
            estimate: plan_estimate(&store, 100, 1000, 1000),
            exact,
            error_bound,
        };
        let c = compose_plan(&fast(false, 5), &fast(false, 7), &fast(false, 11), &store).unwrap();
        assert_eq!(c.predicted.error_bound, 5 + 7 + 11 + VARINT_SLACK);
        assert_eq!(c.predicted.estimate.binding_bytes, 1000);
        let c = compose_plan(&fast(false, 5), &fast(true, 0), &fast(true, 0), &store).unwrap();
        assert_eq!((c.predicted.exact, c.predicted.error_bound), (true, 0));
    }
}
