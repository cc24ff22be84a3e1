//! Admission decision latency through the proxy, full-sync time and resident memory.
//!
//! Run with `bench/admission/run.sh` (which builds the release binary and passes its path), or
//! `cargo bench -p admission-runtime --bench admission -- --binary "$PWD/target/release/marathon-admission"`
//! (an absolute path: cargo runs the bench from the crate's directory).
//!
//! For each root (`heroku_root(2000, 10)`: 92% of the plan limit; `heroku_root(10000, 1)`): the
//! simulator (1.3.14, legacy layout) runs in this process on 127.0.0.1; the proxy runs as a
//! separate `marathon-admission serve` process (so that its resident memory is its own), once with
//! `warm = true` and once with `warm = false` (the exact path: the baseline, same run). Then:
//! - dry runs (`POST /admission/v1/check`, the decision path without forwarding) and real writes
//!   (`PUT /v2/apps/{id}?force=true {"instances": n}`, forwarded; the model then moves on, so
//!   later decisions run with ledger entries and a warm state prepared for an older root);
//! - decision time from the proxy's audit log (`decision_ms`, measured inside the proxy from the
//!   write's arrival in the admission phase to its verdict), client round trips for context;
//! - full sync: `LiveModel::sync_once` on a fresh model (GET /v2/info + /v2/groups + parse);
//! - VmRSS / VmHWM of the proxy against the size of the `/v2/groups` JSON.
//!
//! `--ledger zookeeper`: also a proxy whose ledger is shared through a ZooKeeper on loopback
//! (with and without fsync), against the local ledger in the same run; each ZooKeeper is warmed
//! up first, as a long-running ensemble is (see [`warm_up_zookeeper`]).
//!
//! `--sim-nice N` (this scenario and `burst`): the simulator's threads at nice N, see
//! [`sim_runtime`].
//!
//! `--zk-cpu N` (with `--ledger zookeeper`): every ZooKeeper thread on CPU N alone, and this
//! process (the simulator, the bench's clients) and the proxies it starts on the other CPUs, as
//! where the ensemble runs on machines of its own (the proxy gives up that core too, in every row
//! alike); see [`pin_zookeeper`].
//!
//! `--scenario dry-run-load`: real writes' round trips at rest, beside one 20,000-app batch dry
//! run, and beside 30 clients (each its own loopback address) of near-threshold dry runs; the
//! proxy's resident memory at rest and after.
//!
//! `--scenario replicas`: writes per second through three replicas sharing one ledger in a
//! ZooKeeper on loopback, against one replica with its own, in the same run.
//!
//! `--scenario burst [--apps 2000|10000] [--clients 8] [--writes 240] [--sim-nice N]`: a release train. For each
//! root, and for the warm proxy and the exact one (baseline), each on a simulator freshly seeded
//! with the same root: `clients` clients (a connection each) send `writes` real writes in all, one
//! app each, as fast as answered (new instance counts; every fourth also a new environment
//! variable, so the model moves). Writes per second, decision times and paths from the audit log,
//! and verdicts checked against the audit line's own sizes. `--sim-nice N` runs the simulator's
//! threads at nice N (see [`sim_runtime`]): the proxy's decisions as they are when Marathon does
//! not compete with it for the same cores.
//!
//! `--apps 50000 --layout v1.4` (also with `--scenario burst`): the simulator as Marathon 1.4.13
//! (new layout) seeded with `deep_root(apps, 1)`; the proxy learns the version from `/v2/info`
//! alone. What binds there (the largest ZooKeeper request) is, by the proxy's estimate, about 3x
//! ZooKeeper's default `jute.maxbuffer` at rest, so every write that grows it is refused; `--limit 4000000` raises the
//! node size limits as such an installation must.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// A numeric argument, or `default`.
fn arg_usize(name: &str, default: usize) -> usize {
    arg(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: expected a number, got `{v}`")))
}

/// The Marathon the simulator plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marathon {
    /// 1.3.14: legacy layout, the deployment plan binds.
    V13,
    /// 1.4.13: new layout.
    V14,
}

impl Marathon {
    /// `--layout v1.4`, else 1.3.14.
    fn from_args() -> Marathon {
        match arg("--layout").as_deref() {
            None | Some("legacy") => Marathon::V13,
            Some("v1.4") => Marathon::V14,
            Some(other) => panic!("--layout: expected v1.4 or legacy, got `{other}`"),
        }
    }

    /// The simulator's settings: the version it reports in `/v2/info` is all the proxy is told.
    fn sim(self, state: Option<marathon_model::Group>) -> marathon_sim::SimConfig {
        let defaults = match self {
            Marathon::V13 => marathon_sim::SimConfig::default(),
            Marathon::V14 => marathon_sim::SimConfig::v14(),
        };
        let zk_max_node_size = raised_limit().unwrap_or(defaults.zk_max_node_size);
        marathon_sim::SimConfig { state, zk_max_node_size, ..defaults }
    }
}

/// `--limit BYTES`: the node size limits raised, as an installation whose root outgrew the
/// defaults must raise them: Marathon's `--zk_max_node_size` (what binds on 1.3.14; the simulator
/// runs Marathon's own check with it) and ZooKeeper's `jute.maxbuffer` (what binds on 1.4; the
/// simulator keeps its state in memory and checks no size there). The proxy is told both
/// (`zk_max_node_size`, `zk_max_packet`), as an operator would tell it; its layout still comes
/// from `/v2/info`.
fn raised_limit() -> Option<u64> {
    arg("--limit").map(|v| v.parse().unwrap_or_else(|_| panic!("--limit: expected bytes, got `{v}`")))
}

/// A seeded root: `heroku_root(apps, env)` on 1.3.14, `deep_root(apps, env)` on 1.4.
#[derive(Clone, Copy)]
struct Seed {
    marathon: Marathon,
    apps: usize,
    env: usize,
}

impl Seed {
    /// The roots a run measures: `--layout v1.4`: `deep_root(--apps or 50000, 1)`; else
    /// `heroku_root(2000, 10)` and `heroku_root(10000, 1)`, or the one `--apps` names.
    fn from_args() -> Vec<Seed> {
        let only = arg("--apps");
        match Marathon::from_args() {
            Marathon::V14 => vec![Seed { marathon: Marathon::V14, apps: arg_usize("--apps", 50_000), env: 1 }],
            Marathon::V13 => [(2000, 10), (10_000, 1)]
                .into_iter()
                .filter(|(apps, _)| only.as_deref().is_none_or(|a| a == apps.to_string()))
                .map(|(apps, env)| Seed { marathon: Marathon::V13, apps, env })
                .collect(),
        }
    }

    fn root(self) -> marathon_model::Group {
        match self.marathon {
            Marathon::V13 => znode_size::synthetic::heroku_root(self.apps, self.env),
            Marathon::V14 => znode_size::synthetic::deep_root(self.apps, self.env),
        }
    }

    /// How table rows name the root: `2000` (1.3.14), `50000 (1.4)`.
    fn tag(self) -> String {
        match self.marathon {
            Marathon::V13 => self.apps.to_string(),
            Marathon::V14 => format!("{} (1.4)", self.apps),
        }
    }

    fn describe(self) -> String {
        let limit = raised_limit().map(|n| format!(", node size limits raised to {n} bytes")).unwrap_or_default();
        match self.marathon {
            Marathon::V13 => format!("heroku_root({}, {}), Marathon 1.3.14 (legacy layout{limit})", self.apps, self.env),
            Marathon::V14 => format!("deep_root({}, {}), Marathon 1.4.13 (new layout{limit})", self.apps, self.env),
        }
    }
}

/// The app ids of `root`, in its order.
fn app_ids(root: &marathon_model::Group) -> Vec<String> {
    root.transitive_apps().iter().filter_map(|a| a.id().map(str::to_string)).collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let idx = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[idx.min(v.len() - 1)]
}

async fn send(c: &HttpClient, method: &str, url: &str, body: &str) -> (u16, Bytes) {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = c.request(req).await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

fn free_port() -> u16 {
    marathon_sim::testing::free_port().expect("a free loopback port")
}

fn proc_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Proxy {
    child: Child,
    url: String,
    admin: String,
    audit: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a proxy of the run is set up.
struct Setup {
    label: &'static str,
    warm: bool,
    /// `[ledger] zookeeper`, when the ledger is shared.
    ledger: Option<String>,
    /// More `[admission]` keys.
    extra: &'static str,
}

async fn start_proxy(binary: &str, sim_url: &str, setup: &Setup, tag: usize, dir: &std::path::Path) -> Proxy {
    let (port, admin) = (free_port(), free_port());
    let audit = dir.join(format!("audit-{tag}.jsonl"));
    let _ = std::fs::remove_file(&audit);
    let cfg = dir.join(format!("proxy-{tag}.toml"));
    let ledger = setup.ledger.as_ref().map(|zk| format!("[ledger]\nzookeeper = \"{zk}\"\n")).unwrap_or_default();
    let limits = raised_limit().map(|n| format!("zk_max_node_size = {n}\nzk_max_packet = {n}\n")).unwrap_or_default();
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\nmarathon = [\"{sim_url}\"]\n\
             [runtime]\nworker_threads = 2\n{ledger}[admission]\nwarm = {}\naudit_log = \"{}\"\n{limits}{}\n",
            setup.warm,
            audit.display(),
            setup.extra
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("MARATHON_ADMISSION_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn marathon-admission serve");
    Proxy { child, url: format!("http://127.0.0.1:{port}"), admin: format!("http://127.0.0.1:{admin}"), audit }
}

/// Waits for /readyz and for the background preparation (the `current_bytes` gauge is set once
/// the first root was measured).
async fn wait_settled(c: &HttpClient, p: &Proxy) -> Duration {
    let t0 = Instant::now();
    loop {
        if let Ok(resp) = c.request(http::Request::get(format!("{}/metrics", p.admin)).body(Full::default()).unwrap()).await {
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            let ready = text
                .lines()
                .find(|l| l.starts_with("marathon_admission_proxy_admission_current_bytes "))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > 0);
            if ready {
                return t0.elapsed();
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "proxy never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Default)]
struct Audit {
    dry: Vec<f64>,
    real: Vec<f64>,
    real_warm: usize,
    real_exact: usize,
    dry_warm: usize,
    /// Real writes decided on their size, and those whose verdict disagrees with the line's own
    /// sizes ([`verdict_differs`]).
    real_sized: usize,
    real_differ: usize,
    /// The largest `predicted_bytes` of a real write, as a share of its `limit_bytes`.
    real_binding_max: f64,
    /// Real writes by `decision/reason`.
    real_verdicts: std::collections::BTreeMap<String, usize>,
    /// Each phase of the real writes' decisions (`phases_ms`), in the order they ran.
    real_phases: Vec<(String, Vec<f64>)>,
}

impl Audit {
    fn note_phases(&mut self, phases: &serde_json::Value) {
        for (name, ms) in phases.as_object().into_iter().flatten() {
            let Some(ms) = ms.as_f64() else { continue };
            match self.real_phases.iter_mut().find(|(n, _)| n == name) {
                Some((_, all)) => all.push(ms),
                None => self.real_phases.push((name.clone(), vec![ms])),
            }
        }
    }

    /// `phase p50 / p90 / p99 (n)` for each phase of the real writes' decisions.
    fn phase_summary(&mut self) -> String {
        let rows: Vec<String> = self
            .real_phases
            .iter_mut()
            .map(|(name, all)| format!("{name} {:.2} / {:.2} / {:.2} ({})", pct(all, 50.0), pct(all, 90.0), pct(all, 99.0), all.len()))
            .collect();
        rows.join("; ")
    }
}

fn read_audit(path: &std::path::Path) -> Audit {
    read_audits(&[path.to_path_buf()])
}

/// The audit logs of several proxies, as one.
fn read_audits(paths: &[std::path::PathBuf]) -> Audit {
    let mut a = Audit::default();
    let text = paths.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect::<Vec<_>>().join("\n");
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let ms = v["decision_ms"].as_f64().unwrap_or(f64::NAN);
        let warm = v["estimator"] == "warm";
        if v["dry_run"].as_bool().unwrap_or(false) {
            a.dry.push(ms);
            a.dry_warm += warm as usize;
        } else {
            a.real.push(ms);
            a.real_warm += warm as usize;
            a.real_exact += (v["estimator"] == "exact") as usize;
            let verdict = format!("{}/{}", v["decision"].as_str().unwrap_or("?"), v["reason"].as_str().unwrap_or("?"));
            *a.real_verdicts.entry(verdict).or_default() += 1;
            if let (Some(b), Some(l)) = (v["predicted_bytes"].as_f64(), v["limit_bytes"].as_f64()) {
                a.real_binding_max = a.real_binding_max.max(b / l);
            }
            if let Some(differs) = verdict_differs(&v) {
                a.real_sized += 1;
                a.real_differ += differs as usize;
            }
            a.note_phases(&v["phases_ms"]);
        }
    }
    a
}

/// Whether an audit line's verdict disagrees with its own sizes: refused while `predicted_bytes`
/// (the binding node's predicted size) is under the reject level, or let through at or over it.
/// The reject level is the default policy's (what the bench's proxies run with) applied to
/// `limit_bytes`: the line does not carry it. The health-check wall only turns an allowed write
/// into a warning, so its lines count as admitted on size; `None` for the rest (a change that
/// shrinks the state passes over the level by design; quotas refuse for their own reasons). The
/// sizes are those the decision was made with (the warm estimate on the warm path), not the
/// exact ones.
fn verdict_differs(v: &serde_json::Value) -> Option<bool> {
    let sized = matches!(v["reason"].as_str()?, "within_limit" | "near_limit" | "over_limit" | "health_checks");
    let (predicted, limit) = (v["predicted_bytes"].as_u64()?, v["limit_bytes"].as_u64()?);
    let over = predicted >= admission::Policy::default().reject_at(limit);
    sized.then(|| (v["decision"] == "reject") != over)
}

/// Waits until the audit log holds `n` lines of real writes (its writer thread is behind the
/// answers); gives up after 30 s.
async fn wait_audit(path: &std::path::Path, n: usize) {
    let t0 = Instant::now();
    while read_audit(path).real.len() < n && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// VmRSS of the proxy in front of an empty Marathon, settled: the process's own share of every
/// memory figure (code pages, runtime, buffers), apart from the model.
async fn empty_model_rss(binary: &str, marathon: Marathon, dir: &std::path::Path) -> f64 {
    let sim = marathon_sim::start(marathon.sim(None)).await.unwrap();
    let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let p = start_proxy(binary, &sim.url(), &Setup { label: "empty", warm: true, ledger: None, extra: "" }, 99, dir).await;
    wait_settled(&c, &p).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss = proc_kb(p.child.id(), "VmRSS:") as f64 * 1024.0;
    let anon = proc_kb(p.child.id(), "RssAnon:") as f64 * 1024.0;
    println!("proxy in front of an empty Marathon: RSS {:.1} MB (anonymous {:.1} MB; the rest is code and libraries)", rss / 1e6, anon / 1e6);
    rss
}

async fn scenario(
    binary: &str,
    seed: Seed,
    (dry_n, real_n): (usize, usize),
    dir: &std::path::Path,
    empty_rss: f64,
    zk: Option<(&str, &str)>,
    sim_rt: Option<&tokio::runtime::Handle>,
) {
    let root = seed.root();
    let ids = app_ids(&root);
    let sim = start_sim(sim_rt, seed.marathon.sim(Some(root))).await;
    let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (_, groups) = send(&c, "GET", &format!("{}/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods", sim.url()), "").await;
    let json_bytes = groups.len() as f64;

    // Full sync on fresh models.
    let mut syncs = Vec::new();
    for _ in 0..5 {
        let admit = admission_runtime::AdmitConfig::default();
        let up = proxy::config::UpstreamConfig::default();
        let marathon = proxy::MarathonClient::for_marathons(vec![sim.url().parse().unwrap()], &up).unwrap();
        let model = admission_runtime::LiveModel::new(marathon, admit);
        let t = Instant::now();
        model.sync_once().await.unwrap();
        syncs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let sync_p50 = pct(&mut syncs.clone(), 50.0);
    let sync_max = pct(&mut syncs, 100.0);
    println!("## {}: /v2/groups JSON {:.1} MB; full sync p50 {sync_p50:.0} ms, max {sync_max:.0} ms", seed.describe(), json_bytes / 1e6);
    let apps = seed.tag();

    let mut setups = vec![Setup { label: "warm", warm: true, ledger: None, extra: "" }, Setup { label: "exact (baseline)", warm: false, ledger: None, extra: "" }];
    if let Some((zk, zk_no_fsync)) = zk {
        // The shared ledger's cost, against the local one (the first row) in the same run; and
        // the same on an ensemble that does not fsync, to tell the proxy's cost from the disk's.
        setups.insert(1, Setup { label: "warm, shared ledger (ZooKeeper)", warm: true, ledger: Some(format!("{zk}/bench-ledger-{}", seed.apps)), extra: "" });
        setups.insert(2, Setup { label: "warm, shared ledger (ZooKeeper, forceSync=no)", warm: true, ledger: Some(format!("{zk_no_fsync}/bench-ledger-{}", seed.apps)), extra: "" });
    }
    for (tag, setup) in setups.iter().enumerate() {
        let warm = setup.warm;
        let p = start_proxy(binary, &sim.url(), setup, tag, dir).await;
        let settle = wait_settled(&c, &p).await;
        let at_rest = binding_share(&c, &p).await;
        let pid = p.child.id();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rss_idle = proc_kb(pid, "VmRSS:") as f64 * 1024.0;
        let anon_idle = proc_kb(pid, "RssAnon:") as f64 * 1024.0;
        let n_dry = if warm { dry_n } else { dry_n.min(30) };
        let n_real = if warm { real_n } else { real_n.min(10) };
        let mut rt_dry = Vec::new();
        for i in 0..n_dry {
            let id = &ids[(i * 7919) % ids.len()];
            let url = format!("{}/admission/v1/check?method=PUT&path=/v2/apps{id}", p.url);
            let (status, answer, took) = dry_run(&c, &url, &format!("{{\"instances\": {}}}", 2 + i % 3)).await;
            rt_dry.push(took.as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        }
        let mut rt_real = Vec::new();
        let mut statuses = std::collections::BTreeMap::new();
        // With a shared ledger, a bare client's reservation-shaped transaction just before each
        // write: what ZooKeeper takes for one at that moment, under the load the decision meets.
        let bare = match &setup.ledger {
            Some(spec) => Some(BareClient::connect(spec.split('/').next().expect("HOST:PORT/PATH")).await),
            None => None,
        };
        let mut bare_times = Vec::new();
        for i in 0..n_real {
            if let Some(bare) = &bare {
                bare_times.push(bare.reservation().await);
            }
            let (path, body) = measured_write(&ids, i);
            let t = Instant::now();
            let (status, _) = send(&c, "PUT", &format!("{}{path}", p.url), &body).await;
            rt_real.push(t.elapsed().as_secs_f64() * 1000.0);
            *statuses.entry(status).or_insert(0) += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after = proc_kb(pid, "VmRSS:") as f64 * 1024.0;
        let hwm = proc_kb(pid, "VmHWM:") as f64 * 1024.0;
        drop(p);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut a = read_audit(&dir.join(format!("audit-{tag}.jsonl")));
        let path = setup.label;
        println!(
            "| {apps} | {path} | dry runs n={} ({} warm) | decision p50 {:.2} ms | p99 {:.2} ms | round trip p50 {:.2} / p99 {:.2} ms |",
            a.dry.len(),
            a.dry_warm,
            pct(&mut a.dry, 50.0),
            pct(&mut a.dry, 99.0),
            pct(&mut rt_dry, 50.0),
            pct(&mut rt_dry, 99.0)
        );
        println!(
            "| {apps} | {path} | writes n={} ({} warm) statuses {statuses:?} verdicts {:?} (binding node at rest {:.1}% of the limit) | decision p50 {:.2} ms | p99 {:.2} ms | round trip p50 {:.0} / p99 {:.0} ms |",
            a.real.len(),
            a.real_warm,
            a.real_verdicts,
            100.0 * at_rest,
            pct(&mut a.real, 50.0),
            pct(&mut a.real, 99.0),
            pct(&mut rt_real, 50.0),
            pct(&mut rt_real, 99.0)
        );
        println!(
            "| {apps} | {path} | memory | settle {:.1} s | RSS idle {:.1} MB ({:.2}x JSON; anonymous {:.1} MB, {:.2}x; above the empty-model process {:.1} MB, {:.2}x) | after writes {:.0} MB ({:.2}x), peak {:.0} MB ({:.2}x) |",
            settle.as_secs_f64(),
            rss_idle / 1e6,
            rss_idle / json_bytes,
            anon_idle / 1e6,
            anon_idle / json_bytes,
            (rss_idle - empty_rss) / 1e6,
            (rss_idle - empty_rss) / json_bytes,
            rss_after / 1e6,
            rss_after / json_bytes,
            hwm / 1e6,
            hwm / json_bytes
        );
        println!("  phases of the writes' decisions, ms p50 / p90 / p99 (n): {}", a.phase_summary());
        if let Some(spec) = &setup.ledger {
            println!("  ZooKeeper's own account since it started: {}", zk_own_account(spec));
            println!(
                "  ZooKeeper under the same load: a bare client's reservation-shaped transaction just before each write, {} of them: {}",
                bare_times.len(),
                p50_p99_max(&mut bare_times)
            );
        }
    }
    if let Some((zk, zk_no_fsync)) = zk {
        for (label, spec) in [("fsync", zk), ("forceSync=no", zk_no_fsync)] {
            let mut took = bare_beside_writes_without_proxy(&c, &sim.url(), &ids, real_n, spec).await;
            println!(
                "  ZooKeeper ({label}) under the simulator's load alone (the same writes straight to it, no proxy): a bare client's transaction just before each write, {} of them: {}",
                took.len(),
                p50_p99_max(&mut took)
            );
        }
    }
    sim.shutdown().await;
}

/// The writes of a measured row sent straight to the simulator, each after a bare client's
/// reservation-shaped transaction on `spec`'s ensemble; the transactions' times (ms). Tells
/// ZooKeeper's latency under the load of the writes themselves (Marathon's work) from what the
/// proxy adds to it.
async fn bare_beside_writes_without_proxy(c: &HttpClient, sim_url: &str, ids: &[String], n: usize, spec: &str) -> Vec<f64> {
    let bare = BareClient::connect(spec.split('/').next().expect("HOST:PORT")).await;
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        took.push(bare.reservation().await);
        let (path, body) = measured_write(ids, i);
        let (status, answer) = send(c, "PUT", &format!("{sim_url}{path}"), &body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    took
}

/// The `i`th real write of a measured row: its path and query, and its body.
fn measured_write(ids: &[String], i: usize) -> (String, String) {
    let id = &ids[(i * 104_729 + 13) % ids.len()];
    (format!("/v2/apps{id}?force=true"), format!("{{\"instances\": {}}}", 2 + i % 3))
}

/// `p50 X / p99 Y / max Z ms` of `times` (ms).
fn p50_p99_max(times: &mut [f64]) -> String {
    format!("p50 {:.2} / p99 {:.2} / max {:.2} ms", pct(times, 50.0), pct(times, 99.0), pct(times, 100.0))
}

/// Transactions a ZooKeeper serves before the shared ledger is measured on it.
const ZK_WARM_UP: usize = 3_000;

/// Brings a freshly started ZooKeeper to where Marathon's ensemble, up for days, is: its JVM
/// interprets the request pipeline until the JIT has compiled it, and the first few hundred
/// transactions pay for that (a reservation took 4-7 ms in the first hundred writes of a run
/// and 2-3 ms in the second). [`ZK_WARM_UP`] transactions shaped like a reservation (a version
/// set and a sequential create in one multi) and a delete each, on a path of their own; then the
/// server's statistics are reset (`srst`), so that its own account covers the measured writes.
/// Returns the bare client's floor ([`bare_reservations`]), measured before the reset.
async fn warm_up_zookeeper(connect: &str) -> Vec<f64> {
    let bare = BareClient::connect(connect).await;
    for _ in 0..ZK_WARM_UP {
        bare.reservation_deleted().await;
    }
    let floor = bare_reservations(&bare).await;
    marathon_sim::testing::four_letter(connect.parse().expect("HOST:PORT"), "srst").expect("srst");
    floor
}

/// A ZooKeeper client of the bench's own, for transactions shaped like a reservation (a version
/// set and a sequential create of 300 bytes in one multi) on a path of their own.
struct BareClient {
    client: zookeeper_client::Client,
}

impl BareClient {
    const NODE: &'static str = "/bench-bare";

    async fn connect(connect: &str) -> BareClient {
        use zookeeper_client as zkc;
        let client = zkc::Client::connect(connect).await.expect("ZooKeeper for the bench's own client");
        match client.create(Self::NODE, b"", &zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all())).await {
            Ok(_) | Err(zkc::Error::NodeExists) => {}
            Err(e) => panic!("the bench's node: {e}"),
        }
        BareClient { client }
    }

    /// One transaction; its node's path.
    async fn commit(&self) -> String {
        use zookeeper_client as zkc;
        let sequential = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
        let mut txn = self.client.new_multi_writer();
        txn.add_set_data(Self::NODE, b"", None).expect("a set");
        txn.add_create(&format!("{}/r-", Self::NODE), &[b'x'; 300], &sequential).expect("a create");
        match txn.commit().await.expect("a bare reservation").into_iter().nth(1) {
            Some(zkc::MultiWriteResult::Create { path, .. }) => path,
            other => panic!("a bare reservation created {other:?}"),
        }
    }

    /// One transaction, timed (ms).
    async fn reservation(&self) -> f64 {
        let t = Instant::now();
        self.commit().await;
        t.elapsed().as_secs_f64() * 1000.0
    }

    /// One transaction, and its node deleted.
    async fn reservation_deleted(&self) {
        let path = self.commit().await;
        self.client.delete(&path, None).await.expect("a warm-up delete");
    }
}

/// Transactions of the bare client's floor, and how far apart (about a write's round trip
/// through the simulator at 2,000 apps, as the measured writes come).
const ZK_FLOOR: (usize, Duration) = (200, Duration::from_millis(60));

/// What one reservation costs on this ensemble without the proxy: the times (ms) of
/// [`ZK_FLOOR`] transactions shaped like one (a version set and a sequential create), from a
/// bare client, paced as the measured writes are. The floor of what the shared ledger adds.
async fn bare_reservations(bare: &BareClient) -> Vec<f64> {
    let (n, pace) = ZK_FLOOR;
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        took.push(bare.reservation().await);
        tokio::time::sleep(pace).await;
    }
    took
}

/// ZooKeeper's own account of its writes (`mntr`): the latency it measured from reading a write
/// to answering it, and its transaction log's syncs, which tell the ensemble's share of a
/// reservation from the proxy's.
fn zk_own_account(spec: &str) -> String {
    let Some(addr) = spec.split('/').next().and_then(|a| a.parse().ok()) else { return format!("no address in {spec}") };
    let mntr = match marathon_sim::testing::four_letter(addr, "mntr") {
        Ok(m) => m,
        Err(e) => return format!("mntr: {e}"),
    };
    let get = |key: &str| mntr.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('\t')).unwrap_or("?").to_owned();
    format!(
        "{} writes, latency p50 {} / p99 {} / max {} ms; {} log syncs, avg {} / max {} ms",
        get("zk_cnt_updatelatency"),
        get("zk_p50_updatelatency"),
        get("zk_p99_updatelatency"),
        get("zk_max_updatelatency"),
        get("zk_cnt_fsynctime"),
        get("zk_avg_fsynctime"),
        get("zk_max_fsynctime")
    )
}

/// A client of its own loopback address (`127.0.0.x`): the proxy tells clients apart by address.
fn client_from(x: u8) -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_local_address(Some(std::net::IpAddr::from([127, 0, 0, x])));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Round trips of `n` real writes (`PUT /v2/apps/{id}?force=true`, instances), one after another.
async fn real_writes(c: &HttpClient, p: &Proxy, ids: &[String], n: usize, salt: usize) -> Vec<f64> {
    let mut rt = Vec::new();
    for i in 0..n {
        let id = &ids[(i * 104_729 + salt) % ids.len()];
        let t = Instant::now();
        let (status, body) = send(c, "PUT", &format!("{}/v2/apps{id}?force=true", p.url), &format!("{{\"instances\": {}}}", 2 + (i + salt) % 3)).await;
        assert!(status < 300, "{status} {}", String::from_utf8_lossy(&body));
        rt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    rt
}

/// One dry run, its answer and how long the answered attempt took. One client may send 10 a
/// second: one told to wait (429) is sent again after a moment.
async fn dry_run(c: &HttpClient, url: &str, body: &str) -> (u16, Bytes, Duration) {
    loop {
        let t = Instant::now();
        let (status, answer) = send(c, "POST", url, body).await;
        if status != 429 {
            return (status, answer, t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A dry-run body whose decision lands nearest the admission threshold (where the exact path
/// decides): an app with as many environment variables as it takes. Also the estimator it got.
async fn near_threshold_body(c: &HttpClient, p: &Proxy) -> (String, String) {
    let mut best: Option<(u64, String, String)> = None;
    for vars in (0..6000).step_by(25) {
        let env: serde_json::Map<String, serde_json::Value> =
            (0..vars).map(|i| (format!("NEAR_{i:05}"), serde_json::json!(format!("value-{i:05}-{}", i * 7919 % 100_003)))).collect();
        let body = serde_json::json!({"id": "/load/near", "cmd": "sleep 1", "env": env}).to_string();
        let (_, answer, _) = dry_run(c, &format!("{}/admission/v1/check?method=POST&path=/v2/apps", p.url), &body).await;
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        let (Some(binding), Some(reject_at)) = (v["binding_bytes"].as_u64(), v["reject_at_bytes"].as_u64()) else { continue };
        let distance = binding.abs_diff(reject_at);
        if best.as_ref().is_none_or(|(d, _, _)| distance < *d) {
            best = Some((distance, body, v["estimator"].as_str().unwrap_or("?").to_string()));
        }
        if binding > reject_at {
            break;
        }
    }
    let (_, body, estimator) = best.expect("no dry run was decided");
    (body, estimator)
}

/// Dry runs do not hold back real writes: the round trip of real writes at rest, beside one
/// 20,000-app batch dry run, and beside 30 clients sending near-threshold dry runs; the proxy's
/// resident memory before and after.
async fn dry_run_load(binary: &str, dir: &std::path::Path) {
    let root = znode_size::synthetic::heroku_root(2000, 10);
    let ids: Vec<String> = root.transitive_apps().iter().filter_map(|a| a.id().map(str::to_string)).collect();
    let sim = marathon_sim::start(marathon_sim::SimConfig { state: Some(root), ..Default::default() }).await.unwrap();
    let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    // The batch below is decided in full, not refused for its size.
    let setup = Setup { label: "warm", warm: true, ledger: None, extra: "max_batch_apps = 200000" };
    let p = start_proxy(binary, &sim.url(), &setup, 50, dir).await;
    wait_settled(&c, &p).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = p.child.id();
    let rss_rest = proc_kb(pid, "VmRSS:") as f64 * 1024.0;
    let mut at_rest = real_writes(&c, &p, &ids, 20, 1).await;
    println!("## Dry runs beside real writes (heroku_root(2000, 10), warm)");
    println!("| real writes at rest | n={} | round trip p50 {:.1} ms | max {:.1} ms |", at_rest.len(), pct(&mut at_rest.clone(), 50.0), pct(&mut at_rest, 100.0));

    // One batch dry run of 20,000 minimal apps.
    let batch: Vec<String> = (0..20_000).map(|i| format!("{{\"id\":\"/load/batch/app-{i}\",\"cmd\":\"sleep 1\"}}")).collect();
    let batch = format!("[{}]", batch.join(","));
    let big = {
        let (c, url) = (client_from(2), format!("{}/admission/v1/check?method=PUT&path=/v2/apps", p.url));
        tokio::spawn(async move {
            let t = Instant::now();
            let (status, answer) = send(&c, "POST", &url, &batch).await;
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            let verdict = format!("{status} {} by {}", v["decision"].as_str().unwrap_or("?"), v["estimator"].as_str().unwrap_or("-"));
            (verdict, t.elapsed().as_secs_f64() * 1000.0)
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut beside_batch = real_writes(&c, &p, &ids, 5, 2).await;
    let (status, batch_ms) = big.await.unwrap();
    println!(
        "| real writes beside a 20,000-app batch dry run ({status}, {batch_ms:.0} ms) | n={} | round trip p50 {:.1} ms | max {:.1} ms (at rest max {:.1} ms) |",
        beside_batch.len(),
        pct(&mut beside_batch.clone(), 50.0),
        pct(&mut beside_batch, 100.0),
        pct(&mut at_rest, 100.0)
    );

    // 30 clients, each its own address, sending near-threshold dry runs as fast as answered.
    let (body, estimator) = near_threshold_body(&c, &p).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for x in 0..30u8 {
        let (c, url, body, stop) = (client_from(10 + x), format!("{}/admission/v1/check?method=POST&path=/v2/apps", p.url), body.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = send(&c, "POST", &url, &body).await;
                *statuses.entry(status).or_insert(0u32) += 1;
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut under_load = real_writes(&c, &p, &ids, 20, 3).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = std::collections::BTreeMap::new();
    for l in load {
        for (s, n) in l.await.unwrap() {
            *statuses.entry(s).or_insert(0) += n;
        }
    }
    let (rest50, load50) = (pct(&mut at_rest.clone(), 50.0), pct(&mut under_load.clone(), 50.0));
    println!(
        "| real writes beside 30 clients of near-threshold dry runs ({estimator} path; answers {statuses:?}) | n={} | round trip p50 {load50:.1} ms ({:.2}x at rest) | p99 {:.1} ms |",
        under_load.len(),
        load50 / rest50,
        pct(&mut under_load, 99.0)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = proc_kb(pid, "VmRSS:") as f64 * 1024.0;
    let hwm = proc_kb(pid, "VmHWM:") as f64 * 1024.0;
    println!(
        "| memory | at rest {:.1} MB | after the load, settled 2 s: {:.1} MB ({:.2}x at rest) | peak {:.1} MB |",
        rss_rest / 1e6,
        rss_after / 1e6,
        rss_after / rss_rest,
        hwm / 1e6
    );
    drop(p);
    sim.shutdown().await;
}

/// A counter's value from a proxy's `/metrics` (0 when absent).
async fn metric(c: &HttpClient, p: &Proxy, name: &str) -> f64 {
    let (_, body) = send(c, "GET", &format!("{}/metrics", p.admin), "").await;
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `clients` clients, each with a connection of its own, sending real writes (`PUT`) as fast as
/// answered: client `k`'s `i`-th write is `write(k, i)` (URL and body), until that is `None`.
/// The statuses of the answers and the wall time.
async fn concurrent_writes<W>(clients: usize, write: W) -> (std::collections::BTreeMap<u16, u32>, Duration)
where
    W: Fn(usize, usize) -> Option<(String, String)> + Send + Sync + 'static,
{
    let write = std::sync::Arc::new(write);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let write = write.clone();
        tasks.push(tokio::spawn(async move {
            let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            let mut statuses = std::collections::BTreeMap::new();
            for i in 0.. {
                let Some((url, body)) = write(k, i) else { break };
                let (status, _) = send(&c, "PUT", &url, &body).await;
                *statuses.entry(status).or_insert(0u32) += 1;
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        for (s, k) in task.await.unwrap() {
            *statuses.entry(s).or_insert(0) += k;
        }
    }
    (statuses, t.elapsed())
}

/// A release train: `clients` clients send `writes` real writes in all, one app each, as fast as
/// answered, through the warm proxy and through the exact one (baseline), each in front of a
/// simulator freshly seeded with the same root. Every write sets a new instance count; every
/// fourth also adds an environment variable (the app's own variables sent along: a PUT replaces
/// `env`), so that apps change in full and the model moves.
/// `--sim-nice N` (N > 0): a runtime of its own for the simulator, every thread of it (workers and
/// blocking pool) at nice N. The simulator stands for a Marathon, which runs on machines of its
/// own; sharing two cores at the same priority, its gzip of every write (about a core during a
/// burst) is what the proxy's decisions wait behind. At a lower priority it still does all of its
/// work and the proxy still waits for its answers, but a decision gets a core when it needs one.
fn sim_runtime() -> Option<tokio::runtime::Runtime> {
    let nice = arg_usize("--sim-nice", 0) as i32;
    (nice > 0).then(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("simulator")
            .on_thread_start(move || {
                // SAFETY: plain system calls on this thread's own id.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::setpriority(libc::PRIO_PROCESS, tid, nice.min(19));
                }
            })
            .enable_all()
            .build()
            .expect("a runtime for the simulator")
    })
}

/// The simulator, on `rt` when given.
async fn start_sim(rt: Option<&tokio::runtime::Handle>, config: marathon_sim::SimConfig) -> marathon_sim::SimHandle {
    match rt {
        Some(rt) => rt.spawn(marathon_sim::start(config)).await.expect("the simulator's start").expect("the simulator"),
        None => marathon_sim::start(config).await.expect("the simulator"),
    }
}

async fn burst(binary: &str, seed: Seed, clients: usize, writes: usize, dir: &std::path::Path, sim_rt: Option<&tokio::runtime::Handle>) {
    let root = seed.root();
    let apps = root.transitive_apps();
    assert!(writes <= apps.len(), "--writes {writes}: more than the {} apps", apps.len());
    // One app per write: a prime step visits distinct apps.
    let planned: Vec<(String, String)> = (0..writes)
        .map(|j| {
            let app = apps[(j * 104_729 + 7) % apps.len()].app();
            let mut body = serde_json::json!({"instances": 3 + j % 3});
            if j % 4 == 0 {
                let mut env = serde_json::to_value(&app.env).unwrap_or_default().as_object().cloned().unwrap_or_default();
                env.insert("RELEASE_TAG".into(), release_tag(j).into());
                body["env"] = env.into();
            }
            (app.id.clone().expect("synthetic apps have ids"), body.to_string())
        })
        .collect();
    let sim_nice = if sim_rt.is_some() { format!("; the simulator at nice {}", arg_usize("--sim-nice", 0)) } else { String::new() };
    println!("## Release train: {}; {clients} clients, {writes} writes (every fourth with a new env var){sim_nice}", seed.describe());
    let setups = [Setup { label: "warm", warm: true, ledger: None, extra: "" }, Setup { label: "exact (baseline)", warm: false, ledger: None, extra: "" }];
    for (tag, setup) in setups.iter().enumerate() {
        let sim = start_sim(sim_rt, seed.marathon.sim(Some(root.clone()))).await;
        let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let p = start_proxy(binary, &sim.url(), setup, 70 + tag, dir).await;
        wait_settled(&c, &p).await;
        let (url, planned) = (p.url.clone(), planned.clone());
        let write = move |k: usize, i: usize| {
            let (id, body) = planned.get(i * clients + k)?;
            Some((format!("{url}/v2/apps{id}?force=true"), body.clone()))
        };
        let (statuses, took) = concurrent_writes(clients, write).await;
        let audit = p.audit.clone();
        wait_audit(&audit, writes).await;
        let near_states = metric(&c, &p, "marathon_admission_proxy_admission_base_states_prepared_total").await;
        let early_states = metric(&c, &p, "marathon_admission_proxy_admission_base_states_prepared_early_total").await;
        drop(p);
        sim.shutdown().await;
        let mut a = read_audit(&audit);
        let secs = took.as_secs_f64();
        println!(
            "| {} | {} | {writes} writes, {clients} clients | statuses {statuses:?} | {secs:.1} s, {:.1} writes/s | decision p50 {:.2} / p99 {:.2} / max {:.2} ms | on the exact path {} of {} | warm states prepared for a base {near_states}, early {early_states} | verdicts {:?} | binding at most {:.1}% of the limit | verdicts against the line's own sizes: {} of {} differ | load {} |",
            seed.tag(),
            setup.label,
            writes as f64 / secs,
            pct(&mut a.real, 50.0),
            pct(&mut a.real, 99.0),
            pct(&mut a.real, 100.0),
            a.real_exact,
            a.real.len(),
            a.real_verdicts,
            100.0 * a.real_binding_max,
            a.real_differ,
            a.real_sized,
            load_average()
        );
        println!("  phases of the decisions, ms p50 / p90 / p99 (n): {}", a.phase_summary());
    }
    println!(
        "(a warm decision's audit line holds the warm estimate it was decided on, not the exact size: \
         whether the exact path would have decided otherwise on the same state is not in the audit log, and not counted here)"
    );
}

/// 40 hex digits that compress badly, different for each write.
fn release_tag(j: usize) -> String {
    let mut x = (j as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The binding node's size at rest as a share of the limit, from the proxy's gauges.
async fn binding_share(c: &HttpClient, p: &Proxy) -> f64 {
    let gauge = |name: &'static str| metric(c, p, name);
    gauge("marathon_admission_proxy_admission_current_bytes").await / gauge("marathon_admission_proxy_admission_limit_bytes").await
}

/// Decisions per second through three replicas sharing one ledger, against one replica with its
/// own, in the same run: 9 clients (3 per replica) each sending `writes` real writes to apps of
/// their own, as fast as answered. A small root (200 apps), so that the simulator is not what is
/// measured.
async fn replicas(binary: &str, dir: &std::path::Path, zk: &str, writes: usize) {
    let root = znode_size::synthetic::heroku_root(200, 10);
    let ids: Vec<String> = root.transitive_apps().iter().filter_map(|a| a.id().map(str::to_string)).collect();
    let sim = marathon_sim::start(marathon_sim::SimConfig { state: Some(root), ..Default::default() }).await.unwrap();
    let c: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    println!("## Decisions through replicas (heroku_root(200, 10); 9 clients, {writes} writes each)");
    let runs = [
        ("1 replica, its own ledger (baseline)", 1, None),
        ("3 replicas, each its own ledger (what 3 processes cost)", 3, None),
        ("3 replicas, one ledger in ZooKeeper", 3, Some(format!("{zk}/bench-replicas"))),
    ];
    for (label, n, ledger) in runs {
        let mut proxies = Vec::new();
        for r in 0..n {
            let setup = Setup { label, warm: true, ledger: ledger.clone(), extra: "" };
            let p = start_proxy(binary, &sim.url(), &setup, 60 + r, dir).await;
            wait_settled(&c, &p).await;
            proxies.push(p);
        }
        let urls: Vec<String> = proxies.iter().map(|p| p.url.clone()).collect();
        let ids = ids.clone();
        let write = move |k: usize, i: usize| {
            let id = &ids[(k * 20 + i % 20) % ids.len()];
            (i < writes).then(|| (format!("{}/v2/apps{id}?force=true", urls[k % n]), format!("{{\"instances\": {}}}", 1 + (i % 3))))
        };
        let (statuses, took) = concurrent_writes(9, write).await;
        let secs = took.as_secs_f64();
        let total: u32 = statuses.values().sum();
        let mut conflicts = 0.0;
        let mut prepared = 0.0;
        for p in &proxies {
            conflicts += metric(&c, p, "marathon_admission_proxy_ledger_conflicts_total").await;
            prepared += metric(&c, p, "marathon_admission_proxy_admission_base_states_prepared_total").await;
        }
        println!("| {label} | {total} writes in {secs:.1} s | {:.1} writes/s | statuses {statuses:?} | ledger conflicts {conflicts} |", f64::from(total) / secs);
        drop(proxies);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Where a decision's time went, over every replica's audit (its last attempt's phases).
        let mut all = read_audits(&(0..n).map(|r| dir.join(format!("audit-{}.jsonl", 60 + r))).collect::<Vec<_>>());
        println!(
            "  decisions p50 {:.2} / p99 {:.2} ms; warm states prepared for a base {prepared}; phases, ms p50 / p90 / p99 (n): {}",
            pct(&mut all.real.clone(), 50.0),
            pct(&mut all.real, 99.0),
            all.phase_summary()
        );
    }
    sim.shutdown().await;
}

fn main() {
    let binary = arg("--binary").unwrap_or_else(|| "target/release/marathon-admission".into());
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim_rt = sim_runtime();
    rt.block_on(async {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        println!("machine: {cores} cores, load {}; proxy binary {binary}", load_average());
        match arg("--scenario").as_deref() {
            Some("dry-run-load") => dry_run_load(&binary, dir.path()).await,
            Some("replicas") => {
                let zk = marathon_sim::testing::ZooKeeper::start().expect("ZooKeeper (Debian's zookeeper package)");
                replicas(&binary, dir.path(), &zk.connect_string(), 30).await;
            }
            Some("burst") => {
                let (clients, writes) = (arg_usize("--clients", 8), arg_usize("--writes", 240));
                for seed in Seed::from_args() {
                    burst(&binary, seed, clients, writes, dir.path(), sim_rt.as_ref().map(|r| r.handle())).await;
                }
            }
            None => decisions(&binary, dir.path(), sim_rt.as_ref().map(|r| r.handle())).await,
            Some(other) => panic!("--scenario: expected dry-run-load, replicas or burst, got `{other}`"),
        }
    });
}

/// Every thread of the ZooKeeper processes `pids` on CPU `cpu` alone, and every thread of this
/// process on the other CPUs (the proxies started later inherit that), with util-linux's
/// `taskset`.
fn pin_zookeeper(pids: &[u32], cpu: &str) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let cpu: usize = cpu.parse().unwrap_or_else(|_| panic!("--zk-cpu: a CPU number, got `{cpu}`"));
    assert!(cpu < cores && cores > 1, "--zk-cpu {cpu}: this machine has CPUs 0 to {}", cores - 1);
    let others: Vec<String> = (0..cores).filter(|c| *c != cpu).map(|c| c.to_string()).collect();
    let taskset = |list: &str, pid: u32| {
        let ok = Command::new("taskset").args(["-a", "-p", "-c", list, &pid.to_string()]).stdout(Stdio::null()).status();
        assert!(matches!(ok, Ok(s) if s.success()), "taskset -a -p -c {list} {pid}: {ok:?}");
    };
    for pid in pids {
        taskset(&cpu.to_string(), *pid);
    }
    taskset(&others.join(","), std::process::id());
    println!("ZooKeeper on CPU {cpu} alone; the simulator, the bench's clients and the proxies on CPU {}", others.join(","));
}

/// The default scenario on each root of the run.
async fn decisions(binary: &str, dir: &std::path::Path, sim_rt: Option<&tokio::runtime::Handle>) {
    let empty = empty_model_rss(binary, Marathon::from_args(), dir).await;
    // `--ledger zookeeper`: also a proxy sharing its ledger through a ZooKeeper on loopback.
    let zk = (arg("--ledger").as_deref() == Some("zookeeper")).then(|| {
        let start = |fsync: bool| {
            let zk = if fsync { marathon_sim::testing::ZooKeeper::start() } else { marathon_sim::testing::ZooKeeper::start_without_fsync() };
            zk.expect("ZooKeeper (Debian's zookeeper package)")
        };
        (start(true), start(false))
    });
    if let (Some((z, n)), Some(cpu)) = (&zk, arg("--zk-cpu")) {
        pin_zookeeper(&[z.pid(), n.pid()], &cpu);
    }
    let zk_spec = zk.as_ref().map(|(z, n)| (z.connect_string(), n.connect_string()));
    if let Some((z, n)) = &zk_spec {
        for (label, spec) in [("fsync", z), ("forceSync=no", n)] {
            let mut floor = warm_up_zookeeper(spec).await;
            println!(
                "ZooKeeper alone ({label}): a bare client's reservation-shaped transaction, {} of them {} ms apart: {}",
                ZK_FLOOR.0,
                ZK_FLOOR.1.as_millis(),
                p50_p99_max(&mut floor)
            );
        }
    }
    let zk_spec = zk_spec.as_ref().map(|(z, n)| (z.as_str(), n.as_str()));
    for seed in Seed::from_args() {
        // Dry runs and real writes through the warm proxy (the exact one: fewer).
        let counts = match (seed.marathon, seed.apps) {
            (Marathon::V13, 2000) => (300, arg_usize("--writes", 60)),
            _ => (200, arg_usize("--writes", 20)),
        };
        scenario(binary, seed, counts, dir, empty, zk_spec, sim_rt).await;
    }
}
