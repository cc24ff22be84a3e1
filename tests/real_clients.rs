//! Real Marathon clients from PyPI through the proxy, against the simulator, on 127.0.0.1 only.
//!
//! `marathon-admission sim` and `marathon-admission serve` run as child processes (the binary
//! under test); the Python scripts in `tests/clients/` run with the venv that `.ci/run` creates
//! (`.ci/venv`, or `$MARATHON_ADMISSION_CLIENTS_VENV`): `marathon` (marathon-python) and
//! `marathon-deploy`. The assertions are on what the clients print or raise, which is what a
//! developer reads in a CI log.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

const LIMIT: u64 = 20_000;

fn python_script(script: &str, args: &[&str]) -> std::process::Output {
    let venv = venv();
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(Path::new(REPO).join("tests/clients").join(script)).args(args);
    cmd.env("PYTHONUNBUFFERED", "1").env_remove("http_proxy").env_remove("HTTP_PROXY");
    cmd.env("NO_PROXY", "127.0.0.1").env("no_proxy", "127.0.0.1");
    run_to_end(cmd)
}

fn marathon_deploy(args: &[&str], cwd: &Path) -> std::process::Output {
    let venv = venv();
    let mut cmd = Command::new(venv.join("bin/marathon-deploy"));
    cmd.args(args).current_dir(cwd).env("PYTHONUNBUFFERED", "1");
    cmd.env("NO_PROXY", "127.0.0.1").env("no_proxy", "127.0.0.1");
    run_to_end(cmd)
}

/// Asserts that a rejection text is the proxy's explanation: the limit, the numbers, the way out.
fn assert_explains(text: &str, context: &str) {
    for needle in [
        "HTTP 422 returned with message",
        "marathon-admission rejected",
        "bytes",
        "zk_max_node_size",
        &LIMIT.to_string(),
        "Way out",
        "delete apps",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from what the client showed:\n{text}\n{context}");
    }
}

fn app_count(stack: &Stack) -> usize {
    let v = get_json(&format!("{}/v2/apps", stack.sim_url));
    v["apps"].as_array().unwrap().len()
}

#[test]
fn marathon_python_creates_updates_scales_restarts_deletes_apps_and_groups_and_reads_events() {
    venv(); // fail first, with what to do, when the venv is missing
    let stack = Stack::start(StackOpts { deploy_delay_ms: 200, ..StackOpts::default() });
    let out = python_script("marathon_python_lifecycle.py", &[&stack.proxy_url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    for step in [
        "OK ping",
        "OK info 1.3.14",
        "OK create app /ci/web",
        "OK get app",
        "OK update app deployment ",
        "OK scale app to 3",
        "OK scale app by -1",
        "OK restart app",
        "OK versions ",
        "OK list apps",
        "OK create group",
        "OK get group",
        "OK update group",
        "OK scale group by 2",
        "OK delete group",
        "OK delete app",
        "OK events ",
    ] {
        assert!(stdout.contains(step), "`{step}` missing:\n{}", show(&out));
    }
    // The event stream read through the proxy carried the writes' events.
    let events = stdout.lines().find(|l| l.starts_with("OK events ")).unwrap();
    assert!(events.contains("api_post_event"), "{events}");
    assert!(events.contains("deployment_success") || events.contains("deployment_info"), "{events}");

    // It all went through the proxy: the admin metrics counted the writes and the stream.
    let metrics = http().get(format!("{}/metrics", stack.admin_url)).send().unwrap().text().unwrap();
    for needle in [
        r#"method="POST",route="apps",status="201""#,
        r#"method="PUT",route="apps",status="200""#,
        r#"method="DELETE",route="groups",status="200""#,
        r#"route="events""#,
    ] {
        assert!(metrics.contains(needle), "`{needle}` not in the proxy's metrics:\n{metrics}");
    }
    assert_eq!(app_count(&stack), 0);
}

#[test]
fn marathon_python_shows_the_proxys_rejection_and_the_way_out_stays_open() {
    venv(); // fail first, with what to do, when the venv is missing
    // The proxy on one thread (`worker_threads = 1`: tokio's current-thread scheduler), so that
    // admission, the model sync and forwarding are shown to work without a second worker.
    let stack = Stack::start(StackOpts { zk_max_node_size: LIMIT, worker_threads: 1, ..StackOpts::default() });
    let out = python_script("marathon_python_reject.py", &[&stack.proxy_url, "12"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());

    let created: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CREATED "))
        .unwrap_or_else(|| panic!("{}", show(&out)))
        .parse()
        .unwrap();
    assert!(created >= 3, "rejected too early, after {created} apps:\n{}", show(&out));
    assert!(stdout.contains("STATUS 422"), "{}", show(&out));
    let rejected = stdout.lines().find(|l| l.starts_with("REJECTED ")).unwrap();
    // What `str(MarathonHttpError)` says, i.e. what a pipeline's traceback ends with.
    assert!(
        rejected.starts_with("REJECTED MarathonHttpError: HTTP 422 returned with message, \"marathon-admission rejected POST /v2/apps"),
        "{rejected}"
    );
    assert_explains(rejected, &stack.logs());
    assert!(rejected.contains("/big/app-"), "the largest apps are named: {rejected}");
    assert!(rejected.contains("12 env vars"), "{rejected}");

    let group = stdout.lines().find(|l| l.starts_with("GROUP ")).unwrap();
    assert!(group.starts_with("GROUP REJECTED MarathonHttpError: HTTP 422"), "{group}");
    assert_explains(group, &stack.logs());

    assert!(stdout.contains("OK delete passes"), "{}", show(&out));
    // Nothing rejected reached Marathon.
    assert_eq!(app_count(&stack), created - 1);
}

/// marathon-python's raw response to a write the proxy admits near the wall: Marathon's 201, and
/// the proxy's `Warning: 299` header, which the script prints (marathon-python's models drop it).
#[test]
fn marathon_python_gets_the_warning_of_a_write_near_the_limit() {
    venv(); // fail first, with what to do, when the venv is missing
    let stack = Stack::start(StackOpts { zk_max_node_size: LIMIT, ..StackOpts::default() });
    let dir = TempDir::new("warning");
    let app = serde_json::json!({"id": "/near/last", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32}).to_string();
    let file = dir.write("app.json", &app);
    fill_until_the_proxy_would_warn(&stack, &app);

    let out = python_script("marathon_python_warning.py", &[&stack.proxy_url, file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(stdout.lines().any(|l| l == "STATUS 201"), "{}", show(&out));
    let warning = stdout.lines().find_map(|l| l.strip_prefix("WARNING ")).unwrap_or_else(|| panic!("{}", show(&out)));
    assert!(warning.starts_with("299 - \"marathon-admission"), "{warning}");
    assert!(warning.contains(&format!("{LIMIT}-byte limit")), "{warning}");
    let status = http().get(format!("{}/v2/apps/near/last", stack.sim_url)).send().unwrap().status();
    assert_eq!(status, 200, "a warned write reaches Marathon");
}

/// Creates apps through the proxy until its dry run of `app` says `warn`: the root is then near
/// the limit, and `app` still fits.
fn fill_until_the_proxy_would_warn(stack: &Stack, app: &str) {
    let c = http();
    let check = format!("{}/admission/v1/check?method=POST&path=/v2/apps", stack.proxy_url);
    for i in 0..100 {
        let dry_run = c.post(&check).header("content-type", "application/json").body(app.to_owned()).send().unwrap().text().unwrap();
        let decision: serde_json::Value = serde_json::from_str(&dry_run).unwrap_or_else(|e| panic!("{e}: {dry_run}"));
        match decision["decision"].as_str() {
            Some("warn") => return,
            Some("allow") => {}
            _ => panic!("the app would not fit any more, and never warned: {dry_run}"),
        }
        let env: serde_json::Map<String, serde_json::Value> =
            (0..12).map(|k| (format!("VAR_{k:03}"), format!("some-configuration-value-{k:04}-0123456789abcdef").into())).collect();
        let filler = serde_json::json!({"id": format!("/fill/app-{i:03}"), "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32, "env": env});
        let r = c.post(format!("{}/v2/apps", stack.proxy_url)).header("content-type", "application/json").body(filler.to_string()).send().unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    }
    panic!("100 apps and the proxy still would not warn");
}

#[test]
fn marathon_deploy_deploys_json_files_follows_deployments_and_shows_the_rejection() {
    venv(); // fail first, with what to do, when the venv is missing
    // marathon-deploy insists on `/ping` answering `"pong"` (JSON), which Marathon does from 1.4
    // on (1.3 answers plain `pong` and marathon-deploy 3.0.2 refuses it): a 1.4 simulator, whose
    // layout stores each app in its own node, so the binding limit is ZooKeeper's packet size.
    let stack = Stack::start(StackOpts {
        marathon_version: "1.4.13",
        admission_extra: format!("zk_max_packet = {LIMIT}"),
        deploy_delay_ms: 1000,
        ..StackOpts::default()
    });
    let dir = TempDir::new("marathon-deploy");
    let app = |env_vars: usize, cmd: &str| {
        let env: serde_json::Map<String, serde_json::Value> = (0..env_vars)
            .map(|i| (format!("VAR_{i:03}"), format!("value-{i:04}-0123456789abcdefghijklmnopqrstuvwxyz").into()))
            .collect();
        serde_json::json!({"id": "/ci/api", "cmd": cmd, "instances": 1, "cpus": 0.1, "mem": 64.0, "env": env})
            .to_string()
    };

    // Create: pings, posts, waits until /v2/deployments no longer lists it.
    dir.write("api.json", &app(5, "sleep 1000"));
    let out = marathon_deploy(&["-m", &stack.proxy_url, "--put", "api.json"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(stdout.starts_with("\"pong\""), "{}", show(&out));
    assert!(stdout.contains("Creating app: /ci/api (from: api.json)"), "{}", show(&out));
    assert!(!stdout.contains("Could not connect"), "{}", show(&out));

    // Update: follows the deployment through /v2/deployments.
    dir.write("api.json", &app(6, "sleep 2000"));
    let out = marathon_deploy(&["-m", &stack.proxy_url, "--put", "api.json"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(stdout.contains("Updating app: /ci/api"), "{}", show(&out));
    assert!(stdout.contains("Watching deployment "), "{}", show(&out));
    assert!(stdout.contains("- /ci/api"), "affected apps listed: {}", show(&out));
    assert!(stdout.contains(" complete."), "{}", show(&out));
    let live = get_json(&format!("{}/v2/apps/ci/api", stack.sim_url));
    assert_eq!(live["app"]["cmd"], "sleep 2000");
    assert_eq!(live["app"]["env"].as_object().unwrap().len(), 6);

    // Scale and rolling restart.
    let out = marathon_deploy(&["-m", &stack.proxy_url, "--appid", "/ci/api", "--scale", "3"], dir.path());
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(String::from_utf8_lossy(&out.stdout).contains(" complete."), "{}", show(&out));
    let live = get_json(&format!("{}/v2/apps/ci/api", stack.sim_url));
    assert_eq!(live["app"]["instances"], 3);
    let out = marathon_deploy(&["-m", &stack.proxy_url, "--appid", "/ci/api", "--restart"], dir.path());
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Watching deployment "), "{}", show(&out));

    // Rejected: an app whose definition alone is past the limit. marathon-deploy does not catch
    // the 422: the traceback's last line carries the proxy's message, and the exit code is 1.
    dir.write("huge.json", &app(400, "sleep 1000").replace("/ci/api", "/ci/huge"));
    let out = marathon_deploy(&["-m", &stack.proxy_url, "--put", "huge.json"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Creating app: /ci/huge"), "{}", show(&out));
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        last.starts_with("marathon.exceptions.MarathonHttpError: MarathonHttpError: HTTP 422 returned with message, \"marathon-admission rejected POST /v2/apps"),
        "{}",
        show(&out)
    );
    for needle in ["bytes", "jute.maxbuffer", &LIMIT.to_string(), "Way out", "/ci/huge"] {
        assert!(last.contains(needle), "`{needle}` missing from: {last}");
    }
    let status = http().get(format!("{}/v2/apps/ci/huge", stack.sim_url)).send().unwrap().status();
    assert_eq!(status, 404, "the rejected app must not reach Marathon");
}

/// The README's "first ten minutes" curl lines, run as written against a running proxy (the
/// simulator behind it with Marathon's default limit, as the embedded demo), addresses replaced.
#[test]
fn readme_curl_lines_work_against_a_running_proxy() {
    let readme = std::fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let block = readme
        .split("<!-- try-it:begin")
        .nth(1)
        .and_then(|rest| rest.split("<!-- try-it:end -->").next())
        .expect("README.md has the try-it block");
    let script = block
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```sh block inside the try-it markers");
    assert!(script.lines().filter(|l| l.starts_with("curl ")).count() >= 6, "{script}");

    let stack = Stack::start(StackOpts::default());
    let script = script
        .replace("127.0.0.1:8081", &stack.proxy_addr)
        .replace("127.0.0.1:9102", &stack.admin_addr);
    let dir = TempDir::new("readme");
    let mut cmd = Command::new("bash");
    cmd.args(["-eu", "-c", &script]).current_dir(dir.path());
    cmd.env("NO_PROXY", "127.0.0.1").env("no_proxy", "127.0.0.1");
    let out = run_to_end(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());

    assert!(stdout.starts_with("pong"), "{stdout}");
    assert!(stdout.contains("\"version\":\"1.3.14\""), "{stdout}");
    // (curl sends `Expect: 100-continue` with the big body; the interim 100 is not a status.)
    let statuses: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("HTTP/1.1 ") && !l.starts_with("HTTP/1.1 100")).collect();
    assert_eq!(statuses.len(), 3, "{stdout}");
    assert!(statuses[0].starts_with("HTTP/1.1 201"), "small write: {stdout}");
    assert!(statuses[1].starts_with("HTTP/1.1 422"), "huge write: {stdout}");
    assert!(statuses[2].starts_with("HTTP/1.1 200"), "delete: {stdout}");
    let rejection = stdout.lines().find(|l| l.starts_with("{\"message\":\"marathon-admission rejected")).unwrap_or_else(|| panic!("{stdout}"));
    let body: serde_json::Value = serde_json::from_str(rejection).unwrap();
    let message = body["message"].as_str().unwrap();
    for needle in ["POST /v2/apps", "zk_max_node_size): 1024000 bytes", "admission threshold: 1023488 bytes", "/demo/huge", "400 env vars", "Way out"] {
        assert!(message.contains(needle), "`{needle}` missing: {message}");
    }
    assert!(stdout.contains("{\"ready\":true"), "{stdout}");
    assert!(stdout.contains("marathon_admission_proxy_requests_total{"), "{stdout}");
    // Nothing of the rejected write reached Marathon.
    assert_eq!(http().get(format!("{}/v2/apps/demo/huge", stack.sim_url)).send().unwrap().status(), 404);
}

/// `Location` and `X-Marathon-Leader` name the proxy, so a real client (python-requests) that
/// follows them stays behind it.
#[test]
fn a_real_client_following_location_stays_behind_the_proxy() {
    venv();
    let stack = Stack::start(StackOpts::default());
    let out = python_script("follow_location.py", &[&stack.proxy_url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", show(&out), stack.logs());
    assert!(stdout.contains("CREATED 201"), "{stdout}");
    let line = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_default().trim().to_owned();
    assert!(line("LOCATION ").starts_with(&stack.proxy_url), "{stdout}");
    assert!(line("FOLLOWED ").contains(&stack.proxy_url), "{stdout}");
    assert_eq!(line("LEADER "), stack.proxy_url, "{stdout}");
    assert!(!stdout.contains(stack.sim_url.trim_start_matches("http://")), "Marathon's own address leaked: {stdout}");
}
