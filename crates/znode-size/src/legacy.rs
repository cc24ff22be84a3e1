//! The legacy layout (Marathon <= 1.3, and 1.4 on `legacy_zk`): `ZKStoreEntry` wrappers, the
//! `group:root` node and the deployment plan that Marathon size-checks before a deployment.

use crate::config::StoreConfig;
use crate::gzip::java_gzip;
use crate::wire::put_bytes;

/// Length of every UUID Marathon stores (`UUID.toString` as UTF-8).
pub const UUID_LEN: usize = 36;
/// A fixed UUID for size computations: every UUID has the same length.
pub const SIZING_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// A fixed 24-char Joda timestamp for size computations.
pub const SIZING_VERSION: &str = "1970-01-01T00:00:00.000Z";

/// A stored `ZKStoreEntry`: the payload, gzipped when the config says so.
pub fn entry(name: &str, uuid: &str, payload: &[u8], cfg: &StoreConfig) -> Vec<u8> {
    let compressed = cfg.compresses(payload.len());
    let value = if compressed { java_gzip(payload) } else { payload.to_vec() };
    entry_with_value(name, uuid, &value, compressed)
}

/// A `ZKStoreEntry` around an already final value.
pub fn entry_with_value(name: &str, uuid: &str, value: &[u8], compressed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + name.len() + 48);
    put_bytes(&mut out, 1, name.as_bytes());
    put_bytes(&mut out, 2, uuid.as_bytes());
    put_bytes(&mut out, 3, value);
    out.extend_from_slice(&[0x20, compressed as u8]);
    out
}

/// Length of a `ZKStoreEntry` named `name` around a value of `value_len` bytes.
pub fn entry_len(name_len: usize, value_len: usize) -> usize {
    crate::wire::field_len(1, name_len) + crate::wire::field_len(2, UUID_LEN) + crate::wire::field_len(3, value_len) + 2
}

/// The name Marathon's validator gives the plan it measures (`deployment-<uuid>`, 47 chars, the
/// same length as the real node `deployment:<uuid>`).
pub fn plan_entry_name(plan_id: &str) -> String {
    format!("deployment-{plan_id}")
}

/// `DeploymentPlanDefinition` bytes from the encoded original and target root groups.
pub fn plan_payload(plan_id: &str, version: &str, original: &[u8], target: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(original.len() + target.len() + 80);
    put_bytes(&mut out, 1, plan_id.as_bytes());
    put_bytes(&mut out, 2, version.as_bytes());
    put_bytes(&mut out, 4, original);
    put_bytes(&mut out, 5, target);
    out
}

/// Marathon 1.3's plan validator: the entry length and whether it is strictly under the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PlanCheck {
    pub entry_len: u64,
    pub limit: u64,
    pub accepted: bool,
}

pub fn check_plan_entry(entry_len: usize, cfg: &StoreConfig) -> PlanCheck {
    PlanCheck {
        entry_len: entry_len as u64,
        limit: cfg.zk_max_node_size,
        accepted: (entry_len as u64) < cfg.zk_max_node_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn entry_matches_prost_and_the_facts_formula() {
        let cfg = StoreConfig { compression: false, ..StoreConfig::default() };
        let payload = vec![7u8; 20_000];
        let name = plan_entry_name(SIZING_UUID);
        assert_eq!(name.len(), 47);
        let bytes = entry(&name, SIZING_UUID, &payload, &cfg);
        let expected = crate::proto::ZkStoreEntry {
            name: name.clone(),
            uuid: SIZING_UUID.as_bytes().to_vec(),
            value: payload.clone(),
            compressed: Some(false),
        }
        .encode_to_vec();
        assert_eq!(bytes, expected);
        // facts §1.3: a plan node of 16384 <= |V| < 2 MiB is |V| + 93 bytes.
        assert_eq!(bytes.len(), payload.len() + 93);
        assert_eq!(entry_len(47, payload.len()), bytes.len());
    }

    #[test]
    fn validator_is_strict() {
        let cfg = StoreConfig::default();
        assert!(check_plan_entry(1_023_999, &cfg).accepted);
        assert!(!check_plan_entry(1_024_000, &cfg).accepted);
    }
}
