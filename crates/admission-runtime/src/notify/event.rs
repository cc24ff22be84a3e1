//! Which decisions a webhook hears about, and what it hears: one JSON object per notification,
//! Slack-compatible (a top-level `text`), with the facts a receiver can route and count on.
//!
//! What a notification may carry is what the audit line carries, minus who sent the write (the
//! audit log is the place for that): ids, sizes, the decision and its sentences (sizes, limits
//! and counts only), the quota findings (numbers and ids), the group and its owner, the proxy's
//! name. Never a body, an env value, a label, a header value; the query string as the audit log
//! shows it (credential parameters redacted).

use admission::quota::{QuotaOutcome, Responsible};
use serde_json::json;

use super::config::EventKind;
use crate::audit::AuditRecord;

/// A decision, as the notifier sees it.
pub struct Decided<'a> {
    pub record: &'a AuditRecord,
    /// The ids the write touches (apps, pods, groups).
    pub ids: Vec<String>,
    pub quota: Option<&'a QuotaOutcome>,
    pub responsible: Responsible,
}

/// The event this decision is for a webhook that tells warnings from `warn_at` of the limit, if
/// any: a refusal; a quota over its limit on the write's path; a warning at `warn_at` or above
/// (or one that is not about size).
pub fn event_of(d: &Decided<'_>, warn_at: f64) -> Option<EventKind> {
    let r = d.record;
    if r.dry_run {
        return None;
    }
    if r.decision == "reject" {
        return Some(EventKind::Reject);
    }
    if d.quota.is_some_and(|q| !q.findings.is_empty()) {
        return Some(EventKind::Quota);
    }
    if r.decision != "warn" {
        return None;
    }
    let level = match (r.predicted_bytes, r.limit_bytes) {
        (Some(p), Some(l)) if l > 0 => p as f64 / l as f64,
        _ => 1.0,
    };
    let about_size = r.reason != admission::ReasonClass::HealthChecks.as_str();
    (!about_size || level >= warn_at).then_some(EventKind::Warn)
}

/// The JSON a webhook receives.
pub fn payload(kind: EventKind, d: &Decided<'_>, proxy_name: &str) -> serde_json::Value {
    let r = d.record;
    let path = crate::rejection::as_marathon_names_it(&proxy::redact_query::redact_query(&r.path));
    let findings = d.quota.map(|q| q.findings.as_slice()).unwrap_or_default();
    json!({
        "text": text(kind, d, proxy_name, &path),
        "proxy": proxy_name,
        "event": kind.as_str(),
        "time": r.time,
        "decision": r.decision,
        "reason": r.reason,
        "reasons": r.reasons,
        "method": r.method,
        "path": path,
        "ids": d.ids,
        "group": d.responsible.group,
        "owner": d.responsible.owner,
        "predicted_bytes": r.predicted_bytes,
        "current_bytes": r.current_bytes,
        "limit_bytes": r.limit_bytes,
        "quota_findings": findings,
    })
}

/// Longest `text`: chat services cut or refuse longer messages.
const TEXT_MAX: usize = 3000;

/// One message for people (Slack's `text`, its `&`, `<`, `>` escaped).
fn text(kind: EventKind, d: &Decided<'_>, proxy_name: &str, path: &str) -> String {
    let r = d.record;
    let what = match kind {
        EventKind::Reject => "rejected",
        EventKind::Warn => "let through with a warning",
        EventKind::Quota => "let through over a quota",
    };
    let owner = d.responsible.owner.as_deref().map(|o| format!(", owner {o}")).unwrap_or_default();
    let level = match (r.predicted_bytes, r.limit_bytes) {
        (Some(p), Some(l)) if l > 0 => format!("{p} of {l} bytes ({:.1}% of the limit); ", 100.0 * p as f64 / l as f64),
        _ => String::new(),
    };
    let s = format!("[{proxy_name}] marathon-admission {what}: {} {path} (group {}{owner}): {level}{}", r.method, d.responsible.group, r.reasons.join("; "));
    cut(s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}

/// At most [`TEXT_MAX`] bytes, ending in `...` when cut: at a character boundary, never inside
/// an escape (`&amp;`).
fn cut(mut s: String) -> String {
    if s.len() <= TEXT_MAX {
        return s;
    }
    let mut at = (0..=TEXT_MAX - 3).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    if let Some(amp) = s[..at].rfind('&').filter(|amp| !s[*amp..at].contains(';')) {
        at = amp;
    }
    s.truncate(at);
    s.push_str("...");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(decision: &'static str, reason: &'static str, predicted: u64) -> AuditRecord {
        AuditRecord {
            time: "2024-05-01T10:00:00.000Z".into(),
            client: "10.0.0.7:5555".into(),
            user: Some("ci-bot".into()),
            method: "PUT".into(),
            path: "/v2/apps//dev/api?force=true&access_token=tok3n".into(),
            decision,
            reason,
            reasons: vec!["the deployment plan would be big <really>".into()],
            predicted_bytes: Some(predicted),
            current_bytes: Some(500),
            limit_bytes: Some(1000),
            estimator: Some("exact"),
            error_bound_bytes: None,
            decision_ms: 1.0,
            phases_ms: None,
            dry_run: false,
        }
    }

    fn decided(r: &AuditRecord) -> Decided<'_> {
        Decided {
            record: r,
            ids: vec!["/dev/api".into()],
            quota: None,
            responsible: Responsible { group: "/dev".into(), owner: Some("team-dev@example.com".into()) },
        }
    }

    #[test]
    fn refusals_quotas_and_warnings_from_the_threshold() {
        let reject = record("reject", "over_limit", 995);
        assert_eq!(event_of(&decided(&reject), 0.9), Some(EventKind::Reject));
        let near = record("warn", "near_limit", 850);
        assert_eq!(event_of(&decided(&near), 0.8), Some(EventKind::Warn));
        assert_eq!(event_of(&decided(&near), 0.9), None, "below the webhook's threshold");
        let hc = record("warn", "health_checks", 100);
        assert_eq!(event_of(&decided(&hc), 0.9), Some(EventKind::Warn), "not about size: always told");
        let allow = record("allow", "within_limit", 100);
        assert_eq!(event_of(&decided(&allow), 0.1), None);
        let mut dry = record("reject", "over_limit", 995);
        dry.dry_run = true;
        assert_eq!(event_of(&decided(&dry), 0.9), None, "a dry run is a question, not a write");

        let outcome = QuotaOutcome { findings: vec![finding()], ..QuotaOutcome::allow() };
        let mut d = decided(&near);
        d.quota = Some(&outcome);
        assert_eq!(event_of(&d, 0.99), Some(EventKind::Quota));
    }

    fn finding() -> admission::quota::Finding {
        admission::quota::Finding {
            quota: "/dev".into(),
            owner: Some("team-dev@example.com".into()),
            mode: admission::quota::QuotaMode::Warn,
            resource: admission::quota::Resource::Instances,
            kind: admission::quota::FindingKind::Exceeded,
            after: 12.0,
            used: 10.0,
            limit: 10.0,
            app: None,
            exempted_by: None,
        }
    }

    #[test]
    fn the_payload_names_group_owner_sizes_and_proxy_and_nothing_secret() {
        let r = record("reject", "over_limit", 995);
        let outcome = QuotaOutcome { findings: vec![finding()], ..QuotaOutcome::allow() };
        let mut d = decided(&r);
        d.quota = Some(&outcome);
        let v = payload(EventKind::Reject, &d, "mara-prod");
        assert_eq!(v["proxy"], "mara-prod");
        assert_eq!(v["event"], "reject");
        assert_eq!((v["group"].as_str(), v["owner"].as_str()), (Some("/dev"), Some("team-dev@example.com")));
        assert_eq!((v["predicted_bytes"].as_u64(), v["limit_bytes"].as_u64()), (Some(995), Some(1000)));
        assert_eq!(v["ids"][0], "/dev/api");
        assert_eq!(v["quota_findings"][0]["resource"], "instances");
        // The path as Marathon names it, the credential parameter redacted.
        assert_eq!(v["path"], "/v2/apps/dev/api?force=true&access_token=<redacted>");
        let text = v["text"].as_str().unwrap();
        for needle in ["[mara-prod]", "rejected", "PUT /v2/apps/dev/api", "group /dev, owner team-dev@example.com", "99.5% of the limit", "&lt;really&gt;"] {
            assert!(text.contains(needle), "{needle:?} missing in {text}");
        }
        let all = v.to_string();
        for secret in ["tok3n", "ci-bot", "10.0.0.7"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
    }

    #[test]
    fn long_texts_are_cut() {
        let mut r = record("reject", "over_limit", 995);
        r.reasons = vec!["é".repeat(4000)];
        let v = payload(EventKind::Reject, &decided(&r), "p");
        let text = v["text"].as_str().unwrap();
        assert!(text.len() <= TEXT_MAX && text.ends_with("..."), "{}", text.len());
        // Never inside an escape.
        let at = TEXT_MAX - 5;
        let cut_text = cut(format!("{}&amp;{}", "x".repeat(at), "y".repeat(100)));
        assert!(cut_text.ends_with("x..."), "{}", &cut_text[cut_text.len() - 10..]);
    }
}
