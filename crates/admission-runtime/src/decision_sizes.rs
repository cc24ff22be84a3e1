//! Sizes for a decision: what Marathon stores now (the model root plus the in-flight ledger, the
//! "base") and what it would store for the deployment `base -> target`.
//!
//! Two paths, same answers where they decide something:
//! - **warm** (legacy layout): a [`WarmState`] prepared in the background for some recent model
//!   root `S` ([`Prepared`]). When `base` is `S`, one fast estimate of `S -> target`. When `base`
//!   differs from `S` (writes in the ledger, or the model moved on since `S` was prepared), the
//!   plan `base -> target` is composed from two fast estimates: its original half changes from
//!   `S` as `base` does, its target half as `target` does ([`znode_size::compose_plan`]:
//!   `plan(base, target) = plan(S, target) + plan(S, base) - plan(S, S)`, with the error bounds
//!   added). Precondition (as for [`WarmState`]): an app whose `version` did not change did
//!   not change; true for Marathon's answers and for targets from `marathon_model::ops::apply`.
//! - **exact**: [`Estimator`] (one gzip of the whole plan). Used when no prepared state fits,
//!   in the 1.4+ layout (which needs no gzip), and whenever a threshold that decides something
//!   (reject, warn, or whether the change shrinks the root group) lies within the error bound.
//! - **the bound of the exact estimate** (legacy, `margin = "auto"`): what Marathon's bytes may
//!   add to it (orders `GET /v2/groups` does not show, the plan's id and clock), measured
//!   ([`znode_size::error_bound`]) only when the estimate lies between the lowest and the highest
//!   threshold a decision can get: elsewhere the bound changes nothing.

use std::sync::Arc;

use admission::{Decision, Policy};
use marathon_model::Group;
use znode_size::{compose_plan, ErrorBound, Estimate, Estimator, FastEstimate, Layout, StoreConfig, V14State, WarmState};
use znode_size::error_bound;

/// A root measured once for the decisions that come after it: a [`WarmState`] (legacy layout)
/// or a [`V14State`] (1.4+).
pub struct Prepared {
    /// The root it was prepared for (compared by pointer and by generation).
    pub root: Arc<Group>,
    pub generation: u64,
    pub store: StoreConfig,
    pub sized: PreparedSizes,
    /// `S`'s Marathon-side health checks (see [`Group::marathon_health_checks`]).
    pub health_checks: u64,
}

/// What a preparation measured, by layout.
// One lives at a time (the latest root's): the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum PreparedSizes {
    Legacy {
        warm: WarmState,
        /// The fast estimate of the deployment `S -> S` (the zero point of composition).
        self_plan: FastEstimate,
    },
    V14(V14State),
}

impl Prepared {
    /// Expensive (seconds on a multi-MB root on one core): run it off the async workers.
    pub fn prepare(root: Arc<Group>, generation: u64, store: StoreConfig) -> Prepared {
        let sized = match store.layout {
            Layout::Legacy => {
                let warm = WarmState::prepare_shared(root.clone(), &store);
                let self_plan = warm.deployment(&root, &[]);
                PreparedSizes::Legacy { warm, self_plan }
            }
            Layout::V14 => PreparedSizes::V14(V14State::prepare(root.clone(), &store)),
        };
        let health_checks = root.marathon_health_checks();
        Prepared { root, generation, store, sized, health_checks }
    }

    /// The root at rest.
    pub fn state(&self) -> &Estimate {
        match &self.sized {
            PreparedSizes::Legacy { warm, .. } => warm.state(),
            PreparedSizes::V14(v) => v.state(),
        }
    }

    /// What binds the root now, as the budget shows it: legacy, a deployment that changes nothing
    /// (it stores the root twice); 1.4+, the root at rest.
    pub fn binding(&self) -> &Estimate {
        match &self.sized {
            PreparedSizes::Legacy { self_plan, .. } => &self_plan.estimate,
            PreparedSizes::V14(v) => v.state(),
        }
    }

    /// Measures what `base` changes from `S` (legacy layout; nothing to measure on 1.4+), so
    /// that the decisions composed on `base` find those measurements remembered: run before the
    /// state is installed, it spares the first decisions on it the in-context deflate of every
    /// write the ledger holds.
    pub fn warm_up(&self, base: &Group) {
        if let PreparedSizes::Legacy { warm, .. } = &self.sized {
            warm.deployment(base, &[]);
        }
    }

    /// [`Group::marathon_health_checks`] of `root`, from `S`'s count and what `root` does not
    /// share with `S`.
    pub fn marathon_health_checks(&self, root: &Group) -> u64 {
        root.marathon_health_checks_since(&self.root, self.health_checks)
    }
}

/// The sizes a decision needs.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// `base` at rest.
    pub current: Estimate,
    /// The deployment `base -> target`.
    pub predicted: Estimate,
    /// "warm" or "exact".
    pub path: &'static str,
    /// How far Marathon's binding node may lie above `predicted`, where it was measured.
    pub bound: Option<ErrorBound>,
}

/// What decides: the thresholds and whether a reject is possible at all.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// The lowest threshold a decision can get (its measured bound at the largest).
    pub reject_from: u64,
    /// The threshold of an estimate without error.
    pub reject_at: u64,
    pub warn_at: u64,
}

impl Thresholds {
    /// The thresholds `policy` sets for a node of `limit` bytes.
    pub fn of(policy: &Policy, limit: u64) -> Thresholds {
        Thresholds {
            reject_from: policy.reject_from(limit),
            reject_at: policy.reject_at(limit),
            warn_at: (limit as f64 * policy.warn_at) as u64,
        }
    }

    /// Whether an estimate of `binding` bytes needs its bound to be decided.
    fn needs_bound(&self, binding: u64) -> bool {
        (self.reject_from..self.reject_at).contains(&binding)
    }
}

/// The estimators a decision uses; owned by the serialized decision state.
pub struct SizeEngine {
    exact: Option<Estimator>,
}

impl Default for SizeEngine {
    fn default() -> Self {
        SizeEngine { exact: None }
    }
}

impl SizeEngine {
    fn exact(&mut self, store: &StoreConfig) -> &mut Estimator {
        match &mut self.exact {
            Some(e) if e.cfg == *store => {}
            slot => *slot = Some(Estimator::new(store.clone())),
        }
        self.exact.as_mut().expect("just set")
    }

    /// The exact sizes.
    pub fn exact_sizes(&mut self, store: &StoreConfig, base: &Group, target: &Group) -> Sizes {
        let est = self.exact(store);
        let current = est.state(base);
        let predicted = est.deployment(base, target);
        Sizes { current, predicted, path: "exact", bound: None }
    }

    /// The exact sizes, with their measured bound when the thresholds need it.
    fn exact_decided(&mut self, store: &StoreConfig, base: &Group, target: &Group, th: Thresholds) -> Sizes {
        let mut sizes = self.exact_sizes(store, base, target);
        if store.layout == Layout::Legacy && th.needs_bound(sizes.predicted.binding_bytes) {
            // Every set shuffled even when the original's order was read from ZooKeeper: the
            // narrower bound that keeps it missed up to a tenth of the target orders
            // (docs/BENCHMARKS.md, "The error bound of a near-wall decision").
            sizes.bound = Some(error_bound::deployment_bound(store, base, target, error_bound::ROUNDS));
        }
        sizes
    }

    /// Sizes for `base -> target`, fast when one of the warm states `prepared` decides them
    /// (see [`warm_first`]), exact otherwise.
    pub fn sizes(
        &mut self,
        store: &StoreConfig,
        prepared: &[&Prepared],
        base: &Arc<Group>,
        target: &Group,
        th: Thresholds,
    ) -> Sizes {
        match warm_first(store, prepared, base, target, th) {
            Warm::Sized(sizes) | Warm::Drifting(sizes) => sizes,
            Warm::Drifted | Warm::ExactOnly => self.exact_decided(store, base, target, th),
        }
    }
}

/// What the warm path says about `base -> target`.
// Returned and matched at once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Warm {
    Sized(Sizes),
    /// Sized, but what `base` changed since `S` has used up half of what the bound may grow
    /// before a threshold: as many changes again and this state no longer decides. A state
    /// prepared now, beside the decisions, is ready before they would have to wait for one.
    Drifting(Sizes),
    /// The composed estimate's bound is too wide to decide, and most of it is what `base`
    /// changed since `S`: a state prepared for `base` itself would likely decide.
    Drifted,
    /// Only the exact path can decide: no state prepared for this store, or a threshold lies
    /// within the bound of the write's own change.
    ExactOnly,
}

/// The warm path's sizes for `base -> target` on the first of `states` that decides them
/// (`Sized` or `Drifting`);
/// `Drifted` when every one is too far from `base`, `ExactOnly` when there is none or as soon as
/// one finds the write itself too near a threshold (no other state would decide it either).
pub fn warm_first(store: &StoreConfig, states: &[&Prepared], base: &Arc<Group>, target: &Group, th: Thresholds) -> Warm {
    let mut seen = Warm::ExactOnly;
    for state in states {
        match warm(store, Some(state), base, target, th) {
            Warm::Drifted => seen = Warm::Drifted,
            decided => return decided,
        }
    }
    seen
}

/// The warm path's sizes for `base -> target`, or why it has none.
pub fn warm(store: &StoreConfig, prepared: Option<&Prepared>, base: &Arc<Group>, target: &Group, th: Thresholds) -> Warm {
    let Some(p) = prepared.filter(|p| p.store == *store) else { return Warm::ExactOnly };
    match &p.sized {
        PreparedSizes::Legacy { .. } => match fast(p, base, target, store) {
            None => Warm::ExactOnly,
            Some(f) if !needs_exact(&f.sizes, f.bound, th) => {
                if f.drifted && needs_exact(&f.sizes, f.bound_at_twice_the_drift(), th) {
                    Warm::Drifting(f.sizes)
                } else {
                    Warm::Sized(f.sizes)
                }
            }
            Some(f) if f.drifted && !needs_exact(&f.sizes, f.own_bound, th) => Warm::Drifted,
            Some(_) => Warm::ExactOnly,
        },
        // Exact figures, from what the roots do not share with `S`.
        PreparedSizes::V14(v14) => {
            let (current, predicted) = v14.sizes(base, target);
            Warm::Sized(Sizes { current, predicted, path: "warm", bound: None })
        }
    }
}

/// The size decision the exact path takes for `base -> target` (before the health-check wall
/// and the quotas): the reference the warm path and the tests are held to.
pub fn exact_decision(policy: &Policy, store: &StoreConfig, base: &Group, target: &Group) -> Decision {
    let th = Thresholds::of(policy, store.limit_bytes());
    let sizes = SizeEngine::default().exact_decided(store, base, target, th);
    admission::decide(policy, &sizes.current, &sizes.predicted, sizes.bound.as_ref())
}

/// True when a threshold lies within `bound` of what the fast sizes say, or the estimate lies
/// where only its measured bound decides.
fn needs_exact(s: &Sizes, bound: u64, th: Thresholds) -> bool {
    let b = s.predicted.binding_bytes;
    let near = |t: u64| b.abs_diff(t) <= bound;
    if th.needs_bound(b) || near(th.reject_from) {
        return true;
    }
    if bound == 0 {
        return false;
    }
    if near(th.reject_at) || near(th.warn_at) {
        return true;
    }
    // Over the threshold, "does it shrink the root group" decides reject or warn.
    b >= th.reject_from && s.predicted.root_bytes.abs_diff(s.current.root_bytes) <= bound
}

/// A composed fast estimate.
struct Fast {
    sizes: Sizes,
    /// How far Marathon's bytes may lie from it.
    bound: u64,
    /// Whether `base` is not `S`, so that part of `bound` is what `base` changed since `S`.
    drifted: bool,
    /// About what the bound would be against a state prepared for `base`: the part that is
    /// the write's own, plus what every estimate on a state carries (the bounds of changed apps
    /// add up over a fixed part, the bound of the state's deployment onto itself).
    own_bound: u64,
}

impl Fast {
    /// The bound once `base` has drifted from `S` twice as far as now.
    fn bound_at_twice_the_drift(&self) -> u64 {
        self.bound.saturating_add(self.bound.saturating_sub(self.own_bound))
    }
}

/// The composed fast estimate and its error bound; `None` when only the exact path can say.
fn fast(p: &Prepared, base: &Arc<Group>, target: &Group, store: &StoreConfig) -> Option<Fast> {
    let PreparedSizes::Legacy { warm, self_plan } = &p.sized else { return None };
    let t = warm.deployment(target, &[]);
    if Arc::ptr_eq(base, &p.root) {
        let sizes = Sizes { current: warm.state().clone(), predicted: t.estimate.clone(), path: "warm", bound: None };
        return Some(Fast { sizes, bound: t.error_bound, drifted: false, own_bound: t.error_bound });
    }
    // base != S: compose.
    let b = warm.deployment(base, &[]);
    let c = compose_plan(self_plan, &b, &t, store)?;
    let sizes = Sizes { current: c.current, predicted: c.predicted.estimate, path: "warm", bound: None };
    let own_bound = self_plan.error_bound + t.error_bound.saturating_sub(b.error_bound);
    Some(Fast { sizes, bound: c.predicted.error_bound, drifted: true, own_bound })
}

#[cfg(test)]
mod tests {
    use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
    use marathon_model::Timestamp;
    use znode_size::synthetic::heroku_root;

    use super::*;

    fn write(root: &Group, method: &str, path: &str, body: &str) -> Group {
        let w = parse_write(method, path, None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
        apply(root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root
    }

    /// `root` with a new app whose env compresses badly, so that it changes the plan by its own
    /// bytes.
    fn drift_app(root: &Group, i: usize) -> Group {
        let body = serde_json::json!({"id": format!("/drift/app-{i}"), "cmd": "sleep 1", "env": {"RELEASE": format!("{:040x}", (i as u128 + 7) * 0x9e37_79b9_7f4a_7c15)}});
        write(root, "POST", "/v2/apps", &body.to_string())
    }

    /// The composed fast path (model moved on since S, plus ledger writes) against the exact
    /// path: within the declared bound, and the same decisions.
    #[test]
    fn composed_fast_path_matches_exact_within_bound() {
        let store = StoreConfig::marathon_1_3();
        let s = Arc::new(heroku_root(300, 10));
        let p = Prepared::prepare(s.clone(), 1, store.clone());
        let app = |id: &str, n: usize| {
            let env: serde_json::Map<String, serde_json::Value> =
                (0..n).map(|i| (format!("K{i}"), serde_json::json!(format!("value-{i}-{id}")))).collect();
            serde_json::json!({"id": id, "cmd": "sleep 1", "env": env}).to_string()
        };
        let base = Arc::new(write(&s, "POST", "/v2/apps", &app("/ledger/one", 20)));
        let target = write(&base, "POST", "/v2/apps", &app("/new/two", 30));
        let mut engine = SizeEngine::default();
        let exact = engine.exact_sizes(&store, &base, &target);
        let Fast { sizes: f, bound, .. } = fast(&p, &base, &target, &store).unwrap();
        let err = f.predicted.binding_bytes.abs_diff(exact.predicted.binding_bytes);
        assert!(err <= bound, "error {err} > bound {bound}");
        let cerr = f.current.root_bytes.abs_diff(exact.current.root_bytes);
        assert!(cerr <= bound, "current error {cerr} > bound {bound}");
        // Thresholds right at the exact value: the engine hands over to the exact path.
        let th = Thresholds { reject_from: exact.predicted.binding_bytes, reject_at: exact.predicted.binding_bytes, warn_at: 1 };
        let got = engine.sizes(&store, &[&p], &base, &target, th);
        assert_eq!(got.path, "exact");
        assert_eq!(got.predicted, exact.predicted);
        // Far from every threshold: fast.
        let th = Thresholds { reject_from: u64::MAX / 2, reject_at: u64::MAX / 2, warn_at: u64::MAX / 2 };
        assert_eq!(engine.sizes(&store, &[&p], &base, &target, th).path, "warm");
        // base == S.
        let Fast { sizes: f2, bound: bound2, .. } = fast(&p, &s, &target, &store).unwrap();
        let exact = engine.exact_sizes(&store, &s, &target);
        assert!(f2.predicted.binding_bytes.abs_diff(exact.predicted.binding_bytes) <= bound2);
        assert_eq!(f2.current, exact.current);
    }

    /// A base far from `S` widens the composed bound past a threshold that a state prepared
    /// for the base itself leaves clear: the warm path says so, and that state decides.
    #[test]
    fn a_base_drifted_from_the_prepared_state_is_decided_on_a_state_prepared_for_it() {
        let store = StoreConfig::marathon_1_3();
        let s = Arc::new(heroku_root(300, 10));
        let p = Prepared::prepare(s.clone(), 1, store.clone());
        let base = Arc::new((0..12).fold((*s).clone(), |root, i| drift_app(&root, i)));
        let target = drift_app(&base, 99);
        let far = fast(&p, &base, &target, &store).unwrap();
        assert!(far.drifted && far.own_bound < far.bound);
        // The nearest threshold lies between the write's own bound and the drifted one.
        let gap = (far.own_bound + far.bound) / 2;
        let at = far.sizes.predicted.binding_bytes + gap;
        let th = Thresholds { reject_from: at, reject_at: at, warn_at: at };
        assert!(matches!(warm(&store, Some(&p), &base, &target, th), Warm::Drifted));
        let near = Prepared::prepare(base.clone(), 2, store.clone());
        let Warm::Sized(sizes) = warm(&store, Some(&near), &base, &target, th) else { panic!("a state prepared for the base does not decide") };
        let exact = SizeEngine::default().exact_sizes(&store, &base, &target);
        assert_eq!(sizes.current, exact.current);
        assert!(sizes.predicted.binding_bytes.abs_diff(exact.predicted.binding_bytes) <= fast(&near, &base, &target, &store).unwrap().bound);
        // Past the write's own bound, only the exact path decides, whatever the state.
        let at = far.sizes.predicted.binding_bytes + far.own_bound / 2;
        let th = Thresholds { reject_from: at, reject_at: at, warn_at: at };
        assert!(matches!(warm(&store, Some(&p), &base, &target, th), Warm::ExactOnly));
    }

    /// A base half-way out of the prepared state's reach: its drift has used up half of what
    /// the bound may grow before a threshold. It is decided, and says that a nearer state is
    /// due; a decision on `S` itself never does.
    #[test]
    fn a_base_half_way_out_of_the_prepared_states_reach_is_decided_and_says_so() {
        let store = StoreConfig::marathon_1_3();
        let s = Arc::new(heroku_root(300, 10));
        let p = Prepared::prepare(s.clone(), 1, store.clone());
        let above = |f: &Fast, gap: u64| {
            let at = f.sizes.predicted.binding_bytes + gap;
            Thresholds { reject_from: at, reject_at: at, warn_at: at }
        };
        let base = Arc::new((0..12).fold((*s).clone(), |root, i| drift_app(&root, i)));
        let target = drift_app(&base, 99);
        let far = fast(&p, &base, &target, &store).unwrap();
        let drift = far.bound - far.own_bound;
        assert!(drift > 0);
        let Warm::Drifting(sizes) = warm(&store, Some(&p), &base, &target, above(&far, far.bound + drift / 2)) else { panic!("not drifting") };
        assert_eq!(sizes.predicted, far.sizes.predicted);
        assert!(matches!(warm(&store, Some(&p), &base, &target, above(&far, far.bound + drift + 1)), Warm::Sized(_)));
        // The drifting state is tried first among several and decides.
        let near = Prepared::prepare(Arc::new(target.clone()), 2, store.clone());
        assert!(matches!(warm_first(&store, &[&p, &near], &base, &target, above(&far, far.bound + drift / 2)), Warm::Drifting(_)));
        assert_eq!(SizeEngine::default().sizes(&store, &[&p], &base, &target, above(&far, far.bound + drift / 2)).path, "warm");

        let on_s = drift_app(&s, 99);
        let own = fast(&p, &s, &on_s, &store).unwrap();
        assert!(matches!(warm(&store, Some(&p), &s, &on_s, above(&own, own.bound + 1)), Warm::Sized(_)));
    }

    /// A warm-up measures a base's changed apps once: the decision composed on it afterwards
    /// measures only its own write.
    #[test]
    fn a_warmed_up_state_remembers_the_base_it_was_warmed_with() {
        let store = StoreConfig::marathon_1_3();
        let s = Arc::new(heroku_root(300, 10));
        let p = Prepared::prepare(s.clone(), 1, store.clone());
        let PreparedSizes::Legacy { warm, .. } = &p.sized else { panic!("legacy") };
        let mut base = (*s).clone();
        for i in 0..4 {
            base = write(&base, "PUT", &format!("/v2/apps/heroku/app-{i}"), r#"{"instances": 7}"#);
        }
        let base = Arc::new(base);
        let before = warm.remembered_deflates();
        p.warm_up(&base);
        let warmed = warm.remembered_deflates();
        assert!(warmed >= before + 4, "{before} -> {warmed}");
        warm.deployment(&base, &[]);
        assert_eq!(warm.remembered_deflates(), warmed, "the base again: nothing measured");
        let target = write(&base, "PUT", "/v2/apps/heroku/app-5", r#"{"instances": 7}"#);
        let th = Thresholds { reject_from: u64::MAX / 2, reject_at: u64::MAX / 2, warn_at: u64::MAX / 2 };
        assert_eq!(SizeEngine::default().sizes(&store, &[&p], &base, &target, th).path, "warm");
        assert_eq!(warm.remembered_deflates(), warmed + 2, "only the write's app: its old and its new bytes");
    }

    /// The bound is measured where it decides something (between the lowest and the highest
    /// threshold), by the exact path, and nowhere else.
    #[test]
    fn the_bound_is_measured_only_between_the_thresholds() {
        let store = StoreConfig::marathon_1_3();
        let s = Arc::new(heroku_root(300, 10));
        let p = Prepared::prepare(s.clone(), 1, store.clone());
        let target = write(&s, "PUT", "/v2/apps/heroku/app-0", r#"{"instances": 9}"#);
        let mut engine = SizeEngine::default();
        let binding = engine.exact_sizes(&store, &s, &target).predicted.binding_bytes;
        let between = Thresholds { reject_from: binding - 100, reject_at: binding + 100, warn_at: u64::MAX / 2 };
        let got = engine.sizes(&store, &[&p], &s, &target, between);
        assert_eq!(got.path, "exact");
        let bound = got.bound.expect("measured between the thresholds");
        assert_eq!(bound.rounds, znode_size::error_bound::ROUNDS);
        // heroku_root's root holds six subgroups (`/heroku` and five teams): an unknown order in each root.
        assert!(bound.unknown_orders >= 2, "{bound:?}");
        let below = Thresholds { reject_from: binding + 50_000, reject_at: binding + 60_000, warn_at: u64::MAX / 2 };
        assert!(engine.sizes(&store, &[&p], &s, &target, below).bound.is_none());
        let above = Thresholds { reject_from: binding - 60_000, reject_at: binding - 50_000, warn_at: 1 };
        assert!(engine.sizes(&store, &[], &s, &target, above).bound.is_none());
    }
}
