//! Node names and paths of both Marathon layouts, relative to `PATH/state`.

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The new layout's bucket for an id: `abs(id.hashCode % 16)` in lowercase hex.
pub fn bucket(id: &str) -> String {
    format!("{:x}", (java_hash(id) % 16).abs())
}

/// Node names in the legacy (<= 1.4 `legacy_zk`) layout: flat children of `PATH/state`.
pub mod legacy {
    /// `a_b` for `/a/b`.
    pub fn safe_path(id: &str) -> String {
        id.trim_matches('/').replace('/', "_")
    }
    pub const ROOT: &str = "group:root";
    pub fn root_version(ver: &str) -> String {
        format!("group:root:{ver}")
    }
    pub fn app(id: &str) -> String {
        format!("app:{}", safe_path(id))
    }
    pub fn app_version(id: &str, ver: &str) -> String {
        format!("app:{}:{ver}", safe_path(id))
    }
    pub fn pod(id: &str) -> String {
        format!("pod:{}", safe_path(id))
    }
    pub fn pod_version(id: &str, ver: &str) -> String {
        format!("pod:{}:{ver}", safe_path(id))
    }
    pub fn deployment(plan_id: &str) -> String {
        format!("deployment:{plan_id}")
    }
    /// The version suffixes stored for `key` (`key:<ver>`), newest first (24-char Joda timestamps
    /// sort lexicographically).
    pub fn versions_of<'a>(children: &'a [String], key: &str) -> Vec<&'a str> {
        let prefix = format!("{key}:");
        let mut v: Vec<&str> = children
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix))
            .filter(|rest| rest.len() == 24 && !rest.contains('_'))
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }
}

/// Node paths in the new (1.4+ `zk`) layout, relative to `PATH/state`.
pub mod v14 {
    use super::bucket;
    pub fn safe_path(id: &str) -> String {
        super::legacy::safe_path(id)
    }
    pub fn root() -> String {
        format!("group/{}/root", bucket("root"))
    }
    pub fn root_version(ts: &str) -> String {
        format!("{}/{ts}", root())
    }
    pub fn app(id: &str) -> String {
        let s = safe_path(id);
        format!("apps/{}/{s}", bucket(&s))
    }
    pub fn app_version(id: &str, ts: &str) -> String {
        format!("{}/{ts}", app(id))
    }
    pub fn pod(id: &str) -> String {
        let s = safe_path(id);
        format!("pods/{}/{s}", bucket(&s))
    }
    pub fn pod_version(id: &str, ts: &str) -> String {
        format!("{}/{ts}", pod(id))
    }
    pub fn deployment(plan_id: &str) -> String {
        format!("deployment/{}/{plan_id}", bucket(plan_id))
    }
    /// Marathon 1.4's `ISO_OFFSET_DATE_TIME` rendering of a 24-char Joda timestamp: trailing zeros of
    /// the fraction are dropped, and the fraction with them when it is zero.
    pub fn iso(joda: &str) -> String {
        if let Some(dot) = joda.find('.') {
            if joda.ends_with('Z') {
                let frac = joda[dot + 1..joda.len() - 1].trim_end_matches('0');
                return if frac.is_empty() {
                    format!("{}Z", &joda[..dot])
                } else {
                    format!("{}.{frac}Z", &joda[..dot])
                };
            }
        }
        joda.to_string()
    }
}

/// What a node under `PATH/state` holds of Marathon's apps, in either layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// The current root group (`group:root`, `group/2/root`).
    Root,
    /// A version copy of the root group (`group:root:<ver>`, `group/2/root/<ts>`).
    RootVersion,
    /// An app's or pod's current node (`app:<id>`, `apps/<b>/<id>`).
    Service,
    /// A version copy of an app or pod (`app:<id>:<ver>`, `apps/<b>/<id>/<ts>`).
    ServiceVersion,
    /// A pending deployment's plan (`deployment:<uuid>`, `deployment/<b>/<uuid>`).
    Plan,
    /// Anything else: tasks, the framework id, the storage version, the new layout's directories.
    Other,
}

/// The role of the node at `path` (relative to `PATH/state`): legacy names are flat keys with
/// `:` separators, the new layout's are `category/bucket/id[/ts]`.
pub fn role(path: &str) -> NodeRole {
    if !path.contains('/') {
        return legacy_role(path);
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["group", _, "root"] => NodeRole::Root,
        ["group", _, "root", _] => NodeRole::RootVersion,
        ["apps" | "pods", _, _] => NodeRole::Service,
        ["apps" | "pods", _, _, _] => NodeRole::ServiceVersion,
        ["deployment", _, _] => NodeRole::Plan,
        _ => NodeRole::Other,
    }
}

fn legacy_role(name: &str) -> NodeRole {
    let Some((key, rest)) = name.split_once(':') else { return NodeRole::Other };
    match key {
        "group" if rest == "root" => NodeRole::Root,
        "group" if rest.starts_with("root:") => NodeRole::RootVersion,
        // A safe path holds no `:`; a version copy appends `:<ver>`.
        "app" | "pod" if rest.contains(':') => NodeRole::ServiceVersion,
        "app" | "pod" => NodeRole::Service,
        "deployment" => NodeRole::Plan,
        _ => NodeRole::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_java() {
        // "root".hashCode() = 3506402; 3506402 % 16 = 2 (facts §2.1).
        assert_eq!(java_hash("root"), 3506402);
        assert_eq!(v14::root(), "group/2/root");
        // Negative hash codes: Java's % keeps the sign, Marathon takes abs.
        let h = java_hash("prod_web_frontend_service");
        assert_eq!(bucket("prod_web_frontend_service"), format!("{:x}", (h % 16).abs()));
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(v14::iso("2017-01-02T03:04:05.678Z"), "2017-01-02T03:04:05.678Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.670Z"), "2017-01-02T03:04:05.67Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.600Z"), "2017-01-02T03:04:05.6Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.000Z"), "2017-01-02T03:04:05Z");
    }

    #[test]
    fn legacy_names() {
        assert_eq!(legacy::app("/prod/web"), "app:prod_web");
        assert_eq!(legacy::app_version("/a", "2017-01-02T03:04:05.678Z"), "app:a:2017-01-02T03:04:05.678Z");
        let children: Vec<String> = vec![
            "group:root".into(),
            "group:root:2017-01-02T03:04:05.678Z".into(),
            "group:root:2018-01-02T03:04:05.678Z".into(),
            "app:a".into(),
        ];
        assert_eq!(
            legacy::versions_of(&children, "group:root"),
            vec!["2018-01-02T03:04:05.678Z", "2017-01-02T03:04:05.678Z"]
        );
    }

    #[test]
    fn roles_of_both_layouts() {
        let ver = "2017-01-02T03:04:05.678Z";
        for (path, want) in [
            (legacy::ROOT.to_string(), NodeRole::Root),
            (legacy::root_version(ver), NodeRole::RootVersion),
            (legacy::app("/prod/web"), NodeRole::Service),
            (legacy::app_version("/prod/web", ver), NodeRole::ServiceVersion),
            (legacy::pod("/p"), NodeRole::Service),
            (legacy::pod_version("/p", ver), NodeRole::ServiceVersion),
            (legacy::deployment("0f1e2d3c-0000-0000-0000-000000000000"), NodeRole::Plan),
            ("task:web.1234".to_string(), NodeRole::Other),
            ("framework:id".to_string(), NodeRole::Other),
            ("internal:storage:version".to_string(), NodeRole::Other),
            (v14::root(), NodeRole::Root),
            (v14::root_version("2017-01-02T03:04:05.678Z"), NodeRole::RootVersion),
            (v14::app("/prod/web"), NodeRole::Service),
            (v14::app_version("/prod/web", "2017-01-02T03:04:05Z"), NodeRole::ServiceVersion),
            (v14::pod("/p"), NodeRole::Service),
            (v14::pod_version("/p", "2017-01-02T03:04:05Z"), NodeRole::ServiceVersion),
            (v14::deployment("0f1e2d3c-0000-0000-0000-000000000000"), NodeRole::Plan),
            ("apps".to_string(), NodeRole::Other),
            ("apps/3".to_string(), NodeRole::Other),
            ("instance/1/web.1234".to_string(), NodeRole::Other),
        ] {
            assert_eq!(role(&path), want, "{path}");
        }
    }
}
