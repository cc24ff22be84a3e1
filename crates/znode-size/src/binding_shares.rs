//! Where the bytes of a binding node go, per group and per app, in the node's own unit.
//!
//! A rejection that lists groups by their uncompressed protobuf length next to a gzipped plan
//! speaks two units at once ("/dev 1,899,179 bytes" beside a 504,368-byte root): nobody can
//! tell how much deleting `/dev` would free. Here every part is counted in the bytes of the node
//! that is compared with the limit:
//!
//! - legacy layout, compressed: each app's deflate share of the root's stream
//!   ([`crate::deflate_shares`]), a group's bytes besides its apps (headers, dependencies) at the
//!   stream's average ratio, the whole scaled to the bytes that root takes in the node;
//! - legacy layout, uncompressed: each part's encoded length, scaled the same way;
//! - a legacy plan holds two roots, the original and the target ([`legacy_plan`]): each part
//!   counts in both, each copy for the bytes it takes;
//! - 1.4+ layout, the root node binding: each group's `StoredGroup` (app references, not apps)
//!   scaled to the node.
//!
//! Estimates, as their sum is: what decides is always measured with [`crate::Estimator`].

use marathon_model::Group;

use crate::deflate_shares::app_shares;
use crate::encoded_tree::EncodedGroup;
use crate::wire::field_len;

/// Parts of one binding node, each in bytes of that node; largest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BindingShares {
    /// Group ids (every group of the tree but the root) and their subtrees' bytes.
    pub groups: Vec<(String, u64)>,
    /// App ids and their bytes (legacy layout only: on 1.4+ an app is a node of its own).
    pub apps: Vec<(String, u64)>,
}

/// Legacy layout: the parts of a binding node of `binding` bytes that holds `root` (encoded),
/// gzipped when `compressed`.
pub fn legacy(root: &EncodedGroup, compressed: bool, binding: u64) -> BindingShares {
    let mut apps: Vec<(String, f64)> = Vec::new();
    let total = match compressed {
        true => {
            let shares = app_shares(root);
            apps.extend(shares.apps.into_iter().map(|a| (a.id, a.deflated_bytes as f64)));
            shares.deflated_total as f64
        }
        false => {
            root.visit(&mut |g| apps.extend(g.apps.iter().map(|a| (a.id().to_string(), field_len(3, a.bytes.len()) as f64))));
            root.len() as f64
        }
    };
    let scale = binding as f64 / total.max(1.0);
    // What a byte of the encoding costs in the stream, for the parts that are not apps.
    let per_raw = total / root.len().max(1) as f64;
    let cost: std::collections::HashMap<&str, f64> = apps.iter().map(|(id, c)| (id.as_str(), *c)).collect();
    let mut groups = Vec::new();
    for sub in &root.groups {
        subtree(sub, &cost, per_raw, &mut groups);
    }
    BindingShares { groups: largest_first(groups, scale), apps: largest_first(apps, scale) }
}

/// Legacy layout: the parts of a deployment plan of `plan` bytes from `original` to `target`
/// (encoded). The original's copy takes half of `original_plan`, the plan of a deployment that
/// changes nothing (two equal copies: a plan large enough to be gzipped holds roots larger than
/// deflate's window, so the second copy costs about what the first does); the target's copy the
/// rest of `plan`.
pub fn legacy_plan(original: &EncodedGroup, target: &EncodedGroup, compressed: bool, original_plan: u64, plan: u64) -> BindingShares {
    let half = original_plan / 2;
    let a = legacy(original, compressed, half);
    let b = legacy(target, compressed, plan.saturating_sub(half));
    let sum = |x: Vec<(String, u64)>, y: Vec<(String, u64)>| {
        let mut by_id: std::collections::HashMap<String, u64> = x.into_iter().collect();
        for (id, bytes) in y {
            *by_id.entry(id).or_default() += bytes;
        }
        largest_first(by_id.into_iter().map(|(id, b)| (id, b as f64)).collect(), 1.0)
    };
    BindingShares { groups: sum(a.groups, b.groups), apps: sum(a.apps, b.apps) }
}

/// 1.4+ layout: the parts of the root node (`binding` bytes) of `root`.
pub fn v14_root(root: &Group, binding: u64) -> BindingShares {
    let whole = crate::stored_group(root).len().max(1) as f64;
    let groups = root
        .transitive_groups()
        .into_iter()
        .filter(|g| !g.path_id().is_root())
        .map(|g| (g.path_id().to_string(), field_len(4, crate::stored_group(g).len()) as f64))
        .collect();
    BindingShares { groups: largest_first(groups, binding as f64 / whole), apps: Vec::new() }
}

/// The subtree's cost (its apps' costs plus its other bytes at `per_raw`), recorded for it and
/// every group under it; returns (cost, raw bytes of its apps' fields).
fn subtree(g: &EncodedGroup, cost: &std::collections::HashMap<&str, f64>, per_raw: f64, out: &mut Vec<(String, f64)>) -> (f64, usize) {
    let mut est: f64 = g.apps.iter().map(|a| cost.get(a.id()).copied().unwrap_or(0.0)).sum();
    let mut app_raw: usize = g.apps.iter().map(|a| field_len(3, a.bytes.len())).sum();
    for sub in &g.groups {
        let (e, r) = subtree(sub, cost, per_raw, out);
        est += e;
        app_raw += r;
    }
    let other = field_len(4, g.len()).saturating_sub(app_raw);
    let whole = est + other as f64 * per_raw;
    out.push((g.id.to_string(), whole));
    (est, app_raw)
}

fn largest_first(parts: Vec<(String, f64)>, scale: f64) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = parts.into_iter().map(|(id, c)| (id, (c * scale).round() as u64)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_definition::AppFlavor;
    use crate::{Estimator, StoreConfig};

    /// `/big` (random env values, incompressible) and `/twins` (near-duplicates) of about the same
    /// encoded length.
    fn root() -> Group {
        let app = |id: String, value: &dyn Fn(usize) -> String| {
            let env: serde_json::Map<String, serde_json::Value> = (0..30).map(|k| (format!("VAR_{k:02}"), serde_json::json!(value(k)))).collect();
            serde_json::json!({"id": id, "cmd": "sleep 1", "env": env})
        };
        let random = |i: usize| move |k: usize| format!("{:032x}", ((i * 31 + k) as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
        let big: Vec<serde_json::Value> = (0..20).map(|i| app(format!("/big/app-{i:02}"), &random(i))).collect();
        let twins: Vec<serde_json::Value> = (0..20).map(|i| app(format!("/twins/app-{i:02}"), &|k| format!("{:032x}", k as u128 * 7))).collect();
        let json = serde_json::json!({"id": "/", "apps": [], "groups": [
            {"id": "/big", "apps": big, "groups": []},
            {"id": "/twins", "apps": twins, "groups": []},
        ]});
        Group::parse(json.to_string().as_bytes()).unwrap().normalized(&marathon_model::PathId::root()).unwrap()
    }

    #[test]
    fn compressed_shares_are_in_the_plans_bytes_and_follow_what_deflate_spends() {
        let root = root();
        let store = StoreConfig { compression_threshold: 1000, ..StoreConfig::marathon_1_3() };
        let plan = Estimator::new(store.clone()).deployment(&root, &root).binding_bytes;
        let encoded = EncodedGroup::legacy(&root, AppFlavor::V13);
        let s = legacy(&encoded, true, plan);
        let (first, second) = (&s.groups[0], &s.groups[1]);
        assert_eq!(first.0, "/big", "{s:?}");
        assert_eq!(second.0, "/twins");
        // The two groups take the whole plan but for the root's own few bytes (estimates: within
        // a few percent).
        let sum = first.1 + second.1;
        assert!(sum.abs_diff(plan) as f64 <= plan as f64 * 0.03, "{sum} of {plan}");
        // Near-duplicates cost a fraction of random values, though their encodings are as long.
        assert!(second.1 * 4 < first.1, "{s:?}");
        let raw = legacy(&encoded, false, plan);
        let twins_raw = raw.groups.iter().find(|g| g.0 == "/twins").unwrap().1;
        assert!(twins_raw * 10 > plan * 4, "uncompressed, the twins are half: {raw:?}");
        assert_eq!(s.apps.len(), 40);
        assert!(s.apps[0].0.starts_with("/big/"));
    }

    #[test]
    fn a_plan_counts_each_part_in_both_copies() {
        let original = root();
        let mut target = original.clone();
        let big = marathon_model::PathId::parse("/big");
        target.groups.as_mut().unwrap().retain(|g| g.path_id() != big);
        let store = StoreConfig { compression_threshold: 1000, ..StoreConfig::marathon_1_3() };
        let estimator = Estimator::new(store.clone());
        let (before, plan) = (estimator.deployment(&original, &original).binding_bytes, estimator.deployment(&original, &target).binding_bytes);
        let enc = |g: &Group| EncodedGroup::legacy(g, AppFlavor::V13);
        let s = legacy_plan(&enc(&original), &enc(&target), true, before, plan);
        let share = |id: &str| s.groups.iter().find(|g| g.0 == id).unwrap().1;
        // `/big` is only in the original's copy: about half of the plan of the state as it is,
        // less `/twins`' part of it; `/twins` is in both.
        let alone = legacy(&enc(&original), true, before / 2);
        let big_alone = alone.groups.iter().find(|g| g.0 == "/big").unwrap().1;
        assert_eq!(share("/big"), big_alone);
        assert!(share("/twins") > alone.groups.iter().find(|g| g.0 == "/twins").unwrap().1);
        let sum = share("/big") + share("/twins");
        assert!(sum.abs_diff(plan) as f64 <= plan as f64 * 0.03, "{sum} of {plan}: {s:?}");
    }

    #[test]
    fn v14_root_shares_count_references_per_group() {
        let root = root();
        let s = v14_root(&root, 10_000);
        assert_eq!(s.groups.len(), 2);
        let sum: u64 = s.groups.iter().map(|g| g.1).sum();
        assert!(sum <= 10_000 && sum > 9_000, "{s:?}");
        assert!(s.apps.is_empty());
    }
}
