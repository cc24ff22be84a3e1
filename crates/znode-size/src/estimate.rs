//! What Marathon would persist for a state or a deployment, in the layout in force.

use marathon_model::app_diff::app_diff;
use marathon_model::{Group, PathId, SharedApp};
use prost::Message;
use serde::Serialize;

use crate::config::{Layout, StoreConfig};
use crate::encoded_tree::EncodedGroup;
use crate::gzip::java_gzip_len;
use crate::legacy::{self, SIZING_UUID, SIZING_VERSION};
use crate::v14;

/// The persisted sizes of one state or one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub layout: Layout,
    /// The root-group node as persisted: the `group:root` entry (legacy) or the `StoredGroup` data.
    pub root_bytes: u64,
    /// The plan node Marathon writes for the deployment (legacy: the entry its validator measures).
    pub plan_bytes: Option<u64>,
    /// The node that decides acceptance and its size as compared with the limit (legacy: the plan
    /// entry, or the root entry without a deployment; 1.4+: the largest request packet).
    pub binding_node: String,
    pub binding_bytes: u64,
    pub limit_bytes: u64,
    /// Whether Marathon (legacy) or ZooKeeper (1.4+) would take it.
    pub accepted: bool,
    /// Uncompressed `DeploymentPlanDefinition` bytes (legacy), for explanations.
    pub plan_raw_bytes: Option<u64>,
    /// 1.4+: an app or pod node the deployment writes is larger than its stored version (a new
    /// node counts as grown). Each is a budget of its own, so a change that grows one is no way
    /// out even when the root shrinks. Always false for the legacy layout and for states.
    pub grows_a_node: bool,
}

/// A legacy state at rest, from the length of its `group:root` entry.
pub fn legacy_state(cfg: &StoreConfig, root_bytes: u64) -> Estimate {
    Estimate {
        layout: Layout::Legacy,
        root_bytes,
        plan_bytes: None,
        binding_node: "group:root".into(),
        binding_bytes: root_bytes,
        limit_bytes: cfg.limit_bytes(),
        accepted: root_bytes < cfg.zk_max_node_size,
        plan_raw_bytes: None,
        grows_a_node: false,
    }
}

/// A legacy deployment's estimate from the stored value length of its plan.
pub(crate) fn legacy_deployment(cfg: &StoreConfig, root_bytes: u64, plan_value_len: usize, plan_raw_len: usize) -> Estimate {
    let name_len = legacy::plan_entry_name(SIZING_UUID).len();
    let plan_bytes = legacy::entry_len(name_len, plan_value_len);
    Estimate {
        layout: Layout::Legacy,
        root_bytes,
        plan_bytes: Some(plan_bytes as u64),
        binding_node: "deployment plan".into(),
        binding_bytes: plan_bytes as u64,
        limit_bytes: cfg.limit_bytes(),
        accepted: legacy::check_plan_entry(plan_bytes, cfg).accepted,
        plan_raw_bytes: Some(plan_raw_len as u64),
        grows_a_node: false,
    }
}

/// A legacy deployment's estimate from its `DeploymentPlanDefinition` bytes (gzipped where
/// Marathon gzips them).
pub(crate) fn legacy_plan(cfg: &StoreConfig, root_bytes: u64, payload: &[u8]) -> Estimate {
    let value_len = if cfg.compresses(payload.len()) { java_gzip_len(payload) } else { payload.len() };
    legacy_deployment(cfg, root_bytes, value_len, payload.len())
}

/// The exact path: the whole tree assembled (and gzipped where Marathon does). Apps keep their
/// encoding between estimates ([`EncodedApp::of`]), so a change re-encodes only what it touches.
pub struct Estimator {
    pub cfg: StoreConfig,
}

impl Estimator {
    pub fn new(cfg: StoreConfig) -> Self {
        Estimator { cfg }
    }

    /// The legacy encoding of `root`.
    pub fn encode(&self, root: &Group) -> EncodedGroup {
        EncodedGroup::legacy(root, self.cfg.flavor)
    }

    /// The sizes of `root` at rest, without a deployment.
    pub fn state(&self, root: &Group) -> Estimate {
        match self.cfg.layout {
            Layout::Legacy => legacy_state(&self.cfg, self.legacy_root_entry_len(&self.encode(root))),
            Layout::V14 => self.v14(root, None),
        }
    }

    /// The sizes Marathon would persist for a deployment from `original` to `target`.
    pub fn deployment(&self, original: &Group, target: &Group) -> Estimate {
        match self.cfg.layout {
            Layout::Legacy => {
                let original = self.encode(original);
                let target = self.encode(target);
                let root_bytes = self.legacy_root_entry_len(&target);
                let payload = legacy::plan_payload(SIZING_UUID, SIZING_VERSION, &original.to_bytes(), &target.to_bytes());
                legacy_plan(&self.cfg, root_bytes, &payload)
            }
            Layout::V14 => self.v14(target, Some(original)),
        }
    }

    fn legacy_root_entry_len(&self, root: &EncodedGroup) -> u64 {
        let value_len = if self.cfg.compresses(root.len()) { java_gzip_len(&root.to_bytes()) } else { root.len() };
        legacy::entry_len("group:root".len(), value_len) as u64
    }

    /// 1.4+: the root node, and each app and pod node the deployment writes (all of them for a
    /// state).
    fn v14(&self, root: &Group, original: Option<&Group>) -> Estimate {
        self.v14_with(root, original, v14::stored_group(root).encoded_len(), None)
    }

    /// [`Estimator::v14`] with the root's `StoredGroup` length known, and for a state, when
    /// `known_largest` says it, the largest app node (`Some(None)`: no app).
    pub(crate) fn v14_with(&self, root: &Group, original: Option<&Group>, root_data: usize, known_largest: Option<Option<(u64, String)>>) -> Estimate {
        let root_packet = v14::create_version_packet(&v14::root_node_path(&self.cfg), root_data);
        let mut binding = ("group root".to_string(), root_packet);
        let mut grows_a_node = false;
        let mut written = |name: String, packet: u64, before: Option<u64>| {
            grows_a_node |= original.is_some() && before.is_none_or(|b| packet > b);
            if packet > binding.1 {
                binding = (name, packet);
            }
        };
        // A deployment writes the apps the target does not share with the original.
        let written_apps: Vec<(Option<&SharedApp>, &SharedApp)> = match (original, &known_largest) {
            (Some(o), _) => app_diff(o, root).touched.into_iter().map(|t| (t.before, t.after)).collect(),
            (None, Some(largest)) => {
                if let Some((packet, id)) = largest {
                    written(format!("app {id}"), *packet, None);
                }
                Vec::new()
            }
            (None, None) => root.transitive_apps().into_iter().map(|a| (None, a)).collect(),
        };
        for (before, app) in written_apps {
            if before.is_some_and(|b| b == app) {
                continue;
            }
            let packet = |a: &SharedApp| v14::app_packet(a, &self.cfg);
            written(format!("app {}", app.id().unwrap_or("")), packet(app), before.map(packet));
        }
        for pod in root.transitive_groups().into_iter().flat_map(|g| g.pods()) {
            let id = PathId::parse(pod.id.as_deref().unwrap_or(""));
            let before = original.and_then(|o| o.find_pod(&id));
            if before.is_some_and(|b| b == pod) {
                continue;
            }
            let path = v14::pod_node_path(&id, &self.cfg);
            let packet = |p: &marathon_model::Pod| v14::create_version_packet(&path, v14::pod_data_len(p));
            written(format!("pod {id}"), packet(pod), before.map(packet));
        }
        let plan_bytes = original.map(|_| {
            v14::stored_plan(SIZING_UUID, SIZING_VERSION, SIZING_VERSION, SIZING_VERSION).len() as u64
        });
        Estimate {
            layout: Layout::V14,
            root_bytes: root_data as u64,
            plan_bytes,
            binding_node: binding.0,
            binding_bytes: binding.1,
            limit_bytes: self.cfg.limit_bytes(),
            accepted: binding.1 <= self.cfg.zk_max_packet,
            plan_raw_bytes: None,
            grows_a_node,
        }
    }
}
