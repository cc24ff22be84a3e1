//! The "ZooKeeper footprint" block of `report`: everything ZooKeeper holds for Marathon's apps
//! (the current nodes, the version copies `--zk_max_versions` keeps, the pending plans), at most,
//! by [`znode_size::footprint`]'s rules. With `--zk`, the same rules applied to the real current
//! nodes, beside what the real nodes add up to.

use std::collections::BTreeMap;

use marathon_model::Group;
use marathon_zk::{role, NodeRole, NodeSize};
use serde_json::Value;
use znode_size::encoded_tree::EncodedGroup;
use znode_size::footprint::{CurrentNodes, NodeLen, Part};
use znode_size::{Estimate, Footprint, StoreConfig};

/// What the real nodes of one part add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Real {
    pub nodes: u64,
    pub bytes: u64,
}

/// The real nodes under Marathon's state path, by part.
pub struct RealFootprint {
    pub parts: BTreeMap<Part, Real>,
    /// The nodes that are no part (tasks, the framework id, the new layout's directories).
    pub other: Real,
    /// The current nodes as read, for the estimate beside.
    pub current: CurrentNodes,
    /// Plan nodes found: the deployments pending.
    pub plans: u32,
}

fn part_of(role: NodeRole) -> Option<Part> {
    match role {
        NodeRole::Root => Some(Part::Root),
        NodeRole::RootVersion => Some(Part::RootVersions),
        NodeRole::Service => Some(Part::Services),
        NodeRole::ServiceVersion => Some(Part::ServiceVersions),
        NodeRole::Plan => Some(Part::Plans),
        NodeRole::Other => None,
    }
}

impl RealFootprint {
    /// Sorts `nodes` (paths relative to `PATH/state`) into the parts of the footprint.
    pub fn of(nodes: &[NodeSize]) -> RealFootprint {
        let mut f = RealFootprint { parts: BTreeMap::new(), other: Real::default(), current: CurrentNodes::default(), plans: 0 };
        for n in nodes {
            let (node, role) = (NodeLen { name_len: n.path.len(), bytes: n.bytes }, role(&n.path));
            let real = match part_of(role) {
                Some(part) => f.parts.entry(part).or_default(),
                None => &mut f.other,
            };
            real.nodes += 1;
            real.bytes += n.bytes;
            match role {
                NodeRole::Root => f.current.root = node,
                NodeRole::Service => f.current.services.push(node),
                NodeRole::Plan => {
                    f.plans += 1;
                    f.current.plan_bytes = f.current.plan_bytes.max(n.bytes);
                }
                _ => {}
            }
        }
        f
    }

    /// The estimate from the real current nodes, each pending plan taken as large as the largest.
    pub fn estimate(&self, cfg: &StoreConfig) -> Footprint {
        Footprint::of(&self.current, cfg, Some(self.plans))
    }
}

/// The footprint as JSON; with `real`, each part also gets `real_nodes` and `real_bytes`, and the
/// nodes that are no part come as `other_nodes` / `other_bytes`.
pub fn to_json(f: &Footprint, real: Option<&RealFootprint>) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    let Some(real) = real else { return v };
    if let Some(items) = v["items"].as_array_mut() {
        for (item, part) in items.iter_mut().zip(f.items.iter().map(|i| i.part)) {
            let r = real.parts.get(&part).copied().unwrap_or_default();
            item["real_nodes"] = r.nodes.into();
            item["real_bytes"] = r.bytes.into();
        }
    }
    v["real_total_nodes"] = real.parts.values().map(|r| r.nodes).sum::<u64>().into();
    v["real_total_bytes"] = real.parts.values().map(|r| r.bytes).sum::<u64>().into();
    v["other_nodes"] = real.other.nodes.into();
    v["other_bytes"] = real.other.bytes.into();
    v
}

/// The block as text: a line per part (at most; and the real nodes with `real`), then the rules.
pub fn print_text(f: &Footprint, real: Option<&RealFootprint>) {
    let pending = f.pending_deployments.map_or("not known".to_string(), |p| p.to_string());
    println!(
        "\nZooKeeper footprint ({} layout, zk_max_versions {}, pending deployments {pending}): node data, at most{}",
        f.layout.as_str(),
        f.zk_max_versions,
        if real.is_some() { ", beside the real nodes" } else { "" }
    );
    let real_of = |part| real.map(|r| r.parts.get(&part).copied().unwrap_or_default());
    match real {
        Some(_) => println!("{:>8} {:>14} {:>8} {:>14}  nodes", "count", "bytes", "real", "real bytes"),
        None => println!("{:>8} {:>14}  nodes", "count", "bytes"),
    }
    for (i, item) in f.items.iter().enumerate() {
        let real_cols = real_of(item.part).map_or(String::new(), |r| format!(" {:>8} {:>14}", r.nodes, r.bytes));
        println!("{:>8} {:>14}{real_cols}  [{}] {}", item.nodes, item.bytes, i + 1, item.nodes_named);
    }
    let real_total = real.map_or(String::new(), |r| {
        let parts = r.parts.values().fold(Real::default(), |a, b| Real { nodes: a.nodes + b.nodes, bytes: a.bytes + b.bytes });
        format!(" {:>8} {:>14}", parts.nodes, parts.bytes)
    });
    println!("{:>8} {:>14}{real_total}  total", f.total_nodes, f.total_bytes);
    if let Some(r) = real {
        println!("{:>8} {:>14} {:>8} {:>14}  other nodes (tasks, framework id, directories)", "", "", r.other.nodes, r.other.bytes);
    }
    for (i, item) in f.items.iter().enumerate() {
        println!("  [{}] {}", i + 1, item.rule);
    }
}

/// The footprint of a root estimated by the engine, for `report --state` / `--marathon`.
pub fn estimated(root: &Group, encoded: &EncodedGroup, self_plan: &Estimate, cfg: &StoreConfig, pending: Option<u32>) -> Footprint {
    Footprint::of(&CurrentNodes::from_estimate(root, encoded, self_plan, cfg), cfg, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, bytes: u64) -> NodeSize {
        NodeSize { path: path.into(), bytes }
    }

    #[test]
    fn real_nodes_are_sorted_into_the_parts() {
        let v = "2017-01-02T03:04:05.678Z";
        let nodes = [
            node("group:root", 1000),
            node(&format!("group:root:{v}"), 1025),
            node("group:root:2016-01-02T03:04:05.678Z", 900),
            node("app:a", 300),
            node(&format!("app:a:{v}"), 325),
            node("deployment:0f1e2d3c-0000-0000-0000-000000000000", 2100),
            node("deployment:0f1e2d3c-0000-0000-0000-000000000001", 2000),
            node("task:a.1", 50),
        ];
        let f = RealFootprint::of(&nodes);
        assert_eq!(f.parts[&Part::Root], Real { nodes: 1, bytes: 1000 });
        assert_eq!(f.parts[&Part::RootVersions], Real { nodes: 2, bytes: 1925 });
        assert_eq!(f.parts[&Part::Services], Real { nodes: 1, bytes: 300 });
        assert_eq!(f.parts[&Part::ServiceVersions], Real { nodes: 1, bytes: 325 });
        assert_eq!(f.parts[&Part::Plans], Real { nodes: 2, bytes: 4100 });
        assert_eq!(f.other, Real { nodes: 1, bytes: 50 });
        assert_eq!(f.current.root, NodeLen { name_len: 10, bytes: 1000 });
        assert_eq!(f.current.services, vec![NodeLen { name_len: 5, bytes: 300 }]);
        assert_eq!((f.plans, f.current.plan_bytes), (2, 2100), "each pending plan taken as the largest");
        let est = f.estimate(&StoreConfig { zk_max_versions: 2, ..StoreConfig::marathon_1_3() });
        assert_eq!(est.item(Part::RootVersions).bytes, 2 * 1025, "the real root with its name 25 bytes longer");
        assert_eq!(est.item(Part::Plans).bytes, 2 * 2100);
    }
}
