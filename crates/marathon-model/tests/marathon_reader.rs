//! Request bodies are read as Marathon reads them: every spelling Marathon accepts parses to the
//! write the plain spelling parses to, and what Marathon refuses is refused in its shape. A body
//! refused here but accepted by Marathon would be forwarded unchecked as "Marathon answers it".

use marathon_model::ops::{parse_write, Change, ChangeError, Flavour, Write};
use marathon_model::App;
use serde_json::{json, Value};

const APP: &str = r#"{"id":"/prod/web","cmd":"sleep 100","instances":3,"cpus":0.5,"mem":64,"ports":[0,0],
"healthChecks":[{"protocol":"HTTP","portIndex":0,"gracePeriodSeconds":30}],"labels":{"team":"é"}}"#;

fn write(method: &str, path: &str, body: &[u8], flavour: Flavour) -> Result<Write, ChangeError> {
    parse_write(method, path, None, body, flavour).map(|w| w.expect("a write"))
}

fn create(body: &[u8]) -> Result<Write, ChangeError> {
    write("POST", "/v2/apps", body, Flavour::V13)
}

fn created_app(body: &[u8]) -> App {
    match create(body).unwrap_or_else(|e| panic!("{:?} refused: {e:?}", String::from_utf8_lossy(body))).change {
        Change::CreateApp { app } => app,
        other => panic!("not a create: {other:?}"),
    }
}

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

fn utf32(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let points = bom.then_some(0xFEFF).into_iter().chain(text.chars().map(u32::from));
    points.flat_map(|c| if big_endian { c.to_be_bytes() } else { c.to_le_bytes() }).collect()
}

/// Every spelling of `text` that Marathon reads as the same JSON.
fn spellings(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("UTF-8 BOM".to_string(), [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat())];
    for big_endian in [true, false] {
        for bom in [true, false] {
            out.push((format!("UTF-16 be={big_endian} bom={bom}"), utf16(text, big_endian, bom)));
            out.push((format!("UTF-32 be={big_endian} bom={bom}"), utf32(text, big_endian, bom)));
        }
    }
    for tail in ["\n", "  {\"id\":\"/other\"}", "{}", "[1,2", " \"never read", " 42", " true"] {
        out.push((format!("followed by {tail:?}"), format!("{text}{tail}").into_bytes()));
    }
    out.push(("with blanks around".into(), format!(" \r\n\t{text}\r\n ").into_bytes()));
    out
}

#[test]
fn every_spelling_marathon_accepts_is_the_plain_write() {
    let plain = create(APP.as_bytes()).unwrap();
    for (name, body) in spellings(APP) {
        assert_eq!(create(&body).as_ref(), Ok(&plain), "{name}");
    }
    // The same for the other bodies: app lists, groups, pods, task kills.
    let apps = format!("[{APP}]");
    let group = format!(r#"{{"id":"/prod","apps":[{APP}]}}"#);
    let pod = r#"{"id":"/p","scaling":{"kind":"fixed","instances":2.0},"containers":[{"name":"c","resources":{"cpus":0.1,"mem":32.0}}]}"#;
    let kill = r#"{"ids":["prod_web.1","prod_web.2"]}"#;
    let cases = [
        ("PUT", "/v2/apps", apps.as_str(), Flavour::V13),
        ("PUT", "/v2/groups/prod", group.as_str(), Flavour::V13),
        ("POST", "/v2/pods", pod, Flavour::V14),
        ("POST", "/v2/tasks/delete?scale=true", kill, Flavour::V13),
    ];
    for (method, path, body, flavour) in cases {
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let parse = |b: &[u8]| parse_write(method, path, query, b, flavour).map(|w| w.expect("a write"));
        let plain = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        for (name, spelled) in spellings(body) {
            assert_eq!(parse(&spelled).as_ref(), Ok(&plain), "{method} {path}: {name}");
        }
    }
}

#[test]
fn what_follows_the_first_value_is_refused_only_when_jackson_cannot_start_a_token() {
    for tail in [" garbage", "}", "]", " 12x", " nul", " //", ",", "\u{0}"] {
        let err = create(format!("{APP}{tail}").as_bytes()).unwrap_err();
        assert_eq!((err.status(), &err.body()["message"]), (400, &json!("Invalid JSON")), "{tail:?}");
        assert!(err.body()["details"].is_string(), "a parser error's details are its text");
    }
}

#[test]
fn integer_fields_take_numbers_without_fraction() {
    let plain = created_app(APP.as_bytes());
    for spelled in ["3.0", "3.000", "3e0", "0.3e1", "30E-1"] {
        let app = created_app(APP.replace(r#""instances":3"#, &format!(r#""instances":{spelled}"#)).as_bytes());
        assert_eq!(app, plain, "instances {spelled}");
        assert_eq!(serde_json::to_value(&app).unwrap()["instances"], json!(3), "stored as Marathon stores it");
    }
    let app = created_app(
        APP.replace(r#""portIndex":0,"gracePeriodSeconds":30"#, r#""portIndex":0.0,"gracePeriodSeconds":3e1"#)
            .as_bytes(),
    );
    assert_eq!(app, plain);
    let app = created_app(APP.replace("[0,0]", "[0.0,0e5]").as_bytes());
    assert_eq!(app, plain);

    // A pod is kept as JSON: its integers are integers.
    let pod = br#"{"id":"/p","scaling":{"kind":"fixed","instances":2.0},"containers":[{"name":"c","resources":{"cpus":1.0,"mem":32.0}}]}"#;
    let Change::CreatePod { pod } = write("POST", "/v2/pods", pod, Flavour::V14).unwrap().change else {
        panic!("a pod")
    };
    assert_eq!(pod.instances(), 2);
    assert_eq!(serde_json::to_string(&pod.extra["scaling"]).unwrap(), r#"{"kind":"fixed","instances":2}"#);
    assert_eq!(serde_json::to_string(&pod.extra["containers"][0]["resources"]).unwrap(), r#"{"cpus":1,"mem":32}"#);

    // Unknown fields are kept as Marathon's JSON holds them.
    let app = created_app(APP.replace(r#""cmd""#, r#""x":{"a":2.50,"b":7.0,"c":-0.0},"cmd""#).as_bytes());
    assert_eq!(serde_json::to_string(&app.extra["x"]).unwrap(), r#"{"a":2.5,"b":7,"c":0}"#);
}

#[test]
fn fractions_and_non_numbers_are_refused_as_play_json_refuses_them() {
    let refused = |field: &str, value: &str| -> Value {
        let body = format!(r#"{{"id":"/a","cmd":"x","{field}":{value}}}"#);
        let err = create(body.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400, "{field}: {value}");
        err.body()
    };
    let details =
        |path: &str, error: &str| json!({"message": "Invalid JSON", "details": [{"path": path, "errors": [error]}]});
    assert_eq!(refused("instances", "10.5"), details("/instances", "error.expected.int"));
    assert_eq!(refused("instances", "1e-1"), details("/instances", "error.expected.int"));
    assert_eq!(refused("instances", "3.0000000000000000001"), details("/instances", "error.expected.int"));
    assert_eq!(refused("instances", r#""3""#), details("/instances", "error.expected.jsnumber"));
    assert_eq!(refused("instances", "1e10"), details("/instances", "error.expected.int"));
    assert_eq!(refused("backoffSeconds", "1.5"), details("/backoffSeconds", "error.expected.long"));
    assert_eq!(refused("ports", "[80, 80.5]"), details("/ports(1)", "error.expected.int"));
}

#[test]
fn durations_follow_scala_and_health_checks_keep_the_bits_marathon_persists() {
    // Marathon does not validate health-check numbers: -1 is read, persisted as the protobuf's
    // uint32 of -1, and shown as -1.
    let app = created_app(
        APP.replace(r#""gracePeriodSeconds":30"#, r#""gracePeriodSeconds":-1,"maxConsecutiveFailures":-2"#).as_bytes(),
    );
    let hc = &app.health_checks.as_ref().unwrap()[0];
    assert_eq!((hc.grace_period_seconds, hc.max_consecutive_failures), (Some(u32::MAX), Some(u32::MAX - 1)));
    let shown = serde_json::to_value(&app).unwrap();
    assert_eq!(
        (&shown["healthChecks"][0]["gracePeriodSeconds"], &shown["healthChecks"][0]["maxConsecutiveFailures"]),
        (&json!(-1), &json!(-2))
    );
    assert_eq!(serde_json::from_value::<App>(shown).unwrap(), app, "what the model writes reads back");
    // 5,000,000,000 seconds is a valid duration, persisted as its low 32 bits.
    let app = created_app(APP.replace(r#""gracePeriodSeconds":30"#, r#""gracePeriodSeconds":5000000000"#).as_bytes());
    assert_eq!(app.health_checks.unwrap()[0].grace_period_seconds, Some(5_000_000_000u64 as u32));
    // Past Scala's duration limit, Marathon fails.
    for body in [
        APP.replace(r#""gracePeriodSeconds":30"#, r#""gracePeriodSeconds":9223372037"#),
        APP.replace(r#""cpus""#, r#""backoffSeconds":-9223372037,"cpus""#),
    ] {
        let err = create(body.as_bytes()).unwrap_err();
        assert!(err.body()["details"][0]["errors"][0].as_str().unwrap().contains("Duration is limited"), "{err:?}");
    }
}

#[test]
fn bodies_without_a_value_or_undecodable_are_refused_as_marathon_refuses_them() {
    for blank in ["", "  ", "\r\n"] {
        let err = create(blank.as_bytes()).unwrap_err();
        assert_eq!(err, ChangeError::NoContent);
        assert_eq!((err.status(), &err.body()["message"]), (400, &json!("Please specify data in JSON format")));
    }
    let err = create(&[0x00, 0x00, 0xFF, 0xFE, 0x7B, 0, 0, 0]).unwrap_err();
    assert_eq!(err.status(), 500, "Jackson's CharConversionException is no JsonParseException");
    // A JSON value of the wrong shape is Play's JsResultException (details per path).
    let err = create(b"null").unwrap_err();
    assert!(matches!(err, ChangeError::InvalidJson(_)), "{err:?}");
}

#[test]
fn strings_keep_what_marathon_persists() {
    let app = created_app(br#"{"id":"/a","cmd":"echo \ud800 \ud83d\ude00"}"#);
    assert_eq!(app.cmd.as_deref(), Some("echo ? 😀"), "a lone surrogate is written out as '?'");
}

#[test]
fn deeply_nested_unknown_fields_are_accepted_as_marathon_drops_them() {
    let deep = format!(r#"{{"id":"/a","cmd":"x","x":{}1{}}}"#, "[{\"y\":".repeat(50_000), "}]".repeat(50_000));
    let app = created_app(deep.as_bytes());
    assert_eq!((app.id.as_deref(), app.cmd.as_deref()), (Some("/a"), Some("x")));
    let group = format!(r#"{{"id":"/g","apps":[{deep}]}}"#);
    assert!(write("PUT", "/v2/groups/g", group.as_bytes(), Flavour::V13).is_ok());
}
