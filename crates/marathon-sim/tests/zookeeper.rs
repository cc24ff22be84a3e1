//! Against a real ZooKeeper (Debian's `zookeeper` package, started on loopback by the test).

mod common;

use common::*;
use marathon_model::{Group, PathId};
use marathon_sim::testing::ZooKeeper;
use marathon_sim::{start, SimConfig, SimHandle, StoredOrder};
use znode_size::stored_order::StoredOrder as PersistedOrder;
use znode_size::{Estimator, StoreConfig};

async fn zk_client(zk: &ZooKeeper) -> zookeeper_client::Client {
    zookeeper_client::Client::connect(&zk.connect_string()).await.expect("zk connect")
}

async fn data_len(c: &zookeeper_client::Client, path: &str) -> Option<i32> {
    c.check_stat(path).await.expect("stat").map(|stat| stat.data_length)
}

fn env_heavy_app(id: &str, vars: usize) -> String {
    let env: Vec<String> = (0..vars).map(|i| format!(r#""VAR_{i}":"value-{i}-{id}-abcdefghijklmnopqrstuvwxyz""#)).collect();
    format!(r#"{{"id":"{id}","cmd":"sleep 1000","env":{{{}}}}}"#, env.join(","))
}

#[tokio::test]
async fn legacy_root_size_in_zookeeper_equals_the_engine_prediction() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(SimConfig { zk: Some(format!("{}/marathon", zk.connect_string())), ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    let client = zk_client(&zk).await;

    for i in 0..20 {
        let r = call(&base, "POST", "/v2/apps", env_heavy_app(&format!("/team{}/app{i}", i % 3), 60)).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        settle(&base).await;
    }
    let r = call(&base, "PUT", "/v2/apps/team0/app0", r#"{"instances":5}"#).await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    let r = call(&base, "DELETE", "/v2/apps/team1/app1", "").await;
    assert_eq!(r.status, 200);
    settle(&base).await;

    // What report --state would predict from the simulator's own GET /v2/groups.
    let root_json = get(&base, "/v2/groups?embed=group.groups&embed=group.apps").await;
    let root = Group::parse(&root_json.body).unwrap().normalized(&PathId::root()).unwrap();
    let predicted = Estimator::new(StoreConfig::marathon_1_3()).state(&root).root_bytes;
    let real = data_len(&client, "/marathon/state/group:root").await.expect("group:root exists");
    assert_eq!(real as u64, predicted, "group:root in ZooKeeper vs the engine's prediction");
    let (data, _) = client.get_data("/marathon/state/group:root").await.unwrap();
    assert_eq!(data[data.len() - 2..], [0x20, 1], "compressed: the root is past the 64 KiB threshold");

    // Versions, apps and deployments as Marathon 1.3 writes them.
    let children = client.list_children("/marathon/state").await.unwrap();
    assert!(children.iter().any(|c| c == "app:team0_app0"));
    assert!(!children.iter().any(|c| c == "app:team1_app1" || c.starts_with("app:team1_app1:")), "deleted apps are expunged");
    assert!(children.iter().filter(|c| c.starts_with("group:root:")).count() >= 20);
    assert!(children.iter().any(|c| c.starts_with("app:team0_app0:")), "app versions are stored");
    assert!(!children.iter().any(|c| c.starts_with("deployment:")), "finished plans are deleted");
    sim.shutdown().await;
}

#[tokio::test]
async fn legacy_prunes_root_versions_beyond_zk_max_versions() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(SimConfig { zk: Some(zk.connect_string()), zk_max_versions: 3, ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    for i in 0..6 {
        assert_eq!(call(&base, "POST", "/v2/apps", format!(r#"{{"id":"/a{i}","cmd":"x"}}"#)).await.status, 201);
        settle(&base).await;
    }
    let client = zk_client(&zk).await;
    let children = client.list_children("/marathon/state").await.unwrap();
    assert_eq!(children.iter().filter(|c| c.starts_with("group:root:")).count(), 3, "{children:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn plan_over_the_limit_gets_marathons_422_and_nothing_is_written() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    // A small limit makes the check bind quickly; the body is Marathon's own.
    let sim = start(SimConfig { zk: Some(zk.connect_string()), zk_max_node_size: 20_000, ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    let client = zk_client(&zk).await;
    let before = client.list_children("/marathon/state").await.unwrap().len();
    let apps: Vec<String> = (0..40).map(|i| env_heavy_app(&format!("a{i}"), 20)).collect();
    let r = call(&base, "POST", "/v2/groups", format!(r#"{{"id":"/big","apps":[{}]}}"#, apps.join(","))).await;
    assert_eq!(r.status, 422);
    let body = r.json();
    assert_eq!(body["message"], "Object is not valid");
    assert_eq!(body["details"][0]["path"], "/");
    let text = body["details"][0]["errors"][0].as_str().unwrap();
    assert!(text.starts_with("The way we persist data in ZooKeeper would exceed the maximum ZK node size (20000 bytes).\n"), "{text}");
    assert!(text.contains("--zk_max_node_size"));
    assert_eq!(client.list_children("/marathon/state").await.unwrap().len(), before, "nothing persisted");
    assert_eq!(get(&base, "/v2/groups/big").await.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn v14_root_too_big_for_zookeeper_fails_with_503_and_keeps_the_state() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(SimConfig { zk: Some(zk.connect_string()), ..SimConfig::v14() }).await.unwrap();
    let base = sim.url();
    let client = zk_client(&zk).await;
    // Long ids make the StoredGroup (references only) cross ZooKeeper's 1 MiB packet limit with a
    // few thousand apps: each reference is about 6 + len(id) + len(ts) bytes.
    let long = "x".repeat(200);
    let mut apps = Vec::new();
    for i in 0..5200 {
        apps.push(format!(r#"{{"id":"{long}{i}","cmd":"x","instances":0}}"#));
    }
    let body = format!(r#"{{"id":"/huge","apps":[{}]}}"#, apps.join(","));
    let r = call(&base, "POST", "/v2/groups", body).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["message"].is_string());
    // Nothing changed in Marathon's view; ZooKeeper kept the old root, and the client reconnects.
    assert_eq!(get(&base, "/v2/groups/huge").await.status, 404);
    let root = client.get_data("/marathon/state/group/2/root").await.unwrap();
    assert!(root.1.data_length < 1000);
    let r = call(&base, "POST", "/v2/apps", r#"{"id":"/small","cmd":"x"}"#).await;
    assert_eq!(r.status, 201, "the simulator recovers after ZooKeeper dropped the connection");
    settle(&base).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn v14_layout_paths() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(SimConfig { zk: Some(format!("{}/mara", zk.connect_string())), ..SimConfig::v14() }).await.unwrap();
    let base = sim.url();
    assert_eq!(call(&base, "POST", "/v2/apps", r#"{"id":"/prod/web","cmd":"x"}"#).await.status, 201);
    settle(&base).await;
    let client = zk_client(&zk).await;
    let app = format!("/mara/state/{}", marathon_zk::v14::app("/prod/web"));
    let versions = client.list_children(&app).await.unwrap();
    assert_eq!(versions.len(), 1);
    let (data, _) = client.get_data(&app).await.unwrap();
    let root = sim.root();
    let stored = root.find_app(&PathId::parse("/prod/web")).unwrap();
    assert_eq!(data, znode_size::service_definition_bytes(&stored.app(), znode_size::AppFlavor::V14));
    let (root_data, _) = client.get_data("/mara/state/group/2/root").await.unwrap();
    assert_eq!(root_data, znode_size::stored_group(&root));
    sim.shutdown().await;
}

#[tokio::test]
async fn zk_report_reads_real_sizes_largest_first() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(SimConfig { zk: Some(zk.connect_string()), ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    for i in 0..3 {
        assert_eq!(call(&base, "POST", "/v2/apps", env_heavy_app(&format!("/r{i}"), 10)).await.status, 201);
        settle(&base).await;
    }
    let report = marathon_zk::zk_report(&zk.connect_string(), &marathon_zk::ZkLogin::default()).await.unwrap();
    assert_eq!(report.layout.as_deref(), Some("legacy"));
    let client = zk_client(&zk).await;
    let real = data_len(&client, "/marathon/state/group:root").await.unwrap() as u64;
    assert_eq!(report.root_bytes, Some(real));
    assert!(report.nodes.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    assert!(report.nodes.iter().any(|n| n.path == "app:r0"));
    sim.shutdown().await;
}

fn marathon_ordered(zk: &ZooKeeper) -> SimConfig {
    // A low threshold gzips the root: its length then depends on the order it is written in.
    SimConfig { zk: Some(zk.connect_string()), stored_order: StoredOrder::Marathon, zk_compression_threshold: 100, ..SimConfig::default() }
}

fn sorted_by_id(mut g: Group) -> Group {
    if let Some(apps) = g.apps.as_mut() {
        apps.sort_by(|a, b| a.id().cmp(&b.id()));
    }
    if let Some(groups) = g.groups.as_mut() {
        let subs: Vec<Group> = groups.drain(..).map(sorted_by_id).collect();
        groups.extend(subs);
        groups.sort_by(|a, b| a.id.cmp(&b.id));
    }
    g
}

/// The legacy root node as the proxy reads it (a `ZKStoreEntry`, gzip when flagged, around the
/// root's `GroupDefinition`), checked against the simulator's state: same members, same order,
/// same length as the simulator's encoder gives for that state (nothing drifts).
async fn persisted_root(client: &zookeeper_client::Client, sim: &SimHandle) -> PersistedOrder {
    let (node, _) = client.get_data("/marathon/state/group:root").await.expect("group:root");
    assert_eq!(node[node.len() - 2..], [0x20, 1], "compressed: past the threshold of 100 bytes");
    let stored = PersistedOrder::from_legacy_root_node(&node).expect("a legacy root node");
    let root = sim.root();
    assert!(stored.matches(&root), "the simulator's state is in the persisted order");
    assert_eq!(node.len(), sim.sim().encoder.legacy_root_entry(&root).len(), "the persisted root is the state's");
    stored
}

/// The ids of `group`'s subgroups and apps in the order `stored` lists them.
fn persisted_members(stored: &PersistedOrder, root: &Group, group: &str) -> (Vec<String>, Vec<String>) {
    let mut copy = sorted_by_id(root.clone());
    stored.apply(&mut copy);
    assert!(stored.matches(&copy));
    let g = copy.find_group(&PathId::parse(group)).expect("group");
    let groups = g.groups().iter().map(|s| s.id.clone().unwrap()).collect();
    let apps = g.apps().iter().map(|a| a.id().unwrap().to_string()).collect();
    (groups, apps)
}

fn listed(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn marathon_order_lists_by_id_and_persists_in_insertion_order() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(marathon_ordered(&zk)).await.unwrap();
    let base = sim.url();
    for (path, body) in [
        ("/v2/groups", r#"{"id":"/b"}"#),
        ("/v2/groups", r#"{"id":"/a"}"#),
        ("/v2/apps", r#"{"id":"/g/y","cmd":"sleep 1"}"#),
        ("/v2/apps", r#"{"id":"/g/x","cmd":"sleep 1"}"#),
    ] {
        let r = call(&base, "POST", path, body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        settle(&base).await;
    }
    let shown = get(&base, "/v2/groups").await.json();
    assert_eq!(listed(&shown, "groups"), ["/a", "/b", "/g"]);
    assert_eq!(listed(&shown["groups"][2], "apps"), ["/g/x", "/g/y"]);

    let client = zk_client(&zk).await;
    let stored = persisted_root(&client, &sim).await;
    assert_eq!(persisted_members(&stored, &sim.root(), "/").0, ["/b", "/a", "/g"]);
    assert_eq!(persisted_members(&stored, &sim.root(), "/g").1, ["/g/y", "/g/x"]);

    // Marathon 1.3 re-inserts the changed app with `Group.updateApp`, whose `makeGroup` takes
    // its group out of the root's set and adds it back at the end.
    assert_eq!(call(&base, "POST", "/v2/apps", r#"{"id":"/h/z","cmd":"sleep 1"}"#).await.status, 201);
    settle(&base).await;
    assert_eq!(call(&base, "PUT", "/v2/apps/g/y", r#"{"instances":2}"#).await.status, 200);
    settle(&base).await;
    let stored = persisted_root(&client, &sim).await;
    assert_eq!(persisted_members(&stored, &sim.root(), "/").0, ["/b", "/a", "/h", "/g"]);
    assert_eq!(persisted_members(&stored, &sim.root(), "/g").1, ["/g/y", "/g/x"], "an updated app keeps its place");
    assert_eq!(listed(&get(&base, "/v2/groups").await.json(), "groups"), ["/a", "/b", "/g", "/h"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn marathon_order_reshuffles_six_subgroups_at_each_deployment() {
    let zk = ZooKeeper::start().expect("ZooKeeper");
    let sim = start(marathon_ordered(&zk)).await.unwrap();
    let base = sim.url();
    let client = zk_client(&zk).await;
    let by_id: Vec<String> = ["a", "b", "c", "d", "e", "f"].iter().map(|s| format!("/six/{s}")).collect();
    let r = call(&base, "POST", "/v2/groups", r#"{"id":"/six","groups":[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"},{"id":"e"},{"id":"f"}]}"#).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    settle(&base).await;
    let mut seen = Vec::new();
    for i in 0..3 {
        let stored = persisted_root(&client, &sim).await;
        seen.push(persisted_members(&stored, &sim.root(), "/six").0);
        assert_eq!(listed(&get(&base, "/v2/groups/six").await.json(), "groups"), by_id, "the API sorts");
        // Another deployment elsewhere: every group gets a new version.
        let r = call(&base, "POST", "/v2/apps", format!(r#"{{"id":"/other/app{i}","cmd":"sleep 1"}}"#)).await;
        assert_eq!(r.status, 201);
        settle(&base).await;
    }
    // A hash of the version orders them: each deployment is a new draw among 720 orders.
    assert!(seen.iter().any(|order| *order != by_id), "{seen:?}");
    assert!(seen.windows(2).any(|w| w[0] != w[1]), "{seen:?}");
    sim.shutdown().await;
}
