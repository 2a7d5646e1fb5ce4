//! The local executor: runs a graph's nodes once their inputs exist, each with its retries and
//! its checkpoint.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "async")]
use crate::attempt::Begun;
use crate::attempt::{Attempt, Ended, Ids, Place};
use crate::binding::Binding;
use crate::branch::{BranchSpec, Otherwise};
use crate::cache::{self, CacheMode};
use crate::dynamic::{self, ErasedDynamic};
use crate::error::{
    AttemptFailure, Error, FailureKind, MapFailure, NodeFailure, Preempted, ValueError, WorkflowFailure,
};
use crate::graph::{Graph, MapSpec, Node, Runs, Workflow};
use crate::preempt::{Notice, Preemption, Registration};
use crate::retry::{self, Budgets, Decision, Verdict};
use crate::scheduler::{self, Ready};
use crate::signals::{self, Listening};
use crate::stop::Stop;
use crate::store::{Begin, ExecutionLock, NodeRecord, Store};
use crate::task::{ErasedTask, Task, TaskInfo};
use crate::value::{digest, Encoded, Outputs, Values};

/// Runs workflows and tasks on this machine.
///
/// Three ways to keep what a run produces:
///
/// * [`new`](Self::new): nothing outlives the run; checkpoints go to a temporary directory.
/// * [`in_dir`](Self::in_dir): checkpoints are kept under `dir/<execution id>/<node id>/`.
/// * [`with_store`](Self::with_store) / [`durable`](Self::durable): executions are recorded in
///   a [`Store`]; running an execution id again resumes it (finished nodes are not run again,
///   an interrupted one resumes from its checkpoint) and cached task outputs are reused.
///
/// Runtimes share nothing in memory: two in one process do not interfere.
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
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    storage: Storage,
    cache: CacheMode,
    system_retries: u32,
    max_parallelism: usize,
    /// The handle its executions watch for preemption notices, if any.
    preemption: Option<Preemption>,
    /// Whether SIGTERM and SIGINT raise that handle's notice while a run is in progress.
    signals: bool,
    grace: Duration,
    resume: Option<ResumeCommand>,
}

/// How a preempted execution's message says to resume it.
#[derive(Clone)]
struct ResumeCommand(Arc<dyn Fn(&str) -> String + Send + Sync>);

impl std::fmt::Debug for ResumeCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeCommand(..)")
    }
}

/// A little under Kubernetes' 30 s `terminationGracePeriodSeconds`, so that abandoning what
/// still runs (records, a sync) ends before the SIGKILL.
const GRACE_PERIOD: Duration = Duration::from_secs(25);

#[derive(Debug, Clone)]
enum Storage {
    Temporary,
    Dir(PathBuf),
    Store(Arc<Store>),
}

/// Flyte's `max-node-retries-system-failures` default.
const SYSTEM_RETRIES: u32 = 3;

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

impl Default for LocalRuntime {
    fn default() -> Self {
        LocalRuntime {
            storage: Storage::Temporary,
            cache: CacheMode::Use,
            system_retries: SYSTEM_RETRIES,
            max_parallelism: std::thread::available_parallelism().map_or(1, usize::from),
            preemption: None,
            signals: false,
            grace: GRACE_PERIOD,
            resume: None,
        }
    }
}

impl LocalRuntime {
    /// A runtime that keeps nothing: checkpoints live in a temporary directory per run.
    pub fn new() -> Self {
        LocalRuntime::default()
    }

    /// A runtime that keeps each run's checkpoints under `dir/<execution id>/<node id>/`, and
    /// nothing else.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        LocalRuntime {
            storage: Storage::Dir(dir.into()),
            ..LocalRuntime::default()
        }
    }

    /// A durable runtime whose executions live in the store in `dir` (see [`Store`]).
    pub fn with_store(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        Ok(LocalRuntime {
            storage: Storage::Store(Arc::new(Store::open(dir)?)),
            ..LocalRuntime::default()
        })
    }

    /// A durable runtime on the default store: `$FLYTEKIT_HOME`, or `.flytekit` in the working
    /// directory.
    pub fn durable() -> Result<Self, Error> {
        Self::with_store(Store::default_dir())
    }

    /// How cached task outputs are used (durable runtimes only). Default [`CacheMode::Use`].
    pub fn cache_mode(mut self, mode: CacheMode) -> Self {
        self.cache = mode;
        self
    }

    /// How many times a node may be interrupted by the death of its process before the
    /// execution fails; these interruptions do not count against a task's `retries`.
    /// Default 3, as Flyte's `max-node-retries-system-failures`.
    pub fn system_retries(mut self, retries: u32) -> Self {
        self.system_retries = retries;
        self
    }

    /// How many nodes may run at once. Default: the machine's available parallelism; 1 runs
    /// one node at a time, in the order the workflow's body calls them (0 counts as 1).
    ///
    /// A node runs as soon as all its inputs exist, on a thread of the runtime's own: a
    /// synchronous task's code runs there, an `async fn` task's attempt on the runtime's
    /// executor while that thread waits. (A `map` over an async task is one node, whose
    /// elements run as futures, bounded by its own `concurrency`.)
    pub fn max_parallelism(mut self, nodes: usize) -> Self {
        self.max_parallelism = nodes.max(1);
        self
    }

    /// Runs executions under `handle`: when its notice is raised (by
    /// [`Preemption::notify`], or by a signal with [`handle_signals`](Self::handle_signals)),
    /// running attempts see it ([`TaskContext::preempted`](crate::TaskContext::preempted)) and
    /// may still commit checkpoints, nothing new starts, attempts that return are recorded as
    /// interrupted by preemption, and `run` returns [`Error::Preempted`] once they all have.
    /// Attempts still running when the [grace period](Self::grace_period) ends are abandoned:
    /// their asynchronous writers are flushed, they are recorded as interrupted, one line per
    /// execution goes to stderr, and the process exits (143, or 130 for SIGINT). Several
    /// runtimes may share a handle.
    pub fn preemption(mut self, handle: Preemption) -> Self {
        self.preemption = Some(handle);
        self
    }

    /// Makes SIGTERM and SIGINT raise a preemption notice while a run of this runtime is in
    /// progress (on its [`preemption`](Self::preemption) handle, or on one of its own), rather
    /// than kill the process. A second signal abandons what still runs at once.
    ///
    /// Off by default: a library should not take over its program's signals behind its back —
    /// the program may have handlers of its own, or want Ctrl-C to kill it. `flytekit::main`'s
    /// `run` and `resume` turn it on, since there flytekit *is* the program. Outside a run, the
    /// signals keep their default effect (the process ends). Unix only; elsewhere it does
    /// nothing.
    ///
    /// ```no_run
    /// use flytekit::{task, workflow, Error, LocalRuntime};
    ///
    /// #[task]
    /// fn fit(epochs: u64) -> u64 { epochs }
    ///
    /// #[workflow]
    /// fn train(epochs: u64) -> u64 { fit(epochs) }
    ///
    /// fn main() -> std::process::ExitCode {
    ///     let rt = LocalRuntime::durable().unwrap().handle_signals();
    ///     match rt.run_with_id("train-1", train, 100) {
    ///         Ok(out) => println!("{out}"),
    ///         Err(Error::Preempted(p)) => {
    ///             eprintln!("{p}"); // one line: what stopped, how to resume
    ///             return std::process::ExitCode::from(p.notice.exit_status());
    ///         }
    ///         Err(e) => eprintln!("{e}"),
    ///     }
    ///     std::process::ExitCode::SUCCESS
    /// }
    /// ```
    pub fn handle_signals(mut self) -> Self {
        self.preemption.get_or_insert_with(Preemption::new);
        self.signals = true;
        self
    }

    /// How long attempts have, after a preemption notice, to return before they are abandoned
    /// and the process exits. Default 25 s, a little under Kubernetes' default
    /// `terminationGracePeriodSeconds` (30 s), so that the runtime records its end before the
    /// SIGKILL; set it a little under your platform's: the AWS spot notice gives 2 minutes,
    /// SLURM `--signal=TERM@<seconds>` what you ask for.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// What the message of a preempted execution gives as the command that resumes it, made
    /// from the execution's id (`flytekit::main` gives `<program> resume <id>`). Without one,
    /// it says to run the execution again with its id.
    pub fn resume_command(mut self, command: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.resume = Some(ResumeCommand(Arc::new(command)));
        self
    }

    /// What the message of preempted execution `id` says about resuming it.
    fn how_to_resume(&self, id: &str) -> String {
        match (&self.resume, &self.storage) {
            (Some(command), _) => format!("resume it with `{}`", (command.0)(id)),
            (None, Storage::Temporary) => {
                "it kept nothing to resume from (a runtime without a store or a directory starts over)".to_owned()
            }
            (None, _) => format!("run execution id `{id}` again to resume it"),
        }
    }

    /// The store of a durable runtime.
    pub fn store(&self) -> Option<&Store> {
        match &self.storage {
            Storage::Store(store) => Some(store),
            _ => None,
        }
    }

    /// Runs `workflow` on `input`, as a new execution, and returns its output.
    ///
    /// `input` is `()` for a workflow without inputs, the value for one input, and a tuple for
    /// several.
    pub fn run<W: Workflow>(&self, workflow: W, input: W::Input) -> Result<W::Output, Error> {
        self.run_with_id(&new_execution_id(), workflow, input)
    }

    /// Runs `workflow` as the execution `id`. On a durable runtime, if the store already has
    /// that execution, it is resumed: nodes that finished are not run again, an interrupted
    /// node starts a new attempt from its last checkpoint, and an execution that succeeded
    /// returns its stored outputs without running anything. The id must name the same workflow
    /// and inputs.
    ///
    /// An id is 1 to 128 letters, digits, `-`, `_` or `.`, not starting with `.`.
    ///
    /// ```
    /// use flytekit::{task, workflow, LocalRuntime};
    ///
    /// #[task]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// #[workflow]
    /// fn wf(x: u64) -> u64 { inc(x) }
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let rt = LocalRuntime::with_store(dir.path()).unwrap();
    /// assert_eq!(rt.run_with_id("nightly-1", wf, 1).unwrap(), 2);
    /// assert_eq!(rt.run_with_id("nightly-1", wf, 1).unwrap(), 2); // stored, nothing runs
    /// assert!(rt.run_with_id("nightly-1", wf, 5).is_err()); // other inputs: refused
    /// ```
    pub fn run_with_id<W: Workflow>(&self, id: &str, workflow: W, input: W::Input) -> Result<W::Output, Error> {
        let graph = workflow.graph()?;
        let outputs = self.execute(id, &graph, &input.encode()?)?;
        Ok(W::Output::decode(&outputs)?)
    }

    /// Runs one task alone, with its retries and checkpoint, as a workflow of one node named
    /// after the task.
    pub fn run_task<T: Task>(&self, task: T, input: T::Input) -> Result<T::Output, Error> {
        let graph = Graph::single(task);
        let outputs = self.execute(&new_execution_id(), &graph, &input.encode()?)?;
        Ok(T::Output::decode(&outputs)?)
    }

    fn execute(&self, id: &str, graph: &Graph, inputs: &[Encoded]) -> Result<Vec<Encoded>, Error> {
        check_execution_id(id)?;
        // An execution blocks its thread until it ends: called from async code (an async task
        // that runs a workflow), it must not hold up the other tasks of an executor's worker.
        crate::asynchronous::offload(|| Execution::start(self, id, graph, inputs)?.run())
    }
}

/// An execution id names a directory: 1 to 128 ASCII letters, digits, `-`, `_` or `.`, not
/// starting with `.`.
#[doc(hidden)]
pub fn check_execution_id(id: &str) -> Result<(), Error> {
    let ok = (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidExecutionId { id: id.to_owned() })
    }
}

struct Execution<'g> {
    id: String,
    runtime: &'g LocalRuntime,
    graph: &'g Graph,
    inputs: &'g [Encoded],
    /// Where node checkpoint directories go, for the non-store modes.
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    _lock: Option<ExecutionLock>,
    /// What an earlier run of this execution recorded, by node id.
    records: HashMap<String, NodeRecord>,
    /// Raised when the execution is failing, to stop its running attempts.
    stop: Stop,
    /// The node directories that existed when the run began.
    existing: HashSet<String>,
    /// The execution's place on its preemption handle's list, if it runs under one.
    registration: Option<Registration>,
    /// Its interest in SIGTERM and SIGINT, while it runs.
    _listening: Option<Listening>,
    /// Every node's and attempt's span is a child of this one, whatever thread runs it.
    span: tracing::Span,
}

impl<'g> Execution<'g> {
    fn start(runtime: &'g LocalRuntime, id: &str, graph: &'g Graph, inputs: &'g [Encoded]) -> Result<Self, Error> {
        let io = |path: PathBuf| move |source| Error::Io { path, source };
        let (dir, temp) = match &runtime.storage {
            Storage::Temporary => {
                let temp = tempfile::Builder::new()
                    .prefix("flytekit-")
                    .tempdir()
                    .map_err(io(std::env::temp_dir()))?;
                (temp.path().to_path_buf(), Some(temp))
            }
            Storage::Dir(root) => (root.join(id), None),
            Storage::Store(store) => (store.dir().join("executions").join(id), None),
        };
        std::fs::create_dir_all(&dir).map_err(io(dir.clone()))?;
        let existing = std::fs::read_dir(&dir)
            .map_err(io(dir.clone()))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        let lock = match runtime.store() {
            Some(store) => Some(store.lock(id)?),
            None => None,
        };
        let notices = runtime.preemption.as_ref().map(|p| Arc::clone(p.shared()));
        let registration = notices.as_ref().map(|shared| {
            let store = match &runtime.storage {
                Storage::Store(store) => Some(Arc::clone(store)),
                _ => None,
            };
            shared.enter(id, store, runtime.grace, runtime.how_to_resume(id))
        });
        let listening = match (&notices, runtime.signals) {
            (Some(shared), true) => Some(signals::listen(shared)?),
            _ => None,
        };
        Ok(Execution {
            id: id.to_owned(),
            runtime,
            graph,
            inputs,
            dir,
            _temp: temp,
            _lock: lock,
            records: HashMap::new(),
            stop: Stop::watched(notices),
            existing,
            registration,
            _listening: listening,
            span: tracing::info_span!("execution", execution_id = id, workflow = graph.name()),
        })
    }

    fn store(&self) -> Option<&'g Store> {
        self.runtime.store()
    }

    /// Records in the store, if there is one.
    fn journal(&self, f: impl FnOnce(&Store) -> Result<(), Error>) -> Result<(), Error> {
        self.store().map_or(Ok(()), f)
    }

    fn run(mut self) -> Result<Vec<Encoded>, Error> {
        let span = self.span.clone();
        let _entered = span.enter();
        if let Some(store) = self.store() {
            let hash = digest(self.graph.name().as_bytes(), self.inputs);
            let records = match store.begin(&self.id, self.graph.name(), &hash, self.inputs)? {
                Begin::Done(outputs) => {
                    tracing::info!(
                        event = "execution_done",
                        "execution already succeeded: its stored outputs are returned"
                    );
                    return Ok(outputs);
                }
                Begin::Run(records) => {
                    if !records.is_empty() {
                        tracing::info!(
                            event = "execution_resumed",
                            nodes_recorded = records.len(),
                            "execution resumed"
                        );
                    }
                    records
                }
                Begin::Recompute(records, damage) => {
                    tracing::warn!(
                        event = "result_damaged",
                        error = %damage,
                        "stored result damaged: the execution runs again from its finished nodes"
                    );
                    records
                }
            };
            for (node, damage) in records
                .iter()
                .filter_map(|r| Some((&r.id, r.outputs.as_ref()?.as_ref().err()?)))
            {
                tracing::warn!(event = "output_damaged", node_id = %node, error = %damage, "stored outputs damaged: the node runs again");
                let message = format!("{damage}: the node runs again");
                store.event(&self.id, Some(node), None, "output-damaged", &message)?;
            }
            self.records = records.into_iter().map(|r| (r.id.clone(), r)).collect();
        }
        tracing::info!(
            event = "execution_started",
            nodes = self.graph.nodes().len(),
            "execution started"
        );
        let result = self.run_nodes();
        // Under a preemption handle, whichever of this thread and the warden abandoning
        // attempts takes the execution off the handle's list records its end; the warden then
        // ends the process.
        if let Some(registration) = &mut self.registration {
            if !registration.leave() {
                crate::preempt::wait_for_exit();
            }
        }
        if let Err(Error::Preempted(_)) = &result {
            return self.preempted();
        }
        match &result {
            Ok(_) => tracing::info!(event = "execution_succeeded", "execution succeeded"),
            Err(e) => tracing::error!(event = "execution_failed", error = %e, "execution failed"),
        }
        let ended = match &result {
            Ok(outputs) => Ok(&outputs[..]),
            Err(e) => Err(e.to_string()),
        };
        let recorded = self.journal(|s| s.execution_ended(&self.id, ended.as_ref().map_err(String::as_str).copied()));
        // A failure is reported as itself even when the store cannot record it: its end stays
        // unrecorded, and the next run of the execution resumes it.
        match (result, recorded) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(outputs), Ok(())) => Ok(outputs),
        }
    }

    /// Runs the workflow's graph, then its `on_failure` task if it failed, unless a preemption
    /// notice came: nothing new starts then.
    fn run_nodes(&self) -> Result<Vec<Encoded>, Error> {
        let result = self.run_graph(self.graph, "", self.inputs, &self.stop);
        match &result {
            Ok(_) | Err(Error::Preempted(_)) => {}
            Err(_) if self.graph.on_failure().is_some() && self.stop.preempted().is_some() => {
                let message = "not run: a preemption notice came; it runs if the execution fails when run again";
                self.journal(|s| s.event(&self.id, None, None, "on-failure-skipped", message))?;
            }
            Err(e) => self.on_failure(e)?,
        }
        result
    }

    /// Ends a run that a preemption notice stopped once every attempt has returned: the
    /// execution is recorded as interrupted (synced), and the error says which attempts were
    /// and how to resume.
    fn preempted(&self) -> Result<Vec<Encoded>, Error> {
        let preempted = Preempted {
            execution: self.id.clone(),
            notice: self.stop.preempted().unwrap_or(Notice::Requested),
            interrupted: self
                .registration
                .as_ref()
                .map_or_else(Vec::new, Registration::interrupted_attempts),
            abandoned: None,
            how_to_resume: self.runtime.how_to_resume(&self.id),
        };
        tracing::warn!(
            event = "execution_preempted",
            notice = %preempted.notice,
            attempts = preempted.interrupted.len(),
            "execution stopped by a preemption notice"
        );
        self.journal(|s| s.execution_interrupted(&self.id, &preempted.to_string()))?;
        Err(Error::Preempted(Box::new(preempted)))
    }

    /// What a node or graph that a preemption notice stopped returns, up to
    /// [`run`](Self::run), which says what was interrupted.
    fn preempted_error(&self) -> Error {
        Error::Preempted(Box::new(Preempted {
            execution: self.id.clone(),
            notice: self.stop.preempted().unwrap_or(Notice::Requested),
            interrupted: Vec::new(),
            abandoned: None,
            how_to_resume: String::new(),
        }))
    }

    /// Runs `graph` on `inputs` as part of this execution and returns its outputs: each node
    /// once the nodes it consumes have finished, up to `max_parallelism` at once, under the id
    /// `prefix` followed by its own (`n2-0-` and `n1` make `n2-0-n1`).
    ///
    /// The nodes are the execution's: recorded in its store, under its lock, with checkpoint
    /// directories beside the others', and a node that finished in an earlier run of the
    /// execution is not run again. They stop when `stop` is raised; when one of them fails for
    /// good, the graph's failure policy stops its own nodes only, and its failure is returned.
    /// The execution's graph runs under the prefix `""`, each element of a map over a workflow
    /// under `<element id>-`; a graph built at run time (a dynamic workflow's) runs the same
    /// way, under its node's id.
    fn run_graph(&self, graph: &Graph, prefix: &str, inputs: &[Encoded], stop: &Stop) -> Result<Vec<Encoded>, Error> {
        let prefixed: Vec<Node>;
        let nodes = if prefix.is_empty() {
            graph.nodes()
        } else {
            prefixed = graph.nodes().iter().map(|n| n.prefixed(prefix)).collect();
            &prefixed
        };
        let stop = stop.child();
        let outputs = scheduler::run(
            graph,
            self.runtime.max_parallelism,
            graph.failure_policy(),
            |i, outputs| self.prepare(graph, inputs, &nodes[i], outputs),
            |i, inputs| self.execute_node(&nodes[i], &inputs, &stop),
            || stop.stop_execution(),
        )?;
        self.resolve(graph, inputs, &|| "its outputs".to_owned(), graph.outputs(), &outputs)
    }

    /// What a node that became ready needs: nothing if it finished in an earlier run, or is in a
    /// case of a branch that was not taken (then it is skipped), or is a branch (it decides now)
    /// or a branch's output (it passes on the taken case's results); otherwise its inputs.
    fn prepare(&self, graph: &Graph, inputs: &[Encoded], node: &Node, outputs: &Outputs) -> Result<Ready, Error> {
        // After a preemption notice nothing new starts.
        if self.stop.preempted().is_some() {
            return Err(self.preempted_error());
        }
        if let Some((branch, case)) = node.guard() {
            if taken(outputs, branch) != Some(case) {
                self.skip(node)?;
                return Ok(Ready::Done(Vec::new()));
            }
        }
        if let Some(branch) = node.output_of() {
            let spec = graph.nodes()[branch].branch().ok_or_else(|| self.unbound(node))?;
            let results = match taken(outputs, branch) {
                Some(case) => spec.cases.get(case).map_or(&spec.otherwise_outputs, |(_, out)| out),
                None => return Ok(Ready::Done(Vec::new())),
            };
            return self
                .resolve(graph, inputs, &|| node_name(node), results, outputs)
                .map(Ready::Done);
        }
        if let Some(done) = self.records.get(node.id()).and_then(NodeRecord::finished) {
            return Ok(Ready::Done(done.clone()));
        }
        if let Some(spec) = node.branch() {
            return self.decide(graph, inputs, node, spec, outputs).map(Ready::Done);
        }
        self.resolve(graph, inputs, &|| node_name(node), node.inputs(), outputs)
            .map(Ready::Run)
    }

    /// A branch node decides: the first case whose condition holds, or the `else`. Its output
    /// is the case's number, recorded, so that a resumed execution takes the same case.
    fn decide(
        &self,
        graph: &Graph,
        inputs: &[Encoded],
        node: &Node,
        spec: &BranchSpec,
        outputs: &Outputs,
    ) -> Result<Vec<Encoded>, Error> {
        let (exec, id) = (self.id.as_str(), node.id());
        let _span = tracing::info_span!(parent: &self.span, "node", execution_id = exec, node_id = id, task = "branch")
            .entered();
        let values = graph.values(inputs, outputs);
        let mut case = spec.cases.len();
        for (k, (condition, _)) in spec.cases.iter().enumerate() {
            let holds = condition.holds(&values).map_err(|message| Error::Input {
                execution: self.id.clone(),
                workflow: graph.name().to_owned(),
                whom: format!("branch {id}"),
                message,
            })?;
            if holds {
                case = k;
                break;
            }
        }
        let taken = match spec.cases.get(case) {
            Some((condition, _)) => format!("took case {case}: `{}`", graph.condition_text(condition)),
            None => match &spec.otherwise {
                Otherwise::Arm => format!("took its `else` (case {case}): no condition held"),
                Otherwise::Nothing => "no condition held, and it has no `else`: nothing runs".to_owned(),
                Otherwise::Fail(message) => {
                    tracing::error!(event = "node_failed", "branch failed the run: {message}");
                    self.journal(|s| s.node_failed(exec, id))?;
                    return Err(Error::BranchFailed {
                        execution: self.id.clone(),
                        workflow: node.workflow().to_owned(),
                        node: id.to_owned(),
                        message: message.clone(),
                    });
                }
            },
        };
        tracing::info!(event = "branch_taken", case, "{taken}");
        let decision = vec![Encoded::encode(&(case as u64))?];
        let name = node.task_name();
        self.journal(|s| s.node_succeeded(exec, id, name, &decision, false))?;
        self.journal(|s| s.event(exec, Some(id), None, "branch-taken", &taken))?;
        Ok(decision)
    }

    /// A node in a case of a branch that was not taken: recorded as skipped, and never run.
    fn skip(&self, node: &Node) -> Result<(), Error> {
        let (exec, id, name) = (self.id.as_str(), node.id(), node.task_name());
        let _span =
            tracing::info_span!(parent: &self.span, "node", execution_id = exec, node_id = id, task = name).entered();
        tracing::debug!(
            event = "node_skipped",
            "node skipped: its case of the branch was not taken"
        );
        if node.output_of().is_some() {
            return Ok(());
        }
        self.journal(|s| s.nodes_skipped(exec, &[(id, name)]))
    }

    /// Runs one node of a graph, whatever it runs.
    fn execute_node(&self, node: &Node, inputs: &[Encoded], stop: &Stop) -> Result<Vec<Encoded>, Error> {
        match (node.map_spec(), node.runs()) {
            (Some(spec), _) => self.run_map(node, spec, inputs, stop),
            (None, Runs::Task(task)) => self.run_node(node, &**task, inputs, stop, Finish::Node),
            (None, Runs::Workflow(graph)) => self.run_workflow_node(node, graph, inputs, stop),
            (None, Runs::Dynamic(dynamic)) => self.run_dynamic(node, &**dynamic, inputs, stop),
        }
    }

    /// Runs a node whose body is a graph (an element of a map over a workflow): its nodes as
    /// nodes of the execution under `<id>-`, then the node itself is recorded as succeeded with
    /// the graph's outputs, or as failed with the failure of the first of its nodes that failed.
    fn run_workflow_node(
        &self,
        node: &Node,
        graph: &Graph,
        inputs: &[Encoded],
        stop: &Stop,
    ) -> Result<Vec<Encoded>, Error> {
        let (exec, id, name) = (self.id.as_str(), node.id(), graph.name());
        self.journal(|s| s.node_started(exec, id, name))?;
        self.graph_ended(node, name, self.run_graph(graph, &format!("{id}-"), inputs, stop))
    }

    /// Records the end of a node whose body is a graph (a workflow map element, a dynamic
    /// node): succeeded, or failed; neither when a preemption notice stopped its graph, which
    /// runs on when the execution is run again.
    fn graph_ended(&self, node: &Node, name: &str, result: Result<Vec<Encoded>, Error>) -> Result<Vec<Encoded>, Error> {
        let (exec, id) = (self.id.as_str(), node.id());
        match result {
            Ok(outputs) => {
                self.journal(|s| s.node_succeeded(exec, id, name, &outputs, false))?;
                Ok(outputs)
            }
            Err(e @ Error::Preempted(_)) => Err(e),
            Err(e) => {
                self.journal(|s| s.node_failed(exec, id))?;
                Err(e)
            }
        }
    }

    /// Runs a dynamic node: its body builds a graph from the node's inputs, attempt by attempt
    /// as a task runs (its failures retried by the same rules), then the graph runs under
    /// `<id>-`. A durable execution records the graph once built; run again, it runs the
    /// recorded graph, without running the body again.
    fn run_dynamic(
        &self,
        node: &Node,
        dynamic: &dyn ErasedDynamic,
        inputs: &[Encoded],
        stop: &Stop,
    ) -> Result<Vec<Encoded>, Error> {
        let (exec, id, name) = (self.id.as_str(), node.id(), node.task_name());
        if id.split('-').count() > 2 * dynamic::MAX_DEPTH {
            return Err(dynamic::too_deep(id));
        }
        let recorded = match self.store().map(|s| s.subgraph(exec, id)).transpose()?.flatten() {
            Some(Ok(graph)) => Some(graph),
            Some(Err(damage)) => {
                tracing::warn!(parent: &self.span, event = "graph_damaged", node_id = id, error = %damage, "recorded graph damaged: the body builds it again");
                let message = format!("{damage}: the body builds the graph again");
                self.journal(|s| s.event(exec, Some(id), None, "graph-damaged", &message))?;
                None
            }
            None => None,
        };
        let graph = match recorded {
            Some(recorded) => dynamic::rebuild(&recorded).map_err(|message| Error::Graph {
                workflow: node.workflow().to_owned(),
                message: format!("dynamic node {id}: {message}"),
            })?,
            None => {
                let builder = dynamic::Builder {
                    dynamic,
                    path: format!("{}/{name}", node.workflow()),
                    record: self.store().is_some(),
                    built: Mutex::new(None),
                };
                self.run_node(node, &builder, inputs, stop, Finish::Graph)?;
                let built = builder.built.into_inner().unwrap_or_else(|p| p.into_inner());
                built.ok_or_else(|| self.unbound(node))?
            }
        };
        self.graph_ended(node, name, self.run_graph(&graph, &format!("{id}-"), &[], stop))
    }

    /// Runs the workflow's `on_failure` task, if it has one, on its inputs and the failure.
    /// The hook's own failure is recorded, and returned only if the store cannot record it:
    /// the run fails with the workflow's error either way.
    fn on_failure(&self, error: &Error) -> Result<(), Error> {
        let Some(hook) = self.graph.on_failure() else {
            return Ok(());
        };
        let failure = WorkflowFailure::new(&self.id, self.graph.name(), error);
        let mut inputs = self.inputs.to_vec();
        inputs.push(Encoded::encode(&failure)?);
        match self.execute_node(hook, &inputs, &Stop::default()) {
            Ok(_) => Ok(()),
            Err(Error::NodeFailed(f)) => {
                self.journal(|s| s.event(&self.id, Some(hook.id()), None, "on-failure-failed", &f.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// The values `bindings` name in `graph`, run on `inputs`, once its nodes gave `outputs`,
    /// for `whom` (a node, or the graph's outputs).
    fn resolve(
        &self,
        graph: &Graph,
        inputs: &[Encoded],
        whom: &dyn Fn() -> String,
        bindings: &[Binding],
        outputs: &Outputs,
    ) -> Result<Vec<Encoded>, Error> {
        let values = graph.values(inputs, outputs);
        bindings
            .iter()
            .map(|&b| {
                values.resolve(b).map_err(|message| Error::Input {
                    execution: self.id.clone(),
                    workflow: graph.name().to_owned(),
                    whom: whom(),
                    message,
                })
            })
            .collect()
    }

    /// Runs a map node: each element as a node of its own (`n2-0`, `n2-1`, ...) with its own
    /// retries, checkpoint and cache entry (for a workflow, each of its nodes: `n2-0-n0`, ...),
    /// at most `concurrency` at a time, then joins their outputs in the list's order. Once too
    /// many elements have failed for the ratio, no more start. Elements of a synchronous task
    /// or a workflow run on threads ([`map_threads`](Self::map_threads)), those of an `async
    /// fn` task as futures ([`map_futures`](Self::map_futures)).
    fn run_map(&self, node: &Node, spec: &MapSpec, inputs: &[Encoded], stop: &Stop) -> Result<Vec<Encoded>, Error> {
        let (exec, id, name) = (self.id.as_str(), node.id(), node.task_name());
        let elements = match inputs {
            [list] => spec.split(list)?,
            _ => return Err(self.unbound(node)),
        };
        self.journal(|s| s.node_started(exec, id, name))?;
        let n = elements.len();
        let ratio = spec.options.min_success_ratio;
        // At least this many must succeed; the float is a ratio in 0..=1 checked by the macro.
        let required = ((ratio * n as f64).ceil() as usize).min(n);
        let results = match node.runs() {
            #[cfg(feature = "async")]
            Runs::Task(task) if task.info().is_async() => {
                // Futures cost no thread each: unless told otherwise, as Flyte runs a map's
                // elements, all at once.
                let concurrency = spec.options.concurrency.unwrap_or(n);
                self.map_futures(node, &**task, &elements, stop, required, concurrency)
            }
            _ => {
                let threads = spec.options.concurrency.unwrap_or(self.runtime.max_parallelism);
                self.map_threads(node, &elements, stop, required, threads)
            }
        };

        let mut outputs = Vec::with_capacity(n);
        let mut failures = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Some(Ok(out)) => outputs.push(Some(out)),
                Some(Err(e)) => {
                    failures.push((i, element_failure(e)?));
                    outputs.push(None);
                }
                None => outputs.push(None),
            }
        }
        let succeeded = outputs.iter().filter(|o| o.is_some()).count();
        if succeeded < n && stop.preempted().is_some() {
            // Elements a notice kept from starting run when the execution is run again.
            return Err(self.preempted_error());
        }
        if succeeded < required || (succeeded < n && stop.reason().is_some()) {
            self.journal(|s| s.node_failed(exec, id))?;
            return Err(Error::MapFailed(Box::new(MapFailure {
                execution: self.id.clone(),
                workflow: node.workflow().to_owned(),
                node: id.to_owned(),
                task: name.to_owned(),
                elements: n,
                succeeded,
                min_success_ratio: ratio,
                failures,
            })));
        }
        for (i, failure) in &failures {
            let message = format!("element {i} failed, within the min_success_ratio of {ratio}: {failure}");
            tracing::warn!(
                parent: &self.span,
                event = "map_element_failed",
                node_id = id,
                element = i,
                "map element failed, within the min_success_ratio"
            );
            self.journal(|s| s.event(exec, Some(id), None, "map-element-failed", &message))?;
        }
        let outputs = vec![spec.join(outputs)?];
        self.journal(|s| s.node_succeeded(exec, id, name, &outputs, false))?;
        Ok(outputs)
    }

    /// Runs a map's elements on `threads` threads of their own (at most one per element), each
    /// taking the next element when it is done with one, until every element has ended, too
    /// many have failed to reach `required` successes, or the graph is stopping. Returns each
    /// element's result, `None` for one that never started.
    fn map_threads(
        &self,
        node: &Node,
        elements: &[Vec<Encoded>],
        stop: &Stop,
        required: usize,
        threads: usize,
    ) -> Vec<ElementEnd> {
        let n = elements.len();
        let next = AtomicUsize::new(0);
        let failed = AtomicUsize::new(0);
        let results: Mutex<Vec<ElementEnd>> = Mutex::new((0..n).map(|_| None).collect());
        let work = || loop {
            if n - failed.load(Ordering::SeqCst) < required || stop.reason().is_some() || stop.preempted().is_some() {
                break;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(inputs) = elements.get(i) else { break };
            let element = node.element(i);
            let finished = self.records.get(element.id()).and_then(NodeRecord::finished).cloned();
            let result = match finished {
                Some(outputs) => Ok(outputs),
                None => self.execute_node(&element, inputs, stop),
            };
            if result.is_err() {
                failed.fetch_add(1, Ordering::SeqCst);
            }
            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
        };
        std::thread::scope(|scope| {
            for _ in 1..threads.clamp(1, n.max(1)) {
                scope.spawn(work);
            }
            work();
        });
        results.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the elements of a map over an `async fn` task as futures on flytekit's executor,
    /// at most `concurrency` at once, and stops starting them as [`map_threads`] does. This
    /// thread opens and records every attempt (the store's writes block, and must not stall
    /// the executor's workers) while the attempts themselves run on the executor, so each
    /// element keeps its own retries, checkpoint, cache entry and record, exactly as
    /// [`run_node`] gives a synchronous element, without a thread of its own.
    ///
    /// [`map_threads`]: Self::map_threads
    /// [`run_node`]: Self::run_node
    #[cfg(feature = "async")]
    fn map_futures(
        &self,
        node: &Node,
        task: &dyn ErasedTask,
        elements: &[Vec<Encoded>],
        stop: &Stop,
        required: usize,
        concurrency: usize,
    ) -> Vec<ElementEnd> {
        let n = elements.len();
        let nodes: Vec<Node> = (0..n).map(|i| node.element(i)).collect();
        let mut results: Vec<ElementEnd> = (0..n).map(|_| None).collect();
        let mut runs: Vec<Option<NodeRun<'_>>> = (0..n).map(|_| None).collect();
        // Each running attempt sends its end here, from the executor's thread that ran it.
        let (ended_tx, ended_rx) = std::sync::mpsc::channel::<(usize, Ended)>();
        let (mut started, mut running, mut failed) = (0, 0, 0);
        // Hands element `i`'s next step on: spawns its attempt and returns true, or records
        // its end and returns false.
        let step = |i: usize, run: &mut Option<NodeRun<'_>>, mut next: Next, results: &mut [ElementEnd]| loop {
            let Some(node_run) = run.as_mut() else { return false };
            match next {
                Next::Done(result) => {
                    *run = None;
                    results[i] = Some(result);
                    return false;
                }
                Next::Attempt(attempt) => match node_run.in_spans(|| attempt.start(task, elements[i].to_vec())) {
                    Begun::Ended(ended) => next = self.attempt_ended(node_run, ended),
                    Begun::Running(attempt) => {
                        let ended_tx = ended_tx.clone();
                        node_run.in_spans(|| {
                            attempt.spawn(move |ended| {
                                // The map's thread receives until every attempt has ended.
                                let _ = ended_tx.send((i, ended));
                            })
                        });
                        return true;
                    }
                },
            }
        };
        loop {
            while running < concurrency.max(1)
                && started < n
                && n - failed >= required
                && stop.reason().is_none()
                && stop.preempted().is_none()
            {
                let i = started;
                started += 1;
                if let Some(outputs) = self.records.get(nodes[i].id()).and_then(NodeRecord::finished) {
                    results[i] = Some(Ok(outputs.clone()));
                    continue;
                }
                let (run, next) = self.begin_node(&nodes[i], task, &elements[i], stop, Finish::Node);
                runs[i] = Some(run);
                if step(i, &mut runs[i], next, &mut results) {
                    running += 1;
                } else if matches!(results[i], Some(Err(_))) {
                    failed += 1;
                }
            }
            if running == 0 {
                break;
            }
            // `ended_tx` lives as long as this loop, so only an end can come.
            let Ok((i, ended)) = ended_rx.recv() else { break };
            running -= 1;
            let Some(run) = runs[i].as_mut() else { continue };
            let next = self.attempt_ended(run, ended);
            if step(i, &mut runs[i], next, &mut results) {
                running += 1;
            } else if matches!(results[i], Some(Err(_))) {
                failed += 1;
            }
        }
        results
    }

    fn unbound(&self, node: &Node) -> Error {
        Error::Value(ValueError {
            op: "bind",
            type_name: "input",
            message: format!(
                "workflow `{}`: node {} has no list to map over",
                node.workflow(),
                node.id()
            ),
        })
    }

    /// Runs a node's attempts of `task` until one succeeds, one fails for good, or none are
    /// left: the one place a task's attempts run one after the other, on this thread (an
    /// `async fn` task's on the executor, while this thread waits). Each attempt runs in
    /// [`attempt`](crate::attempt); what its end means and whether another follows is decided
    /// in [`retry`](crate::retry); here, through [`begin_node`](Self::begin_node) and
    /// [`attempt_ended`](Self::attempt_ended), it is recorded.
    fn run_node(
        &self,
        node: &Node,
        task: &dyn ErasedTask,
        inputs: &[Encoded],
        stop: &Stop,
        finish: Finish,
    ) -> Result<Vec<Encoded>, Error> {
        let (mut run, mut next) = self.begin_node(node, task, inputs, stop, finish);
        loop {
            match next {
                Next::Done(result) => return result,
                Next::Attempt(attempt) => {
                    let ended = run.in_spans(|| attempt.run(task, inputs.to_vec()));
                    next = self.attempt_ended(&mut run, ended);
                }
            }
        }
    }

    /// Starts running a node: charges an attempt an earlier run left interrupted, looks the
    /// outputs up in the cache, and opens the first attempt, unless one of these ends the node.
    fn begin_node<'n>(
        &self,
        node: &'n Node,
        task: &'n dyn ErasedTask,
        inputs: &'n [Encoded],
        stop: &'n Stop,
        finish: Finish,
    ) -> (NodeRun<'n>, Next) {
        let spec = task.info();
        let (exec, id, name) = (self.id.as_str(), node.id(), spec.name());
        let record = self.records.get(id);
        let attempt = record.map_or(0, |r| r.last_attempt);
        let mut run = NodeRun {
            node,
            stop,
            finish,
            spec,
            key: None,
            attempt,
            // A node's checkpoint directory can only exist if an earlier run left it, or an
            // earlier attempt of this run committed.
            first_attempt: attempt + 1,
            budgets: Budgets {
                failures: record.map_or(0, |r| r.user_failures),
                max_attempts: spec.max_attempts(),
                interruptions: record.map_or(0, |r| r.system_failures),
                system_retries: self.runtime.system_retries,
            },
            // Every attempt since the node's budgets were last set, earlier runs' included, so
            // that the failure names them all.
            failures: record.map_or_else(Vec::new, |r| r.failures.clone()),
            span: tracing::info_span!(parent: &self.span, "node", execution_id = exec, node_id = id, task = name),
            attempt_span: tracing::Span::none(),
        };
        let span = run.span.clone();
        let _node = span.enter();
        let begun = (|| {
            if let Some(r) = record.filter(|r| r.interrupted) {
                let decision;
                (decision, run.budgets) = self.interrupted(id, r.last_attempt, run.budgets, &mut run.failures)?;
                if decision == Decision::Fail {
                    return Ok(Next::Done(Err(self.node_failed(&mut run))));
                }
            } else if run.budgets.interruptions > run.budgets.system_retries {
                // Preemption notices, recorded as they came, spent the system-failure budget:
                // the node fails now, as it would have after as many crashes.
                return Ok(Next::Done(Err(self.node_failed(&mut run))));
            }
            run.key = spec
                .cache_version()
                .filter(|_| self.store().is_some())
                .map(|v| cache::key(&spec, v, inputs));
            if let (Some(key), CacheMode::Use) = (&run.key, self.runtime.cache) {
                if let Some(outputs) = self.cached(id, name, key)? {
                    return Ok(Next::Done(Ok(outputs)));
                }
            }
            self.next_attempt(&mut run)
        })();
        (run, begun.unwrap_or_else(|e| Next::Done(Err(e))))
    }

    /// Opens the node's next attempt, or fails the node if it has none left or its graph is
    /// stopping.
    fn next_attempt(&self, run: &mut NodeRun<'_>) -> Result<Next, Error> {
        if run.budgets.attempts_left() && run.stop.preempted().is_some() {
            // After a preemption notice no attempt starts; the node goes on when the execution
            // is run again.
            return Ok(Next::Done(Err(self.preempted_error())));
        }
        if !run.budgets.attempts_left() || run.stop.reason().is_some() {
            // Out of attempts, or another node failed while this one was between attempts.
            return Ok(Next::Done(Err(self.node_failed(run))));
        }
        let (exec, id, name) = (self.id.as_str(), run.node.id(), run.spec.name());
        run.attempt += 1;
        let (attempt, max_attempts) = (run.attempt, run.budgets.max_attempts);
        run.attempt_span = tracing::info_span!(parent: &run.span, "attempt", attempt, max_attempts);
        let _attempt = run.attempt_span.clone().entered();
        tracing::debug!(event = "attempt_started", "attempt started");
        self.journal(|s| s.attempt_started(exec, id, name, attempt))?;

        let ids = Ids {
            execution: exec,
            node: id,
            task: name,
            attempt,
            max_attempts,
        };
        let may_exist = attempt > run.first_attempt || self.existing.contains(id);
        let opened = Attempt::open(ids, self.checkpoint_place(id, may_exist), run.stop, run.spec.timeout())?;
        for warning in opened.warnings() {
            tracing::warn!(event = "checkpoint_fallback", warning = %warning, "checkpoint fallback");
            self.journal(|s| s.event(exec, Some(id), Some(attempt), "checkpoint-fallback", warning))?;
        }
        Ok(Next::Attempt(opened))
    }

    /// Records how the node's running attempt ended, and says what follows: the node's end,
    /// or its next attempt.
    fn attempt_ended(&self, run: &mut NodeRun<'_>, ended: Ended) -> Next {
        let span = run.span.clone();
        let _node = span.enter();
        let recorded = run.attempt_span.clone().in_scope(|| self.record_attempt(run, ended));
        let next = match recorded {
            Ok(Ok(outputs)) => Ok(Next::Done(Ok(outputs))),
            Ok(Err(Decision::Retry)) => self.next_attempt(run),
            Ok(Err(Decision::Fail)) => Ok(Next::Done(Err(self.node_failed(run)))),
            Err(e) => Err(e),
        };
        next.unwrap_or_else(|e| Next::Done(Err(e)))
    }

    /// Records the end of the node's running attempt: its outputs if it succeeded, otherwise
    /// whether another attempt follows.
    fn record_attempt(&self, run: &mut NodeRun<'_>, ended: Ended) -> Result<Result<Vec<Encoded>, Decision>, Error> {
        let (exec, id, name) = (self.id.as_str(), run.node.id(), run.spec.name());
        let failure = match retry::classify(ended, run.attempt, name) {
            Verdict::Succeeded(outputs) if run.finish == Finish::Graph => {
                // The body built the graph: recorded, and the node goes on to run it.
                tracing::info!(event = "graph_built", "dynamic body built its graph");
                if let Some(graph) = outputs.first() {
                    self.journal(|s| s.subgraph_built(exec, id, run.attempt, graph))?;
                }
                return Ok(Ok(outputs));
            }
            Verdict::Succeeded(outputs) => {
                tracing::info!(event = "node_succeeded", "node succeeded");
                self.journal(|s| s.node_succeeded(exec, id, name, &outputs, false))?;
                if let (Some(key), Some(version)) = (&run.key, run.spec.cache_version()) {
                    if self.runtime.cache != CacheMode::Bypass {
                        self.journal(|s| s.cache_put(key, name, version, &outputs, exec, id))?;
                    }
                }
                return Ok(Ok(outputs));
            }
            Verdict::Preempted(failure) => return Err(self.attempt_preempted(run, failure)),
            Verdict::Failed(failure) => failure,
            Verdict::Panicked(failure, panic) => {
                tracing::error!(
                    event = "task_panicked",
                    panic = %panic.message,
                    location = panic.location.as_deref(),
                    backtrace = panic.backtrace.as_deref(),
                    "task panicked"
                );
                failure
            }
        };
        let decision;
        (decision, run.budgets) = retry::decide(&failure.kind, run.budgets);
        let will_retry = decision == Decision::Retry;
        tracing::warn!(event = "attempt_failed", kind = ?failure.kind, cause = %failure.cause, will_retry, "attempt failed");
        if let Err(e) = self.journal(|s| s.attempt_failed(exec, id, &failure)) {
            // What ended the attempt comes first; the store's trouble (a full disk, often
            // the same cause) second. The attempt stays recorded as running, so the next
            // run of the execution counts it as interrupted.
            return Err(Error::NotRecorded {
                node: id.to_owned(),
                task: name.to_owned(),
                failure: Box::new(failure),
                source: Box::new(e),
            });
        }
        run.failures.push(failure);
        Ok(Err(decision))
    }

    /// Records the node's running attempt as interrupted by a preemption notice (`failure`), and
    /// returns the error that ends the node for this run. The warden abandoning attempts may
    /// have recorded it first: then it is not recorded twice.
    fn attempt_preempted(&self, run: &mut NodeRun<'_>, failure: AttemptFailure) -> Error {
        let (id, name) = (run.node.id(), run.spec.name());
        tracing::warn!(
            event = "attempt_preempted",
            cause = %failure.cause,
            "attempt interrupted by a preemption notice"
        );
        let recorded = match self.store() {
            Some(store) => match store.interrupt_running(&self.id, Some((id, failure.attempt)), &failure.cause) {
                Ok(recorded) => !recorded.is_empty(),
                Err(e) => {
                    return Error::NotRecorded {
                        node: id.to_owned(),
                        task: name.to_owned(),
                        failure: Box::new(failure),
                        source: Box::new(e),
                    }
                }
            },
            None => true,
        };
        if let (true, Some(registration)) = (recorded, &self.registration) {
            registration.interrupted(id, failure.attempt);
        }
        run.failures.push(failure);
        self.preempted_error()
    }

    /// Records that attempt `attempt` of node `id` was interrupted in an earlier run (the
    /// process running it died), adds it to the node's `failures`, and returns whether the
    /// node may go on, with the system budget charged. The next attempt resumes from the last
    /// committed checkpoint.
    fn interrupted(
        &self,
        id: &str,
        attempt: u32,
        budgets: Budgets,
        failures: &mut Vec<AttemptFailure>,
    ) -> Result<(Decision, Budgets), Error> {
        let exec = self.id.as_str();
        let failure = AttemptFailure {
            attempt,
            kind: FailureKind::Interrupted,
            cause: "the process running this attempt stopped before it finished".to_owned(),
        };
        self.journal(|s| s.attempt_failed(exec, id, &failure))?;
        let (decision, budgets) = retry::decide(&failure.kind, budgets);
        tracing::warn!(
            event = "attempt_interrupted",
            attempt,
            system_failures = budgets.interruptions,
            "attempt interrupted: its process stopped before it finished"
        );
        let message = format!(
            "{} (system failure {} of at most {})",
            failure.cause, budgets.interruptions, budgets.system_retries
        );
        self.journal(|s| s.event(exec, Some(id), Some(attempt), "interrupted", &message))?;
        failures.push(failure);
        Ok((decision, budgets))
    }

    /// The outputs the cache holds under `key` for task `name`, recorded as node `id`'s; a
    /// damaged entry is recorded and taken as a miss.
    fn cached(&self, id: &str, name: &str, key: &str) -> Result<Option<Vec<Encoded>>, Error> {
        let exec = self.id.as_str();
        match self.store().map(|s| s.cache_get(key)).transpose()?.flatten() {
            Some(Ok(outputs)) => {
                tracing::info!(event = "node_cached", cache_hit = true, "outputs taken from the cache");
                self.journal(|s| s.node_succeeded(exec, id, name, &outputs, true))?;
                let message = format!("outputs of `{name}` taken from the cache");
                self.journal(|s| s.event(exec, Some(id), None, "cache-hit", &message))?;
                Ok(Some(outputs))
            }
            Some(Err(damage)) => {
                tracing::warn!(event = "cache_damaged", error = %damage, "cache entry damaged: taken as a miss");
                let message = format!("{damage}: taken as a miss, the task runs");
                self.journal(|s| s.event(exec, Some(id), None, "cache-damaged", &message))?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Where node `id`'s checkpoint lives: in the store, or in the run's directory (flushed
    /// to disk unless the directory is a throwaway temporary one).
    fn checkpoint_place(&self, id: &str, may_exist: bool) -> Place {
        match self.store() {
            Some(store) => Place {
                dir: store.checkpoint_dir(&self.id, id),
                durable: true,
                may_exist,
            },
            None => Place {
                dir: self.dir.join(id),
                durable: self._temp.is_none(),
                may_exist,
            },
        }
    }

    /// Records that the node failed for good, with every attempt's failure.
    fn node_failed(&self, run: &mut NodeRun<'_>) -> Error {
        let (node, max_attempts) = (run.node, run.budgets.max_attempts);
        let attempts = std::mem::take(&mut run.failures);
        tracing::error!(
            event = "node_failed",
            attempts = attempts.len(),
            max_attempts,
            "node failed"
        );
        if let Err(e) = self.journal(|s| s.node_failed(&self.id, node.id())) {
            return e;
        }
        Error::NodeFailed(Box::new(NodeFailure {
            execution: self.id.clone(),
            workflow: node.workflow().to_owned(),
            node: node.id().to_owned(),
            task: node.task_name().to_owned(),
            max_attempts,
            attempts,
        }))
    }
}

/// A node whose attempts are under way: what [`Execution::begin_node`] found and each attempt
/// adds, kept between attempts, so that an attempt may run elsewhere (an async map element's on
/// the executor) while the thread that records them attends to other nodes.
struct NodeRun<'n> {
    node: &'n Node,
    stop: &'n Stop,
    finish: Finish,
    spec: TaskInfo,
    /// The node's cache key, when its task is cached and the runtime has a store.
    key: Option<String>,
    /// The last attempt opened, counting every earlier run of the execution.
    attempt: u32,
    /// The first attempt of this run.
    first_attempt: u32,
    budgets: Budgets,
    failures: Vec<AttemptFailure>,
    span: tracing::Span,
    /// The span of the attempt opened last.
    attempt_span: tracing::Span,
}

impl NodeRun<'_> {
    /// Runs `f` inside the node's span and its current attempt's.
    fn in_spans<R>(&self, f: impl FnOnce() -> R) -> R {
        let _node = self.span.enter();
        self.attempt_span.in_scope(f)
    }
}

/// A map element's result, `None` until it ends (or if it never starts).
type ElementEnd = Option<Result<Vec<Encoded>, Error>>;

/// What a node does next.
enum Next {
    /// Run this attempt, then tell [`Execution::attempt_ended`] how it ended.
    Attempt(Attempt),
    /// Nothing: the node ended.
    Done(Result<Vec<Encoded>, Error>),
}

/// What a node's successful attempt finishes: the node, with its outputs; or, for a dynamic
/// node, the building of its graph, which then runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    Node,
    Graph,
}

/// The case a branch took, once it has decided; `None` before, or if it was skipped itself.
fn taken(outputs: &Outputs, branch: usize) -> Option<usize> {
    let decision = outputs.get(branch)?.as_ref()?.first()?;
    decision.decode::<u64>().ok().and_then(|c| usize::try_from(c).ok())
}

/// A node as messages name it: `node n3 (task `fit`)`.
fn node_name(node: &Node) -> String {
    format!("node {} (task `{}`)", node.id(), node.task_name())
}

/// The failure that failed a map's element: its node's, or for an element that runs a
/// workflow, that of the first of the workflow's nodes to fail (a map inside it: that map's
/// first failed element), named by its full id (`n2-0-n1`). Anything else fails the map.
fn element_failure(e: Error) -> Result<NodeFailure, Error> {
    match e {
        Error::NodeFailed(f) => Ok(*f),
        Error::MapFailed(m) => match m.failures.first() {
            Some((_, f)) => Ok(f.clone()),
            None => Err(Error::MapFailed(m)),
        },
        e => Err(e),
    }
}

/// Unique within the process (a counter) and across processes in practice (time and pid).
pub(crate) fn new_execution_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = EXECUTIONS.fetch_add(1, Ordering::Relaxed);
    format!("x{:x}-{:x}-{n}", nanos & 0xffff_ffff_ffff, std::process::id())
}
