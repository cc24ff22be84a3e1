//! JSON bodies the way Marathon renders them.

use marathon_model::ops::Flavour;
use marathon_model::{App, Group};
use serde_json::{json, Map, Value};

use crate::state::{Deployment, Sim};

/// An app as `GET /v2/apps/{id}` shows its definition (the stored canonical form).
pub fn app(app: &App, _flavour: Flavour) -> Value {
    serde_json::to_value(app).unwrap_or(Value::Null)
}

/// A group as `GET /v2/groups` renders it: `id`, `dependencies`, `version`, then `apps` and `groups`
/// when embedded (1.4+: `pods` too).
pub fn group(g: &Group, flavour: Flavour, embed_apps: bool, embed_groups: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(g.id.clone().unwrap_or_else(|| "/".into())));
    m.insert("dependencies".into(), json!(g.dependencies.clone().unwrap_or_default()));
    m.insert("version".into(), json!(g.version));
    if embed_apps {
        m.insert("apps".into(), Value::Array(g.apps().iter().map(|a| app(&a.app(), flavour)).collect()));
    }
    if embed_groups {
        m.insert(
            "groups".into(),
            Value::Array(g.groups().iter().map(|s| group(s, flavour, embed_apps, embed_groups)).collect()),
        );
    }
    if flavour == Flavour::V14 && embed_apps {
        m.insert("pods".into(), Value::Array(g.pods().iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect()));
    }
    Value::Object(m)
}

/// Marathon 1.3.14's 422 for a plan over `--zk_max_node_size` (the validator's exact wording).
pub fn zk_size_error(max_size: u64) -> Value {
    let text = format!(
        "The way we persist data in ZooKeeper would exceed the maximum ZK node size ({max_size} bytes).\n\
         You can adjust this value via --zk_max_node_size, but make sure this value is compatible with\n\
         your ZooKeeper ensemble!\n\
         See: http://zookeeper.apache.org/doc/r3.3.1/zookeeperAdmin.html#Unsafe+Options"
    );
    json!({"message": "Object is not valid", "details": [{"path": "/", "errors": [text]}]})
}

/// 409 `AppLockedException`.
pub fn app_locked(ids: &[String]) -> Value {
    json!({
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
    })
}

/// One entry of `GET /v2/deployments`.
pub fn deployment(d: &Deployment) -> Value {
    let current: Vec<Value> = d
        .steps
        .first()
        .map(|s| {
            s.actions
                .iter()
                .map(|a| {
                    let mut m = serde_json::to_value(a).unwrap_or(json!({}));
                    m["readinessCheckResults"] = json!([]);
                    m
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": d.id,
        "version": d.version.to_joda(),
        "affectedApps": d.affected.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "steps": d.steps,
        "currentActions": current,
        "currentStep": if d.steps.is_empty() { 0 } else { 1 },
        "totalSteps": d.steps.len(),
    })
}

/// `GET /v2/info` as the chosen Marathon version reports it.
pub fn info(sim: &Sim) -> Value {
    let leader = sim.http_addr.lock().unwrap().clone();
    let port: u16 = leader.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let zk_url = match &sim.cfg.zk {
        Some(spec) => marathon_zk::ZkSpec::parse(spec).map(|s| s.url()).unwrap_or_default(),
        None => "zk://localhost:2181/marathon".to_string(),
    };
    let mut zk = json!({
        "zk": zk_url,
        "zk_timeout": 10000,
        "zk_session_timeout": 10000,
        "zk_max_versions": sim.cfg.zk_max_versions,
    });
    if sim.flavour == Flavour::V14 {
        zk["zk_connection_timeout"] = json!(10000);
        zk["zk_max_node_size"] = json!(sim.store.zk_max_node_size);
        zk["zk_compression"] = json!(sim.store.compression);
        zk["zk_compression_threshold"] = json!(sim.store.compression_threshold);
    }
    json!({
        "name": "marathon",
        "version": sim.cfg.marathon.version_string(),
        "buildref": "marathon-sim",
        "elected": true,
        "leader": leader,
        "frameworkId": "marathon-sim-framework-0000",
        // The keys of 1.3.14's `InfoResource.marathonConfigValues` (clients map them onto typed
        // objects and refuse keys they do not know).
        "marathon_config": {
            "master": "local",
            "failover_timeout": 604800,
            "framework_name": "marathon",
            "ha": true,
            "checkpoint": true,
            "local_port_min": 10000,
            "local_port_max": 20000,
            "executor": "//cmd",
            "hostname": "127.0.0.1",
            "webui_url": null,
            "mesos_role": null,
            "task_launch_timeout": 300000,
            "task_reservation_timeout": 20000,
            "reconciliation_initial_delay": 15000,
            "reconciliation_interval": 600000,
            "mesos_user": null,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10000,
            "features": [],
        },
        "zookeeper_config": zk,
        "event_subscriber": null,
        "http_config": {"http_port": port, "https_port": 8443},
    })
}
