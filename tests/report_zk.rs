//! `report --zk` reads the real node sizes from ZooKeeper, and they agree with what
//! `report --state` predicts from the same Marathon's `GET /v2/groups`: the size engine checked
//! against bytes a real ZooKeeper holds (written by the simulator, as Marathon 1.3 writes them).
//! On ensembles that want a login (SASL DIGEST-MD5; Kerberos, in a realm of the test's own),
//! `report --zk` and the proxy's reader of the root node log in as `--config`'s `[zookeeper]`
//! table says.

use std::process::Command;

use proxy::test_util::eventually;
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

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/marathon/groups/0581-mesosphere-marathon-155_100.json");

async fn report_async(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || report(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

/// The footprint part `part` of a `report --json`.
fn part<'a>(report: &'a Value, part: &str) -> &'a Value {
    let items = report["footprint"]["items"].as_array().unwrap_or_else(|| panic!("no footprint in {report}"));
    items.iter().find(|i| i["part"] == part).unwrap_or_else(|| panic!("no {part} in {items:?}"))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Writes `body` with `method` to the simulator; the status must be a success.
async fn write(sim_url: &str, method: reqwest::Method, path: &str, body: String) {
    let request = reqwest::Client::new().request(method, format!("{sim_url}{path}")).body(body);
    let r = request.header("Content-Type", "application/json").send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {} {}", r.status(), r.text().await.unwrap_or_default());
}

/// Waits until no deployment is listed and no plan node is left in ZooKeeper (a deployment ends
/// just after its write was answered).
async fn settled(sim_url: &str, zk_spec: &str) {
    eventually("no deployment pending, in Marathon or in ZooKeeper", || async {
        let listed = reqwest::get(format!("{sim_url}/v2/deployments")).await.unwrap().bytes().await.unwrap();
        let listed: Vec<Value> = serde_json::from_slice(&listed).unwrap();
        let nodes = marathon_zk::zk_report(zk_spec, &marathon_zk::ZkLogin::default()).await.unwrap().nodes;
        listed.is_empty() && !nodes.iter().any(|n| marathon_zk::role(&n.path) == marathon_zk::NodeRole::Plan)
    })
    .await;
}

/// Saves the simulator's `GET /v2/groups` to a file for `report --state`.
async fn save_state(sim_url: &str, name: &str) -> std::path::PathBuf {
    let state = reqwest::get(format!("{sim_url}/v2/groups?embed=group.groups&embed=group.apps")).await.unwrap().bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("report-zk-{name}-{}.json", std::process::id()));
    std::fs::write(&file, &state).unwrap();
    file
}

/// Marathon 1.3 keeps the newest `zk_max_versions` copies of the root and of each app: after five
/// changes of one app with `--zk_max_versions 3`, the real ZooKeeper holds three of each, the
/// footprint counts three, and its bytes (every copy taken at the current size, which only grew)
/// are not below the real ones. The current nodes, read or predicted, are the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_copies_zookeeper_holds_are_within_the_footprint() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let config = SimConfig { zk: Some(zk_spec.clone()), zk_max_versions: 3, ..SimConfig::default() }
        .with_state_file(std::path::Path::new(SEED))
        .unwrap();
    let sim = marathon_sim::start(config).await.unwrap();
    for i in 1..=5 {
        let env: serde_json::Map<String, Value> = (0..i).map(|k| (format!("SETTING_{k}"), Value::from("some-value"))).collect();
        let body = serde_json::json!({"cmd": "sleep 1", "env": env});
        settled(&sim.url(), &zk_spec).await;
        write(&sim.url(), reqwest::Method::PUT, "/v2/apps/cudcos/extra", body.to_string()).await;
    }
    settled(&sim.url(), &zk_spec).await;
    let state_file = save_state(&sim.url(), "versions").await;

    let max3 = |source: &str, value: &str| vec![source.to_string(), value.to_string(), "--zk-max-versions".into(), "3".into()];
    let real = report_async(max3("--zk", &zk_spec)).await;
    let mut state_args = max3("--state", state_file.to_str().unwrap());
    state_args.extend(["--pending-deployments".to_string(), "0".to_string()]);
    let predicted = report_async(state_args).await;

    let roots = part(&real, "root_versions");
    assert_eq!((n(roots, "real_nodes"), n(roots, "nodes")), (3, 3), "{roots}");
    assert!(n(roots, "real_bytes") <= n(roots, "bytes"), "{roots}");
    let copies = part(&real, "service_versions");
    assert_eq!(n(copies, "real_nodes"), 3, "the changed app's newest three: {copies}");
    assert_eq!(n(copies, "nodes"), 3 * 101);
    assert!(n(copies, "real_bytes") <= n(copies, "bytes"), "{copies}");
    for current in ["root", "services"] {
        let (r, p) = (part(&real, current), part(&predicted, current));
        assert_eq!(n(r, "real_bytes"), n(r, "bytes"), "{current}: the estimate from ZooKeeper starts from the real nodes");
        assert_eq!(n(r, "real_bytes"), n(p, "bytes"), "{current}: read from ZooKeeper vs predicted from GET /v2/groups");
    }
    assert_eq!(n(part(&real, "services"), "real_nodes"), 101);
    assert_eq!(real["footprint"]["total_bytes"], predicted["footprint"]["total_bytes"], "the same rules on the same nodes");
    assert_eq!((n(part(&real, "plans"), "real_nodes"), real["footprint"]["pending_deployments"].as_u64()), (0, Some(0)));
    sim.shutdown().await;
    let _ = std::fs::remove_file(state_file);
}

/// On 1.4 a pending deployment keeps a `StoredPlan`; `report --zk` finds the plans (and counts the
/// deployments pending from them), `report --marathon` counts what `/v2/deployments` lists, and
/// both estimate each plan at least as large as the real ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deployments_keep_their_plans_in_the_footprint() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let config = SimConfig { zk: Some(zk_spec.clone()), deploy_delay: std::time::Duration::from_secs(600), ..SimConfig::v14() }
        .with_state_file(std::path::Path::new(SEED))
        .unwrap();
    let sim = marathon_sim::start(config).await.unwrap();
    for id in ["/cudcos/p1", "/cudcos/p2"] {
        write(&sim.url(), reqwest::Method::POST, "/v2/apps", serde_json::json!({"id": id, "cmd": "sleep 1"}).to_string()).await;
    }

    let real = report_async(vec!["--zk".into(), zk_spec.clone()]).await;
    let live = report_async(vec!["--marathon".into(), sim.url(), "--layout".into(), "v1.4".into()]).await;
    for r in [&real, &live] {
        assert_eq!(r["footprint"]["layout"], "v1.4");
        assert_eq!(r["footprint"]["pending_deployments"], 2, "{}", r["footprint"]);
        assert_eq!(r["footprint"]["kept_versions"], 50 + 2, "1.4's 50, and one copy per pending deployment");
        let plans = part(r, "plans");
        assert_eq!(n(plans, "nodes"), 2);
        assert!(n(plans, "bytes") >= n(part(&real, "plans"), "real_bytes"), "{plans}");
    }
    assert_eq!(n(part(&real, "plans"), "real_nodes"), 2);
    assert_eq!(n(part(&real, "root_versions"), "real_nodes"), 3, "the seed's and one per deployment");
    assert_eq!(n(part(&real, "services"), "real_bytes"), n(part(&live, "services"), "bytes"), "1.4 app nodes, to the byte");
    assert_eq!(n(part(&real, "root"), "real_bytes"), n(part(&live, "root"), "bytes"));
    sim.shutdown().await;
}

/// A simulator storing in Marathon's order (teams created out of id order, apps too) under a
/// compressed root (9 apps of 150 env vars: over the 64 KiB threshold): `report --zk` says how many groups the API's id order misrepresents, and the
/// size predicted from `GET /v2/groups` misses ZooKeeper's by what that order is worth, which is
/// what `[zookeeper] read` gives the proxy back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_zk_says_how_much_of_the_stored_order_the_api_does_not_show() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let config = SimConfig { zk: Some(zk_spec.clone()), stored_order: marathon_sim::StoredOrder::Marathon, ..SimConfig::default() };
    let sim = marathon_sim::start(config).await.unwrap();
    for team in ["zeta", "alpha", "mid"] {
        for app in ["worker", "server", "cron"] {
            let env: serde_json::Map<String, Value> = (0..150)
                .map(|k| (format!("SETTING_{k:03}"), Value::from(format!("{team}-{app}-value-{k}-0123456789-abcdefghijklmnopqrstuvwxyz"))))
                .collect();
            let body = serde_json::json!({"id": format!("/{team}/{app}"), "cmd": "sleep 1", "env": env});
            write(&sim.url(), reqwest::Method::POST, "/v2/apps", body.to_string()).await;
        }
    }
    settled(&sim.url(), &zk_spec).await;
    let state = save_state(&sim.url(), "stored-order").await;
    let real = report_async(vec!["--zk".into(), zk_spec.clone()]).await;
    let predicted = report_async(vec!["--state".into(), state.display().to_string()]).await;
    let order = &real["stored_order"];
    assert_eq!(n(order, "groups"), 4, "{real}");
    assert!(n(order, "out_of_id_order") >= 1, "the teams are stored as created, not by id: {order}");
    assert_ne!(real["root_bytes"], predicted["root_bytes"], "the order is worth bytes here, or this test shows nothing");
    sim.shutdown().await;
    let _ = std::fs::remove_file(state);
}

/// An ensemble that takes SASL logins only (Marathon logging in through its JAAS `Client`
/// section): `report --zk` logs in as the `[zookeeper]` table of `--config` says, and reads the
/// same bytes the state predicts; without a login it fails and says where the login goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_zk_logs_in_as_the_config_s_zookeeper_table_says() {
    let zk = ZooKeeper::start_requiring_sasl("marathon", "s3cret-zk").expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let marathon_login = marathon_zk::ZkLogin::new("zookeeper", None, Some("marathon:s3cret-zk".into())).unwrap();
    let config = SimConfig { zk: Some(zk_spec.clone()), zk_login: marathon_login, ..SimConfig::default() }
        .with_state_file(std::path::Path::new(SEED))
        .unwrap();
    let sim = marathon_sim::start(config).await.unwrap();
    let state_file = save_state(&sim.url(), "sasl").await;
    let proxy_toml = std::env::temp_dir().join(format!("report-zk-sasl-{}.toml", std::process::id()));
    std::fs::write(&proxy_toml, "[zookeeper]\nsasl_digest_md5 = \"marathon:s3cret-zk\"\n").unwrap();

    let real = report_async(vec!["--zk".into(), zk_spec.clone(), "--config".into(), proxy_toml.display().to_string()]).await;
    let predicted = report_async(vec!["--state".into(), state_file.display().to_string()]).await;
    assert_eq!(real["layout"], "legacy", "{real}");
    assert_eq!(real["root_bytes"], predicted["root_bytes"], "real group:root vs predicted from GET /v2/groups");

    let without = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_marathon-admission")).args(["report", "--json", "--zk", &zk_spec]).output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success(), "read without a login: {}", String::from_utf8_lossy(&without.stdout));
    assert!(stderr.contains("--config"), "the error does not say where the login goes: {stderr}");
    assert!(!stderr.contains("s3cret-zk"), "{stderr}");
    sim.shutdown().await;
    let _ = std::fs::remove_file(state_file);
    let _ = std::fs::remove_file(proxy_toml);
}

/// A Kerberized ensemble (a realm of the test's own: MIT's KDC on loopback) that Marathon (the
/// simulator, a process logged in with its keytab) persists into: `report --zk` with `--config`'s
/// `[zookeeper] sasl_gssapi` reads the bytes the state predicts, and a proxy reading the root node
/// with the same login holds ZooKeeper's bytes (`/readyz`'s `zookeeper_read`). Every process gets
/// the keytab in its own environment.
#[test]
fn with_kerberos_report_zk_and_the_root_reader_log_in_as_the_config_says() {
    use crate::harness::*;
    use marathon_sim::testing::{Kdc, ZOOKEEPER_PRINCIPAL};

    let kdc = Kdc::start().expect("a Kerberos KDC from Debian's krb5-kdc and krb5-admin-server (.ci/run installs them)");
    let zk = ZooKeeper::start_requiring_kerberos(&kdc).expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let env = kdc.client_env(&kdc.add_principal("marathon").unwrap());
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = TempDir::new("report-zk-kerberos");
    let zk_spec = format!("{}/marathon", zk.connect_string());
    let sim_addr = format!("127.0.0.1:{}", free_port());
    let sim_args = ["sim", "--listen", &sim_addr, "--zk", &zk_spec, "--zk-sasl-gssapi", ZOOKEEPER_PRINCIPAL, "--state", SEED];
    let mut sim = Child::spawn("sim (Kerberos)", &sim_args, dir.path().join("sim.log"), &envs);
    wait_200(&mut sim, &format!("http://{sim_addr}/ping"));
    let config = dir.write("proxy.toml", &format!("[zookeeper]\nread = \"{zk_spec}\"\nsasl_gssapi = \"{ZOOKEEPER_PRINCIPAL}\"\n"));

    let state = reqwest::blocking::get(format!("http://{sim_addr}/v2/groups?embed=group.groups&embed=group.apps")).unwrap().bytes().unwrap();
    let state_file = dir.write("state.json", std::str::from_utf8(&state).unwrap());
    let out = Command::new(BIN).args(["report", "--json", "--zk", &zk_spec, "--config", config.to_str().unwrap()]).envs(env.clone()).output().unwrap();
    assert!(out.status.success(), "report --zk with Kerberos: {}\nKDC:\n{}", show(&out), kdc.log_tail());
    let real: Value = serde_json::from_slice(&out.stdout).unwrap();
    let predicted = report(&["--state", state_file.to_str().unwrap()]);
    assert_eq!(real["root_bytes"], predicted["root_bytes"], "real group:root vs predicted from GET /v2/groups");

    let (listen, admin) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let serve_args = ["serve", "--config", config.to_str().unwrap(), "--listen", &listen, "--admin-listen", &admin, "--marathon", &format!("http://{sim_addr}")];
    let mut proxy = Child::spawn("serve (Kerberos)", &serve_args, dir.path().join("proxy.log"), &envs);
    wait_200(&mut proxy, &format!("http://{admin}/readyz"));
    eventually_blocking(showing("the proxy reads the root node with its Kerberos login", || proxy.log_text()), || {
        let readyz = get_json(&format!("http://{admin}/readyz"));
        let read = &readyz["detail"]["zookeeper_read"];
        if read["state"] == "reading" && read["order_from_zookeeper"] == true && read["estimate_error_bytes"] == 0 {
            Ok(())
        } else {
            Err(read.to_string())
        }
    });
}
