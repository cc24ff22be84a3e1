//! A root group as `GET /v2/groups` returns it, parsed into the canonical form with packed apps,
//! one app at a time.
//!
//! Why not `Group::parse` and then pack: that holds the whole document as a JSON value tree and
//! then as typed apps (together over ten times the JSON) while the packed apps are allocated in
//! between; freed, that garbage leaves the long-lived packed apps scattered over pages the process
//! keeps. Parsed app by app, each app's typed form is freed before its thread parses the next,
//! so the peak is the tree being built plus one app per thread, and the tree lies in compact
//! memory.
//!
//! The document is read in one pass that only finds each app's text; the apps no earlier parse
//! knows are parsed after it, in document order, and put in their places. The first parse of a
//! model (nothing known: every app is new) spreads them over every core, since nothing is
//! decided before it ends; later parses, beside decisions, use only the thread they run on.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::canonical::{assign_service_ports, canonical_app};
use super::Flavour;
use crate::app::Extra;
use crate::app_diff::AppAt;
use crate::{App, AppList, Group, ModelError, PathId, Pod, SharedApp};

/// Parses `bytes` into the root the size engine expects (as [`super::canonical_root`] after
/// [`Group::normalized`]), every app packed ([`SharedApp::pack`]). An app equal to `previous`'s
/// copy is that copy (with what was derived from it, e.g. its encoding), and the new one is
/// dropped at once.
///
/// A document the app-by-app reading cannot take as it comes (a group's `id` after its apps, as
/// Marathon never writes it; a malformed or odd document) is parsed the typed way instead, which
/// gives the same root, or the error naming the field.
///
/// `while_typed` sees each app that `previous` has no app of its id for, before it is packed:
/// what a caller derives from the app then (e.g. [`SharedApp::encoding`]) costs no decoding of
/// the packed app later.
///
/// `texts` holds the apps of the previous parse by their text: an app whose text comes again, in
/// the same group, is that parse's app, not parsed at all (a resync of an unchanged Marathon
/// reads its document and parses nothing). It is replaced by this parse's (emptied when the
/// typed way was taken).
pub fn parse_packed_root(
    bytes: &[u8],
    flavour: Flavour,
    previous: Option<&Group>,
    while_typed: &WhileTyped,
    texts: &mut AppTexts,
) -> Result<Group, ModelError> {
    let before: HashMap<&str, &SharedApp> =
        previous.map(|p| p.transitive_apps().into_iter().filter_map(|a| Some((a.id()?, a))).collect()).unwrap_or_default();
    if texts.flavour != Some(flavour) {
        *texts = AppTexts { flavour: Some(flavour), ..AppTexts::default() };
    }
    let cold = previous.is_none() && texts.apps.is_empty();
    let known = Known {
        before,
        texts,
        next: RefCell::new(HashMap::with_capacity(texts.apps.len())),
        pending: RefCell::new(Vec::new()),
        placeholder: SharedApp::new(App::default()),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let streamed = GroupSeed { parent: PathId::root(), at: Vec::new(), known: &known }
        .deserialize(&mut de)
        .and_then(|g| de.end().map(|()| g))
        .and_then(|mut root| {
            let threads = if cold { std::thread::available_parallelism().map_or(1, usize::from) } else { 1 };
            place_pending(&mut root, &known, flavour, while_typed, threads)?;
            Ok(root)
        });
    let next = known.next.into_inner();
    let root = match streamed {
        Ok(root) => {
            texts.apps = next;
            root.normalized(&PathId::root())?
        }
        Err(_) => {
            texts.apps.clear();
            let mut root = super::canonical_root(Group::parse(bytes)?.normalized(&PathId::root())?, flavour);
            root.pack_apps();
            return Ok(root);
        }
    };
    Ok(assign_service_ports(root, &Group::empty_root()))
}

/// The apps of a parse by their text in their group (see [`parse_packed_root`]).
#[derive(Default)]
pub struct AppTexts {
    /// The flavour they were made canonical for.
    flavour: Option<Flavour>,
    /// Keys the text hashes: random per model, so no app can be written to collide with another.
    keys: (RandomState, RandomState),
    apps: HashMap<(u64, u64), SharedApp>,
}

impl AppTexts {
    /// Two independent 64-bit hashes of the group and the text: as a key, 128 bits.
    fn key(&self, group: &PathId, text: &str) -> (u64, u64) {
        let hash = |state: &RandomState| {
            let mut h = state.build_hasher();
            group.hash(&mut h);
            text.hash(&mut h);
            h.finish()
        };
        (hash(&self.keys.0), hash(&self.keys.1))
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }
}

/// What the parse knows of earlier roots: the previous root's apps by id, the previous parse's
/// by text, and this parse's by text as it goes.
struct Known<'a> {
    before: HashMap<&'a str, &'a SharedApp>,
    texts: &'a AppTexts,
    next: RefCell<HashMap<(u64, u64), SharedApp>>,
    /// Apps no earlier parse knows, in document order: parsed once the document is read.
    pending: RefCell<Vec<Pending<'a>>>,
    /// What stands in a pending app's place until it is parsed.
    placeholder: SharedApp,
}

/// An app whose text no earlier parse knows, and where it goes.
struct Pending<'a> {
    group: PathId,
    text: &'a str,
    key: (u64, u64),
    at: AppAt,
}

/// How many pending apps a thread takes at a time.
const CHUNK: usize = 64;

/// Parses the pending apps on `threads` threads and puts each in its place in `root`.
fn place_pending<E: serde::de::Error>(root: &mut Group, known: &Known<'_>, flavour: Flavour, while_typed: &WhileTyped, threads: usize) -> Result<(), E> {
    let pending = std::mem::take(&mut *known.pending.borrow_mut());
    let before = &known.before;
    let parse = |p: &Pending<'_>| parse_app(p.text, &p.group, flavour, before, while_typed);
    let apps = parse_on_threads(&pending, threads, &parse).map_err(E::custom)?;
    let mut next = known.next.borrow_mut();
    for (p, app) in pending.iter().zip(apps) {
        let slot = root.app_at_mut(&p.at).ok_or_else(|| E::custom("a pending app's place is gone"))?;
        *slot = app.clone();
        next.insert(p.key, app);
    }
    Ok(())
}

/// `parse` of every item, in order; on several threads when there are more items than one
/// thread's share.
fn parse_on_threads<T: Sync>(
    items: &[T],
    threads: usize,
    parse: &(dyn Fn(&T) -> Result<SharedApp, serde_json::Error> + Sync),
) -> Result<Vec<SharedApp>, serde_json::Error> {
    if threads <= 1 || items.len() <= CHUNK {
        return items.iter().map(parse).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + CHUNK).min(items.len());
            done.extend((start..end).map(|i| (i, parse(&items[i]))));
        }
    };
    let parts: Vec<Vec<(usize, Result<SharedApp, serde_json::Error>)>> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        parts.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
        parts
    });
    let mut slots: Vec<Option<SharedApp>> = vec![None; items.len()];
    for (i, parsed) in parts.into_iter().flatten() {
        slots[i] = Some(parsed?);
    }
    Ok(slots.into_iter().map(|app| app.expect("every item is parsed once")).collect())
}

/// What [`parse_packed_root`] calls with an app before packing it.
pub type WhileTyped = dyn Fn(&SharedApp) + Sync;

/// For callers that derive nothing while apps are typed.
pub fn nothing_while_typed(_: &SharedApp) {}

/// A group, each app's text found as it is read (see [`Pending`]).
struct GroupSeed<'k, 'a> {
    /// The enclosing group's id (resolves a relative group id).
    parent: PathId,
    /// Where the group sits in the root (see [`AppAt`]).
    at: Vec<u32>,
    known: &'k Known<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for GroupSeed<'_, 'a> {
    type Value = Group;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Group, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for GroupSeed<'_, 'a> {
    type Value = Group;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a group object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Group, A::Error> {
        let mut g = Group::default();
        let mut extra = Extra::new();
        while let Some(key) = map.next_key::<String>()? {
            // The group's own id, for apps with relative ids (Marathon writes `id` first).
            let own = g.id.as_deref().map(|raw| PathId::resolve(raw, &self.parent)).unwrap_or_else(|| self.parent.clone());
            match key.as_str() {
                // Apps and subgroups already read were resolved against the wrong group.
                "id" if g.apps.is_some() || g.groups.is_some() => {
                    return Err(serde::de::Error::custom("a group's id after its apps or subgroups"))
                }
                "id" => g.id = map.next_value()?,
                "apps" => g.apps = map.next_value_seed(Optional(AppsSeed { group: own, at: self.at.clone(), known: self.known }))?.map(AppList::from),
                "groups" => g.groups = map.next_value_seed(Optional(GroupsSeed { parent: own, at: self.at.clone(), known: self.known }))?,
                "pods" => g.pods = map.next_value::<Option<Vec<Pod>>>()?,
                "dependencies" => g.dependencies = map.next_value()?,
                "version" => g.version = map.next_value()?,
                "scaleBy" => g.scale_by = map.next_value()?,
                _ => {
                    extra.insert(key, map.next_value::<Value>()?);
                }
            }
        }
        g.extra = extra;
        g.apps.get_or_insert_with(Default::default);
        g.groups.get_or_insert_with(Vec::new);
        g.dependencies.get_or_insert_with(Vec::new);
        Ok(g)
    }
}

struct AppsSeed<'k, 'a> {
    group: PathId,
    /// Where the group sits in the root.
    at: Vec<u32>,
    known: &'k Known<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for AppsSeed<'_, 'a> {
    type Value = Vec<SharedApp>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<SharedApp>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for AppsSeed<'_, 'a> {
    type Value = Vec<SharedApp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of apps")
    }

    /// Each app the previous parse knows by its text is that parse's; the others wait in
    /// `pending`, a placeholder in their place.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SharedApp>, A::Error> {
        let mut apps = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(text) = seq.next_element::<&'de RawValue>()? {
            let key = self.known.texts.key(&self.group, text.get());
            match self.known.texts.apps.get(&key) {
                Some(seen) => {
                    self.known.next.borrow_mut().insert(key, seen.clone());
                    apps.push(seen.clone());
                }
                None => {
                    let at = AppAt { groups: self.at.clone(), app: apps.len() as u32 };
                    self.known.pending.borrow_mut().push(Pending { group: self.group.clone(), text: text.get(), key, at });
                    apps.push(self.known.placeholder.clone());
                }
            }
        }
        apps.shrink_to_fit();
        Ok(apps)
    }
}

/// An app not seen as this text before: canonical, packed, and the previous root's copy when
/// equal.
fn parse_app(text: &str, group: &PathId, flavour: Flavour, before: &HashMap<&str, &SharedApp>, while_typed: &WhileTyped) -> Result<SharedApp, serde_json::Error> {
    let mut app: App = serde_json::from_str(text)?;
    app.id = app.id.map(|raw| PathId::resolve(&raw, group).to_string());
    let mut shared = SharedApp::new(canonical_app(app, group, flavour));
    let old = shared.id().and_then(|id| before.get(id));
    if old.is_none() {
        while_typed(&shared);
    }
    shared.pack();
    Ok(match old {
        Some(old) if **old == shared => (*old).clone(),
        _ => shared,
    })
}

struct GroupsSeed<'k, 'a> {
    parent: PathId,
    /// Where the enclosing group sits in the root.
    at: Vec<u32>,
    known: &'k Known<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for GroupsSeed<'_, 'a> {
    type Value = Vec<Group>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Group>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for GroupsSeed<'_, 'a> {
    type Value = Vec<Group>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of groups")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Group>, A::Error> {
        let mut groups = Vec::new();
        loop {
            let at = self.at.iter().copied().chain([groups.len() as u32]).collect();
            let seed = GroupSeed { parent: self.parent.clone(), at, known: self.known };
            let Some(g) = seq.next_element_seed(seed)? else { break };
            groups.push(g);
        }
        Ok(groups)
    }
}

/// `null` or the value of the inner seed.
struct Optional<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Optional<S> {
    type Value = Option<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<S::Value>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Optional<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::canonical_root;

    fn via_typed(raw: &[u8], flavour: Flavour) -> Group {
        canonical_root(Group::parse(raw).unwrap().normalized(&PathId::root()).unwrap(), flavour)
    }

    #[test]
    fn the_same_root_as_parsing_typed_then_canonicalizing() {
        let raw = br#"{"id":"/","version":"2026-01-01T00:00:00.000Z","fancy":1,"apps":[{"id":"/top","cmd":"x"}],
            "groups":[{"id":"/prod","dependencies":["../dev"],"apps":[
                {"id":"/prod/web","instances":3,"portDefinitions":[{"port":0}],"env":{"A":"1"},"unknown":[1]},
                {"id":"api","container":{"type":"DOCKER","docker":{"image":"i","network":"BRIDGE","portMappings":[{"containerPort":80}]}}}],
              "groups":[{"id":"db","apps":[{"id":"pg","portDefinitions":[{"port":10555}],"healthChecks":[{"protocol":"TCP"}]}],"pods":null}]},
              {"id":"/empty","apps":null}]}"#;
        for flavour in [Flavour::V13, Flavour::V14] {
            let packed = parse_packed_root(raw, flavour, None, &nothing_while_typed, &mut AppTexts::default()).unwrap();
            let typed = via_typed(raw, flavour);
            assert_eq!(packed, typed);
            assert!(packed.find_app(&PathId::parse("/prod/db/pg")).unwrap().is_packed());
            assert_eq!(serde_json::to_value(&packed).unwrap(), serde_json::to_value(&typed).unwrap());
        }
    }

    #[test]
    fn unchanged_apps_are_taken_from_the_previous_root() {
        let v1 = br#"{"id":"/","apps":[{"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]},{"id":"/b","cmd":"y","portDefinitions":[{"port":10002}]}]}"#;
        let v2 = br#"{"id":"/","apps":[{"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]},{"id":"/b","cmd":"z","portDefinitions":[{"port":10002}]}]}"#;
        let first = parse_packed_root(v1, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).unwrap();
        let second = parse_packed_root(v2, Flavour::V13, Some(&first), &nothing_while_typed, &mut AppTexts::default()).unwrap();
        let app = |g: &Group, id: &str| g.find_app(&PathId::parse(id)).unwrap().clone();
        assert!(SharedApp::ptr_eq(&app(&first, "/a"), &app(&second, "/a")));
        assert!(!SharedApp::ptr_eq(&app(&first, "/b"), &app(&second, "/b")));
        assert_eq!(app(&second, "/b").app().cmd.as_deref(), Some("z"));
        assert_eq!(second, parse_packed_root(v2, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).unwrap());
    }

    #[test]
    fn an_app_whose_text_comes_again_in_its_group_is_the_previous_parses_app() {
        // Service ports assigned, as Marathon answers them (an app with port 0 gets one assigned,
        // a copy, at every parse).
        let v1 = br#"{"id":"/","apps":[{"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]},{"id":"b","cmd":"y","portDefinitions":[]}],
            "groups":[{"id":"/g","apps":[{"id":"b","cmd":"y","portDefinitions":[]}]}]}"#;
        // `/b` changed; `b` under `/g` has the text of the old `/b`, in another group.
        let v2 = br#"{"id":"/","apps":[{"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]},{"id":"b","cmd":"z","portDefinitions":[]}],
            "groups":[{"id":"/g","apps":[{"id":"b","cmd":"y","portDefinitions":[]}]}]}"#;
        let mut texts = AppTexts::default();
        let first = parse_packed_root(v1, Flavour::V13, None, &nothing_while_typed, &mut texts).unwrap();
        assert_eq!(texts.len(), 3);
        // No previous root: only the texts can say an app is the same.
        let second = parse_packed_root(v2, Flavour::V13, None, &nothing_while_typed, &mut texts).unwrap();
        let app = |g: &Group, id: &str| g.find_app(&PathId::parse(id)).unwrap().clone();
        assert!(SharedApp::ptr_eq(&app(&first, "/a"), &app(&second, "/a")));
        assert!(SharedApp::ptr_eq(&app(&first, "/g/b"), &app(&second, "/g/b")));
        assert!(!SharedApp::ptr_eq(&app(&first, "/b"), &app(&second, "/b")));
        assert_eq!(app(&second, "/b").app().cmd.as_deref(), Some("z"));
        assert_eq!(second, parse_packed_root(v2, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).unwrap());
        // The texts are this parse's now: the old `/b` is gone from them.
        assert_eq!(texts.len(), 3);
        let third = parse_packed_root(v1, Flavour::V13, None, &nothing_while_typed, &mut texts).unwrap();
        assert!(!SharedApp::ptr_eq(&app(&first, "/b"), &app(&third, "/b")));
        // Another flavour makes apps canonical otherwise: nothing is taken over.
        let v14 = parse_packed_root(v1, Flavour::V14, None, &nothing_while_typed, &mut texts).unwrap();
        assert!(!SharedApp::ptr_eq(&app(&third, "/a"), &app(&v14, "/a")));
        // A document taken the typed way leaves no texts.
        let late_id = br#"{"groups":[{"apps":[{"id":"web"}],"id":"/prod"}],"id":"/"}"#;
        parse_packed_root(late_id, Flavour::V14, None, &nothing_while_typed, &mut texts).unwrap();
        assert!(texts.is_empty());
    }

    #[test]
    fn a_group_id_after_its_apps_resolves_them_against_it() {
        let raw = br#"{"groups":[{"apps":[{"id":"web","dependencies":["db"]}],"id":"/prod"}],"id":"/"}"#;
        let packed = parse_packed_root(raw, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).unwrap();
        assert_eq!(packed, via_typed(raw, Flavour::V13));
        assert!(packed.find_app(&PathId::parse("/prod/web")).is_some());
    }

    /// A document of `groups` groups (each with a subgroup) of `per_group` apps each, ids
    /// relative and absolute, some apps asking for service ports.
    fn many_apps(groups: usize, per_group: usize) -> String {
        let apps = |g: usize, prefix: &str| -> Vec<serde_json::Value> {
            (0..per_group)
                .map(|a| serde_json::json!({"id": format!("{prefix}a{a}"), "cmd": format!("run {g} {a}"), "instances": a % 3,
                    "portDefinitions": if a % 4 == 0 { serde_json::json!([{"port": 0}]) } else { serde_json::json!([]) }}))
                .collect()
        };
        let groups: Vec<serde_json::Value> = (0..groups)
            .map(|g| serde_json::json!({"id": format!("/g{g}"), "apps": apps(g, ""),
                "groups": [{"id": "inner", "apps": apps(g + 1000, &format!("/g{g}/inner/"))}]}))
            .collect();
        serde_json::json!({"id": "/", "apps": apps(9999, "/"), "groups": groups}).to_string()
    }

    #[test]
    fn a_first_parse_of_many_apps_is_the_typed_parse_and_types_each_app_once() {
        let raw = many_apps(6, 90);
        static TYPED_CALLS: AtomicUsize = AtomicUsize::new(0);
        let count = |_: &SharedApp| {
            TYPED_CALLS.fetch_add(1, Ordering::Relaxed);
        };
        let typed_calls = &TYPED_CALLS;
        for flavour in [Flavour::V13, Flavour::V14] {
            typed_calls.store(0, Ordering::Relaxed);
            let packed = parse_packed_root(raw.as_bytes(), flavour, None, &count, &mut AppTexts::default()).unwrap();
            assert_eq!(packed, via_typed(raw.as_bytes(), flavour));
            let apps = packed.transitive_apps();
            assert_eq!(apps.len(), 90 + 6 * 2 * 90);
            assert_eq!(typed_calls.load(Ordering::Relaxed), apps.len());
            assert!(apps.iter().all(|a| a.id().is_some()));
            // (Assigning a service port changes an app, which makes it typed again.)
            assert!(apps.iter().filter(|a| a.service_ports().is_empty()).all(|a| a.is_packed()));
        }
        let broken = raw.replacen(r#""instances":1"#, r#""instances":"one""#, 1);
        assert_ne!(broken, raw);
        assert!(parse_packed_root(broken.as_bytes(), Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).is_err());
    }

    #[test]
    fn apps_parsed_on_several_threads_come_back_in_order_and_an_error_is_an_error() {
        let texts: Vec<String> = (0..1000).map(|i| format!(r#"{{"id":"/a{i}"}}"#)).collect();
        let parse = |t: &String| parse_app(t, &PathId::root(), Flavour::V13, &HashMap::new(), &nothing_while_typed);
        for threads in [1, 2, 4] {
            let apps = parse_on_threads(&texts, threads, &parse).unwrap();
            let ids: Vec<String> = apps.iter().map(|a| a.id().unwrap().to_string()).collect();
            assert_eq!(ids, (0..1000).map(|i| format!("/a{i}")).collect::<Vec<_>>(), "{threads} threads");
        }
        let mut broken = texts.clone();
        broken[777] = r#"{"id":7}"#.into();
        assert!(parse_on_threads(&broken, 4, &parse).is_err());
    }

    #[test]
    fn malformed_documents_are_errors() {
        for raw in [&b"{"[..], b"[]", br#"{"apps":[{"id":3}]}"#, br#"{"groups":{}}"#, br#"{"id":"/"} trailing"#] {
            assert!(parse_packed_root(raw, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).is_err(), "{}", String::from_utf8_lossy(raw));
        }
    }
}
