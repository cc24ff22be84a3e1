//! Reads the body of a state-changing write into memory, bounded.
//!
//! Why: admission must see a write's whole body before Marathon does, and the proxy must not be a
//! way to exhaust its memory. A body announced (`Content-Length`) or found to be larger than
//! `limits.max_write_body_bytes` is refused with 413 before anything is sent upstream; a client
//! that stops sending is cut off after `limits.client_body_timeout_ms`; a client that goes away
//! mid-body leaves nothing behind: the upstream never sees a partial write, because nothing is
//! forwarded until the last byte has arrived.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap};
use http_body::Body;
use http_body_util::BodyExt;

use crate::body::BoxError;

#[derive(Debug)]
pub enum BodyReadError {
    /// More than `limit` bytes (announced or received).
    TooLarge { limit: u64, announced: Option<u64> },
    /// The client did not send the whole body in time.
    Timeout(Duration),
    /// The connection failed mid-body (client gone, malformed framing).
    Broken(String),
}

/// The `Content-Length` a request announces, if any and valid.
pub fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
}

/// Reads the whole body, at most `limit` bytes, within `timeout`.
pub async fn read_bounded<B>(
    body: B,
    headers: &HeaderMap,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, BodyReadError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    if let Some(n) = announced_length(headers) {
        if n > limit {
            return Err(BodyReadError::TooLarge {
                limit,
                announced: Some(n),
            });
        }
    }
    match tokio::time::timeout(timeout, collect(body, limit)).await {
        Ok(r) => r,
        Err(_) => Err(BodyReadError::Timeout(timeout)),
    }
}

async fn collect<B>(mut body: B, limit: u64) -> Result<Bytes, BodyReadError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    // One frame (the usual case for small JSON) is returned as is, without a copy.
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyReadError::Broken(e.into().to_string()))?;
        let Ok(data) = frame.into_data() else { continue }; // trailers: ignored
        if data.is_empty() {
            continue;
        }
        total += data.len() as u64;
        if total > limit {
            return Err(BodyReadError::TooLarge {
                limit,
                announced: None,
            });
        }
        match (&mut first, &mut buf) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity((f.len() + data.len()).max(8192));
                b.extend_from_slice(f);
                b.extend_from_slice(&data);
                first = None;
                buf = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&data),
        }
    }
    Ok(match (first, buf) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use http_body::Frame;

    fn chunks(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = BoxError> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn reads_whole_body_in_pieces() {
        let b = read_bounded(chunks(&["ab", "", "cd", "e"]), &HeaderMap::new(), 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&b[..], b"abcde");
    }

    #[tokio::test]
    async fn refuses_announced_and_actual_excess() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "11".parse().unwrap());
        let e = read_bounded(Full::new(Bytes::from_static(b"x")), &h, 10, Duration::from_secs(1)).await;
        assert!(matches!(e, Err(BodyReadError::TooLarge { announced: Some(11), .. })));
        let e = read_bounded(chunks(&["123456", "78901"]), &HeaderMap::new(), 10, Duration::from_secs(1)).await;
        assert!(matches!(e, Err(BodyReadError::TooLarge { announced: None, .. })));
    }

    #[tokio::test]
    async fn exact_limit_is_fine() {
        let b = read_bounded(chunks(&["12345", "67890"]), &HeaderMap::new(), 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(b.len(), 10);
    }
}
