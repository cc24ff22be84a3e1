//! `report --zk` reads the real node sizes from ZooKeeper, and they agree with what
//! `report --state` predicts from the same Marathon's `GET /v2/groups`: the size engine checked
//! against bytes a real ZooKeeper holds (written by the simulator, as Marathon 1.3 writes them).

use std::process::Command;

use marathon_sim::testing::ZooKeeper;
use marathon_sim::SimConfig;
use serde_json::Value;

fn report(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_marathon-admission")).arg("report").arg("--json").args(args).output().unwrap();
    assert!(out.status.success(), "report {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_sizes_match_the_prediction_from_the_state() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/marathon/groups/0581-mesosphere-marathon-155_100.json");
    let config = SimConfig { zk: Some(zk_spec.clone()), ..SimConfig::default() }
        .with_state_file(std::path::Path::new(seed))
        .unwrap();
    let sim = marathon_sim::start(config).await.unwrap();

    // One more deployment through the API, so that group:root is what a change wrote.
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v2/apps", sim.url()))
        .body(r#"{"id":"/cudcos/extra","cmd":"sleep 1","env":{"A":"1","B":"2","C":"3","D":"4","E":"5"}}"#)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let state = client
        .get(format!("{}/v2/groups?embed=group.groups&embed=group.apps", sim.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let state_file = std::env::temp_dir().join(format!("report-zk-{}.json", std::process::id()));
    std::fs::write(&state_file, &state).unwrap();

    let real = tokio::task::spawn_blocking(move || report(&["--zk", &zk_spec])).await.unwrap();
    let predicted = report(&["--state", state_file.to_str().unwrap()]);
    assert_eq!(real["layout"], "legacy");
    assert!(real["nodes"].as_array().unwrap().iter().any(|n| n["path"] == "group:root"));
    assert_eq!(real["root_bytes"], predicted["root_bytes"], "real group:root vs predicted from GET /v2/groups");
    assert!(predicted["root_bytes"].as_u64().unwrap() > 0);
    sim.shutdown().await;
    let _ = std::fs::remove_file(state_file);
}
