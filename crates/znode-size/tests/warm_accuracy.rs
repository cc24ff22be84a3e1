//! The fast path against the exact path, on heroku-like and real production-shaped states, for
//! the changes admission sees most: its error must stay within a third of its declared bound, and
//! near a threshold it must hand over to the exact path.

use marathon_model::app::EnvValue;
use marathon_model::{App, Group, PathId};
use znode_size::synthetic::{app, heroku_root};
use znode_size::{Estimator, StoreConfig, WarmState};

const NEW_VERSION: &str = "2018-05-05T05:05:05.555Z";

fn corpus_root(file: &str) -> Group {
    let raw = std::fs::read(format!("{}/../../../shared/corpus/marathon/groups/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let group = Group::parse(&raw).unwrap().normalized(&PathId::root()).unwrap();
    let mut root = Group::empty_root();
    root.version = Some("2018-01-01T00:00:00.000Z".into());
    root.groups = Some(vec![group]);
    root
}

fn all_apps_mut(g: &mut Group) -> Vec<&mut App> {
    let mut out: Vec<&mut App> = g.apps.iter_mut().flatten().map(marathon_model::SharedApp::make_mut).collect();
    for sub in g.groups.iter_mut().flatten() {
        out.extend(all_apps_mut(sub));
    }
    out
}

fn touch(a: &mut App) {
    a.version = Some(NEW_VERSION.into());
}

fn scenarios(root: &Group) -> Vec<(&'static str, Group)> {
    let mut out = Vec::new();
    let n = root.transitive_apps().len();

    let mut t = root.clone();
    let a = all_apps_mut(&mut t).into_iter().nth(n / 2).unwrap();
    a.instances = Some(a.instances() + 3);
    touch(a);
    out.push(("scale one app", t));

    let mut t = root.clone();
    let a = all_apps_mut(&mut t).into_iter().nth(n / 3).unwrap();
    let env = a.env.get_or_insert_with(Default::default);
    for i in 0..30 {
        env.insert(format!("NEW_SETTING_{i}"), EnvValue::Plain(format!("{:x}", (i as u64 + 7).wrapping_mul(0x9e37_79b9_7f4a_7c15))));
    }
    touch(a);
    out.push(("30 env vars more", t));

    let mut t = root.clone();
    let host = t.groups.as_mut().unwrap().first_mut().unwrap();
    let host_id = host.path_id();
    let mut new_app = app(&format!("{host_id}/brand-new"), 40, 4242);
    new_app.version = Some(NEW_VERSION.into());
    host.apps.get_or_insert_with(Default::default).push(new_app.into());
    out.push(("add an app with 40 env vars", t));

    let mut t = root.clone();
    let host = t.groups.as_mut().unwrap().first_mut().unwrap();
    host.apps.as_mut().unwrap().remove(0);
    out.push(("delete an app", t));

    let mut t = root.clone();
    let mut g = Group::empty(&PathId::parse("/fresh"));
    g.version = Some(NEW_VERSION.into());
    let mut new_app = app("/fresh/one", 10, 99);
    new_app.version = Some(NEW_VERSION.into());
    g.apps = Some(vec![new_app.into()].into());
    t.groups.as_mut().unwrap().push(g);
    out.push(("new group with an app", t));

    let mut t = root.clone();
    for a in all_apps_mut(&mut t).into_iter().step_by((n / 5).max(1)).take(5) {
        a.mem = Some(a.mem() * 2.0);
        touch(a);
    }
    out.push(("update five apps", t));
    out
}

fn check_state(name: &str, root: Group) {
    let cfg = StoreConfig::default();
    let warm = WarmState::prepare(&root, &cfg);
    let mut worst = 0u64;
    let scenarios = scenarios(&root);
    let mut measured = 0;
    for (what, target) in &scenarios {
        let exact = Estimator::new(cfg.clone()).deployment(&root, &target);
        let fast = warm.deployment(&target, &[]);
        assert_eq!(fast.estimate.plan_raw_bytes, exact.plan_raw_bytes, "{name}/{what}: raw length must be exact");
        let err = fast.estimate.plan_bytes.unwrap().abs_diff(exact.plan_bytes.unwrap());
        let root_err = fast.estimate.root_bytes.abs_diff(exact.root_bytes);
        println!(
            "{name:>24} {what:>28}: exact {} fast {} error {err} (root error {root_err}) bound {} exact_path={}",
            exact.plan_bytes.unwrap(),
            fast.estimate.plan_bytes.unwrap(),
            fast.error_bound,
            fast.exact
        );
        assert!(err * 3 <= fast.error_bound || fast.exact && err == 0, "{name}/{what}: error {err} vs bound {}", fast.error_bound);
        measured += usize::from(!fast.exact);
        worst = worst.max(err);

        // A threshold inside the bound sends the decision to the exact path.
        let near = warm.deployment(&target, &[fast.estimate.binding_bytes + fast.error_bound / 2]);
        assert_eq!(near.estimate.plan_bytes, exact.plan_bytes, "{name}/{what}: near a threshold the result is exact");
    }
    println!("{name}: worst error {worst} bytes");
    // Every change here is one the fast path estimates itself: had it handed them all to the exact
    // path, the bound above would have been checked against nothing.
    assert_eq!(measured, scenarios.len(), "{name}: the fast path estimated {measured} of {} changes", scenarios.len());
}

#[test]
fn heroku_like_state_near_the_limit() {
    check_state("heroku 2000x10", heroku_root(2_000, 10));
}

#[test]
fn heroku_like_state_with_fat_apps() {
    check_state("heroku 300x100", heroku_root(300, 100));
}

#[test]
fn production_shaped_1000_apps() {
    check_state("corpus 155_1000", corpus_root("0582-mesosphere-marathon-155_1000.json"));
}

#[test]
fn production_shaped_500_apps() {
    check_state("corpus 155_500", corpus_root("0584-mesosphere-marathon-155_500.json"));
}

#[test]
fn small_uncompressed_state_is_exact() {
    let root = heroku_root(20, 2);
    let cfg = StoreConfig::default();
    let warm = WarmState::prepare(&root, &cfg);
    let scenarios = scenarios(&root);
    let mut checked = 0;
    for (what, target) in &scenarios {
        let exact = Estimator::new(cfg.clone()).deployment(&root, target);
        let fast = warm.deployment(target, &[]);
        if !StoreConfig::default().compresses(fast.estimate.plan_raw_bytes.unwrap() as usize) {
            assert!(fast.exact, "{what}");
            assert_eq!(fast.estimate, exact, "{what}");
            checked += 1;
        }
    }
    // The state is small enough that no plan is compressed: every change was checked.
    assert_eq!(checked, scenarios.len(), "only {checked} of {} plans were uncompressed", scenarios.len());
}
