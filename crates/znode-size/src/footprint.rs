//! Everything Marathon keeps in ZooKeeper for its apps, not only the node that binds: the current
//! root group and app nodes, the version copies `--zk_max_versions` keeps of the root and of each
//! app, and the plan of each pending deployment. ZooKeeper holds every node in memory on every
//! member of the ensemble and writes all of them into every snapshot, so this is what the
//! ensemble carries for Marathon's app state (tasks and framework nodes aside).
//!
//! The rules, read from Marathon's source (facts §1.7, §2.1, §2.2):
//! - Legacy layout (`EntityRepository.storeWithVersion`, v1.3.14; `LegacyVersionedRepository`,
//!   v1.4.13): a store writes the current node and a copy named `<key>:<version>`, then deletes
//!   every copy of that key beyond the newest `zk_max_versions`. Apps are stored when a deployment
//!   changes them; a deleted app goes with its copies. A pending plan (`deployment:<uuid>`,
//!   `DeploymentRepository`, no version limit) holds the original and the target root in full.
//! - 1.4+ layout (`GcActor`, `DeploymentRepositoryImpl`, v1.4.13): a store writes the current node
//!   and a child `<ts>` with the same bytes. Garbage collection runs after a deployment's plan is
//!   deleted; once there are more than `zk_max_versions` root copies it deletes the oldest that
//!   neither the current root nor a pending plan refers to, then trims each app's copies to
//!   `zk_max_versions`, again sparing the ones in use. A plan (`StoredPlan`) holds only the
//!   versions of its two roots, which keeps those copies alive.
//!
//! Sizes: the current nodes are exact (the same engine as the estimates); each older copy is
//! taken at the size of the current node (older roots were usually smaller, and an estimate that
//! stays on the safe side is the point). Counts are the most the rules let Marathon keep. Node
//! data only: ZooKeeper adds each node's path and a stat record of its own.

use marathon_model::{Group, PathId, Pod};
use serde::Serialize;

use crate::config::{Layout, StoreConfig};
use crate::encoded_tree::EncodedGroup;
use crate::estimate::{Estimate, Estimator};
use crate::gzip::java_gzip_len;
use crate::legacy::{self, SIZING_UUID, SIZING_VERSION};
use crate::v14;
use crate::wire::{field_len, put_bytes};

/// What a legacy version copy adds to its key: `:` and a 24-char Joda timestamp.
const LEGACY_VERSION_SUFFIX: usize = 1 + SIZING_VERSION.len();

/// A current node: its data length and, in the legacy layout, the length of its name (a version
/// copy's `ZKStoreEntry` carries the name with `:<version>` appended).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeLen {
    pub name_len: usize,
    pub bytes: u64,
}

/// The current nodes the footprint counts copies of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentNodes {
    pub root: NodeLen,
    /// Each app's and pod's current node.
    pub services: Vec<NodeLen>,
    /// One pending deployment's plan node (legacy: a deployment from the current root to itself;
    /// 1.4+: a `StoredPlan`).
    pub plan_bytes: u64,
}

impl CurrentNodes {
    /// The current nodes of `root` as Marathon stores them under `cfg`.
    pub fn of_root(root: &Group, cfg: &StoreConfig) -> CurrentNodes {
        let est = Estimator::new(cfg.clone());
        let binding = match cfg.layout {
            Layout::Legacy => est.deployment(root, root),
            Layout::V14 => est.state(root),
        };
        CurrentNodes::from_estimate(root, &est.encode(root), &binding, cfg)
    }

    /// The same from what an estimate of `root` already computed: `encoded` is its encoding, and
    /// `estimate` its state or a deployment from it to itself (legacy: the plan is taken from it
    /// when it has one, and computed otherwise).
    pub fn from_estimate(root_group: &Group, encoded: &EncodedGroup, estimate: &Estimate, cfg: &StoreConfig) -> CurrentNodes {
        let plan_bytes = match cfg.layout {
            Layout::Legacy => estimate
                .plan_bytes
                .unwrap_or_else(|| Estimator::new(cfg.clone()).deployment(root_group, root_group).plan_bytes.unwrap_or(0)),
            Layout::V14 => v14::stored_plan(SIZING_UUID, SIZING_VERSION, SIZING_VERSION, SIZING_VERSION).len() as u64,
        };
        let root_name = match cfg.layout {
            Layout::Legacy => "group:root".len(),
            Layout::V14 => 0,
        };
        let root = NodeLen { name_len: root_name, bytes: estimate.root_bytes };
        let pods: Vec<&Pod> = root_group.transitive_groups().into_iter().flat_map(|g| g.pods()).collect();
        CurrentNodes { root, services: service_nodes(encoded, &pods, cfg), plan_bytes }
    }
}

/// Each app's and pod's current node: legacy, a `ZKStoreEntry` named `app:<safePath>` or
/// `pod:<safePath>` (the pod as `Json{json}`); 1.4+, the raw `ServiceDefinition` or the pod's JSON.
fn service_nodes(encoded: &EncodedGroup, pods: &[&Pod], cfg: &StoreConfig) -> Vec<NodeLen> {
    let mut out = Vec::new();
    encoded.visit(&mut |g| {
        for app in &g.apps {
            let safe = PathId::parse(app.id()).safe_path();
            out.push(match cfg.layout {
                Layout::Legacy => legacy_node("app:", &safe, &app.bytes, cfg),
                Layout::V14 => NodeLen { name_len: 0, bytes: app.bytes.len() as u64 },
            });
        }
    });
    for pod in pods {
        let safe = PathId::parse(pod.id.as_deref().unwrap_or("")).safe_path();
        out.push(match cfg.layout {
            Layout::Legacy => {
                let mut payload = Vec::new();
                put_bytes(&mut payload, 1, &serde_json::to_vec(pod).unwrap_or_default());
                legacy_node("pod:", &safe, &payload, cfg)
            }
            Layout::V14 => NodeLen { name_len: 0, bytes: v14::pod_data_len(pod) as u64 },
        });
    }
    out
}

/// A legacy node `<prefix><safe>` holding `payload` (gzipped where Marathon gzips).
fn legacy_node(prefix: &str, safe: &str, payload: &[u8], cfg: &StoreConfig) -> NodeLen {
    let name_len = prefix.len() + safe.len();
    let value_len = if cfg.compresses(payload.len()) { java_gzip_len(payload) } else { payload.len() };
    NodeLen { name_len, bytes: legacy::entry_len(name_len, value_len) as u64 }
}

/// The parts of the footprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The current root group node.
    Root,
    /// The root group's version copies.
    RootVersions,
    /// The current app and pod nodes.
    Services,
    /// The apps' and pods' version copies.
    ServiceVersions,
    /// The plans of pending deployments.
    Plans,
}

/// One part: how many nodes, their bytes at most, and why Marathon keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FootprintItem {
    pub part: Part,
    /// The nodes as the layout names them (e.g. `group:root:<version>`).
    pub nodes_named: &'static str,
    /// How many such nodes there are at most.
    pub nodes: u64,
    /// Their data, at most.
    pub bytes: u64,
    /// The rule that keeps them, with the Marathon file and tag it is read from.
    pub rule: String,
}

/// What ZooKeeper holds for Marathon's apps, at most, part by part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footprint {
    pub layout: Layout,
    pub zk_max_versions: u32,
    /// Pending deployments counted (`None`: not known, and no plan is counted).
    pub pending_deployments: Option<u32>,
    /// The most version copies Marathon keeps of the root and of each app or pod.
    pub kept_versions: u64,
    pub items: Vec<FootprintItem>,
    /// All parts' data.
    pub total_bytes: u64,
    pub total_nodes: u64,
}

/// The footprint of `root` under `cfg`, with `pending` deployments in progress.
pub fn footprint(root: &Group, cfg: &StoreConfig, pending: Option<u32>) -> Footprint {
    Footprint::of(&CurrentNodes::of_root(root, cfg), cfg, pending)
}

/// The most version copies Marathon keeps of one root or app. Legacy: `zk_max_versions`, pruned
/// right after each store. 1.4+: the GC keeps `zk_max_versions` plus what pending plans use (each
/// plan refers to two roots, and the current root is spared: up to `2P + 1`), and each pending
/// deployment has stored one more copy since the GC last ran.
pub fn kept_versions(layout: Layout, max_versions: u32, pending: u32) -> u64 {
    let (n, p) = (max_versions as u64, pending as u64);
    match layout {
        Layout::Legacy => n,
        Layout::V14 => n.max(2 * p + 1) + p,
    }
}

/// A version copy of `node`: legacy, the same entry under a name 25 bytes longer; 1.4+, the same
/// bytes.
fn version_copy_len(layout: Layout, node: NodeLen) -> u64 {
    match layout {
        Layout::Legacy => {
            let grown = field_len(1, node.name_len + LEGACY_VERSION_SUFFIX) - field_len(1, node.name_len);
            node.bytes + grown as u64
        }
        Layout::V14 => node.bytes,
    }
}

impl Footprint {
    /// The footprint from the current nodes (estimated from a root, or read from ZooKeeper).
    pub fn of(current: &CurrentNodes, cfg: &StoreConfig, pending: Option<u32>) -> Footprint {
        let (n, layout) = (cfg.zk_max_versions, cfg.layout);
        let kept = kept_versions(layout, n, pending.unwrap_or(0));
        let n_services = current.services.len() as u64;
        let services: u64 = current.services.iter().map(|s| s.bytes).sum();
        let service_copies: u64 = current.services.iter().map(|s| version_copy_len(layout, *s)).sum();
        let p = pending.unwrap_or(0) as u64;
        let item = |part, nodes, bytes| {
            let (nodes_named, rule) = describe(layout, part, n, pending);
            FootprintItem { part, nodes_named, nodes, bytes, rule }
        };
        let items = vec![
            item(Part::Root, 1, current.root.bytes),
            item(Part::RootVersions, kept, kept * version_copy_len(layout, current.root)),
            item(Part::Services, n_services, services),
            item(Part::ServiceVersions, kept * n_services, kept * service_copies),
            item(Part::Plans, p, p * current.plan_bytes),
        ];
        Footprint {
            layout,
            zk_max_versions: n,
            pending_deployments: pending,
            kept_versions: kept,
            total_bytes: items.iter().map(|i| i.bytes).sum(),
            total_nodes: items.iter().map(|i| i.nodes).sum(),
            items,
        }
    }

    pub fn item(&self, part: Part) -> &FootprintItem {
        self.items.iter().find(|i| i.part == part).expect("every part has an item")
    }
}

/// A part's node names in `layout` and the rule that keeps them (`n`: `zk_max_versions`).
fn describe(layout: Layout, part: Part, n: u32, pending: Option<u32>) -> (&'static str, String) {
    let counted = match pending {
        Some(p) => format!("{p} pending"),
        None => "pending deployments not known: none counted".to_string(),
    };
    match (layout, part) {
        (Layout::Legacy, Part::Root) => ("group:root", "the current root group, every app inline".into()),
        (Layout::Legacy, Part::RootVersions) => (
            "group:root:<version>",
            format!(
                "a copy with every deployment; all but the newest {n} are deleted after each store \
                 (EntityRepository.scala v1.3.14, LegacyEntityRepository.scala v1.4.13); older copies taken at the \
                 current root's size"
            ),
        ),
        (Layout::Legacy, Part::Services) => (
            "app:<id>, pod:<id>",
            "one per app or pod, written when a deployment changes it; a deleted app goes with its copies \
             (GroupManagerActor.scala v1.3.14)"
                .into(),
        ),
        (Layout::Legacy, Part::ServiceVersions) => (
            "app:<id>:<version>, pod:<id>:<version>",
            format!(
                "a copy each time a deployment changes the app; the newest {n} per app kept (the same rule); taken at \
                 the current size"
            ),
        ),
        (Layout::Legacy, Part::Plans) => (
            "deployment:<uuid>",
            format!(
                "one per pending deployment ({counted}) holding the original and the target root in full, taken as a \
                 deployment from the current root to itself; deleted when the deployment ends, kept when it fails, no \
                 version limit (DeploymentRepository.scala, MarathonSchedulerActor.scala v1.3.14)"
            ),
        ),
        (Layout::V14, Part::Root) => ("group/2/root", "the current root group: groups and app references".into()),
        (Layout::V14, Part::RootVersions) => (
            "group/2/root/<ts>",
            format!(
                "a copy with every deployment; after each finished deployment the GC deletes the oldest beyond {n} that \
                 neither the current root nor a pending plan refers to: at most max({n}, 2P+1) + P with P pending \
                 (GcActor.scala v1.4.13); taken at the current root's size"
            ),
        ),
        (Layout::V14, Part::Services) => (
            "apps/<b>/<id>, pods/<b>/<id>",
            "one per app or pod; a deleted app's node is emptied and its copies stay until the GC finds no root \
             using it (GroupRepositoryImpl.scala, GcActor.scala v1.4.13)"
                .into(),
        ),
        (Layout::V14, Part::ServiceVersions) => (
            "apps/<b>/<id>/<ts>, pods/<b>/<id>/<ts>",
            format!(
                "a copy each time a deployment changes the app, trimmed by the GC to {n} per app unless in use (the \
                 same bound); taken at the current size"
            ),
        ),
        (Layout::V14, Part::Plans) => (
            "deployment/<b>/<uuid>",
            format!(
                "one StoredPlan per pending deployment ({counted}): ids and the versions of its two roots, which keep \
                 those copies (DeploymentRepositoryImpl.scala v1.4.13)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
