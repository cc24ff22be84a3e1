//! The root group encoded as Marathon's `GroupDefinition`, kept as a tree of byte pieces so that a
//! change re-encodes only the apps it touches.
//!
//! Each app's `ServiceDefinition` is encoded once per app value and kept with the app
//! ([`SharedApp::encoding`]): every tree that shares the app shares its bytes, and a changed app is
//! a new value, encoded afresh. A group is its header (id, version),
//! its apps in Scala's `Map[PathId, _]` order, its subgroups, and its dependencies; its length is
//! pure arithmetic over the pieces, and the bytes are assembled only when gzip needs them.

use std::sync::Arc;

use marathon_model::{Group, PathId, SharedApp, Timestamp};
use prost::Message;

use crate::scala_order;
use crate::service_definition::{service_definition, AppFlavor};
use crate::wire::{field_len, put_bytes};

/// One encoded app of a group.
#[derive(Clone)]
pub struct EncodedApp {
    /// The app itself (shared, not a copy).
    pub app: SharedApp,
    /// The `##` of its `PathId` key, which places it in its group's `Map[PathId, _]`.
    pub key_hash: i32,
    /// The `ServiceDefinition` bytes.
    pub bytes: Arc<[u8]>,
}

impl EncodedApp {
    /// The app's encoding, computed once per app value and flavor.
    pub fn of(app: &SharedApp, flavor: AppFlavor) -> EncodedApp {
        let tag = match flavor {
            AppFlavor::V13 => 13,
            AppFlavor::V14 => 14,
        };
        EncodedApp {
            app: app.clone(),
            key_hash: app_key_hash(app.id()),
            bytes: app.encoding(tag, |app| service_definition(app, flavor).encode_to_vec().into()),
        }
    }

    pub fn id(&self) -> &str {
        self.app.id().unwrap_or_default()
    }
}

/// A `GroupDefinition` (legacy layout: apps inline) as pieces.
#[derive(Clone)]
pub struct EncodedGroup {
    pub id: PathId,
    header: Vec<u8>,
    pub apps: Vec<EncodedApp>,
    pub groups: Vec<EncodedGroup>,
    tail: Vec<u8>,
    len: usize,
}

impl EncodedGroup {
    /// Encodes `group` (ids absolute) as Marathon's legacy store writes it.
    pub fn legacy(group: &Group, flavor: AppFlavor) -> EncodedGroup {
        EncodedGroup::legacy_with(group, flavor, &mut |app| EncodedApp::of(app, flavor))
    }

    /// Like [`EncodedGroup::legacy`], with `encode` giving each app's `ServiceDefinition` bytes
    /// (so that a caller can see which apps it encodes).
    pub fn legacy_with(
        group: &Group,
        flavor: AppFlavor,
        encode: &mut dyn FnMut(&SharedApp) -> EncodedApp,
    ) -> EncodedGroup {
        let id = group.path_id();
        let header = group_header(group);

        let encoded: Vec<EncodedApp> = group.apps().iter().map(|a| encode(a)).collect();
        let hashes: Vec<i32> = encoded.iter().map(|a| a.key_hash).collect();
        let mut slots: Vec<Option<EncodedApp>> = encoded.into_iter().map(Some).collect();
        let apps: Vec<EncodedApp> =
            scala_order::iteration_order(&hashes).into_iter().filter_map(|i| slots[i].take()).collect();
        let groups: Vec<EncodedGroup> =
            group.groups().iter().map(|g| EncodedGroup::legacy_with(g, flavor, encode)).collect();

        let tail = group_tail(group, flavor);
        let len = header.len()
            + apps.iter().map(|a| field_len(3, a.bytes.len())).sum::<usize>()
            + groups.iter().map(|g| field_len(4, g.len)).sum::<usize>()
            + tail.len();
        EncodedGroup { id, header, apps, groups, tail, len }
    }

    /// Length of the encoded `GroupDefinition` message.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of its apps' fields.
    pub fn apps_len(&self) -> usize {
        self.apps.iter().map(|a| field_len(3, a.bytes.len())).sum()
    }

    /// Bytes after its apps and subgroups: its dependencies (and pods, 1.4 flavor).
    pub fn tail_len(&self) -> usize {
        self.tail.len()
    }

    /// Bytes that belong to this group itself: its header, its apps and its dependencies.
    pub fn own_len(&self) -> usize {
        self.len - self.groups.iter().map(|g| field_len(4, g.len)).sum::<usize>()
    }

    /// Appends the encoded message.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_to_tracking(out, &mut |_, _, _| {}, &mut |_, _| {});
    }

    /// Appends the encoded message, telling `on_app` where each app's field starts and ends and
    /// `on_group_apps_end` where each group's apps end (the place a new app of it would go).
    pub fn write_to_tracking(&self, out: &mut Vec<u8>, on_app: &mut dyn FnMut(&EncodedApp, usize, usize), on_group_apps_end: &mut dyn FnMut(&PathId, usize)) {
        out.extend_from_slice(&self.header);
        for app in &self.apps {
            let start = out.len();
            put_bytes(out, 3, &app.bytes);
            on_app(app, start, out.len());
        }
        on_group_apps_end(&self.id, out.len());
        for group in &self.groups {
            prost::encoding::encode_key(4, prost::encoding::WireType::LengthDelimited, out);
            prost::encoding::encode_varint(group.len as u64, out);
            group.write_to_tracking(out, on_app, on_group_apps_end);
        }
        out.extend_from_slice(&self.tail);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.write_to(&mut out);
        out
    }

    /// Every group of the subtree, parents first.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a EncodedGroup)) {
        f(self);
        for g in &self.groups {
            g.visit(f);
        }
    }
}

/// A group's id and version fields.
pub fn group_header(group: &Group) -> Vec<u8> {
    let mut header = Vec::new();
    put_bytes(&mut header, 1, group.path_id().to_string().as_bytes());
    put_bytes(&mut header, 2, joda_version(group.version.as_deref()).as_bytes());
    header
}

/// A group's fields after its apps and subgroups: its dependencies, and its pods in the 1.4
/// flavor.
pub fn group_tail(group: &Group, flavor: AppFlavor) -> Vec<u8> {
    let mut tail = Vec::new();
    for dep in ordered_dependencies(group) {
        put_bytes(&mut tail, 5, dep.as_bytes());
    }
    if flavor == AppFlavor::V14 {
        for pod in group.pods() {
            let json = serde_json::to_string(pod).unwrap_or_default();
            let mut msg = Vec::new();
            put_bytes(&mut msg, 1, json.as_bytes());
            put_bytes(&mut tail, 8, &msg);
        }
    }
    tail
}

/// A group version as the legacy store writes it (24-char Joda); a group without one is new and
/// gets the epoch, which has the same length.
pub fn joda_version(raw: Option<&str>) -> String {
    raw.and_then(|v| Timestamp::parse(v).ok()).unwrap_or_default().to_joda()
}

/// The `##` of the app's `PathId` key in its group's `Map[PathId, AppDefinition]`.
pub fn app_key_hash(id: Option<&str>) -> i32 {
    let segments: Vec<&str> = id.unwrap_or("").split('/').filter(|s| !s.is_empty()).collect();
    scala_order::path_id_hash(&segments, true)
}

/// A group's dependencies (`Set[PathId]`, written with `foreach`) in Scala's set order.
fn ordered_dependencies(group: &Group) -> Vec<String> {
    let own = group.path_id();
    let deps: Vec<PathId> =
        group.dependencies.iter().flatten().map(|d| PathId::resolve(d, &own)).collect();
    let hashes: Vec<i32> = deps
        .iter()
        .map(|d| {
            let segments: Vec<&str> = d.segments().iter().map(String::as_str).collect();
            scala_order::path_id_hash(&segments, true)
        })
        .collect();
    scala_order::set_iteration_order(&hashes).into_iter().map(|i| deps[i].to_string()).collect()
}
