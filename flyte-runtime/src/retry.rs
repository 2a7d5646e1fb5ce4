//! Where a retry is decided: what an attempt's end means ([`classify`]), and what follows a
//! failed attempt ([`decide`]). Both are pure functions over what the attempt returned, why it
//! was asked to stop and the node's two budgets; the executor runs the attempt
//! ([`attempt`](crate::attempt)) and records what these say.
//!
//! A node has two budgets, as in Flyte. The task's `retries` allow `retries + 1` attempts that
//! end in a failure of the task (an error, a panic, a timeout); the runtime's
//! `system_retries` allow that many interruptions (the process running an attempt died), which
//! never count against `retries`.

use crate::attempt::{Ended, Returned};
use crate::error::{AttemptFailure, FailureKind};
use crate::panic::Caught;
use crate::stop::StopReason;
use crate::value::Encoded;

/// What an attempt's end means.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The attempt succeeded with these outputs.
    Succeeded(Vec<Encoded>),
    /// The attempt failed.
    Failed(AttemptFailure),
    /// The attempt failed by panicking (a failure of kind [`FailureKind::Panic`]); the panic is
    /// kept for its report.
    Panicked(AttemptFailure, Caught),
    /// The attempt returned an error after a preemption notice: it was interrupted by the
    /// preemption (a failure of kind [`FailureKind::Interrupted`]), and its node goes no further
    /// in this run.
    Preempted(AttemptFailure),
}

/// What attempt `attempt` of task `task` ended as. The rules, first match wins:
///
/// 1. **Timed out.** An attempt that ran past its deadline is [`FailureKind::TimedOut`],
///    whatever it returned, a success or a panic included: it ran too long, as if it had been
///    killed at its deadline, the way Flyte stops a pod.
/// 2. **Preempted.** An attempt that returned an error after a preemption notice was
///    interrupted by it ([`FailureKind::Interrupted`]: a system failure, not counted against
///    the task's retries), whatever the error: returning at the notice is what a task that
///    checks [`TaskContext::preempted`](crate::TaskContext::preempted) does, and an error the
///    task would have met anyway meets it again in the next run. Its cause keeps the error.
/// 3. **Stopped.** An attempt that returned an error while its execution was failing is
///    [`FailureKind::Stopped`]: the error is most likely the stop itself (a refused checkpoint
///    commit), and its cause says so.
/// 4. **Succeeded.** Outputs are a success, even while the execution is failing or after a
///    preemption notice: they are valid (a task that returns them finished its work), and a
///    resumed execution need not run the node again.
/// 5. **Failed.** An error is the failure the task made of it (recoverable or not).
/// 6. **Panicked.** A panic is [`FailureKind::Panic`], even while the execution is failing or
///    after a notice: a notice does not make code panic, so the panic is a bug of its own.
pub(crate) fn classify(ended: Ended, attempt: u32, task: &str) -> Verdict {
    match (ended.returned, ended.stop, ended.preempted) {
        (_, Some(StopReason::TimedOut(limit)), _) => Verdict::Failed(AttemptFailure {
            attempt,
            kind: FailureKind::TimedOut,
            cause: format!("task `{task}` timed out: the attempt ran longer than {limit:?}"),
        }),
        (Returned::Failure(failure), _, Some(notice)) => Verdict::Preempted(AttemptFailure {
            kind: FailureKind::Interrupted,
            cause: format!(
                "preempted by {notice}: the attempt returned at the notice ({})",
                failure.cause
            ),
            ..failure
        }),
        (Returned::Failure(failure), Some(StopReason::ExecutionFailing), None) => Verdict::Failed(AttemptFailure {
            kind: FailureKind::Stopped,
            cause: format!("{} ({})", failure.cause, StopReason::ExecutionFailing),
            ..failure
        }),
        (Returned::Outputs(outputs), _, _) => Verdict::Succeeded(outputs),
        (Returned::Failure(failure), None, None) => Verdict::Failed(failure),
        (Returned::Panic(panic), _, _) => Verdict::Panicked(
            AttemptFailure {
                attempt,
                kind: FailureKind::Panic,
                cause: format!("task `{task}` panicked: {panic}"),
            },
            panic,
        ),
    }
}

/// A node's two budgets: how much of each its attempts have spent, and how much each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budgets {
    /// Failed attempts counted against the task's retries.
    pub failures: u32,
    /// `retries + 1`: how many attempts may fail before the node does.
    pub max_attempts: u32,
    /// Attempts interrupted by the death of the process running them.
    pub interruptions: u32,
    /// How many interruptions the node survives (`LocalRuntime::system_retries`).
    pub system_retries: u32,
}

impl Budgets {
    /// Whether another attempt may start: fewer attempts failed than the task's retries allow.
    pub(crate) fn attempts_left(&self) -> bool {
        self.failures < self.max_attempts
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The node may run another attempt.
    Retry,
    /// The node fails now, with every attempt's failure.
    Fail,
}

/// Charges a failed attempt to its budget and decides what follows, given the budgets as they
/// stood before it. Returns the decision and the budgets with the attempt charged.
///
/// * **Interrupted** ([`FailureKind::Interrupted`]): charged to the system budget, never to
///   the task's retries. Retry while at most `system_retries` interruptions are spent; the
///   one after fails the node. (A retry still needs an attempt left of the task's retries,
///   which an interruption did not spend: [`Budgets::attempts_left`].)
/// * **Recoverable** and **timed out**: charged to the task's retries. Retry while fewer than
///   `max_attempts` attempts have failed; the attempt that spends the last one fails the node.
/// * **Non-recoverable**, **panic** and **stopped**: charged to the task's retries, and the
///   node fails at once, whatever is left: no retry can fix the first two, and the execution
///   a stopped attempt belongs to is failing.
pub(crate) fn decide(kind: &FailureKind, before: Budgets) -> (Decision, Budgets) {
    let retry_if = |retry: bool| if retry { Decision::Retry } else { Decision::Fail };
    match kind {
        FailureKind::Interrupted => {
            let after = Budgets {
                interruptions: before.interruptions + 1,
                ..before
            };
            (retry_if(after.interruptions <= after.system_retries), after)
        }
        FailureKind::Recoverable | FailureKind::TimedOut => {
            let after = Budgets {
                failures: before.failures + 1,
                ..before
            };
            (retry_if(after.attempts_left()), after)
        }
        FailureKind::NonRecoverable | FailureKind::Panic | FailureKind::Stopped => {
            let after = Budgets {
                failures: before.failures + 1,
                ..before
            };
            (Decision::Fail, after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `retries = 2` (3 attempts), Flyte's default of 3 system retries, nothing spent yet.
    const FRESH: Budgets = Budgets {
        failures: 0,
        max_attempts: 3,
        interruptions: 0,
        system_retries: 3,
    };

    fn spent(failures: u32, interruptions: u32) -> Budgets {
        Budgets {
            failures,
            interruptions,
            ..FRESH
        }
    }

    #[test]
    fn a_recoverable_failure_with_attempts_left_is_retried() {
        assert_eq!(decide(&FailureKind::Recoverable, FRESH), (Decision::Retry, spent(1, 0)));
        assert_eq!(
            decide(&FailureKind::Recoverable, spent(1, 2)),
            (Decision::Retry, spent(2, 2))
        );
    }

    #[test]
    fn a_recoverable_failure_of_the_last_attempt_fails_the_node() {
        assert_eq!(
            decide(&FailureKind::Recoverable, spent(2, 0)),
            (Decision::Fail, spent(3, 0))
        );
        let once = Budgets {
            max_attempts: 1,
            ..FRESH
        };
        let (decision, after) = decide(&FailureKind::Recoverable, once);
        assert_eq!(
            (decision, after.failures, after.attempts_left()),
            (Decision::Fail, 1, false)
        );
    }

    #[test]
    fn a_timeout_is_retried_like_a_recoverable_failure() {
        assert_eq!(decide(&FailureKind::TimedOut, FRESH), (Decision::Retry, spent(1, 0)));
        assert_eq!(
            decide(&FailureKind::TimedOut, spent(1, 0)),
            (Decision::Retry, spent(2, 0))
        );
        assert_eq!(
            decide(&FailureKind::TimedOut, spent(2, 0)),
            (Decision::Fail, spent(3, 0))
        );
    }

    #[test]
    fn non_recoverable_panic_and_stopped_fail_at_once_and_count_against_retries() {
        for kind in [FailureKind::NonRecoverable, FailureKind::Panic, FailureKind::Stopped] {
            assert_eq!(decide(&kind, FRESH), (Decision::Fail, spent(1, 0)), "{kind:?}");
            assert_eq!(decide(&kind, spent(0, 2)), (Decision::Fail, spent(1, 2)), "{kind:?}");
        }
    }

    #[test]
    fn an_interruption_counts_against_the_system_budget_only() {
        assert_eq!(decide(&FailureKind::Interrupted, FRESH), (Decision::Retry, spent(0, 1)));
        // The task's retries are spent but for one: an interruption leaves that one.
        let (decision, after) = decide(&FailureKind::Interrupted, spent(2, 0));
        assert_eq!((decision, after), (Decision::Retry, spent(2, 1)));
        assert!(after.attempts_left());
    }

    #[test]
    fn the_interruption_past_the_system_budget_fails_the_node() {
        // Three system retries survive three interruptions; the fourth fails the node.
        assert_eq!(
            decide(&FailureKind::Interrupted, spent(0, 2)),
            (Decision::Retry, spent(0, 3))
        );
        assert_eq!(
            decide(&FailureKind::Interrupted, spent(0, 3)),
            (Decision::Fail, spent(0, 4))
        );
        let none = Budgets {
            system_retries: 0,
            ..FRESH
        };
        assert_eq!(decide(&FailureKind::Interrupted, none).0, Decision::Fail);
    }

    fn ended(returned: Returned, stop: Option<StopReason>) -> Ended {
        Ended {
            returned,
            stop,
            preempted: None,
        }
    }

    fn failure(kind: FailureKind, cause: &str) -> AttemptFailure {
        AttemptFailure {
            attempt: 2,
            kind,
            cause: cause.to_owned(),
        }
    }

    fn panic() -> Caught {
        Caught {
            message: "index out of bounds".to_owned(),
            location: Some("src/fit.rs:42:9".to_owned()),
            backtrace: None,
        }
    }

    fn outputs() -> Vec<Encoded> {
        vec![Encoded::encode(&5u64).unwrap()]
    }

    fn failed(verdict: Verdict) -> AttemptFailure {
        match verdict {
            Verdict::Failed(f) => f,
            other => panic!("not a plain failure: {other:?}"),
        }
    }

    #[test]
    fn outputs_without_a_stop_succeed() {
        match classify(ended(Returned::Outputs(outputs()), None), 2, "fit") {
            Verdict::Succeeded(out) => assert_eq!(out[0].decode::<u64>().unwrap(), 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_without_a_stop_is_the_tasks_own_failure() {
        for kind in [FailureKind::Recoverable, FailureKind::NonRecoverable] {
            let returned = Returned::Failure(failure(kind.clone(), "disk full"));
            assert_eq!(
                failed(classify(ended(returned, None), 2, "fit")),
                failure(kind, "disk full")
            );
        }
    }

    #[test]
    fn a_timed_out_attempt_timed_out_whatever_it_returned() {
        let timed_out = Some(StopReason::TimedOut(Duration::from_millis(1500)));
        let expected = failure(
            FailureKind::TimedOut,
            "task `fit` timed out: the attempt ran longer than 1.5s",
        );
        for returned in [
            Returned::Outputs(outputs()),
            Returned::Failure(failure(FailureKind::NonRecoverable, "checkpoint refused")),
            Returned::Panic(panic()),
        ] {
            assert_eq!(failed(classify(ended(returned, timed_out), 2, "fit")), expected);
        }
    }

    #[test]
    fn an_error_while_the_execution_is_failing_is_stopped_with_its_cause() {
        let returned = Returned::Failure(AttemptFailure {
            attempt: 4,
            ..failure(FailureKind::Recoverable, "commit refused")
        });
        let stopped = failed(classify(ended(returned, Some(StopReason::ExecutionFailing)), 2, "fit"));
        assert_eq!(
            stopped,
            AttemptFailure {
                attempt: 4,
                kind: FailureKind::Stopped,
                cause: "commit refused (another node failed and the execution is stopping)".to_owned(),
            }
        );
    }

    #[test]
    fn outputs_while_the_execution_is_failing_still_succeed() {
        let returned = Returned::Outputs(outputs());
        let verdict = classify(ended(returned, Some(StopReason::ExecutionFailing)), 2, "fit");
        assert!(
            matches!(verdict, Verdict::Succeeded(ref out) if out.len() == 1),
            "{verdict:?}"
        );
    }

    fn preempted(returned: Returned, stop: Option<StopReason>) -> Ended {
        Ended {
            returned,
            stop,
            preempted: Some(crate::Notice::Sigterm),
        }
    }

    #[test]
    fn an_error_after_a_notice_is_an_interruption_keeping_its_cause_whatever_its_kind() {
        for (kind, stop) in [
            (FailureKind::Recoverable, None),
            (FailureKind::NonRecoverable, None),
            (FailureKind::Recoverable, Some(StopReason::ExecutionFailing)),
        ] {
            let returned = Returned::Failure(AttemptFailure {
                attempt: 4,
                ..failure(kind, "preempted at step 7")
            });
            match classify(preempted(returned, stop), 2, "fit") {
                Verdict::Preempted(f) => assert_eq!(
                    f,
                    AttemptFailure {
                        attempt: 4,
                        kind: FailureKind::Interrupted,
                        cause: "preempted by SIGTERM: the attempt returned at the notice (preempted at step 7)"
                            .to_owned(),
                    }
                ),
                other => panic!("{stop:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn outputs_after_a_notice_succeed_a_panic_stays_a_panic_and_a_timeout_wins() {
        let verdict = classify(preempted(Returned::Outputs(outputs()), None), 2, "fit");
        assert!(matches!(verdict, Verdict::Succeeded(_)), "{verdict:?}");
        let verdict = classify(preempted(Returned::Panic(panic()), None), 2, "fit");
        assert!(
            matches!(verdict, Verdict::Panicked(ref f, _) if f.kind == FailureKind::Panic),
            "{verdict:?}"
        );
        let timed_out = Some(StopReason::TimedOut(Duration::from_secs(1)));
        let returned = Returned::Failure(failure(FailureKind::Recoverable, "late"));
        assert_eq!(
            failed(classify(preempted(returned, timed_out), 2, "fit")).kind,
            FailureKind::TimedOut
        );
    }

    #[test]
    fn a_panic_is_a_panic_failure_naming_the_task_even_while_the_execution_is_failing() {
        for stop in [None, Some(StopReason::ExecutionFailing)] {
            match classify(ended(Returned::Panic(panic()), stop), 2, "fit") {
                Verdict::Panicked(f, caught) => {
                    assert_eq!(
                        f,
                        failure(
                            FailureKind::Panic,
                            "task `fit` panicked: index out of bounds (at src/fit.rs:42:9)"
                        )
                    );
                    assert_eq!(caught.message, "index out of bounds");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
