//! What a write needs that only Marathon holds, fetched through the proxy's one client before
//! the write is decided: an app's or the root's older version (rollbacks), a running
//! deployment's original and target (a revert, `DELETE /v2/deployments/{id}` without `force`).
//!
//! Why fetch rather than guess: the model holds the current root only, and a write it cannot
//! size must not pass on the guess that Marathon refuses it. A version or deployment Marathon
//! answers 404 for is one Marathon refuses the write over, for certain; then the write is
//! Marathon's to answer. When Marathon cannot be asked, the write cannot be decided and the
//! failure policy answers. Stored versions never change, so what was fetched is kept (bounded)
//! and also serves the ledger's pending writes.

use std::sync::Arc;
use std::time::Duration;

use marathon_model::ops::{Change, FetchedHistory, Flavour, Needed, Write};
use marathon_model::{App, Group, PathId, Timestamp};
use moka::future::Cache;
use proxy::MarathonClient;

/// Versions kept: roots are whole trees, so few of them.
const MAX_ROOTS: u64 = 8;
const MAX_APPS: u64 = 1024;
const KEEP_FOR: Duration = Duration::from_secs(600);

/// The embeds that make a group answer carry the whole tree (as the model's own sync asks).
const WHOLE_TREE: &str = "embed=group.groups&embed=group.apps&embed=group.pods";

/// Marathon could not be asked for what a write needs.
#[derive(Debug)]
pub(crate) struct Unavailable(pub String);

pub(crate) struct FetchMissing {
    marathon: MarathonClient,
    roots: Cache<String, Arc<Group>>,
    apps: Cache<(PathId, String), App>,
}

impl FetchMissing {
    pub(crate) fn new(marathon: MarathonClient) -> FetchMissing {
        FetchMissing {
            marathon,
            roots: Cache::builder().max_capacity(MAX_ROOTS).time_to_live(KEEP_FOR).build(),
            apps: Cache::builder().max_capacity(MAX_APPS).time_to_live(KEEP_FOR).build(),
        }
    }

    /// Fetches what `write` needs: versions into the returned history, a revert's plan into the
    /// write itself (so that the ledger keeps a write that says all it does).
    pub(crate) async fn fill(&self, write: &mut Write, flavour: Flavour) -> Result<FetchedHistory, Unavailable> {
        for needed in write.needs() {
            match needed {
                Needed::AppVersion(id, v) => {
                    self.app_at(&id, &v).await?;
                }
                Needed::RootVersion(v) => {
                    self.root_at(&v, flavour).await?;
                }
                Needed::Deployment(id) => {
                    if let Change::RevertDeployment { plan, .. } = &mut write.change {
                        *plan = self.deployment_plan(&id, flavour).await?.map(Box::new);
                    }
                }
            }
        }
        Ok(self.kept_for(std::slice::from_ref(write)).await)
    }

    /// What was fetched before for `writes` (the ledger's pending writes), without asking again.
    pub(crate) async fn kept_for(&self, writes: &[Write]) -> FetchedHistory {
        let mut history = FetchedHistory::default();
        for needed in writes.iter().flat_map(Write::needs) {
            match needed {
                Needed::AppVersion(id, v) => {
                    if let Some(app) = self.apps.get(&(id.clone(), key(&v))).await {
                        history.add_app(&id, &v, app);
                    }
                }
                Needed::RootVersion(v) => {
                    if let Some(root) = self.roots.get(&key(&v)).await {
                        history.add_root(&v, (*root).clone());
                    }
                }
                Needed::Deployment(_) => {}
            }
        }
        history
    }

    async fn app_at(&self, id: &PathId, version: &str) -> Result<Option<App>, Unavailable> {
        // Not a timestamp: Marathon refuses the body before it looks for a version.
        let Some(at) = timestamp(version) else { return Ok(None) };
        let k = (id.clone(), at.clone());
        if let Some(app) = self.apps.get(&k).await {
            return Ok(Some(app));
        }
        let Some(body) = self.ask(&format!("/v2/apps{}/versions/{at}", escaped(id))).await? else { return Ok(None) };
        let app: App = marathon_model::from_json(&body).map_err(|e| Unavailable(format!("app {id} version {version}: {e}")))?;
        self.apps.insert(k, app.clone()).await;
        Ok(Some(app))
    }

    async fn root_at(&self, version: &str, flavour: Flavour) -> Result<Option<Arc<Group>>, Unavailable> {
        let Some(at) = timestamp(version) else { return Ok(None) };
        if let Some(root) = self.roots.get(&at).await {
            return Ok(Some(root));
        }
        let Some(body) = self.ask(&format!("/v2/groups/versions/{at}?{WHOLE_TREE}")).await? else { return Ok(None) };
        let root = tokio::task::spawn_blocking(move || crate::live_model::parse_root(&body, flavour))
            .await
            .map_err(|e| Unavailable(e.to_string()))?
            .map_err(|e| Unavailable(format!("the root at version {version}: {e:#}")))?;
        let root = Arc::new(root);
        self.roots.insert(key(version), root.clone()).await;
        Ok(Some(root))
    }

    /// A running deployment's original and target: the root at the deployment's version and at
    /// the version before it (Marathon stores each root it deploys). `None` when Marathon runs no
    /// such deployment.
    async fn deployment_plan(&self, id: &str, flavour: Flavour) -> Result<Option<(Group, Group)>, Unavailable> {
        let Some(listed) = self.ask("/v2/deployments").await? else { return Ok(None) };
        let Some(version) = deployment_version(&listed, id)? else { return Ok(None) };
        let versions = self.ask("/v2/groups/versions").await?.ok_or_else(|| Unavailable("/v2/groups/versions answered 404".into()))?;
        let before = version_before(&versions, &version)?
            .ok_or_else(|| Unavailable(format!("Marathon keeps no root version before deployment {id}'s ({version})")))?;
        let missing = |v: &str| Unavailable(format!("Marathon no longer holds the root at version {v}"));
        let original = self.root_at(&before, flavour).await?.ok_or_else(|| missing(&before))?;
        let target = self.root_at(&version, flavour).await?.ok_or_else(|| missing(&version))?;
        Ok(Some(((*original).clone(), (*target).clone())))
    }

    async fn ask(&self, path_and_query: &str) -> Result<Option<bytes::Bytes>, Unavailable> {
        self.marathon.get_if_held(path_and_query).await.map_err(|e| Unavailable(e.to_string()))
    }
}

/// A version as a key: the same instant however it is spelled.
fn key(version: &str) -> String {
    timestamp(version).unwrap_or_else(|| version.to_string())
}

/// A version as Marathon writes it (and as it may go into a URL), if it is a timestamp at all.
fn timestamp(version: &str) -> Option<String> {
    Timestamp::parse(version).ok().map(|t| t.to_joda())
}

/// An app id as a URL path (`/a/b`), each segment percent-encoded: an id comes from the client.
fn escaped(id: &PathId) -> String {
    id.segments()
        .iter()
        .map(|s| {
            s.bytes().fold(String::from("/"), |mut out, b| {
                match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(b)),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
                out
            })
        })
        .collect()
}

/// The `version` of deployment `id` in a `GET /v2/deployments` answer.
fn deployment_version(listed: &[u8], id: &str) -> Result<Option<String>, Unavailable> {
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(listed).map_err(|e| Unavailable(format!("/v2/deployments is not a JSON array: {e}")))?;
    Ok(all
        .iter()
        .find(|d| d.get("id").and_then(|v| v.as_str()) == Some(id))
        .and_then(|d| d.get("version").and_then(|v| v.as_str()).map(str::to_owned)))
}

/// The latest version strictly before `version` in a `GET /v2/groups/versions` answer.
fn version_before(listed: &[u8], version: &str) -> Result<Option<String>, Unavailable> {
    let all: Vec<String> =
        serde_json::from_slice(listed).map_err(|e| Unavailable(format!("/v2/groups/versions is not a JSON array: {e}")))?;
    let at = |v: &str| Timestamp::parse(v).ok().map(|t| t.millis());
    let limit = at(version).ok_or_else(|| Unavailable(format!("deployment version {version:?} is not a timestamp")))?;
    Ok(all.into_iter().filter_map(|v| Some((at(&v)?, v))).filter(|(ms, _)| *ms < limit).max_by_key(|(ms, _)| *ms).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_client_sent_cannot_steer_the_proxys_own_reads() {
        assert_eq!(escaped(&PathId::parse("/team/app")), "/team/app");
        assert_eq!(escaped(&PathId::from_segments(["a?b", "c/../d", "e f"].map(String::from))), "/a%3Fb/c%2F..%2Fd/e%20f");
        assert_eq!(timestamp("2017-01-01T00:00:00Z").as_deref(), Some("2017-01-01T00:00:00.000Z"));
        assert_eq!(timestamp("../../v2/info"), None);
    }

    #[test]
    fn a_deployment_is_found_by_id_and_its_original_is_the_version_before() {
        let listed = br#"[{"id":"a","version":"2017-01-01T00:00:02.000Z"},{"id":"b","version":"2017-01-01T00:00:05.000Z"}]"#;
        assert_eq!(deployment_version(listed, "b").unwrap().as_deref(), Some("2017-01-01T00:00:05.000Z"));
        assert_eq!(deployment_version(listed, "c").unwrap(), None);
        let versions = br#"["2017-01-01T00:00:05.000Z","2017-01-01T00:00:01.000Z","2017-01-01T00:00:03.000Z"]"#;
        assert_eq!(version_before(versions, "2017-01-01T00:00:05.000Z").unwrap().as_deref(), Some("2017-01-01T00:00:03.000Z"));
        assert_eq!(version_before(versions, "2017-01-01T00:00:01.000Z").unwrap(), None);
        assert!(version_before(b"{}", "2017-01-01T00:00:01.000Z").is_err());
    }
}
