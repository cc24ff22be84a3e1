//! Shared by the end-to-end tests at the root (`crate::harness` in `tests/main.rs`; included with
//! `#[path]` by `tests/shared_ledger.rs`, a binary of its own): the binary started as a Marathon
//! simulator and as the proxy in front of it, on free loopback ports, killed on drop; the Python
//! venv that `.ci/run` creates; and the suite's one way to wait ([`eventually_blocking`], the
//! crates' tests' own, from `proxy::test_util`).
#![allow(dead_code)]

// Each binary including this file uses a part of it.
#[allow(unused_imports)]
pub use proxy::test_util::{eventually, eventually_blocking, no_hang, showing, Look, Showing, What, PATIENCE};

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_marathon-admission");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Environment variable naming the venv with `marathon` and `marathon-deploy`; default `.ci/venv`.
pub const VENV_ENV: &str = "MARATHON_ADMISSION_CLIENTS_VENV";

/// A port that was free a moment ago, outside the range outgoing connections take theirs from.
pub fn free_port() -> u16 {
    marathon_sim::testing::free_port().expect("a free loopback port")
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "marathon-admission-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop; its stderr goes to a file for failure messages.
pub struct Child {
    pub child: std::process::Child,
    pub log: PathBuf,
    pub what: String,
}

impl Child {
    pub fn spawn(what: &str, args: &[&str], log: PathBuf, envs: &[(&str, &str)]) -> Child {
        let err = fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(args).stdin(Stdio::null()).stdout(err.try_clone().unwrap()).stderr(err);
        // Nothing from the caller's environment may redirect the proxy.
        for k in [
            "MARATHON_ADMISSION_LISTEN",
            "MARATHON_ADMISSION_ADMIN_LISTEN",
            "MARATHON_ADMISSION_MARATHON",
            "MARATHON_ADMISSION_CREDENTIALS",
            "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
            "MESOSPHERE_HTTP_CREDENTIALS",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {BIN} {args:?}: {e}"));
        Child { child, log, what: what.to_owned() }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}); its output:\n{}", self.what, self.log_text());
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::blocking::Client {
    // A request that hangs fails, after the same patience as any wait.
    reqwest::blocking::Client::builder().timeout(PATIENCE).build().unwrap()
}

/// Polls `url` until it answers 200, while `child` is alive; fails with its log.
pub fn wait_200(child: &mut Child, url: &str) {
    let c = http();
    let log = child.log.clone();
    let what = showing(format!("{url} answers 200 ({})", child.what), || format!("its output:\n{}", fs::read_to_string(&log).unwrap_or_default()));
    eventually_blocking(what, || {
        child.check_alive();
        match c.get(url).send() {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{} {}", r.status(), r.text().unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// How to start a simulator + proxy pair.
pub struct StackOpts {
    /// `sim --marathon-version`.
    pub marathon_version: &'static str,
    /// The simulator's `--zk-max-node-size` and the proxy's `[admission] zk_max_node_size`.
    pub zk_max_node_size: u64,
    /// Extra lines for the proxy's `[admission]` table.
    pub admission_extra: String,
    /// `sim --deploy-delay`.
    pub deploy_delay_ms: u64,
    /// The proxy's `[runtime] worker_threads` (0: one per core; 1: everything on one thread).
    pub worker_threads: usize,
    /// `user:password`: the simulator requires them (`--http-credentials`), and the proxy
    /// reads with them (`MARATHON_ADMISSION_CREDENTIALS`).
    pub http_credentials: Option<&'static str>,
    /// More arguments for `sim` (e.g. `--dcos-service-account UID=KEY.pem`).
    pub sim_args: Vec<String>,
    /// More tables for the proxy's `proxy.toml` (e.g. `[upstream.auth]`).
    pub proxy_tables: String,
    /// The proxy's `MARATHON_ADMISSION_LOG`.
    pub log_filter: &'static str,
    /// Return once the proxy is ready (else at once: call [`Stack::wait_ready`]).
    pub wait_ready: bool,
}

impl Default for StackOpts {
    fn default() -> Self {
        StackOpts {
            marathon_version: "1.3.14",
            zk_max_node_size: 1_024_000,
            admission_extra: String::new(),
            deploy_delay_ms: 0,
            worker_threads: 0,
            http_credentials: None,
            sim_args: Vec::new(),
            proxy_tables: String::new(),
            log_filter: "info",
            wait_ready: true,
        }
    }
}

/// `marathon-admission sim` and `marathon-admission serve` in front of it, ready.
pub struct Stack {
    // Field order = drop order: the proxy goes first.
    pub proxy: Child,
    pub sim: Child,
    pub sim_url: String,
    pub proxy_url: String,
    pub admin_url: String,
    pub proxy_addr: String,
    pub admin_addr: String,
    pub dir: TempDir,
}

impl Stack {
    pub fn start(opts: StackOpts) -> Stack {
        let dir = TempDir::new("stack");
        let sim_addr = format!("127.0.0.1:{}", free_port());
        let (zk_max_node_size, deploy_delay) = (opts.zk_max_node_size.to_string(), opts.deploy_delay_ms.to_string());
        let mut sim_args = vec![
            "sim",
            "--listen",
            &sim_addr,
            "--marathon-version",
            opts.marathon_version,
            "--zk-max-node-size",
            &zk_max_node_size,
            "--deploy-delay",
            &deploy_delay,
        ];
        if let Some(c) = opts.http_credentials {
            sim_args.extend(["--http-credentials", c]);
        }
        sim_args.extend(opts.sim_args.iter().map(String::as_str));
        let mut sim = Child::spawn("marathon-admission sim", &sim_args, dir.path().join("sim.log"), &[]);
        let sim_url = format!("http://{sim_addr}");
        let ping = match opts.http_credentials {
            Some(c) => format!("http://{c}@{sim_addr}/ping"),
            None => format!("{sim_url}/ping"),
        };
        wait_200(&mut sim, &ping);

        let config = dir.write(
            "proxy.toml",
            &format!(
                "# written by tests/clients/harness.rs\n[runtime]\nworker_threads = {}\n\n{}\n\n\
                 [admission]\nzk_max_node_size = {}\nresync_interval_ms = 200\n{}\n",
                opts.worker_threads, opts.proxy_tables, opts.zk_max_node_size, opts.admission_extra
            ),
        );
        let proxy_addr = format!("127.0.0.1:{}", free_port());
        let admin_addr = format!("127.0.0.1:{}", free_port());
        let mut proxy = Child::spawn(
            "marathon-admission serve",
            &[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                &proxy_addr,
                "--admin-listen",
                &admin_addr,
                "--marathon",
                &sim_url,
            ],
            dir.path().join("proxy.log"),
            &[("MARATHON_ADMISSION_LOG", opts.log_filter), ("MARATHON_ADMISSION_CREDENTIALS", opts.http_credentials.unwrap_or(""))],
        );
        let admin_url = format!("http://{admin_addr}");
        if opts.wait_ready {
            wait_200(&mut proxy, &format!("{admin_url}/readyz"));
        }
        Stack {
            proxy,
            sim,
            sim_url,
            proxy_url: format!("http://{proxy_addr}"),
            admin_url,
            proxy_addr,
            admin_addr,
            dir,
        }
    }

    /// Waits until the proxy's `/readyz` answers 200.
    pub fn wait_ready(&mut self) {
        let url = format!("{}/readyz", self.admin_url);
        wait_200(&mut self.proxy, &url);
    }

    /// The logs of both processes, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- sim log ---\n{}\n--- proxy log ---\n{}",
            self.sim.log_text(),
            self.proxy.log_text()
        )
    }
}

/// The venv `.ci/run` creates (or `$MARATHON_ADMISSION_CLIENTS_VENV`). Missing = a failure that
/// says what to do, never a silent skip.
pub fn venv() -> PathBuf {
    let dir = std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".ci/venv"));
    let python = dir.join("bin/python");
    let deploy = dir.join("bin/marathon-deploy");
    if !python.exists() || !deploy.exists() {
        panic!(
            "the real-client tests need a Python venv with `marathon` and `marathon-deploy` from PyPI at {} \
             (or ${VENV_ENV}); it is missing or incomplete. Run .ci/run (it creates it), or: \
             python3 -m venv .ci/venv && .ci/venv/bin/pip install marathon==0.13.0 marathon-deploy==3.0.2",
            dir.display()
        );
    }
    let check = Command::new(&python)
        .args(["-c", "import marathon, marathon_deploy"])
        .output()
        .unwrap();
    if !check.status.success() {
        panic!(
            "{} cannot import marathon / marathon_deploy ({}); run .ci/run to (re)create the venv",
            python.display(),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    dir
}

/// Runs `cmd` to its end; returns its output (stdout, stderr, status). Still running after
/// [`PATIENCE`], it is a hang: killed, and the failure shows what it printed.
pub fn run_to_end(mut cmd: Command) -> Output {
    let dir = TempDir::new("out");
    let out = fs::File::create(dir.0.join("out")).unwrap();
    let err = fs::File::create(dir.0.join("err")).unwrap();
    let what = format!("{cmd:?} finishes");
    let mut child = KilledOnDrop(cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap());
    let printed = || {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            fs::read_to_string(dir.0.join("out")).unwrap_or_default(),
            fs::read_to_string(dir.0.join("err")).unwrap_or_default()
        )
    };
    let status = eventually_blocking(showing(what, printed), || child.0.try_wait().unwrap());
    Output {
        status,
        stdout: fs::read(dir.0.join("out")).unwrap(),
        stderr: fs::read(dir.0.join("err")).unwrap(),
    }
}

/// A process killed (and reaped) on drop: a test that fails while it runs leaves nothing behind.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// GET `url`, parsed as JSON.
pub fn get_json(url: &str) -> serde_json::Value {
    let text = http().get(url).send().unwrap().text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}
