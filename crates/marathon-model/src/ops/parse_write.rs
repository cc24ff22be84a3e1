//! From an HTTP request to the [`Write`] it asks Marathon for (`None`: not a state-changing write).

use serde::de::DeserializeOwned;

use super::endpoints::{match_endpoint, Matched, WriteKind};
use super::{Change, ChangeError, Flavour, Write};
use crate::{App, Group, PathId, Pod};

/// A parsed query string (`a=1&b&a=2`), percent-decoded, order kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let Some(raw) = raw else { return Query::default() };
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// A boolean flag as JAX-RS reads it: `true` (any case) is true, anything else false; absent
    /// gives `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }
}

/// Percent-decoding (and `+` as space) of a query component.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a body as Marathon does ([`crate::marathon_json::read_body`]) and fails as Marathon's
/// readers fail: no value → 400 asking for JSON, unparsable → 400 with the parser's text,
/// undecodable → 500, wrong shape → 400 with the field path.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ChangeError> {
    let value = crate::marathon_json::read_body(body).map_err(ChangeError::from_read)?;
    crate::from_value(value).map_err(|e| ChangeError::from_model(e, ""))
}

/// The Marathon app id a task id belongs to (`prod_web.0a1b…` → `/prod/web`).
pub fn app_of_task(task_id: &str) -> Option<PathId> {
    let (safe, _) = task_id.rsplit_once('.')?;
    Some(PathId::from_segments(safe.split('_').filter(|s| !s.is_empty())))
}

/// Parses `(method, path, query, body)` into the write it asks for, or `None` when the request does
/// not change persisted state (reads, kills without `scale`, forced deployment cancels, endpoints
/// the flavour does not serve). `path` is the path as sent: it is matched through
/// [`super::endpoints`] after [`super::request_path`]'s normalisation, so every spelling Marathon
/// routes to a write parses as that write. Bodies that Marathon would reject as JSON give the 400
/// it answers.
pub fn parse_write(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    flavour: Flavour,
) -> Result<Option<Write>, ChangeError> {
    match match_endpoint(method, path) {
        Some(m) => parse_matched(&m, query, body, flavour),
        None => Ok(None),
    }
}

/// [`parse_write`] for a request already matched against the endpoint table.
pub fn parse_matched(m: &Matched, query: Option<&str>, body: &[u8], flavour: Flavour) -> Result<Option<Write>, ChangeError> {
    if !m.served_by(flavour) {
        return Ok(None);
    }
    let q = Query::parse(query);
    let force = q.flag("force", false);
    let v14 = flavour == Flavour::V14;
    let partial = !v14 || q.flag("partialUpdate", true);
    let id = || PathId::resolve(m.id.as_deref().unwrap_or("/"), &PathId::root());
    let w = |change: Change| Ok(Some(Write { change, force }));
    match m.kind {
        WriteKind::CreateApp => w(Change::CreateApp { app: parse_body::<App>(body)? }),
        WriteKind::PutApps => w(Change::PutApps { apps: parse_body::<Vec<App>>(body)?, partial }),
        WriteKind::PatchApps => w(Change::PatchApps { apps: parse_body::<Vec<App>>(body)? }),
        WriteKind::PutApp => w(Change::PutApp { id: id(), app: parse_body::<App>(body)?, partial }),
        WriteKind::PatchApp => w(Change::PatchApp { id: id(), app: parse_body::<App>(body)? }),
        WriteKind::DeleteApp => Ok(Some(Write { change: Change::DeleteApp { id: id() }, force: q.flag("force", true) })),
        WriteKind::RestartApp => w(Change::RestartApp { id: id() }),
        WriteKind::KillAppTasks | WriteKind::KillAppTask => {
            if !scales(&q)? {
                return Ok(None);
            }
            let one = (m.kind == WriteKind::KillAppTask).then_some(1);
            w(Change::KillAndScale { kills: vec![(id(), one)] })
        }
        WriteKind::KillTasks => {
            if !scales(&q)? {
                return Ok(None);
            }
            w(Change::KillAndScale { kills: kills_of_tasks(body)? })
        }
        WriteKind::CreateGroup => w(Change::CreateGroup { base: id(), group: parse_body::<Group>(body)? }),
        WriteKind::UpdateGroup => {
            w(Change::UpdateGroup { base: id(), update: parse_body::<Group>(body)?, dry_run: q.flag("dryRun", false) })
        }
        WriteKind::DeleteGroup => w(Change::DeleteGroup { id: id() }),
        WriteKind::CreatePod => w(Change::CreatePod { pod: parse_body::<Pod>(body)? }),
        WriteKind::PutPod => w(Change::PutPod { id: id(), pod: parse_body::<Pod>(body)? }),
        WriteKind::DeletePod => w(Change::DeletePod { id: id() }),
        WriteKind::DeleteDeployment => match (force, &m.param) {
            // A forced cancel stops the deployment and persists nothing new.
            (true, _) | (_, None) => Ok(None),
            (false, Some(d)) => Ok(Some(Write { change: Change::RevertDeployment { id: d.clone(), plan: None }, force: true })),
        },
    }
}

/// Whether a kill asks to scale down (`?scale=true`); `wipe` with it is Marathon's 400.
fn scales(q: &Query) -> Result<bool, ChangeError> {
    let scale = q.flag("scale", false);
    if scale && q.flag("wipe", false) {
        return Err(ChangeError::BadRequest("You cannot use scale and wipe at the same time.".into()));
    }
    Ok(scale)
}

/// The apps a `POST /v2/tasks/delete` body kills tasks of, with how many each. Marathon reads the
/// body (and refuses it as here) whether or not the kill scales.
pub fn kills_of_tasks(body: &[u8]) -> Result<Vec<(PathId, Option<u32>)>, ChangeError> {
    #[derive(serde::Deserialize)]
    struct Ids {
        ids: Vec<String>,
    }
    let ids: Ids = parse_body(body)?;
    let mut kills: Vec<(PathId, Option<u32>)> = Vec::new();
    for t in &ids.ids {
        let app = app_of_task(t).ok_or_else(|| ChangeError::BadRequest(format!("Invalid task id '{t}'.")))?;
        match kills.iter_mut().find(|(a, _)| *a == app) {
            Some((_, n)) => *n = Some(n.unwrap_or(0) + 1),
            None => kills.push((app, Some(1))),
        }
    }
    Ok(kills)
}
