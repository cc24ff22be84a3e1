//! Marathon's v2 JSON model, free of IO.
//!
//! The types mirror what `GET /v2/groups` returns and what clients send. Every known field is an
//! `Option` so that "absent" and "present" stay distinguishable (partial updates depend on it), and
//! every object keeps the fields it does not know in `extra`, so nothing a client sent is lost.
//! Marathon's defaults live in accessor methods (e.g. [`App::instances`]) rather than being filled in
//! at parse time, so the same value can be rendered as sent or as Marathon would store it.

pub mod app;
pub mod app_diff;
pub mod app_list;
pub mod error;
pub mod group;
pub mod marathon_json;
pub mod ops;
pub mod path_id;
pub mod play_reads;
pub mod pod;
pub mod shared_app;
pub mod timestamp;

pub use app::App;
pub use app_list::AppList;
pub use error::ModelError;
pub use group::Group;
pub use path_id::PathId;
pub use pod::Pod;
pub use shared_app::SharedApp;
pub use timestamp::Timestamp;

/// Parses JSON bytes into `T`, naming the offending field on error (e.g. `env.FOO: invalid type`).
///
/// The text goes through a `Value` first so that a repeated key keeps its last value, as Marathon's
/// JSON reader does, instead of failing. This reads documents Marathon wrote (its state, its
/// answers), strictly as JSON; a request body is read as Marathon reads it, with
/// [`marathon_json::read_body`] (`ops::parse_write::parse_body`).
pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ModelError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| ModelError::InvalidJson { path: ".".into(), message: err.to_string() })?;
    from_value(value)
}

/// Converts an already parsed JSON value into `T`, naming the offending field on error.
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        ModelError::InvalidJson { path, message: err.into_inner().to_string() }
    })
}
