//! Path ids (`/prod/web`) resolved the way Marathon's `PathId` resolves them.
//!
//! Marathon splits on `/`, drops empty segments, and resolves a relative id against the enclosing
//! group (`canonicalPath`), where `.` is skipped and `..` climbs one level (never above the root).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// A path id. Ids held in the tree are always absolute; `absolute` records how a raw id was written.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PathId {
    segments: Vec<String>,
    absolute: bool,
}

impl PathId {
    /// The root group, `/`.
    pub fn root() -> Self {
        PathId { segments: Vec::new(), absolute: true }
    }

    /// Splits a raw id as Marathon's `PathId.apply` does, without resolving `.` or `..`.
    pub fn parse(raw: &str) -> Self {
        let segments = raw.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        PathId { segments, absolute: raw.starts_with('/') }
    }

    /// Resolves `raw` against the absolute `base` (Marathon's `canonicalPath(base)`).
    pub fn resolve(raw: &str, base: &PathId) -> Self {
        let parsed = PathId::parse(raw);
        let mut combined: Vec<&str> = Vec::new();
        if !parsed.absolute {
            combined.extend(base.segments.iter().map(String::as_str));
        }
        combined.extend(parsed.segments.iter().map(String::as_str));
        let mut out: Vec<String> = Vec::new();
        for segment in combined {
            match segment {
                "." => {}
                ".." => {
                    out.pop();
                }
                other => out.push(other.to_string()),
            }
        }
        PathId { segments: out, absolute: true }
    }

    /// An absolute id from segments.
    pub fn from_segments<I: IntoIterator<Item = S>, S: Into<String>>(segments: I) -> Self {
        PathId { segments: segments.into_iter().map(Into::into).collect(), absolute: true }
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The enclosing group's id; the root's parent is the root.
    pub fn parent(&self) -> PathId {
        let mut segments = self.segments.clone();
        segments.pop();
        PathId { segments, absolute: self.absolute }
    }

    pub fn child(&self, name: &str) -> PathId {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        PathId { segments, absolute: self.absolute }
    }

    /// The last segment (`web` for `/prod/web`), empty for the root.
    pub fn name(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or("")
    }

    /// True when `self` is `other` or one of its ancestors.
    pub fn includes(&self, other: &PathId) -> bool {
        other.segments.len() >= self.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(a, b)| a == b)
    }

    /// Segments joined by `_`, as in legacy znode names (`app:prod_web`) and new-layout ids.
    pub fn safe_path(&self) -> String {
        self.segments.join("_")
    }

    /// Checks every segment against Marathon's id pattern: lower-case letters, digits, `-` and `.`,
    /// where each dot-separated label starts and ends with a letter or digit.
    pub fn validate(&self) -> Result<(), ModelError> {
        for segment in &self.segments {
            if !is_valid_segment(segment) {
                return Err(ModelError::InvalidId {
                    id: self.to_string(),
                    reason: format!(
                        "segment `{segment}` must match ^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$"
                    ),
                });
            }
        }
        Ok(())
    }
}

fn is_valid_segment(segment: &str) -> bool {
    if segment == "." || segment == ".." {
        return true;
    }
    segment.split('.').all(|label| {
        let bytes = label.as_bytes();
        let ok_edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        !bytes.is_empty()
            && ok_edge(bytes[0])
            && ok_edge(bytes[bytes.len() - 1])
            && bytes.iter().all(|&b| ok_edge(b) || b == b'-')
    })
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.absolute {
            f.write_str("/")?;
        }
        f.write_str(&self.segments.join("/"))
    }
}

impl fmt::Debug for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathId({self})")
    }
}

impl Serialize for PathId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PathId::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_marathon() {
        assert_eq!(PathId::parse("/prod//web/").to_string(), "/prod/web");
        assert_eq!(PathId::parse("web").to_string(), "web");
        assert_eq!(PathId::root().to_string(), "/");
        assert_eq!(PathId::parse("/").to_string(), "/");
        assert_eq!(PathId::parse("/a/b").safe_path(), "a_b");
    }

    #[test]
    fn resolves_relative_ids_against_the_group() {
        let base = PathId::parse("/prod/backend");
        assert_eq!(PathId::resolve("db", &base).to_string(), "/prod/backend/db");
        assert_eq!(PathId::resolve("../web", &base).to_string(), "/prod/web");
        assert_eq!(PathId::resolve("./x/../y", &base).to_string(), "/prod/backend/y");
        assert_eq!(PathId::resolve("/abs", &base).to_string(), "/abs");
        assert_eq!(PathId::resolve("../../../x", &base).to_string(), "/x");
    }

    #[test]
    fn parent_child_and_includes() {
        let id = PathId::parse("/a/b/c");
        assert_eq!(id.parent().to_string(), "/a/b");
        assert_eq!(PathId::root().parent(), PathId::root());
        assert_eq!(id.parent().child("d").to_string(), "/a/b/d");
        assert!(PathId::parse("/a").includes(&id));
        assert!(!PathId::parse("/a/c").includes(&id));
        assert!(PathId::root().includes(&id));
        assert_eq!(id.name(), "c");
    }

    #[test]
    fn validates_segments() {
        assert!(PathId::parse("/prod/web-1/x.y").validate().is_ok());
        assert!(PathId::parse("/Prod").validate().is_err());
        assert!(PathId::parse("/web-").validate().is_err());
        assert!(PathId::parse("/a_b").validate().is_err());
    }
}
