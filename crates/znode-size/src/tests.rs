//! Worked sizes from the facts sheet (§1.3, §4.6) and encoding invariants.

use marathon_model::{App, Group, PathId};
use prost::Message;

use crate::service_definition::{service_definition, AppFlavor};
use crate::{Estimator, StoreConfig};

fn app(json: &str) -> App {
    App::parse(json.as_bytes()).unwrap()
}

/// `{"id":"/foo","cmd":"sleep 100"}` once deployed: versionInfo set, one service port.
fn deployed_foo(port: u32) -> App {
    app(&format!(
        r#"{{"id":"/foo","cmd":"sleep 100","portDefinitions":[{{"port":{port},"protocol":"tcp"}}],
        "version":"2017-01-01T00:00:00.000Z",
        "versionInfo":{{"lastScalingAt":"2017-01-01T00:00:00.000Z","lastConfigChangeAt":"2017-01-01T00:00:00.000Z"}}}}"#
    ))
}

#[test]
fn minimal_app_matches_the_worked_example() {
    // facts §4.6: 182 + (2+len(id)) + (6+len(cmd)) + 11 per port (a 2-byte service port).
    let bytes = service_definition(&deployed_foo(10000), AppFlavor::V13).encode_to_vec();
    assert_eq!(bytes.len(), 182 + (2 + 4) + (6 + 9) + 11);
    assert_eq!(bytes.len(), 214);
    // 1.4 adds unreachableStrategy (7 bytes) and killSelection (3 bytes).
    let v14 = service_definition(&deployed_foo(10000), AppFlavor::V14).encode_to_vec();
    assert_eq!(v14.len(), 224);
    // A service port from 16384 up takes a 3-byte varint.
    assert_eq!(service_definition(&deployed_foo(16384), AppFlavor::V13).encoded_len(), 215);
}

#[test]
fn resources_are_95_bytes() {
    let sd = service_definition(&app(r#"{"id":"/a"}"#), AppFlavor::V13);
    let total: usize = sd.resources.iter().map(|r| crate::wire::field_len(4, r.encoded_len())).sum();
    assert_eq!(total, 95);
}

#[test]
fn env_var_and_label_sizes_follow_the_formula() {
    let base = service_definition(&deployed_foo(16384), AppFlavor::V13).encoded_len();
    let mut with = deployed_foo(16384);
    with.env = Some([("NAME".to_string(), marathon_model::app::EnvValue::Plain("value1".into()))].into_iter().collect());
    with.labels = Some([("k".to_string(), "vv".to_string())].into_iter().collect());
    let grown = service_definition(&with, AppFlavor::V13).encoded_len();
    // env: 1+v+(2+|name|)+(2+|value|) inside CommandInfo, whose length stays one byte here.
    let env = 1 + 1 + (2 + 4) + (2 + 6);
    // label: 2+v+(2+|k|)+(2+|v|)
    let label = 2 + 1 + (2 + 1) + (2 + 2);
    assert_eq!(grown - base, env + label);
}

#[test]
fn root_group_and_plan_match_the_worked_example() {
    // facts §4.6: empty root 29 bytes; root with the app 246; plan with it on both sides 562.
    let est = Estimator::new(StoreConfig::default());
    let empty = Group { version: Some("2017-01-01T00:00:00.000Z".into()), ..Group::empty_root() };
    assert_eq!(est.encode(&empty).len(), 29);
    let mut root = empty.clone();
    root.apps = Some(vec![marathon_model::SharedApp::new(deployed_foo(10000))].into());
    assert_eq!(est.encode(&root).len(), 29 + 217);
    let plan = est.deployment(&root, &root);
    assert_eq!(plan.plan_raw_bytes, Some(562));
}

#[test]
fn assembled_group_equals_prost_encoding() {
    let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/marathon/groups/0523-dcos-dcos-cli-complicated.json")).unwrap();
    let group = Group::parse(&raw).unwrap().normalized(&PathId::root()).unwrap();
    let est = Estimator::new(StoreConfig::default());
    let assembled = est.encode(&group).to_bytes();
    let decoded = crate::proto::GroupDefinition::decode(&assembled[..]).unwrap();
    assert_eq!(decoded.encode_to_vec(), assembled);
    assert_eq!(decoded.id, "/test-group");
}

#[test]
fn bridge_docker_container_matches_the_worked_example() {
    // facts §4.6: a BRIDGE Docker container with one mapping (image nginx:1.11) is a 40-byte
    // field 19, and the command without `cmd` is 6 bytes.
    let app = app(
        r#"{"id":"/web","container":{"type":"DOCKER","docker":{"image":"nginx:1.11","network":"BRIDGE",
        "portMappings":[{"containerPort":80,"servicePort":10000}]}}}"#,
    );
    let sd = service_definition(&app, AppFlavor::V13);
    let container = sd.container.as_ref().unwrap();
    assert_eq!(crate::wire::field_len(19, container.encoded_len()), 40);
    assert_eq!(crate::wire::field_len(2, sd.cmd.encoded_len()), 6);
    // BRIDGE adds host port 0; the implicit port definition is paired with the service port.
    let mapping = &container.docker.as_ref().unwrap().port_mappings[0];
    assert_eq!((mapping.host_port, mapping.service_port), (Some(0), Some(10000)));
    assert_eq!(sd.port_definitions.len(), 1);
    assert_eq!(sd.port_definitions[0].number, 10000);
}

#[test]
fn host_network_drops_port_mappings() {
    let app = app(
        r#"{"id":"/web","container":{"type":"DOCKER","docker":{"image":"x","network":"HOST",
        "portMappings":[{"containerPort":80}]}}}"#,
    );
    let sd = service_definition(&app, AppFlavor::V13);
    assert!(sd.container.unwrap().docker.unwrap().port_mappings.is_empty());
    assert_eq!(sd.port_definitions.len(), 1, "the default dynamic port stays");
}

/// A 1.4 root holding `/g/web` (with `env` variables) and, when given, the pod `/g/p`.
fn v14_root(env: usize, pod: Option<serde_json::Value>) -> Group {
    let env: serde_json::Map<String, serde_json::Value> = (0..env).map(|i| (format!("K{i:05}"), "v".repeat(40).into())).collect();
    let mut g = serde_json::json!({"id": "/g", "apps": [{"id": "/g/web", "cmd": "x", "env": env, "version": "2017-01-01T00:00:00.000Z"}], "groups": []});
    if let Some(p) = pod {
        g["pods"] = serde_json::json!([p]);
    }
    let root = serde_json::json!({"id": "/", "apps": [], "groups": [g], "version": "2017-01-01T00:00:00.000Z"});
    Group::parse(root.to_string().as_bytes()).unwrap()
}

#[test]
fn on_1_4_pods_are_nodes_of_their_own_and_each_written_node_is_compared_with_itself() {
    let e = Estimator::new(StoreConfig::marathon_1_4());
    let base = v14_root(10, None);
    // A pod whose JSON is 1.5 MB: its node binds, and ZooKeeper refuses it.
    let big: serde_json::Map<String, serde_json::Value> = (0..15_000).map(|i| (format!("E{i:05}"), "x".repeat(90).into())).collect();
    let pod = serde_json::json!({"id": "/g/p", "containers": [{"name": "c", "resources": {"cpus": 1, "mem": 64}}], "environment": big});
    let with_pod = v14_root(10, Some(pod));
    let d = e.deployment(&base, &with_pod);
    assert_eq!(d.binding_node, "pod /g/p");
    assert!(d.binding_bytes > 1_500_000 && !d.accepted, "{d:?}");
    assert!(d.grows_a_node, "a new node grows");
    // Growing the app's own node: grown, though the root (references only) stays the same size.
    let grown = e.deployment(&base, &v14_root(20, None));
    assert!(grown.grows_a_node && grown.root_bytes == e.state(&base).root_bytes, "{grown:?}");
    // Shrinking it, or leaving it as it is: nothing grows.
    assert!(!e.deployment(&base, &v14_root(5, None)).grows_a_node);
    assert!(!e.deployment(&base, &base).grows_a_node);
    assert!(!e.state(&with_pod).grows_a_node, "a state writes nothing");
}

#[test]
fn deep_roots_hold_every_app_three_groups_down() {
    let root = crate::synthetic::deep_root(1234, 2);
    let apps = root.transitive_apps();
    assert_eq!(apps.len(), 1234);
    let ids: std::collections::HashSet<&str> = apps.iter().filter_map(|a| a.id()).collect();
    assert_eq!(ids.len(), 1234, "ids are unique");
    assert!(apps.iter().all(|a| a.id().unwrap().matches('/').count() == 4), "/org/team/svc/app");
    assert_eq!(root.transitive_groups().len(), 1 + 10 + 100 + 124);
}
