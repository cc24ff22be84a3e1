//! No spelling of a write skips admission: every spelling of a write path that the simulator
//! (routing as Marathon's Jetty + Jersey do) serves as a write is decided by the proxy. Run on both
//! flavours, on 127.0.0.1 only.
//!
//! For each spelling: a small write sent straight to the simulator changes its state (so Marathon
//! routes that spelling to a write), and an over-quota and an over-the-wall write sent through the
//! proxy with the same spelling get the proxy's 422 and never reach the simulator.

use crate::common::admission_setup::*;
use crate::common::*;

/// Spellings of `canonical` (`/v2/<family>[/<id...>]`) that Marathon (Jetty 9.3 + Jersey 1.18)
/// routes to the same write: trailing slash, matrix parameters, query strings, a leading
/// `//authority`, and inside the id percent-escapes (either hex case), encoded slashes, empty and
/// dot segments.
fn routed_spellings(canonical: &str) -> Vec<String> {
    let segs: Vec<&str> = canonical.trim_start_matches('/').split('/').collect();
    let (family, id) = (segs[1], &segs[2..]);
    let base = format!("/v2/{family}");
    let with_id = |sep: &str| if id.is_empty() { base.clone() } else { format!("{base}/{}", id.join(sep)) };
    let mut out = vec![
        canonical.to_string(),
        format!("{canonical}/"),
        format!("/v2;v=1/{family};jsessionid=0123{}", &with_id("/")[base.len()..]),
        format!("{canonical}?pretty=true&x=%2F"),
        format!("//some-host{canonical}"),
    ];
    if !id.is_empty() {
        out.push(format!("{base}/{}", id.iter().map(|s| format!("%{:02x}{}", s.as_bytes()[0], &s[1..])).collect::<Vec<_>>().join("/")));
        out.push(format!("{base}/{}", id.iter().map(|s| format!("%{:02X}{}", s.as_bytes()[0], &s[1..])).collect::<Vec<_>>().join("/")));
        out.push(format!("{base}//{}//", id.join("//")));
        out.push(format!("{base}/./{}", id.join("/./")));
        out.push(format!("{base}/x/../{}", id.join("/")));
        out.push(format!("{base}/{};m=1", id.join(";m=2/")));
    }
    if id.len() > 1 {
        out.push(with_id("%2F"));
        out.push(with_id("%2f"));
    }
    out
}

/// Spellings of `canonical` that Marathon answers with 404 (Jersey matches its literal segments
/// against the encoded path), but that the proxy decides all the same.
fn refused_spellings(canonical: &str) -> Vec<String> {
    let rest = &canonical["/v2/".len()..];
    vec![
        format!("/v2/%{:02x}{}", rest.as_bytes()[0], &rest[1..]),
        format!("/v2/%{:02X}{}", rest.as_bytes()[0], &rest[1..]),
        format!("/%76%32/{rest}"),
        format!("/v2%2F{rest}"),
        format!("/v2//{rest}"),
        format!("/v2/./{rest}"),
        format!("/v2/x/../{rest}"),
    ]
}

/// One write, in the three sizes the test sends; `undo` (method, path) removes what the small one
/// created, so that the simulator's state stays small.
struct Case {
    method: &'static str,
    canonical: &'static str,
    small: String,
    over_quota: String,
    over_wall: String,
    undo: Option<(&'static str, &'static str)>,
}

/// The writes; the quota caps `/team` at 2 instances, the wall is a 40,000-byte node (the node
/// limit on 1.3, the packet limit on 1.4+), and the over-the-wall body carries 1,000 environment variables of incompressible text.
fn cases(v14: bool) -> Vec<Case> {
    let app = |id: &str, instances: u32, env: usize| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let env: serde_json::Map<String, serde_json::Value> = (0..env)
            .map(|i| {
                let value: String = (0..6)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        format!("{x:016x}")
                    })
                    .collect();
                (format!("VAR_{i:04}"), serde_json::json!(value))
            })
            .collect();
        serde_json::json!({"id": id, "cmd": "sleep 1000", "instances": instances, "cpus": 0.1, "mem": 32.0, "env": env})
    };
    // A create's small write uses an id of its own: the model may not have seen its undo yet
    // when the large ones come, and they must not be judged against an app that is gone.
    let sizes = |f: &dyn Fn(serde_json::Value) -> serde_json::Value, small_id: &str, id: &str| {
        (f(app(small_id, 1, 0)).to_string(), f(app(id, 5, 0)).to_string(), f(app(id, 1, 1000)).to_string())
    };
    let case = |method, canonical, (small, over_quota, over_wall): (String, String, String), undo| Case {
        method,
        canonical,
        small,
        over_quota,
        over_wall,
        undo,
    };
    let same = |v: serde_json::Value| v;
    let mut out = vec![
        case("POST", "/v2/apps", sizes(&same, "/team/a-small", "/team/a"), Some(("DELETE", "/v2/apps/team/a-small?force=true"))),
        case("PUT", "/v2/apps/team/put", sizes(&same, "/team/put", "/team/put"), None),
        case("PUT", "/v2/apps", sizes(&|a| serde_json::json!([a]), "/team/arr", "/team/arr"), None),
        case("PUT", "/v2/groups/team/grp", sizes(&|a| serde_json::json!({"apps": [a]}), "/team/grp/g", "/team/grp/g"), None),
        case(
            "POST",
            "/v2/groups",
            sizes(&|a| serde_json::json!({"id": format!("{}-group", a["id"].as_str().unwrap()), "apps": [a]}), "/team/new-small", "/team/new"),
            Some(("DELETE", "/v2/groups/team/new-small-group?force=true")),
        ),
    ];
    if v14 {
        out.push(case("PATCH", "/v2/apps/team/put", sizes(&same, "/team/put", "/team/put"), None));
    }
    out
}

async fn send(url: &str, method: &str, body: &str) -> (http::StatusCode, bytes::Bytes) {
    let (status, _, body) = fetch(&client(), req(method, url, body)).await;
    (status, body)
}

async fn run_flavour(sim_config: marathon_sim::SimConfig, v14: bool) {
    let sim = marathon_sim::start(sim_config).await.unwrap();
    let mut config = test_config(&[sim.url()]);
    let table: toml::Table = "[admission]\nzk_max_node_size = 40000\nzk_max_packet = 40000\naudit_log = \"off\"\nresync_interval_ms = 200\n\
                              [[quota]]\ngroup = \"/team\"\nmax_instances = 2\n"
        .parse()
        .unwrap();
    config.admission = table.get("admission").and_then(|v| v.as_table()).cloned();
    config.quota = table["quota"].as_array().unwrap().iter().map(|v| v.as_table().unwrap().clone()).collect();
    let marathon = proxy::MarathonClient::new(&config).unwrap();
    let config = admission_runtime::ServeConfig::from_proxy_config(config).unwrap();
    let phases = admission_runtime::phases_for(&config, &marathon).unwrap();
    let proxy = start_proxy_sharing(config.proxy, phases, marathon).await;
    wait_ready(&proxy).await;

    let writes_seen = || sim.sim().counters.writes.load(std::sync::atomic::Ordering::SeqCst);
    let mut decided = 0;
    for Case { method, canonical, small, over_quota, over_wall, undo } in cases(v14) {
        let routed = routed_spellings(canonical);
        let refused = refused_spellings(canonical);
        for spelled in routed.iter().chain(&refused) {
            // What Marathon (the simulator) does with this spelling: a write, or a 404.
            let before = writes_seen();
            let (status, _) = send(&format!("{}{spelled}", sim.url()), method, &small).await;
            let took_it = writes_seen() == before + 1;
            if routed.contains(spelled) {
                assert!(took_it && status.is_success(), "{method} {spelled}: the simulator did not take it as a write: {status}");
                if let Some((m, p)) = undo {
                    let (status, _) = send(&format!("{}{p}", sim.url()), m, "").await;
                    assert!(status.is_success(), "{m} {p}: {status}");
                }
            } else {
                assert!(!took_it && status == 404, "{method} {spelled}: Marathon answers 404, the simulator {status}");
            }
            // Through the proxy, whatever Marathon would do with it: decided, never forwarded.
            for (what, body) in [("over quota", &over_quota), ("over the wall", &over_wall)] {
                let before = writes_seen();
                let (status, answer) = send(&proxy.url(spelled), method, body).await;
                let message = json(&answer)["message"].as_str().unwrap_or_default().chars().take(300).collect::<String>();
                assert!(is_our_rejection(status, &answer), "{method} {spelled} ({what}) was not decided by the proxy: {status} {message}");
                assert_eq!(writes_seen(), before, "{method} {spelled} ({what}) reached the simulator");
                decided += 1;
            }
        }
    }
    assert!(decided >= 100, "only {decided} decisions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_a_write_is_decided_on_1_3() {
    run_flavour(sim_legacy(40_000, None), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_a_write_is_decided_on_1_4() {
    let config = marathon_sim::SimConfig { zk_max_node_size: 40_000, ..marathon_sim::SimConfig::v14() };
    run_flavour(config, true).await;
}
