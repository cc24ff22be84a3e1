//! The proxy is invisible on Marathon's whole surface: two simulators start from the same state,
//! one is driven directly and the other through `marathon-admission serve` (admission on), with
//! the same sequence of reads and writes; statuses, headers (minus the hop-by-hop ones and
//! `date`) and bodies must be identical once the values that differ between any two Marathons are
//! masked (deployment ids, timestamps, the simulator's own address). And the event stream reaches
//! a client through the proxy as it reaches it directly: the same events, each as it comes.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;

use crate::harness::*;

/// Headers that are the connection's, not the response's.
const NOT_COMPARED: &[&str] = &["date", "connection", "keep-alive", "transfer-encoding", "content-length"];

/// The surface, in an order where every step is valid or deliberately invalid.
fn steps() -> Vec<(&'static str, &'static str, &'static str)> {
    let app = r#"{"id":"/prod/web","cmd":"run --port $PORT0","instances":2,"cpus":0.2,"mem":64,"env":{"A":"1","B":"2"},"labels":{"team":"x"},"healthChecks":[{"protocol":"HTTP","path":"/h"}]}"#;
    vec![
        ("GET", "/ping", ""),
        ("GET", "/v2/info", ""),
        ("GET", "/v2/leader", ""),
        ("GET", "/v2/apps", ""),
        ("GET", "/v2/groups", ""),
        ("POST", "/v2/apps", app),
        ("POST", "/v2/apps", app), // 409: exists
        ("GET", "/v2/apps/prod/web", ""),
        ("GET", "/v2/apps?embed=apps.tasks&embed=apps.counts", ""),
        ("GET", "/v2/apps/prod/web/versions", ""),
        ("PUT", "/v2/apps/prod/web?force=true", r#"{"instances":3}"#),
        ("PUT", "/v2/apps/prod/api", r#"{"cmd":"serve"}"#), // creates: 201 + Location
        ("PUT", "/v2/apps?force=true", r#"[{"id":"/prod/web","instances":1},{"id":"/prod/api","mem":96}]"#),
        ("POST", "/v2/apps/prod/web/restart?force=true", ""),
        ("GET", "/v2/apps/prod/web/tasks", ""),
        ("DELETE", "/v2/apps/prod/web/tasks?scale=true&force=true", ""),
        ("GET", "/v2/deployments", ""),
        ("POST", "/v2/groups", r#"{"id":"/team","apps":[{"id":"a","cmd":"x"},{"id":"b","cmd":"y"}]}"#),
        ("GET", "/v2/groups/team", ""),
        ("GET", "/v2/groups?embed=group.groups&embed=group.apps", ""),
        ("PUT", "/v2/groups/team?dryRun=true", r#"{"apps":[{"id":"a","cmd":"z"}]}"#),
        ("PUT", "/v2/groups/team?force=true", r#"{"scaleBy":2}"#),
        ("GET", "/v2/groups/team/versions", ""),
        ("POST", "/v2/apps", r#"{"id":"/bad","cmd":"x","instances":"two"}"#), // 400, Marathon's shape
        ("POST", "/v2/apps", "{not json"),                                   // 400
        ("POST", "/v2/apps", r#"{"id":"/Bad_Id","cmd":"x"}"#),                // 422
        ("GET", "/v2/apps/nope", ""),                                         // 404
        ("DELETE", "/v2/groups/team?force=true", ""),
        ("DELETE", "/v2/apps/prod/api?force=true", ""),
        ("DELETE", "/v2/apps/prod/web", ""),
        ("GET", "/v2/apps", ""),
        ("GET", "/metrics", ""),
    ]
}

/// Values that differ between any two Marathons: ids, times, the listener's address, counters.
fn mask(text: &str, sim_addrs: &[&str]) -> String {
    let mut out = text.to_string();
    for addr in sim_addrs {
        out = out.replace(addr, "SIM");
        out = out.replace(&addr.replace("127.0.0.1", "localhost"), "SIM");
    }
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z").unwrap();
    let port = regex::Regex::new(r#""http_port":\d+"#).unwrap();
    let out = uuid.replace_all(&out, "UUID");
    let out = port.replace_all(&out, r#""http_port":PORT"#);
    time.replace_all(&out, "TIME").into_owned()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn send(client: &reqwest::blocking::Client, base: &str, (method, path, body): (&str, &str, &str)) -> Answer {
    let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
    if !body.is_empty() {
        req = req.header("Content-Type", "application/json").body(body.to_string());
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| !NOT_COMPARED.contains(&k.as_str()))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<bytes>").to_string()))
        .collect();
    headers.sort();
    Answer { status, headers, body: resp.text().unwrap() }
}

fn start_direct_sim(dir: &TempDir) -> (Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sim = Child::spawn(
        "marathon-admission sim (direct)",
        &["sim", "--listen", &addr, "--marathon-version", "1.3.14", "--zk-max-node-size", "1024000", "--deploy-delay", "0"],
        dir.path().join("direct-sim.log"),
        &[],
    );
    wait_200(&mut sim, &format!("http://{addr}/ping"));
    (sim, addr)
}

#[test]
fn whole_surface_is_identical_direct_and_through_the_proxy() {
    let stack = Stack::start(StackOpts::default());
    let dir = TempDir::new("transparency");
    let (_direct_sim, direct_addr) = start_direct_sim(&dir);
    let behind_addr = stack.sim_url.trim_start_matches("http://").to_string();
    let client = http();
    let addrs = [direct_addr.as_str(), behind_addr.as_str()];
    for step in steps() {
        let direct = send(&client, &format!("http://{direct_addr}"), step);
        let proxied = send(&client, &stack.proxy_url, step);
        let what = format!("{} {}", step.0, step.1);
        assert_eq!(direct.status, proxied.status, "{what}: status\n{}", stack.logs());
        // Headers name the server the client talked to (the proxy rewrites Marathon's address in
        // `Location` and `X-Marathon-Leader`): never the simulator behind the proxy.
        let mask_headers = |h: &[(String, String)], server: &str| h.iter().map(|(k, v)| (k.clone(), mask(v, &[server]))).collect::<Vec<_>>();
        let proxy_addr = stack.proxy_url.trim_start_matches("http://");
        assert_eq!(mask_headers(&direct.headers, &direct_addr), mask_headers(&proxied.headers, proxy_addr), "{what}: headers");
        if step.1 == "/metrics" {
            // Counters differ by the proxy's own background reads (leader polls, syncs).
            continue;
        }
        assert_eq!(mask(&direct.body, &addrs), mask(&proxied.body, &addrs), "{what}: body");
        // Both simulators finish the deployment the step started before the next step.
        eventually_blocking(format!("{what}: both simulators' deployments finish"), || {
            addrs.iter().all(|a| client.get(format!("http://{a}/v2/deployments")).send().unwrap().text().unwrap() == "[]")
        });
    }
}

/// Reads `/v2/events` at `url` and reports each event (its `event:` and `data:` lines) as it comes.
fn watch_events(url: String, tx: mpsc::Sender<(&'static str, String)>, tag: &'static str) {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder().timeout(None).build().unwrap();
        let resp = client.get(url).header("Accept", "text/event-stream").send().unwrap();
        assert_eq!(resp.status(), 200);
        let mut event = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !event.is_empty() && tx.send((tag, std::mem::take(&mut event))).is_err() {
                    return;
                }
            } else {
                event.push_str(&line);
                event.push('\n');
            }
        }
    });
}

/// The next event `tag`'s stream reported (the other stream's are kept in `pending`).
fn next_event(rx: &mpsc::Receiver<(&'static str, String)>, pending: &mut Vec<(&'static str, String)>, tag: &str) -> String {
    if let Some(i) = pending.iter().position(|(t, _)| *t == tag) {
        return pending.remove(i).1;
    }
    loop {
        let (t, event) = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("no event on the {tag} stream after {PATIENCE:?}"));
        if t == tag {
            return event;
        }
        pending.push((t, event));
    }
}

/// Each event reaches the client through the proxy as it reaches it directly, before the next
/// write is made: the same `api_post_event`, byte for byte.
#[test]
fn events_reach_a_client_through_the_proxy_as_they_reach_it_directly() {
    let stack = Stack::start(StackOpts::default());
    let (tx, rx) = mpsc::channel();
    watch_events(format!("{}/v2/events", stack.sim_url), tx.clone(), "direct");
    watch_events(format!("{}/v2/events", stack.proxy_url), tx, "proxied");
    // Both streams are subscribed once Marathon says so: its first event on a stream.
    let mut pending = Vec::new();
    for tag in ["direct", "proxied"] {
        let first = next_event(&rx, &mut pending, tag);
        assert!(first.starts_with("event: event_stream_attached\n"), "{tag}: {first}");
    }
    for i in 0..5 {
        let created = http()
            .post(format!("{}/v2/apps", stack.sim_url))
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"id":"/ev/app-{i}","cmd":"x"}}"#))
            .send()
            .unwrap();
        assert_eq!(created.status(), 201);
        let api_post_event = |tag: &str, pending: &mut Vec<_>| loop {
            let event = next_event(&rx, pending, tag);
            if event.starts_with("event: api_post_event\n") {
                return event;
            }
        };
        let direct = api_post_event("direct", &mut pending);
        let proxied = api_post_event("proxied", &mut pending);
        assert!(direct.contains(&format!("/ev/app-{i}")), "event {i}: {direct}");
        assert_eq!(proxied, direct, "event {i}");
    }
}
