//! How a running attempt is asked to stop.
//!
//! Rust cannot kill a thread safely, so stopping is cooperative: an attempt stops when its
//! deadline passes (`#[task(timeout = "..")]`) or when its execution is failing (the default
//! [`FailurePolicy`](crate::FailurePolicy)). From then on its checkpoint refuses commits with
//! [`CheckpointError::Stopped`](crate::CheckpointError::Stopped), so a loop that checkpoints
//! ends at its next commit, and [`TaskContext::is_stopping`](crate::TaskContext::is_stopping)
//! tells a loop that does not. Whatever the attempt then returns, the runtime counts a
//! timed-out attempt as a retryable failure, and does not retry a stopped one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why an attempt was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The attempt ran past its task's `timeout`.
    TimedOut(Duration),
    /// Another node failed and the execution is stopping.
    ExecutionFailing,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TimedOut(limit) => write!(f, "the attempt timed out after {limit:?}"),
            StopReason::ExecutionFailing => f.write_str("another node failed and the execution is stopping"),
        }
    }
}

/// An attempt's stop conditions: its execution's flag and its own deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    execution: Arc<AtomicBool>,
    deadline: Option<(Instant, Duration)>,
}

impl Stop {
    /// The same execution flag, with a deadline `timeout` from now.
    pub(crate) fn attempt(&self, timeout: Option<Duration>) -> Stop {
        Stop {
            execution: Arc::clone(&self.execution),
            deadline: timeout.map(|t| (Instant::now() + t, t)),
        }
    }

    /// Asks every attempt of the execution to stop.
    pub(crate) fn stop_execution(&self) {
        self.execution.store(true, Ordering::Relaxed);
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// Why the attempt should stop, if it should. A passed deadline wins: it decides whether
    /// the attempt is retried.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        match self.deadline {
            Some((at, limit)) if Instant::now() >= at => Some(StopReason::TimedOut(limit)),
            _ if self.execution.load(Ordering::Relaxed) => Some(StopReason::ExecutionFailing),
            _ => None,
        }
    }
}
