//! The `[admission]` table of `proxy.toml`, as far as the offline commands need it.

use std::path::Path;

use anyhow::Context;
use admission::Policy;

/// Reads `margin`, `warn_at` and `mode` from `[admission]`; Marathon-free defaults otherwise.
pub fn load(path: Option<&Path>) -> anyhow::Result<Policy> {
    let Some(path) = path else { return Ok(Policy::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let Some(section) = doc.get("admission") else { return Ok(Policy::default()) };
    let mut policy = Policy::default();
    if let Some(v) = section.get("margin") {
        policy.margin = v.as_float().context("[admission] margin must be a number such as 0.01")?;
    }
    if let Some(v) = section.get("warn_at") {
        policy.warn_at = v.as_float().context("[admission] warn_at must be a number such as 0.8")?;
    }
    if let Some(v) = section.get("mode") {
        policy.mode = v.clone().try_into().context("[admission] mode must be \"enforce\", \"warn\" or \"off\"")?;
    }
    Ok(policy)
}
