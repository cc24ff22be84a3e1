//! Pod writes (1.4+): create, replace-or-create, delete. Pods live in their group's `pods`.

use super::apps::ensure_group;
use super::error::id_error;
use super::{ChangeError, Flavour};
use crate::{Group, PathId, Pod};

fn only_v14(flavour: Flavour) -> Result<(), ChangeError> {
    match flavour {
        Flavour::V14 => Ok(()),
        Flavour::V13 => Err(ChangeError::NotFound("URI not found: /v2/pods".into())),
    }
}

fn check(pod: &Pod, id: &PathId) -> Result<(), ChangeError> {
    if id.is_root() || id.validate().is_err() {
        return Err(ChangeError::invalid("/id", id_error(&id.to_string())));
    }
    if pod.extra.get("containers").and_then(|c| c.as_array()).is_none_or(|a| a.is_empty()) {
        return Err(ChangeError::invalid("/containers", "is empty"));
    }
    Ok(())
}

pub(crate) fn find_pod(root: &Group, id: &PathId) -> bool {
    root.find_pod(id).is_some()
}

fn upsert(root: &mut Group, pod: Pod) {
    let id = PathId::parse(pod.id.as_deref().unwrap_or("/"));
    let group = ensure_group(root, &id.parent());
    let pods = group.pods.get_or_insert_with(Vec::new);
    match pods.iter_mut().find(|p| p.id == pod.id) {
        Some(slot) => *slot = pod,
        None => pods.push(pod),
    }
}

/// `POST /v2/pods`.
pub(crate) fn create(root: &Group, pod: &Pod, flavour: Flavour) -> Result<(Group, Pod), ChangeError> {
    only_v14(flavour)?;
    let raw = pod.id.as_deref().ok_or_else(|| ChangeError::invalid("/id", "is required"))?;
    let id = PathId::resolve(raw, &PathId::root());
    check(pod, &id)?;
    if find_pod(root, &id) {
        return Err(ChangeError::Conflict(format!("Pod {id} already exists")));
    }
    if root.find_app(&id).is_some() || root.find_group(&id).is_some() {
        return Err(ChangeError::Conflict(format!("An app or group with the path {id} already exists.")));
    }
    let mut pod = pod.clone();
    pod.id = Some(id.to_string());
    pod.version = None;
    let mut target = root.clone();
    upsert(&mut target, pod.clone());
    Ok((target, pod))
}

/// `PUT /v2/pods/{id}`: replaces the pod, or creates it.
pub(crate) fn put(root: &Group, id: &PathId, pod: &Pod, flavour: Flavour) -> Result<(Group, Pod, bool), ChangeError> {
    only_v14(flavour)?;
    if let Some(raw) = pod.id.as_deref() {
        if PathId::resolve(raw, &PathId::root()) != *id {
            return Err(ChangeError::BadRequest(format!(
                "Pod id in body ({raw}) does not match the path ({id})"
            )));
        }
    }
    check(pod, id)?;
    let existing = root.find_pod(id);
    let mut pod = pod.clone();
    pod.id = Some(id.to_string());
    pod.version = existing.and_then(|p| p.version.clone());
    let mut target = root.clone();
    upsert(&mut target, pod.clone());
    Ok((target, pod, existing.is_none()))
}

/// `DELETE /v2/pods/{id}`.
pub(crate) fn delete(root: &Group, id: &PathId, flavour: Flavour) -> Result<Group, ChangeError> {
    only_v14(flavour)?;
    if !find_pod(root, id) {
        return Err(ChangeError::UnknownPod(id.clone()));
    }
    let mut target = root.clone();
    if let Some(pods) = target.find_group_mut(&id.parent()).and_then(|g| g.pods.as_mut()) {
        let s = id.to_string();
        pods.retain(|p| p.id.as_deref() != Some(s.as_str()));
    }
    Ok(target)
}
