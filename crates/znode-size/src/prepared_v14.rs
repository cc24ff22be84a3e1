//! The 1.4+ layout's sizes for a decision from a root measured once.
//!
//! Nothing is compressed in this layout, so a write's sizes are arithmetic over what it touches:
//! the root's `StoredGroup` changes by the app references the write adds, removes or re-versions,
//! by the groups it adds, and by every group's version (a deployment stamps them all); the nodes
//! written are the apps it touches. [`V14State::prepare`] measures a root `S` once (a pass over
//! every app, off the decision path); [`V14State::sizes`] then costs what the roots do not share
//! with `S` plus a pass over groups, not apps, and gives the exact path's figures.

use std::sync::Arc;

use marathon_model::app_diff::{self, app_diff};
use marathon_model::{Group, PathId, SharedApp};

use crate::config::StoreConfig;
use crate::estimate::{Estimate, Estimator};
use crate::v14;
use crate::wire::field_len;

/// A root measured for the 1.4+ layout.
pub struct V14State {
    cfg: StoreConfig,
    root: Arc<Group>,
    /// `S`'s groups: the bytes of their app references, in `S`'s order.
    lens: RefLens,
    /// `S`'s largest app node packet and its app's id.
    largest_app: Option<(u64, String)>,
    /// `S` at rest, exact.
    state: Estimate,
}

struct RefLens {
    /// The group's id as app ids name their parent.
    id: String,
    /// Its own fields (see [`v14::group_own_len`]), of which its version's.
    own: usize,
    version: usize,
    app_refs: usize,
    groups: Vec<RefLens>,
}

impl RefLens {
    fn of(group: &Group) -> RefLens {
        RefLens {
            id: group.path_id().to_string(),
            own: v14::group_own_len(group),
            version: version_field_len(group.version.as_deref(), &mut Vec::new()),
            app_refs: group.apps().iter().map(v14::app_ref_field_len).sum(),
            groups: group.groups().iter().map(RefLens::of).collect(),
        }
    }

    /// The `StoredGroup` length of `target`'s group that `S` holds as `s` (measured as `self`),
    /// its app references changed by `refs_delta` (by group id). `versions`: the version fields
    /// measured so far (a deployment gives every group the same version).
    fn len_of<'a>(&self, s: &Group, target: &'a Group, refs_delta: &[(String, i64)], versions: &mut Vec<(Option<&'a str>, usize)>) -> usize {
        // A write touches few groups: a scan beats hashing every group's id.
        let delta: i64 = refs_delta.iter().filter(|(id, _)| *id == self.id).map(|(_, d)| d).sum();
        let refs = (self.app_refs as i64 + delta).max(0) as usize;
        let own = if s.dependencies == target.dependencies && s.pods == target.pods {
            match s.version == target.version {
                true => self.own,
                false => self.own - self.version + version_field_len(target.version.as_deref(), versions),
            }
        } else {
            v14::group_own_len(target)
        };
        let earlier = s.groups();
        let subgroups: usize = target
            .groups()
            .iter()
            .enumerate()
            .map(|(i, group)| {
                let len = match app_diff::same_group(earlier, i, group) {
                    Some(j) => self.groups[j].len_of(&earlier[j], group, refs_delta, versions),
                    None => prost::Message::encoded_len(&v14::stored_group(group)),
                };
                field_len(4, len)
            })
            .sum();
        own + refs + subgroups
    }
}

/// The length of a `StoredGroup`'s version field (remembered in `versions`: a deployment gives
/// every group the same version).
fn version_field_len<'a>(version: Option<&'a str>, versions: &mut Vec<(Option<&'a str>, usize)>) -> usize {
    if let Some((_, len)) = versions.iter().find(|(v, _)| *v == version) {
        return *len;
    }
    let len = field_len(2, v14::iso_version(version).len());
    versions.push((version, len));
    len
}

impl V14State {
    /// Measures `root` (a pass over every app; run it off the async workers).
    pub fn prepare(root: Arc<Group>, cfg: &StoreConfig) -> V14State {
        let largest_app = largest(root.transitive_apps().into_iter(), cfg);
        let state = Estimator::new(cfg.clone()).state(&root);
        V14State { cfg: cfg.clone(), lens: RefLens::of(&root), root, largest_app, state }
    }

    /// `S` at rest.
    pub fn state(&self) -> &Estimate {
        &self.state
    }

    /// The prepared root.
    pub fn root(&self) -> &Group {
        &self.root
    }

    /// `base` at rest and the deployment `base -> target`: the exact path's figures.
    pub fn sizes(&self, base: &Group, target: &Group) -> (Estimate, Estimate) {
        let exact = Estimator::new(self.cfg.clone());
        let root_len = |root: &Group| self.stored_group_len(root);
        let current = match self.largest_app_of(base) {
            Some(largest) => exact.v14_with(base, None, root_len(base), Some(largest)),
            None => exact.state(base),
        };
        let predicted = exact.v14_with(target, Some(base), root_len(target), None);
        (current, predicted)
    }

    /// The length of `root`'s `StoredGroup`, from `S`'s and what `root` does not share with it.
    fn stored_group_len(&self, root: &Group) -> usize {
        let diff = app_diff(&self.root, root);
        let mut refs_delta: Vec<(String, i64)> = Vec::new();
        let mut add = |app: &SharedApp, sign: i64| {
            let group = PathId::parse(app.id().unwrap_or("")).parent().to_string();
            refs_delta.push((group, sign * v14::app_ref_field_len(app) as i64));
        };
        for t in &diff.touched {
            add(t.after, 1);
            if let Some(before) = t.before {
                add(before, -1);
            }
        }
        for app in &diff.removed {
            add(app, -1);
        }
        self.lens.len_of(&self.root, root, &refs_delta, &mut Vec::new())
    }

    /// The largest app node of `root` as a state writes them, known from `S`'s unless `root`
    /// changed or removed that app (`None`: count them all).
    fn largest_app_of(&self, root: &Group) -> Option<Option<(u64, String)>> {
        let diff = app_diff(&self.root, root);
        let s_largest = self.largest_app.as_ref();
        let lost = |app: &SharedApp| s_largest.is_some_and(|(_, id)| app.id() == Some(id.as_str()));
        if diff.removed.iter().any(|a| lost(a)) || diff.touched.iter().filter_map(|t| t.before).any(lost) {
            return None;
        }
        let touched = largest(diff.touched.iter().map(|t| t.after), &self.cfg);
        Some(match (self.largest_app.clone(), touched) {
            (Some(s), Some(t)) => Some(if t.0 > s.0 { t } else { s }),
            (s, t) => s.or(t),
        })
    }
}

/// The largest app node packet among `apps` (the first of equals), with its app's id.
fn largest<'a>(apps: impl Iterator<Item = &'a SharedApp>, cfg: &StoreConfig) -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    for app in apps {
        let packet = v14::app_packet(app, cfg);
        if best.as_ref().is_none_or(|(b, _)| packet > *b) {
            best = Some((packet, app.id().unwrap_or("").to_string()));
        }
    }
    best
}

#[cfg(test)]
mod tests;
