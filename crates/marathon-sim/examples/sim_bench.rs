//! Load on the simulator: a seeded root of N apps, then C concurrent clients for D seconds with a
//! read/write mix. Prints throughput and latency percentiles per request kind.
//!
//! `cargo run --release -p marathon-sim --example sim_bench -- [--apps 10000] [--clients 8]
//!  [--seconds 10] [--writes 0.1] [--marathon-version 1.4+] [--zk HOST:PORT] [--heroku ENV_VARS]
//!  [--events proxy|all]`
//!
//! The seed is `--apps` apps in groups of 100 with 10 env vars each, or with `--heroku N`
//! `znode_size::synthetic::heroku_root(apps, N)` (the admission benchmarks' roots). Reads and
//! writes pick their app among the seed's. `--events` keeps a `/v2/events` stream open during the
//! load: `proxy` with the event types the admission proxy subscribes to, `all` unfiltered.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use marathon_model::Group;
use marathon_sim::{start, MarathonVersion, SimConfig};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
}

fn seed(apps: usize) -> Group {
    let per_group = 100;
    let groups: Vec<String> = (0..apps.div_ceil(per_group))
        .map(|g| {
            let list: Vec<String> = (0..per_group.min(apps - g * per_group))
                .map(|a| {
                    let env: Vec<String> = (0..10).map(|e| format!(r#""ENV_{e}":"value-{g}-{a}-{e}""#)).collect();
                    format!(
                        r#"{{"id":"/team{g}/app{a}","cmd":"sleep 1000","instances":2,"env":{{{}}},"labels":{{"team":"t{g}"}},"version":"2017-01-01T00:00:00.000Z"}}"#,
                        env.join(",")
                    )
                })
                .collect();
            format!(r#"{{"id":"/team{g}","apps":[{}],"version":"2017-01-01T00:00:00.000Z"}}"#, list.join(","))
        })
        .collect();
    let json = format!(r#"{{"id":"/","groups":[{}],"version":"2017-01-01T00:00:00.000Z"}}"#, groups.join(","));
    Group::parse(json.as_bytes()).expect("seed parses")
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// The event types the admission proxy subscribes to (`admission_runtime::follow_events`).
const PROXY_EVENT_TYPES: &[&str] = &[
    "event_stream_attached",
    "api_post_event",
    "group_change_success",
    "group_change_failed",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
];

/// An open `/v2/events` stream, drained in the background.
struct EventStream {
    task: tokio::task::JoinHandle<(u64, u64)>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl EventStream {
    /// Frames and bytes received.
    async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

async fn follow_events(base: &str, kind: &str) -> anyhow::Result<EventStream> {
    let query = match kind {
        "proxy" => PROXY_EVENT_TYPES.iter().map(|t| format!("event_type={t}")).collect::<Vec<_>>().join("&"),
        "all" => String::new(),
        other => anyhow::bail!("--events: expected proxy or all, got `{other}`"),
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::get(format!("{base}/v2/events?{query}")).header("accept", "text/event-stream").body(Full::new(Bytes::new()))?;
    let mut body = client.request(req).await?.into_body();
    // The stream is attached once its first event (`event_stream_attached`) arrives.
    let first = body.frame().await.and_then(|f| f.ok()).and_then(|f| f.into_data().ok()).map_or(0, |d| d.len() as u64);
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let (mut frames, mut bytes) = (1u64, first);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                frame = body.frame() => match frame {
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            frames += 1;
                            bytes += d.len() as u64;
                        }
                    }
                    _ => break,
                },
            }
        }
        (frames, bytes)
    });
    Ok(EventStream { task, stop })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let apps: usize = arg(&args, "--apps", "10000").parse()?;
    let clients: usize = arg(&args, "--clients", "8").parse()?;
    let seconds: u64 = arg(&args, "--seconds", "10").parse()?;
    let writes: f64 = arg(&args, "--writes", "0.1").parse()?;
    let version = MarathonVersion::parse(&arg(&args, "--marathon-version", "1.4+"))?;
    let zk = args.iter().position(|a| a == "--zk").and_then(|i| args.get(i + 1)).cloned();
    let heroku = args.iter().position(|a| a == "--heroku").and_then(|i| args.get(i + 1)).map(|n| n.parse::<usize>()).transpose()?;
    let root = match heroku {
        Some(env) => znode_size::synthetic::heroku_root(apps, env),
        None => seed(apps),
    };
    let ids: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new(root.transitive_apps().iter().filter_map(|a| a.id().map(str::to_string)).collect());

    let t0 = Instant::now();
    let sim = start(SimConfig {
        state: Some(root),
        marathon: version.clone(),
        zk,
        zk_max_versions: 25,
        ..SimConfig::default()
    })
    .await?;
    let started = t0.elapsed();
    let base = sim.url();
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(clients).build_http::<Full<Bytes>>();

    // Full GET /v2/groups, twice, for reference.
    let mut groups_ms = Vec::new();
    let mut groups_bytes = 0;
    for _ in 0..2 {
        let t = Instant::now();
        let res = client.request(Request::get(format!("{base}/v2/groups")).body(Full::new(Bytes::new()))?).await?;
        groups_bytes = res.into_body().collect().await?.to_bytes().len();
        groups_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let events = match args.iter().position(|a| a == "--events").and_then(|i| args.get(i + 1)).map(String::as_str) {
        None => None,
        Some(kind) => Some(follow_events(&base, kind).await?),
    };

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let base = base.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut reads = Vec::new();
            let mut wr = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut i: u64 = c as u64 * 7919;
            while Instant::now() < deadline {
                i += 1;
                let id = &ids[((i * 40503) % ids.len() as u64) as usize];
                let is_write = ((i * 2654435761) % 1000) as f64 / 1000.0 < writes;
                let req = if is_write {
                    let body = format!(r#"{{"instances":{}}}"#, 1 + i % 5);
                    Request::put(format!("{base}/v2/apps{id}?force=true")).body(Full::new(Bytes::from(body)))
                } else if i.is_multiple_of(2) {
                    Request::get(format!("{base}/v2/apps{id}")).body(Full::new(Bytes::new()))
                } else {
                    Request::get(format!("{base}/v2/info")).body(Full::new(Bytes::new()))
                }
                .unwrap();
                let t = Instant::now();
                let res = client.request(req).await.expect("request");
                *statuses.entry(res.status().as_u16()).or_default() += 1;
                let _ = res.into_body().collect().await;
                if is_write { wr.push(t.elapsed()) } else { reads.push(t.elapsed()) }
            }
            (reads, wr, statuses)
        }));
    }
    let mut reads = Vec::new();
    let mut wr = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        let (r, w, s) = t.await?;
        reads.extend(r);
        wr.extend(w);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let total = reads.len() + wr.len();
    let seed_name = heroku.map(|n| format!("heroku_root({apps}, {n})")).unwrap_or_else(|| format!("{apps} apps x 10 env"));
    println!("marathon {} | {seed_name} | clients {clients} | {seconds}s | write share {writes}", version.version_string());
    println!("start (seed + canonicalize{}): {:.0} ms", if sim.sim().zk.is_some() { " + write to ZooKeeper" } else { "" }, started.as_secs_f64() * 1000.0);
    println!("GET /v2/groups: {groups_bytes} bytes in {:.0} ms, again in {:.0} ms", groups_ms[0], groups_ms[1]);
    if let Some(events) = events {
        let (frames, bytes) = events.stop().await;
        println!("events: {frames} frames, {bytes} bytes");
    }
    println!("requests: {total} ({:.0}/s), statuses {statuses:?}", total as f64 / seconds as f64);
    println!("reads : {:>6} ({:>6.0}/s) p50 {:.2} ms p99 {:.2} ms", reads.len(), reads.len() as f64 / seconds as f64, pct(&mut reads, 0.5), pct(&mut reads, 0.99));
    println!("writes: {:>6} ({:>6.0}/s) p50 {:.2} ms p99 {:.2} ms", wr.len(), wr.len() as f64 / seconds as f64, pct(&mut wr, 0.5), pct(&mut wr, 0.99));
    sim.shutdown().await;
    Ok(())
}
