//! The bytes Marathon persists, behind one small adapter so that the simulator does not depend on
//! the size engine's internals.
//!
//! **PLACEHOLDER**: until `znode-size` exposes its encoders, the payloads below are NOT Marathon's
//! protobuf encoding: they are the compact JSON of the object, wrapped in a real `ZKStoreEntry`
//! (protobuf wire format, gzip above the threshold). Node names, layouts, the plan-size rule and the
//! ZooKeeper behaviour are real; the sizes are not Marathon's. Replace the `payload_*` functions
//! with the `znode-size` calls (one-file change).

use std::io::Write as _;

use marathon_model::{App, Group, Pod};

/// The persisted layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// <= 1.3 (and 1.4 `legacy_zk`): flat `group:root`, everything inline, `ZKStoreEntry` + gzip.
    Legacy,
    /// 1.4+ `zk`: nested paths, root references apps, raw bytes.
    V14,
}

/// Marathon's storage settings (`--zk_max_node_size`, `--zk_compression`, threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreConfig {
    pub layout: Layout,
    pub zk_max_node_size: u64,
    pub compression: bool,
    pub compression_threshold: u64,
}

impl StoreConfig {
    pub fn new(layout: Layout) -> StoreConfig {
        StoreConfig { layout, zk_max_node_size: 1_024_000, compression: true, compression_threshold: 64 * 1024 }
    }
}

/// The result of Marathon 1.3's plan-size validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCheck {
    pub entry_len: u64,
    pub limit: u64,
    pub accepted: bool,
}

/// True while this module writes placeholder payloads (see the module docs).
pub const PLACEHOLDER: bool = true;

fn payload_group(root: &Group) -> Vec<u8> {
    serde_json::to_vec(root).unwrap_or_default()
}

fn payload_app(app: &App) -> Vec<u8> {
    serde_json::to_vec(app).unwrap_or_default()
}

fn payload_plan(plan_id: &str, version: &str, original: &Group, target: &Group) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(plan_id.as_bytes());
    out.extend_from_slice(version.as_bytes());
    out.extend(payload_group(original));
    out.extend(payload_group(target));
    out
}

// ---- protobuf wire helpers for the ZKStoreEntry wrapper (real format) ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::new(6));
    enc.write_all(data).expect("in-memory gzip");
    enc.finish().expect("in-memory gzip")
}

/// A `ZKStoreEntry{name, uuid(36 bytes), value, compressed}` around `payload`.
pub fn zk_store_entry(name: &str, uuid: &str, payload: &[u8], cfg: &StoreConfig) -> Vec<u8> {
    let compressed = cfg.compression && payload.len() as u64 > cfg.compression_threshold;
    let value = if compressed { gzip(payload) } else { payload.to_vec() };
    let mut out = Vec::with_capacity(value.len() + name.len() + 48);
    bytes_field(1, name.as_bytes(), &mut out);
    bytes_field(2, uuid.as_bytes(), &mut out);
    bytes_field(3, &value, &mut out);
    out.push(4 << 3);
    out.push(compressed as u8);
    out
}

fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The whole `group:root` znode (legacy layout).
pub fn legacy_root_entry(root: &Group, cfg: &StoreConfig) -> Vec<u8> {
    zk_store_entry("group:root", &random_uuid(), &payload_group(root), cfg)
}

/// An `app:<safePath>` znode (legacy layout); `name` is the znode name.
pub fn legacy_app_entry(app: &App, name: &str, cfg: &StoreConfig) -> Vec<u8> {
    zk_store_entry(name, &random_uuid(), &payload_app(app), cfg)
}

/// A `pod:<safePath>` znode (1.4 legacy layout: the pod JSON).
pub fn legacy_pod_entry(pod: &Pod, name: &str, cfg: &StoreConfig) -> Vec<u8> {
    zk_store_entry(name, &random_uuid(), &serde_json::to_vec(pod).unwrap_or_default(), cfg)
}

/// The `deployment:<uuid>` znode (legacy layout).
pub fn legacy_plan_entry(plan_id: &str, version: &str, original: &Group, target: &Group, cfg: &StoreConfig) -> Vec<u8> {
    zk_store_entry(&format!("deployment:{plan_id}"), plan_id, &payload_plan(plan_id, version, original, target), cfg)
}

/// Marathon 1.3's validator: the plan wrapped as `deployment-<id>` must be strictly smaller than
/// `zk_max_node_size`.
pub fn plan_check(plan_id: &str, version: &str, original: &Group, target: &Group, cfg: &StoreConfig) -> PlanCheck {
    let entry = zk_store_entry(&format!("deployment-{plan_id}"), plan_id, &payload_plan(plan_id, version, original, target), cfg);
    let entry_len = entry.len() as u64;
    PlanCheck { entry_len, limit: cfg.zk_max_node_size, accepted: entry_len < cfg.zk_max_node_size }
}

/// The root group in the new layout (StoredGroup: apps as references).
pub fn stored_group(root: &Group) -> Vec<u8> {
    fn strip(g: &Group) -> serde_json::Value {
        serde_json::json!({
            "id": g.id,
            "version": g.version,
            "apps": g.apps().iter().map(|a| serde_json::json!({"id": a.id, "version": a.version})).collect::<Vec<_>>(),
            "pods": g.pods().iter().map(|p| serde_json::json!({"id": p.id, "version": p.version})).collect::<Vec<_>>(),
            "groups": g.groups().iter().map(strip).collect::<Vec<_>>(),
            "dependencies": g.dependencies,
        })
    }
    serde_json::to_vec(&strip(root)).unwrap_or_default()
}

/// One app in the new layout (a raw `ServiceDefinition`).
pub fn service_definition(app: &App) -> Vec<u8> {
    payload_app(app)
}

/// One pod in the new layout (its JSON).
pub fn pod_json(pod: &Pod) -> Vec<u8> {
    serde_json::to_vec(pod).unwrap_or_default()
}

/// The plan in the new layout (StoredPlan: ids and versions only).
pub fn stored_plan(plan_id: &str, timestamp: &str, original_root_version: &str, target_root_version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes_field(1, plan_id.as_bytes(), &mut out);
    bytes_field(2, timestamp.as_bytes(), &mut out);
    bytes_field(6, original_root_version.as_bytes(), &mut out);
    bytes_field(7, target_root_version.as_bytes(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_wrapper_sizes_match_the_facts() {
        // len = (2+len(name)) + 38 + (1 + varint(|V|) + |V|) + 2 for small values.
        let cfg = StoreConfig::new(Layout::Legacy);
        let v = vec![7u8; 100];
        let e = zk_store_entry("group:root", &random_uuid(), &v, &cfg);
        assert_eq!(e.len(), (2 + 10) + 38 + (1 + 1 + 100) + 2);
        let big = vec![0u8; 70_000];
        let e = zk_store_entry("group:root", &random_uuid(), &big, &cfg);
        assert_eq!(*e.last().unwrap(), 1, "compressed above the threshold");
        assert!(e.len() < 1000);
    }

    #[test]
    fn plan_check_is_strict() {
        let mut cfg = StoreConfig::new(Layout::Legacy);
        let g = Group::empty_root();
        let id = "00000000-0000-0000-0000-000000000000";
        let c = plan_check(id, "2017-01-01T00:00:00.000Z", &g, &g, &cfg);
        cfg.zk_max_node_size = c.entry_len;
        assert!(!plan_check(id, "2017-01-01T00:00:00.000Z", &g, &g, &cfg).accepted);
        cfg.zk_max_node_size = c.entry_len + 1;
        assert!(plan_check(id, "2017-01-01T00:00:00.000Z", &g, &g, &cfg).accepted);
    }
}
