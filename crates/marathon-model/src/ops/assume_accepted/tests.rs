use super::*;
use crate::ops::{canonical_root, parse_write, NoHistory};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_500_000_000_000 + ms)
}

fn write(method: &str, path: &str, body: &str) -> Write {
    parse_write(method, path, None, body.as_bytes(), Flavour::V13).unwrap().expect("a write")
}

/// `/prod/web` (three env vars) and an empty group `/tools`.
fn root() -> Group {
    let seed = serde_json::json!({"id": "/", "apps": [], "groups": [
        {"id": "/prod", "apps": [{"id": "/prod/web", "cmd": "serve", "env": {"A": "1", "B": "2", "C": "3"}}], "groups": []},
        {"id": "/tools", "apps": [], "groups": []},
    ]});
    let root: Group = crate::from_value(seed).unwrap();
    let root = canonical_root(root.normalized(&PathId::root()).unwrap(), Flavour::V13);
    apply(&root, &write("PUT", "/v2/apps/prod/web", r#"{"instances":1}"#), t(0), Flavour::V13, &NoHistory).unwrap().root
}

fn assume(root: &Group, w: &Write, history: &dyn History) -> Result<Outcome, ChangeError> {
    apply_assuming_accepted(root, w, t(1), Flavour::V13, history)
}

#[test]
fn what_marathon_accepts_is_applied_unchanged() {
    let w = write("PUT", "/v2/apps/prod/web", r#"{"instances":5}"#);
    assert_eq!(assume(&root(), &w, &NoHistory), apply(&root(), &w, t(1), Flavour::V13, &NoHistory));
}

#[test]
fn a_create_of_a_taken_id_is_sized_as_if_the_id_had_been_freed() {
    let w = write("POST", "/v2/apps", r#"{"id":"/prod/web","cmd":"new","instances":7}"#);
    assert_eq!(apply(&root(), &w, t(1), Flavour::V13, &NoHistory).unwrap_err().status(), 409);
    let out = assume(&root(), &w, &NoHistory).unwrap();
    let app = out.root.find_app(&PathId::parse("/prod/web")).unwrap().app();
    assert_eq!((app.cmd.as_deref(), app.instances), (Some("new"), Some(7)));
    // A group in the way of an app, an app in the way of a group: the same.
    let w = write("POST", "/v2/apps", r#"{"id":"/tools","cmd":"x"}"#);
    assert!(apply(&root(), &w, t(1), Flavour::V13, &NoHistory).is_err());
    assert!(assume(&root(), &w, &NoHistory).unwrap().root.find_app(&PathId::parse("/tools")).is_some());
    let w = write("POST", "/v2/groups", r#"{"id":"/prod","apps":[{"id":"x","cmd":"y"}]}"#);
    assert_eq!(apply(&root(), &w, t(1), Flavour::V13, &NoHistory).unwrap_err().status(), 409);
    let out = assume(&root(), &w, &NoHistory).unwrap();
    assert!(out.root.find_app(&PathId::parse("/prod/x")).is_some());
    assert!(out.root.find_app(&PathId::parse("/prod/web")).is_none());
}

#[test]
fn writes_to_an_unknown_app_act_on_a_stand_in() {
    for (method, path, query) in [("POST", "/v2/apps/other/restart", None), ("DELETE", "/v2/apps/other/tasks", Some("scale=true"))] {
        let w = parse_write(method, path, query, b"", Flavour::V13).unwrap().expect("a write");
        assert!(apply(&root(), &w, t(1), Flavour::V13, &NoHistory).is_err(), "{method} {path}");
        let out = assume(&root(), &w, &NoHistory).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(out.deployment, "{method} {path}");
    }
    let w = parse_write("PATCH", "/v2/apps/other", None, br#"{"env":{"BIG":"xxxxxxxx"}}"#, Flavour::V14).unwrap().unwrap();
    let out = apply_assuming_accepted(&root(), &w, t(1), Flavour::V14, &NoHistory).unwrap();
    let app = out.root.find_app(&PathId::parse("/other")).unwrap().app();
    assert_eq!(app.env.as_ref().map(|e| e.len()), Some(1), "the patch's own fields are sized");
}

#[test]
fn refusals_that_hold_whatever_the_state_stay_refusals() {
    let invalid = write("POST", "/v2/apps", r#"{"id":"/prod/web","instances":1}"#);
    let err = assume(&root(), &invalid, &NoHistory).unwrap_err();
    assert_eq!(err.status(), 422, "no cmd, no container: {err}");
    // A rollback to a version Marathon was asked about and does not hold.
    let rollback = write("PUT", "/v2/apps/prod/web", r#"{"version":"2015-01-01T00:00:00.000Z"}"#);
    assert_eq!(assume(&root(), &rollback, &NoHistory).unwrap_err().status(), 404);
    // A deletion of something the model does not know: it can only shrink the state.
    assert_eq!(assume(&root(), &write("DELETE", "/v2/apps/nope", ""), &NoHistory).unwrap_err().status(), 404);
}

#[test]
fn rollbacks_name_what_they_need_and_use_what_was_fetched() {
    let old_version = "2016-05-05T10:00:00.000Z";
    let rollback = write("PUT", "/v2/apps/prod/web", &format!(r#"{{"version":"{old_version}"}}"#));
    let needed = Needed::AppVersion(PathId::parse("/prod/web"), old_version.into());
    assert_eq!(rollback.needs(), vec![needed.clone()]);
    let mut history = FetchedHistory::default();
    assert!(!history.has(&needed));
    let env: serde_json::Map<String, serde_json::Value> = (0..40).map(|i| (format!("K{i}"), "v".repeat(50).into())).collect();
    let old: App = crate::from_value(serde_json::json!({"id": "/prod/web", "cmd": "old", "env": env})).unwrap();
    // The same instant, spelled differently, is the same version.
    history.add_app(&PathId::parse("/prod/web"), "2016-05-05T10:00:00Z", old);
    assert!(history.has(&needed));
    let out = assume(&root(), &rollback, &history).unwrap();
    let app = out.root.find_app(&PathId::parse("/prod/web")).unwrap().app();
    assert_eq!((app.cmd.as_deref(), app.env.as_ref().map(|e| e.len())), (Some("old"), Some(40)));

    let group_rollback = write("PUT", "/v2/groups/prod", &format!(r#"{{"version":"{old_version}"}}"#));
    assert_eq!(group_rollback.needs(), vec![Needed::RootVersion(old_version.into())]);
    let mut old_root = root();
    upsert(&mut old_root, stand_in_app(&PathId::parse("/prod/api")));
    history.add_root(old_version, old_root);
    let out = assume(&root(), &group_rollback, &history).unwrap();
    assert!(out.root.find_app(&PathId::parse("/prod/api")).is_some());

    let revert = write("DELETE", "/v2/deployments/d-1", "");
    assert_eq!(revert.needs(), vec![Needed::Deployment("d-1".into())]);
    assert!(write("PUT", "/v2/apps/prod/web", r#"{"instances":2}"#).needs().is_empty());
}
