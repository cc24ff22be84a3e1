//! The proxy reading Marathon's root node from a real ZooKeeper (`[zookeeper] read`; Debian's
//! `zookeeper`, started here on 127.0.0.1), in front of the simulator persisting in Marathon's
//! order: insertion order for sets of up to 4, a hash order renewed by every deployment from 5,
//! while `GET /v2/groups` lists everything sorted by id, as Marathon's API does.
//!
//! The oracle for "the model's bytes are ZooKeeper's" is ZooKeeper's own `dataLength` of the root
//! node, read here with a client of our own.

use admission_runtime::ServeConfig;
use crate::common::*;
use marathon_model::ops::{canonical_root, Flavour};
use marathon_model::{Group, PathId, SharedApp};
use marathon_sim::testing::ZooKeeper;
use marathon_sim::{SimConfig, StoredOrder};
use zookeeper_client as zkc;
use znode_size::{Estimator, StoreConfig};

const STAMP: &str = "2017-03-01T10:00:00.000Z";

fn app(id: &str) -> SharedApp {
    let env: serde_json::Map<String, serde_json::Value> =
        (0..80).map(|i| (format!("VAR_{i:03}"), serde_json::json!(format!("{id}-value-{i}-0123456789")))).collect();
    let json = serde_json::json!({"id": id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 32.0, "env": env, "version": STAMP});
    SharedApp::new(marathon_model::App::parse(json.to_string().as_bytes()).unwrap())
}

/// A group holding `subgroups` (in this insertion order) and, when `apps` is given, these apps
/// (in this insertion order).
fn group(id: &str, subgroups: Vec<Group>, apps: &[&str]) -> Group {
    let mut g = Group { version: Some(STAMP.into()), ..Group::empty(&PathId::parse(id)) };
    g.groups = Some(subgroups);
    g.apps = Some(apps.iter().map(|a| app(&format!("{id}/{a}"))).collect());
    g
}

/// Teams created out of id order, each with services out of id order and 2-3 apps out of id
/// order; with `wide`, a group of 6 subgroups too (stored in a hash order). Apps of 80 env vars:
/// the root node is over the compression threshold, so the order changes its size.
fn state(wide: bool) -> Group {
    let team = |t: &str| {
        let services = ["web", "api", "db"].iter().map(|s| group(&format!("/{t}/{s}"), vec![], &["worker", "server", "cron"][..2 + (s.len() % 2)])).collect();
        group(&format!("/{t}"), services, &[])
    };
    let mut top: Vec<Group> = ["zeta", "alpha", "mid"].into_iter().map(team).collect();
    if wide {
        let shards = (0..6).rev().map(|i| group(&format!("/wide/shard-{i}"), vec![], &["b", "a"])).collect();
        top.push(group("/wide", shards, &[]));
    }
    let mut root = Group { version: Some(STAMP.into()), ..Group::empty_root() };
    root.groups = Some(top);
    canonical_root(root, Flavour::V13)
}

struct World {
    zk: ZooKeeper,
    sim: marathon_sim::SimHandle,
}

async fn world(wide: bool) -> World {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    world_on(zk, wide, marathon_zk::ZkLogin::default()).await
}

/// The world on `zk`, the simulator logging in with `login`.
async fn world_on(zk: ZooKeeper, wide: bool, login: marathon_zk::ZkLogin) -> World {
    let sim = marathon_sim::start(SimConfig {
        state: Some(state(wide)),
        zk: Some(format!("{}/marathon", zk.connect_string())),
        zk_login: login,
        stored_order: StoredOrder::Marathon,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    World { zk, sim }
}

/// A proxy in front of the world's simulator; reading its ZooKeeper when `read`.
async fn proxy(w: &World, read: bool, admission: &str) -> RunningProxy {
    proxy_logged_in(w, read.then_some(""), admission).await
}

/// A proxy in front of the world's simulator; reading its ZooKeeper with the `[zookeeper]` login
/// lines `read` when given.
async fn proxy_logged_in(w: &World, read: Option<&str>, admission: &str) -> RunningProxy {
    let mut config = test_config(&[w.sim.url()]);
    config.admission = Some(format!("audit_log = \"off\"\n{admission}").parse().unwrap());
    if let Some(login) = read {
        config.zookeeper = Some(format!("read = \"{}/marathon\"\n{login}", w.zk.connect_string()).parse().unwrap());
    }
    let serve = ServeConfig::from_proxy_config(config).unwrap();
    let marathon = proxy::MarathonClient::new(&serve.proxy).unwrap();
    let admission = admission_runtime::start_admission(&serve, &marathon);
    let p = start_proxy_sharing(serve.proxy, admission, marathon).await;
    wait_ready(&p).await;
    p
}

/// ZooKeeper's `dataLength` of the legacy root node and the stored root's version.
async fn stored_root(w: &World) -> (u64, String) {
    let client = zkc::Client::connect(&w.zk.connect_string()).await.unwrap();
    let (data, stat) = client.get_data("/marathon/state/group:root").await.unwrap();
    let order = znode_size::stored_order::StoredOrder::from_legacy_root_node(&data).unwrap();
    (stat.data_length as u64, order.version)
}

/// `/readyz`'s `detail.zookeeper_read`.
async fn zk_read(p: &RunningProxy) -> serde_json::Value {
    let (_, _, body) = fetch(&client(), get(&p.admin_url("/readyz"))).await;
    json(&body)["detail"]["zookeeper_read"].clone()
}

async fn until_the_model_matches_zookeeper(p: &RunningProxy, what: &str) -> serde_json::Value {
    eventually(what, || async {
        let z = zk_read(p).await;
        if z["order_from_zookeeper"] == true && z["estimate_error_bytes"] == 0 {
            Ok(z)
        } else {
            Err(z.to_string())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_holds_zookeeper_s_bytes_once_it_reads_the_stored_order() {
    let w = world(true).await;
    let (data_length, _) = stored_root(&w).await;
    // What the API shows (sorted by id) does not encode to the stored bytes: the order matters here.
    let (_, _, listed) = fetch(&client(), get(&format!("{}/v2/groups?embed=group.groups&embed=group.apps", w.sim.url()))).await;
    let by_id = canonical_root(Group::parse(&listed).unwrap().normalized(&PathId::root()).unwrap(), Flavour::V13);
    let est = Estimator::new(StoreConfig::marathon_1_3());
    assert_ne!(est.state(&by_id).root_bytes, data_length, "the stored order changes nothing in this state: the test would prove nothing");

    let p = proxy(&w, true, "").await;
    let z = until_the_model_matches_zookeeper(&p, "the model's root is ZooKeeper's to the byte").await;
    assert_eq!(z["state"], "reading", "{z}");

    // Each deployment moves the stored order (a new subgroup appended, the 6 shards reshuffled):
    // the model follows, through the watch on the root node.
    let c = client();
    for (i, (path, body)) in [
        ("/v2/apps", r#"{"id":"/alpha/new/app","cmd":"sleep 1"}"#.to_string()),
        ("/v2/apps", r#"{"id":"/wide/shard-3/c","cmd":"sleep 1"}"#.to_string()),
        ("/v2/groups", r#"{"id":"/mid/cache","apps":[{"id":"z","cmd":"sleep 1"},{"id":"y","cmd":"sleep 1"}]}"#.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let before = stored_root(&w).await.1;
        let (status, _, answer) = fetch(&c, req("POST", &p.url(path), &body)).await;
        assert_eq!(status, 201, "write {i}: {}", String::from_utf8_lossy(&answer));
        let after = stored_root(&w).await.1;
        assert_ne!(before, after, "write {i} did not reach ZooKeeper");
        until_the_model_matches_zookeeper(&p, &format!("after write {i}, the model's root is ZooKeeper's again")).await;
    }
}

/// What `check` says of `write` on this proxy.
async fn check(p: &RunningProxy, write: &str) -> serde_json::Value {
    let (_, _, body) = fetch(&client(), req("POST", &p.url("/admission/v1/check?method=POST&path=/v2/apps"), write)).await;
    json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_starts_from_the_root_zookeeper_holds() {
    let w = world(false).await;
    let (data_length, _) = stored_root(&w).await;
    let write = r#"{"id":"/alpha/web/extra","cmd":"sleep 1","env":{"A":"b"}}"#;
    let guessing = proxy(&w, false, "warm = false").await;
    let reading = proxy(&w, true, "warm = false").await;
    until_the_model_matches_zookeeper(&reading, "the model's root is ZooKeeper's to the byte").await;
    let (guessed, read) = (check(&guessing, write).await, check(&reading, write).await);
    assert_eq!(read["current_root_bytes"], data_length, "{read}");
    assert_ne!(guessed["current_root_bytes"], data_length, "the API's order is worth bytes here, or this test shows nothing: {guessed}");
    // The plans differ by what the original's order is worth (in this state, a few hundred bytes).
    assert_ne!(read["binding_bytes"], guessed["binding_bytes"]);
}

/// An ensemble that takes SASL logins only (Marathon logs in through its JAAS `Client` section):
/// the proxy reads the root node with the `[zookeeper]` login and holds ZooKeeper's bytes; with a
/// wrong password it says so on `/readyz` (without the password) and decides as without the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_node_is_read_with_the_zookeeper_tables_login() {
    let zk = ZooKeeper::start_requiring_sasl("marathon", "s3cret-zk").expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let w = world_on(zk, true, marathon_zk::ZkLogin::new("zookeeper", None, Some("marathon:s3cret-zk".into())).unwrap()).await;
    let reading = proxy_logged_in(&w, Some("sasl_digest_md5 = \"marathon:s3cret-zk\""), "").await;
    let z = until_the_model_matches_zookeeper(&reading, "the model's root is ZooKeeper's to the byte, read with the login").await;
    assert_eq!(z["state"], "reading", "{z}");

    let refused = proxy_logged_in(&w, Some("sasl_digest_md5 = \"marathon:not-the-pass-7Q\""), "").await;
    let z = eventually("the proxy with a wrong password says it cannot read", || async {
        let z = zk_read(&refused).await;
        if z["state"] == "unavailable" && z["error"].as_str().is_some_and(|e| e.contains("authentication failed")) { Ok(z) } else { Err(z.to_string()) }
    })
    .await;
    assert!(!z.to_string().contains("not-the-pass-7Q"), "the password reached /readyz: {z}");
    let (status, _, body) = fetch(&client(), req("POST", &refused.url("/v2/apps"), r#"{"id":"/alpha/more","cmd":"sleep 1"}"#)).await;
    assert_eq!(status, 201, "decided without the read: {}", String::from_utf8_lossy(&body));
}
