//! The event bus behind `GET /v2/events`: every event is published once, in order, to every
//! attached stream; each stream filters by `event_type` and writes Server-Sent Events frames the way
//! Marathon's Jetty `EventSourceServlet` does (`event: x\r\ndata: json\r\n\r\n`).

use std::sync::Arc;

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
    pub fn new(event_type: &str, mut body: serde_json::Map<String, Value>, timestamp: &str) -> Event {
        body.insert("eventType".into(), Value::String(event_type.into()));
        body.insert("timestamp".into(), Value::String(timestamp.into()));
        Event { event_type: event_type.into(), json: Value::Object(body).to_string() }
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
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(16 * 1024)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        EventBus { tx }
    }

    pub fn publish(&self, event: Event) {
        tracing::debug!(event_type = %event.event_type, "event");
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
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
    fn filter() {
        assert!(Filter::default().accepts("x"));
        let f = Filter(vec!["a".into(), "b".into()]);
        assert!(f.accepts("b") && !f.accepts("c"));
    }
}
