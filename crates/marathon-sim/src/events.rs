//! The event bus behind `GET /v2/events`: every event is published once, in order, to every
//! attached stream; each stream filters by `event_type` and writes Server-Sent Events frames the way
//! Marathon's Jetty `EventSourceServlet` does (`event: x\r\ndata: json\r\n\r\n`).
//!
//! The bus knows the filters of the attached streams ([`EventBus::wants`]), so that an event no
//! stream would pass is not built at all: the deployment events carry two whole root groups, and
//! a client that filters them out (the admission proxy does) should not pay for them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

/// One event: its `eventType` and its JSON text (which already holds `eventType` and `timestamp`).
#[derive(Debug, Clone)]
pub struct Event {
    pub event_type: String,
    pub json: String,
}

impl Event {
    /// Builds an event from a JSON object, adding `eventType` and `timestamp` at the end as Marathon's
    /// case-class writers do.
    pub fn new(event_type: &str, body: serde_json::Map<String, Value>, timestamp: &str) -> Event {
        let texts: Vec<(String, String)> = body.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        let fields: Vec<(&str, &str)> = texts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Event::from_json_fields(event_type, &fields, timestamp)
    }

    /// [`Event::new`] from fields already written as JSON text (a deployment's plan is rendered
    /// once for all its events).
    pub fn from_json_fields(event_type: &str, fields: &[(&str, &str)], timestamp: &str) -> Event {
        let event_type_json = Value::from(event_type).to_string();
        let timestamp_json = Value::from(timestamp).to_string();
        let mut all = fields.to_vec();
        all.push(("eventType", &event_type_json));
        all.push(("timestamp", &timestamp_json));
        Event { event_type: event_type.into(), json: crate::render::object(&all) }
    }

    /// The SSE frame for this event.
    pub fn frame(&self) -> Bytes {
        let mut s = String::with_capacity(self.json.len() + self.event_type.len() + 16);
        s.push_str("event: ");
        s.push_str(&self.event_type);
        s.push_str("\r\ndata: ");
        s.push_str(&self.json);
        s.push_str("\r\n\r\n");
        Bytes::from(s)
    }
}

/// Publishes events to every subscriber in publication order.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    filters: Arc<Filters>,
}

/// The filters of the attached streams, by subscription.
#[derive(Default)]
struct Filters {
    next: AtomicU64,
    by_subscription: Mutex<HashMap<u64, Filter>>,
}

/// An attached stream: its events (filter them with [`Subscription::filter`]); dropping it
/// detaches the stream.
pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<Event>>,
    pub filter: Filter,
    id: u64,
    filters: Arc<Filters>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.filters.by_subscription.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(16 * 1024)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        EventBus { tx, filters: Arc::default() }
    }

    pub fn publish(&self, event: Event) {
        tracing::debug!(event_type = %event.event_type, "event");
        let _ = self.tx.send(Arc::new(event));
    }

    /// Attaches a stream that passes `filter`: it receives every event published from now on.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        let id = self.filters.next.fetch_add(1, Ordering::Relaxed);
        let rx = self.tx.subscribe();
        self.filters.by_subscription.lock().unwrap_or_else(|p| p.into_inner()).insert(id, filter.clone());
        Subscription { rx, filter, id, filters: self.filters.clone() }
    }

    pub fn subscribers(&self) -> usize {
        self.filters.by_subscription.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when an attached stream would pass an event of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.filters.by_subscription.lock().unwrap_or_else(|p| p.into_inner()).values().any(|f| f.accepts(event_type))
    }
}

/// Which event types a stream wants (`?event_type=a&event_type=b`); empty = all.
#[derive(Debug, Clone, Default)]
pub struct Filter(pub Vec<String>);

impl Filter {
    pub fn accepts(&self, event_type: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|t| t == event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_crlf_sse() {
        let e = Event::new("group_change_success", serde_json::Map::new(), "2020-01-01T00:00:00.000Z");
        let f = e.frame();
        assert_eq!(
            std::str::from_utf8(&f).unwrap(),
            "event: group_change_success\r\ndata: {\"eventType\":\"group_change_success\",\"timestamp\":\"2020-01-01T00:00:00.000Z\"}\r\n\r\n"
        );
    }

    #[test]
    fn fields_written_as_json_make_the_same_event_as_a_json_object() {
        let body: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"plan":{"id":"p","steps":[[{"action":"ScaleApplication","app":"/a"}]],"x":0.25},"name":"q\"uote"}"#).unwrap();
        let expected = {
            let mut m = body.clone();
            m.insert("eventType".into(), "deployment_info".into());
            m.insert("timestamp".into(), "2020-01-01T00:00:00.000Z".into());
            Value::Object(m).to_string()
        };
        assert_eq!(Event::new("deployment_info", body.clone(), "2020-01-01T00:00:00.000Z").json, expected);
        let texts: Vec<(String, String)> = body.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        let fields: Vec<(&str, &str)> = texts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(Event::from_json_fields("deployment_info", &fields, "2020-01-01T00:00:00.000Z").json, expected);
    }

    #[test]
    fn the_bus_wants_what_an_attached_stream_passes() {
        let bus = EventBus::default();
        assert!(!bus.wants("deployment_info"), "no stream attached");
        let filtered = bus.subscribe(Filter(vec!["group_change_success".into()]));
        assert!(bus.wants("group_change_success"));
        assert!(!bus.wants("deployment_info"));
        let all = bus.subscribe(Filter::default());
        assert!(bus.wants("deployment_info"));
        drop(all);
        assert!(!bus.wants("deployment_info"), "the unfiltered stream left");
        assert_eq!(bus.subscribers(), 1);
        drop(filtered);
        assert_eq!(bus.subscribers(), 0);
    }

    #[test]
    fn filter() {
        assert!(Filter::default().accepts("x"));
        let f = Filter(vec!["a".into(), "b".into()]);
        assert!(f.accepts("b") && !f.accepts("c"));
    }
}
