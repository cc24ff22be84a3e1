//! Fast re-estimation of a deployment from a prepared state: the exact path's cost (one gzip of
//! a multi-megabyte plan) paid once per state, and a write's estimate made from its difference.
//!
//! [`WarmState::prepare`] encodes the current root `S` once, assembles its bytes, and computes
//! the exact sizes of `S` at rest and of a deployment `S -> S`. For a target `T`,
//! [`WarmState::deployment`]:
//! - re-encodes only the apps whose `version` differs from `S` (Marathon gives every changed app a
//!   new version; apps without a version are compared in full), so the raw (uncompressed) lengths
//!   of `T` and of the plan are exact, by arithmetic over cached pieces;
//! - when the plan is stored uncompressed, the result is exact;
//! - when it is gzipped, estimates the compressed growth as the difference between each changed
//!   app's deflate size *in context* (zlib primed with the 32 KiB of `S` that precede it, the
//!   window deflate would see) before and after, plus the raw growth of everything else;
//! - carries an error bound, and recomputes exactly whenever a threshold the caller cares about
//!   lies within that bound (so decisions are those of the exact path).
//!
//! [`compose_plan`] extends one prepared state to deployments that start from another state
//! (`base -> target` from `S -> base` and `S -> target`).

use std::collections::HashMap;
use std::sync::Arc;

use flate2::{Compress, Compression};
use marathon_model::app_diff::{self, app_diff};
use marathon_model::{Group, PathId, SharedApp};

use crate::config::{Layout, StoreConfig};
use crate::encoded_tree::{group_header, group_tail, EncodedApp, EncodedGroup};
use crate::service_definition::AppFlavor;
use crate::estimate::{legacy_deployment, legacy_state, Estimate, Estimator};
use crate::legacy::{self, SIZING_UUID, SIZING_VERSION};
use crate::pieced_bytes::PiecedBytes;
use crate::wire::{field_len, put_bytes};

mod compose;
pub use compose::{compose_plan, ComposedPlan};

/// Deflate's window: what the compressor can refer back to.
const WINDOW: usize = 32 * 1024;

/// An estimate with what is known of its accuracy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FastEstimate {
    pub estimate: Estimate,
    /// True when the sizes are those of the exact path.
    pub exact: bool,
    /// The largest difference from the exact sizes this estimate allows (0 when exact).
    pub error_bound: u64,
}

/// An app a target changes or adds: `S`'s slot of it (if any), its new encoding, its id.
type ChangedApp<'a> = (Option<&'a Slot>, Arc<[u8]>, PathId);

struct Slot {
    /// The app of `S` and its bytes. A target app is unchanged when it is the same value or has
    /// the same version (apps without a version are compared in full).
    encoded: EncodedApp,
    start: usize,
    end: usize,
}

/// The current root, encoded and measured once.
pub struct WarmState {
    cfg: StoreConfig,
    root: Arc<Group>,
    /// `S`'s bytes, its apps' fields referring to each app's own encoding.
    bytes: PiecedBytes,
    /// By the hash of the app's id (no copy of the ids); see [`WarmState::slot`].
    slots: HashMap<u64, Slot>,
    /// The rare slots whose id hash collides with another's.
    colliding: Vec<Slot>,
    group_apps_end: HashMap<PathId, usize>,
    /// `S`'s groups as lengths, in `S`'s order: a target's length is `S`'s changed where the
    /// target differs.
    lens: GroupLens,
    state: Estimate,
    self_plan: Estimate,
    /// Stored (possibly gzipped) value lengths of the root and of the self plan.
    root_value_len: usize,
    plan_value_len: usize,
    /// Deflate sizes of `S`'s apps in their context, by byte offset, computed on first use.
    old_in_context: std::sync::Mutex<HashMap<usize, usize>>,
    /// Deflate sizes of apps that are not `S`'s, in the context of `S` where they land, by
    /// (offset, a hash of the app's bytes): while the model moves away from `S`, every decision
    /// meets the same changed apps again (in its base and in its target).
    new_in_context: std::sync::Mutex<HashMap<(usize, u64), usize>>,
    /// Keys the hash of that cache (random per state: no body can be made to collide with
    /// another on purpose).
    content_keys: std::collections::hash_map::RandomState,
}

impl WarmState {
    /// Encodes and measures `root` exactly (the expensive part, once per state).
    pub fn prepare(root: &Group, cfg: &StoreConfig) -> WarmState {
        WarmState::prepare_shared(Arc::new(root.clone()), cfg)
    }

    /// [`WarmState::prepare`] for a root the caller already shares: no copy of it is made.
    pub fn prepare_shared(root: Arc<Group>, cfg: &StoreConfig) -> WarmState {
        let estimator = Estimator::new(cfg.clone());
        let encoded = estimator.encode(&root);
        let mut full = Vec::with_capacity(encoded.len());
        let mut positions: Vec<(EncodedApp, usize, usize)> = Vec::new();
        let mut group_apps_end = HashMap::new();
        let lens = GroupLens::of(&encoded);
        encoded.write_to_tracking(
            &mut full,
            &mut |app, start, end| positions.push((app.clone(), start, end)),
            &mut |id, end| {
                group_apps_end.insert(id.clone(), end);
            },
        );
        let spans: Vec<(usize, usize, Arc<[u8]>)> = positions.iter().map(|(a, s, e)| (*s, *e, a.bytes.clone())).collect();
        let bytes = PiecedBytes::new(&full, &spans);
        drop(spans);
        let mut slots = HashMap::with_capacity(positions.len());
        let mut colliding = Vec::new();
        for (encoded, start, end) in positions {
            let slot = Slot { encoded, start, end };
            match slots.entry(id_hash(slot.encoded.id())) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(slot);
                }
                std::collections::hash_map::Entry::Occupied(_) => colliding.push(slot),
            }
        }
        // One exact deployment S -> S measures the plan and, in it, the root: the state at rest
        // and the stored value lengths follow without gzipping the root again.
        let self_plan = estimator.deployment(&root, &root);
        let (state, root_value_len, plan_value_len) = match cfg.layout {
            Layout::Legacy => (
                legacy_state(cfg, self_plan.root_bytes),
                value_len_of_entry("group:root".len(), self_plan.root_bytes as usize),
                value_len_of_entry(legacy::plan_entry_name(SIZING_UUID).len(), self_plan.plan_bytes.unwrap_or(0) as usize),
            ),
            Layout::V14 => (estimator.state(&root), 0, 0),
        };
        WarmState {
            cfg: cfg.clone(),
            root,
            bytes,
            slots,
            colliding,
            group_apps_end,
            lens,
            state,
            self_plan,
            root_value_len,
            plan_value_len,
            old_in_context: Default::default(),
            new_in_context: Default::default(),
            content_keys: Default::default(),
        }
    }

    /// How many in-context deflate sizes this state remembers (of `S`'s apps and of others).
    pub fn remembered_deflates(&self) -> usize {
        let old = self.old_in_context.lock().unwrap_or_else(|p| p.into_inner()).len();
        old + self.new_in_context.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The exact sizes of the prepared state at rest.
    pub fn state(&self) -> &Estimate {
        &self.state
    }

    /// The prepared root.
    pub fn root(&self) -> &Group {
        &self.root
    }

    /// The deployment `S -> target`, exact wherever it decides something: if any of `thresholds`
    /// (e.g. the reject and warn levels) lies within the error bound of the fast estimate, the
    /// exact path runs instead.
    pub fn deployment(&self, target: &Group, thresholds: &[u64]) -> FastEstimate {
        if self.cfg.layout == Layout::V14 {
            let estimate = Estimator::new(self.cfg.clone()).deployment(&self.root, target);
            return FastEstimate { estimate, exact: true, error_bound: 0 };
        }
        let fast = self.fast_legacy(target);
        let near = |b: u64| thresholds.iter().any(|&t| b.abs_diff(t) <= fast.error_bound);
        if fast.exact || !near(fast.estimate.binding_bytes) {
            return fast;
        }
        let estimate = Estimator::new(self.cfg.clone()).deployment(&self.root, target);
        FastEstimate { estimate, exact: true, error_bound: 0 }
    }

    fn fast_legacy(&self, target: &Group) -> FastEstimate {
        let flavor = self.cfg.flavor;
        let diff = app_diff(&self.root, target);
        let unchanged = |before: &SharedApp, after: &SharedApp| match before.version() {
            Some(v) => Some(v) == after.version(),
            None => before == after,
        };
        // (`S`'s slot of the app if it had one, the app's new encoding, its id)
        let mut changed: Vec<ChangedApp> = Vec::new();
        // Bytes of each group's app fields, target minus `S`, by group id.
        let mut apps_delta: HashMap<String, i64> = HashMap::new();
        for t in &diff.touched {
            let id = t.after.id().unwrap_or_default();
            let slot = t.before.and_then(|b| self.slot(b.id().unwrap_or_default()));
            if let (Some(before), Some(_)) = (t.before, slot) {
                if unchanged(before, t.after) {
                    continue;
                }
            }
            let encoded = EncodedApp::of(t.after, flavor);
            let path = PathId::parse(id);
            let old_len = slot.map_or(0, |s| (s.end - s.start) as i64);
            *apps_delta.entry(path.parent().to_string()).or_default() += field_len(3, encoded.bytes.len()) as i64 - old_len;
            changed.push((slot, encoded.bytes, path));
        }
        let removed: Vec<&Slot> = diff.removed.iter().filter_map(|a| self.slot(a.id().unwrap_or_default())).collect();
        for slot in &removed {
            *apps_delta.entry(PathId::parse(slot.encoded.id()).parent().to_string()).or_default() -= (slot.end - slot.start) as i64;
        }

        let target_raw = self.lens.len_of(&self.root, target, &apps_delta, flavor);
        let plan_raw = legacy_plan_raw_len(self.bytes.len(), target_raw);
        let plan_compressed = self.cfg.compresses(plan_raw);
        let root_compressed = self.cfg.compresses(target_raw);
        let self_plan_compressed = self.cfg.compresses(self.self_plan.plan_raw_bytes.unwrap_or(0) as usize);
        let self_root_compressed = self.cfg.compresses(self.bytes.len());

        // Exact when nothing is gzipped; when gzip starts or stops at this change, measure.
        if plan_compressed != self_plan_compressed || root_compressed != self_root_compressed {
            let estimate = Estimator::new(self.cfg.clone()).deployment(&self.root, target);
            return FastEstimate { estimate, exact: true, error_bound: 0 };
        }

        // Compressed growth of the target half: changed apps in context, the rest at raw size.
        let mut delta: i64 = 0;
        let mut app_raw_delta: i64 = 0;
        let mut touched_raw: usize = 0;
        for (old, new, id) in &changed {
            let new_field = field_bytes(new);
            let at = match old {
                Some(slot) => slot.start,
                None => self.insertion_point(&id.parent()),
            };
            delta += self.new_in_context(at, &new_field) as i64;
            app_raw_delta += new_field.len() as i64;
            touched_raw += new_field.len();
            if let Some(slot) = old {
                touched_raw += slot.end - slot.start;
                delta -= self.in_context(slot) as i64;
                app_raw_delta -= (slot.end - slot.start) as i64;
            }
        }
        for slot in &removed {
            delta -= self.in_context(slot) as i64;
            app_raw_delta -= (slot.end - slot.start) as i64;
            touched_raw += slot.end - slot.start;
        }
        let other_raw_delta = target_raw as i64 - self.bytes.len() as i64 - app_raw_delta;
        delta += other_raw_delta;

        let grow = |len: usize, compressed: bool, exact_raw: usize| -> usize {
            if compressed {
                (len as i64 + delta).max(0) as usize
            } else {
                exact_raw
            }
        };
        let plan_value = grow(self.plan_value_len, plan_compressed, plan_raw);
        let root_value = grow(self.root_value_len, root_compressed, target_raw);
        let root_bytes = legacy::entry_len("group:root".len(), root_value) as u64;
        let touched = changed.len() + removed.len();
        let error_bound = if plan_compressed { error_bound(plan_value, touched, touched_raw) } else { 0 };
        let estimate = legacy_deployment(&self.cfg, root_bytes, plan_value, plan_raw);
        FastEstimate { estimate, exact: !plan_compressed && !root_compressed, error_bound }
    }

    /// `S`'s slot of the app `id`.
    fn slot(&self, id: &str) -> Option<&Slot> {
        match self.slots.get(&id_hash(id)) {
            Some(slot) if slot.encoded.id() == id => Some(slot),
            _ => self.colliding.iter().find(|s| s.encoded.id() == id),
        }
    }

    /// The deflate size of one of `S`'s apps primed with the 32 KiB before it (cached).
    fn in_context(&self, slot: &Slot) -> usize {
        let mut cache = self.old_in_context.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *cache.entry(slot.start).or_insert_with(|| {
            let ctx = self.bytes.range(slot.start.saturating_sub(WINDOW), slot.start);
            deflated_len(&ctx, &field_bytes(&slot.encoded.bytes))
        })
    }

    /// The deflate size of `field` (an app that is not `S`'s) primed with the 32 KiB of `S` before
    /// `at` (cached; the cache is bounded, as the model may move far from `S` before the next
    /// preparation).
    fn new_in_context(&self, at: usize, field: &[u8]) -> usize {
        const MAX_CACHED: usize = 4096;
        let key = (at, std::hash::BuildHasher::hash_one(&self.content_keys, field));
        if let Some(&len) = self.new_in_context.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return len;
        }
        let ctx = self.bytes.range(at.saturating_sub(WINDOW), at);
        let len = deflated_len(&ctx, field);
        let mut cache = self.new_in_context.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, len);
        len
    }

    /// Where a new app of group `group` lands in the bytes of `S`: after the group's apps, or at
    /// the end for a group `S` does not have.
    fn insertion_point(&self, group: &PathId) -> usize {
        self.group_apps_end.get(group).copied().unwrap_or(self.bytes.len())
    }
}

/// A group of `S` as lengths, its subgroups in `S`'s order.
struct GroupLens {
    apps_len: usize,
    tail_len: usize,
    groups: Vec<GroupLens>,
}

impl GroupLens {
    fn of(encoded: &EncodedGroup) -> GroupLens {
        GroupLens {
            apps_len: encoded.apps_len(),
            tail_len: encoded.tail_len(),
            groups: encoded.groups.iter().map(GroupLens::of).collect(),
        }
    }

    /// The encoded length of `target`'s group that `S` holds as `s` (measured as `self`), its
    /// app fields changed by `apps_delta` (by group id). A pass over groups, not apps.
    fn len_of(&self, s: &Group, target: &Group, apps_delta: &HashMap<String, i64>, flavor: AppFlavor) -> usize {
        let id = target.path_id().to_string();
        let apps = (self.apps_len as i64 + apps_delta.get(&id).copied().unwrap_or(0)).max(0) as usize;
        let tail = if s.dependencies == target.dependencies && s.pods == target.pods {
            self.tail_len
        } else {
            group_tail(target, flavor).len()
        };
        let earlier = s.groups();
        let subgroups: usize = target
            .groups()
            .iter()
            .enumerate()
            .map(|(i, group)| {
                let len = match app_diff::same_group(earlier, i, group) {
                    Some(j) => self.groups[j].len_of(&earlier[j], group, apps_delta, flavor),
                    None => EncodedGroup::legacy(group, flavor).len(),
                };
                field_len(4, len)
            })
            .sum();
        group_header(target).len() + apps + subgroups + tail
    }
}

/// The error bound of a compressed fast estimate. Deflate's block splitting and Huffman tables
/// shift by a few bytes per block around each change, the 32 KiB after a change compresses a
/// little differently, and new content costs more in a stream whose codes were fitted to very
/// repetitive apps than in a stream of its own (up to a third of the changed bytes on the most
/// repetitive real states). Calibrated in `tests/warm_accuracy.rs`: the largest error seen there
/// is under a third of this.
pub fn error_bound(plan_value_len: usize, touched_apps: usize, touched_raw_bytes: usize) -> u64 {
    (2048 + plan_value_len / 500 + 256 * touched_apps + touched_raw_bytes / 2) as u64
}

fn legacy_plan_raw_len(original: usize, target: usize) -> usize {
    field_len(1, SIZING_UUID.len()) + field_len(2, SIZING_VERSION.len()) + field_len(4, original) + field_len(5, target)
}

/// The value length inside a `ZKStoreEntry` of `entry_len` bytes named with `name_len` chars.
fn value_len_of_entry(name_len: usize, entry_len: usize) -> usize {
    (1..=entry_len).rev().find(|&v| legacy::entry_len(name_len, v) == entry_len).unwrap_or(0)
}

/// A fixed hash (the same for every state) of an app id.
fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

fn field_bytes(app: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(app.len() + 6);
    put_bytes(&mut out, 3, app);
    out
}

thread_local! {
    /// One zlib stream per thread, reset between uses: allocating zlib's ~270 KiB of state for
    /// every estimate costs more than the compression itself.
    static DEFLATER: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::new(6), false));
}

/// Raw deflate size of `data` with zlib primed with `ctx` (level 6, as Java).
fn deflated_len(ctx: &[u8], data: &[u8]) -> usize {
    DEFLATER.with(|cell| {
        let mut deflater = cell.borrow_mut();
        deflater.reset();
        deflate_primed(&mut deflater, ctx, data)
    })
}

fn deflate_primed(deflater: &mut Compress, ctx: &[u8], data: &[u8]) -> usize {
    if !ctx.is_empty() {
        deflater.set_dictionary(ctx).expect("zlib accepts a dictionary before the first input");
    }
    let mut out = Vec::with_capacity(data.len() + 64);
    crate::gzip::deflate_into(deflater, data, &mut out);
    out.len()
}

#[cfg(test)]
mod tests;
