//! The cap on open client connections of a listener, and the answer past it.
//!
//! Why: every open connection holds a file descriptor, a proxied one a second (its Marathon
//! connection). Without a cap, a crowd of clients, or of connections that never send a byte,
//! takes descriptors until `accept` fails with EMFILE, and then nothing works: not `/readyz` on
//! the admin listener, not the connections to Marathon, not the audit file. With it, the client
//! past the cap hears why at once, a 503 in Marathon's error shape (`{"message": ...}`) whose
//! text names the limit, and its connection is closed, instead of waiting in an accept queue.
//!
//! The cap leaves room below the process's descriptor limit (`RLIMIT_NOFILE`): two per client
//! connection plus [`FD_RESERVE`] for the listeners, the admin connections, the refusals in
//! progress, ZooKeeper and files. When that room is missing at start, the soft limit is raised
//! towards the hard one (as Go's runtime does); when the hard limit is too low as well, the cap is
//! lowered, with a warning that says so.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::marathon_error::marathon_error;

/// Descriptors kept free besides two per client connection.
pub(crate) const FD_RESERVE: usize = 256;

/// Refusals answered at once (each holds its descriptor while the answer goes out); past this,
/// a connection over the cap is closed without an answer.
const REFUSING_AT_ONCE: usize = 64;

/// How long a refused connection's request is waited for before the answer goes out: a client
/// that receives an answer before it has sent its request may take it for a broken connection
/// (hyper's client does); one that sends nothing gets the answer after this.
const REQUEST_WAIT: Duration = Duration::from_millis(250);

/// How long a refused connection is kept open after its answer, reading what the client still
/// sends, so that closing does not reset the connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(2);

/// Open connections of one listener, at most `max`.
pub(crate) struct ConnectionLimit {
    slots: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    /// The whole 503 response, as sent.
    answer: Bytes,
    open: Gauge,
    refused: Counter,
    name: &'static str,
}

/// A connection's place under the cap; freed when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl ConnectionLimit {
    /// `name` names the listener in logs, `setting` the limit in the 503's message.
    pub fn new(name: &'static str, max: usize, setting: &str, open: Gauge, refused: Counter) -> Self {
        ConnectionLimit {
            slots: Arc::new(Semaphore::new(max)),
            refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
            answer: refusal(max, setting),
            open,
            refused,
            name,
        }
    }

    /// A place for one more connection, if the cap allows it.
    pub fn take(&self) -> Option<Slot> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        self.open.inc();
        Some(Slot { _permit: permit, open: self.open.clone() })
    }

    /// Answers `tcp` with the 503 and closes it, on a task of its own: over plain HTTP at once;
    /// over TLS after the handshake (finished by `handshake_by`; a client that chose HTTP/2 only
    /// sees the connection close).
    pub fn refuse(&self, tcp: TcpStream, tls: Option<TlsAcceptor>, handshake_by: Instant) {
        self.refused.inc();
        // Logged at the 1st, 2nd, 4th, 8th... refusal: said at once, never a flood.
        let n = self.refused.get();
        if n.is_power_of_two() {
            tracing::warn!(listener = self.name, refused = n, "connection limit reached: new connections are answered 503 and closed");
        }
        // Too many refusals at once: the descriptor matters more than the answer.
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else { return };
        let answer = self.answer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => answer_and_close(tcp, &answer).await,
                Some(acceptor) => {
                    let Ok(Ok(stream)) = tokio::time::timeout_at(handshake_by, acceptor.accept(tcp)).await else { return };
                    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                        answer_and_close(stream, &answer).await;
                    }
                }
            }
        });
    }
}

/// The HTTP/1.1 503 for a connection over the cap, in Marathon's error shape.
fn refusal(max: usize, setting: &str) -> Bytes {
    let message = format!(
        "marathon-admission: too many open connections to the admission proxy in front of Marathon \
         ({max}, its {setting}); this connection is closed and nothing was sent to Marathon. Retry in a moment."
    );
    let resp = marathon_error(StatusCode::SERVICE_UNAVAILABLE, message);
    let mut head = String::from("HTTP/1.1 503 Service Unavailable\r\n");
    for (name, value) in resp.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
    }
    head.push_str(&format!("content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n", resp.body().len()));
    [head.as_bytes(), resp.body()].concat().into()
}

/// Waits for the request (at most [`REQUEST_WAIT`]), writes `answer`, ends the sending side,
/// reads (and drops) what the client still sends for at most [`LINGER`], then closes.
async fn answer_and_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, answer: &[u8]) {
    let mut sink = [0u8; 4096];
    if let Ok(Err(_) | Ok(0)) = tokio::time::timeout(REQUEST_WAIT, stream.read(&mut sink)).await {
        return; // gone already
    }
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// The cap to apply for `configured`: lowered when the descriptor limit, raised as far as
/// allowed, leaves no room for it.
pub(crate) fn fit_to_fd_limit(configured: usize) -> usize {
    let needed = configured.saturating_mul(2).saturating_add(FD_RESERVE);
    let limit = raise_fd_limit(needed);
    let fit = fit(configured, limit);
    if fit < configured {
        tracing::warn!(
            configured,
            applied = fit,
            fd_limit = limit,
            "[listener] max_connections lowered to fit the open-file limit (two descriptors per connection and {FD_RESERVE} kept free); raise `ulimit -n` (LimitNOFILE=) to allow more"
        );
    }
    fit
}

/// `configured`, or what `fd_limit` has room for (at least one).
fn fit(configured: usize, fd_limit: usize) -> usize {
    configured.min((fd_limit.saturating_sub(FD_RESERVE) / 2).max(1))
}

/// Raises the soft `RLIMIT_NOFILE` towards `needed` (up to the hard limit); returns the soft
/// limit in force (`usize::MAX` when unlimited or unknown).
#[cfg(unix)]
fn raise_fd_limit(needed: usize) -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return usize::MAX;
    }
    let needed = libc::rlim_t::try_from(needed).unwrap_or(libc::RLIM_INFINITY);
    if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < needed {
        let raised = libc::rlimit { rlim_cur: needed.min(lim.rlim_max), rlim_max: lim.rlim_max };
        // SAFETY: setrlimit reads the struct it is given; on failure the limit is unchanged.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        usize::MAX
    } else {
        usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_needed: usize) -> usize {
    usize::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_fd_limit() {
        assert_eq!(fit(4096, 1_048_576), 4096);
        assert_eq!(fit(4096, 1024), (1024 - FD_RESERVE) / 2);
        assert_eq!(fit(4096, 100), 1);
        assert_eq!(fit(10, usize::MAX), 10);
    }

    #[test]
    fn the_soft_limit_is_raised_as_far_as_needed_and_allowed() {
        let applied = fit_to_fd_limit(4096);
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let wanted = (2 * 4096 + FD_RESERVE) as libc::rlim_t;
        assert!(lim.rlim_cur >= wanted.min(lim.rlim_max), "{} {}", lim.rlim_cur, lim.rlim_max);
        assert_eq!(applied, fit(4096, lim.rlim_cur as usize));
    }

    #[test]
    fn the_refusal_is_a_complete_marathon_shaped_503() {
        let bytes = refusal(100, "[listener] max_connections");
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{head}");
        assert!(head.contains("content-type: application/json") && head.contains("connection: close"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let message = serde_json::from_str::<serde_json::Value>(body).unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("too many open connections") && message.contains("100, its [listener] max_connections"), "{message}");
    }
}
