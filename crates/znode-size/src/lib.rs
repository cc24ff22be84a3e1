//! Marathon's persisted encoding and the sizes it produces in ZooKeeper. No IO.
//!
//! Marathon does not persist JSON: it persists protobuf messages ([`proto`]), built from an app the
//! way `AppDefinition.toProto` builds them ([`service_definition`]), gzip-compressed as Java does
//! above a threshold ([`gzip`]), wrapped in a `ZKStoreEntry` ([`legacy`]). In the legacy layout a
//! deployment stores a plan with the whole original and target root groups, and Marathon refuses
//! the deployment when that entry is not strictly under `--zk_max_node_size`. The 1.4+ layout
//! ([`v14`]) stores references instead, and only ZooKeeper's packet limit binds.
//!
//! [`Estimator`] is the entry point; the free functions below are what the simulator writes.
//! [`footprint`] adds up everything Marathon keeps besides: version copies and pending plans.

pub mod binding_shares;
pub mod config;
pub mod deflate_shares;
pub mod encoded_tree;
pub mod error_bound;
pub mod estimate;
pub mod footprint;
pub mod gzip;
pub mod legacy;
mod pieced_bytes;
pub mod prepared_v14;
pub mod proto;
pub mod scala_order;
pub mod service_definition;
pub mod stored_order;
pub mod synthetic;
pub mod v14;
pub mod warm;
pub mod wire;

pub use config::{Layout, StoreConfig, StoreOverrides};
pub use error_bound::ErrorBound;
pub use estimate::{legacy_state, Estimate, Estimator};
pub use footprint::{footprint, Footprint};
pub use legacy::PlanCheck;
pub use service_definition::AppFlavor;
pub use prepared_v14::V14State;
pub use warm::{compose_plan, ComposedPlan, FastEstimate, WarmState};

use marathon_model::{App, Group};
use prost::Message;

/// The `group:root` `ZKStoreEntry` bytes of the legacy layout.
pub fn legacy_root_entry(root: &Group, uuid: &str, cfg: &StoreConfig) -> Vec<u8> {
    let encoded = Estimator::new(cfg.clone()).encode(root).to_bytes();
    legacy::entry("group:root", uuid, &encoded, cfg)
}

/// The `app:<safePath>` `ZKStoreEntry` bytes of the legacy layout; `name` is the node name.
pub fn legacy_app_entry(app: &App, name: &str, uuid: &str, cfg: &StoreConfig) -> Vec<u8> {
    legacy::entry(name, uuid, &service_definition_bytes(app, cfg.flavor), cfg)
}

/// The `deployment:<plan_id>` `ZKStoreEntry` bytes of the legacy layout.
pub fn legacy_plan_entry(plan_id: &str, version: &str, original: &Group, target: &Group, cfg: &StoreConfig) -> Vec<u8> {
    let estimator = Estimator::new(cfg.clone());
    let original = estimator.encode(original).to_bytes();
    let target = estimator.encode(target).to_bytes();
    let payload = legacy::plan_payload(plan_id, version, &original, &target);
    legacy::entry(&format!("deployment:{plan_id}"), plan_id, &payload, cfg)
}

/// Marathon 1.3's plan-size validator for a deployment from `original` to `target`.
pub fn plan_check(original: &Group, target: &Group, cfg: &StoreConfig) -> PlanCheck {
    let estimate = Estimator::new(cfg.clone()).deployment(original, target);
    let entry_len = estimate.plan_bytes.unwrap_or(0) as usize;
    legacy::check_plan_entry(entry_len, cfg)
}

/// A raw `ServiceDefinition` (the 1.4+ app node data).
pub fn service_definition_bytes(app: &App, flavor: AppFlavor) -> Vec<u8> {
    service_definition::service_definition(app, flavor).encode_to_vec()
}

/// The 1.4+ root `StoredGroup` bytes.
pub fn stored_group(root: &Group) -> Vec<u8> {
    v14::stored_group(root).encode_to_vec()
}

/// The 1.4+ `StoredPlan` bytes.
pub fn stored_plan(plan_id: &str, version: &str, original_version: &str, target_version: &str) -> Vec<u8> {
    v14::stored_plan(plan_id, version, original_version, target_version)
}
#[cfg(test)]
mod tests;
