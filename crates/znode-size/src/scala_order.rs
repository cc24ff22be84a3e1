//! Iteration order of Scala 2.11 immutable `Map`s and `Set`s.
//!
//! Marathon 1.3.14 (Scala 2.11.8) serialises the contents of immutable maps and sets in their
//! iteration order. Protobuf lengths do not care about that order, but the gzip-compressed size of
//! a znode does, so this module reproduces the order exactly.
//!
//! # How Scala 2.11 orders its immutable maps and sets
//!
//! * Up to 4 entries, `Map()`/`Set()` are the special classes `Map1`..`Map4` / `Set1`..`Set4`,
//!   which iterate in insertion order. Re-inserting (updating) an existing key keeps its position;
//!   removing a key keeps the relative order of the others (`Map4 - k` is a `Map3`, and so on).
//! * Adding a 5th distinct key to a `Map4`/`Set4` turns it into a `HashMap`/`HashSet` (a hash
//!   trie). Once a trie, always a trie: removing entries down to 4 or fewer does *not* go back to
//!   `Map4`..`Map1` (`HashMap - k` stays a `HashMap`), and adding to an emptied trie stays a trie.
//! * In the trie, a key with `##` value `h` is stored under `improve(h)` (see [`improve`]), which
//!   is indexed 5 bits at a time from the least significant bits upward (`(hash >>> level) & 0x1f`
//!   for level = 0, 5, .., 30). Children are kept in bitmap order, so the iteration order is the
//!   order of improved hashes compared chunk by chunk, lowest 5-bit chunk first. The trie shape of
//!   a given set of distinct hashes does not depend on insertion order.
//! * Keys whose full 32-bit hashes are equal share one collision leaf:
//!   - `HashMapCollision1` holds a `ListMap`, which iterates oldest first; updating a key that
//!     lives in a collision leaf moves it to the end (`ListMap.updated` removes then appends).
//!     `iterator` and `foreach` agree.
//!   - `HashSetCollision1` holds a `ListSet`, which in 2.11 iterates *newest first*; a
//!     re-added element keeps its place. `iterator` (the `TrieIterator` hands a collision leaf to
//!     its own iterator) and `foreach` agree.
//!
//! # Key types of the Marathon collections
//!
//! | Marathon collection | Scala type | hash of a key |
//! |---|---|---|
//! | app/pod `env` | `Map[String, EnvVarValue]` | [`java_string_hash`] |
//! | `labels` | `Map[String, String]` | [`java_string_hash`] |
//! | `secrets` | `Map[String, Secret]` | [`java_string_hash`] |
//! | a group's `apps` | `Map[PathId, AppDefinition]` | [`path_id_hash`] |
//! | `dependencies` (apps and groups) | `Set[PathId]`, written as `dependencies.map(_.toString)` | see [`path_id_set_as_strings_order`] |
//! | a group's `groups` | `Set[Group]` | not emulated |
//!
//! A group's subgroups are a `Set[Group]`, hashed over the whole `Group` case class (apps,
//! groups, dependencies, version, ...). We do not emulate that hash; callers keep the input order
//! for subgroups.
//!
//! Beware that `set.map(f)` builds a *new* set whose order is that of the mapped values:
//! Marathon 1.3 writes `dependencies.map(_.toString).asJava`, which is ordered as a
//! `Set[String]` of the path strings once it has 5 or more elements (the `PathId` hash only
//! decides which of two colliding strings comes first). By contrast `map.values.map(..)` and
//! `map.map(..)` to non-pairs should keep the map's order, since they build a plain `Iterable`
//! (not checked by the tests here).
//!
//! Scala's `##` of a `String` is Java's `String.hashCode`; of a `Boolean` it is 1231/1237; of a
//! `List` it is `MurmurHash3.seqHash` (2.11 `listHash`: no range detection); of a case class with
//! at least one primitive field (like `PathId`) it is the synthetic specialised hash, which equals
//! 2.11's `MurmurHash3.productHash` (seed `0xcafebabe`, no product prefix mixed in).

/// Java's `String.hashCode` over UTF-16 code units (`h = 31 * h + c`, wrapping).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

const SEQ_SEED: i32 = 0x0001_443f; // "Seq".hashCode
const PRODUCT_SEED: i32 = 0xcafe_babe_u32 as i32;

fn mix_last(hash: i32, data: i32) -> i32 {
    let k = data.wrapping_mul(0xcc9e_2d51_u32 as i32);
    let k = k.rotate_left(15);
    let k = k.wrapping_mul(0x1b87_3593);
    hash ^ k
}

fn mix(hash: i32, data: i32) -> i32 {
    let h = mix_last(hash, data).rotate_left(13);
    h.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32)
}

fn avalanche(hash: i32) -> i32 {
    let mut h = hash as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

fn finalize_hash(hash: i32, length: i32) -> i32 {
    avalanche(hash ^ length)
}

/// Scala 2.11 `##` of a `List[String]` (`MurmurHash3.seqHash`, i.e. 2.11's `listHash`).
pub fn string_list_hash(items: &[&str]) -> i32 {
    let h = items
        .iter()
        .fold(SEQ_SEED, |h, s| mix(h, java_string_hash(s)));
    finalize_hash(h, items.len() as i32)
}

/// Scala 2.11 `##` of a `mesosphere.marathon.state.PathId(path: List[String], absolute: Boolean)`
/// case class: the product hash over (`path.##`, `absolute.##`), with `true.## == 1231` and
/// `false.## == 1237`.
pub fn path_id_hash(segments: &[&str], absolute: bool) -> i32 {
    let mut h = PRODUCT_SEED;
    h = mix(h, string_list_hash(segments));
    h = mix(h, if absolute { 1231 } else { 1237 });
    finalize_hash(h, 2)
}

/// The bit spreader `HashMap`/`HashSet` apply to `##` before indexing the trie.
pub fn improve(hcode: i32) -> i32 {
    let mut h = hcode.wrapping_add(!(hcode << 9));
    h ^= ((h as u32) >> 14) as i32;
    h = h.wrapping_add(h << 4);
    h ^ ((h as u32) >> 10) as i32
}

/// Sort key of an improved hash in trie iteration order: its 5-bit chunks, least significant
/// chunk first, laid out most significant first (7 chunks, the last one 2 bits wide).
fn trie_key(improved: i32) -> u64 {
    let h = improved as u32;
    (0..7).fold(0u64, |key, level| {
        (key << 5) | u64::from((h >> (5 * level)) & 0x1f)
    })
}

/// Indices of `hashes` (the elements' `##`, given in insertion order) in the iteration order of a
/// Scala 2.11 immutable `HashMap` built by inserting them in that order; for `n <= 4` (`Map1`..`Map4`),
/// `0..n`. Equal keys must not be passed twice. Keys with colliding full hashes keep their
/// insertion order (as in `HashMapCollision1`). Use [`ScalaCollection`] for sets, updates and
/// removals.
pub fn iteration_order(hashes: &[i32]) -> Vec<usize> {
    if hashes.len() <= 4 {
        return (0..hashes.len()).collect();
    }
    trie_order(hashes, Kind::Map)
}

/// Like [`iteration_order`] but for a `Set` built by inserting distinct elements in order (the
/// same except for elements with colliding full hashes, which a `HashSet` yields newest first).
pub fn set_iteration_order(hashes: &[i32]) -> Vec<usize> {
    if hashes.len() <= 4 {
        return (0..hashes.len()).collect();
    }
    trie_order(hashes, Kind::Set)
}

/// Convenience: the iteration order of string keys (env vars, labels, secrets) inserted in the
/// given order into a Scala `Map[String, _]`. Keys must be distinct.
pub fn string_key_order(keys: &[&str]) -> Vec<usize> {
    let hashes: Vec<i32> = keys.iter().map(|k| java_string_hash(k)).collect();
    iteration_order(&hashes)
}

/// Convenience: the iteration order of `PathId` keys (`(segments, absolute)`) inserted in the given
/// order into a Scala `Map[PathId, _]` (a group's apps). Keys must be distinct.
pub fn path_id_key_order(keys: &[(&[&str], bool)]) -> Vec<usize> {
    let hashes: Vec<i32> = keys.iter().map(|(s, a)| path_id_hash(s, *a)).collect();
    iteration_order(&hashes)
}

/// Marathon's `PathId.toString`: segments joined by `/`, with a leading `/` when absolute
/// (so the absolute root is `/` and the relative root is empty).
pub fn path_id_to_string(segments: &[&str], absolute: bool) -> String {
    let body = segments.join("/");
    if absolute {
        format!("/{body}")
    } else {
        body
    }
}

/// Order of a `Set[PathId]` (distinct ids, given in insertion order) as Marathon 1.3 writes it:
/// `dependencies.map(_.toString)`. `Set.map` builds a *new* `Set[String]` by inserting the
/// strings in the `PathId` set's iteration order, so from 5 elements on the written order is that
/// of a `Set[String]` (string hashes), not of the `Set[PathId]`.
pub fn path_id_set_as_strings_order(ids: &[(&[&str], bool)]) -> Vec<usize> {
    let hashes: Vec<i32> = ids.iter().map(|(s, a)| path_id_hash(s, *a)).collect();
    let set_order = set_iteration_order(&hashes);
    let strings = ScalaCollection::from_keys(
        Kind::Set,
        set_order.into_iter().map(|i| {
            let (segs, abs) = ids[i];
            let s = path_id_to_string(segs, abs);
            let h = java_string_hash(&s);
            ((s, i), h)
        }),
    );
    strings
        .keys_in_order()
        .into_iter()
        .map(|(_, i)| i)
        .collect()
}

/// Trie iteration order of entries given in collision-leaf insertion order (oldest first).
fn trie_order(hashes: &[i32], kind: Kind) -> Vec<usize> {
    // Entries with equal hashes stay in the given (oldest first) order, as in a ListMap: the
    // index breaks ties. Keys are computed once, not per comparison.
    let mut keyed: Vec<(u64, usize)> = hashes.iter().enumerate().map(|(i, &h)| (trie_key(improve(h)), i)).collect();
    keyed.sort_unstable();
    let mut order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    // A ListSet iterates newest first.
    let reverse_buckets = kind == Kind::Set;
    if reverse_buckets {
        let mut start = 0;
        while start < order.len() {
            let h = hashes[order[start]];
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|&&i| hashes[i] == h)
                    .count();
            order[start..end].reverse();
            start = end;
        }
    }
    order
}

/// Whether a [`ScalaCollection`] is a `Map` or a `Set` (they differ in updates and collisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Map,
    Set,
}

/// A model of a Scala 2.11 immutable `Map` or `Set` that starts empty (`Map()`/`Set()`) and is
/// changed by `+` and `-`. It tracks only keys and their `##`, enough to know the iteration order.
#[derive(Clone, Debug)]
pub struct ScalaCollection<K> {
    kind: Kind,
    /// Whether the collection has become a hash trie (it never goes back).
    trie: bool,
    /// Small collection: the Map1..Map4/Set1..Set4 order. Trie: oldest first, which is the
    /// order inside a collision leaf.
    entries: Vec<(K, i32)>,
}

impl<K: PartialEq + Clone> ScalaCollection<K> {
    /// An empty `Map()` or `Set()`.
    pub fn new(kind: Kind) -> Self {
        ScalaCollection {
            kind,
            trie: false,
            entries: Vec::new(),
        }
    }

    /// Builds a collection by inserting keys (with their `##`) in order.
    pub fn from_keys(kind: Kind, keys: impl IntoIterator<Item = (K, i32)>) -> Self {
        let mut c = Self::new(kind);
        for (k, h) in keys {
            c.insert(k, h);
        }
        c
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the collection is a `HashMap`/`HashSet` (rather than `Map1`..`Map4`, `Set1`..`Set4`
    /// or the empty one).
    pub fn is_hash_trie(&self) -> bool {
        self.trie
    }

    /// `map + (key -> value)` / `set + key`. `hash` must be the key's `##` (equal keys, equal hashes).
    pub fn insert(&mut self, key: K, hash: i32) {
        if let Some(pos) = self.entries.iter().position(|(k, _)| *k == key) {
            // Map1..Map4 update in place, sets ignore an existing element; in a HashMap, an update
            // inside a collision leaf moves the key to the end of its ListMap (moving a key with
            // a unique hash is harmless, its place depends on the hash alone).
            if self.trie && self.kind == Kind::Map {
                let e = self.entries.remove(pos);
                self.entries.push(e);
            }
            return;
        }
        if !self.trie && self.entries.len() == 4 {
            self.trie = true;
        }
        self.entries.push((key, hash));
    }

    /// `map - key` / `set - key`; the others keep their relative order.
    pub fn remove(&mut self, key: &K) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// The keys in iteration order (`iterator` and `foreach` agree).
    pub fn keys_in_order(&self) -> Vec<K> {
        let order = if self.trie {
            let hashes: Vec<i32> = self.entries.iter().map(|(_, h)| *h).collect();
            trie_order(&hashes, self.kind)
        } else {
            (0..self.entries.len()).collect()
        };
        order
            .into_iter()
            .map(|i| self.entries[i].0.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hashes() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("Seq"), SEQ_SEED);
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
        // Overflowing: "polygenelubricants".hashCode == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // UTF-16 code units, including a surrogate pair: "é" = 233, "😀" = 0xD83D 0xDE00.
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn improve_matches_definition() {
        for &x in &[0i32, 1, -1, 97, i32::MIN, i32::MAX, 99_162_322] {
            let mut h = x.wrapping_add(!(x.wrapping_shl(9)));
            h ^= (h as u32 >> 14) as i32;
            h = h.wrapping_add(h.wrapping_shl(4));
            h ^= (h as u32 >> 10) as i32;
            assert_eq!(improve(x), h);
        }
    }

    #[test]
    fn trie_key_orders_by_low_chunks_first() {
        // Lower 5 bits decide first.
        assert!(trie_key(1) < trie_key(2));
        assert!(trie_key(32) < trie_key(1));
        assert!(trie_key(1 << 30) < trie_key(1 << 29 | 1));
        assert!(trie_key(1 << 31) > trie_key(1 << 30));
    }

    #[test]
    fn small_collections_keep_insertion_order() {
        for n in 0..=4 {
            let hashes: Vec<i32> = (0..n as i32).map(|i| 1000 - i).collect();
            assert_eq!(iteration_order(&hashes), (0..n).collect::<Vec<_>>());
            assert_eq!(set_iteration_order(&vec![7; n]), (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn five_keys_use_trie_order() {
        // improve() of small ints is spread; the order must be a permutation sorted by trie key.
        let hashes = [3, 1, 4, 15, 9];
        let order = iteration_order(&hashes);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        for w in order.windows(2) {
            assert!(trie_key(improve(hashes[w[0]])) < trie_key(improve(hashes[w[1]])));
        }
    }

    #[test]
    fn collisions() {
        let hashes = [7, 7, 8, 9, 10, 7];
        let map = iteration_order(&hashes);
        let pos = |o: &[usize], i| o.iter().position(|&x| x == i).unwrap();
        assert!(pos(&map, 0) < pos(&map, 1) && pos(&map, 1) < pos(&map, 5));
        let set = set_iteration_order(&hashes);
        assert!(pos(&set, 5) < pos(&set, 1) && pos(&set, 1) < pos(&set, 0));
        let all = [7; 6];
        assert_eq!(set_iteration_order(&all), vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(iteration_order(&all), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn model_transitions() {
        let mut m = ScalaCollection::new(Kind::Map);
        for (k, h) in [("a", 50), ("b", 40), ("c", 30), ("d", 20)] {
            m.insert(k, h);
        }
        m.insert("a", 50);
        assert_eq!(m.keys_in_order(), vec!["a", "b", "c", "d"]);
        m.remove(&"b");
        assert_eq!(m.keys_in_order(), vec!["a", "c", "d"]);
        m.insert("b", 40);
        assert!(!m.is_hash_trie());
        assert_eq!(m.keys_in_order(), vec!["a", "c", "d", "b"]);
        m.insert("e", 10);
        assert!(m.is_hash_trie());
        m.insert("f", 0);
        m.remove(&"a");
        m.remove(&"b");
        assert!(m.is_hash_trie());
        // 4 entries left in a trie: trie order, not insertion order.
        let hashes = [30, 20, 10, 0];
        let mut trie4: Vec<usize> = (0..4).collect();
        trie4.sort_by_key(|&i| trie_key(improve(hashes[i])));
        let expect: Vec<&str> = trie4.into_iter().map(|i| ["c", "d", "e", "f"][i]).collect();
        assert_eq!(m.keys_in_order(), expect);
    }

    #[test]
    fn path_id_hash_is_stable() {
        // Root path, relative root, and a nested path differ.
        let root = path_id_hash(&[], true);
        assert_ne!(root, path_id_hash(&[], false));
        assert_ne!(
            path_id_hash(&["a", "b"], true),
            path_id_hash(&["b", "a"], true)
        );
        assert_eq!(string_list_hash(&[]), finalize_hash(SEQ_SEED, 0));
        // Values printed by Scala 2.11.12 for `case class PathId(path: List[String], absolute: Boolean = true)`.
        assert_eq!(root, -1_234_416_739);
        assert_eq!(path_id_hash(&[], false), -832_459_758);
        assert_eq!(string_list_hash(&["a", "b"]), 2_064_638_467);
        assert_eq!(path_id_hash(&["a", "b"], true), 1_488_288_285);
        assert_eq!(path_id_hash(&["prod", "web", "nginx"], true), 2_130_617_651);
    }
}
