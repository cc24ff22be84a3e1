//! An app as Marathon stores and returns it: every default filled in (facts §4.1), legacy `uris` and
//! `ports` turned into `fetch` and `portDefinitions`, ids resolved, service ports assigned.
//!
//! Fields Marathon's model does not hold (e.g. unknown keys) are kept in `extra`: the simulator
//! returns them, and the size engine ignores them as Marathon's persistence does.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::{json, Value};

use super::Flavour;
use crate::app_diff::app_diff;
use crate::app::{FetchUri, HealthCheck, PortDefinition, PortMapping, ReadinessCheck, Residency, UpgradeStrategy};
use crate::{App, AppList, Group, PathId, SharedApp};

/// First and last service port Marathon assigns (`--local_port_min`, `--local_port_max`).
pub const LOCAL_PORT_MIN: u32 = 10000;
pub const LOCAL_PORT_MAX: u32 = 20000;

/// `FetchUri` for a plain `uris` entry: extract when the extension is an archive.
pub fn fetch_from_uri(uri: &str) -> FetchUri {
    let archive = [".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"];
    FetchUri {
        uri: uri.to_string(),
        extract: Some(archive.iter().any(|ext| uri.ends_with(ext))),
        executable: Some(false),
        cache: Some(false),
        output_file: None,
        extra: Default::default(),
    }
}

fn network(app: &App) -> Option<&str> {
    app.container.as_ref()?.docker.as_ref()?.network.as_deref()
}

/// True when the app's Docker container maps ports (BRIDGE or USER networking).
pub fn uses_port_mappings(app: &App) -> bool {
    matches!(network(app), Some("BRIDGE") | Some("USER"))
}

/// The app with Marathon's defaults filled in, its id and dependencies resolved against `parent`.
pub fn canonical_app(mut app: App, parent: &PathId, flavour: Flavour) -> App {
    if let Some(id) = app.id.as_deref() {
        app.id = Some(PathId::resolve(id, parent).to_string());
    }
    let own_parent = app.id.as_deref().map(|id| PathId::parse(id).parent()).unwrap_or_else(|| parent.clone());
    let persistent = app.has_persistent_volumes();
    app.env.get_or_insert_with(IndexMap::new);
    app.instances.get_or_insert(1);
    app.cpus.get_or_insert(1.0);
    app.mem.get_or_insert(128.0);
    app.disk.get_or_insert(0.0);
    app.gpus.get_or_insert(0.0);
    app.executor.get_or_insert_with(String::new);
    app.constraints.get_or_insert_with(Vec::new);
    if app.fetch.is_none() {
        app.fetch = Some(app.uris.as_deref().unwrap_or(&[]).iter().map(|u| fetch_from_uri(u)).collect());
    } else if let Some(fetch) = app.fetch.as_mut() {
        for f in fetch.iter_mut() {
            f.extract.get_or_insert(true);
            f.executable.get_or_insert(false);
            f.cache.get_or_insert(false);
        }
    }
    app.uris = Some(app.fetch.as_deref().unwrap_or(&[]).iter().map(|f| f.uri.clone()).collect());
    app.store_urls.get_or_insert_with(Vec::new);
    app.backoff_seconds.get_or_insert(1);
    app.backoff_factor.get_or_insert(1.15);
    app.max_launch_delay_seconds.get_or_insert(3600);
    if let Some(deps) = app.dependencies.as_mut() {
        for d in deps.iter_mut() {
            *d = PathId::resolve(d, &own_parent).to_string();
        }
    } else {
        app.dependencies = Some(Vec::new());
    }
    let us = app.upgrade_strategy.get_or_insert_with(UpgradeStrategy::default);
    let (min_h, max_o) = if persistent { (0.5, 0.0) } else { (1.0, 1.0) };
    us.minimum_health_capacity.get_or_insert(min_h);
    us.maximum_over_capacity.get_or_insert(max_o);
    app.labels.get_or_insert_with(IndexMap::new);
    app.secrets.get_or_insert_with(IndexMap::new);
    if persistent && app.residency.is_none() {
        app.residency = Some(Residency {
            relaunch_escalation_timeout_seconds: Some(3600),
            task_lost_behavior: Some("WAIT_FOREVER".into()),
            extra: Default::default(),
        });
    }
    // Container defaults.
    let mapped = uses_port_mappings(&app);
    if let Some(container) = app.container.as_mut() {
        container.kind.get_or_insert_with(|| "DOCKER".into());
        container.volumes.get_or_insert_with(Vec::new);
        if let Some(docker) = container.docker.as_mut() {
            docker.privileged.get_or_insert(false);
            docker.force_pull_image.get_or_insert(false);
            docker.parameters.get_or_insert_with(Vec::new);
            let bridge = docker.network.as_deref() == Some("BRIDGE");
            if mapped {
                for pm in docker.port_mappings.get_or_insert_with(Vec::new).iter_mut() {
                    canonical_mapping(pm, bridge);
                }
            } else if docker.port_mappings.is_some() {
                // Marathon drops port mappings unless the network maps ports.
                docker.port_mappings = None;
            }
        }
    }
    // Ports: `ports` → portDefinitions; the default is one random tcp port, none with ipAddress.
    if app.ip_address.is_none() {
        let defs = match (app.port_definitions.take(), app.ports.take()) {
            (Some(defs), _) => defs,
            (None, Some(ports)) => ports.iter().map(|&p| port_def(p)).collect(),
            (None, None) => vec![port_def(0)],
        };
        let mut defs: Vec<PortDefinition> = defs
            .into_iter()
            .map(|mut d| {
                d.port.get_or_insert(0);
                d.protocol.get_or_insert_with(|| "tcp".into());
                d.labels.get_or_insert_with(IndexMap::new);
                d
            })
            .collect();
        if mapped {
            // One port definition per port mapping (assignDynamicServicePorts' zipAll).
            let n = mapping_count(&app);
            defs.resize_with(n, || port_def(0));
        }
        app.port_definitions = Some(defs);
        app.require_ports.get_or_insert(false);
        app.ports = Some(Vec::new()); // filled with the service ports below
    } else {
        app.ports = None;
        app.port_definitions = None;
        app.require_ports = None;
    }
    sync_ports(&mut app);
    // Health and readiness checks.
    let has_ports = app.port_definitions.as_ref().is_some_and(|d| !d.is_empty()) || mapping_count(&app) > 0;
    if let Some(hcs) = app.health_checks.as_mut() {
        for hc in hcs.iter_mut() {
            canonical_health_check(hc, has_ports);
        }
    } else {
        app.health_checks = Some(Vec::new());
    }
    if let Some(rcs) = app.readiness_checks.as_mut() {
        for rc in rcs.iter_mut() {
            canonical_readiness_check(rc);
        }
    } else {
        app.readiness_checks = Some(Vec::new());
    }
    if flavour == Flavour::V14 {
        if app.unreachable_strategy.is_none() {
            app.unreachable_strategy = Some(if app.residency.is_some() || persistent {
                Value::String("disabled".into())
            } else {
                json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
            });
        }
        app.kill_selection.get_or_insert_with(|| "YOUNGEST_FIRST".into());
    }
    app
}

fn port_def(port: u32) -> PortDefinition {
    PortDefinition {
        port: Some(port),
        protocol: Some("tcp".into()),
        name: None,
        labels: Some(IndexMap::new()),
        extra: Default::default(),
    }
}

fn canonical_mapping(pm: &mut PortMapping, bridge: bool) {
    pm.container_port.get_or_insert(0);
    pm.service_port.get_or_insert(0);
    pm.protocol.get_or_insert_with(|| "tcp".into());
    pm.labels.get_or_insert_with(IndexMap::new);
    if bridge {
        pm.host_port.get_or_insert(0);
    }
}

fn mapping_count(app: &App) -> usize {
    if !uses_port_mappings(app) {
        return 0;
    }
    app.container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.port_mappings.as_ref())
        .map_or(0, Vec::len)
}

fn canonical_health_check(hc: &mut HealthCheck, has_ports: bool) {
    let protocol = hc.protocol.get_or_insert_with(|| "HTTP".into()).clone();
    hc.grace_period_seconds.get_or_insert(300);
    hc.interval_seconds.get_or_insert(60);
    hc.timeout_seconds.get_or_insert(20);
    hc.max_consecutive_failures.get_or_insert(3);
    hc.ignore_http1xx.get_or_insert(false);
    if protocol != "COMMAND" && hc.port.is_none() && hc.port_index.is_none() && hc.port_name.is_none() && has_ports {
        hc.port_index = Some(0);
    }
    if matches!(protocol.as_str(), "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS") {
        hc.path.get_or_insert_with(|| "/".into());
    }
}

fn canonical_readiness_check(rc: &mut ReadinessCheck) {
    rc.name.get_or_insert_with(|| "readinessCheck".into());
    rc.protocol.get_or_insert_with(|| "HTTP".into());
    rc.path.get_or_insert_with(|| "/".into());
    rc.port_name.get_or_insert_with(|| "http-api".into());
    rc.interval_seconds.get_or_insert(30);
    rc.timeout_seconds.get_or_insert(10);
    rc.http_status_codes_for_ready.get_or_insert_with(|| vec![200]);
    rc.preserve_last_response.get_or_insert(false);
}

/// The app's service ports: from its port mappings (BRIDGE/USER) or its port definitions.
pub fn service_ports(app: &App) -> Vec<u32> {
    if uses_port_mappings(app) {
        app.container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .and_then(|d| d.port_mappings.as_ref())
            .map(|pms| pms.iter().map(|p| p.service_port.unwrap_or(0)).collect())
            .unwrap_or_default()
    } else {
        app.port_definitions.as_ref().map(|d| d.iter().map(|p| p.port.unwrap_or(0)).collect()).unwrap_or_default()
    }
}

/// Keeps `ports` and the port definitions in line with the service ports.
fn sync_ports(app: &mut App) {
    if app.ip_address.is_some() {
        return;
    }
    let ports = service_ports(app);
    if uses_port_mappings(app) {
        if let Some(defs) = app.port_definitions.as_mut() {
            for (d, p) in defs.iter_mut().zip(&ports) {
                d.port = Some(*p);
            }
        }
    }
    app.ports = Some(ports);
}

/// Every app of the tree in canonical form, service ports assigned (used when seeding a state).
pub fn canonical_root(mut root: Group, flavour: Flavour) -> Group {
    fn walk(g: &mut Group, flavour: Flavour) {
        let own = g.path_id();
        if let Some(apps) = g.apps.as_mut() {
            for app in apps.iter_mut() {
                *app = SharedApp::new(canonical_app(std::mem::take(app.make_mut()), &own, flavour));
            }
        }
        g.apps.get_or_insert_with(Default::default);
        g.groups.get_or_insert_with(Vec::new);
        g.dependencies.get_or_insert_with(Vec::new);
        if let Some(groups) = g.groups.as_mut() {
            for sub in groups.iter_mut() {
                walk(sub, flavour);
            }
        }
    }
    walk(&mut root, flavour);
    assign_service_ports(root, &Group::empty_root())
}

/// Replaces service port 0 with free ports from `[10000, 20000]` as Marathon's
/// `assignDynamicServicePorts` does (ports already used anywhere in the tree are skipped).
/// `original` has none to assign (it is what Marathon holds, or empty): only the apps `target`
/// does not share with it are looked at to know whether any port is to be assigned.
pub(crate) fn assign_service_ports(mut target: Group, original: &Group) -> Group {
    let needs = app_diff(original, &target).touched.iter().any(|t| t.after.service_ports().contains(&0));
    if !needs {
        return target;
    }
    let mut used: BTreeSet<u32> =
        target.transitive_apps().iter().flat_map(|a| a.service_ports().into_owned()).filter(|&p| p != 0).collect();
    // Indexed once: a batch of many new apps looks up each of them.
    let previous_ports: std::collections::HashMap<&str, &SharedApp> =
        original.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
    let mut next = LOCAL_PORT_MIN;
    let mut fresh = move |used: &mut BTreeSet<u32>| -> u32 {
        while used.contains(&next) && next < LOCAL_PORT_MAX {
            next += 1;
        }
        used.insert(next);
        next
    };
    fn walk(g: &mut Group, f: &mut dyn FnMut(&mut SharedApp)) {
        // Only a list with a port to assign is changed: the others stay shared with `original`.
        let assigns = |apps: &&mut AppList| apps.iter().any(|a| a.service_ports().contains(&0));
        if let Some(apps) = g.apps.as_mut().filter(assigns) {
            apps.iter_mut().for_each(&mut *f);
        }
        if let Some(groups) = g.groups.as_mut() {
            for sub in groups {
                walk(sub, f);
            }
        }
    }
    walk(&mut target, &mut |shared: &mut SharedApp| {
        let current = shared.service_ports().into_owned();
        if !current.contains(&0) {
            return;
        }
        let app = shared.make_mut();
        // An app that already had service ports keeps them at the same positions.
        let previous: Vec<u32> = app
            .id
            .as_deref()
            .and_then(|id| previous_ports.get(id))
            .map(|a| a.service_ports().into_owned())
            .unwrap_or_default();
        let assigned: Vec<u32> = current
            .iter()
            .enumerate()
            .map(|(i, &p)| match (p, previous.get(i)) {
                (0, Some(&prev)) if prev != 0 => prev,
                (0, _) => fresh(&mut used),
                (p, _) => p,
            })
            .collect();
        if uses_port_mappings(app) {
            if let Some(pms) = app.container.as_mut().and_then(|c| c.docker.as_mut()).and_then(|d| d.port_mappings.as_mut()) {
                for (pm, p) in pms.iter_mut().zip(&assigned) {
                    pm.service_port = Some(*p);
                }
            }
        } else if let Some(defs) = app.port_definitions.as_mut() {
            for (d, p) in defs.iter_mut().zip(&assigned) {
                d.port = Some(*p);
            }
        }
        sync_ports(app);
    });
    target
}
