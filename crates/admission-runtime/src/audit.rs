//! The audit log: one JSON line per decision, to stderr or appended to a file
//! (`[admission] audit_log`).
//!
//! A line holds: `time`, `client` (peer address), `user` (who the caller says it is: the user
//! name of a Basic `Authorization` header, never the password, or the `uid` a DC/OS token
//! carries, never the token; absent otherwise), `method`, `path` (with its
//! query, the values of credential parameters such as `access_token` replaced by `<redacted>`:
//! [`proxy::redact_query`]), `decision`, `reason` (class), `reasons` (the decision's sentences: sizes and limits
//! only), `predicted_bytes`, `current_bytes`, `limit_bytes`, `estimator`, `decision_ms`, and for a
//! decided write `phases_ms`, where that time went ([`super::phase_clock`]).
//! Never a header value other than that user name, never a body, never env values or labels.
//!
//! Lines are handed to a writer thread through a channel, so a slow disk never holds a decision.

use std::io::Write as _;
use std::sync::mpsc;
use std::sync::Mutex;

use base64::Engine;
use serde::Serialize;

use super::config::AuditTarget;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub method: String,
    /// Shown redacted: the audit line and the decisions list are both this record serialised.
    #[serde(serialize_with = "redacted")]
    pub path: String,
    pub decision: &'static str,
    pub reason: &'static str,
    pub reasons: Vec<String>,
    pub predicted_bytes: Option<u64>,
    pub current_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimator: Option<&'static str>,
    /// How far Marathon's bytes may lie above `predicted_bytes`, where it was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_bound_bytes: Option<u64>,
    pub decision_ms: f64,
    /// Where `decision_ms` went, phase by phase (decided writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases_ms: Option<super::phase_clock::PhaseClock>,
    pub dry_run: bool,
}

/// `path` with the values of credential query parameters replaced.
fn redacted<S: serde::Serializer>(path: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&proxy::redact_query::redact_query(path))
}

pub struct AuditLog {
    tx: Option<Mutex<mpsc::Sender<String>>>,
}

impl AuditLog {
    pub fn off() -> AuditLog {
        AuditLog { tx: None }
    }

    /// Opens the target (a file is created or appended to) and starts the writer thread.
    pub fn open(target: &AuditTarget) -> anyhow::Result<AuditLog> {
        let mut out: Box<dyn std::io::Write + Send> = match target {
            AuditTarget::Off => return Ok(AuditLog::off()),
            AuditTarget::Stderr => Box::new(std::io::stderr()),
            AuditTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("[admission] audit_log {}: {e}", path.display()))?,
            ),
        };
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new().name("admission-audit".into()).spawn(move || {
            while let Ok(line) = rx.recv() {
                let _ = out.write_all(line.as_bytes());
                // Drain what is queued before flushing.
                while let Ok(more) = rx.try_recv() {
                    let _ = out.write_all(more.as_bytes());
                }
                let _ = out.flush();
            }
        })?;
        Ok(AuditLog { tx: Some(Mutex::new(tx)) })
    }

    pub fn record(&self, rec: &AuditRecord) {
        let Some(tx) = &self.tx else { return };
        let Ok(mut line) = serde_json::to_string(rec) else { return };
        line.push('\n');
        let _ = tx.lock().unwrap().send(line);
    }
}

/// The user name of `Authorization: Basic base64(user:password)`; never the password.
pub fn basic_auth_user(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    printable(text.split_once(':').map(|(u, _)| u).unwrap_or(""))
}

/// Who the caller says it is, for the audit log: the Basic user, or the `uid` (else `sub`) a
/// DC/OS token (`token=<JWT>`, or `Bearer <JWT>`) carries; a JWT's claims are readable without
/// its key. Never the secret part.
pub fn caller_identity(headers: &http::HeaderMap) -> Option<String> {
    basic_auth_user(headers).or_else(|| token_uid(headers))
}

fn token_uid(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let jwt = v.strip_prefix("token=").or_else(|| v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t))?;
    let claims = jwt.trim().split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    printable(claims.get("uid").or_else(|| claims.get("sub"))?.as_str()?)
}

/// At most 128 characters, no control characters; None when nothing is left.
fn printable(user: &str) -> Option<String> {
    let user: String = user.chars().filter(|c| !c.is_control()).take(128).collect();
    (!user.is_empty()).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_never_reach_a_line_or_the_decisions_list() {
        let rec = AuditRecord {
            time: "t".into(),
            client: "127.0.0.1:1".into(),
            user: None,
            method: "POST".into(),
            path: "/v2/apps?force=true&access_token=SECRETVALUE".into(),
            decision: "allow",
            reason: "fits",
            reasons: vec![],
            predicted_bytes: None,
            current_bytes: None,
            limit_bytes: None,
            estimator: None,
            error_bound_bytes: None,
            decision_ms: 0.0,
            phases_ms: None,
            dry_run: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.log");
        let log = AuditLog::open(&AuditTarget::File(file.clone())).unwrap();
        log.record(&rec);
        drop(log); // the writer thread ends once the line is out
        let ring = crate::quota_runtime::DecisionRing::default();
        ring.push(&rec);
        let shown = ring.latest(1)[0]["path"].as_str().unwrap().to_owned();
        assert_eq!(shown, "/v2/apps?force=true&access_token=<redacted>");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let line = loop {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.ends_with('\n') || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::yield_now();
        };
        assert!(line.contains(r#""path":"/v2/apps?force=true&access_token=<redacted>""#), "{line}");
        assert!(!line.contains("SECRETVALUE"), "{line}");
    }

    #[test]
    fn basic_user_without_password() {
        let mut h = http::HeaderMap::new();
        // "ci-bot:s3cret!"
        h.insert(http::header::AUTHORIZATION, "Basic Y2ktYm90OnMzY3JldCE=".parse().unwrap());
        assert_eq!(basic_auth_user(&h).as_deref(), Some("ci-bot"));
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_auth_user(&h), None);
        h.insert(http::header::AUTHORIZATION, "basic !!!".parse().unwrap());
        assert_eq!(basic_auth_user(&h), None);
    }

    #[test]
    fn a_dcos_token_names_its_uid_and_nothing_else() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"uid":"ci-service","exp":1}"#);
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, format!("token=eyJhbGciOiJIUzI1NiJ9.{claims}.c2lnbmF0dXJl").parse().unwrap());
        assert_eq!(caller_identity(&h).as_deref(), Some("ci-service"));
        h.insert(http::header::AUTHORIZATION, format!("Bearer x.{claims}.y").parse().unwrap());
        assert_eq!(caller_identity(&h).as_deref(), Some("ci-service"));
        h.insert(http::header::AUTHORIZATION, "token=opaque".parse().unwrap());
        assert_eq!(caller_identity(&h), None);
        h.insert(http::header::AUTHORIZATION, "Basic Y2ktYm90OnB3".parse().unwrap());
        assert_eq!(caller_identity(&h).as_deref(), Some("ci-bot"));
    }
}
