//! The versions and steps of a change against the straightforward way of finding them: every app
//! of both trees matched by id.

use proptest::prelude::*;

use super::*;

fn app(id: &str, instances: u32, cmd: &str, deps: &[&str]) -> SharedApp {
    let mut a = App { id: Some(id.into()), instances: Some(instances), cmd: Some(cmd.into()), ..App::default() };
    a.version = Some("2020-01-01T00:00:00.000Z".into());
    if !deps.is_empty() {
        a.dependencies = Some(deps.iter().map(|d| d.to_string()).collect());
    }
    SharedApp::new(a)
}

fn tree(groups: usize, apps: usize, with_deps: bool) -> Group {
    let mut root = Group::empty_root();
    for g in 0..groups {
        let gid = format!("/g{g}");
        let mut group = Group::empty(&PathId::parse(&gid));
        group.apps = Some(
            (0..apps)
                .map(|a| {
                    let deps: Vec<String> = if with_deps && a > 0 { vec![format!("{gid}/a{}", a - 1)] } else { vec![] };
                    let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
                    app(&format!("{gid}/a{a}"), 1, "run", &deps)
                })
                .collect(),
        );
        root.groups.get_or_insert_with(Vec::new).push(group);
    }
    root
}

#[derive(Debug, Clone)]
enum Edit {
    Scale(usize),
    NewCmd(usize),
    Copy(usize),
    Remove(usize),
    Add(usize),
    Restart(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Scale),
        any::<usize>().prop_map(Edit::NewCmd),
        any::<usize>().prop_map(Edit::Copy),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Add),
        any::<usize>().prop_map(Edit::Restart),
    ];
    proptest::collection::vec(edit, 0..6)
}

/// Applies the edits; returns the restarted ids.
fn edit(root: &mut Group, edits: &[Edit]) -> Vec<PathId> {
    let mut restarted = Vec::new();
    for (serial, e) in edits.iter().enumerate() {
        let groups = root.groups.as_mut().unwrap();
        let k = match e {
            Edit::Scale(k) | Edit::NewCmd(k) | Edit::Copy(k) | Edit::Remove(k) | Edit::Add(k) | Edit::Restart(k) => *k,
        };
        let n = groups.len();
        let g = &mut groups[k % n];
        let gid = g.id.clone().unwrap();
        let apps = g.apps.get_or_insert_with(Default::default);
        if apps.is_empty() && !matches!(e, Edit::Add(_)) {
            continue;
        }
        let i = (k / 7) % apps.len().max(1);
        match e {
            Edit::Scale(_) => {
                let a = apps[i].make_mut();
                a.instances = Some(a.instances.unwrap_or(1) + 1);
                a.version = None;
            }
            Edit::NewCmd(_) => {
                let a = apps[i].make_mut();
                a.cmd = Some(format!("run {serial}"));
                a.version = None;
            }
            Edit::Copy(_) => apps[i] = SharedApp::new(apps[i].app().into_owned()),
            Edit::Remove(_) => {
                apps.remove(i);
            }
            Edit::Add(_) => apps.push(app(&format!("{gid}/new{serial}"), 1, "run", &[])),
            Edit::Restart(_) => restarted.push(PathId::parse(apps[i].id().unwrap())),
        }
    }
    restarted
}

/// Every app's versions, by id.
fn versions(root: &Group) -> Vec<(String, Option<String>, Option<VersionInfo>)> {
    let mut v: Vec<_> = root.transitive_apps().iter().map(|a| (a.id().unwrap().to_string(), a.version().map(String::from), a.app().version_info.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// What the versions must be, found by matching every app by id.
fn stamped_by_id(original: &Group, target: &Group, v: &str, restarted: &[PathId]) -> Vec<(String, Option<String>, Option<VersionInfo>)> {
    let orig: HashMap<&str, &SharedApp> = original.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
    let mut out = Vec::new();
    for shared in target.transitive_apps() {
        let id = shared.id().unwrap();
        let restart = restarted.iter().any(|r| r.to_string() == id);
        let mut copy = shared.clone();
        stamp_app(&mut copy, orig.get(id).copied(), restart, v);
        out.push((id.to_string(), copy.version().map(String::from), copy.app().version_info.clone()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #[test]
    fn stamping_and_steps_look_at_every_app_that_changed(groups in 1usize..6, apps in 1usize..6, deps in any::<bool>(), edits in edits()) {
        let original = tree(groups, apps, deps);
        let mut target = original.clone();
        let restarted = edit(&mut target, &edits);
        let now = Timestamp::parse("2021-02-03T04:05:06.789Z").unwrap();
        let expected = stamped_by_id(&original, &target, &now.to_joda(), &restarted);
        let stamped = stamp_versions(&original, target, now, &restarted);
        prop_assert_eq!(versions(&stamped), expected);
        prop_assert!(stamped.transitive_groups().iter().all(|g| g.version.as_deref() == Some("2021-02-03T04:05:06.789Z")));

        // Steps: every changed app once, new ones started, removed ones stopped.
        let steps = plan_steps(&original, &stamped, &restarted);
        let acted: Vec<(String, String)> = steps.iter().flat_map(|s| s.actions.iter().map(|a| (a.action.clone(), a.run_spec().to_string()))).collect();
        let before: HashMap<&str, &SharedApp> = original.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
        for a in stamped.transitive_apps() {
            let id = a.id().unwrap();
            let count = acted.iter().filter(|(act, s)| s == id && act != "StartApplication").count();
            let changed = match before.get(id) {
                None => true,
                Some(old) => restarted.iter().any(|r| r.to_string() == id) || old.app().instances != a.app().instances || old.app().cmd != a.app().cmd,
            };
            prop_assert_eq!(count, usize::from(changed), "{} in {:?}", id, acted);
            prop_assert_eq!(acted.contains(&("StartApplication".to_string(), id.to_string())), !before.contains_key(id));
        }
        let after: HashSet<&str> = stamped.transitive_apps().into_iter().filter_map(|a| a.id()).collect();
        for id in before.keys().filter(|id| !after.contains(*id)) {
            prop_assert!(acted.contains(&("StopApplication".to_string(), id.to_string())));
        }
        // Dependencies put an app after those it depends on.
        let step_of = |id: &str| steps.iter().position(|s| s.actions.iter().any(|a| a.run_spec() == id && a.action != "StartApplication"));
        for a in stamped.transitive_apps() {
            for dep in a.dependencies() {
                if let (Some(mine), Some(theirs)) = (step_of(a.id().unwrap()), step_of(dep)) {
                    prop_assert!(mine > theirs, "{} before its dependency {}", a.id().unwrap(), dep);
                }
            }
        }
    }
}
