//! Quota arithmetic, exemptions and entry validation.

use marathon_model::ops::{apply, canonical_root, parse_write, Flavour, NoHistory};
use marathon_model::{Group, PathId, Timestamp};
use znode_size::{Estimator, StoreConfig};

use super::*;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

fn empty() -> Group {
    canonical_root(Group::empty_root(), Flavour::V13)
}

/// Applies a write; returns the target and the ids it touches (as the proxy computes them).
fn write(root: &Group, method: &str, path: &str, body: &str) -> (Group, Vec<String>) {
    let w = parse_write(method, path, None, body.as_bytes(), Flavour::V13).unwrap().unwrap();
    let out = apply(root, &w, t(5), Flavour::V13, &NoHistory).unwrap();
    let mut touched: Vec<String> = out.affected.iter().map(|p| p.to_string()).collect();
    let rest = path.trim_start_matches("/v2/").split_once('/').map(|(_, r)| r).unwrap_or("");
    if !rest.is_empty() {
        touched.push(format!("/{rest}"));
    }
    (out.root, touched)
}

fn app(id: &str, cpus: f64, mem: f64, instances: u32, env: usize) -> String {
    let env: serde_json::Map<String, serde_json::Value> =
        (0..env).map(|i| (format!("K{i}"), serde_json::json!(format!("v{i}")))).collect();
    serde_json::json!({"id": id, "cmd": "sleep 1", "cpus": cpus, "mem": mem, "instances": instances, "env": env})
        .to_string()
}

fn state(apps: &[(&str, f64, f64, u32, usize)]) -> Group {
    let mut root = empty();
    for (id, c, m, n, e) in apps {
        root = write(&root, "POST", "/v2/apps", &app(id, *c, *m, *n, *e)).0;
    }
    root
}

fn quota(toml_like: serde_json::Value) -> Quota {
    serde_json::from_value(toml_like).unwrap()
}

fn set(quotas: Vec<serde_json::Value>, exemptions: Vec<serde_json::Value>) -> QuotaSet {
    QuotaSet {
        quota: quotas.into_iter().map(quota).collect(),
        exemption: exemptions.into_iter().map(|e| serde_json::from_value(e).unwrap()).collect(),
    }
}

fn check(s: &QuotaSet, base: &Group, target: &Group, touched: &[String], client: &ClientIdentity) -> QuotaOutcome {
    let mut engine = QuotaEngine::new(AppFlavor::V13);
    evaluate(s, &mut engine, QuotaChange { base, target, touched }, client, t(10))
}

fn anon() -> ClientIdentity {
    ClientIdentity::default()
}

#[test]
fn usage_counts_resources_times_instances_and_bytes_match_the_encoder() {
    let root = state(&[("/dev/a", 0.5, 256.0, 3, 2), ("/dev/b/c", 2.0, 1024.0, 2, 7), ("/prod/x", 1.0, 128.0, 1, 0)]);
    let mut e = QuotaEngine::new(AppFlavor::V13);
    let g: GroupPath = "/dev".to_string().try_into().unwrap();
    let (u, facts) = e.usage(&root, &g, true);
    assert_eq!(u.apps, 2);
    assert_eq!(u.instances, 5);
    assert!((u.cpus - (0.5 * 3.0 + 2.0 * 2.0)).abs() < 1e-9);
    assert!((u.mem - (256.0 * 3.0 + 1024.0 * 2.0)).abs() < 1e-9);
    assert_eq!(u.max_env_vars, 7);
    assert_eq!(facts.len(), 2);
    // Bytes: the subtree's length in the whole root's encoding.
    let encoded = Estimator::new(StoreConfig::marathon_1_3()).encode(&root);
    let mut dev_len = 0;
    let mut app_max = 0;
    encoded.visit(&mut |eg| {
        if eg.id == PathId::parse("/dev") {
            dev_len = eg.len() as u64;
        }
        if eg.id.to_string().starts_with("/dev") {
            for a in &eg.apps {
                app_max = app_max.max(a.bytes.len() as u64);
            }
        }
    });
    assert_eq!(u.bytes, dev_len);
    assert_eq!(u.max_app_bytes, app_max);
    let (none, _) = e.usage(&root, &"/nope".to_string().try_into().unwrap(), true);
    assert_eq!(none, Usage::default());
    let (all, _) = e.usage(&root, &"/".to_string().try_into().unwrap(), true);
    assert_eq!(all.apps, 3);
    assert_eq!(all.bytes, encoded.len() as u64);
}

#[test]
fn nested_quotas_all_hold() {
    let base = state(&[("/dev/a/one", 1.0, 128.0, 1, 0), ("/dev/b/one", 1.0, 128.0, 1, 0), ("/dev/b/two", 1.0, 128.0, 1, 0)]);
    let s = set(
        vec![
            serde_json::json!({"group": "/dev", "max_apps": 3, "owner": "team-dev@example.com"}),
            serde_json::json!({"group": "/dev/a", "max_apps": 1}),
        ],
        vec![],
    );
    // Into /dev/a: /dev/a (1 app) and /dev (3 apps) both refuse.
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/a/two", 1.0, 128.0, 1, 0));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    assert_eq!(out.evaluated, vec!["/dev", "/dev/a"]);
    let quotas: Vec<&str> = out.findings.iter().map(|f| f.quota.as_str()).collect();
    assert_eq!(quotas, vec!["/dev", "/dev/a"]);
    let m = out.reasons().join(" ");
    for needle in [
        "exceeded quota /dev (owner: team-dev@example.com)",
        "requested: apps=1, used: apps=3, limited: apps=3",
        "exceeded quota /dev/a",
        "used: apps=1, limited: apps=1",
        "Way out: delete apps in /dev",
        "raise `max_apps`",
        "[[exemption]]",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in {m}");
    }
    // Into /dev/c: only /dev applies, and refuses.
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/c/x", 1.0, 128.0, 1, 0));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    assert_eq!(out.evaluated, vec!["/dev"]);
    // Outside: nothing applies.
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/prod/x", 1.0, 128.0, 1, 0));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Allow);
    assert!(out.evaluated.is_empty());
}

#[test]
fn resources_times_instances_and_a_scale_up() {
    let base = state(&[("/dev/web", 2.0, 512.0, 3, 0)]);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_cpus": 8.0, "max_mem": 2048, "max_instances": 10})], vec![]);
    // 2 cpus x 3 = 6 <= 8: allowed. Scale to 5: 10 cpus > 8, 2560 MiB > 2048.
    let (target, touched) = write(&base, "PUT", "/v2/apps/dev/web", r#"{"instances": 5}"#);
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    let res: Vec<Resource> = out.findings.iter().map(|f| f.resource).collect();
    assert_eq!(res, vec![Resource::Cpus, Resource::Mem]);
    let m = out.reasons().join(" ");
    assert!(m.contains("requested: cpus=4, used: cpus=6, limited: cpus=8"), "{m}");
    assert!(m.contains("cpus x instances"), "{m}");
    assert!(m.contains("10 after this change"), "{m}");
    assert!(m.contains("scale down"), "{m}");
    // Scale to 4: 8 cpus (at the limit, not over), 2048 MiB: allowed.
    let (target, touched) = write(&base, "PUT", "/v2/apps/dev/web", r#"{"instances": 4}"#);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Allow);
    // More cpus per instance: 2.5 x 3 = 7.5 ok; 3 x 3 = 9 refused.
    let (target, touched) = write(&base, "PUT", "/v2/apps/dev/web", r#"{"cpus": 3}"#);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Reject);
}

#[test]
fn a_group_replace_is_measured_on_the_target() {
    let base = state(&[("/dev/a", 1.0, 128.0, 1, 0)]);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_apps": 2, "max_instances": 4})], vec![]);
    let body = serde_json::json!({"id": "/dev", "apps": [
        {"id": "/dev/a", "cmd": "x", "instances": 1},
        {"id": "/dev/b", "cmd": "x", "instances": 2},
        {"id": "/dev/c", "cmd": "x", "instances": 2}
    ]})
    .to_string();
    let (target, touched) = write(&base, "PUT", "/v2/groups/dev", &body);
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    let f: Vec<(Resource, f64, f64)> = out.findings.iter().map(|f| (f.resource, f.used, f.after)).collect();
    assert_eq!(f, vec![(Resource::Apps, 1.0, 3.0), (Resource::Instances, 1.0, 5.0)]);
    // A replace that fits.
    let body = serde_json::json!({"id": "/dev", "apps": [{"id": "/dev/b", "cmd": "x", "instances": 4}]}).to_string();
    let (target, touched) = write(&base, "PUT", "/v2/groups/dev", &body);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Allow);
}

#[test]
fn a_shrinking_change_is_never_refused() {
    // Already over: 3 apps, 6 instances against 2 and 4 (the quota was lowered later).
    let base = state(&[("/dev/a", 1.0, 128.0, 2, 0), ("/dev/b", 1.0, 128.0, 2, 0), ("/dev/c", 1.0, 128.0, 2, 0)]);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_apps": 2, "max_instances": 4, "max_bytes": 10})], vec![]);
    for (method, path, body) in [
        ("DELETE", "/v2/apps/dev/a", ""),
        ("PUT", "/v2/apps/dev/b", r#"{"instances": 1}"#),
        ("DELETE", "/v2/groups/dev", ""),
    ] {
        let (target, touched) = write(&base, method, path, body);
        let out = check(&s, &base, &target, &touched, &anon());
        assert_ne!(out.verdict, Verdict::Reject, "{method} {path}: {:?}", out.reasons());
        assert!(out.findings.iter().all(|f| f.kind == FindingKind::StillOver), "{method} {path}");
    }
    let (target, touched) = write(&base, "DELETE", "/v2/apps/dev/a", "");
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Warn);
    assert!(out.reasons()[0].contains("does not grow it"), "{:?}", out.reasons());
    // But growing while over is refused.
    let (target, touched) = write(&base, "PUT", "/v2/apps/dev/b", r#"{"instances": 3}"#);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Reject);
}

#[test]
fn per_app_limits() {
    let base = state(&[("/dev/old", 1.0, 128.0, 1, 70)]);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_env_vars": 60, "max_app_bytes": 100000})], vec![]);
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/new", 1.0, 128.0, 1, 61));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    let refusing: Vec<&Finding> = out.findings.iter().filter(|f| f.refuses()).collect();
    assert_eq!(refusing.len(), 1);
    assert_eq!(refusing[0].app.as_deref(), Some("/dev/new"));
    let m = refusing[0].message();
    assert!(m.contains("app /dev/new: requested: env_vars=61, used: env_vars=0, limited: env_vars=60"), "{m}");
    assert!(m.contains("config file"), "{m}");
    // The old app, over already, loses some: forwarded.
    let (target, touched) = write(&base, "PUT", "/v2/apps/dev/old", &app("/dev/old", 1.0, 128.0, 1, 65));
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Warn);
    // App bytes.
    let s = set(vec![serde_json::json!({"group": "/dev", "max_app_bytes": 400})], vec![]);
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/small", 1.0, 128.0, 1, 0));
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Warn, "only the old app is over");
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/big", 1.0, 128.0, 1, 40));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    assert!(out.reasons()[0].contains("app /dev/big: requested: app_bytes="), "{:?}", out.reasons());
}

#[test]
fn bytes_quota() {
    let base = state(&[("/dev/a", 1.0, 128.0, 1, 5)]);
    let mut e = QuotaEngine::new(AppFlavor::V13);
    let (u, _) = e.usage(&base, &"/dev".to_string().try_into().unwrap(), true);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_bytes": u.bytes + 50})], vec![]);
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/b", 1.0, 128.0, 1, 5));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    assert_eq!(out.findings[0].used, u.bytes as f64);
    assert!(out.reasons()[0].contains("persisted bytes of the subtree"), "{:?}", out.reasons());
}

#[test]
fn warn_mode_forwards() {
    let base = state(&[("/dev/a", 1.0, 128.0, 1, 0)]);
    let s = set(vec![serde_json::json!({"group": "/dev", "max_apps": 1, "mode": "warn"})], vec![]);
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/b", 1.0, 128.0, 1, 0));
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Warn);
    assert!(out.reasons()[0].contains("mode is `warn`"), "{:?}", out.reasons());
}

#[test]
fn exemptions_active_expired_by_group_and_client() {
    let base = state(&[("/dev/a/x", 1.0, 128.0, 1, 0)]);
    let q = serde_json::json!({"group": "/dev", "max_apps": 1});
    let (target, touched) = write(&base, "POST", "/v2/apps", &app("/dev/a/y", 1.0, 128.0, 1, 0));
    let future = "2099-01-01T00:00:00Z";
    let past = "2001-01-01T00:00:00+02:00";

    // By group prefix, active.
    let s = set(vec![q.clone()], vec![serde_json::json!({"group": "/dev/a", "expires": future, "ticket": "OPS-1"})]);
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Warn);
    assert_eq!(out.exemptions_used.len(), 1);
    assert_eq!(out.exemptions_used[0].ticket, "OPS-1");
    assert!(out.reasons()[0].contains("forwarded under exemption OPS-1"), "{:?}", out.reasons());
    // A prefix elsewhere does not match.
    let s = set(vec![q.clone()], vec![serde_json::json!({"group": "/dev/b", "expires": future, "ticket": "OPS-1"})]);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Reject);

    // Expired: ignored, and said so.
    let s = set(vec![q.clone()], vec![serde_json::json!({"group": "/dev", "expires": past, "ticket": "OPS-0"})]);
    let out = check(&s, &base, &target, &touched, &anon());
    assert_eq!(out.verdict, Verdict::Reject);
    assert!(out.exemptions_used.is_empty());
    assert_eq!(out.expired_ignored, vec!["OPS-0"]);
    assert!(out.reasons().iter().any(|r| r.contains("OPS-0 has expired")));

    // By client: the Basic auth user.
    let s = set(vec![q.clone()], vec![serde_json::json!({"client": "ci-bot", "expires": future, "ticket": "OPS-2"})]);
    assert_eq!(check(&s, &base, &target, &touched, &anon()).verdict, Verdict::Reject);
    let bot = ClientIdentity { user: Some("ci-bot".into()), headers: vec![] };
    let out = check(&s, &base, &target, &touched, &bot);
    assert_eq!(out.verdict, Verdict::Warn);
    assert_eq!(out.exemptions_used[0].client.as_deref(), Some("ci-bot"));
    // By client: a configured header, and group and client together.
    let s = set(
        vec![q.clone()],
        vec![serde_json::json!({"group": "/dev", "client": "team-a", "header": "X-Client-Id", "expires": future, "ticket": "OPS-3"})],
    );
    assert_eq!(s.identity_headers(), vec!["x-client-id"]);
    let hdr = ClientIdentity { user: Some("ci-bot".into()), headers: vec![("x-client-id".into(), "team-a".into())] };
    assert_eq!(check(&s, &base, &target, &touched, &hdr).verdict, Verdict::Warn);
    let other = ClientIdentity { user: None, headers: vec![("x-client-id".into(), "team-b".into())] };
    assert_eq!(check(&s, &base, &target, &touched, &other).verdict, Verdict::Reject);
}

#[test]
fn entries_are_validated() {
    let bad = |v: serde_json::Value| serde_json::from_value::<Quota>(v).unwrap_err().to_string();
    assert!(bad(serde_json::json!({"group": "dev", "max_apps": 1})).contains("absolute group id"));
    assert!(bad(serde_json::json!({"group": "/dev"})).contains("sets no limit"));
    assert!(bad(serde_json::json!({"group": "/dev", "max_apps": -1})).contains("-1"));
    assert!(bad(serde_json::json!({"group": "/dev", "max_cpus": -0.5})).contains("non-negative"));
    assert!(bad(serde_json::json!({"group": "/dev", "max_apps": 1, "mode": "strict"})).contains("strict"));
    assert!(bad(serde_json::json!({"group": "/dev", "max_apps": 1, "max_appz": 1})).contains("max_appz"));
    assert!(bad(serde_json::json!({"group": "/dev//x", "max_apps": 1})).contains("segment"));
    let q = quota(serde_json::json!({"group": "/dev/", "max_cpus": 4, "owner": "me"}));
    assert_eq!(q.group.as_str(), "/dev");
    assert_eq!(q.max_cpus, Some(Amount(4.0)));
    assert_eq!(q.mode, QuotaMode::Enforce);

    let bad = |v: serde_json::Value| serde_json::from_value::<Exemption>(v).unwrap_err().to_string();
    assert!(bad(serde_json::json!({"expires": "2099-01-01T00:00:00Z", "ticket": "T"})).contains("`group`"));
    assert!(bad(serde_json::json!({"group": "/dev", "ticket": "T"})).contains("expires"));
    assert!(bad(serde_json::json!({"group": "/dev", "expires": "2099-01-01T00:00:00Z"})).contains("ticket"));
    assert!(bad(serde_json::json!({"group": "/dev", "expires": "tomorrow", "ticket": "T"})).contains("RFC 3339"));
    assert!(bad(serde_json::json!({"group": "/dev", "expires": "2099-01-01", "ticket": "T"})).contains("RFC 3339"));
    assert!(bad(serde_json::json!({"group": "/dev", "header": "X-A", "expires": "2099-01-01T00:00:00Z", "ticket": "T"}))
        .contains("needs `client`"));
    assert!(bad(serde_json::json!({"client": "a", "header": "X A", "expires": "2099-01-01T00:00:00Z", "ticket": "T"}))
        .contains("header name"));
    let e: Exemption =
        serde_json::from_value(serde_json::json!({"group": "/dev", "expires": "2030-01-01T01:00:00+01:00", "ticket": "T"})).unwrap();
    assert_eq!(e.expires.0, Timestamp::parse("2030-01-01T00:00:00Z").unwrap());
    assert!(e.active(t(0)));
}

#[test]
fn pods_count_as_apps_do() {
    let base = canonical_root(Group::empty_root(), Flavour::V14);
    let env: serde_json::Map<String, serde_json::Value> = (0..6).map(|i| (format!("K{i}"), serde_json::json!("v"))).collect();
    let pod = serde_json::json!({"id": "/dev/p", "scaling": {"kind": "fixed", "instances": 50}, "environment": env,
        "containers": [{"name": "c", "resources": {"cpus": 4, "mem": 64}}]});
    let w = parse_write("POST", "/v2/pods", None, pod.to_string().as_bytes(), Flavour::V14).unwrap().unwrap();
    let out = apply(&base, &w, t(5), Flavour::V14, &NoHistory).unwrap();
    let touched: Vec<String> = out.affected.iter().map(|p| p.to_string()).collect();
    let s = set(vec![serde_json::json!({"group": "/dev", "max_instances": 2, "max_cpus": 1, "max_env_vars": 3, "max_apps": 0})], vec![]);
    let mut engine = QuotaEngine::new(AppFlavor::V14);
    let outcome = evaluate(&s, &mut engine, QuotaChange { base: &base, target: &out.root, touched: &touched }, &anon(), t(10));
    assert_eq!(outcome.verdict, Verdict::Reject);
    let reasons = outcome.reasons().join(" | ");
    for needle in ["instances=50", "cpus=200", "env_vars=6", "apps=1"] {
        assert!(reasons.contains(needle), "{needle} missing in {reasons}");
    }
    let (usage, _) = engine.usage(&out.root, &"/dev".to_string().try_into().unwrap(), true);
    assert_eq!((usage.apps, usage.instances, usage.mem), (1, 50, 3200.0));
}

#[test]
fn the_innermost_owned_quota_answers_for_a_write() {
    let s = set(
        vec![
            serde_json::json!({"group": "/dev", "max_apps": 9, "owner": "dev-leads"}),
            serde_json::json!({"group": "/dev/team", "max_apps": 9, "owner": "team@example.com"}),
            serde_json::json!({"group": "/dev/team/quiet", "max_apps": 9}),
        ],
        vec![],
    );
    let who = |ids: &[&str]| s.responsible(ids.iter().copied());
    assert_eq!(who(&["/dev/team/quiet/api"]), Responsible { group: "/dev/team".into(), owner: Some("team@example.com".into()) });
    assert_eq!(who(&["/dev/other", "/dev/team/x"]).owner.as_deref(), Some("team@example.com"));
    assert_eq!(who(&["/dev/other"]), Responsible { group: "/dev".into(), owner: Some("dev-leads".into()) });
    // No owner on the path: the top-level group, so that notifications still group by team.
    assert_eq!(who(&["/devops/x/y"]), Responsible { group: "/devops".into(), owner: None });
    assert_eq!(who(&["/lonely"]), Responsible { group: "/lonely".into(), owner: None });
    assert_eq!(who(&[]), Responsible { group: "/".into(), owner: None });
}
