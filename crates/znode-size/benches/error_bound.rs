//! What a decision near the wall pays for its measured error bound, and whether the bound covers
//! the orders Marathon may pick, on roots of the sizes users run near the limit.
//!
//! `cargo bench -p znode-size --bench error_bound [-- --orders 30 --rounds 8]`: for each root, the exact
//! estimate of one write (the baseline, same run), the bound and its time, and the worst of
//! `--orders` random orders of every group's subgroups (both roots) with a random plan id and clock,
//! each a whole plan entry as the simulator writes it, and how many of them lie beyond the bound.
//! Then the same with the original's order known (read from ZooKeeper: `[zookeeper] read`): the
//! original in one fixed random order, only the target's subgroups drawn.

use std::time::Instant;

use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, Timestamp};
use znode_size::error_bound::{deployment_bound_knowing, OriginalOrder, ROUNDS};
use znode_size::synthetic::{deep_root, heroku_root};
use znode_size::{legacy_plan_entry, Estimator, StoreConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default);
    let orders = flag("--orders", 30);
    // Alternatives per bound: decisions measure ROUNDS; more shows what they would buy.
    let rounds = flag("--rounds", ROUNDS as usize) as u32;
    println!("{rounds} alternatives per bound");
    println!();
    guessing_the_order(orders, rounds);
    knowing_the_stored_order(orders, rounds);
}

fn roots() -> [(&'static str, Group, &'static str); 4] {
    [
        ("heroku_root(2000, 10)", heroku_root(2000, 10), "/team-1/new"),
        ("heroku_root(2150, 10)", heroku_root(2150, 10), "/team-1/new"),
        ("deep_root(2000, 10)", deep_root(2000, 10), "/org-1/team-1/new"),
        ("deep_root(2150, 10)", deep_root(2150, 10), "/org-1/team-1/new"),
    ]
}

fn random_plan_id(rng: &mut fastrand::Rng) -> String {
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", rng.u32(..), rng.u16(..), rng.u16(..4096), rng.u16(..4096), rng.u64(..1 << 48))
}

/// The original's order read from ZooKeeper (`[zookeeper] read`): the estimate starts from the
/// stored original, and the orders tried keep it as stored (only the target's subgroups drawn).
/// Two bounds: what decisions measure (every set shuffled, as when the order is unknown) and the
/// narrower one that shuffles only what Marathon places anew.
fn knowing_the_stored_order(orders: usize, rounds: u32) {
    let cfg = StoreConfig::marathon_1_3();
    println!();
    println!("Knowing the stored order of the original (`[zookeeper] read`):");
    println!();
    println!("| root | exact estimate | bound decisions measure | beyond it | target-only bound | beyond it | worst of {orders} target orders above the estimate |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, root, write) in roots() {
        let stored = shuffled(&root, &mut fastrand::Rng::with_seed(42));
        let Written { body, at, target, estimate: e, exact } = written(&cfg, &stored, write);
        let used = deployment_bound_knowing(&cfg, &stored, &target, rounds, OriginalOrder::Unknown);
        let narrow = deployment_bound_knowing(&cfg, &stored, &target, rounds, OriginalOrder::Stored);
        let mut rng = fastrand::Rng::with_seed(1);
        let (mut worst, mut beyond_used, mut beyond_narrow) = (0u64, 0, 0);
        for _ in 0..orders {
            let later = at + rng.i64(0..300_000);
            let t = shuffled(&write_at(&stored, &body, later), &mut rng);
            let id = random_plan_id(&mut rng);
            let size = legacy_plan_entry(&id, &Timestamp::from_millis(later).to_joda(), &stored, &t, &cfg).len() as u64;
            worst = worst.max(size);
            beyond_used += usize::from(size > e + used.bytes);
            beyond_narrow += usize::from(size > e + narrow.bytes);
        }
        println!(
            "| {name} | {:.1} ms | {} B ({:.3}%) | {beyond_used} | {} B ({} sets) | {beyond_narrow} | {:+} B |",
            exact.as_secs_f64() * 1e3,
            used.bytes,
            100.0 * used.bytes as f64 / cfg.zk_max_node_size as f64,
            narrow.bytes,
            narrow.unknown_orders,
            worst as i64 - e as i64,
        );
    }
}

fn guessing_the_order(orders: usize, rounds: u32) {
    let cfg = StoreConfig::marathon_1_3();
    println!("| root | plan (of the limit) | exact estimate | bound | bound time | ratio | unknown sets | worst of {orders} orders above the estimate | orders beyond the bound |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, root, write) in roots() {
        let Written { body, at, target, estimate: e, exact } = written(&cfg, &root, write);
        let t1 = Instant::now();
        let bound = deployment_bound_knowing(&cfg, &root, &target, rounds, OriginalOrder::Unknown);
        let measured = t1.elapsed();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut worst = 0u64;
        let mut beyond = 0;
        for _ in 0..orders {
            let later = at + rng.i64(0..300_000);
            let t = shuffled(&write_at(&root, &body, later), &mut rng);
            let o = shuffled(&root, &mut rng);
            let id = random_plan_id(&mut rng);
            let size = legacy_plan_entry(&id, &Timestamp::from_millis(later).to_joda(), &o, &t, &cfg).len() as u64;
            worst = worst.max(size);
            beyond += usize::from(size > e + bound.bytes);
        }
        println!(
            "| {name} | {e} ({:.1}%) | {:.1} ms | {} B ({:.3}%) | {:.1} ms | {:.1}x | {} | {:+} B | {beyond} |",
            100.0 * e as f64 / cfg.zk_max_node_size as f64,
            exact.as_secs_f64() * 1e3,
            bound.bytes,
            100.0 * bound.bytes as f64 / cfg.zk_max_node_size as f64,
            measured.as_secs_f64() * 1e3,
            measured.as_secs_f64() / exact.as_secs_f64(),
            bound.unknown_orders,
            worst as i64 - e as i64,
        );
    }
}

/// A small new app at `id` written over `original` now, and the exact estimate of its plan.
struct Written {
    body: String,
    at: i64,
    target: Group,
    estimate: u64,
    exact: std::time::Duration,
}

fn written(cfg: &StoreConfig, original: &Group, id: &str) -> Written {
    let body = format!(r#"{{"id":"{id}","cmd":"sleep 1","env":{{"A":"b"}}}}"#);
    let at = Timestamp::now().millis();
    let target = write_at(original, &body, at);
    let t0 = Instant::now();
    let estimate = Estimator::new(cfg.clone()).deployment(original, &target).binding_bytes;
    Written { body, at, target, estimate, exact: t0.elapsed() }
}

fn write_at(root: &Group, body: &str, at_ms: i64) -> Group {
    let w = parse_write("POST", "/v2/apps", None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
    apply(root, &w, Timestamp::from_millis(at_ms), Flavour::V13, &NoHistory).unwrap().root
}

/// Every group's subgroups in a random order.
fn shuffled(g: &Group, rng: &mut fastrand::Rng) -> Group {
    let mut g = g.clone();
    if let Some(groups) = g.groups.as_mut() {
        rng.shuffle(groups);
        for sub in groups.iter_mut() {
            *sub = shuffled(sub, rng);
        }
    }
    g
}
