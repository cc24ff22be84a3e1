//! The `/v2/events` server-sent event stream.
//!
//! Why special: it is a response that never ends. It must reach the client frame by frame as
//! Marathon writes it (each chunk read from Marathon is handed to the client connection at once;
//! nothing is buffered or compressed), it has no response or idle timeout (Marathon's heartbeat
//! comes every ~10 s, clients decide themselves when a stream is dead), it counts in the
//! `open_streams` gauge, and it must end: when the client goes away hyper drops this body, which
//! drops Marathon's connection (an unfinished response is never put back in the pool), and when
//! the proxy shuts down the stream is ended cleanly so that graceful shutdown does not wait for
//! ever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::body::BoxError;

/// Decrements the open-streams gauge when dropped.
struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub struct EventsBody {
    inner: Incoming,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    ended_by_shutdown: bool,
    _guard: StreamGuard,
}

impl EventsBody {
    pub(crate) fn new(inner: Incoming, open_streams: Gauge, shutdown: CancellationToken) -> Self {
        open_streams.inc();
        EventsBody {
            inner,
            shutdown: Box::pin(shutdown.cancelled_owned()),
            ended_by_shutdown: false,
            _guard: StreamGuard(open_streams),
        }
    }

    pub fn ended_by_shutdown(&self) -> bool {
        self.ended_by_shutdown
    }
}

impl Body for EventsBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.ended_by_shutdown {
            return Poll::Ready(None);
        }
        if this.shutdown.as_mut().poll(cx).is_ready() {
            this.ended_by_shutdown = true;
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended_by_shutdown || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
