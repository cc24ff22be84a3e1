//! Per-group quotas end to end, on 127.0.0.1 only: the Marathon simulator behind the proxy,
//! started from a `proxy.toml` written by the test (through `admit::phases_for`, as `serve` does,
//! so that hot reload watches that file; SIGHUP is signalled to a `serve` process of its own, in
//! `tests/reload_on_sighup.rs`, never to this one, which runs every test here).

use std::path::{Path, PathBuf};

use crate::common::*;
use http::Request;
use http_body_util::Full;

struct Stack {
    sim: marathon_sim::SimHandle,
    proxy: RunningProxy,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

// The tests' own address is where identity headers come from (as from an authenticating front
// proxy).
const BASE: &str = "[admission]\nresync_interval_ms = 200\naudit_log = \"off\"\ntrusted_identity_sources = [\"127.0.0.1\"]\n\n";

fn write_config(file: &Path, sim_url: &str, quotas: &str) {
    let text = format!(
        "marathon = [\"{sim_url}\"]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\n{BASE}{quotas}"
    );
    // Write then rename: the watcher never sees half a file.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

async fn start(quotas: &str) -> Stack {
    let sim = marathon_sim::start(marathon_sim::SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    write_config(&file, &sim.url(), quotas);
    let mut config = admission_runtime::ServeConfig::load(&file).unwrap();
    config.proxy.upstream.leader_poll_interval_ms = 100;
    let marathon = proxy::MarathonClient::new(&config.proxy).unwrap();
    let phases = admission_runtime::phases_for(&config, &marathon).unwrap();
    let proxy = start_proxy_sharing(config.proxy, phases, marathon).await;
    wait_ready(&proxy).await;
    Stack { sim, proxy, file, _dir: dir }
}

fn app(id: &str, instances: u32, cpus: f64) -> String {
    serde_json::json!({"id": id, "cmd": "sleep 1000", "instances": instances, "cpus": cpus, "mem": 64.0}).to_string()
}

fn req_as(method: &str, url: &str, body: &str, auth: Option<&str>, extra: &[(&str, &str)]) -> Request<Full<bytes::Bytes>> {
    let mut b = Request::builder().method(method).uri(url).header("content-type", "application/json");
    if let Some(a) = auth {
        b = b.header("authorization", format!("Basic {a}"));
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(Full::new(bytes::Bytes::from(body.to_owned()))).unwrap()
}

async fn metrics(s: &Stack) -> String {
    let (_, _, body) = fetch(&client(), get(&s.proxy.admin_url("/metrics"))).await;
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the first sample line starting with `prefix`.
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

async fn groups(s: &Stack) -> serde_json::Value {
    let (status, _, body) = fetch(&client(), get(&s.proxy.url("/admission/v1/groups"))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(&body)
}

const QUOTAS: &str = r#"
[[quota]]
group = "/dev"
max_apps = 2
max_cpus = 4.0
owner = "team-dev@example.com"

[[quota]]
group = "/dev/team"
max_instances = 3

[[quota]]
group = "/prod"
max_apps = 1
mode = "warn"
owner = "team-prod@example.com"
"#;

#[tokio::test]
async fn nested_quotas_scale_up_group_replace_and_the_way_out() {
    let s = start(QUOTAS).await;
    let c = client();
    let post = |body: String| req("POST", &s.proxy.url("/v2/apps"), &body);

    let (st, h, _) = fetch(&c, post(app("/dev/a", 1, 1.0))).await;
    assert_eq!(st, 201);
    assert!(h.get("warning").is_none());
    let (st, _, _) = fetch(&c, post(app("/dev/team/b", 2, 1.0))).await;
    assert_eq!(st, 201);

    // A third app in /dev: refused by /dev (2 apps), with the whole story in `message`.
    let (st, h, body) = fetch(&c, post(app("/dev/c", 1, 0.5))).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["content-type"], "application/json");
    let v = json(&body);
    let m = v["message"].as_str().unwrap();
    for needle in [
        "marathon-admission rejected POST /v2/apps",
        "exceeded quota /dev (owner: team-dev@example.com)",
        "requested: apps=1, used: apps=2, limited: apps=2",
        "Way out: delete apps in /dev",
        "raise `max_apps`",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in {m}");
    }
    assert_eq!(v["details"][0]["path"], "/dev");
    assert!(s.sim.root().find_app(&marathon_model::PathId::parse("/dev/c")).is_none(), "reached Marathon");

    // Scale-up: /dev/team/b to 4 instances is over /dev/team (3 instances) and /dev (4 cpus: 1 + 4).
    let (st, _, body) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps/dev/team/b"), r#"{"instances": 4}"#)).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    let m = json(&body)["message"].as_str().unwrap().to_string();
    assert!(m.contains("exceeded quota /dev/team") && m.contains("requested: instances=2, used: instances=2, limited: instances=3"), "{m}");
    assert!(m.contains("requested: cpus=2, used: cpus=3, limited: cpus=4"), "{m}");
    // Within both: 3 instances.
    let (st, _, body) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps/dev/team/b"), r#"{"instances": 3}"#)).await;
    assert!(st.is_success(), "{st} {}", String::from_utf8_lossy(&body));

    // A group replace measured on the target: /dev/team with 2 apps of 2 instances.
    let group = serde_json::json!({"id": "/dev/team", "apps": [
        {"id": "/dev/team/b", "cmd": "x", "instances": 2, "cpus": 0.1},
        {"id": "/dev/team/c", "cmd": "x", "instances": 2, "cpus": 0.1}
    ]});
    let (st, _, body) = fetch(&c, req("PUT", &s.proxy.url("/v2/groups/dev/team"), &group.to_string())).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    let m = json(&body)["message"].as_str().unwrap().to_string();
    assert!(m.contains("exceeded quota /dev/team") && m.contains("instances"), "{m}");
    assert!(m.contains("exceeded quota /dev (") && m.contains("used: apps=2, limited: apps=2"), "{m}");

    // The way out always passes: a deletion and a scale-down.
    let (st, _, body) = fetch(&c, req("DELETE", &s.proxy.url("/v2/apps/dev/a"), "")).await;
    assert!(st.is_success(), "{st} {}", String::from_utf8_lossy(&body));
    let (st, _, body) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps/dev/team/b"), r#"{"instances": 1}"#)).await;
    assert!(st.is_success(), "{st} {}", String::from_utf8_lossy(&body));
    // And then /dev/c fits.
    let (st, _, body) = fetch(&c, post(app("/dev/c", 1, 0.5))).await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));

    // A quota in `warn` mode forwards with a Warning header.
    let (st, _, _) = fetch(&c, post(app("/prod/x", 1, 0.1))).await;
    assert_eq!(st, 201);
    let (st, h, _) = fetch(&c, post(app("/prod/y", 1, 0.1))).await;
    assert_eq!(st, 201);
    let w = h.get("warning").expect("a warning").to_str().unwrap();
    assert!(w.starts_with("299 - \"marathon-admission") && w.contains("exceeded quota /prod") && w.contains("mode is `warn`"), "{w}");

    // Audit trail: the decisions endpoint has them, with the quota reason class.
    let (_, _, body) = fetch(&c, get(&s.proxy.url("/admission/v1/decisions?limit=50"))).await;
    let d = json(&body);
    let list = d["decisions"].as_array().unwrap();
    assert!(list.iter().any(|r| r["decision"] == "reject" && r["reason"] == "quota" && r["path"] == "/v2/apps"), "{d}");
    // And the metrics count them.
    let m = metrics(&s).await;
    assert!(
        sample(&m, "marathon_admission_proxy_quota_findings_total{group=\"/dev\",resource=\"apps\",outcome=\"reject\"}").unwrap_or(0.0) >= 2.0,
        "{m}"
    );
    assert!(m.contains("marathon_admission_proxy_admission_decisions_total{outcome=\"reject\",reason=\"quota\"}"), "{m}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn exemptions_by_user_and_header_expired_ones_ignored_and_counted() {
    let quotas = r#"
[[quota]]
group = "/dev"
max_apps = 1
owner = "platform@example.com"

[[exemption]]
client = "ci-bot"
expires = "2099-01-01T00:00:00Z"
ticket = "OPS-1"

[[exemption]]
client = "old-bot"
expires = 2001-01-01T00:00:00Z
ticket = "OPS-0"

[[exemption]]
group = "/dev/legacy"
client = "team-legacy"
header = "X-Client-Id"
expires = "2099-01-01T00:00:00Z"
ticket = "OPS-2"
"#;
    let s = start(quotas).await;
    let c = client();
    let url = s.proxy.url("/v2/apps");
    let (st, _, _) = fetch(&c, req("POST", &url, &app("/dev/a", 1, 0.1))).await;
    assert_eq!(st, 201);

    // Anonymous: refused.
    let (st, _, body) = fetch(&c, req("POST", &url, &app("/dev/b", 1, 0.1))).await;
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&body));
    // An expired exemption: refused, and the message says it was ignored.
    let (st, _, body) = fetch(&c, req_as("POST", &url, &app("/dev/b", 1, 0.1), Some("b2xkLWJvdDpwdw=="), &[])).await;
    assert_eq!(st, 422);
    let m = json(&body)["message"].as_str().unwrap().to_string();
    assert!(m.contains("exemption OPS-0 has expired and was ignored"), "{m}");
    // ci-bot (Basic auth user): forwarded with a warning naming the ticket.
    let (st, h, body) = fetch(&c, req_as("POST", &url, &app("/dev/b", 1, 0.1), Some("Y2ktYm90OnB3"), &[])).await;
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let w = h["warning"].to_str().unwrap();
    assert!(w.contains("forwarded under exemption OPS-1"), "{w}");
    // The header identity, only under its group.
    let hdr = [("x-client-id", "team-legacy")];
    let (st, _, _) = fetch(&c, req_as("POST", &url, &app("/dev/other", 1, 0.1), None, &hdr)).await;
    assert_eq!(st, 422);
    let (st, h, _) = fetch(&c, req_as("POST", &url, &app("/dev/legacy/x", 1, 0.1), None, &hdr)).await;
    assert_eq!(st, 201);
    assert!(h["warning"].to_str().unwrap().contains("OPS-2"));

    let m = metrics(&s).await;
    assert_eq!(sample(&m, "marathon_admission_proxy_quota_exemptions_used_total{ticket=\"OPS-1\"}"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "marathon_admission_proxy_quota_exemptions_used_total{ticket=\"OPS-2\"}"), Some(1.0), "{m}");
    assert!(sample(&m, "marathon_admission_proxy_quota_exemptions_used_total{ticket=\"OPS-0\"}").is_none(), "{m}");
    assert_eq!(sample(&m, "marathon_admission_proxy_exemptions_active "), Some(2.0), "{m}");
    // The usage API lists them, active or not.
    let g = groups(&s).await;
    let ex = g["exemptions"].as_array().unwrap();
    assert_eq!(ex.len(), 3);
    assert_eq!(ex.iter().filter(|e| e["active"] == true).count(), 2);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn usage_api_and_gauges() {
    let s = start(QUOTAS).await;
    let c = client();
    for (id, n) in [("/dev/a", 2), ("/dev/team/b", 1), ("/prod/x", 3)] {
        let (st, _, _) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app(id, n, 0.5))).await;
        assert_eq!(st, 201);
    }
    eventually("the model holds the three apps", || async { groups(&s).await["groups"][0]["subtree"]["apps"] == 3 }).await;
    let g = groups(&s).await;
    let rows = g["groups"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} in {g}")).clone();
    let dev = row("/dev");
    assert_eq!(dev["subtree"]["apps"], 2);
    assert_eq!(dev["subtree"]["instances"], 3);
    assert_eq!(dev["subtree"]["cpus"], 1.5);
    assert_eq!(dev["subtree"]["mem"], 192.0);
    assert_eq!(dev["own"]["apps"], 1);
    assert!(dev["subtree"]["bytes"].as_u64().unwrap() > dev["own"]["bytes"].as_u64().unwrap());
    let team = row("/dev/team");
    let applying: Vec<&str> = team["quotas"].as_array().unwrap().iter().map(|q| q["group"].as_str().unwrap()).collect();
    assert_eq!(applying, vec!["/dev", "/dev/team"]);
    let q = &dev["quotas"][0];
    assert_eq!(q["owner"], "team-dev@example.com");
    let apps = q["resources"].as_array().unwrap().iter().find(|r| r["resource"] == "apps").unwrap();
    assert_eq!((apps["used"].as_f64(), apps["limit"].as_f64()), (Some(2.0), Some(2.0)));
    assert!(g["limit_bytes"].as_u64().unwrap() > 0);
    assert!(g["headroom_ratio"].as_f64().unwrap() > 0.9);
    assert_eq!(g["layout"], "legacy");
    // The tree is only there when asked for.
    assert!(g.get("tree").is_none());
    let (_, _, body) = fetch(&c, get(&s.proxy.url("/admission/v1/groups?tree=1"))).await;
    let t = json(&body);
    let top: Vec<&str> = t["tree"]["children"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(top.contains(&"/dev") && top.contains(&"/prod"), "{top:?}");

    // Gauges per quota and per top-level group.
    eventually("quota gauges", || async {
        sample(&metrics(&s).await, "marathon_admission_proxy_quota_used{group=\"/dev\",resource=\"apps\"}") == Some(2.0)
    })
    .await;
    let m = metrics(&s).await;
    assert_eq!(sample(&m, "marathon_admission_proxy_quota_limit{group=\"/dev\",resource=\"apps\"}"), Some(2.0), "{m}");
    assert_eq!(sample(&m, "marathon_admission_proxy_quota_used_ratio{group=\"/dev\",resource=\"apps\"}"), Some(1.0), "{m}");
    assert_eq!(sample(&m, "marathon_admission_proxy_quota_used{group=\"/prod\",resource=\"apps\"}"), Some(1.0), "{m}");
    let share = sample(&m, "marathon_admission_proxy_group_limit_share{group=\"/dev\"}").unwrap();
    assert!(share > 0.0 && share < 0.1, "{share}");
    let headroom = sample(&m, "marathon_admission_proxy_budget_headroom_ratio ").unwrap();
    assert!(headroom > 0.9 && headroom < 1.0, "{headroom}");
    assert_eq!(sample(&m, "marathon_admission_proxy_quotas "), Some(3.0), "{m}");

    // Only GET.
    let (st, _, _) = fetch(&c, req("POST", &s.proxy.url("/admission/v1/groups"), "")).await;
    assert_eq!(st, 405);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn reload_applies_a_good_file_and_refuses_a_bad_one() {
    let one = "[[quota]]\ngroup = \"/dev\"\nmax_apps = 1\n";
    let s = start(one).await;
    let c = client();
    let url = s.proxy.url("/v2/apps");
    assert_eq!(fetch(&c, req("POST", &url, &app("/dev/a", 1, 0.1))).await.0, 201);
    assert_eq!(fetch(&c, req("POST", &url, &app("/dev/b", 1, 0.1))).await.0, 422);
    let m = metrics(&s).await;
    assert_eq!(sample(&m, "marathon_admission_proxy_config_last_reload_success "), Some(1.0), "{m}");

    // A good file: applied on its own (the watcher sees the change).
    write_config(&s.file, &s.sim.url(), "[[quota]]\ngroup = \"/dev\"\nmax_apps = 5\n");
    eventually("the new limit is in force", || async {
        groups(&s).await["quotas"][0]["resources"][0]["limit"].as_f64() == Some(5.0)
    })
    .await;
    assert_eq!(fetch(&c, req("POST", &url, &app("/dev/b", 1, 0.1))).await.0, 201);
    assert!(sample(&metrics(&s).await, "marathon_admission_proxy_config_reloads_total").unwrap() >= 1.0);

    // A bad file: refused, the running quotas keep working, the metrics say so.
    write_config(&s.file, &s.sim.url(), "[[quota]]\ngroup = \"/dev\"\nmax_apps = -1\n");
    eventually("the bad file is refused", || async {
        let m = metrics(&s).await;
        sample(&m, "marathon_admission_proxy_config_last_reload_success ") == Some(0.0)
            && sample(&m, "marathon_admission_proxy_config_reload_failures_total").unwrap_or(0.0) >= 1.0
    })
    .await;
    assert_eq!(groups(&s).await["quotas"][0]["resources"][0]["limit"].as_f64(), Some(5.0));
    assert_eq!(fetch(&c, req("POST", &url, &app("/dev/c", 1, 0.1))).await.0, 201, "the old quota (5 apps) still holds");

    // A misspelt table: refused as well (ignored, it would lift every quota).
    let failures = sample(&metrics(&s).await, "marathon_admission_proxy_config_reload_failures_total").unwrap();
    write_config(&s.file, &s.sim.url(), "[[qouta]]\ngroup = \"/dev\"\nmax_apps = 50\n");
    eventually("the misspelt table is refused", || async {
        sample(&metrics(&s).await, "marathon_admission_proxy_config_reload_failures_total").unwrap_or(0.0) > failures
    })
    .await;
    assert_eq!(groups(&s).await["quotas"][0]["resources"][0]["limit"].as_f64(), Some(5.0), "the old quota stays");

    // A fixed file is loaded again. (SIGHUP, which goes to a whole process, is signalled to a
    // `serve` of its own: `tests/reload_on_sighup.rs`.)
    write_config(&s.file, &s.sim.url(), "[[quota]]\ngroup = \"/dev\"\nmax_apps = 3\n");
    eventually("the fixed file is loaded", || async {
        sample(&metrics(&s).await, "marathon_admission_proxy_config_last_reload_success ") == Some(1.0)
    })
    .await;
    assert_eq!(fetch(&c, req("POST", &url, &app("/dev/d", 1, 0.1))).await.0, 422, "3 apps is the limit now");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}
