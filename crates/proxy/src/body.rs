//! The two body types of the proxy: what goes to Marathon ([`UpstreamBody`]) and what goes to the
//! client ([`ProxyBody`]).
//!
//! Why concrete enums rather than boxed bodies: the common case (a read) streams Marathon's
//! `Incoming` straight to the client; an enum keeps that path free of allocation and dynamic
//! dispatch. `ProxyBody` also owns the end-of-request bookkeeping: when the body ends, fails or is
//! dropped (the client went away) it runs the `logging` phase exactly once.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

use crate::relay_event_stream::EventsBody;
use crate::metrics::Metrics;
use crate::phases::{Outcome, RequestCtx, RequestPhases, RequestSummary};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to Marathon.
pub enum UpstreamBody {
    /// Fully known (buffered writes, empty bodies): can be sent again to another Marathon.
    Full(Option<Bytes>),
    /// Streamed from the client as it arrives: sent once.
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl UpstreamBody {
    pub fn full(b: Bytes) -> Self {
        if b.is_empty() {
            UpstreamBody::Full(None)
        } else {
            UpstreamBody::Full(Some(b))
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            UpstreamBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpstreamBody::Stream(s) => Pin::new(s).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Full(b) => b.is_none(),
            UpstreamBody::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            UpstreamBody::Stream(s) => s.size_hint(),
        }
    }
}

pub(crate) enum Kind {
    Full(Option<Bytes>),
    Upstream(Incoming),
    Events(EventsBody),
}

/// Runs the `logging` phase once, when the response is over.
pub(crate) struct Finish {
    pub phases: Arc<dyn RequestPhases>,
    pub metrics: Arc<Metrics>,
    pub ctx: RequestCtx,
    pub status: StatusCode,
    pub local: bool,
    pub upstream_latency: Option<Duration>,
}

/// A response body on its way to the client.
pub struct ProxyBody {
    kind: Kind,
    finish: Option<Finish>,
    sent: u64,
}

impl ProxyBody {
    pub(crate) fn new(kind: Kind, finish: Option<Finish>) -> Self {
        ProxyBody {
            kind,
            finish,
            sent: 0,
        }
    }

    /// A complete body with no bookkeeping (admin endpoints, tests).
    pub fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        ProxyBody::new(Kind::Full((!b.is_empty()).then_some(b)), None)
    }

    fn done(&mut self, outcome: Outcome) {
        if let Some(f) = self.finish.take() {
            let summary = RequestSummary {
                status: f.status,
                local_response: f.local,
                upstream_latency: f.upstream_latency,
                total: f.ctx.received_at.elapsed(),
                response_bytes: self.sent,
                outcome,
            };
            tracing::debug!(
                id = f.ctx.id,
                method = %f.ctx.method,
                route = f.ctx.route.class.as_str(),
                status = f.status.as_u16(),
                local = f.local,
                bytes = self.sent,
                ms = summary.total.as_secs_f64() * 1000.0,
                outcome = ?outcome,
                "request"
            );
            if outcome == Outcome::UpstreamBodyError {
                f.metrics.upstream_error("body");
            }
            f.phases.logging(&f.ctx, &summary);
        }
    }

    fn inner_end(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(i) => i.is_end_stream(),
            Kind::Events(e) => e.is_end_stream(),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if self.finish.is_some() {
            let outcome = if self.inner_end() {
                Outcome::Completed
            } else {
                Outcome::ClientGone
            };
            self.done(outcome);
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let res: Poll<Option<Result<Frame<Bytes>, BoxError>>> = match &mut this.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream(i) => match Pin::new(i).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e) as BoxError))),
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            Kind::Events(e) => Pin::new(e).poll_frame(cx),
        };
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                }
                if this.inner_end() {
                    this.done(Outcome::Completed);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!("Marathon's response body broke off: {e}");
                this.done(Outcome::UpstreamBodyError);
            }
            Poll::Ready(None) => {
                let outcome = match &this.kind {
                    Kind::Events(e) if e.ended_by_shutdown() => Outcome::Shutdown,
                    _ => Outcome::Completed,
                };
                this.done(outcome);
            }
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner_end()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream(i) => i.size_hint(),
            Kind::Events(e) => e.size_hint(),
        }
    }
}
