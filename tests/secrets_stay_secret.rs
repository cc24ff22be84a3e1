//! The proxy's own credentials and the clients' never reach a log line (at debug level), the
//! audit log, `/metrics`, `/readyz`, the decisions API or `serve --check-config`: a run with each
//! of the three credential kinds (HTTP Basic, a token file, a DC/OS service account) against the
//! simulator requiring them, on 127.0.0.1 only, and every output searched for the secrets.

use std::process::Command;
use std::time::SystemTime;

use base64::Engine;
use crate::harness::*;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// Everything the run showed: both logs, the audit log, the admin and usage endpoints, and
/// `--check-config` (with `env` for the proxy's credentials).
fn everything_shown(stack: &Stack, audit: &std::path::Path, client_auth: &str, env: &[(&str, &str)]) -> String {
    let c = http();
    let mut out = stack.logs();
    out.push_str(&std::fs::read_to_string(audit).unwrap_or_default());
    for url in [format!("{}/metrics", stack.admin_url), format!("{}/readyz", stack.admin_url)] {
        out.push_str(&c.get(url).send().unwrap().text().unwrap());
    }
    for path in ["/admission/v1/decisions", "/admission/v1/groups"] {
        let r = c.get(format!("{}{path}", stack.proxy_url)).header("authorization", client_auth).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        out.push_str(&r.text().unwrap());
    }
    let mut check = Command::new(BIN);
    check.args(["serve", "--check-config", "--config"]).arg(stack.dir.path().join("proxy.toml"));
    for (k, v) in env {
        check.env(k, v);
    }
    let checked = check.output().unwrap();
    assert!(checked.status.success(), "{}", show(&checked));
    out.push_str(&String::from_utf8_lossy(&checked.stdout));
    out.push_str(&String::from_utf8_lossy(&checked.stderr));
    out
}

/// Writes through the proxy with the client's own credentials: one admitted, one refused.
fn some_writes(stack: &Stack, client_auth: &str) {
    let c = http();
    let post = |body: String| c.post(format!("{}/v2/apps", stack.proxy_url)).header("authorization", client_auth).header("content-type", "application/json").body(body).send().unwrap();
    let r = post(r#"{"id":"/team/web","cmd":"sleep 1","env":{"DB_PASSWORD":"env-value-1"}}"#.into());
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let r = post(r#"{"id":"/team/many","cmd":"sleep 1","instances":100000}"#.into());
    assert!(r.status() == 422 || r.status() == 201, "{}", r.status());
}

fn assert_absent(shown: &str, secrets: &[&str]) {
    // What was searched holds what the run did: the decisions (log and audit) and the metrics.
    for sure in ["admission decision", "\"decision\":", "marathon_admission_proxy_requests_total"] {
        assert!(shown.contains(sure), "{sure:?} missing from what was searched:\n{shown}");
    }
    for s in secrets {
        assert!(!shown.contains(s), "a secret was shown ({} chars starting {:?}):\n{shown}", s.len(), &s[..4.min(s.len())]);
    }
}

#[test]
fn basic_credentials_are_never_shown() {
    let audit = TempDir::new("audit-basic");
    let audit_file = audit.path().join("audit.log");
    let stack = Stack::start(StackOpts {
        http_credentials: Some("ops:Pw-Basic-7f3a"),
        admission_extra: format!("audit_log = \"{}\"\n", audit_file.display()),
        log_filter: "debug",
        ..StackOpts::default()
    });
    let client_auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:Pw-Basic-7f3a"));
    some_writes(&stack, &client_auth);
    let shown = everything_shown(&stack, &audit_file, &client_auth, &[("MARATHON_ADMISSION_CREDENTIALS", "ops:Pw-Basic-7f3a")]);
    assert!(shown.contains("HTTP Basic from $MARATHON_ADMISSION_CREDENTIALS"), "--check-config names the source");
    assert_absent(&shown, &["Pw-Basic-7f3a", client_auth.trim_start_matches("Basic "), "env-value-1"]);
}

/// (private key PKCS#8 PEM, public key PKCS#1 PEM).
fn key_pair() -> (String, String) {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = rsa::RsaPublicKey::from(&private).to_pkcs1_pem(LineEnding::LF).unwrap();
    (private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(), public)
}

/// Logs in to the simulator's IAM as `uid`: the authentication token.
fn login(sim_url: &str, uid: &str, private_key: &str) -> String {
    let exp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 300;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).unwrap();
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &serde_json::json!({"uid": uid, "exp": exp}), &key).unwrap();
    let r = http().post(format!("{sim_url}/acs/api/v1/auth/login")).header("content-type", "application/json").body(serde_json::json!({"uid": uid, "token": jwt}).to_string()).send().unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str::<serde_json::Value>(&r.text().unwrap()).unwrap()["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_token_file_and_a_dcos_service_account_are_never_shown() {
    let (private, public) = key_pair();
    let keys = TempDir::new("dcos-keys");
    let public_file = keys.write("svc.pub.pem", &public);
    let credential = serde_json::json!({"scheme": "RS256", "uid": "svc", "private_key": private}).to_string();
    let credential_file = keys.write("svc.json", &credential);
    let key_body: Vec<&str> = private.lines().filter(|l| !l.starts_with("-----")).take(3).collect();
    let sim_args = vec!["--dcos-service-account".to_owned(), format!("svc={}", public_file.display())];

    // A DC/OS service account: the proxy logs in itself (no login_endpoint: the Marathon's host).
    let audit_file = keys.path().join("audit-sa.log");
    let stack = Stack::start(StackOpts {
        sim_args: sim_args.clone(),
        proxy_tables: format!("[upstream.auth]\ndcos_service_account_file = \"{}\"\n", credential_file.display()),
        admission_extra: format!("audit_log = \"{}\"\n", audit_file.display()),
        log_filter: "debug",
        ..StackOpts::default()
    });
    let client_token = login(&stack.sim_url, "svc", &private);
    let client_auth = format!("token={client_token}");
    some_writes(&stack, &client_auth);
    let shown = everything_shown(&stack, &audit_file, &client_auth, &[]);
    assert!(shown.contains("a DC/OS service account from"), "--check-config names the source");
    let mut secrets = key_body.clone();
    secrets.extend(["PRIVATE KEY", client_token.as_str(), "eyJ"]);
    assert_absent(&shown, &secrets);
    drop(stack);

    // A static token, in a file: issued by the simulator once it runs, so the proxy starts with a
    // stale one and reads the file again when it changes.
    let audit_file = keys.path().join("audit-token.log");
    let token_file = keys.write("token", "not-yet-a-token\n");
    let mut stack = Stack::start(StackOpts {
        sim_args,
        proxy_tables: format!("[upstream.auth]\ntoken_file = \"{}\"\n", token_file.display()),
        admission_extra: format!("audit_log = \"{}\"\n", audit_file.display()),
        log_filter: "debug",
        wait_ready: false,
        ..StackOpts::default()
    });
    let token = login(&stack.sim_url, "svc", &private);
    keys.write("token", &format!("{token}\n"));
    stack.wait_ready();
    let client_auth = format!("token={}", login(&stack.sim_url, "svc", &private));
    some_writes(&stack, &client_auth);
    let shown = everything_shown(&stack, &audit_file, &client_auth, &[]);
    assert!(shown.contains("a token from"), "--check-config names the source");
    assert_absent(&shown, &[token.as_str(), client_auth.trim_start_matches("token="), "eyJ"]);
}

#[test]
fn credentials_in_query_strings_are_never_shown() {
    let audit = TempDir::new("audit-query");
    let audit_file = audit.path().join("audit.log");
    let stack = Stack::start(StackOpts {
        admission_extra: format!("audit_log = \"{}\"\n", audit_file.display()),
        proxy_tables: "[listener]\nredact_query_params = [\"x-signature\"]\n".into(),
        log_filter: "debug",
        ..StackOpts::default()
    });
    let c = http();
    let write = |method: reqwest::Method, target: &str, body: &str| {
        c.request(method, format!("{}{target}", stack.proxy_url)).header("content-type", "application/json").body(body.to_owned()).send().unwrap()
    };
    let app = r#"{"id":"/team/q","cmd":"sleep 1","instances":1}"#;
    let r = write(reqwest::Method::POST, "/v2/apps?access_token=SECRETVALUE-1&force=true", app);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    // A name from [listener] redact_query_params, and a dry run whose `path` carries its own query.
    let r = write(reqwest::Method::POST, "/v2/apps?x-signature=SECRETVALUE-2", &app.replace("/team/q", "/team/r"));
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let r = write(reqwest::Method::POST, "/admission/v1/check?method=POST&path=%2Fv2%2Fapps%3Fpassword%3DSECRETVALUE-3", app);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());

    // What the proxy shows: its log, the audit log, the decisions list, its metrics.
    let mut shown = stack.proxy.log_text();
    let decisions = c.get(format!("{}/admission/v1/decisions", stack.proxy_url)).send().unwrap().text().unwrap();
    shown.push_str(&decisions);
    shown.push_str(&c.get(format!("{}/metrics", stack.admin_url)).send().unwrap().text().unwrap());
    // The audit file is written by a thread of its own: wait for the three decisions.
    let audit_text = eventually_blocking("three decisions in the audit log", || {
        let text = std::fs::read_to_string(&audit_file).unwrap_or_default();
        (text.lines().count() >= 3).then_some(text)
    });
    assert_eq!(audit_text.lines().count(), 3, "{audit_text}");
    shown.push_str(&audit_text);
    for redacted in ["access_token=<redacted>&force=true", "x-signature=<redacted>", "password=<redacted>"] {
        assert!(audit_text.contains(redacted) && decisions.contains(redacted), "{redacted} in the audit log and the decisions:\n{audit_text}\n{decisions}");
    }
    assert_absent(&shown, &["SECRETVALUE"]);
}
