//! Versions after a change (facts §4.3, Marathon's `GroupVersioningUtil`) and the deployment plan's
//! steps (`DeploymentPlan.apply`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::app::VersionInfo;
use crate::app_diff::{app_diff, AppAt};
use crate::{App, Group, PathId, Pod, SharedApp, Timestamp};

/// True when two apps differ only in instances (and versions): Marathon's `isOnlyScaleChange`.
fn same_config(a: &App, b: &App) -> bool {
    let strip = |x: &App| {
        let mut y = x.clone();
        y.instances = None;
        y.version = None;
        y.version_info = None;
        y
    };
    strip(a) == strip(b)
}

fn last_config_change(app: &App) -> Option<String> {
    app.version_info
        .as_ref()
        .and_then(|v| v.last_config_change_at.clone())
        .or_else(|| app.version.clone())
}

fn full(scaling: &str, config: &str) -> VersionInfo {
    VersionInfo {
        last_scaling_at: Some(scaling.to_string()),
        last_config_change_at: Some(config.to_string()),
        extra: Default::default(),
    }
}

/// Stamps versions on `target` relative to `original` at `now`:
/// new app → version = lastScalingAt = lastConfigChangeAt = now; config change → all now;
/// scale only or restart → version = lastScalingAt = now, lastConfigChangeAt kept; unchanged apps
/// keep theirs. Every group's version becomes `now`. New or changed pods get `now`.
///
/// Only the apps `target` does not share with `original` are looked at ([`app_diff`]), and the
/// restarted ones: a write on a large root costs what it touches.
pub fn stamp_versions(original: &Group, mut target: Group, now: Timestamp, restarted: &[PathId]) -> Group {
    let v = now.to_joda();
    let mut to_stamp: Vec<(AppAt, Option<SharedApp>, bool)> =
        app_diff(original, &target).touched.into_iter().map(|t| (t.at, t.before.cloned(), false)).collect();
    for id in restarted {
        if let Some(at) = target.locate_app(id) {
            match to_stamp.iter_mut().find(|(a, _, _)| *a == at) {
                Some(entry) => entry.2 = true,
                None => to_stamp.push((at, original.find_app(id).cloned(), true)),
            }
        }
    }
    for (at, before, restart) in to_stamp {
        if let Some(app) = target.app_at_mut(&at) {
            stamp_app(app, before.as_ref(), restart, &v);
        }
    }
    let orig_pods: HashMap<String, &Pod> = all_pods(original).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let mut stamp_pod = |pod: &mut Pod| {
        let id = pod.id.clone().unwrap_or_default();
        match orig_pods.get(&id) {
            Some(old) if *old == pod => {}
            Some(old) => {
                let mut a = pod.clone();
                a.version = old.version.clone();
                if **old == a {
                    pod.version = old.version.clone();
                } else {
                    pod.version = Some(v.clone());
                }
            }
            None => pod.version = Some(v.clone()),
        }
    };
    fn walk(g: &mut Group, fp: &mut dyn FnMut(&mut Pod), v: &str) {
        g.version = Some(v.to_string());
        if let Some(pods) = g.pods.as_mut() {
            pods.iter_mut().for_each(&mut *fp);
        }
        for sub in g.groups.iter_mut().flatten() {
            walk(sub, fp, v);
        }
    }
    walk(&mut target, &mut stamp_pod, &v);
    target
}

/// The versions of one app `target` holds differently from `original` (`before`: the original's
/// app of that id).
fn stamp_app(shared: &mut SharedApp, before: Option<&SharedApp>, restart: bool, v: &str) {
    let Some(old) = before else {
        let app = shared.make_mut();
        app.version = Some(v.to_string());
        app.version_info = Some(full(v, v));
        return;
    };
    // Apps a change did not touch keep their version (ops clear it on touched apps): skip the
    // deep comparison for them.
    if !restart && shared.version().is_some() && shared.version() == old.version() {
        return;
    }
    if !restart && *old == *shared {
        return;
    }
    let old = old.app();
    let app = shared.make_mut();
    if restart || same_config(&old, app) {
        if !restart && old.instances() == app.instances() {
            // Only the stored versions differ (e.g. a re-sent app): keep the old ones.
            app.version = old.version.clone();
            app.version_info = old.version_info.clone();
            return;
        }
        let config = last_config_change(&old).unwrap_or_else(|| v.to_string());
        app.version = Some(v.to_string());
        app.version_info = Some(full(v, &config));
    } else {
        app.version = Some(v.to_string());
        app.version_info = Some(full(v, v));
    }
}

fn all_pods(g: &Group) -> Vec<&Pod> {
    g.transitive_groups().into_iter().flat_map(|g| g.pods()).collect()
}

/// One action of a deployment step, as Marathon renders it (`{"action": "...", "app": "/id"}`;
/// pods use the key `pod`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

impl Action {
    fn app(action: &str, id: &str) -> Action {
        Action { action: action.into(), app: Some(id.into()), pod: None }
    }
    fn pod(action: &str, id: &str) -> Action {
        Action { action: action.into(), app: None, pod: Some(id.into()) }
    }
    /// The run spec the action is about.
    pub fn run_spec(&self) -> &str {
        self.app.as_deref().or(self.pod.as_deref()).unwrap_or("")
    }
}

/// One step of a plan: actions that run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub actions: Vec<Action>,
}

/// The steps of the plan from `original` to `target`: stop removed run specs, start new ones at
/// zero, then scale or restart in dependency order (longest dependency path first-to-last).
/// `target` must be stamped ([`stamp_versions`]): an app with its original version is unchanged.
/// Apps `target` shares with `original` are not looked at ([`app_diff`]), except to follow
/// dependencies when an app has some.
pub fn plan_steps(original: &Group, target: &Group, restarted: &[PathId]) -> Vec<Step> {
    let diff = app_diff(original, target);
    let orig_pods: HashMap<String, &Pod> = all_pods(original).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let targ_pods: HashMap<String, &Pod> = all_pods(target).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let restarted: HashSet<String> = restarted.iter().map(|p| p.to_string()).collect();
    let mut steps = Vec::new();

    let mut stops: Vec<Action> = diff.removed.iter().filter_map(|a| a.id()).map(|id| Action::app("StopApplication", id)).collect();
    stops.extend(orig_pods.keys().filter(|id| !targ_pods.contains_key(*id)).map(|id| Action::pod("StopApplication", id)));
    stops.sort_by(|a, b| a.run_spec().cmp(b.run_spec()));
    steps.push(Step { actions: stops });

    let mut starts: Vec<Action> = diff
        .touched
        .iter()
        .filter(|t| t.before.is_none())
        .filter_map(|t| t.after.id())
        .map(|id| Action::app("StartApplication", id))
        .collect();
    starts.extend(targ_pods.keys().filter(|id| !orig_pods.contains_key(*id)).map(|id| Action::pod("StartApplication", id)));
    steps.push(Step { actions: starts });

    // Restarted apps a caller did not stamp are still shared with the original: in `target`'s
    // order among the touched ones.
    let mut changed: Vec<(AppAt, Option<&SharedApp>, &SharedApp)> = diff.touched.iter().map(|t| (t.at.clone(), t.before, t.after)).collect();
    for id in &restarted {
        let Some(at) = target.locate_app(&PathId::parse(id)) else { continue };
        if changed.iter().all(|(a, _, _)| *a != at) {
            if let (Some(before), Some(after)) = (original.find_app(&PathId::parse(id)), target.find_app(&PathId::parse(id))) {
                changed.push((at, Some(before), after));
            }
        }
    }
    changed.sort_by(|a, b| a.0.cmp(&b.0));

    let mut depth = DependencyDepth::of(target);
    let mut classes: std::collections::BTreeMap<usize, Vec<Action>> = Default::default();
    for (_, before, app) in changed {
        let Some(id) = app.id() else { continue };
        let action = match before {
            None => Some("ScaleApplication"),
            Some(_) if restarted.contains(id) => Some("RestartApplication"),
            // After stamping, an unchanged app has its original version.
            Some(old) if app.version().is_some() && app.version() == old.version() => None,
            Some(old) if *old == *app => None,
            Some(old) if same_config(&old.app(), &app.app()) => {
                if old.instances() != app.instances() {
                    Some("ScaleApplication")
                } else {
                    None
                }
            }
            Some(_) => Some("RestartApplication"),
        };
        if let Some(action) = action {
            classes.entry(depth.of_app(id)).or_default().push(Action::app(action, id));
        }
    }
    let mut pod_actions = Vec::new();
    for (id, pod) in &targ_pods {
        match orig_pods.get(id) {
            None => pod_actions.push(Action::pod("ScaleApplication", id)),
            Some(old) if old != pod => pod_actions.push(Action::pod("RestartApplication", id)),
            _ => {}
        }
    }
    if !pod_actions.is_empty() {
        classes.entry(1).or_default().extend(pod_actions);
    }
    for (_, actions) in classes {
        steps.push(Step { actions });
    }
    steps.retain(|s| !s.actions.is_empty());
    steps
}

/// The length of the longest dependency path from each app of a tree (1 without dependencies):
/// the order in which a plan's steps scale and restart them. The tree's apps are indexed only
/// when one of them has dependencies.
struct DependencyDepth<'a> {
    apps: Option<HashMap<&'a str, &'a SharedApp>>,
    depth: HashMap<&'a str, usize>,
}

impl<'a> DependencyDepth<'a> {
    fn of(target: &'a Group) -> Self {
        let all = target.transitive_apps();
        let apps = all.iter().any(|a| !a.dependencies().is_empty()).then(|| all.into_iter().filter_map(|a| Some((a.id()?, a))).collect());
        DependencyDepth { apps, depth: HashMap::new() }
    }

    fn of_app(&mut self, id: &'a str) -> usize {
        match &self.apps {
            Some(apps) => longest(id, apps, &mut self.depth, &mut HashSet::new()),
            None => 1,
        }
    }
}

fn longest<'a>(id: &'a str, targ: &HashMap<&'a str, &'a SharedApp>, depth: &mut HashMap<&'a str, usize>, seen: &mut HashSet<&'a str>) -> usize {
    if let Some(d) = depth.get(id) {
        return *d;
    }
    if !seen.insert(id) {
        return 1;
    }
    let mut best = 0;
    if let Some(app) = targ.get(id) {
        for dep in app.dependencies() {
            for (other, _) in targ.iter() {
                if PathId::parse(dep).includes(&PathId::parse(other)) && *other != id {
                    best = best.max(longest(other, targ, depth, seen));
                }
            }
        }
    }
    depth.insert(id, best + 1);
    best + 1
}

#[cfg(test)]
mod tests;
