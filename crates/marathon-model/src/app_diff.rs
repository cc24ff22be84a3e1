//! The apps two trees hold differently, found without looking at the apps they share.
//!
//! A change to a root copies the apps it touches and shares the others ([`SharedApp`] is a
//! reference), and the model keeps the apps a sync did not see change. Walking both trees side by
//! side and comparing references finds what changed at the cost of one pointer comparison per
//! shared list of apps ([`AppList`]) or shared app: no hashing and no string comparison for the
//! thousands of apps a write leaves alone. Only a group whose apps no longer line up (one
//! removed, or reordered) is matched by id.

use std::collections::HashMap;

use crate::{AppList, Group, SharedApp};

/// Where an app sits in a tree: the index of each group from the root down, then its index in
/// its group's apps. Ordered as a depth-first walk meets apps (a group's own apps before its
/// subgroups').
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppAt {
    pub groups: Vec<u32>,
    pub app: u32,
}

/// An app of the later tree that is not the very app the earlier tree holds under its id.
#[derive(Debug, Clone)]
pub struct Touched<'a> {
    /// The earlier tree's app of that id (None: a new id). May be equal in value.
    pub before: Option<&'a SharedApp>,
    pub after: &'a SharedApp,
    /// Where `after` sits in the later tree.
    pub at: AppAt,
}

/// What differs between two trees, app by app.
#[derive(Debug, Default)]
pub struct AppDiff<'a> {
    /// In the later tree's depth-first order.
    pub touched: Vec<Touched<'a>>,
    /// Apps of the earlier tree with no app of their id in the later one.
    pub removed: Vec<&'a SharedApp>,
    /// Groups of the later tree the earlier one does not have (each, not only the topmost).
    pub added_groups: Vec<&'a Group>,
}

/// The apps of `after` that are not shared with `before`, and those of `before` it lost. Groups
/// are matched by id, apps by id within their group.
pub fn app_diff<'a>(before: &'a Group, after: &'a Group) -> AppDiff<'a> {
    let mut out = AppDiff::default();
    walk(before, after, &mut Vec::new(), &mut out);
    out
}

fn walk<'a>(before: &'a Group, after: &'a Group, path: &mut Vec<u32>, out: &mut AppDiff<'a>) {
    let same_list = matches!((&before.apps, &after.apps), (Some(b), Some(a)) if AppList::ptr_eq(b, a));
    if !same_list {
        apps(before.apps(), after.apps(), path, out);
    }
    let earlier = before.groups();
    let mut matched = vec![false; earlier.len()];
    // Indexed by id only once a group is not where it was (and there are many to search).
    let mut by_id: Option<HashMap<Option<&str>, usize>> = None;
    for (i, group) in after.groups().iter().enumerate() {
        let same = |j: &usize| earlier.get(*j).is_some_and(|g| g.id == group.id);
        let found = Some(i).filter(same).or_else(|| match earlier.len() > 16 {
            true => by_id.get_or_insert_with(|| index_by(earlier, |g| g.id.as_deref())).get(&group.id.as_deref()).copied(),
            false => (0..earlier.len()).find(same),
        });
        path.push(i as u32);
        match found {
            Some(j) => {
                matched[j] = true;
                walk(&earlier[j], group, path, out);
            }
            None => added(group, path, out),
        }
        path.pop();
    }
    for (group, _) in earlier.iter().zip(matched).filter(|(_, m)| !m) {
        out.removed.extend(group.transitive_apps());
    }
}

/// The apps of one group: side by side while they line up, by id from the first that does not.
fn apps<'a>(before: &'a [SharedApp], after: &'a [SharedApp], path: &[u32], out: &mut AppDiff<'a>) {
    let at = |i: usize| AppAt { groups: path.to_vec(), app: i as u32 };
    let mut i = 0;
    while i < before.len().min(after.len()) {
        let (b, a) = (&before[i], &after[i]);
        if !SharedApp::ptr_eq(b, a) {
            if b.id() != a.id() {
                break;
            }
            out.touched.push(Touched { before: Some(b), after: a, at: at(i) });
        }
        i += 1;
    }
    if i == before.len() {
        out.touched.extend(after[i..].iter().enumerate().map(|(k, a)| Touched { before: None, after: a, at: at(i + k) }));
        return;
    }
    let rest = &before[i..];
    let by_id = index_by(rest, SharedApp::id);
    let mut matched = vec![false; rest.len()];
    for (k, a) in after.iter().enumerate().skip(i) {
        match by_id.get(&a.id()) {
            Some(&j) => {
                matched[j] = true;
                if !SharedApp::ptr_eq(&rest[j], a) {
                    out.touched.push(Touched { before: Some(&rest[j]), after: a, at: at(k) });
                }
            }
            None => out.touched.push(Touched { before: None, after: a, at: at(k) }),
        }
    }
    out.removed.extend(rest.iter().zip(matched).filter(|(_, m)| !m).map(|(b, _)| b));
}

/// A group the earlier tree does not have: it and its subgroups are added, every app is new.
fn added<'a>(group: &'a Group, path: &mut Vec<u32>, out: &mut AppDiff<'a>) {
    out.added_groups.push(group);
    let at = |i: usize, path: &[u32]| AppAt { groups: path.to_vec(), app: i as u32 };
    out.touched.extend(group.apps().iter().enumerate().map(|(i, a)| Touched { before: None, after: a, at: at(i, path) }));
    for (i, sub) in group.groups().iter().enumerate() {
        path.push(i as u32);
        added(sub, path, out);
        path.pop();
    }
}

/// The index among `earlier` of the group with `group`'s id, looked for first at `at` (where it
/// sits when nothing moved).
pub fn same_group(earlier: &[Group], at: usize, group: &Group) -> Option<usize> {
    let same = |j: &usize| earlier.get(*j).is_some_and(|g| g.id == group.id);
    Some(at).filter(same).or_else(|| (0..earlier.len()).find(same))
}

fn index_by<'a, T, K: std::hash::Hash + Eq>(items: &'a [T], key: impl Fn(&'a T) -> K) -> HashMap<K, usize> {
    items.iter().enumerate().map(|(i, x)| (key(x), i)).collect()
}

impl Group {
    /// The app at `at` (see [`AppAt`]), to change in place.
    pub fn app_at_mut(&mut self, at: &AppAt) -> Option<&mut SharedApp> {
        let mut group = self;
        for &i in &at.groups {
            group = group.groups.as_mut()?.get_mut(i as usize)?;
        }
        group.apps.as_mut()?.get_mut(at.app as usize)
    }

    /// Where the app `id` (absolute) sits in this tree.
    pub fn locate_app(&self, id: &crate::PathId) -> Option<AppAt> {
        let mut groups = Vec::new();
        let mut group = self;
        let parent = id.parent();
        while group.path_id() != parent {
            let (i, sub) = group.groups().iter().enumerate().find(|(_, g)| g.path_id().includes(&parent))?;
            groups.push(i as u32);
            group = sub;
        }
        let id = id.to_string();
        let app = group.apps().iter().position(|a| a.id() == Some(id.as_str()))?;
        Some(AppAt { groups, app: app as u32 })
    }
}

#[cfg(test)]
mod tests;
