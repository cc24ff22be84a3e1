//! An app definition as `GET /v2/apps` returns it and as clients send it (1.3 to 1.10 fields).
//!
//! Fields Marathon no longer documents (`ports`, `uris`, `ipAddress`, `container.docker.network`,
//! `container.docker.portMappings`, `residency`, `storeUrls`) are typed because they change what is
//! persisted; anything else lands in `extra` and is written back unchanged. Integer fields are
//! read as Marathon's play-json reads them ([`crate::play_reads`]).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::{ModelError, PathId};

/// Unknown fields of an object, in the order they came.
pub type Extra = Map<String, Value>;

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: Option<String>,
    pub cmd: Option<String>,
    pub args: Option<Vec<String>>,
    pub user: Option<String>,
    pub env: Option<IndexMap<String, EnvValue>>,
    #[serde(default, deserialize_with = "crate::play_reads::int")]
    pub instances: Option<u32>,
    pub cpus: Option<f64>,
    pub mem: Option<f64>,
    pub disk: Option<f64>,
    pub gpus: Option<f64>,
    pub executor: Option<String>,
    pub constraints: Option<Vec<Vec<String>>>,
    pub uris: Option<Vec<String>>,
    pub fetch: Option<Vec<FetchUri>>,
    pub store_urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::play_reads::ints")]
    pub ports: Option<Vec<u32>>,
    pub port_definitions: Option<Vec<PortDefinition>>,
    pub require_ports: Option<bool>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds")]
    pub backoff_seconds: Option<i64>,
    pub backoff_factor: Option<f64>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds")]
    pub max_launch_delay_seconds: Option<i64>,
    pub container: Option<Container>,
    pub health_checks: Option<Vec<HealthCheck>>,
    pub readiness_checks: Option<Vec<ReadinessCheck>>,
    pub dependencies: Option<Vec<String>>,
    pub upgrade_strategy: Option<UpgradeStrategy>,
    pub labels: Option<IndexMap<String, String>>,
    pub accepted_resource_roles: Option<Vec<String>>,
    pub ip_address: Option<IpAddress>,
    pub residency: Option<Residency>,
    pub secrets: Option<IndexMap<String, SecretDef>>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds")]
    pub task_kill_grace_period_seconds: Option<i64>,
    /// `{"inactiveAfterSeconds", "expungeAfterSeconds"}`, or `"disabled"` (1.4+).
    pub unreachable_strategy: Option<Value>,
    pub kill_selection: Option<String>,
    pub version: Option<String>,
    pub version_info: Option<VersionInfo>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An environment value: a plain string or a reference to a secret (`{"secret": "name"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Plain(String),
    Secret { secret: String },
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    pub uri: String,
    pub extract: Option<bool>,
    pub executable: Option<bool>,
    pub cache: Option<bool>,
    pub output_file: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    #[serde(default, deserialize_with = "crate::play_reads::int")]
    pub port: Option<u32>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub labels: Option<IndexMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub docker: Option<Docker>,
    pub volumes: Option<Vec<Volume>>,
    /// The 1.5+ place of port mappings (`container.portMappings`).
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Docker {
    pub image: Option<String>,
    pub network: Option<String>,
    pub port_mappings: Option<Vec<PortMapping>>,
    pub privileged: Option<bool>,
    pub parameters: Option<Vec<KeyValue>>,
    pub force_pull_image: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(default, deserialize_with = "crate::play_reads::int")]
    pub container_port: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::int")]
    pub host_port: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::int")]
    pub service_port: Option<u32>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub labels: Option<IndexMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValue {
    pub key: String,
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub container_path: Option<String>,
    pub host_path: Option<String>,
    pub mode: Option<String>,
    pub persistent: Option<PersistentVolume>,
    pub external: Option<ExternalVolume>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolume {
    #[serde(default, deserialize_with = "crate::play_reads::long")]
    pub size: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalVolume {
    #[serde(default, deserialize_with = "crate::play_reads::long")]
    pub size: Option<u64>,
    pub name: Option<String>,
    pub provider: Option<String>,
    pub options: Option<IndexMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub protocol: Option<String>,
    pub path: Option<String>,
    #[serde(default, deserialize_with = "crate::play_reads::int_bits", serialize_with = "crate::play_reads::java_int")]
    pub port_index: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::int_bits", serialize_with = "crate::play_reads::java_int")]
    pub port: Option<u32>,
    pub port_name: Option<String>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds_bits", serialize_with = "crate::play_reads::java_int")]
    pub grace_period_seconds: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds_bits", serialize_with = "crate::play_reads::java_int")]
    pub interval_seconds: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds_bits", serialize_with = "crate::play_reads::java_int")]
    pub timeout_seconds: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds_bits", serialize_with = "crate::play_reads::java_int")]
    pub delay_seconds: Option<u32>,
    #[serde(default, deserialize_with = "crate::play_reads::int_bits", serialize_with = "crate::play_reads::java_int")]
    pub max_consecutive_failures: Option<u32>,
    pub ignore_http1xx: Option<bool>,
    pub command: Option<HealthCommand>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl HealthCheck {
    /// Health checks that Marathon itself runs (not Mesos): the "second wall" of large clusters.
    pub fn is_marathon_side(&self) -> bool {
        matches!(self.protocol.as_deref().unwrap_or("HTTP"), "HTTP" | "HTTPS" | "TCP")
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCommand {
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheck {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub path: Option<String>,
    pub port_name: Option<String>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds")]
    pub interval_seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::play_reads::seconds")]
    pub timeout_seconds: Option<u64>,
    #[serde(default, deserialize_with = "crate::play_reads::ints")]
    pub http_status_codes_for_ready: Option<Vec<u32>>,
    pub preserve_last_response: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    pub minimum_health_capacity: Option<f64>,
    pub maximum_over_capacity: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    pub groups: Option<Vec<String>>,
    pub labels: Option<IndexMap<String, String>>,
    pub discovery: Option<Discovery>,
    pub network_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    pub ports: Option<Vec<DiscoveryPort>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryPort {
    #[serde(default, deserialize_with = "crate::play_reads::int_bits", serialize_with = "crate::play_reads::java_int")]
    pub number: Option<u32>,
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub labels: Option<IndexMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Residency {
    #[serde(default, deserialize_with = "crate::play_reads::long")]
    pub relaunch_escalation_timeout_seconds: Option<i64>,
    pub task_lost_behavior: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDef {
    pub source: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub last_scaling_at: Option<String>,
    pub last_config_change_at: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Marathon's defaults (1.3.14 `AppDefinition`), applied when a field is absent.
impl App {
    pub fn parse(bytes: &[u8]) -> Result<App, ModelError> {
        crate::from_json(bytes)
    }

    /// The id resolved against the enclosing group (absolute ids ignore `base`).
    pub fn path_id(&self, base: &PathId) -> Result<PathId, ModelError> {
        let raw = self.id.as_deref().ok_or(ModelError::MissingField { field: "id" })?;
        Ok(PathId::resolve(raw, base))
    }

    pub fn instances(&self) -> u32 {
        self.instances.unwrap_or(1)
    }
    pub fn cpus(&self) -> f64 {
        self.cpus.unwrap_or(1.0)
    }
    pub fn mem(&self) -> f64 {
        self.mem.unwrap_or(128.0)
    }
    pub fn disk(&self) -> f64 {
        self.disk.unwrap_or(0.0)
    }
    pub fn gpus(&self) -> f64 {
        self.gpus.unwrap_or(0.0)
    }
    pub fn executor(&self) -> &str {
        self.executor.as_deref().unwrap_or("")
    }
    pub fn backoff_seconds(&self) -> i64 {
        self.backoff_seconds.unwrap_or(1)
    }
    pub fn backoff_factor(&self) -> f64 {
        self.backoff_factor.unwrap_or(1.15)
    }
    pub fn max_launch_delay_seconds(&self) -> i64 {
        self.max_launch_delay_seconds.unwrap_or(3600)
    }
    pub fn require_ports(&self) -> bool {
        self.require_ports.unwrap_or(false)
    }

    /// Number of environment variables (plain and secret references).
    pub fn env_count(&self) -> usize {
        self.env.as_ref().map_or(0, IndexMap::len)
    }

    /// Health checks Marathon runs itself (HTTP, HTTPS, TCP).
    pub fn marathon_health_checks(&self) -> usize {
        self.health_checks.as_ref().map_or(0, |hcs| hcs.iter().filter(|h| h.is_marathon_side()).count())
    }

    /// True when the app has persistent or external volumes (changes upgrade and residency defaults).
    pub fn has_persistent_volumes(&self) -> bool {
        self.container
            .as_ref()
            .and_then(|c| c.volumes.as_ref())
            .is_some_and(|vs| vs.iter().any(|v| v.persistent.is_some() || v.external.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields_and_round_trips() {
        let raw = br#"{"id":"/a","cmd":"x","fancy":{"deep":[1,2]},"container":{"type":"DOCKER","docker":{"image":"i","weird":true}}}"#;
        let app = App::parse(raw).unwrap();
        assert_eq!(app.extra["fancy"]["deep"][1], 2);
        let back: Value = serde_json::to_value(&app).unwrap();
        let orig: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn env_accepts_secret_references() {
        let app = App::parse(br#"{"id":"a","env":{"A":"1","B":{"secret":"s"}}}"#).unwrap();
        let env = app.env.unwrap();
        assert_eq!(env["A"], EnvValue::Plain("1".into()));
        assert_eq!(env["B"], EnvValue::Secret { secret: "s".into() });
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = App::parse(br#"{"id":"a","instances":"two"}"#).unwrap_err();
        assert!(err.to_string().contains("instances"), "{err}");
        let err = App::parse(br#"{"id":"a","env":{"A":3}}"#).unwrap_err();
        assert!(err.to_string().contains("env.A"), "{err}");
    }

    #[test]
    fn defaults_match_marathon() {
        let app = App::parse(br#"{"id":"a"}"#).unwrap();
        assert_eq!((app.instances(), app.cpus(), app.mem(), app.disk()), (1, 1.0, 128.0, 0.0));
        assert_eq!(app.backoff_seconds(), 1);
        assert_eq!(app.max_launch_delay_seconds(), 3600);
    }
}
