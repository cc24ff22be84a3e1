//! Properties of the write-endpoint table over generated spellings of requests.
//!
//! Deciding "is this a write" is the proxy's security boundary: a write that some spelling slips
//! past `match_endpoint` reaches Marathon unchecked. The canonical writes are generated from the
//! rows of `ENDPOINTS` themselves, so a new row is covered without touching this file.
//!
//! A respelling is either *transparent* (Marathon's Jersey reads it as the canonical path: encoded
//! characters inside path parameters, matrix parameters, a trailing slash, a leading `//host`,
//! empty / dot / `x/..` segments inside an id) or *wide* (at least one change before the first
//! path parameter that makes Jersey match no template at all: an encoded literal, an encoded slash
//! between literals, a dot or empty segment among them). Wide respellings may change anything
//! after that too; Marathon answers them with a 404, the proxy must still decide them as the
//! canonical write. Changes after the first parameter that Jersey would read as a *different*
//! resource (`DELETE /v2/apps/a/t%61sks` deletes the app `/a/tasks`) are only generated together
//! with a wide change, as they do not keep the resource otherwise.

use marathon_model::ops::endpoints::{match_as_marathon, match_endpoint, Endpoint, Matched, Part, Target, WriteKind, ENDPOINTS};
use marathon_model::ops::{parse_write, Change, Flavour, Write};
use marathon_model::PathId;
use proptest::prelude::*;
use proptest::sample::select;

const FLAVOURS: [Flavour; 2] = [Flavour::V13, Flavour::V14];
const METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// Every literal segment of the table: generated ids and detours avoid them, so the canonical path
/// names exactly the row it was built from (an id `a/tasks` would be another row's).
fn literals() -> Vec<&'static str> {
    let mut lits: Vec<&'static str> =
        ENDPOINTS.iter().flat_map(|e| e.pattern.iter()).filter_map(|p| if let Part::Lit(l) = p { Some(*l) } else { None }).collect();
    lits.sort_unstable();
    lits.dedup();
    lits
}

fn write_rows() -> Vec<&'static Endpoint> {
    ENDPOINTS.iter().filter(|e| matches!(e.target, Target::Write(_))).collect()
}

/// One segment of a Marathon id: lowercase letters, digits and `-`, never a table literal.
fn id_segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,7}".prop_filter("a table literal", |s| !literals().contains(&s.as_str()))
}

/// A task or deployment id: one segment, dots and underscores allowed inside.
fn param_segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_-]{0,7}(\\.[a-z0-9-]{1,8})?".prop_filter("a table literal", |s| !literals().contains(&s.as_str()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Lit,
    /// A segment of an `Id` (or pod sub-resource) part.
    Id,
    /// A `Seg` part.
    Param,
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    role: Role,
    /// Before the first path parameter: a wide change here makes Jersey match nothing.
    in_prefix: bool,
}

/// A canonical write built from a table row.
#[derive(Debug, Clone)]
struct Canonical {
    method: &'static str,
    kind: WriteKind,
    tokens: Vec<Token>,
    id: Option<String>,
    param: Option<String>,
}

impl Canonical {
    fn new(row: &'static Endpoint, id: Vec<String>, param: String) -> Canonical {
        let Target::Write(kind) = row.target else { unreachable!("write rows only") };
        let mut tokens = Vec::new();
        let mut seen_param = false;
        let (mut out_id, mut out_param) = (None, None);
        for part in row.pattern {
            match *part {
                Part::Lit(l) => tokens.push(Token { text: l.to_string(), role: Role::Lit, in_prefix: !seen_param }),
                Part::Id => {
                    seen_param = true;
                    tokens.extend(id.iter().map(|s| Token { text: s.clone(), role: Role::Id, in_prefix: false }));
                    out_id = Some(format!("/{}", id.join("/")));
                }
                Part::PodSubresource => {
                    // `{id}::instances`: the sub-resource marker rides on the last id segment.
                    seen_param = true;
                    let n = id.len();
                    tokens.extend(id.iter().enumerate().map(|(i, s)| Token {
                        text: if i + 1 == n { format!("{s}::instances") } else { s.clone() },
                        role: Role::Id,
                        in_prefix: false,
                    }));
                }
                Part::Seg => {
                    seen_param = true;
                    tokens.push(Token { text: param.clone(), role: Role::Param, in_prefix: false });
                    out_param = Some(param.clone());
                }
            }
        }
        Canonical { method: row.method.expect("write rows name their method"), kind, tokens, id: out_id, param: out_param }
    }

    fn path(&self) -> String {
        self.tokens.iter().map(|t| format!("/{}", t.text)).collect()
    }
}

fn canonical() -> impl Strategy<Value = Canonical> {
    (select(write_rows()), prop::collection::vec(id_segment(), 1..=3), param_segment())
        .prop_map(|(row, id, param)| Canonical::new(row, id, param))
}

/// Separators put before a token (`{x}`: a detour segment).
const SEPARATORS: [&str; 11] =
    ["/", "//", "/./", "/%2e/", "/%2E/", "/{x}/../", "/{x}/%2e%2e/", "/{x}%2F..%2F", "%2F", "%2f", "///"];
/// What may follow the last token.
const TRAILERS: [&str; 6] = ["", "/", "//", "/.", "/%2e", "/{x}/.."];

/// Whether Jersey still reads `sep` between `prev` and `next` as the canonical single `/`.
fn sep_transparent(prev: Role, next: Role, sep: &str) -> bool {
    if sep == "/" {
        return true;
    }
    let (starts_real, ends_real) = (sep.starts_with('/'), sep.ends_with('/'));
    match (prev, next) {
        // Inside one id: Jersey decodes the whole span and `PathId` drops empty and dot segments.
        (Role::Id, Role::Id) => true,
        // Into an id: the literal must stay its own segment.
        (Role::Lit | Role::Param, Role::Id) => starts_real,
        // Out of an id: the next literal or parameter must stay its own segment.
        (Role::Id, Role::Lit | Role::Param) => ends_real,
        _ => false,
    }
}

/// Whether Jersey still reads `sep` before the first segment as the canonical `/`: `///v2` is an
/// empty authority before `/v2` for Jetty.
fn leading_transparent(sep: &str, host: bool) -> bool {
    sep == "/" || (sep == "///" && !host)
}

fn trailer_transparent(last: Role, trailer: &str) -> bool {
    matches!(trailer, "" | "/") || last == Role::Id
}

/// Choices for respelling a canonical path; applied by [`respell`].
#[derive(Debug, Clone)]
struct Plan {
    wide: bool,
    /// Per token: which characters to percent-encode (bit i: character i).
    encode: Vec<u16>,
    upper: Vec<bool>,
    /// Per token: a separator before it (index into `SEPARATORS`) and a matrix parameter after it.
    seps: Vec<usize>,
    matrix: Vec<Option<&'static str>>,
    trailer: usize,
    host: Option<&'static str>,
    detour: String,
    /// Which prefix change makes a wide plan wide when nothing else does.
    force: usize,
}

fn plan(n: usize) -> impl Strategy<Value = Plan> {
    let sep = prop_oneof![6 => Just(0usize), 4 => 1..SEPARATORS.len()];
    let encode = prop_oneof![2 => Just(0u16), 1 => any::<u16>()];
    let matrix = prop::option::weighted(0.2, select(vec!["x=1", "jsessionid=0a1b", "m", "a=b;c=d"]));
    (
        any::<bool>(),
        prop::collection::vec(encode, n),
        prop::collection::vec(any::<bool>(), n),
        prop::collection::vec(sep, n),
        prop::collection::vec(matrix, n),
        prop_oneof![2 => Just(0usize), 1 => 0..TRAILERS.len()],
        prop::option::weighted(0.25, select(vec!["host", "marathon.mesos:8080", "10.0.0.1"])),
        id_segment(),
        any::<usize>(),
    )
        .prop_map(|(wide, encode, upper, seps, matrix, trailer, host, detour, force)| Plan {
            wide,
            encode,
            upper,
            seps,
            matrix,
            trailer,
            host,
            detour,
            force,
        })
}

fn encode_chars(text: &str, mask: u16, upper: bool) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| match (i < 16 && mask & (1 << i) != 0, upper) {
            (true, true) => format!("%{:02X}", c as u32),
            (true, false) => format!("%{:02x}", c as u32),
            (false, _) => c.to_string(),
        })
        .collect()
}

/// Applies `plan` to `c`: the respelled path, and whether it is wide (Jersey matches nothing).
/// A transparent plan drops every change Jersey would read differently; a wide plan keeps every
/// change and makes sure one of them breaks the prefix.
fn respell(c: &Canonical, plan: &Plan) -> (String, bool) {
    let n = c.tokens.len();
    let mut encode = plan.encode.clone();
    let mut seps = plan.seps.clone();
    let mut trailer = plan.trailer;
    let sep_ok = |i: usize, sep: usize| match i {
        0 => leading_transparent(SEPARATORS[sep], plan.host.is_some()),
        _ => sep_transparent(c.tokens[i - 1].role, c.tokens[i].role, SEPARATORS[sep]),
    };
    if plan.wide {
        // What makes a spelling wide is a break in the prefix. A separator before a parameter is
        // not one: what it adds may become part of the parameter (`/0%2F..%2Fid` is the id
        // `0/../id` to Jersey), so it is kept transparent here.
        for i in (0..n).filter(|&i| !c.tokens[i].in_prefix) {
            if !sep_ok(i, seps[i]) {
                seps[i] = 0;
            }
        }
        let prefix_breaks = (0..n).any(|i| {
            let t = &c.tokens[i];
            let sep_in_prefix = t.in_prefix;
            (t.in_prefix && t.role == Role::Lit && encode[i] & low_bits(t.text.len()) != 0)
                || (sep_in_prefix && !sep_ok(i, seps[i]))
        });
        if !prefix_breaks {
            let prefix_lits: Vec<usize> = (0..n).filter(|&i| c.tokens[i].in_prefix).collect();
            let i = prefix_lits[plan.force % prefix_lits.len()];
            if (plan.force / prefix_lits.len()).is_multiple_of(2) {
                encode[i] |= 1 << ((plan.force / 2) % c.tokens[i].text.len());
            } else {
                // `//` is wide at any prefix position, the leading one included (Jetty takes the
                // first segment for a host, Jersey then sees no `v2`).
                seps[i] = 1;
            }
        }
    } else {
        for i in 0..n {
            let t = &c.tokens[i];
            if t.role == Role::Lit {
                encode[i] = 0;
            }
            if !sep_ok(i, seps[i]) {
                seps[i] = 0;
            }
        }
        if !trailer_transparent(c.tokens[n - 1].role, TRAILERS[trailer]) {
            trailer = 0;
        }
    }
    let mut path = String::new();
    if let Some(host) = plan.host {
        path.push_str("//");
        path.push_str(host);
    }
    for i in 0..n {
        let t = &c.tokens[i];
        let sep = SEPARATORS[seps[i]].replace("{x}", &plan.detour);
        // A request target starts with a real slash (and a host ends at one).
        if i == 0 && !sep.starts_with('/') {
            path.push('/');
        }
        path.push_str(&sep);
        path.push_str(&encode_chars(&t.text, encode[i], plan.upper[i]));
        // A matrix parameter ends at the next real slash: only where one follows.
        let next_is_real_slash = if i + 1 < n { SEPARATORS[seps[i + 1]].starts_with('/') } else { true };
        if let (Some(m), true) = (plan.matrix[i], next_is_real_slash) {
            path.push(';');
            path.push_str(m);
        }
    }
    path.push_str(&TRAILERS[trailer].replace("{x}", &plan.detour));
    (path, plan.wide)
}

fn low_bits(len: usize) -> u16 {
    if len >= 16 {
        u16::MAX
    } else {
        (1u16 << len) - 1
    }
}

/// A canonical write and one respelling of it.
fn respelled() -> impl Strategy<Value = (Canonical, Plan)> {
    canonical().prop_flat_map(|c| {
        let n = c.tokens.len();
        (Just(c), plan(n))
    })
}

/// Paths that need not come from any row: stray literals, dots, encoded and empty segments.
fn soup() -> impl Strategy<Value = (&'static str, String)> {
    let seg = select(vec![
        "v2", "apps", "groups", "pods", "tasks", "delete", "deployments", "restart", "versions", "a", "b-1", "t_1.x",
        "p::instances", ".", "..", "", "%2e", "%2E%2e", "%61pps", "v2%2Fapps", "a%2Fb", "x;y=1", "%2F", "%76%32",
    ]);
    (select(METHODS.to_vec()), prop::option::weighted(0.15, Just("//h")), prop::collection::vec(seg, 1..7), any::<bool>())
        .prop_map(|(m, host, segs, slash)| {
            let mut p: String = host.unwrap_or("").to_string();
            for s in segs {
                p.push('/');
                p.push_str(s);
            }
            if slash {
                p.push('/');
            }
            (m, p)
        })
}

/// Any request: a respelled canonical write (wide or transparent) or soup.
fn any_request() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        3 => respelled().prop_map(|(c, plan)| (c.method, respell(&c, &plan).0)),
        1 => canonical().prop_map(|c| (c.method, c.path())),
        2 => soup(),
    ]
}

/// A query and a body Marathon accepts for `kind`, that persist something.
fn request_for(kind: WriteKind) -> (Option<&'static str>, &'static [u8]) {
    let app = br#"{"id":"/w","cmd":"sleep 1"}"#;
    match kind {
        WriteKind::CreateApp | WriteKind::PutApp | WriteKind::PatchApp => (None, app),
        WriteKind::PutApps | WriteKind::PatchApps => (None, br#"[{"id":"/w","cmd":"sleep 1"}]"#),
        WriteKind::DeleteApp | WriteKind::DeleteGroup | WriteKind::DeletePod => (None, b""),
        WriteKind::RestartApp => (Some("force=false"), b"{}"),
        WriteKind::KillAppTasks | WriteKind::KillAppTask => (Some("scale=true"), b""),
        WriteKind::KillTasks => (Some("scale=true"), br#"{"ids":["prod_w.0a1b","prod_w.0a1c","x.1"]}"#),
        WriteKind::CreateGroup | WriteKind::UpdateGroup => (None, br#"{"id":"g","apps":[{"id":"w","cmd":"sleep 1"}]}"#),
        WriteKind::CreatePod | WriteKind::PutPod => {
            (None, br#"{"id":"/p","containers":[{"name":"c","resources":{"cpus":0.1,"mem":32}}]}"#)
        }
        // Without `force`: a revert, which persists a new plan.
        WriteKind::DeleteDeployment => (None, b""),
    }
}

/// Whether the parsed write is the matched endpoint's: same kind, same id (or parameter).
fn agrees(m: &Matched, w: &Write) -> Result<(), String> {
    let id = || PathId::resolve(m.id.as_deref().unwrap_or("/"), &PathId::root());
    let ok = match (&w.change, m.kind) {
        (Change::CreateApp { .. }, WriteKind::CreateApp)
        | (Change::PutApps { .. }, WriteKind::PutApps)
        | (Change::PatchApps { .. }, WriteKind::PatchApps)
        | (Change::CreatePod { .. }, WriteKind::CreatePod) => m.id.is_none(),
        (Change::PutApp { id: i, .. }, WriteKind::PutApp)
        | (Change::PatchApp { id: i, .. }, WriteKind::PatchApp)
        | (Change::DeleteApp { id: i }, WriteKind::DeleteApp)
        | (Change::RestartApp { id: i }, WriteKind::RestartApp)
        | (Change::PutPod { id: i, .. }, WriteKind::PutPod)
        | (Change::DeletePod { id: i }, WriteKind::DeletePod) => m.id.is_some() && *i == id(),
        (Change::CreateGroup { base: i, .. }, WriteKind::CreateGroup)
        | (Change::UpdateGroup { base: i, .. }, WriteKind::UpdateGroup)
        | (Change::DeleteGroup { id: i }, WriteKind::DeleteGroup) => *i == id(),
        (Change::KillAndScale { kills }, WriteKind::KillAppTasks) => m.id.is_some() && *kills == [(id(), None)],
        (Change::KillAndScale { kills }, WriteKind::KillAppTask) => {
            m.id.is_some() && m.param.is_some() && *kills == [(id(), Some(1))]
        }
        (Change::KillAndScale { kills }, WriteKind::KillTasks) => {
            *kills == [(PathId::parse("/prod/w"), Some(2)), (PathId::parse("/x"), Some(1))]
        }
        (Change::RevertDeployment { id: d, .. }, WriteKind::DeleteDeployment) => m.param.as_ref() == Some(d),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{m:?} parsed as {:?}", w.change))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Every request the proxy decides as a write parses as that write, on every Marathon that
    /// serves the endpoint (and as nothing on one that does not), so no decided write is waved
    /// through for want of a parse.
    #[test]
    fn every_decided_write_parses_as_that_write((method, path) in any_request()) {
        if let Some(m) = match_endpoint(method, &path) {
            let (query, body) = request_for(m.kind);
            for flavour in FLAVOURS {
                let parsed = parse_write(method, &path, query, body, flavour);
                if m.served_by(flavour) {
                    match parsed {
                        Ok(Some(w)) => prop_assert!(agrees(&m, &w).is_ok(), "{method} {path} ({flavour:?}): {}", agrees(&m, &w).unwrap_err()),
                        other => prop_assert!(false, "{method} {path} ({flavour:?}) matched {m:?} but parsed as {other:?}"),
                    }
                } else {
                    prop_assert!(matches!(parsed, Ok(None)), "{method} {path} ({flavour:?}): not served, parsed as {parsed:?}");
                }
            }
        }
    }

    /// Whatever Marathon (and the simulator) routes to a write, the proxy decides as that very
    /// write.
    #[test]
    fn every_write_marathon_routes_is_decided_alike((method, path) in any_request()) {
        if let Some(routed) = match_as_marathon(method, &path) {
            prop_assert_eq!(match_endpoint(method, &path), Some(routed), "{} {}", method, path);
        }
    }

    /// Every respelling of a canonical write is decided as it: transparent ones are also routed
    /// by Marathon as it, wide ones are routed by Marathon nowhere and caught by the wide net.
    #[test]
    fn respellings_are_decided_as_the_canonical_write((c, plan) in respelled()) {
        let canonical_path = c.path();
        let canonical = match_as_marathon(c.method, &canonical_path);
        let Some(expected) = canonical.clone() else {
            return Err(TestCaseError::fail(format!("{} {canonical_path}: Marathon routes the canonical spelling nowhere", c.method)));
        };
        prop_assert_eq!(expected.kind, c.kind, "{} {}: another row", c.method, &canonical_path);
        prop_assert_eq!(&expected.id, &c.id, "{} {}", c.method, &canonical_path);
        prop_assert_eq!(&expected.param, &c.param, "{} {}", c.method, &canonical_path);
        prop_assert_eq!(match_endpoint(c.method, &canonical_path), canonical.clone());

        let (path, wide) = respell(&c, &plan);
        let routed = match_as_marathon(c.method, &path);
        if wide {
            prop_assert_eq!(routed, None, "{} {}: Marathon should 404 or 405 this spelling", c.method, &path);
        } else {
            prop_assert_eq!(routed, canonical.clone(), "{} {}: Marathon reads it as {}", c.method, &path, &canonical_path);
        }
        prop_assert_eq!(match_endpoint(c.method, &path), canonical, "{} {}: respelling of {}", c.method, &path, &canonical_path);
    }
}

/// The generator covers every write row: each row's canonical spelling reaches that row.
#[test]
fn every_write_row_is_generated() {
    for row in write_rows() {
        let c = Canonical::new(row, vec!["a".into(), "b".into()], "t.1".into());
        let m = match_as_marathon(c.method, &c.path()).unwrap_or_else(|| panic!("{} {}", c.method, c.path()));
        assert_eq!(m.kind, c.kind, "{} {}", c.method, c.path());
    }
}
