//! The files in `deploy/`: the systemd unit passes `systemd-analyze verify` (and a hardening
//! score), the Marathon app definition posts to the simulator (directly and through the proxy)
//! and configures the binary it runs, the example `proxy.toml` validates, the Containerfile is
//! linted structurally, and the alert rules name only metrics the proxy exports.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn deploy(name: &str) -> PathBuf {
    Path::new(REPO).join("deploy").join(name)
}

fn read(name: &str) -> String {
    fs::read_to_string(deploy(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

fn systemd_analyze() -> &'static str {
    let ok = Command::new("systemd-analyze").arg("--version").output().map(|o| o.status.success());
    if !matches!(ok, Ok(true)) {
        panic!(
            "systemd-analyze not found: install Debian's `systemd` package (.ci/run does: \
             apt-get install systemd), then rerun"
        );
    }
    "systemd-analyze"
}

/// The unit with its binary path pointing at the binary under test (verify checks that every
/// Exec*= command exists and is executable).
fn unit_under_test(dir: &TempDir) -> PathBuf {
    let text = read("marathon-admission.service");
    assert!(text.contains("ExecStart=/usr/local/bin/marathon-admission serve"), "{text}");
    dir.write("marathon-admission.service", &text.replace("/usr/local/bin/marathon-admission", BIN))
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let tool = systemd_analyze();
    let dir = TempDir::new("unit");
    let unit = unit_under_test(&dir);
    let out = Command::new(tool)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .current_dir(dir.path())
        .output()
        .unwrap();
    // A warning (an unknown key, a bad value) is printed but does not change the exit code: both
    // must be clean.
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(), "{}", show(&out));

    // The check would catch a mistake: the same unit with a typo fails it.
    let bad = dir.write(
        "broken.service",
        &fs::read_to_string(&unit).unwrap().replace("ProtectSystem=strict", "ProtectSystem=strikt"),
    );
    let out = Command::new(tool).args(["verify", "--man=no"]).arg(&bad).current_dir(dir.path()).output().unwrap();
    assert!(!out.stderr.is_empty(), "a broken unit went unnoticed: {}", show(&out));
}

#[test]
fn systemd_unit_is_hardened() {
    let tool = systemd_analyze();
    let dir = TempDir::new("unit-sec");
    let unit = unit_under_test(&dir);
    let out = Command::new(tool)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    // 0 = fully locked down, 10 = unprotected; "OK" is below 3.5 in systemd's own scale.
    assert!(score <= 2.0, "exposure {score} (want <= 2.0):\n{text}");
    let unit_text = read("marathon-admission.service");
    for key in ["DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n"] {
        assert!(unit_text.contains(key), "{key} missing");
    }
}

#[test]
fn systemd_unit_commands_and_example_config_are_valid_for_the_binary() {
    // The unit runs `serve --check-config --config /etc/marathon-admission/proxy.toml` and then
    // `serve --config ...`, with deploy/proxy.toml installed there.
    let out = Command::new(BIN)
        .args(["serve", "--check-config", "--config"])
        .arg(deploy("proxy.toml"))
        .env_remove("MARATHON_ADMISSION_MARATHON")
        .env_remove("MARATHON_ADMISSION_LISTEN")
        .env_remove("MARATHON_ADMISSION_ADMIN_LISTEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK (listen 0.0.0.0:8081, admin 127.0.0.1:9102"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unknown"), "{}", show(&out));
}

#[test]
fn a_misspelt_table_fails_check_config_and_start_naming_the_line_and_the_table_meant() {
    // Ignored, `[[qouta]]` would leave the groups without their quotas and nobody told.
    let good = read("proxy.toml");
    let line = good.lines().count() + 2;
    let dir = TempDir::new("typo");
    let file = dir.write("proxy.toml", &format!("{good}\n[[qouta]]\ngroup = \"/dev\"\nmax_apps = 3\n"));
    let expected = format!("unknown table `qouta` at line {line}; did you mean `quota`?");
    for args in [&["serve", "--check-config", "--config"][..], &["serve", "--config"][..]] {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg(&file).args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
        cmd.env_remove("MARATHON_ADMISSION_MARATHON");
        let out = run_to_end(cmd);
        assert!(!out.status.success(), "{args:?} accepted the typo: {}", show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&expected), "{args:?}: want {expected:?}: {}", show(&out));
    }
}

fn app_definition() -> serde_json::Value {
    serde_json::from_str(&read("marathon-admission.marathon.json")).expect("deploy/marathon-admission.marathon.json is JSON")
}

#[test]
fn marathon_app_definition_is_consistent_with_the_binary() {
    let app = app_definition();
    assert_eq!(app["instances"], 2);
    let mappings = app["container"]["docker"]["portMappings"].as_array().unwrap();
    let names: Vec<&str> = mappings.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "admin"]);
    let hc = &app["healthChecks"][0];
    assert_eq!(hc["path"], "/healthz");
    assert_eq!(mappings[hc["portIndex"].as_u64().unwrap() as usize]["name"], "admin", "health check on the admin port");
    assert_eq!(app["readinessChecks"][0]["portName"], "admin");
    assert_eq!(app["readinessChecks"][0]["path"], "/readyz");
    assert_eq!(app["constraints"][0], serde_json::json!(["hostname", "UNIQUE"]));

    // The container's ports are where the binary listens, given the app's env.
    let env = app["env"].as_object().unwrap();
    let listen = env["MARATHON_ADMISSION_LISTEN"].as_str().unwrap();
    let admin = env["MARATHON_ADMISSION_ADMIN_LISTEN"].as_str().unwrap();
    assert!(listen.ends_with(&format!(":{}", mappings[0]["containerPort"])), "{listen}");
    assert!(admin.ends_with(&format!(":{}", mappings[1]["containerPort"])), "{admin}");

    // Its args and env make a valid configuration (the config path replaced by the example the
    // Containerfile installs there).
    let args: Vec<String> = app["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().replace("/etc/marathon-admission/proxy.toml", deploy("proxy.toml").to_str().unwrap()))
        .collect();
    assert_eq!(args[0], "serve");
    let mut cmd = Command::new(BIN);
    cmd.args(&args).arg("--check-config");
    for (k, v) in env {
        cmd.env(k, v.as_str().unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("listen {listen}, admin {admin}, marathon http://marathon.mesos:8080")),
        "{stdout}"
    );
    // The replicas share one budget through Marathon's ZooKeeper.
    assert!(stdout.contains("ledger: shared through ZooKeeper at master.mesos:2181/marathon-admission/ledger"), "{stdout}");
}

#[test]
fn marathon_app_definition_posts_to_the_simulator_directly_and_through_the_proxy() {
    let body = read("marathon-admission.marathon.json");
    let app = app_definition();
    for version in ["1.3.14", "1.4.13"] {
        let stack = Stack::start(StackOpts { marathon_version: version, ..StackOpts::default() });
        let c = http();
        for (base, id) in [(&stack.sim_url, "/platform/marathon-admission"), (&stack.proxy_url, "/platform2/marathon-admission")] {
            let r = c
                .post(format!("{base}/v2/apps"))
                .header("Content-Type", "application/json")
                .body(body.replace("/platform/marathon-admission", id))
                .send()
                .unwrap();
            let status = r.status();
            let text = r.text().unwrap();
            assert_eq!(status, 201, "{version} POST {base}/v2/apps: {text}\n{}", stack.logs());
            let created: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(created["id"], id);

            let live = get_json(&format!("{}/v2/apps{id}", stack.sim_url));
            let live = &live["app"];
            for key in ["instances", "args", "env", "constraints", "labels"] {
                assert_eq!(live[key], app[key], "{version}: {key} as Marathon stored it");
            }
            for key in ["cpus", "mem"] {
                assert_eq!(live[key].as_f64(), app[key].as_f64(), "{version}: {key}");
            }
            assert_eq!(live["readinessChecks"][0]["portName"], "admin", "{version}");
            assert_eq!(live["healthChecks"][0]["path"], "/healthz", "{version}");
            assert_eq!(
                live["container"]["docker"]["portMappings"].as_array().map(|a| a.len()),
                Some(2),
                "{version}: {live}"
            );
        }
    }
}

// --- Containerfile ---------------------------------------------------------------------------

#[derive(Debug)]
struct Instruction {
    line: usize,
    op: String,
    args: String,
}

/// Joins continuation lines, drops comments and blank lines (Dockerfile syntax).
fn parse_containerfile(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if current.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if current.is_some() && trimmed.starts_with('#') {
            continue;
        }
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        let (body, cont) = match trimmed.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        acc.push_str(body);
        acc.push(' ');
        if cont {
            current = Some((start, acc));
        } else {
            let acc = acc.trim().to_string();
            let (op, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
            out.push(Instruction { line: start, op: op.to_ascii_uppercase(), args: args.trim().to_string() });
        }
    }
    assert!(current.is_none(), "Containerfile ends inside a continued line");
    out
}

#[test]
fn containerfile_is_multi_stage_debian_slim_and_runs_as_non_root() {
    let text = read("Containerfile");
    let ins = parse_containerfile(&text);
    const KNOWN: &[&str] = &[
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    ];
    for i in &ins {
        assert!(KNOWN.contains(&i.op.as_str()), "line {}: unknown instruction {}", i.line, i.op);
        assert!(!i.args.is_empty(), "line {}: {} without arguments", i.line, i.op);
    }
    // ARGs before the first FROM may be used in FROM lines.
    let global_args: BTreeSet<String> = ins
        .iter()
        .take_while(|i| i.op != "FROM")
        .filter(|i| i.op == "ARG")
        .map(|i| i.args.split('=').next().unwrap().to_string())
        .collect();

    // Stages.
    let mut stages: Vec<(String, Vec<&Instruction>)> = Vec::new();
    for i in &ins {
        if i.op == "FROM" {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_image, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                [_image] => format!("#{}", stages.len()),
                _ => panic!("line {}: FROM {}", i.line, i.args),
            };
            for var in words[0].split("${").skip(1) {
                let var = var.split('}').next().unwrap();
                assert!(global_args.contains(var), "line {}: FROM uses ${{{var}}}, not an ARG before the first FROM", i.line);
            }
            assert!(!stages.iter().any(|(n, _)| *n == name), "line {}: stage {name} twice", i.line);
            stages.push((name, vec![i]));
        } else if let Some(last) = stages.last_mut() {
            last.1.push(i);
        } else {
            assert_eq!(i.op, "ARG", "line {}: only ARG may precede the first FROM", i.line);
        }
    }
    assert!(stages.len() >= 2, "multi-stage: {} stage(s)", stages.len());
    let (build_name, build) = &stages[0];
    assert!(build[0].args.contains("rust"), "the first stage builds with a Rust image: {}", build[0].args);
    assert!(
        build.iter().any(|i| i.op == "RUN" && i.args.contains("cargo build --release --locked")),
        "the build stage runs cargo build --release --locked"
    );

    let (_, runtime) = stages.last().unwrap();
    let base = &runtime[0].args;
    assert!(base.contains("debian:") && base.contains("-slim"), "runtime on Debian slim: FROM {base}");
    let names: BTreeSet<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    let mut copies_binary = false;
    for i in runtime.iter() {
        if i.op == "COPY" || i.op == "ADD" {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            if let Some(from) = words.iter().find_map(|w| w.strip_prefix("--from=")) {
                assert!(names.contains(from) && from != stages.last().unwrap().0, "line {}: --from={from}", i.line);
                assert_eq!(from, build_name);
                copies_binary |= i.args.contains("marathon-admission");
            } else {
                // Sources from the build context must exist in the repository.
                for src in &words[..words.len() - 1] {
                    if !src.starts_with("--") {
                        assert!(Path::new(REPO).join(src).exists(), "line {}: COPY source {src} missing", i.line);
                    }
                }
            }
            assert!(!(i.op == "ADD" && i.args.contains("://")), "line {}: ADD of a URL", i.line);
        }
        if i.op == "RUN" && i.args.contains("apt-get install") {
            assert!(i.args.contains("--no-install-recommends"), "line {}: apt-get install without --no-install-recommends", i.line);
            assert!(i.args.contains("rm -rf /var/lib/apt/lists"), "line {}: apt lists left in the image", i.line);
        }
    }
    assert!(copies_binary, "the runtime stage copies the binary from the build stage");

    // Non-root: the last USER of the final stage is neither root nor uid 0, and nothing runs after
    // it as root.
    let users: Vec<&&Instruction> = runtime.iter().filter(|i| i.op == "USER").collect();
    let user = users.last().unwrap_or_else(|| panic!("the runtime stage sets no USER (it would run as root)"));
    let who = user.args.split(':').next().unwrap();
    assert!(who != "root" && who != "0", "USER {}", user.args);
    let user_pos = runtime.iter().position(|i| std::ptr::eq(*i, **user)).unwrap();
    assert!(!runtime[user_pos..].iter().any(|i| i.op == "USER" && (i.args.starts_with("root") || i.args.starts_with('0'))));
    if who.chars().all(|c| c.is_ascii_digit()) {
        assert!(
            runtime.iter().any(|i| i.op == "RUN" && i.args.contains(&format!("--uid {who}"))),
            "USER {who} is created in the image"
        );
    }

    // Exec form for the entrypoint (signals reach the binary: graceful shutdown on SIGTERM).
    let entry = runtime.iter().rfind(|i| i.op == "ENTRYPOINT").expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry.args).expect("ENTRYPOINT in exec (JSON) form");
    assert_eq!(entry, ["/usr/local/bin/marathon-admission"]);
    let cmd = runtime.iter().rfind(|i| i.op == "CMD").expect("CMD");
    let cmd: Vec<String> = serde_json::from_str(&cmd.args).expect("CMD in exec (JSON) form");
    assert_eq!(cmd[0], "serve");

    // Exposed ports = the ports the image's environment makes the binary listen on.
    let env_text: String = runtime.iter().filter(|i| i.op == "ENV").map(|i| i.args.clone() + " ").collect();
    let exposed: BTreeSet<&str> = runtime.iter().filter(|i| i.op == "EXPOSE").flat_map(|i| i.args.split_whitespace()).collect();
    for var in ["MARATHON_ADMISSION_LISTEN=0.0.0.0:", "MARATHON_ADMISSION_ADMIN_LISTEN=0.0.0.0:"] {
        let port = env_text.split(var).nth(1).unwrap_or_else(|| panic!("{var} not set")).split_whitespace().next().unwrap();
        assert!(exposed.contains(port), "port {port} of {var} not exposed ({exposed:?})");
    }
    // The image's config file is the validated example.
    assert!(text.contains("COPY deploy/proxy.toml /etc/marathon-admission/proxy.toml"));
}

/// The runtime stage installs the Debian package of every shared library the binary links
/// (`readelf -d`, `dpkg -S`), but for the C runtime every Debian image has: a library the build
/// links (zlib for gzip as Java does it, MIT's libgssapi_krb5 for Kerberos logins to ZooKeeper)
/// would otherwise be missing from the slim image only at start.
#[test]
fn the_runtime_image_installs_every_library_the_binary_links() {
    const IN_EVERY_IMAGE: &[&str] = &["libc6", "libgcc-s1"];
    let out = Command::new("readelf").args(["-d", BIN]).output().expect("readelf (binutils, which gcc brings)");
    assert!(out.status.success(), "readelf -d {BIN}: {}", show(&out));
    let needed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).and_then(|r| r.split(']').next()).map(str::to_owned))
        .filter(|lib| !lib.starts_with("ld-linux"))
        .collect();
    assert!(needed.iter().any(|l| l.starts_with("libc.so")), "readelf found no libraries: {needed:?}");
    let arch = String::from_utf8(Command::new("dpkg").arg("--print-architecture").output().expect("dpkg").stdout).unwrap();
    let arch = format!(":{}", arch.trim());
    let packages: BTreeSet<String> = needed
        .iter()
        .map(|lib| {
            let out = Command::new("dpkg").args(["-S", &format!("*/{lib}")]).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.split_once(": ").and_then(|(pkg, _)| pkg.strip_suffix(arch.as_str())).map(str::to_owned))
                .unwrap_or_else(|| panic!("no package of this architecture holds {lib}: {}", show(&out)))
        })
        .filter(|pkg| !IN_EVERY_IMAGE.contains(&pkg.as_str()))
        .collect();
    assert!(!packages.is_empty(), "the binary links only the C runtime? {needed:?}");
    let text = read("Containerfile");
    let runtime = &text[text.rfind("\nFROM ").expect("a FROM")..];
    let installed: BTreeSet<&str> = runtime
        .split("apt-get install")
        .skip(1)
        .flat_map(|rest| rest.split("&&").next().unwrap_or("").split_whitespace())
        .filter(|w| !w.starts_with('-') && *w != "\\")
        .collect();
    for pkg in &packages {
        assert!(installed.contains(pkg.as_str()), "the runtime stage does not install {pkg} (the binary links it): installs {installed:?}");
    }
}

// --- Prometheus alert rules ------------------------------------------------------------------

#[test]
fn alert_rules_name_only_metrics_the_proxy_exports() {
    let rules = read("prometheus/marathon-admission-proxy.rules.yml");
    assert!(!rules.contains('\t'), "YAML must not contain tabs");
    assert!(rules.starts_with('#') && rules.contains("\ngroups:\n"), "a rules file starts with `groups:`");
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    let exprs = rules.matches("expr:").count();
    assert_eq!(exprs, alerts.len(), "one expr per alert");

    // The metric names used in the expressions.
    let mut used = BTreeSet::new();
    for (i, _) in rules.match_indices("marathon_admission_") {
        let name: String = rules[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        used.insert(name);
    }
    assert!(!used.is_empty());

    // A running proxy whose ledger is shared through ZooKeeper, with some traffic, exports them.
    let zk = marathon_sim::testing::ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let ledger = format!("[ledger]\nzookeeper = \"{}/marathon-admission/ledger\"\n", zk.connect_string());
    let stack = Stack::start(StackOpts { proxy_tables: ledger, ..StackOpts::default() });
    let c = http();
    c.get(format!("{}/v2/apps", stack.proxy_url)).send().unwrap();
    let _ = c.get(format!("http://127.0.0.1:{}/v2/apps", free_port())).send();
    let metrics = c.get(format!("{}/metrics", stack.admin_url)).send().unwrap().text().unwrap();
    let mut families = BTreeSet::new();
    for l in metrics.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut w = rest.split_whitespace();
            let (name, kind) = (w.next().unwrap().to_string(), w.next().unwrap_or(""));
            match kind {
                "counter" => {
                    families.insert(format!("{}_total", name.trim_end_matches("_total")));
                }
                "histogram" => {
                    for s in ["_bucket", "_sum", "_count"] {
                        families.insert(format!("{name}{s}"));
                    }
                }
                _ => {
                    families.insert(name);
                }
            }
        }
    }
    for name in &used {
        assert!(families.contains(name), "{name} is not exported by the proxy; exported: {families:?}");
    }
    // Labels the rules filter on exist with those values.
    assert!(metrics.contains(r#"route="apps""#), "{metrics}");
    assert!(metrics.contains("marathon_admission_proxy_upstream_up{"), "{metrics}");
}

fn promtool() -> &'static str {
    let ok = Command::new("promtool").arg("--version").output().map(|o| o.status.success());
    if !matches!(ok, Ok(true)) {
        panic!("promtool not found: install Debian's `prometheus` package (.ci/run does: apt-get install prometheus), then rerun");
    }
    "promtool"
}

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let tool = promtool();
    let rules = deploy("prometheus/marathon-admission-proxy.rules.yml");
    let out = Command::new(tool).args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let alerts = read("prometheus/marathon-admission-proxy.rules.yml").matches("- alert: ").count();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("SUCCESS: {alerts} rules found")), "{}", show(&out));

    // The check would catch a mistake: a misspelt function fails it.
    let dir = TempDir::new("rules");
    let bad = dir.write("bad.rules.yml", &read("prometheus/marathon-admission-proxy.rules.yml").replace("predict_linear(", "predict_linaer("));
    let out = Command::new(tool).args(["check", "rules"]).arg(&bad).output().unwrap();
    assert!(!out.status.success(), "a broken rule went unnoticed: {}", show(&out));
}

/// `promtool test rules`: the wall alert, on series a scrape every minute would give, fires for a
/// headroom lost at a steady 14,400 bytes a day with 10 days left, saying "10 days"; not for a
/// flat headroom, a growing one, or one 200 days from the wall; and not before it held an hour.
#[test]
fn the_wall_alert_fires_with_the_days_left_at_the_rate_of_the_last_days() {
    let tool = promtool();
    let rules_text = read("prometheus/marathon-admission-proxy.rules.yml");
    // The alert's description, as written in the file, with the value it must show.
    let rule = rules_text.split("- alert: MarathonBudgetWallAhead").nth(1).expect("the MarathonBudgetWallAhead alert");
    let description = rule.split("description: \"").nth(1).unwrap().split("\"\n").next().unwrap();
    let description = description.replace("{{ $value | printf \\\"%.1f\\\" }}", "10.0");
    assert!(description.contains("in 10.0 days"), "{description}");
    let dir = TempDir::new("rules-test");
    let test = dir.write(
        "wall.test.yml",
        &format!(
            r#"rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # 187,200 bytes of headroom, 10 fewer every minute: 144,000 left at 72h, 14,400 a day.
      - series: 'marathon_admission_proxy_admission_headroom_bytes{{instance="a"}}'
        values: '187200-10x4400'
      - series: 'marathon_admission_proxy_admission_headroom_bytes{{instance="flat"}}'
        values: '500000+0x4400'
      - series: 'marathon_admission_proxy_admission_headroom_bytes{{instance="shrinking-usage"}}'
        values: '100000+10x4400'
      # 200 days away at 72h.
      - series: 'marathon_admission_proxy_admission_headroom_bytes{{instance="far"}}'
        values: '2923200-10x4400'
    alert_rule_test:
      - eval_time: 30m
        alertname: MarathonBudgetWallAhead
        exp_alerts: []
      - eval_time: 72h
        alertname: MarathonBudgetWallAhead
        exp_alerts:
          - exp_labels:
              severity: ticket
              instance: a
            exp_annotations:
              summary: "Marathon's ZooKeeper budget: at this rate the wall is 10 days away"
              description: "{description}"
"#,
            rules = deploy("prometheus/marathon-admission-proxy.rules.yml").display()
        ),
    );
    let out = Command::new(tool).args(["test", "rules"]).arg(&test).output().unwrap();
    assert!(out.status.success(), "{}\n{}", show(&out), fs::read_to_string(&test).unwrap());
}

// --- README configuration reference ----------------------------------------------------------

/// (table, key, default) rows of the README's "Configuration reference" table.
fn reference_rows() -> Vec<(Option<String>, String, String)> {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README.md has a `## Configuration reference` section");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let first = cells[0].trim_start_matches("| ");
        let ticks: Vec<&str> = first.split('`').skip(1).step_by(2).collect();
        let (table, keys) = match ticks.first() {
            Some(t) if t.starts_with("[[") => {
                // [[quota]], [[admission.group]]: arrays of tables, documented by name
                let name = t.trim_matches(|c| c == '[' || c == ']').rsplit('.').next().unwrap().to_string();
                rows.push((None, name, String::new()));
                continue;
            }
            Some(t) if t.starts_with('[') => (Some(t[1..].split(']').next().unwrap().to_string()), {
                // "`[upstream] connect_timeout_ms`" or "`[upstream.tls] client_cert_file`, `client_key_file`"
                let mut keys: Vec<String> = ticks.iter().map(|t| t.rsplit(' ').next().unwrap().to_string()).collect();
                keys.dedup();
                keys
            }),
            _ => (None, ticks.iter().map(|t| t.to_string()).collect()),
        };
        let default = cells.get(1).copied().unwrap_or("").trim();
        let literal = default.strip_prefix('`').and_then(|d| d.split('`').next()).unwrap_or("").to_string();
        for key in keys {
            rows.push((table.clone(), key, literal.clone()));
        }
    }
    rows
}

#[test]
fn readme_configuration_reference_defaults_are_accepted_and_cover_the_shipped_proxy_toml() {
    let rows = reference_rows();
    assert!(rows.len() >= 30, "{rows:?}");

    // Every documented default, written into one file, is a valid configuration.
    let mut top = String::new();
    let mut tables: std::collections::BTreeMap<String, String> = Default::default();
    for (table, key, literal) in &rows {
        if literal.is_empty() || literal.parse::<toml::Value>().is_err() && format!("x = {literal}").parse::<toml::Table>().is_err() {
            continue; // "absent", "(required …)", "system trust store": no literal default
        }
        if table.as_deref() == Some("listener.tls") {
            continue; // the table needs certificate files to exist
        }
        if table.as_deref() == Some("admission") && !admission_fields().contains(key) {
            continue; // documented ahead of the code; the check below is for the other direction
        }
        let line = format!("{key} = {literal}\n");
        match table {
            None => top.push_str(&line),
            Some(t) => tables.entry(t.clone()).or_default().push_str(&line),
        }
    }
    let mut text = top;
    for (t, body) in &tables {
        text.push_str(&format!("\n[{t}]\n{body}"));
    }
    assert!(text.contains("zk_max_node_size = 1024000") && text.contains("connect_timeout_ms = 2000"), "{text}");
    let dir = TempDir::new("reference");
    let file = dir.write("reference.toml", &text);
    let out = Command::new(BIN)
        .args(["serve", "--check-config", "--config"])
        .arg(&file)
        .env_remove("MARATHON_ADMISSION_MARATHON")
        .env_remove("MARATHON_ADMISSION_LISTEN")
        .env_remove("MARATHON_ADMISSION_ADMIN_LISTEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "the README's defaults as a file:\n{text}\n{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unknown"), "{}", show(&out));

    // Every key the shipped proxy.toml mentions (set or commented out) is in the reference.
    let documented: BTreeSet<String> = rows.iter().map(|(_, k, _)| k.clone()).collect();
    let shipped = fs::read_to_string(Path::new(REPO).join("proxy.toml")).unwrap();
    for line in shipped.lines() {
        let l = line.trim_start_matches('#').trim();
        if let Some((key, _)) = l.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                assert!(
                    documented.contains(key),
                    "proxy.toml's `{key}` is missing from README.md's configuration reference: add a row for it \
                     (checked by tests/deploy_files.rs)"
                );
            }
        }
    }
    // And every key of the [admission] table the proxy interprets (crates/admission-runtime/src/config.rs).
    for field in admission_fields() {
        assert!(
            documented.contains(&field),
            "[admission] {field} is missing from README.md's configuration reference: add a row \
             | `[admission] {field}` | `default` | meaning | | (checked by tests/deploy_files.rs)"
        );
    }
}

/// The fields of `[admission]`, from `struct Raw` in crates/admission-runtime/src/config.rs.
fn admission_fields() -> BTreeSet<String> {
    let admit = fs::read_to_string(Path::new(REPO).join("crates/admission-runtime/src/config.rs")).unwrap();
    let raw = admit.split("struct Raw {").nth(1).expect("struct Raw in admission-runtime/src/config.rs").split('}').next().unwrap();
    raw.lines()
        .map(|l| l.trim())
        .filter(|l| !l.starts_with("//") && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim().trim_start_matches("pub ").to_string()))
        .filter(|k| !k.is_empty())
        .collect()
}

// --- release binary ----------------------------------------------------------------------------

#[test]
fn version_prints_the_version_and_the_git_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let want = format!("marathon-admission {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&want) && text.ends_with(')'), "{text}");
    let commit = &text[want.len()..text.len() - 1];
    if Path::new(REPO).join(".git").exists() {
        assert!(commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()), "commit `{commit}` in `{text}`");
    }
}
