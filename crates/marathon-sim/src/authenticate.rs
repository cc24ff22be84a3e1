//! Authentication in front of the simulator's routing, in one of two modes (or none):
//!
//! - **HTTP Basic, as Marathon's `--http_credentials user:password`** (Marathon 1.3/1.4 get it from
//!   the chaos library: a Jetty `ConstraintSecurityHandler` with a `BasicAuthenticator`, mapped to
//!   `/*` of the one servlet context that also serves `/ping` and `/metrics`, so *no* path is
//!   open). A missing or wrong `Authorization: Basic` answers Jetty's 401: the challenge
//!   `basic realm="<--http_realm>"` (Jetty 9.3 writes the scheme in lower case) and its HTML error
//!   page, before any Marathon filter runs (hence no `X-Marathon-Leader`).
//! - **DC/OS service accounts**: the simulator plays the IAM's `POST /acs/api/v1/auth/login`
//!   (a login JWT signed RS256 with the account's private key, claims `uid` and `exp`) and Admin
//!   Router's check of `Authorization: token=<auth token>` on everything else but `/ping`. Refusals
//!   carry `WWW-Authenticate: acsjwt`; a refused login answers the IAM's JSON error
//!   (`title`, `description`, `code`).
//!
//! Both checks compare with the clock at each request, so a token with a TTL of a second or two
//! is refused as soon as it expires.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::SimConfig;

type ResBody = BoxBody<Bytes, Infallible>;

/// Where the IAM takes service-account logins (behind Admin Router).
pub const DCOS_LOGIN_PATH: &str = "/acs/api/v1/auth/login";

/// DC/OS's default lifetime of an authentication token: 5 days.
pub const DCOS_DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(432_000);

/// Marathon's default `--http_realm`.
pub const DEFAULT_HTTP_REALM: &str = "Mesosphere";

/// Who a request was let in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Authentication is off.
    Anonymous,
    /// An open path in DC/OS mode (`/ping`).
    Public,
    /// The `--http_credentials` user.
    User(String),
    /// A DC/OS service account, by uid.
    ServiceAccount(String),
}

/// What the authentication layer counted (for tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Service-account logins that issued a token.
    pub logins: u64,
    /// Logins refused (401).
    pub login_failures: u64,
    /// Requests refused 401 for missing, wrong, unknown or expired credentials (logins not included).
    pub unauthorized: u64,
}

/// Parses `--http_credentials` as Marathon does (`(.+):(.+)`, greedy: the user runs to the *last*
/// colon). `None` when it does not match; Marathon then logs an error and runs without auth.
pub fn parse_http_credentials(raw: &str) -> Option<(String, String)> {
    let (user, pass) = raw.rsplit_once(':')?;
    if user.is_empty() || pass.is_empty() || raw.contains('\n') {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    login_failures: AtomicU64,
    unauthorized: AtomicU64,
}

struct Basic {
    user: String,
    password: String,
    realm: String,
}

struct Issued {
    uid: String,
    expires: Instant,
}

struct Dcos {
    accounts: HashMap<String, DecodingKey>,
    ttl: Duration,
    secret: Vec<u8>,
    tokens: Mutex<HashMap<String, Issued>>,
}

/// The authentication layer; built once from the [`SimConfig`].
pub struct Authenticator {
    basic: Option<Basic>,
    dcos: Option<Dcos>,
    counters: Counters,
}

/// What a service account's login JWT carries.
#[derive(Deserialize)]
struct LoginClaims {
    uid: String,
    exp: f64,
}

/// The auth token the simulator issues (a JWT, as DC/OS's, but signed HS256 with a per-run secret:
/// clients treat it as opaque, and the simulator trusts only its own table of issued tokens).
#[derive(Serialize)]
struct TokenClaims<'a> {
    uid: &'a str,
    exp: u64,
    jti: String,
}

#[derive(Deserialize)]
struct LoginBody {
    uid: Option<String>,
    token: Option<String>,
    password: Option<String>,
}

impl Authenticator {
    pub fn new(cfg: &SimConfig) -> anyhow::Result<Authenticator> {
        if cfg.http_credentials.is_some() && !cfg.dcos_service_accounts.is_empty() {
            // Both would claim the one `Authorization` header.
            anyhow::bail!("HTTP Basic credentials and DC/OS service accounts are exclusive: choose one");
        }
        let basic = cfg.http_credentials.as_ref().map(|(user, password)| Basic {
            user: user.clone(),
            password: password.clone(),
            realm: cfg.http_realm.clone(),
        });
        let dcos = if cfg.dcos_service_accounts.is_empty() {
            None
        } else {
            let mut accounts = HashMap::new();
            for (uid, pem) in &cfg.dcos_service_accounts {
                let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| anyhow::anyhow!("service account `{uid}`: not an RSA public key in PEM: {e}"))?;
                accounts.insert(uid.clone(), key);
            }
            let mut secret = uuid::Uuid::new_v4().as_bytes().to_vec();
            secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            Some(Dcos { accounts, ttl: cfg.dcos_token_ttl, secret, tokens: Mutex::new(HashMap::new()) })
        };
        Ok(Authenticator { basic, dcos, counters: Counters::default() })
    }

    pub fn stats(&self) -> AuthStats {
        AuthStats {
            logins: self.counters.logins.load(Ordering::Relaxed),
            login_failures: self.counters.login_failures.load(Ordering::Relaxed),
            unauthorized: self.counters.unauthorized.load(Ordering::Relaxed),
        }
    }

    /// Whether this request is the DC/OS login (answered by [`Authenticator::login`], which needs
    /// the body, instead of the routing).
    pub fn is_login(&self, path: &str) -> bool {
        self.dcos.is_some() && path == DCOS_LOGIN_PATH
    }

    /// Lets the request in, or answers it. `path` is the normalised path the routing reads.
    pub fn authenticate(&self, path: &str, uri_path: &str, headers: &HeaderMap) -> Result<Identity, Box<Response<ResBody>>> {
        if let Some(basic) = &self.basic {
            return match basic_credentials(headers) {
                Some((user, pass)) if user == basic.user && pass == basic.password => Ok(Identity::User(user)),
                _ => {
                    self.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
                    Err(Box::new(jetty_401(&basic.realm, uri_path)))
                }
            };
        }
        if let Some(dcos) = &self.dcos {
            if path == "/ping" {
                return Ok(Identity::Public);
            }
            let token = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().strip_prefix("token="))
                .filter(|t| !t.is_empty());
            let now = Instant::now();
            if let Some(token) = token {
                if let Some(issued) = dcos.tokens.lock().unwrap().get(token) {
                    if now < issued.expires {
                        return Ok(Identity::ServiceAccount(issued.uid.clone()));
                    }
                }
            }
            self.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
            return Err(Box::new(adminrouter_401()));
        }
        Ok(Identity::Anonymous)
    }

    /// `POST /acs/api/v1/auth/login` with `{"uid": ..., "token": <login JWT>}`.
    pub fn login(&self, method: &Method, body: &[u8]) -> Response<ResBody> {
        let Some(dcos) = &self.dcos else {
            return iam_error(404, "Not Found", "Resource not found.", "ERR_NOT_FOUND");
        };
        if method != Method::POST {
            return iam_error(
                400,
                "Bad Request",
                "Expected a POST request with a JSON body holding `uid` and `token`.",
                "ERR_MISSING_QUERY_PARAMETERS",
            );
        }
        let parsed: LoginBody = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(_) => return iam_error(400, "Bad Request", "Request has bad Content-Type or lacks JSON data", "ERR_INVALID_DATA"),
        };
        let refuse = |description: &str| {
            self.counters.login_failures.fetch_add(1, Ordering::Relaxed);
            let mut r = iam_error(401, "Invalid credentials", description, "ERR_INVALID_CREDENTIALS");
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("acsjwt"));
            r
        };
        let (Some(uid), Some(login_token)) = (parsed.uid, parsed.token) else {
            if parsed.password.is_some() {
                return refuse("The simulator knows service accounts only (uid and token), not passwords.");
            }
            return iam_error(400, "Bad Request", "Expected `uid` and `token`.", "ERR_INVALID_DATA");
        };
        let Some(key) = dcos.accounts.get(&uid) else {
            return refuse("Login token verification failed: unknown uid.");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        // Expiry is checked below against the clock with sub-second precision and no leeway.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = match jsonwebtoken::decode::<LoginClaims>(&login_token, key, &validation) {
            Ok(data) => data.claims,
            Err(_) => return refuse("Login token verification failed."),
        };
        if claims.uid != uid {
            return refuse("Login token verification failed: `uid` claim does not match.");
        }
        if claims.exp <= unix_now() {
            return refuse("Login token verification failed: the login token has expired.");
        }
        let now = Instant::now();
        let expires = now + dcos.ttl;
        let exp = (unix_now() + dcos.ttl.as_secs_f64()).ceil() as u64;
        let token = match jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &TokenClaims { uid: &uid, exp, jti: uuid::Uuid::new_v4().to_string() },
            &EncodingKey::from_secret(&dcos.secret),
        ) {
            Ok(t) => t,
            Err(e) => return iam_error(500, "Internal Server Error", &format!("issuing a token: {e}"), "ERR_INTERNAL"),
        };
        {
            let mut tokens = dcos.tokens.lock().unwrap();
            tokens.retain(|_, t| t.expires > now);
            tokens.insert(token.clone(), Issued { uid, expires });
        }
        self.counters.logins.fetch_add(1, Ordering::Relaxed);
        json(200, &json!({ "token": token }))
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `Authorization: Basic base64(user:password)` read as Jetty's `BasicAuthenticator` does: scheme
/// case-insensitive, ISO-8859-1, user up to the *first* colon (which must not be the first byte).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = headers.get(AUTHORIZATION)?.as_bytes();
    let raw: String = raw.iter().map(|&b| b as char).collect();
    let space = raw.find(' ').filter(|&i| i > 0)?;
    if !raw[..space].eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw[space + 1..].trim()).ok()?;
    let decoded: String = decoded.iter().map(|&b| b as char).collect();
    let colon = decoded.find(':').filter(|&i| i > 0)?;
    Some((decoded[..colon].to_string(), decoded[colon + 1..].to_string()))
}

fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into()).boxed()
}

fn json(status: u16, body: &serde_json::Value) -> Response<ResBody> {
    let mut r = Response::new(full(serde_json::to_vec(body).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The IAM's error shape.
fn iam_error(status: u16, title: &str, description: &str, code: &str) -> Response<ResBody> {
    json(status, &json!({ "title": title, "description": description, "code": code }))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Jetty 9.3's answer to a request without valid Basic credentials: the challenge and the default
/// error page (without "Powered by Jetty", as Marathon turns the server version off).
fn jetty_401(realm: &str, uri_path: &str) -> Response<ResBody> {
    let page = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n\
         <title>Error 401 Unauthorized</title>\n</head>\n<body><h2>HTTP ERROR 401</h2>\n\
         <p>Problem accessing {}. Reason:\n<pre>    Unauthorized</pre></p>\n</body>\n</html>\n",
        html_escape(uri_path)
    );
    let mut r = Response::new(full(page));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("basic realm=\"{realm}\"")) {
        h.insert(WWW_AUTHENTICATE, v);
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html;charset=ISO-8859-1"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("must-revalidate,no-cache,no-store"));
    r
}

/// Admin Router's refusal of a request without a valid `token=`.
fn adminrouter_401() -> Response<ResBody> {
    let page = "<html>\n<head><title>401 Unauthorized</title></head>\n<body>\n\
                <center><h1>401 Unauthorized</h1></center>\n</body>\n</html>\n";
    let mut r = Response::new(full(page));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("acsjwt"));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_flag_splits_at_the_last_colon() {
        assert_eq!(parse_http_credentials("u:p"), Some(("u".into(), "p".into())));
        assert_eq!(parse_http_credentials("a:b:c"), Some(("a:b".into(), "c".into())));
        assert_eq!(parse_http_credentials("nocolon"), None);
        assert_eq!(parse_http_credentials(":p"), None);
        assert_eq!(parse_http_credentials("u:"), None);
    }

    #[test]
    fn basic_header_as_jetty_reads_it() {
        let mut h = HeaderMap::new();
        let enc = base64::engine::general_purpose::STANDARD.encode("user:pa:ss");
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("bAsIc {enc}")).unwrap());
        assert_eq!(basic_credentials(&h), Some(("user".into(), "pa:ss".into())));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
        let enc = base64::engine::general_purpose::STANDARD.encode(":x");
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {enc}")).unwrap());
        assert_eq!(basic_credentials(&h), None);
    }
}
