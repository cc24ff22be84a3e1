//! The proxy's own credentials towards Marathon, for its own reads only (leader poll, model sync,
//! event subscription, the offline commands): never added to a forwarded request.
//!
//! Three kinds, as Marathon is deployed (at most one at a time):
//! - **HTTP Basic** (`--http_credentials` on Marathon): `user:password`, from
//!   `[upstream.auth] credentials_file` or `MARATHON_ADMISSION_CREDENTIALS`.
//! - **A static token** (`token_file`), sent as DC/OS expects it: `Authorization: token=<t>`.
//! - **A DC/OS service account** (`dcos_service_account_file` or
//!   `DCOS_SERVICE_ACCOUNT_CREDENTIAL`): the JSON credential DC/OS users already have (`scheme`,
//!   `uid`, `private_key`, `login_endpoint`). The proxy signs a short login JWT (RS256, claims
//!   `uid` and `exp`) with the private key, posts it to the login endpoint, and uses the token it
//!   gets back until three quarters of its lifetime have passed (read from the token's own `exp`),
//!   or until Marathon answers 401, whichever comes first; then it logs in again.
//!
//! Why secrets are handled like this: a file is re-read when it changes (a rotated password or
//! token takes effect without a restart); the environment is read once, at start. A secret is
//! held in [`Secret`], whose `Debug` prints nothing of it, and no message names a secret, only
//! where it came from.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::body::UpstreamBody;
use crate::config::UpstreamAuth;
use crate::upstream::{error_chain, HttpClient};

/// `user:password` for Basic, overriding `credentials_file`.
pub const ENV_CREDENTIALS: &str = "MARATHON_ADMISSION_CREDENTIALS";
/// A DC/OS service-account credential (the JSON), overriding `dcos_service_account_file`.
pub const ENV_DCOS_SERVICE_ACCOUNT: &str = "DCOS_SERVICE_ACCOUNT_CREDENTIAL";

/// Where a DC/OS cluster takes service-account logins, when the credential names no endpoint.
const DCOS_LOGIN_PATH: &str = "/acs/api/v1/auth/login";
/// Lifetime of the login JWT the proxy signs (it is used once, at once).
const LOGIN_JWT_LIFETIME: Duration = Duration::from_secs(300);
/// How long a login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A secret value; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A secret read from a file (again whenever the file changes) or, once, from the environment.
#[derive(Debug)]
enum SecretSource {
    File { path: PathBuf, cached: Mutex<Option<(FileStamp, Secret)>> },
    Env { name: &'static str, value: Secret },
}

/// What tells a changed file: its modification time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp(Option<SystemTime>, u64);

impl SecretSource {
    fn file(path: &Path) -> Self {
        SecretSource::File { path: path.to_path_buf(), cached: Mutex::new(None) }
    }

    /// The secret, trimmed of surrounding whitespace (a trailing newline in a file is common).
    fn read(&self) -> anyhow::Result<Secret> {
        match self {
            SecretSource::Env { value, .. } => Ok(value.clone()),
            SecretSource::File { path, cached } => {
                let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
                let stamp = FileStamp(meta.modified().ok(), meta.len());
                let mut cached = cached.lock().unwrap();
                if let Some((seen, secret)) = cached.as_ref() {
                    if *seen == stamp {
                        return Ok(secret.clone());
                    }
                }
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let secret = Secret(text.trim().to_owned());
                *cached = Some((stamp, secret.clone()));
                Ok(secret)
            }
        }
    }

    /// Forgets what was read, so that the next use reads the file again.
    fn forget(&self) {
        if let SecretSource::File { cached, .. } = self {
            *cached.lock().unwrap() = None;
        }
    }

    fn origin(&self) -> String {
        match self {
            SecretSource::File { path, .. } => path.display().to_string(),
            SecretSource::Env { name, .. } => format!("${name}"),
        }
    }
}

/// The credential of a DC/OS service account, as `dcos security org service-accounts create`
/// and the DC/OS docs write it.
#[derive(Deserialize)]
struct ServiceAccountCredential {
    #[serde(default = "rs256")]
    scheme: String,
    uid: String,
    private_key: String,
    #[serde(default)]
    login_endpoint: Option<String>,
}

fn rs256() -> String {
    "RS256".to_owned()
}

#[derive(Serialize)]
struct LoginClaims<'a> {
    uid: &'a str,
    exp: u64,
}

/// A token from a login, and when to log in again.
#[derive(Debug, Clone)]
struct LoggedIn {
    token: Secret,
    renew_at: SystemTime,
}

#[derive(Debug)]
enum Kind {
    None,
    Basic(SecretSource),
    Token(SecretSource),
    ServiceAccount { source: SecretSource, default_login: String, current: tokio::sync::Mutex<Option<LoggedIn>> },
}

/// The proxy's own credentials (possibly none).
#[derive(Debug)]
pub struct OwnCredentials {
    kind: Kind,
}

impl OwnCredentials {
    /// None: requests of the proxy's own carry no `Authorization`.
    pub fn none() -> Self {
        OwnCredentials { kind: Kind::None }
    }

    /// From `[upstream.auth]` and the environment (`env`; the environment wins over the file, as
    /// everywhere in the configuration). `first_marathon`: where a DC/OS login goes when the
    /// credential names no `login_endpoint`.
    pub fn from_config(
        auth: &UpstreamAuth,
        env: &dyn Fn(&str) -> Option<String>,
        first_marathon: Option<&http::Uri>,
    ) -> anyhow::Result<Self> {
        let from_env = |name: &'static str| env(name).filter(|v| !v.trim().is_empty()).map(|v| SecretSource::Env { name, value: Secret(v.trim().to_owned()) });
        let basic = from_env(ENV_CREDENTIALS).or_else(|| auth.credentials_file.as_deref().map(SecretSource::file));
        let token = auth.token_file.as_deref().map(SecretSource::file);
        let account = from_env(ENV_DCOS_SERVICE_ACCOUNT).or_else(|| auth.dcos_service_account_file.as_deref().map(SecretSource::file));
        let kind = match (basic, token, account) {
            (None, None, None) => Kind::None,
            (Some(b), None, None) => Kind::Basic(b),
            (None, Some(t), None) => Kind::Token(t),
            (None, None, Some(source)) => {
                let default_login = match first_marathon.and_then(|u| Some((u.scheme_str()?, u.authority()?))) {
                    Some((scheme, authority)) => format!("{scheme}://{authority}{DCOS_LOGIN_PATH}"),
                    None => String::new(),
                };
                Kind::ServiceAccount { source, default_login, current: tokio::sync::Mutex::new(None) }
            }
            _ => bail!(
                "[upstream.auth]: give one kind of credentials (credentials_file or ${ENV_CREDENTIALS}, token_file, \
                 dcos_service_account_file or ${ENV_DCOS_SERVICE_ACCOUNT}), not several"
            ),
        };
        Ok(OwnCredentials { kind })
    }

    /// Reads and checks the secret once (for `serve --check-config` and at start): a missing file,
    /// a Basic value without `:`, a credential that is not DC/OS's JSON are errors that name
    /// where the secret comes from, never the secret.
    pub fn check(&self) -> anyhow::Result<()> {
        match &self.kind {
            Kind::None => Ok(()),
            Kind::Basic(s) => basic_header(&s.read()?).map(drop).with_context(|| format!("credentials from {}", s.origin())),
            Kind::Token(s) => token_header(&s.read()?).map(drop).with_context(|| format!("token from {}", s.origin())),
            Kind::ServiceAccount { source, .. } => {
                let c = parse_account(&source.read()?).with_context(|| format!("DC/OS service account from {}", source.origin()))?;
                sign_login(&c).map(drop).with_context(|| format!("DC/OS service account from {}", source.origin()))
            }
        }
    }

    /// What is configured, for messages: the kind and where it comes from, never the secret.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::None => "none".to_owned(),
            Kind::Basic(s) => format!("HTTP Basic from {}", s.origin()),
            Kind::Token(s) => format!("a token from {}", s.origin()),
            Kind::ServiceAccount { source, .. } => format!("a DC/OS service account from {}", source.origin()),
        }
    }

    /// Whether any credentials are configured.
    pub fn configured(&self) -> bool {
        !matches!(self.kind, Kind::None)
    }

    /// The `Authorization` value for a request of the proxy's own (logging in first when a
    /// service account has no valid token).
    pub(crate) async fn authorization(&self, http: &HttpClient) -> anyhow::Result<Option<HeaderValue>> {
        match &self.kind {
            Kind::None => Ok(None),
            Kind::Basic(s) => basic_header(&s.read()?).map(Some),
            Kind::Token(s) => token_header(&s.read()?).map(Some),
            Kind::ServiceAccount { source, default_login, current } => {
                let mut current = current.lock().await;
                let fresh = current.as_ref().filter(|t| SystemTime::now() < t.renew_at).cloned();
                let logged_in = match fresh {
                    Some(t) => t,
                    None => {
                        let t = login(http, &source.read()?, default_login).await.with_context(|| format!("DC/OS login with the service account from {}", source.origin()))?;
                        *current = Some(t.clone());
                        t
                    }
                };
                token_header(&logged_in.token).map(Some)
            }
        }
    }

    /// Marathon answered 401 to what [`Self::authorization`] gave: read the files again and log
    /// in again before the next request.
    pub(crate) async fn refused(&self) {
        match &self.kind {
            Kind::None => {}
            Kind::Basic(s) | Kind::Token(s) => s.forget(),
            Kind::ServiceAccount { source, current, .. } => {
                source.forget();
                *current.lock().await = None;
            }
        }
    }
}

fn sensitive(value: String) -> anyhow::Result<HeaderValue> {
    let mut v = HeaderValue::try_from(value).map_err(|_| anyhow::anyhow!("the value holds characters a header cannot carry"))?;
    v.set_sensitive(true);
    Ok(v)
}

fn basic_header(user_pass: &Secret) -> anyhow::Result<HeaderValue> {
    if !user_pass.expose().contains(':') {
        bail!("expected user:password");
    }
    sensitive(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass.expose())))
}

fn token_header(token: &Secret) -> anyhow::Result<HeaderValue> {
    if token.expose().is_empty() {
        bail!("the token is empty");
    }
    sensitive(format!("token={}", token.expose()))
}

fn parse_account(json: &Secret) -> anyhow::Result<ServiceAccountCredential> {
    // serde_json's messages quote no input, only positions.
    let c: ServiceAccountCredential = serde_json::from_str(json.expose()).context("not a DC/OS service-account credential (JSON with uid and private_key)")?;
    if c.scheme != "RS256" {
        bail!("scheme {:?}: only RS256 is supported", c.scheme);
    }
    Ok(c)
}

/// The login JWT: RS256 over `{uid, exp}` with the account's private key.
fn sign_login(c: &ServiceAccountCredential) -> anyhow::Result<Secret> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(c.private_key.as_bytes()).map_err(|_| anyhow::anyhow!("private_key is not an RSA private key in PEM"))?;
    let exp = (SystemTime::now() + LOGIN_JWT_LIFETIME).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &LoginClaims { uid: &c.uid, exp }, &key)
        .map_err(|e| anyhow::anyhow!("cannot sign the login token: {e}"))?;
    Ok(Secret(jwt))
}

/// `POST login_endpoint {"uid", "token": <login JWT>}` -> `{"token": ...}`.
async fn login(http: &HttpClient, credential: &Secret, default_login: &str) -> anyhow::Result<LoggedIn> {
    let c = parse_account(credential)?;
    let endpoint = c.login_endpoint.clone().unwrap_or_else(|| default_login.to_owned());
    let body = serde_json::json!({"uid": c.uid, "token": sign_login(&c)?.expose()}).to_string();
    let req = Request::builder()
        .method(Method::POST)
        .uri(&endpoint)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(UpstreamBody::Full(Some(Bytes::from(body))))
        .with_context(|| format!("login_endpoint {endpoint:?}"))?;
    let answer = async {
        let resp = http.request(req).await.map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = tokio::time::timeout(LOGIN_TIMEOUT, answer)
        .await
        .map_err(|_| anyhow::anyhow!("{endpoint}: no answer within {LOGIN_TIMEOUT:?}"))??;
    if !status.is_success() {
        // The IAM's error names the reason (`ERR_INVALID_CREDENTIALS`); it holds no secret.
        let code = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("code")?.as_str().map(str::to_owned));
        bail!("{endpoint} answered {status}{}", code.map(|c| format!(" ({c})")).unwrap_or_default());
    }
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("{endpoint}: the answer holds no token"))?;
    let renew_at = renew_at(&token, SystemTime::now());
    Ok(LoggedIn { token: Secret(token), renew_at })
}

/// Three quarters into the token's lifetime, by its own `exp` (a JWT's claims are readable
/// without its key). A token that says nothing is kept until Marathon refuses it.
fn renew_at(token: &str, now: SystemTime) -> SystemTime {
    let exp = token
        .split('.')
        .nth(1)
        .and_then(|claims| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|v| v.get("exp")?.as_u64())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    match exp {
        Some(exp) => now + exp.duration_since(now).unwrap_or_default() * 3 / 4,
        None => now + Duration::from_secs(100 * 365 * 86_400),
    }
}

#[cfg(test)]
mod tests;
