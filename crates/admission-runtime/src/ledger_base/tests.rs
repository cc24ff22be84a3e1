use marathon_model::ops::{apply_assuming_accepted, parse_write, FetchedHistory, Flavour};
use marathon_model::Timestamp;
use znode_size::synthetic::heroku_root;

use super::*;

fn write(method: &str, path: &str, body: &str) -> Write {
    parse_write(method, path, None, body.as_bytes(), Flavour::V13).unwrap().unwrap()
}

/// Scales of existing apps and a new app, as tickets 1..=n.
fn pending(n: u64) -> Vec<(u64, Write)> {
    (1..=n)
        .map(|i| match i % 3 {
            0 => (i, write("POST", "/v2/apps", &format!(r#"{{"id":"/new/app-{i}","cmd":"sleep 1","env":{{"K":"v{i}"}}}}"#))),
            _ => (i, write("PUT", &format!("/v2/apps/heroku/app-{i}"), &format!(r#"{{"instances":{}}}"#, i + 3))),
        })
        .collect()
}

fn apply(from: &Group, w: &Write, stamp: Timestamp) -> Option<Group> {
    apply_assuming_accepted(from, w, stamp, Flavour::V13, &FetchedHistory::default()).ok().map(|o| o.root)
}

fn json(g: &Group) -> serde_json::Value {
    serde_json::to_value(g).unwrap()
}

fn model_root(generation: u64) -> ModelRoot {
    ModelRoot { root: Arc::new(heroku_root(40, 2)), generation }
}

#[test]
fn a_base_extended_from_the_kept_prefix_is_the_base_built_from_the_root() {
    let now = Timestamp::now();
    let on = model_root(1);
    let all = pending(5);
    let bases = LedgerBases::default();
    assert_eq!(bases.base_for(&on, &all[..3], &now, apply).1, 3, "nothing kept yet: every write applied");
    assert_eq!(bases.to_apply(&on, &all), 2);
    let (extended, applied) = bases.base_for(&on, &all, &now, apply);
    assert_eq!(applied, 2, "only what came after the kept prefix");
    assert_eq!(bases.to_apply(&on, &all), 0);
    assert_eq!(bases.to_apply(&model_root(1), &all), 5, "another root: every write");
    let (from_root, applied) = LedgerBases::default().base_for(&on, &all, &now, apply);
    assert_eq!(applied, 5);
    assert_eq!(json(&extended), json(&from_root));
    assert_ne!(json(&extended), json(&on.root), "the writes changed the root");
    // The same list again: the kept base as it is.
    let (again, applied) = bases.base_for(&on, &all, &now, apply);
    assert_eq!(applied, 0);
    assert!(Arc::ptr_eq(&again, &extended));
}

#[test]
fn a_list_that_is_not_an_extension_or_a_new_root_starts_from_the_root() {
    let now = Timestamp::now();
    let on = model_root(1);
    let all = pending(5);
    let bases = LedgerBases::default();
    bases.base_for(&on, &all, &now, apply);
    // An entry in the middle left (refused) and a new one came: the kept base holds the write
    // that left, so it cannot be used.
    let six = pending(6);
    let replaced: Vec<_> = six.iter().filter(|(id, _)| *id != 2).cloned().collect();
    let (base, applied) = bases.base_for(&on, &replaced, &now, apply);
    assert_eq!(applied, 5);
    assert_eq!(json(&base), json(&LedgerBases::default().base_for(&on, &replaced, &now, apply).0));
    let without_second: Vec<_> = all.iter().filter(|(id, _)| *id != 2).cloned().collect();
    assert_eq!(bases.base_for(&on, &without_second, &now, apply).1, 4);
    // A new sync: a different root, even with the same entries.
    let next = model_root(2);
    assert_eq!(bases.base_for(&next, &without_second, &now, apply).1, 4);
    // Nothing pending: the root itself, and the kept base stays.
    let (bare, applied) = bases.base_for(&next, &[], &now, apply);
    assert!(Arc::ptr_eq(&bare, &next.root) && applied == 0);
    assert_eq!(bases.base_for(&next, &without_second, &now, apply).1, 0);
}

#[test]
fn a_base_of_an_older_root_or_fewer_writes_does_not_replace_the_kept_one() {
    let now = Timestamp::now();
    let (old, new) = (model_root(1), model_root(2));
    let all = pending(4);
    let bases = LedgerBases::default();
    bases.base_for(&new, &all, &now, apply);
    // A late builder of an older sync's base finishes after a decision on the newer root.
    bases.keep(&old, vec![1], old.root.clone());
    assert_eq!(bases.base_for(&new, &all, &now, apply).1, 0, "the newer root's base kept");
    // On the same root, a shorter prefix (a builder that read the ledger earlier) loses too.
    bases.keep(&new, vec![1, 2], new.root.clone());
    assert_eq!(bases.base_for(&new, &all, &now, apply).1, 0);
}

#[test]
fn a_base_built_for_a_root_never_installed_does_not_cost_the_installed_root_its_base() {
    let now = Timestamp::now();
    let (installed, orphan) = (model_root(5), model_root(4));
    let all = pending(4);
    let bases = LedgerBases::default();
    bases.base_for(&installed, &all[..2], &now, apply);
    // An event's root, built before it was installed and then dropped (a sync replaced its
    // parent), drew a newer generation than the installed root's decisions carry.
    let orphan = ModelRoot { generation: 7, ..orphan };
    bases.base_for(&orphan, &all, &now, apply);
    assert_eq!(bases.base_for(&installed, &all[..3], &now, apply).1, 1, "still extended from its own prefix");
    assert_eq!(bases.base_for(&installed, &all, &now, apply).1, 1);
    assert_eq!(bases.base_for(&orphan, &all, &now, apply).1, 0, "the orphan's base is kept too");
}

#[test]
fn only_the_newest_roots_keep_their_bases() {
    let now = Timestamp::now();
    let all = pending(2);
    let bases = LedgerBases::default();
    let roots: Vec<ModelRoot> = (1..=KEPT as u64 + 2).map(model_root).collect();
    for on in &roots {
        bases.base_for(on, &all, &now, apply);
    }
    let applied: Vec<usize> = roots.iter().map(|on| bases.base_for(on, &all, &now, apply).1).collect();
    // The two oldest were evicted, and asked again they are built again and not kept (older than
    // every root in the set): the newest KEPT were kept throughout.
    assert_eq!(applied, [2, 2, 0, 0, 0]);
    assert_eq!(bases.kept.lock().unwrap().len(), KEPT);
}

/// The version of `id`'s app in `g`.
fn version_of(g: &Group, id: &str) -> Option<String> {
    g.find_app(&marathon_model::PathId::parse(id)).and_then(|a| a.version().map(str::to_string))
}

/// A pending write's app gets the same version, so the same bytes, in the base of every root: the
/// stamp it was admitted with, or the first one it was applied with.
#[test]
fn a_pending_write_keeps_its_stamp_on_every_root() {
    let (first, later) = (Timestamp::parse("2026-12-04T10:00:00.000Z").unwrap(), Timestamp::parse("2026-12-04T10:00:05.000Z").unwrap());
    let admitted = Timestamp::parse("2026-12-04T09:59:59.000Z").unwrap();
    let all = pending(3);
    let bases = LedgerBases::default();
    bases.stamp(3, admitted.clone());
    let (a, _) = bases.base_for(&model_root(1), &all, &first, apply);
    let (b, applied) = bases.base_for(&model_root(2), &all, &later, apply);
    assert_eq!(applied, 3, "a new root: every write applied again");
    for base in [&a, &b] {
        assert_eq!(version_of(base, "/heroku/app-1").as_deref(), Some(first.to_string().as_str()));
        assert_eq!(version_of(base, "/new/app-3").as_deref(), Some(admitted.to_string().as_str()));
    }
    assert_eq!(json(&a), json(&b), "the same roots and writes: the same base");
    // Ticket 1 left the ledger: forgotten; a write that comes back with its id is stamped anew.
    bases.base_for(&model_root(3), &all[1..], &later, apply);
    let (c, _) = bases.base_for(&model_root(4), &all, &later, apply);
    assert_eq!(version_of(&c, "/heroku/app-1").as_deref(), Some(later.to_string().as_str()));
    assert_eq!(version_of(&c, "/heroku/app-2").as_deref(), Some(first.to_string().as_str()));
}

#[test]
fn the_base_kept_on_a_root_is_that_roots() {
    let now = Timestamp::now();
    let (one, two) = (model_root(1), model_root(2));
    let bases = LedgerBases::default();
    assert!(bases.kept_on(&one.root).is_none());
    let (base, _) = bases.base_for(&one, &pending(2), &now, apply);
    assert!(Arc::ptr_eq(&bases.kept_on(&one.root).unwrap(), &base));
    assert!(bases.kept_on(&two.root).is_none(), "another root: none kept");
}
