//! A deadline for a connection's first request head: reads fail with `TimedOut` once it passes,
//! until that head (or HTTP/2's connection preface) has arrived.
//!
//! Why: hyper's `header_read_timeout` starts only when its HTTP/1 connection reads a head. Before
//! that, the auto builder (HTTP/1.1 and HTTP/2 on one port) reads the opening bytes to tell the
//! two apart, with no timer at all: a client that connects and sends nothing, or sends a part of
//! HTTP/2's preface, would hold its socket (and a connection slot) for ever. Behind TLS the same
//! holds once the handshake is done. The deadline counts from `accept`, so that the handshake and
//! the head share it; later heads on a kept-alive connection are hyper's (same timeout).
//!
//! Where a head ends: at its empty line (`\n` then, optionally, `\r`, then `\n`: what hyper's
//! parser accepts), unless everything so far is a prefix of HTTP/2's preface, which contains one;
//! then at the preface's end. Past that point the wrapper costs one branch per read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// `T` whose reads fail with `TimedOut` after `deadline` until the first head has arrived.
pub(crate) struct HeadDeadline<T> {
    inner: T,
    /// None once the first head (or the preface) has arrived.
    timer: Option<Timer>,
}

struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// Counts the connections closed by it.
    timeouts: Counter,
    /// Bytes so far that are a prefix of [`H2_PREFACE`] (all of them, or the scan is past it).
    preface: usize,
    past_preface: bool,
    /// Where the scan for the empty line is: 0 inside a line, 1 after `\n`, 2 after `\n\r`.
    line_end: u8,
}

impl<T> HeadDeadline<T> {
    pub fn new(inner: T, deadline: Instant, timeouts: Counter) -> Self {
        let timer = Timer {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            timeouts,
            preface: 0,
            past_preface: false,
            line_end: 0,
        };
        HeadDeadline { inner, timer: Some(timer) }
    }
}

impl Timer {
    /// Scans newly read bytes; true once the first head (or the preface) is complete.
    fn head_complete(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if !self.past_preface {
                if H2_PREFACE[self.preface] == b {
                    self.preface += 1;
                    if self.preface == H2_PREFACE.len() {
                        return true;
                    }
                    continue;
                }
                self.past_preface = true;
            }
            self.line_end = match (self.line_end, b) {
                (1 | 2, b'\n') => return true,
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        false
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadDeadline<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Some(timer) = this.timer.as_mut() else { return res };
        match res {
            Poll::Ready(Ok(())) => {
                if timer.head_complete(&buf.filled()[before..]) {
                    this.timer = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if timer.sleep.as_mut().poll(cx).is_ready() => {
                timer.timeouts.inc();
                this.timer = None;
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request head within [listener] header_read_timeout_ms")))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn timer() -> Timer {
        let d = HeadDeadline::new((), Instant::now(), Counter::default());
        d.timer.unwrap()
    }

    #[tokio::test]
    async fn a_head_ends_at_its_empty_line_and_the_preface_at_its_end() {
        for (head, complete) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], true),
            (b"GET / HTTP/1.1\nHost: a\n\n", true),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", false),
            (b"GET / HTTP/1.1\r\n\rX", false),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n", false),
            (H2_PREFACE, true),
            (b"", false),
        ] {
            // Whole, and a byte at a time.
            assert_eq!(timer().head_complete(head), complete, "{:?}", String::from_utf8_lossy(head));
            let mut t = timer();
            assert_eq!(head.iter().any(|b| t.head_complete(std::slice::from_ref(b))), complete);
        }
    }

    #[tokio::test]
    async fn reads_fail_after_the_deadline_until_the_head_is_in() {
        // Deadlines already past: what decides is whether the head came first.
        let (_client, server) = tokio::io::duplex(1024);
        let timeouts = Counter::default();
        let mut server = HeadDeadline::new(server, Instant::now(), timeouts.clone());
        let mut buf = [0u8; 64];
        let e = server.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(timeouts.get(), 1);

        let (mut client, server) = tokio::io::duplex(1024);
        let mut server = HeadDeadline::new(server, Instant::now(), timeouts.clone());
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 18);
        assert!(server.timer.is_none(), "the head is in: no deadline any more");
        let reading = tokio::spawn(async move { server.read(&mut [0u8; 64]).await.map_err(|e| e.kind()) });
        client.write_all(b"later").await.unwrap();
        assert_eq!(reading.await.unwrap(), Ok(5));
        assert_eq!(timeouts.get(), 1);
    }
}
