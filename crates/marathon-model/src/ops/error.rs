//! Marathon's answers to a write it refuses, with status and JSON body (facts §5.3).

use serde_json::{json, Value};

use crate::marathon_json::ReadError;
use crate::{ModelError, PathId};

/// A refused write. [`ChangeError::status`] and [`ChangeError::body`] give Marathon's response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    #[error("App '{0}' does not exist")]
    UnknownApp(PathId),
    /// A rollback to a version Marathon does not hold: its answer names the app only
    /// (`AppsResource.rollback` throws the exception without the version).
    #[error("App '{0}' does not exist")]
    UnknownAppVersion(PathId, String),
    #[error("Group '{0}' does not exist")]
    UnknownGroup(PathId),
    #[error("Pod '{0}' does not exist")]
    UnknownPod(PathId),
    #[error("DeploymentPlan {0} does not exist")]
    UnknownDeployment(String),
    /// 409 without deployments, e.g. `An app with id [/x] already exists.`
    #[error("{0}")]
    Conflict(String),
    /// 400 `{"message":"Invalid JSON","details":[{path, errors}]}` (a `JsResultException`).
    #[error("Invalid JSON")]
    InvalidJson(Vec<(String, Vec<String>)>),
    /// 400 `{"message":"Invalid JSON","details":"<parser text>"}` (unparsable JSON).
    #[error("Invalid JSON: {0}")]
    UnparsableJson(String),
    /// 400 `{"message":"Please specify data in JSON format","details":...}`: a body with no JSON
    /// value at all (Jackson's `JsonMappingException`).
    #[error("Please specify data in JSON format")]
    NoContent,
    /// 500 `{"message": ...}`: bytes Jackson cannot decode (an `IOException` out of the parser).
    #[error("{0}")]
    Undecodable(String),
    /// 422 `{"message":"Object is not valid","details":[{path, errors}]}`.
    #[error("Object is not valid")]
    Invalid(Vec<(String, Vec<String>)>),
    /// 422 `{"message": ...}` (an `IllegalArgumentException`).
    #[error("{0}")]
    IllegalArgument(String),
    /// 400 `{"message": ...}` (a `BadRequestException`).
    #[error("{0}")]
    BadRequest(String),
    /// 404 `{"message": ...}` for paths the flavour does not serve.
    #[error("{0}")]
    NotFound(String),
}

impl ChangeError {
    pub fn status(&self) -> u16 {
        match self {
            ChangeError::UnknownApp(_)
            | ChangeError::UnknownAppVersion(..)
            | ChangeError::UnknownGroup(_)
            | ChangeError::UnknownPod(_)
            | ChangeError::UnknownDeployment(_)
            | ChangeError::NotFound(_) => 404,
            ChangeError::Conflict(_) => 409,
            ChangeError::InvalidJson(_) | ChangeError::UnparsableJson(_) | ChangeError::NoContent | ChangeError::BadRequest(_) => 400,
            ChangeError::Invalid(_) | ChangeError::IllegalArgument(_) => 422,
            ChangeError::Undecodable(_) => 500,
        }
    }

    pub fn body(&self) -> Value {
        fn details(d: &[(String, Vec<String>)]) -> Value {
            Value::Array(d.iter().map(|(p, e)| json!({"path": p, "errors": e})).collect())
        }
        match self {
            ChangeError::InvalidJson(d) => json!({"message": "Invalid JSON", "details": details(d)}),
            ChangeError::UnparsableJson(text) => json!({"message": "Invalid JSON", "details": text}),
            ChangeError::NoContent => json!({"message": self.to_string(), "details": ReadError::NoContent.to_string()}),
            ChangeError::Invalid(d) => json!({"message": "Object is not valid", "details": details(d)}),
            other => json!({"message": other.to_string()}),
        }
    }

    /// A single object-level validation error (path `/`).
    pub fn invalid(path: &str, error: impl Into<String>) -> ChangeError {
        ChangeError::Invalid(vec![(path.to_string(), vec![error.into()])])
    }

    /// Maps a body Marathon's reader refuses onto its answer.
    pub fn from_read(err: ReadError) -> ChangeError {
        match err {
            ReadError::NoContent => ChangeError::NoContent,
            ReadError::Syntax(text) => ChangeError::UnparsableJson(text),
            ReadError::Encoding(text) => ChangeError::Undecodable(text),
        }
    }

    /// Maps a model parse error (of a body already read as JSON) onto Marathon's 400, with `prefix`
    /// (e.g. `/apps(0)`) before the path.
    pub fn from_model(err: ModelError, prefix: &str) -> ChangeError {
        match err {
            ModelError::InvalidJson { path, message } => {
                ChangeError::InvalidJson(vec![(format!("{prefix}{}", play_path(&path)), vec![message])])
            }
            ModelError::MissingField { field } => {
                ChangeError::InvalidJson(vec![(format!("{prefix}/{field}"), vec!["error.path.missing".into()])])
            }
            ModelError::InvalidId { id, .. } => ChangeError::invalid(&format!("{prefix}/id"), id_error(&id)),
        }
    }
}

/// Marathon 1.3's message for an id segment that does not match its pattern.
pub fn id_error(_id: &str) -> String {
    "must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'".to_string()
}

/// `container.docker.network` → `/container/docker/network`, `apps[0].id` → `/apps(0)/id` (Play's
/// JsPath rendering).
fn play_path(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        if let Some(i) = part.find('[') {
            out.push('/');
            out.push_str(&part[..i]);
            out.push_str(&part[i..].replace('[', "(").replace(']', ")"));
        } else {
            out.push('/');
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_paths() {
        assert_eq!(play_path("container.docker.network"), "/container/docker/network");
        assert_eq!(play_path("apps[0].id"), "/apps(0)/id");
        assert_eq!(play_path("."), "");
    }

    #[test]
    fn bodies() {
        let e = ChangeError::UnknownApp(PathId::parse("/x"));
        assert_eq!((e.status(), e.body()), (404, json!({"message": "App '/x' does not exist"})));
        let e = ChangeError::invalid("/", "boom");
        assert_eq!(e.body(), json!({"message": "Object is not valid", "details": [{"path": "/", "errors": ["boom"]}]}));
    }
}
