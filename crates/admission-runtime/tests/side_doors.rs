//! Writes whose effect the model cannot see from the current root alone are decided all the same,
//! on 127.0.0.1 only: rollbacks to an older version (of an app, of a group), the revert of a
//! running deployment, and writes the model believes Marathon refuses when another writer has
//! changed the state under it.
//!
//! The simulator (1.3.14, legacy layout) keeps its own, large node limit; the proxy is given a
//! small one, so that a write the proxy lets through is one the simulator stores: each door shows
//! as the proxy's 422, with the simulator's state unchanged.

use std::time::Duration;

use crate::common::admission_setup::*;
use crate::common::*;
use marathon_model::PathId;

/// The proxy's node limit: far above the states below, far below one large app.
const LIMIT: u64 = 30_000;

/// An app body whose environment is `env_bytes` of incompressible text.
fn large_app(id: &str, env_bytes: usize) -> String {
    // Seeded by the id: two apps never share their text (gzip would fold it).
    let mut x: u64 = id.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3));
    let env: serde_json::Map<String, serde_json::Value> = (0..env_bytes / 64)
        .map(|i| {
            let value: String = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect();
            (format!("VAR_{i:04}"), serde_json::json!(value))
        })
        .collect();
    serde_json::json!({"id": id, "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32.0, "env": env}).to_string()
}

/// An answer, short enough for an assertion message.
fn shown(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

async fn direct(c: &TestClient, s: &Setup, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, _, body) = fetch(c, req(method, &format!("{}{path}", s.sim.url()), body)).await;
    assert!(status.is_success(), "{method} {path} straight to the simulator: {status} {}", shown(&body));
    json(&body)
}

fn env_len(s: &Setup, id: &str) -> usize {
    s.sim.root().find_app(&PathId::parse(id)).map(|a| a.app().env.as_ref().map_or(0, |e| e.len())).unwrap_or(0)
}

async fn setup(sim: marathon_sim::SimConfig, extra: &str) -> Setup {
    setup_with(sim, &format!("zk_max_node_size = {LIMIT}\nresync_interval_ms = 200\n{extra}")).await
}

#[tokio::test]
async fn rollbacks_are_decided_with_the_version_marathon_holds() {
    let s = setup(marathon_sim::SimConfig::default(), "").await;
    let c = client();
    // Behind the proxy: a large app, slimmed down afterwards.
    direct(&c, &s, "POST", "/v2/apps", &large_app("/team/app", 60_000)).await;
    let large_root = s.sim.root().version.clone().unwrap();
    direct(&c, &s, "PUT", "/v2/apps/team/app?force=true", r#"{"env":{}}"#).await;
    let versions = direct(&c, &s, "GET", "/v2/apps/team/app/versions", "").await;
    let versions: Vec<String> = serde_json::from_value(versions["versions"].clone()).unwrap();
    let (current, large) = (versions.first().unwrap().clone(), versions.last().unwrap().clone());
    assert_ne!(current, large);
    assert_eq!(env_len(&s, "/team/app"), 0);

    // The app's rollback to its large version, and the group's to the root that held it.
    for (method, path, body) in [
        ("PUT", "/v2/apps/team/app?force=true", format!(r#"{{"version":"{large}"}}"#)),
        ("PUT", "/v2/groups/team?force=true", format!(r#"{{"version":"{large_root}"}}"#)),
    ] {
        let (status, _, answer) = fetch(&c, req(method, &s.proxy.url(path), &body)).await;
        assert!(is_our_rejection(status, &answer), "{method} {path} {body}: {status} {}", shown(&answer));
        assert_eq!(env_len(&s, "/team/app"), 0, "the rollback reached the simulator");
    }

    // A rollback that fits is forwarded, and Marathon performs it.
    let (status, _, answer) =
        fetch(&c, req("PUT", &s.proxy.url("/v2/apps/team/app?force=true"), &format!(r#"{{"version":"{current}"}}"#))).await;
    assert!(status.is_success(), "{status} {}", shown(&answer));
    // A version Marathon does not hold: Marathon's own 404, not a guess.
    let (status, _, answer) =
        fetch(&c, req("PUT", &s.proxy.url("/v2/apps/team/app"), r#"{"version":"2001-01-01T00:00:00.000Z"}"#)).await;
    assert_eq!(status, 404, "{}", shown(&answer));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn a_deployment_revert_is_decided_with_the_plan_marathon_runs() {
    // Deployments stay listed for the whole test.
    let sim = marathon_sim::SimConfig { deploy_delay: Duration::from_secs(120), ..marathon_sim::SimConfig::default() };
    let s = setup(sim, "").await;
    let c = client();
    direct(&c, &s, "POST", "/v2/apps", &large_app("/team/big", 60_000)).await;
    // Its removal is still running when the revert is asked for.
    let removal = direct(&c, &s, "DELETE", "/v2/apps/team/big?force=true", "").await;
    let deployment = removal["deploymentId"].as_str().unwrap().to_string();
    assert_eq!(env_len(&s, "/team/big"), 0);

    // The revert would bring the large app back.
    let path = format!("/v2/deployments/{deployment}");
    let (status, _, answer) = fetch(&c, req("DELETE", &s.proxy.url(&path), "")).await;
    assert!(is_our_rejection(status, &answer), "{status} {}", shown(&answer));
    assert!(s.sim.root().find_app(&PathId::parse("/team/big")).is_none(), "the revert reached the simulator");
    let listed = direct(&c, &s, "GET", "/v2/deployments", "").await;
    assert!(listed.as_array().unwrap().iter().any(|d| d["id"] == deployment.as_str()), "{listed}");

    // A forced cancel persists nothing new: forwarded.
    let (status, _, answer) = fetch(&c, req("DELETE", &s.proxy.url(&format!("{path}?force=true")), "")).await;
    assert_eq!(status, 202, "{}", shown(&answer));
    // A deployment Marathon does not run: Marathon's own 404.
    let (status, _, answer) = fetch(&c, req("DELETE", &s.proxy.url("/v2/deployments/no-such-deployment"), "")).await;
    assert_eq!(status, 404, "{}", shown(&answer));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// The model still holds an app another writer has just deleted: a create of the same id, which
/// the model expects Marathon to refuse (409), is decided as if Marathon accepts it.
#[tokio::test]
async fn a_write_the_model_expects_refused_is_decided_as_if_accepted() {
    let stale = format!("zk_max_node_size = {LIMIT}\nevents = false\nresync_interval_ms = 3600000");
    let s = setup_with(marathon_sim::SimConfig::default(), &stale).await;
    let c = client();
    let (status, _, answer) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/team/app", 1))).await;
    assert_eq!(status, 201, "{}", shown(&answer));
    // Another replica deletes it; this proxy's model does not see it.
    direct(&c, &s, "DELETE", "/v2/apps/team/app?force=true", "").await;

    let (status, _, answer) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &large_app("/team/app", 60_000))).await;
    assert!(is_our_rejection(status, &answer), "{status} {}", shown(&answer));
    assert!(s.sim.root().find_app(&PathId::parse("/team/app")).is_none(), "the create reached the simulator");
    // An update that creates an app the model does not know yet.
    direct(&c, &s, "POST", "/v2/apps", &app_body("/team/other", 1)).await;
    let (status, _, answer) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps/team/other?force=true"), &large_app("/team/other", 60_000))).await;
    assert!(is_our_rejection(status, &answer), "{status} {}", shown(&answer));
    // What fits passes, and Marathon answers it.
    let (status, _, answer) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/team/app", 1))).await;
    assert_eq!(status, 201, "{}", shown(&answer));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// A ready proxy in front of `marathon`, configured by `tables` (proxy.toml text after the
/// addresses).
async fn proxy_in_front_of(marathon: &str, tables: &str) -> (RunningProxy, std::sync::Arc<admission_runtime::Admission>) {
    let text = format!("marathon = [\"{marathon}\"]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{tables}");
    let serve = admission_runtime::ServeConfig::from_toml_str(&text, None).unwrap();
    let marathon = proxy::MarathonClient::new(&serve.proxy).unwrap();
    let admission = admission_runtime::start_admission(&serve, &marathon);
    let proxy = start_proxy_sharing(serve.proxy, admission.clone(), marathon).await;
    wait_ready(&proxy).await;
    (proxy, admission)
}

/// A Marathon that answers the first `POST /v2/apps` only once the test releases it (the
/// returned `Notify`), and any other request at once: a relay on 127.0.0.1 in front of the
/// simulator that names itself as the leader (so that the proxy stays behind it).
async fn held_marathon(sim: String) -> (String, std::sync::Arc<tokio::sync::Notify>) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = listener.local_addr().unwrap().to_string();
    let leader = me.clone();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let first_post = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let held = (release.clone(), first_post);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (sim, leader, held) = (sim.clone(), leader.clone(), held.clone());
            let relay = hyper::service::service_fn(move |r: http::Request<hyper::body::Incoming>| {
                let (sim, leader, held) = (sim.clone(), leader.clone(), held.clone());
                async move {
                    let (parts, body) = r.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
                    if parts.method == http::Method::GET && parts.uri.path() == "/v2/leader" {
                        let named = serde_json::json!({"leader": leader}).to_string();
                        return Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(named))));
                    }
                    if parts.method == http::Method::POST
                        && parts.uri.path() == "/v2/apps"
                        && held.1.swap(false, std::sync::atomic::Ordering::SeqCst)
                    {
                        held.0.notified().await;
                    }
                    let (status, headers, answer) =
                        fetch(&client(), req(parts.method.as_str(), &format!("{sim}{path}"), &String::from_utf8_lossy(&body))).await;
                    let mut resp = http::Response::new(http_body_util::Full::new(answer));
                    *resp.status_mut() = status;
                    if let Some(t) = headers.get("content-type") {
                        resp.headers_mut().insert("content-type", t.clone());
                    }
                    Ok(resp)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tcp), relay));
        }
    });
    (format!("http://{me}"), release)
}

/// The ledger's timeout counts from Marathon's answer: a write Marathon is still working on stays
/// charged however long it takes, so a second write cannot land on top of it unchecked.
#[tokio::test]
async fn a_write_marathon_is_still_answering_stays_charged() {
    const SMALL_LIMIT: u64 = 20_000;
    let sim = marathon_sim::start(marathon_sim::SimConfig::default()).await.unwrap();
    let (relay, release) = held_marathon(sim.url()).await;
    let tables = format!(
        "[admission]\nzk_max_node_size = {SMALL_LIMIT}\nevents = false\nresync_interval_ms = 100\nledger_timeout_ms = 200\naudit_log = \"off\""
    );
    let (proxy, admission) = proxy_in_front_of(&relay, &tables).await;

    // Each fits alone; the second does not fit on top of the first (the plan holds both roots).
    let first = tokio::spawn({
        let url = proxy.url("/v2/apps");
        async move { fetch(&client(), req("POST", &url, &large_app("/team/first", 7_000))).await }
    });
    eventually("the first write is in the ledger", || async { admission.ledger_len() == 1 }).await;
    // Time passing is what is tested: well past the ledger's timeout, while Marathon still holds
    // the first write (released only after the second is answered).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, _, answer) = fetch(&client(), req("POST", &proxy.url("/v2/apps"), &large_app("/team/second", 7_000))).await;
    assert!(is_our_rejection(status, &answer), "{status} {}", shown(&answer));
    release.notify_one();
    let (status, _, answer) = first.await.unwrap();
    assert_eq!(status, 201, "{}", shown(&answer));
    assert!(sim.root().find_app(&PathId::parse("/team/second")).is_none());
    proxy.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// On 1.4+ a pod is a node of its own, and counts against quotas as an app does.
#[tokio::test]
async fn pods_are_sized_and_counted() {
    let sim = marathon_sim::start(marathon_sim::SimConfig::v14()).await.unwrap();
    let tables = "[admission]\nresync_interval_ms = 200\naudit_log = \"off\"\n\n[[quota]]\ngroup = \"/dev\"\nmax_instances = 2\nmax_cpus = 1\nmax_env_vars = 3\n";
    let (proxy, _admission) = proxy_in_front_of(&sim.url(), tables).await;
    let c = client();
    let pod = |id: &str, instances: u32, cpus: u32, env: serde_json::Value| {
        serde_json::json!({"id": id, "scaling": {"kind": "fixed", "instances": instances}, "environment": env,
            "containers": [{"name": "c", "resources": {"cpus": cpus, "mem": 64}}]})
        .to_string()
    };
    // A 1.5 MB pod: its node is over ZooKeeper's packet limit.
    let big: serde_json::Map<String, serde_json::Value> = (0..15_000).map(|i| (format!("E{i:05}"), "x".repeat(90).into())).collect();
    let (status, _, answer) = fetch(&c, req("POST", &proxy.url("/v2/pods"), &pod("/big/p", 1, 1, big.into()))).await;
    assert!(is_our_rejection(status, &answer), "{status} {}", shown(&answer));
    // 50 instances x 4 cpus with 6 environment variables, under a quota of 2 / 1 / 3.
    let env: serde_json::Map<String, serde_json::Value> = (0..6).map(|i| (format!("K{i}"), "v".into())).collect();
    let (status, _, answer) = fetch(&c, req("POST", &proxy.url("/v2/pods"), &pod("/dev/p", 50, 4, env.into()))).await;
    assert_eq!(status, 422, "{}", shown(&answer));
    let message = json(&answer)["message"].as_str().unwrap_or_default().to_string();
    for needle in ["exceeded quota /dev", "instances=50", "cpus=200", "env_vars=6"] {
        assert!(message.contains(needle), "{needle} missing in {message}");
    }
    let root = sim.root();
    assert!(root.find_pod(&PathId::parse("/big/p")).is_none() && root.find_pod(&PathId::parse("/dev/p")).is_none());
    // A pod within the quota passes.
    let (status, _, answer) = fetch(&c, req("POST", &proxy.url("/v2/pods"), &pod("/dev/q", 1, 1, serde_json::json!({})))).await;
    assert_eq!(status, 201, "{}", shown(&answer));
    proxy.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// A write that carries more apps than `max_batch_apps` is refused before any work, with what to
/// do instead; one within the bound is decided and forwarded.
#[tokio::test]
async fn a_batch_above_the_bound_is_refused_before_any_work() {
    let s = setup_with(marathon_sim::SimConfig::default(), "max_batch_apps = 20\nresync_interval_ms = 200").await;
    let c = client();
    let batch = |n: usize| format!("[{}]", (0..n).map(|i| format!(r#"{{"id":"/batch/app-{i}","cmd":"sleep 1"}}"#)).collect::<Vec<_>>().join(","));
    let (status, _, answer) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps"), &batch(21))).await;
    assert_eq!(status, 413, "{}", shown(&answer));
    let message = json(&answer)["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("21 apps") && message.contains("max_batch_apps") && message.contains("smaller batches"), "{message}");
    assert!(s.sim.root().find_group(&PathId::parse("/batch")).is_none());
    // A group carrying them is the same write.
    let group = format!(r#"{{"id":"/batch","apps":{}}}"#, batch(21));
    let (status, _, _) = fetch(&c, req("PUT", &s.proxy.url("/v2/groups"), &group)).await;
    assert_eq!(status, 413);
    let (status, _, answer) = fetch(&c, req("POST", &s.proxy.url("/admission/v1/check?method=PUT&path=/v2/apps"), &batch(21))).await;
    assert_eq!((status.as_u16(), json(&answer)["decision"].as_str()), (200, Some("reject")), "{}", shown(&answer));
    let (status, _, answer) = fetch(&c, req("PUT", &s.proxy.url("/v2/apps"), &batch(20))).await;
    assert!(status.is_success(), "{status} {}", shown(&answer));
    assert_eq!(s.sim.root().transitive_apps().len(), 20);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// Bodies Marathon's reader accepts and a plain JSON parser does not (a BOM, UTF-16, content after
/// the value, an integral `10.0`): decided like the plain body, never forwarded as "Marathon
/// answers it".
#[tokio::test]
async fn bodies_marathon_reads_leniently_are_decided() {
    let s = setup(marathon_sim::SimConfig::default(), "").await;
    let c = client();
    let plain = large_app("/team/lenient", 60_000).replacen("\"instances\":1", "\"instances\":10.0", 1);
    assert!(plain.contains("10.0"));
    let utf16le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(plain.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let spellings: Vec<(&str, Vec<u8>)> = vec![
        ("plain", plain.clone().into_bytes()),
        ("UTF-8 BOM", [&[0xEF, 0xBB, 0xBF][..], plain.as_bytes()].concat()),
        ("UTF-16LE with BOM", utf16le),
        ("a second value after the first", format!("{plain} {{\"ignored\": true}}").into_bytes()),
    ];
    for (what, body) in spellings {
        let request = http::Request::post(s.proxy.url("/v2/apps"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let (status, _, answer) = fetch(&c, request).await;
        assert!(is_our_rejection(status, &answer), "{what}: {status} {}", shown(&answer));
    }
    assert!(s.sim.root().find_app(&PathId::parse("/team/lenient")).is_none());
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}
