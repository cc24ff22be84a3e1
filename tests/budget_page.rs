//! The budget page (`/admission/ui`) in a real browser: Debian's `chromium`, headless (installed
//! by `.ci/run`), loads it from a running proxy in front of the simulator, and the test asserts on
//! what the page shows after its scripts ran: the groups in the treemap, the headroom figure (the
//! same number as the usage API), the size history chart with its levels (the same points and
//! levels as `/admission/v1/history`) and the growth sentence, the quota bars and the latest
//! decisions. A screenshot is taken
//! too; with `MARATHON_ADMISSION_UPDATE_SCREENSHOT=1` it replaces `docs/budget-page.png`.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

const QUOTAS: &str = r#"
[[quota]]
group = "/dev"
max_apps = 20
max_bytes = 60000
max_cpus = 8.0
owner = "team-dev@example.com"

[[quota]]
group = "/prod"
max_instances = 40
max_env_vars = 60
owner = "team-prod@example.com"
"#;

fn chromium() -> &'static str {
    let ok = Command::new("chromium").arg("--version").output().map(|o| o.status.success());
    if !matches!(ok, Ok(true)) {
        panic!("chromium not found: install Debian's `chromium` package (.ci/run does: apt-get install chromium), then rerun");
    }
    "chromium"
}

/// Runs headless chromium with `args` and the page `url`; returns stdout.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(url);
    let out = run_to_end(cmd);
    assert!(out.status.success(), "chromium failed: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

#[test]
fn the_budget_page_shows_groups_headroom_quotas_and_decisions() {
    let stack = Stack::start(StackOpts { admission_extra: format!("audit_log = \"off\"\n{QUOTAS}"), ..StackOpts::default() });
    let c = http();
    // The size of the empty root is in the history before the writes, so that it shows growth.
    let history_url = format!("{}/admission/v1/history", stack.proxy_url);
    eventually_blocking(showing("the history holds the first size", || stack.logs()), || {
        get_json(&history_url)["points"].as_array().is_some_and(|p| !p.is_empty())
    });
    let mut writes = 0;
    for (group, n, env) in [("dev/web", 6, 30), ("dev/batch", 3, 10), ("prod/api", 4, 50), ("prod/db", 2, 5), ("ops", 3, 2)] {
        for i in 0..n {
            let env: serde_json::Map<String, serde_json::Value> =
                (0..env).map(|k| (format!("SETTING_{k:03}"), serde_json::json!("a-configuration-value-of-some-length"))).collect();
            let body = serde_json::json!({"id": format!("/{group}/app-{i}"), "cmd": "sleep 1000", "cpus": 0.25, "mem": 64, "instances": 2, "env": env});
            let r = c.post(format!("{}/v2/apps", stack.proxy_url)).body(body.to_string()).header("content-type", "application/json").send().unwrap();
            assert!(r.status().is_success(), "{} {}", r.status(), r.text().unwrap_or_default());
            writes += 1;
        }
    }
    // One refused write, so that the decisions table shows a rejection.
    let r = c
        .post(format!("{}/v2/apps", stack.proxy_url))
        .body(r#"{"id":"/prod/huge","cmd":"x","instances":100}"#)
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);

    // Wait until the model (and so the API) holds every app.
    let api = eventually_blocking(showing(format!("the model shows {writes} apps"), || stack.logs()), || {
        let v: serde_json::Value = serde_json::from_str(&c.get(format!("{}/admission/v1/groups", stack.proxy_url)).send().unwrap().text().unwrap()).unwrap();
        if v["groups"][0]["subtree"]["apps"] == writes { Ok(v) } else { Err(v) }
    });

    // ...and the history ends at the size the usage API reports.
    let history = eventually_blocking(showing("the history ends at the current size", || stack.logs()), || {
        let h = get_json(&history_url);
        let points = h["points"].as_array().unwrap();
        if points.len() >= 2 && points.last().unwrap()[1] == api["current_bytes"] { Ok(h) } else { Err(h) }
    });

    let dir = TempDir::new("chromium");
    let url = format!("{}/admission/ui", stack.proxy_url);
    let dom = run_chromium(&dir.path().join("profile"), &["--virtual-time-budget=5000", "--window-size=1280,1100", "--dump-dom"], &url);

    // The treemap: a rectangle per group, with the groups' ids.
    for id in ["/dev", "/dev/web", "/dev/batch", "/prod", "/prod/api", "/ops"] {
        assert!(dom.contains(&format!("data-id=\"{id}\"")), "{id} not in the treemap:\n{dom}");
    }
    assert!(dom.contains("data-kind=\"app\""), "no app rectangles:\n{dom}");
    // The headroom figure: the API's number, as the page prints it.
    let tag_start = dom.find("id=\"headroom\"").expect("the headroom figure");
    let tag = &dom[dom[..tag_start].rfind('<').unwrap()..];
    let tag = &tag[..tag.find('>').unwrap()];
    let ratio: f64 = attr(tag, "data-ratio").expect("data-ratio").parse().unwrap();
    let want = api["headroom_ratio"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-3, "page {ratio}, API {want}");
    let shown = format!("{:.1}%", 100.0 * want);
    assert!(dom[tag_start..].contains(&shown), "headroom {shown} not shown:\n{dom}");
    assert!(dom.contains("bytes left"), "{dom}");
    // The history chart: the API's points, its last size, and the levels it is drawn against.
    let chart = &dom[dom.find("id=\"history\"").expect("the history chart")..];
    let chart = &chart[..chart.find("</svg>").unwrap_or_else(|| panic!("no svg in the history chart:\n{dom}"))];
    let n = history["points"].as_array().unwrap().len();
    let size_line = chart.split("<path ").nth(1).expect("the size line");
    assert!(size_line.contains("class=\"size\""), "{chart}");
    assert!(size_line.contains(&format!("data-points=\"{n}\"")), "{n} points wanted:\n{chart}");
    assert!(size_line.contains(&format!("data-last=\"{}\"", api["current_bytes"])), "{chart}");
    for (class, key) in [("level warn", "warn_at_bytes"), ("level wall", "reject_at_bytes"), ("level limit", "limit_bytes")] {
        let want = format!("class=\"{class}\" x1=");
        let line = chart.split(&want).nth(1).unwrap_or_else(|| panic!("no {class} line:\n{chart}"));
        let line = &line[..line.find('>').unwrap()];
        assert!(line.contains(&format!("data-bytes=\"{}\"", history[key])), "{class}: {line}");
    }
    assert_eq!(history["limit_bytes"], api["limit_bytes"]);
    assert_eq!(history["reject_at_bytes"], api["reject_at_bytes"]);
    let growth = history["growth"]["summary"].as_str().unwrap();
    // The sentence names the span measured, which moves on: its beginning is the same.
    let grown = &growth[..growth.find(" over the last").unwrap_or_else(|| panic!("{growth}")) + " over the last".len()];
    assert!(grown.starts_with('+'), "{growth}");
    let shown = &dom[dom.find("id=\"growth\"").expect("the growth sentence")..];
    assert!(shown[..shown.find("</p>").unwrap()].contains(grown), "{grown:?} is not on the page:\n{dom}");
    // The ZooKeeper footprint: a row per part, and the API's total.
    let footprint = &dom[dom.find("id=\"footprint\"").expect("the footprint table")..];
    let footprint = &footprint[..footprint.find("</table>").unwrap()];
    for part in ["root", "root_versions", "services", "service_versions", "plans"] {
        assert!(footprint.contains(&format!("data-part=\"{part}\"")), "no {part} row:\n{footprint}");
    }
    assert!(footprint.contains(&format!("data-total-bytes=\"{}\"", api["footprint"]["total_bytes"])), "{footprint}");
    assert!(footprint.contains("group:root:&lt;version&gt;"), "{footprint}");
    // Quota bars, and the latest decisions (the rejection among them).
    assert!(dom.contains("data-group=\"/dev\"") && dom.contains("data-group=\"/prod\""), "{dom}");
    assert!(dom.contains("team-dev@example.com"), "{dom}");
    assert!(dom.contains("data-resource=\"apps\"") && dom.contains("data-resource=\"instances\""), "{dom}");
    assert!(dom.contains("POST /v2/apps") && dom.contains("class=\"reject\""), "no decisions:\n{dom}");
    assert!(!dom.contains("id=\"status\" class=\"error\""), "the page could not load its data:\n{dom}");

    // A screenshot.
    let png = dir.path().join("budget-page.png");
    run_chromium(
        &dir.path().join("profile2"),
        &["--virtual-time-budget=5000", "--window-size=1280,1100", &format!("--screenshot={}", png.display())],
        &url,
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} bytes", bytes.len());
    if std::env::var_os("MARATHON_ADMISSION_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(&png, Path::new(REPO).join("docs/budget-page.png")).unwrap();
    }
}

/// Behind a Marathon that requires Basic auth, the page answers 401 with Marathon's challenge (a
/// browser asks for a login), and a browser that logs in sees the page with its data.
#[test]
fn the_budget_page_behind_basic_auth_loads_for_a_browser_that_logs_in() {
    let stack = Stack::start(StackOpts {
        admission_extra: format!("audit_log = \"off\"\n{QUOTAS}"),
        http_credentials: Some("ops:budget-pw"),
        ..StackOpts::default()
    });
    let c = http();
    let r = c.get(format!("{}/admission/ui", stack.proxy_url)).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().to_lowercase().starts_with("basic realm="), "{:?}", r.headers());
    for i in 0..3 {
        let body = serde_json::json!({"id": format!("/dev/web/app-{i}"), "cmd": "sleep 1000", "instances": 1});
        let r = c.post(format!("{}/v2/apps", stack.proxy_url)).basic_auth("ops", Some("budget-pw")).header("content-type", "application/json").body(body.to_string()).send().unwrap();
        assert!(r.status().is_success(), "{} {}", r.status(), r.text().unwrap_or_default());
    }
    eventually_blocking(showing("the model shows /dev/web", || stack.logs()), || {
        c.get(format!("{}/admission/v1/groups", stack.proxy_url)).basic_auth("ops", Some("budget-pw")).send().unwrap().text().unwrap().contains("/dev/web")
    });

    let dir = TempDir::new("chromium-auth");
    let url = format!("http://ops:budget-pw@{}/admission/ui", stack.proxy_addr);
    let dom = run_chromium(&dir.path().join("profile"), &["--virtual-time-budget=5000", "--window-size=1280,1100", "--dump-dom"], &url);
    assert!(dom.contains("data-id=\"/dev/web\""), "the logged-in page shows no treemap:\n{dom}");
    assert!(!dom.contains("id=\"status\" class=\"error\""), "the page could not load its data:\n{dom}");
}
