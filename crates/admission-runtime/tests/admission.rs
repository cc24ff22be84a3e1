//! Admission end to end, on 127.0.0.1 only: the Marathon simulator (1.3.14 flavour, legacy
//! layout) behind the proxy with admission installed and a small `zk_max_node_size`.

use std::sync::Arc;

use crate::common::admission_setup::*;
use crate::common::*;
use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, Timestamp};
use admission_runtime::{Admission, AdmitConfig, LiveModel};

const LIMIT: u64 = 20_000;

async fn setup(state: Option<Group>, extra: &str) -> Setup {
    setup_with(sim_legacy(LIMIT, state), &format!("zk_max_node_size = {LIMIT}\nresync_interval_ms = 200\n{extra}")).await
}

async fn model_has_app(a: &Admission, id: &str) -> bool {
    match a.model().snapshot().await {
        Some(s) => s.root.find_app(&marathon_model::PathId::parse(id)).is_some(),
        None => false,
    }
}

#[tokio::test]
async fn growing_write_past_the_limit_gets_the_proxys_422_and_warns_before() {
    let s = setup(None, "").await;
    let c = client();
    let mut warned = 0;
    let mut rejected = None;
    for i in 0..40 {
        let id = format!("/prod/web/app-{i:02}");
        let (status, headers, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body(&id, 12))).await;
        if status == 201 {
            if headers.get("warning").is_some() {
                let w = headers["warning"].to_str().unwrap();
                assert!(w.starts_with("299 - \"marathon-admission"), "{w}");
                warned += 1;
            }
            continue;
        }
        assert!(is_our_rejection(status, &body), "{i}: {status} {}", String::from_utf8_lossy(&body));
        assert_eq!(headers["content-type"], "application/json");
        rejected = Some((id, json(&body)));
        break;
    }
    let (id, v) = rejected.expect("the limit was never reached");
    assert!(warned >= 1, "no write warned before the rejection");
    let m = v["message"].as_str().unwrap();
    for needle in ["POST /v2/apps", &format!("{LIMIT} bytes"), "side by side", "/prod/web", "env vars", "delete apps", "shard"] {
        assert!(m.contains(needle), "missing {needle:?} in {m}");
    }
    assert_eq!(v["details"][0]["path"], "/");
    assert!(v["details"][0]["errors"].as_array().unwrap().len() >= 4);
    // Never reached Marathon.
    assert!(s.sim.root().find_app(&marathon_model::PathId::parse(&id)).is_none());

    // A deletion always passes, and makes room again.
    let (status, _, body) = fetch(&c, req("DELETE", &s.proxy.url("/v2/apps/prod/web/app-00"), "")).await;
    assert!(!is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    assert!(status.is_success(), "{status} {}", String::from_utf8_lossy(&body));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn small_write_passes_untouched() {
    // The ledger's own timeout far beyond the test's patience: only the model can let a write go.
    let s = setup(None, &format!("ledger_timeout_ms = {}", 10 * PATIENCE.as_millis())).await;
    let c = client();
    // A write the proxy decides and Marathon refuses (it holds that app already: 409) is not
    // charged. First, while the ledger is empty: nothing else in it can be let go meanwhile.
    let (status, _, body) = fetch(&c, req("POST", &format!("{}/v2/apps", s.sim.url()), &app_body("/held", 1))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/held", 1))).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert_eq!(s.admission.ledger_len(), 0, "a write Marathon refuses is not charged");
    let (status, headers, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/a", 1))).await;
    // Admitted and answered, the write stays charged in the ledger (nothing has read the ledger
    // since, so nothing could have let it go).
    assert_eq!(s.admission.ledger_len(), 1, "the admitted write is in the ledger");
    let (d_status, d_headers, d_body) = fetch(&c, req("POST", &format!("{}/v2/apps", s.sim.url()), &app_body("/b", 1))).await;
    assert_eq!(status, 201);
    assert_eq!(status, d_status);
    assert!(headers.get("warning").is_none());
    assert_eq!(headers.get("content-type"), d_headers.get("content-type"));
    let (mut a, mut b) = (json(&body), json(&d_body));
    for v in [&mut a, &mut b] {
        let o = v.as_object_mut().unwrap();
        o.remove("id");
        o.remove("version");
        o.remove("versionInfo");
        o.remove("deployments");
        // Service ports are allocated per app (10000, 10001, ...).
        o.remove("ports");
        o.remove("portDefinitions");
    }
    assert_eq!(a, b);
    // Malformed bodies are Marathon's business.
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), "{not json")).await;
    assert!(!is_our_rejection(status, &body));
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(s.admission.ledger_len(), 1, "a body nobody can read is not charged");
    // Once a model synced after Marathon's answer shows the write, the next decision (here a dry
    // run, which reads the ledger too) lets it go.
    let check = s.proxy.url("/admission/v1/check?method=POST&path=/v2/apps");
    eventually("the ledger lets the write go once the model shows it", || async {
        let (_, _, body) = fetch(&client(), req("POST", &check, &app_body("/c", 1))).await;
        json(&body)["pending_writes"] == 0
    })
    .await;
    assert_eq!(s.admission.ledger_len(), 0);
    assert!(model_has_app(&s.admission, "/a").await, "let go before the model showed it");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// A root already past the admission threshold: growing writes are refused, deletions pass, and
/// a deletion made directly on Marathon changes the next decision.
#[tokio::test]
async fn deletions_pass_and_direct_changes_are_seen() {
    let mut apps = Vec::new();
    for i in 0..16 {
        apps.push(serde_json::from_str::<serde_json::Value>(&app_body(&format!("/big/app-{i:02}"), 12)).unwrap());
    }
    let seed = serde_json::json!({"id": "/", "apps": [], "groups": [{"id": "/big", "apps": apps, "groups": []}]});
    let seed = Group::parse(seed.to_string().as_bytes()).unwrap();
    let s = setup(Some(seed), "").await;
    let c = client();
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/small", 1))).await;
    assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    let (status, _, body) = fetch(&c, req("DELETE", &s.proxy.url("/v2/apps/big/app-00"), "")).await;
    assert!(!is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
    // Behind the proxy's back.
    let (status, _, body) = fetch(&c, req("DELETE", &format!("{}/v2/groups/big", s.sim.url()), "")).await;
    assert!(status.is_success(), "{status} {}", String::from_utf8_lossy(&body));
    eventually("the model shows the direct deletion", || async { !model_has_app(&s.admission, "/big/app-01").await }).await;
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/small", 1))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// 20 writes that each fit alone but not together: exactly as many pass as fit one after the
/// other, the rest get the proxy's 422, and Marathon never has to refuse one.
#[tokio::test]
async fn concurrent_writes_cannot_together_exceed_the_budget() {
    let s = setup(None, "").await;
    let n = 20;
    let bodies: Vec<String> = (0..n).map(|i| app_body(&format!("/c/app-{i:02}"), 12)).collect();

    // How many fit one after the other.
    let store = s.admit.store_config("1.3.14");
    let mut root = admission_runtime::live_model::parse_root(br#"{"id":"/","apps":[],"groups":[]}"#, Flavour::V13).unwrap();
    let mut fits = 0;
    for b in &bodies {
        let w = parse_write("POST", "/v2/apps", None, b.as_bytes(), Flavour::V13).unwrap().unwrap();
        let o = apply(&root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap();
        let d = admission_runtime::exact_decision(&s.admit.policy, &store, &root, &o.root);
        if !d.admitted() {
            break;
        }
        root = o.root;
        fits += 1;
    }
    assert!(fits > 1 && fits < n, "the test needs writes that fit alone but not together ({fits})");

    let mut set = tokio::task::JoinSet::new();
    for b in bodies {
        let url = s.proxy.url("/v2/apps");
        set.spawn(async move { fetch(&client(), req("POST", &url, &b)).await });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (status, _, body) = r.unwrap();
        if status == 201 {
            ok += 1;
        } else {
            assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));
            refused += 1;
        }
    }
    assert_eq!(ok + refused, n);
    assert_eq!(ok, fits, "admitted {ok}, {fits} fit");
    assert_eq!(s.sim.root().transitive_apps().len(), fits);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// No Marathon to sync from: `failure_policy = "closed"` answers 503 with `Retry-After` for a
/// growing write (deletions are still forwarded), `"open"` forwards.
#[tokio::test]
async fn failure_policy_both_ways_without_marathon() {
    let (dead, _reserved) = dead_port();
    for (policy, expect_local) in [("closed", true), ("open", false)] {
        let mut config = test_config(&[dead.clone()]);
        config.admission = Some(format!("failure_policy = \"{policy}\"\nresync_interval_ms = 100").parse().unwrap());
        let admit = AdmitConfig::from_table(config.admission.as_ref()).unwrap();
        let marathon = proxy::MarathonClient::new(&config).unwrap();
        let model = LiveModel::new(marathon.clone(), admit.clone());
        model.clone().spawn_resync();
        let admission = Arc::new(Admission::new(admit, model, Arc::default()));
        let p = start_proxy_sharing(config, admission, marathon).await;
        let c = client();
        let (status, headers, body) = fetch(&c, req("POST", &p.url("/v2/apps"), &app_body("/x", 1))).await;
        if expect_local {
            assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
            assert_eq!(headers["retry-after"], "5");
            assert_eq!(headers["content-type"], "application/json");
            assert!(json(&body)["message"].as_str().unwrap().contains("not synced"));
        } else {
            // Forwarded: the proxy's own "no Marathon reachable" answer.
            assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
        }
        let (status, _, _) = fetch(&c, req("DELETE", &p.url("/v2/apps/x"), "")).await;
        assert_eq!(status, 502, "deletions are forwarded even when closed");
        let (status, _, body) = fetch(&c, get(&p.admin_url("/readyz"))).await;
        assert_eq!(status, 503);
        assert!(String::from_utf8_lossy(&body).contains("admission model"), "{}", String::from_utf8_lossy(&body));
        p.shutdown().await.unwrap();
    }
}
