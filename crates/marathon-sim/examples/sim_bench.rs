//! Load on the simulator: a seeded root of N apps, then C concurrent clients for D seconds with a
//! read/write mix. Prints throughput and latency percentiles per request kind.
//!
//! `cargo run --release -p marathon-sim --example sim_bench -- [--apps 10000] [--clients 8]
//!  [--seconds 10] [--writes 0.1] [--marathon-version 1.4+] [--zk HOST:PORT]`

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let apps: usize = arg(&args, "--apps", "10000").parse()?;
    let clients: usize = arg(&args, "--clients", "8").parse()?;
    let seconds: u64 = arg(&args, "--seconds", "10").parse()?;
    let writes: f64 = arg(&args, "--writes", "0.1").parse()?;
    let version = MarathonVersion::parse(&arg(&args, "--marathon-version", "1.4+"))?;
    let zk = args.iter().position(|a| a == "--zk").and_then(|i| args.get(i + 1)).cloned();

    let t0 = Instant::now();
    let sim = start(SimConfig {
        state: Some(seed(apps)),
        marathon: version.clone(),
        zk,
        zk_max_versions: 25,
        ..SimConfig::default()
    })
    .await?;
    let started = t0.elapsed();
    let base = sim.url();
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(clients).build_http::<Full<Bytes>>();

    // One full GET /v2/groups for reference.
    let t = Instant::now();
    let res = client.request(Request::get(format!("{base}/v2/groups")).body(Full::new(Bytes::new()))?).await?;
    let groups_bytes = res.into_body().collect().await?.to_bytes().len();
    let groups_ms = t.elapsed().as_secs_f64() * 1000.0;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut reads = Vec::new();
            let mut wr = Vec::new();
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut i: u64 = c as u64 * 7919;
            while Instant::now() < deadline {
                i += 1;
                let g = (i % (apps as u64).div_ceil(100)) as usize;
                let a = (i / 7 % 100.min(apps as u64)) as usize;
                let is_write = ((i * 2654435761) % 1000) as f64 / 1000.0 < writes;
                let req = if is_write {
                    let body = format!(r#"{{"instances":{}}}"#, 1 + i % 5);
                    Request::put(format!("{base}/v2/apps/team{g}/app{a}?force=true")).body(Full::new(Bytes::from(body)))
                } else if i.is_multiple_of(2) {
                    Request::get(format!("{base}/v2/apps/team{g}/app{a}")).body(Full::new(Bytes::new()))
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
    println!("marathon {} | apps {apps} | clients {clients} | {seconds}s | write share {writes}", version.version_string());
    println!("start (seed + canonicalize{}): {:.0} ms", if sim.sim().zk.is_some() { " + write to ZooKeeper" } else { "" }, started.as_secs_f64() * 1000.0);
    println!("GET /v2/groups: {groups_bytes} bytes in {groups_ms:.0} ms");
    println!("requests: {total} ({:.0}/s), statuses {statuses:?}", total as f64 / seconds as f64);
    println!("reads : {:>6} ({:>6.0}/s) p50 {:.2} ms p99 {:.2} ms", reads.len(), reads.len() as f64 / seconds as f64, pct(&mut reads, 0.5), pct(&mut reads, 0.99));
    println!("writes: {:>6} ({:>6.0}/s) p50 {:.2} ms p99 {:.2} ms", wr.len(), wr.len() as f64 / seconds as f64, pct(&mut wr, 0.5), pct(&mut wr, 0.99));
    sim.shutdown().await;
    Ok(())
}
