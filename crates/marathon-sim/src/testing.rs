//! A throwaway ZooKeeper for tests: Debian's `zookeeper` package (3.8), started on a free loopback
//! port in a temporary directory, without its admin web server, and killed when dropped.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let zk = marathon_sim::testing::ZooKeeper::start()?;
//! let connect = zk.connect_string(); // "127.0.0.1:PORT"
//! # Ok(()) }
//! ```
//!
//! [`Ensemble`] runs several servers as one ensemble (a leader elected among them), for what
//! happens when one of them is lost. [`Kdc`] is a Kerberos realm of its own, for a server that
//! takes Kerberos logins only ([`ZooKeeper::start_requiring_kerberos`]).
//!
//! The classpath defaults to `/usr/share/java/*` (where Debian puts the jars); set
//! `ZOOKEEPER_CLASSPATH` to override it and `JAVA` to pick the java binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

mod kdc;

pub use kdc::Kdc;

/// The server's JAAS configuration, beside `zoo.cfg`, when it takes SASL logins.
const JAAS: &str = "jaas.conf";
/// The Kerberos configuration the server's JVM reads, beside `zoo.cfg`, when it takes Kerberos
/// logins.
const KRB5_CONF: &str = "krb5.conf";
/// The Kerberos principal of a server that takes Kerberos logins, in [`Kdc::REALM`]: the
/// service `zookeeper` on the host `localhost`, as clients name a server they reach as
/// `localhost` (or are told its host is).
pub const ZOOKEEPER_PRINCIPAL: &str = "zookeeper/localhost";

/// A running ZooKeeper server; the process is killed and its data removed on drop.
pub struct ZooKeeper {
    child: Child,
    port: u16,
    /// The TLS port, for a server started with [`ZooKeeper::start_with_tls`].
    secure_port: Option<u16>,
    dir: tempfile::TempDir,
}

/// What a server takes beside plain connections.
#[derive(Clone, Copy, Default)]
struct Extras<'a> {
    /// SASL DIGEST-MD5 logins required, for this user and password.
    sasl: Option<(&'a str, &'a str)>,
    /// SASL GSSAPI (Kerberos) logins required, of principals of this realm.
    kerberos: Option<&'a Kdc>,
    /// TLS on a port of its own: (CA PEM, the server's certificate PEM, its key PEM). Clients
    /// must show a certificate signed by the CA (ZooKeeper's default, `ssl.clientAuth=need`).
    tls: Option<(&'a str, &'a str, &'a str)>,
}

impl ZooKeeper {
    /// Starts a standalone server on 127.0.0.1 and a free port, and waits until it answers `ruok`.
    pub fn start() -> anyhow::Result<ZooKeeper> {
        Self::start_with_fsync(true)
    }

    /// As [`ZooKeeper::start`], with `forceSync=no`: its transaction log is not fsync'd. For
    /// benchmarks only, to tell what a ledger costs apart from the disk under the ensemble.
    pub fn start_without_fsync() -> anyhow::Result<ZooKeeper> {
        Self::start_with_fsync(false)
    }

    /// As [`ZooKeeper::start`], with SASL enforced: a session must log in with DIGEST-MD5 as
    /// `user` with `password` (the server's JAAS `Server` section) before it may do anything
    /// (`enforce.auth.schemes=sasl`).
    pub fn start_requiring_sasl(user: &str, password: &str) -> anyhow::Result<ZooKeeper> {
        Self::start_with(true, Extras { sasl: Some((user, password)), ..Extras::default() })
    }

    /// As [`ZooKeeper::start`], with Kerberos enforced: a session must log in with SASL GSSAPI
    /// as a principal of `kdc`'s realm before it may do anything. The server is
    /// [`ZOOKEEPER_PRINCIPAL`], its keytab made by `kdc`.
    pub fn start_requiring_kerberos(kdc: &Kdc) -> anyhow::Result<ZooKeeper> {
        Self::start_with(true, Extras { kerberos: Some(kdc), ..Extras::default() })
    }

    /// As [`ZooKeeper::start`], and TLS on a second port ([`ZooKeeper::secure_connect_string`])
    /// with the server's certificate `cert_pem` and key `key_pem`; a client must show a
    /// certificate that `ca_pem` signed. Netty serves both ports.
    pub fn start_with_tls(ca_pem: &str, cert_pem: &str, key_pem: &str) -> anyhow::Result<ZooKeeper> {
        Self::start_with(true, Extras { tls: Some((ca_pem, cert_pem, key_pem)), ..Extras::default() })
    }

    fn start_with_fsync(fsync: bool) -> anyhow::Result<ZooKeeper> {
        Self::start_with(fsync, Extras::default())
    }

    fn start_with(fsync: bool, extras: Extras) -> anyhow::Result<ZooKeeper> {
        // Another process may grab the port between probe and bind: retry a few times.
        let mut last_err = None;
        for _ in 0..3 {
            match Self::start_once(fsync, extras) {
                Ok(zk) => return Ok(zk),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap())
    }

    fn start_once(fsync: bool, extras: Extras) -> anyhow::Result<ZooKeeper> {
        let sasl = extras.sasl;
        let requires_sasl = sasl.is_some() || extras.kerberos.is_some();
        let port = free_port()?;
        let dir = tempfile::Builder::new().prefix("sim-zk-").tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,dump,mntr,srst\n\
                 maxClientCnxns=200\nforceSync={}\n{}",
                data.display(),
                if fsync { "yes" } else { "no" },
                if requires_sasl {
                    "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
                     enforce.auth.enabled=true\nenforce.auth.schemes=sasl\n"
                } else {
                    ""
                }
            ),
        )?;
        let secure_port = match extras.tls {
            Some((ca, cert, key)) => Some(Self::configure_tls(dir.path(), &cfg, (ca, cert, key))?),
            None => None,
        };
        if let Some((user, password)) = sasl {
            std::fs::write(
                dir.path().join(JAAS),
                format!("Server {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_{user}=\"{password}\";\n}};\n"),
            )?;
        }
        if let Some(kdc) = extras.kerberos {
            let keytab = kdc.add_principal(ZOOKEEPER_PRINCIPAL)?;
            std::fs::write(dir.path().join(JAAS), krb5_login("Server", &keytab, ZOOKEEPER_PRINCIPAL))?;
            std::fs::copy(kdc.krb5_conf(), dir.path().join(KRB5_CONF))?;
        }
        let log = std::fs::File::create(dir.path().join("zookeeper.log"))?;
        let child = spawn_server(STANDALONE, &cfg, log)?;
        let mut zk = ZooKeeper { child, port, secure_port, dir };
        zk.wait_ready(Duration::from_secs(30))?;
        Ok(zk)
    }

    /// Adds a TLS port to `cfg`, with the PEM files it needs in `dir`; returns the port.
    fn configure_tls(dir: &Path, cfg: &Path, (ca, cert, key): (&str, &str, &str)) -> anyhow::Result<u16> {
        let port = free_port()?;
        let (keystore, truststore) = (dir.join("server.pem"), dir.join("ca.pem"));
        std::fs::write(&keystore, format!("{key}\n{cert}"))?;
        std::fs::write(&truststore, ca)?;
        let mut text = std::fs::read_to_string(cfg)?;
        text += &format!(
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\nsecureClientPort={port}\n\
             secureClientPortAddress=127.0.0.1\nssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\nssl.hostnameVerification=false\n",
            keystore.display(),
            truststore.display()
        );
        std::fs::write(cfg, text)?;
        Ok(port)
    }

    /// Kills the server as a crash would (SIGKILL), keeping its port, configuration and data
    /// directory for [`ZooKeeper::restart`]. Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again (stopping it first if it runs) on the same port, from the same
    /// data directory, so that znodes and unexpired sessions survive as across a real restart;
    /// returns once it answers `ruok`. Its output is appended to the same `zookeeper.log`.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let cfg = self.dir.path().join("zoo.cfg");
        // The old listening socket may take a moment to be released: a server that cannot bind
        // exits, and is started again.
        let mut last_err = None;
        for _ in 0..5 {
            let log = std::fs::OpenOptions::new().append(true).create(true).open(self.dir.path().join("zookeeper.log"))?;
            self.child = spawn_server(STANDALONE, &cfg, log)?;
            match self.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(()),
                Err(err) => {
                    self.stop();
                    last_err = Some(err);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        Err(last_err.unwrap())
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("ZooKeeper exited with {status}; log:\n{}", self.log_tail());
            }
            if four_letter(self.addr(), "ruok").map(|r| r == "imok").unwrap_or(false) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("ZooKeeper did not answer on {} within {timeout:?}; log:\n{}", self.addr(), self.log_tail())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The connect string for clients, `127.0.0.1:PORT`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// The TLS port's connect string, `127.0.0.1:PORT`, for a server started with
    /// [`ZooKeeper::start_with_tls`].
    pub fn secure_connect_string(&self) -> Option<String> {
        self.secure_port.map(|p| format!("127.0.0.1:{p}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary directory (config, data, `zookeeper.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(self.dir.path())
    }

    /// Runs ZooKeeper's own Java command-line client (`ZooKeeperMain`) against this server, logged
    /// in to `kdc`'s realm as `principal` from `keytab`, with `command` (e.g. `["getAcl",
    /// "/path"]`); returns what it printed. The server is reached as `localhost`, the host of
    /// [`ZOOKEEPER_PRINCIPAL`].
    pub fn java_cli_with_kerberos(&self, kdc: &Kdc, keytab: &Path, principal: &str, command: &[&str]) -> anyhow::Result<String> {
        let jaas = self.scratch(&format!("cli-{}.jaas", principal.replace('/', "_")));
        std::fs::write(&jaas, krb5_login("Client", keytab, principal))?;
        let out = java()
            .arg(format!("-Djava.security.auth.login.config={}", jaas.display()))
            .arg(format!("-Djava.security.krb5.conf={}", kdc.krb5_conf().display()))
            .arg("-cp")
            .arg(zookeeper_classpath())
            .arg("org.apache.zookeeper.ZooKeeperMain")
            .args(["-server", &format!("localhost:{}", self.port)])
            .args(command)
            .stdin(Stdio::null())
            .output()
            .context("running ZooKeeper's Java client")?;
        Ok(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }

    /// The server's process id (e.g. to give it cores of its own with `taskset`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A path under the server's temp dir (kept until drop).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JAAS section `section` logging in to Kerberos as `principal` from `keytab`.
fn krb5_login(section: &str, keytab: &Path, principal: &str) -> String {
    format!(
        "{section} {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  keyTab=\"{}\"\n  \
         storeKey=true\n  useTicketCache=false\n  principal=\"{principal}@{}\";\n}};\n",
        keytab.display(),
        Kdc::REALM
    )
}

/// The last 30 lines of the `zookeeper.log` in a server's directory `dir`.
fn log_tail(dir: &Path) -> String {
    last_lines(&dir.join("zookeeper.log"), 30)
}

/// The last `n` lines of the file at `path` (nothing when it cannot be read).
fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The main class of a standalone server.
const STANDALONE: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
/// The main class of an ensemble's member.
const QUORUM_PEER: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// Runs ZooKeeper's `main` class with `cfg`, its output into `log`; with the JAAS file beside
/// `cfg`, when there is one.
fn spawn_server(main: &str, cfg: &Path, log: std::fs::File) -> anyhow::Result<Child> {
    let mut command = java();
    let jaas = cfg.with_file_name(JAAS);
    if jaas.exists() {
        command.arg(format!("-Djava.security.auth.login.config={}", jaas.display()));
    }
    let krb5_conf = cfg.with_file_name(KRB5_CONF);
    if krb5_conf.exists() {
        command.arg(format!("-Djava.security.krb5.conf={}", krb5_conf.display()));
    }
    command
        .arg("-Dzookeeper.admin.enableServer=false")
        .arg("-Xmx256m")
        .arg("-cp")
        .arg(zookeeper_classpath())
        .arg(main)
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ZooKeeper (is Debian's `zookeeper` package and a JRE installed?)")
}

/// The java binary (`JAVA`, or `java` on the `PATH`).
fn java() -> Command {
    Command::new(std::env::var("JAVA").unwrap_or_else(|_| "java".into()))
}

/// ZooKeeper's jars (`ZOOKEEPER_CLASSPATH`, or where Debian puts them).
fn zookeeper_classpath() -> String {
    std::env::var("ZOOKEEPER_CLASSPATH").unwrap_or_else(|_| "/usr/share/java/*".into())
}

/// Servers of one ensemble on loopback (`QuorumPeerMain`), each with a directory of its own,
/// electing a leader among themselves as a production ensemble does; every one is killed and its
/// data removed on drop. A short tick (500 ms) keeps elections quick; sessions may then last 1 s
/// to 10 s.
pub struct Ensemble {
    members: Vec<Member>,
}

struct Member {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Ensemble {
    /// Starts `n` servers and waits until each serves as leader or follower.
    pub fn start(n: usize) -> anyhow::Result<Ensemble> {
        let ports: Vec<(u16, u16, u16)> = (0..n).map(|_| Ok((free_port()?, free_port()?, free_port()?))).collect::<std::io::Result<_>>()?;
        let peers: String = ports.iter().enumerate().map(|(i, (_, quorum, election))| format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1)).collect();
        let mut members = Vec::with_capacity(n);
        for (i, (port, _, _)) in ports.iter().enumerate() {
            let dir = tempfile::Builder::new().prefix("sim-zk-ensemble-").tempdir()?;
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data)?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            std::fs::write(
                dir.path().join("zoo.cfg"),
                format!(
                    "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                     admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,dump,mntr,srst\nmaxClientCnxns=200\n{peers}",
                    data.display()
                ),
            )?;
            members.push(Member { child: None, port: *port, dir });
        }
        let mut ensemble = Ensemble { members };
        for i in 0..n {
            ensemble.start_member(i)?;
        }
        for i in 0..n {
            ensemble.wait_serving(i, Duration::from_secs(60))?;
        }
        Ok(ensemble)
    }

    fn start_member(&mut self, i: usize) -> anyhow::Result<()> {
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new().append(true).create(true).open(m.dir.path().join("zookeeper.log"))?;
        m.child = Some(spawn_server(QUORUM_PEER, &m.dir.path().join("zoo.cfg"), log)?);
        Ok(())
    }

    fn wait_serving(&mut self, i: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.members[i].child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                bail!("ZooKeeper server {} exited with {status}; log:\n{}", i + 1, self.log_tail(i));
            }
            if self.mode(i).is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("ZooKeeper server {} did not join its ensemble within {timeout:?}; log:\n{}", i + 1, self.log_tail(i))
    }

    /// `HOST:PORT,HOST:PORT,...` of every member.
    pub fn connect_string(&self) -> String {
        self.members.iter().map(|m| format!("127.0.0.1:{}", m.port)).collect::<Vec<_>>().join(",")
    }

    /// Member `i`'s client address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.members[i].port))
    }

    /// `leader` or `follower` while member `i` serves clients; `None` while it is down or
    /// electing.
    pub fn mode(&self, i: usize) -> Option<String> {
        let srvr = four_letter(self.addr(i), "srvr").ok()?;
        let mode = srvr.lines().find_map(|l| l.strip_prefix("Mode: "))?.trim().to_string();
        matches!(mode.as_str(), "leader" | "follower").then_some(mode)
    }

    /// The member that leads now, if one does.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Kills member `i` as a crash would (SIGKILL), keeping its data for [`Ensemble::restart`].
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again from its data and waits until it serves.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.stop(i);
        self.start_member(i)?;
        self.wait_serving(i, Duration::from_secs(60))
    }

    /// The last lines of member `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize) -> String {
        log_tail(self.members[i].dir.path())
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}

/// Sends a ZooKeeper four-letter word and returns the answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(word.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// A loopback port that was free a moment ago, for a process a test starts.
///
/// Not one the kernel hands out (`127.0.0.1:0`): those come from the ephemeral range, where every
/// outgoing connection of a busy test run also takes its port, so the child that binds it a
/// moment later can find it taken. These come from below that range (Linux: 32768 and up), at a
/// random place per process, and are never handed out twice by one process.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = || {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        (t ^ std::process::id().wrapping_mul(2_654_435_761)) % SPAN
    };
    let _ = NEXT.compare_exchange(u32::MAX, seed(), Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
