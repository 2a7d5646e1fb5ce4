//! Where one attempt of a task runs: its checkpoint opened, its context entered, its panic
//! caught and its asynchronous writers flushed. What the attempt's end means (a success, a
//! retry, a failure) is decided in [`retry`](crate::retry); recording it is the executor's.
//!
//! An attempt is opened ([`Attempt::open`]), so that the executor can record what opening
//! found before any of the task's code runs, then started ([`Attempt::start`]): a synchronous
//! task runs to its end on the calling thread, an `async fn` task's body becomes a future
//! ([`Running`]). [`Running::spawn`] runs that future on flytekit's executor, polled with the
//! attempt's context as its thread's current one and its panics caught, and drops it at the
//! attempt's deadline: a timed-out async attempt is cancelled for real, not asked to stop.
//! [`Attempt::run`] does either on the calling thread's behalf. Every way ends in the same
//! [`Ended`], so the retry decision applies to all of them unchanged.

use std::path::PathBuf;
use std::time::Duration;

use crate::checkpoint::Checkpoint;
use crate::context::{self, TaskContext};
use crate::error::{AttemptFailure, CheckpointError, FailureKind};
use crate::panic::{self, Caught};
use crate::preempt::Notice;
use crate::stop::{Stop, StopReason};
use crate::task::{ErasedFuture, ErasedTask, Started};
use crate::value::Encoded;

/// Which attempt of which node runs, as its [`TaskContext`] tells the task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids<'a> {
    pub execution: &'a str,
    pub node: &'a str,
    pub task: &'static str,
    /// 1 for the first attempt, counting every earlier run of the execution.
    pub attempt: u32,
    pub max_attempts: u32,
}

/// Where an attempt's checkpoint lives.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// The node's checkpoint directory.
    pub dir: PathBuf,
    /// Whether commits are flushed to disk: not for a run's throwaway temporary directory.
    pub durable: bool,
    /// Whether the directory may exist already; when it cannot, opening skips the lookup.
    pub may_exist: bool,
}

/// One attempt, ready to run: its checkpoint open, its context made, its deadline set.
pub(crate) struct Attempt {
    ctx: TaskContext,
    /// The graph's stop conditions with this attempt's deadline.
    stop: Stop,
}

/// What the task's code did, before the runtime judges it against the attempt's stop reason.
#[derive(Debug)]
pub(crate) enum Returned {
    /// It returned outputs, and its asynchronous writers committed everything handed to them.
    Outputs(Vec<Encoded>),
    /// It returned an error, or a writer failed to commit (then a recoverable failure).
    Failure(AttemptFailure),
    /// It panicked.
    Panic(Caught),
}

/// How an attempt ended: what its code did, and why it had been asked to stop, if it had.
///
/// A way of running an attempt that cuts the task off at its deadline rather than waiting for
/// it still ends here: with a [`StopReason::TimedOut`] stop, what it returned does not count.
#[derive(Debug)]
pub(crate) struct Ended {
    pub returned: Returned,
    /// Read once the task's code had returned and its writers had flushed.
    pub stop: Option<StopReason>,
    /// The preemption notice, if one had come by then.
    pub preempted: Option<Notice>,
}

impl Attempt {
    /// Opens the checkpoint at `place` for the attempt `ids` names, under the stop conditions
    /// `stop` and, if the task has one, a deadline `timeout` from now.
    pub(crate) fn open(
        ids: Ids<'_>,
        place: Place,
        stop: &Stop,
        timeout: Option<Duration>,
    ) -> Result<Attempt, CheckpointError> {
        let stop = stop.attempt(timeout);
        let checkpoint = Checkpoint::open(place.dir, place.durable, None, stop.clone(), place.may_exist)?;
        let ctx = TaskContext::new(
            ids.execution,
            ids.node,
            ids.task,
            ids.attempt,
            ids.max_attempts,
            checkpoint,
            stop.clone(),
        );
        Ok(Attempt { ctx, stop })
    }

    /// The attempt `ids` names with its checkpoint kept by `backend` (object storage, for a
    /// task container on a Flyte cluster), under `stop` and, if the task has one, a deadline
    /// `timeout` from now; with `typed_outputs`, the task's outputs kept unserialized.
    pub(crate) fn with_backend(
        ids: Ids<'_>,
        backend: Box<dyn crate::CheckpointBackend>,
        stop: &Stop,
        timeout: Option<Duration>,
        typed_outputs: bool,
    ) -> Attempt {
        let stop = stop.attempt(timeout);
        let checkpoint = Checkpoint::with_stop(backend, stop.clone());
        let ctx = TaskContext::new(
            ids.execution,
            ids.node,
            ids.task,
            ids.attempt,
            ids.max_attempts,
            checkpoint,
            stop.clone(),
        );
        let ctx = if typed_outputs { ctx.with_typed_outputs() } else { ctx };
        Attempt { ctx, stop }
    }

    /// Damaged checkpoint versions that opening skipped, each with the one it resumed from.
    pub(crate) fn warnings(&self) -> &[String] {
        self.ctx.checkpoint().warnings()
    }

    /// Calls the task's code with the attempt's context as this thread's current one: a
    /// synchronous task's attempt runs to its end here, an `async fn` task's becomes a future,
    /// not polled yet.
    pub(crate) fn start(self, task: &dyn ErasedTask, inputs: Vec<Encoded>) -> Begun {
        let started = context::enter(&self.ctx, || panic::catch(|| task.run_erased(&self.ctx, inputs)));
        let returned = match started {
            Ok(Started::Future(future)) => return Begun::Running(Running { attempt: self, future }),
            Ok(Started::Done(result)) => self.returned(result),
            Err(panic) => Returned::Panic(panic),
        };
        Begun::Ended(self.ended(returned))
    }

    /// Runs the attempt and returns once its code has returned and its writers have flushed:
    /// a synchronous task on this thread, an `async fn` task on flytekit's executor while this
    /// thread waits.
    pub(crate) fn run(self, task: &dyn ErasedTask, inputs: Vec<Encoded>) -> Ended {
        match self.start(task, inputs) {
            Begun::Ended(ended) => ended,
            Begun::Running(running) => running.wait(),
        }
    }

    /// What the task's code did when it returned `result`.
    fn returned(&self, result: Result<Vec<Encoded>, AttemptFailure>) -> Returned {
        match result {
            // Pending asynchronous checkpoint writes are part of the attempt: a success whose
            // last state never reached the disk would resume from too early a state.
            Ok(outputs) => match self.ctx.checkpoint().flush_writers() {
                Ok(()) => Returned::Outputs(outputs),
                Err(e) => Returned::Failure(AttemptFailure {
                    attempt: self.ctx.attempt(),
                    kind: FailureKind::Recoverable,
                    cause: e.to_string(),
                }),
            },
            // Under a preemption notice, what the task handed to its writers is what the next
            // attempt resumes from, even from a writer the task still holds somewhere.
            Err(mut failure) if self.stop.preempted().is_some() => {
                if let Err(e) = self.ctx.checkpoint().flush_writers() {
                    failure.cause = format!("{}; and its asynchronous checkpoint writer failed: {e}", failure.cause);
                }
                Returned::Failure(failure)
            }
            Err(failure) => Returned::Failure(failure),
        }
    }

    /// The attempt's end, once its code has returned `returned`.
    fn ended(&self, returned: Returned) -> Ended {
        Ended {
            returned,
            stop: self.stop.reason(),
            preempted: self.stop.preempted(),
        }
    }
}

/// An attempt once its task's code was called.
pub(crate) enum Begun {
    /// A synchronous task's attempt, which has ended.
    Ended(Ended),
    /// An `async fn` task's attempt, to run.
    Running(Running),
}

/// An `async fn` task's attempt: its future, not polled yet, with its context and deadline.
pub(crate) struct Running {
    attempt: Attempt,
    // Without the executor, nothing polls it: the attempt fails, saying why.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    future: ErasedFuture,
}

impl Running {
    /// Runs the attempt on flytekit's executor, and calls `done` with its end, on whichever
    /// thread it ended (a worker of the executor), or on this one if the executor cannot run
    /// it.
    pub(crate) fn spawn(self, done: impl FnOnce(Ended) + Send + 'static) {
        #[cfg(feature = "async")]
        match crate::asynchronous::executor() {
            Ok(executor) => {
                use tracing::Instrument;
                // The attempt's events belong to the span it was started in, on any thread.
                let span = tracing::Span::current();
                let mut report = Report {
                    done: Some(done),
                    ctx: self.attempt.ctx.clone(),
                };
                let future = async move {
                    let ended = self.ended().await;
                    if let Some(done) = report.done.take() {
                        done(ended);
                    }
                };
                // Detached: `done` hears of the end.
                drop(executor.spawn(future.instrument(span)));
            }
            Err(cause) => done(failed(&self.attempt.ctx, FailureKind::Recoverable, cause)),
        }
        #[cfg(not(feature = "async"))]
        {
            let ctx = &self.attempt.ctx;
            let cause = format!(
                "task `{}` is an `async fn`, which runs only with flytekit's cargo feature `async`",
                ctx.task_name()
            );
            done(failed(ctx, FailureKind::NonRecoverable, cause));
        }
    }

    /// Runs the attempt on flytekit's executor while this thread waits, and returns its end.
    pub(crate) fn wait(self) -> Ended {
        let ctx = self.attempt.ctx.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(move |ended| {
            // The receiver waits below until this is sent.
            let _ = tx.send(ended);
        });
        // When this thread is itself an executor's worker (a task that runs a workflow), its
        // other tasks move to another thread while it waits, so that nothing waits on itself.
        crate::asynchronous::offload(|| rx.recv()).unwrap_or_else(|_| {
            // `spawn` calls `done` whatever happens; this is only what the types require.
            let cause = "the attempt's future was dropped before it ended: this is a bug in flytekit".to_owned();
            failed(&ctx, FailureKind::Recoverable, cause)
        })
    }

    /// Polls the task's future to its end or its deadline, whichever comes first, then flushes
    /// its writers. At the deadline the future is dropped where it stands (at an `.await`), so
    /// the attempt stops at once, and ends as timed out.
    #[cfg(feature = "async")]
    async fn ended(self) -> Ended {
        let Running { attempt, future } = self;
        let polled = Polled {
            future: Some(future),
            ctx: attempt.ctx.clone(),
        };
        let result = match attempt.stop.timeout() {
            Some((at, limit)) => match tokio::time::timeout_at(at.into(), polled).await {
                Ok(result) => result,
                // `timeout_at` has dropped the future: nothing of the attempt runs any more.
                Err(_) => {
                    let cause = format!("cancelled at its deadline, after {limit:?}");
                    return Ended {
                        stop: Some(StopReason::TimedOut(limit)),
                        ..failed(&attempt.ctx, FailureKind::TimedOut, cause)
                    };
                }
            },
            None => polled.await,
        };
        let returned = match result {
            // Flushing its writers, if it has any, is off the worker's time (see `Writers`).
            Ok(result) => attempt.returned(result),
            Err(panic) => Returned::Panic(panic),
        };
        attempt.ended(returned)
    }
}

/// Calls `done` with the attempt's end, or, if it is dropped first (flytekit's own code
/// panicked after the task's future ended: a bug), with a failure, so that whoever waits for
/// the end is not left waiting.
#[cfg(feature = "async")]
struct Report<F: FnOnce(Ended)> {
    done: Option<F>,
    ctx: TaskContext,
}

#[cfg(feature = "async")]
impl<F: FnOnce(Ended)> Drop for Report<F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let cause = "the attempt's future was dropped before it ended: this is a bug in flytekit".to_owned();
            done(failed(&self.ctx, FailureKind::Recoverable, cause));
        }
    }
}

/// An attempt of the task `ctx` names that failed with `cause` before its code could run or
/// finish, as the attempt's end.
fn failed(ctx: &TaskContext, kind: FailureKind, cause: String) -> Ended {
    Ended {
        returned: Returned::Failure(AttemptFailure {
            attempt: ctx.attempt(),
            kind,
            cause,
        }),
        stop: None,
        preempted: None,
    }
}

/// A task's future as the executor polls it: with the attempt's context as the polling
/// thread's current one, so that [`current_context`](crate::current_context) works across
/// `.await`s on any thread, and with each poll's panic caught (as [`panic::catch`] catches a
/// synchronous task's) and dropped, destructors included.
#[cfg(feature = "async")]
struct Polled {
    /// `None` once a poll panicked, when the future is dropped.
    future: Option<ErasedFuture>,
    ctx: TaskContext,
}

#[cfg(feature = "async")]
impl std::future::Future for Polled {
    type Output = Result<Result<Vec<Encoded>, AttemptFailure>, Caught>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = &mut *self;
        // Only after a poll panicked, which ended this future: nothing polls it again.
        let Some(future) = this.future.as_mut() else {
            return Poll::Pending;
        };
        match context::enter(&this.ctx, || panic::catch(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(caught) => {
                this.drop_future();
                Poll::Ready(Err(caught))
            }
        }
    }
}

#[cfg(feature = "async")]
impl Polled {
    /// Drops the task's future in its context, quietly: a destructor that panics while the
    /// attempt is cancelled or has panicked changes nothing about how it ended.
    fn drop_future(&mut self) {
        if let Some(future) = self.future.take() {
            let _ = context::enter(&self.ctx, || panic::catch(move || drop(future)));
        }
    }
}

#[cfg(feature = "async")]
impl Drop for Polled {
    fn drop(&mut self) {
        self.drop_future();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskInfo;
    use crate::AsyncWriter;
    use std::sync::Mutex;

    /// A task whose one input says what it does: 0 succeeds with 7, 1 fails, 2 panics, 3 hands
    /// a state to an asynchronous writer whose commits all fail, and returns still holding it.
    struct Scripted;

    /// Where the writer of case 3 outlives its task, as one a task keeps in a struct would.
    static HELD: Mutex<Option<AsyncWriter>> = Mutex::new(None);

    impl ErasedTask for Scripted {
        fn info(&self) -> TaskInfo {
            TaskInfo::new("scripted", "tests", &["case"])
        }

        fn run_erased(&self, ctx: &TaskContext, inputs: Vec<Encoded>) -> Started {
            let inputs = &inputs[..];
            let fail = |kind, cause: &str| AttemptFailure {
                attempt: ctx.attempt(),
                kind,
                cause: cause.to_owned(),
            };
            Started::Done(match inputs[0].decode::<u64>().unwrap() {
                0 => Ok(vec![Encoded::encode(&7u64).unwrap()]),
                1 => Err(fail(FailureKind::NonRecoverable, "refused")),
                2 => panic!("scripted panic"),
                _ => {
                    let writer = ctx.checkpoint().async_writer();
                    // Where the checkpoint directory would be created, a file: commits fail.
                    std::fs::write(ctx.checkpoint().dir(), "not a directory").unwrap();
                    writer.write("state").unwrap();
                    *HELD.lock().unwrap() = Some(writer);
                    Ok(Vec::new())
                }
            })
        }
    }

    fn ids(attempt: u32) -> Ids<'static> {
        Ids {
            execution: "x1",
            node: "n0",
            task: "scripted",
            attempt,
            max_attempts: 3,
        }
    }

    fn run(input: u64, stop: &Stop, timeout: Option<Duration>) -> Ended {
        let dir = tempfile::tempdir().unwrap();
        let place = Place {
            dir: dir.path().join("n0"),
            durable: false,
            may_exist: false,
        };
        let attempt = Attempt::open(ids(2), place, stop, timeout).unwrap();
        assert!(attempt.warnings().is_empty());
        attempt.run(&Scripted, vec![Encoded::encode(&input).unwrap()])
    }

    #[test]
    fn a_success_returns_the_outputs_and_no_stop() {
        let ended = run(0, &Stop::default(), None);
        match ended.returned {
            Returned::Outputs(outputs) => assert_eq!(outputs[0].decode::<u64>().unwrap(), 7),
            other => panic!("{other:?}"),
        }
        assert_eq!(ended.stop, None);
    }

    #[test]
    fn an_error_is_returned_as_the_task_made_it() {
        let ended = run(1, &Stop::default(), None);
        match ended.returned {
            Returned::Failure(f) => {
                assert_eq!(
                    (f.attempt, f.kind, f.cause.as_str()),
                    (2, FailureKind::NonRecoverable, "refused")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_panic_is_caught_with_its_message() {
        let ended = run(2, &Stop::default(), None);
        match ended.returned {
            Returned::Panic(p) => assert_eq!(p.message, "scripted panic"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_writer_that_cannot_commit_turns_a_success_into_a_recoverable_failure() {
        let ended = run(3, &Stop::default(), None);
        drop(HELD.lock().unwrap().take());
        match ended.returned {
            Returned::Failure(f) => {
                assert_eq!((f.attempt, f.kind), (2, FailureKind::Recoverable));
                assert!(f.cause.contains("n0"), "{}", f.cause);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_stop_reason_is_read_after_the_task_returned() {
        let timed_out = run(0, &Stop::default(), Some(Duration::ZERO));
        assert!(matches!(timed_out.returned, Returned::Outputs(_)));
        assert_eq!(timed_out.stop, Some(StopReason::TimedOut(Duration::ZERO)));

        let failing = Stop::default();
        failing.stop_execution();
        assert_eq!(run(1, &failing, None).stop, Some(StopReason::ExecutionFailing));
    }

    /// An `async fn` task whose one input says what its future does: 0 waits once and returns
    /// 7, 1 fails after a wait, 2 panics after a wait, 3 waits forever holding a guard that
    /// counts its drops (and the context current when it is dropped).
    #[cfg(feature = "async")]
    struct AsyncScripted;

    #[cfg(feature = "async")]
    static GUARD_DROPS: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());

    #[cfg(feature = "async")]
    impl ErasedTask for AsyncScripted {
        fn info(&self) -> TaskInfo {
            TaskInfo::new("async_scripted", "tests", &["case"]).with_async()
        }

        fn run_erased(&self, ctx: &TaskContext, inputs: Vec<Encoded>) -> Started {
            let inputs = &inputs[..];
            struct Guard;
            impl Drop for Guard {
                fn drop(&mut self) {
                    let attempt = context::current_context().ok().map(|c| c.attempt());
                    GUARD_DROPS.lock().unwrap().push(attempt);
                }
            }
            let case = inputs[0].decode::<u64>().unwrap();
            let attempt = ctx.attempt();
            Started::Future(Box::pin(async move {
                tokio::task::yield_now().await;
                // The context is the attempt's at every poll, on whichever thread polls.
                assert_eq!(context::current_context().unwrap().attempt(), attempt);
                match case {
                    0 => Ok(vec![Encoded::encode(&7u64).unwrap()]),
                    1 => Err(AttemptFailure {
                        attempt,
                        kind: FailureKind::Recoverable,
                        cause: "refused later".to_owned(),
                    }),
                    2 => panic!("async scripted panic"),
                    _ => {
                        let _guard = Guard;
                        std::future::pending().await
                    }
                }
            }))
        }
    }

    #[cfg(feature = "async")]
    fn run_async(input: u64, timeout: Option<Duration>) -> Ended {
        let dir = tempfile::tempdir().unwrap();
        let place = Place {
            dir: dir.path().join("n0"),
            durable: false,
            may_exist: false,
        };
        let attempt = Attempt::open(ids(2), place, &Stop::default(), timeout).unwrap();
        match attempt.start(&AsyncScripted, vec![Encoded::encode(&input).unwrap()]) {
            Begun::Running(running) => running.wait(),
            Begun::Ended(ended) => panic!("an async attempt ended before it ran: {ended:?}"),
        }
    }

    #[cfg(feature = "async")]
    #[test]
    fn an_async_attempt_ends_as_a_synchronous_one_does() {
        match run_async(0, None).returned {
            Returned::Outputs(outputs) => assert_eq!(outputs[0].decode::<u64>().unwrap(), 7),
            other => panic!("{other:?}"),
        }
        match run_async(1, None).returned {
            Returned::Failure(f) => assert_eq!((f.attempt, f.cause.as_str()), (2, "refused later")),
            other => panic!("{other:?}"),
        }
        let panicked = run_async(2, None);
        match panicked.returned {
            Returned::Panic(p) => assert_eq!(p.message, "async scripted panic"),
            other => panic!("{other:?}"),
        }
        assert_eq!(panicked.stop, None);
        assert!(context::current_context().is_err(), "no context is left on this thread");
    }

    #[cfg(feature = "async")]
    #[test]
    fn an_async_attempt_past_its_deadline_is_dropped_in_its_context_and_timed_out() {
        let ended = run_async(3, Some(Duration::from_millis(20)));
        assert_eq!(ended.stop, Some(StopReason::TimedOut(Duration::from_millis(20))));
        match ended.returned {
            Returned::Failure(f) => {
                assert_eq!((f.attempt, f.kind), (2, FailureKind::TimedOut));
                assert_eq!(f.cause, "cancelled at its deadline, after 20ms");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(*GUARD_DROPS.lock().unwrap(), [Some(2)]);
    }
}
