//! In front of a Marathon that requires authentication, on 127.0.0.1 only: the simulator with
//! Marathon's `--http_credentials` (Basic) or as DC/OS with a service account, the proxy with
//! credentials of its own in `[upstream.auth]` (or none).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use crate::common::admission_setup::*;
use crate::common::*;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

const LIMIT: u64 = 20_000;
const ADMISSION: &str = "zk_max_node_size = 20000\nresync_interval_ms = 200\naudit_log = \"off\"\n";

fn basic(user_pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
}

fn with_header(mut r: http::Request<http_body_util::Full<bytes::Bytes>>, auth: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    r.headers_mut().insert(http::header::AUTHORIZATION, auth.parse().unwrap());
    r
}

fn secret_file(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Over the wall whatever the state (1,000 env vars of values that do not compress): the proxy's
/// 422 without asking Marathon.
fn huge_app(id: &str) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let env: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (format!("V{i}"), serde_json::json!(format!("{x:016x}")))
        })
        .collect();
    serde_json::json!({"id": id, "cmd": "sleep 1", "env": env}).to_string()
}

#[tokio::test]
async fn with_basic_credentials_the_model_syncs_and_forwarded_requests_carry_only_the_clients() {
    let dir = tempfile::tempdir().unwrap();
    let file = secret_file(&dir, "credentials", "ops:s3cr3t-basic\n");
    let sim_config = marathon_sim::SimConfig { http_credentials: Some(("ops".into(), "s3cr3t-basic".into())), ..sim_legacy(LIMIT, None) };
    let s = setup_unready(sim_config, ADMISSION, |c, _| c.upstream.auth.credentials_file = Some(file.clone())).await;
    wait_ready(&s.proxy).await;
    let c = client();

    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &huge_app("/big/one"))).await;
    assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));

    // The proxy's credentials are its own: a client without any gets Marathon's 401.
    let (status, headers, _) = fetch(&c, get(&s.proxy.url("/v2/apps"))).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"].to_str().unwrap().to_lowercase().starts_with("basic"), "{headers:?}");
    let (status, _, body) = fetch(&c, with_header(req("POST", &s.proxy.url("/v2/apps"), &app_body("/small/one", 1)), &basic("ops:s3cr3t-basic"))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app_body("/small/two", 1))).await;
    assert_eq!(status, 401, "an admitted write without credentials is Marathon's to refuse");
    assert!(s.sim.root().find_app(&marathon_model::PathId::parse("/small/two")).is_none());
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

#[tokio::test]
async fn without_credentials_readyz_and_a_write_say_marathon_wants_them() {
    let sim_config = marathon_sim::SimConfig { http_credentials: Some(("ops".into(), "pw".into())), ..sim_legacy(LIMIT, None) };
    let s = setup_unready(sim_config, ADMISSION, |_, _| {}).await;
    let c = client();
    let body = eventually("/readyz names the 401", || async {
        let (status, _, body) = fetch(&c, get(&s.proxy.admin_url("/readyz"))).await;
        assert_eq!(status, 503, "ready without credentials: {}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body).into_owned();
        if text.contains("401") { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(body.contains("requires authentication") && body.contains("[upstream.auth]"), "{body}");
    assert!(!body.contains("unreachable"), "{body}");
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &huge_app("/big/one"))).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("requires authentication"), "{text}");
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// (private key PKCS#8 PEM, public key PKCS#1 PEM).
fn key_pair() -> (String, String) {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public = rsa::RsaPublicKey::from(&private).to_pkcs1_pem(LineEnding::LF).unwrap();
    (private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(), public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dcos_service_account_logs_in_and_renews_its_token_without_a_failed_decision() {
    let (private, public) = key_pair();
    let dir = tempfile::tempdir().unwrap();
    let sim_config = marathon_sim::SimConfig {
        dcos_service_accounts: vec![("marathon-admission".into(), public)],
        dcos_token_ttl: Duration::from_secs(2),
        ..sim_legacy(LIMIT, None)
    };
    let s = setup_unready(sim_config, ADMISSION, |c, sim| {
        let credential = serde_json::json!({
            "scheme": "RS256", "uid": "marathon-admission", "private_key": private,
            "login_endpoint": format!("{}/acs/api/v1/auth/login", sim.url()),
        });
        c.upstream.auth.dcos_service_account_file = Some(secret_file(&dir, "sa.json", &credential.to_string()));
    })
    .await;
    wait_ready(&s.proxy).await;
    assert!(s.sim.auth_stats().logins >= 1);
    let c = client();
    // Decisions keep coming while tokens expire (TTL 2 s) and are renewed: none fails.
    let decisions = std::sync::atomic::AtomicUsize::new(0);
    eventually("the token is renewed three times", || async {
        let n = decisions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &huge_app(&format!("/big/a{n}")))).await;
        assert!(is_our_rejection(status, &body), "decision {n}: {status} {}", String::from_utf8_lossy(&body));
        // Paces the decisions: a steady trickle across the renewals, not a flood.
        tokio::time::sleep(Duration::from_millis(100)).await;
        match s.sim.auth_stats().logins >= 4 {
            true => Ok(()),
            false => Err(format!("{:?}", s.sim.auth_stats())),
        }
    })
    .await;
    let (status, _, _) = fetch(&c, get(&s.proxy.admin_url("/readyz"))).await;
    assert_eq!(status, 200);
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// Behind a Marathon that requires authentication, `/admission/*` answers only the callers
/// Marathon accepts (with Marathon's own challenge, so that a browser asks for a login), and an
/// exemption keyed on a user counts only with credentials Marathon accepts.
#[tokio::test]
async fn the_admission_surface_and_exemptions_believe_only_what_marathon_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let file = secret_file(&dir, "credentials", "proxy:pw-of-the-proxy");
    let sim_config = marathon_sim::SimConfig {
        http_credentials: Some(("proxy".into(), "pw-of-the-proxy".into())),
        ..sim_legacy(LIMIT, None)
    };
    let quotas = "[[quota]]\ngroup = \"/dev\"\nmax_apps = 0\n\n[[exemption]]\nclient = \"proxy\"\nexpires = \"2099-01-01T00:00:00Z\"\nticket = \"OPS-9\"\n";
    let s = setup_unready(sim_config, ADMISSION, |c, _| {
        c.upstream.auth.credentials_file = Some(file.clone());
        let t: toml::Table = quotas.parse().unwrap();
        c.quota = t["quota"].as_array().unwrap().iter().map(|v| v.as_table().unwrap().clone()).collect();
        c.exemption = t["exemption"].as_array().unwrap().iter().map(|v| v.as_table().unwrap().clone()).collect();
    })
    .await;
    wait_ready(&s.proxy).await;
    let c = client();
    let good = basic("proxy:pw-of-the-proxy");
    let wrong = basic("proxy:WRONG");
    let surface = [
        ("GET", "/admission/v1/groups"),
        ("GET", "/admission/v1/decisions"),
        ("POST", "/admission/v1/check?method=POST&path=%2Fv2%2Fapps"),
        ("GET", "/admission/ui/"),
    ];
    for (method, path) in surface {
        let body = if method == "POST" { app_body("/x", 1) } else { String::new() };
        let (status, headers, _) = fetch(&c, req(method, &s.proxy.url(path), &body)).await;
        assert_eq!(status, 401, "{method} {path} without credentials");
        assert!(headers["www-authenticate"].to_str().unwrap().to_lowercase().starts_with("basic"), "{method} {path}: {headers:?}");
        let (status, _, _) = fetch(&c, with_header(req(method, &s.proxy.url(path), &body), &wrong)).await;
        assert_eq!(status, 401, "{method} {path} with wrong credentials");
        let (status, _, body) = fetch(&c, with_header(req(method, &s.proxy.url(path), &body), &good)).await;
        assert_eq!(status, 200, "{method} {path}: {}", String::from_utf8_lossy(&body));
    }

    // The exemption names the user `proxy`: a wrong password does not claim it.
    let (status, _, body) = fetch(&c, with_header(req("POST", &s.proxy.url("/v2/apps"), &app_body("/dev/a", 1)), &wrong)).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let (status, headers, body) = fetch(&c, with_header(req("POST", &s.proxy.url("/v2/apps"), &app_body("/dev/a", 1)), &good)).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(headers["warning"].to_str().unwrap().contains("OPS-9"));
    s.proxy.shutdown().await.unwrap();
    s.sim.shutdown().await;
}

/// In front of an open Marathon the surface stays open, and identity headers count only from the
/// sources `[admission] trusted_identity_sources` names.
#[tokio::test]
async fn an_open_marathon_keeps_the_surface_open_and_identity_headers_need_a_trusted_source() {
    let exemption = "[[quota]]\ngroup = \"/dev\"\nmax_apps = 0\n\n[[exemption]]\nclient = \"team-a\"\nheader = \"X-Client-Id\"\nexpires = \"2099-01-01T00:00:00Z\"\nticket = \"OPS-7\"\n";
    for (trusted, expected) in [("[]", 422), ("[\"127.0.0.0/8\"]", 201)] {
        let admission = format!("{ADMISSION}trusted_identity_sources = {trusted}\n");
        let s = setup_unready(sim_legacy(LIMIT, None), &admission, |c, _| {
            let t: toml::Table = exemption.parse().unwrap();
            c.quota = t["quota"].as_array().unwrap().iter().map(|v| v.as_table().unwrap().clone()).collect();
            c.exemption = t["exemption"].as_array().unwrap().iter().map(|v| v.as_table().unwrap().clone()).collect();
        })
        .await;
        wait_ready(&s.proxy).await;
        let c = client();
        let (status, _, _) = fetch(&c, get(&s.proxy.url("/admission/v1/groups"))).await;
        assert_eq!(status, 200, "open Marathon, open surface");
        let mut r = req("POST", &s.proxy.url("/v2/apps"), &app_body("/dev/a", 1));
        r.headers_mut().insert("x-client-id", "team-a".parse().unwrap());
        let (status, _, body) = fetch(&c, r).await;
        assert_eq!(status, expected, "trusted {trusted}: {}", String::from_utf8_lossy(&body));
        s.proxy.shutdown().await.unwrap();
        s.sim.shutdown().await;
    }
}
