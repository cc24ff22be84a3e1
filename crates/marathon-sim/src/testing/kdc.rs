//! A throwaway Kerberos realm for tests: MIT's KDC (Debian's `krb5-kdc`; `kdb5_util` and
//! `kadmin.local` from `krb5-kdc` and `krb5-admin-server`) on a free loopback port, its database,
//! `krb5.conf` and keytabs in a temporary directory, killed when dropped.
//!
//! Clients find the realm through [`Kdc::krb5_conf`] (`KRB5_CONFIG`) and log in from a keytab
//! that [`Kdc::add_principal`] writes: [`Kdc::client_env`] is the environment an MIT client
//! process needs for that, and nothing of the machine's own Kerberos setup is read or touched.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{free_port, last_lines};

/// A running KDC for [`Kdc::REALM`].
pub struct Kdc {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Kdc {
    /// The realm; every principal is in it, and it is the default realm of [`Kdc::krb5_conf`].
    pub const REALM: &'static str = "ADMISSION.TEST";

    /// Creates the realm's database and starts the KDC; returns once it takes connections.
    pub fn start() -> anyhow::Result<Kdc> {
        let port = free_port()?;
        let dir = tempfile::Builder::new().prefix("sim-kdc-").tempdir()?;
        let realm = Self::REALM;
        // TCP only (`udp_preference_limit = 1`), no DNS, no reverse lookups: the host part of a
        // service principal is what the client was given.
        std::fs::write(
            dir.path().join("krb5.conf"),
            format!(
                "[libdefaults]\n  default_realm = {realm}\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n  \
                 rdns = false\n  dns_canonicalize_hostname = false\n  udp_preference_limit = 1\n\n\
                 [realms]\n  {realm} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n"
            ),
        )?;
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\n\
                 [realms]\n  {realm} = {{\n    database_name = {d}/principal\n    key_stash_file = {d}/stash\n    \
                 acl_file = {d}/kadm5.acl\n  }}\n\n[logging]\n  kdc = FILE:{d}/kdc.log\n"
            ),
        )?;
        let kdc = |program: &str| {
            let mut command = Command::new(sbin(program));
            command.env("KRB5_CONFIG", dir.path().join("krb5.conf")).env("KRB5_KDC_PROFILE", dir.path().join("kdc.conf"));
            command
        };
        run(kdc("kdb5_util").args(["create", "-s", "-r", realm, "-P", "throwaway-master-key"]))
            .context("creating the realm's database (is Debian's krb5-kdc installed?)")?;
        let child = kdc("krb5kdc")
            .args(["-n", "-r", realm])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("krb5kdc.out"))?)
            .spawn()
            .context("starting krb5kdc (is Debian's krb5-kdc installed?)")?;
        let mut started = Kdc { child, port, dir };
        started.wait_listening(Duration::from_secs(20))?;
        Ok(started)
    }

    fn wait_listening(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("krb5kdc exited with {status}: {}", self.log_tail());
            }
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("krb5kdc did not listen on {} within {timeout:?}: {}", self.addr(), self.log_tail())
    }

    /// Adds `principal` (`name` or `service/host`, in [`Kdc::REALM`]) with a random key, and
    /// returns a keytab holding it.
    pub fn add_principal(&self, principal: &str) -> anyhow::Result<PathBuf> {
        let keytab = self.dir.path().join(format!("{}.keytab", principal.replace('/', "_")));
        for query in [format!("addprinc -randkey {principal}"), format!("ktadd -k {} {principal}", keytab.display())] {
            run(Command::new(sbin("kadmin.local"))
                .env("KRB5_CONFIG", self.krb5_conf())
                .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
                .args(["-r", Self::REALM, "-q", &query]))
            .with_context(|| format!("kadmin.local {query:?} (is Debian's krb5-admin-server installed?)"))?;
        }
        // kadmin.local reports a failed query on its output and exits 0.
        if !keytab.exists() {
            bail!("kadmin.local wrote no keytab for {principal}; the KDC's log:\n{}", self.log_tail());
        }
        Ok(keytab)
    }

    /// The realm's `krb5.conf` (what `KRB5_CONFIG` and Java's `java.security.krb5.conf` name).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The environment of an MIT Kerberos client process that logs in from `keytab`: this
    /// realm's configuration, the keytab as its client keytab (the library gets its tickets from
    /// it), and a ticket cache in the process's memory.
    pub fn client_env(&self, keytab: &Path) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".into(), self.krb5_conf().display().to_string()),
            ("KRB5_CLIENT_KTNAME".into(), keytab.display().to_string()),
            ("KRB5CCNAME".into(), "MEMORY:".into()),
        ]
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The KDC's log (each ticket it issued or refused), for failure messages.
    pub fn log_tail(&self) -> String {
        last_lines(&self.dir.path().join("kdc.log"), 20)
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` from `/usr/sbin` (where Debian puts the KDC's tools, off an unprivileged `PATH`).
fn sbin(program: &str) -> PathBuf {
    let installed = Path::new("/usr/sbin").join(program);
    if installed.exists() {
        installed
    } else {
        PathBuf::from(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!("{}: {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
