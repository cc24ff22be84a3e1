use super::*;

fn app(raw: &str) -> App {
    App::parse(raw.as_bytes()).unwrap()
}

const FULL: &str = r#"{"id":"/prod/web","version":"2026-01-01T00:00:00.000Z","instances":3,"cpus":0.5,"mem":256,
    "env":{"A":"1","B":{"secret":"s"}},"healthChecks":[{"protocol":"HTTP"},{"protocol":"COMMAND"}],
    "portDefinitions":[{"port":10001},{"port":0}],"labels":{"x":"y"},"unknown":{"kept":[1,2.5]}}"#;

#[test]
fn a_packed_app_reads_back_equal_and_keeps_its_facts() {
    let typed = SharedApp::new(app(FULL));
    let mut packed = typed.clone();
    packed.pack();
    assert!(packed.is_packed() && !typed.is_packed());
    assert_eq!(*packed.app(), *typed.app());
    assert_eq!(packed, typed);
    assert_eq!(packed.id(), Some("/prod/web"));
    assert_eq!(packed.version(), Some("2026-01-01T00:00:00.000Z"));
    let facts = |a: &SharedApp| {
        (a.instances(), a.cpus(), a.mem(), a.disk(), a.gpus(), a.env_count(), a.marathon_health_checks(), a.service_ports().into_owned())
    };
    assert_eq!(facts(&packed), (3, 0.5, 256.0, 0.0, 0.0, 2, 1, vec![10001, 0]));
    assert_eq!(facts(&packed), facts(&typed));
    assert_eq!(serde_json::to_value(&packed).unwrap(), serde_json::to_value(&typed).unwrap());
}

#[test]
fn changing_a_shared_or_packed_app_leaves_the_others_alone() {
    let mut original = SharedApp::new(app(FULL));
    original.pack();
    let mut changed = original.clone();
    changed.make_mut().instances = Some(7);
    assert!(!changed.is_packed());
    assert_eq!((original.instances(), changed.instances()), (3, 7));
    assert_ne!(original, changed);
    assert_eq!(original.app().instances, Some(3));
}

#[test]
fn the_encoding_is_computed_once_per_value_and_dropped_on_change() {
    let mut a = SharedApp::new(app(FULL));
    let calls = std::cell::Cell::new(0);
    let enc = |app: &App| {
        calls.set(calls.get() + 1);
        Arc::<[u8]>::from(app.instances().to_string().into_bytes())
    };
    assert_eq!(&*a.encoding(1, enc), b"3");
    let copy = a.clone();
    assert_eq!(&*copy.encoding(1, enc), b"3");
    a.pack();
    assert_eq!(&*a.encoding(1, enc), b"3");
    assert_eq!(calls.get(), 1, "shared and packed copies reuse the encoding");
    assert_eq!(&*a.encoding(2, enc), b"3");
    assert_eq!(calls.get(), 2, "another tag is computed");
    a.make_mut().instances = Some(4);
    assert_eq!(&*a.encoding(1, enc), b"4");
    assert_eq!(&*copy.encoding(1, enc), b"3");
}

#[test]
fn packing_is_much_smaller_than_json_with_repetitive_content() {
    let env: serde_json::Map<String, serde_json::Value> =
        (0..200).map(|i| (format!("CONFIG_VAR_{i}"), serde_json::json!("https://svc.internal:8443/path"))).collect();
    let raw = serde_json::json!({"id": "/a", "env": env}).to_string();
    let mut a = SharedApp::new(app(&raw));
    a.pack();
    let Repr::Packed(p) = &a.0.repr else { panic!("packed") };
    assert!(p.compressed_json.len() * 5 < raw.len(), "{} vs {}", p.compressed_json.len(), raw.len());
}

/// The compressor is reused from app to app: each packed app is the very frame a fresh
/// compressor writes, whatever was packed before it on the thread (a large app, then a small one,
/// then the large one again), so that equal apps pack to equal bytes; and it reads back as it was.
#[test]
fn each_packed_app_is_what_a_fresh_compressor_writes() {
    let large = format!(r#"{{"id":"/large","cmd":"{}","env":{{"K":"{}"}}}}"#, "run ".repeat(5_000), "v".repeat(70_000));
    for raw in [large.as_str(), FULL, r#"{"id":"/tiny"}"#, large.as_str(), FULL] {
        let typed = app(raw);
        let json = serde_json::to_vec(&typed).unwrap();
        assert_eq!(&compress(&json)[..], &zstd::bulk::compress(&json, COMPRESSION_LEVEL).unwrap()[..]);
        let mut packed = SharedApp::new(typed.clone());
        packed.pack();
        assert_eq!(*packed.app(), typed);
    }
}
