//! Each unknown of a legacy plan, tried under the orders and clocks Marathon may pick: the worst
//! found never lies beyond the estimate plus the measured bound. The oracle is the whole plan entry
//! as the simulator writes it ([`crate::legacy_plan_entry`]), not the bound's own assembly.

use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, PathId, SharedApp, Timestamp};

use super::*;
use crate::synthetic::app;
use crate::Estimator;

const STAMP_MS: i64 = 1_764_758_145_123;

fn cfg() -> StoreConfig {
    StoreConfig::marathon_1_3()
}

fn group(id: &str, apps: usize, seed: u64) -> Group {
    let mut g = Group { version: Some("2017-03-01T10:00:00.000Z".into()), ..Group::empty(&PathId::parse(id)) };
    g.apps = Some((0..apps).map(|i| SharedApp::new(app(&format!("{id}/app-{i}"), 40, seed * 100 + i as u64))).collect());
    g
}

/// A root whose subgroups are `/g-0` .. `/g-{n-1}`, each with a few apps.
fn root_with_subgroups(n: usize) -> Group {
    let mut root = Group { version: Some("2017-03-01T10:00:00.000Z".into()), ..Group::empty_root() };
    root.groups = Some((0..n).map(|i| group(&format!("/g-{i}"), 3 + i % 3, i as u64 + 1)).collect());
    root
}

fn write_at(root: &Group, method: &str, path: &str, body: &str, at_ms: i64) -> Group {
    let w = parse_write(method, path, None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
    apply(root, &w, Timestamp::from_millis(at_ms), Flavour::V13, &NoHistory).unwrap().root
}

/// The estimate of the plan, which must be gzipped (or no order would matter).
fn estimate(original: &Group, target: &Group) -> u64 {
    let e = Estimator::new(cfg()).deployment(original, target);
    assert!(cfg().compresses(e.plan_raw_bytes.unwrap() as usize), "plan not compressed: {e:?}");
    e.binding_bytes
}

/// A root holding one group of `apps` apps (from 5, in the known order of their ids' hashes).
fn one_group_root(apps: usize) -> Group {
    let mut root = Group { version: Some("2017-03-01T10:00:00.000Z".into()), ..Group::empty_root() };
    root.groups = Some(vec![group("/only", apps, 3)]);
    root
}

/// The plan entry Marathon's validator measures for this order, id and clock.
fn stored(original: &Group, target: &Group, plan_id: &str, version: &str) -> u64 {
    crate::legacy_plan_entry(plan_id, version, original, target, &cfg()).len() as u64
}

fn with_subgroups_in(root: &Group, order: &[usize]) -> Group {
    let mut g = root.clone();
    let groups = root.groups().to_vec();
    g.groups = Some(order.iter().map(|&i| groups[i].clone()).collect());
    g
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn subgroups_up_to_four_every_order_is_covered() {
    let original = root_with_subgroups(4);
    let body = r#"{"id":"/g-1/new","cmd":"sleep 1","env":{"A":"b"}}"#;
    let target = write_at(&original, "POST", "/v2/apps", body, STAMP_MS);
    let bound = deployment_bound(&cfg(), &original, &target, ROUNDS);
    let e = estimate(&original, &target);
    let orders = permutations(4);
    let sizes: Vec<u64> = orders
        .iter()
        .flat_map(|o| orders.iter().step_by(3).map(move |t| (o, t)))
        .map(|(o, t)| stored(&with_subgroups_in(&original, o), &with_subgroups_in(&target, t), SIZING_UUID, SIZING_VERSION))
        .collect();
    let worst = *sizes.iter().max().unwrap();
    assert!(bound.unknown_orders >= 2, "{bound:?}");
    // The orders do move the gzip size (the plan is compressed), so the check means something.
    assert!(sizes.iter().any(|&s| s != sizes[0]), "every order gave {}", sizes[0]);
    assert!(worst <= e + bound.bytes, "worst order {worst} > estimate {e} + bound {}", bound.bytes);
}

#[test]
fn subgroups_from_five_the_worst_sampled_order_is_covered() {
    let original = root_with_subgroups(7);
    let target = write_at(&original, "PUT", "/v2/apps/g-3/app-0", r#"{"instances": 5}"#, STAMP_MS);
    let bound = deployment_bound(&cfg(), &original, &target, ROUNDS);
    let e = estimate(&original, &target);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut worst = 0;
    for _ in 0..200 {
        let mut o: Vec<usize> = (0..7).collect();
        let mut t = o.clone();
        rng.shuffle(&mut o);
        rng.shuffle(&mut t);
        worst = worst.max(stored(&with_subgroups_in(&original, &o), &with_subgroups_in(&target, &t), SIZING_UUID, SIZING_VERSION));
    }
    assert!(worst <= e + bound.bytes, "worst order {worst} > estimate {e} + bound {}", bound.bytes);
}

#[test]
fn constraint_and_health_check_sets_of_a_written_app_are_covered() {
    let original = one_group_root(30);
    let constraints: Vec<String> =
        (0..6).map(|i| format!(r#"["attr-{i}","LIKE","value-{}-{i}"]"#, "x".repeat(i * 3))).collect();
    let checks: Vec<String> =
        (0..5).map(|i| format!(r#"{{"protocol":"HTTP","path":"/health/{i}","portIndex":0,"gracePeriodSeconds":{}}}"#, 30 + i)).collect();
    let body = format!(
        r#"{{"id":"/only/sets","cmd":"sleep 1","constraints":[{}],"healthChecks":[{}]}}"#,
        constraints.join(","),
        checks.join(",")
    );
    let target = write_at(&original, "POST", "/v2/apps", &body, STAMP_MS);
    let bound = deployment_bound(&cfg(), &original, &target, ROUNDS);
    let e = estimate(&original, &target);
    let id = PathId::parse("/only/sets");
    let mut rng = fastrand::Rng::with_seed(11);
    let mut worst = 0;
    for _ in 0..30 {
        let mut t = target.clone();
        let app = t.find_app_mut(&id).unwrap();
        rng.shuffle(app.constraints.as_mut().unwrap());
        rng.shuffle(app.health_checks.as_mut().unwrap());
        worst = worst.max(stored(&original, &t, SIZING_UUID, SIZING_VERSION));
    }
    assert_eq!(bound.unknown_orders, 1, "{bound:?}");
    assert!(worst <= e + bound.bytes, "worst order {worst} > estimate {e} + bound {}", bound.bytes);
}

#[test]
fn plan_id_and_clock_are_covered() {
    // Nothing in an unknown order: a single group of apps in the hash order of their ids.
    let original = one_group_root(30);
    let body = r#"{"id":"/only/app-0","cmd":"sleep 2"}"#;
    let target = write_at(&original, "PUT", "/v2/apps/only/app-0", body, STAMP_MS);
    let bound = deployment_bound(&cfg(), &original, &target, ROUNDS);
    assert_eq!(bound.unknown_orders, 0, "{bound:?}");
    let e = estimate(&original, &target);
    let mut rng = fastrand::Rng::with_seed(5);
    let mut worst = 0;
    for _ in 0..30 {
        let at = STAMP_MS + rng.i64(0..300_000);
        let t = write_at(&original, "PUT", "/v2/apps/only/app-0", body, at);
        let version = Timestamp::from_millis(at).to_joda();
        worst = worst.max(stored(&original, &t, &random_uuid(&mut rng), &version));
    }
    assert!(worst <= e + bound.bytes, "worst clock {worst} > estimate {e} + bound {}", bound.bytes);
    // The id and the clock are a few dozen bytes, not a flat fraction of the limit.
    assert!(bound.bytes < 200, "{bound:?}");
}

#[test]
fn the_same_write_measures_the_same_bound() {
    let original = root_with_subgroups(3);
    let target = write_at(&original, "PUT", "/v2/apps/g-0/app-0", r#"{"instances": 3}"#, STAMP_MS);
    assert_eq!(deployment_bound(&cfg(), &original, &target, 4), deployment_bound(&cfg(), &original, &target, 4));
}

#[test]
fn a_random_uuid_looks_like_java_s() {
    let u = random_uuid(&mut fastrand::Rng::with_seed(1));
    assert_eq!(u.len(), legacy::UUID_LEN);
    assert_eq!(u.matches('-').count(), 4);
    assert_eq!(&u[14..15], "4");
}

#[test]
fn replace_all_swaps_every_occurrence() {
    let mut b = b"xxABCyyABCzzAB".to_vec();
    replace_all(&mut b, b"ABC", b"123");
    assert_eq!(&b, b"xx123yy123zzAB");
}

#[test]
fn the_bound_is_the_worst_draw_above_the_estimate_plus_three_deviations_within_a_cluster() {
    // One cluster: sd of [1010, 1020, 1030] is 10.
    assert_eq!(beyond(1_000, &[1_010, 1_020, 1_030]), 30 + 30);
    // Clusters kilobytes apart (orders that pack a group against its copy, wholly or partly):
    // the distance between them does not widen it, however the draws fall.
    let upper = [188_118, 188_195, 188_190];
    let lower = [184_588, 184_628, 184_650];
    let found: Vec<u64> = lower.iter().chain(&[186_400, 186_450]).chain(&upper).copied().collect();
    let widest = deviation(&upper).max(deviation(&lower)).max(deviation(&[186_400, 186_450]));
    assert_eq!(beyond(188_189, &found), 6 + (3.0 * widest).ceil() as u64);
    assert!(beyond(188_189, &found) < 200);
    // Six draws in the better cluster and two in the worse: the same.
    let found: Vec<u64> = lower.iter().chain(&[184_600, 184_640, 184_610]).chain(&[188_150, 188_195]).copied().collect();
    assert!(beyond(188_189, &found) < 200, "{}", beyond(188_189, &found));
    // No cluster of two or more: the spread of all the draws.
    let found = [1_000, 1_100, 1_300, 1_700];
    assert_eq!(beyond(1_000, &found), 700 + (3.0 * deviation(&found)).ceil() as u64);
    assert_eq!(beyond(1_000, &[]), 0);
}

#[test]
fn a_heroku_like_root_under_a_hundred_orders_and_clocks_is_covered() {
    let original = crate::synthetic::heroku_root(300, 10);
    let body = r#"{"id":"/team-1/svc-new","cmd":"sleep 1","env":{"A":"b"}}"#;
    let target = write_at(&original, "POST", "/v2/apps", body, STAMP_MS);
    let bound = deployment_bound(&cfg(), &original, &target, ROUNDS);
    let e = estimate(&original, &target);
    let n = original.groups().len();
    let mut rng = fastrand::Rng::with_seed(3);
    let mut worst = 0;
    for _ in 0..100 {
        let mut o: Vec<usize> = (0..n).collect();
        let mut t = o.clone();
        rng.shuffle(&mut o);
        rng.shuffle(&mut t);
        let at = STAMP_MS + rng.i64(0..300_000);
        let target_at = with_subgroups_in(&write_at(&original, "POST", "/v2/apps", body, at), &t);
        let version = Timestamp::from_millis(at).to_joda();
        worst = worst.max(stored(&with_subgroups_in(&original, &o), &target_at, &random_uuid(&mut rng), &version));
    }
    assert!(worst <= e + bound.bytes, "worst {worst} > estimate {e} + bound {}", bound.bytes);
}

#[test]
fn a_plan_stored_uncompressed_has_no_bound() {
    let original = root_with_subgroups(3);
    let target = write_at(&original, "PUT", "/v2/apps/g-0/app-0", r#"{"instances": 3}"#, STAMP_MS);
    let cfg = StoreConfig { compression: false, ..cfg() };
    let bound = deployment_bound(&cfg, &original, &target, ROUNDS);
    assert_eq!((bound.bytes, bound.rounds), (0, 0), "{bound:?}");
    assert!(bound.unknown_orders >= 2, "the orders are unknown, but cost nothing: {bound:?}");
}

#[test]
fn a_stored_order_leaves_only_the_target_s_subgroups_unknown_and_covers_them() {
    // Marathon's order, read from ZooKeeper: not the id order. The apps' orders are known too.
    let original = with_subgroups_in(&root_with_subgroups(4), &[2, 0, 3, 1]);
    let body = r#"{"id":"/g-1/new","cmd":"sleep 1","env":{"A":"b"}}"#;
    let target = write_at(&original, "POST", "/v2/apps", body, STAMP_MS);
    let unknown = deployment_bound(&cfg(), &original, &target, ROUNDS);
    let known = deployment_bound_knowing(&cfg(), &original, &target, ROUNDS, OriginalOrder::Stored);
    assert_eq!(known.unknown_orders, 1, "the target's set of 4 subgroups: {known:?}");
    assert!(unknown.unknown_orders > known.unknown_orders, "{unknown:?}");
    let e = estimate(&original, &target);
    let sizes: Vec<u64> =
        permutations(4).iter().map(|t| stored(&original, &with_subgroups_in(&target, t), SIZING_UUID, SIZING_VERSION)).collect();
    assert!(sizes.iter().any(|&s| s != sizes[0]), "every order gave {}", sizes[0]);
    let worst = *sizes.iter().max().unwrap();
    assert!(worst <= e + known.bytes, "worst order {worst} > estimate {e} + bound {}", known.bytes);
}

#[test]
fn a_stored_order_of_a_root_without_subgroup_sets_leaves_only_the_id_and_clock() {
    let original = one_group_root(3);
    let body = r#"{"id":"/only/app-1","cmd":"sleep 2"}"#;
    let target = write_at(&original, "PUT", "/v2/apps/only/app-1", body, STAMP_MS);
    assert_eq!(deployment_bound(&cfg(), &original, &target, ROUNDS).unknown_orders, 2, "3 apps in each root");
    let known = deployment_bound_knowing(&cfg(), &original, &target, ROUNDS, OriginalOrder::Stored);
    assert_eq!(known.unknown_orders, 0, "{known:?}");
}

#[test]
fn a_stored_order_from_five_still_covers_the_target_s_new_hash_order() {
    let original = with_subgroups_in(&root_with_subgroups(7), &[4, 1, 6, 0, 3, 5, 2]);
    let target = write_at(&original, "PUT", "/v2/apps/g-3/app-0", r#"{"instances": 5}"#, STAMP_MS);
    let known = deployment_bound_knowing(&cfg(), &original, &target, ROUNDS, OriginalOrder::Stored);
    assert_eq!(known.unknown_orders, 1, "only the target's set of 7 is in an unknown order: {known:?}");
    let e = estimate(&original, &target);
    let mut rng = fastrand::Rng::with_seed(13);
    let mut worst = 0;
    for _ in 0..200 {
        let mut t: Vec<usize> = (0..7).collect();
        rng.shuffle(&mut t);
        worst = worst.max(stored(&original, &with_subgroups_in(&target, &t), SIZING_UUID, SIZING_VERSION));
    }
    assert!(worst <= e + known.bytes, "worst order {worst} > estimate {e} + bound {}", known.bytes);
}
