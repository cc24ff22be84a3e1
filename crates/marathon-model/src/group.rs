//! Groups and the root-group tree.
//!
//! The same type serves as the state (`GET /v2/groups` output, ids absolute after
//! [`Group::normalized`]) and as a client's group body (`POST`/`PUT /v2/groups`, where absent and
//! empty differ: `"apps": []` removes every app, no `apps` keeps them).

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::app::Extra;
use crate::{App, AppList, ModelError, PathId, Pod, SharedApp};

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: Option<String>,
    /// Shared between trees as one list ([`AppList`]).
    pub apps: Option<AppList>,
    pub groups: Option<Vec<Group>>,
    pub pods: Option<Vec<Pod>>,
    pub dependencies: Option<Vec<String>>,
    pub version: Option<String>,
    /// `PUT /v2/groups/{id}` with `{"scaleBy": n}` scales every app of the subtree.
    pub scale_by: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Group {
    pub fn parse(bytes: &[u8]) -> Result<Group, ModelError> {
        crate::from_json(bytes)
    }

    /// An empty root group, as Marathon starts.
    pub fn empty_root() -> Group {
        Group::empty(&PathId::root())
    }

    /// An empty group with the given id (every collection present and empty).
    pub fn empty(id: &PathId) -> Group {
        Group {
            id: Some(id.to_string()),
            apps: Some(AppList::default()),
            groups: Some(Vec::new()),
            pods: None,
            dependencies: Some(Vec::new()),
            ..Group::default()
        }
    }

    /// The group's id as a path (absolute after normalization; root when absent).
    pub fn path_id(&self) -> PathId {
        self.id.as_deref().map(PathId::parse).unwrap_or_else(PathId::root)
    }

    /// Resolves every id in the subtree to an absolute id, relative ids against their enclosing
    /// group, as Marathon does when it receives a group. `base` is the parent group's id.
    pub fn normalized(mut self, base: &PathId) -> Result<Group, ModelError> {
        let own = match self.id.as_deref() {
            Some(raw) => PathId::resolve(raw, base),
            None => base.clone(),
        };
        self.id = Some(own.to_string());
        if let Some(apps) = self.apps.as_mut() {
            for app in apps {
                let raw = app.id().ok_or(ModelError::MissingField { field: "id" })?;
                let resolved = PathId::resolve(raw, &own).to_string();
                if raw != resolved {
                    app.make_mut().id = Some(resolved);
                }
            }
        }
        if let Some(pods) = self.pods.as_mut() {
            for pod in pods {
                pod.id = Some(pod.path_id(&own)?.to_string());
            }
        }
        if let Some(groups) = self.groups.take() {
            let resolved: Result<Vec<Group>, ModelError> =
                groups.into_iter().map(|g| g.normalized(&own)).collect();
            self.groups = Some(resolved?);
        }
        if let Some(deps) = self.dependencies.as_mut() {
            for dep in deps {
                *dep = PathId::resolve(dep, &own).to_string();
            }
        }
        Ok(self)
    }

    /// The group's own apps. They are shared: copying a tree copies no app and no list of apps,
    /// and a change copies only the lists and apps it touches ([`AppList`],
    /// [`SharedApp::make_mut`]).
    pub fn apps(&self) -> &[SharedApp] {
        self.apps.as_deref().map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn groups(&self) -> &[Group] {
        self.groups.as_deref().unwrap_or(&[])
    }

    pub fn pods(&self) -> &[Pod] {
        self.pods.as_deref().unwrap_or(&[])
    }

    /// The subgroup with exactly this id, searched from this group down (ids must be absolute).
    pub fn find_group(&self, id: &PathId) -> Option<&Group> {
        let own = self.path_id();
        if &own == id {
            return Some(self);
        }
        if !own.includes(id) {
            return None;
        }
        self.groups().iter().find(|g| g.path_id().includes(id))?.find_group(id)
    }

    pub fn find_group_mut(&mut self, id: &PathId) -> Option<&mut Group> {
        let own = self.path_id();
        if &own == id {
            return Some(self);
        }
        if !own.includes(id) {
            return None;
        }
        self.groups.as_mut()?.iter_mut().find(|g| g.path_id().includes(id))?.find_group_mut(id)
    }

    /// The app with this absolute id anywhere in the subtree.
    pub fn find_app(&self, id: &PathId) -> Option<&SharedApp> {
        let id_str = id.to_string();
        self.find_group(&id.parent())?.apps().iter().find(|a| a.id() == Some(id_str.as_str()))
    }

    pub fn find_app_mut(&mut self, id: &PathId) -> Option<&mut App> {
        let id_str = id.to_string();
        self.find_group_mut(&id.parent())?
            .apps
            .as_mut()?
            .iter_mut()
            .find(|a| a.id() == Some(id_str.as_str()))
            .map(SharedApp::make_mut)
    }

    pub fn find_pod(&self, id: &PathId) -> Option<&Pod> {
        let id_str = id.to_string();
        self.find_group(&id.parent())?.pods().iter().find(|p| p.id.as_deref() == Some(id_str.as_str()))
    }

    /// Every app of the subtree, depth first (own apps before subgroups').
    pub fn transitive_apps(&self) -> Vec<&SharedApp> {
        let mut out = Vec::new();
        self.visit(&mut |g| out.extend(g.apps()));
        out
    }

    /// Marathon-side health checks (HTTP, HTTPS, TCP) times instances, over every app of the
    /// subtree: what Marathon itself runs (Mesos-side checks run on the agents).
    pub fn marathon_health_checks(&self) -> u64 {
        self.transitive_apps().iter().map(|a| a.marathon_health_checks() as u64 * a.instances() as u64).sum()
    }

    /// [`Group::marathon_health_checks`] from an earlier tree's count: only the apps this tree
    /// does not share with `earlier` are looked at ([`crate::app_diff`]).
    pub fn marathon_health_checks_since(&self, earlier: &Group, earlier_count: u64) -> u64 {
        let of = |a: &SharedApp| a.marathon_health_checks() as u64 * a.instances() as u64;
        let diff = crate::app_diff::app_diff(earlier, self);
        let added: u64 = diff.touched.iter().map(|t| of(t.after)).sum();
        let gone: u64 = diff.touched.iter().filter_map(|t| t.before).chain(diff.removed.iter().copied()).map(of).sum();
        (earlier_count + added).saturating_sub(gone)
    }

    /// Packs every app of the subtree (see [`SharedApp::pack`]): for a tree kept for long.
    pub fn pack_apps(&mut self) {
        for app in self.apps.iter_mut().flat_map(|list| list.iter_mut()) {
            app.pack();
        }
        for g in self.groups.iter_mut().flatten() {
            g.pack_apps();
        }
    }

    /// Every group of the subtree including this one, parents before children.
    pub fn transitive_groups(&self) -> Vec<&Group> {
        let mut out = Vec::new();
        self.visit(&mut |g| out.push(g));
        out
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Group)) {
        f(self);
        for g in self.groups() {
            g.visit(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Group {
        let raw = br#"{"id":"/","apps":[],"groups":[
            {"id":"prod","apps":[{"id":"web","cmd":"x"},{"id":"/prod/api"}],
             "groups":[{"id":"db","apps":[{"id":"pg"}]}]},
            {"id":"/dev","apps":[{"id":"../top"}]}]}"#;
        Group::parse(raw).unwrap().normalized(&PathId::root()).unwrap()
    }

    #[test]
    fn normalization_resolves_relative_ids() {
        let root = tree();
        let ids: Vec<_> = root.transitive_apps().iter().map(|a| a.id().unwrap().to_string()).collect();
        assert_eq!(ids, ["/prod/web", "/prod/api", "/prod/db/pg", "/top"]);
        let groups: Vec<_> = root.transitive_groups().iter().map(|g| g.id.clone().unwrap()).collect();
        assert_eq!(groups, ["/", "/prod", "/prod/db", "/dev"]);
    }

    #[test]
    fn finds_groups_and_apps() {
        let root = tree();
        assert_eq!(root.find_group(&PathId::parse("/prod/db")).unwrap().apps().len(), 1);
        assert!(root.find_app(&PathId::parse("/prod/db/pg")).is_some());
        assert!(root.find_app(&PathId::parse("/prod/pg")).is_none());
        assert!(root.find_group(&PathId::parse("/nope")).is_none());
        let mut root = root;
        root.find_app_mut(&PathId::parse("/prod/web")).unwrap().instances = Some(3);
        assert_eq!(root.find_app(&PathId::parse("/prod/web")).unwrap().instances(), 3);
    }

    #[test]
    fn marathon_side_health_checks_times_instances() {
        let raw = br#"{"id":"/","apps":[
            {"id":"/a","instances":3,"healthChecks":[{"protocol":"HTTP"},{"protocol":"TCP"},{"protocol":"MESOS_HTTP"}]},
            {"id":"/b","healthChecks":[{"protocol":"HTTPS"}]},
            {"id":"/c","instances":5,"healthChecks":[{"protocol":"COMMAND"}]}],"groups":[]}"#;
        let root = Group::parse(raw).unwrap().normalized(&PathId::root()).unwrap();
        assert_eq!(root.marathon_health_checks(), 2 * 3 + 1);
        assert_eq!(tree().marathon_health_checks(), 0);
    }
}
