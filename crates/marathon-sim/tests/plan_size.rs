//! Marathon 1.3's plan-size check through the REST surface: the 422 comes exactly when the
//! measured plan entry reaches `--zk_max_node_size`.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use marathon_sim::testing::ZooKeeper;
use marathon_sim::{start, SimConfig};

/// Posts `body` to a fresh 1.3 simulator with `--zk_max_node_size limit`: the status and the plan
/// entry length the check measured.
async fn post_group(limit: u64, body: &str) -> (u16, u64) {
    let sim = start(SimConfig { zk_max_node_size: limit, ..SimConfig::default() }).await.unwrap();
    let status = call(&sim.url(), "POST", "/v2/groups", body.to_string()).await.status;
    let measured = sim.sim().counters.last_plan_bytes.load(Ordering::Relaxed);
    sim.shutdown().await;
    (status, measured)
}

/// An uncompressed plan (every timestamp has 24 chars, every plan id 36) measures the same on
/// each run, so the limit can be set to its exact length.
#[tokio::test]
async fn the_422_starts_exactly_at_the_measured_length() {
    let body = r#"{"id":"/shop","apps":[{"id":"web","cmd":"sleep 1"},{"id":"db","cmd":"sleep 1","instances":2}],
        "groups":[{"id":"jobs","apps":[{"id":"a","cmd":"x"},{"id":"b","cmd":"x"},{"id":"c","cmd":"x"},{"id":"d","cmd":"x"},{"id":"e","cmd":"x"}]}]}"#;
    let (status, len) = post_group(1_024_000, body).await;
    assert_eq!(status, 201);
    assert!(len > 500, "{len} bytes");
    assert_eq!(post_group(len, body).await, (422, len));
    assert_eq!(post_group(len + 1, body).await, (201, len));
}

/// The entry the check measures is the plan node the simulator then writes to ZooKeeper (here a
/// gzipped one: the plan is past the 64 KiB threshold), with the limit close enough for the
/// validator to judge (within 2% of it; further away the encoder's length stands).
#[tokio::test]
async fn the_measured_entry_is_the_plan_node_in_zookeeper() {
    let apps: Vec<String> = (0..30)
        .map(|i| {
            let env: Vec<String> = (0..40).map(|j| format!(r#""VAR_{j}":"value-{j}-app{i}-abcdefghijklmnopqrstuvwxyz""#)).collect();
            format!(r#"{{"id":"app{i}","cmd":"sleep 1","env":{{{}}}}}"#, env.join(","))
        })
        .collect();
    let body = format!(r#"{{"id":"/big","apps":[{}]}}"#, apps.join(","));
    let (_, far) = post_group(1_024_000, &body).await;
    let zk = ZooKeeper::start().expect("ZooKeeper");
    // The deployment stays listed, so its node stays in ZooKeeper.
    let config = SimConfig { zk: Some(zk.connect_string()), deploy_delay: Duration::from_secs(3600), zk_max_node_size: far + far / 100, ..SimConfig::default() };
    let sim = start(config).await.unwrap();
    let r = call(&sim.url(), "POST", "/v2/groups", body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let plan_id = r.json()["deploymentId"].as_str().expect("deploymentId").to_string();

    let client = zookeeper_client::Client::connect(&zk.connect_string()).await.expect("zk connect");
    let (node, _) = client.get_data(&format!("/marathon/state/deployment:{plan_id}")).await.expect("plan node");
    assert_eq!(node[node.len() - 2..], [0x20, 1], "compressed");
    assert_eq!(sim.sim().counters.last_plan_bytes.load(Ordering::Relaxed), node.len() as u64);
    sim.shutdown().await;
}
