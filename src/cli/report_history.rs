//! `report --history FILE`: the growth of the binding node over the last days, read from the
//! history the proxy keeps (`[admission] history_file`), and the days left to the wall at that
//! rate. Alone, or after the report of a state (`--state`, `--marathon`).
//!
//! The numbers and the sentence are those of the budget page (`GET /admission/v1/history`):
//! [`admission_runtime::binding_history`] computes both.

use std::path::Path;

use admission_runtime::binding_history::{Bounds, History, DAY_MS};
use anyhow::Context;
use marathon_model::Timestamp;
use serde_json::json;

/// The history section: the file's span, the levels and the growth over the last `days`.
pub fn section(path: &Path, days: f64) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--history {}", path.display()))?;
    let history = History::from_json(&text, Bounds { max_points: usize::MAX, ..Bounds::default() })
        .map_err(|e| anyhow::anyhow!("--history {}: {e}", path.display()))?;
    let now = Timestamp::now().millis();
    let growth = history.growth(now, (days * DAY_MS as f64) as i64);
    let at = |t: Option<i64>| t.map(|t| Timestamp::from_millis(t).to_iso_offset());
    let mut growth_json = serde_json::to_value(growth)?;
    if let Some(g) = &growth {
        growth_json["summary"] = g.summary(history.levels.reject_at_bytes).into();
    }
    Ok(json!({
        "file": path.display().to_string(),
        "points": history.points.len(),
        "first": at(history.points.first().map(|p| p.t)),
        "last_change": at(history.points.last().map(|p| p.t)),
        "binding_bytes": history.points.last().map(|p| p.bytes),
        "limit_bytes": history.levels.limit_bytes,
        "reject_at_bytes": history.levels.reject_at_bytes,
        "warn_at_bytes": history.levels.warn_at_bytes,
        "growth": growth_json,
    }))
}

pub fn print_text(s: &serde_json::Value) {
    let Some(bytes) = s["binding_bytes"].as_u64() else {
        println!("history {}: no size recorded yet", s["file"].as_str().unwrap_or_default());
        return;
    };
    println!(
        "history {}: {} points since {}, last change {}; binding node {bytes} bytes (warning at {}, the wall at {}, limit {})",
        s["file"].as_str().unwrap_or_default(),
        s["points"],
        s["first"].as_str().unwrap_or_default(),
        s["last_change"].as_str().unwrap_or_default(),
        s["warn_at_bytes"],
        s["reject_at_bytes"],
        s["limit_bytes"],
    );
    println!("growth: {}", s["growth"]["summary"].as_str().unwrap_or_default());
}

/// `--days`: a positive number of days.
pub fn parse_days(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 => Ok(d),
        _ => Err(format!("a positive number of days, e.g. 7; got {raw:?}")),
    }
}
