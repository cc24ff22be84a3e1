//! A root group as `GET /v2/groups` returns it, parsed into the canonical form with packed apps,
//! one app at a time.
//!
//! Why not `Group::parse` and then pack: that holds the whole document as a JSON value tree and
//! then as typed apps (together over ten times the JSON) while the packed apps are allocated in
//! between; freed, that garbage leaves the long-lived packed apps scattered over pages the process
//! keeps. Parsed app by app, each app's typed form is freed before the next one is read, so the
//! peak is the tree being built plus one app, and the tree lies in compact memory.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::canonical::{assign_service_ports, canonical_app};
use super::Flavour;
use crate::app::Extra;
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
    let known = Known { before, texts, next: RefCell::new(HashMap::with_capacity(texts.apps.len())) };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let streamed = GroupSeed { flavour, parent: PathId::root(), known: &known, while_typed }
        .deserialize(&mut de)
        .and_then(|g| de.end().map(|()| g));
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
}

/// What [`parse_packed_root`] calls with an app before packing it.
pub type WhileTyped = dyn Fn(&SharedApp) + Sync;

/// For callers that derive nothing while apps are typed.
pub fn nothing_while_typed(_: &SharedApp) {}

/// A group, its apps canonical and packed as they are read.
struct GroupSeed<'a> {
    flavour: Flavour,
    /// The enclosing group's id (resolves a relative group id).
    parent: PathId,
    known: &'a Known<'a>,
    while_typed: &'a WhileTyped,
}

impl<'de> DeserializeSeed<'de> for GroupSeed<'_> {
    type Value = Group;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Group, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed<'_> {
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
                "apps" => g.apps = map.next_value_seed(Optional(AppsSeed { flavour: self.flavour, group: own, known: self.known, while_typed: self.while_typed }))?.map(AppList::from),
                "groups" => g.groups = map.next_value_seed(Optional(GroupsSeed { flavour: self.flavour, parent: own, known: self.known, while_typed: self.while_typed }))?,
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

struct AppsSeed<'a> {
    flavour: Flavour,
    group: PathId,
    known: &'a Known<'a>,
    while_typed: &'a WhileTyped,
}

impl<'de> DeserializeSeed<'de> for AppsSeed<'_> {
    type Value = Vec<SharedApp>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<SharedApp>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AppsSeed<'_> {
    type Value = Vec<SharedApp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of apps")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SharedApp>, A::Error> {
        let mut apps = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(text) = seq.next_element::<&RawValue>()? {
            let key = self.known.texts.key(&self.group, text.get());
            let app = match self.known.texts.apps.get(&key) {
                Some(seen) => seen.clone(),
                None => self.parse(text.get()).map_err(serde::de::Error::custom)?,
            };
            self.known.next.borrow_mut().insert(key, app.clone());
            apps.push(app);
        }
        apps.shrink_to_fit();
        Ok(apps)
    }
}

impl AppsSeed<'_> {
    /// An app not seen as this text before: canonical, packed, and the previous root's copy
    /// when equal.
    fn parse(&self, text: &str) -> Result<SharedApp, serde_json::Error> {
        let mut app: App = serde_json::from_str(text)?;
        app.id = app.id.map(|raw| PathId::resolve(&raw, &self.group).to_string());
        let mut shared = SharedApp::new(canonical_app(app, &self.group, self.flavour));
        let old = shared.id().and_then(|id| self.known.before.get(id));
        if old.is_none() {
            (self.while_typed)(&shared);
        }
        shared.pack();
        Ok(match old {
            Some(old) if **old == shared => (*old).clone(),
            _ => shared,
        })
    }
}

struct GroupsSeed<'a> {
    flavour: Flavour,
    parent: PathId,
    known: &'a Known<'a>,
    while_typed: &'a WhileTyped,
}

impl<'de> DeserializeSeed<'de> for GroupsSeed<'_> {
    type Value = Vec<Group>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Group>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for GroupsSeed<'_> {
    type Value = Vec<Group>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of groups")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Group>, A::Error> {
        let mut groups = Vec::new();
        while let Some(g) = seq.next_element_seed(GroupSeed { flavour: self.flavour, parent: self.parent.clone(), known: self.known, while_typed: self.while_typed })? {
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

    #[test]
    fn malformed_documents_are_errors() {
        for raw in [&b"{"[..], b"[]", br#"{"apps":[{"id":3}]}"#, br#"{"groups":{}}"#, br#"{"id":"/"} trailing"#] {
            assert!(parse_packed_root(raw, Flavour::V13, None, &nothing_while_typed, &mut AppTexts::default()).is_err(), "{}", String::from_utf8_lossy(raw));
        }
    }
}
