//! Steps applied to the model as Marathon applies them to its state: a deleted app or group
//! leaves its group (an emptied group stays, as in Marathon); an emptied environment is an empty
//! map, and the app gets the full version info of a configuration change (which an app stored
//! without one then starts to carry). New group versions have the length of the old ones, so
//! groups keep theirs.

use std::collections::{HashMap, HashSet};

use marathon_model::app::VersionInfo;
use marathon_model::{Group, PathId, Timestamp};

use super::candidates::Candidate;
use super::Action;

/// Applies `steps` to `root` in one pass per group they touch (a batch may delete thousands of
/// apps of one group); a step whose target is gone changes nothing.
pub(super) fn apply(root: &mut Group, steps: &[Candidate]) {
    let mut by_parent: HashMap<PathId, HashMap<Action, HashSet<String>>> = HashMap::new();
    for s in steps {
        by_parent.entry(s.id.parent()).or_default().entry(s.action).or_default().insert(s.id.to_string());
    }
    for (parent, actions) in by_parent {
        let Some(group) = root.find_group_mut(&parent) else { continue };
        for (action, ids) in actions {
            edit_group(group, action, &ids);
        }
    }
}

fn edit_group(group: &mut Group, action: Action, ids: &HashSet<String>) {
    let named = |id: Option<&str>| id.is_some_and(|id| ids.contains(id));
    match action {
        Action::DeleteApp => {
            if let Some(apps) = group.apps.as_mut() {
                apps.retain(|a| !named(a.id()));
            }
        }
        Action::DeleteGroup => {
            if let Some(groups) = group.groups.as_mut() {
                groups.retain(|g| !named(g.id.as_deref()));
            }
        }
        Action::ClearEnv => {
            // Any instant will do: a version is always 24 characters.
            let now = Timestamp::from_millis(0).to_joda();
            for app in group.apps.iter_mut().flatten().filter(|a| named(a.id())) {
                let app = app.make_mut();
                if let Some(env) = app.env.as_mut() {
                    env.clear();
                }
                app.version = Some(now.clone());
                app.version_info = Some(VersionInfo { last_scaling_at: Some(now.clone()), last_config_change_at: Some(now.clone()), extra: Default::default() });
            }
        }
    }
}

/// Applies one step given by action and id (tests, callers replaying a plan).
pub fn apply_step(root: &mut Group, action: Action, id: &str) {
    apply(root, &[Candidate::new(action, PathId::parse(id))]);
}
