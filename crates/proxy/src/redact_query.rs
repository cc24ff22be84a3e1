//! Credentials in query strings, kept out of everything the proxy shows.
//!
//! Why: some clients authenticate with the query (`?access_token=...`, `?token=...`), and a
//! request's target is shown in log lines, in the audit log and in the list of recent decisions:
//! a secret there outlives the request and reaches people and systems that must never hold it.
//! Header values are never shown at all; a query is, because it says what was asked
//! (`?force=true`), so only the values of the parameters that carry credentials are replaced by
//! [`REDACTED`].
//!
//! Which parameters: a name, compared without case, percent-decoded, with `-` read as `_`, that is
//! one of [`BUILT_IN`], or ends with `token`, `secret` or `password` (`refresh_token`,
//! `client_secret`, `db_password`), or is named in `[listener] redact_query_params`
//! ([`set_extra_params`]: process-wide, like the logs it protects).
//!
//! Phases get the request's target with those values already replaced ([`redact_uri`]), so that
//! no phase holds them and none can log, audit or store them (the shared ledger keeps a write's
//! query in ZooKeeper); Marathon gets the request as it was sent.

use std::borrow::Cow;
use std::sync::RwLock;

use http::Uri;

/// What a secret value is replaced with where a target is shown.
pub const REDACTED: &str = "<redacted>";

/// [`REDACTED`] percent-encoded: a request target cannot hold `<` or `>`.
const REDACTED_IN_URI: &str = "%3Credacted%3E";

/// Parameter names that carry credentials, besides those ending with one of [`SUFFIXES`].
pub const BUILT_IN: &[&str] = &["auth", "authorization", "api_key", "apikey", "key", "passwd", "pwd", "credentials", "jwt", "signature", "sig"];

/// Name endings that carry credentials (`access_token`, `client_secret`, `password`).
const SUFFIXES: &[&str] = &["token", "secret", "password"];

/// Names from `[listener] redact_query_params`, normalised.
static EXTRA: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Sets the names redacted besides the built-in ones (`[listener] redact_query_params`).
pub fn set_extra_params(names: &[String]) {
    let names = names.iter().map(|n| normalise(n)).filter(|n| !n.is_empty()).collect();
    *EXTRA.write().unwrap_or_else(|e| e.into_inner()) = names;
}

/// `path_and_query` with the values of credential parameters replaced by [`REDACTED`]: what a log
/// line, an audit record or a metric may show of a request target.
pub fn redact_query(path_and_query: &str) -> Cow<'_, str> {
    redact_with(path_and_query, REDACTED)
}

/// `uri` with the values of credential parameters replaced by `%3Credacted%3E` ([`REDACTED`],
/// percent-encoded); the same `uri` when there are none.
pub fn redact_uri(uri: &Uri) -> Cow<'_, Uri> {
    let Some(pq) = uri.path_and_query() else { return Cow::Borrowed(uri) };
    let Cow::Owned(redacted) = redact_with(pq.as_str(), REDACTED_IN_URI) else { return Cow::Borrowed(uri) };
    let mut parts = uri.clone().into_parts();
    // Only a value was replaced, by valid characters; should the target still not parse, the
    // query goes rather than the secret stays.
    parts.path_and_query = Some(redacted.parse().unwrap_or_else(|_| uri.path().parse().unwrap_or_else(|_| "/".parse().unwrap())));
    Cow::Owned(Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/")))
}

/// Whether a query parameter called `name` (as sent: possibly percent-encoded) carries a credential.
pub fn is_secret_param(name: &str) -> bool {
    let name = normalise(name);
    BUILT_IN.contains(&name.as_str())
        || SUFFIXES.iter().any(|s| name.ends_with(s))
        || EXTRA.read().unwrap_or_else(|e| e.into_inner()).contains(&name)
}

fn redact_with<'a>(path_and_query: &'a str, marker: &str) -> Cow<'a, str> {
    let Some((path, query)) = path_and_query.split_once('?') else { return Cow::Borrowed(path_and_query) };
    let secret = |pair: &str| pair.split_once('=').is_some_and(|(name, _)| is_secret_param(name));
    if !query.split('&').any(secret) {
        return Cow::Borrowed(path_and_query);
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => Cow::Owned(format!("{name}={marker}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(format!("{path}?{}", pairs.join("&")))
}

/// Lower case, percent-decoded, `+` as a space, `-` as `_`.
fn normalise(name: &str) -> String {
    let bytes = name.trim().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_are_replaced_and_the_rest_is_kept() {
        let cases = [
            ("/v2/apps?access_token=SECRET", "/v2/apps?access_token=<redacted>"),
            ("/v2/apps/a?force=true&token=SECRET&embed=apps.tasks", "/v2/apps/a?force=true&token=<redacted>&embed=apps.tasks"),
            ("/v2/apps?Password=SECRET&API-Key=SECRET", "/v2/apps?Password=<redacted>&API-Key=<redacted>"),
            ("/v2/apps?access%5Ftoken=SECRET", "/v2/apps?access%5Ftoken=<redacted>"),
            ("/v2/apps?client_secret=SECRET&auth=SECRET", "/v2/apps?client_secret=<redacted>&auth=<redacted>"),
            ("/v2/apps?token=a=b=SECRET", "/v2/apps?token=<redacted>"),
        ];
        for (target, shown) in cases {
            assert_eq!(redact_query(target), shown);
        }
        for same in ["/v2/apps", "/v2/apps?force=true", "/v2/apps?token", "/v2/apps/token=SECRET", "/v2/groups?embed=group.apps&"] {
            assert!(matches!(redact_query(same), Cow::Borrowed(s) if s == same), "{same}");
        }
    }

    #[test]
    fn configured_names_are_redacted_too() {
        assert_eq!(redact_query("/v2/apps?x-amz-credential=SECRET"), "/v2/apps?x-amz-credential=SECRET");
        set_extra_params(&["X-Amz-Credential".to_owned(), " ".to_owned()]);
        assert_eq!(redact_query("/v2/apps?x_amz_credential=SECRET&force=1"), "/v2/apps?x_amz_credential=<redacted>&force=1");
        set_extra_params(&[]);
        assert!(!is_secret_param("x_amz_credential"));
    }

    #[test]
    fn a_uri_keeps_its_shape_and_loses_the_secret() {
        let uri: Uri = "/v2/apps?force=true&access_token=SECRET".parse().unwrap();
        let shown = redact_uri(&uri);
        assert_eq!(shown.to_string(), "/v2/apps?force=true&access_token=%3Credacted%3E");
        assert_eq!(shown.query(), Some("force=true&access_token=%3Credacted%3E"));
        // The uri form, shown again, reads as the log form.
        assert_eq!(redact_query(&shown.to_string()), "/v2/apps?force=true&access_token=<redacted>");
        let absolute: Uri = "http://m:8080/v2/apps?token=SECRET".parse().unwrap();
        assert_eq!(redact_uri(&absolute).to_string(), "http://m:8080/v2/apps?token=%3Credacted%3E");
        let plain: Uri = "/v2/apps?force=true".parse().unwrap();
        assert!(matches!(redact_uri(&plain), Cow::Borrowed(_)));
    }
}
