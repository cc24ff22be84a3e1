use std::path::PathBuf;
use std::sync::Arc;

use marathon_model::ops::{canonical_root, Flavour};
use marathon_model::Group;

use super::*;
use crate::persisted::Encoder;

const PLAN: &str = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const VERSION: &str = "2017-06-01T12:00:00.000Z";

/// A root as the simulator holds it (ids absolute, Marathon's defaults filled in).
fn root(json: &str) -> Group {
    let parsed = Group::parse(json.as_bytes()).expect("test root").normalized(&PathId::root()).expect("absolute ids");
    canonical_root(parsed, Flavour::V13)
}

fn app_json(id: &str) -> String {
    format!(r#"{{"id":"{id}","cmd":"sleep 1","version":"2017-01-01T00:00:00.000Z"}}"#)
}

fn group_json(id: &str, apps: &[String], groups: &[String], deps: &[&str]) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        r#"{{"id":"{id}","version":"2017-01-01T00:00:00.000Z","apps":[{}],"groups":[{}],"dependencies":[{}]}}"#,
        apps.join(","),
        groups.join(","),
        deps.join(",")
    )
}

/// Checks that the validator measures the very bytes the encoder writes as the plan node (but for
/// the name's `-`, where the node has `:`), that its verdict flips exactly at that length, and
/// returns the measured entry.
fn agrees(original: &Group, target: &Group, cfg: &StoreConfig) -> ZkStoreEntry {
    let entry = measured_entry(PLAN, VERSION, original, target, cfg);
    let mut written = Encoder::new(cfg.clone()).legacy_deployment(PLAN, VERSION, &Arc::new(original.clone()), target).plan_entry;
    // name field: tag, length 47, then `deployment:`.
    assert_eq!(written[2 + 10], b':');
    written[2 + 10] = b'-';
    let measured = entry.encode_to_vec();
    assert_eq!(measured.len(), written.len(), "entry length");
    assert!(measured == written, "same length, different bytes");
    flips_at_entry_len(original, target, cfg, measured.len() as u64);
    entry
}

fn flips_at_entry_len(original: &Group, target: &Group, cfg: &StoreConfig, len: u64) {
    let verdict = |limit: u64| plan_is_valid(PLAN, VERSION, original, target, &StoreConfig { zk_max_node_size: limit, ..cfg.clone() });
    assert_eq!(verdict(len), PlanVerdict { entry_len: len, accepted: false });
    assert_eq!(verdict(len + 1), PlanVerdict { entry_len: len, accepted: true });
    assert!(!verdict(len - 1).accepted);
}

fn payload(entry: &ZkStoreEntry) -> DeploymentPlanDefinition {
    assert_eq!(entry.compressed, Some(false));
    DeploymentPlanDefinition::decode(&entry.value[..]).expect("plan payload")
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

#[test]
fn a_small_plan_is_measured_uncompressed() {
    let original = Group::empty_root();
    let inner = group_json("/g", &[app_json("/g/x"), app_json("/g/y")], &[], &["/a"]);
    let target = root(&group_json("/", &[app_json("/a")], &[inner], &[]));
    let entry = agrees(&original, &target, &StoreConfig::marathon_1_3());
    let plan = payload(&entry);
    assert_eq!(entry.name, format!("deployment-{PLAN}"));
    assert_eq!(entry.uuid, PLAN.as_bytes());
    assert_eq!((plan.id.as_str(), plan.version.as_deref()), (PLAN, Some(VERSION)));
    let target = plan.target.expect("target");
    assert_eq!(ids(&target.apps, |a| &a.id), ["/a"]);
    assert_eq!(target.groups[0].dependencies, ["/a"]);
    assert_eq!(plan.original.expect("original").id, "/");
}

#[test]
fn a_plan_over_the_threshold_is_measured_gzipped() {
    let original = canonical_root(znode_size::synthetic::heroku_root(200, 5), Flavour::V13);
    let mut target = original.clone();
    target.groups.as_mut().expect("groups")[0].apps.as_mut().expect("apps")[7].make_mut().instances = Some(9);
    let cfg = StoreConfig::marathon_1_3();
    let entry = agrees(&original, &target, &cfg);
    assert_eq!(entry.compressed, Some(true));
    let raw = plan_definition(PLAN, VERSION, &original, &target, cfg.flavor).encoded_len();
    assert!(entry.value.len() < raw / 2, "gzip: {} of {raw} bytes", entry.value.len());

    let off = StoreConfig { compression: false, ..cfg.clone() };
    assert_eq!(agrees(&original, &target, &off).value.len(), raw);
}

/// Compression applies only to payloads strictly longer than the threshold.
#[test]
fn the_threshold_is_strict() {
    let original = canonical_root(znode_size::synthetic::heroku_root(20, 5), Flavour::V13);
    let raw = plan_definition(PLAN, VERSION, &original, &original, AppFlavor::V13).encoded_len() as u64;
    let at = StoreConfig { compression_threshold: raw, ..StoreConfig::marathon_1_3() };
    assert_eq!(agrees(&original, &original, &at).compressed, Some(false));
    let below = StoreConfig { compression_threshold: raw - 1, ..at };
    assert_eq!(agrees(&original, &original, &below).compressed, Some(true));
}

/// From 5 apps a group's `Map[PathId, AppDefinition]` is a hash trie: its apps are written in
/// hash order, not in the order they were added.
#[test]
fn five_apps_or_more_are_written_in_hash_order() {
    let apps: Vec<String> = (0..7).map(|i| app_json(&format!("/g/app-{i}"))).collect();
    let target = root(&group_json("/", &[], &[group_json("/g", &apps, &[], &[])], &[]));
    let order = app_map_order(&target.groups()[0]);
    assert_ne!(order, (0..7).collect::<Vec<_>>(), "the test needs a hash order that is not the insertion order");
    let entry = agrees(&Group::empty_root(), &target, &StoreConfig::marathon_1_3());
    let written = ids(&payload(&entry).target.expect("target").groups[0].apps, |a| &a.id);
    let expected: Vec<String> = order.iter().map(|i| format!("/g/app-{i}")).collect();
    assert_eq!(written, expected);

    let four = root(&group_json("/", &[], &[group_json("/g", &apps[..4], &[], &[])], &[]));
    let entry = agrees(&Group::empty_root(), &four, &StoreConfig::marathon_1_3());
    let written = ids(&payload(&entry).target.expect("target").groups[0].apps, |a| &a.id);
    assert_eq!(written, ["/g/app-0", "/g/app-1", "/g/app-2", "/g/app-3"], "up to 4: insertion order");
}

/// Subgroups are written in the stored order (2-4 and 5+ of them), dependencies as a set.
#[test]
fn subgroups_and_dependencies() {
    let leaf = |id: &str| group_json(id, &[app_json(&format!("{id}/svc"))], &[], &[]);
    let many: Vec<String> = (0..6).map(|i| leaf(&format!("/many/sub-{i}"))).collect();
    let few: Vec<String> = (0..3).map(|i| leaf(&format!("/few/sub-{i}"))).collect();
    let deps = ["/few/sub-0", "../few/sub-1", "/few/sub-2", "/many/sub-0", "/many/sub-1", "/many/sub-2"];
    let target = root(&group_json(
        "/",
        &[],
        &[group_json("/few", &[], &few, &[]), group_json("/many", &[], &many, &deps), leaf("/alone")],
        &[],
    ));
    let mut original = target.clone();
    original.groups.as_mut().expect("groups").truncate(1);
    let entry = agrees(&original, &target, &StoreConfig::marathon_1_3());
    let plan = payload(&entry);
    let written = plan.target.expect("target");
    assert_eq!(ids(&written.groups, |g| &g.id), ["/few", "/many", "/alone"]);
    assert_eq!(ids(&written.groups[1].groups, |g| &g.id), (0..6).map(|i| format!("/many/sub-{i}")).collect::<Vec<_>>());
    let mut deps_written = written.groups[1].dependencies.clone();
    assert!(deps_written.contains(&"/few/sub-1".to_string()), "resolved against the group");
    deps_written.sort();
    assert_eq!(deps_written, ["/few/sub-0", "/few/sub-1", "/few/sub-2", "/many/sub-0", "/many/sub-1", "/many/sub-2"]);
    assert_eq!(ids(&plan.original.expect("original").groups, |g| &g.id), ["/few"]);
}

fn corpus_root(file: &str) -> Group {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/marathon/groups").join(file);
    let group = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    root(&format!(r#"{{"id":"/","groups":[{group}]}}"#))
}

#[test]
fn corpus_groups_posted_and_removed() {
    let cfg = StoreConfig::marathon_1_3();
    for file in ["0581-mesosphere-marathon-155_100.json", "0586-mesosphere-marathon-examples_group.json"] {
        let state = corpus_root(file);
        let empty = Group::empty_root();
        let there = agrees(&empty, &state, &cfg);
        let back = agrees(&state, &empty, &cfg);
        assert_eq!(there.compressed, back.compressed, "{file}");
    }
    // 100 apps twice stay under the threshold; 200 apps go over it.
    let big = corpus_root("0583-mesosphere-marathon-155_200.json");
    assert_eq!(big.groups()[0].apps().len(), 200);
    assert_eq!(agrees(&big, &big, &cfg).compressed, Some(true));
}

/// The compressed value is a gzip member as Java writes it, and the system's `gzip` gives back
/// the plan's protobuf bytes.
#[test]
fn the_compressed_value_is_javas_gzip_of_the_plan() {
    let original = canonical_root(znode_size::synthetic::heroku_root(200, 5), Flavour::V13);
    let cfg = StoreConfig::marathon_1_3();
    let entry = measured_entry(PLAN, VERSION, &original, &Group::empty_root(), &cfg);
    assert_eq!(entry.compressed, Some(true));
    assert_eq!(entry.value[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0], "JDK 8's GZIPOutputStream header");

    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&entry.value).expect("write gzip");
    let out = std::process::Command::new("gzip").arg("-dc").arg(file.path()).output().expect("run gzip");
    assert!(out.status.success(), "gzip -dc: {}", String::from_utf8_lossy(&out.stderr));
    let plan = plan_definition(PLAN, VERSION, &original, &Group::empty_root(), cfg.flavor).encode_to_vec();
    assert!(out.stdout == plan, "gunzipped {} bytes, plan {} bytes", out.stdout.len(), plan.len());
}

/// A group's dependencies are a `Set[PathId]` of canonical paths: one written per distinct path.
#[test]
fn a_dependency_named_twice_is_written_once() {
    let target = root(&group_json("/", &[], &[group_json("/g", &[app_json("/g/a")], &[], &["/x", "../x", "/y"])], &[]));
    assert_eq!(target.groups()[0].dependencies.as_deref(), Some(&["/x".to_string(), "/x".into(), "/y".into()][..]));
    let entry = measured_entry(PLAN, VERSION, &Group::empty_root(), &target, &StoreConfig::marathon_1_3());
    assert_eq!(payload(&entry).target.expect("target").groups[0].dependencies, ["/x", "/y"]);
}
