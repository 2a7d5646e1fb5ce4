//! Where `async fn` tasks' attempts run, and how blocking work keeps off the threads that run
//! them.
//!
//! With the cargo feature `async`, flytekit owns one tokio runtime per process: multi-thread,
//! with a few worker threads (`workers`), created the first time an async attempt runs and
//! shared by every [`LocalRuntime`](crate::LocalRuntime) and execution after that. One per process
//! rather than one per `LocalRuntime`: a workflow called as a function (`wf(3)`) makes a new
//! `LocalRuntime` each time, and a thread pool per call would cost more than the call; and a
//! tokio runtime cannot be dropped from inside an async context, which a `LocalRuntime`
//! dropped in an async task would be. The runtime holds no state of an execution, so sharing it
//! does not let two `LocalRuntime`s interfere.
//!
//! [`offload`] runs blocking work (a checkpoint commit and its fsync, a store write, waiting for
//! another thread) without stalling a worker of a multi-thread tokio runtime. Without the
//! feature there is no executor, and `offload` just runs the work.

/// Runs `work`, which blocks (disk I/O with fsync, a lock, waiting for a thread), without
/// stalling the other tasks of the tokio worker thread it is called on.
///
/// On a worker of a multi-thread tokio runtime (flytekit's, or the program's own), the
/// worker's queue is handed to another thread while `work` runs
/// (`tokio::task::block_in_place`), and the calling future resumes on this thread after it.
/// Anywhere else (a plain thread, a blocking-pool thread, a current-thread runtime, which
/// has no other thread to hand its queue to) `work` simply runs.
pub(crate) fn offload<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(feature = "async")]
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
            return tokio::task::block_in_place(work);
        }
    }
    work()
}

#[cfg(feature = "async")]
pub(crate) use executor::executor;
#[cfg(all(test, feature = "async"))]
use executor::workers;

#[cfg(feature = "async")]
mod executor {
    use std::sync::OnceLock;

    use tokio::runtime::{Builder, Runtime};

    /// How many worker threads flytekit's tokio runtime has: the machine's parallelism, at
    /// most 4. Async tasks are for waiting (on the network, on timers, on other processes),
    /// which needs few threads; work that keeps a CPU busy belongs in a synchronous task,
    /// which gets a thread of its own.
    pub(super) fn workers() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from).min(4)
    }

    /// flytekit's tokio runtime, started on first use. An error only if it cannot start (the
    /// OS refuses its threads or its timer), saying so; every later call returns the same.
    pub(crate) fn executor() -> Result<&'static Runtime, String> {
        static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(workers())
                .thread_name("flytekit-async")
                .enable_all()
                .build()
                .map_err(|e| format!("flytekit's async executor could not start: {e}"))
        });
        runtime.as_ref().map_err(Clone::clone)
    }
}

#[cfg(all(test, feature = "async"))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// On a runtime of one worker, a task that blocks until another task has run can only
    /// finish if the worker's queue moved to another thread while it blocked. (Without it, the
    /// wait would run out, far beyond what the other task needs.)
    #[test]
    fn blocking_work_on_a_worker_lets_the_workers_other_tasks_run() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let other_ran = runtime.block_on(async {
            let blocker = tokio::spawn(async {
                let (tx, rx) = mpsc::channel();
                // Queued on this worker, behind the task that now blocks it.
                tokio::spawn(async move { tx.send(()).unwrap() });
                offload(|| rx.recv_timeout(Duration::from_secs(20)).is_ok())
            });
            blocker.await.unwrap()
        });
        assert!(other_ran);
    }

    #[test]
    fn blocking_work_elsewhere_just_runs() {
        assert_eq!(offload(|| 5), 5);
        let current = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(current.block_on(async { offload(|| 6) }), 6);
    }

    #[test]
    fn the_executor_has_a_few_workers_and_is_started_once() {
        assert!((1..=4).contains(&workers()));
        let first = executor().unwrap() as *const _;
        assert_eq!(executor().unwrap() as *const _, first);
    }
}
