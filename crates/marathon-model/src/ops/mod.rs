//! What each state-changing write does to the root group: Marathon's semantics as pure functions.
//!
//! [`request_path`] normalises a path as Marathon routes it; [`endpoints`] is the table of
//! state-changing endpoints; [`parse_write`] turns an HTTP request (method, path, query, body)
//! through both into a [`Write`], or `None` when the request does not change persisted state.
//! [`apply`] computes what Marathon would do with it: the new root group (apps in the canonical
//! form Marathon stores and returns, versions stamped as `GroupVersioningUtil` stamps them),
//! whether a deployment is created, and which apps and pods it touches; or the error Marathon would answer ([`ChangeError`], with its status and JSON body).
//! [`apply_assuming_accepted`] is what the proxy decides with: the same, with the refusals that
//! depend on a state the model may not share with Marathon assumed away.
//!
//! The proxy uses exactly these to know what a request does; the simulator uses them to be Marathon.

mod apps;
mod assume_accepted;
mod canonical;
pub mod endpoints;
mod error;
mod groups;
mod packed_root;
mod parse_write;
mod pods;
pub mod request_path;
mod versioning;

#[cfg(test)]
mod tests;

pub use assume_accepted::{apply_assuming_accepted, FetchedHistory, Needed};
pub use canonical::{canonical_app, canonical_root, fetch_from_uri, service_ports};
pub use error::ChangeError;
pub use packed_root::{nothing_while_typed, parse_packed_root, AppTexts, WhileTyped};
pub use parse_write::{kills_of_tasks, parse_matched, parse_write, Query};
pub use versioning::{plan_steps, stamp_versions, Action, Step};

use crate::{App, Group, PathId, Pod, Timestamp};

/// Which Marathon's semantics to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavour {
    /// 1.3.x: `PUT /v2/apps/{id}` is always a partial update; no PATCH, no pods.
    #[default]
    V13,
    /// 1.4 and later: `partialUpdate` (default true), PATCH, pods, `unreachableStrategy`,
    /// `killSelection`.
    V14,
}

/// One state-changing request, as parsed from HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub change: Change,
    /// `?force=true` (for `DELETE /v2/apps/{id}` Marathon's default is true).
    pub force: bool,
}

/// What a write asks for. Ids are absolute; bodies are as sent (resolved by [`apply`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `POST /v2/apps`.
    CreateApp { app: App },
    /// `PUT /v2/apps/{id}`: update, or create when absent. `partial` is always true on 1.3;
    /// on 1.4+ it is `?partialUpdate` (default true). A body `version` means "roll back to it".
    PutApp { id: PathId, app: App, partial: bool },
    /// `PATCH /v2/apps/{id}` (1.4+): partial update, never creates.
    PatchApp { id: PathId, app: App },
    /// `PUT /v2/apps` (array): one plan for all; apps are created when absent.
    PutApps { apps: Vec<App>, partial: bool },
    /// `PATCH /v2/apps` (1.4+).
    PatchApps { apps: Vec<App> },
    /// `DELETE /v2/apps/{id}`.
    DeleteApp { id: PathId },
    /// `POST /v2/apps/{id}/restart`.
    RestartApp { id: PathId },
    /// Scale-by-kill: `DELETE /v2/apps/{id}/tasks[/{taskId}]?scale=true` and
    /// `POST /v2/tasks/delete?scale=true`; the instances of each app drop by the tasks killed.
    /// `None` = all the app's tasks (`/v2/apps/{id}/tasks?scale=true` without a host filter kills
    /// every task).
    KillAndScale { kills: Vec<(PathId, Option<u32>)> },
    /// `POST /v2/groups[/{id}]`: `base` is the path of the URL.
    CreateGroup { base: PathId, group: Group },
    /// `PUT /v2/groups[/{id}]` with a GroupUpdate body (apps / groups / dependencies), or
    /// `{"scaleBy": n}`, or `{"version": v}` (rollback).
    UpdateGroup { base: PathId, update: Group, dry_run: bool },
    /// `DELETE /v2/groups[/{id}]` (the root: clears every app and group).
    DeleteGroup { id: PathId },
    /// `POST /v2/pods` (1.4+).
    CreatePod { pod: Pod },
    /// `PUT /v2/pods/{id}` (1.4+): replace or create.
    PutPod { id: PathId, pod: Pod },
    /// `DELETE /v2/pods/{id}` (1.4+).
    DeletePod { id: PathId },
    /// `DELETE /v2/deployments/{id}` without `force`: a revert deployment. The caller fills in the
    /// plan's original and target (the proxy learns them from `/v2/deployments` or events).
    RevertDeployment { id: String, plan: Option<Box<(Group, Group)>> },
}

impl Change {
    /// True when Marathon answers this write with a deployment (as opposed to a dry run).
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Change::UpdateGroup { dry_run: true, .. })
    }
}

/// Older versions Marathon can roll back to (`{"version": v}` on apps and groups).
pub trait History {
    /// The root group as stored at `version`.
    fn root_at(&self, version: &str) -> Option<Group>;
    /// The app as stored at `version`.
    fn app_at(&self, id: &PathId, version: &str) -> Option<App>;
}

/// No history: every rollback fails as for an unknown version.
pub struct NoHistory;

impl History for NoHistory {
    fn root_at(&self, _: &str) -> Option<Group> {
        None
    }
    fn app_at(&self, _: &PathId, _: &str) -> Option<App> {
        None
    }
}

/// What a write does.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The root group after the change, canonical and versioned (unchanged for a dry run).
    pub root: Group,
    /// Marathon creates a deployment (and persists the root group and a plan).
    pub deployment: bool,
    /// Apps and pods the plan acts on (Marathon's `affectedRunSpecIds`), sorted.
    pub affected: Vec<PathId>,
    /// The plan's steps (also the dry-run answer).
    pub steps: Vec<Step>,
    /// The change created the resource at its path (201 + `Location`), e.g. PUT that creates.
    pub created: Option<PathId>,
    /// For app writes that answer with (or publish in `api_post_event`) the app: its target form.
    pub app: Option<App>,
    /// For pod writes: the pod as stored.
    pub pod: Option<Pod>,
    /// The change timestamp (the deployment's `version`).
    pub version: Timestamp,
}

/// Applies `write` to `root` as Marathon `flavour` would at time `now`.
pub fn apply(
    root: &Group,
    write: &Write,
    now: Timestamp,
    flavour: Flavour,
    history: &dyn History,
) -> Result<Outcome, ChangeError> {
    let mut created = None;
    let mut app_out = None;
    let mut pod_out = None;
    let target = match &write.change {
        Change::CreateApp { app } => {
            let (t, a) = apps::create(root, app, flavour)?;
            created = a.id.as_deref().map(PathId::parse);
            app_out = Some(a);
            t
        }
        Change::PutApp { id, app, partial } => {
            let (t, a, was_created) = apps::put(root, id, app, *partial, true, flavour, history)?;
            if was_created {
                created = Some(id.clone());
            }
            app_out = Some(a);
            t
        }
        Change::PatchApp { id, app } => {
            let (t, a, _) = apps::put(root, id, app, true, false, flavour, history)?;
            app_out = Some(a);
            t
        }
        Change::PutApps { apps: list, partial } => apps::put_many(root, list, *partial, true, flavour, history)?,
        Change::PatchApps { apps: list } => apps::put_many(root, list, true, false, flavour, history)?,
        Change::DeleteApp { id } => apps::delete(root, id)?,
        Change::RestartApp { id } => {
            // A restart changes nothing but the version; the stamping below marks it.
            apps::require(root, id)?;
            root.clone()
        }
        Change::KillAndScale { kills } => apps::kill_and_scale(root, kills)?,
        Change::CreateGroup { base, group } => {
            let (t, path) = groups::create(root, base, group, flavour)?;
            created = Some(path);
            t
        }
        Change::UpdateGroup { base, update, .. } => groups::update(root, base, update, now, flavour, history)?,
        Change::DeleteGroup { id } => groups::delete(root, id)?,
        Change::CreatePod { pod } => {
            let (t, p) = pods::create(root, pod, flavour)?;
            created = p.id.as_deref().map(PathId::parse);
            pod_out = Some(p);
            t
        }
        Change::PutPod { id, pod } => {
            let (t, p, was_created) = pods::put(root, id, pod, flavour)?;
            if was_created {
                created = Some(id.clone());
            }
            pod_out = Some(p);
            t
        }
        Change::DeletePod { id } => pods::delete(root, id, flavour)?,
        Change::RevertDeployment { id, plan } => match plan {
            Some(plan) => groups::revert(root, &plan.0, &plan.1),
            None => return Err(ChangeError::UnknownDeployment(id.clone())),
        },
    };
    let target = canonical::assign_service_ports(target, root);
    let restarted: Vec<PathId> = match &write.change {
        Change::RestartApp { id } => vec![id.clone()],
        _ => Vec::new(),
    };
    let target = stamp_versions(root, target, now, &restarted);
    crate::ops::groups::validate_change(root, &target)?;
    let steps = plan_steps(root, &target, &restarted);
    let mut affected: Vec<PathId> =
        steps.iter().flat_map(|s| s.actions.iter().map(|a| PathId::parse(a.run_spec()))).collect();
    affected.sort();
    affected.dedup();
    // Refresh the app / pod the response carries with their stamped version.
    if let Some(a) = app_out.as_mut() {
        if let Some(id) = a.id.as_deref().map(PathId::parse) {
            if let Some(stored) = target.find_app(&id) {
                *a = stored.app().into_owned();
            }
        }
    }
    if let Some(p) = pod_out.as_mut() {
        if let Some(id) = p.id.as_deref().map(PathId::parse) {
            if let Some(stored) = target.find_pod(&id) {
                *p = stored.clone();
            }
        }
    }
    if write.change.is_dry_run() {
        return Ok(Outcome {
            root: root.clone(),
            deployment: false,
            affected,
            steps,
            created: None,
            app: None,
            pod: None,
            version: now,
        });
    }
    Ok(Outcome { root: target, deployment: true, affected, steps, created, app: app_out, pod: pod_out, version: now })
}
