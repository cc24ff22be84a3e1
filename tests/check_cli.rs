//! The `check` and `report` commands from outside, as CI pipelines and graders run them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

// The suite's one way to wait (this file does without the harness).
use proxy::test_util::eventually;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_marathon-admission"))
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// A root with `n` apps of `env` random-looking env vars each, in `/prod`.
fn state(n: usize, env: usize) -> String {
    let apps: Vec<String> = (0..n)
        .map(|i| {
            let vars: Vec<String> = (0..env).map(|j| format!(r#""V{j}":"{:032x}""#, (i * 7919 + j * 104729) as u128 * 0x9e3779b97f4a7c15)).collect();
            format!(
                r#"{{"id":"/prod/app-{i}","cmd":"run","env":{{{}}},"portDefinitions":[{{"port":{},"protocol":"tcp"}}],"version":"2017-01-01T00:00:00.000Z"}}"#,
                vars.join(","),
                10000 + i
            )
        })
        .collect();
    format!(
        r#"{{"id":"/","version":"2017-01-01T00:00:00.000Z","apps":[],"groups":[{{"id":"/prod","version":"2017-01-01T00:00:00.000Z","apps":[{}],"groups":[]}}]}}"#,
        apps.join(",")
    )
}

fn check(state: &PathBuf, method: &str, path: &str, body: Option<&str>, extra: &[&str]) -> (i32, Value) {
    let mut cmd = bin();
    cmd.args(["check", "--json", "--method", method, "--path", path]).arg("--state").arg(state).args(extra);
    if let Some(body) = body {
        cmd.arg("--body").arg(tmp(&format!("body-{}.json", body.len()), body));
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json)
}

#[test]
fn small_write_is_allowed_with_the_contract_fields() {
    let s = tmp("small.json", &state(20, 5));
    let (code, out) = check(&s, "POST", "/v2/apps", Some(r#"{"id":"/prod/new","cmd":"x"}"#), &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["decision"], "allow");
    assert_eq!(out["layout"], "legacy");
    assert_eq!(out["limit_bytes"], 1_024_000);
    // The plan holds the original and the target root group.
    assert!(out["estimated_plan_bytes"].as_u64().unwrap() > out["current_root_bytes"].as_u64().unwrap());
    assert!(out["estimated_root_bytes"].as_u64().unwrap() > out["current_root_bytes"].as_u64().unwrap());
    assert!(out["reasons"].as_array().unwrap().len() >= 1);
}

#[test]
fn growing_write_past_the_limit_is_rejected_and_deletes_pass() {
    // A 30 kB limit: 40 apps of 10 env vars make a plan well past it.
    let s = tmp("big.json", &state(40, 10));
    let limit = ["--zk-max-node-size", "30000"];
    let big_app = format!(
        r#"{{"id":"/prod/huge","cmd":"x","env":{{{}}}}}"#,
        (0..200).map(|j| format!(r#""K{j}":"{:032x}""#, j as u128 * 0x9e3779b97f4a7c15)).collect::<Vec<_>>().join(",")
    );
    let (code, out) = check(&s, "POST", "/v2/apps", Some(&big_app), &limit);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["decision"], "reject");
    assert_eq!(out["marathon_accepts"], false);
    assert!(out["reasons"][0].as_str().unwrap().contains("bytes"));

    let (code, out) = check(&s, "DELETE", "/v2/apps/prod/app-3", None, &limit);
    assert_eq!(code, 0, "{out}");
    assert_ne!(out["decision"], "reject");
}

#[test]
fn reads_and_unparsable_bodies_are_admitted() {
    let s = tmp("reads.json", &state(3, 1));
    let (code, out) = check(&s, "GET", "/v2/apps", None, &[]);
    assert_eq!((code, out["decision"].as_str()), (0, Some("allow")));
    assert!(out["estimated_plan_bytes"].is_null());
    let (code, out) = check(&s, "POST", "/v2/apps", Some("{not json"), &[]);
    assert_eq!(code, 0, "Marathon answers malformed bodies itself: {out}");
}

#[test]
fn bad_input_exits_2() {
    let missing = PathBuf::from("/nonexistent/root.json");
    let (code, _) = check(&missing, "GET", "/v2/apps", None, &[]);
    assert_eq!(code, 2);
    let garbage = tmp("garbage.json", "[1,2");
    let (code, _) = check(&garbage, "GET", "/v2/apps", None, &[]);
    assert_eq!(code, 2);
}

/// `report --config` names what it configures (`--marathon`'s `[upstream]`, `--zk`'s
/// `[zookeeper]` login): beside `--state` or `--history` alone it would change nothing, so it is
/// refused rather than ignored.
#[test]
fn report_config_goes_with_marathon_or_zk() {
    let s = tmp("report-config.json", &state(3, 1));
    let config = tmp("report-config.toml", "[zookeeper]\ndigest = \"reader:pw\"\n");
    for source in [["--state", s.to_str().unwrap()], ["--history", "/nonexistent/history.json"]] {
        let out = bin().arg("report").args(source).arg("--config").arg(&config).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{source:?}: {stderr}");
        assert!(stderr.contains("--config goes with --marathon") && stderr.contains("--zk"), "{source:?}: {stderr}");
    }
}

#[test]
fn report_lists_groups_apps_and_headroom() {
    let s = tmp("report.json", &state(30, 4));
    let out = bin().args(["report", "--json", "--top", "5", "--state"]).arg(&s).output().unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["layout"], "legacy");
    assert!(r["root_bytes"].as_u64().unwrap() > 0);
    assert_eq!(r["groups"][0]["id"], "/");
    assert_eq!(r["groups"][1]["id"], "/prod");
    assert_eq!(r["groups"][1]["apps"], 30);
    assert_eq!(r["apps"].as_array().unwrap().len(), 5);
    let sizes: Vec<u64> = r["apps"].as_array().unwrap().iter().map(|a| a["bytes"].as_u64().unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first: {sizes:?}");
    assert!(r["headroom"]["more_median_apps_fit"].as_u64().unwrap() > 100);
}

#[test]
fn v14_layout_reports_the_zookeeper_packet_limit() {
    let s = tmp("v14.json", &state(10, 2));
    let (code, out) = check(&s, "POST", "/v2/apps", Some(r#"{"id":"/prod/n","cmd":"x"}"#), &["--layout", "v1.4"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["layout"], "v1.4");
    assert_eq!(out["limit_bytes"], 0xfffff);
}

/// `check --config` and the running proxy's `POST /admission/v1/check` judge the same write on
/// the same state with the same configuration (group modes and quotas included) alike: same
/// decision, same reasons, same JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_config_decides_as_the_proxys_dry_run() {
    let tables = "[admission]\nzk_max_node_size = 60000\naudit_log = \"off\"\n\n\
                  [[admission.group]]\nprefix = \"/dev\"\nmode = \"warn\"\n\n\
                  [[quota]]\ngroup = \"/prod\"\nmax_instances = 40\nmax_env_vars = 20\n";
    let config_file = tmp("dry-run.toml", tables);
    let seed = tmp("dry-run-seed.json", &state(20, 8));
    let sim_config = marathon_sim::SimConfig { zk_max_node_size: 60_000, ..marathon_sim::SimConfig::default() };
    let sim = marathon_sim::start(sim_config.with_state_file(&seed).unwrap()).await.unwrap();

    let text = format!("marathon = [\"{}\"]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{tables}", sim.url());
    let config = admission_runtime::ServeConfig::from_toml_str(&text, None).unwrap();
    let marathon = proxy::MarathonClient::new(&config.proxy).unwrap();
    let phases = admission_runtime::phases_for(&config, &marathon).unwrap();
    let bound = proxy::Proxy::bind(config.proxy, phases, marathon).await.unwrap();
    let (url, admin) = (format!("http://{}", bound.local_addr()), format!("http://{}", bound.admin_addr()));
    tokio::spawn(bound.run(std::future::pending()));
    let http = reqwest::Client::new();
    eventually("the proxy is ready", || async { http.get(format!("{admin}/readyz")).send().await.is_ok_and(|r| r.status() == 200) }).await;
    // The state both judge: what the simulator returns.
    let root = http.get(format!("{}/v2/groups?embed=group.groups&embed=group.apps", sim.url())).send().await.unwrap();
    let root_file = tmp("dry-run-root.json", &root.text().await.unwrap());

    let big = |id: &str, n: usize| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let env: Vec<String> = (0..n).map(|j| format!(r#""B{j}":"{:016x}{:016x}""#, next(), next())).collect();
        format!(r#"{{"id":"{id}","cmd":"run","env":{{{}}}}}"#, env.join(","))
    };
    let writes: Vec<(&str, &str, String)> = vec![
        ("POST", "/v2/apps", r#"{"id":"/prod/many","cmd":"run","instances":50}"#.to_string()),
        ("POST", "/v2/apps", big("/prod/env", 30)),
        ("POST", "/v2/apps", big("/prod/huge", 900)),
        ("POST", "/v2/apps", big("/dev/huge", 900)),
        ("PUT", "/v2/apps/prod/app-1", r#"{"instances":2}"#.to_string()),
        ("DELETE", "/v2/apps/prod/app-2", String::new()),
        ("POST", "/v2/apps", "{not json".to_string()),
        ("GET", "/v2/apps", String::new()),
    ];
    let mut verdicts = Vec::new();
    for (method, path, body) in &writes {
        let (code, cli) = check(&root_file, method, path, Some(body), &["--config", config_file.to_str().unwrap()]);
        let target = format!("{url}/admission/v1/check?method={method}&path={}", path.replace('/', "%2F"));
        let live: Value = serde_json::from_str(&http.post(target).body(body.clone()).send().await.unwrap().text().await.unwrap()).unwrap();
        assert_same_decision(&cli, &live, &format!("{method} {path}"));
        assert_eq!(code, if cli["decision"] == "reject" { 1 } else { 0 }, "{method} {path}");
        verdicts.push(cli["decision"].as_str().unwrap().to_string());
    }
    // The cases cover each outcome: two quota refusals, the wall (and a quota), a group in warn
    // mode, allows.
    assert_eq!(verdicts, ["reject", "reject", "reject", "warn", "allow", "allow", "allow", "allow"]);
}

/// The same decision JSON, but for what is a fact of the process rather than of the decision
/// (how the bytes were computed, the proxy's pending writes) and for the few bytes the
/// deployment's clock moves a compressed plan by (both stamp versions with their own `now`).
fn assert_same_decision(cli: &Value, live: &Value, what: &str) {
    const BYTES: [&str; 4] = ["estimated_plan_bytes", "binding_bytes", "estimated_root_bytes", "current_root_bytes"];
    let digits = regex::Regex::new("[0-9]+").unwrap();
    let masked = |v: &Value| {
        let mut v = v.clone();
        let m = v.as_object_mut().unwrap();
        m.remove("estimator");
        m.remove("pending_writes");
        for k in BYTES {
            m.remove(k);
        }
        if let Some(Value::Array(reasons)) = m.get_mut("reasons") {
            for r in reasons {
                *r = Value::String(digits.replace_all(r.as_str().unwrap(), "N").into_owned());
            }
        }
        v
    };
    assert_eq!(masked(cli), masked(live), "{what}");
    for k in BYTES {
        match (cli[k].as_u64(), live[k].as_u64()) {
            (Some(a), Some(b)) => assert!(a.abs_diff(b) <= 8, "{what}: {k} {a} vs {b}"),
            (a, b) => assert_eq!(a, b, "{what}: {k}"),
        }
    }
}

/// `check --marathon URL` and `report --marathon URL` read the live root group (through the
/// proxy's own client) and say what they say about the same state read from a file; a Marathon
/// that cannot be read is a clear error, exit code 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_marathon_reads_as_its_state_file() {
    let seed = tmp("live-seed.json", &state(25, 6));
    let sim = marathon_sim::start(marathon_sim::SimConfig::default().with_state_file(&seed).unwrap()).await.unwrap();
    let root = reqwest::get(format!("{}/v2/groups?embed=group.groups&embed=group.apps", sim.url())).await.unwrap();
    let root_file = tmp("live-root.json", &root.text().await.unwrap());
    let url = sim.url();
    let (from_file, from_marathon) = tokio::task::spawn_blocking(move || {
        let report = |source: &[&str]| {
            let out = bin().args(["report", "--json"]).args(source).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let write = Some(r#"{"id":"/prod/new","cmd":"x"}"#);
        // A file does not say how many deployments are pending; the simulator lists none.
        let state = ["--state", root_file.to_str().unwrap(), "--pending-deployments", "0"];
        let file = (report(&state), check(&root_file, "POST", "/v2/apps", write, &[]).1);
        let mut cmd = bin();
        cmd.args(["check", "--json", "--method", "POST", "--path", "/v2/apps", "--marathon", &url]);
        cmd.arg("--body").arg(tmp("live-body.json", write.unwrap()));
        let checked: Value = serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap();
        (file, (report(&["--marathon", &url]), checked))
    })
    .await
    .unwrap();
    assert_eq!(from_marathon.0, from_file.0, "report");
    assert_eq!(from_marathon.1["decision"], "allow");
    assert_eq!(from_marathon.1["current_root_bytes"], from_file.1["current_root_bytes"]);
    assert_eq!(from_marathon.1["reasons"], from_file.1["reasons"]);

    // Bound but never listening: connections are refused, and no other test takes the port.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = format!("http://{}", reserved.local_addr().unwrap());
    let out = bin().args(["report", "--marathon", &dead]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("cannot read the root group from Marathon at {dead}")), "{stderr}");
}

/// Behind a Marathon that requires authentication, `report --marathon` reads with the proxy's own
/// credentials (here from the environment) and says what is missing without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_marathon_behind_basic_auth_is_read_with_the_proxys_credentials() {
    let sim_config = marathon_sim::SimConfig { http_credentials: Some(("ops".into(), "s3cr3t-report".into())), ..Default::default() };
    let sim = marathon_sim::start(sim_config).await.unwrap();
    let url = sim.url();
    let (with, without) = tokio::task::spawn_blocking(move || {
        let run = |credentials: Option<&str>| {
            let mut cmd = bin();
            cmd.args(["report", "--json", "--marathon", &url]).env_remove("MARATHON_ADMISSION_CREDENTIALS");
            if let Some(c) = credentials {
                cmd.env("MARATHON_ADMISSION_CREDENTIALS", c);
            }
            cmd.output().unwrap()
        };
        (run(Some("ops:s3cr3t-report")), run(None))
    })
    .await
    .unwrap();
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&with.stdout).unwrap()["layout"], "legacy");
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("401") && stderr.contains("requires authentication"), "{stderr}");
    for out in [&with, &without] {
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains("s3cr3t-report"), "{all}");
    }
}

/// An app definition file's content: `vars` random-looking env values (what makes apps large).
fn definition(id: &str, vars: usize, seed: usize) -> String {
    let env: Vec<String> = (0..vars).map(|j| format!(r#""K{j}":"{:032x}""#, ((seed * 7919 + j * 104_729 + 1) as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))).collect();
    format!(r#"{{"id":"{id}","cmd":"run","env":{{{}}}}}"#, env.join(","))
}

/// A directory of 20 definitions as a pipeline keeps them: 19 apps that together outgrow a
/// 40 kB node, one of them updating an app an earlier file created, and last an update that empties
/// an app's environment.
fn twenty_definitions() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check-cli").join("twenty");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..20 {
        let body = match i {
            7 => definition("/prod/app-03", 10, 99),
            19 => r#"{"id":"/prod/app-00","cmd":"run"}"#.to_string(),
            _ => definition(&format!("/prod/app-{i:02}"), 30, i),
        };
        std::fs::write(dir.join(format!("{i:02}-app.json")), body).unwrap();
    }
    std::fs::write(dir.join("README.md"), "not a definition").unwrap();
    dir
}

const OWNED: &str = "[admission]\nzk_max_node_size = 40000\n\n[[quota]]\ngroup = \"/prod\"\nmax_apps = 100\nowner = \"team-prod@example.com\"\n";

/// `check DIR`: every file judged in order on the state the admitted ones before it leave; a
/// rejected one leaves it as it was. One line per file with its group's owner, then the totals.
#[test]
fn a_directory_of_definitions_is_judged_in_order_with_the_cumulative_effect() {
    let dir = twenty_definitions();
    let root = tmp("twenty-root.json", &state(1, 1));
    let config = tmp("twenty.toml", OWNED);
    let run = |extra: &[&str]| {
        let out = bin().args(["check", "--state"]).arg(&root).arg("--config").arg(&config).args(extra).arg(&dir).output().unwrap();
        (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stdout, stderr) = run(&["--json"]);
    assert_eq!(code, 1, "a rejection: {stderr}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    let files = out["files"].as_array().unwrap();
    let names: Vec<String> = files.iter().map(|f| PathBuf::from(f["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, (0..20).map(|i| format!("{i:02}-app.json")).collect::<Vec<_>>(), "in order, the README left out");
    let verdicts: Vec<&str> = files.iter().map(|f| f["decision"].as_str().unwrap()).collect();
    let first_reject = verdicts.iter().position(|v| *v == "reject").expect("the files outgrow the node");
    assert!(first_reject > 10, "{verdicts:?}");
    assert!(verdicts[..first_reject].iter().all(|v| *v != "reject") && verdicts[..first_reject].contains(&"warn"), "{verdicts:?}");
    assert_ne!(verdicts[19], "reject", "emptying an environment always passes: {verdicts:?}");
    // Each file meets the state the admitted ones before it left.
    for (i, pair) in files.windows(2).enumerate() {
        let carried = match pair[0]["decision"].as_str().unwrap() {
            "reject" => &pair[0]["current_root_bytes"],
            _ => &pair[0]["estimated_root_bytes"],
        };
        assert_eq!(&pair[1]["current_root_bytes"], carried, "file {} after file {i}", i + 1);
    }
    // An app an earlier file created is updated, as marathon-deploy updates it.
    assert_eq!(files[7]["write"], "PUT /v2/apps/prod/app-03?force=true");
    assert_eq!(files[8]["write"], "POST /v2/apps");
    assert_eq!(files[19]["write"], "PUT /v2/apps/prod/app-00?force=true");
    assert!(files.iter().all(|f| f["group"] == "/prod" && f["owner"] == "team-prod@example.com"));
    let count = |v: &str| verdicts.iter().filter(|x| **x == v).count();
    assert_eq!(out["summary"], serde_json::json!({"admitted": 20 - count("reject"), "warned": count("warn"), "rejected": count("reject"), "undecided": 0}));

    // The same file alone on the state as it was: admitted. What refuses it is the files before.
    let alone = bin().args(["check", "--state"]).arg(&root).arg("--config").arg(&config).arg(dir.join(&names[first_reject])).output().unwrap();
    assert_eq!(alone.status.code(), Some(0), "{}", String::from_utf8_lossy(&alone.stdout));

    // As text: one line per file, in order, with the group and its owner, then the totals.
    let (code, stdout, _) = run(&[]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 21, "{stdout}");
    for (i, line) in lines[..20].iter().enumerate() {
        let prefix = format!("{}: {}: ", dir.join(&names[i]).display(), verdicts[i]);
        assert!(line.starts_with(&prefix), "{line}");
        assert!(line.contains("(group /prod, owner team-prod@example.com): "), "{line}");
    }
    assert!(lines[first_reject].contains("over the admission threshold"), "{}", lines[first_reject]);
    assert!(lines[20].starts_with("check: 20 files: "), "{}", lines[20]);
}

/// `--warnings-as-errors`: a warning fails the check as a rejection does, for one write and for
/// files; without it a warning passes.
#[test]
fn warnings_as_errors_exits_1_on_a_warning() {
    let root = tmp("warned-root.json", &state(1, 1));
    // Warnings from 1% of the limit: any write of some size warns.
    let config = tmp("warned.toml", "[admission]\nzk_max_node_size = 40000\nwarn_at = 0.01\n");
    let body = tmp("warned-app.json", &definition("/prod/warned", 10, 1));
    let one = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.args(["check", "--json", "--method", "POST", "--path", "/v2/apps", "--state"]).arg(&root).arg("--config").arg(&config);
        let out = cmd.arg("--body").arg(&body).args(extra).output().unwrap();
        (out.status.code().unwrap(), serde_json::from_slice::<Value>(&out.stdout).unwrap())
    };
    let (code, out) = one(&[]);
    assert_eq!((code, out["decision"].as_str()), (0, Some("warn")));
    let (code, out) = one(&["--warnings-as-errors"]);
    assert_eq!((code, out["decision"].as_str()), (1, Some("warn")));
    let files = |extra: &[&str]| bin().args(["check", "--state"]).arg(&root).arg("--config").arg(&config).args(extra).arg(&body).output().unwrap().status.code();
    assert_eq!(files(&[]), Some(0));
    assert_eq!(files(&["--warnings-as-errors"]), Some(1));
}
