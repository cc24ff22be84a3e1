//! The v2 surface against the in-process simulator: statuses, bodies, headers, deployments, events.

mod common;

use std::time::Duration;

use common::*;
use marathon_sim::{start, SimConfig};
use serde_json::json;

#[tokio::test]
async fn app_lifecycle_and_errors_on_1_3() {
    let sim = start(SimConfig { deploy_delay: Duration::from_millis(300), ..SimConfig::default() }).await.unwrap();
    let base = sim.url();

    let r = call(&base, "POST", "/v2/apps", r#"{"id":"/prod/web","cmd":"sleep 100","instances":2}"#).await;
    assert_eq!(r.status, 201);
    assert!(r.header("location").unwrap().ends_with("/prod/web"));
    assert!(r.header("marathon-deployment-id").is_none(), "1.3 has no Marathon-Deployment-Id");
    let body = r.json();
    assert_eq!(body["id"], "/prod/web");
    assert_eq!(body["tasksRunning"], 0);
    let dep = body["deployments"][0]["id"].as_str().unwrap().to_string();

    // Listed while the delay runs; a write to the same app is refused without force.
    let ds = get(&base, "/v2/deployments").await.json();
    assert_eq!(ds[0]["id"], dep);
    assert_eq!(ds[0]["affectedApps"], json!(["/prod/web"]));
    let r = call(&base, "PUT", "/v2/apps/prod/web", r#"{"instances":3}"#).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["deployments"][0]["id"], dep);
    let r = call(&base, "PUT", "/v2/apps/prod/web?force=true", r#"{"instances":3}"#).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["deploymentId"].is_string());
    settle(&base).await;

    let app = get(&base, "/v2/apps/prod/web").await.json();
    assert_eq!(app["app"]["instances"], 3);
    assert_eq!(app["app"]["cmd"], "sleep 100");
    assert_eq!(app["app"]["tasksRunning"], 3);
    assert_eq!(app["app"]["tasks"].as_array().unwrap().len(), 3);
    let versions = get(&base, "/v2/apps/prod/web/versions").await.json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);

    // Errors in Marathon's shapes.
    let r = call(&base, "POST", "/v2/apps", r#"{"id":"/prod/web","cmd":"x"}"#).await;
    assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (409, "An app with id [/prod/web] already exists."));
    let r = get(&base, "/v2/apps/nope").await;
    assert_eq!((r.status, r.json()), (404, json!({"message": "App '/nope' does not exist"})));
    let r = call(&base, "POST", "/v2/apps", "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Invalid JSON");
    let r = call(&base, "PATCH", "/v2/apps/prod/web", r#"{"instances":1}"#).await;
    assert_eq!(r.status, 404, "no PATCH on 1.3");

    // Scale-by-kill, restart, delete.
    let task = app["app"]["tasks"][0]["id"].as_str().unwrap().to_string();
    let r = call(&base, "DELETE", &format!("/v2/apps/prod/web/tasks/{task}?scale=true"), "").await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/apps/prod/web").await.json()["app"]["instances"], 2);
    let r = call(&base, "POST", "/v2/apps/prod/web/restart", "").await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    let r = call(&base, "DELETE", "/v2/apps/prod/web", "").await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/apps/prod/web").await.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn groups_dry_run_rollback_and_revert() {
    let sim = start(SimConfig::default()).await.unwrap();
    let base = sim.url();
    let r = call(&base, "POST", "/v2/groups", r#"{"id":"/shop","apps":[{"id":"web","cmd":"x","instances":2},{"id":"api","cmd":"y"}]}"#).await;
    assert_eq!(r.status, 201);
    let v1 = r.json()["version"].as_str().unwrap().to_string();
    settle(&base).await;
    let dry = call(&base, "PUT", "/v2/groups/shop?dryRun=true", r#"{"scaleBy":2}"#).await;
    assert_eq!(dry.status, 200);
    assert_eq!(dry.json()["steps"][0]["actions"].as_array().unwrap().len(), 2);
    assert_eq!(get(&base, "/v2/apps/shop/web").await.json()["app"]["instances"], 2);
    let r = call(&base, "PUT", "/v2/groups/shop", r#"{"scaleBy":1.5}"#).await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/apps/shop/web").await.json()["app"]["instances"], 3);
    let r = call(&base, "PUT", "/v2/groups/shop", format!(r#"{{"version":"{v1}"}}"#)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    settle(&base).await;
    assert_eq!(get(&base, "/v2/apps/shop/web").await.json()["app"]["instances"], 2);
    let versions = get(&base, "/v2/apps/shop/web/versions").await.json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 3, "each group change that scaled web is a version of it: {versions}");
    let g = get(&base, "/v2/groups").await.json();
    assert_eq!(g["groups"][0]["id"], "/shop");
    assert_eq!(g["groups"][0]["apps"].as_array().unwrap().len(), 2);
    assert!(get(&base, "/v2/groups/versions").await.json().as_array().unwrap().len() >= 3);
    let r = call(&base, "DELETE", "/v2/groups/shop", "").await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/groups/shop").await.status, 404);
    sim.shutdown().await;

    // Revert a running deployment, and force-cancel one.
    let sim = start(SimConfig { deploy_delay: Duration::from_secs(30), ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    let d = call(&base, "POST", "/v2/apps", r#"{"id":"/a","cmd":"x"}"#).await.json()["deployments"][0]["id"].as_str().unwrap().to_string();
    let r = call(&base, "DELETE", &format!("/v2/deployments/{d}"), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(get(&base, "/v2/apps/a").await.status, 404, "the revert removed the new app");
    let ds = get(&base, "/v2/deployments").await.json();
    assert_eq!(ds.as_array().unwrap().len(), 1);
    let revert = ds[0]["id"].as_str().unwrap().to_string();
    let r = call(&base, "DELETE", &format!("/v2/deployments/{revert}?force=true"), "").await;
    assert_eq!((r.status, r.body.len()), (202, 0));
    assert_eq!(get(&base, "/v2/deployments").await.json(), json!([]));
    let r = call(&base, "DELETE", "/v2/deployments/nope", "").await;
    assert_eq!(r.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn v14_flavour_patch_pods_headers_info() {
    let sim = start(SimConfig::v14()).await.unwrap();
    let base = sim.url();
    let r = call(&base, "POST", "/v2/apps", r#"{"id":"/a","cmd":"x","env":{"A":"1"}}"#).await;
    assert_eq!(r.status, 201);
    assert!(r.header("marathon-deployment-id").is_some());
    settle(&base).await;
    let r = call(&base, "PATCH", "/v2/apps/a", r#"{"instances":4}"#).await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    let app = get(&base, "/v2/apps/a").await.json()["app"].clone();
    assert_eq!((app["instances"].as_u64(), app["env"]["A"].as_str()), (Some(4), Some("1")));
    assert_eq!(app["killSelection"], "YOUNGEST_FIRST");
    let r = call(&base, "PUT", "/v2/apps/a?partialUpdate=false", r#"{"cmd":"y"}"#).await;
    assert_eq!(r.status, 200);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/apps/a").await.json()["app"]["instances"], 1);
    let pod = r#"{"id":"/p","containers":[{"name":"c","resources":{"cpus":0.1,"mem":32}}]}"#;
    let r = call(&base, "POST", "/v2/pods", pod).await;
    assert_eq!(r.status, 201);
    settle(&base).await;
    assert_eq!(get(&base, "/v2/pods/p").await.json()["id"], "/p");
    let r = call(&base, "DELETE", "/v2/pods/p", "").await;
    assert_eq!(r.status, 202);
    assert!(r.header("location").is_some());
    let info = get(&base, "/v2/info").await.json();
    assert_eq!(info["version"], "1.4.13");
    assert_eq!(info["zookeeper_config"]["zk_max_node_size"], 1_024_000);
    assert_eq!(info["zookeeper_config"]["zk_max_versions"], 50);
    let r = call(&base, "GET", "/ping", "").await;
    assert_eq!((r.status, &r.body[..]), (200, &b"pong\n"[..]));
    sim.shutdown().await;
}

#[tokio::test]
async fn info_leader_metrics_on_1_3() {
    let sim = start(SimConfig::default()).await.unwrap();
    let base = sim.url();
    let info = get(&base, "/v2/info").await.json();
    assert_eq!(info["version"], "1.3.14");
    assert!(info["zookeeper_config"].get("zk_max_node_size").is_none(), "1.3 does not report it");
    assert_eq!(info["zookeeper_config"]["zk_max_versions"], 25);
    assert_eq!(get(&base, "/v2/leader").await.json()["leader"], sim.addr().to_string());
    let m = get(&base, "/metrics").await.json();
    assert!(m["histograms"]["service.mesosphere.marathon.state.MarathonStore.DeploymentPlan.write-data-size"].is_object());
    assert_eq!(get(&base, "/nope").await.status, 404);
    let r = get(&base, "/v2/events").await;
    assert_eq!(r.status, 405, "SSE needs Accept: text/event-stream");
    sim.shutdown().await;
}

#[tokio::test]
async fn events_in_order_with_filters() {
    let sim = start(SimConfig { deploy_delay: Duration::from_millis(50), ..SimConfig::default() }).await.unwrap();
    let base = sim.url();
    let mut all = events(&base, "").await;
    let mut only = events(&base, "?event_type=group_change_success&event_type=deployment_success").await;
    // Both streams are attached once they have seen the attach event (or nothing for the filter).
    let first = read_events(&mut all, 1).await;
    assert_eq!(first[0].0, "event_stream_attached");
    for i in 0..3 {
        let r = call(&base, "POST", "/v2/apps", format!(r#"{{"id":"/e/a{i}","cmd":"x"}}"#)).await;
        assert_eq!(r.status, 201);
        settle(&base).await;
    }
    let got = read_events(&mut all, 3 * 5).await;
    let kinds: Vec<&str> = got.iter().map(|(e, _)| e.as_str()).collect();
    let one = ["api_post_event", "group_change_success", "deployment_info", "deployment_step_success", "deployment_step_success", "deployment_success"];
    // Each POST: api_post_event, group_change_success, deployment_info, one step success per step,
    // deployment_success.
    assert_eq!(&kinds[..one.len()], &one, "{kinds:?}");
    let posted: Vec<&str> = got.iter().filter(|(e, _)| e == "api_post_event").map(|(_, d)| d["appDefinition"]["id"].as_str().unwrap()).collect();
    assert_eq!(posted[..2], ["/e/a0", "/e/a1"]);
    assert_eq!(got[0].1["eventType"], "api_post_event");
    assert!(got[2].1["plan"]["target"]["groups"].is_array(), "heavy plan in 1.3");
    let filtered = read_events(&mut only, 6).await;
    let kinds: Vec<&str> = filtered.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["group_change_success", "deployment_success"].repeat(3));
    sim.shutdown().await;
}

/// A group whose plan is over the default `--zk_max_node_size` gets Marathon 1.3.14's own 422,
/// and the 1.4+ flavour (which checks nothing) takes it.
#[tokio::test]
async fn default_plan_limit_refuses_a_big_group_on_1_3_only() {
    // Random hex env values: 800 apps x 60 vars x 48 hex chars ≈ 2.3 MB raw, about half after gzip.
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let apps: Vec<String> = (0..800)
        .map(|i| {
            let env: Vec<String> = (0..60).map(|j| format!(r#""V{j}":"{:016x}{:016x}{:016x}""#, next(), next(), next())).collect();
            format!(r#"{{"id":"app{i}","cmd":"sleep 1","env":{{{}}}}}"#, env.join(","))
        })
        .collect();
    let body = format!(r#"{{"id":"/big","apps":[{}]}}"#, apps.join(","));

    let sim = start(SimConfig::default()).await.unwrap();
    let r = call(&sim.url(), "POST", "/v2/groups", body.clone()).await;
    assert_eq!(r.status, 422);
    let text = r.json()["details"][0]["errors"][0].as_str().unwrap().to_string();
    assert!(text.starts_with("The way we persist data in ZooKeeper would exceed the maximum ZK node size (1024000 bytes)."), "{text}");
    assert_eq!(get(&sim.url(), "/v2/groups/big").await.status, 404);
    sim.shutdown().await;

    let sim = start(SimConfig::v14()).await.unwrap();
    let r = call(&sim.url(), "POST", "/v2/groups", body).await;
    assert_eq!(r.status, 201, "1.4+ checks no size");
    sim.shutdown().await;
}
