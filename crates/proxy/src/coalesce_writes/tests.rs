use super::*;

use std::future::poll_fn;

/// A connection that records how it was written to and accepts at most `accept` bytes per call.
#[derive(Default)]
struct Recorder {
    calls: Vec<(&'static str, Vec<u8>)>,
    accept: Option<usize>,
}

impl Write for Recorder {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = self.accept.map_or(buf.len(), |a| a.min(buf.len()));
        self.calls.push(("write", buf[..n].to_vec()));
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.calls.push(("writev", all.clone()));
        Poll::Ready(Ok(all.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

async fn write_vectored(io: &mut CoalesceWrites<Recorder>, bufs: &[&[u8]]) -> usize {
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, &slices)).await.unwrap()
}

#[tokio::test]
async fn a_small_message_in_several_buffers_goes_out_as_one_plain_write() {
    let mut io = CoalesceWrites::new(Recorder::default());
    let n = write_vectored(&mut io, &[b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n", b"", b"pong"]).await;
    assert_eq!(n, 42);
    assert_eq!(io.inner.calls, vec![("write", b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npong".to_vec())]);
}

#[tokio::test]
async fn a_single_buffer_goes_out_as_a_plain_write_without_copy_limit() {
    let big = vec![7u8; COALESCE_MAX * 3];
    let mut io = CoalesceWrites::new(Recorder::default());
    let n = write_vectored(&mut io, &[b"", &big]).await;
    assert_eq!(n, big.len());
    assert_eq!(io.inner.calls, vec![("write", big)]);
}

#[tokio::test]
async fn a_large_message_stays_vectored() {
    let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    let body = vec![1u8; COALESCE_MAX];
    let mut io = CoalesceWrites::new(Recorder::default());
    let n = write_vectored(&mut io, &[&head, &body]).await;
    assert_eq!(n, head.len() + body.len());
    assert_eq!(io.inner.calls, vec![("writev", [head, body].concat())]);
}

#[tokio::test]
async fn exactly_the_limit_is_still_one_plain_write() {
    let head = vec![b'h'; 96];
    let body = vec![b'b'; COALESCE_MAX - 96];
    let mut io = CoalesceWrites::new(Recorder::default());
    write_vectored(&mut io, &[&head, &body]).await;
    assert_eq!(io.inner.calls, vec![("write", [head, body].concat())]);
}

#[tokio::test]
async fn a_partial_write_counts_bytes_from_the_front_of_the_list() {
    let mut io = CoalesceWrites::new(Recorder { accept: Some(5), ..Recorder::default() });
    let n = write_vectored(&mut io, &[b"abc", b"defgh", b"ij"]).await;
    assert_eq!(n, 5);
    assert_eq!(io.inner.calls, vec![("write", b"abcde".to_vec())]);
}

#[tokio::test]
async fn nothing_to_write_writes_nothing() {
    let mut io = CoalesceWrites::new(Recorder::default());
    assert_eq!(write_vectored(&mut io, &[b"", b""]).await, 0);
    assert_eq!(write_vectored(&mut io, &[]).await, 0);
    assert!(io.inner.calls.is_empty());
}

#[test]
fn hyper_is_told_to_hand_over_buffer_lists() {
    assert!(CoalesceWrites::new(Recorder::default()).is_write_vectored());
}
