//! JSON bodies the way Marathon renders them.
//!
//! Groups are written as JSON text from each app's own JSON, which [`AppJson`] keeps per app
//! value: a write changes a few apps, so the next `GET /v2/groups` (or deployment event) of a
//! root of thousands of apps renders only those and copies the rest.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use marathon_model::ops::Flavour;
use marathon_model::{App, Group, SharedApp};
use serde::Serialize;
use serde_json::{json, Value};

use crate::state::{Deployment, Sim};

/// An app as `GET /v2/apps/{id}` shows its definition (the stored canonical form).
pub fn app(app: &App, _flavour: Flavour) -> Value {
    serde_json::to_value(app).unwrap_or(Value::Null)
}

/// A group as `GET /v2/groups` renders it ([`AppJson::group`], lists as stored), as a value.
pub fn group(g: &Group, flavour: Flavour, embed_apps: bool, embed_groups: bool) -> Value {
    serde_json::from_slice(&AppJson::default().group(g, flavour, embed_apps, embed_groups, Lists::AsStored))
        .unwrap_or(Value::Null)
}

/// In which order a rendered group lists its subgroups, apps and pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// As the group holds them.
    AsStored,
    /// Sorted by id, as Marathon's API lists them.
    ById,
}

/// A JSON object from its fields, each already JSON text, in this order.
pub fn object(fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(*key).to_string());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// `value` as compact JSON text (`null` for what JSON cannot hold, as `serde_json::to_value`).
fn json_text(out: &mut Vec<u8>, value: &impl Serialize) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// The JSON of the apps last rendered, by id, each with the app value it was made from (a
/// different value under the same id is rendered again).
#[derive(Default)]
pub struct AppJson {
    by_id: Mutex<HashMap<String, Rendered>>,
}

/// An app value and its JSON.
struct Rendered {
    app: SharedApp,
    json: Arc<[u8]>,
}

impl AppJson {
    /// A group as `GET /v2/groups` renders it: `id`, `dependencies`, `version`, then `apps` and
    /// `groups` when embedded (1.4+: `pods` too). Rendering the whole root forgets the apps it
    /// no longer holds.
    pub fn group(&self, g: &Group, flavour: Flavour, embed_apps: bool, embed_groups: bool, lists: Lists) -> Vec<u8> {
        let mut known = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let mut render = Render { flavour, embed_apps, embed_groups, lists, known: &mut known, apps: 0 };
        let mut out = Vec::new();
        render.group(&mut out, g);
        let rendered = render.apps;
        let whole_root = g.path_id().is_root() && embed_apps && embed_groups;
        if whole_root && known.len() > rendered {
            let present: HashSet<&str> = g.transitive_apps().into_iter().filter_map(SharedApp::id).collect();
            known.retain(|id, _| present.contains(id.as_str()));
        }
        out
    }
}

struct Render<'a> {
    flavour: Flavour,
    embed_apps: bool,
    embed_groups: bool,
    lists: Lists,
    known: &'a mut HashMap<String, Rendered>,
    /// Apps written so far.
    apps: usize,
}

impl Render<'_> {
    fn group(&mut self, out: &mut Vec<u8>, g: &Group) {
        out.extend_from_slice(b"{\"id\":");
        json_text(out, &g.id.as_deref().unwrap_or("/"));
        out.extend_from_slice(b",\"dependencies\":");
        json_text(out, &g.dependencies.as_deref().unwrap_or_default());
        out.extend_from_slice(b",\"version\":");
        json_text(out, &g.version);
        if self.embed_apps {
            out.extend_from_slice(b",\"apps\":");
            self.list(out, g.apps(), |a| a.id(), Render::app);
        }
        if self.embed_groups {
            out.extend_from_slice(b",\"groups\":");
            self.list(out, g.groups(), |s| s.id.as_deref(), Render::group);
        }
        if self.flavour == Flavour::V14 && self.embed_apps {
            out.extend_from_slice(b",\"pods\":");
            self.list(out, g.pods(), |p| p.id.as_deref(), |_, out, p| json_text(out, p));
        }
        out.push(b'}');
    }

    /// `items` as a JSON array. Sorting siblings by their whole id is Marathon's `PathId`
    /// ordering: they differ in the last segment only.
    fn list<T>(
        &mut self,
        out: &mut Vec<u8>,
        items: &[T],
        id: impl Fn(&T) -> Option<&str>,
        mut item: impl FnMut(&mut Self, &mut Vec<u8>, &T),
    ) {
        let mut items: Vec<&T> = items.iter().collect();
        if self.lists == Lists::ById {
            items.sort_by(|a, b| id(a).cmp(&id(b)));
        }
        out.push(b'[');
        for (i, x) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item(self, out, x);
        }
        out.push(b']');
    }

    /// The app's JSON, rendered once per app value.
    fn app(&mut self, out: &mut Vec<u8>, a: &SharedApp) {
        self.apps += 1;
        let id = a.id().unwrap_or_default();
        match self.known.get(id) {
            Some(known) if SharedApp::ptr_eq(&known.app, a) => out.extend_from_slice(&known.json),
            _ => {
                let mut json = Vec::new();
                json_text(&mut json, a);
                out.extend_from_slice(&json);
                self.known.insert(id.to_string(), Rendered { app: a.clone(), json: json.into() });
            }
        }
    }
}

/// Marathon 1.3.14's 422 for a plan over `--zk_max_node_size` (the validator's exact wording).
pub fn zk_size_error(max_size: u64) -> Value {
    let text = format!(
        "The way we persist data in ZooKeeper would exceed the maximum ZK node size ({max_size} bytes).\n\
         You can adjust this value via --zk_max_node_size, but make sure this value is compatible with\n\
         your ZooKeeper ensemble!\n\
         See: http://zookeeper.apache.org/doc/r3.3.1/zookeeperAdmin.html#Unsafe+Options"
    );
    json!({"message": "Object is not valid", "details": [{"path": "/", "errors": [text]}]})
}

/// 409 `AppLockedException`.
pub fn app_locked(ids: &[String]) -> Value {
    json!({
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
    })
}

/// One entry of `GET /v2/deployments`.
pub fn deployment(d: &Deployment) -> Value {
    let current: Vec<Value> = d
        .steps
        .first()
        .map(|s| {
            s.actions
                .iter()
                .map(|a| {
                    let mut m = serde_json::to_value(a).unwrap_or(json!({}));
                    m["readinessCheckResults"] = json!([]);
                    m
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": d.id,
        "version": d.version.to_joda(),
        "affectedApps": d.affected.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "steps": d.steps,
        "currentActions": current,
        "currentStep": if d.steps.is_empty() { 0 } else { 1 },
        "totalSteps": d.steps.len(),
    })
}

/// `GET /v2/info` as the chosen Marathon version reports it.
pub fn info(sim: &Sim) -> Value {
    let leader = sim.http_addr.lock().unwrap().clone();
    let port: u16 = leader.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let zk_url = match &sim.cfg.zk {
        Some(spec) => marathon_zk::ZkSpec::parse(spec).map(|s| s.url()).unwrap_or_default(),
        None => "zk://localhost:2181/marathon".to_string(),
    };
    let mut zk = json!({
        "zk": zk_url,
        "zk_timeout": 10000,
        "zk_session_timeout": 10000,
        "zk_max_versions": sim.cfg.zk_max_versions,
    });
    if sim.flavour == Flavour::V14 {
        zk["zk_connection_timeout"] = json!(10000);
        zk["zk_max_node_size"] = json!(sim.store.zk_max_node_size);
        zk["zk_compression"] = json!(sim.store.compression);
        zk["zk_compression_threshold"] = json!(sim.store.compression_threshold);
    }
    json!({
        "name": "marathon",
        "version": sim.cfg.marathon.version_string(),
        "buildref": "marathon-sim",
        "elected": true,
        "leader": leader,
        "frameworkId": "marathon-sim-framework-0000",
        // The keys of 1.3.14's `InfoResource.marathonConfigValues` (clients map them onto typed
        // objects and refuse keys they do not know).
        "marathon_config": {
            "master": "local",
            "failover_timeout": 604800,
            "framework_name": "marathon",
            "ha": true,
            "checkpoint": true,
            "local_port_min": 10000,
            "local_port_max": 20000,
            "executor": "//cmd",
            "hostname": "127.0.0.1",
            "webui_url": null,
            "mesos_role": null,
            "task_launch_timeout": 300000,
            "task_reservation_timeout": 20000,
            "reconciliation_initial_delay": 15000,
            "reconciliation_interval": 600000,
            "mesos_user": null,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10000,
            "features": [],
        },
        "zookeeper_config": zk,
        "event_subscriber": null,
        "http_config": {"http_port": port, "https_port": 8443},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use marathon_model::{PathId, Pod};
    use serde_json::Map;

    /// Marathon's group shape written the plain way (a JSON value, field by field): what the text
    /// renderer must produce byte for byte.
    fn reference(g: &Group, flavour: Flavour, embed_apps: bool, embed_groups: bool) -> String {
        fn value(g: &Group, flavour: Flavour, embed_apps: bool, embed_groups: bool) -> Value {
            let mut m = Map::new();
            m.insert("id".into(), json!(g.id.clone().unwrap_or_else(|| "/".into())));
            m.insert("dependencies".into(), json!(g.dependencies.clone().unwrap_or_default()));
            m.insert("version".into(), json!(g.version));
            if embed_apps {
                m.insert("apps".into(), g.apps().iter().map(|a| serde_json::to_value(&*a.app()).unwrap()).collect());
            }
            if embed_groups {
                m.insert("groups".into(), g.groups().iter().map(|s| value(s, flavour, embed_apps, embed_groups)).collect());
            }
            if flavour == Flavour::V14 && embed_apps {
                m.insert("pods".into(), g.pods().iter().map(|p| serde_json::to_value(p).unwrap()).collect());
            }
            Value::Object(m)
        }
        value(g, flavour, embed_apps, embed_groups).to_string()
    }

    fn corpus(kind: &str) -> Vec<Vec<u8>> {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/marathon").join(kind);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }

    /// Every corpus group and app (under a root with a dependency and the corpus pods), and a root
    /// of a few hundred apps.
    fn roots() -> Vec<Group> {
        let mut roots: Vec<Group> = corpus("groups")
            .iter()
            .filter_map(|bytes| Group::parse(bytes).ok()?.normalized(&PathId::root()).ok())
            .collect();
        let mut root = Group::empty_root();
        root.version = Some("2017-01-01T00:00:00.000Z".into());
        let apps: Vec<SharedApp> = corpus("apps").iter().filter_map(|b| App::parse(b).ok()).map(SharedApp::new).collect();
        let mut sub = Group::empty(&PathId::parse("/corpus"));
        sub.apps = Some(apps.into());
        sub.dependencies = Some(vec!["/other".into()]);
        sub.pods = Some(corpus("pods").iter().filter_map(|b| Pod::parse(b).ok()).collect());
        root.groups = Some(vec![sub]);
        roots.push(root);
        roots.push(znode_size::synthetic::heroku_root(300, 5));
        roots
    }

    #[test]
    fn text_is_the_json_of_marathons_shape_byte_for_byte() {
        let roots = roots();
        assert!(roots.len() > 50, "the corpus is there");
        let cache = AppJson::default();
        for flavour in [Flavour::V13, Flavour::V14] {
            for root in &roots {
                for (apps, groups) in [(true, true), (true, false), (false, true), (false, false)] {
                    let text = cache.group(root, flavour, apps, groups, Lists::AsStored);
                    assert_eq!(String::from_utf8(text).unwrap(), reference(root, flavour, apps, groups), "{:?}", root.id);
                }
                for sub in root.groups() {
                    assert_eq!(String::from_utf8(cache.group(sub, flavour, true, true, Lists::AsStored)).unwrap(), reference(sub, flavour, true, true));
                }
            }
        }
        assert_eq!(group(&roots[0], Flavour::V13, true, true).to_string(), reference(&roots[0], Flavour::V13, true, true));
    }

    #[test]
    fn by_id_lists_siblings_sorted_at_every_depth_and_as_stored_keeps_the_order() {
        let root = Group::parse(
            br#"{"id":"/","apps":[{"id":"/z","cmd":"x"},{"id":"/y","cmd":"x"}],
                 "groups":[{"id":"/b","groups":[{"id":"/b/d"},{"id":"/b/c"}]},{"id":"/a-x"},{"id":"/a"}]}"#,
        )
        .unwrap()
        .normalized(&PathId::root())
        .unwrap();
        let ids = |v: &Value, key: &str| -> Vec<String> {
            v[key].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
        };
        let cache = AppJson::default();
        let sorted: Value = serde_json::from_slice(&cache.group(&root, Flavour::V13, true, true, Lists::ById)).unwrap();
        assert_eq!(ids(&sorted, "apps"), ["/y", "/z"]);
        assert_eq!(ids(&sorted, "groups"), ["/a", "/a-x", "/b"]);
        assert_eq!(ids(&sorted["groups"][2], "groups"), ["/b/c", "/b/d"]);
        let stored: Value = serde_json::from_slice(&cache.group(&root, Flavour::V13, true, true, Lists::AsStored)).unwrap();
        assert_eq!(ids(&stored, "groups"), ["/b", "/a-x", "/a"]);
        assert_eq!(ids(&stored["groups"][0], "groups"), ["/b/d", "/b/c"]);
    }

    #[test]
    fn an_app_changed_under_the_same_id_and_version_is_rendered_again() {
        let cache = AppJson::default();
        let mut root = znode_size::synthetic::heroku_root(20, 2);
        let before = cache.group(&root, Flavour::V13, true, true, Lists::AsStored);
        let app = root.groups.as_mut().unwrap()[0].apps.as_mut().unwrap()[3].make_mut();
        app.instances = Some(7);
        let after = cache.group(&root, Flavour::V13, true, true, Lists::AsStored);
        assert_ne!(before, after);
        assert_eq!(String::from_utf8(after).unwrap(), reference(&root, Flavour::V13, true, true));
    }

    #[test]
    fn rendering_the_whole_root_forgets_removed_apps() {
        let cache = AppJson::default();
        let mut root = znode_size::synthetic::heroku_root(20, 2);
        cache.group(&root, Flavour::V13, true, true, Lists::AsStored);
        root.groups.as_mut().unwrap()[0].apps.as_mut().unwrap().truncate(1);
        cache.group(&root.groups()[0], Flavour::V13, true, true, Lists::AsStored);
        assert_eq!(cache.by_id.lock().unwrap().len(), 20, "a subgroup alone forgets nothing");
        cache.group(&root, Flavour::V13, true, true, Lists::AsStored);
        assert_eq!(cache.by_id.lock().unwrap().len(), root.transitive_apps().len());
    }
}
