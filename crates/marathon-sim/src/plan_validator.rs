//! Marathon 1.3.14's deployment-plan size validator (`DeploymentPlan.deploymentPlanValidator`),
//! written from Marathon's code rather than from the project's size engine, so that the
//! simulator's 422 does not come from the code it is meant to judge.
//!
//! Marathon builds the plan's `DeploymentPlanDefinition` (`id`, `version`, the whole original and
//! target root groups, apps inline), wraps it as `ZKData("deployment-<planId>", planId, bytes)`,
//! turns that into a `ZKStoreEntry` under `--zk_compression` / `--zk_compression_threshold`
//! (gzip iff enabled and the payload is strictly longer than the threshold, through
//! `GZIPOutputStream`), and accepts the plan iff the serialized entry is strictly shorter than
//! `--zk_max_node_size`. Here the messages are prost structs assembled group by group
//! (`Group.toProto`: id, version, `apps.values`, `groups`, `dependencies`), encoded with
//! `encode_to_vec` and gzipped with flate2.
//!
//! Shared with the engine, on purpose: the protobuf declarations (`znode_size::proto`), each app's
//! field mapping (`znode_size::service_definition`, `AppDefinition.toProto`), and the emulation of
//! Scala's hash-trie iteration order (`znode_size::scala_order`, tested against Scala on its own).
//! Not shared: the group tree, the plan, the entry, the compression decision and gzip.

use flate2::{Compression, GzBuilder};
use marathon_model::{Group, PathId, Timestamp};
use prost::Message;
use std::io::Write;
use znode_size::proto::{DeploymentPlanDefinition, GroupDefinition, ZkStoreEntry};
use znode_size::scala_order;
use znode_size::service_definition::service_definition;
use znode_size::{AppFlavor, StoreConfig};

/// What Marathon 1.3's validator decides about a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanVerdict {
    /// Length of the serialized `ZKStoreEntry` it measures.
    pub entry_len: u64,
    /// `entry_len < zk_max_node_size`.
    pub accepted: bool,
}

/// The validator's verdict on the plan `plan_id` (a UUID) at `version` (24-char Joda), from
/// `original` to `target` (ids absolute, subgroups and apps in the simulator's stored order).
pub fn plan_is_valid(plan_id: &str, version: &str, original: &Group, target: &Group, cfg: &StoreConfig) -> PlanVerdict {
    let entry_len = measured_entry(plan_id, version, original, target, cfg).encoded_len() as u64;
    PlanVerdict { entry_len, accepted: entry_len < cfg.zk_max_node_size }
}

/// The `ZKStoreEntry` the validator serializes and measures.
fn measured_entry(plan_id: &str, version: &str, original: &Group, target: &Group, cfg: &StoreConfig) -> ZkStoreEntry {
    let plan = plan_definition(plan_id, version, original, target, cfg.flavor);
    zk_store_entry(&format!("deployment-{plan_id}"), &uuid_string(plan_id), plan.encode_to_vec(), cfg)
}

/// `DeploymentPlan.toProto` (1.3: `version`, `original`, `target`; no root-version references).
fn plan_definition(plan_id: &str, version: &str, original: &Group, target: &Group, flavor: AppFlavor) -> DeploymentPlanDefinition {
    DeploymentPlanDefinition {
        id: plan_id.to_string(),
        version: Some(version.to_string()),
        original: Some(group_definition(original, flavor)),
        target: Some(group_definition(target, flavor)),
        original_root_version: None,
        target_root_version: None,
    }
}

/// `Group.toProto` of 1.3: apps inline, no references and no pods.
fn group_definition(group: &Group, flavor: AppFlavor) -> GroupDefinition {
    let apps = group.apps();
    GroupDefinition {
        id: group.path_id().to_string(),
        version: joda(group.version.as_deref()),
        apps: app_map_order(group).into_iter().map(|i| service_definition(&apps[i].app(), flavor)).collect(),
        groups: group.groups().iter().map(|g| group_definition(g, flavor)).collect(),
        dependencies: dependency_set(group),
        app_refs: Vec::new(),
        pod_refs: Vec::new(),
        deprecated_pods: Vec::new(),
    }
}

/// A `Timestamp` as Joda prints it. A group without a version is one the change just created:
/// Marathon gives it `Timestamp.now()`, and any timestamp prints in 24 chars, as the epoch does.
fn joda(raw: Option<&str>) -> String {
    raw.and_then(|v| Timestamp::parse(v).ok()).unwrap_or_default().to_joda()
}

/// Indices of the group's apps in the iteration order of its `Map[PathId, AppDefinition]`, built
/// by inserting them in the stored order.
fn app_map_order(group: &Group) -> Vec<usize> {
    let ids: Vec<PathId> = group.apps().iter().map(|a| PathId::parse(a.id().unwrap_or_default())).collect();
    let segments: Vec<Vec<&str>> = ids.iter().map(|id| id.segments().iter().map(String::as_str).collect()).collect();
    let keys: Vec<(&[&str], bool)> = segments.iter().map(|s| (s.as_slice(), true)).collect();
    scala_order::path_id_key_order(&keys)
}

/// The group's `Set[PathId]` of dependencies (absolute, each once), in the set's iteration order.
fn dependency_set(group: &Group) -> Vec<String> {
    let own = group.path_id();
    let mut deps: Vec<PathId> = Vec::new();
    for raw in group.dependencies.iter().flatten() {
        let dep = PathId::resolve(raw, &own);
        if !deps.contains(&dep) {
            deps.push(dep);
        }
    }
    let hashes: Vec<i32> = deps
        .iter()
        .map(|d| scala_order::path_id_hash(&d.segments().iter().map(String::as_str).collect::<Vec<_>>(), true))
        .collect();
    scala_order::set_iteration_order(&hashes).into_iter().map(|i| deps[i].to_string()).collect()
}

/// `UUID.fromString(id).toString`: the canonical lowercase form (the id itself if it is not one).
fn uuid_string(id: &str) -> String {
    uuid::Uuid::parse_str(id).map(|u| u.to_string()).unwrap_or_else(|_| id.to_string())
}

/// `ZKData.toProto(compressionConf)`: `compressed` is always set.
fn zk_store_entry(name: &str, uuid: &str, bytes: Vec<u8>, cfg: &StoreConfig) -> ZkStoreEntry {
    let compressed = cfg.compression && bytes.len() as u64 > cfg.compression_threshold;
    let value = if compressed { gzip_compress(&bytes) } else { bytes };
    ZkStoreEntry { name: name.to_string(), uuid: uuid.as_bytes().to_vec(), value, compressed: Some(compressed) }
}

/// `IO.gzipCompress`: `new GZIPOutputStream(out)` with its defaults, one write, close. Java's
/// header is `1f 8b 08 00`, mtime 0, XFL 0 and OS 0 (JDK 8, which Marathon 1.3 runs on); flate2
/// writes XFL 0 at the default level but OS 255 unless told. The deflate stream is zlib's at
/// level 6 (flate2 here is built on zlib, as Java's `Deflater` is).
fn gzip_compress(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzBuilder::new().operating_system(0).write(Vec::with_capacity(bytes.len() / 2 + 64), Compression::default());
    gz.write_all(bytes).expect("gzip into memory cannot fail");
    gz.finish().expect("gzip into memory cannot fail")
}

#[cfg(test)]
mod tests;
