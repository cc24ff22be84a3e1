//! The prepared 1.4+ sizes are the exact path's, whatever a write does to the tree.

use std::sync::Arc;

use marathon_model::{Group, PathId, SharedApp};
use proptest::prelude::*;

use super::V14State;
use crate::synthetic::{app, deep_root};
use crate::{Estimate, Estimator, StoreConfig};

#[derive(Debug, Clone)]
enum Edit {
    ChangeApp(usize),
    GrowApp(usize),
    AddApp(usize),
    RemoveApp(usize),
    AddGroup(usize),
    RemoveGroup(usize),
    Depend(usize),
    Stamp,
    ShrinkHuge,
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::ChangeApp),
        any::<usize>().prop_map(Edit::GrowApp),
        any::<usize>().prop_map(Edit::AddApp),
        any::<usize>().prop_map(Edit::RemoveApp),
        any::<usize>().prop_map(Edit::AddGroup),
        any::<usize>().prop_map(Edit::RemoveGroup),
        any::<usize>().prop_map(Edit::Depend),
        Just(Edit::Stamp),
        Just(Edit::ShrinkHuge),
    ];
    proptest::collection::vec(edit, 0..5)
}

/// The service groups (three levels down), to pick from.
fn service_mut(root: &mut Group, k: usize) -> &mut Group {
    let orgs = root.groups.as_mut().unwrap();
    let n = orgs.len();
    let teams = orgs[k % n].groups.as_mut().unwrap();
    let n = teams.len();
    let team = &mut teams[(k / 7) % n];
    if team.groups().is_empty() {
        return team;
    }
    let svcs = team.groups.as_mut().unwrap();
    let n = svcs.len();
    &mut svcs[(k / 49) % n]
}

/// The app whose node is larger than the root's (so that it binds at rest).
const HUGE: &str = "/org-0/team-0/svc-0/app-0";

fn with_huge_app(mut root: Group) -> Group {
    let apps = root.find_group_mut(&PathId::parse(HUGE).parent()).unwrap().apps.as_mut().unwrap();
    apps[0] = SharedApp::new(app(HUGE, 600, 1));
    root
}

fn edit(root: &mut Group, e: &Edit, serial: u64) {
    match e {
        Edit::ShrinkHuge => {
            if let Some(apps) = root.find_group_mut(&PathId::parse(HUGE).parent()).and_then(|g| g.apps.as_mut()) {
                if let Some(slot) = apps.iter_mut().find(|a| a.id() == Some(HUGE)) {
                    let mut small = app(HUGE, 1, serial);
                    small.version = Some("2017-03-02T10:00:00.100Z".into());
                    *slot = SharedApp::new(small);
                }
            }
        }
        Edit::Stamp => {
            fn walk(g: &mut Group, v: &str) {
                g.version = Some(v.into());
                g.groups.iter_mut().flatten().for_each(|s| walk(s, v));
            }
            walk(root, "2017-03-02T10:00:00.120Z");
        }
        Edit::AddGroup(k) => {
            let g = service_mut(root, *k);
            let id = format!("{}/added-{serial}", g.id.clone().unwrap());
            let mut new = Group::empty(&PathId::parse(&id));
            new.apps = Some(vec![SharedApp::new(app(&format!("{id}/x"), 2, serial))].into());
            g.groups.get_or_insert_with(Vec::new).push(new);
        }
        Edit::RemoveGroup(k) => {
            let orgs = root.groups.as_mut().unwrap();
            let n = orgs.len();
            let teams = orgs[k % n].groups.as_mut().unwrap();
            let n = teams.len();
            teams.remove(k / 3 % n);
        }
        Edit::Depend(k) => service_mut(root, *k).dependencies = Some(vec![format!("/dep-{serial}")]),
        Edit::ChangeApp(k) | Edit::GrowApp(k) | Edit::AddApp(k) | Edit::RemoveApp(k) => {
            let g = service_mut(root, *k);
            let gid = g.id.clone().unwrap();
            let apps = g.apps.get_or_insert_with(Default::default);
            let i = (k / 343) % apps.len().max(1);
            match e {
                Edit::ChangeApp(_) | Edit::GrowApp(_) if !apps.is_empty() => {
                    let id = apps[i].id().unwrap().to_string();
                    let env = if matches!(e, Edit::GrowApp(_)) { 40 } else { 1 };
                    let mut a = app(&id, env, serial + 7);
                    a.version = Some("2017-03-02T10:00:00.100Z".into());
                    apps[i] = SharedApp::new(a);
                }
                Edit::RemoveApp(_) if !apps.is_empty() => {
                    apps.remove(i);
                }
                Edit::AddApp(_) => apps.push(SharedApp::new(app(&format!("{gid}/new-{serial}"), 3, serial))),
                _ => {}
            }
        }
    }
}

/// An estimate's figures (the binding node's name aside: equal nodes may tie).
fn figures(e: &Estimate) -> (u64, Option<u64>, u64, bool, bool) {
    (e.root_bytes, e.plan_bytes, e.binding_bytes, e.accepted, e.grows_a_node)
}

#[test]
fn the_huge_app_binds_at_rest() {
    let s = with_huge_app(deep_root(300, 2));
    assert_eq!(Estimator::new(StoreConfig::marathon_1_4()).state(&s).binding_node, format!("app {HUGE}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn prepared_sizes_are_the_exact_paths(base_edits in edits(), write in edits()) {
        let cfg = StoreConfig::marathon_1_4();
        let s = Arc::new(with_huge_app(deep_root(300, 2)));
        let prepared = V14State::prepare(s.clone(), &cfg);
        let mut base = (*s).clone();
        for (i, e) in base_edits.iter().enumerate() {
            edit(&mut base, e, i as u64);
        }
        let mut target = base.clone();
        for (i, e) in write.iter().enumerate() {
            edit(&mut target, e, 100 + i as u64);
        }
        let exact = Estimator::new(cfg);
        let (current, predicted) = prepared.sizes(&base, &target);
        prop_assert_eq!(figures(&current), figures(&exact.state(&base)));
        prop_assert_eq!(figures(&predicted), figures(&exact.deployment(&base, &target)));
    }
}
