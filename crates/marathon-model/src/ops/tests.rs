//! Tests of Marathon's write semantics.

use super::*;
use crate::{Group, PathId, Timestamp};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_500_000_000_000 + ms)
}

fn run(root: &Group, method: &str, path: &str, query: Option<&str>, body: &str, now: Timestamp, flavour: Flavour) -> Result<Outcome, ChangeError> {
    let w = parse_write(method, path, query, body.as_bytes(), flavour)?.expect("a write");
    apply(root, &w, now, flavour, &NoHistory)
}

fn empty() -> Group {
    canonical_root(Group::empty_root(), Flavour::V13)
}

#[test]
fn create_app_fills_defaults_and_versions() {
    let out = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/prod/web","cmd":"sleep 100"}"#, t(1), Flavour::V13).unwrap();
    assert!(out.deployment);
    assert_eq!(out.created, Some(PathId::parse("/prod/web")));
    let app = out.root.find_app(&PathId::parse("/prod/web")).unwrap().app();
    assert_eq!(app.instances, Some(1));
    assert_eq!(app.mem, Some(128.0));
    assert_eq!(app.ports, Some(vec![10000]));
    let v = t(1).to_joda();
    assert_eq!(app.version.as_deref(), Some(v.as_str()));
    let vi = app.version_info.as_ref().unwrap();
    assert_eq!(vi.last_scaling_at.as_deref(), Some(v.as_str()));
    assert_eq!(vi.last_config_change_at.as_deref(), Some(v.as_str()));
    // Every group's version is the change timestamp.
    for g in out.root.transitive_groups() {
        assert_eq!(g.version.as_deref(), Some(v.as_str()));
    }
    assert_eq!(out.affected, vec![PathId::parse("/prod/web")]);
    assert_eq!(out.steps[0].actions[0].action, "StartApplication");
}

#[test]
fn create_existing_app_conflicts() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x"}"#, t(1), Flavour::V13).unwrap().root;
    let err = run(&r, "POST", "/v2/apps", None, r#"{"id":"/a","cmd":"x"}"#, t(2), Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(err.body()["message"], "An app with id [/a] already exists.");
}

#[test]
fn scale_only_keeps_last_config_change() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x"}"#, t(1), Flavour::V13).unwrap().root;
    let r2 = run(&r, "PUT", "/v2/apps/a", None, r#"{"instances":3}"#, t(2), Flavour::V13).unwrap();
    let app = r2.root.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!(app.instances, Some(3));
    assert_eq!(app.cmd.as_deref(), Some("x"), "PUT is partial on 1.3");
    assert_eq!(app.version, Some(t(2).to_joda()));
    let vi = app.version_info.as_ref().unwrap();
    assert_eq!(vi.last_scaling_at, Some(t(2).to_joda()));
    assert_eq!(vi.last_config_change_at, Some(t(1).to_joda()));
    assert_eq!(r2.steps.last().unwrap().actions[0].action, "ScaleApplication");
    // A config change renews all three.
    let r3 = run(&r2.root, "PUT", "/v2/apps/a", None, r#"{"cmd":"y"}"#, t(3), Flavour::V13).unwrap();
    let app = r3.root.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!(app.instances, Some(3));
    let vi = app.version_info.as_ref().unwrap();
    assert_eq!(vi.last_config_change_at, Some(t(3).to_joda()));
    assert_eq!(r3.steps.last().unwrap().actions[0].action, "RestartApplication");
    // The service port survives updates.
    assert_eq!(app.ports, Some(vec![10000]));
}

#[test]
fn restart_stamps_version_and_scaling() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x"}"#, t(1), Flavour::V13).unwrap().root;
    let out = run(&r, "POST", "/v2/apps/a/restart", None, "", t(5), Flavour::V13).unwrap();
    let app = out.root.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!(app.version, Some(t(5).to_joda()));
    assert_eq!(app.version_info.as_ref().unwrap().last_config_change_at, Some(t(1).to_joda()));
    assert_eq!(out.steps[0].actions[0].action, "RestartApplication");
}

#[test]
fn unchanged_apps_keep_their_versions() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x"}"#, t(1), Flavour::V13).unwrap().root;
    let r = run(&r, "POST", "/v2/apps", None, r#"{"id":"b","cmd":"x"}"#, t(2), Flavour::V13).unwrap().root;
    let a = r.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!(a.version, Some(t(1).to_joda()));
}

#[test]
fn put_replace_on_v14_and_patch() {
    let f = Flavour::V14;
    let r = run(&canonical_root(Group::empty_root(), f), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x","instances":2,"env":{"A":"1"}}"#, t(1), f).unwrap().root;
    let app = r.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!(app.kill_selection.as_deref(), Some("YOUNGEST_FIRST"));
    let replaced = run(&r, "PUT", "/v2/apps/a", Some("partialUpdate=false"), r#"{"cmd":"y"}"#, t(2), f).unwrap().root;
    let app = replaced.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!((app.instances, app.env.as_ref().unwrap().len()), (Some(1), 0));
    let patched = run(&r, "PATCH", "/v2/apps/a", None, r#"{"cmd":"y"}"#, t(2), f).unwrap().root;
    let app = patched.find_app(&PathId::parse("/a")).unwrap().app();
    assert_eq!((app.instances, app.env.as_ref().unwrap().len()), (Some(2), 1));
    let err = run(&r, "PATCH", "/v2/apps/nope", None, r#"{"cmd":"y"}"#, t(2), f).unwrap_err();
    assert_eq!(err.status(), 404);
    // PATCH is not a write on 1.3.
    assert!(parse_write("PATCH", "/v2/apps/a", None, b"{}", Flavour::V13).unwrap().is_none());
}

#[test]
fn put_creates_and_delete_removes() {
    let out = run(&empty(), "PUT", "/v2/apps/x/y", None, r#"{"cmd":"x"}"#, t(1), Flavour::V13).unwrap();
    assert_eq!(out.created, Some(PathId::parse("/x/y")));
    let gone = run(&out.root, "DELETE", "/v2/apps/x/y", None, "", t(2), Flavour::V13).unwrap();
    assert!(gone.root.find_app(&PathId::parse("/x/y")).is_none());
    assert_eq!(gone.steps[0].actions[0].action, "StopApplication");
    let err = run(&gone.root, "DELETE", "/v2/apps/x/y", None, "", t(3), Flavour::V13).unwrap_err();
    assert_eq!(err.body()["message"], "App '/x/y' does not exist");
}

#[test]
fn groups_resolve_relative_ids_and_replace_apps() {
    let body = r#"{"id":"prod","apps":[{"id":"web","cmd":"x"},{"id":"../top","cmd":"x"}],"groups":[{"id":"db","apps":[{"id":"pg","cmd":"x","dependencies":["../web"]}]}]}"#;
    let out = run(&empty(), "POST", "/v2/groups", None, body, t(1), Flavour::V13).unwrap();
    assert_eq!(out.created, Some(PathId::parse("/prod")));
    let ids: Vec<_> = out.root.transitive_apps().iter().map(|a| a.id().unwrap().to_string()).collect();
    assert!(ids.contains(&"/prod/web".to_string()) && ids.contains(&"/top".to_string()) && ids.contains(&"/prod/db/pg".to_string()), "{ids:?}");
    let pg = out.root.find_app(&PathId::parse("/prod/db/pg")).unwrap().app();
    assert_eq!(pg.dependencies, Some(vec!["/prod/web".to_string()]));
    // Dependency order: web before pg.
    let last_two: Vec<_> = out.steps.iter().skip(1).map(|s| s.actions.iter().map(|a| a.run_spec().to_string()).collect::<Vec<_>>()).collect();
    assert!(last_two.len() >= 2, "{last_two:?}");
    // PUT replaces the subgroup set: db disappears, apps kept when absent.
    let upd = run(&out.root, "PUT", "/v2/groups/prod", None, r#"{"groups":[]}"#, t(2), Flavour::V13).unwrap();
    assert!(upd.root.find_group(&PathId::parse("/prod/db")).is_none());
    assert!(upd.root.find_app(&PathId::parse("/prod/web")).is_some());
    // POST again conflicts.
    let err = run(&out.root, "POST", "/v2/groups", None, r#"{"id":"prod"}"#, t(3), Flavour::V13).unwrap_err();
    assert_eq!(err.body()["message"], "Group /prod is already created. Use PUT to change this group.");
}

#[test]
fn scale_by_rounds_up_and_dry_run_changes_nothing() {
    let body = r#"{"id":"g","apps":[{"id":"a","cmd":"x","instances":3},{"id":"b","cmd":"x","instances":1}]}"#;
    let r = run(&empty(), "POST", "/v2/groups", None, body, t(1), Flavour::V13).unwrap().root;
    let out = run(&r, "PUT", "/v2/groups/g", None, r#"{"scaleBy":1.5}"#, t(2), Flavour::V13).unwrap();
    assert_eq!(out.root.find_app(&PathId::parse("/g/a")).unwrap().app().instances, Some(5));
    assert_eq!(out.root.find_app(&PathId::parse("/g/b")).unwrap().app().instances, Some(2));
    let dry = run(&r, "PUT", "/v2/groups/g", Some("dryRun=true"), r#"{"scaleBy":2}"#, t(2), Flavour::V13).unwrap();
    assert!(!dry.deployment);
    assert_eq!(dry.root, r);
    assert_eq!(dry.steps.len(), 1);
    let err = run(&r, "PUT", "/v2/groups/g", None, r#"{"scaleBy":2,"apps":[]}"#, t(2), Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 422);
}

#[test]
fn rollback_restores_the_old_group() {
    struct H(Group);
    impl History for H {
        fn root_at(&self, v: &str) -> Option<Group> {
            (v == t(1).to_joda()).then(|| self.0.clone())
        }
        fn app_at(&self, _: &PathId, _: &str) -> Option<crate::App> {
            None
        }
    }
    let r1 = run(&empty(), "POST", "/v2/groups", None, r#"{"id":"g","apps":[{"id":"a","cmd":"x"}]}"#, t(1), Flavour::V13).unwrap().root;
    let r2 = run(&r1, "PUT", "/v2/groups/g", None, r#"{"apps":[{"id":"b","cmd":"x"}]}"#, t(2), Flavour::V13).unwrap().root;
    assert!(r2.find_app(&PathId::parse("/g/a")).is_none());
    let body = format!(r#"{{"version":"{}"}}"#, t(1).to_joda());
    let w = parse_write("PUT", "/v2/groups/g", None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
    let out = apply(&r2, &w, t(3), Flavour::V13, &H(r1.clone())).unwrap();
    assert!(out.root.find_app(&PathId::parse("/g/a")).is_some());
    assert!(out.root.find_app(&PathId::parse("/g/b")).is_none());
    let err = apply(&r2, &w, t(3), Flavour::V13, &NoHistory).unwrap_err();
    assert_eq!(err.status(), 422);
}

#[test]
fn delete_groups() {
    let r = run(&empty(), "POST", "/v2/groups", None, r#"{"id":"g","apps":[{"id":"a","cmd":"x"}]}"#, t(1), Flavour::V13).unwrap().root;
    let err = run(&r, "DELETE", "/v2/groups/nope", None, "", t(2), Flavour::V13).unwrap_err();
    assert_eq!(err.body()["message"], "Group '/nope' does not exist");
    let out = run(&r, "DELETE", "/v2/groups/g", None, "", t(2), Flavour::V13).unwrap();
    assert!(out.root.find_group(&PathId::parse("/g")).is_none());
    let out = run(&r, "DELETE", "/v2/groups", None, "", t(2), Flavour::V13).unwrap();
    assert!(out.root.transitive_apps().is_empty());
}

#[test]
fn scale_by_kill() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/p/a","cmd":"x","instances":4}"#, t(1), Flavour::V13).unwrap().root;
    let out = run(&r, "POST", "/v2/tasks/delete", Some("scale=true"), r#"{"ids":["p_a.1","p_a.2"]}"#, t(2), Flavour::V13).unwrap();
    assert_eq!(out.root.find_app(&PathId::parse("/p/a")).unwrap().app().instances, Some(2));
    let out = run(&out.root, "DELETE", "/v2/apps/p/a/tasks/p_a.3", Some("scale=true"), "", t(3), Flavour::V13).unwrap();
    assert_eq!(out.root.find_app(&PathId::parse("/p/a")).unwrap().app().instances, Some(1));
    assert!(parse_write("DELETE", "/v2/apps/p/a/tasks", None, b"", Flavour::V13).unwrap().is_none());
    let err = parse_write("DELETE", "/v2/apps/p/a/tasks", Some("scale=true&wipe=true"), b"", Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn invalid_bodies_get_marathon_errors() {
    let err = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/a","cmd":"ls","container":{"type":"DOCKER","docker":{"image":"b","network":"bogus"}}}"#, t(1), Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.body()["details"][0]["path"], "/container/docker/network");
    let err = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/a"}"#, t(1), Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(err.body()["details"][0]["errors"][0], "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.");
    let err = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/Bad_Id","cmd":"x"}"#, t(1), Flavour::V13).unwrap_err();
    assert_eq!((err.status(), err.body()["details"][0]["path"].as_str()), (422, Some("/id")));
    let err = parse_write("POST", "/v2/apps", None, b"{nope", Flavour::V13).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.body()["details"].is_string());
    let err = run(&empty(), "POST", "/v2/groups", None, r#"{"id":"g","groups":[{"id":"x","apps":[{}]}]}"#, t(1), Flavour::V13).unwrap_err();
    assert_eq!(err.body()["details"][0]["path"], "/groups(0)/apps(0)/id");
}

#[test]
fn pods_on_v14_only() {
    let f = Flavour::V14;
    let pod = r#"{"id":"/p","containers":[{"name":"c","resources":{"cpus":0.1,"mem":32}}]}"#;
    let out = run(&canonical_root(Group::empty_root(), f), "POST", "/v2/pods", None, pod, t(1), f).unwrap();
    assert!(out.root.find_pod(&PathId::parse("/p")).is_some());
    assert_eq!(out.pod.as_ref().unwrap().version, Some(t(1).to_joda()));
    let del = run(&out.root, "DELETE", "/v2/pods/p", None, "", t(2), f).unwrap();
    assert!(del.root.find_pod(&PathId::parse("/p")).is_none());
    assert!(parse_write("POST", "/v2/pods", None, pod.as_bytes(), Flavour::V13).unwrap().is_none());
}

#[test]
fn revert_undoes_a_plan() {
    let r1 = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"a","cmd":"x"}"#, t(1), Flavour::V13).unwrap().root;
    let out = run(&r1, "POST", "/v2/apps", None, r#"{"id":"/n/b","cmd":"x"}"#, t(2), Flavour::V13).unwrap();
    let w = Write { change: Change::RevertDeployment { id: "d".into(), plan: Some(Box::new((r1.clone(), out.root.clone()))) }, force: true };
    let back = apply(&out.root, &w, t(3), Flavour::V13, &NoHistory).unwrap();
    assert!(back.root.find_app(&PathId::parse("/n/b")).is_none());
    assert!(back.root.find_group(&PathId::parse("/n")).is_none());
    assert!(back.root.find_app(&PathId::parse("/a")).is_some());
}

#[test]
fn reads_are_not_writes() {
    for (m, p) in [("GET", "/v2/apps"), ("GET", "/v2/groups"), ("GET", "/v2/info"), ("DELETE", "/v2/deployments/x")] {
        let q = if p == "/v2/deployments/x" { Some("force=true") } else { None };
        assert!(parse_write(m, p, q, b"", Flavour::V13).unwrap().is_none(), "{m} {p}");
    }
    let w = parse_write("DELETE", "/v2/apps/a", None, b"", Flavour::V13).unwrap().unwrap();
    assert!(w.force, "DELETE /v2/apps defaults to force=true");
}

#[test]
fn a_batch_applies_each_entry_on_top_of_the_earlier_ones_in_one_pass() {
    let r = run(&empty(), "POST", "/v2/apps", None, r#"{"id":"/g/a","cmd":"x","instances":2}"#, t(1), Flavour::V13).unwrap().root;
    let body = r#"[{"id":"/g/a","instances":5},{"id":"/g/b","cmd":"y"},{"id":"/g/b","instances":3},{"id":"/h/c","cmd":"z"}]"#;
    let out = run(&r, "PUT", "/v2/apps", None, body, t(2), Flavour::V13).unwrap();
    let app = |id: &str| out.root.find_app(&PathId::parse(id)).unwrap().app();
    assert_eq!((app("/g/a").cmd.as_deref(), app("/g/a").instances), (Some("x"), Some(5)), "partial over the stored app");
    assert_eq!((app("/g/b").cmd.as_deref(), app("/g/b").instances), (Some("y"), Some(3)), "the second entry over the first");
    let ids: Vec<&str> = out.root.find_group(&PathId::parse("/g")).unwrap().apps().iter().filter_map(|a| a.id()).collect();
    assert_eq!(ids, ["/g/a", "/g/b"], "one app per id, in the order first written");
    assert!(out.root.find_app(&PathId::parse("/h/c")).is_some());
    // Each new app gets its own service port.
    assert_ne!(app("/g/b").ports, app("/h/c").ports);
}
