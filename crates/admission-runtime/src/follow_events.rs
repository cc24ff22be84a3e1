//! Keeps the live model fresh from Marathon's `/v2/events` (server-sent events).
//!
//! - Subscribes through the proxy's own client ([`proxy::MarathonClient::subscribe`]), to the
//!   first Marathon that answers (leader first), with an `event_type` filter (Marathon >= 1.3.7; older ones
//!   ignore it and the unknown types are skipped here).
//! - `api_post_event` carries the whole app as Marathon now stores it: it replaces the model's
//!   copy at once ([`LiveModel::apply_app_event`]).
//! - `group_change_success` / `group_change_failed`, the pod events, `deployment_info` /
//!   `deployment_success` / `deployment_failed` (when they arrive) and `event_stream_attached`
//!   ask for a full resync, debounced by `events_debounce_ms`.
//! - Not subscribed by default: the deployment events. Up to Marathon 1.6 they carry the whole
//!   original and target root groups (megabytes per write on a big Marathon), and every change of
//!   the root group they report was announced first by `group_change_success`.
//! - When the stream breaks: resync, reconnect with backoff (100 ms doubling to 5 s). The
//!   periodic resync stays on as the safety net.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;

use super::live_model::LiveModel;
use proxy::upstream::display_base;

/// The event types subscribed to.
pub const SUBSCRIBED: &[&str] = &[
    "event_stream_attached",
    "api_post_event",
    "group_change_success",
    "group_change_failed",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
];

/// What an event means for the model.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Replace the app (the JSON of `appDefinition`), and resync if that fails.
    App(serde_json::Value),
    Resync,
    Ignore,
}

/// Interprets one event.
pub fn action(event_type: &str, data: &str) -> Action {
    match event_type {
        "api_post_event" => match serde_json::from_str::<serde_json::Value>(data) {
            Ok(mut v) => match v.get_mut("appDefinition").map(serde_json::Value::take) {
                Some(app) if app.is_object() => Action::App(app),
                _ => Action::Resync,
            },
            Err(_) => Action::Resync,
        },
        "event_stream_attached"
        | "group_change_success"
        | "group_change_failed"
        | "deployment_info"
        | "deployment_success"
        | "deployment_failed"
        | "pod_created_event"
        | "pod_updated_event"
        | "pod_deleted_event" => Action::Resync,
        _ => Action::Ignore,
    }
}

/// Server-sent events parser: feed bytes, get `(event, data)` pairs.
#[derive(Default)]
pub struct SseParser {
    buf: BytesMut,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<(String, String)>) {
        self.buf.extend_from_slice(chunk);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[..nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            self.buf.advance(nl + 1);
            self.line(&line, out);
        }
    }

    fn line(&mut self, line: &str, out: &mut Vec<(String, String)>) {
        if line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() { "message".to_string() } else { std::mem::take(&mut self.event) };
                out.push((event, std::mem::take(&mut self.data)));
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// Runs forever: subscribe, apply, reconnect.
pub async fn run(model: Arc<LiveModel>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let ended = follow(&model).await;
        model.stream_up.store(false, Ordering::SeqCst);
        model.metrics.event_stream_up.set(0);
        // Whatever happened while we were not listening: a full resync.
        model.request_resync();
        if let Err(e) = ended {
            tracing::debug!(error = %e, "admission: event stream unavailable");
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One subscription, until it ends.
async fn follow(model: &Arc<LiveModel>) -> anyhow::Result<()> {
    let mut pq = String::from("/v2/events?");
    pq.push_str(&SUBSCRIBED.iter().map(|t| format!("event_type={t}")).collect::<Vec<_>>().join("&"));
    pq.push_str("&plan-format=light");
    let (base, resp) = model.marathon().subscribe(&pq).await?;
    model.stream_up.store(true, Ordering::SeqCst);
    model.metrics.event_stream_up.set(1);
    tracing::info!(marathon = %display_base(&base), "admission: following /v2/events");
    let mut body = resp.into_body();
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("/v2/events broke off: {e}"))?;
        let Ok(data) = frame.into_data() else { continue };
        parser.feed(&data, &mut events);
        for (event_type, data) in events.drain(..) {
            model.metrics.events.inc();
            match action(&event_type, &data) {
                Action::App(app) => {
                    if !model.apply_app_event(&app).await {
                        model.request_resync();
                    }
                }
                Action::Resync => model.request_resync(),
                Action::Ignore => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_frames_split_anywhere() {
        let text = "event: api_post_event\r\ndata: {\"appDefinition\":{\"id\":\"/a\"}}\r\n\r\n\r\n: comment\nevent: group_change_success\ndata: {}\n\n";
        for split in 0..text.len() {
            let mut p = SseParser::default();
            let mut out = Vec::new();
            p.feed(&text.as_bytes()[..split], &mut out);
            p.feed(&text.as_bytes()[split..], &mut out);
            assert_eq!(out.len(), 2, "split at {split}");
            assert_eq!(out[0].0, "api_post_event");
            assert_eq!(out[1], ("group_change_success".to_string(), "{}".to_string()));
            assert_eq!(action(&out[0].0, &out[0].1), Action::App(serde_json::json!({"id": "/a"})));
        }
        assert_eq!(action("group_change_success", "{}"), Action::Resync);
        assert_eq!(action("status_update_event", "{}"), Action::Ignore);
        assert_eq!(action("api_post_event", "not json"), Action::Resync);
    }
}
