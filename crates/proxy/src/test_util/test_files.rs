//! With `autotests = false`, cargo builds only the test binaries a manifest lists: a file added to
//! `tests/` and declared nowhere would never be compiled, and its tests would never run, without a
//! word. The packages that merge their integration tests into one binary check it with this.

use std::path::Path;

/// Panics naming every `tests/*.rs` of the package in `manifest_dir` that is neither a module
/// (`mod name;`) of the binary rooted at `tests/main.rs` nor the `path` of a `[[test]]` in its
/// `Cargo.toml`.
pub fn assert_every_test_file_is_compiled(manifest_dir: &str) {
    let dir = Path::new(manifest_dir);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let main = read(&dir.join("tests/main.rs"));
    let manifest: toml::Table = read(&dir.join("Cargo.toml")).parse().unwrap();
    let binaries: Vec<&str> = manifest
        .get("test")
        .and_then(|t| t.as_array())
        .map(|tests| tests.iter().filter_map(|t| t.get("path")?.as_str()).collect())
        .unwrap_or_default();
    let mut forgotten = Vec::new();
    for entry in std::fs::read_dir(dir.join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let stem = name.trim_end_matches(".rs");
        let a_module = main.lines().any(|l| l.trim() == format!("mod {stem};"));
        let a_binary = binaries.contains(&format!("tests/{name}").as_str());
        if !a_module && !a_binary {
            forgotten.push(name.to_owned());
        }
    }
    forgotten.sort();
    assert!(
        forgotten.is_empty(),
        "in {}/tests, never compiled: {forgotten:?}; add `mod NAME;` to tests/main.rs, or a [[test]] to Cargo.toml",
        dir.display()
    );
}
