//! A connection wrapper that sends a small vectored write as one plain write.
//!
//! Why: hyper writes a message as a list of buffers (head, then body chunks) with one vectored
//! write, which on Linux is `writev`. For a small message, such as `/ping`'s answer or a `GET`
//! without a body, `writev` costs noticeably more in the kernel than `send` of the same bytes
//! (it goes through the file layer and copies an iovec array first): measured with
//! `bench/proxy/cpu_per_request.sh` (docs/BENCHMARKS.md, "Proxy read path"). Telling hyper not to
//! use vectored writes at all (`writev(false)`) would do the same for small messages, but makes
//! hyper copy every body into the connection's write buffer, which never shrinks: a keep-alive
//! connection that once sent a large answer holds up to ~400 KB (hyper's buffer limit) until it
//! closes. Here, only messages up to [`COALESCE_MAX`] bytes are copied (into a buffer of that
//! size per connection); larger ones stay vectored.
//!
//! A write may be partial as always: the number returned counts bytes from the front of the
//! buffer list, which is what hyper expects of a vectored write.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

/// Largest vectored write sent as one plain write.
pub(crate) const COALESCE_MAX: usize = 4096;

/// `T` with small vectored writes sent as one plain write (see the module docs).
#[derive(Debug)]
pub(crate) struct CoalesceWrites<T> {
    inner: T,
    /// Where a small message is joined: allocated on the first one, reused after (not a fresh
    /// stack array per write, whose zeroing would cost about what the copy saves).
    joined: Vec<u8>,
}

impl<T> CoalesceWrites<T> {
    pub fn new(inner: T) -> Self {
        CoalesceWrites { inner, joined: Vec::new() }
    }
}

impl<T: Read + Unpin> Read for CoalesceWrites<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for CoalesceWrites<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let inner = Pin::new(&mut this.inner);
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        let (first, second) = (non_empty.next(), non_empty.next());
        let Some(first) = first else { return Poll::Ready(Ok(0)) };
        if second.is_none() {
            return inner.poll_write(cx, first);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total > COALESCE_MAX {
            return inner.poll_write_vectored(cx, bufs);
        }
        this.joined.clear();
        this.joined.reserve_exact(COALESCE_MAX);
        for b in bufs {
            this.joined.extend_from_slice(b);
        }
        inner.poll_write(cx, &this.joined)
    }

    fn is_write_vectored(&self) -> bool {
        // So that hyper keeps body chunks as they are (no copy) and hands them over as a list.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
