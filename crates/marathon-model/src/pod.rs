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

    /// What one instance asks for (cpus, mem MiB, disk MiB, gpus): its containers' `resources`
    /// summed, plus `executorResources` when given.
    pub fn resources_per_instance(&self) -> [f64; 4] {
        let of = |r: Option<&serde_json::Value>| {
            ["cpus", "mem", "disk", "gpus"].map(|k| r.and_then(|r| r.get(k)).and_then(serde_json::Value::as_f64).unwrap_or(0.0))
        };
        let containers = self.extra.get("containers").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let mut total = of(self.extra.get("executorResources"));
        for c in containers {
            for (t, v) in total.iter_mut().zip(of(c.get("resources"))) {
                *t += v;
            }
        }
        total
    }

    /// Environment variables: the pod's own `environment` and each container's.
    pub fn env_count(&self) -> usize {
        let count = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_object).map_or(0, |m| m.len());
        let containers = self.extra.get("containers").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        count(self.extra.get("environment")) + containers.iter().map(|c| count(c.get("environment"))).sum::<usize>()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_environment_of_a_pod() {
        let pod = Pod::parse(
            br#"{"id":"/p","scaling":{"kind":"fixed","instances":50},"environment":{"A":"1","B":"2"},
                "executorResources":{"cpus":0.1,"mem":32},
                "containers":[{"name":"a","resources":{"cpus":2,"mem":128},"environment":{"C":"3"}},
                              {"name":"b","resources":{"cpus":2,"mem":64,"disk":10},"environment":{"D":"4","E":"5","F":"6"}}]}"#,
        )
        .unwrap();
        assert_eq!(pod.instances(), 50);
        assert_eq!(pod.resources_per_instance(), [4.1, 224.0, 10.0, 0.0]);
        assert_eq!(pod.env_count(), 6);
        assert_eq!(Pod::parse(br#"{"id":"/q"}"#).unwrap().resources_per_instance(), [0.0; 4]);
    }
}
