//! Every public definition in the shared corpus parses, or fails with an error naming the field.

use std::path::PathBuf;

use marathon_model::{App, Group, PathId, Pod};

fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/marathon").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").map(<[u8]>::to_vec).unwrap_or(bytes);
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// Files whose content Marathon itself refuses; each error must name the field.
fn report(kind: &str, results: Vec<(String, Result<(), String>)>) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, result) in results {
        if let Err(err) = result {
            assert!(err.contains('`'), "{kind}/{name}: error does not name a field: {err}");
            failures.push(format!("{name}: {err}"));
        }
    }
    failures
}

fn assert_refused_exactly(failures: &[String], expected: &[&str]) {
    let refused: Vec<&str> = failures.iter().map(|f| &f[..5]).collect();
    assert_eq!(refused, expected, "refused:\n{}", failures.join("\n"));
}

#[test]
fn corpus_apps_parse() {
    let results = corpus("apps")
        .into_iter()
        .map(|(name, bytes)| (name, App::parse(&bytes).map(|_| ()).map_err(|e| e.to_string())))
        .collect();
    let failures = report("apps", results);
    // Templates with placeholders in numbers, strings where booleans belong, null labels:
    // Marathon refuses these too.
    let expected = ["0016-", "0444-", "0445-", "0446-", "0496-", "0497-"];
    assert_refused_exactly(&failures, &expected);
}

#[test]
fn corpus_groups_parse_and_normalize() {
    let results = corpus("groups")
        .into_iter()
        .map(|(name, bytes)| {
            let parsed = Group::parse(&bytes).and_then(|g| g.normalized(&PathId::root()));
            (name, parsed.map(|_| ()).map_err(|e| e.to_string()))
        })
        .collect();
    let failures = report("groups", results);
    // A group without id, a boolean env value, a boolean label: Marathon refuses these too.
    let expected = ["0524-", "0537-", "0541-"];
    assert_refused_exactly(&failures, &expected);
}

#[test]
fn corpus_pods_parse() {
    for (name, bytes) in corpus("pods") {
        Pod::parse(&bytes).unwrap_or_else(|e| panic!("pods/{name}: {e}"));
    }
}

/// The proxy's app-by-app parse into packed apps gives the root of the typed parse, for every
/// corpus group Marathon would take, in both flavours.
#[test]
fn corpus_groups_parse_packed_as_typed() {
    use marathon_model::ops::{canonical_root, nothing_while_typed, parse_packed_root, AppTexts, Flavour};
    let mut compared = 0;
    for (name, bytes) in corpus("groups") {
        let Ok(typed) = Group::parse(&bytes).and_then(|g| g.normalized(&PathId::root())) else { continue };
        for flavour in [Flavour::V13, Flavour::V14] {
            let packed = parse_packed_root(&bytes, flavour, None, &nothing_while_typed, &mut AppTexts::default()).unwrap_or_else(|e| panic!("groups/{name}: {e}"));
            let expected = canonical_root(typed.clone(), flavour);
            assert_eq!(packed, expected, "groups/{name} ({flavour:?})");
            assert_eq!(serde_json::to_value(&packed).unwrap(), serde_json::to_value(&expected).unwrap(), "groups/{name}");
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} comparisons");
}
