//! The audit log: one JSON line per decision, to stderr or appended to a file
//! (`[admission] audit_log`).
//!
//! A line holds: `time`, `client` (peer address), `user` (the user name of a Basic
//! `Authorization` header, never the password; absent otherwise), `method`, `path` (with its
//! query), `decision`, `reason` (class), `reasons` (the decision's sentences: sizes and limits
//! only), `predicted_bytes`, `current_bytes`, `limit_bytes`, `estimator`, `decision_ms`.
//! Never a header value other than that user name, never a body, never env values or labels.
//!
//! Lines are handed to a writer thread through a channel, so a slow disk never holds a decision.

use std::io::Write as _;
use std::sync::mpsc;
use std::sync::Mutex;

use serde::Serialize;

use super::config::AuditTarget;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub method: String,
    pub path: String,
    pub decision: &'static str,
    pub reason: &'static str,
    pub reasons: Vec<String>,
    pub predicted_bytes: Option<u64>,
    pub current_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimator: Option<&'static str>,
    pub decision_ms: f64,
    pub dry_run: bool,
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
    let decoded = base64_decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map(|(u, _)| u).unwrap_or("");
    let user: String = user.chars().filter(|c| !c.is_control()).take(128).collect();
    (!user.is_empty()).then_some(user)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
    }
}
