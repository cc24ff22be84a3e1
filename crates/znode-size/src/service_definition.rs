//! An app as `AppDefinition.toProto` persists it (Marathon 1.3.14, with the 1.4 additions).
//!
//! The input is the app's v2 JSON as `GET /v2/groups` returns it or as a client sends it; the
//! defaults that Marathon's JSON reader fills in (facts §4.1) are applied here, so both give the same
//! bytes. Collections Marathon keeps in Scala maps are written in Scala's iteration order
//! ([`crate::scala_order`]); collections kept in sets of Java objects whose hash is not stable
//! across JVM runs (constraints, health checks) are written in the order given.

use marathon_model::app::{Container, EnvValue, HealthCheck, PortMapping, Volume};
use marathon_model::{App, PathId, Timestamp};

use crate::proto::*;
use crate::scala_order;

/// Which Marathon's `toProto` to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AppFlavor {
    /// 1.3.x: no `unreachableStrategy` / `killSelection`.
    V13,
    /// 1.4.x: adds fields 32 and 33 to every app.
    V14,
}

/// Resource roles default written by `ScalarResource`.
const DEFAULT_ROLE: &str = "*";
const SCALAR: i32 = 0;

/// Builds the `ServiceDefinition` Marathon persists for `app` (whose `id` must be absolute).
pub fn service_definition(app: &App, flavor: AppFlavor) -> ServiceDefinition {
    let id = app.path_id(&PathId::root()).unwrap_or_else(|_| PathId::root());
    let port_definitions = port_definitions(app);
    let has_ports = !port_definitions.is_empty() || docker_port_mappings(app).is_some();
    ServiceDefinition {
        id: id.to_string(),
        cmd: command_info(app),
        instances: app.instances(),
        resources: vec![
            scalar("cpus", app.cpus()),
            scalar("mem", app.mem()),
            scalar("disk", app.disk()),
            scalar("gpus", app.gpus()),
        ],
        constraints: app.constraints.iter().flatten().filter_map(|c| constraint(c)).collect(),
        executor: app.executor().to_string(),
        version: Some(version_string(app)),
        health_checks: app
            .health_checks
            .iter()
            .flatten()
            .map(|hc| health_check(hc, has_ports, flavor))
            .collect(),
        backoff: Some(app.backoff_seconds() * 1000),
        backoff_factor: Some(app.backoff_factor()),
        upgrade_strategy: Some(upgrade_strategy(app)),
        dependencies: dependencies(app, &id),
        store_urls: app.store_urls.clone().unwrap_or_default(),
        require_ports: Some(app.require_ports()),
        container: app.container.as_ref().map(container),
        labels: in_scala_order(app.labels.as_ref())
            .map(|(k, v)| Parameter { key: k.clone(), value: v.clone() })
            .collect(),
        max_launch_delay: Some(app.max_launch_delay_seconds() * 1000),
        accepted_resource_roles: accepted_roles(app, flavor),
        last_scaling_at: full_version_info(app).map(|(scaling, _)| scaling),
        last_config_change_at: full_version_info(app).map(|(_, config)| config),
        ip_address: app.ip_address.as_ref().map(ip_address),
        residency: residency(app),
        port_definitions,
        readiness_check_definition: app.readiness_checks.iter().flatten().map(readiness_check).collect(),
        secrets: in_scala_order(app.secrets.as_ref())
            .map(|(id, s)| Secret { id: id.clone(), source: s.source.clone().unwrap_or_default() })
            .collect(),
        env_var_references: in_scala_order(app.env.as_ref())
            .filter_map(|(name, value)| match value {
                EnvValue::Secret { secret } => Some(EnvVarReference {
                    kind: 1,
                    name: name.clone(),
                    secret_ref: Some(EnvVarSecretRef { secret_id: secret.clone() }),
                }),
                EnvValue::Plain(_) => None,
            })
            .collect(),
        task_kill_grace_period: app.task_kill_grace_period_seconds.map(|s| s * 1000),
        unreachable_strategy: (flavor == AppFlavor::V14).then(|| unreachable_strategy(app)),
        kill_selection: (flavor == AppFlavor::V14).then(|| kill_selection(app)),
    }
}

/// Entries of a Scala `Map[String, _]` in Scala's iteration order.
fn in_scala_order<V>(map: Option<&indexmap::IndexMap<String, V>>) -> impl Iterator<Item = (&String, &V)> {
    let entries: Vec<(&String, &V)> = map.map(|m| m.iter().collect()).unwrap_or_default();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let order = scala_order::string_key_order(&keys);
    order.into_iter().map(move |i| entries[i])
}

fn scalar(name: &str, value: f64) -> Resource {
    Resource {
        name: name.to_string(),
        kind: SCALAR,
        scalar: Some(Scalar { value }),
        role: Some(DEFAULT_ROLE.to_string()),
    }
}

/// `TaskBuilder.commandInfo` without a task: the environment is always set (plain vars only).
fn command_info(app: &App) -> CommandInfo {
    let variables = in_scala_order(app.env.as_ref())
        .filter_map(|(name, value)| match value {
            EnvValue::Plain(v) => Some(Variable { name: name.clone(), value: v.clone() }),
            EnvValue::Secret { .. } => None,
        })
        .collect();
    let mut info = CommandInfo {
        uris: fetch_uris(app),
        environment: Some(Environment { variables }),
        value: None,
        user: app.user.clone(),
        shell: None,
        arguments: Vec::new(),
    };
    match app.cmd.as_deref() {
        Some(cmd) if !cmd.is_empty() => info.value = Some(cmd.to_string()),
        _ => info.shell = Some(false),
    }
    if let Some(args) = &app.args {
        info.shell = Some(false);
        info.arguments = args.clone();
        if app.container.is_none() {
            if let Some(first) = args.first() {
                info.value = Some(first.clone());
            }
        }
    }
    info
}

/// `fetch` when given, else one URI per entry of `uris`, extracting known archive types.
fn fetch_uris(app: &App) -> Vec<CommandUri> {
    let fetch = app.fetch.as_deref().unwrap_or(&[]);
    if !fetch.is_empty() {
        return fetch
            .iter()
            .map(|f| CommandUri {
                value: f.uri.clone(),
                executable: Some(f.executable.unwrap_or(false)),
                extract: Some(f.extract.unwrap_or(true)),
                cache: Some(f.cache.unwrap_or(false)),
                output_file: f.output_file.clone(),
            })
            .collect();
    }
    app.uris
        .iter()
        .flatten()
        .map(|uri| CommandUri {
            value: uri.clone(),
            executable: Some(false),
            extract: Some(is_archive(uri)),
            cache: Some(false),
            output_file: None,
        })
        .collect()
}

fn is_archive(uri: &str) -> bool {
    [".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"].iter().any(|ext| uri.ends_with(ext))
}

fn constraint(raw: &[String]) -> Option<Constraint> {
    let operator = match raw.get(1)?.as_str() {
        "UNIQUE" => 0,
        "LIKE" => 1,
        "CLUSTER" => 2,
        "GROUP_BY" => 3,
        "UNLIKE" => 4,
        "MAX_PER" => 5,
        "IS" => 6,
        _ => return None,
    };
    Some(Constraint { field: raw[0].clone(), operator, value: raw.get(2).cloned() })
}

fn version_string(app: &App) -> String {
    app.version
        .as_deref()
        .and_then(|v| Timestamp::parse(v).ok())
        .unwrap_or_else(|| Timestamp::from_millis(0))
        .to_joda()
}

/// `FullVersionInfo` (both timestamps known) adds fields 23 and 24 as epoch milliseconds.
fn full_version_info(app: &App) -> Option<(i64, i64)> {
    let info = app.version_info.as_ref()?;
    let scaling = Timestamp::parse(info.last_scaling_at.as_deref()?).ok()?;
    let config = Timestamp::parse(info.last_config_change_at.as_deref()?).ok()?;
    Some((scaling.millis(), config.millis()))
}

fn health_check(hc: &HealthCheck, app_has_ports: bool, flavor: AppFlavor) -> HealthCheckDefinition {
    let protocol_name = hc.protocol.as_deref().unwrap_or("HTTP");
    let protocol = match protocol_name {
        "TCP" => 1,
        "COMMAND" => 2,
        "HTTPS" => 3,
        "MESOS_HTTP" => 4,
        "MESOS_HTTPS" => 5,
        "MESOS_TCP" => 6,
        _ => 0,
    };
    // Marathon's reader adds portIndex 0 when the app has ports and the check names none.
    let needs_port_index = hc.port.is_none() && hc.port_index.is_none() && hc.port_name.is_none() && protocol != 2;
    let port_index = hc.port_index.or((app_has_ports && needs_port_index).then_some(0));
    let runs_on_mesos = matches!(protocol, 2 | 4 | 5 | 6);
    HealthCheckDefinition {
        protocol,
        port_index,
        grace_period_seconds: Some(hc.grace_period_seconds.unwrap_or(300)),
        interval_seconds: Some(hc.interval_seconds.unwrap_or(60)),
        timeout_seconds: Some(hc.timeout_seconds.unwrap_or(20)),
        path: hc.path.clone(),
        max_consecutive_failures: Some(hc.max_consecutive_failures.unwrap_or(3)),
        command: hc.command.as_ref().map(|c| CommandInfo {
            value: c.value.clone(),
            ..CommandInfo::default()
        }),
        ignore_http1xx: Some(hc.ignore_http1xx.unwrap_or(false)),
        port: hc.port,
        delay_seconds: (flavor == AppFlavor::V14 && runs_on_mesos).then(|| hc.delay_seconds.unwrap_or(15)),
        port_name: if flavor == AppFlavor::V14 { hc.port_name.clone() } else { None },
    }
}

fn upgrade_strategy(app: &App) -> UpgradeStrategyDefinition {
    let resident = app.residency.is_some() || app.has_persistent_volumes();
    let (default_min, default_max) = if resident { (0.5, 0.0) } else { (1.0, 1.0) };
    match &app.upgrade_strategy {
        Some(s) => UpgradeStrategyDefinition {
            minimum_health_capacity: s.minimum_health_capacity.unwrap_or(1.0),
            maximum_over_capacity: Some(s.maximum_over_capacity.unwrap_or(1.0)),
        },
        None => UpgradeStrategyDefinition {
            minimum_health_capacity: default_min,
            maximum_over_capacity: Some(default_max),
        },
    }
}

/// Dependencies are a `Set[PathId]` resolved against the app's group, written as
/// `dependencies.map(_.toString)`: a new `Set[String]`, so Scala's string order from 5 on.
fn dependencies(app: &App, id: &PathId) -> Vec<String> {
    let deps: Vec<PathId> = app.dependencies.iter().flatten().map(|d| PathId::resolve(d, &id.parent())).collect();
    let segments: Vec<Vec<&str>> =
        deps.iter().map(|d| d.segments().iter().map(String::as_str).collect()).collect();
    let keys: Vec<(&[&str], bool)> = segments.iter().map(|s| (s.as_slice(), true)).collect();
    scala_order::path_id_set_as_strings_order(&keys).into_iter().map(|i| deps[i].to_string()).collect()
}

fn accepted_roles(app: &App, flavor: AppFlavor) -> Option<ResourceRoles> {
    let roles = app.accepted_resource_roles.as_ref()?;
    if flavor == AppFlavor::V14 && roles.is_empty() {
        return None;
    }
    let keys: Vec<&str> = roles.iter().map(String::as_str).collect();
    let order = scala_order::string_key_order(&keys);
    Some(ResourceRoles { role: order.into_iter().map(|i| roles[i].clone()).collect() })
}

/// Port definitions as persisted: none with `ipAddress`; else `portDefinitions`, else one per
/// `ports` entry, else Marathon's default single dynamic port. Docker port mappings, when in force,
/// decide the count: Marathon pairs the definitions with the service ports (`zipAll`).
fn port_definitions(app: &App) -> Vec<Port> {
    if app.ip_address.is_some() {
        return Vec::new();
    }
    let mut defs: Vec<Port> = match (&app.port_definitions, &app.ports) {
        (Some(defs), _) => defs
            .iter()
            .map(|d| Port {
                number: d.port.unwrap_or(0),
                name: d.name.clone(),
                protocol: Some(d.protocol.clone().unwrap_or_else(|| "tcp".into())),
                labels: labels_message(d.labels.as_ref()),
            })
            .collect(),
        (None, Some(ports)) => ports.iter().map(|&p| tcp_port(p)).collect(),
        (None, None) => vec![tcp_port(0)],
    };
    if defs.is_empty() {
        return defs;
    }
    if let Some(mappings) = docker_port_mappings(app) {
        let service_ports: Vec<u32> = mappings.iter().map(|m| m.service_port.unwrap_or(0)).collect();
        while defs.len() < service_ports.len() {
            defs.push(tcp_port(0));
        }
        for (i, def) in defs.iter_mut().enumerate() {
            def.number = service_ports.get(i).copied().unwrap_or(0);
        }
    }
    defs
}

fn tcp_port(number: u32) -> Port {
    Port { number, name: None, protocol: Some("tcp".into()), labels: None }
}

fn labels_message(labels: Option<&indexmap::IndexMap<String, String>>) -> Option<Labels> {
    let labels = label_list(labels);
    (!labels.is_empty()).then_some(Labels { labels })
}

fn label_list(labels: Option<&indexmap::IndexMap<String, String>>) -> Vec<Label> {
    in_scala_order(labels).map(|(k, v)| Label { key: k.clone(), value: Some(v.clone()) }).collect()
}

/// Docker port mappings Marathon keeps: only in BRIDGE or USER network mode.
fn docker_port_mappings(app: &App) -> Option<&[PortMapping]> {
    let container = app.container.as_ref()?;
    if container_kind(container) != ContainerKind::Docker {
        return None;
    }
    let docker = container.docker.as_ref()?;
    match docker.network.as_deref() {
        Some("BRIDGE") | Some("USER") => docker.port_mappings.as_deref(),
        _ => None,
    }
}

#[derive(PartialEq)]
enum ContainerKind {
    Docker,
    MesosDocker,
    MesosAppc,
    Mesos,
}

fn container_kind(c: &Container) -> ContainerKind {
    let is_docker_type = c.kind.as_deref().unwrap_or("DOCKER") == "DOCKER";
    match (is_docker_type, c.docker.is_some(), c.extra.contains_key("appc")) {
        (true, _, _) => ContainerKind::Docker,
        (false, true, _) => ContainerKind::MesosDocker,
        (false, false, true) => ContainerKind::MesosAppc,
        _ => ContainerKind::Mesos,
    }
}

fn container(c: &Container) -> ExtendedContainerInfo {
    let volumes = c.volumes.iter().flatten().map(volume).collect();
    let mut info = ExtendedContainerInfo { kind: 2, volumes, docker: None, mesos_docker: None, mesos_appc: None };
    let docker = c.docker.clone().unwrap_or_default();
    match container_kind(c) {
        ContainerKind::Docker => {
            info.kind = 1;
            let network = docker.network.as_deref().map(docker_network);
            let keep_mappings = matches!(network, Some(2) | Some(4));
            let bridge = network == Some(2);
            info.docker = Some(DockerInfo {
                image: docker.image.clone().unwrap_or_default(),
                network,
                port_mappings: if keep_mappings {
                    docker.port_mappings.iter().flatten().map(|m| port_mapping(m, bridge)).collect()
                } else {
                    Vec::new()
                },
                privileged: Some(docker.privileged.unwrap_or(false)),
                parameters: docker
                    .parameters
                    .iter()
                    .flatten()
                    .map(|p| Parameter { key: p.key.clone(), value: p.value.clone().unwrap_or_default() })
                    .collect(),
                force_pull_image: Some(docker.force_pull_image.unwrap_or(false)),
            });
        }
        ContainerKind::MesosDocker => {
            let credential = docker.extra.get("credential").and_then(|c| {
                Some(Credential {
                    principal: c.get("principal")?.as_str()?.to_string(),
                    secret: c.get("secret").and_then(|s| s.as_str()).map(str::to_string),
                })
            });
            info.mesos_docker = Some(MesosDockerInfo {
                image: docker.image.clone().unwrap_or_default(),
                credential,
                force_pull_image: Some(docker.force_pull_image.unwrap_or(false)),
            });
        }
        ContainerKind::MesosAppc => {
            let appc = &c.extra["appc"];
            let labels: Option<indexmap::IndexMap<String, String>> =
                appc.get("labels").and_then(|l| serde_json::from_value(l.clone()).ok());
            info.mesos_appc = Some(MesosAppCInfo {
                image: appc.get("image").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
                id: appc.get("id").and_then(|v| v.as_str()).map(str::to_string),
                labels: label_list(labels.as_ref()),
                force_pull_image: Some(appc.get("forcePullImage").and_then(|v| v.as_bool()).unwrap_or(false)),
            });
        }
        ContainerKind::Mesos => {}
    }
    info
}

fn docker_network(name: &str) -> i32 {
    match name {
        "BRIDGE" => 2,
        "NONE" => 3,
        "USER" => 4,
        _ => 1,
    }
}

fn port_mapping(m: &PortMapping, bridge: bool) -> DockerPortMapping {
    DockerPortMapping {
        host_port: m.host_port.or(bridge.then_some(0)),
        container_port: m.container_port.unwrap_or(0),
        protocol: Some(m.protocol.clone().unwrap_or_else(|| "tcp".into())),
        name: m.name.clone(),
        labels: label_list(m.labels.as_ref()),
        service_port: Some(m.service_port.unwrap_or(0)),
    }
}

fn volume(v: &Volume) -> crate::proto::Volume {
    let mode = if v.mode.as_deref() == Some("RO") { 2 } else { 1 };
    let container_path = v.container_path.clone().unwrap_or_default();
    if let Some(p) = &v.persistent {
        return crate::proto::Volume {
            container_path,
            host_path: None,
            mode,
            persistent: Some(PersistentVolumeInfo { size: p.size.unwrap_or(0) }),
            external: None,
        };
    }
    if let Some(e) = &v.external {
        return crate::proto::Volume {
            container_path,
            host_path: None,
            mode,
            persistent: None,
            external: Some(ExternalVolumeInfo {
                size: e.size,
                name: e.name.clone().unwrap_or_default(),
                provider: e.provider.clone().unwrap_or_default(),
                options: label_list(e.options.as_ref()),
            }),
        };
    }
    crate::proto::Volume { container_path, host_path: Some(v.host_path.clone().unwrap_or_default()), mode, persistent: None, external: None }
}

fn ip_address(ip: &marathon_model::app::IpAddress) -> IpAddress {
    let ports = ip
        .discovery
        .as_ref()
        .and_then(|d| d.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .map(|p| Port {
                    number: p.number.unwrap_or(0),
                    name: Some(p.name.clone().unwrap_or_default()),
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "tcp".into())),
                    labels: labels_message(p.labels.as_ref()),
                })
                .collect()
        })
        .unwrap_or_default();
    IpAddress {
        groups: ip.groups.clone().unwrap_or_default(),
        labels: label_list(ip.labels.as_ref()),
        discovery_info: Some(DiscoveryInfo { ports }),
        network_name: ip.network_name.clone(),
    }
}

/// Explicit residency, or Marathon's default for apps with persistent volumes.
fn residency(app: &App) -> Option<ResidencyDefinition> {
    let behavior = |name: Option<&str>| if name == Some("RELAUNCH_AFTER_TIMEOUT") { 0 } else { 1 };
    match &app.residency {
        Some(r) => Some(ResidencyDefinition {
            relaunch_escalation_timeout_seconds: Some(r.relaunch_escalation_timeout_seconds.unwrap_or(3600)),
            task_lost_behavior: Some(behavior(r.task_lost_behavior.as_deref())),
        }),
        None if has_persistent(app) => Some(ResidencyDefinition {
            relaunch_escalation_timeout_seconds: Some(3600),
            task_lost_behavior: Some(1),
        }),
        None => None,
    }
}

fn has_persistent(app: &App) -> bool {
    app.container
        .as_ref()
        .and_then(|c| c.volumes.as_ref())
        .is_some_and(|vs| vs.iter().any(|v| v.persistent.is_some()))
}

fn readiness_check(rc: &marathon_model::app::ReadinessCheck) -> ReadinessCheckDefinition {
    ReadinessCheckDefinition {
        name: Some(rc.name.clone().unwrap_or_else(|| "readinessCheck".into())),
        protocol: Some(if rc.protocol.as_deref() == Some("HTTPS") { 1 } else { 0 }),
        path: Some(rc.path.clone().unwrap_or_else(|| "/".into())),
        port_name: Some(rc.port_name.clone().unwrap_or_else(|| "http-api".into())),
        interval_millis: Some(rc.interval_seconds.unwrap_or(30) * 1000),
        timeout_millis: Some(rc.timeout_seconds.unwrap_or(10) * 1000),
        http_status_code_for_ready: status_codes_in_scala_order(rc.http_status_codes_for_ready.as_deref()),
        preserve_last_response: Some(rc.preserve_last_response.unwrap_or(false)),
    }
}

/// `httpStatusCodesForReady` is a `Set[Int]` (an `Int`'s `##` is its value); default `{200}`.
fn status_codes_in_scala_order(codes: Option<&[u32]>) -> Vec<u32> {
    let mut distinct: Vec<u32> = Vec::new();
    for &code in codes.unwrap_or(&[200]) {
        if !distinct.contains(&code) {
            distinct.push(code);
        }
    }
    let hashes: Vec<i32> = distinct.iter().map(|&c| c as i32).collect();
    scala_order::set_iteration_order(&hashes).into_iter().map(|i| distinct[i]).collect()
}

/// 1.4: `{"inactiveAfterSeconds","expungeAfterSeconds"}` (defaults 0/0 in 1.4.13) or `"disabled"`
/// (an empty message).
fn unreachable_strategy(app: &App) -> UnreachableStrategy {
    match &app.unreachable_strategy {
        Some(serde_json::Value::String(s)) if s == "disabled" => UnreachableStrategy::default(),
        Some(v) => UnreachableStrategy {
            inactive_after_seconds: Some(v.get("inactiveAfterSeconds").and_then(|x| x.as_u64()).unwrap_or(0)),
            expunge_after_seconds: Some(v.get("expungeAfterSeconds").and_then(|x| x.as_u64()).unwrap_or(0)),
        },
        None => UnreachableStrategy { inactive_after_seconds: Some(0), expunge_after_seconds: Some(0) },
    }
}

fn kill_selection(app: &App) -> i32 {
    if app.kill_selection.as_deref() == Some("OLDEST_FIRST") {
        2
    } else {
        1
    }
}
