//! Errors from parsing and resolving Marathon documents.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// The JSON is malformed or a field has the wrong type; `path` names the field (`.` = root).
    #[error("invalid JSON at `{path}`: {message}")]
    InvalidJson { path: String, message: String },
    /// A path id that Marathon would refuse.
    #[error("invalid id `{id}`: {reason}")]
    InvalidId { id: String, reason: String },
    /// An object lacks a field Marathon requires.
    #[error("missing field `{field}`")]
    MissingField { field: &'static str },
}
