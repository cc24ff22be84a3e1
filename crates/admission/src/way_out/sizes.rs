//! Cheap estimates of what a step frees in the binding node, to rank the candidates; the exact
//! path measures what is kept.
//!
//! Legacy: the plan holds the root twice. Uncompressed, a deleted app frees its field twice.
//! Compressed, it frees its deflate share ([`znode_size::deflate_shares`]) scaled to the measured
//! plan (both copies counted: the second lies beyond deflate's window from the first whenever the
//! plan is large enough to be compressed). An emptied environment frees the difference between
//! the app's share and its share once every environment of the candidates is emptied, each in
//! the context of its own neighbours: near-duplicate environments cost almost nothing in the
//! stream, so emptying one frees almost nothing. 1.4+: the root node holds a reference per app
//! and a message per group; environments are not in it.

use std::collections::HashMap;

use marathon_model::{App, Group, PathId};
use znode_size::deflate_shares::{app_shares, field_shares};
use znode_size::encoded_tree::EncodedGroup;
use znode_size::legacy::{SIZING_UUID, SIZING_VERSION};
use znode_size::wire::field_len;
use znode_size::{v14, Layout, StoreConfig};

/// What deleting each app or group frees in the binding node, estimated.
pub(super) struct Sizes {
    layout: Layout,
    /// By app id: estimated bytes of the binding node.
    apps: HashMap<String, f64>,
    /// By app id: the app's raw field in its group (legacy).
    raw_apps: HashMap<String, usize>,
    /// By group id: estimated bytes of the binding node.
    groups: HashMap<PathId, f64>,
    /// Legacy: the encoded root (the order of its apps in the stream).
    encoded: Option<EncodedGroup>,
    /// Legacy, gzipped plan: binding bytes per deflated byte.
    deflate_scale: Option<f64>,
}

impl Sizes {
    pub fn of(root: &Group, store: &StoreConfig, binding: u64) -> Sizes {
        match store.layout {
            Layout::Legacy => Sizes::legacy(root, store, binding),
            Layout::V14 => Sizes::v14(root),
        }
    }

    fn legacy(root: &Group, store: &StoreConfig, binding: u64) -> Sizes {
        let encoded = EncodedGroup::legacy(root, store.flavor);
        let plan_raw = field_len(1, SIZING_UUID.len()) + field_len(2, SIZING_VERSION.len()) + field_len(4, encoded.len()) + field_len(5, encoded.len());
        let mut apps = HashMap::new();
        let mut raw_apps = HashMap::new();
        let (per_raw, deflate_scale) = match store.compresses(plan_raw) {
            true => {
                let shares = app_shares(&encoded);
                let scale = binding as f64 / shares.deflated_total.max(1) as f64;
                for s in shares.apps {
                    apps.insert(s.id.clone(), s.deletion_bytes as f64 * scale);
                    raw_apps.insert(s.id, s.raw_bytes);
                }
                (binding as f64 / encoded.len().max(1) as f64, Some(scale))
            }
            false => {
                encoded.visit(&mut |g| {
                    for a in &g.apps {
                        let raw = field_len(3, a.bytes.len());
                        apps.insert(a.id().to_string(), 2.0 * raw as f64);
                        raw_apps.insert(a.id().to_string(), raw);
                    }
                });
                (2.0, None)
            }
        };
        let mut groups = HashMap::new();
        legacy_groups(&encoded, &apps, &raw_apps, per_raw, &mut groups);
        Sizes { layout: Layout::Legacy, apps, raw_apps, groups, encoded: Some(encoded), deflate_scale }
    }

    fn v14(root: &Group) -> Sizes {
        let mut apps = HashMap::new();
        for app in root.transitive_apps() {
            let id = app.id().unwrap_or_default();
            // An `AppReference`: the safe path (tag 1) and the version (tag 2).
            let reference = field_len(1, PathId::parse(id).safe_path().len()) + field_len(2, v14::iso_version(app.version()).len());
            apps.insert(id.to_string(), field_len(6, reference) as f64);
        }
        let mut groups = HashMap::new();
        for g in root.transitive_groups() {
            groups.insert(g.path_id(), field_len(4, znode_size::stored_group(g).len()) as f64);
        }
        Sizes { layout: Layout::V14, apps, raw_apps: HashMap::new(), groups, encoded: None, deflate_scale: None }
    }

    pub fn app(&self, id: &str) -> f64 {
        self.apps.get(id).copied().unwrap_or(0.0)
    }

    pub fn group(&self, id: &PathId) -> f64 {
        self.groups.get(id).copied().unwrap_or(0.0)
    }

    /// The app's `ServiceDefinition` with an empty environment, when its plain variables make up
    /// at least `min_share` of its raw bytes; `None` on 1.4+ (the environment is not in the
    /// binding node) and for apps without environment.
    pub fn without_env(&self, app: &App, store: &StoreConfig, min_share: f64) -> Option<Vec<u8>> {
        if self.layout != Layout::Legacy || app.env_count() == 0 {
            return None;
        }
        let raw = *self.raw_apps.get(app.id.as_deref()?)? as f64;
        let mut without = app.clone();
        without.env = without.env.map(|mut e| {
            e.clear();
            e
        });
        let bytes = znode_size::service_definition_bytes(&without, store.flavor);
        let share = (raw - field_len(3, bytes.len()) as f64) / raw;
        (share >= min_share).then_some(bytes)
    }

    /// What emptying the environment of each app of `stripped` (its encoding without) frees,
    /// estimated, by app id.
    pub fn env_frees(&self, stripped: &HashMap<String, Vec<u8>>) -> HashMap<String, f64> {
        let Some(encoded) = self.encoded.as_ref().filter(|_| !stripped.is_empty()) else { return HashMap::new() };
        let mut order: Vec<(&str, &[u8])> = Vec::new();
        encoded.visit(&mut |g| order.extend(g.apps.iter().map(|a| (a.id(), &a.bytes[..]))));
        let Some(scale) = self.deflate_scale else {
            let freed = |id: &str, bytes: &[u8]| 2.0 * (field_len(3, bytes.len()) - field_len(3, stripped[id].len())) as f64;
            return order.iter().filter(|(id, _)| stripped.contains_key(*id)).map(|(id, b)| (id.to_string(), freed(id, b))).collect();
        };
        let with = field_shares(order.iter().map(|(_, b)| *b));
        let without = field_shares(order.iter().map(|(id, b)| stripped.get(*id).map_or(*b, |s| &s[..])));
        order
            .iter()
            .zip(with.iter().zip(&without))
            .filter(|((id, _), _)| stripped.contains_key(*id))
            .map(|((id, _), (w, wo))| (id.to_string(), (*w as f64 - *wo as f64) * scale))
            .collect()
    }
}

/// Each group's estimate: its apps' estimates plus its other bytes (headers, dependencies) at
/// `per_raw`. Returns the subtree's (estimate, raw app bytes).
fn legacy_groups(
    g: &EncodedGroup,
    apps: &HashMap<String, f64>,
    raw_apps: &HashMap<String, usize>,
    per_raw: f64,
    out: &mut HashMap<PathId, f64>,
) -> (f64, usize) {
    let mut est: f64 = g.apps.iter().map(|a| apps.get(a.id()).copied().unwrap_or(0.0)).sum();
    let mut app_raw: usize = g.apps.iter().map(|a| raw_apps.get(a.id()).copied().unwrap_or(0)).sum();
    for sub in &g.groups {
        let (e, r) = legacy_groups(sub, apps, raw_apps, per_raw, out);
        est += e;
        app_raw += r;
    }
    let other = field_len(4, g.len()).saturating_sub(app_raw);
    out.insert(g.id.clone(), est + other as f64 * per_raw);
    (est, app_raw)
}
