use serde_json::{json, Value};

use super::{read_body, ReadError};

const PLAIN: &str = r#"{"id":"/a","cmd":"x","instances":2}"#;

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let units = (bom.then_some(0xFEFF)).into_iter().chain(text.encode_utf16());
    units.flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

fn utf32(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let points = (bom.then_some(0xFEFF)).into_iter().chain(text.chars().map(u32::from));
    points.flat_map(|c| if big_endian { c.to_be_bytes() } else { c.to_le_bytes() }).collect()
}

fn read(body: impl AsRef<[u8]>) -> Value {
    read_body(body.as_ref()).unwrap_or_else(|e| panic!("{:?} refused: {e:?}", String::from_utf8_lossy(body.as_ref())))
}

fn syntax_error(body: impl AsRef<[u8]>) -> String {
    match read_body(body.as_ref()) {
        Err(ReadError::Syntax(text)) => text,
        other => panic!("{:?}: expected a syntax error, got {other:?}", String::from_utf8_lossy(body.as_ref())),
    }
}

#[test]
fn every_encoding_jackson_detects_reads_alike() {
    let plain = read(PLAIN);
    let mut bom8 = vec![0xEF, 0xBB, 0xBF];
    bom8.extend_from_slice(PLAIN.as_bytes());
    assert_eq!(read(bom8), plain);
    for big_endian in [true, false] {
        for bom in [true, false] {
            assert_eq!(read(utf16(PLAIN, big_endian, bom)), plain, "UTF-16 be={big_endian} bom={bom}");
            assert_eq!(read(utf32(PLAIN, big_endian, bom)), plain, "UTF-32 be={big_endian} bom={bom}");
        }
    }
    // Non-ASCII text survives every encoding.
    let text = r#"{"id":"/a","cmd":"échö 😀"}"#;
    assert_eq!(read(utf16(text, false, false))["cmd"], "échö 😀");
    assert_eq!(read(utf32(text, true, true))["cmd"], "échö 😀");
}

#[test]
fn ucs4_in_odd_byte_orders_is_an_encoding_failure() {
    for body in [
        &[0x00, 0x00, 0xFF, 0xFE, 0, 0, 0x7B, 0][..],
        &[0xFE, 0xFF, 0x00, 0x00][..],
        &[0x00, 0x7B, 0x00, 0x00][..],
        &[0x00, 0x00, 0x7B, 0x00][..],
    ] {
        assert!(matches!(read_body(body), Err(ReadError::Encoding(m)) if m.contains("UCS-4")), "{body:?}");
    }
}

#[test]
fn utf16_decoding_replaces_malformed_units_as_java_does() {
    // A lone low surrogate, then a high surrogate before a plain character: one U+FFFD each, the
    // character after the high surrogate swallowed with it.
    let mut body = utf16(r#"{"cmd":""#, false, false);
    body.extend([0x00, 0xDC, 0x00, 0xD8, 0x41, 0x00]);
    body.extend(utf16(r#"B"}"#, false, false));
    assert_eq!(read(&body)["cmd"], "\u{FFFD}\u{FFFD}B");
    // An odd byte at the end is one more character, which ends nothing: after the first value it
    // is not a token.
    let mut odd = utf16("{}", true, false);
    odd.push(0x20);
    assert!(read_body(&odd).is_err());
}

#[test]
fn utf32_failures_count_only_in_chunks_the_parser_reaches() {
    let mut early = utf32(r#"{"cmd":"x"#, true, false);
    early.extend(0x0011_0000u32.to_be_bytes());
    early.extend(utf32(r#""}"#, true, false));
    assert!(matches!(read_body(&early), Err(ReadError::Encoding(_))));

    // After the first value, a string token is never read: what lies 4000 characters further is
    // never decoded.
    let mut late = utf32(&format!("{PLAIN} \"{}", "x".repeat(5000)), true, false);
    late.extend(0x0011_0000u32.to_be_bytes());
    assert_eq!(read(&late), read(PLAIN));
    let mut ragged = utf32(&format!("{PLAIN} \"{}", "x".repeat(5000)), false, false);
    ragged.push(0);
    assert_eq!(read(&ragged), read(PLAIN));

    // A cut-off last character in the chunk the parser reads fails.
    let mut short = utf32(PLAIN, false, false);
    short.extend([0x20, 0]);
    assert!(matches!(read_body(&short), Err(ReadError::Encoding(_))));
}

#[test]
fn the_first_value_is_read_and_only_the_next_token_checked() {
    let plain = read(PLAIN);
    for ok in [
        "",
        " ",
        "\n\r\t",
        "{\"id\":\"/b\"}",
        "[",
        "{",
        " \"unterminated \\x",
        " 123",
        " -1.5e3 ",
        " true",
        " null!",
        " false:",
        "[]]]",
    ] {
        assert_eq!(read(format!("{PLAIN}{ok}")), plain, "{ok:?}");
    }
    for bad in [
        " garbage",
        "}",
        "]",
        " 12x",
        " 01",
        " -",
        " truex",
        " nul",
        " // comment",
        " /* c */",
        " #",
        " ,",
        "\u{0}",
        "\u{b}",
        " 'a'",
        " \u{a0}",
        " NaN",
        " +1",
    ] {
        syntax_error(format!("{PLAIN}{bad}"));
    }
    // Invalid UTF-8 after a literal is decoded (and fails); valid text is no identifier.
    syntax_error([PLAIN.as_bytes(), b" true\xC3("].concat());
    assert_eq!(read([PLAIN.as_bytes(), " true€".as_bytes()].concat()), plain);
    // A first value of `null` is returned without looking further.
    assert_eq!(read("null garbage"), Value::Null);
    // A number at the root must be followed by white space.
    assert_eq!(read("5 6"), json!(5));
    syntax_error("5x");
    syntax_error("5 x");
}

#[test]
fn blank_bodies_have_no_content() {
    for body in ["", "   ", "\r\n\t"] {
        assert_eq!(read_body(body.as_bytes()), Err(ReadError::NoContent), "{body:?}");
    }
    // A UTF-8 BOM is skipped only when four bytes are there to look at.
    assert_eq!(read_body(&[0xEF, 0xBB, 0xBF, b' ']), Err(ReadError::NoContent));
    syntax_error([0xEF, 0xBB, 0xBF]);
}

#[test]
fn numbers_are_held_as_play_json_reads_them() {
    let cases = [
        ("10", json!(10)),
        ("10.0", json!(10)),
        ("1e1", json!(10)),
        ("1E+1", json!(10)),
        ("100e-1", json!(10)),
        ("-0.0", json!(0)),
        ("-3.000", json!(-3)),
        ("18446744073709551615", json!(u64::MAX)),
        ("-9223372036854775808", json!(i64::MIN)),
        ("10.5", json!(10.5)),
        ("10.000000000000000001", json!(10.0)),
        ("1e20", json!(1e20)),
        ("1e400", json!(f64::MAX)),
        ("-1e400", json!(f64::MIN)),
        ("1e-400", json!(0.0)),
        ("0.1", json!(0.1)),
    ];
    for (text, expected) in cases {
        let v = read(format!(r#"{{"n":{text}}}"#));
        assert_eq!(v["n"], expected, "{text}");
        assert_eq!(v["n"].is_f64(), expected.is_f64(), "{text}: integer or not");
    }
    // Java's BigDecimal refuses exponents past an int and scales past an int.
    for text in ["1e2147483648", "1e99999999999", "0.1e-2147483648"] {
        assert!(syntax_error(format!(r#"{{"n":{text}}}"#)).contains("Malformed numeric value"), "{text}");
    }
    assert_eq!(read(r#"{"n":1e0000000000000000002147483647}"#)["n"], json!(f64::MAX));
    for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "-Infinity"] {
        syntax_error(format!(r#"{{"n":{bad}}}"#));
    }
}

#[test]
fn strings_are_java_strings() {
    let v = read(br#"{"lone":"a\ud800b","pair":"\ud83d\ude00","low":"\udc00","esc":"\"\\\/\b\f\n\r\t\u00e9"}"#);
    assert_eq!(v["lone"], "a?b");
    assert_eq!(v["pair"], "😀");
    assert_eq!(v["low"], "?");
    assert_eq!(v["esc"], "\"\\/\u{8}\u{c}\n\r\té");
    // UTF-8 that Jackson decodes without checking: an overlong NUL, a surrogate pair encoded one
    // half at a time, a lone encoded surrogate, a code point past U+10FFFF.
    let v = read(b"{\"nul\":\"\xC0\x80\",\"cesu\":\"\xED\xA0\xBD\xED\xB8\x80\",\"half\":\"\xED\xA0\x80\",\"big\":\"\xF5\x80\x80\x80\"}");
    assert_eq!(v["nul"], "\0");
    assert_eq!(v["cesu"], "😀");
    assert_eq!(v["half"], "?");
    assert_eq!(v["big"], "??");
    // Names go through the same decoding.
    assert_eq!(read(br#"{"a\ud800":1}"#)["a?"], 1);
    for bad in [
        &b"{\"s\":\"\xFF\"}"[..],
        b"{\"s\":\"\xC3(\"}",
        b"{\"s\":\"\x80\"}",
        b"{\"s\":\"\xE2\x82\"}",
        b"{\"s\":\"a\nb\"}",
        br#"{"s":"\x"}"#,
        br#"{"s":"\u12G4"}"#,
        b"{\"s\":\"abc",
    ] {
        syntax_error(bad);
    }
}

#[test]
fn standard_json_otherwise() {
    for bad in [
        "{'a':1}",
        "{a:1}",
        "[1,]",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":}",
        "[}",
        "{]",
        "{\"a\":1",
        "[1",
        "{\"a\":1]",
        "// c\n{}",
    ] {
        syntax_error(bad);
    }
    // A repeated key keeps its first place and its last value, as play-json's object does.
    let v = read(r#"{"a":1,"b":2,"a":3}"#);
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":3,"b":2}"#);
}

#[test]
fn deep_nesting_is_read_without_recursion_and_kept_to_a_depth() {
    let depth = 100_000;
    let body = format!(r#"{{"id":"/a","deep":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let v = read(&body);
    let mut at = &v["deep"];
    let mut arrays = 0;
    while let Some(items) = at.as_array() {
        arrays += 1;
        at = &items[0];
    }
    assert_eq!(arrays + 1, 128, "the root object and its arrays are kept to 128 levels");
    assert!(at.is_null(), "the rest stands as null");
    syntax_error(format!("[{}", "[".repeat(depth)));
    // 128 levels (one more than serde_json reads) are kept whole.
    let kept = format!("{}1{}", "[".repeat(128), "]".repeat(128));
    let whole = (0..128).fold(json!(1), |inner, _| json!([inner]));
    assert_eq!(read(&kept), whole);
}
