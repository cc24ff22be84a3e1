//! The admin listener: `/healthz`, `/readyz`, `/metrics`.
//!
//! Why a separate listener: these endpoints are for the platform (probes, Prometheus), must not be
//! reachable by API clients through the proxy port, and must not shadow Marathon's own `/metrics`
//! and `/ping`, which pass through on the proxy port.
//!
//! - `/healthz`: 200 while the process serves.
//! - `/readyz`: 200 when a Marathon answered the last `/v2/leader` poll *and* the phases say they
//!   are ready ([`crate::RequestPhases::readiness`], e.g. admission's "model synced"); otherwise 503
//!   with `{"ready": false, "reasons": [...]}`.
//! - `/metrics`: Prometheus text format.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

use crate::body::ProxyBody;
use crate::upstreams::Upstreams;
use crate::metrics::Metrics;
use crate::phases::RequestPhases;

#[derive(Clone)]
pub(crate) struct Admin {
    pub metrics: Arc<Metrics>,
    pub upstreams: Arc<Upstreams>,
    pub phases: Arc<dyn RequestPhases>,
}

fn respond(status: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

impl Admin {
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        if let Err(e) = self.upstreams.readiness() {
            reasons.push(e);
        }
        if let Err(e) = self.phases.readiness() {
            reasons.push(e);
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    pub async fn handle<B>(self, req: Request<B>) -> Result<Response<ProxyBody>, Infallible> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "application/json",
                r#"{"message":"only GET"}"#,
            ));
        }
        Ok(match req.uri().path() {
            "/healthz" => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
            "/readyz" => {
                let (status, ready, reasons) = match self.readiness() {
                    Ok(()) => (StatusCode::OK, true, Vec::new()),
                    Err(reasons) => (StatusCode::SERVICE_UNAVAILABLE, false, reasons),
                };
                let mut body = serde_json::json!({"ready": ready, "reasons": reasons});
                let detail = self.phases.readiness_detail();
                if !detail.is_null() {
                    body["detail"] = detail;
                }
                respond(status, "application/json", body.to_string())
            }
            "/metrics" => respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.metrics.encode(),
            ),
            _ => respond(
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"message":"not found: the admin listener serves /healthz, /readyz and /metrics"}"#,
            ),
        })
    }
}
