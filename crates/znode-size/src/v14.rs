//! The 1.4+ layout (Curator store): the root group holds references (`StoredGroup`), apps are
//! separate nodes holding a raw `ServiceDefinition`, plans reference root versions (`StoredPlan`).
//! Nothing is compressed and Marathon checks no size; the binding limit is ZooKeeper's own request
//! packet limit (`jute.maxbuffer`), which counts the node path and the request header too.

use marathon_model::{Group, PathId, SharedApp, Timestamp};
use prost::Message;

use crate::config::StoreConfig;
use crate::encoded_tree::EncodedApp;
use crate::proto::{AppReference, DeploymentPlanDefinition, GroupDefinition};
use crate::wire::field_len;

/// Bytes a `create` request adds around the data: header, path length and flags, and the
/// OPEN_ACL_UNSAFE ACL vector (facts §2.5).
pub const CREATE_OVERHEAD: u64 = 47;
/// Longest ISO timestamp of a version node name.
const MAX_TS_LEN: usize = 24;

/// The root `StoredGroup` as the 1.4 store writes it.
pub fn stored_group(group: &Group) -> GroupDefinition {
    let id = group.path_id();
    GroupDefinition {
        id: id.safe_path(),
        version: iso_version(group.version.as_deref()),
        apps: Vec::new(),
        groups: group.groups().iter().map(stored_group).collect(),
        dependencies: group
            .dependencies
            .iter()
            .flatten()
            .map(|d| PathId::resolve(d, &id).safe_path())
            .collect(),
        app_refs: group
            .apps()
            .iter()
            .map(|a| AppReference {
                id: PathId::parse(a.id().unwrap_or("")).safe_path(),
                version: iso_version(a.version()),
            })
            .collect(),
        pod_refs: pod_refs(group),
        deprecated_pods: Vec::new(),
    }
}

fn pod_refs(group: &Group) -> Vec<AppReference> {
    group
        .pods()
        .iter()
        .map(|p| AppReference { id: PathId::parse(p.id.as_deref().unwrap_or("")).safe_path(), version: iso_version(p.version.as_deref()) })
        .collect()
}

/// A group's `StoredGroup` fields other than its app references and subgroups (id, version,
/// dependencies, pod references).
pub fn group_own_len(group: &Group) -> usize {
    let id = group.path_id();
    GroupDefinition {
        id: id.safe_path(),
        version: iso_version(group.version.as_deref()),
        dependencies: group.dependencies.iter().flatten().map(|d| PathId::resolve(d, &id).safe_path()).collect(),
        pod_refs: pod_refs(group),
        ..GroupDefinition::default()
    }
    .encoded_len()
}

/// The field an app's reference takes in its group's `StoredGroup`.
pub fn app_ref_field_len(app: &SharedApp) -> usize {
    let r = AppReference { id: PathId::parse(app.id().unwrap_or("")).safe_path(), version: iso_version(app.version()) };
    field_len(6, r.encoded_len())
}

/// The request packet that writes an app's node (a version node of its `ServiceDefinition`).
pub fn app_packet(app: &SharedApp, cfg: &StoreConfig) -> u64 {
    let path = app_node_path(&PathId::parse(app.id().unwrap_or("")), cfg);
    create_version_packet(&path, EncodedApp::of(app, cfg.flavor).bytes.len())
}

/// A `StoredPlan`: ids and root versions only.
pub fn stored_plan(plan_id: &str, version: &str, original_version: &str, target_version: &str) -> Vec<u8> {
    DeploymentPlanDefinition {
        id: plan_id.to_string(),
        version: Some(version.to_string()),
        original: None,
        target: None,
        original_root_version: Some(original_version.to_string()),
        target_root_version: Some(target_version.to_string()),
    }
    .encode_to_vec()
}

/// A version as `ISO_OFFSET_DATE_TIME` (20 to 24 chars).
pub fn iso_version(raw: Option<&str>) -> String {
    raw.and_then(|v| Timestamp::parse(v).ok()).unwrap_or_default().to_iso_offset()
}

/// `/marathon/state/group/2/root` (the bucket of `"root"` is 2).
pub fn root_node_path(cfg: &StoreConfig) -> String {
    format!("{}/state/group/2/root", cfg.zk_path.trim_end_matches('/'))
}

/// `/marathon/state/apps/<bucket>/<safePath>`, bucket = |Java hashCode % 16| in hex.
pub fn app_node_path(id: &PathId, cfg: &StoreConfig) -> String {
    let safe = id.safe_path();
    let bucket = (crate::scala_order::java_string_hash(&safe) % 16).unsigned_abs();
    format!("{}/state/apps/{bucket:x}/{safe}", cfg.zk_path.trim_end_matches('/'))
}

/// `/marathon/state/pods/<bucket>/<safePath>`, bucketed as apps are.
pub fn pod_node_path(id: &PathId, cfg: &StoreConfig) -> String {
    let safe = id.safe_path();
    let bucket = (crate::scala_order::java_string_hash(&safe) % 16).unsigned_abs();
    format!("{}/state/pods/{bucket:x}/{safe}", cfg.zk_path.trim_end_matches('/'))
}

/// A pod node's data: the pod's JSON text, compact (Marathon 1.4 stores the RAML pod as JSON).
pub fn pod_data_len(pod: &marathon_model::Pod) -> usize {
    serde_json::to_vec(pod).map_or(0, |b| b.len())
}

/// The request packet that creates the version node `<path>/<ts>` holding `data_len` bytes.
pub fn create_version_packet(path: &str, data_len: usize) -> u64 {
    data_len as u64 + (path.len() + 1 + MAX_TS_LEN) as u64 + CREATE_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_reference_size_matches_the_facts() {
        // facts §2.2: `foo_bar` with a 24-char ts is a 37-byte field.
        let r = AppReference { id: "foo_bar".into(), version: "2017-01-01T10:20:56.789Z".into() };
        assert_eq!(crate::wire::field_len(6, r.encoded_len()), 37);
    }

    #[test]
    fn root_id_is_empty() {
        let g = stored_group(&Group::empty_root());
        assert_eq!(g.id, "");
        assert_eq!(root_node_path(&StoreConfig::marathon_1_4()), "/marathon/state/group/2/root");
    }
}
