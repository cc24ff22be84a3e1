//! The raw lengths of a fast estimate are exact: the target's length is `S`'s, changed by what
//! the target does not share with `S` (apps, groups, dependencies), and equals the length of the
//! target encoded in full.

use marathon_model::{Group, PathId, SharedApp};
use proptest::prelude::*;

use crate::synthetic::{app, heroku_root};
use crate::{Estimator, StoreConfig, WarmState};

#[derive(Debug, Clone)]
enum Edit {
    ChangeApp(usize),
    AddApp(usize),
    RemoveApp(usize),
    AddGroup(usize),
    RemoveGroup(usize),
    Depend(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::ChangeApp),
        any::<usize>().prop_map(Edit::AddApp),
        any::<usize>().prop_map(Edit::RemoveApp),
        any::<usize>().prop_map(Edit::AddGroup),
        any::<usize>().prop_map(Edit::RemoveGroup),
        any::<usize>().prop_map(Edit::Depend),
    ];
    proptest::collection::vec(edit, 1..5)
}

fn changed(id: &str, seed: u64) -> SharedApp {
    let mut a = app(id, 3 + (seed % 5) as usize, seed);
    a.version = Some("2017-03-02T10:00:00.000Z".into());
    SharedApp::new(a)
}

fn edit(root: &mut Group, e: &Edit, serial: u64) {
    let groups = root.groups.get_or_insert_with(Vec::new);
    let n = groups.len().max(1);
    match e {
        Edit::AddGroup(k) => {
            let id = format!("/added-{serial}");
            let mut g = Group::empty(&PathId::parse(&id));
            g.apps = Some(vec![changed(&format!("{id}/one"), serial)].into());
            let mut sub = Group::empty(&PathId::parse(&format!("{id}/inner")));
            sub.apps = Some(vec![changed(&format!("{id}/inner/two"), serial + 1)].into());
            g.groups = Some(vec![sub]);
            groups.insert(k % (groups.len() + 1), g);
        }
        Edit::RemoveGroup(k) if !groups.is_empty() => {
            groups.remove(k % n);
        }
        Edit::Depend(k) if !groups.is_empty() => {
            groups[k % n].dependencies = Some(vec![format!("/dep-{serial}")]);
        }
        Edit::ChangeApp(k) | Edit::AddApp(k) | Edit::RemoveApp(k) if !groups.is_empty() => {
            let g = &mut groups[k % n];
            let gid = g.id.clone().unwrap_or_default();
            let apps = g.apps.get_or_insert_with(Default::default);
            let i = (k / 11) % apps.len().max(1);
            match e {
                Edit::ChangeApp(_) if !apps.is_empty() => {
                    let id = apps[i].id().unwrap_or_default().to_string();
                    apps[i] = changed(&id, serial + 100);
                }
                Edit::RemoveApp(_) if !apps.is_empty() => {
                    apps.remove(i);
                }
                Edit::AddApp(_) => apps.push(changed(&format!("{gid}/new-{serial}"), serial)),
                _ => {}
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn raw_lengths_are_those_of_the_target_encoded_in_full(edits in edits()) {
        let store = StoreConfig::marathon_1_3();
        let s = heroku_root(40, 2);
        let warm = WarmState::prepare(&s, &store);
        let mut target = s.clone();
        for (serial, e) in edits.iter().enumerate() {
            edit(&mut target, e, serial as u64);
        }
        let fast = warm.deployment(&target, &[]);
        let exact = Estimator::new(store).deployment(&s, &target);
        prop_assert_eq!(fast.estimate.plan_raw_bytes, exact.plan_raw_bytes);
        if fast.exact {
            prop_assert_eq!(fast.estimate, exact);
        } else {
            prop_assert!(fast.estimate.binding_bytes.abs_diff(exact.binding_bytes) <= fast.error_bound);
        }
    }
}

#[test]
fn an_app_met_again_costs_what_it_cost_and_another_at_its_place_its_own() {
    let store = StoreConfig::marathon_1_3();
    let s = heroku_root(300, 10);
    let put = |seed: u64, env: usize| {
        let mut t = s.clone();
        let apps = t.find_group_mut(&PathId::parse("/heroku")).unwrap().apps.as_mut().unwrap();
        let mut a = app("/heroku/app-3", env, seed);
        a.version = Some("2017-03-02T10:00:00.000Z".into());
        apps[3] = SharedApp::new(a);
        t
    };
    let (small, large) = (put(1, 2), put(2, 60));
    let warm = WarmState::prepare(&s, &store);
    let first = warm.deployment(&small, &[]);
    assert_eq!(warm.deployment(&small, &[]), first, "the same app at the same place");
    let fresh = WarmState::prepare(&s, &store).deployment(&large, &[]);
    assert_eq!(warm.deployment(&large, &[]), fresh, "another app at the same place is measured, not looked up");
    assert!(fresh.estimate.binding_bytes > first.estimate.binding_bytes);
}
