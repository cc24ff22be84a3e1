//! Against a real ZooKeeper (Debian's `zookeeper` package, started on loopback by the test).

mod common;

use common::*;
use marathon_model::{Group, PathId};
use marathon_sim::testing::ZooKeeper;
use marathon_sim::{start, SimConfig};
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
    let report = marathon_zk::zk_report(&zk.connect_string()).await.unwrap();
    assert_eq!(report.layout.as_deref(), Some("legacy"));
    let client = zk_client(&zk).await;
    let real = data_len(&client, "/marathon/state/group:root").await.unwrap() as u64;
    assert_eq!(report.root_bytes, Some(real));
    assert!(report.nodes.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    assert!(report.nodes.iter().any(|n| n.path == "app:r0"));
    sim.shutdown().await;
}
