//! Live heap, by component, for a synthetic root: the typed model, the packed model (what the
//! proxy keeps), the warm state and an exact estimate, against the root's JSON.
//! `cargo run --release -p znode-size --example memory_breakdown -- 2000 10`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use marathon_model::Group;
use znode_size::{Estimator, StoreConfig, WarmState};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (apps, env) = (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(10));
    let mut root = znode_size::synthetic::heroku_root(apps, env);
    // Marathon's apps all carry a version.
    for g in root.groups.iter_mut().flatten() {
        for a in g.apps.iter_mut().flatten() {
            a.make_mut().version = Some("2026-01-01T00:00:00.000Z".into());
        }
    }
    let json = serde_json::to_vec(&root).unwrap();
    drop(root);
    let per = |what: &str, n: isize| println!("{what}: {:.2} MB ({:.2}x JSON)", n as f64 / 1e6, n as f64 / json.len() as f64);
    per("root JSON", json.len() as isize);
    let t0 = live();
    let typed = Group::parse(&json).unwrap();
    per("typed model", live() - t0);
    let t1 = live();
    let mut packed = typed.clone();
    packed.pack_apps();
    drop(typed);
    per("packed model", live() - t0);
    let _ = t1;
    let root = Arc::new(packed);
    let t2 = live();
    let cfg = StoreConfig::marathon_1_3();
    let warm = WarmState::prepare_shared(root.clone(), &cfg);
    per("warm state (with each app's encoding)", live() - t2);
    let t3 = live();
    let est = Estimator::new(cfg.clone());
    let _ = est.state(&root);
    per("left by an exact estimate", live() - t3);
    println!("total live heap: {:.2} MB ({:.2}x JSON)", (live() - t0) as f64 / 1e6, (live() - t0) as f64 / json.len() as f64);
    drop(warm);
}
