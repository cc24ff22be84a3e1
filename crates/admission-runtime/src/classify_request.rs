//! Which requests admission reads in full: the proxy asks this (through
//! [`proxy::RequestPhases::route`]) for every request, before any body byte is read.
//!
//! Why it is here and not in the transport: "is this a state-changing write" is a security
//! boundary, and it has one answer, the model's table of write endpoints
//! ([`marathon_model::ops::endpoints`]) on Marathon's reading of the path and a wider one
//! ([`marathon_model::ops::request_path`]). The body is read, decided, audited and counted for
//! exactly what that table calls a write, so no spelling of a write reaches Marathon undecided.
//! The request itself is always forwarded exactly as the client sent it.

use http::Method;
use marathon_model::ops::{endpoints, request_path};
use proxy::{Route, RouteClass};

/// Classifies a request by method and raw path (as sent, possibly percent-encoded).
///
/// Runs on every request: a read does not allocate unless a segment is percent-encoded.
pub fn classify(method: &Method, raw_path: &str) -> Route {
    let first = request_path::prefix(raw_path);
    let class = RouteClass::of_segments(first.get(0), first.get(1));
    // The proxy's own endpoints: read (bounded) and shown to the phases, whatever the method.
    let admission_write = class == RouteClass::Admission || endpoints::match_endpoint(method.as_str(), raw_path).is_some();
    Route::new(method, class, admission_write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_recognised_however_spelled() {
        for (m, p) in [
            (Method::POST, "/v2/apps"),
            (Method::POST, "/v2/apps/"),
            (Method::PUT, "/v2/apps/prod/web"),
            (Method::POST, "//v2//apps"),
            (Method::POST, "/v2/./apps"),
            (Method::POST, "/v2/x/../apps"),
            (Method::POST, "/v2/%61pps"),
            (Method::POST, "//host/v2/apps"),
            (Method::POST, "/v2/apps;jsessionid=1"),
            (Method::PUT, "/v2/groups/a"),
            (Method::DELETE, "/v2/deployments/123"),
            (Method::POST, "/v2/tasks/delete"),
            (Method::POST, "/v2/apps/a/restart"),
            (Method::DELETE, "/v2/apps/a/tasks/t1"),
        ] {
            assert!(classify(&m, p).admission_write, "{m} {p}");
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
        assert_eq!(classify(&Method::GET, "/v2/%65vents").class, RouteClass::Events);
        assert!(classify(&Method::GET, "/v2/events").event_stream);
        assert_eq!(classify(&Method::GET, "/v2/./info").class, RouteClass::Info);
        assert_eq!(classify(&Method::POST, "/admission/v1/check").class, RouteClass::Admission);
        assert!(classify(&Method::GET, "/admission/v1/check").admission_write);
        assert!(classify(&Method::POST, "//admission/./v1/check").admission_write);
        assert!(!classify(&Method::GET, "/admissions").admission_write);
    }
}
