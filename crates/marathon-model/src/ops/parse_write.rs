//! From an HTTP request to the [`Write`] it asks Marathon for (`None`: not a state-changing write).

use serde::de::DeserializeOwned;

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

/// Parses a JSON body the way Marathon's readers fail: unparsable → 400 with the parser's text,
/// wrong shape → 400 with the field path.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ChangeError> {
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(ChangeError::UnparsableJson(err.to_string()));
    }
    crate::from_json(body).map_err(|e| ChangeError::from_model(e, ""))
}

/// The Marathon app id a task id belongs to (`prod_web.0a1b…` → `/prod/web`).
pub fn app_of_task(task_id: &str) -> Option<PathId> {
    let (safe, _) = task_id.rsplit_once('.')?;
    Some(PathId::from_segments(safe.split('_').filter(|s| !s.is_empty())))
}

/// Parses `(method, path, query, body)` into the write it asks for, or `None` when the request does
/// not change persisted state (reads, kills without `scale`, forced deployment cancels, paths the
/// flavour does not serve). Bodies that Marathon would reject as JSON give the 400 it answers.
pub fn parse_write(
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    flavour: Flavour,
) -> Result<Option<Write>, ChangeError> {
    let q = Query::parse(query);
    let force = q.flag("force", false);
    let path = path.trim_end_matches('/');
    let v14 = flavour == Flavour::V14;
    let w = |change: Change| Ok(Some(Write { change, force }));

    if let Some(rest) = path.strip_prefix("/v2/apps") {
        if rest.is_empty() {
            return match method {
                "POST" => w(Change::CreateApp { app: parse_body::<App>(body)? }),
                "PUT" => w(Change::PutApps {
                    apps: parse_body::<Vec<App>>(body)?,
                    partial: !v14 || q.flag("partialUpdate", true),
                }),
                "PATCH" if v14 => w(Change::PatchApps { apps: parse_body::<Vec<App>>(body)? }),
                _ => Ok(None),
            };
        }
        if !rest.starts_with('/') {
            return Ok(None);
        }
        let rest = &rest[1..];
        // Sub-resources take precedence, as Jersey matches them.
        if let Some(app) = rest.strip_suffix("/tasks") {
            if method == "DELETE" && q.flag("scale", false) {
                if q.flag("wipe", false) {
                    return Err(ChangeError::BadRequest("You cannot use scale and wipe at the same time.".into()));
                }
                return w(Change::KillAndScale { kills: vec![(PathId::resolve(app, &PathId::root()), None)] });
            }
            return Ok(None);
        }
        if let Some((app, _task)) = rest.rsplit_once("/tasks/") {
            if method == "DELETE" && q.flag("scale", false) {
                if q.flag("wipe", false) {
                    return Err(ChangeError::BadRequest("You cannot use scale and wipe at the same time.".into()));
                }
                return w(Change::KillAndScale { kills: vec![(PathId::resolve(app, &PathId::root()), Some(1))] });
            }
            return Ok(None);
        }
        if let Some(app) = rest.strip_suffix("/restart") {
            if method == "POST" {
                return w(Change::RestartApp { id: PathId::resolve(app, &PathId::root()) });
            }
        }
        if rest.contains("/versions") && method == "GET" {
            return Ok(None);
        }
        let id = PathId::resolve(rest, &PathId::root());
        return match method {
            "PUT" => w(Change::PutApp {
                id,
                app: parse_body::<App>(body)?,
                partial: !v14 || q.flag("partialUpdate", true),
            }),
            "PATCH" if v14 => w(Change::PatchApp { id, app: parse_body::<App>(body)? }),
            "DELETE" => Ok(Some(Write { change: Change::DeleteApp { id }, force: q.flag("force", true) })),
            _ => Ok(None),
        };
    }
    if path == "/v2/tasks/delete" && method == "POST" {
        if !q.flag("scale", false) {
            return Ok(None);
        }
        if q.flag("wipe", false) {
            return Err(ChangeError::BadRequest("You cannot use scale and wipe at the same time.".into()));
        }
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
        return w(Change::KillAndScale { kills });
    }
    if let Some(rest) = path.strip_prefix("/v2/groups") {
        if !(rest.is_empty() || rest.starts_with('/')) || rest.ends_with("/versions") || rest.contains("/versions/") {
            return Ok(None);
        }
        let base = PathId::resolve(rest, &PathId::root());
        return match method {
            "POST" => w(Change::CreateGroup { base, group: parse_body::<Group>(body)? }),
            "PUT" => w(Change::UpdateGroup {
                base,
                update: parse_body::<Group>(body)?,
                dry_run: q.flag("dryRun", false),
            }),
            "DELETE" => w(Change::DeleteGroup { id: base }),
            _ => Ok(None),
        };
    }
    if let Some(rest) = path.strip_prefix("/v2/pods") {
        if !v14 || rest.contains("::") || rest.ends_with("/versions") || rest.contains("/versions/") {
            return Ok(None);
        }
        if rest.is_empty() {
            return match method {
                "POST" => w(Change::CreatePod { pod: parse_body::<Pod>(body)? }),
                _ => Ok(None),
            };
        }
        if !rest.starts_with('/') {
            return Ok(None);
        }
        let id = PathId::resolve(&rest[1..], &PathId::root());
        return match method {
            "PUT" => w(Change::PutPod { id, pod: parse_body::<Pod>(body)? }),
            "DELETE" => w(Change::DeletePod { id }),
            _ => Ok(None),
        };
    }
    if let Some(id) = path.strip_prefix("/v2/deployments/") {
        if method == "DELETE" && !force && !id.is_empty() && !id.contains('/') {
            return Ok(Some(Write { change: Change::RevertDeployment { id: id.to_string(), plan: None }, force: true }));
        }
    }
    Ok(None)
}
