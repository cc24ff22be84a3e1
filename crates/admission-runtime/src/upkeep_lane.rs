//! Model upkeep (re-parsing Marathon's `/v2/groups`, patching the root with an event's app,
//! building each new root's ledger base, preparing the warm state, handing freed memory back) on
//! one thread of its own, at a lower scheduling priority than the decisions.
//!
//! During a burst of deployments every write moves the model, and each move costs a re-parse of
//! the whole root and, now and then, a preparation: hundreds of milliseconds of CPU on a root of
//! 10,000 apps. On tokio's blocking pool that work would compete with decisions for the same
//! cores; on a thread the kernel schedules behind them, a decision runs when it arrives and
//! upkeep takes what is left. Decisions never wait for upkeep: they decide on the last model and
//! prepared state there is (the ledger holds what the model does not show yet). One thread: upkeep
//! never takes more than one core, and its jobs run in the order they were asked for. The one
//! exception is a model's first parse, which spreads its apps over every core
//! (`marathon_model::ops::parse_packed_root`): until it ends there is no model, so no decision
//! to leave cores to.

use std::sync::mpsc;
use std::sync::OnceLock;

type Job = Box<dyn FnOnce() + Send>;

/// How much nicer the upkeep thread is than the process (whose nice value decisions keep): under
/// contention the kernel gives it about a tenth of a decision thread's share.
pub(crate) const UPKEEP_NICE: i32 = 10;

fn lane() -> &'static mpsc::Sender<Job> {
    static LANE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    LANE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("model-upkeep".into())
            .spawn(move || {
                lower_priority();
                for job in rx {
                    // A job that panics fails its caller, not the jobs after it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .expect("a thread for model upkeep");
        tx
    })
}

/// This thread only (Linux keeps a nice value per thread): `UPKEEP_NICE` below the process's.
fn lower_priority() {
    // SAFETY: plain system calls on this thread's own id.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let own = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (own + UPKEEP_NICE).min(19))
    };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "model upkeep runs at the decisions' priority");
    }
}

/// Runs `f` on the upkeep thread and waits for its result (`Err` when it panicked).
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    lane()
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .map_err(|_| anyhow::anyhow!("the model upkeep thread is gone"))?;
    rx.await.map_err(|_| anyhow::anyhow!("model upkeep failed"))
}

/// Runs `f` on the upkeep thread without waiting for it.
pub(crate) fn spawn(f: impl FnOnce() + Send + 'static) {
    let _ = lane().send(Box::new(f));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the calling thread.
    fn own_nice() -> i32 {
        // SAFETY: plain system calls on this thread's own id; errno is cleared first as
        // getpriority may return -1 legitimately.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
    }

    #[tokio::test]
    async fn upkeep_runs_behind_the_decisions_and_outlives_a_panicking_job() {
        let decisions = own_nice();
        let upkeep = run(own_nice).await.unwrap();
        assert_eq!(upkeep, (decisions + UPKEEP_NICE).min(19), "upkeep at nice {upkeep}, decisions at {decisions}");
        assert_eq!(own_nice(), decisions, "the caller's own priority is untouched");

        let failed = run(|| -> u32 { panic!("a failing job") }).await;
        assert!(failed.is_err());
        assert_eq!(run(|| 41 + 1).await.unwrap(), 42, "the lane still runs jobs after a panic");
    }
}
