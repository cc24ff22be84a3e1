//! The rejection: HTTP 422 in Marathon's error shape, with everything a developer needs in
//! `message` (many clients print only that) and the same points, one per string, in
//! `details[0].errors`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use marathon_model::{Group, PathId};
use znode_size::encoded_tree::EncodedGroup;
use znode_size::{Estimate, Layout};

/// The largest parts of the target root group (uncompressed, as encoded for ZooKeeper).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakdown {
    /// (group id, bytes), largest first, at most 3.
    pub groups: Vec<(String, u64)>,
    /// (app id, bytes, number of env vars), largest first, at most 3.
    pub apps: Vec<(String, u64, usize)>,
    /// The whole encoded root group (uncompressed).
    pub total: u64,
}

impl Breakdown {
    pub fn of(encoded: &EncodedGroup, root: &Group) -> Breakdown {
        let mut groups = Vec::new();
        let mut apps = Vec::new();
        encoded.visit(&mut |g| {
            if !g.id.is_root() {
                groups.push((g.id.to_string(), g.len() as u64));
            }
            for a in &g.apps {
                let env = root
                    .find_app(&PathId::parse(a.id()))
                    .map(|app| app.env_count())
                    .unwrap_or(0);
                apps.push((a.id().to_string(), a.bytes.len() as u64, env));
            }
        });
        groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        groups.truncate(3);
        apps.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        apps.truncate(3);
        Breakdown { groups, apps, total: encoded.len() as u64 }
    }
}

/// What the rejection talks about.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    pub method: &'a str,
    /// Path and query as sent.
    pub path: &'a str,
    pub current: &'a Estimate,
    pub predicted: &'a Estimate,
    /// The admission threshold (limit minus margin).
    pub reject_at: u64,
    pub breakdown: &'a Breakdown,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl Rejection<'_> {
    /// The points, in order; `message` is them joined.
    pub fn points(&self) -> Vec<String> {
        let p = self.predicted;
        let c = self.current;
        let limit = p.limit_bytes;
        let mut out = Vec::new();
        out.push(format!(
            "marathon-admission rejected {} {}: Marathon could not store the deployment it creates.",
            self.method, self.path
        ));
        match p.layout {
            Layout::Legacy => out.push(format!(
                "Predicted deployment plan: {} bytes; current root group: {} bytes (after this write: {} bytes); \
                 ZooKeeper node limit (zk_max_node_size): {} bytes; admission threshold: {} bytes (limit minus safety margin).",
                p.binding_bytes, c.root_bytes, p.root_bytes, limit, self.reject_at
            )),
            Layout::V14 => out.push(format!(
                "Predicted largest ZooKeeper write ({}): {} bytes; current: {} bytes; \
                 ZooKeeper packet limit (jute.maxbuffer): {} bytes; admission threshold: {} bytes (limit minus safety margin).",
                p.binding_node, p.binding_bytes, c.binding_bytes, limit, self.reject_at
            )),
        }
        out.push(match p.layout {
            Layout::Legacy => "Why: every deployment stores the original and the target root group side by side in one \
                 ZooKeeper node, so the plan is about twice the size of the root group; the root group already \
                 holds every app definition in this Marathon."
                .to_string(),
            Layout::V14 => "Why: Marathon writes the root group (with a reference to every app) and each changed app \
                 definition as ZooKeeper requests; one of them would exceed the largest request ZooKeeper accepts."
                .to_string(),
        });
        let b = self.breakdown;
        if !b.groups.is_empty() {
            let list: Vec<String> = b
                .groups
                .iter()
                .map(|(id, bytes)| format!("{id} {bytes} bytes ({:.0}%)", pct(*bytes, b.total)))
                .collect();
            out.push(format!("Largest groups (uncompressed share of the root group): {}.", list.join(", ")));
        }
        if !b.apps.is_empty() {
            let list: Vec<String> = b
                .apps
                .iter()
                .map(|(id, bytes, env)| format!("{id} {bytes} bytes, {env} env vars"))
                .collect();
            out.push(format!("Largest apps: {}.", list.join("; ")));
        }
        out.push(
            "Way out: delete apps you no longer use (deletions always pass admission); move environment \
             variables out of app definitions (config files fetched via `fetch`, a config service, secrets); \
             or shard onto another Marathon."
                .to_string(),
        );
        out
    }

    /// The short form for the HTTP/1 reason phrase (clients such as the Jenkins plugin print
    /// only that): visible ASCII, one line.
    pub fn short(&self) -> String {
        let p = self.predicted;
        let what = match p.layout {
            Layout::Legacy => "deployment plan".to_string(),
            Layout::V14 => p.binding_node.clone(),
        };
        let s = format!(
            "marathon-admission: {what} would be {} bytes, over {} (ZooKeeper limit {}; now {}); delete unused apps or move env out",
            p.binding_bytes, self.reject_at, p.limit_bytes, self.current.binding_bytes
        );
        s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect()
    }

    /// 422, `application/json`, `{"message": ..., "details": [{"path": "/", "errors": [...]}]}`.
    pub fn response(&self) -> Response<Bytes> {
        let points = self.points();
        let body = serde_json::json!({
            "message": points.join(" "),
            "details": [{"path": "/", "errors": points}],
        });
        let mut resp = Response::new(Bytes::from(body.to_string()));
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(self.short()) {
            resp.extensions_mut().insert(reason);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(root: u64, binding: u64) -> Estimate {
        Estimate {
            layout: Layout::Legacy,
            root_bytes: root,
            plan_bytes: Some(binding),
            binding_node: "deployment plan".into(),
            binding_bytes: binding,
            limit_bytes: 20_000,
            accepted: binding < 20_000,
            plan_raw_bytes: None,
            grows_a_node: false,
        }
    }

    fn sample() -> (Estimate, Estimate, Breakdown) {
        let b = Breakdown {
            groups: vec![("/prod".into(), 9000), ("/prod/web".into(), 6000), ("/dev".into(), 500)],
            apps: vec![
                ("/prod/web/a".into(), 3000, 120),
                ("/prod/web/b".into(), 2500, 90),
                ("/prod/db".into(), 1000, 3),
            ],
            total: 10_000,
        };
        (est(9_500, 19_000), est(10_100, 20_400), b)
    }

    #[test]
    fn message_says_it_all() {
        let (c, p, b) = sample();
        let r = Rejection { method: "POST", path: "/v2/apps", current: &c, predicted: &p, reject_at: 19_800, breakdown: &b };
        let m = r.points().join(" ");
        for needle in [
            "POST /v2/apps",
            "20400 bytes",
            "9500 bytes",
            "20000 bytes",
            "19800 bytes",
            "side by side",
            "twice",
            "/prod 9000 bytes (90%)",
            "/prod/web/a 3000 bytes, 120 env vars",
            "/prod/db 1000 bytes, 3 env vars",
            "delete apps",
            "deletions always pass",
            "environment",
            "shard onto another Marathon",
        ] {
            assert!(m.contains(needle), "missing {needle:?} in {m}");
        }
    }

    #[test]
    fn response_shape() {
        let (c, p, b) = sample();
        let r = Rejection { method: "PUT", path: "/v2/apps/x?force=true", current: &c, predicted: &p, reject_at: 19_800, breakdown: &b };
        let resp = r.response();
        assert_eq!(resp.status(), 422);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        let errors = v["details"][0]["errors"].as_array().unwrap();
        assert_eq!(v["details"][0]["path"], "/");
        assert_eq!(errors.len(), r.points().len());
        assert_eq!(v["message"].as_str().unwrap(), r.points().join(" "));
        assert!(v["message"].as_str().unwrap().contains("PUT /v2/apps/x?force=true"));
        let reason = resp.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        let reason = std::str::from_utf8(reason.as_bytes()).unwrap();
        assert!(reason.contains("20400") && reason.contains("19800") && reason.contains("20000"), "{reason}");
    }

    #[test]
    fn empty_breakdown_still_explains() {
        let (c, p, _) = sample();
        let b = Breakdown::default();
        let r = Rejection { method: "POST", path: "/v2/groups", current: &c, predicted: &p, reject_at: 19_800, breakdown: &b };
        let points = r.points();
        assert!(points.iter().all(|s| !s.contains("Largest")));
        assert!(points.last().unwrap().starts_with("Way out"));
    }
}
