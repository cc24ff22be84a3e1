//! App writes: create, update (partial or replace, with rollback), batch, delete, scale-by-kill.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use super::canonical::canonical_app;
use super::error::id_error;
use super::{ChangeError, Flavour, History};
use crate::{App, Group, PathId, SharedApp};

type Details = Vec<(String, Vec<String>)>;

/// Marathon's validation of one app (the subset the simulator enforces), paths under `prefix`.
pub(crate) fn validate_app(app: &App, prefix: &str) -> Details {
    let mut out: Details = Vec::new();
    let mut push = |path: String, err: String| {
        if let Some(entry) = out.iter_mut().find(|(p, _)| *p == path) {
            entry.1.push(err);
        } else {
            out.push((path, vec![err]));
        }
    };
    if let Some(id) = app.id.as_deref() {
        if PathId::parse(id).validate().is_err() || PathId::parse(id).is_root() {
            push(format!("{prefix}/id"), id_error(id));
        }
    }
    let cmd = app.cmd.as_deref().is_some_and(|c| !c.is_empty());
    let args = app.args.as_ref().is_some_and(|a| !a.is_empty());
    let container = app
        .container
        .as_ref()
        .is_some_and(|c| c.docker.is_some() || c.extra.contains_key("appc"));
    if !((cmd ^ args) || (!(cmd && args) && container)) {
        push(
            if prefix.is_empty() { "/".to_string() } else { prefix.to_string() },
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.".into(),
        );
    }
    for (field, v) in [("cpus", app.cpus), ("mem", app.mem), ("disk", app.disk), ("gpus", app.gpus)] {
        if let Some(v) = v {
            if v < 0.0 {
                push(format!("{prefix}/{field}"), format!("got {v}, expected 0.0 or more"));
            }
        }
    }
    if app.residency.is_some() != app.has_persistent_volumes() && app.residency.is_some() {
        push(
            if prefix.is_empty() { "/".to_string() } else { prefix.to_string() },
            "AppDefinition must contain persistent volumes and define residency".into(),
        );
    }
    out
}

/// Checks the fields the JSON readers of Marathon reject as "Invalid JSON" (400).
pub(crate) fn check_json(app: &App, prefix: &str) -> Result<(), ChangeError> {
    if let Some(net) = app.container.as_ref().and_then(|c| c.docker.as_ref()).and_then(|d| d.network.as_deref()) {
        if !matches!(net, "HOST" | "BRIDGE" | "NONE" | "USER") {
            return Err(ChangeError::InvalidJson(vec![(
                format!("{prefix}/container/docker/network"),
                vec![format!("{net} is not a valid network type")],
            )]));
        }
    }
    Ok(())
}

pub(crate) fn require<'a>(root: &'a Group, id: &PathId) -> Result<&'a SharedApp, ChangeError> {
    root.find_app(id).ok_or_else(|| ChangeError::UnknownApp(id.clone()))
}

/// Inserts or replaces `app` (absolute id) in the tree, creating missing groups on the way.
pub(crate) fn upsert(root: &mut Group, app: impl Into<SharedApp>) {
    let app: SharedApp = app.into();
    let id = PathId::parse(app.id().unwrap_or("/"));
    let group = ensure_group(root, &id.parent());
    let apps = group.apps.get_or_insert_with(Default::default);
    let id_str = id.to_string();
    match apps.iter_mut().find(|a| a.id() == Some(id_str.as_str())) {
        Some(slot) => *slot = app,
        None => apps.push(app),
    }
}

/// The group with this id, created (empty) with its missing ancestors when absent.
pub(crate) fn ensure_group<'a>(root: &'a mut Group, id: &PathId) -> &'a mut Group {
    let mut current = root;
    let mut path = PathId::root();
    for seg in id.segments() {
        path = path.child(seg);
        let groups = current.groups.get_or_insert_with(Vec::new);
        let pos = match groups.iter().position(|g| g.path_id() == path) {
            Some(p) => p,
            None => {
                groups.push(Group::empty(&path));
                groups.len() - 1
            }
        };
        current = &mut current.groups.as_mut().unwrap()[pos];
    }
    current
}

/// Removes the app; false when absent.
pub(crate) fn remove(root: &mut Group, id: &PathId) -> bool {
    let id_str = id.to_string();
    match root.find_group_mut(&id.parent()).and_then(|g| g.apps.as_mut()) {
        Some(apps) => {
            let before = apps.len();
            apps.retain(|a| a.id() != Some(id_str.as_str()));
            apps.len() != before
        }
        None => false,
    }
}

fn validated(app: &App, prefix: &str) -> Result<(), ChangeError> {
    check_json(app, prefix)?;
    let details = validate_app(app, prefix);
    if details.is_empty() {
        Ok(())
    } else {
        Err(ChangeError::Invalid(details))
    }
}

/// `POST /v2/apps`.
pub(crate) fn create(root: &Group, app: &App, flavour: Flavour) -> Result<(Group, App), ChangeError> {
    let raw_id = app.id.as_deref().ok_or_else(|| {
        ChangeError::InvalidJson(vec![("/id".into(), vec!["error.path.missing".into()])])
    })?;
    validated(app, "")?;
    let id = PathId::resolve(raw_id, &PathId::root());
    if root.find_app(&id).is_some() {
        return Err(ChangeError::Conflict(format!("An app with id [{id}] already exists.")));
    }
    if root.find_group(&id).is_some() {
        return Err(ChangeError::invalid("/", format!("Groups and Applications may not have the same identifier: {id}")));
    }
    let mut app = canonical_app(app.clone(), &PathId::root(), flavour);
    app.version = None;
    app.version_info = None;
    let mut target = root.clone();
    upsert(&mut target, app.clone());
    Ok((target, app))
}

/// Merges the fields present in `update` onto `current` (Marathon's `AppUpdate` semantics).
fn merge(current: &App, update: &App) -> Result<App, ChangeError> {
    let mut base = match serde_json::to_value(current) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("an app serializes to an object"),
    };
    let upd = match serde_json::to_value(update) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("an app serializes to an object"),
    };
    let pairs = [("ports", "portDefinitions"), ("portDefinitions", "ports"), ("uris", "fetch"), ("fetch", "uris")];
    for (given, dropped) in pairs {
        if upd.contains_key(given) && !upd.contains_key(dropped) {
            base.remove(dropped);
        }
    }
    if upd.contains_key("ipAddress") {
        base.remove("ports");
        base.remove("portDefinitions");
    }
    for (k, v) in upd {
        if k == "id" || k == "version" || k == "versionInfo" {
            continue;
        }
        base.insert(k, v);
    }
    serde_json::from_value(Value::Object(base)).map_err(|e| ChangeError::InvalidJson(vec![("/".into(), vec![e.to_string()])]))
}

/// True when the body is a rollback request (`{"version": v}` with nothing else but an id).
pub(crate) fn rollback_version(app: &App) -> Option<&str> {
    let v = app.version.as_deref()?;
    let mut only = app.clone();
    only.version = None;
    only.id = None;
    (only == App::default()).then_some(v)
}

/// `PUT /v2/apps/{id}` (may create) and `PATCH` (`may_create` false).
/// Returns the target root, the app as it will be stored, and whether it was created.
pub(crate) fn put(
    root: &Group,
    id: &PathId,
    body: &App,
    partial: bool,
    may_create: bool,
    flavour: Flavour,
    history: &dyn History,
) -> Result<(Group, App, bool), ChangeError> {
    let asked = Put { id, body, partial, may_create, flavour, prefix: "" };
    let (app, created) = asked.resolve(root.find_app(id), history)?;
    let mut target = root.clone();
    upsert(&mut target, app.clone());
    Ok((target, app, created))
}

/// One app of a `PUT` / `PATCH`, as asked.
struct Put<'a> {
    id: &'a PathId,
    body: &'a App,
    partial: bool,
    may_create: bool,
    flavour: Flavour,
    /// Where the app sits in the body, for error paths (`/(3)` in an array).
    prefix: &'a str,
}

impl Put<'_> {
    /// The app as it will be stored, given the app stored under the id now; and whether it is
    /// created. Touches no tree, so that a batch costs one pass.
    fn resolve(&self, existing: Option<&SharedApp>, history: &dyn History) -> Result<(App, bool), ChangeError> {
        let Put { id, body, partial, may_create, flavour, prefix } = *self;
        if id.is_root() || id.validate().is_err() {
            return Err(ChangeError::invalid(&format!("{prefix}/id"), id_error(&id.to_string())));
        }
        if let Some(body_id) = body.id.as_deref() {
            if PathId::resolve(body_id, &id.parent()) != *id && PathId::resolve(body_id, &PathId::root()) != *id {
                return Err(ChangeError::BadRequest(format!(
                    "The supplied app id [{}] does not match the path [{id}]",
                    PathId::resolve(body_id, &PathId::root())
                )));
            }
        }
        if let Some(v) = rollback_version(body) {
            if existing.is_none() {
                return Err(ChangeError::UnknownApp(id.clone()));
            }
            let old = history.app_at(id, v).ok_or_else(|| ChangeError::UnknownAppVersion(id.clone(), v.to_string()))?;
            let mut app = canonical_app(old, &id.parent(), flavour);
            app.id = Some(id.to_string());
            return Ok((app, false));
        }
        check_json(body, prefix)?;
        let (merged, created) = match existing {
            Some(current) if partial => (merge(&current.app(), body)?, false),
            Some(_) => (body.clone(), false),
            None if may_create => (body.clone(), true),
            None => return Err(ChangeError::UnknownApp(id.clone())),
        };
        let mut app = merged;
        app.id = Some(id.to_string());
        let details = validate_app(&app, prefix);
        if !details.is_empty() {
            return Err(ChangeError::Invalid(details));
        }
        let mut app = canonical_app(app, &id.parent(), flavour);
        // Touched apps carry no version; stamping compares them with the original and decides.
        app.version = None;
        app.version_info = None;
        Ok((app, created))
    }
}

/// `PUT /v2/apps` / `PATCH /v2/apps` with an array: one plan for every app. A later entry for
/// the same id applies on top of an earlier one. One pass over the root and the body: a batch of
/// many apps costs time in proportion to its size.
pub(crate) fn put_many(
    root: &Group,
    apps: &[App],
    partial: bool,
    may_create: bool,
    flavour: Flavour,
    history: &dyn History,
) -> Result<Group, ChangeError> {
    let stored: HashMap<PathId, &SharedApp> =
        root.transitive_apps().into_iter().filter_map(|a| Some((PathId::parse(a.id()?), a))).collect();
    let mut written: IndexMap<PathId, SharedApp> = IndexMap::new();
    for (i, app) in apps.iter().enumerate() {
        let prefix = format!("/({i})");
        let raw = app.id.as_deref().ok_or_else(|| {
            ChangeError::InvalidJson(vec![(format!("{prefix}/id"), vec!["error.path.missing".into()])])
        })?;
        let id = PathId::resolve(raw, &PathId::root());
        let asked = Put { id: &id, body: app, partial, may_create, flavour, prefix: &prefix };
        let existing = written.get(&id).or_else(|| stored.get(&id).copied());
        let (resolved, _) = asked.resolve(existing, history)?;
        written.insert(id, resolved.into());
    }
    let mut target = root.clone();
    upsert_all(&mut target, written);
    Ok(target)
}

/// [`upsert`] for many apps: each group is found once and its apps indexed once.
fn upsert_all(root: &mut Group, apps: IndexMap<PathId, SharedApp>) {
    let mut by_group: IndexMap<PathId, Vec<SharedApp>> = IndexMap::new();
    for (id, app) in apps {
        by_group.entry(id.parent()).or_default().push(app);
    }
    for (gid, group_apps) in by_group {
        let slots = ensure_group(root, &gid).apps.get_or_insert_with(Default::default);
        let mut index: HashMap<String, usize> =
            slots.iter().enumerate().filter_map(|(i, a)| Some((a.id()?.to_string(), i))).collect();
        for app in group_apps {
            let key = app.id().unwrap_or_default().to_string();
            match index.get(&key) {
                Some(&i) => slots[i] = app,
                None => {
                    index.insert(key, slots.len());
                    slots.push(app);
                }
            }
        }
    }
}

/// `DELETE /v2/apps/{id}`.
pub(crate) fn delete(root: &Group, id: &PathId) -> Result<Group, ChangeError> {
    require(root, id)?;
    let mut target = root.clone();
    remove(&mut target, id);
    Ok(target)
}

/// Scale-by-kill: each app's instances drop by the tasks killed (`None` = all of them).
pub(crate) fn kill_and_scale(root: &Group, kills: &[(PathId, Option<u32>)]) -> Result<Group, ChangeError> {
    let mut target = root.clone();
    for (id, n) in kills {
        let app = target.find_app_mut(id).ok_or_else(|| ChangeError::UnknownApp(id.clone()))?;
        let current = app.instances();
        app.instances = Some(match n {
            Some(n) => current.saturating_sub(*n),
            None => 0,
        });
        app.version = None;
    }
    Ok(target)
}
