//! What Marathon stores if it accepts a write that the model predicts it refuses.
//!
//! A model of Marathon is always a little behind: another replica's write, or a deployment the
//! model has not seen yet, can add or remove an app between the model's view and the moment
//! Marathon reads the write. A refusal that depends on the state (an id missing, an id already
//! taken) is therefore no reason to let a write through undecided: it may be accepted after all.
//! [`apply_assuming_accepted`] changes the state just enough for Marathon to accept the write (a
//! stand-in for what is missing, nothing where an id is taken) and applies it there. What is
//! still refused is refused whatever the state: a body Marathon rejects, a version or deployment
//! Marathon was asked about and does not hold.
//!
//! Rollbacks and reverts need what Marathon holds and the model does not: [`Write::needs`] names
//! it, the caller fetches it into a [`FetchedHistory`] (or fills the revert's plan), and `apply`
//! does the rest.

use std::collections::HashMap;

use super::apps::{ensure_group, remove, upsert};
use super::{apply, Change, ChangeError, Flavour, History, Outcome, Write};
use crate::{App, Group, PathId, Timestamp};

/// How many times the state is adjusted for one write (a batch may miss several apps).
const MAX_ADJUSTMENTS: usize = 64;

/// Something a write needs that only Marathon holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Needed {
    /// An app as stored at a version (`PUT /v2/apps/{id}` with `{"version": v}`).
    AppVersion(PathId, String),
    /// The root group as stored at a version (`PUT /v2/groups/{id}` with `{"version": v}`).
    RootVersion(String),
    /// A running deployment's original and target (`DELETE /v2/deployments/{id}`).
    Deployment(String),
}

impl Write {
    /// What [`apply`] needs beyond the current root to know what this write does.
    pub fn needs(&self) -> Vec<Needed> {
        let app_rollback = |id: &PathId, app: &App| super::apps::rollback_version(app).map(|v| Needed::AppVersion(id.clone(), v.to_string()));
        match &self.change {
            Change::PutApp { id, app, .. } | Change::PatchApp { id, app } => app_rollback(id, app).into_iter().collect(),
            Change::PutApps { apps, .. } | Change::PatchApps { apps } => apps
                .iter()
                .filter_map(|a| app_rollback(&PathId::resolve(a.id.as_deref()?, &PathId::root()), a))
                .collect(),
            Change::UpdateGroup { update, .. } => update.version.iter().map(|v| Needed::RootVersion(v.clone())).collect(),
            Change::RevertDeployment { id, plan: None } => vec![Needed::Deployment(id.clone())],
            _ => Vec::new(),
        }
    }

    /// A deletion: it can only shrink the state, so a refusal of it lets nothing grow.
    fn deletes(&self) -> bool {
        matches!(self.change, Change::DeleteApp { .. } | Change::DeleteGroup { .. } | Change::DeletePod { .. })
    }
}

/// Versions fetched from Marathon for the writes being decided. Versions never change once
/// stored, so what was fetched stays true.
#[derive(Debug, Clone, Default)]
pub struct FetchedHistory {
    roots: HashMap<String, Group>,
    apps: HashMap<(PathId, String), App>,
}

/// A version as a key: the same instant however it is spelled.
fn version_key(version: &str) -> String {
    Timestamp::parse(version).map(|t| t.to_joda()).unwrap_or_else(|_| version.to_string())
}

impl FetchedHistory {
    pub fn add_root(&mut self, version: &str, root: Group) {
        self.roots.insert(version_key(version), root);
    }

    pub fn add_app(&mut self, id: &PathId, version: &str, app: App) {
        self.apps.insert((id.clone(), version_key(version)), app);
    }

    pub fn has(&self, needed: &Needed) -> bool {
        match needed {
            Needed::AppVersion(id, v) => self.apps.contains_key(&(id.clone(), version_key(v))),
            Needed::RootVersion(v) => self.roots.contains_key(&version_key(v)),
            Needed::Deployment(_) => false,
        }
    }
}

impl History for FetchedHistory {
    fn root_at(&self, version: &str) -> Option<Group> {
        self.roots.get(&version_key(version)).cloned()
    }
    fn app_at(&self, id: &PathId, version: &str) -> Option<App> {
        self.apps.get(&(id.clone(), version_key(version))).cloned()
    }
}

/// [`apply`], except that refusals that depend on the state are assumed away: the outcome is what
/// Marathon stores if the state lets the write through. `Err` only for refusals that hold
/// whatever the state (and for deletions, which can only shrink it).
pub fn apply_assuming_accepted(
    root: &Group,
    write: &Write,
    now: Timestamp,
    flavour: Flavour,
    history: &dyn History,
) -> Result<Outcome, ChangeError> {
    let mut err = match apply(root, write, now.clone(), flavour, history) {
        Ok(outcome) => return Ok(outcome),
        Err(e) => e,
    };
    if write.deletes() {
        return Err(err);
    }
    let mut adjusted: Option<Group> = None;
    for _ in 0..MAX_ADJUSTMENTS {
        let state = adjusted.get_or_insert_with(|| root.clone());
        if !make_way(state, write, &err) {
            return Err(err);
        }
        match apply(state, write, now.clone(), flavour, history) {
            Ok(outcome) => return Ok(outcome),
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// Changes `state` so that Marathon no longer refuses `write` with `err`; false when `err` does
/// not depend on the state.
fn make_way(state: &mut Group, write: &Write, err: &ChangeError) -> bool {
    match err {
        // Someone else may have created it: a stand-in the write can act on.
        ChangeError::UnknownApp(id) => {
            upsert(state, stand_in_app(id));
            true
        }
        ChangeError::UnknownGroup(id) => {
            ensure_group(state, id);
            true
        }
        // Someone else may have removed what is in the way of a creation.
        ChangeError::Conflict(_) | ChangeError::Invalid(_) => match created_path(write) {
            Some(path) => clear(state, &path),
            None => false,
        },
        _ => false,
    }
}

/// The smallest app Marathon stores under `id`.
fn stand_in_app(id: &PathId) -> App {
    App { id: Some(id.to_string()), cmd: Some("true".into()), ..App::default() }
}

/// The path a creating write takes.
fn created_path(write: &Write) -> Option<PathId> {
    match &write.change {
        Change::CreateApp { app } => Some(PathId::resolve(app.id.as_deref()?, &PathId::root())),
        Change::CreateGroup { base, group } => {
            Some(group.id.as_deref().map(|raw| PathId::resolve(raw, base)).unwrap_or_else(|| base.clone()))
        }
        Change::CreatePod { pod } => Some(PathId::resolve(pod.id.as_deref()?, &PathId::root())),
        _ => None,
    }
}

/// Removes the app, pod or group at `path`; false when there was none.
fn clear(state: &mut Group, path: &PathId) -> bool {
    if path.is_root() {
        return false;
    }
    let mut cleared = remove(state, path);
    if let Some(parent) = state.find_group_mut(&path.parent()) {
        let id = path.to_string();
        if let Some(pods) = parent.pods.as_mut() {
            let before = pods.len();
            pods.retain(|p| p.id.as_deref() != Some(id.as_str()));
            cleared |= pods.len() != before;
        }
        if let Some(groups) = parent.groups.as_mut() {
            let before = groups.len();
            groups.retain(|g| g.path_id() != *path);
            cleared |= groups.len() != before;
        }
    }
    cleared
}

#[cfg(test)]
mod tests;
