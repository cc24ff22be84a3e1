//! Admission end to end against the simulator, on 127.0.0.1 only: the model kept fresh from
//! `/v2/events`, the dry run, the audit log and metrics, the health-check wall, per-group modes,
//! the reason phrase, a 100-write race, the 1.4+ flavour, and ZooKeeper persistence.

use crate::common::admission_setup::*;
use crate::common::*;
use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, PathId, Timestamp};
use admission_runtime::Admission;

fn big_seed(n: usize, group: &str) -> Group {
    let apps: Vec<serde_json::Value> =
        (0..n).map(|i| serde_json::from_str(&app_body(&format!("{group}/app-{i:02}"), 12)).unwrap()).collect();
    let seed = serde_json::json!({"id": "/", "apps": [], "groups": [{"id": group, "apps": apps, "groups": []}]});
    Group::parse(seed.to_string().as_bytes()).unwrap()
}

async fn model_has_app(a: &Admission, id: &str) -> bool {
    match a.model().snapshot().await {
        Some(s) => s.root.find_app(&PathId::parse(id)).is_some(),
        None => false,
    }
}

/// With polling slowed to an hour (far beyond the test's patience), a change made directly on
/// the simulator reaches the model through `/v2/events` (app created: `api_post_event`; group
/// deleted: `group_change_success` → resync).
#[tokio::test]
async fn direct_changes_reach_the_model_through_events() {
    let s = setup_with(
        sim_legacy(1_024_000, None),
        "resync_interval_ms = 3600000\nevents_resync_interval_ms = 3600000\naudit_log = \"off\"",
    )
    .await;
    let m = s.admission.model().clone();
    eventually("the event stream is up", || async { m.metrics.event_stream_up.get() == 1 }).await;
    let c = client();
    let (status, _, body) = fetch(&c, req("POST", &format!("{}/v2/apps", s.sim.url()), &app_body("/direct/one", 2))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    eventually("the created app is in the model", || model_has_app(&s.admission, "/direct/one")).await;
    let (status, _, _) = fetch(&c, req("DELETE", &format!("{}/v2/groups/direct", s.sim.url()), "")).await;
    assert!(status.is_success());
    eventually("the deleted group has left the model", || async { !model_has_app(&s.admission, "/direct/one").await }).await;
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// The dry run answers `check --json`'s fields and sends nothing to Marathon; the audit log gets
/// one line per decision with the Basic-auth user and never the password or env values; the
/// decisions show in the admin `/metrics`.
#[tokio::test]
async fn dry_run_audit_log_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let s = setup_with(sim_legacy(20_000, None), &format!("zk_max_node_size = 20000\naudit_log = {:?}", audit.display().to_string())).await;
    let c = client();
    let url = s.proxy.url("/admission/v1/check?method=POST&path=/v2/apps");
    let (status, headers, body) = fetch(&c, req("POST", &url, &app_body("/dry/run", 3))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/json");
    let v = json(&body);
    for k in ["decision", "estimated_plan_bytes", "estimated_root_bytes", "current_root_bytes", "limit_bytes", "layout", "reasons"] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["layout"], "legacy");
    assert_eq!(v["limit_bytes"], 20_000);
    assert!(v["estimated_plan_bytes"].as_u64().unwrap() > 0);
    assert!(s.sim.root().find_app(&PathId::parse("/dry/run")).is_none(), "the dry run reached Marathon");
    // Too big for the limit: the dry run says reject, still nothing sent.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let env: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (format!("K{i}"), serde_json::json!(format!("{x:016x}{:016x}", x.rotate_left(17))))
        })
        .collect();
    let huge = serde_json::json!({"id": "/dry/huge", "cmd": "x", "env": env}).to_string();
    let (_, _, body) = fetch(&c, req("POST", &url, &huge)).await;
    assert_eq!(json(&body)["decision"], "reject");
    let (status, _, _) = fetch(&c, req("POST", &s.proxy.url("/admission/v1/check"), "")).await;
    assert_eq!(status, 400);
    let (status, _, _) = fetch(&c, req("POST", &s.proxy.url("/admission/v1/nope"), "")).await;
    assert_eq!(status, 404);

    // A real write with credentials and a secret-looking env value.
    let mut r = req(
        "POST",
        &s.proxy.url("/v2/apps"),
        &serde_json::json!({"id": "/audited", "cmd": "x", "env": {"DB_PASSWORD": "TOPSECRET-VALUE"}, "labels": {"L": "LABELVALUE"}})
            .to_string(),
    );
    // ci-bot:hunter2
    r.headers_mut().insert("authorization", "Basic Y2ktYm90Omh1bnRlcjI=".parse().unwrap());
    let (status, _, body) = fetch(&c, r).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let lines: Vec<String> = eventually("three audit lines", || async {
        let lines: Vec<String> = std::fs::read_to_string(&audit).unwrap_or_default().lines().map(String::from).collect();
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let all = lines.join("\n");
    for secret in ["TOPSECRET", "LABELVALUE", "hunter2", "Y2ktYm90"] {
        assert!(!all.contains(secret), "{secret} in the audit log: {all}");
    }
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["user"], "ci-bot");
    assert_eq!(last["method"], "POST");
    assert_eq!(last["path"], "/v2/apps");
    assert_eq!(last["decision"], "allow");
    assert_eq!(last["dry_run"], false);
    assert_eq!(last["limit_bytes"], 20_000);
    assert!(last["predicted_bytes"].as_u64().is_some() && last["current_bytes"].as_u64().is_some());
    assert!(last["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(last["time"].as_str().is_some());
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["dry_run"], true);

    let (_, _, metrics) = fetch(&c, get(&s.proxy.admin_url("/metrics"))).await;
    let metrics = String::from_utf8_lossy(&metrics);
    for needle in [
        "marathon_admission_proxy_admission_decisions_total{outcome=\"allow\",reason=\"within_limit\"} 1",
        "marathon_admission_proxy_admission_decision_seconds_count",
        "marathon_admission_proxy_admission_predicted_bytes",
        "marathon_admission_proxy_admission_ledger_entries",
        "marathon_admission_proxy_admission_model_age_seconds",
        "marathon_admission_proxy_admission_limit_bytes 20000",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(!metrics.contains("TOPSECRET"));
    // The line's `decision_ms` is the decision's own time: what the histogram observed for the one
    // real write (dry runs are not observed), in milliseconds.
    let observed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("marathon_admission_proxy_admission_decision_seconds_sum{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no decision_seconds_sum in\n{metrics}"));
    let ms = last["decision_ms"].as_f64().unwrap();
    assert!(ms > 0.0 && (ms - observed * 1000.0).abs() <= 1e-9 * ms, "decision_ms {ms}, observed {observed} s");
    // Where that time went: the phases of a decided write, in the order they ran, within it.
    let phases = last["phases_ms"].as_object().unwrap_or_else(|| panic!("no phases_ms in {last}"));
    let names: Vec<&str> = phases.keys().map(String::as_str).collect();
    // Worked out ahead of the decision order (again, after a pass folded into `moved`, when the
    // model moved meanwhile); applied and sized in the order only when that work did not stand
    // (no warm state yet, or the base moved again).
    let names: Vec<&str> = names.into_iter().filter(|n| *n != "moved").collect();
    let worked_ahead = ["understand", "ahead", "order", "ledger", "ledger_writes", "checks", "reserve"];
    let worked_in_order = ["understand", "ahead", "order", "ledger", "ledger_writes", "apply", "sizes", "checks", "reserve"];
    assert!(names == worked_ahead || names == worked_in_order, "phases {names:?}");
    let spent: f64 = phases.values().filter_map(|v| v.as_f64()).sum();
    assert!(spent > 0.0 && spent <= ms + 0.01, "phases {spent} ms within decision_ms {ms}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// Marathon-side health checks x instances above the threshold: a warning naming MESOS_HTTP.
#[tokio::test]
async fn marathon_side_health_checks_warn() {
    let s = setup_with(sim_legacy(1_024_000, None), "health_check_threshold = 5\naudit_log = \"off\"").await;
    let c = client();
    let app = |id: &str, instances: u32| {
        serde_json::json!({
            "id": id, "cmd": "x", "instances": instances,
            "healthChecks": [{"protocol": "HTTP", "path": "/"}, {"protocol": "TCP"}, {"protocol": "COMMAND", "command": {"value": "true"}}]
        })
        .to_string()
    };
    let (status, headers, _) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app("/hc/a", 2))).await;
    assert_eq!(status, 201);
    assert!(headers.get("warning").is_none(), "4 checks are under 5");
    let (status, headers, _) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app("/hc/b", 1))).await;
    assert_eq!(status, 201);
    let w = headers.get("warning").expect("6 Marathon-side checks warn").to_str().unwrap();
    assert!(w.contains("MESOS_HTTP") && w.contains("6 health checks"), "{w}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// `[[admission.group]] prefix = "/dev" mode = "warn"`: over the limit, /dev is forwarded with a
/// warning while /prod is rejected; the rejection's HTTP/1 reason phrase carries the short form.
#[tokio::test]
async fn per_group_modes_and_the_reason_phrase() {
    let s = setup_with(
        sim_legacy(20_000, Some(big_seed(16, "/big"))),
        "zk_max_node_size = 20000\naudit_log = \"off\"\n[[group]]\nprefix = \"/dev\"\nmode = \"warn\"",
    )
    .await;
    let c = client();
    let resp = c.request(req("POST", &s.proxy.url("/v2/apps"), &app_body("/prod/x", 1))).await.unwrap();
    assert_eq!(resp.status(), 422);
    let reason = resp.extensions().get::<hyper::ext::ReasonPhrase>().expect("a custom reason phrase");
    let reason = std::str::from_utf8(reason.as_bytes()).unwrap().to_string();
    assert!(reason.starts_with("marathon-admission:") && reason.contains("20000"), "{reason}");
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert!(is_our_rejection(http::StatusCode::UNPROCESSABLE_ENTITY, &body));

    let (status, headers, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/dev/x", 1))).await;
    // Forwarded: Marathon 1.3 itself may still refuse it (its own opaque 422), or take it.
    assert!(!is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    let w = headers.get("warning").expect("warned").to_str().unwrap();
    assert!(w.contains("`warn`"), "{w}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// 100 concurrent writes that each fit alone but not together: every write that reached the
/// simulator was accepted by it and what it holds fits; exactly as many passed as fit one after
/// the other, and each refused write would not have fitted on top of the final state.
#[tokio::test]
async fn race_of_100_concurrent_writes() {
    const LIMIT: u64 = 60_000;
    let s = setup_with(sim_legacy(LIMIT, None), &format!("zk_max_node_size = {LIMIT}\naudit_log = \"off\"")).await;
    let n = 100;
    let bodies: Vec<String> = (0..n).map(|i| app_body(&format!("/race/app-{i:03}"), 12)).collect();

    let store = s.admit.store_config("1.3.14");
    let decide = |from: &Group, to: &Group| admission_runtime::exact_decision(&s.admit.policy, &store, from, to);
    let mut root = admission_runtime::live_model::parse_root(br#"{"id":"/","apps":[],"groups":[]}"#, Flavour::V13).unwrap();
    let mut fits = 0;
    for b in &bodies {
        let w = parse_write("POST", "/v2/apps", None, b.as_bytes(), Flavour::V13).unwrap().unwrap();
        let o = apply(&root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap();
        if !decide(&root, &o.root).admitted() {
            break;
        }
        root = o.root;
        fits += 1;
    }
    assert!(fits > 1 && fits < n, "the test needs writes that fit alone but not together ({fits})");

    let rejected_before = s.sim.sim().counters.rejected_size.load(std::sync::atomic::Ordering::Relaxed);
    let mut set = tokio::task::JoinSet::new();
    for (i, b) in bodies.iter().cloned().enumerate() {
        let url = s.proxy.url("/v2/apps");
        set.spawn(async move { (i, fetch(&client(), req("POST", &url, &b)).await) });
    }
    let mut refused = Vec::new();
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let (i, (status, _, body)) = r.unwrap();
        if status == 201 {
            ok += 1;
        } else {
            assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
            refused.push(i);
        }
    }
    assert_eq!(ok + refused.len(), n);
    assert_eq!(ok, fits, "admitted {ok}, {fits} fit one after the other");
    assert_eq!(s.sim.sim().counters.rejected_size.load(std::sync::atomic::Ordering::Relaxed), rejected_before, "Marathon refused a write");
    let final_root: Group = (*s.sim.root()).clone();
    assert_eq!(final_root.transitive_apps().len(), fits);
    // Marathon may apply admitted writes in another order than the proxy decided them; each plan it
    // stores is then a subset of the one the proxy checked, so under the threshold too.
    let last_plan = s.sim.sim().counters.last_plan_bytes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(last_plan > 0 && last_plan < s.admit.policy.reject_at(LIMIT), "plan {last_plan} reached Marathon");
    for i in refused {
        let w = parse_write("POST", "/v2/apps", None, bodies[i].as_bytes(), Flavour::V13).unwrap().unwrap();
        let o = apply(&final_root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap();
        assert!(!decide(&final_root, &o.root).admitted(), "write {i} was refused but would have fitted");
    }
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// The 1.4+ flavour (new layout, no size check in Marathon): the proxy refuses an app node over
/// the ZooKeeper packet limit (here 20,000 bytes) that the simulator, like Marathon 1.4, takes.
#[tokio::test]
async fn v14_flavour_rejects_over_the_packet_limit() {
    let s = setup_with(marathon_sim::SimConfig::v14(), "zk_max_packet = 20000\naudit_log = \"off\"").await;
    let c = client();
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/v14/small", 3))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let huge = app_body("/v14/huge", 600);
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &huge)).await;
    assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    let m = json(&body)["message"].as_str().unwrap().to_string();
    assert!(m.contains("jute.maxbuffer") && m.contains("app /v14/huge"), "{m}");
    let (status, _, _) = fetch(&c, req("POST", &format!("{}/v2/apps", s.sim.url()), &huge)).await;
    assert_eq!(status, 201, "1.4 takes it without a size check");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// With ZooKeeper persistence: a growing write past the limit gets the proxy's 422, while the
/// same write sent directly gets Marathon's own opaque 422.
#[tokio::test]
async fn with_zookeeper_proxy_422_versus_marathons_own() {
    const LIMIT: u64 = 20_000;
    let zk = marathon_sim::testing::ZooKeeper::start().expect("ZooKeeper (Debian's zookeeper package)");
    let sim_config = marathon_sim::SimConfig {
        zk: Some(format!("{}/marathon", zk.connect_string())),
        zk_max_node_size: LIMIT,
        ..marathon_sim::SimConfig::default()
    };
    let s = setup_with(sim_config, &format!("zk_max_node_size = {LIMIT}\naudit_log = \"off\"")).await;
    let c = client();
    let mut rejected = None;
    for i in 0..60 {
        let body = app_body(&format!("/zk/app-{i:02}"), 12);
        let (status, _, resp) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &body)).await;
        if status == 201 {
            continue;
        }
        assert!(is_our_rejection(status, &resp), "{i}: {status} {}", String::from_utf8_lossy(&resp));
        rejected = Some(body);
        break;
    }
    let body = rejected.expect("the limit was never reached");
    // Grow past Marathon's own wall directly (the proxy stops one margin earlier).
    let mut marathon_said = None;
    for k in 0..20 {
        let b = if k == 0 { body.clone() } else { app_body(&format!("/zk/direct-{k:02}"), 12) };
        let (status, _, resp) = fetch(&c, req("POST", &format!("{}/v2/apps", s.sim.url()), &b)).await;
        if status == 422 {
            marathon_said = Some(json(&resp));
            break;
        }
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&resp));
    }
    let v = marathon_said.expect("Marathon never refused");
    let text = v.to_string();
    assert!(text.contains("maximum ZK node size"), "{text}");
    assert!(!text.contains("marathon-admission"), "{text}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}
