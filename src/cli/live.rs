//! Reading the live root group from a Marathon for the offline commands.

use anyhow::Context;

/// `GET <url>/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods`.
pub fn fetch_root(url: &str) -> anyhow::Result<Vec<u8>> {
    let url = format!(
        "{}/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods",
        url.trim_end_matches('/')
    );
    let response = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?
        .get(&url)
        .header("Accept", "application/json")
        .send()
        .with_context(|| format!("cannot reach Marathon at {url}"))?;
    let status = response.status();
    let body = response.bytes().context("reading Marathon's answer")?;
    if !status.is_success() {
        anyhow::bail!("Marathon answered {status} to {url}");
    }
    Ok(body.to_vec())
}
