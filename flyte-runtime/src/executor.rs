//! The local executor: runs a graph's nodes once their inputs exist, each with its retries and
//! its checkpoint.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::checkpoint::Checkpoint;
use crate::context::{self, TaskContext};
use crate::error::{AttemptFailure, Error, FailureKind, NodeFailure, ValueError};
use crate::graph::{Binding, Graph, Node, Workflow};
use crate::task::Task;
use crate::value::{Literal, Values};

/// Runs workflows and tasks on this machine.
///
/// Each run gets an execution id and a directory for its nodes' checkpoints: a temporary one,
/// removed when the run ends, or `<dir>/<execution id>/` under a directory you name with
/// [`in_dir`](Self::in_dir). Runtimes share nothing: two in one process do not interfere.
///
/// ```
/// use flytekit::{task, workflow, LocalRuntime};
///
/// #[task]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// #[workflow]
/// fn squares(a: u64, b: u64) -> (u64, u64) {
///     (square(a), square(b))
/// }
///
/// let out = LocalRuntime::new().run(squares, (3, 4)).unwrap();
/// assert_eq!(out, (9, 16));
/// ```
#[derive(Debug, Default, Clone)]
pub struct LocalRuntime {
    dir: Option<PathBuf>,
}

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

impl LocalRuntime {
    /// A runtime that keeps checkpoints in a temporary directory per run.
    pub fn new() -> Self {
        LocalRuntime::default()
    }

    /// A runtime that keeps each run's checkpoints under `dir/<execution id>/<node id>/`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        LocalRuntime { dir: Some(dir.into()) }
    }

    /// Runs `workflow` on `input` and returns its output.
    ///
    /// `input` is `()` for a workflow without inputs, the value for one input, and a tuple for
    /// several.
    pub fn run<W: Workflow>(&self, workflow: W, input: W::Input) -> Result<W::Output, Error> {
        let graph = workflow.graph()?;
        let outputs = self.execute(&graph, &input.encode()?)?;
        Ok(W::Output::decode(&outputs)?)
    }

    /// Runs one task alone, with its retries and checkpoint, as a workflow of one node named
    /// after the task.
    pub fn run_task<T: Task>(&self, task: T, input: T::Input) -> Result<T::Output, Error> {
        let graph = Graph::single(task);
        let outputs = self.execute(&graph, &input.encode()?)?;
        Ok(T::Output::decode(&outputs)?)
    }

    fn execute(&self, graph: &Graph, inputs: &[Literal]) -> Result<Vec<Literal>, Error> {
        let execution = Execution::start(self.dir.as_deref(), graph, inputs)?;
        execution.run()
    }
}

struct Execution<'g> {
    id: String,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    graph: &'g Graph,
    inputs: &'g [Literal],
    /// Each finished node's outputs.
    outputs: Vec<Option<Vec<Literal>>>,
}

impl<'g> Execution<'g> {
    fn start(root: Option<&Path>, graph: &'g Graph, inputs: &'g [Literal]) -> Result<Self, Error> {
        let id = new_execution_id();
        let (dir, temp) = match root {
            Some(root) => (root.join(&id), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("flytekit-")
                    .tempdir()
                    .map_err(|source| Error::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Execution {
            id,
            dir,
            _temp: temp,
            graph,
            inputs,
            outputs: vec![None; graph.nodes().len()],
        })
    }

    /// Runs every node once all the nodes it consumes have finished.
    fn run(mut self) -> Result<Vec<Literal>, Error> {
        let nodes = self.graph.nodes();
        let mut waiting_on: Vec<usize> = nodes.iter().map(|n| n.upstream().len()).collect();
        let mut downstream = vec![Vec::new(); nodes.len()];
        for (up, down) in self.graph.edges() {
            downstream[up].push(down);
        }
        let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| waiting_on[i] == 0).collect();
        while let Some(i) = ready.pop_front() {
            let inputs = self.resolve(nodes[i].inputs())?;
            let outputs = self.run_node(&nodes[i], &inputs)?;
            self.outputs[i] = Some(outputs);
            for &d in &downstream[i] {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
        self.resolve(self.graph.outputs())
    }

    fn resolve(&self, bindings: &[Binding]) -> Result<Vec<Literal>, Error> {
        bindings
            .iter()
            .map(|b| {
                let found = match *b {
                    Binding::Input(i) => self.inputs.get(i),
                    Binding::Literal(i) => self.graph.literal(i),
                    Binding::Output { node, slot } => self.outputs.get(node).and_then(|o| o.as_ref()?.get(slot)),
                };
                // Graphs are built by the macros, so a dangling binding is a bug in flytekit.
                found.cloned().ok_or_else(|| {
                    Error::Value(ValueError {
                        op: "bind",
                        type_name: "input",
                        message: format!("workflow `{}`: no value for {b:?}", self.graph.name()),
                    })
                })
            })
            .collect()
    }

    /// Runs a node's attempts until one succeeds, one fails for good, or none are left.
    fn run_node(&self, node: &Node, inputs: &[Literal]) -> Result<Vec<Literal>, Error> {
        let task = node.task();
        let spec = task.spec();
        let max_attempts = spec.max_attempts();
        let checkpoints = self.dir.join(node.id());
        let mut failures = Vec::new();
        for attempt in 1..=max_attempts {
            let checkpoint = Checkpoint::new(&checkpoints)?;
            let ctx = TaskContext::new(&self.id, node.id(), spec.name(), attempt, max_attempts, checkpoint);
            let result = context::enter(&ctx, || {
                catch_unwind(AssertUnwindSafe(|| task.run_erased(&ctx, inputs)))
            });
            // Pending asynchronous checkpoint writes are part of the attempt: a success whose
            // last state never reached the disk would resume from too early a state.
            let result = result.map(|r| {
                r.and_then(|outputs| match ctx.checkpoint().flush_writers() {
                    Ok(()) => Ok(outputs),
                    Err(e) => Err(AttemptFailure {
                        attempt,
                        kind: FailureKind::Recoverable,
                        cause: e.to_string(),
                    }),
                })
            });
            let failure = match result {
                Ok(Ok(outputs)) => return Ok(outputs),
                Ok(Err(failure)) => failure,
                Err(panic) => AttemptFailure {
                    attempt,
                    kind: FailureKind::Panic,
                    cause: format!("task `{}` panicked: {}", spec.name(), panic_message(&*panic)),
                },
            };
            let retry = failure.kind == FailureKind::Recoverable;
            failures.push(failure);
            if !retry {
                break;
            }
        }
        Err(Error::NodeFailed(Box::new(NodeFailure {
            workflow: node.workflow().to_owned(),
            node: node.id().to_owned(),
            task: spec.name().to_owned(),
            max_attempts,
            attempts: failures,
        })))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic payload that is not a string"
    }
}

/// Unique within the process (a counter) and across processes in practice (time and pid).
fn new_execution_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    format!("x{:x}-{:x}-{n}", nanos & 0xffff_ffff_ffff, std::process::id())
}
