//! Where one attempt of a task runs: its checkpoint opened, its context entered, its panic
//! caught and its asynchronous writers flushed. What the attempt's end means (a success, a
//! retry, a failure) is decided in [`retry`](crate::retry); recording it is the executor's.
//!
//! An attempt is opened ([`Attempt::open`]), so that the executor can record what opening
//! found before any of the task's code runs, then run. [`Attempt::run`] runs a synchronous
//! task on the calling thread. Another way of running an attempt (an `async fn` task's future
//! on a runtime, cancelled at its deadline) belongs beside it, as another method of
//! [`Attempt`] ending in the same [`Ended`]: the retry decision then applies to it unchanged.

use std::path::PathBuf;
use std::time::Duration;

use crate::checkpoint::Checkpoint;
use crate::context::{self, TaskContext};
use crate::error::{AttemptFailure, CheckpointError, FailureKind};
use crate::panic::{self, Caught};
use crate::stop::{Stop, StopReason};
use crate::task::ErasedTask;
use crate::value::Literal;

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
    Outputs(Vec<Literal>),
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

    /// Damaged checkpoint versions that opening skipped, each with the one it resumed from.
    pub(crate) fn warnings(&self) -> &[String] {
        self.ctx.checkpoint().warnings()
    }

    /// Runs a synchronous task's attempt on this thread, with its context as the thread's
    /// current one, and returns once its code has returned and its writers have flushed.
    pub(crate) fn run(self, task: &dyn ErasedTask, inputs: &[Literal]) -> Ended {
        let result = context::enter(&self.ctx, || panic::catch(|| task.run_erased(&self.ctx, inputs)));
        let returned = match result {
            // Pending asynchronous checkpoint writes are part of the attempt: a success whose
            // last state never reached the disk would resume from too early a state.
            Ok(Ok(outputs)) => match self.ctx.checkpoint().flush_writers() {
                Ok(()) => Returned::Outputs(outputs),
                Err(e) => Returned::Failure(AttemptFailure {
                    attempt: self.ctx.attempt(),
                    kind: FailureKind::Recoverable,
                    cause: e.to_string(),
                }),
            },
            Ok(Err(failure)) => Returned::Failure(failure),
            Err(panic) => Returned::Panic(panic),
        };
        Ended {
            returned,
            stop: self.stop.reason(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskSpec;
    use crate::AsyncWriter;
    use std::sync::Mutex;

    /// A task whose one input says what it does: 0 succeeds with 7, 1 fails, 2 panics, 3 hands
    /// a state to an asynchronous writer whose commits all fail, and returns still holding it.
    struct Scripted;

    /// Where the writer of case 3 outlives its task, as one a task keeps in a struct would.
    static HELD: Mutex<Option<AsyncWriter>> = Mutex::new(None);

    impl ErasedTask for Scripted {
        fn spec(&self) -> TaskSpec {
            TaskSpec::new("scripted", "tests", &["case"])
        }

        fn run_erased(&self, ctx: &TaskContext, inputs: &[Literal]) -> Result<Vec<Literal>, AttemptFailure> {
            let fail = |kind, cause: &str| AttemptFailure {
                attempt: ctx.attempt(),
                kind,
                cause: cause.to_owned(),
            };
            match inputs[0].decode::<u64>().unwrap() {
                0 => Ok(vec![Literal::encode(&7u64).unwrap()]),
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
            }
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
        attempt.run(&Scripted, &[Literal::encode(&input).unwrap()])
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
}
