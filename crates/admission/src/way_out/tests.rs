use marathon_model::{Group, PathId};
use serde_json::{json, Value};
use znode_size::{Layout, StoreConfig};

use super::*;

/// An app with `env` plain variables of random-looking values (`seed` varies them).
fn app(id: &str, instances: u32, env: usize, seed: u64, changed: &str) -> Value {
    let vars: serde_json::Map<String, Value> = (0..env)
        .map(|i| (format!("VAR_{i:03}"), json!(format!("{:016x}{:016x}", hash(seed, i as u64), hash(seed + 1, i as u64)))))
        .collect();
    json!({
        "id": id, "cmd": "bin/start", "instances": instances, "cpus": 0.1, "mem": 64, "env": vars,
        "version": changed, "versionInfo": {"lastScalingAt": changed, "lastConfigChangeAt": changed}
    })
}

fn hash(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

fn root(groups: Value) -> Group {
    let v = json!({"id": "/", "apps": [], "groups": groups, "version": "2017-01-01T00:00:00.000Z"});
    Group::parse(v.to_string().as_bytes()).unwrap().normalized(&PathId::root()).unwrap()
}

fn group(id: &str, apps: Vec<Value>) -> Value {
    json!({"id": id, "apps": apps, "groups": [], "version": "2017-01-01T00:00:00.000Z"})
}

const OLD: &str = "2015-01-01T00:00:00.000Z";
const NEW: &str = "2017-06-01T00:00:00.000Z";

/// Uncompressed legacy store: frees are raw bytes, easy to reason about.
fn raw_store() -> StoreConfig {
    StoreConfig { compression: false, ..StoreConfig::marathon_1_3() }
}

fn plan_for(root: &Group, store: &StoreConfig, target: u64, protect: &[PathId]) -> Plan {
    plan(&Request { root, store, target_bytes: target, protect, max_steps: None, known_binding: None })
}

/// Replays the plan on the root with the exact estimator: the final binding is the plan's, at
/// most the target, and every step frees something.
fn verify(root: &Group, store: &StoreConfig, p: &Plan) {
    let mut r = root.clone();
    assert_eq!(binding_bytes(&r, store), p.binding_bytes);
    let mut before = p.binding_bytes;
    for (i, s) in p.steps.iter().enumerate() {
        assert!(s.frees_bytes > 0, "step {i} frees nothing: {s:?}");
        apply_step(&mut r, s.action, &s.id);
        let now = binding_bytes(&r, store);
        assert!(now < before, "step {i} ({s:?}) did not shrink the binding node: {before} -> {now}");
        if i < EXACT_STEPS {
            assert_eq!(now, s.binding_bytes_after, "step {i} is measured exactly");
            assert_eq!(s.frees_bytes, before - now, "step {i}");
        }
        before = now;
    }
    assert_eq!(before, p.steps.last().map_or(p.binding_bytes, |s| s.binding_bytes_after), "the plan's end is exact");
    assert_eq!(p.reached, before <= p.target_bytes);
}

#[test]
fn nothing_to_do_under_the_target() {
    let r = root(json!([group("/a", vec![app("/a/x", 1, 3, 1, NEW)])]));
    let store = raw_store();
    let b = binding_bytes(&r, &store);
    let p = plan_for(&r, &store, b, &[]);
    assert!(p.reached && p.steps.is_empty());
    assert_eq!((p.binding_bytes, p.target_bytes, p.limit_bytes), (b, b, 1_024_000));
}

#[test]
fn idle_apps_first_then_environments_then_the_oldest_running_apps() {
    let r = root(json!([
        group("/svc", vec![
            app("/svc/idle", 0, 30, 1, NEW),
            app("/svc/env-heavy", 2, 40, 2, OLD),
            app("/svc/old", 2, 2, 3, OLD),
            app("/svc/new", 2, 2, 4, NEW),
        ]),
    ]));
    let store = raw_store();
    let p = plan_for(&r, &store, 0, &[]);
    let order: Vec<(Action, &str)> = p.steps.iter().map(|s| (s.action, s.id.as_str())).collect();
    assert_eq!(order[0], (Action::DeleteApp, "/svc/idle"), "{order:?}");
    assert_eq!(order[1], (Action::ClearEnv, "/svc/env-heavy"), "{order:?}");
    let old = order.iter().position(|s| *s == (Action::DeleteApp, "/svc/old")).unwrap();
    let new = order.iter().position(|s| *s == (Action::DeleteApp, "/svc/new")).unwrap();
    assert!(old < new, "unchanged for longest goes first: {order:?}");
    // A running app's environment is moved out before the app itself is deleted.
    let deleted = order.iter().position(|s| *s == (Action::DeleteApp, "/svc/env-heavy")).unwrap();
    assert!(deleted > 1, "{order:?}");
    assert!(!p.reached, "a target of 0 cannot be reached");
    verify(&r, &store, &p);
}

#[test]
fn the_plan_stops_at_the_target_with_the_fewest_steps() {
    let apps: Vec<Value> = (0..30).map(|i| app(&format!("/fleet/a{i:02}"), 1, 5 + i % 7, i as u64, NEW)).collect();
    let r = root(json!([group("/fleet", apps)]));
    let store = raw_store();
    let b = binding_bytes(&r, &store);
    let target = b * 55 / 100;
    let p = plan_for(&r, &store, target, &[]);
    assert!(p.reached, "{p:?}");
    verify(&r, &store, &p);
    // Without its last step the target is not reached: no step too many.
    let mut shorter = r.clone();
    for s in &p.steps[..p.steps.len() - 1] {
        apply_step(&mut shorter, s.action, &s.id);
    }
    assert!(binding_bytes(&shorter, &store) > target);
    // Largest first among equals: no later deletion frees more than an earlier one by much.
    let frees: Vec<u64> = p.steps.iter().map(|s| s.frees_bytes).collect();
    assert!(frees.windows(2).all(|w| w[1] <= w[0] + 16), "{frees:?}");
}

#[test]
fn a_group_where_nothing_runs_goes_in_one_step() {
    let idle: Vec<Value> = (0..8).map(|i| app(&format!("/batch/job-{i}"), 0, 4, i, OLD)).collect();
    let r = root(json!([group("/batch", idle), group("/web", vec![app("/web/a", 3, 4, 99, NEW)])]));
    let store = raw_store();
    let b = binding_bytes(&r, &store);
    let p = plan_for(&r, &store, b / 2, &[]);
    assert_eq!(p.steps[0].action, Action::DeleteGroup);
    assert_eq!(p.steps[0].id, "/batch");
    assert!(p.steps.iter().all(|s| !s.id.starts_with("/batch/")), "{:?}", p.steps);
    verify(&r, &store, &p);
}

#[test]
fn protected_prefixes_are_never_touched() {
    let r = root(json!([
        group("/prod", vec![app("/prod/huge", 0, 80, 1, OLD), app("/prod/api", 2, 60, 2, OLD)]),
        group("/dev", vec![app("/dev/a", 1, 5, 3, NEW), app("/dev/b", 0, 5, 4, NEW)]),
    ]));
    let store = raw_store();
    let protect = [PathId::parse("/prod")];
    let p = plan_for(&r, &store, 0, &protect);
    assert!(!p.steps.is_empty());
    for s in &p.steps {
        let id = PathId::parse(&s.id);
        assert!(!protect[0].includes(&id) && !id.includes(&protect[0]), "touches /prod: {s:?}");
    }
    assert!(!p.reached);
    verify(&r, &store, &p);
    // Unprotected, the idle giant is the first step.
    let p = plan_for(&r, &store, 0, &[]);
    assert_eq!((p.steps[0].action, p.steps[0].id.as_str()), (Action::DeleteApp, "/prod/huge"));
}

/// Compressed: near-duplicate apps free a fraction of their JSON; an app of random values
/// frees about its compressed size, so it goes first.
#[test]
fn compressed_frees_follow_the_persisted_encoding() {
    let mut apps: Vec<Value> = (0..120).map(|i| app(&format!("/dup/a{i:03}"), 1, 20, 7, NEW)).collect();
    apps.push(app("/dup/u", 1, 20, 12345, NEW));
    // Same env values in every `a`, differing ids: near-duplicates.
    let r = root(json!([group("/dup", apps)]));
    let store = StoreConfig::marathon_1_3();
    let b = binding_bytes(&r, &store);
    let raw = znode_size::Estimator::new(store.clone()).encode(&r).len() as u64;
    assert!(b < raw, "the plan is compressed ({b} vs {raw} raw per copy)");
    let p = plan_for(&r, &store, b - 1, &[]);
    assert!(p.reached);
    verify(&r, &store, &p);
    assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
    // The unique app frees the most (its environment first: it runs).
    assert_eq!((p.steps[0].action, p.steps[0].id.as_str()), (Action::ClearEnv, "/dup/u"), "{:?}", p.steps);
    let json_len = serde_json::to_string(&app("/dup/a000", 1, 20, 7, NEW)).unwrap().len() as u64;
    let p = plan_for(&r, &store, b / 2, &[]);
    verify(&r, &store, &p);
    let dup_deletes: Vec<&Step> = p.steps.iter().filter(|s| s.action == Action::DeleteApp && s.id.starts_with("/dup/a")).collect();
    assert!(!dup_deletes.is_empty(), "{:?}", p.steps);
    for s in dup_deletes.iter().take(EXACT_STEPS) {
        assert!(s.frees_bytes < json_len / 2, "a near-duplicate frees {} of its {json_len}-byte JSON", s.frees_bytes);
    }
}

/// Past Marathon's own limit every deployment is refused unless it fits itself: the first step
/// frees enough at once, even though a smaller idle app ranks first otherwise.
#[test]
fn past_the_limit_the_first_step_is_one_marathon_can_store() {
    let mut apps: Vec<Value> = (0..20).map(|i| app(&format!("/g/a{i:02}"), 1, 8, i as u64, NEW)).collect();
    apps.push(app("/g/idle", 0, 40, 77, OLD));
    apps.push(app("/g/config-heavy", 1, 120, 78, NEW));
    let r = root(json!([group("/g", apps)]));
    let probe = raw_store();
    let b = binding_bytes(&r, &probe);
    let store = StoreConfig { zk_max_node_size: b - 2_500, ..probe.clone() };
    let estimator = znode_size::Estimator::new(store.clone());
    assert!(!estimator.deployment(&r, &r).accepted);
    // Unbounded, the idle app goes first...
    let p = plan_for(&r, &probe, b - 100, &[]);
    assert_eq!(p.steps[0].id, "/g/idle");
    // ...past the limit, the first step is one whose deployment Marathon stores.
    let p = plan_for(&r, &store, b - 8_000, &[]);
    verify(&r, &store, &p);
    let mut first = r.clone();
    apply_step(&mut first, p.steps[0].action, &p.steps[0].id);
    assert!(estimator.deployment(&r, &first).accepted, "{:?}", p.steps[0]);
    assert_eq!(p.steps[0].id, "/g/config-heavy", "{:?}", p.steps);
}

#[test]
fn on_1_4_only_references_count_and_environments_stay() {
    let r = root(json!([group("/g", vec![app("/g/a", 2, 50, 1, NEW), app("/g/b", 0, 1, 2, OLD), app("/g/c", 2, 1, 3, OLD)])]));
    let store = StoreConfig::marathon_1_4();
    assert_eq!(store.layout, Layout::V14);
    let b = binding_bytes(&r, &store);
    let p = plan_for(&r, &store, b - 1, &[]);
    assert!(p.reached);
    assert!(p.steps.iter().all(|s| s.action != Action::ClearEnv));
    assert_eq!(p.steps[0].id, "/g/b", "the idle app");
    verify(&r, &store, &p);
}

#[test]
fn a_rejection_needs_only_the_first_steps() {
    let apps: Vec<Value> = (0..20).map(|i| app(&format!("/f/a{i:02}"), 1, 6, i as u64, NEW)).collect();
    let r = root(json!([group("/f", apps)]));
    let store = raw_store();
    let req = Request { root: &r, store: &store, target_bytes: 0, protect: &[], max_steps: Some(3), known_binding: None };
    let p = plan(&req);
    assert_eq!(p.steps.len(), 3);
    verify(&r, &store, &p);
    let known = plan(&Request { known_binding: Some(p.binding_bytes), ..req });
    assert_eq!(known, p);
}

#[test]
fn the_target_for_a_rejected_write_leaves_room_for_its_growth() {
    let t = target_for_write(1_013_760, 900_000, 1_020_000);
    assert!(t + 120_000 < 1_013_760 && t > 1_013_760 - 120_000 - 3_000, "{t}");
    assert_eq!(target_for_write(1000, 500, 400), 1000 - 65);
    assert_eq!(target_for_write(100, 0, 10_000), 0);
}

#[test]
fn steps_say_what_to_send() {
    let s = Step { action: Action::ClearEnv, id: "/a/b".into(), frees_bytes: 10, binding_bytes_after: 5 };
    assert_eq!(s.request(), ("PUT", "/v2/apps/a/b".to_string(), Some(r#"{"env":{}}"#)));
    assert!(s.describe().contains("/a/b") && s.describe().contains("frees 10 bytes"));
    let v = serde_json::to_value(Plan { binding_bytes: 1, target_bytes: 2, limit_bytes: 3, reached: true, steps: vec![s] }).unwrap();
    assert_eq!(v["steps"][0]["action"], "clear_env");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["binding_bytes", "target_bytes", "limit_bytes", "reached", "steps"]);
    let step_keys: Vec<&str> = v["steps"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(step_keys, ["action", "id", "frees_bytes", "binding_bytes_after"]);
}

/// 10,000 heroku-like apps (a plan of about 666 KB) down to half of that, thousands of
/// deletions: the plan reaches the target, and applying it lands where it says. Slow in a debug
/// build, hence ignored (run in release:
/// `cargo test --release -p admission -- --ignored ten_thousand`). How fast it plans is for a
/// benchmark to measure, not for a test to assert.
#[test]
#[ignore]
fn ten_thousand_apps_reach_half() {
    let r = znode_size::synthetic::heroku_root(10_000, 1);
    let store = StoreConfig::marathon_1_3();
    let target = binding_bytes(&r, &store) / 2;
    let p = plan_for(&r, &store, target, &[]);
    assert!(p.reached, "binding {} -> target {target}: {} steps", p.binding_bytes, p.steps.len());
    let mut after = r.clone();
    for s in &p.steps {
        apply_step(&mut after, s.action, &s.id);
    }
    assert_eq!(binding_bytes(&after, &store), p.steps.last().unwrap().binding_bytes_after);
}
