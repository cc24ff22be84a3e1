//! `[[notify]]` in `proxy.toml`: a webhook told about rejections, warnings and quotas over their
//! limit, and how often it may be told.
//!
//! Read with unknown keys refused, like every table of the file; a bad value names its line. The
//! URL is treated as a secret (Slack's and most chat webhooks carry their credential in the
//! path): no message, log line or metric label shows more of it than its host.

use std::time::Duration;

use serde::Deserialize;

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A write refused (422, 413, or 503 under the closed failure policy).
    Reject,
    /// A write forwarded with a warning, its binding node at `warn_at` of the limit or more (or
    /// a warning that is not about size: Marathon-side health checks).
    Warn,
    /// A write forwarded while a quota on its path is over its limit (warn mode, an exemption,
    /// or a quota already exceeded that the write does not grow).
    Quota,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Reject => "reject",
            EventKind::Warn => "warn",
            EventKind::Quota => "quota",
        }
    }
}

/// One `[[notify]]` entry, checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawNotify")]
pub struct NotifyTarget {
    pub url: http::Uri,
    /// The proxy as people know it, in every notification.
    pub proxy_name: String,
    pub events: Vec<EventKind>,
    /// Warnings are told from this fraction of the limit; `None`: `[admission] warn_at`.
    pub warn_at: Option<f64>,
    /// Notifications per group (and webhook) per minute; more in the same minute are dropped.
    pub per_group_per_minute: u32,
    /// Attempts after the first one, for connection errors, timeouts, 429 and 5xx.
    pub retries: u32,
    /// The pause before the first retry; doubled for each next one.
    pub retry_backoff: Duration,
    /// One attempt: connect, send, answer.
    pub timeout: Duration,
    /// Notifications waiting for this webhook; more are dropped (and counted).
    pub queue: usize,
    /// A CA bundle (PEM) for an `https` receiver with a private CA; default: the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl NotifyTarget {
    /// The host (and port) of the URL: what logs and metric labels name it by.
    pub fn label(&self) -> String {
        self.url.authority().map_or_else(|| "?".to_string(), |a| a.as_str().rsplit('@').next().unwrap_or("?").to_string())
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    url: String,
    proxy_name: Option<String>,
    events: Option<Vec<EventKind>>,
    warn_at: Option<f64>,
    per_group_per_minute: Option<u32>,
    retries: Option<u32>,
    retry_backoff_ms: Option<u64>,
    timeout_ms: Option<u64>,
    queue: Option<usize>,
    ca_file: Option<std::path::PathBuf>,
}

impl TryFrom<RawNotify> for NotifyTarget {
    type Error = String;
    fn try_from(r: RawNotify) -> Result<NotifyTarget, String> {
        // The value is never echoed: it may carry the webhook's credential.
        const URL: &str = "`url` must be an http:// or https:// URL with a host (like \"https://hooks.example.com/T0/B0/x\")";
        let url: http::Uri = r.url.trim().parse().map_err(|_| URL.to_string())?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none_or(str::is_empty) {
            return Err(URL.into());
        }
        if url.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err("`url` must not carry user:password@ (put the credential in the path, as webhooks do)".into());
        }
        if r.warn_at.is_some_and(|w| !(w > 0.0 && w <= 1.0)) {
            return Err("`warn_at` is a fraction of the limit in (0, 1], like 0.9".into());
        }
        let events = r.events.unwrap_or_else(|| vec![EventKind::Reject, EventKind::Warn, EventKind::Quota]);
        if events.is_empty() {
            return Err("`events` is empty: give some of \"reject\", \"warn\", \"quota\" (or remove the [[notify]])".into());
        }
        let positive = |key: &str, v: u64| if v == 0 { Err(format!("`{key}` must be more than 0")) } else { Ok(v) };
        let proxy_name = r.proxy_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).unwrap_or_else(host_name);
        Ok(NotifyTarget {
            url,
            proxy_name,
            events,
            warn_at: r.warn_at,
            per_group_per_minute: positive("per_group_per_minute", r.per_group_per_minute.unwrap_or(6).into())? as u32,
            retries: r.retries.unwrap_or(3),
            retry_backoff: Duration::from_millis(positive("retry_backoff_ms", r.retry_backoff_ms.unwrap_or(1000))?),
            timeout: Duration::from_millis(positive("timeout_ms", r.timeout_ms.unwrap_or(5000))?),
            queue: positive("queue", r.queue.unwrap_or(1000) as u64)? as usize,
            ca_file: r.ca_file,
        })
    }
}

/// This machine's name, the default `proxy_name`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "marathon-admission".into())
}

/// What `[[notify]]` deserializes into from a whole file (other keys are read elsewhere).
#[derive(Deserialize)]
struct NotifyTables {
    #[serde(default)]
    notify: Vec<NotifyTarget>,
}

/// The `[[notify]]` entries of a whole `proxy.toml` text; errors carry the file and line.
pub(crate) fn parse_text(text: &str, origin: &str) -> anyhow::Result<Vec<NotifyTarget>> {
    let t: NotifyTables = toml::from_str(text).map_err(|e| proxy::config::toml_errors::describe(&e, text, origin))?;
    Ok(t.notify)
}

/// The entries as [`proxy::ProxyConfig`] keeps them (assembled in code: errors name the entry).
pub(crate) fn parse_tables(tables: &[toml::Table]) -> anyhow::Result<Vec<NotifyTarget>> {
    tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            toml::Value::Table(t.clone())
                .try_into()
                .map_err(|e: toml::de::Error| anyhow::anyhow!("[[notify]] #{}: {}", i + 1, proxy::config::toml_errors::with_suggestion(e.message())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_key() {
        let all = parse_text("[[notify]]\nurl = \"https://hooks.example.com/services/T0/B0/s3cr3t\"\n", "p.toml").unwrap();
        let t = &all[0];
        assert_eq!(t.events, [EventKind::Reject, EventKind::Warn, EventKind::Quota]);
        assert_eq!((t.per_group_per_minute, t.retries, t.queue, t.warn_at), (6, 3, 1000, None));
        assert_eq!((t.retry_backoff, t.timeout), (Duration::from_secs(1), Duration::from_secs(5)));
        assert!(!t.proxy_name.is_empty());
        assert_eq!(t.label(), "hooks.example.com");

        let text = "[[notify]]\nurl = \"http://127.0.0.1:9/x\"\nproxy_name = \"mara-prod\"\nevents = [\"reject\"]\nwarn_at = 0.9\n\
                    per_group_per_minute = 2\nretries = 0\nretry_backoff_ms = 10\ntimeout_ms = 100\nqueue = 5\nca_file = \"/etc/ca.pem\"\n";
        let t = &parse_text(text, "p.toml").unwrap()[0];
        assert_eq!(t.proxy_name, "mara-prod");
        assert!(t.wants(EventKind::Reject) && !t.wants(EventKind::Warn));
        assert_eq!((t.warn_at, t.per_group_per_minute, t.retries, t.queue), (Some(0.9), 2, 0, 5));
        assert_eq!(t.label(), "127.0.0.1:9");
        assert_eq!(t.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
    }

    #[test]
    fn bad_entries_name_the_line_and_never_show_the_url() {
        for (entry, line, needle) in [
            ("url = \"hooks.example.com/s3cr3t\"\n", 2, "http:// or https://"),
            ("url = \"ftp://hooks.example.com/s3cr3t\"\n", 2, "http:// or https://"),
            ("url = \"https://me:s3cr3t@hooks.example.com/\"\n", 2, "user:password"),
            ("url = \"https://h/s3cr3t\"\nwarn_at = 1.5\n", 2, "warn_at"),
            ("url = \"https://h/s3cr3t\"\nevents = [\"reject\", \"everything\"]\n", 4, "everything"),
            ("url = \"https://h/s3cr3t\"\nevents = []\n", 2, "events"),
            ("url = \"https://h/s3cr3t\"\nqueue = 0\n", 2, "queue"),
            ("url = \"https://h/s3cr3t\"\nretrys = 2\n", 4, "did you mean `retries`?"),
            ("proxy_name = \"x\"\n", 2, "url"),
        ] {
            let text = format!("\n[[notify]]\n{entry}");
            let e = parse_text(&text, "p.toml").unwrap_err().to_string();
            assert!(e.contains("p.toml") && e.contains(&format!("line {line}")), "want line {line} for {entry:?}: {e}");
            assert!(e.contains(needle), "want {needle:?} for {entry:?}: {e}");
            assert!(!e.contains("s3cr3t"), "the URL's secret shown: {e}");
        }
        // Assembled in code: the entry is named instead of a line.
        let t: toml::Table = "url = \"https://h/x\"\nretrys = 1".parse().unwrap();
        let e = parse_tables(&[t]).unwrap_err().to_string();
        assert!(e.contains("[[notify]] #1") && e.contains("retries"), "{e}");
    }
}
