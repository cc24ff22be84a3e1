//! The order in which Marathon stored a root group's subgroups and apps, read back from the
//! legacy root node (`group:root`), and laid over a model built from `GET /v2/groups`.
//!
//! Why: the API lists subgroups and apps sorted by id, while Marathon persists them in the
//! iteration order of its Scala sets and maps (insertion order up to 4, a hash order of the whole
//! group from 5). Protobuf lengths do not care, the gzip of the root and of a plan does: a model
//! in id order misses Marathon's bytes by a few hundred bytes on a root of many small groups. With
//! the order read from ZooKeeper, the model's root encodes to the stored bytes exactly.
//!
//! What is not here: constraint and health-check sets, env and labels render in the API in the
//! very order Marathon stores them, so the model has their order already.

use std::collections::HashMap;
use std::io::Read;

use marathon_model::{Group, SharedApp};
use prost::Message;

/// Subgroup and app ids per group, in stored order, and the stored root's version.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredOrder {
    /// The root's `GroupDefinition.version` (Joda form in 1.3).
    pub version: String,
    groups: HashMap<String, GroupOrder>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct GroupOrder {
    subgroups: Vec<String>,
    apps: Vec<String>,
}

/// Why a root node could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredOrderError {
    #[error("not a ZKStoreEntry: {0}")]
    Entry(prost::DecodeError),
    #[error("the entry's value is not gzip: {0}")]
    Gzip(std::io::Error),
    #[error("not a GroupDefinition: {0}")]
    Group(prost::DecodeError),
}

/// Only the ids of a `GroupDefinition` (prost skips every other field, app bodies included).
#[derive(Clone, PartialEq, Message)]
struct GroupIds {
    #[prost(string, required, tag = "1")]
    id: String,
    #[prost(string, required, tag = "2")]
    version: String,
    #[prost(message, repeated, tag = "3")]
    apps: Vec<AppId>,
    #[prost(message, repeated, tag = "4")]
    groups: Vec<GroupIds>,
}

#[derive(Clone, PartialEq, Message)]
struct AppId {
    #[prost(string, required, tag = "1")]
    id: String,
}

impl StoredOrder {
    /// Reads a legacy root node's data: a `ZKStoreEntry` whose value is the root's
    /// `GroupDefinition`, gzip-compressed when the entry says so.
    pub fn from_legacy_root_node(data: &[u8]) -> Result<StoredOrder, StoredOrderError> {
        let entry = crate::proto::ZkStoreEntry::decode(data).map_err(StoredOrderError::Entry)?;
        let payload = if entry.compressed.unwrap_or(false) {
            let mut out = Vec::with_capacity(entry.value.len() * 8);
            flate2::read::GzDecoder::new(&entry.value[..]).read_to_end(&mut out).map_err(StoredOrderError::Gzip)?;
            out
        } else {
            entry.value
        };
        Self::from_group_definition(&payload)
    }

    /// Reads a `GroupDefinition` with apps and subgroups inline.
    pub fn from_group_definition(payload: &[u8]) -> Result<StoredOrder, StoredOrderError> {
        let root = GroupIds::decode(payload).map_err(StoredOrderError::Group)?;
        let mut order = StoredOrder { version: root.version.clone(), groups: HashMap::new() };
        order.collect(root);
        Ok(order)
    }

    fn collect(&mut self, group: GroupIds) {
        let own = GroupOrder {
            subgroups: group.groups.iter().map(|g| g.id.clone()).collect(),
            apps: group.apps.into_iter().map(|a| a.id).collect(),
        };
        self.groups.insert(group.id, own);
        for sub in group.groups {
            self.collect(sub);
        }
    }

    /// Orders `root`'s subgroups and apps as stored: members the stored group lists come first,
    /// in its order; members it does not know (the model is newer) follow in the model's order.
    /// Returns whether anything moved.
    pub fn apply(&self, root: &mut Group) -> bool {
        let mut moved = false;
        self.apply_to(root, &mut moved);
        moved
    }

    fn apply_to(&self, group: &mut Group, moved: &mut bool) {
        if let Some(stored) = self.groups.get(&group.path_id().to_string()) {
            let group_key = |g: &Group| g.id.clone().unwrap_or_default();
            if let Some(groups) = group.groups.as_mut().filter(|groups| !in_stored_order(groups, &stored.subgroups, group_key)) {
                sort_in_stored_order(groups, &stored.subgroups, group_key);
                *moved = true;
            }
            // Only a list out of order is changed: the others stay shared with the tree they came from.
            let app_key = |a: &SharedApp| a.id().unwrap_or_default().to_owned();
            if let Some(apps) = group.apps.as_mut().filter(|apps| !in_stored_order(apps, &stored.apps, app_key)) {
                sort_in_stored_order(apps, &stored.apps, app_key);
                *moved = true;
            }
        }
        for sub in group.groups.iter_mut().flatten() {
            self.apply_to(sub, moved);
        }
    }

    /// Whether `root` lists exactly the groups and apps stored, in the stored order (then the
    /// model's root encodes to the stored bytes, as far as order goes).
    pub fn matches(&self, root: &Group) -> bool {
        let mut seen = 0;
        let ok = self.matches_from(root, &mut seen);
        ok && seen == self.groups.len()
    }

    fn matches_from(&self, group: &Group, seen: &mut usize) -> bool {
        let Some(stored) = self.groups.get(&group.path_id().to_string()) else { return false };
        *seen += 1;
        let subgroups: Vec<String> = group.groups().iter().map(|g| g.id.clone().unwrap_or_default()).collect();
        let mut apps: Vec<&str> = group.apps().iter().map(|a| a.id().unwrap_or_default()).collect();
        let mut stored_apps: Vec<&str> = stored.apps.iter().map(String::as_str).collect();
        if apps.len() > 4 {
            // From 5 apps the encoder orders them by the hash of their ids: only the set counts.
            apps.sort_unstable();
            stored_apps.sort_unstable();
        }
        subgroups == stored.subgroups
            && apps == stored_apps
            && group.groups().iter().all(|g| self.matches_from(g, seen))
    }
}

impl StoredOrder {
    /// (groups stored, groups whose subgroups, or apps when 2 to 4, are not in id order): how
    /// much of the stored order `GET /v2/groups` cannot show. From 5 apps the order is the hash
    /// order of their ids, which the model reproduces, so those are not counted.
    pub fn out_of_id_order(&self) -> (usize, usize) {
        let sorted = |ids: &[String]| ids.windows(2).all(|w| w[0] <= w[1]);
        let out = self.groups.values().filter(|g| !sorted(&g.subgroups) || (g.apps.len() <= 4 && !sorted(&g.apps))).count();
        (self.groups.len(), out)
    }
}

/// Sorts `items` by their key's position in `stored` (unknown keys last, stable).
fn sort_in_stored_order<T>(items: &mut [T], stored: &[String], key: impl Fn(&T) -> String) {
    let rank = stored_rank(stored, key);
    items.sort_by_key(|item| rank(item));
}

fn in_stored_order<T>(items: &[T], stored: &[String], key: impl Fn(&T) -> String) -> bool {
    if items.len() < 2 {
        return true;
    }
    let rank = stored_rank(stored, key);
    items.windows(2).all(|w| rank(&w[0]) <= rank(&w[1]))
}

/// An item's place in the stored order (unknown items last).
fn stored_rank<'s, T>(stored: &'s [String], key: impl Fn(&T) -> String + 's) -> impl Fn(&T) -> usize + 's {
    let position: HashMap<&str, usize> = stored.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    move |item: &T| position.get(key(item).as_str()).copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
