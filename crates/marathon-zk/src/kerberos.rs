//! SASL GSSAPI (Kerberos) logins: which principal the servers have, and why a login fails.
//!
//! The credentials are the process's own, as every MIT Kerberos client finds them: a keytab named
//! by `KRB5_CLIENT_KTNAME` (the library gets and renews tickets from it by itself), or a ticket
//! cache named by `KRB5CCNAME` that something else keeps fresh (`kinit`, `k5start`); the realm
//! and its KDCs come from `krb5.conf` (`KRB5_CONFIG`). So no secret passes through
//! `proxy.toml`, and a keytab rotated on disk is taken at the next login.
//!
//! The ZooKeeper client runs the login inside its session and, when it fails, retries until its
//! connection timeout and reports only that: [`why_login_fails`] takes the same first step before
//! a session is opened, so that a login that cannot succeed fails at once with Kerberos' reason
//! ("Server not found in Kerberos database", "No Kerberos credentials available") instead of a
//! timeout.

use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};

/// The servers' principal, `SERVICE[/HOST]` without the realm (as Java's
/// `zookeeper.server.principal` less its `@REALM`): the service (`zookeeper` on most ensembles)
/// and, when every server shares one principal, its host part; without it, each server's host
/// as written in the connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPrincipal {
    pub service: String,
    pub host: Option<String>,
}

impl ServerPrincipal {
    /// Reads `[table] sasl_gssapi`.
    pub fn parse(table: &str, value: &str) -> anyhow::Result<ServerPrincipal> {
        let expected = || anyhow::anyhow!("[{table}] sasl_gssapi {value:?}: expected the servers' principal SERVICE[/HOST], e.g. \"zookeeper\" or \"zookeeper/zk.example.com\"");
        if value.contains('@') {
            anyhow::bail!(
                "[{table}] sasl_gssapi {value:?}: the realm is not written here; it comes from krb5.conf ([domain_realm], or default_realm)"
            );
        }
        let (service, host) = match value.split_once('/') {
            Some((service, host)) => (service, Some(host)),
            None => (value, None),
        };
        let bad = |s: &str| s.is_empty() || s.contains('/') || s.chars().any(char::is_whitespace);
        if bad(service) || host.is_some_and(bad) {
            return Err(expected());
        }
        Ok(ServerPrincipal { service: service.to_owned(), host: host.map(str::to_owned) })
    }

    /// The host part used for a server reached as `server_host`.
    pub fn host_for<'a>(&'a self, server_host: &'a str) -> &'a str {
        self.host.as_deref().unwrap_or(server_host)
    }
}

impl std::fmt::Display for ServerPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{}/{host}", self.service),
            None => write!(f, "{}/<each server's host>", self.service),
        }
    }
}

/// Why no Kerberos login to the servers of `hosts` (a connect string) as `principal` can
/// succeed, if none can: this process's credentials, then a service ticket for each server's
/// principal (a round trip to the KDC each, until one is had; blocking). `None` when the
/// credentials are had and a ticket for at least one server: the session may then be opened.
pub fn why_login_fails(principal: &ServerPrincipal, hosts: &str) -> Option<String> {
    let gss = |what: &str, e: libgssapi::error::Error| format!("Kerberos: {what}: {}", e.to_string().trim());
    let mut krb5 = match OidSet::new() {
        Ok(set) => set,
        Err(e) => return Some(gss("no Kerberos mechanism", e)),
    };
    if let Err(e) = krb5.add(&GSS_MECH_KRB5) {
        return Some(gss("no Kerberos mechanism", e));
    }
    if let Err(e) = Cred::acquire(None, None, CredUsage::Initiate, Some(&krb5)) {
        return Some(gss("this process's credentials (KRB5_CLIENT_KTNAME or KRB5CCNAME)", e));
    }
    // One ticket request per distinct principal, wherever a host repeats in the connect string.
    let mut seen = std::collections::HashSet::new();
    let targets: Vec<&str> = server_hosts(hosts).map(|host| principal.host_for(host)).filter(|host| seen.insert(*host)).collect();
    let mut first_failure = None;
    for host in targets {
        let target = format!("{}@{host}", principal.service);
        let ticket = Name::new(target.as_bytes(), Some(&GSS_NT_HOSTBASED_SERVICE)).and_then(|name| {
            ClientCtx::new(None, name, CtxFlags::GSS_C_MUTUAL_FLAG, Some(&GSS_MECH_KRB5)).step(None, None)
        });
        match ticket {
            Ok(_) => return None,
            Err(e) => {
                first_failure.get_or_insert_with(|| gss(&format!("a ticket for {}/{host}", principal.service), e));
            }
        }
    }
    first_failure
}

/// The host of each server in a connect string `HOST:PORT[,HOST:PORT...]`.
fn server_hosts(hosts: &str) -> impl Iterator<Item = &str> {
    hosts.split(',').map(|server| {
        let server = server.trim();
        match server.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => server.rsplit_once(':').map_or(server, |(host, _)| host),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_principal_is_service_and_maybe_host_never_a_realm() {
        let p = ServerPrincipal::parse("ledger", "zookeeper").unwrap();
        assert_eq!(p, ServerPrincipal { service: "zookeeper".into(), host: None });
        assert_eq!(p.host_for("zk-2.example.com"), "zk-2.example.com");
        let fixed = ServerPrincipal::parse("ledger", "zookeeper/zk.example.com").unwrap();
        assert_eq!(fixed.host_for("10.0.0.7"), "zk.example.com");
        assert_eq!(fixed.to_string(), "zookeeper/zk.example.com");
        let realm = ServerPrincipal::parse("zookeeper", "zookeeper/zk@EXAMPLE.COM").unwrap_err().to_string();
        assert!(realm.starts_with("[zookeeper] sasl_gssapi") && realm.contains("krb5.conf"), "{realm}");
        for bad in ["", "/zk", "zookeeper/", "a/b/c", "zoo keeper"] {
            let e = ServerPrincipal::parse("ledger", bad).unwrap_err().to_string();
            assert!(e.contains("expected the servers' principal SERVICE[/HOST]"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn each_server_of_a_connect_string_names_its_host() {
        let hosts = |s| server_hosts(s).collect::<Vec<_>>();
        assert_eq!(hosts("zk-1.example.com:2181,zk-2.example.com:2181"), ["zk-1.example.com", "zk-2.example.com"]);
        assert_eq!(hosts("127.0.0.1:2181"), ["127.0.0.1"]);
        assert_eq!(hosts("[::1]:2181,[::1]:2182"), ["::1", "::1"]);
        assert_eq!(hosts("localhost"), ["localhost"]);
    }
}
