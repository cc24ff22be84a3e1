//! The state-changing endpoints of Marathon's v2 API, one row each: method + path pattern -> write
//! kind. The one answer to "is this request a write, and which one".
//!
//! Two matchers over the one table, on the two readings of [`super::request_path`]:
//! - [`match_as_marathon`]: what Marathon does with the path. Rows are in Jersey's order (the
//!   template with more literal characters first: `{appId:.+}/restart` before `{id:.+}`); the
//!   first row whose *pattern* matches picks the template, and only rows of that template may
//!   then match the method (Jersey answers 405 otherwise, it never tries the next template). A few
//!   rows name read-only sub-resources (`/v2/groups/{id}/versions`) for that reason. The simulator
//!   routes with it.
//! - [`match_endpoint`]: what the proxy decides. Marathon's reading when it finds a write, else
//!   the wide reading (of the path as sent, then of what Jetty leaves after a leading `//host`)
//!   against the write rows only, so that a spelling Marathon might route to a
//!   write (or that a proxy and a Marathon might read differently) is decided, never forwarded as
//!   "not a write". Whether the proxy reads a body, `parse_write`, the decision, the audit line
//!   and the metrics all go through it.
//!
//! A new write endpoint is one row in [`ENDPOINTS`] and one arm in `parse_matched`.

use super::Flavour;

/// Which write an endpoint performs. The query and the body may still make a given request
/// persist nothing (a kill without `scale`, a forced deployment cancel, a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    CreateApp,
    PutApps,
    PatchApps,
    PutApp,
    PatchApp,
    DeleteApp,
    RestartApp,
    KillAppTasks,
    KillAppTask,
    KillTasks,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    CreatePod,
    PutPod,
    DeletePod,
    DeleteDeployment,
}

impl WriteKind {
    /// A bounded label for metrics and audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::CreateApp => "create_app",
            WriteKind::PutApps => "put_apps",
            WriteKind::PatchApps => "patch_apps",
            WriteKind::PutApp => "put_app",
            WriteKind::PatchApp => "patch_app",
            WriteKind::DeleteApp => "delete_app",
            WriteKind::RestartApp => "restart_app",
            WriteKind::KillAppTasks => "kill_app_tasks",
            WriteKind::KillAppTask => "kill_app_task",
            WriteKind::KillTasks => "kill_tasks",
            WriteKind::CreateGroup => "create_group",
            WriteKind::UpdateGroup => "update_group",
            WriteKind::DeleteGroup => "delete_group",
            WriteKind::CreatePod => "create_pod",
            WriteKind::PutPod => "put_pod",
            WriteKind::DeletePod => "delete_pod",
            WriteKind::DeleteDeployment => "delete_deployment",
        }
    }
}

/// One part of a path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// This segment, exactly.
    Lit(&'static str),
    /// One or more segments (Jersey's `{id:.+}`): a path id.
    Id,
    /// Exactly one segment (`{taskId}`, `{deploymentId}`).
    Seg,
    /// One or more segments of which one holds `::` (the pod sub-resources `::instances`, ...).
    PodSubresource,
}

/// What a row routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Write(WriteKind),
    /// A read-only sub-resource that takes precedence over the write rows below it.
    ReadOnly,
}

/// One row of the table.
#[derive(Debug)]
pub struct Endpoint {
    /// `None`: any method (read-only rows).
    pub method: Option<&'static str>,
    pub pattern: &'static [Part],
    pub target: Target,
    /// Served from Marathon 1.4 on only (pods, PATCH).
    pub since_v14: bool,
    /// A deletion: it never grows the state.
    pub deletes: bool,
}

use Part::{Id, Lit, PodSubresource, Seg};

const fn write(method: &'static str, pattern: &'static [Part], kind: WriteKind) -> Endpoint {
    Endpoint { method: Some(method), pattern, target: Target::Write(kind), since_v14: false, deletes: false }
}

const fn v14(e: Endpoint) -> Endpoint {
    Endpoint { since_v14: true, ..e }
}

const fn deletes(e: Endpoint) -> Endpoint {
    Endpoint { deletes: true, ..e }
}

const fn read_only(pattern: &'static [Part]) -> Endpoint {
    Endpoint { method: None, pattern, target: Target::ReadOnly, since_v14: false, deletes: false }
}

/// The table. Order matters: the first matching row wins.
pub static ENDPOINTS: &[Endpoint] = &[
    write("POST", &[Lit("v2"), Lit("apps")], WriteKind::CreateApp),
    write("PUT", &[Lit("v2"), Lit("apps")], WriteKind::PutApps),
    v14(write("PATCH", &[Lit("v2"), Lit("apps")], WriteKind::PatchApps)),
    write("DELETE", &[Lit("v2"), Lit("apps"), Id, Lit("tasks")], WriteKind::KillAppTasks),
    write("DELETE", &[Lit("v2"), Lit("apps"), Id, Lit("tasks"), Seg], WriteKind::KillAppTask),
    read_only(&[Lit("v2"), Lit("apps"), Id, Lit("tasks")]),
    read_only(&[Lit("v2"), Lit("apps"), Id, Lit("tasks"), Seg]),
    read_only(&[Lit("v2"), Lit("apps"), Id, Lit("versions")]),
    read_only(&[Lit("v2"), Lit("apps"), Id, Lit("versions"), Seg]),
    write("POST", &[Lit("v2"), Lit("apps"), Id, Lit("restart")], WriteKind::RestartApp),
    write("PUT", &[Lit("v2"), Lit("apps"), Id], WriteKind::PutApp),
    v14(write("PATCH", &[Lit("v2"), Lit("apps"), Id], WriteKind::PatchApp)),
    deletes(write("DELETE", &[Lit("v2"), Lit("apps"), Id], WriteKind::DeleteApp)),
    write("POST", &[Lit("v2"), Lit("tasks"), Lit("delete")], WriteKind::KillTasks),
    read_only(&[Lit("v2"), Lit("groups"), Lit("versions")]),
    read_only(&[Lit("v2"), Lit("groups"), Lit("versions"), Id]),
    read_only(&[Lit("v2"), Lit("groups"), Id, Lit("versions")]),
    read_only(&[Lit("v2"), Lit("groups"), Id, Lit("versions"), Id]),
    write("POST", &[Lit("v2"), Lit("groups")], WriteKind::CreateGroup),
    write("POST", &[Lit("v2"), Lit("groups"), Id], WriteKind::CreateGroup),
    write("PUT", &[Lit("v2"), Lit("groups")], WriteKind::UpdateGroup),
    write("PUT", &[Lit("v2"), Lit("groups"), Id], WriteKind::UpdateGroup),
    deletes(write("DELETE", &[Lit("v2"), Lit("groups")], WriteKind::DeleteGroup)),
    deletes(write("DELETE", &[Lit("v2"), Lit("groups"), Id], WriteKind::DeleteGroup)),
    read_only(&[Lit("v2"), Lit("pods"), PodSubresource]),
    read_only(&[Lit("v2"), Lit("pods"), Id, Lit("versions")]),
    read_only(&[Lit("v2"), Lit("pods"), Id, Lit("versions"), Id]),
    v14(write("POST", &[Lit("v2"), Lit("pods")], WriteKind::CreatePod)),
    v14(write("PUT", &[Lit("v2"), Lit("pods"), Id], WriteKind::PutPod)),
    v14(deletes(write("DELETE", &[Lit("v2"), Lit("pods"), Id], WriteKind::DeletePod))),
    write("DELETE", &[Lit("v2"), Lit("deployments"), Seg], WriteKind::DeleteDeployment),
];

/// A request matched against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub kind: WriteKind,
    /// The path id the URL names (`Id` part, absolute and canonical), if the pattern has one.
    pub id: Option<String>,
    /// The single-segment parameter (`Seg` part: a task or deployment id), if any.
    pub param: Option<String>,
    pub since_v14: bool,
    pub deletes: bool,
}

impl Matched {
    /// Whether `flavour`'s Marathon serves this endpoint at all.
    pub fn served_by(&self, flavour: Flavour) -> bool {
        !self.since_v14 || flavour == Flavour::V14
    }
}

/// The write the proxy decides for `method` + `raw_path` (as sent), whatever Marathon version is
/// behind: Marathon's own reading when it is a write, else the wide reading.
pub fn match_endpoint(method: &str, raw_path: &str) -> Option<Matched> {
    if !is_write_method(method) {
        return None;
    }
    match_as_marathon(method, raw_path).or_else(|| match_wide(method, raw_path))
}

/// The write endpoint Marathon routes `method` + `raw_path` (as sent) to, if any.
pub fn match_as_marathon(method: &str, raw_path: &str) -> Option<Matched> {
    if !is_write_method(method) {
        return None;
    }
    let segs = super::request_path::jersey_segments(raw_path);
    let template = ENDPOINTS.iter().find(|row| match_pattern(row.pattern, &segs, Reading::Jersey).is_some())?;
    ENDPOINTS
        .iter()
        .filter(|row| row.pattern == template.pattern && row.method.is_none_or(|m| m == method))
        .find_map(|row| matched(row, &segs, Reading::Jersey))
}

/// The wide reading, of the path as sent and, when it starts with `//`, of what Jetty leaves once
/// it has taken the first segment for a host: `//host/v2/%61pps` is a 404 for Marathon, but the
/// host must not hide the write from the net any more than an encoded literal does.
fn match_wide(method: &str, raw_path: &str) -> Option<Matched> {
    let try_path = |path: &str| {
        let segs = super::request_path::normalized_segments(path);
        ENDPOINTS
            .iter()
            .filter(|row| matches!(row.target, Target::Write(_)) && row.method == Some(method))
            .find_map(|row| matched(row, &segs, Reading::Wide))
    };
    try_path(raw_path).or_else(|| {
        let jetty = super::request_path::jetty_path(raw_path);
        (jetty.len() != raw_path.len()).then(|| try_path(jetty)).flatten()
    })
}

fn is_write_method(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

fn matched<S: AsRef<str>>(row: &Endpoint, segs: &[S], reading: Reading) -> Option<Matched> {
    let (id, param) = match_pattern(row.pattern, segs, reading)?;
    match row.target {
        Target::ReadOnly => None,
        Target::Write(kind) => Some(Matched { kind, id, param, since_v14: row.since_v14, deletes: row.deletes }),
    }
}

/// Which reading the segments come from: raw (parameters decoded after matching) or decoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Jersey,
    Wide,
}

/// Matches `segs` against `pattern` (at most one multi-segment part): the id and the parameter,
/// percent-decoded.
fn match_pattern<S: AsRef<str>>(pattern: &[Part], segs: &[S], reading: Reading) -> Option<(Option<String>, Option<String>)> {
    let multi = pattern.iter().position(|p| matches!(p, Id | PodSubresource));
    let fixed = pattern.len() - usize::from(multi.is_some());
    let fits = match multi {
        Some(_) => segs.len() > fixed,
        None => segs.len() == fixed,
    };
    if !fits {
        return None;
    }
    let decode = |s: &str| match reading {
        Reading::Jersey => super::request_path::percent_decode(s).into_owned(),
        Reading::Wide => s.to_string(),
    };
    let span = segs.len() - fixed;
    let (mut id, mut param) = (None, None);
    let mut i = 0;
    for part in pattern {
        match *part {
            Lit(l) => {
                if segs[i].as_ref() != l {
                    return None;
                }
                i += 1;
            }
            Seg => {
                if segs[i].as_ref().is_empty() {
                    return None;
                }
                param = Some(decode(segs[i].as_ref()));
                i += 1;
            }
            Id => {
                let raw: Vec<&str> = segs[i..i + span].iter().map(AsRef::as_ref).collect();
                // Marathon's `PathId` drops empty segments and resolves `.` / `..` inside ids.
                id = Some(crate::PathId::resolve(&decode(&raw.join("/")), &crate::PathId::root()).to_string());
                i += span;
            }
            PodSubresource => {
                if !segs[i..i + span].iter().any(|s| decode(s.as_ref()).contains("::")) {
                    return None;
                }
                i += span;
            }
        }
    }
    Some((id, param))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(method: &str, path: &str) -> Option<WriteKind> {
        match_endpoint(method, path).map(|m| m.kind)
    }

    #[test]
    fn every_write_kind_has_a_row() {
        let kinds: std::collections::HashSet<WriteKind> =
            ENDPOINTS.iter().filter_map(|e| match e.target { Target::Write(k) => Some(k), _ => None }).collect();
        assert_eq!(kinds.len(), 17);
    }

    #[test]
    fn specific_templates_win_over_the_id_template() {
        assert_eq!(kind("POST", "/v2/apps/a/b/restart"), Some(WriteKind::RestartApp));
        assert_eq!(match_endpoint("POST", "/v2/apps/a/b/restart").unwrap().id.as_deref(), Some("/a/b"));
        assert_eq!(kind("PUT", "/v2/apps/a/restart"), Some(WriteKind::PutApp));
        assert_eq!(match_as_marathon("PUT", "/v2/apps/a/restart"), None, "Jersey: the restart template, no PUT: 405");
        assert_eq!(kind("DELETE", "/v2/apps/a/tasks"), Some(WriteKind::KillAppTasks));
        assert_eq!(match_endpoint("DELETE", "/v2/apps/a/tasks/t.1").unwrap().param.as_deref(), Some("t.1"));
        for (m, p) in [
            ("PUT", "/v2/apps/a/tasks"),
            ("PUT", "/v2/apps/a/versions"),
            ("PUT", "/v2/groups/a/versions"),
            ("PUT", "/v2/groups/versions/x"),
            ("DELETE", "/v2/pods/p::instances/i1"),
        ] {
            assert_eq!(match_as_marathon(m, p), None, "{m} {p}: a read-only sub-resource for Marathon");
        }
        // The proxy still decides what the wide reading makes a write of.
        assert_eq!(kind("PUT", "/v2/groups/a/versions"), Some(WriteKind::UpdateGroup));
        assert_eq!(kind("DELETE", "/v2/pods/a/p"), Some(WriteKind::DeletePod));
    }

    #[test]
    fn reads_and_unknown_paths_are_not_writes() {
        assert_eq!(kind("GET", "/v2/apps"), None);
        assert_eq!(kind("HEAD", "/v2/groups"), None);
        assert_eq!(kind("POST", "/v2/appsx"), None);
        assert_eq!(kind("POST", "/v2/eventSubscriptions"), None);
        assert_eq!(kind("DELETE", "/v2/tasks/t1"), None);
        assert_eq!(kind("DELETE", "/v2/queue/a/delay"), None);
        assert_eq!(kind("POST", "/v3/apps"), None);
        assert_eq!(kind("DELETE", "/v2/deployments"), None);
        assert_eq!(kind("DELETE", "/v2/deployments/a/b"), None);
    }

    #[test]
    fn spellings_marathon_routes_reach_the_same_row_and_id() {
        let canonical = match_as_marathon("PUT", "/v2/apps/prod/web");
        assert!(canonical.is_some());
        for p in [
            "/v2/apps/prod/web/",
            "/v2/apps/prod%2Fweb",
            "/v2/apps/prod%2fweb",
            "/v2/apps/pr%6Fd/w%65b",
            "/v2/apps//prod//web",
            "/v2/apps/prod/./web",
            "/v2/apps/x/../prod/web",
            "/v2;x=1/apps;jsessionid=2/prod;a=b/web",
            "//host/v2/apps/prod/web",
        ] {
            assert_eq!(match_as_marathon("PUT", p), canonical, "{p}");
            assert_eq!(match_endpoint("PUT", p), canonical, "{p}");
        }
    }

    #[test]
    fn spellings_marathon_refuses_are_still_decided() {
        let canonical = match_endpoint("PUT", "/v2/apps/prod/web");
        for p in ["/v2/%61pps/prod/web", "/v2/%61PPS/prod/web".replace("PPS", "pps").as_str(), "//v2//apps/prod//web/", "/v2/./apps/prod/web", "/v2%2Fapps/prod/web"] {
            assert_eq!(match_as_marathon("PUT", p), None, "{p}: Marathon answers 404");
            assert_eq!(match_endpoint("PUT", p), canonical, "{p}");
        }
        // Marathon reads an encoded literal as part of the id: the proxy decides Marathon's write.
        assert_eq!(match_endpoint("PUT", "/v2/apps/a/t%61sks").unwrap().id.as_deref(), Some("/a/tasks"));
        assert_eq!(match_endpoint("DELETE", "/v2/apps/a/t%61sks").unwrap().kind, WriteKind::DeleteApp);
        // Behind a `//host` Jetty reads as an authority, the rest is still read widely.
        for p in ["//host/v2/%61pps/prod/web", "//host/./v2/apps/prod//web", "//h//v2/apps/prod/web"] {
            assert_eq!(match_as_marathon("PUT", p), None, "{p}: Marathon answers 404");
            assert_eq!(match_endpoint("PUT", p), canonical, "{p}");
        }
    }

    #[test]
    fn deletions_are_marked() {
        for (m, p) in [("DELETE", "/v2/apps/a"), ("DELETE", "/v2/groups/g"), ("DELETE", "/v2/groups"), ("DELETE", "/v2/pods/p")] {
            assert!(match_endpoint(m, p).unwrap().deletes, "{m} {p}");
        }
        assert!(!match_endpoint("DELETE", "/v2/apps/a/tasks").unwrap().deletes);
    }
}
