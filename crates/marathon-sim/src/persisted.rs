//! The bytes Marathon persists, computed by the project's size engine (`znode-size`), behind one
//! small adapter: the simulator writes exactly what the engine says Marathon writes, so ZooKeeper
//! (not our arithmetic) says when a node is too big, and `report --zk` can be compared with
//! `report --state`.
//!
//! [`Encoder`] keeps the engine's per-app cache between writes, so a change re-encodes only the
//! apps it touches, and the encoded current root, which the next plan starts from (the gzip of
//! the whole plan remains, as in Marathon: its exact length is the verdict).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use marathon_model::{App, Group, Pod};
pub use znode_size::{AppFlavor, Layout, PlanCheck, StoreConfig};
use znode_size::{legacy, Estimator};

/// Encodes Marathon's nodes (apps keep their encoding between writes: see `znode_size`).
pub struct Encoder {
    est: Estimator,
    /// The `GroupDefinition` bytes of the root last committed ([`Encoder::committed`]).
    current: Mutex<Option<(Arc<Group>, Bytes)>>,
}

/// What a legacy deployment writes: the plan node (and its check) and the new root node.
pub struct LegacyDeployment {
    pub check: PlanCheck,
    /// `deployment:<plan_id>` bytes.
    pub plan_entry: Vec<u8>,
    /// The target root's `GroupDefinition` bytes (wrap with [`Encoder::legacy_root_entry_from`]).
    pub target_payload: Bytes,
}

fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Encoder {
    pub fn new(cfg: StoreConfig) -> Encoder {
        Encoder { est: Estimator::new(cfg), current: Mutex::new(None) }
    }

    pub fn cfg(&self) -> StoreConfig {
        self.est.cfg.clone()
    }

    /// The plan node: the plan from `original` to `target`, wrapped as `deployment:<plan_id>`, and
    /// the engine's check of it. The simulator's verdict comes from `plan_validator`, which measures
    /// the same entry under the validator's name `deployment-<id>` (same length).
    pub fn legacy_deployment(&self, plan_id: &str, version: &str, original: &Arc<Group>, target: &Group) -> LegacyDeployment {
        let original = self.root_payload(original);
        let target_payload = Bytes::from(self.est.encode(target).to_bytes());
        let cfg = self.cfg();
        let payload = legacy::plan_payload(plan_id, version, &original, &target_payload);
        let plan_entry = legacy::entry(&format!("deployment:{plan_id}"), plan_id, &payload, &cfg);
        let check = legacy::check_plan_entry(plan_entry.len(), &cfg);
        LegacyDeployment { check, plan_entry, target_payload }
    }

    /// `root` is now the state, encoded as `payload` (the target of the deployment just committed,
    /// or the seed): the next plan's original.
    pub fn committed(&self, root: &Arc<Group>, payload: Bytes) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((root.clone(), payload));
    }

    /// The `GroupDefinition` bytes of `root`: kept when it is the committed root, else encoded.
    pub fn root_payload(&self, root: &Arc<Group>) -> Bytes {
        if let Some((current, payload)) = &*self.current.lock().unwrap_or_else(|p| p.into_inner()) {
            if Arc::ptr_eq(current, root) {
                return payload.clone();
            }
        }
        Bytes::from(self.est.encode(root).to_bytes())
    }

    /// The `group:root` entry around already encoded root bytes.
    pub fn legacy_root_entry_from(&self, payload: &[u8]) -> Vec<u8> {
        let cfg = self.cfg();
        legacy::entry("group:root", &random_uuid(), payload, &cfg)
    }

    /// The whole `group:root` znode (legacy layout).
    pub fn legacy_root_entry(&self, root: &Arc<Group>) -> Vec<u8> {
        self.legacy_root_entry_from(&self.root_payload(root))
    }

    /// An `app:<safePath>` znode (legacy layout); `name` is the znode name.
    pub fn legacy_app_entry(&self, app: &App, name: &str) -> Vec<u8> {
        let cfg = self.cfg();
        znode_size::legacy_app_entry(app, name, &random_uuid(), &cfg)
    }

    /// A `pod:<safePath>` znode (1.4 legacy layout): `Json{json}` wrapped.
    pub fn legacy_pod_entry(&self, pod: &Pod, name: &str) -> Vec<u8> {
        let cfg = self.cfg();
        let json = serde_json::to_vec(pod).unwrap_or_default();
        let mut payload = Vec::with_capacity(json.len() + 4);
        znode_size::wire::put_bytes(&mut payload, 1, &json);
        legacy::entry(name, &random_uuid(), &payload, &cfg)
    }

    /// One app in the new layout (a raw `ServiceDefinition`).
    pub fn service_definition(&self, app: &App) -> Vec<u8> {
        let cfg = self.cfg();
        znode_size::service_definition_bytes(app, cfg.flavor)
    }

}

/// The root group in the new layout (`StoredGroup`: apps as references).
pub fn stored_group(root: &Group) -> Vec<u8> {
    znode_size::stored_group(root)
}

/// One pod in the new layout (its JSON).
pub fn pod_json(pod: &Pod) -> Vec<u8> {
    serde_json::to_vec(pod).unwrap_or_default()
}

/// The plan in the new layout (`StoredPlan`: ids and root versions only).
pub fn stored_plan(plan_id: &str, timestamp: &str, original_root_version: &str, target_root_version: &str) -> Vec<u8> {
    znode_size::stored_plan(plan_id, timestamp, original_root_version, target_root_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_check_is_strict_and_matches_the_entry() {
        let g = Arc::new(Group::empty_root());
        let id = "00000000-0000-0000-0000-000000000000";
        let enc = Encoder::new(StoreConfig::marathon_1_3());
        let d = enc.legacy_deployment(id, "2017-01-01T00:00:00.000Z", &g, &g);
        assert_eq!(d.check.entry_len as usize, d.plan_entry.len());
        let mut cfg = StoreConfig::marathon_1_3();
        cfg.zk_max_node_size = d.check.entry_len;
        let d2 = Encoder::new(cfg.clone()).legacy_deployment(id, "2017-01-01T00:00:00.000Z", &g, &g);
        assert!(!d2.check.accepted);
        cfg.zk_max_node_size += 1;
        assert!(Encoder::new(cfg).legacy_deployment(id, "2017-01-01T00:00:00.000Z", &g, &g).check.accepted);
    }

    #[test]
    fn plans_from_the_committed_root_are_the_engines_plans() {
        let cfg = StoreConfig::marathon_1_3();
        let id = "00000000-0000-0000-0000-000000000000";
        let version = "2017-01-01T00:00:00.000Z";
        let flavour = marathon_model::ops::Flavour::V13;
        let first = Arc::new(marathon_model::ops::canonical_root(znode_size::synthetic::heroku_root(200, 5), flavour));
        let mut second = (*first).clone();
        second.groups.as_mut().unwrap()[0].apps.as_mut().unwrap()[7].make_mut().instances = Some(9);
        let second = Arc::new(second);

        let enc = Encoder::new(cfg.clone());
        enc.committed(&first, enc.root_payload(&first));
        let there = enc.legacy_deployment(id, version, &first, &second);
        assert_eq!(there.plan_entry, znode_size::legacy_plan_entry(id, version, &first, &second, &cfg));
        enc.committed(&second, there.target_payload.clone());
        let back = enc.legacy_deployment(id, version, &second, &first);
        assert_eq!(back.plan_entry, znode_size::legacy_plan_entry(id, version, &second, &first, &cfg));
        assert_ne!(there.plan_entry, back.plan_entry);
    }

    #[test]
    fn root_entry_length_matches_the_engine() {
        let root = Arc::new(marathon_model::ops::canonical_root(
            Group::parse(br#"{"id":"/","apps":[{"id":"/a","cmd":"sleep 1","version":"2017-01-01T00:00:00.000Z"}],"version":"2017-01-01T00:00:00.000Z"}"#).unwrap(),
            marathon_model::ops::Flavour::V13,
        ));
        let enc = Encoder::new(StoreConfig::marathon_1_3());
        let entry = enc.legacy_root_entry(&root);
        let est = Estimator::new(StoreConfig::marathon_1_3()).state(&root);
        assert_eq!(entry.len() as u64, est.root_bytes);
    }
}
