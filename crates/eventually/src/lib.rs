//! The one way a test waits: look at what it waits for until it holds, within one deadline far
//! beyond anything the product should take. How fast something happens is a benchmark's business;
//! here a deadline only turns a hang into a failure that names what never happened.
//!
//! A crate of its own, on std and tokio only, so that every test suite of the workspace waits the
//! same way without depending on more than this: `proxy::test_util` re-exports it for the proxy's
//! tests, the admission runtime's and the end-to-end tests at the root; the simulator's tests take
//! it from here, because depending on `proxy` there would relink the simulator's test binaries at
//! every change of the proxy (and `proxy`'s own tests depend on the simulator).

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long anything awaited may take: only a broken product, or a hang, comes near it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Between two looks.
const EVERY: Duration = Duration::from_millis(20);

/// What one look found: done (with what it found), or not yet (with what it saw instead, if it
/// says, for the failure message).
pub trait Look {
    type Found;
    fn found(self) -> Result<Self::Found, Option<String>>;
}

impl Look for bool {
    type Found = ();
    fn found(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> Look for Option<T> {
    type Found = T;
    fn found(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Display> Look for Result<T, E> {
    type Found = T;
    fn found(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// Looks with `look` until it finds (`true`, `Some(found)`, `Ok(found)`) and returns what it
/// found; panics naming `what` once [`PATIENCE`] has passed.
pub async fn eventually<L: Look, F: Future<Output = L>>(what: impl What, mut look: impl FnMut() -> F) -> L::Found {
    let start = Instant::now();
    loop {
        match look().await.found() {
            Ok(found) => return found,
            Err(last) => give_up_after_patience(&what, start, last),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// [`eventually`] for tests without a runtime (the thread sleeps between looks).
#[track_caller]
pub fn eventually_blocking<L: Look>(what: impl What, mut look: impl FnMut() -> L) -> L::Found {
    let start = Instant::now();
    loop {
        match look().found() {
            Ok(found) => return found,
            Err(last) => give_up_after_patience(&what, start, last),
        }
        std::thread::sleep(EVERY);
    }
}

#[track_caller]
fn give_up_after_patience(what: &dyn What, start: Instant, last: Option<String>) {
    if start.elapsed() < PATIENCE {
        return;
    }
    let last = last.map(|l| format!("; the last look saw: {l}")).unwrap_or_default();
    panic!("{}: not so after {PATIENCE:?}{last}{}", what.what(), what.context());
}

/// The output of `fut`; panics naming `what` if it has not come after [`PATIENCE`] (a hang: how
/// soon it comes is not the question).
pub async fn no_hang<T>(what: impl Display, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing after {PATIENCE:?}"),
    }
}

/// What is awaited, as a failure names it: any text, or [`showing`] it with more.
pub trait What {
    fn what(&self) -> String;
    /// Shown after the failure (logs, say), computed only then.
    fn context(&self) -> String {
        String::new()
    }
}

impl<T: Display + ?Sized> What for T {
    fn what(&self) -> String {
        self.to_string()
    }
}

/// `what`, with `more()` shown after a failure: the logs of the processes involved, say.
pub fn showing<W: Display, F: Fn() -> String>(what: W, more: F) -> Showing<W, F> {
    Showing(what, more)
}

pub struct Showing<W, F>(W, F);

impl<W: Display, F: Fn() -> String> What for Showing<W, F> {
    fn what(&self) -> String {
        self.0.to_string()
    }

    fn context(&self) -> String {
        format!("\n{}", (self.1)())
    }
}
