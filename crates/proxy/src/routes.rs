//! What the transport needs to know about a request before touching its body: the endpoint
//! family (the `route` label of metrics), whether its body must be read in full and shown to the
//! phases, and whether it is the event stream.
//!
//! Why the proxy does not decide this itself: "is this a Marathon write" is a security boundary
//! that belongs with the one table of write endpoints (admission's), so the proxy asks
//! [`crate::RequestPhases::route`]. [`Route::of_raw_path`] is the answer of a transparent proxy: the
//! path as sent, the bodies of writes to Marathon's state read in full (for failover).

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

    /// The family of a path's first two segments (`("v2", "apps")`, `("ping", none)`).
    pub fn of_segments(first: Option<&str>, second: Option<&str>) -> RouteClass {
        match (first, second) {
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
        }
    }
}

/// What the proxy needs to know about a request before touching its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub class: RouteClass,
    /// Its body is read into memory, bounded, and shown to
    /// [`crate::RequestPhases::request_filter`] before anything is sent upstream (admission's
    /// state-changing writes and its own endpoints).
    pub admission_write: bool,
    /// The SSE stream: no response timeout, no body timeout, tracked as an open stream.
    pub event_stream: bool,
}

impl Route {
    /// A route from its family: the event stream is `GET` on [`RouteClass::Events`].
    pub fn new(method: &Method, class: RouteClass, admission_write: bool) -> Route {
        let event_stream = class == RouteClass::Events && *method == Method::GET;
        Route { class, admission_write, event_stream }
    }

    /// A transparent proxy's route: the family from the path as sent (not decoded); the bodies of
    /// writes to Marathon's state (apps, groups, pods, deployments, tasks) are read in full,
    /// bounded, so that they can go to the next Marathon when one cannot be connected to.
    pub fn of_raw_path(method: &Method, raw_path: &str) -> Route {
        let mut segs = raw_path.split('/').filter(|s| !s.is_empty());
        let class = RouteClass::of_segments(segs.next(), segs.next());
        let write = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
        let state = matches!(
            class,
            RouteClass::Apps | RouteClass::Groups | RouteClass::Pods | RouteClass::Deployments | RouteClass::Tasks
        );
        Route::new(method, class, write && state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_indexes_are_dense() {
        assert_eq!(RouteClass::Other.index(), RouteClass::COUNT - 1);
        assert_eq!(RouteClass::Events.index(), 0);
    }

    #[test]
    fn raw_paths_name_their_family_and_buffer_state_writes() {
        let get = |p: &str| Route::of_raw_path(&Method::GET, p);
        assert_eq!(get("/v2/events").class, RouteClass::Events);
        assert!(get("/v2/events").event_stream);
        assert!(!Route::of_raw_path(&Method::POST, "/v2/events").event_stream);
        assert_eq!(get("/ping").class, RouteClass::Ping);
        assert_eq!(get("/metrics").class, RouteClass::MarathonMetrics);
        assert_eq!(get("/ui/").class, RouteClass::Other);
        assert_eq!(get("/v2/apps/a").class, RouteClass::Apps);
        assert!(Route::of_raw_path(&Method::POST, "/v2/apps").admission_write);
        assert!(!Route::of_raw_path(&Method::GET, "/v2/apps").admission_write);
        assert!(!Route::of_raw_path(&Method::POST, "/v2/eventSubscriptions").admission_write);
    }
}
