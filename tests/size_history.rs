//! The binding node's size history (`[admission] history_file`) end to end: a running proxy
//! records the size as writes grow it, serves it at `/admission/v1/history` (the same last size
//! as the usage API and `/metrics`), writes it to the file by the time it stops on SIGTERM, and a
//! proxy started again on the same file carries it on; `report --history` measures the growth
//! from that file; a corrupt file is a warning and a fresh history, never a failed start.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn stack_with_history(file: &Path) -> Stack {
    Stack::start(StackOpts {
        admission_extra: format!("audit_log = \"off\"\nhistory_file = {:?}\n", file.to_str().unwrap()),
        ..StackOpts::default()
    })
}

fn history(stack: &Stack) -> serde_json::Value {
    get_json(&format!("{}/admission/v1/history", stack.proxy_url))
}

fn points(h: &serde_json::Value) -> Vec<serde_json::Value> {
    h["points"].as_array().cloned().unwrap_or_default()
}

/// SIGTERM, then waits for the process to end.
fn stop(stack: &mut Stack) {
    let pid = stack.proxy.child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).output().unwrap();
    assert!(kill.status.success(), "{}", show(&kill));
    let log = stack.proxy.log.clone();
    let status = eventually_blocking(showing("the proxy exits on SIGTERM", || std::fs::read_to_string(&log).unwrap_or_default()), || {
        stack.proxy.child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}\n{}", stack.logs());
}

fn post_app(stack: &Stack, id: &str) {
    let env: serde_json::Map<String, serde_json::Value> = (0..20).map(|k| (format!("SETTING_{k:02}"), serde_json::json!("a-value-of-some-length"))).collect();
    let body = serde_json::json!({"id": id, "cmd": "sleep 1000", "instances": 1, "env": env});
    let r = http().post(format!("{}/v2/apps", stack.proxy_url)).header("content-type", "application/json").body(body.to_string()).send().unwrap();
    assert!(r.status().is_success(), "{} {}", r.status(), r.text().unwrap_or_default());
}

fn metric(stack: &Stack, name: &str) -> Option<i64> {
    let text = http().get(format!("{}/metrics", stack.admin_url)).send().unwrap().text().unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn the_history_grows_with_the_writes_survives_a_restart_and_report_measures_it() {
    let dir = TempDir::new("history");
    let file = dir.path().join("history.json");
    let mut stack = stack_with_history(&file);
    eventually_blocking(showing("the first size is recorded", || stack.logs()), || !points(&history(&stack)).is_empty());
    for i in 0..3 {
        post_app(&stack, &format!("/team/app-{i}"));
    }
    // The last point is the size the usage API and /metrics report.
    let before_stop = eventually_blocking(showing("the history ends at the current size", || stack.logs()), || {
        let h = history(&stack);
        let groups = get_json(&format!("{}/admission/v1/groups", stack.proxy_url));
        let last = points(&h).last().map(|p| p[1].clone());
        if groups["groups"][0]["subtree"]["apps"] == 3 && last.as_ref() == Some(&groups["current_bytes"]) { Ok(h) } else { Err(format!("{h}")) }
    });
    let p = points(&before_stop);
    assert!(p.len() >= 2, "{before_stop}");
    let (first, last) = (p[0][1].as_i64().unwrap(), p[p.len() - 1][1].as_i64().unwrap());
    assert!(last > first, "the writes grew the binding node: {before_stop}");
    assert_eq!(metric(&stack, "marathon_admission_proxy_admission_current_bytes"), Some(last));
    assert_eq!(before_stop["growth"]["growth_bytes"].as_i64(), Some(last - first), "{before_stop}");

    // Stopped, the file holds what was served.
    stop(&mut stack);
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("the history file")).unwrap();
    assert_eq!(points(&saved), p, "the file holds every point served");
    assert_eq!(saved["reject_at_bytes"], before_stop["reject_at_bytes"]);

    // `report --history`: the growth from the file, in text and JSON.
    let out = Command::new(BIN).args(["report", "--history"]).arg(&file).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["points"].as_u64(), Some(p.len() as u64));
    assert_eq!(report["binding_bytes"].as_i64(), Some(last));
    assert_eq!(report["growth"]["growth_bytes"].as_i64(), Some(last - first), "{report}");
    let out = Command::new(BIN).args(["report", "--history"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("growth: +{} bytes over the last", last - first)), "{}", show(&out));

    // Started again on the same file (in front of an empty Marathon): the old points, then the
    // size of the empty root.
    drop(stack);
    let again = stack_with_history(&file);
    let h = eventually_blocking(showing("the restarted proxy records the empty root", || again.logs()), || {
        let h = history(&again);
        if points(&h).len() > p.len() { Ok(h) } else { Err(format!("{h}")) }
    });
    assert_eq!(points(&h)[..p.len()], p[..], "the history carried across the restart");
    assert!(again.proxy.log_text().contains("size history loaded"), "{}", again.logs());
}

#[test]
fn a_corrupt_history_file_is_a_warning_and_a_fresh_history() {
    let dir = TempDir::new("history-corrupt");
    let file = dir.write("history.json", "{\"version\":1,\"points\":[[1,");
    let stack = stack_with_history(&file);
    let h = eventually_blocking(showing("a fresh history records the first size", || stack.logs()), || {
        let h = history(&stack);
        if points(&h).len() == 1 { Ok(h) } else { Err(format!("{h}")) }
    });
    let log = stack.proxy.log_text();
    assert!(log.contains("WARN") && log.contains("the size history file is corrupt"), "{log}");
    // The first change is saved at once, over the corrupt file.
    eventually_blocking(showing("the corrupt file is replaced", || stack.logs()), || {
        let text = std::fs::read_to_string(&file).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| points(&v) == points(&h))
    });
}
