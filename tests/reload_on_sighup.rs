//! `kill -HUP <pid>` makes a running `serve` reload its `[[quota]]` and `[[exemption]]` entries,
//! even from a file that has not changed (README, "Quotas and exemptions"). A signal goes to a
//! whole process: here to a `serve` of its own, a child of this test, never to the test process.

use std::fs;
use std::process::Command;

use crate::harness::*;

fn quota(max_apps: u32) -> String {
    format!("[[quota]]\ngroup = \"/dev\"\nmax_apps = {max_apps}\n")
}

/// `config_reloads_total` of the proxy's admin `/metrics`.
fn reloads(stack: &Stack) -> f64 {
    const SERIES: &str = "marathon_admission_proxy_config_reloads_total ";
    let text = http().get(format!("{}/metrics", stack.admin_url)).send().unwrap().text().unwrap();
    let value = text.lines().find_map(|l| l.strip_prefix(SERIES)).and_then(|v| v.trim().parse().ok());
    value.unwrap_or_else(|| panic!("no {SERIES}in\n{text}"))
}

/// The `max_apps` in force for /dev, from the usage API.
fn dev_max_apps(stack: &Stack) -> Option<f64> {
    let v = get_json(&format!("{}/admission/v1/groups", stack.proxy_url));
    v["quotas"].as_array()?.iter().find(|q| q["group"] == "/dev")?["resources"]
        .as_array()?
        .iter()
        .find(|r| r["resource"] == "apps")?["limit"]
        .as_f64()
}

#[test]
fn sighup_reloads_the_quotas_of_an_unchanged_file() {
    let stack = Stack::start(StackOpts { admission_extra: format!("audit_log = \"off\"\n{}", quota(1)), ..StackOpts::default() });
    let file = stack.dir.path().join("proxy.toml");
    let logs = || stack.logs();
    assert_eq!(dev_max_apps(&stack), Some(1.0));
    let loaded = reloads(&stack);

    // The watcher is running, its SIGHUP handler in place before it first looks at the file: a
    // changed file is applied (written whole, then renamed over the old one).
    let text = fs::read_to_string(&file).unwrap();
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, text.replace(&quota(1), &quota(2))).unwrap();
    fs::rename(&tmp, &file).unwrap();
    eventually_blocking(showing("the changed file is applied", logs), || reloads(&stack) == loaded + 1.0 && dev_max_apps(&stack) == Some(2.0));

    // The file unchanged, only SIGHUP can make the next reload.
    let pid = stack.proxy.child.id().to_string();
    let kill = Command::new("kill").args(["-HUP", &pid]).output().unwrap();
    assert!(kill.status.success(), "{}", show(&kill));
    eventually_blocking(showing("SIGHUP reloads the file", logs), || reloads(&stack) == loaded + 2.0);
    assert!(stack.proxy.log_text().contains("SIGHUP"), "the reload names its trigger\n{}", logs());
    // Reloaded, not ended by the signal.
    assert_eq!(http().get(format!("{}/readyz", stack.admin_url)).send().unwrap().status(), 200);
    assert_eq!(dev_max_apps(&stack), Some(2.0));
}
