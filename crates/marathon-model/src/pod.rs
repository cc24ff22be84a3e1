//! A pod (1.4+). Pods are persisted as their JSON text, so the model keeps them as sent.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::app::Extra;
use crate::{ModelError, PathId};

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub id: Option<String>,
    pub version: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Pod {
    pub fn parse(bytes: &[u8]) -> Result<Pod, ModelError> {
        crate::from_json(bytes)
    }

    pub fn path_id(&self, base: &PathId) -> Result<PathId, ModelError> {
        let raw = self.id.as_deref().ok_or(ModelError::MissingField { field: "id" })?;
        Ok(PathId::resolve(raw, base))
    }

    /// Instances from `scaling.instances` (default 1).
    pub fn instances(&self) -> u64 {
        self.extra
            .get("scaling")
            .and_then(|s| s.get("instances"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(1)
    }
}
