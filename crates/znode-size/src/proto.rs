//! Marathon's persisted protobuf messages, declared by hand from the field numbers of
//! `marathon.proto` (v1.3.14, plus the 1.4 additions) and Mesos' `mesos.proto`.
//!
//! Java's protobuf 2.x writes fields in field-number order and writes every field that was `set`,
//! even when it equals the default. Here a field is `Option` when Marathon sets it conditionally and
//! a plain value when Marathon always sets it; prost then writes exactly what Java writes, as long
//! as the struct fields are declared in tag order (they are).

#![allow(clippy::derive_partial_eq_without_eq)]

use prost::Message;

/// Every legacy znode value is wrapped in this.
#[derive(Clone, PartialEq, Message)]
pub struct ZkStoreEntry {
    #[prost(string, required, tag = "1")]
    pub name: String,
    #[prost(bytes = "vec", required, tag = "2")]
    pub uuid: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub value: Vec<u8>,
    #[prost(bool, optional, tag = "4")]
    pub compressed: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GroupDefinition {
    #[prost(string, required, tag = "1")]
    pub id: String,
    #[prost(string, required, tag = "2")]
    pub version: String,
    /// `apps` in 1.3; `deprecated_apps` in 1.4 (legacy store only).
    #[prost(message, repeated, tag = "3")]
    pub apps: Vec<ServiceDefinition>,
    #[prost(message, repeated, tag = "4")]
    pub groups: Vec<GroupDefinition>,
    #[prost(string, repeated, tag = "5")]
    pub dependencies: Vec<String>,
    /// 1.4+ new store: references to app nodes.
    #[prost(message, repeated, tag = "6")]
    pub app_refs: Vec<AppReference>,
    /// 1.4+ new store: references to pod nodes.
    #[prost(message, repeated, tag = "7")]
    pub pod_refs: Vec<AppReference>,
    /// 1.4 legacy store: pods as JSON.
    #[prost(message, repeated, tag = "8")]
    pub deprecated_pods: Vec<Json>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AppReference {
    #[prost(string, required, tag = "1")]
    pub id: String,
    #[prost(string, required, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Json {
    #[prost(string, required, tag = "1")]
    pub json: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeploymentPlanDefinition {
    #[prost(string, required, tag = "1")]
    pub id: String,
    /// `version` in 1.3, `timestamp` in 1.4.
    #[prost(string, optional, tag = "2")]
    pub version: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub original: Option<GroupDefinition>,
    #[prost(message, optional, tag = "5")]
    pub target: Option<GroupDefinition>,
    #[prost(string, optional, tag = "6")]
    pub original_root_version: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub target_root_version: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ServiceDefinition {
    #[prost(string, required, tag = "1")]
    pub id: String,
    #[prost(message, required, tag = "2")]
    pub cmd: CommandInfo,
    #[prost(uint32, required, tag = "3")]
    pub instances: u32,
    #[prost(message, repeated, tag = "4")]
    pub resources: Vec<Resource>,
    #[prost(message, repeated, tag = "7")]
    pub constraints: Vec<Constraint>,
    #[prost(string, required, tag = "8")]
    pub executor: String,
    #[prost(string, optional, tag = "11")]
    pub version: Option<String>,
    #[prost(message, repeated, tag = "12")]
    pub health_checks: Vec<HealthCheckDefinition>,
    #[prost(int64, optional, tag = "13")]
    pub backoff: Option<i64>,
    #[prost(double, optional, tag = "14")]
    pub backoff_factor: Option<f64>,
    #[prost(message, optional, tag = "15")]
    pub upgrade_strategy: Option<UpgradeStrategyDefinition>,
    #[prost(string, repeated, tag = "16")]
    pub dependencies: Vec<String>,
    #[prost(string, repeated, tag = "17")]
    pub store_urls: Vec<String>,
    #[prost(bool, optional, tag = "18")]
    pub require_ports: Option<bool>,
    #[prost(message, optional, tag = "19")]
    pub container: Option<ExtendedContainerInfo>,
    #[prost(message, repeated, tag = "20")]
    pub labels: Vec<Parameter>,
    #[prost(int64, optional, tag = "21")]
    pub max_launch_delay: Option<i64>,
    #[prost(message, optional, tag = "22")]
    pub accepted_resource_roles: Option<ResourceRoles>,
    #[prost(int64, optional, tag = "23")]
    pub last_scaling_at: Option<i64>,
    #[prost(int64, optional, tag = "24")]
    pub last_config_change_at: Option<i64>,
    #[prost(message, optional, tag = "25")]
    pub ip_address: Option<IpAddress>,
    #[prost(message, optional, tag = "26")]
    pub residency: Option<ResidencyDefinition>,
    #[prost(message, repeated, tag = "27")]
    pub port_definitions: Vec<Port>,
    #[prost(message, repeated, tag = "28")]
    pub readiness_check_definition: Vec<ReadinessCheckDefinition>,
    #[prost(message, repeated, tag = "29")]
    pub secrets: Vec<Secret>,
    #[prost(message, repeated, tag = "30")]
    pub env_var_references: Vec<EnvVarReference>,
    #[prost(int64, optional, tag = "31")]
    pub task_kill_grace_period: Option<i64>,
    /// 1.4+: always written.
    #[prost(message, optional, tag = "32")]
    pub unreachable_strategy: Option<UnreachableStrategy>,
    /// 1.4+: always written (`YoungestFirst = 1`, `OldestFirst = 2`).
    #[prost(int32, optional, tag = "33")]
    pub kill_selection: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CommandInfo {
    #[prost(message, repeated, tag = "1")]
    pub uris: Vec<CommandUri>,
    #[prost(message, optional, tag = "2")]
    pub environment: Option<Environment>,
    #[prost(string, optional, tag = "3")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub user: Option<String>,
    #[prost(bool, optional, tag = "6")]
    pub shell: Option<bool>,
    #[prost(string, repeated, tag = "7")]
    pub arguments: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CommandUri {
    #[prost(string, required, tag = "1")]
    pub value: String,
    #[prost(bool, optional, tag = "2")]
    pub executable: Option<bool>,
    #[prost(bool, optional, tag = "3")]
    pub extract: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    pub cache: Option<bool>,
    #[prost(string, optional, tag = "5")]
    pub output_file: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Environment {
    #[prost(message, repeated, tag = "1")]
    pub variables: Vec<Variable>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Variable {
    #[prost(string, required, tag = "1")]
    pub name: String,
    #[prost(string, required, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// `Value.Type`: SCALAR = 0.
    #[prost(int32, required, tag = "2")]
    pub kind: i32,
    #[prost(message, optional, tag = "3")]
    pub scalar: Option<Scalar>,
    #[prost(string, optional, tag = "6")]
    pub role: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Scalar {
    #[prost(double, required, tag = "1")]
    pub value: f64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Constraint {
    #[prost(string, required, tag = "1")]
    pub field: String,
    #[prost(int32, required, tag = "2")]
    pub operator: i32,
    #[prost(string, optional, tag = "3")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct HealthCheckDefinition {
    #[prost(int32, required, tag = "1")]
    pub protocol: i32,
    #[prost(uint32, optional, tag = "2")]
    pub port_index: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub grace_period_seconds: Option<u32>,
    #[prost(uint32, optional, tag = "4")]
    pub interval_seconds: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub timeout_seconds: Option<u32>,
    #[prost(string, optional, tag = "6")]
    pub path: Option<String>,
    #[prost(uint32, optional, tag = "7")]
    pub max_consecutive_failures: Option<u32>,
    #[prost(message, optional, tag = "8")]
    pub command: Option<CommandInfo>,
    #[prost(bool, optional, tag = "9")]
    pub ignore_http1xx: Option<bool>,
    #[prost(uint32, optional, tag = "10")]
    pub port: Option<u32>,
    /// 1.4+.
    #[prost(uint32, optional, tag = "11")]
    pub delay_seconds: Option<u32>,
    /// 1.4+.
    #[prost(string, optional, tag = "12")]
    pub port_name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReadinessCheckDefinition {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub protocol: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub path: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub port_name: Option<String>,
    #[prost(uint64, optional, tag = "5")]
    pub interval_millis: Option<u64>,
    #[prost(uint64, optional, tag = "6")]
    pub timeout_millis: Option<u64>,
    #[prost(uint32, repeated, packed = "false", tag = "7")]
    pub http_status_code_for_ready: Vec<u32>,
    #[prost(bool, optional, tag = "8")]
    pub preserve_last_response: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct UpgradeStrategyDefinition {
    #[prost(double, required, tag = "1")]
    pub minimum_health_capacity: f64,
    #[prost(double, optional, tag = "2")]
    pub maximum_over_capacity: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceRoles {
    #[prost(string, repeated, tag = "1")]
    pub role: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct IpAddress {
    #[prost(string, repeated, tag = "1")]
    pub groups: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub labels: Vec<Label>,
    #[prost(message, optional, tag = "3")]
    pub discovery_info: Option<DiscoveryInfo>,
    #[prost(string, optional, tag = "4")]
    pub network_name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DiscoveryInfo {
    #[prost(message, repeated, tag = "1")]
    pub ports: Vec<Port>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Port {
    #[prost(uint32, required, tag = "1")]
    pub number: u32,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
    #[prost(message, optional, tag = "5")]
    pub labels: Option<Labels>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Labels {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResidencyDefinition {
    #[prost(int64, optional, tag = "1")]
    pub relaunch_escalation_timeout_seconds: Option<i64>,
    #[prost(int32, optional, tag = "2")]
    pub task_lost_behavior: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Secret {
    #[prost(string, required, tag = "1")]
    pub id: String,
    #[prost(string, required, tag = "2")]
    pub source: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct EnvVarReference {
    #[prost(int32, required, tag = "1")]
    pub kind: i32,
    #[prost(string, required, tag = "2")]
    pub name: String,
    #[prost(message, optional, tag = "3")]
    pub secret_ref: Option<EnvVarSecretRef>,
}

#[derive(Clone, PartialEq, Message)]
pub struct EnvVarSecretRef {
    #[prost(string, required, tag = "1")]
    pub secret_id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct UnreachableStrategy {
    #[prost(uint64, optional, tag = "1")]
    pub inactive_after_seconds: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    pub expunge_after_seconds: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExtendedContainerInfo {
    /// `mesos.ContainerInfo.Type`: DOCKER = 1, MESOS = 2.
    #[prost(int32, required, tag = "1")]
    pub kind: i32,
    #[prost(message, repeated, tag = "2")]
    pub volumes: Vec<Volume>,
    #[prost(message, optional, tag = "3")]
    pub docker: Option<DockerInfo>,
    #[prost(message, optional, tag = "4")]
    pub mesos_docker: Option<MesosDockerInfo>,
    #[prost(message, optional, tag = "5")]
    pub mesos_appc: Option<MesosAppCInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DockerInfo {
    #[prost(string, required, tag = "1")]
    pub image: String,
    /// HOST = 1, BRIDGE = 2, NONE = 3, USER = 4.
    #[prost(int32, optional, tag = "2")]
    pub network: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub port_mappings: Vec<DockerPortMapping>,
    #[prost(bool, optional, tag = "4")]
    pub privileged: Option<bool>,
    #[prost(message, repeated, tag = "5")]
    pub parameters: Vec<Parameter>,
    #[prost(bool, optional, tag = "6")]
    pub force_pull_image: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DockerPortMapping {
    #[prost(uint32, optional, tag = "1")]
    pub host_port: Option<u32>,
    #[prost(uint32, required, tag = "2")]
    pub container_port: u32,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub name: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub labels: Vec<Label>,
    #[prost(uint32, optional, tag = "100")]
    pub service_port: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MesosDockerInfo {
    #[prost(string, required, tag = "1")]
    pub image: String,
    #[prost(message, optional, tag = "2")]
    pub credential: Option<Credential>,
    #[prost(bool, optional, tag = "3")]
    pub force_pull_image: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Credential {
    #[prost(string, required, tag = "1")]
    pub principal: String,
    #[prost(string, optional, tag = "2")]
    pub secret: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MesosAppCInfo {
    #[prost(string, required, tag = "1")]
    pub image: String,
    #[prost(string, optional, tag = "2")]
    pub id: Option<String>,
    #[prost(message, repeated, tag = "3")]
    pub labels: Vec<Label>,
    #[prost(bool, optional, tag = "4")]
    pub force_pull_image: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Volume {
    #[prost(string, required, tag = "1")]
    pub container_path: String,
    #[prost(string, optional, tag = "2")]
    pub host_path: Option<String>,
    /// RW = 1, RO = 2.
    #[prost(int32, required, tag = "3")]
    pub mode: i32,
    #[prost(message, optional, tag = "5")]
    pub persistent: Option<PersistentVolumeInfo>,
    #[prost(message, optional, tag = "6")]
    pub external: Option<ExternalVolumeInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PersistentVolumeInfo {
    #[prost(uint64, required, tag = "1")]
    pub size: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExternalVolumeInfo {
    #[prost(uint64, optional, tag = "1")]
    pub size: Option<u64>,
    #[prost(string, required, tag = "2")]
    pub name: String,
    #[prost(string, required, tag = "3")]
    pub provider: String,
    #[prost(message, repeated, tag = "4")]
    pub options: Vec<Label>,
}

/// Length of a protobuf message once encoded.
pub fn encoded_len<M: Message>(m: &M) -> usize {
    m.encoded_len()
}
