//! How far Marathon's stored bytes can be from the estimate of one deployment, measured.
//!
//! A protobuf's length does not depend on the order of its repeated fields, but the gzip size of a
//! legacy plan does, and some orders cannot be known from `GET /v2/groups`:
//! - a group's **subgroups** (`Set[Group]`): the API sorts them by id; Marathon stores them in
//!   insertion order up to 4 and in the order of a hash over the whole group (its version, so the
//!   clock, included) from 5;
//! - a group's **apps** when it has 2 to 4 (insertion order; the API sorts them too). From 5 the
//!   order is the hash order of their ids, which the estimate reproduces;
//! - the **constraints and health checks** of an app the write sets, from 5 of either (a hash of
//!   each element; up to 4 they keep the order the body gives, and a stored app's order is the
//!   order the API shows);
//! - the plan's **id** (a random UUID) and **clock** (the write's version, written into the plan,
//!   every group and every app it changes): fixed widths, but their digits compress differently.
//!
//! When the original's order was read from ZooKeeper ([`OriginalOrder::Stored`], see
//! [`crate::stored_order`]), only what Marathon decides anew remains unknown: the order of every
//! set of subgroups in the target, the constraint and health-check sets above, the id and the
//! clock. Subgroups, because from 5 each group's version changes with the deployment, so its
//! hash and its place do; and up to 4, because Marathon 1.3 re-inserts every group that holds an
//! app at the end of its parent's set once per app (`GroupManagerActor.assignDynamicServicePorts`
//! updates every app of the target, in the order of a `Set[AppDefinition]`, through
//! `Group.updateApp`, whose `makeGroup` takes the app's ancestors out of their parents' sets and
//! adds them back), then once more per changed app (`GroupVersioningUtil`). Apps of 2 to 4 keep
//! the order the target inherits from the original (`putApplication` updates a `Map4` in place).
//!
//! The bound is measured, not assumed: the plan is assembled again under `rounds` alternative
//! choices of every unknown at once (a random order of each uncertain set, a random id, a clock up
//! to five minutes later) and gzipped as Marathon does. The bound is how far the worst of them lies
//! above the estimate, plus three standard deviations of the draws within a cluster (orders not
//! drawn lie beyond the worst drawn by about as much as the draws spread). It costs `rounds`
//! gzips of the plan, so callers measure it only for decisions close enough to the limit for it to
//! matter. The 1.4+ layout stores no gzip: its only unknown, the width of the clock's ISO
//! timestamps, is taken at its widest by the caller.

use marathon_model::app_diff::app_diff;
use marathon_model::{App, Group, SharedApp, Timestamp};
use prost::Message;
use serde::Serialize;

use crate::config::StoreConfig;
use crate::encoded_tree::{joda_version, EncodedGroup};
use crate::estimate::legacy_plan;
use crate::legacy::{self, SIZING_UUID, SIZING_VERSION};
use crate::service_definition::service_definition;

/// Alternatives a decision measures: about half a second on two cores for a plan near a megabyte
/// (`benches/error_bound.rs`), paid only by decisions close enough to the limit for the bound to
/// change the answer.
pub const ROUNDS: u32 = 8;

/// How many bytes Marathon's plan may hold beyond the estimate, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBound {
    pub bytes: u64,
    /// Sets whose stored order cannot be known (subgroups, small app maps, large constraint and
    /// health-check sets of the apps the write sets).
    pub unknown_orders: usize,
    /// Alternatives measured.
    pub rounds: u32,
}

impl ErrorBound {
    /// What is uncertain, in words.
    pub fn describe(&self) -> String {
        if self.rounds == 0 {
            return "the plan is stored uncompressed: no order, id or clock changes its size".into();
        }
        let orders = match self.unknown_orders {
            0 => String::new(),
            1 => "the order Marathon stores 1 set in, ".to_string(),
            n => format!("the order Marathon stores {n} sets in, "),
        };
        format!("{orders}the plan's id and clock; measured over {} alternatives", self.rounds)
    }
}

/// What the model knows of the original root's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginalOrder {
    /// The API's order (subgroups and apps sorted by id): Marathon's may differ.
    Unknown,
    /// Read from the stored root node: the model's order is Marathon's. Measured by
    /// `benches/error_bound.rs`, not used by decisions: with the original fixed, the target's
    /// orders crowd near the estimate and 8 draws missed up to a tenth of them.
    Stored,
}

/// Sets of the two trees whose order is unknown, and the apps whose own sets are.
struct Unknowns {
    original_sets: usize,
    target_sets: usize,
    /// Apps of the target whose constraints or health checks Marathon orders by hash.
    reordered_apps: Vec<SharedApp>,
}

impl Unknowns {
    fn count(&self) -> usize {
        self.original_sets + self.target_sets + self.reordered_apps.len()
    }
}

/// Measures the bound of the legacy deployment `original -> target`, the original's order
/// unknown (see the module docs).
pub fn deployment_bound(cfg: &StoreConfig, original: &Group, target: &Group, rounds: u32) -> ErrorBound {
    deployment_bound_knowing(cfg, original, target, rounds, OriginalOrder::Unknown)
}

/// [`deployment_bound`], knowing as much of the original's order as `known` says.
pub fn deployment_bound_knowing(cfg: &StoreConfig, original: &Group, target: &Group, rounds: u32, known: OriginalOrder) -> ErrorBound {
    let flavor = cfg.flavor;
    let original_tree = EncodedGroup::legacy(original, flavor);
    let target_tree = EncodedGroup::legacy(target, flavor);
    let stored = known == OriginalOrder::Stored;
    let unknowns = Unknowns {
        original_sets: if stored { 0 } else { uncertain_sets(&original_tree) },
        target_sets: if stored { subgroup_sets(&target_tree) } else { uncertain_sets(&target_tree) },
        reordered_apps: app_diff(original, target)
            .touched
            .into_iter()
            .map(|t| t.after.clone())
            .filter(|a| hash_ordered_sets(&a.app()))
            .collect(),
    };
    let (original_bytes, target_bytes) = (original_tree.to_bytes(), target_tree.to_bytes());
    if !cfg.compresses(legacy::plan_payload(SIZING_UUID, SIZING_VERSION, &original_bytes, &target_bytes).len()) {
        // Stored as it is: no order changes a protobuf's length, the id and clock have fixed widths.
        return ErrorBound { bytes: 0, unknown_orders: unknowns.count(), rounds: 0 };
    }
    let estimate = plan_len(cfg, SIZING_UUID, SIZING_VERSION, &original_bytes, &target_bytes);
    let stamp = joda_version(target.version.as_deref());
    let seeds: Vec<u64> = (0..u64::from(rounds)).map(|r| seed_of(&stamp, r)).collect();
    let alternative = |seed: u64| {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut o = original_tree.clone();
        let mut t = target_tree.clone();
        if stored {
            shuffle_subgroups(&mut t, &mut rng);
        } else {
            shuffle_uncertain(&mut o, &mut rng);
            shuffle_uncertain(&mut t, &mut rng);
        }
        reorder_apps(&mut t, &unknowns.reordered_apps, cfg, &mut rng);
        let later = later_stamp(&stamp, &mut rng);
        let mut target_bytes = t.to_bytes();
        replace_all(&mut target_bytes, stamp.as_bytes(), later.as_bytes());
        plan_len(cfg, &random_uuid(&mut rng), &later, &o.to_bytes(), &target_bytes)
    };
    let found = in_parallel(&seeds, &alternative);
    ErrorBound { bytes: beyond(estimate, &found), unknown_orders: unknowns.count(), rounds }
}

/// How far the worst of the alternatives `found` lies above the estimate, plus three standard
/// deviations of the draws within a cluster: orders not drawn reach beyond the worst drawn by
/// about as much as the draws spread. The sizes over orders fall in clusters: orders that put
/// the original's last group right before the target's first copy of it pack a few kilobytes
/// better (deflate finds the whole group again in its window), partly so when only part of it is
/// found. How far apart the clusters lie says nothing about how much worse an order can get than
/// the worst drawn, so the draws are split where a gap between sorted draws is over five times
/// the median gap, and the spread is the largest within a cluster (of all draws when every
/// cluster is a single draw). Measured on synthetic roots near the wall
/// (`benches/error_bound.rs`): none of 300 random orders per root lay beyond it.
fn beyond(estimate: u64, found: &[u64]) -> u64 {
    let mut sorted = found.to_vec();
    sorted.sort_unstable();
    let Some(&worst) = sorted.last() else { return 0 };
    worst.saturating_sub(estimate) + (3.0 * spread_within_clusters(&sorted)).ceil() as u64
}

/// The largest standard deviation of the clusters of `sorted` (see [`beyond`]).
fn spread_within_clusters(sorted: &[u64]) -> f64 {
    let gaps: Vec<u64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    let mut by_size = gaps.clone();
    by_size.sort_unstable();
    let wide = 5 * by_size.get(by_size.len() / 2).copied().unwrap_or(0).max(1);
    let mut clusters = Vec::new();
    let mut start = 0;
    for (i, &gap) in gaps.iter().enumerate() {
        if gap > wide {
            clusters.push(&sorted[start..=i]);
            start = i + 1;
        }
    }
    clusters.push(&sorted[start..]);
    if clusters.iter().all(|c| c.len() < 2) {
        return deviation(sorted);
    }
    clusters.into_iter().map(deviation).fold(0.0, f64::max)
}

/// The sample standard deviation (0 for fewer than two).
fn deviation(xs: &[u64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    (xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// The binding length of the plan entry for these halves.
fn plan_len(cfg: &StoreConfig, plan_id: &str, version: &str, original: &[u8], target: &[u8]) -> u64 {
    legacy_plan(cfg, 0, &legacy::plan_payload(plan_id, version, original, target)).binding_bytes
}

/// Groups of the tree with subgroups in an unknown order, and with 2 to 4 apps.
fn uncertain_sets(tree: &EncodedGroup) -> usize {
    let mut n = 0;
    tree.visit(&mut |g| n += usize::from(g.groups.len() >= 2) + usize::from((2..=4).contains(&g.apps.len())));
    n
}

/// Groups of the tree with 2 or more subgroups (placed anew by every deployment).
fn subgroup_sets(tree: &EncodedGroup) -> usize {
    let mut n = 0;
    tree.visit(&mut |g| n += usize::from(g.groups.len() >= 2));
    n
}

/// A random order for every set [`subgroup_sets`] counts.
fn shuffle_subgroups(tree: &mut EncodedGroup, rng: &mut fastrand::Rng) {
    rng.shuffle(&mut tree.groups);
    for g in &mut tree.groups {
        shuffle_subgroups(g, rng);
    }
}

/// Whether Marathon keeps the app's constraints or health checks in a hash order (5 or more).
fn hash_ordered_sets(app: &App) -> bool {
    app.constraints.as_ref().is_some_and(|c| c.len() >= 5) || app.health_checks.as_ref().is_some_and(|h| h.len() >= 5)
}

/// A random order for every set [`uncertain_sets`] counts.
fn shuffle_uncertain(tree: &mut EncodedGroup, rng: &mut fastrand::Rng) {
    if (2..=4).contains(&tree.apps.len()) {
        rng.shuffle(&mut tree.apps);
    }
    rng.shuffle(&mut tree.groups);
    for g in &mut tree.groups {
        shuffle_uncertain(g, rng);
    }
}

/// Encodes each of `apps` again with its constraints and health checks in a random order.
fn reorder_apps(tree: &mut EncodedGroup, apps: &[SharedApp], cfg: &StoreConfig, rng: &mut fastrand::Rng) {
    for encoded in &mut tree.apps {
        if !apps.iter().any(|a| SharedApp::ptr_eq(a, &encoded.app)) {
            continue;
        }
        let mut app = encoded.app.app().into_owned();
        if let Some(c) = app.constraints.as_mut() {
            rng.shuffle(c);
        }
        if let Some(h) = app.health_checks.as_mut() {
            rng.shuffle(h);
        }
        encoded.bytes = service_definition(&app, cfg.flavor).encode_to_vec().into();
    }
    for g in &mut tree.groups {
        reorder_apps(g, apps, cfg, rng);
    }
}

/// The write's stamp as Marathon's clock may give it: up to five minutes later (same width).
fn later_stamp(stamp: &str, rng: &mut fastrand::Rng) -> String {
    let at = Timestamp::parse(stamp).map(|t| t.millis()).unwrap_or(0);
    Timestamp::from_millis(at + rng.i64(0..300_000)).to_joda()
}

/// A random version-4 UUID as `UUID.toString` writes it.
fn random_uuid(rng: &mut fastrand::Rng) -> String {
    let hex = |n: usize, rng: &mut fastrand::Rng| (0..n).map(|_| rng.digit(16)).collect::<String>();
    let variant = ['8', '9', 'a', 'b'][rng.usize(0..4)];
    format!("{}-{}-4{}-{variant}{}-{}", hex(8, rng), hex(4, rng), hex(3, rng), hex(3, rng), hex(12, rng))
}

/// Replaces every occurrence of `from` by `to` (the same length).
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    debug_assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if bytes[i..].starts_with(from) {
            bytes[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// A seed per round that is the same for the same write stamp (a decision can be repeated).
fn seed_of(stamp: &str, round: u64) -> u64 {
    stamp.bytes().fold(round.wrapping_mul(0x9e37_79b9_7f4a_7c15), |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// `f` of every seed, on up to as many threads as the machine has cores.
fn in_parallel(seeds: &[u64], f: &(dyn Fn(u64) -> u64 + Sync)) -> Vec<u64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len()).max(1);
    let chunk = seeds.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            seeds.chunks(chunk).map(|part| s.spawn(move || part.iter().map(|&seed| f(seed)).collect::<Vec<u64>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a bound round panicked")).collect()
    })
}

#[cfg(test)]
mod tests;
