//! Near the wall, through the proxy's own pipeline: a write whose plan lies 0.3% under the limit
//! passes with the measured bound, where a flat 1% margin refused it.

use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::Timestamp;
use znode_size::synthetic::heroku_root;
use znode_size::{Estimator, StoreConfig};

use super::*;

const WRITE: &[u8] = br#"{"id":"/team-1/svc-new","cmd":"sleep 1","env":{"A":"b","C":"d","E":"f","G":"h","I":"j"}}"#;

/// The proxy's configuration for a Marathon whose node limit puts `plan` `under` (a fraction)
/// below it.
fn config_with(plan: u64, under: f64, margin: &str) -> ServeConfig {
    let limit = (plan as f64 / (1.0 - under)).ceil() as u64;
    let text = format!(
        "marathon = [\"http://127.0.0.1:9\"]\n[admission]\nzk_max_node_size = {limit}\nwarm = false\naudit_log = \"off\"\n{margin}\n"
    );
    ServeConfig::from_toml_str(&text, None).unwrap()
}

/// The plan of the write on `root`, as the exact path sizes it.
fn plan_of(root: &Group) -> u64 {
    let w = parse_write("POST", "/v2/apps", None, WRITE, Flavour::V13).unwrap().unwrap();
    let target = apply(root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root;
    Estimator::new(StoreConfig::marathon_1_3()).deployment(root, &target).binding_bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenths_of_a_percent_under_the_limit_passes_with_its_bound() {
    let root = heroku_root(400, 10);
    let plan = plan_of(&root);

    let auto = config_with(plan, 0.003, "margin = \"auto\"");
    let json = check(&auto, root.clone(), "1.3.14", "POST", "/v2/apps", WRITE).await.unwrap();
    assert_ne!(json["decision"], "reject", "{json:#}");
    assert_eq!(json["estimator"], "exact", "{json:#}");
    let bound = json["error_bound_bytes"].as_u64().expect("the bound is measured this close to the limit");
    assert!(bound > 0, "{json:#}");
    assert!(json["error_bound"]["unknown_orders"].as_u64().unwrap() >= 2, "{json:#}");
    // The decision's threshold: the limit less the floor and less the bound.
    let limit = json["limit_bytes"].as_u64().unwrap();
    let floor = (limit as f64 * admission::DEFAULT_FLOOR).ceil() as u64;
    assert_eq!(json["reject_at_bytes"].as_u64().unwrap(), limit - floor - bound, "{json:#}");

    // A flat 1% margin refuses the same write.
    let flat = config_with(plan, 0.003, "margin = 0.01");
    let json = check(&flat, root.clone(), "1.3.14", "POST", "/v2/apps", WRITE).await.unwrap();
    assert_eq!(json["decision"], "reject", "{json:#}");
    assert_eq!(json["error_bound_bytes"], serde_json::Value::Null, "{json:#}");

    // Far from the limit no bound is measured (it would change nothing).
    let far = config_with(plan, 0.2, "margin = \"auto\"");
    let json = check(&far, root, "1.3.14", "POST", "/v2/apps", WRITE).await.unwrap();
    assert_ne!(json["decision"], "reject", "{json:#}");
    assert_eq!(json["error_bound_bytes"], serde_json::Value::Null, "{json:#}");
}
