use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::{App, PathId};

/// An app with one Marathon-side health check (so that the count follows the instances).
fn app(id: &str, instances: u32) -> SharedApp {
    let checks = Some(vec![serde_json::from_str(r#"{"protocol": "HTTP"}"#).unwrap()]);
    SharedApp::new(App { id: Some(id.into()), instances: Some(instances), health_checks: checks, ..App::default() })
}

/// `/g0` .. `/g{groups-1}`, each with `apps` apps and one subgroup `/gN/sub` with two.
fn tree(groups: usize, apps: usize) -> Group {
    let mut root = Group::empty_root();
    for g in 0..groups {
        let gid = format!("/g{g}");
        let mut group = Group::empty(&PathId::parse(&gid));
        group.apps = Some((0..apps).map(|a| app(&format!("{gid}/a{a}"), 1)).collect());
        let mut sub = Group::empty(&PathId::parse(&format!("{gid}/sub")));
        sub.apps = Some((0..2).map(|a| app(&format!("{gid}/sub/s{a}"), 1)).collect());
        group.groups = Some(vec![sub]);
        root.groups.get_or_insert_with(Vec::new).push(group);
    }
    root
}

/// One edit a write can make.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize),
    ReplaceWithEqual(usize),
    Remove(usize),
    Add(usize),
    AddGroup(usize),
    RemoveGroup(usize),
    SwapApps(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Replace),
        any::<usize>().prop_map(Edit::ReplaceWithEqual),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Add),
        any::<usize>().prop_map(Edit::AddGroup),
        any::<usize>().prop_map(Edit::RemoveGroup),
        any::<usize>().prop_map(Edit::SwapApps),
    ];
    proptest::collection::vec(edit, 0..6)
}

fn apply(root: &mut Group, edit: &Edit, serial: usize) {
    let groups = root.groups.as_mut().unwrap();
    if groups.is_empty() {
        return;
    }
    let pick = |n: usize, k: usize| k % n.max(1);
    match edit {
        Edit::AddGroup(k) => {
            let id = format!("/new{serial}");
            let mut g = Group::empty(&PathId::parse(&id));
            g.apps = Some(vec![app(&format!("{id}/x"), 1)].into());
            let mut sub = Group::empty(&PathId::parse(&format!("{id}/deep")));
            sub.apps = Some(vec![app(&format!("{id}/deep/y"), 1)].into());
            g.groups = Some(vec![sub]);
            let at = pick(groups.len() + 1, *k);
            groups.insert(at, g);
        }
        Edit::RemoveGroup(k) => {
            let at = pick(groups.len(), *k);
            groups.remove(at);
        }
        _ => {
            let g = pick(groups.len(), match edit {
                Edit::Replace(k) | Edit::ReplaceWithEqual(k) | Edit::Remove(k) | Edit::Add(k) | Edit::SwapApps(k) => *k,
                _ => unreachable!(),
            });
            let gid = groups[g].id.clone().unwrap();
            let apps = groups[g].apps.get_or_insert_with(Default::default);
            let k = match edit {
                Edit::Replace(k) | Edit::ReplaceWithEqual(k) | Edit::Remove(k) | Edit::Add(k) | Edit::SwapApps(k) => *k / 7,
                _ => 0,
            };
            match edit {
                Edit::Replace(_) if !apps.is_empty() => {
                    let i = pick(apps.len(), k);
                    let id = apps[i].id().unwrap().to_string();
                    apps[i] = app(&id, 2 + serial as u32);
                }
                Edit::ReplaceWithEqual(_) if !apps.is_empty() => {
                    let i = pick(apps.len(), k);
                    apps[i] = SharedApp::new(apps[i].app().into_owned());
                }
                Edit::Remove(_) if !apps.is_empty() => {
                    let i = pick(apps.len(), k);
                    apps.remove(i);
                }
                Edit::Add(_) => apps.push(app(&format!("{gid}/added{serial}"), 1)),
                Edit::SwapApps(_) if apps.len() > 1 => {
                    let i = pick(apps.len(), k);
                    let next = (i + 1) % apps.len();
                    apps.swap(i, next);
                }
                _ => {}
            }
        }
    }
}

/// (touched: the earlier id if any and the later id, in order; removed ids; added group ids)
type Found = (Vec<(Option<String>, String)>, BTreeSet<String>, BTreeSet<String>);

/// The same answer the slow way: every app of both trees by id.
fn by_id(before: &Group, after: &Group) -> Found {
    let earlier: HashMap<&str, &SharedApp> = before.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
    let later: BTreeSet<&str> = after.transitive_apps().into_iter().filter_map(|a| a.id()).collect();
    let touched = after
        .transitive_apps()
        .into_iter()
        .filter(|a| earlier.get(a.id().unwrap()).is_none_or(|b| !SharedApp::ptr_eq(b, a)))
        .map(|a| (earlier.get(a.id().unwrap()).map(|b| b.id().unwrap().to_string()), a.id().unwrap().to_string()))
        .collect();
    let removed = earlier.keys().filter(|id| !later.contains(*id)).map(|s| s.to_string()).collect();
    let groups_before: BTreeSet<String> = before.transitive_groups().into_iter().filter_map(|g| g.id.clone()).collect();
    let added = after.transitive_groups().into_iter().filter_map(|g| g.id.clone()).filter(|id| !groups_before.contains(id)).collect();
    (touched, removed, added)
}

proptest! {
    #[test]
    fn the_diff_is_what_matching_every_app_by_id_finds(groups in 1usize..25, apps in 0usize..6, edits in edits()) {
        let before = tree(groups, apps);
        let mut after = before.clone();
        for (serial, e) in edits.iter().enumerate() {
            apply(&mut after, e, serial);
        }
        let diff = app_diff(&before, &after);
        let (touched, removed, added) = by_id(&before, &after);
        let got: Vec<(Option<String>, String)> =
            diff.touched.iter().map(|t| (t.before.map(|b| b.id().unwrap().to_string()), t.after.id().unwrap().to_string())).collect();
        prop_assert_eq!(got, touched);
        prop_assert_eq!(diff.removed.iter().map(|a| a.id().unwrap().to_string()).collect::<BTreeSet<_>>(), removed);
        prop_assert_eq!(diff.added_groups.iter().filter_map(|g| g.id.clone()).collect::<BTreeSet<_>>(), added);
        // Each touched app is found again where the diff says it is.
        let mut located = after.clone();
        for t in &diff.touched {
            let id = PathId::parse(t.after.id().unwrap());
            let found = after.locate_app(&id);
            prop_assert_eq!(found.as_ref(), Some(&t.at));
            prop_assert!(SharedApp::ptr_eq(located.app_at_mut(&t.at).unwrap(), t.after));
        }
        // What is counted over every app follows from the count of the earlier tree.
        prop_assert_eq!(after.marathon_health_checks_since(&before, before.marathon_health_checks()), after.marathon_health_checks());
        // The locations follow the depth-first order.
        prop_assert!(diff.touched.windows(2).all(|w| w[0].at < w[1].at));
    }
}

#[test]
fn identical_trees_differ_in_nothing() {
    let root = tree(3, 4);
    let copy = root.clone();
    let diff = app_diff(&root, &copy);
    assert!(diff.touched.is_empty() && diff.removed.is_empty() && diff.added_groups.is_empty());
}
