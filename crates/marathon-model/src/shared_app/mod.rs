//! An app of a group: shared between trees, and held compactly by a long-lived model.
//!
//! A root group of thousands of apps is copied by every write (the target of a change) and kept
//! for hours (the proxy's model), while a decision reads a handful of its apps in full. So:
//! - an app is shared (`Arc`): copying a tree copies no app, and a change copies only the apps it
//!   touches ([`SharedApp::make_mut`]);
//! - an app can be *packed* ([`SharedApp::pack`]): its JSON compressed, with the few facts that
//!   decisions read over a whole tree (id, version, instances, resources, service ports, counts)
//!   beside it. The typed form of an app costs 4-6 times its JSON; packed, with its facts, about
//!   its JSON's size (measured: `znode-size`'s `memory_breakdown` example).
//!   [`SharedApp::app`] decodes a packed app into a copy and keeps nothing, so reading never makes
//!   the model grow; [`SharedApp::make_mut`] turns it typed again (a changed app is a new value).
//!
//! Compressed with zstd at level 1, not zlib: a full sync packs every app of the root, and on
//! 50,000 apps zlib's deflate was about 40% of the parse. At level 1, zstd packs these small
//! JSON documents a little smaller than deflate did, and the parse takes about a third less time
//! (docs/BENCHMARKS.md, "Packed apps with zstd"). The bytes never leave the process, so nothing
//! depends on their format.
//!
//! The cell also holds one encoding derived from the app by a caller ([`SharedApp::encoding`]):
//! the size engine keeps an app's protobuf bytes there, computed once per app value and shared by
//! every tree and estimator that holds the app, and freed with it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ops::service_ports;
use crate::App;

/// An app of a group (see the module documentation).
#[derive(Clone)]
pub struct SharedApp(Arc<Cell>);

struct Cell {
    repr: Repr,
    encoding: OnceLock<(u8, Arc<[u8]>)>,
}

/// Boxed: the typed form is large, and a packed cell should not pay for it.
enum Repr {
    Typed(Box<App>),
    Packed(Packed),
}

struct Packed {
    /// The app's JSON (`serde_json::to_vec`), compressed.
    compressed_json: Box<[u8]>,
    facts: Facts,
}

/// What is read of every app of a tree on each decision, kept outside the packed JSON.
struct Facts {
    id: Option<Box<str>>,
    version: Option<Box<str>>,
    instances: u32,
    cpus: f64,
    mem: f64,
    disk: f64,
    gpus: f64,
    env_count: u32,
    marathon_health_checks: u32,
    service_ports: Box<[u32]>,
    dependencies: Vec<String>,
}

impl SharedApp {
    pub fn new(app: App) -> SharedApp {
        SharedApp(Arc::new(Cell { repr: Repr::Typed(Box::new(app)), encoding: OnceLock::new() }))
    }

    /// The app in full: borrowed when typed, a decoded copy when packed.
    pub fn app(&self) -> Cow<'_, App> {
        match &self.0.repr {
            Repr::Typed(app) => Cow::Borrowed(app),
            Repr::Packed(p) => Cow::Owned(p.unpack()),
        }
    }

    /// The app to change, unshared and typed; any derived encoding is dropped with the old value.
    pub fn make_mut(&mut self) -> &mut App {
        let unique_typed = matches!(Arc::get_mut(&mut self.0), Some(Cell { repr: Repr::Typed(_), .. }));
        if !unique_typed {
            *self = SharedApp::new(self.app().into_owned());
        }
        let cell = Arc::get_mut(&mut self.0).expect("unshared above");
        cell.encoding = OnceLock::new();
        match &mut cell.repr {
            Repr::Typed(app) => app,
            Repr::Packed(_) => unreachable!("made typed above"),
        }
    }

    /// Replaces the app with its packed form (no-op when already packed). The encoding, if any,
    /// is kept: the value is the same.
    pub fn pack(&mut self) {
        let Repr::Typed(app) = &self.0.repr else { return };
        let packed = Packed::new(app);
        let encoding = self.0.encoding.get().cloned().map(OnceLock::from).unwrap_or_default();
        self.0 = Arc::new(Cell { repr: Repr::Packed(packed), encoding });
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.0.repr, Repr::Packed(_))
    }

    /// True when both hold the very same app value (no comparison of contents).
    pub fn ptr_eq(a: &SharedApp, b: &SharedApp) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Bytes derived from the app by `encode`, computed once per app value for a given `tag`
    /// (the caller's name for the kind of encoding). Only one tag is kept; another tag is
    /// computed each time.
    pub fn encoding(&self, tag: u8, encode: impl FnOnce(&App) -> Arc<[u8]>) -> Arc<[u8]> {
        if let Some((t, bytes)) = self.0.encoding.get() {
            if *t == tag {
                return bytes.clone();
            }
            return encode(&self.app());
        }
        let bytes = encode(&self.app());
        let _ = self.0.encoding.set((tag, bytes.clone()));
        bytes
    }

    pub fn id(&self) -> Option<&str> {
        match &self.0.repr {
            Repr::Typed(app) => app.id.as_deref(),
            Repr::Packed(p) => p.facts.id.as_deref(),
        }
    }

    pub fn version(&self) -> Option<&str> {
        match &self.0.repr {
            Repr::Typed(app) => app.version.as_deref(),
            Repr::Packed(p) => p.facts.version.as_deref(),
        }
    }

    /// [`App::instances`].
    pub fn instances(&self) -> u32 {
        self.fact(App::instances, |f| f.instances)
    }
    pub fn cpus(&self) -> f64 {
        self.fact(App::cpus, |f| f.cpus)
    }
    pub fn mem(&self) -> f64 {
        self.fact(App::mem, |f| f.mem)
    }
    pub fn disk(&self) -> f64 {
        self.fact(App::disk, |f| f.disk)
    }
    pub fn gpus(&self) -> f64 {
        self.fact(App::gpus, |f| f.gpus)
    }
    pub fn env_count(&self) -> usize {
        self.fact(App::env_count, |f| f.env_count as usize)
    }
    pub fn marathon_health_checks(&self) -> usize {
        self.fact(App::marathon_health_checks, |f| f.marathon_health_checks as usize)
    }

    /// The app's service ports (port definitions, or the Docker port mappings' service ports).
    pub fn service_ports(&self) -> Cow<'_, [u32]> {
        match &self.0.repr {
            Repr::Typed(app) => Cow::Owned(service_ports(app)),
            Repr::Packed(p) => Cow::Borrowed(&p.facts.service_ports),
        }
    }

    /// The ids the app depends on, as written.
    pub fn dependencies(&self) -> &[String] {
        match &self.0.repr {
            Repr::Typed(app) => app.dependencies.as_deref().unwrap_or(&[]),
            Repr::Packed(p) => &p.facts.dependencies,
        }
    }

    fn fact<T>(&self, typed: impl FnOnce(&App) -> T, packed: impl FnOnce(&Facts) -> T) -> T {
        match &self.0.repr {
            Repr::Typed(app) => typed(app),
            Repr::Packed(p) => packed(&p.facts),
        }
    }
}

thread_local! {
    /// One compressor per thread: a full sync packs tens of thousands of small apps, and setting
    /// up a compressor for each one is a good part of the cost.
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> = RefCell::new(zstd::bulk::Compressor::new(COMPRESSION_LEVEL).expect("a zstd compressor"));
    /// One decompressor per thread: a decision unpacks the few apps it changes, and a fresh
    /// decompression context for each (allocated, touched and freed) cost more than the
    /// decompression of one small app.
    static DECOMPRESSOR: RefCell<zstd::bulk::Decompressor<'static>> = RefCell::new(zstd::bulk::Decompressor::new().expect("a zstd decompressor"));
}

/// zstd's level for packed apps.
const COMPRESSION_LEVEL: i32 = 1;

/// `bytes` compressed for keeping in memory (one zstd frame, which records its content size).
fn compress(bytes: &[u8]) -> Box<[u8]> {
    COMPRESSOR.with(|c| c.borrow_mut().compress(bytes).expect("compressing in memory").into_boxed_slice())
}

/// `compress`'s bytes back.
fn decompress(bytes: &[u8]) -> Vec<u8> {
    let len = zstd::zstd_safe::get_frame_content_size(bytes).ok().flatten().expect("frames compressed here record their size");
    DECOMPRESSOR.with(|d| d.borrow_mut().decompress(bytes, len as usize).expect("decompressing bytes compressed here"))
}

impl Packed {
    fn new(app: &App) -> Packed {
        let json = serde_json::to_vec(app).expect("an App always serializes");
        let compressed_json = compress(&json);
        let facts = Facts {
            id: app.id.as_deref().map(Into::into),
            version: app.version.as_deref().map(Into::into),
            instances: app.instances(),
            cpus: app.cpus(),
            mem: app.mem(),
            disk: app.disk(),
            gpus: app.gpus(),
            env_count: app.env_count() as u32,
            marathon_health_checks: app.marathon_health_checks() as u32,
            service_ports: service_ports(app).into_boxed_slice(),
            dependencies: app.dependencies.clone().unwrap_or_default(),
        };
        Packed { compressed_json, facts }
    }

    fn unpack(&self) -> App {
        let json = decompress(&self.compressed_json);
        serde_json::from_slice(&json).expect("JSON written from an App reads back")
    }
}

impl From<App> for SharedApp {
    fn from(app: App) -> SharedApp {
        SharedApp::new(app)
    }
}

impl PartialEq for SharedApp {
    fn eq(&self, other: &SharedApp) -> bool {
        if SharedApp::ptr_eq(self, other) {
            return true;
        }
        if let (Repr::Packed(a), Repr::Packed(b)) = (&self.0.repr, &other.0.repr) {
            // The same app always packs to the same bytes.
            if a.compressed_json == b.compressed_json {
                return true;
            }
        }
        *self.app() == *other.app()
    }
}

impl std::fmt::Debug for SharedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.app().fmt(f)
    }
}

impl Serialize for SharedApp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.app().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedApp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedApp, D::Error> {
        App::deserialize(d).map(SharedApp::new)
    }
}

#[cfg(test)]
mod tests;
