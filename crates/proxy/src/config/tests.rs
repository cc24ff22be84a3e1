use super::*;

#[test]
fn empty_file_is_all_defaults() {
    let c = ProxyConfig::from_toml_str("", None).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9102");
    assert_eq!(c.limits.max_write_body_bytes, 4 * 1024 * 1024);
    assert!(c.upstream.follow_leader_redirects);
}

#[test]
fn quota_only_file_is_valid_and_admission_is_opaque() {
    let text = r#"
[admission]
mode = "enforce"
[admission.margin]
bytes = 4096

[[quota]]
group = "/prod"
max_bytes = 100000

[[quota]]
group = "/dev"
max_bytes = 5000
"#;
    let c = ProxyConfig::from_toml_str(text, None).unwrap();
    assert_eq!(c.quota.len(), 2);
    assert_eq!(c.quota[0]["group"].as_str(), Some("/prod"));
    assert_eq!(c.admission.unwrap()["mode"].as_str(), Some("enforce"));
}

#[test]
fn unknown_top_level_tables_are_errors_naming_the_line_and_the_nearest_key() {
    let text = "listen = \"127.0.0.1:1\"\n\n[[qouta]]\ngroup = \"/dev\"\nmax_apps = 3\n";
    let err = ProxyConfig::from_toml_str(text, Some(Path::new("p.toml"))).unwrap_err().to_string();
    assert_eq!(err, "p.toml: unknown table `qouta` at line 3; did you mean `quota`?");
    // A key, and one too far from any known key for a guess: the known ones are listed.
    let err = ProxyConfig::from_toml_str("\nlisten_on = \"127.0.0.1:1\"\n", None).unwrap_err().to_string();
    assert!(err.contains("unknown key `listen_on` at line 2; did you mean `listen`?"), "{err}");
    let err = ProxyConfig::from_toml_str("[audit]\nfile = \"x\"\n", None).unwrap_err().to_string();
    assert!(err.contains("unknown table `audit` at line 1 (known here: listen, admin_listen"), "{err}");
}

#[test]
fn typos_inside_proxy_tables_are_errors_naming_the_line() {
    let text = "listen = \"127.0.0.1:1\"\n\n[upstream]\nconect_timeout_ms = 5\n";
    let err = ProxyConfig::from_toml_str(text, Some(Path::new("p.toml")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("p.toml"), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("unknown key `conect_timeout_ms` at line 4; did you mean `connect_timeout_ms`?"), "{err}");
    let nested = "[listener.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nrelaod_interval_secs = 5\n";
    let err = ProxyConfig::from_toml_str(nested, None).unwrap_err().to_string();
    assert!(err.contains("unknown key `relaod_interval_secs` at line 4; did you mean `reload_interval_secs`?"), "{err}");
}

#[test]
fn listener_limits_have_defaults_and_are_checked() {
    let c = ProxyConfig::from_toml_str("", None).unwrap();
    assert_eq!(c.listener.header_read_timeout(), Duration::from_secs(30));
    assert_eq!(c.listener.max_connections, 4096);
    assert!(c.listener.redact_query_params.is_empty());
    let text = "[listener]\nheader_read_timeout_ms = 500\nmax_connections = 10\nredact_query_params = [\"sig\"]\n";
    let c = ProxyConfig::from_toml_str(text, None).unwrap();
    assert_eq!((c.listener.header_read_timeout_ms, c.listener.max_connections), (500, 10));
    assert_eq!(c.listener.redact_query_params, ["sig"]);
    for (bad, line) in [("header_read_timeout_ms = 0", 2), ("max_connections = 0", 2), ("redact_query_params = [\" \"]", 2)] {
        let err = ProxyConfig::from_toml_str(&format!("[listener]\n{bad}\n"), None).unwrap_err().to_string();
        assert!(err.contains(&format!("line {line}")), "{bad}: {err}");
    }
}

#[test]
fn bad_types_name_the_line() {
    let err = ProxyConfig::from_toml_str("\nlisten = 5\n", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn bad_url_names_the_line() {
    let text = "# c\n\nmarathon = [\"ftp://x\"]\n";
    let err = ProxyConfig::from_toml_str(text, Some(Path::new("p.toml")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("http://"), "{err}");
}

#[test]
fn embedded_is_recognised_and_exclusive() {
    let c = ProxyConfig::from_toml_str("marathon = [\"embedded\"]", None).unwrap();
    assert!(c.wants_embedded());
    assert!(c.marathon_uris().is_err());
    assert!(ProxyConfig::from_toml_str("marathon = [\"embedded\", \"http://a\"]", None).is_err());
}

#[test]
fn env_overrides() {
    let mut c = ProxyConfig::default();
    c.apply_env(|k| match k {
        ENV_LISTEN => Some("127.0.0.1:7000".into()),
        ENV_MARATHON => Some("http://a:8080, https://b:8443".into()),
        ENV_MAX_WRITE_BODY_BYTES => Some("10".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.listen.port(), 7000);
    assert_eq!(c.marathon, vec!["http://a:8080", "https://b:8443"]);
    assert_eq!(c.limits.max_write_body_bytes, 10);
    assert!(c.apply_env(|k| (k == ENV_LISTEN).then(|| "nope".into())).is_err());
}

#[test]
fn shipped_proxy_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proxy.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let c = ProxyConfig::from_toml_str(&text, Some(&path)).unwrap();
    assert!(c.wants_embedded());
    assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:9102");
}

#[test]
fn credentials_in_urls_are_refused_without_echoing_them() {
    let err = ProxyConfig::from_toml_str("marathon = [\"http://u:hunter2@m:8080\"]", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("credentials"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = ProxyConfig::from_toml_str("marathon = [\"ftp://u:hunter2@m\"]", None)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}
