//! Checks `znode_size::scala_order` against the real Scala 2.11 library: `tests/scala/ScalaOrder.scala`
//! is compiled with `scalac` (Debian's `scala` package, 2.11.12, whose collections are those of
//! Marathon's 2.11.8) and replays the same insertions and removals into immutable `Map`s and `Set`s
//! of `String` and `PathId` keys, printing their iteration orders.
//!
//! Scala must be installed (`apt-get install scala`; `.ci/run` does it): without it these tests fail.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use znode_size::scala_order::{
    iteration_order, java_string_hash, path_id_hash, path_id_key_order,
    path_id_set_as_strings_order, path_id_to_string, set_iteration_order, string_key_order, Kind,
    ScalaCollection,
};

// ---------------------------------------------------------------------------------------------
// Running the Scala oracle

fn tool(name: &str) -> String {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` not found on PATH: these tests compare against the real Scala 2.11 library and \
         need Debian's `scala` package (`apt-get install scala`, as .ci/run does)"
    );
    name.to_string()
}

/// Compiles the oracle (once per source text, cached under the target dir); returns the class
/// directory.
fn compiled_oracle() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scala/ScalaOrder.scala");
        let text = std::fs::read_to_string(&src).expect("read ScalaOrder.scala");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.join(format!("scala-order-oracle-{:016x}", fnv(&text)));
        let scalac = tool("scalac");
        tool("scala");
        if dir.join("ScalaOrder.class").is_file() {
            return dir;
        }
        let building = tmp.join(format!(
            "scala-order-oracle-building-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&building);
        std::fs::create_dir_all(&building).expect("create oracle class dir");
        let out = Command::new(scalac)
            .arg("-nowarn")
            .arg("-d")
            .arg(&building)
            .arg(&src)
            .output()
            .expect("run scalac");
        assert!(
            out.status.success(),
            "scalac failed on {}:\n{}{}",
            src.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if std::fs::rename(&building, &dir).is_err() {
            // Another run got there first.
            let _ = std::fs::remove_dir_all(&building);
        }
        dir
    })
}

/// What Scala printed for one case.
#[derive(Debug)]
struct Observed {
    class: String,
    by_iterator: Vec<String>,
    by_foreach: Vec<String>,
}

fn run_oracle(cases: &[Case]) -> Vec<Observed> {
    let lines: Vec<String> = cases.iter().map(Case::line).collect();
    run_oracle_lines(&lines)
}

fn run_oracle_lines(lines: &[String]) -> Vec<Observed> {
    let dir = compiled_oracle();
    let mut input = String::new();
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    let file = dir.join(format!("cases-{:x}.txt", fnv(&input)));
    std::fs::write(&file, &input).expect("write case file");
    let out = Command::new(tool("scala"))
        .arg("-nc")
        .arg("-cp")
        .arg(dir)
        .arg("ScalaOrder")
        .arg(&file)
        .output()
        .expect("run scala");
    assert!(
        out.status.success(),
        "scala ScalaOrder failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let observed: Vec<Observed> = text
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(" | ").collect();
            assert_eq!(parts.len(), 3, "bad oracle line {l:?}");
            let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
            Observed {
                class: parts[0].to_string(),
                by_iterator: words(parts[1]),
                by_foreach: words(parts[2]),
            }
        })
        .collect();
    assert_eq!(
        observed.len(),
        lines.len(),
        "oracle printed a wrong number of lines"
    );
    observed
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Cases

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    Str,
    Path,
}

#[derive(Clone, Debug)]
enum Op {
    Add(String),
    Remove(String),
}

#[derive(Clone, Debug)]
struct Case {
    keys: KeyType,
    kind: Kind,
    ops: Vec<Op>,
}

impl Case {
    fn inserts(keys: KeyType, kind: Kind, tokens: &[String]) -> Case {
        Case {
            keys,
            kind,
            ops: tokens.iter().cloned().map(Op::Add).collect(),
        }
    }

    fn line(&self) -> String {
        let mut s = String::new();
        s.push_str(match self.keys {
            KeyType::Str => "S",
            KeyType::Path => "P",
        });
        s.push_str(match self.kind {
            Kind::Map => " map",
            Kind::Set => " set",
        });
        for op in &self.ops {
            match op {
                Op::Add(t) => write!(s, " +{t}").unwrap(),
                Op::Remove(t) => write!(s, " -{t}").unwrap(),
            }
        }
        s
    }
}

/// `A/a/b` → (["a", "b"], true); `R` → ([], false).
fn parse_path(token: &str) -> (Vec<&str>, bool) {
    let absolute = token.starts_with('A');
    (
        token[1..].split('/').filter(|s| !s.is_empty()).collect(),
        absolute,
    )
}

fn hash_of(keys: KeyType, token: &str) -> i32 {
    match keys {
        KeyType::Str => java_string_hash(token),
        KeyType::Path => {
            let (segs, abs) = parse_path(token);
            path_id_hash(&segs, abs)
        }
    }
}

/// Minimal deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";

fn random_string_key(rng: &mut Rng) -> String {
    let len = 1 + rng.below(14);
    (0..len)
        .map(|_| ALNUM[rng.below(ALNUM.len())] as char)
        .collect()
}

fn random_path_key(rng: &mut Rng) -> String {
    const SEGS: &[&str] = &[
        "prod", "dev", "web", "db", "nginx", "api", "a", "b", "c", "x1", "group-2", "..", ".",
    ];
    let mut t = String::from(if rng.below(5) == 0 { "R" } else { "A" });
    for _ in 0..rng.below(5) {
        t.push('/');
        if rng.below(3) == 0 {
            t.push_str(&random_string_key(rng).to_lowercase());
        } else {
            t.push_str(SEGS[rng.below(SEGS.len())]);
        }
    }
    t
}

fn distinct(rng: &mut Rng, n: usize, gen: fn(&mut Rng) -> String) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let k = gen(rng);
        if seen.insert(k.clone()) {
            out.push(k);
        }
    }
    out
}

/// Strings with equal Java hashes: every concatenation of `blocks` blocks of "Aa"/"BB".
fn colliding_strings(blocks: u32) -> Vec<String> {
    (0..1u32 << blocks)
        .map(|bits| {
            (0..blocks)
                .map(|b| if bits >> b & 1 == 1 { "BB" } else { "Aa" })
                .collect()
        })
        .collect()
}

fn random_ops(rng: &mut Rng, pool: &[String], n_ops: usize) -> Vec<Op> {
    (0..n_ops)
        .map(|_| {
            let k = pool[rng.below(pool.len())].clone();
            if rng.below(4) == 0 {
                Op::Remove(k)
            } else {
                Op::Add(k)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checking

fn model(case: &Case) -> ScalaCollection<String> {
    let mut c = ScalaCollection::new(case.kind);
    for op in &case.ops {
        match op {
            Op::Add(t) => c.insert(t.clone(), hash_of(case.keys, t)),
            Op::Remove(t) => c.remove(t),
        }
    }
    c
}

/// Insert-only case without repeated keys: also checks the plain functions.
fn plain_order(case: &Case) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    for op in &case.ops {
        match op {
            Op::Add(t) if !tokens.contains(t) => tokens.push(t.clone()),
            _ => return None,
        }
    }
    let hashes: Vec<i32> = tokens.iter().map(|t| hash_of(case.keys, t)).collect();
    let order = match case.kind {
        Kind::Map => {
            let o = iteration_order(&hashes);
            let by_keys = match case.keys {
                KeyType::Str => {
                    string_key_order(&tokens.iter().map(String::as_str).collect::<Vec<_>>())
                }
                KeyType::Path => {
                    let parsed: Vec<(Vec<&str>, bool)> =
                        tokens.iter().map(|t| parse_path(t)).collect();
                    let keys: Vec<(&[&str], bool)> =
                        parsed.iter().map(|(s, a)| (s.as_slice(), *a)).collect();
                    path_id_key_order(&keys)
                }
            };
            assert_eq!(
                o,
                by_keys,
                "iteration_order vs key-order helper for {}",
                case.line()
            );
            o
        }
        Kind::Set => set_iteration_order(&hashes),
    };
    Some(order.into_iter().map(|i| tokens[i].clone()).collect())
}

fn check(cases: &[Case]) {
    let observed = run_oracle(cases);
    let mut failures = Vec::new();
    for (case, obs) in cases.iter().zip(&observed) {
        let m = model(case);
        let ours = m.keys_in_order();
        let scala_is_trie = obs.class.contains("Hash");
        if ours != obs.by_iterator || ours != obs.by_foreach || m.is_hash_trie() != scala_is_trie {
            failures.push(format!(
                "case: {}\n  scala {}: iterator {:?} foreach {:?}\n  ours (trie={}): {:?}",
                case.line(),
                obs.class,
                obs.by_iterator,
                obs.by_foreach,
                m.is_hash_trie(),
                ours
            ));
            continue;
        }
        if let Some(plain) = plain_order(case) {
            if plain != obs.by_iterator {
                failures.push(format!(
                    "case: {}\n  scala: {:?}\n  plain function: {plain:?}",
                    case.line(),
                    obs.by_iterator
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Scala:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn env_var_like_string_maps_and_sets() {
    let mut rng = Rng(0x5ca1_a211);
    let mut cases = Vec::new();
    for n in 1..=60 {
        let keys: Vec<String> = (0..n).map(|i| format!("VAR_{i}")).collect();
        let mut shuffled = keys.clone();
        rng.shuffle(&mut shuffled);
        for kind in [Kind::Map, Kind::Set] {
            cases.push(Case::inserts(KeyType::Str, kind, &keys));
            cases.push(Case::inserts(KeyType::Str, kind, &shuffled));
        }
        let labels: Vec<String> = [
            "DCOS_SERVICE_NAME",
            "HAPROXY_GROUP",
            "HAPROXY_0_VHOST",
            "MARATHON_SINGLE_INSTANCE_APP",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..n).map(|i| format!("label.{i}")))
        .take(n)
        .collect();
        cases.push(Case::inserts(KeyType::Str, Kind::Map, &labels));
    }
    check(&cases);
}

#[test]
fn random_string_keys() {
    let mut rng = Rng(0xdead_beef_1234);
    let mut cases = Vec::new();
    for round in 0..6 {
        for n in (1..=12).chain([20, 33, 47, 60, 100, 250]) {
            let keys = distinct(&mut rng, n, random_string_key);
            let kind = if round % 2 == 0 { Kind::Map } else { Kind::Set };
            cases.push(Case::inserts(KeyType::Str, kind, &keys));
        }
    }
    // Unicode keys (UTF-16 hashing).
    let uni: Vec<String> = ["é", "ü", "日本", "😀", "a😀b", "Ω", "ß", "ñandú"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cases.push(Case::inserts(KeyType::Str, Kind::Map, &uni));
    check(&cases);
}

#[test]
fn path_id_maps_and_sets() {
    let mut rng = Rng(0x9a7_41d);
    let mut cases = Vec::new();
    for n in (1..=12).chain([16, 25, 40, 60]) {
        for kind in [Kind::Map, Kind::Set] {
            let keys = distinct(&mut rng, n, random_path_key);
            cases.push(Case::inserts(KeyType::Path, kind, &keys));
            let apps: Vec<String> = (0..n).map(|i| format!("A/prod/frontend/app-{i}")).collect();
            cases.push(Case::inserts(KeyType::Path, kind, &apps));
        }
    }
    // Root and relative-root paths, which have empty segment lists.
    let special: Vec<String> = ["A", "R", "A/a", "R/a", "A/a/b", "R/a/b", "A/b/a"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cases.push(Case::inserts(KeyType::Path, Kind::Map, &special));
    cases.push(Case::inserts(KeyType::Path, Kind::Set, &special));
    check(&cases);
}

#[test]
fn colliding_hashes() {
    let mut rng = Rng(0x0c01_11de);
    let mut cases = Vec::new();
    for blocks in [1, 2, 3, 4] {
        let coll = colliding_strings(blocks);
        for kind in [Kind::Map, Kind::Set] {
            // Only colliding keys (the root itself is a collision leaf).
            cases.push(Case::inserts(KeyType::Str, kind, &coll));
            // Colliding keys mixed with others, in random orders.
            for extra in [1, 3, 8, 30] {
                let mut keys = coll.clone();
                keys.extend(
                    distinct(&mut rng, extra, random_string_key)
                        .into_iter()
                        .filter(|k| !coll.contains(k)),
                );
                keys.extend(
                    colliding_strings(blocks + 1)
                        .into_iter()
                        .take(3)
                        .map(|k| format!("{k}x")),
                );
                rng.shuffle(&mut keys);
                cases.push(Case::inserts(KeyType::Str, kind, &keys));
            }
        }
    }
    check(&cases);
}

#[test]
fn updates_and_removals() {
    let mut rng = Rng(0x0dd_5eed);
    let mut cases = Vec::new();
    for round in 0..120 {
        let n = 1 + rng.below(10);
        let mut pool = distinct(&mut rng, n, random_string_key);
        if round % 3 == 0 {
            pool.extend(colliding_strings(2));
        }
        let kind = if round % 2 == 0 { Kind::Map } else { Kind::Set };
        let n_ops = 1 + rng.below(40);
        let ops = random_ops(&mut rng, &pool, n_ops);
        cases.push(Case {
            keys: KeyType::Str,
            kind,
            ops,
        });
    }
    for round in 0..40 {
        let n = 2 + rng.below(8);
        let pool = distinct(&mut rng, n, random_path_key);
        let kind = if round % 2 == 0 { Kind::Map } else { Kind::Set };
        let ops = random_ops(&mut rng, &pool, 30);
        cases.push(Case {
            keys: KeyType::Path,
            kind,
            ops,
        });
    }
    // Grow to 5 (becomes a trie), then shrink to 4 and fewer: stays a trie.
    let five: Vec<String> = (0..5).map(|i| format!("K{i}")).collect();
    for kind in [Kind::Map, Kind::Set] {
        for drop in 1..=5 {
            let mut ops: Vec<Op> = five.iter().cloned().map(Op::Add).collect();
            ops.extend(five.iter().rev().take(drop).cloned().map(Op::Remove));
            ops.push(Op::Add("K9".into()));
            cases.push(Case {
                keys: KeyType::Str,
                kind,
                ops,
            });
        }
        // Shrinking a Map4/Set4 keeps insertion order; re-adding appends.
        let ops = vec![
            Op::Add("d".into()),
            Op::Add("c".into()),
            Op::Add("b".into()),
            Op::Add("a".into()),
            Op::Remove("c".into()),
            Op::Add("d".into()),
            Op::Add("c".into()),
        ];
        cases.push(Case {
            keys: KeyType::Str,
            kind,
            ops,
        });
    }
    check(&cases);
}

/// `dependencies.map(_.toString)`: a `Set[PathId]` mapped to a `Set[String]`, as Marathon writes it.
#[test]
fn path_id_sets_mapped_to_strings() {
    let mut rng = Rng(0xde_9e4d);
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    for n in (1..=12).chain([17, 30, 60]) {
        for round in 0..3 {
            let tokens = if round == 0 {
                (0..n).map(|i| format!("A/group/app{i}")).collect()
            } else {
                distinct(&mut rng, n, random_path_key)
            };
            let parsed: Vec<(Vec<&str>, bool)> = tokens.iter().map(|t| parse_path(t)).collect();
            let ids: Vec<(&[&str], bool)> =
                parsed.iter().map(|(s, a)| (s.as_slice(), *a)).collect();
            let order = path_id_set_as_strings_order(&ids);
            expected.push(
                order
                    .into_iter()
                    .map(|i| format!("'{}", path_id_to_string(ids[i].0, ids[i].1)))
                    .collect::<Vec<_>>(),
            );
            let mut line = String::from("P setstr");
            for t in &tokens {
                line.push_str(" +");
                line.push_str(t);
            }
            lines.push(line);
        }
    }
    let observed = run_oracle_lines(&lines);
    let mut failures = Vec::new();
    for ((line, want), obs) in lines.iter().zip(&expected).zip(&observed) {
        if want != &obs.by_iterator || want != &obs.by_foreach {
            failures.push(format!(
                "case: {line}\n  scala: {:?}\n  ours: {want:?}",
                obs.by_iterator
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
