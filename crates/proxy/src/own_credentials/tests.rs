use std::sync::OnceLock;

use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

use super::*;

/// One RSA key pair per test binary (generating one takes a while in a debug build):
/// (private key PKCS#8 PEM, public key PKCS#1 PEM).
fn key_pair() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = rsa::RsaPrivateKey::new(&mut rand_core(), 2048).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        (
            private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public.to_pkcs1_pem(LineEnding::LF).unwrap(),
        )
    })
}

fn rand_core() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn auth_with(f: impl FnOnce(&mut UpstreamAuth)) -> UpstreamAuth {
    let mut a = UpstreamAuth::default();
    f(&mut a);
    a
}

#[tokio::test]
async fn basic_from_a_file_is_read_again_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(&file, "ops:first-password\n").unwrap();
    let auth = auth_with(|a| a.credentials_file = Some(file.clone()));
    let c = OwnCredentials::from_config(&auth, &no_env, None).unwrap();
    c.check().unwrap();
    let http = crate::upstream::build_client(&Default::default()).unwrap();
    let first = c.authorization(&http).await.unwrap().unwrap();
    assert_eq!(first, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:first-password")));
    assert!(first.is_sensitive());
    std::fs::write(&file, "ops:a-longer-second-password").unwrap();
    let second = c.authorization(&http).await.unwrap().unwrap();
    assert_eq!(second, format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:a-longer-second-password")));
}

#[test]
fn the_environment_wins_over_the_file_and_kinds_do_not_mix() {
    let auth = auth_with(|a| a.credentials_file = Some("/nonexistent".into()));
    let env = |k: &str| (k == ENV_CREDENTIALS).then(|| "env-user:env-pass".to_owned());
    let c = OwnCredentials::from_config(&auth, &env, None).unwrap();
    assert_eq!(c.describe(), format!("HTTP Basic from ${ENV_CREDENTIALS}"));
    c.check().unwrap();

    let both = auth_with(|a| {
        a.credentials_file = Some("/a".into());
        a.token_file = Some("/b".into());
    });
    let e = OwnCredentials::from_config(&both, &no_env, None).unwrap_err().to_string();
    assert!(e.contains("not several"), "{e}");
}

#[test]
fn no_message_and_no_debug_output_holds_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(&file, "no-colon-s3cr3t").unwrap();
    let c = OwnCredentials::from_config(&auth_with(|a| a.credentials_file = Some(file.clone())), &no_env, None).unwrap();
    let e = format!("{:#}", c.check().unwrap_err());
    assert!(e.contains("user:password") && e.contains(&file.display().to_string()), "{e}");
    assert!(!e.contains("s3cr3t"), "{e}");

    let env = |k: &str| (k == ENV_CREDENTIALS).then(|| "ops:env-s3cr3t".to_owned());
    let c = OwnCredentials::from_config(&UpstreamAuth::default(), &env, None).unwrap();
    c.check().unwrap();
    let shown = format!("{c:?} {}", c.describe());
    assert!(!shown.contains("s3cr3t"), "{shown}");

    let account = serde_json::json!({"uid": "svc", "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key-s3cr3t\n-----END PRIVATE KEY-----"}).to_string();
    let env = |k: &str| (k == ENV_DCOS_SERVICE_ACCOUNT).then(|| account.clone());
    let c = OwnCredentials::from_config(&UpstreamAuth::default(), &env, None).unwrap();
    let e = format!("{:#} {c:?}", c.check().unwrap_err());
    assert!(e.contains("private_key is not an RSA private key"), "{e}");
    assert!(!e.contains("s3cr3t"), "{e}");
}

#[test]
fn the_login_token_is_signed_with_the_account_key() {
    let (private, public) = key_pair();
    let c = ServiceAccountCredential { scheme: rs256(), uid: "marathon-admission".into(), private_key: private.clone(), login_endpoint: None };
    let jwt = sign_login(&c).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &key, &validation).unwrap().claims;
    assert_eq!(claims["uid"], "marathon-admission");
    let other = rsa::RsaPrivateKey::new(&mut rand_core(), 1024).unwrap();
    let other_public = rsa::RsaPublicKey::from(&other).to_pkcs1_pem(LineEnding::LF).unwrap();
    let wrong = jsonwebtoken::DecodingKey::from_rsa_pem(other_public.as_bytes()).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(jwt.expose(), &wrong, &validation).is_err());
}

#[test]
fn a_token_is_renewed_three_quarters_into_its_lifetime() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"uid":"x","exp":1000400}"#);
    let token = format!("e30.{claims}.sig");
    assert_eq!(renew_at(&token, now), now + Duration::from_secs(300));
    assert!(renew_at("opaque-token", now) > now + Duration::from_secs(365 * 86_400));
}
