//! Route classification: which Marathon endpoint family a request targets, and whether it is one
//! of the state-changing writes that admission must read in full.
//!
//! Why a module of its own: the decision "buffer this body and show it to admission" is a security
//! boundary. A client must not be able to slip a write past admission by spelling the path in a way
//! that Marathon (Jetty + Jersey) still routes to the same resource: `//v2//apps`, `/v2/./apps`,
//! `/v2/%61pps`, `/v2/apps;x=1`. So classification works on a normalised copy of the path (dot
//! segments resolved, empty segments dropped, percent-escapes decoded, matrix parameters removed),
//! while the request itself is always forwarded exactly as the client sent it.

use http::Method;
use marathon_model::ops::{endpoints, request_path};

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

/// Classifies a request by method and raw path (as sent, possibly percent-encoded), through the
/// model's one normalisation ([`request_path`]) and its table of write endpoints ([`endpoints`]).
///
/// Runs on every request, so a read does not allocate unless a segment is percent-encoded.
pub fn classify(method: &Method, raw_path: &str) -> Route {
    let first = request_path::prefix(raw_path);
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
    // The proxy's own endpoints: read (bounded) and shown to the phases, whatever the method.
    let admission_write = class == RouteClass::Admission
        || endpoints::match_endpoint(method.as_str(), raw_path).is_some();
    let event_stream = class == RouteClass::Events && *method == Method::GET;
    Route {
        class,
        admission_write,
        event_stream,
    }
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
    fn class_indexes_are_dense() {
        assert_eq!(RouteClass::Other.index(), RouteClass::COUNT - 1);
        assert_eq!(RouteClass::Events.index(), 0);
    }
}
