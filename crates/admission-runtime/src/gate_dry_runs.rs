//! Dry runs (`POST /admission/v1/check`) wait in their own queue and are rate-limited per client.
//!
//! Why: a dry run costs what a decision costs (parse, apply, size) but reserves nothing, so it
//! takes no place in the decision order and must never hold a real write back. On a 2-core
//! machine, one dry run at a time leaves the other core to the writes; a client sending more than
//! its share per second is told to slow down (429 with `Retry-After`) instead of filling the
//! queue. A client that goes away while queued leaves the queue (its request is dropped with
//! it).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use moka::future::Cache;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Dry runs evaluated at once.
const AT_ONCE: usize = 1;
/// Dry runs one client may start per second.
const PER_CLIENT_PER_SECOND: u32 = 10;
/// Clients remembered at once (beyond that, the least recent ones start afresh).
const MAX_CLIENTS: u64 = 10_000;

pub(crate) struct GateDryRuns {
    queue: Semaphore,
    /// Dry runs started per client in the current one-second window.
    started: Cache<IpAddr, Arc<AtomicU32>>,
}

impl Default for GateDryRuns {
    fn default() -> Self {
        GateDryRuns {
            queue: Semaphore::new(AT_ONCE),
            started: Cache::builder().max_capacity(MAX_CLIENTS).time_to_live(Duration::from_secs(1)).build(),
        }
    }
}

impl GateDryRuns {
    /// Waits for the dry run's turn; `Err`: the answer for a client over its rate.
    pub(crate) async fn enter(&self, client: IpAddr) -> Result<SemaphorePermit<'_>, Response<Bytes>> {
        let count = self.started.get_with(client, async { Arc::new(AtomicU32::new(0)) }).await;
        if count.fetch_add(1, Ordering::Relaxed) >= PER_CLIENT_PER_SECOND {
            return Err(too_many());
        }
        // The semaphore is never closed.
        self.queue.acquire().await.map_err(|_| too_many())
    }
}

fn too_many() -> Response<Bytes> {
    let mut resp = proxy::marathon_error(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "marathon-admission: more than {PER_CLIENT_PER_SECOND} dry runs per second from this client; \
             dry runs wait their turn behind each other and never before real writes. Retry in a second."
        ),
    );
    resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_at_a_time_and_a_client_over_its_rate_is_told_to_wait() {
        let gate = GateDryRuns::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let first = gate.enter(a).await.unwrap();
        // The queue holds the next one until the first is done.
        let waiting = gate.enter(b);
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        drop(first);
        drop(waiting.await.unwrap());
        for _ in 1..PER_CLIENT_PER_SECOND {
            drop(gate.enter(a).await.unwrap());
        }
        let refused = gate.enter(a).await.unwrap_err();
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert!(gate.enter(b).await.is_ok(), "another client is not held back");
    }
}
