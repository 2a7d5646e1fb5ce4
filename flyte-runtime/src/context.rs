//! The running attempt's context: ids, attempt number and checkpoint.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::preempt::Notice;
use crate::stop::Stop;

/// What the runtime tells a running task about itself, injected into a `&TaskContext`
/// parameter or returned by [`current_context`].
///
/// ```
/// use flytekit::{task, LocalRuntime, TaskContext};
///
/// #[task(retries = 1)]
/// fn which_attempt(ctx: &TaskContext) -> (u32, u32, String) {
///     (ctx.attempt(), ctx.max_attempts(), ctx.node_id().to_string())
/// }
///
/// let (attempt, max, node) = LocalRuntime::new().run_task(which_attempt, ()).unwrap();
/// assert_eq!((attempt, max, node.as_str()), (1, 2, "n0"));
/// ```
#[derive(Clone, Debug)]
pub struct TaskContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    execution_id: String,
    node_id: String,
    task: &'static str,
    attempt: u32,
    max_attempts: u32,
    checkpoint: Checkpoint,
    stop: Stop,
    /// Whether the task's outputs are kept unserialized (see [`Encoded::typed`]).
    ///
    /// [`Encoded::typed`]: crate::Encoded::typed
    typed_outputs: bool,
}

impl TaskContext {
    pub(crate) fn new(
        execution_id: &str,
        node_id: &str,
        task: &'static str,
        attempt: u32,
        max_attempts: u32,
        checkpoint: Checkpoint,
        stop: Stop,
    ) -> Self {
        TaskContext {
            inner: Arc::new(Inner {
                execution_id: execution_id.to_owned(),
                node_id: node_id.to_owned(),
                task,
                attempt,
                max_attempts,
                checkpoint,
                stop,
                typed_outputs: false,
            }),
        }
    }

    /// This context, just made, with the task's outputs kept unserialized (a task container's,
    /// [`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)).
    pub(crate) fn with_typed_outputs(mut self) -> Self {
        // Only a context nothing else holds yet: one being made for an attempt.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.typed_outputs = true;
        }
        self
    }

    /// Whether the task's outputs are kept unserialized.
    pub(crate) fn typed_outputs(&self) -> bool {
        self.inner.typed_outputs
    }

    /// A context for calling a task as a plain function, in a unit test: first attempt of one,
    /// execution `local`, node `n0`, task `detached`.
    ///
    /// ```
    /// use flytekit::{Checkpoint, TaskContext};
    ///
    /// let ctx = TaskContext::detached(Checkpoint::temporary()?);
    /// assert_eq!(ctx.attempt(), 1);
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn detached(checkpoint: Checkpoint) -> Self {
        Self::new("local", "n0", "detached", 1, 1, checkpoint, Stop::default())
    }

    /// The execution's id.
    pub fn execution_id(&self) -> &str {
        &self.inner.execution_id
    }

    /// The node's id in the workflow graph (`n0`, `n1`, ...).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The name of the running task.
    pub fn task_name(&self) -> &'static str {
        self.inner.task
    }

    /// This attempt's number: 1 for the first attempt, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// How many attempts the task may make in all (`retries + 1`).
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// The node's checkpoint, as this attempt sees it.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.inner.checkpoint
    }

    /// Whether the attempt has been asked to stop: it ran past its task's `timeout`, another
    /// node failed and the execution is stopping, or a preemption notice came
    /// ([`preempted`](Self::preempted)). A long loop that does not checkpoint should check this
    /// and return; one that does is stopped by its next commit, which fails with
    /// [`CheckpointError::Stopped`](crate::CheckpointError::Stopped) — except under a
    /// preemption notice, whose commits succeed so that the loop can save its state on the
    /// way out. (An `async fn` task need not check for its timeout: at its deadline its future
    /// is dropped.)
    ///
    /// ```
    /// use flytekit::{task, TaskContext, TaskError};
    ///
    /// #[task(timeout = "10m")]
    /// fn search(ctx: &TaskContext, n: u64) -> Result<u64, TaskError> {
    ///     let mut best = 0;
    ///     for i in 0..n {
    ///         if ctx.is_stopping() {
    ///             return Err(TaskError::recoverable("stopped"));
    ///         }
    ///         best = best.max(i % 7);
    ///     }
    ///     Ok(best)
    /// }
    /// # assert_eq!(flytekit::LocalRuntime::new().run_task(search, 10).unwrap(), 6);
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.inner.stop.reason().is_some() || self.preempted()
    }

    /// Whether a preemption notice came: the machine is about to be taken away (SIGTERM from
    /// Kubernetes, a spot interruption, Ctrl-C, ...; see [`Preemption`](crate::Preemption)).
    /// Save the latest state and return: unlike a timeout's, commits still succeed. Return an
    /// error (any error): the attempt is recorded as interrupted by preemption, a system
    /// failure that does not count against `retries`, and the next run of the execution
    /// resumes from what was saved. (Returning the task's outputs instead means it finished:
    /// they are kept.) A task that never checks keeps running until the grace period ends;
    /// the runtime then commits what its [`AsyncWriter`](crate::AsyncWriter)s hold and ends
    /// the process. Checking costs one atomic load.
    ///
    /// ```
    /// use flytekit::{task, TaskContext, TaskError};
    ///
    /// #[task(retries = 2)]
    /// fn train(ctx: &TaskContext, steps: u64) -> Result<u64, TaskError> {
    ///     let cp = ctx.checkpoint();
    ///     let writer = cp.async_writer(); // saving never waits for the disk
    ///     let mut step: u64 = cp.load_state()?.unwrap_or(0);
    ///     while step < steps {
    ///         if ctx.preempted() {
    ///             // What the writer holds is committed before the attempt ends.
    ///             return Err(TaskError::recoverable(format!("preempted at step {step}")));
    ///         }
    ///         step += 1; // ... one step of real work ...
    ///         writer.save_state(&step)?;
    ///     }
    ///     Ok(step)
    /// }
    /// # assert_eq!(flytekit::LocalRuntime::new().run_task(train, 10).unwrap(), 10);
    /// ```
    pub fn preempted(&self) -> bool {
        self.inner.stop.preempted().is_some()
    }

    /// The preemption notice, if one came: which signal raised it, or the program.
    pub fn notice(&self) -> Option<Notice> {
        self.inner.stop.preempted()
    }

    /// When this attempt times out, if its task has a `timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.stop.deadline()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

/// The context of the task running on this thread, as flytekit's `current_context()`.
///
/// In an `async fn` task, it is the attempt's context whenever the runtime polls the task's
/// future, on whichever of its executor's threads. Outside a task's attempt (or on a thread
/// the task spawned, or in a future it spawned) this is [`Error::NoContext`].
///
/// ```
/// use flytekit::{current_context, task, Error, LocalRuntime, TaskError};
///
/// #[task]
/// fn resume_point() -> Result<u64, TaskError> {
///     let cp = current_context()?.checkpoint().clone();
///     Ok(cp.load_state::<u64>()?.unwrap_or(0))
/// }
///
/// assert_eq!(LocalRuntime::new().run_task(resume_point, ()).unwrap(), 0);
/// assert!(matches!(current_context(), Err(Error::NoContext)));
/// ```
pub fn current_context() -> Result<TaskContext, Error> {
    CURRENT.with(|c| c.borrow().clone()).ok_or(Error::NoContext)
}

/// Runs `f` with `ctx` as this thread's current context, restoring the previous one after,
/// even if `f` panics.
pub(crate) fn enter<R>(ctx: &TaskContext, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<TaskContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(ctx.clone()));
    let _restore = Restore(previous);
    f()
}
