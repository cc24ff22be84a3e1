//! Live heap, by component, for a synthetic root against its JSON: the packed model the proxy
//! keeps, each app's encoding, the warm state (and the typed tree, for comparison).
//! `cargo run --release -p znode-size --example memory_breakdown -- 2000 10`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use marathon_model::ops::{nothing_while_typed, parse_packed_root, AppTexts, Flavour};
use marathon_model::Group;
use znode_size::encoded_tree::EncodedApp;
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
    per("typed tree (Group::parse), for comparison", live() - t0);
    drop(typed);
    let t1 = live();
    let root = Arc::new(parse_packed_root(&json, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).unwrap());
    per("packed model (ops::parse_packed_root, as the proxy keeps it)", live() - t1);
    let t2 = live();
    let cfg = StoreConfig::marathon_1_3();
    for app in root.transitive_apps() {
        EncodedApp::of(app, cfg.flavor);
    }
    per("every app's protobuf encoding", live() - t2);
    let t3 = live();
    let warm = WarmState::prepare_shared(root.clone(), &cfg);
    per("warm state", live() - t3);
    let t4 = live();
    let _ = Estimator::new(cfg).state(&root);
    per("left behind by an exact estimate", live() - t4);
    per("total", live() - t1);
    drop(warm);
}
