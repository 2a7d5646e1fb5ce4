//! One attempt of a task outside any graph: what a task container on a Flyte cluster runs.
//!
//! On a cluster, propeller owns the graph and the retries: it starts one container per attempt,
//! and the container runs the task **once**, its checkpoint kept under the object-store prefixes
//! propeller names (flyte-cluster's `ObjectStoreCheckpoint`). [`SingleAttempt`] is that run:
//! the same attempt as the local executor's (the task's context, its checkpoint under the
//! attempt's stop conditions, the asynchronous writers flushed before a success counts, panics
//! caught, an `async fn` task on flytekit's executor), classified by the same rules
//! ([`retry`](crate::retry)'s `classify`), and under the same preemption notices: with
//! [`handle_signals`](SingleAttempt::handle_signals), SIGTERM (Kubernetes deleting the pod) is a
//! notice the task sees ([`TaskContext::preempted`](crate::TaskContext::preempted)) while its
//! commits still succeed, and a task still running at the end of the grace period is abandoned
//! after its asynchronous writers have committed their latest state, the process exiting with
//! status 143.

use std::sync::Arc;
use std::time::Duration;

use crate::attempt::{Attempt, Ids};
use crate::backend::CheckpointBackend;
use crate::error::{AttemptFailure, FailureKind};
use crate::preempt::{self, Preemption};
use crate::retry::{self, Verdict};
use crate::stop::Stop;
use crate::task::{ErasedTask, Task};
use crate::value::Encoded;

/// One attempt of a task, as a Flyte task container runs it.
///
/// ```
/// use flyte_runtime::backend::LocalDir;
/// use flyte_runtime::SingleAttempt;
/// use flytekit::{task, Checkpoint, Encoded, FailureKind, TaskError};
///
/// #[task(retries = 1)]
/// fn count(cp: &Checkpoint, n: u64) -> Result<u64, TaskError> {
///     let start: u64 = cp.load_state()?.unwrap_or(0);
///     if start == 0 {
///         cp.save_state(&(n / 2))?;
///         return Err(TaskError::recoverable("interrupted halfway"));
///     }
///     Ok(start)
/// }
///
/// let dir = tempfile::tempdir()?;
/// let inputs = [Encoded::encode(&10u64)?];
/// // What each attempt's container does, with a local directory standing in for the prefixes.
/// let first = SingleAttempt::new("f3a1", "n0", 1).run(&count, &inputs, Box::new(LocalDir::new(dir.path())?));
/// assert_eq!(first.unwrap_err().kind, FailureKind::Recoverable);
/// let second = SingleAttempt::new("f3a1", "n0", 2).run(&count, &inputs, Box::new(LocalDir::new(dir.path())?));
/// assert_eq!(second.unwrap()[0].decode::<u64>()?, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SingleAttempt {
    execution: String,
    node: String,
    attempt: u32,
    preemption: Option<Preemption>,
    signals: bool,
    grace: Duration,
    typed_outputs: bool,
}

impl SingleAttempt {
    /// Attempt `attempt` (1 for the first) of node `node` of execution `execution`: what the
    /// task's context reports ([`TaskContext::attempt`](crate::TaskContext::attempt), ...).
    pub fn new(execution: impl Into<String>, node: impl Into<String>, attempt: u32) -> Self {
        SingleAttempt {
            execution: execution.into(),
            node: node.into(),
            attempt: attempt.max(1),
            preemption: None,
            signals: false,
            grace: Duration::from_secs(25),
            typed_outputs: false,
        }
    }

    /// Runs the attempt under `handle`'s preemption notices (see
    /// [`LocalRuntime::preemption`](crate::LocalRuntime::preemption)).
    pub fn preemption(mut self, handle: Preemption) -> Self {
        self.preemption = Some(handle);
        self
    }

    /// Makes SIGTERM and SIGINT raise a preemption notice while the attempt runs (see
    /// [`LocalRuntime::handle_signals`](crate::LocalRuntime::handle_signals)).
    pub fn handle_signals(mut self) -> Self {
        self.preemption.get_or_insert_with(Preemption::new);
        self.signals = true;
        self
    }

    /// Returns the task's outputs unserialized: each [`Encoded`] holds the value the task
    /// returned (checked to serialize, so that a value that cannot fails the attempt as it
    /// would otherwise), for the caller to serialize as it needs through
    /// [`Encoded::with_typed`] (a task container writes a large list or dict into `outputs.pb`
    /// an element at a time, never holding it serialized whole). Read as bytes, an output is
    /// serialized then.
    pub fn typed_outputs(mut self) -> Self {
        self.typed_outputs = true;
        self
    }

    /// How long the attempt has, after a notice, to return before it is abandoned (default
    /// 25 s, under Kubernetes' 30 s `terminationGracePeriodSeconds`).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Runs the attempt of `task` with `inputs` (encoded, in the order of its parameters), its
    /// checkpoint kept by `checkpoint`. Its outputs, encoded, or its failure as the local
    /// executor classifies it: recoverable or not, a panic, a timeout, or interrupted by a
    /// preemption notice (an error returned after the notice).
    pub fn run<T: Task>(
        &self,
        task: &T,
        inputs: &[Encoded],
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<Vec<Encoded>, AttemptFailure> {
        self.run_erased(task, inputs.to_vec(), checkpoint)
    }

    /// [`run`](Self::run), taking the inputs: they are freed once the task has decoded them,
    /// before its body runs, so that a large input is not held as both its bytes and its value
    /// while the task works (a task container, which reads them for this attempt alone).
    pub fn run_owned<T: Task>(
        &self,
        task: &T,
        inputs: Vec<Encoded>,
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<Vec<Encoded>, AttemptFailure> {
        self.run_erased(task, inputs, checkpoint)
    }

    /// Runs the attempt of the task graph node `node` runs (for a `map(..)` over a task, the
    /// task of one element), as [`run`](Self::run) does: what a task container does for a task
    /// it found by name in a workflow's graph. A node that runs no single task (a map over a
    /// workflow, a dynamic workflow, whose graph is built when it runs) fails non-recoverably.
    pub fn run_node(
        &self,
        node: &crate::Node,
        inputs: &[Encoded],
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<Vec<Encoded>, AttemptFailure> {
        self.run_node_owned(node, inputs.to_vec(), checkpoint)
    }

    /// [`run_node`](Self::run_node), taking the inputs, which are freed once decoded, as
    /// [`run_owned`](Self::run_owned) frees them.
    pub fn run_node_owned(
        &self,
        node: &crate::Node,
        inputs: Vec<Encoded>,
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<Vec<Encoded>, AttemptFailure> {
        match node.runs() {
            crate::graph::Runs::Task(task) => self.run_erased(&**task, inputs, checkpoint),
            crate::graph::Runs::Workflow(_) | crate::graph::Runs::Dynamic(_) => Err(AttemptFailure {
                attempt: self.attempt,
                kind: FailureKind::NonRecoverable,
                cause: format!(
                    "node {} runs {}, not a task: only a task runs as one attempt",
                    node.id(),
                    node.task_name()
                ),
            }),
        }
    }

    /// Runs the attempt of the dynamic workflow graph node `node` runs: its body, on `inputs`,
    /// builds the graph (as a task's attempt runs: context, checkpoint, panic caught, classified
    /// by the same rules), which is returned for the caller to hand to the engine (a task
    /// container writes it as Flyte's `DynamicJobSpec`). Its nodes are marked as called from
    /// `node`'s id. A node that is not dynamic fails non-recoverably.
    pub fn build_dynamic(
        &self,
        node: &crate::Node,
        inputs: &[Encoded],
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<crate::Graph, AttemptFailure> {
        let not_built = |cause: String| AttemptFailure {
            attempt: self.attempt,
            kind: FailureKind::NonRecoverable,
            cause,
        };
        let crate::graph::Runs::Dynamic(dynamic) = node.runs() else {
            return Err(not_built(format!(
                "node {} runs {}, not a dynamic workflow",
                node.id(),
                node.task_name()
            )));
        };
        let builder = crate::dynamic::Builder {
            dynamic: &**dynamic,
            path: node.id().to_owned(),
            record: false,
            built: std::sync::Mutex::new(None),
        };
        self.run_erased(&builder, inputs.to_vec(), checkpoint)?;
        let built = builder.built.into_inner().unwrap_or_else(|p| p.into_inner());
        built.ok_or_else(|| not_built(format!("the body of {} built no graph", node.task_name())))
    }

    pub(crate) fn run_erased(
        &self,
        task: &dyn ErasedTask,
        inputs: Vec<Encoded>,
        checkpoint: Box<dyn CheckpointBackend>,
    ) -> Result<Vec<Encoded>, AttemptFailure> {
        let info = task.info();
        let notices = self.preemption.as_ref().map(|p| Arc::clone(p.shared()));
        let resume = "the next attempt resumes from its checkpoint".to_owned();
        let mut registration = notices
            .as_ref()
            .map(|shared| shared.enter(&self.execution, None, self.grace, resume));
        let _listening = match (&notices, self.signals) {
            (Some(shared), true) => match crate::signals::listen(shared) {
                Ok(listening) => Some(listening),
                Err(e) => {
                    return Err(AttemptFailure {
                        attempt: self.attempt,
                        kind: FailureKind::Recoverable,
                        cause: format!("cannot listen for SIGTERM and SIGINT: {e}"),
                    })
                }
            },
            _ => None,
        };
        let ids = Ids {
            execution: &self.execution,
            node: &self.node,
            task: info.name(),
            attempt: self.attempt,
            max_attempts: info.max_attempts(),
        };
        let attempt = Attempt::with_backend(
            ids,
            checkpoint,
            &Stop::watched(notices),
            info.timeout(),
            self.typed_outputs,
        );
        for warning in attempt.warnings() {
            tracing::warn!(event = "checkpoint_damaged", execution_id = %self.execution, node = %self.node, attempt = self.attempt, "{warning}");
        }
        let ended = attempt.run(task, inputs);
        if let Some(registration) = &mut registration {
            if !registration.leave() {
                // The warden is abandoning the attempt and ends the process.
                preempt::wait_for_exit();
            }
        }
        match retry::classify(ended, self.attempt, info.name()) {
            Verdict::Succeeded(outputs) => Ok(outputs),
            Verdict::Failed(failure) | Verdict::Preempted(failure) | Verdict::Panicked(failure, _) => Err(failure),
        }
    }
}
