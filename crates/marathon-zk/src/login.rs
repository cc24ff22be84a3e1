//! How a session logs in to ZooKeeper: the digest scheme, SASL DIGEST-MD5, both or neither.
//!
//! One type for every session the proxy opens (the shared ledger's, the reader of Marathon's
//! root node), so that an ensemble that wants a login gets it from each in the same way, and no
//! `Debug` of a configuration shows a password.

use zookeeper_client as zkc;

/// The credentials a session logs in with.
#[derive(Clone, Default, PartialEq)]
pub struct ZkLogin {
    /// `user:password` for ZooKeeper's digest scheme (what `addauth digest` does).
    digest: Option<String>,
    /// `user:password` for a SASL DIGEST-MD5 login (a `user_NAME` of the servers' JAAS `Server`
    /// section).
    sasl_digest_md5: Option<String>,
}

impl ZkLogin {
    /// The login of the keys `digest` and `sasl_digest_md5` of `[table]`, each `user:password`.
    pub fn new(table: &str, digest: Option<String>, sasl_digest_md5: Option<String>) -> anyhow::Result<ZkLogin> {
        for (key, value) in [("digest", &digest), ("sasl_digest_md5", &sasl_digest_md5)] {
            if value.as_deref().is_some_and(|v| !v.contains(':')) {
                anyhow::bail!("[{table}] {key}: expected user:password");
            }
        }
        Ok(ZkLogin { digest, sasl_digest_md5 })
    }

    /// Whether the session logs in at all: the nodes it creates are then its user's only.
    pub fn logs_in(&self) -> bool {
        self.digest.is_some() || self.sasl_digest_md5.is_some()
    }

    /// `connector` with these credentials.
    pub fn apply(&self, mut connector: zkc::Connector) -> zkc::Connector {
        if let Some(d) = &self.digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        if let Some((user, password)) = self.sasl_digest_md5.as_deref().and_then(|c| c.split_once(':')) {
            connector = connector.with_sasl(zkc::SaslOptions::digest_md5(user.to_owned(), password.to_owned()));
        }
        connector
    }
}

/// Names the users, never the passwords.
impl std::fmt::Debug for ZkLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = |c: &Option<String>| c.as_deref().map(|c| format!("{}:<redacted>", c.split(':').next().unwrap_or("")));
        f.debug_struct("ZkLogin").field("digest", &user(&self.digest)).field("sasl_digest_md5", &user(&self.sasl_digest_md5)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_user_colon_password_and_never_shown() {
        let login = ZkLogin::new("ledger", Some("admission:s3cr3t".into()), Some("ledger:pa:ss".into())).unwrap();
        assert!(login.logs_in());
        let shown = format!("{login:?}");
        assert!(shown.contains("admission:<redacted>") && shown.contains("ledger:<redacted>"), "{shown}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("pa:ss"), "{shown}");
        assert!(!ZkLogin::default().logs_in());
        let e = ZkLogin::new("zookeeper", None, Some("nocolon".into())).unwrap_err().to_string();
        assert_eq!(e, "[zookeeper] sasl_digest_md5: expected user:password");
        assert!(ZkLogin::new("ledger", Some("nocolon".into()), None).is_err());
    }
}
