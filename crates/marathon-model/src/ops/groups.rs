//! Group writes: create (POST), update (PUT: GroupUpdate, `scaleBy`, `version` rollback), delete,
//! and the revert of a deployment.

use super::apps::{check_json, ensure_group, remove, upsert, validate_app};
use super::canonical::canonical_app;
use super::error::id_error;
use super::{ChangeError, Flavour, History};
use crate::app_diff::app_diff;
use crate::{Group, PathId, SharedApp};

type Details = Vec<(String, Vec<String>)>;

/// The "Invalid JSON" checks of a group body: every app needs an id (Play's reader).
fn check_body(update: &Group, prefix: &str) -> Result<(), ChangeError> {
    for (i, app) in update.apps().iter().enumerate() {
        let p = format!("{prefix}/apps({i})");
        if app.id().is_none() {
            return Err(ChangeError::InvalidJson(vec![(format!("{p}/id"), vec!["error.path.missing".into()])]));
        }
        check_json(&app.app(), &p)?;
    }
    for (i, g) in update.groups().iter().enumerate() {
        check_body(g, &format!("{prefix}/groups({i})"))?;
    }
    Ok(())
}

/// Marathon's validation of a (nested) group update.
fn validate_update(update: &Group, base: &PathId, prefix: &str, out: &mut Details) {
    let own = update.id.as_deref().map(|raw| PathId::resolve(raw, base)).unwrap_or_else(|| base.clone());
    if let Some(raw) = update.id.as_deref() {
        if PathId::parse(raw).validate().is_err() {
            out.push((format!("{prefix}/id"), vec![id_error(raw)]));
        }
    }
    // `version` and `scaleBy` must be the only defined option of the GroupUpdate (its id counts).
    let defined = [
        update.id.is_some(),
        update.apps.is_some(),
        update.groups.is_some(),
        update.dependencies.is_some(),
        update.scale_by.is_some(),
        update.version.is_some(),
    ]
    .iter()
    .filter(|d| **d)
    .count();
    for (field, set) in [("version", update.version.is_some()), ("scaleBy", update.scale_by.is_some())] {
        if set && defined != 1 {
            out.push((format!("{prefix}/{field}"), vec!["not allowed in conjunction with other properties.".into()]));
        }
    }
    for (i, app) in update.apps().iter().enumerate() {
        let mut resolved = app.app().into_owned();
        if let Some(raw) = app.id() {
            resolved.id = Some(PathId::resolve(raw, &own).to_string());
        }
        out.extend(validate_app(&resolved, &format!("{prefix}/apps({i})")));
    }
    for (i, g) in update.groups().iter().enumerate() {
        validate_update(g, &own, &format!("{prefix}/groups({i})"), out);
    }
}

fn check(update: &Group, base: &PathId) -> Result<(), ChangeError> {
    check_body(update, "")?;
    let mut details = Vec::new();
    validate_update(update, base, "", &mut details);
    if details.is_empty() {
        Ok(())
    } else {
        Err(ChangeError::Invalid(details))
    }
}

/// `GroupUpdate.apply`: apps and subgroups given replace the current ones (subgroups listed are
/// updated recursively, others dropped); absent collections are kept.
fn apply_update(current: &Group, update: &Group, flavour: Flavour) -> Result<Group, ChangeError> {
    let own = current.path_id();
    let mut out = current.clone();
    if let Some(subs) = update.groups.as_ref() {
        let mut groups = Vec::with_capacity(subs.len());
        for sub in subs {
            let raw = sub.id.as_deref().ok_or_else(|| ChangeError::IllegalArgument("No group id was given!".into()))?;
            let gid = PathId::resolve(raw, &own);
            let existing = current.groups().iter().find(|g| g.path_id() == gid);
            let base = existing.cloned().unwrap_or_else(|| Group::empty(&gid));
            let updated = apply_update(&base, sub, flavour)?;
            groups.retain(|g: &Group| g.path_id() != gid);
            groups.push(updated);
        }
        out.groups = Some(groups);
    }
    if let Some(apps) = update.apps.as_ref() {
        let mut list: Vec<SharedApp> = Vec::with_capacity(apps.len());
        for app in apps {
            // Touched apps carry no version; stamping compares them with the original.
            let mut a = canonical_app(app.app().into_owned(), &own, flavour);
            a.version = None;
            a.version_info = None;
            list.retain(|x| x.id() != a.id.as_deref());
            list.push(SharedApp::new(a));
        }
        out.apps = Some(list.into());
    }
    if let Some(deps) = update.dependencies.as_ref() {
        out.dependencies = Some(deps.iter().map(|d| PathId::resolve(d, &own).to_string()).collect());
    }
    out.apps.get_or_insert_with(Default::default);
    out.groups.get_or_insert_with(Vec::new);
    out.dependencies.get_or_insert_with(Vec::new);
    Ok(out)
}

/// Replaces (or creates) the group at `group.id` in the tree.
fn put_group(root: &mut Group, group: Group) {
    let id = group.path_id();
    if id.is_root() {
        *root = group;
        return;
    }
    let parent = ensure_group(root, &id.parent());
    let groups = parent.groups.get_or_insert_with(Vec::new);
    match groups.iter_mut().find(|g| g.path_id() == id) {
        Some(slot) => *slot = group,
        None => groups.push(group),
    }
}

/// `POST /v2/groups[/{base}]`. Returns the target and the created group's path.
pub(crate) fn create(root: &Group, base: &PathId, body: &Group, flavour: Flavour) -> Result<(Group, PathId), ChangeError> {
    check(body, base)?;
    let path = body.id.as_deref().map(|raw| PathId::resolve(raw, base)).unwrap_or_else(|| base.clone());
    if root.find_group(&path).is_some() {
        return Err(ChangeError::Conflict(format!(
            "Group {path} is already created. Use PUT to change this group."
        )));
    }
    if root.find_app(&path).is_some() {
        return Err(ChangeError::Conflict(format!("An app with the path {path} already exists.")));
    }
    let group = apply_update(&Group::empty(&path), body, flavour)?;
    let mut target = root.clone();
    put_group(&mut target, group);
    Ok((target, path))
}

/// `PUT /v2/groups[/{base}]`.
pub(crate) fn update(
    root: &Group,
    base: &PathId,
    body: &Group,
    _now: crate::Timestamp,
    flavour: Flavour,
    history: &dyn History,
) -> Result<Group, ChangeError> {
    check(body, base)?;
    let path = body.id.as_deref().map(|raw| PathId::resolve(raw, base)).unwrap_or_else(|| base.clone());
    let current = root.find_group(&path).cloned().unwrap_or_else(|| Group::empty(&path));
    let mut target = root.clone();
    if let Some(version) = body.version.as_deref() {
        let old_root = history
            .root_at(version)
            .ok_or_else(|| ChangeError::IllegalArgument(format!("Group {path} not available in version {version}")))?;
        let old = old_root
            .find_group(&path)
            .cloned()
            .ok_or_else(|| ChangeError::IllegalArgument(format!("Group {path} not available in version {version}")))?;
        put_group(&mut target, old);
        return Ok(target);
    }
    if let Some(scale) = body.scale_by {
        let mut group = current;
        scale_apps(&mut group, scale);
        put_group(&mut target, group);
        return Ok(target);
    }
    let group = apply_update(&current, body, flavour)?;
    put_group(&mut target, group);
    Ok(target)
}

fn scale_apps(group: &mut Group, by: f64) {
    if let Some(apps) = group.apps.as_mut() {
        for app in apps {
            let app = app.make_mut();
            app.instances = Some((f64::from(app.instances()) * by).ceil().max(0.0) as u32);
            app.version = None;
        }
    }
    if let Some(groups) = group.groups.as_mut() {
        for g in groups {
            scale_apps(g, by);
        }
    }
}

/// `DELETE /v2/groups[/{id}]`: the root is cleared, any other group removed from its parent.
pub(crate) fn delete(root: &Group, id: &PathId) -> Result<Group, ChangeError> {
    let mut target = root.clone();
    if id.is_root() {
        target.apps = Some(Default::default());
        target.groups = Some(Vec::new());
        if target.pods.is_some() {
            target.pods = Some(Vec::new());
        }
        return Ok(target);
    }
    if root.find_group(id).is_none() {
        return Err(ChangeError::UnknownGroup(id.clone()));
    }
    if let Some(parent) = target.find_group_mut(&id.parent()) {
        if let Some(groups) = parent.groups.as_mut() {
            groups.retain(|g| g.path_id() != *id);
        }
    }
    Ok(target)
}

/// The reverse of a plan applied to the current root (Marathon's `DeploymentPlanReverter`): apps
/// the plan created are removed, apps it removed come back, apps it changed return to their
/// original definition; groups it created are removed when empty, groups it removed come back.
pub(crate) fn revert(current: &Group, original: &Group, target: &Group) -> Group {
    let mut out = current.clone();
    let orig_apps: Vec<&SharedApp> = original.transitive_apps();
    let targ_apps: Vec<&SharedApp> = target.transitive_apps();
    for t in &targ_apps {
        let id = PathId::parse(t.id().unwrap_or("/"));
        match original.find_app(&id) {
            None => {
                remove(&mut out, &id);
            }
            Some(o) if o != *t => upsert(&mut out, o.clone()),
            Some(_) => {}
        }
    }
    for o in &orig_apps {
        let id = PathId::parse(o.id().unwrap_or("/"));
        if target.find_app(&id).is_none() && out.find_app(&id).is_none() {
            upsert(&mut out, (*o).clone());
        }
    }
    // Groups the plan created and that are now empty go away.
    for g in target.transitive_groups() {
        let gid = g.path_id();
        if gid.is_root() || original.find_group(&gid).is_some() {
            continue;
        }
        let empty = out.find_group(&gid).is_some_and(|cg| cg.transitive_apps().is_empty());
        if empty {
            if let Some(parent) = out.find_group_mut(&gid.parent()) {
                if let Some(groups) = parent.groups.as_mut() {
                    groups.retain(|x| x.path_id() != gid);
                }
            }
        }
    }
    out
}

/// Root-level validation: no app may share its id with a group. `original` is a root Marathon
/// holds (which has no such clash): only the apps and groups `target` adds can clash.
pub(crate) fn validate_change(original: &Group, target: &Group) -> Result<(), ChangeError> {
    let clash = |id: &str| ChangeError::invalid("/", format!("Groups and Applications may not have the same identifier: {id}"));
    let diff = app_diff(original, target);
    let new_apps = diff.touched.iter().filter(|t| t.before.is_none()).filter_map(|t| t.after.id());
    for id in new_apps {
        if target.find_group(&PathId::parse(id)).is_some() {
            return Err(clash(id));
        }
    }
    for id in diff.added_groups.iter().filter_map(|g| g.id.as_deref()) {
        if target.find_app(&PathId::parse(id)).is_some() {
            return Err(clash(id));
        }
    }
    Ok(())
}
