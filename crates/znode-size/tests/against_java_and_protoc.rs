//! The encoding checked by independent tools on this machine: Java's own `GZIPOutputStream`
//! (the class Marathon uses) and `protoc --decode_raw` (an independent protobuf decoder).
//! Both are installed by `.ci/run`; a missing tool fails the test rather than skipping it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use marathon_model::{App, Group, PathId};
use znode_size::gzip::java_gzip;
use znode_size::{Estimator, StoreConfig};

fn corpus(rel: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/marathon").join(rel)).unwrap()
}

fn run(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}); .ci/run installs it"));
    // Fed from another thread: a tool that answers while it reads (gzip -d) would otherwise fill
    // its output pipe while the input is still being written.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

/// Compiles a Java program that gzips stdin exactly as Marathon's `IO.gzipCompress` does, once
/// for all the tests of this binary (two compiling into one directory at once race each other).
fn java_gzipper() -> PathBuf {
    static COMPILED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COMPILED.get_or_init(compile_java_gzipper).clone()
}

fn compile_java_gzipper() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("java-gzip");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("Gz.java");
    std::fs::write(
        &src,
        r#"import java.io.*; import java.util.zip.GZIPOutputStream;
public class Gz { public static void main(String[] a) throws Exception {
  byte[] in = System.in.readAllBytes();
  ByteArrayOutputStream bytes = new ByteArrayOutputStream(in.length);
  GZIPOutputStream gzip = new GZIPOutputStream(bytes);
  gzip.write(in); gzip.flush(); gzip.close();
  System.out.write(bytes.toByteArray()); System.out.flush(); } }"#,
    )
    .unwrap();
    let status = Command::new("javac").arg("-d").arg(&dir).arg(&src).status().expect("javac is needed (JDK)");
    assert!(status.success());
    dir
}

#[test]
fn gzip_is_byte_identical_to_java() {
    let dir = java_gzipper();
    let group = Group::parse(&corpus("groups/0584-mesosphere-marathon-155_500.json")).unwrap().normalized(&PathId::root()).unwrap();
    let est = Estimator::new(StoreConfig::default());
    let plan = znode_size::legacy::plan_payload(
        znode_size::legacy::SIZING_UUID,
        znode_size::legacy::SIZING_VERSION,
        &est.encode(&group).to_bytes(),
        &est.encode(&group).to_bytes(),
    );
    let random: Vec<u8> = (0..300_000u64).map(|i| (i.wrapping_mul(6364136223846793005) >> 33) as u8).collect();
    for input in [plan, random, b"tiny".to_vec(), Vec::new()] {
        let java = run(Command::new("java").arg("-cp").arg(&dir).arg("Gz"), &input);
        let ours = java_gzip(&input);
        assert_eq!(java.len(), ours.len(), "length differs for a {}-byte input", input.len());
        // Byte 9 is the OS field: 0 on JDK 8 (what Marathon runs), 0xff on JDK 17.
        assert_eq!(java[..9], ours[..9]);
        assert_eq!(java[10..], ours[10..], "deflate stream differs for a {}-byte input", input.len());
    }
}

#[test]
fn protoc_decodes_the_service_definition_field_by_field() {
    let app = App::parse(
        br#"{"id":"/prod/web","cmd":"run","instances":3,"cpus":0.5,"mem":64,
        "env":{"A":"1","S":{"secret":"db"}},"labels":{"team":"x"},
        "healthChecks":[{"protocol":"HTTP","path":"/health"}],
        "container":{"type":"DOCKER","docker":{"image":"nginx:1.11","network":"BRIDGE",
          "portMappings":[{"containerPort":80,"servicePort":10001}]}},
        "secrets":{"db":{"source":"/db/pass"}},
        "version":"2017-01-01T00:00:00.000Z"}"#,
    )
    .unwrap();
    let bytes = znode_size::service_definition_bytes(&app, znode_size::AppFlavor::V13);
    let text = String::from_utf8(run(Command::new("protoc").arg("--decode_raw"), &bytes)).unwrap();
    let must = [
        "1: \"/prod/web\"\n",
        "3: 3\n",
        "8: \"\"\n",
        "11: \"2017-01-01T00:00:00.000Z\"\n",
        "13: 1000\n",
        "21: 3600000\n",
    ];
    for m in must {
        assert!(text.contains(m), "missing {m:?} in:\n{text}");
    }
    // env var A=1 inside cmd.environment (2 > 2 > 1 name, 2 value); run = cmd value (3).
    assert!(text.contains("1: \"A\"") && text.contains("2: \"1\""), "{text}");
    assert!(text.contains("3: \"run\""), "{text}");
    // The secret reference goes to field 30, not to the environment; the secret to field 29.
    assert!(text.contains("30 {") && text.contains("1: \"db\"") && text.contains("2: \"/db/pass\""), "{text}");
    // Docker: image, network BRIDGE (2), the mapping with host port 0 added, service port tag 100.
    assert!(text.contains("1: \"nginx:1.11\"") && text.contains("100: 10001"), "{text}");
    // One port definition per mapping, numbered with the service port.
    assert!(text.contains("27 {\n  1: 10001"), "{text}");
    // The health check got portIndex 0 (field 2) as Marathon's reader adds it.
    assert!(text.contains("12 {\n  1: 0\n  2: 0\n"), "{text}");
}

/// A whole plan node as the simulator stores it (a heroku-like root, one app scaled), taken apart
/// by tools that share nothing with the engine: `protoc --decode_raw` names the entry's and the
/// plan's fields, `gzip -d` opens the value, and Java's `GZIPOutputStream` of what it holds gives
/// the stored value back byte for byte.
#[test]
fn a_whole_stored_plan_is_java_s_gzip_and_decodes_field_by_field() {
    use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
    use prost::Message;

    let cfg = StoreConfig::marathon_1_3();
    let original = znode_size::synthetic::heroku_root(1000, 10);
    let w = parse_write("PUT", "/v2/apps/heroku/app-0", None, br#"{"instances": 7}"#, Flavour::V13).unwrap().unwrap();
    let target = apply(&original, &w, marathon_model::Timestamp::from_millis(1_764_756_000_123), Flavour::V13, &NoHistory).unwrap().root;
    let plan_id = "6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    let version = "2026-12-03T10:00:00.123Z";
    let entry = znode_size::legacy_plan_entry(plan_id, version, &original, &target, &cfg);

    // The ZKStoreEntry: name, uuid, value, compressed (facts §1.3).
    let text = String::from_utf8(run(Command::new("protoc").arg("--decode_raw"), &entry)).unwrap();
    assert!(text.starts_with(&format!("1: \"deployment:{plan_id}\"\n2: \"{plan_id}\"\n3: ")), "{}", &text[..200.min(text.len())]);
    assert!(text.trim_end().ends_with("4: 1"), "compressed flag: {}", &text[text.len().saturating_sub(200)..]);
    let stored = znode_size::proto::ZkStoreEntry::decode(&entry[..]).unwrap().value;

    // The value opens with gzip, and Java compresses what it holds to the same bytes.
    let raw = run(Command::new("gzip").arg("-dc"), &stored);
    let dir = java_gzipper();
    let java = run(Command::new("java").arg("-cp").arg(&dir).arg("Gz"), &raw);
    assert_eq!(java.len(), stored.len(), "Java's gzip of the plan is {} bytes, the stored value {}", java.len(), stored.len());
    assert_eq!(java[10..], stored[10..], "the deflate stream differs from Java's");

    // The DeploymentPlanDefinition: id, version, the original (4) and the target (5) root groups,
    // each with its groups and apps; the scaled app's instances differ between the two.
    let plan = String::from_utf8(run(Command::new("protoc").arg("--decode_raw"), &raw)).unwrap();
    assert!(plan.starts_with(&format!("1: \"{plan_id}\"\n2: \"{version}\"\n4 {{\n")), "{}", &plan[..200]);
    assert_eq!(plan.matches("\n5 {\n").count(), 1, "one target root group");
    let halves: Vec<&str> = plan.split("\n5 {\n").collect();
    for (half, text) in ["original", "target"].iter().zip(&halves) {
        assert_eq!(text.matches("1: \"/heroku/app-").count(), 800, "{half}: the /heroku apps");
        assert!(text.contains("1: \"/team-4\""), "{half}: the team groups");
    }
    // The app's own field 3 (instances): the first line at the indentation of its id.
    let app0 = |half: &str| {
        let mut lines = half.lines().skip_while(|l| l.trim_start() != "1: \"/heroku/app-0\"");
        let id = lines.next().unwrap();
        let indent = &id[..id.len() - id.trim_start().len()];
        lines.find(|l| l.strip_prefix(indent).is_some_and(|rest| rest.starts_with("3: "))).unwrap().trim().to_string()
    };
    assert_eq!((app0(halves[0]).as_str(), app0(halves[1]).as_str()), ("3: 2", "3: 7"), "instances before and after");
}
