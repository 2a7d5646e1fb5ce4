//! How a running attempt is asked to stop.
//!
//! Rust cannot kill a thread safely, so stopping is cooperative: an attempt stops when its
//! deadline passes (`#[task(timeout = "..")]`) or when its execution is failing (the default
//! [`FailurePolicy`](crate::FailurePolicy)). From then on its checkpoint refuses commits with
//! [`CheckpointError::Stopped`](crate::CheckpointError::Stopped), so a loop that checkpoints
//! ends at its next commit, and [`TaskContext::is_stopping`](crate::TaskContext::is_stopping)
//! tells a loop that does not. Whatever the attempt then returns, the runtime counts a
//! timed-out attempt as a retryable failure, and does not retry a stopped one.
//!
//! A preemption notice ([`preempt`](crate::preempt)) also asks attempts to return, but does
//! not refuse their commits: an attempt under a notice may save its latest state on the way
//! out. It is read through [`Stop::preempted`], apart from [`Stop::reason`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::flush::Flush;
use crate::preempt::{self, Notice};

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

/// An attempt's stop conditions: the flags of the graphs it runs in and its own deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    flag: Arc<Flag>,
    deadline: Option<(Instant, Duration)>,
}

/// Raised when a graph is failing. A graph run inside another (a map's element workflow) has
/// a flag of its own: its failure stops its own nodes only, while its parent's stops it too.
#[derive(Default)]
struct Flag {
    raised: AtomicBool,
    parent: Option<Arc<Flag>>,
    /// The preemption handle the execution runs under, if any: the same in every graph of it.
    notices: Option<Arc<preempt::Shared>>,
}

impl std::fmt::Debug for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flag")
            .field("raised", &self.raised)
            .field("parent", &self.parent)
            .field("notice", &self.notices.as_ref().and_then(|n| n.notice()))
            .finish()
    }
}

impl Flag {
    fn raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed) || self.parent.as_ref().is_some_and(|p| p.raised())
    }
}

impl Stop {
    /// An execution's stop conditions, under the preemption handle `notices` if it has one.
    pub(crate) fn watched(notices: Option<Arc<preempt::Shared>>) -> Stop {
        Stop {
            flag: Arc::new(Flag {
                notices,
                ..Flag::default()
            }),
            deadline: None,
        }
    }

    /// The same flags, with a deadline `timeout` from now.
    pub(crate) fn attempt(&self, timeout: Option<Duration>) -> Stop {
        Stop {
            flag: Arc::clone(&self.flag),
            deadline: timeout.map(|t| (Instant::now() + t, t)),
        }
    }

    /// The stop conditions of a graph run inside this one: raised with this one, or alone.
    pub(crate) fn child(&self) -> Stop {
        Stop {
            flag: Arc::new(Flag {
                raised: AtomicBool::new(false),
                parent: Some(Arc::clone(&self.flag)),
                notices: self.flag.notices.clone(),
            }),
            deadline: self.deadline,
        }
    }

    /// Asks every attempt under this flag (and under its children's) to stop.
    pub(crate) fn stop_execution(&self) {
        self.flag.raised.store(true, Ordering::Relaxed);
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// The deadline with the timeout it was set from, which a timed-out attempt reports.
    #[cfg(feature = "async")]
    pub(crate) fn timeout(&self) -> Option<(Instant, Duration)> {
        self.deadline
    }

    /// The preemption notice raised on the execution's handle, if one was: one atomic load
    /// while none is.
    pub(crate) fn preempted(&self) -> Option<Notice> {
        self.flag.notices.as_ref().and_then(|n| n.notice())
    }

    /// Adds an asynchronous checkpoint writer to those flushed when the execution's attempts
    /// are abandoned after a notice; nothing without a preemption handle.
    pub(crate) fn register_writer(&self, writer: Weak<dyn Flush>) {
        if let Some(notices) = &self.flag.notices {
            notices.register_writer(writer);
        }
    }

    /// Why the attempt should stop, if it should. A passed deadline wins: it decides whether
    /// the attempt is retried.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        match self.deadline {
            Some((at, limit)) if Instant::now() >= at => Some(StopReason::TimedOut(limit)),
            _ if self.flag.raised() => Some(StopReason::ExecutionFailing),
            _ => None,
        }
    }
}
