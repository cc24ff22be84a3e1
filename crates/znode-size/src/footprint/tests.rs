//! Each figure recomputed independently: the nodes built byte for byte with the functions the
//! simulator writes ZooKeeper with, multiplied by the counts Marathon's rules allow.

use marathon_model::{Group, PathId};

use super::*;
use crate::{legacy_app_entry, legacy_plan_entry, legacy_root_entry, service_definition_bytes, stored_group, stored_plan, AppFlavor};

const V: &str = "2017-01-01T00:00:00.000Z";

fn root(json: serde_json::Value) -> Group {
    Group::parse(json.to_string().as_bytes()).unwrap().normalized(&PathId::root()).unwrap()
}

/// Four apps in two groups; `/a/big`'s command is `cmd_len` bytes, and the last app's id is long
/// enough that `:<version>` makes its node name's length a 2-byte varint.
fn four_apps(cmd_len: usize) -> Group {
    root(serde_json::json!({"id": "/", "version": V, "groups": [
        {"id": "/a", "version": V, "apps": [
            {"id": "/a/web", "cmd": "sleep 1", "version": V, "env": {"A": "1", "B": "2"}},
            {"id": "/a/big", "cmd": "y".repeat(cmd_len), "version": V},
        ]},
        {"id": "/b", "version": V, "apps": [
            {"id": "/b/db", "cmd": "db", "version": V},
            {"id": format!("/b/{}", "l".repeat(100)), "cmd": "db", "version": V},
        ]},
    ]}))
}

fn sum(items: impl Iterator<Item = usize>) -> u64 {
    items.map(|n| n as u64).sum()
}

/// The legacy `app:<safePath><suffix>` entries of every app of `root`, built in full.
fn legacy_app_nodes(root: &Group, cfg: &StoreConfig, suffix: &str) -> u64 {
    sum(root.transitive_apps().into_iter().map(|a| {
        let name = format!("app:{}{suffix}", PathId::parse(a.id().unwrap()).safe_path());
        legacy_app_entry(&a.app(), &name, SIZING_UUID, cfg).len()
    }))
}

#[test]
fn legacy_counts_the_newest_versions_of_the_root_and_of_each_app_and_every_pending_plan() {
    let cfg = StoreConfig::marathon_1_3();
    let root = four_apps(10);
    let uuid = SIZING_UUID;
    let encoded = Estimator::new(cfg.clone()).encode(&root).to_bytes();
    let root_node = legacy_root_entry(&root, uuid, &cfg).len();
    let root_copy = legacy::entry(&format!("group:root:{V}"), uuid, &encoded, &cfg).len();
    let app_nodes = legacy_app_nodes(&root, &cfg, "");
    let app_copies = legacy_app_nodes(&root, &cfg, &format!(":{V}"));
    let plan = legacy_plan_entry(uuid, V, &root, &root, &cfg).len() as u64;

    let f = footprint(&root, &cfg, Some(2));
    assert_eq!((f.zk_max_versions, f.kept_versions), (25, 25), "Marathon 1.3's --zk_max_versions");
    let got: Vec<(u64, u64)> = f.items.iter().map(|i| (i.nodes, i.bytes)).collect();
    assert_eq!(
        got,
        vec![
            (1, root_node as u64),
            (25, 25 * root_copy as u64),
            (4, app_nodes),
            (100, 25 * app_copies),
            (2, 2 * plan),
        ]
    );
    assert_eq!(root_copy, root_node + 25, "a copy's name carries `:<version>`");
    assert_eq!(f.total_bytes, got.iter().map(|g| g.1).sum::<u64>());
    assert_eq!(app_copies, app_nodes + 3 * 25 + 26, "a name of 128 bytes or more takes a 2-byte length");
    assert_eq!(f.total_nodes, 1 + 25 + 4 + 100 + 2);
    assert_eq!(f.item(Part::Plans).nodes_named, "deployment:<uuid>");
}

#[test]
fn a_legacy_app_above_the_threshold_is_counted_gzipped() {
    let cfg = StoreConfig::marathon_1_3();
    let root = four_apps(70_000);
    let nodes = legacy_app_nodes(&root, &cfg, "");
    assert!(nodes < 10_000, "gzipped: {nodes}");
    let f = footprint(&root, &cfg, None);
    assert_eq!(f.item(Part::Services).bytes, nodes);
    assert_eq!(f.item(Part::ServiceVersions).bytes, 25 * legacy_app_nodes(&root, &cfg, &format!(":{V}")));
}

/// A 1.4 root: two apps and the pod `/b/p`.
fn with_pod() -> Group {
    let mut json = serde_json::json!({"id": "/", "version": V, "groups": [
        {"id": "/a", "version": V, "apps": [{"id": "/a/web", "cmd": "sleep 1", "version": V}]},
        {"id": "/b", "version": V, "apps": [{"id": "/b/db", "cmd": "db", "version": V}]},
    ]});
    json["groups"][1]["pods"] = serde_json::json!([{"id": "/b/p", "version": V, "containers": [{"name": "c", "resources": {"cpus": 1, "mem": 64}}]}]);
    root(json)
}

#[test]
fn on_1_4_the_gc_keeps_what_pending_plans_refer_to() {
    let mut cfg = StoreConfig::marathon_1_4();
    let root = with_pod();
    let apps = sum(root.transitive_apps().into_iter().map(|a| service_definition_bytes(&a.app(), AppFlavor::V14).len()));
    let pod = serde_json::to_vec(&root.find_pod(&PathId::parse("/b/p")).unwrap()).unwrap().len() as u64;
    let root_node = stored_group(&root).len() as u64;
    let plan = stored_plan(SIZING_UUID, V, V, V).len() as u64;

    let f = footprint(&root, &cfg, Some(0));
    assert_eq!(f.kept_versions, 50, "Marathon 1.4's --zk_max_versions, nothing pending");
    assert_eq!(f.item(Part::Root).bytes, root_node);
    assert_eq!(f.item(Part::RootVersions).bytes, 50 * root_node, "a copy is the same bytes");
    assert_eq!((f.item(Part::Services).nodes, f.item(Part::Services).bytes), (3, apps + pod));
    assert_eq!(f.item(Part::ServiceVersions).bytes, 50 * (apps + pod));
    assert_eq!(f.item(Part::Plans).nodes, 0);

    // Four pending plans refer to up to 8 roots besides the current one, more than 3 versions:
    // all 9 stay, and each pending deployment stored one copy since the GC last ran.
    cfg.zk_max_versions = 3;
    let f = footprint(&root, &cfg, Some(4));
    assert_eq!(f.kept_versions, 9 + 4);
    assert_eq!(f.item(Part::RootVersions).nodes, 13);
    assert_eq!(f.item(Part::ServiceVersions).nodes, 13 * 3);
    assert_eq!((f.item(Part::Plans).nodes, f.item(Part::Plans).bytes), (4, 4 * plan));
    assert!(plan < 120, "a StoredPlan holds versions only: {plan}");
}

#[test]
fn the_kept_versions_follow_each_layouts_rule() {
    for (layout, n, p, want) in [
        (Layout::Legacy, 25, 0, 25),
        (Layout::Legacy, 25, 7, 25),
        (Layout::V14, 50, 0, 50),
        (Layout::V14, 50, 3, 53),
        (Layout::V14, 3, 4, 13),
        (Layout::V14, 0, 0, 1),
    ] {
        assert_eq!(kept_versions(layout, n, p), want, "{layout:?} zk_max_versions {n}, {p} pending");
    }
}

#[test]
fn unknown_pending_deployments_count_no_plan_and_say_so() {
    let f = footprint(&four_apps(10), &StoreConfig::marathon_1_3(), None);
    let plans = f.item(Part::Plans);
    assert_eq!((plans.nodes, plans.bytes), (0, 0));
    assert!(plans.rule.contains("not known"), "{}", plans.rule);
    assert!(f.item(Part::RootVersions).rule.contains("v1.3.14"), "the rule names its source");
}

#[test]
fn the_current_nodes_from_a_state_estimate_are_those_of_the_root() {
    let cfg = StoreConfig::marathon_1_3();
    let root = four_apps(10);
    let est = Estimator::new(cfg.clone());
    let from_state = CurrentNodes::from_estimate(&root, &est.encode(&root), &est.state(&root), &cfg);
    assert_eq!(from_state, CurrentNodes::of_root(&root, &cfg), "the plan is computed when the estimate has none");
}
