//! The ledger of admitted-but-not-yet-visible writes, shared by several proxy replicas through a
//! real ZooKeeper (`[ledger]` in `proxy.toml`).
//!
//! Everything runs as child processes on 127.0.0.1: `marathon-admission sim` (Marathon 1.3.14,
//! whose own plan-size check answers 422 "Object is not valid" when a write does not fit),
//! several `marathon-admission serve` replicas in front of it, and a throwaway ZooKeeper from
//! Debian's `zookeeper` package (`marathon_sim::testing::ZooKeeper`). Every process is killed on
//! drop; a failure message carries the processes' logs.
//!
//! - The race: 90 concurrent growing writes spread over three replicas sharing one ledger never
//!   reach Marathon's own refusal, and fill the room (nothing that fitted is refused); the same
//!   burst through three replicas with their own ledgers over-admits (what sharing prevents).
//!   With a plan small enough to be stored as it is, with one Marathon gzips, for the last room
//!   left by a root of 1,600 apps (with large writes and with small ones), and with writes that
//!   grow apps Marathon has (`PUT /v2/apps/{id}`) or create groups (`POST /v2/groups`). "Fill
//!   the room" is measured against what one replica alone admits one after another: near a
//!   gzipped plan its threshold keeps back the decision's error bound, which may be worth more
//!   than one small write.
//! - Faults: a replica SIGKILLed while deciding, a replica paused (SIGSTOP) past its session
//!   while another fills the room, the leader of a three-server ensemble lost (and back),
//!   ZooKeeper stopped and restarted, ZooKeeper
//!   slower than `timeout_ms` (a hiccup within a session, and for good, behind a forwarder that
//!   holds every chunk): the others keep deciding, `failure_policy` says what happens meanwhile
//!   (answered, never hung), and decisions resume through the shared ledger afterwards.
//! - Logins: an ensemble that takes Kerberos logins only, in a realm of the test's own (MIT's KDC
//!   on loopback, `marathon_sim::testing::Kdc`): replicas with a keytab share the ledger, those
//!   that cannot log in say Kerberos' reason.
//!
//! No assertion is on latency: the one deadline (`PATIENCE`, the suite's) bounds "eventually ..."
//! polls and each request, and only turns a hang into a failure. Where the wrong behaviour would
//! be writes waiting their turn, there are enough of them that their waits add up past it.

#[path = "clients/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use harness::*;
use marathon_sim::testing::{Ensemble, Kdc, ZooKeeper, ZOOKEEPER_PRINCIPAL};
use serde_json::{json, Value};

/// How the proxy's own refusals start (`rejection.rs`).
const PROXY_REJECTED: &str = "marathon-admission rejected";
/// The simulator's (Marathon 1.3's) refusal of a write whose deployment plan does not fit.
const SIM_REJECTED: &str = "Object is not valid";
/// `[ledger] session_timeout_ms` everywhere: a dead replica's session goes after this.
const SESSION_TIMEOUT_MS: u64 = 4_000;
/// The client-side bound that turns a hung request into a failure (not a latency assertion).
const CLIENT_TIMEOUT: Duration = PATIENCE;

/// The tests of this file share two cores and time out against ZooKeeper sessions: one at a time,
/// so that one test's load does not expire another's sessions.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Answers

/// What a client got back.
#[derive(Clone)]
struct Answer {
    status: u16,
    message: String,
    retry_after: Option<String>,
    warning: Option<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A 201's message is the whole app: its start is enough.
        let message: String = self.message.chars().take(200).collect();
        write!(f, "{} (Retry-After: {:?}, Warning: {:?}) {message}", self.status, self.retry_after, self.warning)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 2xx: forwarded and taken.
    Taken,
    /// 422 from the proxy: decided, refused.
    ProxyRejected,
    /// 422 from Marathon's own size check: the proxy let through a write that did not fit.
    SimRejected,
    /// 503.
    Unavailable,
    Other,
}

impl Answer {
    fn kind(&self) -> Kind {
        match self.status {
            200..=299 => Kind::Taken,
            422 if self.message.starts_with(PROXY_REJECTED) => Kind::ProxyRejected,
            422 if self.message == SIM_REJECTED => Kind::SimRejected,
            503 => Kind::Unavailable,
            _ => Kind::Other,
        }
    }

    /// Decided by a replica: taken, or refused by the proxy's own decision.
    fn decided(&self) -> bool {
        matches!(self.kind(), Kind::Taken | Kind::ProxyRejected)
    }

    /// The `Warning` of a decision made without the shared ledger: the proxy's, saying that it
    /// decided without the shared ledger (naming it, or what it holds: the other replicas'
    /// pending writes). A near-the-wall warning says neither.
    fn ledger_warning(&self) -> bool {
        self.warning.as_deref().is_some_and(|w| {
            let w = w.to_ascii_lowercase();
            w.starts_with("299 - \"marathon-admission") && (w.contains("ledger") || w.contains("other replicas"))
        })
    }
}

fn send(c: &reqwest::blocking::Client, method: reqwest::Method, url: &str, body: Option<&str>) -> Result<Answer, String> {
    let mut req = c.request(method.clone(), url);
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_owned());
    }
    let resp = req
        .send()
        .map_err(|e| format!("{method} {url}: {e}{}", if e.is_timeout() { " (timed out)" } else { "" }))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        let values: Vec<String> =
            resp.headers().get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let (retry_after, warning) = (header("retry-after"), header("warning"));
    let text = resp.text().map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Ok(Answer { status, message, retry_after, warning })
}

fn post_app(c: &reqwest::blocking::Client, base: &str, body: &str) -> Result<Answer, String> {
    send(c, reqwest::Method::POST, &format!("{base}/v2/apps"), Some(body))
}

/// One write of a burst: its method, path and body, sent to a replica or to the simulator.
#[derive(Clone)]
struct Planned {
    method: reqwest::Method,
    path: String,
    body: String,
}

impl Planned {
    fn post_app(body: String) -> Planned {
        Planned { method: reqwest::Method::POST, path: "/v2/apps".into(), body }
    }

    fn send(&self, c: &reqwest::blocking::Client, base: &str) -> Result<Answer, String> {
        send(c, self.method.clone(), &format!("{base}{}", self.path), Some(&self.body))
    }

    /// The URL of this write's dry run on `base` (a replica).
    fn check_url(&self, base: &str) -> String {
        format!("{base}/admission/v1/check?method={}&path={}", self.method, self.path)
    }
}

/// An app whose env carries `payload_bytes` random bytes (base64): incompressible, so that its
/// persisted size does not depend on what else is stored, and every such app with an id of the
/// same length weighs the same.
fn app_body(id: &str, payload_bytes: usize) -> String {
    static SEED: AtomicU64 = AtomicU64::new(0);
    let mut x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let bytes: Vec<u8> = (0..payload_bytes)
        .map(|_| {
            // splitmix64
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect();
    json!({
        "id": id,
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 16,
        "instances": 1,
        "env": {"PAYLOAD": base64::engine::general_purpose::STANDARD.encode(bytes)},
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// Processes

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A `marathon-admission sim` (Marathon 1.3.14, no deploy delay).
struct Sim {
    child: Child,
    url: String,
}

/// The simulator's wall, and what it stores before the test (`None`: an empty root).
struct Wall<'a> {
    limit: u64,
    seed: Option<&'a str>,
}

fn start_sim(dir: &TempDir, tag: &str, wall: &Wall) -> Sim {
    let addr = format!("127.0.0.1:{}", free_port());
    let limit = wall.limit.to_string();
    let mut args = vec!["sim", "--listen", &addr, "--marathon-version", "1.3.14", "--zk-max-node-size", &limit, "--deploy-delay", "0"];
    let seed = wall.seed.map(|root| dir.write(&format!("seed-{tag}.json"), root));
    if let Some(file) = &seed {
        args.extend(["--state", file.to_str().unwrap()]);
    }
    let mut child = Child::spawn(
        &format!("sim ({tag})"),
        &args,
        dir.path().join(format!("sim-{tag}.log")),
        &[],
    );
    wait_200(&mut child, &format!("http://{addr}/ping"));
    Sim { child, url: format!("http://{addr}") }
}

/// The `[ledger]` table.
#[derive(Clone, Default)]
struct LedgerCfg {
    /// `HOST:PORT[,HOST:PORT...]/PATH`.
    zookeeper: String,
    timeout_ms: u64,
    session_timeout_ms: u64,
    /// More lines of the table (how the session logs in).
    login: String,
    /// The replicas' environment beside the log level (e.g. their Kerberos credentials).
    env: Vec<(String, String)>,
}

/// One `marathon-admission serve`.
struct Replica {
    child: Child,
    name: String,
    url: String,
    admin: String,
}

impl Replica {
    fn metrics(&self) -> String {
        client()
            .get(format!("{}/metrics", self.admin))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| format!("(metrics unavailable: {e})"))
    }

    fn readyz(&self) -> Result<(u16, String), String> {
        let r = client().get(format!("{}/readyz", self.admin)).send().map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        Ok((status, r.text().unwrap_or_default()))
    }
}

/// The sum of the samples of metric `name` (with any labels), if it is exposed.
fn metric(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

const ZK_UP: &str = "marathon_admission_proxy_ledger_zookeeper_up";
const DEGRADED: &str = "marathon_admission_proxy_ledger_degraded_decisions_total";
const RESERVE_COUNT: &str = "marathon_admission_proxy_ledger_reserve_seconds_count";
const READ_COUNT: &str = "marathon_admission_proxy_ledger_read_seconds_count";
const CONFLICTS: &str = "marathon_admission_proxy_ledger_conflicts_total";
const SESSIONS: &str = "marathon_admission_proxy_ledger_zookeeper_sessions_total";

/// A simulator and replicas in front of it. Field order = drop order: replicas first.
struct Cluster {
    replicas: Vec<Replica>,
    sim: Sim,
    zk_log: Option<PathBuf>,
    zk_addr: Option<SocketAddr>,
    limit: u64,
    dir: TempDir,
}

impl Cluster {
    /// A fresh simulator with `--zk-max-node-size limit` and one replica per entry of `policies`
    /// (`[admission] failure_policy`), all with `ledger` (or each with its own when `None`);
    /// returns once every replica is ready.
    fn start(tag: &str, limit: u64, policies: &[&str], ledger: Option<&LedgerCfg>, zk: Option<&ZooKeeper>) -> Cluster {
        Cluster::start_on(tag, &Wall { limit, seed: None }, policies, ledger, zk)
    }

    /// [`Cluster::start`] on a simulator that stores `wall.seed` at first.
    fn start_on(tag: &str, wall: &Wall, policies: &[&str], ledger: Option<&LedgerCfg>, zk: Option<&ZooKeeper>) -> Cluster {
        let (dir, limit) = (TempDir::new(&format!("ledger-{tag}")), wall.limit);
        let sim = start_sim(&dir, tag, wall);
        let mut cluster =
            Cluster { replicas: Vec::new(), sim, zk_log: zk.map(|z| z.dir().join("zookeeper.log")), zk_addr: zk.map(ZooKeeper::addr), limit, dir };
        for policy in policies {
            cluster.add_replica(policy, ledger);
        }
        for i in 0..cluster.replicas.len() {
            let url = format!("{}/readyz", cluster.replicas[i].admin);
            wait_200(&mut cluster.replicas[i].child, &url);
        }
        cluster
    }

    /// Starts one more replica in front of the simulator, with failure policy `policy` and
    /// `ledger` (its own when `None`), and returns its index; does not wait until it is ready.
    fn add_replica(&mut self, policy: &str, ledger: Option<&LedgerCfg>) -> usize {
        let i = self.replicas.len();
        let ledger_table = ledger
            .map(|l| {
                format!(
                    "[ledger]\nzookeeper = \"{}\"\ntimeout_ms = {}\nsession_timeout_ms = {}\n{}\n",
                    l.zookeeper, l.timeout_ms, l.session_timeout_ms, l.login
                )
            })
            .unwrap_or_default();
        let name = format!("replica {i} ({policy}{})", if ledger.is_some() { ", shared ledger" } else { ", own ledger" });
        let config = self.dir.write(
            &format!("proxy-{i}.toml"),
            &format!(
                "# written by tests/shared_ledger.rs\n[runtime]\nworker_threads = 0\n\n\
                 [admission]\nzk_max_node_size = {}\nresync_interval_ms = 200\nfailure_policy = \"{policy}\"\n\n\
                 {ledger_table}",
                self.limit
            ),
        );
        let (listen, admin) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
        let mut env = vec![("MARATHON_ADMISSION_LOG", "info")];
        env.extend(ledger.into_iter().flat_map(|l| l.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        let child = Child::spawn(
            &format!("serve ({name})"),
            &["serve", "--config", config.to_str().unwrap(), "--listen", &listen, "--admin-listen", &admin, "--marathon", &self.sim.url],
            self.dir.path().join(format!("proxy-{i}.log")),
            &env,
        );
        self.replicas.push(Replica { child, name, url: format!("http://{listen}"), admin: format!("http://{admin}") });
        i
    }

    /// The last lines of every process's log, for failure messages.
    fn logs(&self) -> String {
        let mut s = String::new();
        for r in &self.replicas {
            s += &format!("\n--- {} log (last 150 lines) ---\n{}\n", r.name, tail(&r.child.log_text(), 150));
        }
        s += &format!("\n--- {} log (last 60 lines) ---\n{}\n", self.sim.child.what, tail(&self.sim.child.log_text(), 60));
        if let Some(p) = &self.zk_log {
            s += &format!("\n--- zookeeper.log (last 40 lines) ---\n{}\n", tail(&std::fs::read_to_string(p).unwrap_or_default(), 40));
        }
        if let Some(addr) = self.zk_addr {
            // Which session holds which ephemeral node, straight from the server: what a replica
            // left behind, if anything.
            let dump = marathon_sim::testing::four_letter(addr, "dump").unwrap_or_else(|e| format!("(no answer: {e})"));
            s += &format!("\n--- ZooKeeper `dump` (sessions and their ephemeral nodes) ---\n{dump}\n");
        }
        s
    }

    /// No process of the cluster panicked (a panic in a task does not kill the proxy, so the
    /// log is where it shows).
    fn assert_no_panics(&self) {
        for child in self.replicas.iter().map(|r| &r.child).chain([&self.sim.child]) {
            let log = child.log_text();
            assert!(!log.contains("panicked"), "{} panicked:\n{}\n{}", child.what, tail(&log, 200), self.logs());
        }
    }

    /// How many apps under `/race/` the simulator stores with a race's payload (an env
    /// `PAYLOAD`): the race's writes it took, whether they created apps or grew them.
    fn sim_grown(&self) -> usize {
        let v = get_json(&format!("{}/v2/apps", self.sim.url));
        v["apps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["id"].as_str().is_some_and(|id| id.starts_with("/race/")))
            .filter(|a| a["env"]["PAYLOAD"].is_string())
            .count()
    }

    /// How many apps the simulator stores whose id starts with `prefix`.
    fn sim_apps_under(&self, prefix: &str) -> usize {
        let v = get_json(&format!("{}/v2/apps", self.sim.url));
        v["apps"].as_array().unwrap().iter().filter(|a| a["id"].as_str().is_some_and(|id| id.starts_with(prefix))).count()
    }

    /// The root group's bytes as the simulator stores it now (`report --json`).
    fn stored_root_bytes(&self) -> u64 {
        let state = client().get(format!("{}/v2/groups?embed=group.groups&embed=group.apps", self.sim.url)).send().unwrap().text().unwrap();
        let file = self.dir.write("state.json", &state);
        let out = std::process::Command::new(BIN)
            .args(["report", "--json", "--state", file.to_str().unwrap(), "--zk-max-node-size", &self.limit.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "report: {}", show(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["root_bytes"].as_u64().unwrap()
    }
}

/// `writes` sent at once, write `i` through replica `i % replicas`, each from its own thread and
/// connection (opened and warmed before the start line, so that the writes leave together).
fn burst(cluster: &Cluster, writes: &[Planned]) -> Vec<(usize, Result<Answer, String>)> {
    let urls: Vec<String> = cluster.replicas.iter().map(|r| r.url.clone()).collect();
    burst_to(&urls, writes)
}

/// `writes` sent at once, write `i` through `urls[i % urls.len()]` (see [`burst`]).
fn burst_to(urls: &[String], writes: &[Planned]) -> Vec<(usize, Result<Answer, String>)> {
    let barrier = Arc::new(Barrier::new(writes.len()));
    let threads: Vec<_> = writes
        .iter()
        .enumerate()
        .map(|(i, write)| {
            let (replica, write, barrier) = (i % urls.len(), write.clone(), barrier.clone());
            let url = urls[replica].clone();
            std::thread::spawn(move || {
                let c = client();
                let _ = c.get(format!("{url}/ping")).send().and_then(|r| r.bytes());
                barrier.wait();
                (replica, write.send(&c, &url))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn count(answers: &[(usize, Result<Answer, String>)], kind: Kind) -> usize {
    answers.iter().filter(|(_, a)| a.as_ref().is_ok_and(|a| a.kind() == kind)).count()
}

fn summary(answers: &[(usize, Result<Answer, String>)]) -> String {
    answers
        .iter()
        .map(|(r, a)| match a {
            Ok(a) => format!("replica {r}: {} {}", a.status, a.message.chars().take(160).collect::<String>()),
            Err(e) => format!("replica {r}: error {e}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// The race

#[test]
fn concurrent_writes_through_replicas_sharing_the_ledger_fill_the_room_and_never_pass_the_wall() {
    // Each app adds about 1,100 bytes to Marathon 1.3's deployment plan (the binding node: it
    // holds the root before and after): about 15 of them fit under 20,000 bytes, far fewer
    // than the 90 sent, and fewer than the 30 each replica receives, so that one replica alone
    // could fill the room. A plan this small is stored as it is.
    race(&Wall { limit: 20_000, seed: None }, &new_apps(300));
}

#[test]
fn concurrent_writes_race_for_the_room_of_a_gzipped_plan_too() {
    // Near a real wall the plan is over 64 KiB and Marathon stores it gzipped: what a write
    // adds then depends on what it is compressed with, the size engine's bound is not zero, and
    // the replicas decide on the deflated bytes. Each app's 8,000 random bytes (10,668 in base64)
    // stay about 8 KB deflated, twice in the plan (the root before and after): about 24 fit under
    // 400,000 bytes.
    race(&Wall { limit: 400_000, seed: None }, &new_apps(8_000));
}

#[test]
fn concurrent_writes_race_for_the_last_room_of_a_large_root() {
    // As deployed: a root of 1,600 apps (env and labels of compressible text) near the wall,
    // where the replicas' models are warm and a decision near the wall is the estimate's bound
    // or the exact path's. The limit leaves room for about 20 of the burst's apps (about 16,400
    // bytes each in the plan: 8.2 KB deflated, before and after) beyond the plan the seed itself
    // would store.
    let seed = large_root(1600);
    let plan = plan_of(&seed);
    race(&Wall { limit: plan + 20 * 16_400, seed: Some(&seed) }, &new_apps(8_000));
}

#[test]
fn concurrent_small_writes_race_for_the_last_room_of_a_large_root() {
    // As above, with writes of 300 random bytes (about 650 bytes each in the gzipped plan): the
    // decision's error bound near the wall must not cost more than one of them.
    let seed = large_root(1600);
    let plan = plan_of(&seed);
    race(&Wall { limit: plan + 20 * 650, seed: Some(&seed) }, &new_apps(300));
}

#[test]
fn concurrent_updates_of_existing_apps_race_for_the_room_too() {
    // Writes that grow apps Marathon already has (`PUT /v2/apps/{id}`, 8,000 random bytes of
    // env each): a replica that re-applies another's reservation merges it into the app its own
    // model holds. About 20 fit beyond the plan the seed itself would store.
    let ids = race_ids();
    let small: Vec<Value> = ids.iter().map(|id| json!({"id": id, "cmd": "sleep 3600", "cpus": 0.01, "mem": 16, "instances": 1})).collect();
    let seed = json!({"id": "/", "apps": [], "groups": [{"id": "/race", "apps": small, "groups": []}]}).to_string();
    let plan = plan_of(&seed);
    let writes: Vec<Planned> = ids
        .iter()
        .map(|id| Planned { method: reqwest::Method::PUT, path: format!("/v2/apps{id}"), body: app_body(id, 8_000) })
        .collect();
    race(&Wall { limit: plan + 20 * 16_400, seed: Some(&seed) }, &writes);
}

#[test]
fn concurrent_group_writes_race_for_the_room_too() {
    // `POST /v2/groups`, each a new group with one app of 8,000 random bytes of env: a
    // reservation another replica re-applies creates a group, not only an app.
    let writes: Vec<Planned> = (0..RACE_WRITES + PROBES)
        .map(|i| {
            let group = format!("/race/g-{i:03}");
            let app: Value = serde_json::from_str(&app_body(&format!("{group}/app"), 8_000)).unwrap();
            Planned { method: reqwest::Method::POST, path: "/v2/groups".into(), body: json!({"id": group, "apps": [app]}).to_string() }
        })
        .collect();
    race(&Wall { limit: 400_000, seed: None }, &writes);
}

/// How many writes race for the room.
const RACE_WRITES: usize = 90;
/// How many writes of the same size are sent after a race, one after another, to see what room
/// it left.
const PROBES: usize = 2;

/// One id per write of a race, and one for each probe after it: all of the same length, so that
/// every write weighs the same whichever subset is admitted.
fn race_ids() -> Vec<String> {
    (0..RACE_WRITES + PROBES).map(|i| format!("/race/app-{i:03}")).collect()
}

/// `POST /v2/apps` of new apps of `payload` random bytes each, one per id of [`race_ids`].
fn new_apps(payload: usize) -> Vec<Planned> {
    race_ids().iter().map(|id| Planned::post_app(app_body(id, payload))).collect()
}

/// The bytes of the plan Marathon 1.3 would store for a deployment on `root` alone
/// (`report --json`).
fn plan_of(root: &str) -> u64 {
    let dir = TempDir::new("ledger-seed-plan");
    let file = dir.write("seed.json", root);
    let out = std::process::Command::new(BIN)
        .args(["report", "--json", "--state", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "report: {}", show(&out));
    let plan = serde_json::from_slice::<Value>(&out.stdout).unwrap()["binding_bytes"].as_u64().unwrap();
    eprintln!("the seed alone: a plan of {plan} bytes");
    plan
}

/// `apps` apps of a few teams, each with env and labels of the kind real definitions carry.
fn large_root(apps: usize) -> String {
    let teams = 8;
    let groups: Vec<Value> = (0..teams)
        .map(|t| {
            let apps: Vec<Value> = (0..apps / teams)
                .map(|i| {
                    let env: serde_json::Map<String, Value> = (0..12)
                        .map(|k| (format!("SERVICE_{k}_URL"), json!(format!("https://svc-{k}.team-{t}.internal:{}/api/v{}", 8000 + i, k % 3))))
                        .collect();
                    json!({
                        "id": format!("/team-{t}/svc-{i:03}"),
                        "cmd": format!("./bin/start --port $PORT0 --name svc-{i}"),
                        "cpus": 0.1, "mem": 128, "instances": 2,
                        "env": env,
                        "labels": {"team": format!("team-{t}"), "HAPROXY_GROUP": "internal", "version": format!("1.{i}.0")},
                    })
                })
                .collect();
            json!({"id": format!("/team-{t}"), "apps": apps, "groups": []})
        })
        .collect();
    json!({"id": "/", "apps": [], "groups": groups}).to_string()
}

/// [`RACE_WRITES`] concurrent growing writes of equal weight (each carrying its payload in an
/// app under `/race/`) through three replicas, in front of a simulator whose binding node may
/// hold `wall.limit` bytes: through a shared ledger they fill the room and never pass the wall;
/// through their own ledgers they over-admit. `writes` holds [`PROBES`] more, sent after.
fn race(wall: &Wall, writes: &[Planned]) {
    let _serial = serial();
    let limit = wall.limit;
    const WRITES: usize = RACE_WRITES;
    assert_eq!(writes.len(), WRITES + PROBES, "a race's writes and its probes");
    let (burst_writes, probes) = writes.split_at(WRITES);

    // How many of these writes the simulator takes one after another: the room, measured by
    // Marathon's own check rather than by the size engine under test.
    let capacity = {
        let dir = TempDir::new("ledger-capacity");
        let sim = start_sim(&dir, "capacity", wall);
        let c = client();
        let mut taken = 0;
        loop {
            assert!(taken < WRITES, "all {WRITES} writes fit under {limit} bytes: nothing to race for");
            let a = burst_writes[taken].send(&c, &sim.url).unwrap();
            match a.kind() {
                Kind::Taken => taken += 1,
                Kind::SimRejected => break,
                _ => panic!("the simulator answered {a:?}\n{}", sim.child.log_text()),
            }
        }
        taken
    };
    assert!((5..WRITES / 3).contains(&capacity), "{capacity} writes fit: the limit no longer makes a race");
    // How many of them one replica alone admits one after another: the room less what its
    // threshold keeps back (the 0.05% floor; for a gzipped plan, the decision's error bound for
    // what `GET /v2/groups` does not show, which may exceed one small write). The race below is
    // about the ledger, so it is held to this.
    let alone = {
        let one = Cluster::start_on("race-alone", wall, &["closed"], None, None);
        let c = client();
        let mut admitted = 0;
        loop {
            let a = burst_writes[admitted].send(&c, &one.replicas[0].url).unwrap();
            match a.kind() {
                Kind::Taken => admitted += 1,
                Kind::ProxyRejected => break,
                _ => panic!("one replica alone, write {admitted}: {a:?}\n{}", one.logs()),
            }
        }
        admitted
    };
    assert!(alone <= capacity, "one replica alone admitted {alone} writes, the simulator takes {capacity}");
    eprintln!("{capacity} fit one after another; one replica alone admits {alone}");

    // Three replicas sharing one ledger. `timeout_ms` is generous here: 90 decisions queue for
    // one version node, and this test is about their order, not about a slow ZooKeeper.
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let ledger = LedgerCfg {
        zookeeper: format!("{}/marathon-admission/ledger", zk.connect_string()),
        timeout_ms: 20_000,
        session_timeout_ms: SESSION_TIMEOUT_MS,
        ..LedgerCfg::default()
    };
    let shared = Cluster::start_on("race-shared", wall, &["closed"; 3], Some(&ledger), Some(&zk));
    let answers = burst(&shared, burst_writes);
    let ctx = || format!("answers:\n{}\n{}", summary(&answers), shared.logs());
    for (replica, a) in &answers {
        let a = a.as_ref().unwrap_or_else(|e| panic!("a write through replica {replica} failed: {e}\n{}", ctx()));
        assert_ne!(a.kind(), Kind::SimRejected, "a write reached Marathon's own refusal through replica {replica}: the replicas together passed the wall\n{}", ctx());
        assert!(
            a.decided(),
            "through replica {replica}, a write was neither taken nor refused by the proxy ({} {}); the ledger's timeout is 20 s here\n{}",
            a.status,
            a.message,
            ctx()
        );
    }
    let taken = count(&answers, Kind::Taken);
    eprintln!("shared ledger: {capacity} fit one after another; the burst: {taken} taken, {} refused by the proxy", count(&answers, Kind::ProxyRejected));
    let stored = shared.sim_grown();
    assert_eq!(stored, taken, "the simulator stores {stored} grown apps, clients were told {taken}\n{}", ctx());
    // No more than fit one after another: the writes weigh the same, so a subset larger than
    // the simulator's own count passed the wall. (The root as stored may leave no room for one
    // more deployment, and `report` says so: a full room is what the burst is for.)
    assert!(taken <= capacity, "the replicas took {taken} writes, the simulator alone takes {capacity}\n{}", ctx());
    // Nothing that fitted was refused: together the replicas admit what one admits alone, one
    // after another (`alone`), or one less (a decision whose base holds another replica's
    // reservation may meet the threshold a write earlier, as the bound is measured on that base).
    // Fewer means a write that fitted was refused, e.g. because a reservation was counted twice,
    // or counted after the model already showed its write.
    assert!(
        taken + 1 >= alone,
        "the replicas took {taken} writes, one replica alone admits {alone} (the simulator takes {capacity}): room was left unused\n{}",
        ctx()
    );
    // And the room is now used up as the replicas see it: of two more writes of the same size,
    // sent one after another, at most the first is taken and the second is the proxy's refusal.
    // The burst may leave one write's worth (a near-wall decision's error bound varies from one
    // decision to the next, so a write refused in the burst may fit under a quiet decision's
    // bound); a second write taken would mean more room was left, and Marathon's 422 that the
    // replica's view is short. Each is sent once the replica's view is the stored state (its dry
    // run sees the root the simulator stores: the burst's reservations no longer add to it), so
    // that a refusal comes from the room, not from reservations counted on top of the writes
    // they were.
    let mut taken_after = 0;
    for (i, probe) in probes.iter().enumerate() {
        let root_bytes = shared.stored_root_bytes();
        let check_url = probe.check_url(&shared.replicas[1].url);
        eventually_blocking(showing("replica 1 sees the stored state", ctx), || {
            let seen = client().post(&check_url).header("Content-Type", "application/json").body(probe.body.clone()).send()
                .and_then(|r| r.text())
                .map_err(|e| e.to_string())?;
            let seen: Value = serde_json::from_str(&seen).map_err(|e| format!("{e}: {seen}"))?;
            if seen["current_root_bytes"].as_u64() == Some(root_bytes) { Ok(()) } else { Err(format!("dry run: {seen}; stored root: {root_bytes} bytes")) }
        });
        let answer = probe.send(&client(), &shared.replicas[1].url).unwrap();
        match answer.kind() {
            Kind::ProxyRejected => break,
            Kind::Taken if i + 1 < probes.len() => taken_after += 1,
            _ => panic!("write {} of the same size after the burst ({taken_after} taken before it): {answer:?}\n{}", i + 1, ctx()),
        }
    }
    assert!(taken + taken_after <= capacity, "{taken} taken in the burst and {taken_after} after it, the simulator takes {capacity}\n{}", ctx());
    // Every write taken was recorded by a reservation's transaction (the ones that conflicted
    // count too).
    let mut reservations = 0.0;
    for r in &shared.replicas {
        let m = r.metrics();
        assert_eq!(metric(&m, ZK_UP), Some(1.0), "{}: {ZK_UP}\n{m}", r.name);
        reservations += metric(&m, RESERVE_COUNT).unwrap_or_else(|| panic!("{}: no {RESERVE_COUNT}\n{m}", r.name));
        assert!(metric(&m, READ_COUNT).is_some(), "{}: {READ_COUNT}\n{m}", r.name);
        assert!(metric(&m, CONFLICTS).is_some(), "{}: {CONFLICTS}\n{m}", r.name);
    }
    assert!(reservations >= taken as f64, "{reservations} reservation transactions for {taken} writes taken\n{}", ctx());
    shared.assert_no_panics();
    drop(shared);

    // The same burst through three replicas each with its own ledger, on a fresh simulator:
    // each sees only its own reservations and the writes Marathon already shows, so together
    // they let through more than fits, and Marathon's refusal reaches clients. This is what the
    // shared ledger prevents; if it stopped happening, the race above would prove nothing.
    let own = Cluster::start_on("race-own", wall, &["closed"; 3], None, None);
    let answers = burst(&own, burst_writes);
    let ctx = || format!("answers:\n{}\n{}", summary(&answers), own.logs());
    let sim_refused = count(&answers, Kind::SimRejected);
    let stored = own.sim_grown();
    eprintln!(
        "own ledgers: {} taken by Marathon, {sim_refused} refused by Marathon, {} refused by the proxy",
        count(&answers, Kind::Taken),
        count(&answers, Kind::ProxyRejected)
    );
    assert!(
        sim_refused >= 1 || stored > taken,
        "replicas with their own ledgers did not over-admit ({sim_refused} of Marathon's refusals, {stored} stored vs {taken} \
         with the shared ledger): the burst is not concurrent enough to show what sharing prevents\n{}",
        ctx()
    );
    own.assert_no_panics();
    drop(zk);
}

// ---------------------------------------------------------------------------------------------
// Faults

fn shared_ledger(zk_connect: &str, timeout_ms: u64) -> LedgerCfg {
    LedgerCfg {
        zookeeper: format!("{zk_connect}/marathon-admission/ledger"),
        timeout_ms,
        session_timeout_ms: SESSION_TIMEOUT_MS,
        ..LedgerCfg::default()
    }
}

/// One answer of a writer thread: which replica, when the request left, what came back.
type Record = (usize, Instant, Result<Answer, String>);

#[test]
fn a_replica_killed_while_deciding_does_not_stop_the_others() {
    let _serial = serial();
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let ledger = shared_ledger(&zk.connect_string(), 2_000);
    let mut cluster = Cluster::start("kill", 1_024_000, &["closed"; 3], Some(&ledger), Some(&zk));

    // Two writers per replica, each writing new small apps as fast as they are answered, so
    // that replica 0 is in the middle of decisions (reading the ledger, or holding reservations) when it
    // dies. Writers of replica 0 stop at their first transport error (it is dead).
    let records: Arc<Mutex<Vec<Record>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let (records, stop) = (records.clone(), stop.clone());
            let replica = t % 3;
            let url = cluster.replicas[replica].url.clone();
            std::thread::spawn(move || {
                let c = client();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let sent = Instant::now();
                    let a = post_app(&c, &url, &app_body(&format!("/kill/w{t}-{n:05}"), 16));
                    let dead = a.is_err() && replica == 0;
                    records.lock().unwrap().push((replica, sent, a));
                    if dead {
                        break;
                    }
                }
            })
        })
        .collect();
    let logs = |c: &Cluster, records: &Arc<Mutex<Vec<Record>>>| {
        let recs = records.lock().unwrap();
        let lines: Vec<String> = recs
            .iter()
            .rev()
            .take(60)
            .map(|(r, _, a)| match a {
                Ok(a) => format!("replica {r}: {} {}", a.status, a.message.chars().take(160).collect::<String>()),
                Err(e) => format!("replica {r}: {e}"),
            })
            .collect();
        format!("last answers (newest first):\n{}\n{}", lines.join("\n"), c.logs())
    };
    eventually_blocking(showing("replica 0 decides writes", || logs(&cluster, &records)), || {
        let n = records.lock().unwrap().iter().filter(|(r, _, a)| *r == 0 && a.as_ref().is_ok_and(|a| a.kind() == Kind::Taken)).count();
        if n >= 5 { Ok(()) } else { Err(format!("{n} taken through replica 0")) }
    });

    // SIGKILL (std's `Child::kill` on Unix): no chance to release its reservations.
    cluster.replicas[0].child.child.kill().unwrap();
    let killed = Instant::now();
    let _ = cluster.replicas[0].child.child.wait();

    // The survivors decide again once the dead replica's session is gone: eventually, for each,
    // a write sent after the kill is decided (taken or refused by the proxy). 503s before that
    // would be the shared ledger held up by the dead replica (with a compare-and-set ledger, nothing
    // is held, and there are none).
    eventually_blocking(showing("both survivors decide writes sent after the kill", || logs(&cluster, &records)), || {
        let recs = records.lock().unwrap();
        let waiting: Vec<usize> = [1, 2]
            .into_iter()
            .filter(|&s| !recs.iter().any(|(r, sent, a)| *r == s && *sent > killed && a.as_ref().is_ok_and(Answer::decided)))
            .collect();
        if waiting.is_empty() { Ok(()) } else { Err(format!("replicas {waiting:?} have decided nothing since the kill")) }
    });
    {
        let recs = records.lock().unwrap();
        let after: Vec<&Record> = recs.iter().filter(|(r, sent, _)| *r != 0 && *sent > killed).collect();
        let unavailable = after.iter().filter(|(_, _, a)| a.as_ref().is_ok_and(|a| a.kind() == Kind::Unavailable)).count();
        eprintln!(
            "kill: {} writes through the survivors since the kill, {unavailable} of them 503; decided again after {:?}",
            after.len(),
            killed.elapsed()
        );
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }

    // Once they have resumed, they keep deciding: every further write is decided.
    let c = client();
    for s in [1, 2] {
        for n in 0..5 {
            let a = post_app(&c, &cluster.replicas[s].url, &app_body(&format!("/kill/after-{s}-{n}"), 16));
            let ok = a.as_ref().is_ok_and(Answer::decided);
            assert!(ok, "after resuming, replica {s} answered {a:?}\n{}", logs(&cluster, &records));
        }
    }
    let recs = records.lock().unwrap().clone();
    for (r, _, a) in &recs {
        if let Ok(a) = a {
            assert_ne!(a.kind(), Kind::SimRejected, "replica {r} let through a write Marathon refused\n{}", logs(&cluster, &records));
            assert!(
                matches!(a.kind(), Kind::Taken | Kind::ProxyRejected | Kind::Unavailable),
                "replica {r} answered {a:?}\n{}",
                logs(&cluster, &records)
            );
        } else {
            assert_eq!(*r, 0, "a survivor failed a request: {a:?}\n{}", logs(&cluster, &records));
        }
    }
    // Only the survivors: the dead one's log may end anywhere.
    for r in &cluster.replicas[1..] {
        assert!(!r.child.log_text().contains("panicked"), "{} panicked\n{}", r.name, cluster.logs());
    }
    drop(cluster);
    drop(zk);
}

#[test]
fn a_replica_paused_past_its_session_while_another_fills_the_room_refuses_when_it_resumes() {
    let _serial = serial();
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let ledger = shared_ledger(&zk.connect_string(), 2_000);
    // About 15 of these apps fit (see the first race).
    let cluster = Cluster::start("pause", 20_000, &["closed"; 2], Some(&ledger), Some(&zk));
    let writes = new_apps(300);
    let mut next = writes.iter();
    let c = client();
    let mut taken = 0;
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();
    let ctx = || format!("answers:\n{}\n{}", answers.lock().unwrap().join("\n"), cluster.logs());
    let mut send_through = |replica: usize| {
        let a = next.next().expect("a write left").send(&c, &cluster.replicas[replica].url);
        answers.lock().unwrap().push(format!("replica {replica}: {a:?}"));
        a
    };

    // Replica 0 takes two writes: it holds a view of the ledger, a watch, and reservations.
    for _ in 0..2 {
        let a = send_through(0).unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        assert_eq!(a.kind(), Kind::Taken, "{a:?}\n{}", ctx());
        taken += 1;
    }
    // Paused (SIGSTOP) longer than its session lives: it sees nothing of what follows, and
    // ZooKeeper ends its session meanwhile.
    let pid = cluster.replicas[0].child.child.id().to_string();
    let signal = |sig: &str| assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success(), "kill {sig} {pid}");
    signal("-STOP");
    let paused = Instant::now();
    // Replica 1 fills the room meanwhile, one write after another, until it refuses one.
    loop {
        let a = send_through(1).unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        match a.kind() {
            Kind::Taken => taken += 1,
            Kind::ProxyRejected => break,
            _ => panic!("replica 1, replica 0 paused: {a:?}\n{}", ctx()),
        }
    }
    // ZooKeeper expires sessions a tick or two after their timeout.
    std::thread::sleep(Duration::from_millis(2 * SESSION_TIMEOUT_MS).saturating_sub(paused.elapsed()));
    signal("-CONT");

    // Resumed, replica 0 must not decide on what it knew before the pause: each write through it
    // is refused (by its decision, or with a 503 while its model or session is renewed), never
    // forwarded to Marathon, and it comes to refuse by decision.
    eventually_blocking(showing("replica 0 refuses by its decision after it resumes", ctx), || {
        let a = send_through(0)?;
        match a.kind() {
            Kind::ProxyRejected => Ok(()),
            Kind::Unavailable => Err(format!("{a:?}")),
            _ => panic!("replica 0, resumed after another filled the room: {a:?}\n{}", ctx()),
        }
    });
    let stored = cluster.sim_grown();
    assert_eq!(stored, taken, "the simulator stores {stored} apps, clients were told {taken}\n{}", ctx());
    let m = cluster.replicas[0].metrics();
    assert_eq!(metric(&m, ZK_UP), Some(1.0), "replica 0 after it resumed: {ZK_UP}\n{m}\n{}", ctx());
    assert_eq!(metric(&m, SESSIONS), Some(2.0), "replica 0 opened a session again after its first expired: {SESSIONS}\n{m}\n{}", ctx());
    cluster.assert_no_panics();
}

#[test]
fn an_ensemble_that_loses_its_leader_keeps_the_replicas_deciding() {
    let _serial = serial();
    let mut zk = Ensemble::start(3).expect("a ZooKeeper ensemble from Debian's zookeeper package (.ci/run installs it)");
    let ledger = LedgerCfg {
        zookeeper: format!("{}/marathon-admission/ledger", zk.connect_string()),
        timeout_ms: 2_000,
        session_timeout_ms: SESSION_TIMEOUT_MS,
        ..LedgerCfg::default()
    };
    let cluster = Cluster::start("ensemble", 1_024_000, &["closed"; 2], Some(&ledger), None);
    let ctx = || cluster.logs();
    let c = client();
    let n = AtomicU64::new(0);
    let mut taken = 0;
    // A write through replica `r`: taken, or (closed policy) 503 while the ledger cannot be
    // written; never anything else.
    let mut write = |r: usize| -> Result<(), String> {
        let id = format!("/ensemble/app-{:05}", n.fetch_add(1, Ordering::SeqCst));
        let a = post_app(&c, &cluster.replicas[r].url, &app_body(&id, 16))?;
        match a.kind() {
            Kind::Taken => {
                taken += 1;
                Ok(())
            }
            Kind::Unavailable => Err(format!("{a:?}")),
            _ => panic!("replica {r}: {a:?}\n{}", ctx()),
        }
    };
    for r in [0, 1, 0, 1] {
        write(r).unwrap_or_else(|e| panic!("replica {r}, all three servers up: {e}\n{}", ctx()));
    }

    // The leader dies: the two others elect one of them, and the replicas' sessions move to them.
    let leader = zk.leader().expect("the ensemble has a leader");
    zk.stop(leader);
    for r in [0, 1] {
        eventually_blocking(showing(format!("replica {r} decides through the two servers left"), ctx), || write(r));
    }
    let m = cluster.replicas[0].metrics();
    assert_eq!(metric(&m, ZK_UP), Some(1.0), "{ZK_UP}\n{m}");
    // It comes back as a follower: nothing changes for the replicas.
    zk.restart(leader).unwrap_or_else(|e| panic!("server {} again: {e}\n{}", leader + 1, ctx()));
    for r in [0, 1] {
        eventually_blocking(showing(format!("replica {r} decides with the three servers back"), ctx), || write(r));
    }
    let stored = get_json(&format!("{}/v2/apps", cluster.sim.url))["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"].as_str().is_some_and(|id| id.starts_with("/ensemble/")))
        .count();
    assert_eq!(stored, taken, "the simulator stores {stored} apps, clients were told {taken}\n{}", ctx());
    cluster.assert_no_panics();
}

/// An ensemble that takes Kerberos logins only (SASL GSSAPI; a realm of its own on loopback,
/// MIT's KDC). Replicas whose process has the keytab of one principal decide through one shared
/// ledger, naming the servers' principal either way (`zookeeper/HOST`, or `zookeeper` and the host
/// they reach it as), and fill the room without Marathon refusing a write; the nodes are that
/// principal's, as ZooKeeper's own Java client logged in as it reads their ACL. A replica without
/// credentials, and one naming a server principal the realm does not have, refuse growing writes
/// (closed) rather than decide alone, and `/readyz` says Kerberos' reason, not a timeout.
#[test]
fn replicas_logged_in_with_kerberos_share_the_ledger_and_one_that_cannot_says_why() {
    let _serial = serial();
    let kdc = Kdc::start().expect("a Kerberos KDC from Debian's krb5-kdc and krb5-admin-server (.ci/run installs them)");
    let zk = ZooKeeper::start_requiring_kerberos(&kdc).expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let keytab = kdc.add_principal("ledger").unwrap();
    let ledger = LedgerCfg {
        login: format!("sasl_gssapi = \"{ZOOKEEPER_PRINCIPAL}\""),
        env: kdc.client_env(&keytab),
        ..shared_ledger(&zk.connect_string(), 2_000)
    };
    let mut cluster = Cluster::start("kerberos", 1_024_000, &["closed"; 2], Some(&ledger), Some(&zk));
    // The servers' host taken from the connect string: reached as `localhost`.
    let by_host = LedgerCfg {
        zookeeper: format!("localhost:{}/marathon-admission/ledger", zk.port()),
        login: "sasl_gssapi = \"zookeeper\"".into(),
        ..ledger.clone()
    };
    let third = cluster.add_replica("closed", Some(&by_host));
    let readyz = format!("{}/readyz", cluster.replicas[third].admin);
    wait_200(&mut cluster.replicas[third].child, &readyz);
    let ctx = || format!("{}\n--- KDC log ---\n{}", cluster.logs(), kdc.log_tail());
    let c = client();

    let mut taken = 0;
    for i in 0..200 {
        let r = &cluster.replicas[i % 3];
        let a = post_app(&c, &r.url, &app_body(&format!("/kerberos/app-{i:03}"), 64)).unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        match a.kind() {
            Kind::Taken => {
                assert!(!a.ledger_warning(), "{}: decided without the shared ledger: {a:?}\n{}", r.name, ctx());
                taken += 1;
            }
            Kind::ProxyRejected => break,
            _ => panic!("{}: write {i}: {a:?}\n{}", r.name, ctx()),
        }
    }
    assert!(taken >= 3, "the room is too small for the test to mean something: {taken}\n{}", ctx());
    assert_eq!(cluster.sim_apps_under("/kerberos/"), taken, "what the simulator took is what the replicas admitted\n{}", ctx());
    for r in &cluster.replicas {
        let m = r.metrics();
        assert!(metric(&m, RESERVE_COUNT).unwrap_or(0.0) >= 1.0, "{} reserved nothing in the shared ledger:\n{m}", r.name);
        assert_eq!(metric(&m, DEGRADED).unwrap_or(0.0), 0.0, "{}:\n{m}", r.name);
    }

    let acl = zk.java_cli_with_kerberos(&kdc, &keytab, "ledger", &["getAcl", "/marathon-admission/ledger/version"]).unwrap();
    assert!(
        acl.contains(&format!("'sasl,'ledger@{}", Kdc::REALM)) && acl.contains("cdrwa"),
        "the ledger's nodes are the principal's only:\n{acl}"
    );

    // No credentials: the keytab is not in the process's environment.
    let without = LedgerCfg { env: kdc.client_env(&keytab).into_iter().filter(|(k, _)| k != "KRB5_CLIENT_KTNAME").collect(), ..ledger.clone() };
    // A server principal the realm does not have.
    let unknown = LedgerCfg { login: "sasl_gssapi = \"zookeeper/zk-elsewhere\"".into(), ..ledger.clone() };
    for (cfg, reason) in [(&without, "credentials"), (&unknown, "zookeeper/zk-elsewhere@ADMISSION.TEST not found in Kerberos database")] {
        let i = cluster.add_replica("closed", Some(cfg));
        let r = &cluster.replicas[i];
        let why = eventually_blocking(showing(&format!("{} says Kerberos' reason", r.name), || cluster.logs()), || match r.readyz()? {
            (503, body) if body.contains("Kerberos") => Ok(body),
            other => Err(format!("{other:?}")),
        });
        assert!(why.contains(reason), "{}: /readyz does not say {reason:?}:\n{why}", r.name);
        let a = post_app(&c, &r.url, &app_body("/kerberos/refused", 1)).unwrap();
        assert!(a.status == 503 && a.retry_after.is_some(), "{}: a growing write without the ledger: {a:?}\n{}", r.name, cluster.logs());
    }
    cluster.assert_no_panics();
}

#[test]
fn zookeeper_down_closed_refuses_growing_writes_open_warns_and_both_resume_after_restart() {
    let _serial = serial();
    let mut zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let ledger = shared_ledger(&zk.connect_string(), 2_000);
    let cluster = Cluster::start("zk-restart", 1_024_000, &["closed", "open"], Some(&ledger), Some(&zk));
    let (closed, open) = (&cluster.replicas[0], &cluster.replicas[1]);
    let c = client();
    let n = AtomicU64::new(0);
    let grow = |r: &Replica| post_app(&c, &r.url, &app_body(&format!("/zk/app-{:05}", n.fetch_add(1, Ordering::SeqCst)), 64));
    let ctx = || cluster.logs();

    // Before: both decide through the shared ledger.
    for r in [closed, open] {
        let a = grow(r).unwrap();
        assert!(a.kind() == Kind::Taken && !a.ledger_warning(), "{}: {a:?}\n{}", r.name, ctx());
        assert_eq!(metric(&r.metrics(), ZK_UP), Some(1.0), "{}\n{}", r.name, r.metrics());
    }
    for victim in ["/zk/victim-0", "/zk/victim-1"] {
        let a = post_app(&c, &closed.url, &app_body(victim, 16)).unwrap();
        assert_eq!(a.kind(), Kind::Taken, "{a:?}\n{}", ctx());
    }

    zk.stop();
    let stopped = Instant::now();

    // Closed: a growing write is not decided without the shared ledger: 503, Retry-After, and
    // the message says why. Every one while it is down, not only the first.
    let assert_closed_refuses = |a: Result<Answer, String>| {
        let a = a.unwrap_or_else(|e| panic!("closed replica, ZooKeeper down: {e}\n{}", ctx()));
        let m = a.message.to_ascii_lowercase();
        assert!(
            a.status == 503 && a.retry_after.is_some() && (m.contains("ledger") || m.contains("zookeeper")),
            "closed replica, ZooKeeper down, a growing write: {a:?}\n{}",
            ctx()
        );
    };
    assert_closed_refuses(grow(closed));
    // Deletions never grow the state: they pass.
    let a = send(&c, reqwest::Method::DELETE, &format!("{}/v2/apps/zk/victim-0", closed.url), None).unwrap();
    assert_eq!(a.status, 200, "closed replica, ZooKeeper down, a deletion: {a:?}\n{}", ctx());
    eventually_blocking(showing("the closed replica is not ready, because of the ledger", ctx), || match closed.readyz()? {
        (503, body) if body.to_ascii_lowercase().contains("ledger") => Ok(()),
        other => Err(format!("{other:?}")),
    });
    eventually_blocking(showing("the closed replica reports ZooKeeper down", ctx), || {
        let m = closed.metrics();
        if metric(&m, ZK_UP) == Some(0.0) { Ok(()) } else { Err(format!("{ZK_UP}: {:?}", metric(&m, ZK_UP))) }
    });

    // Writes arriving together while it is down are each answered, not queued behind one
    // another's `timeout_ms`: forty at once through the closed replica all get their 503 (waiting
    // their turn and then 2 s each, they would need 80 s: past the client's patience).
    let writes: Vec<Planned> = (0..40).map(|i| Planned::post_app(app_body(&format!("/zk/burst-{i:03}"), 64))).collect();
    let answers = burst_to(std::slice::from_ref(&closed.url), &writes);
    let unanswered = answers.iter().filter(|(_, a)| a.is_err()).count();
    // Checked at the end, so that the restart below is exercised either way.
    let hung = (unanswered > 0).then(|| {
        format!(
            "closed replica, ZooKeeper down: {unanswered} of {} concurrent writes got no answer within {CLIENT_TIMEOUT:?}:\n{}",
            answers.len(),
            summary(&answers)
        )
    });
    for (_, a) in answers.into_iter().filter(|(_, a)| a.is_ok()) {
        assert_closed_refuses(a);
    }

    // Open: decided with the replica's own ledger, saying so in a Warning, and counted.
    let assert_open_degrades = |a: Result<Answer, String>| {
        let a = a.unwrap_or_else(|e| panic!("open replica, ZooKeeper down: {e}\n{}", ctx()));
        assert!(a.kind() == Kind::Taken && a.ledger_warning(), "open replica, ZooKeeper down, a growing write: {a:?}\n{}", ctx());
    };
    assert_open_degrades(grow(open));
    let a = send(&c, reqwest::Method::DELETE, &format!("{}/v2/apps/zk/victim-1", open.url), None).unwrap();
    assert_eq!(a.status, 200, "open replica, ZooKeeper down, a deletion: {a:?}\n{}", ctx());
    let m = open.metrics();
    assert!(metric(&m, DEGRADED).is_some_and(|d| d >= 1.0), "{DEGRADED} after a degraded decision:\n{m}\n{}", ctx());

    // Down for longer than a session, so that the sessions the replicas had are gone when it
    // comes back (they must start new ones); meanwhile every growing write is answered as above.
    while stopped.elapsed() < Duration::from_millis(SESSION_TIMEOUT_MS * 3 / 2) {
        assert_closed_refuses(grow(closed));
        assert_open_degrades(grow(open));
        // Paces the writes while the sessions run out (a wait on purpose, not for an event).
        std::thread::sleep(Duration::from_millis(250));
    }

    zk.restart().unwrap_or_else(|e| panic!("restarting ZooKeeper: {e}\n{}", ctx()));

    // Both come back to the shared ledger: ZooKeeper up in the metrics, and a growing write
    // decided normally (no Warning about the ledger), through a reservation in ZooKeeper.
    for r in [closed, open] {
        eventually_blocking(showing(format!("{} decides through the shared ledger again", r.name), ctx), || {
            let before = metric(&r.metrics(), ZK_UP);
            if before != Some(1.0) {
                return Err(format!("{ZK_UP}: {before:?}"));
            }
            let reserved = metric(&r.metrics(), RESERVE_COUNT).unwrap_or(0.0);
            let a = grow(r)?;
            let reserved_after = metric(&r.metrics(), RESERVE_COUNT).unwrap_or(0.0);
            if a.kind() == Kind::Taken && !a.ledger_warning() && reserved_after > reserved {
                Ok(())
            } else {
                Err(format!("{a:?}; {RESERVE_COUNT} {reserved} -> {reserved_after}"))
            }
        });
    }
    eventually_blocking(showing("the closed replica is ready again", ctx), || match closed.readyz()? {
        (200, _) => Ok(()),
        other => Err(format!("{other:?}")),
    });
    for r in [closed, open] {
        for _ in 0..3 {
            let a = grow(r).unwrap();
            assert!(a.kind() == Kind::Taken && !a.ledger_warning(), "{}, after the restart: {a:?}\n{}", r.name, ctx());
        }
    }
    cluster.assert_no_panics();
    if let Some(hung) = hung {
        panic!("{hung}\n{}", ctx());
    }
}

/// A TCP forwarder between the replicas and ZooKeeper that, once switched on, holds every chunk
/// (either way) for `delay` before passing it on: a ZooKeeper slower than `timeout_ms`.
struct SlowForwarder {
    addr: SocketAddr,
    slow: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl SlowForwarder {
    fn start(target: SocketAddr) -> SlowForwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let slow = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, c, st) = (slow.clone(), closed.clone(), streams.clone());
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                if c.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = incoming else { continue };
                let Ok(server) = TcpStream::connect(target) else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut st = st.lock().unwrap();
                    st.push(client.try_clone().unwrap());
                    st.push(server.try_clone().unwrap());
                }
                for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    let (s, delay) = (s.clone(), delay.clone());
                    std::thread::spawn(move || pump(from, to, &s, &delay));
                }
            }
        });
        SlowForwarder { addr, slow, delay_ms, closed, streams }
    }

    /// From now on, every chunk is held `delay` (`None`: passed on at once).
    fn set_slow(&self, delay: Option<Duration>) {
        self.delay_ms.store(delay.map_or(0, |d| d.as_millis() as u64), Ordering::SeqCst);
        self.slow.store(delay.is_some(), Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, slow: &AtomicBool, delay_ms: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if slow.load(Ordering::SeqCst) {
                    // The fault itself: a ZooKeeper this slow.
                    std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::SeqCst)));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

impl Drop for SlowForwarder {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        for s in self.streams.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// ZooKeeper behind a [`SlowForwarder`], a simulator, a closed and an open replica sharing the
/// ledger with a 1 s `timeout_ms`; both have decided one write normally.
struct SlowSetup {
    // Field order = drop order.
    cluster: Cluster,
    forwarder: SlowForwarder,
    _zk: ZooKeeper,
    n: AtomicU64,
}

impl SlowSetup {
    fn start(tag: &str) -> SlowSetup {
        let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
        let forwarder = SlowForwarder::start(zk.addr());
        let ledger = shared_ledger(&forwarder.addr.to_string(), 1_000);
        let cluster = Cluster::start(tag, 1_024_000, &["closed", "open"], Some(&ledger), Some(&zk));
        let s = SlowSetup { cluster, forwarder, _zk: zk, n: AtomicU64::new(0) };
        for r in &s.cluster.replicas {
            let a = post_app(&client(), &r.url, &s.body()).unwrap();
            assert!(a.kind() == Kind::Taken && !a.ledger_warning(), "{}, ZooKeeper fast: {a:?}\n{}", r.name, s.cluster.logs());
        }
        s
    }

    /// A new small app.
    fn body(&self) -> String {
        app_body(&format!("/slow/app-{:05}", self.n.fetch_add(1, Ordering::SeqCst)), 64)
    }

    /// Replica `r` decides a growing write through the shared ledger: ZooKeeper up in its
    /// metrics, the write taken without a Warning about the ledger.
    fn decides_normally(&self, r: &Replica) -> Result<(), String> {
        let up = metric(&r.metrics(), ZK_UP);
        if up != Some(1.0) {
            return Err(format!("{ZK_UP}: {up:?}"));
        }
        let a = post_app(&client(), &r.url, &self.body())?;
        if a.kind() == Kind::Taken && !a.ledger_warning() { Ok(()) } else { Err(format!("{a:?}")) }
    }

    fn assert_degraded_answer(&self, policy: &str, a: &Answer) {
        match policy {
            "closed" => assert!(a.status == 503 && a.retry_after.is_some(), "closed replica, ZooKeeper slow: {a:?}\n{}", self.cluster.logs()),
            _ => assert!(a.kind() == Kind::Taken && a.ledger_warning(), "open replica, ZooKeeper slow: {a:?}\n{}", self.cluster.logs()),
        }
    }
}

#[test]
fn after_a_zookeeper_hiccup_longer_than_the_timeout_decisions_resume() {
    let _serial = serial();
    let s = SlowSetup::start("zk-hiccup");
    let ctx = || s.cluster.logs();
    // A hiccup: for one write each, ZooKeeper answers after 1.5 s, later than `timeout_ms` but
    // well within a session, so the sessions survive it. A decision given up half-way (its write
    // perhaps applied by ZooKeeper after it gave up) must not keep the next ones from deciding.
    s.forwarder.set_slow(Some(Duration::from_millis(1_500)));
    for (r, policy) in s.cluster.replicas.iter().zip(["closed", "open"]) {
        let a = post_app(&client(), &r.url, &s.body()).unwrap_or_else(|e| panic!("{policy} replica, ZooKeeper slow: {e}\n{}", ctx()));
        s.assert_degraded_answer(policy, &a);
    }
    s.forwarder.set_slow(None);
    for r in &s.cluster.replicas {
        eventually_blocking(showing(format!("after a hiccup, {} decides through the shared ledger again", r.name), ctx), || s.decides_normally(r));
    }
    s.cluster.assert_no_panics();
}

#[test]
fn a_zookeeper_slower_than_the_timeout_gets_answers_not_hangs() {
    let _serial = serial();
    let s = SlowSetup::start("zk-slow");
    let ctx = || s.cluster.logs();
    // Slow for good: every chunk held 2.5 s, against the 1 s `timeout_ms`.
    s.forwarder.set_slow(Some(Duration::from_millis(2_500)));

    // Eighty writes per replica, all at once, as a busy cluster sends them: each request
    // completes (the client's patience is the failure condition), the closed replica's with
    // 503 + Retry-After, the open one's decided alone with a Warning. `timeout_ms` bounds how
    // long a write waits for ZooKeeper, so a queue of writes must not add up their waits:
    // eighty writes each waiting their turn and then a full second would need eighty seconds.
    const PER_REPLICA: usize = 80;
    let urls: Vec<String> = s.cluster.replicas.iter().map(|r| r.url.clone()).collect();
    let writes: Vec<Planned> = (0..2 * PER_REPLICA).map(|_| Planned::post_app(s.body())).collect();
    let answers = burst_to(&urls, &writes);
    let policy = |replica: usize| ["closed", "open"][replica];
    let unanswered = answers.iter().filter(|(_, a)| a.is_err()).count();
    // Checked after the recovery below, which must hold either way.
    let hung = (unanswered > 0).then(|| {
        format!(
            "ZooKeeper slow: {unanswered} of {} concurrent writes got no answer within the client's {CLIENT_TIMEOUT:?}:\n{}",
            answers.len(),
            summary(&answers)
        )
    });
    for (replica, a) in &answers {
        if let Ok(a) = a {
            s.assert_degraded_answer(policy(*replica), a);
        }
    }

    s.forwarder.set_slow(None);

    // Back to normal: both decide through the shared ledger again.
    for r in &s.cluster.replicas {
        eventually_blocking(showing(format!("{} decides through the shared ledger again", r.name), ctx), || s.decides_normally(r));
    }
    s.cluster.assert_no_panics();
    if let Some(hung) = hung {
        panic!("{hung}\n{}", ctx());
    }
}
