//! Answers the proxy makes itself, in Marathon's error shape.
//!
//! Why: clients parse Marathon's errors (`{"message": "..."}`, `application/json`); several print
//! only `message`. When the proxy has to answer on Marathon's behalf (no Marathon reachable, a
//! Marathon too slow, a body too large to be checked) the client must get the same shape so the
//! text reaches the person reading a CI log.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// `{"message": message}` with `Content-Type: application/json`.
pub fn marathon_error(status: StatusCode, message: impl AsRef<str>) -> Response<Bytes> {
    let body = serde_json::json!({ "message": message.as_ref() }).to_string();
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let r = marathon_error(StatusCode::BAD_GATEWAY, "no \"Marathon\"");
        assert_eq!(r.status(), 502);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v, serde_json::json!({"message": "no \"Marathon\""}));
    }
}
