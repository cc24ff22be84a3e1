use super::*;
use crate::{legacy_root_entry, synthetic, Estimator, StoreConfig};
use marathon_model::ops::{canonical_root, Flavour};

/// Orgs of 10 teams, teams of 2-3 services, services of 10 apps, and one service of 3 apps.
fn root() -> Group {
    let mut root = synthetic::deep_root(2_500, 1);
    let first_service = &mut root.groups.as_mut().unwrap()[0].groups.as_mut().unwrap()[0].groups.as_mut().unwrap()[0];
    first_service.apps.as_mut().unwrap().truncate(3);
    canonical_root(root, Flavour::V13)
}

/// A root as Marathon might have stored it: every group's subgroups reversed, and its apps when
/// it has 2-4 (from 5, the encoder orders apps by the hash of their id whatever the model's order).
fn reversed(mut g: Group) -> Group {
    if let Some(apps) = g.apps.as_mut().filter(|a| a.len() <= 4) {
        apps.reverse();
    }
    if let Some(groups) = g.groups.take() {
        g.groups = Some(groups.into_iter().rev().map(reversed).collect());
    }
    g
}

/// As `GET /v2/groups` lists it (the synthetic root numbers its groups: `svc-10` before `svc-2`).
fn sorted_by_id(mut g: Group) -> Group {
    if let Some(apps) = g.apps.as_mut() {
        apps.sort_by(|a, b| a.id().cmp(&b.id()));
    }
    if let Some(groups) = g.groups.take() {
        let mut groups: Vec<Group> = groups.into_iter().map(sorted_by_id).collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        g.groups = Some(groups);
    }
    g
}

fn has_a_group_of(root: &Group, sizes: std::ops::RangeInclusive<usize>) -> bool {
    sizes.contains(&root.groups().len()) || root.groups().iter().any(|g| has_a_group_of(g, sizes.clone()))
}

#[test]
fn the_stored_order_makes_the_model_encode_to_the_stored_bytes() {
    let cfg = StoreConfig::marathon_1_3();
    let by_id = root();
    assert!(has_a_group_of(&by_id, 2..=4) && has_a_group_of(&by_id, 5..=usize::MAX), "both kinds of sets are exercised");
    let stored = reversed(by_id.clone());
    let node = legacy_root_entry(&stored, "00000000-0000-0000-0000-000000000000", &cfg);
    let est = Estimator::new(cfg.clone());
    assert_ne!(est.state(&by_id).root_bytes, node.len() as u64, "the order changes the compressed size");

    let order = StoredOrder::from_legacy_root_node(&node).unwrap();
    assert!(!order.matches(&by_id));
    let (groups, out) = order.out_of_id_order();
    assert!(out > 0 && out < groups, "{out} of {groups}");
    let in_id_order = StoredOrder::from_legacy_root_node(&legacy_root_entry(&sorted_by_id(by_id.clone()), "u", &cfg)).unwrap();
    assert_eq!(in_id_order.out_of_id_order(), (groups, 0));
    let mut model = by_id.clone();
    assert!(order.apply(&mut model));
    assert!(order.matches(&model));
    assert_eq!(est.encode(&model).to_bytes(), est.encode(&stored).to_bytes());
    assert_eq!(est.state(&model).root_bytes, node.len() as u64);
    assert!(!order.apply(&mut model), "applying twice moves nothing");
}

#[test]
fn members_the_store_does_not_know_follow_the_known_ones() {
    let mut g = Group::parse(br#"{"id":"/","groups":[{"id":"/a"},{"id":"/b"},{"id":"/c"}],"apps":[{"id":"/x"},{"id":"/y"}]}"#).unwrap();
    let stored = Group::parse(br#"{"id":"/","version":"2017-01-01T00:00:00.000Z","groups":[{"id":"/c"},{"id":"/a"}],"apps":[{"id":"/y"}]}"#).unwrap();
    let node = legacy_root_entry(&canonical_root(stored, Flavour::V13), "u", &StoreConfig::marathon_1_3());
    let order = StoredOrder::from_legacy_root_node(&node).unwrap();
    assert!(order.apply(&mut g));
    let ids: Vec<_> = g.groups().iter().map(|g| g.id.clone().unwrap()).collect();
    assert_eq!(ids, ["/c", "/a", "/b"]);
    let apps: Vec<_> = g.apps().iter().map(|a| a.id().unwrap().to_owned()).collect();
    assert_eq!(apps, ["/y", "/x"]);
    assert!(!order.matches(&g), "the model has members the store lacks");
}

#[test]
fn an_uncompressed_root_node_is_read_too() {
    let cfg = StoreConfig { compression: false, ..StoreConfig::marathon_1_3() };
    let stored = reversed(root());
    let node = legacy_root_entry(&stored, "u", &cfg);
    let order = StoredOrder::from_legacy_root_node(&node).unwrap();
    assert!(order.matches(&stored));
    assert_eq!(order.version.len(), 24, "the root's Joda version: {:?}", order.version);
}

#[test]
fn a_node_that_is_not_a_root_is_an_error_not_a_panic() {
    assert!(matches!(StoredOrder::from_legacy_root_node(b"\xff\xff\xff"), Err(StoredOrderError::Entry(_))));
    let cfg = StoreConfig::marathon_1_3();
    let mut bad = crate::legacy::entry_with_value("group:root", "u", b"not gzip", true);
    assert!(matches!(StoredOrder::from_legacy_root_node(&bad), Err(StoredOrderError::Gzip(_))));
    bad = crate::legacy::entry("group:root", "u", b"\x0a", &cfg);
    assert!(matches!(StoredOrder::from_legacy_root_node(&bad), Err(StoredOrderError::Group(_))));
}
