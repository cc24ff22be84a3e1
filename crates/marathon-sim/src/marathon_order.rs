//! The order in which Marathon keeps, and so persists, a group's subgroups and apps (with
//! [`crate::StoredOrder::Marathon`]). Its API lists both sorted by id, so a client never sees it.
//!
//! A group's apps are a Scala `Map[PathId, AppDefinition]`, its subgroups a `Set[Group]` (1.3) or
//! a `Map[PathId, Group]` (1.4+). Up to 4 members, such a collection iterates in insertion order
//! (an updated member keeps its place, a removed one leaves the others' order alone); from 5, in
//! the order of its members' hashes. [`marathon_order`] lays that over the tree `ops::apply` built:
//! - subgroups, up to 4: the previous order, new groups after it in the order the change lists
//!   them (`ops::apply` puts a `PUT /v2/groups` body's subgroups in the body's order; Marathon
//!   keeps the current ones first);
//! - 1.3, subgroups up to 4: every change then re-inserts each app with `Group.updateApp` (once
//!   all of them when assigning service ports, once more the apps whose version changed), and its
//!   `makeGroup` takes the app's ancestors out of their parents' sets and adds them back at the
//!   end: groups holding apps end up last, in the order their apps were last re-inserted;
//! - subgroups, from 5: 1.3 hashes the whole `Group`, version included, and every change gives
//!   every group a new version, so the order changes at each deployment and nobody outside the
//!   JVM can predict it: a pseudo-hash of (id, version) stands for that hash. 1.4 hashes the
//!   `PathId` key, which Scala's order gives exactly;
//! - apps (and 1.4 pods), from 5: the `PathId` hash order (the encoder's own order for apps); up
//!   to 4, `ops::apply` already keeps Marathon's order (an update keeps the slot, a new app is
//!   appended, a `PUT /v2/groups` body's apps replace the group's in the body's order).
//!
//! Not modelled: a Scala hash map that shrinks to 4 stays a hash map (adding to it again sorts
//! the new member by hash, where this appends it); in 1.3 the change's own `makeGroup` also moves
//! the changed group to the end when it holds no app.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use marathon_model::ops::Flavour;
use marathon_model::{Group, SharedApp};
use znode_size::encoded_tree::app_key_hash;
use znode_size::scala_order::iteration_order;

/// The size from which Scala's immutable maps and sets are hash tries.
const HASHED: usize = 5;

/// `next` (what the change made of `previous`, or the seed when `previous` is `None`) in the
/// order `flavour`'s Marathon keeps it in. The seed keeps its order as if inserted as listed.
pub fn marathon_order(previous: Option<&Group>, mut next: Group, flavour: Flavour) -> Group {
    if let Some(previous) = previous {
        keep_previous_order(previous, &mut next);
    }
    hash_order(&mut next, flavour);
    if let (Some(previous), Flavour::V13) = (previous, flavour) {
        reinsert_apps(previous, &mut next);
    }
    next
}

/// Apps as a Marathon `Set[AppDefinition]` iterates them (`transitiveApps`, what `GET /v2/apps`
/// lists): the tree's order up to 4; from 5 the order of a hash of the whole app, which a
/// pseudo-hash of (id, version) stands for.
pub fn in_set_order(mut apps: Vec<&SharedApp>) -> Vec<&SharedApp> {
    if apps.len() >= HASHED {
        apps.sort_by_cached_key(|a| pseudo_hash(a.id().unwrap_or_default(), a.version().unwrap_or_default()));
    }
    apps
}

fn pseudo_hash(id: &str, version: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (id, version).hash(&mut h);
    h.finish()
}

fn group_id(g: &Group) -> &str {
    g.id.as_deref().unwrap_or("/")
}

/// Subgroups that `previous` had come first, in its order; new ones follow in `next`'s order.
fn keep_previous_order(previous: &Group, next: &mut Group) {
    let before: HashMap<&str, (usize, &Group)> =
        previous.groups().iter().enumerate().map(|(i, g)| (group_id(g), (i, g))).collect();
    let Some(groups) = next.groups.as_mut() else { return };
    groups.sort_by_key(|g| before.get(group_id(g)).map_or(usize::MAX, |(i, _)| *i));
    for g in groups {
        if let Some((_, old)) = before.get(group_id(g)) {
            keep_previous_order(old, g);
        }
    }
}

/// Collections of 5 and more in their hash order.
fn hash_order(group: &mut Group, flavour: Flavour) {
    // A list already in its order is left alone: it stays shared with the previous state's.
    if let Some(apps) = group.apps.as_mut().filter(|a| a.len() >= HASHED) {
        if let Some(order) = path_id_hash_order(apps, |a| a.id()) {
            permute(apps, order);
        }
    }
    if let Some(pods) = group.pods.as_mut().filter(|p| p.len() >= HASHED) {
        by_path_id_hash(pods, |p| p.id.as_deref());
    }
    if let Some(groups) = group.groups.as_mut() {
        if groups.len() >= HASHED {
            match flavour {
                Flavour::V13 => groups.sort_by_cached_key(|g| pseudo_hash(group_id(g), g.version.as_deref().unwrap_or_default())),
                Flavour::V14 => by_path_id_hash(groups, |g| g.id.as_deref()),
            }
        }
        for g in groups {
            hash_order(g, flavour);
        }
    }
}

/// `items` in the order of a Scala `Map[PathId, _]` holding them under their ids.
fn by_path_id_hash<T>(items: &mut Vec<T>, id: impl Fn(&T) -> Option<&str>) {
    if let Some(order) = path_id_hash_order(items, id) {
        permute(items, order);
    }
}

/// The order of a Scala `Map[PathId, _]` holding `items` under their ids, as indices into
/// `items`; `None` when they are already in it.
fn path_id_hash_order<T>(items: &[T], id: impl Fn(&T) -> Option<&str>) -> Option<Vec<usize>> {
    let hashes: Vec<i32> = items.iter().map(|x| app_key_hash(id(x))).collect();
    let order = iteration_order(&hashes);
    Some(order).filter(|o| o.iter().enumerate().any(|(at, &i)| at != i))
}

fn permute<T>(items: &mut Vec<T>, order: Vec<usize>) {
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// Marathon 1.3's re-insertion of every app, then of the apps whose version changed (see the
/// module's description).
fn reinsert_apps(previous: &Group, next: &mut Group) {
    let all = reinsertion_rank(next, |_| true);
    last_reinserted_last(next, &all);
    let versions: HashMap<&str, Option<&str>> =
        previous.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a.version()))).collect();
    let changed = reinsertion_rank(next, |a| a.id().and_then(|id| versions.get(id)) != Some(&a.version()));
    last_reinserted_last(next, &changed);
}

/// When each app (by id) is re-inserted: the root's apps in set order, those `keep` keeps.
fn reinsertion_rank(root: &Group, keep: impl Fn(&SharedApp) -> bool) -> HashMap<String, usize> {
    let apps = in_set_order(root.transitive_apps());
    let kept = apps.into_iter().filter(|a| keep(a)).filter_map(|a| a.id());
    kept.enumerate().map(|(i, id)| (id.to_string(), i)).collect()
}

/// Orders each set of up to 4 subgroups by when an app under them was last re-inserted (groups
/// with none keep their order, first). Returns that moment for `group`.
fn last_reinserted_last(group: &mut Group, rank: &HashMap<String, usize>) -> Option<usize> {
    let own = group.apps().iter().filter_map(|a| rank.get(a.id()?).copied()).max();
    let Some(groups) = group.groups.as_mut() else { return own };
    let mut timed: Vec<(Option<usize>, Group)> =
        groups.drain(..).map(|mut g| (last_reinserted_last(&mut g, rank), g)).collect();
    let last = timed.iter().map(|(t, _)| *t).max().flatten().max(own);
    if timed.len() < HASHED {
        timed.sort_by_key(|(t, _)| *t);
    }
    groups.extend(timed.into_iter().map(|(_, g)| g));
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_model::PathId;

    const V1: &str = "2017-01-01T00:00:00.000Z";
    const V2: &str = "2017-01-02T00:00:00.000Z";

    fn group(id: &str, version: &str, apps: &[&str], groups: Vec<Group>) -> Group {
        let mut g = Group::empty(&PathId::parse(id));
        g.version = Some(version.into());
        g.apps = Some(
            apps.iter()
                .map(|a| {
                    let mut app: marathon_model::App = serde_json::from_str(&format!(r#"{{"id":"{a}","cmd":"x"}}"#)).unwrap();
                    app.version = Some(version.into());
                    SharedApp::new(app)
                })
                .collect(),
        );
        g.groups = Some(groups);
        g
    }

    fn empty(id: &str, version: &str) -> Group {
        group(id, version, &[], Vec::new())
    }

    fn subgroup_ids(g: &Group) -> Vec<&str> {
        g.groups().iter().map(group_id).collect()
    }

    fn app_ids(g: &Group) -> Vec<&str> {
        g.apps().iter().filter_map(SharedApp::id).collect()
    }

    /// Sets every group's version, as each change does.
    fn versioned(mut g: Group, version: &str) -> Group {
        g.version = Some(version.into());
        g.groups = Some(g.groups.take().unwrap_or_default().into_iter().map(|s| versioned(s, version)).collect());
        g
    }

    #[test]
    fn small_subgroup_sets_keep_their_order_and_append_new_groups() {
        let previous = group("/", V1, &[], vec![empty("/b", V1), empty("/a", V1), empty("/c", V1)]);
        // As a PUT /v2/groups body would list them: /d is new, /c is dropped.
        let next = group("/", V2, &[], vec![empty("/d", V2), empty("/a", V2), empty("/b", V2)]);
        for flavour in [Flavour::V13, Flavour::V14] {
            let out = marathon_order(Some(&previous), next.clone(), flavour);
            assert_eq!(subgroup_ids(&out), ["/b", "/a", "/d"], "{flavour:?}");
        }
    }

    #[test]
    fn the_previous_order_is_kept_at_every_depth() {
        let previous = group("/", V1, &[], vec![group("/p", V1, &[], vec![empty("/p/z", V1), empty("/p/y", V1)])]);
        let next = group("/", V2, &[], vec![group("/p", V2, &[], vec![empty("/p/y", V2), empty("/p/x", V2), empty("/p/z", V2)])]);
        let out = marathon_order(Some(&previous), next, Flavour::V14);
        assert_eq!(subgroup_ids(&out.groups()[0]), ["/p/z", "/p/y", "/p/x"]);
    }

    #[test]
    fn the_seed_keeps_small_sets_as_listed() {
        let seed = group("/", V1, &["/q", "/p"], vec![empty("/b", V1), empty("/a", V1)]);
        let out = marathon_order(None, seed, Flavour::V13);
        assert_eq!(subgroup_ids(&out), ["/b", "/a"]);
        assert_eq!(app_ids(&out), ["/q", "/p"]);
    }

    fn six(version: &str) -> Group {
        let subs = ["/a", "/b", "/c", "/d", "/e", "/f"].iter().map(|id| empty(id, version)).collect();
        group("/", version, &[], subs)
    }

    #[test]
    fn v13_five_and_more_subgroups_follow_a_hash_of_id_and_version() {
        let first = marathon_order(None, six(V1), Flavour::V13);
        let ids = |g: &Group| subgroup_ids(g).into_iter().map(str::to_string).collect::<Vec<_>>();
        assert_ne!(ids(&first), ["/a", "/b", "/c", "/d", "/e", "/f"], "not the id order");
        assert_eq!(ids(&marathon_order(None, six(V1), Flavour::V13)), ids(&first), "deterministic");
        let second = marathon_order(Some(&first), versioned(first.clone(), V2), Flavour::V13);
        assert_ne!(ids(&second), ids(&first), "a new version, a new order");
        let mut sorted = ids(&second);
        sorted.sort();
        assert_eq!(sorted, ["/a", "/b", "/c", "/d", "/e", "/f"]);
    }

    #[test]
    fn v14_five_and_more_subgroups_follow_the_path_id_hash() {
        let first = marathon_order(None, six(V1), Flavour::V14);
        let second = marathon_order(Some(&first), versioned(first.clone(), V2), Flavour::V14);
        let expected: Vec<&str> = {
            let ids = ["/a", "/b", "/c", "/d", "/e", "/f"];
            let hashes: Vec<i32> = ids.iter().map(|id| app_key_hash(Some(id))).collect();
            iteration_order(&hashes).into_iter().map(|i| ids[i]).collect()
        };
        assert_eq!(subgroup_ids(&first), expected);
        assert_eq!(subgroup_ids(&second), expected, "the version does not count");
    }

    #[test]
    fn five_and_more_apps_follow_the_path_id_hash_as_the_encoder_writes_them() {
        let ids = ["/g/a", "/g/b", "/g/c", "/g/d", "/g/e"];
        let seed = group("/", V1, &[], vec![group("/g", V1, &ids, Vec::new())]);
        let out = marathon_order(None, seed, Flavour::V13);
        let hashes: Vec<i32> = ids.iter().map(|id| app_key_hash(Some(id))).collect();
        let expected: Vec<&str> = iteration_order(&hashes).into_iter().map(|i| ids[i]).collect();
        assert_eq!(app_ids(&out.groups()[0]), expected);
        assert_ne!(expected, ids, "the hash order is not the listed order");
    }

    #[test]
    fn small_app_sets_keep_the_order_the_change_gives() {
        let previous = group("/", V1, &["/x", "/y"], Vec::new());
        let next = group("/", V2, &["/y", "/x", "/z"], Vec::new());
        assert_eq!(app_ids(&marathon_order(Some(&previous), next, Flavour::V13)), ["/y", "/x", "/z"]);
    }

    #[test]
    fn v13_moves_the_groups_of_changed_apps_last() {
        let with_app = |id: &str, app: &str| group(id, V1, &[app], Vec::new());
        let previous = group("/", V1, &[], vec![with_app("/a", "/a/1"), with_app("/b", "/b/1"), empty("/e", V1)]);
        let mut next = versioned(previous.clone(), V2);
        // Only /a/1 changes (its version moves on); groups without apps keep their place, first.
        let changed = next.groups.as_mut().unwrap()[0].apps.as_mut().unwrap()[0].make_mut();
        changed.instances = Some(3);
        changed.version = Some(V2.into());
        assert_eq!(subgroup_ids(&marathon_order(Some(&previous), next.clone(), Flavour::V13)), ["/e", "/b", "/a"]);
        assert_eq!(subgroup_ids(&marathon_order(Some(&previous), next, Flavour::V14)), ["/a", "/b", "/e"], "1.4 updates in place");
    }

    #[test]
    fn set_order_is_the_tree_order_up_to_four_apps() {
        let root = group("/", V1, &["/r"], vec![group("/a", V1, &["/a/2", "/a/1"], Vec::new())]);
        let ids: Vec<&str> = in_set_order(root.transitive_apps()).into_iter().filter_map(SharedApp::id).collect();
        assert_eq!(ids, ["/r", "/a/2", "/a/1"]);
        let many = group("/", V1, &["/1", "/2", "/3", "/4", "/5", "/6"], Vec::new());
        let ids: Vec<&str> = in_set_order(many.transitive_apps()).into_iter().filter_map(SharedApp::id).collect();
        assert_ne!(ids, ["/1", "/2", "/3", "/4", "/5", "/6"], "a hash order from 5");
    }
}
