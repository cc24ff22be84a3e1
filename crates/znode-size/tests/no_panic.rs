//! No input panics the parser or the encoder: arbitrary bytes, and arbitrary JSON shaped like an
//! app (every known field, with values of any type), through parse, encode and estimate.

use marathon_model::{App, Group, PathId};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use znode_size::{AppFlavor, Estimator, StoreConfig, WarmState};

const FIELDS: &[&str] = &[
    "id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus", "executor", "constraints",
    "uris", "fetch", "storeUrls", "ports", "portDefinitions", "requirePorts", "backoffSeconds", "backoffFactor",
    "maxLaunchDelaySeconds", "container", "healthChecks", "readinessChecks", "dependencies", "upgradeStrategy",
    "labels", "acceptedResourceRoles", "ipAddress", "residency", "secrets", "taskKillGracePeriodSeconds",
    "unreachableStrategy", "killSelection", "version", "versionInfo",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-zA-Z0-9/._-]{0,12}".prop_map(Value::from),
        prop_oneof![Just("DOCKER"), Just("MESOS"), Just("BRIDGE"), Just("USER"), Just("HTTP"), Just("COMMAND"), Just("2017-01-01T00:00:00.000Z")]
            .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}|type|docker|network|portMappings|containerPort|servicePort|hostPort|image|volumes|persistent|external|secret|value|protocol|port|portIndex", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn app_like() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS), value()), 0..14).prop_map(|fields| {
        let mut m: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        m.insert("id".into(), json!("/fuzz/app"));
        Value::Object(m)
    })
}

/// Mostly well-typed apps, so that the encoder sees many shapes, not only parse errors.
fn typed_app() -> impl Strategy<Value = Value> {
    let env = prop::collection::btree_map("[A-Z_]{1,10}", prop_oneof!["[ -~]{0,40}".prop_map(Value::from), "[a-z]{1,6}".prop_map(|s| json!({"secret": s}))], 0..12);
    let labels = prop::collection::btree_map("[a-zA-Z_.]{1,10}", "[ -~]{0,20}", 0..8);
    let network = prop::sample::select(vec!["HOST", "BRIDGE", "USER", "NONE"]);
    let mapping = (any::<u16>(), prop::option::of(any::<u16>()), any::<u16>()).prop_map(|(c, h, sp)| json!({"containerPort": c, "hostPort": h, "servicePort": sp}));
    let container = (network, prop::collection::vec(mapping, 0..4), any::<bool>()).prop_map(|(n, pms, mesos)| {
        json!({"type": if mesos {"MESOS"} else {"DOCKER"}, "docker": {"image": "img:1", "network": n, "portMappings": pms},
               "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]})
    });
    let hc = prop::sample::select(vec!["HTTP", "TCP", "COMMAND", "HTTPS", "MESOS_HTTP", "MESOS_TCP"])
        .prop_map(|p| json!({"protocol": p, "path": "/h", "command": {"value": "true"}}));
    (
        env, labels, prop::option::of(container), prop::collection::vec(hc, 0..3),
        0u32..50, 0.0f64..8.0, prop::option::of(prop::collection::vec(any::<u16>(), 0..4)),
        prop::option::of(prop::collection::vec("[a-z/]{1,8}", 0..6)), prop::option::of("[a-z ]{1,20}"),
    )
        .prop_map(|(env, labels, container, hcs, instances, cpus, ports, deps, args)| {
            let mut m = json!({"id": "/fuzz/app", "cmd": "run", "env": env, "labels": labels, "healthChecks": hcs,
                "instances": instances, "cpus": cpus, "dependencies": deps.unwrap_or_default(),
                "uris": ["http://x/a.tgz", "http://x/b"], "upgradeStrategy": {"minimumHealthCapacity": 0.5},
                "readinessChecks": [{"name": "r"}], "secrets": {"s": {"source": "/vault/s"}},
                "version": "2017-01-01T00:00:00.000Z",
                "versionInfo": {"lastScalingAt": "2017-01-01T00:00:00.000Z", "lastConfigChangeAt": "2017-01-01T00:00:00.000Z"}});
            if let Some(c) = container { m["container"] = c; }
            if let Some(p) = ports { m["ports"] = json!(p); }
            if let Some(a) = args { m["args"] = json!([a]); }
            m
        })
}

fn exercise(app: App) {
    let _ = znode_size::service_definition_bytes(&app, AppFlavor::V13);
    let _ = znode_size::service_definition_bytes(&app, AppFlavor::V14);
    let mut group = Group::empty(&PathId::parse("/fuzz"));
    group.apps = Some(vec![app.into()].into());
    let mut root = Group::empty_root();
    root.groups = Some(vec![group]);
    for cfg in [StoreConfig::marathon_1_3(), StoreConfig::marathon_1_4()] {
        let est = Estimator::new(cfg.clone());
        let _ = est.state(&root);
        let _ = est.deployment(&Group::empty_root(), &root);
        let _ = WarmState::prepare(&Group::empty_root(), &cfg).deployment(&root, &[1000]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = App::parse(&bytes);
        let _ = Group::parse(&bytes).and_then(|g| g.normalized(&PathId::root()));
    }

    #[test]
    fn typed_apps_encode_and_estimate(doc in typed_app()) {
        let app = App::parse(&serde_json::to_vec(&doc).unwrap()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        exercise(app);
    }

    #[test]
    fn app_shaped_json_parses_or_names_the_field(doc in app_like()) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        match App::parse(&bytes) {
            Ok(app) => exercise(app),
            Err(err) => prop_assert!(err.to_string().contains('`'), "error without a field: {err}"),
        }
    }
}
