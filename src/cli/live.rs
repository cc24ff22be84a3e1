//! Reading the live root group from a Marathon for the offline commands, through the proxy's own
//! client (the same timeouts, TLS settings and, when configured, credentials as the proxy).

use anyhow::Context;

/// `GET <url>/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods`, with the
/// `[upstream]` settings of `upstream`.
pub fn fetch_root(url: &str, upstream: &proxy::config::UpstreamConfig) -> anyhow::Result<Vec<u8>> {
    fetch(url, admission_runtime::live_model::GROUPS_EMBEDDED, upstream).with_context(|| format!("cannot read the root group from Marathon at {url}"))
}

/// How many deployments `GET <url>/v2/deployments` lists (each keeps a plan in ZooKeeper).
pub fn fetch_pending_deployments(url: &str, upstream: &proxy::config::UpstreamConfig) -> anyhow::Result<u32> {
    let body = fetch(url, "/v2/deployments", upstream).with_context(|| format!("cannot read the deployments from Marathon at {url}"))?;
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).context("/v2/deployments is not a JSON array")?;
    Ok(listed.len() as u32)
}

fn fetch(url: &str, path: &str, upstream: &proxy::config::UpstreamConfig) -> anyhow::Result<Vec<u8>> {
    let base: http::Uri = url.parse().with_context(|| format!("--marathon {url:?} is not a URL"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let body = runtime.block_on(async {
        let credentials = proxy::own_credentials::OwnCredentials::from_config(&upstream.auth, &|k| std::env::var(k).ok(), Some(&base))?;
        credentials.check().context("the proxy's own credentials")?;
        let marathon = proxy::MarathonClient::with_credentials(vec![base], upstream, credentials)?;
        anyhow::Ok(marathon.get(path).await?)
    })?;
    Ok(body.to_vec())
}
