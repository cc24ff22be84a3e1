//! Versions after a change (facts §4.3, Marathon's `GroupVersioningUtil`) and the deployment plan's
//! steps (`DeploymentPlan.apply`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::app::VersionInfo;
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
pub fn stamp_versions(original: &Group, mut target: Group, now: Timestamp, restarted: &[PathId]) -> Group {
    let v = now.to_joda();
    let orig_apps: HashMap<&str, &SharedApp> =
        original.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
    let orig_pods: HashMap<String, &Pod> = all_pods(original).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let restarted: HashSet<String> = restarted.iter().map(|p| p.to_string()).collect();
    fn walk(g: &mut Group, f: &mut dyn FnMut(&mut SharedApp), fp: &mut dyn FnMut(&mut Pod), v: &str) {
        g.version = Some(v.to_string());
        if let Some(apps) = g.apps.as_mut() {
            apps.iter_mut().for_each(&mut *f);
        }
        if let Some(pods) = g.pods.as_mut() {
            pods.iter_mut().for_each(&mut *fp);
        }
        if let Some(groups) = g.groups.as_mut() {
            for sub in groups {
                walk(sub, f, fp, v);
            }
        }
    }
    let mut stamp_app = |shared: &mut SharedApp| {
        let id = shared.id().unwrap_or_default().to_string();
        match orig_apps.get(id.as_str()) {
            None => {
                let app = shared.make_mut();
                app.version = Some(v.clone());
                app.version_info = Some(full(&v, &v));
            }
            Some(old) => {
                let restart = restarted.contains(&id);
                // Apps a change did not touch keep their version (ops clear it on touched apps):
                // skip the deep comparison for them.
                if !restart && shared.version().is_some() && shared.version() == old.version() {
                    return;
                }
                if !restart && **old == *shared {
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
                    let config = last_config_change(&old).unwrap_or_else(|| v.clone());
                    app.version = Some(v.clone());
                    app.version_info = Some(full(&v, &config));
                } else {
                    app.version = Some(v.clone());
                    app.version_info = Some(full(&v, &v));
                }
            }
        }
    };
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
    walk(&mut target, &mut stamp_app, &mut stamp_pod, &v);
    target
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
pub fn plan_steps(original: &Group, target: &Group, restarted: &[PathId]) -> Vec<Step> {
    let orig: HashMap<&str, &SharedApp> = original.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect();
    let targ_list = target.transitive_apps();
    let targ: HashMap<&str, &SharedApp> = targ_list.iter().filter_map(|a| Some((a.id()?, *a))).collect();
    let orig_pods: HashMap<String, &Pod> = all_pods(original).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let targ_pods: HashMap<String, &Pod> = all_pods(target).into_iter().filter_map(|p| Some((p.id.clone()?, p))).collect();
    let restarted: HashSet<String> = restarted.iter().map(|p| p.to_string()).collect();
    let mut steps = Vec::new();

    let mut stops: Vec<Action> = orig.keys().filter(|id| !targ.contains_key(*id)).map(|id| Action::app("StopApplication", id)).collect();
    stops.extend(orig_pods.keys().filter(|id| !targ_pods.contains_key(*id)).map(|id| Action::pod("StopApplication", id)));
    stops.sort_by(|a, b| a.run_spec().cmp(b.run_spec()));
    steps.push(Step { actions: stops });

    let mut starts: Vec<Action> = targ_list
        .iter()
        .filter_map(|a| a.id())
        .filter(|id| !orig.contains_key(id))
        .map(|id| Action::app("StartApplication", id))
        .collect();
    starts.extend(targ_pods.keys().filter(|id| !orig_pods.contains_key(*id)).map(|id| Action::pod("StartApplication", id)));
    steps.push(Step { actions: starts });

    // Dependency classes: the length of the longest dependency path from each app.
    let mut depth: HashMap<&str, usize> = HashMap::new();
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
    let has_deps = targ_list.iter().any(|a| !a.dependencies().is_empty());
    let mut classes: std::collections::BTreeMap<usize, Vec<Action>> = Default::default();
    for app in &targ_list {
        let Some(id) = app.id() else { continue };
        let action = match orig.get(id) {
            None => Some("ScaleApplication"),
            Some(old) if restarted.contains(id) => {
                let _ = old;
                Some("RestartApplication")
            }
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
            let d = if has_deps { longest(id, &targ, &mut depth, &mut HashSet::new()) } else { 1 };
            classes.entry(d).or_default().push(Action::app(action, id));
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
