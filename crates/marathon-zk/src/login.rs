//! How a session reaches ZooKeeper and logs in: TLS or not, the digest scheme, SASL DIGEST-MD5
//! or SASL GSSAPI (Kerberos).
//!
//! One type for every session the proxy opens (the shared ledger's, the reader of Marathon's
//! root node), so that an ensemble that wants TLS or a login gets it from each in the same way,
//! and no `Debug` of a configuration shows a password or a key.

use std::path::{Path, PathBuf};

use zookeeper_client as zkc;

use crate::kerberos::{why_login_fails, ServerPrincipal};

/// Held by the check of a Kerberos login while it runs.
static KERBEROS_CHECK: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> = std::sync::LazyLock::new(Default::default);

/// The credentials a session logs in with, and its TLS.
#[derive(Clone, Default, PartialEq)]
pub struct ZkLogin {
    /// `user:password` for ZooKeeper's digest scheme (what `addauth digest` does).
    digest: Option<String>,
    /// `user:password` for a SASL DIGEST-MD5 login (a `user_NAME` of the servers' JAAS `Server`
    /// section).
    sasl_digest_md5: Option<String>,
    /// A SASL GSSAPI (Kerberos) login with this process's credentials, to servers of this
    /// principal.
    sasl_gssapi: Option<ServerPrincipal>,
    tls: Option<ZkTls>,
}

/// TLS to the ensemble (its `secureClientPort`): the CAs its servers' certificates are checked
/// against, and this client's certificate for servers that want one (ZooKeeper's default,
/// `ssl.clientAuth=need`). Read when the configuration is loaded.
#[derive(Clone, PartialEq)]
struct ZkTls {
    ca_file: PathBuf,
    ca_pem: String,
    /// (certificate file, certificate PEM, key PEM).
    identity: Option<(PathBuf, String, String)>,
}

/// The files of `[table] tls_ca`, `tls_cert` and `tls_key`.
#[derive(Debug, Default)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl ZkLogin {
    /// The login of the keys `digest` and `sasl_digest_md5` of `[table]`, each `user:password`.
    pub fn new(table: &str, digest: Option<String>, sasl_digest_md5: Option<String>) -> anyhow::Result<ZkLogin> {
        for (key, value) in [("digest", &digest), ("sasl_digest_md5", &sasl_digest_md5)] {
            if value.as_deref().is_some_and(|v| !v.contains(':')) {
                anyhow::bail!("[{table}] {key}: expected user:password");
            }
        }
        Ok(ZkLogin { digest, sasl_digest_md5, sasl_gssapi: None, tls: None })
    }

    /// With the Kerberos login of `[table] sasl_gssapi` (the servers' principal `SERVICE[/HOST]`;
    /// none: no Kerberos). A session takes one SASL mechanism, so not beside `sasl_digest_md5`.
    pub fn with_kerberos(mut self, table: &str, sasl_gssapi: Option<String>) -> anyhow::Result<ZkLogin> {
        let Some(value) = sasl_gssapi else { return Ok(self) };
        if self.sasl_digest_md5.is_some() {
            anyhow::bail!("[{table}] sasl_gssapi and sasl_digest_md5: a session logs in with one SASL mechanism; keep one");
        }
        self.sasl_gssapi = Some(ServerPrincipal::parse(table, &value)?);
        Ok(self)
    }

    /// With TLS from `files` (none named: no TLS); `[table]` names the keys in errors, and each
    /// file is read now and checked for PEM, so that a bad one stops the configuration, not a
    /// connection later.
    pub fn with_tls(mut self, table: &str, files: TlsFiles) -> anyhow::Result<ZkLogin> {
        let read = |key: &str, path: &Path| {
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("[{table}] {key} {}: {e}", path.display()))
        };
        let TlsFiles { ca, cert, key } = files;
        let Some(ca_file) = ca else {
            if cert.is_some() || key.is_some() {
                anyhow::bail!("[{table}] tls_cert and tls_key need tls_ca (the CAs the servers' certificates are checked against)");
            }
            return Ok(self);
        };
        let ca_pem = read("tls_ca", &ca_file)?;
        zkc::TlsCa::from_pem(&ca_pem).map_err(|e| anyhow::anyhow!("[{table}] tls_ca {}: {e}", ca_file.display()))?;
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let (cert_pem, key_pem) = (read("tls_cert", &cert)?, read("tls_key", &key)?);
                zkc::TlsIdentity::from_pem(&cert_pem, &key_pem)
                    .map_err(|e| anyhow::anyhow!("[{table}] tls_cert {} and tls_key {}: {e}", cert.display(), key.display()))?;
                Some((cert, cert_pem, key_pem))
            }
            _ => anyhow::bail!("[{table}] tls_cert and tls_key go together"),
        };
        self.tls = Some(ZkTls { ca_file, ca_pem, identity });
        Ok(self)
    }

    /// Whether the session logs in at all: the nodes it creates are then its user's only.
    pub fn logs_in(&self) -> bool {
        self.digest.is_some() || self.sasl_digest_md5.is_some() || self.sasl_gssapi.is_some()
    }

    /// A session on `hosts` through `connector`, with this TLS and these credentials. A Kerberos
    /// login that cannot succeed (no credentials, no ticket for any server) fails before a
    /// connection is tried, with Kerberos' reason.
    pub async fn connect(&self, connector: zkc::Connector, hosts: &str) -> Result<zkc::Client, ConnectError> {
        if let Some(principal) = self.sasl_gssapi.clone() {
            let servers = hosts.to_owned();
            // One check at a time in the process, held until its thread ends even when the
            // caller stops waiting: a KDC that does not answer would otherwise take one more
            // blocking thread at each retry.
            let one_at_a_time = KERBEROS_CHECK.clone().lock_owned().await;
            let why = tokio::task::spawn_blocking(move || {
                let _held = one_at_a_time;
                why_login_fails(&principal, &servers)
            })
            .await;
            if let Some(why) = why.unwrap_or_else(|e| Some(format!("Kerberos: the check of the login ended: {e}"))) {
                return Err(ConnectError::Kerberos(why));
            }
        }
        self.connect_with(connector, hosts).await.map_err(ConnectError::ZooKeeper)
    }

    async fn connect_with(&self, mut connector: zkc::Connector, hosts: &str) -> Result<zkc::Client, zkc::Error> {
        if let Some(d) = &self.digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        if let Some((user, password)) = self.sasl_digest_md5.as_deref().and_then(|c| c.split_once(':')) {
            connector = connector.with_sasl(zkc::SaslOptions::digest_md5(user.to_owned(), password.to_owned()));
        }
        if let Some(principal) = &self.sasl_gssapi {
            let mut options = zkc::SaslOptions::gssapi().with_username(principal.service.clone());
            if let Some(host) = &principal.host {
                options = options.with_hostname(host.clone());
            }
            connector = connector.with_sasl(options);
        }
        let Some(tls) = &self.tls else { return connector.connect(hosts).await };
        // The crate builds its TLS on the process's default crypto provider: the proxy's own TLS
        // is `ring`, so that is the default (a second call finds it installed and changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut options = zkc::TlsOptions::new().with_pem_ca(&tls.ca_pem)?;
        if let Some((_, cert, key)) = &tls.identity {
            options = options.with_pem_identity(cert, key)?;
        }
        connector.with_tls(options).secure_connect(hosts).await
    }
}

/// Why a session could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The client's error.
    ZooKeeper(zkc::Error),
    /// Kerberos' reason why the login cannot succeed.
    Kerberos(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::ZooKeeper(e) => write!(f, "{e}"),
            ConnectError::Kerberos(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Names the users, the principal and the files, never the passwords or the keys.
impl std::fmt::Debug for ZkLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = |c: &Option<String>| c.as_deref().map(|c| format!("{}:<redacted>", c.split(':').next().unwrap_or("")));
        let tls = self.tls.as_ref().map(|t| (t.ca_file.display().to_string(), t.identity.as_ref().map(|(cert, _, _)| cert.display().to_string())));
        f.debug_struct("ZkLogin")
            .field("digest", &user(&self.digest))
            .field("sasl_digest_md5", &user(&self.sasl_digest_md5))
            .field("sasl_gssapi", &self.sasl_gssapi.as_ref().map(ToString::to_string))
            .field("tls (ca, cert)", &tls)
            .finish()
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

    #[test]
    fn a_kerberos_login_names_the_servers_principal_and_is_the_one_sasl_mechanism() {
        let login = ZkLogin::new("ledger", None, None).unwrap().with_kerberos("ledger", Some("zookeeper/zk.example.com".into())).unwrap();
        assert!(login.logs_in(), "the nodes it creates are its principal's");
        assert!(format!("{login:?}").contains("zookeeper/zk.example.com"), "{login:?}");
        let unchanged = ZkLogin::new("ledger", Some("admission:s3cr3t".into()), None).unwrap().with_kerberos("ledger", None).unwrap();
        assert_eq!(unchanged, ZkLogin::new("ledger", Some("admission:s3cr3t".into()), None).unwrap());
        let both = ZkLogin::new("zookeeper", None, Some("ledger:pw".into())).unwrap().with_kerberos("zookeeper", Some("zookeeper".into()));
        let e = both.unwrap_err().to_string();
        assert!(e.starts_with("[zookeeper] sasl_gssapi and sasl_digest_md5"), "{e}");
        assert!(ZkLogin::default().with_kerberos("ledger", Some("zookeeper@EXAMPLE.COM".into())).is_err());
    }

    #[test]
    fn tls_files_are_read_with_the_configuration_and_go_together() {
        let plain = ZkLogin::default().with_tls("ledger", TlsFiles::default()).unwrap();
        assert!(plain.tls.is_none());
        let missing = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..TlsFiles::default() };
        let e = ZkLogin::default().with_tls("ledger", missing).unwrap_err().to_string();
        assert!(e.starts_with("[ledger] tls_ca /nonexistent/ca.pem"), "{e}");
        let without_ca = TlsFiles { cert: Some("c.pem".into()), key: Some("k.pem".into()), ..TlsFiles::default() };
        let e = ZkLogin::default().with_tls("zookeeper", without_ca).unwrap_err().to_string();
        assert!(e.contains("need tls_ca"), "{e}");
    }
}
