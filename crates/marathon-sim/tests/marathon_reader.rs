//! The simulator reads request bodies as Marathon does (through the model's reader): a body in any
//! encoding Jackson detects, followed by another value, or with integral numbers written as
//! decimals creates the very app the plain body creates; what Marathon refuses is refused alike.

mod common;

use common::*;
use marathon_model::{App, PathId};
use marathon_sim::{start, SimConfig};
use serde_json::{json, Value};

const APP: &str = r#"{"id":"/prod/web","cmd":"sleep 100","instances":2,"cpus":0.25,"mem":64,"ports":[0],
"healthChecks":[{"protocol":"TCP","portIndex":0,"gracePeriodSeconds":30}],"labels":{"team":"é"}}"#;

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

fn utf32(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let points = bom.then_some(0xFEFF).into_iter().chain(text.chars().map(u32::from));
    points.flat_map(|c| if big_endian { c.to_be_bytes() } else { c.to_le_bytes() }).collect()
}

/// `POST /v2/apps` of `body` on a fresh simulator: the status, and the app it keeps (version
/// aside) or the error body.
async fn create(body: Vec<u8>) -> (u16, Result<App, Value>) {
    let sim = start(SimConfig::default()).await.unwrap();
    let base = sim.url();
    let r = call(&base, "POST", "/v2/apps", body).await;
    let kept = match r.status {
        201 => {
            settle(&base).await;
            let mut app = sim.root().find_app(&PathId::parse("/prod/web")).expect("created").app().into_owned();
            (app.version, app.version_info) = (None, None);
            Ok(app)
        }
        _ => Err(r.json()),
    };
    sim.shutdown().await;
    (r.status, kept)
}

#[tokio::test]
async fn every_spelling_marathon_accepts_creates_the_plain_app() {
    let (status, plain) = create(APP.as_bytes().to_vec()).await;
    assert_eq!(status, 201);
    let spellings = [
        ("UTF-8 BOM", [&[0xEF, 0xBB, 0xBF][..], APP.as_bytes()].concat()),
        ("UTF-16LE", utf16(APP, false, false)),
        ("UTF-16BE BOM", utf16(APP, true, true)),
        ("UTF-32LE BOM", utf32(APP, false, true)),
        ("UTF-32BE", utf32(APP, true, false)),
        ("another value after", format!(r#"{APP}{{"id":"/other","cmd":"x"}}"#).into_bytes()),
        ("an unterminated string after", format!("{APP} \"").into_bytes()),
        ("instances 2.0", APP.replace(r#""instances":2"#, r#""instances":2.0"#).into_bytes()),
        (
            "instances 2e0, port index 0.0",
            APP.replace(r#""instances":2"#, r#""instances":2e0"#)
                .replace(r#""portIndex":0"#, r#""portIndex":0.0"#)
                .into_bytes(),
        ),
    ];
    for (name, body) in spellings {
        let (status, app) = create(body).await;
        assert_eq!((status, app), (201, plain.clone()), "{name}");
    }
}

#[tokio::test]
async fn what_marathon_refuses_is_refused_in_its_shape() {
    let (status, body) = create(format!("{APP} garbage").into_bytes()).await;
    assert_eq!(status, 400);
    assert_eq!(body.unwrap_err()["message"], "Invalid JSON");

    let (status, body) = create(APP.replace(r#""instances":2"#, r#""instances":2.5"#).into_bytes()).await;
    assert_eq!(
        (status, body.unwrap_err()),
        (
            400,
            json!({"message": "Invalid JSON", "details": [{"path": "/instances", "errors": ["error.expected.int"]}]})
        )
    );

    let (status, body) = create(Vec::new()).await;
    assert_eq!((status, body.unwrap_err()["message"].clone()), (400, json!("Please specify data in JSON format")));

    let (status, _) = create(vec![0x00, 0x00, 0xFF, 0xFE, b'{', 0, 0, 0]).await;
    assert_eq!(status, 500, "UCS-4 in 2143 order is Jackson's CharConversionException");
}

#[tokio::test]
async fn task_kills_read_their_body_even_without_scale() {
    let sim = start(SimConfig::default()).await.unwrap();
    let base = sim.url();
    let r = call(&base, "POST", "/v2/tasks/delete", utf16(r#"{"ids":["prod_web.1"]}"#, false, true)).await;
    assert_eq!(r.status, 200);
    let r = call(&base, "POST", "/v2/tasks/delete", r#"{"ids":["prod_web.1"]} x"#).await;
    assert_eq!((r.status, r.json()["message"].clone()), (400, json!("Invalid JSON")));
    sim.shutdown().await;
}
