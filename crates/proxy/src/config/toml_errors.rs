//! Messages for errors in `proxy.toml`: the file, the line, and for an unknown key the nearest
//! known one ("unknown table `qouta` at line 12; did you mean `quota`?").
//!
//! Why: every table of the file is read with unknown keys refused (`deny_unknown_fields`), because
//! a typo that is ignored changes what the proxy does without a word: `[[qouta]]` would silently
//! disable every quota. serde's message for such a key ("unknown field `qouta`, expected one of
//! `listen`, ...") names what was expected but not where, and reads like a program's; this module
//! turns it into a sentence with the line and a suggestion. The owners of the tables (the proxy,
//! admission) all format their parse errors here, so every table says it the same way.

use std::ops::Range;

/// An error of `toml::from_str` on `text` (read from `origin`), as one sentence naming the line.
pub fn describe(e: &toml::de::Error, text: &str, origin: &str) -> anyhow::Error {
    let line = e.span().map(|s| line_of(text, s.start));
    match (unknown_key(e.message()), e.span()) {
        (Some(u), Some(span)) => {
            let what = if is_table_header(text, &span) { "table" } else { "key" };
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            anyhow::anyhow!("{origin}: unknown {what} `{}`{at}{}", u.key, u.hint())
        }
        // toml's own text already says "at line N, column M" and shows the line.
        _ => anyhow::anyhow!("{origin}: {e}"),
    }
}

/// serde's message for an unknown key, with a suggestion, when `message` is one; else `message`
/// unchanged (for tables assembled in code, whose errors carry no line).
pub fn with_suggestion(message: &str) -> String {
    match unknown_key(message) {
        Some(u) => format!("unknown key `{}`{}", u.key, u.hint()),
        None => message.to_owned(),
    }
}

/// An unknown key and the keys its table knows.
struct UnknownKey {
    key: String,
    known: Vec<String>,
}

impl UnknownKey {
    /// "; did you mean `x`?" when a known key is close enough, else the known keys.
    fn hint(&self) -> String {
        match nearest(&self.key, &self.known) {
            Some(k) => format!("; did you mean `{k}`?"),
            None if self.known.is_empty() => "; this table takes no keys".to_owned(),
            None => format!(" (known here: {})", self.known.join(", ")),
        }
    }
}

/// Parses serde's "unknown field `k`, expected one of `a`, `b`" (or "expected `a`", "expected
/// `a` or `b`", "there are no fields").
fn unknown_key(message: &str) -> Option<UnknownKey> {
    let rest = message.trim().strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    let known = expected.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    Some(UnknownKey { key: key.to_owned(), known })
}

/// The known key closest to `key`, if it is close enough to be the intended one: at most a third
/// of its letters wrong (a swap counts once), and at least one letter right.
fn nearest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    let (best, distance) = known.iter().map(|k| (k.as_str(), edit_distance(key, k))).min_by_key(|(_, d)| *d)?;
    let allowed = (key.chars().count().max(best.chars().count()) / 3).max(1);
    (distance <= allowed).then_some(best)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring letters (the usual typo, `qouta`) cost 1 each.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Whether the span points into a `[table]` or `[[array]]` header (else a `key = value` line).
fn is_table_header(text: &str, span: &Range<usize>) -> bool {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..].trim_start().starts_with('[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_the_usual_typos_once() {
        assert_eq!(edit_distance("quota", "quota"), 0);
        assert_eq!(edit_distance("qouta", "quota"), 1);
        assert_eq!(edit_distance("conect_timeout_ms", "connect_timeout_ms"), 1);
        assert_eq!(edit_distance("marginn", "margin"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_suggestion_only_when_it_is_close() {
        let known: Vec<String> = ["quota", "exemption", "ledger"].map(String::from).to_vec();
        assert_eq!(nearest("qouta", &known), Some("quota"));
        assert_eq!(nearest("ledgr", &known), Some("ledger"));
        assert_eq!(nearest("audit", &known), None);
        assert_eq!(nearest("x", &[]), None);
    }

    #[test]
    fn serde_messages_are_read() {
        let u = unknown_key("unknown field `qouta`, expected one of `listen`, `quota`").unwrap();
        assert_eq!((u.key.as_str(), u.known.len()), ("qouta", 2));
        assert_eq!(unknown_key("unknown field `x`, expected `y`").unwrap().known, ["y"]);
        assert_eq!(unknown_key("unknown field `x`, expected `y` or `z`").unwrap().known, ["y", "z"]);
        assert!(unknown_key("unknown field `x`, there are no fields").unwrap().known.is_empty());
        assert!(unknown_key("invalid type: string, expected u64").is_none());
        assert_eq!(
            with_suggestion("unknown field `marginn`, expected one of `margin`, `warn_at`"),
            "unknown key `marginn`; did you mean `margin`?"
        );
        assert_eq!(with_suggestion("invalid type"), "invalid type");
    }

    #[test]
    fn lines_and_headers_are_found() {
        let text = "a = 1\n\n  [[qouta]]\nb = 2\n";
        assert_eq!(line_of(text, text.find("qouta").unwrap()), 3);
        assert!(is_table_header(text, &(text.find("qouta").unwrap()..text.len())));
        assert!(!is_table_header(text, &(text.find("b =").unwrap()..text.len())));
    }
}
