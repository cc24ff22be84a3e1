//! The `--zk` flag: where Marathon keeps its state.

/// Where Marathon keeps its state, parsed from `HOST:PORT[,HOST:PORT...][/PATH]` (the `--zk` flag;
/// a leading `zk://` is accepted). The default path is `/marathon`; nodes live under `PATH/state`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZkSpec {
    pub hosts: String,
    pub path: String,
}

impl ZkSpec {
    pub fn parse(spec: &str) -> anyhow::Result<ZkSpec> {
        let spec = spec.strip_prefix("zk://").unwrap_or(spec);
        let (hosts, path) = match spec.find('/') {
            Some(i) => (&spec[..i], &spec[i..]),
            None => (spec, "/marathon"),
        };
        anyhow::ensure!(!hosts.is_empty(), "--zk needs HOST:PORT[/PATH], got `{spec}`");
        let path = path.trim_end_matches('/');
        let path = if path.is_empty() { "/marathon" } else { path };
        Ok(ZkSpec { hosts: hosts.to_string(), path: path.to_string() })
    }

    /// `zk://hosts/path`, as `/v2/info` reports it.
    pub fn url(&self) -> String {
        format!("zk://{}{}", self.hosts, self.path)
    }

    /// The state root, `PATH/state`.
    pub fn state_path(&self) -> String {
        format!("{}/state", self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        assert_eq!(
            ZkSpec::parse("127.0.0.1:2181").unwrap(),
            ZkSpec { hosts: "127.0.0.1:2181".into(), path: "/marathon".into() }
        );
        let s = ZkSpec::parse("zk://a:1,b:2/x/y/").unwrap();
        assert_eq!((s.hosts.as_str(), s.path.as_str()), ("a:1,b:2", "/x/y"));
        assert_eq!(s.state_path(), "/x/y/state");
        assert!(ZkSpec::parse("/x").is_err());
    }
}
