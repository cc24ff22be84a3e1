//! `report --way-out --json` from outside, as an operator uses it: on a state past the admission
//! threshold, the plan's steps sent to a Marathon (the simulator) bring the binding node to the
//! target, and `check` then admits the write it rejected before.

use std::path::PathBuf;
use std::process::Command;

use admission::way_out::{self, Plan};
use admission_runtime::live_model::parse_root;
use marathon_model::ops::Flavour;
use serde_json::{json, Value};
use znode_size::StoreConfig;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_marathon-admission"))
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-way-out");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// 32 hex digits that do not compress, from a seed.
fn token(seed: u64) -> String {
    format!("{:032x}", (seed as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

fn app(id: &str, instances: u32, env: usize, seed: u64) -> Value {
    let vars: serde_json::Map<String, Value> = (0..env).map(|i| (format!("K{i:03}"), json!(token(seed * 1000 + i as u64)))).collect();
    let (v, port) = ("2017-03-01T10:00:00.000Z", 10_000 + seed % 1000);
    json!({
        "id": id, "cmd": "run", "instances": instances, "env": vars, "portDefinitions": [{"port": port, "protocol": "tcp"}],
        "version": v, "versionInfo": {"lastScalingAt": v, "lastConfigChangeAt": v}
    })
}

/// `/prod` (protected) holds the largest apps; `/ci` runs nothing; `/svc` runs apps with large
/// environments, a few of them idle. Versions and service ports as Marathon exports them.
fn state() -> Value {
    let prod: Vec<Value> = (0..5).map(|i| app(&format!("/prod/app-{i}"), 2, 100, i)).collect();
    let ci: Vec<Value> = (0..4).map(|i| app(&format!("/ci/job-{i}"), 0, 10, 50 + i)).collect();
    let svc: Vec<Value> = (0..16).map(|i| app(&format!("/svc/s-{i:02}"), if i % 8 == 0 { 0 } else { 1 }, 30, 100 + i)).collect();
    let v = "2017-03-01T10:00:00.000Z";
    let group = |id: &str, apps: Vec<Value>| json!({"id": id, "apps": apps, "groups": [], "version": v});
    json!({"id": "/", "apps": [], "groups": [group("/prod", prod), group("/ci", ci), group("/svc", svc)], "version": v})
}

fn run_json(args: &[&str]) -> (i32, Value) {
    let out = bin().args(args).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

#[test]
fn the_plan_of_report_way_out_applied_to_marathon_lets_the_rejected_write_pass() {
    let seed = state();
    let binding = way_out::binding_bytes(&parse_root(seed.to_string().as_bytes(), Flavour::V13).unwrap(), &StoreConfig::marathon_1_3());
    // At 95% of the limit: the admission threshold is 99%, the write adds about 5%.
    let limit = binding * 100 / 95;
    let state_file = tmp("state.json", &seed.to_string());
    let write = tmp("write.json", &app("/svc/new", 1, 190, 999).to_string());
    let limit_arg = limit.to_string();
    let store = ["--zk-max-node-size", limit_arg.as_str()];
    let state_path = state_file.to_str().unwrap();
    let check = |source: &[&str]| {
        let mut args = vec!["check", "--json", "--method", "POST", "--path", "/v2/apps", "--body", write.to_str().unwrap()];
        args.extend_from_slice(source);
        args.extend_from_slice(&store);
        run_json(&args)
    };
    let (code, out) = check(&["--state", state_path]);
    assert_eq!(code, 1, "the write must be rejected on the state: {out}");

    let mut args = vec!["report", "--way-out", "--json", "--protect", "/prod", "--state", state_path];
    args.extend_from_slice(&store);
    let (code, v) = run_json(&args);
    assert_eq!(code, 0);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["binding_bytes", "target_bytes", "limit_bytes", "reached", "steps"]);
    let plan: Plan = serde_json::from_value(v).unwrap();
    assert_eq!(plan.target_bytes, (limit as f64 * 0.8) as u64);
    assert!(plan.reached && !plan.steps.is_empty(), "{plan:?}");
    assert!(plan.steps.iter().all(|s| s.frees_bytes > 0 && !s.id.starts_with("/prod")), "{plan:?}");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = marathon_sim::SimConfig {
        state: Some(marathon_model::Group::parse(seed.to_string().as_bytes()).unwrap()),
        zk_max_node_size: limit,
        ..marathon_sim::SimConfig::default()
    };
    let sim = rt.block_on(marathon_sim::start(config)).unwrap();
    let http = reqwest::blocking::Client::new();
    for step in &plan.steps {
        let (method, path, body) = step.request();
        let r = http.request(method.parse().unwrap(), format!("{}{path}", sim.url())).header("content-type", "application/json").body(body.unwrap_or("")).send().unwrap();
        assert!(r.status().is_success(), "{step:?}: {} {}", r.status(), r.text().unwrap_or_default());
    }

    let url = sim.url();
    let mut args = vec!["report", "--way-out", "--json", "--marathon", url.as_str()];
    args.extend_from_slice(&store);
    let (_, after) = run_json(&args);
    assert!(after["binding_bytes"].as_u64().unwrap() <= plan.target_bytes, "{after}");
    assert_eq!(after["steps"], json!([]));
    let (code, out) = check(&["--marathon", url.as_str()]);
    assert_eq!(code, 0, "the write must pass once the plan is applied: {out}");
    rt.block_on(sim.shutdown());
}
