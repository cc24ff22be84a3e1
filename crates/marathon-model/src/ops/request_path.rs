//! A request path as Marathon's HTTP stack matches it, and the wider net the proxy casts.
//!
//! Why this exists: deciding "is this a write" is a security boundary. A client must not slip a
//! write past admission by spelling the path in a way that Marathon still routes to the same
//! resource. Every consumer (the endpoint table, `parse_write`, the simulator's router, the
//! proxy's route labels) goes through this module, so they cannot disagree.
//!
//! Two readings of one path:
//! - [`jersey_segments`]: exactly what Marathon 1.3.14 / 1.4.x (Jetty 9.3.6, Guice servlet 3.0,
//!   Jersey 1.18) match their resource templates against: the path as sent, still
//!   percent-encoded and case-sensitive (Jersey matches templates against the encoded path), with
//!   matrix parameters (`;x=y`) removed from each segment (Jersey strips them before matching), and
//!   a leading `//host` dropped (Jetty 9.3.6 reads it as an authority). Path parameters (`{id:.+}`)
//!   are percent-decoded after matching, so `%2F` inside an id is a slash, and Marathon's
//!   `PathId` drops empty segments and resolves `.`/`..` inside ids. Checked against Jetty's
//!   `HttpURI`/`Request.getRequestURI`, Guice's `ServletDefinition` and Jersey's
//!   `WebApplicationImpl._handleRequest` (see docs/ARCHITECTURE.md, "Which requests are writes").
//! - [`normalized_segments`]: a wide net. Every segment percent-decoded (either hex case; a decoded
//!   `/` splits it), matrix parameters removed, empty and `.` segments dropped, `..` resolved.
//!   Marathon answers 404 to most spellings only this reading accepts (`/v2/%61pps`): the proxy
//!   still decides them, because a guess that Marathon will refuse a write is never a reason to
//!   forward it unchecked.

use std::borrow::Cow;

/// The path as Marathon's Jersey matches it, split into raw segments (see the module
/// documentation); one trailing slash is dropped, as Jersey consumes it.
pub fn jersey_segments(raw_path: &str) -> Vec<&str> {
    let path = jetty_path(raw_path);
    let mut segs: Vec<&str> = path.split('/').skip(1).map(|s| s.split(';').next().unwrap_or("")).collect();
    if segs.last() == Some(&"") {
        segs.pop();
    }
    segs
}

/// The path Jetty 9.3.6 hands on: a request target starting with `//` is `//authority/path`.
pub fn jetty_path(raw_path: &str) -> &str {
    match raw_path.strip_prefix("//") {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => raw_path,
    }
}

/// The path's segments in the wide reading (see the module documentation).
pub fn normalized_segments(raw_path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for_each_segment(raw_path, |seg| match seg {
        Step::Push(s) => out.push(s.into_owned()),
        Step::Pop => {
            out.pop();
        }
    });
    out
}

/// The first [`Prefix::N`] segments of [`normalized_segments`], without allocating unless a segment
/// is percent-encoded: what a per-request classification needs (the endpoint family).
pub fn prefix(raw_path: &str) -> Prefix<'_> {
    let mut out = Prefix { segs: [Cow::Borrowed(""), Cow::Borrowed(""), Cow::Borrowed("")], depth: 0 };
    for_each_segment(raw_path, |seg| match seg {
        Step::Push(s) => {
            if out.depth < Prefix::N {
                out.segs[out.depth] = s;
            }
            out.depth += 1;
        }
        Step::Pop => out.depth = out.depth.saturating_sub(1),
    });
    out
}

/// The first segments of a normalised path, and how deep it goes.
pub struct Prefix<'a> {
    segs: [Cow<'a, str>; Prefix::N],
    depth: usize,
}

impl Prefix<'_> {
    pub const N: usize = 3;

    /// Segment `i` (below [`Prefix::N`]), if the path has it.
    pub fn get(&self, i: usize) -> Option<&str> {
        (i < self.depth.min(Self::N)).then(|| self.segs[i].as_ref())
    }

    /// Number of segments of the whole normalised path.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

enum Step<'a> {
    Push(Cow<'a, str>),
    Pop,
}

fn for_each_segment<'a>(raw_path: &'a str, mut f: impl FnMut(Step<'a>)) {
    for raw in raw_path.split('/') {
        let raw = raw.split(';').next().unwrap_or("");
        match percent_decode(raw) {
            Cow::Borrowed(s) => step(s, &mut f),
            Cow::Owned(s) => {
                for part in s.split('/') {
                    match part {
                        "" | "." => {}
                        ".." => f(Step::Pop),
                        part => f(Step::Push(Cow::Owned(part.to_string()))),
                    }
                }
            }
        }
    }
}

fn step<'a>(seg: &'a str, f: &mut impl FnMut(Step<'a>)) {
    match seg {
        "" | "." => {}
        ".." => f(Step::Pop),
        s => f(Step::Push(Cow::Borrowed(s))),
    }
}

/// Percent-decoding of a path segment (no `+` rule: that is the query's). Invalid escapes stay as
/// they are; bytes that are not UTF-8 are replaced, as the path can then name no Marathon id.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        normalized_segments(p)
    }

    #[test]
    fn spellings_of_the_same_resource_normalise_alike() {
        let canonical = segs("/v2/apps/prod/web");
        for p in [
            "/v2/apps/prod/web/",
            "//v2//apps//prod//web",
            "/v2/./apps/prod/./web",
            "/v2/x/../apps/prod/web",
            "/v2/%61pps/prod/web",
            "/v2/%61PPS/prod/web".replace("PPS", "pps").as_str(),
            "/%76%32/%61%70%70%73/%70rod/web",
            "/v2/apps;jsessionid=1/prod/web",
            "/v2/apps/prod;x=1/web;y",
            "/v2/apps/prod%2Fweb",
            "/v2/apps/prod%2fweb",
            "/v2%2Fapps%2Fprod%2Fweb",
            "/v2/apps/prod/%2e/web",
            "/v2/apps/x/%2e%2e/prod/web",
        ] {
            assert_eq!(segs(p), canonical, "{p}");
        }
    }

    #[test]
    fn jersey_sees_the_encoded_path_without_matrix_parameters() {
        assert_eq!(jersey_segments("/v2/apps"), ["v2", "apps"]);
        assert_eq!(jersey_segments("/v2/apps/"), ["v2", "apps"]);
        assert_eq!(jersey_segments("/v2/apps//"), ["v2", "apps", ""]);
        assert_eq!(jersey_segments("/v2/%61pps"), ["v2", "%61pps"]);
        assert_eq!(jersey_segments("/v2;x=1/apps;jsessionid=2/a"), ["v2", "apps", "a"]);
        assert_eq!(jersey_segments("/v2/./apps"), ["v2", ".", "apps"]);
        assert_eq!(jersey_segments("//x/v2/apps"), ["v2", "apps"]);
        assert_eq!(jersey_segments("//v2//apps"), ["", "apps"]);
        assert!(jersey_segments("//v2").is_empty());
    }

    #[test]
    fn dot_dot_never_climbs_above_the_root() {
        assert_eq!(segs("/../../v2/apps"), ["v2", "apps"]);
        assert!(segs("/").is_empty());
        assert!(segs("").is_empty());
    }

    #[test]
    fn the_prefix_agrees_with_the_full_normalisation() {
        for p in [
            "/", "", "/ping", "/v2/apps", "//v2//apps/", "/v2/./apps", "/v2/x/../apps",
            "/a/b/c/d/../../../v2/apps", "/a/b/c/d/e/../../../../../v2/tasks/delete",
            "/../../v2/apps", "/v2/%61pps;x=1/a", "/v2/apps/a/b/c/../../..", "/%2e%2e/v2",
            "/v2/tasks/x/../delete", "/admission/v1/../../ping", "/v2%2Fapps%2Fa%2F..%2Fb",
        ] {
            let full = normalized_segments(p);
            let first = prefix(p);
            assert_eq!(first.depth(), full.len(), "{p}");
            for i in 0..Prefix::N {
                assert_eq!(first.get(i), full.get(i).map(String::as_str), "{p} segment {i}");
            }
        }
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%2F"), "a/");
        assert_eq!(percent_decode("a%2f"), "a/");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41%"), "A%");
    }
}
