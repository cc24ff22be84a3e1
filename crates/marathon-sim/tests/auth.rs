//! Authentication against the running simulator over loopback: Marathon's `--http_credentials`
//! (HTTP Basic) and DC/OS service-account login with `Authorization: token=`.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marathon_sim::{start, SimConfig};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::json;

/// `(method, path, body, headers)` over a fresh loopback connection.
async fn send(base: &str, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::builder().method(method).uri(format!("{base}{path}")).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client().request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap()).await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    // An SSE stream never ends: its head is all these tests look at.
    let streaming = headers.get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let body = if streaming { Bytes::new() } else { res.into_body().collect().await.unwrap().to_bytes() };
    Resp { status, headers, body }
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

const APP: &str = r#"{"id":"/auth/web","cmd":"sleep 100","instances":1}"#;

#[tokio::test]
async fn http_basic_as_marathon_http_credentials() {
    let sim = start(SimConfig { http_credentials: Some(("ops".into(), "s3cret".into())), ..SimConfig::default() })
        .await
        .unwrap();
    let base = sim.url();
    let right = basic("ops", "s3cret");

    // No credentials: Jetty's challenge and error page, before Marathon (no leader header).
    let r = send(&base, "GET", "/v2/apps", "", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate").unwrap().to_ascii_lowercase(), "basic realm=\"mesosphere\"");
    assert!(r.header("www-authenticate").unwrap().ends_with("realm=\"Mesosphere\""));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains("HTTP ERROR 401"));
    assert!(r.header("x-marathon-leader").is_none());

    // Wrong password, wrong user, another scheme, garbage.
    for auth in [basic("ops", "nope"), basic("root", "s3cret"), "Bearer s3cret".into(), "Basic %%%".into()] {
        let r = send(&base, "GET", "/v2/apps", "", &[("authorization", &auth)]).await;
        assert_eq!(r.status, 401, "{auth}");
        assert!(r.header("www-authenticate").is_some());
    }

    // Right credentials: reads and writes.
    let r = send(&base, "GET", "/v2/apps", "", &[("authorization", &right)]).await;
    assert_eq!((r.status, r.json()), (200, json!({"apps": []})));
    let r = send(&base, "POST", "/v2/apps", APP, &[]).await;
    assert_eq!(r.status, 401);
    assert!(sim.root().transitive_apps().is_empty(), "a refused write changes nothing");
    let r = send(&base, "POST", "/v2/apps", APP, &[("authorization", &right)]).await;
    assert_eq!(r.status, 201);

    // Marathon's constraint covers `/*`: `/ping` and `/v2/events` want credentials too.
    assert_eq!(send(&base, "GET", "/ping", "", &[]).await.status, 401);
    let r = send(&base, "GET", "/ping", "", &[("authorization", &right)]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"pong\n"[..]));
    let sse = [("accept", "text/event-stream")];
    assert_eq!(send(&base, "GET", "/v2/events", "", &sse).await.status, 401);
    let r = send(&base, "GET", "/v2/events", "", &[sse[0], ("authorization", &right)]).await;
    assert_eq!(r.status, 200);

    let stats = sim.auth_stats();
    assert_eq!(stats.unauthorized, 8);
    assert_eq!((stats.logins, stats.login_failures), (0, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn http_realm_and_off_by_default() {
    let sim = start(SimConfig {
        http_credentials: Some(("ops".into(), "s3cret".into())),
        http_realm: "Ops".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let r = send(&sim.url(), "GET", "/v2/info", "", &[]).await;
    assert!(r.header("www-authenticate").unwrap().ends_with("realm=\"Ops\""));
    sim.shutdown().await;

    // Off: credentials of any kind are ignored, nothing is refused.
    let sim = start(SimConfig::default()).await.unwrap();
    assert_eq!(send(&sim.url(), "GET", "/v2/apps", "", &[]).await.status, 200);
    assert_eq!(send(&sim.url(), "GET", "/v2/apps", "", &[("authorization", &basic("x", "y"))]).await.status, 200);
    assert_eq!(send(&sim.url(), "POST", "/acs/api/v1/auth/login", "{}", &[]).await.status, 404);
    assert_eq!(sim.auth_stats(), marathon_sim::AuthStats::default());
    sim.shutdown().await;
}

/// Two RSA key pairs `(private PEM, public PEM)`, made once per test binary.
fn keys() -> &'static [(String, String); 2] {
    static KEYS: OnceLock<[(String, String); 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pair = || {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
            let public = private.to_public_key();
            (
                private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                public.to_public_key_pem(LineEnding::LF).unwrap(),
            )
        };
        [pair(), pair()]
    })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The login JWT a service account signs with its private key.
fn login_token(private_pem: &str, uid: &str, exp: u64) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &json!({ "uid": uid, "exp": exp }),
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn login(base: &str, uid: &str, token: &str) -> Resp {
    send(base, "POST", "/acs/api/v1/auth/login", &json!({ "uid": uid, "token": token }).to_string(), &[]).await
}

fn dcos_config(ttl: Duration) -> SimConfig {
    let [(_, public), _] = keys();
    SimConfig { dcos_service_accounts: vec![("ci".into(), public.clone())], dcos_token_ttl: ttl, ..SimConfig::v14() }
}

#[tokio::test]
async fn dcos_service_account_login_and_token() {
    let [(private, _), (other_private, _)] = keys();
    let sim = start(dcos_config(Duration::from_secs(432_000))).await.unwrap();
    let base = sim.url();

    // Without a token: Admin Router's 401; `/ping` stays open.
    for auth in [None, Some("foo"), Some("token="), Some("token=X")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = send(&base, "GET", "/v2/apps", "", &headers).await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("acsjwt"));
    }
    assert_eq!(send(&base, "GET", "/ping", "", &[]).await.status, 200);

    // Refused logins: wrong key, unknown uid, expired login token, uid not the claim's.
    let exp = unix_now() + 300;
    let refused = [
        login(&base, "ci", &login_token(other_private, "ci", exp)).await,
        login(&base, "someone", &login_token(private, "someone", exp)).await,
        login(&base, "ci", &login_token(private, "ci", unix_now() - 10)).await,
        login(&base, "ci", &login_token(private, "other", exp)).await,
        login(&base, "ci", "not-a-jwt").await,
    ];
    for r in &refused {
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate").as_deref(), Some("acsjwt"));
        let body = r.json();
        assert_eq!(body["code"], "ERR_INVALID_CREDENTIALS");
        assert!(body["title"].is_string() && body["description"].is_string());
    }
    assert_eq!(send(&base, "POST", "/acs/api/v1/auth/login", "{not json", &[]).await.status, 400);

    // A good login, then the token opens reads, writes and the event stream.
    let r = login(&base, "ci", &login_token(private, "ci", exp)).await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let auth = format!("token={token}");
    let r = send(&base, "GET", "/v2/apps", "", &[("authorization", &auth)]).await;
    assert_eq!((r.status, r.json()), (200, json!({"apps": []})));
    assert_eq!(send(&base, "POST", "/v2/apps", APP, &[]).await.status, 401);
    assert!(sim.root().transitive_apps().is_empty(), "a refused write changes nothing");
    assert_eq!(send(&base, "POST", "/v2/apps", APP, &[("authorization", &auth)]).await.status, 201);
    let sse = ("accept", "text/event-stream");
    assert_eq!(send(&base, "GET", "/v2/events", "", &[sse]).await.status, 401);
    assert_eq!(send(&base, "GET", "/v2/events", "", &[sse, ("authorization", &auth)]).await.status, 200);
    // Another token, made by the simulator's own scheme but never issued, is refused.
    let forged = format!("token={}x", token);
    assert_eq!(send(&base, "GET", "/v2/apps", "", &[("authorization", &forged)]).await.status, 401);

    let stats = sim.auth_stats();
    assert_eq!((stats.logins, stats.login_failures, stats.unauthorized), (1, 5, 7));
    sim.shutdown().await;
}

#[tokio::test]
async fn dcos_token_expires_after_its_ttl() {
    let [(private, _), _] = keys();
    let ttl = Duration::from_secs(2);
    let sim = start(dcos_config(ttl)).await.unwrap();
    let base = sim.url();

    let t0 = Instant::now();
    let r = login(&base, "ci", &login_token(private, "ci", unix_now() + 300)).await;
    assert_eq!(r.status, 200);
    let auth = format!("token={}", r.json()["token"].as_str().unwrap());

    // Accepted until the TTL runs out, then refused: a refusal is only ever allowed once the TTL
    // has passed since before the login (a lower bound).
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    eventually("the token is refused once its TTL has passed", || async {
        let r = send(&base, "GET", "/v2/groups", "", &[("authorization", &auth)]).await;
        if r.status == 401 {
            assert!(t0.elapsed() >= ttl, "refused before its TTL");
            assert_eq!(r.header("www-authenticate").as_deref(), Some("acsjwt"));
            return true;
        }
        assert_eq!(r.status, 200);
        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        false
    })
    .await;
    let accepted = accepted.into_inner();
    // Stays refused; a fresh login gives a working token again.
    assert_eq!(send(&base, "GET", "/v2/info", "", &[("authorization", &auth)]).await.status, 401);
    let t1 = Instant::now();
    let r = login(&base, "ci", &login_token(private, "ci", unix_now() + 300)).await;
    let fresh = format!("token={}", r.json()["token"].as_str().unwrap());
    let r = send(&base, "GET", "/v2/info", "", &[("authorization", &fresh)]).await;
    assert!(r.status == 200 || t1.elapsed() >= ttl, "fresh token refused: {}", r.status);
    eprintln!("token accepted {accepted} times before it expired");
    assert_eq!(sim.auth_stats().logins, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_auth_configuration_fails_to_start() {
    let [(_, public), _] = keys();
    let both = SimConfig {
        http_credentials: Some(("ops".into(), "s3cret".into())),
        dcos_service_accounts: vec![("ci".into(), public.clone())],
        ..SimConfig::default()
    };
    assert!(start(both).await.is_err());
    let bad_pem = SimConfig { dcos_service_accounts: vec![("ci".into(), "not a key".into())], ..SimConfig::default() };
    assert!(start(bad_pem).await.is_err());
}
