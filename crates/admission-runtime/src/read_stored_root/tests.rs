use super::*;

fn table(text: &str) -> toml::Table {
    text.parse().unwrap()
}

#[test]
fn the_table_reads_a_location_a_login_and_a_session_timeout() {
    let c = ZkReadConfig::from_table(Some(&table("read = \"zk1:2181,zk2:2181/marathon\"\ndigest = \"reader:s3cret\"\nsession_timeout_ms = 4000"))).unwrap();
    assert_eq!(c.read, Some(ZkSpec { hosts: "zk1:2181,zk2:2181".into(), path: "/marathon".into() }));
    assert_eq!(c.session_timeout, Duration::from_secs(4));
    assert_eq!(c.login, ZkLogin::new("zookeeper", Some("reader:s3cret".into()), None).unwrap());
    assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
    let sasl = ZkReadConfig::from_table(Some(&table("read = \"zk1:2181/marathon\"\nsasl_digest_md5 = \"reader:s3cret\""))).unwrap();
    assert_eq!(sasl.login, ZkLogin::new("zookeeper", None, Some("reader:s3cret".into())).unwrap());
    let kerberos = ZkReadConfig::from_table(Some(&table("read = \"zk1:2181/marathon\"\nsasl_gssapi = \"zookeeper\""))).unwrap();
    assert_eq!(kerberos.login, ZkLogin::default().with_kerberos("zookeeper", Some("zookeeper".into())).unwrap());
    assert_eq!(ZkReadConfig::from_table(None).unwrap().read, None);
}

#[test]
fn bad_tables_are_refused_with_the_key_named() {
    let err = |t: &str| ZkReadConfig::from_table(Some(&table(t))).unwrap_err().to_string();
    assert!(err("reed = \"zk:2181\"").contains("did you mean `read`"), "{}", err("reed = \"zk:2181\""));
    assert!(err("read = \"/marathon\"").contains("[zookeeper] read"));
    assert!(err("read = \"zk:2181\"\ndigest = \"nopassword\"").contains("user:password"));
    assert!(err("read = \"zk:2181\"\nsasl_digest_md5 = \"nopassword\"").contains("[zookeeper] sasl_digest_md5"));
    assert!(err("read = \"zk:2181\"\nsession_timeout_ms = 0").contains("more than 0"));
    assert!(err("read = \"zk:2181\"\nsasl_gssapi = \"\"").contains("[zookeeper] sasl_gssapi"));
}

fn legacy_node(root: &Group, cfg: &StoreConfig) -> RootNode {
    let data = znode_size::legacy_root_entry(root, "00000000-0000-0000-0000-000000000000", cfg);
    RootNode { layout: RootLayout::Legacy, data_length: data.len() as u64, data, version: 3 }
}

fn root_of(json: &str) -> Group {
    marathon_model::ops::canonical_root(Group::parse(json.as_bytes()).unwrap(), marathon_model::ops::Flavour::V13)
}

#[test]
fn the_estimate_error_is_measured_only_against_the_same_root_version() {
    let cfg = StoreConfig::marathon_1_3();
    let root = root_of(r#"{"id":"/","version":"2017-01-01T00:00:00.000Z","apps":[{"id":"/a","cmd":"sleep 1"}]}"#);
    let stored = StoredRoot::decode(&legacy_node(&root, &cfg)).unwrap();
    assert_eq!(stored.estimate_error(&root, &cfg), Some(0));
    let mut bigger = root.clone();
    bigger.apps.as_mut().unwrap()[0].make_mut().cmd = Some("sleep 1000000".into());
    assert_eq!(stored.estimate_error(&bigger, &cfg), Some(6), "the model holds 6 more bytes than ZooKeeper");
    let mut newer = root.clone();
    newer.version = Some("2017-01-01T00:00:01.000Z".into());
    assert_eq!(stored.estimate_error(&newer, &cfg), None, "a newer model is not compared with an older node");
}
