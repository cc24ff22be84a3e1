//! The way out end to end: a simulator (1.3.14, legacy layout, plans gzipped) seeded past the
//! admission threshold, the proxy in front with `protect = ["/prod"]`. A growing write gets the
//! proxy's 422; `GET /admission/v1/way-out` gives the plan; each step is applied through the
//! proxy as a client would (`DELETE /v2/apps/{id}`, `DELETE /v2/groups/{id}`, `PUT /v2/apps/{id}`
//! with `{"env":{}}`); the binding node then sits at the target and the same write passes.

use admission::way_out::{self, Action, Plan};
use admission_runtime::live_model::parse_root;
use crate::common::admission_setup::*;
use crate::common::*;
use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, Timestamp};
use serde_json::{json, Value};
use znode_size::{Estimator, StoreConfig};

/// Hex that does not compress (a token, a key), from a seed.
fn token(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..2)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect()
}

fn app(id: &str, instances: u32, env: usize, seed: u64) -> Value {
    let vars: serde_json::Map<String, Value> = (0..env).map(|i| (format!("SETTING_{i:03}"), json!(token(seed * 1000 + i as u64)))).collect();
    json!({"id": id, "cmd": "bin/start", "instances": instances, "cpus": 0.1, "mem": 64, "env": vars})
}

/// A state with something of everything: a protected `/prod` holding the largest apps, idle apps,
/// a group where nothing runs, running apps with large environments, near-duplicates.
fn state() -> Value {
    let prod: Vec<Value> = (0..6).map(|i| app(&format!("/prod/api-{i}"), 3, 90, 100 + i)).collect();
    let dev: Vec<Value> = (0..14).map(|i| app(&format!("/dev/svc-{i:02}"), if i % 7 == 0 { 0 } else { 1 }, 28, 200 + i)).collect();
    let batch: Vec<Value> = (0..3).map(|i| app(&format!("/batch/job-{i}"), 0, 8, 300 + i)).collect();
    // The same environment in every one: near-duplicates, cheap in the compressed plan.
    let dup: Vec<Value> = (0..40).map(|i| json!({"id": format!("/web/site-{i:02}"), "cmd": "bin/site", "instances": 1, "env": app("/x", 1, 16, 7)["env"]})).collect();
    let group = |id: &str, apps: Vec<Value>| json!({"id": id, "apps": apps, "groups": []});
    json!({"id": "/", "apps": [], "groups": [group("/prod", prod), group("/dev", dev), group("/batch", batch), group("/web", dup)]})
}

/// The growing write: a new app of random settings.
fn write_body() -> String {
    app("/dev/new-service", 1, 200, 999).to_string()
}

/// What the proxy's model will hold, the binding node of its next deployment and what the write
/// adds to it (measured with any limit: compression does not depend on it).
fn measure_locally(seed: &Value) -> (Group, u64, u64) {
    let root = parse_root(seed.to_string().as_bytes(), Flavour::V13).unwrap();
    let store = StoreConfig::marathon_1_3();
    let binding = way_out::binding_bytes(&root, &store);
    let body = write_body();
    let w = parse_write("POST", "/v2/apps", None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
    let after = apply(&root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root;
    let predicted = Estimator::new(store).deployment(&root, &after).binding_bytes;
    (root, binding, predicted - binding)
}

#[tokio::test]
async fn applying_the_way_out_through_the_proxy_lets_the_rejected_write_pass() {
    let seed = state();
    let (_, binding, growth) = measure_locally(&seed);
    // The state sits at 93% of the limit: Marathon still stores the deployments that shrink it,
    // the write's growth takes it past the admission threshold (99%), and at the warning level
    // (80%) the write fits.
    let limit = binding * 100 / 93;
    assert!(binding > 65_536 / 2, "the plan must be large enough to be gzipped ({binding})");
    assert!(binding + growth >= limit * 99 / 100, "the write must be rejected now ({binding} + {growth} vs {limit})");
    assert!(limit * 80 / 100 + growth < limit * 99 / 100 - 200, "the write must fit at the target ({growth} vs {limit})");
    let seed_group = Group::parse(seed.to_string().as_bytes()).unwrap();
    let admission_toml = format!("zk_max_node_size = {limit}\nresync_interval_ms = 200\naudit_log = \"off\"\nprotect = [\"/prod\"]\n");
    let s = setup_with(sim_legacy(limit, Some(seed_group)), &admission_toml).await;
    let c = client();

    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &write_body())).await;
    assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    let message = json(&body)["message"].as_str().unwrap().to_string();
    assert!(message.contains("GET /admission/v1/way-out"), "{message}");
    // Its first steps come with it, none of them in the protected group.
    let errors = json(&body)["details"][0]["errors"].clone();
    let steps = errors.as_array().unwrap().last().unwrap().as_str().unwrap().to_string();
    assert!(steps.starts_with("The way out, computed") && steps.contains("1. "), "{steps}");
    assert!(!steps.contains("/prod"), "{steps}");

    let (status, _, body) = fetch(&c, get(&s.proxy.url("/admission/v1/way-out"))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let plan: Plan = serde_json::from_slice(&body).unwrap();
    assert_eq!(plan.limit_bytes, limit);
    assert_eq!(plan.target_bytes, limit * 8 / 10);
    assert!(plan.reached && !plan.steps.is_empty(), "{plan:?}");
    assert_eq!(plan.binding_bytes, way_out::binding_bytes(&s.sim.root(), &s.admit.store_config("1.3.14")), "the plan starts from the state");
    for step in &plan.steps {
        assert!(step.frees_bytes > 0, "a step that frees nothing: {step:?}");
        assert!(!step.id.starts_with("/prod"), "a protected app in the plan: {step:?}");
    }
    let actions: Vec<Action> = plan.steps.iter().map(|s| s.action).collect();
    assert!(actions.contains(&Action::DeleteGroup) && actions.contains(&Action::ClearEnv), "{plan:?}");

    for step in &plan.steps {
        let (method, path, body) = step.request();
        let (status, _, answer) = fetch(&c, req(method, &s.proxy.url(&path), body.unwrap_or(""))).await;
        assert!(status.is_success(), "{step:?}: {status} {}", String::from_utf8_lossy(&answer));
    }

    // Marathon's state is at the target, where the plan said it would end.
    let store = s.admit.store_config("1.3.14");
    let now = way_out::binding_bytes(&s.sim.root(), &store);
    let planned = plan.steps.last().unwrap().binding_bytes_after;
    assert!(now <= plan.target_bytes, "{now} > {}", plan.target_bytes);
    assert!(now.abs_diff(planned) <= 64 + planned / 200, "applied {now}, planned {planned}");

    // Once the proxy's model shows it, the write that was rejected passes.
    eventually("the model shows the state at the target", || async {
        let (_, _, body) = fetch(&c, get(&s.proxy.url("/admission/v1/way-out"))).await;
        let p: Plan = serde_json::from_slice(&body).unwrap();
        match p.steps.is_empty() && p.reached {
            true => Ok(()),
            false => Err(format!("{p:?}")),
        }
    })
    .await;
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &write_body())).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));

    // A target of the caller's, and a bad one.
    let (status, _, body) = fetch(&c, get(&s.proxy.url("/admission/v1/way-out?target=0.5"))).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["target_bytes"], limit / 2);
    let (status, _, _) = fetch(&c, get(&s.proxy.url("/admission/v1/way-out?target=2"))).await;
    assert_eq!(status, 400);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}
