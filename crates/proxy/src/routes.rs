//! Route classification: which Marathon endpoint family a request targets, and whether it is one
//! of the state-changing writes that admission must read in full.
//!
//! Why a module of its own: the decision "buffer this body and show it to admission" is a security
//! boundary. A client must not be able to slip a write past admission by spelling the path in a way
//! that Marathon (Jetty + Jersey) still routes to the same resource: `//v2//apps`, `/v2/./apps`,
//! `/v2/%61pps`, `/v2/apps;x=1`. So classification works on a normalised copy of the path (dot
//! segments resolved, empty segments dropped, percent-escapes decoded, matrix parameters removed),
//! while the request itself is always forwarded exactly as the client sent it.

use std::borrow::Cow;

use http::Method;

/// The endpoint family, used as the `route` label of metrics and given to the phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// `GET /v2/events`, the server-sent event stream.
    Events,
    Apps,
    Groups,
    Pods,
    Deployments,
    Tasks,
    Queue,
    Info,
    Leader,
    /// `/ping`
    Ping,
    /// Marathon's own `/metrics` (Codahale JSON), passed through.
    MarathonMetrics,
    /// `/admission/...`: the proxy's own endpoints (e.g. the dry run), answered by the phases.
    Admission,
    Other,
}

impl RouteClass {
    /// How many classes there are; [`RouteClass::index`] is below it.
    pub const COUNT: usize = 13;

    /// A dense index, for per-class tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label value used in metrics: bounded, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Events => "events",
            RouteClass::Apps => "apps",
            RouteClass::Groups => "groups",
            RouteClass::Pods => "pods",
            RouteClass::Deployments => "deployments",
            RouteClass::Tasks => "tasks",
            RouteClass::Queue => "queue",
            RouteClass::Info => "info",
            RouteClass::Leader => "leader",
            RouteClass::Ping => "ping",
            RouteClass::MarathonMetrics => "marathon_metrics",
            RouteClass::Admission => "admission",
            RouteClass::Other => "other",
        }
    }
}

/// What the proxy needs to know about a request before touching its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub class: RouteClass,
    /// A state-changing write (POST/PUT/PATCH/DELETE on apps, groups, pods, deployments,
    /// `/v2/tasks/delete`): its body is read into memory, bounded, and shown to
    /// [`crate::RequestPhases::request_filter`] before anything is sent upstream.
    pub admission_write: bool,
    /// The SSE stream: no response timeout, no body timeout, tracked as an open stream.
    pub event_stream: bool,
}

/// Classifies a request by method and raw path (as sent, possibly percent-encoded).
///
/// Runs on every request, so it does not allocate unless a segment is percent-encoded: only the
/// first three segments of the normalised path matter, and they are borrowed from `raw_path`.
pub fn classify(method: &Method, raw_path: &str) -> Route {
    let first = first_segments(raw_path);
    let seg = |i: usize| first.get(i);
    let class = match (seg(0), seg(1)) {
        (Some("v2"), Some("events")) => RouteClass::Events,
        (Some("v2"), Some("apps")) => RouteClass::Apps,
        (Some("v2"), Some("groups")) => RouteClass::Groups,
        (Some("v2"), Some("pods")) => RouteClass::Pods,
        (Some("v2"), Some("deployments")) => RouteClass::Deployments,
        (Some("v2"), Some("tasks")) => RouteClass::Tasks,
        (Some("v2"), Some("queue")) => RouteClass::Queue,
        (Some("v2"), Some("info")) => RouteClass::Info,
        (Some("v2"), Some("leader")) => RouteClass::Leader,
        (Some("ping"), None) => RouteClass::Ping,
        (Some("metrics"), None) => RouteClass::MarathonMetrics,
        (Some("admission"), _) => RouteClass::Admission,
        _ => RouteClass::Other,
    };
    let is_write_method = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let admission_write = is_write_method
        && match class {
            RouteClass::Apps | RouteClass::Groups | RouteClass::Pods | RouteClass::Deployments => true,
            RouteClass::Tasks => seg(2) == Some("delete"),
            _ => false,
        }
        // The proxy's own endpoints: read (bounded) and shown to the phases, whatever the method.
        || class == RouteClass::Admission;
    let event_stream = class == RouteClass::Events && *method == Method::GET;
    Route {
        class,
        admission_write,
        event_stream,
    }
}

/// The first [`FirstSegments::N`] segments of the normalised path, and how deep it goes.
struct FirstSegments<'a> {
    segs: [Cow<'a, str>; FirstSegments::N],
    depth: usize,
}

impl FirstSegments<'_> {
    const N: usize = 3;

    fn get(&self, i: usize) -> Option<&str> {
        (i < self.depth.min(Self::N)).then(|| self.segs[i].as_ref())
    }
}

/// [`normalized_segments`], keeping only the first three: a segment past them is counted, not
/// kept, and `..` pops the count, so the first three are exactly those of the full list.
fn first_segments(raw_path: &str) -> FirstSegments<'_> {
    let mut out = FirstSegments {
        segs: [Cow::Borrowed(""), Cow::Borrowed(""), Cow::Borrowed("")],
        depth: 0,
    };
    for raw in raw_path.split('/') {
        let raw = raw.split(';').next().unwrap_or("");
        let seg = percent_decode_cow(raw);
        match seg.as_ref() {
            "" | "." => {}
            ".." => out.depth = out.depth.saturating_sub(1),
            _ => {
                if out.depth < FirstSegments::N {
                    out.segs[out.depth] = seg;
                }
                out.depth += 1;
            }
        }
    }
    out
}

/// The path as Jetty/Jersey would match it: segments percent-decoded, matrix parameters
/// (`;x=y`) removed, empty and `.` segments dropped, `..` resolved.
pub fn normalized_segments(raw_path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in raw_path.split('/') {
        let raw = raw.split(';').next().unwrap_or("");
        let seg = percent_decode(raw);
        match seg.as_str() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(seg),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    percent_decode_cow(s).into_owned()
}

fn percent_decode_cow(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_recognised_however_spelled() {
        for p in [
            "/v2/apps",
            "/v2/apps/",
            "/v2/apps/prod/web",
            "//v2//apps",
            "/v2/./apps",
            "/v2/x/../apps",
            "/v2/%61pps",
            "/v2/apps;jsessionid=1",
            "/v2/groups/a",
            "/v2/pods/a",
            "/v2/deployments/123",
            "/v2/tasks/delete",
            "/v2/apps/a/restart",
            "/v2/apps/a/tasks/t1",
        ] {
            assert!(classify(&Method::POST, p).admission_write, "{p}");
            assert!(classify(&Method::DELETE, p).admission_write, "{p}");
        }
    }

    #[test]
    fn reads_and_other_writes_are_not_admission_writes() {
        assert!(!classify(&Method::GET, "/v2/apps").admission_write);
        assert!(!classify(&Method::HEAD, "/v2/groups").admission_write);
        assert!(!classify(&Method::POST, "/v2/appsx").admission_write);
        assert!(!classify(&Method::POST, "/v2/eventSubscriptions").admission_write);
        assert!(!classify(&Method::DELETE, "/v2/tasks/t1").admission_write);
        assert!(!classify(&Method::DELETE, "/v2/queue/a/delay").admission_write);
        assert!(!classify(&Method::POST, "/v3/apps").admission_write);
    }

    #[test]
    fn classes() {
        assert_eq!(classify(&Method::GET, "/v2/events").class, RouteClass::Events);
        assert!(classify(&Method::GET, "/v2/events").event_stream);
        assert!(!classify(&Method::POST, "/v2/events").event_stream);
        assert_eq!(classify(&Method::GET, "/ping").class, RouteClass::Ping);
        assert_eq!(classify(&Method::GET, "/metrics").class, RouteClass::MarathonMetrics);
        assert_eq!(classify(&Method::GET, "/ui/").class, RouteClass::Other);
        assert_eq!(classify(&Method::GET, "/v2/info").class, RouteClass::Info);
        assert_eq!(classify(&Method::POST, "/admission/v1/check").class, RouteClass::Admission);
        assert!(classify(&Method::GET, "/admission/v1/check").admission_write);
        assert!(classify(&Method::POST, "//admission/./v1/check").admission_write);
        assert!(!classify(&Method::GET, "/admissions").admission_write);
    }

    #[test]
    fn first_segments_agree_with_the_full_normalisation() {
        for p in [
            "/", "", "/ping", "/v2/apps", "//v2//apps/", "/v2/./apps", "/v2/x/../apps",
            "/a/b/c/d/../../../v2/apps", "/a/b/c/d/e/../../../../../v2/tasks/delete",
            "/../../v2/apps", "/v2/%61pps;x=1/a", "/v2/apps/a/b/c/../../..", "/%2e%2e/v2",
            "/v2/tasks/x/../delete", "/admission/v1/../../ping",
        ] {
            let full = normalized_segments(p);
            let first = first_segments(p);
            for i in 0..FirstSegments::N {
                assert_eq!(first.get(i), full.get(i).map(String::as_str), "{p} segment {i}");
            }
        }
    }

    #[test]
    fn class_indexes_are_dense() {
        assert_eq!(RouteClass::Other.index(), RouteClass::COUNT - 1);
        assert_eq!(RouteClass::Events.index(), 0);
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%2F"), "a/");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
