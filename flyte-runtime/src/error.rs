//! What can go wrong: inside a task ([`TaskError`]), in a checkpoint ([`CheckpointError`]),
//! while moving values between tasks ([`ValueError`]), and for a whole run ([`Error`]).

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error a task returns: a cause, and whether another attempt may help.
///
/// Errors are **recoverable by default**: any `std::error::Error` converts into a recoverable
/// `TaskError` through `?`, and the runtime retries it while the task has retries left. Mark an
/// error that no retry can fix with [`TaskError::non_recoverable`] or
/// [`ResultExt::non_recoverable`]. This is Flyte 2's default; flytekit 1 retried only
/// `FlyteRecoverableException`, and [`TaskError::recoverable`] is there for code ported from it.
///
/// ```
/// use flytekit::{ResultExt, TaskError};
///
/// fn parse(s: &str) -> Result<u64, TaskError> {
///     if s.is_empty() {
///         return Err(TaskError::non_recoverable("empty input: retrying will not help"));
///     }
///     let n: u64 = s.parse().non_recoverable()?; // a bad number stays bad
///     Ok(n)
/// }
/// assert!(!parse("x").unwrap_err().is_recoverable());
/// assert_eq!(parse("7").unwrap(), 7);
/// ```
pub struct TaskError {
    recoverable: bool,
    cause: BoxError,
}

impl TaskError {
    /// A failure that another attempt may fix (flytekit's `FlyteRecoverableException`).
    pub fn recoverable(cause: impl Into<BoxError>) -> Self {
        TaskError {
            recoverable: true,
            cause: cause.into(),
        }
    }

    /// A failure that no retry can fix: the node fails at once, whatever retries are left.
    pub fn non_recoverable(cause: impl Into<BoxError>) -> Self {
        TaskError {
            recoverable: false,
            cause: cause.into(),
        }
    }

    /// Whether the runtime will retry this error while retries are left.
    pub fn is_recoverable(&self) -> bool {
        self.recoverable
    }

    /// The underlying cause.
    pub fn cause(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.cause
    }
}

// `TaskError` deliberately does not implement `std::error::Error`, as `anyhow::Error` does not:
// that is what lets this blanket conversion make `?` work on every std error.
impl<E: StdError + Send + Sync + 'static> From<E> for TaskError {
    fn from(error: E) -> Self {
        TaskError::recoverable(error)
    }
}

// So that a unit test returning `Result<(), Box<dyn Error>>` can `?` a task's result.
impl From<TaskError> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(error: TaskError) -> Self {
        error.cause
    }
}

impl From<TaskError> for Box<dyn StdError + 'static> {
    fn from(error: TaskError) -> Self {
        error.cause
    }
}

impl fmt::Display for TaskError {
    /// The cause and its sources, `: `-separated. Many errors (this crate's own among them)
    /// already end their message with their source's: that source is not written twice.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.cause.to_string();
        let mut source = self.cause.source();
        while let Some(s) = source {
            let next = s.to_string();
            if !text.ends_with(&next) {
                text.push_str(": ");
                text.push_str(&next);
            }
            source = s.source();
        }
        f.write_str(&text)
    }
}

/// What a task returning a `Result` returns, and its value once the error is a [`TaskError`].
///
/// `#[task]` takes a return type whose last path segment is `Result` as fallible. When it is
/// an alias with one argument (`anyhow::Result<T>`, `io::Result<T>`), the macro cannot see the
/// error type: it goes through this trait with the type as written, and rustc finds it. `M` is
/// [`IntoTaskError`]'s marker, inferred.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result` a task can return",
    label = "named `Result`, but not `core::result::Result`",
    note = "a #[task] whose return type is named `Result` returns `core::result::Result<T, E>` (directly or through an alias such as `io::Result<T>`); return the value itself (`-> T`) for an infallible task"
)]
pub trait TaskResult<M> {
    /// The value the task produces.
    type Ok;
    /// The result with its error converted.
    fn into_task_result(self) -> Result<Self::Ok, TaskError>;
}

impl<T, E: IntoTaskError<M>, M> TaskResult<M> for Result<T, E> {
    type Ok = T;
    fn into_task_result(self) -> Result<T, TaskError> {
        self.map_err(IntoTaskError::into_task_error)
    }
}

/// The conversion of the error of `R`, a `Result<T, _>` written as an alias with one argument
/// (`anyhow::Result<T>`). `#[task]` names `R` and `T` and calls what this returns: with no
/// argument to blame and no projection to normalize, rustc reports a type that is no `Result`,
/// or an error type that does not convert, once, at `R`.
#[doc(hidden)]
pub fn task_result<R: TaskResult<M, Ok = T>, T, M>() -> fn(R) -> Result<T, TaskError> {
    R::into_task_result
}

/// The conversion of `E` in a task's `Result<T, E>`, reported at `E` when there is none.
#[doc(hidden)]
pub fn task_error<E: IntoTaskError<M>, M>() -> fn(E) -> TaskError {
    E::into_task_error
}

/// The error type `E` of a task returning `Result<T, E>`.
///
/// `M` is a marker that keeps the impls apart: `anyhow::Error`, `eyre::Report` and
/// `Box<dyn Error + Send + Sync>` do not convert into `TaskError`, but a blanket impl over
/// `E: Into<TaskError>` beside an impl for one of them is refused by coherence (their crates
/// could add a `std::error::Error` impl later, which would make them convert). With a marker
/// each impl is of its own trait, and for any one error type exactly one of them applies, so
/// rustc infers the marker.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task's error type",
    label = "does not convert into `TaskError`",
    note = "a #[task] may return `Result<T, E>` with `E: std::error::Error + Send + Sync + 'static` (then `?` works on it), `Result<T, TaskError>` (for a message, `TaskError::recoverable(msg)` or `TaskError::non_recoverable(msg)`), `Result<T, Box<dyn Error + Send + Sync>>`, `anyhow::Result<T>` with flytekit's `anyhow` feature, or `eyre::Result<T>` with its `eyre` feature"
)]
pub trait IntoTaskError<M> {
    /// The error as a `TaskError`, recoverable unless it already is a non-recoverable one.
    fn into_task_error(self) -> TaskError;
}

/// Markers of the [`IntoTaskError`] impls.
#[doc(hidden)]
pub mod marker {
    /// Through `Into<TaskError>`: every `std::error::Error + Send + Sync`, and `TaskError`.
    pub enum StdError {}
    pub enum Boxed {}
    #[cfg(feature = "anyhow")]
    pub enum Anyhow {}
    #[cfg(feature = "eyre")]
    pub enum Eyre {}
}

#[diagnostic::do_not_recommend]
impl<E: Into<TaskError>> IntoTaskError<marker::StdError> for E {
    fn into_task_error(self) -> TaskError {
        self.into()
    }
}

#[diagnostic::do_not_recommend]
impl IntoTaskError<marker::Boxed> for BoxError {
    fn into_task_error(self) -> TaskError {
        TaskError::recoverable(self)
    }
}

// anyhow's conversion into a boxed error keeps its chain: `.context(..)` layers are the
// `source()`s that `TaskError`'s `Display` walks.
#[diagnostic::do_not_recommend]
#[cfg(feature = "anyhow")]
impl IntoTaskError<marker::Anyhow> for anyhow::Error {
    fn into_task_error(self) -> TaskError {
        TaskError::recoverable(BoxError::from(self))
    }
}

#[diagnostic::do_not_recommend]
#[cfg(feature = "eyre")]
impl IntoTaskError<marker::Eyre> for eyre::Report {
    fn into_task_error(self) -> TaskError {
        TaskError::recoverable(BoxError::from(self))
    }
}

/// `text` with its control characters (a newline, an escape) written as `\n`, `\u{1b}`, so that
/// a message quoting it stays on one line.
#[doc(hidden)]
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// How many characters of a value a user gave a message echoes.
#[doc(hidden)]
pub const SHOWN_CHARS: usize = 64;

/// `text` as a one-line message quotes it: control characters escaped (see [`escaped`]), and
/// cut after [`SHOWN_CHARS`] characters with an ellipsis and how long it was.
#[doc(hidden)]
pub fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => escaped(text),
        Some((end, _)) => format!("{}… ({} characters)", escaped(&text[..end]), text.chars().count()),
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("recoverable", &self.recoverable)
            .field("cause", &self.cause)
            .finish()
    }
}

/// `.non_recoverable()` on any `Result` whose error converts into a [`TaskError`].
///
/// ```
/// use flytekit::{ResultExt, TaskError};
///
/// fn config(text: &str) -> Result<u32, TaskError> {
///     Ok(text.trim().parse::<u32>().non_recoverable()?)
/// }
/// let err = config("many").unwrap_err();
/// assert!(!err.is_recoverable());
/// assert_eq!(err.to_string(), "invalid digit found in string");
/// ```
pub trait ResultExt<T> {
    /// Marks the error, if any, as one that no retry can fix.
    fn non_recoverable(self) -> Result<T, TaskError>;
}

impl<T, E: Into<TaskError>> ResultExt<T> for Result<T, E> {
    fn non_recoverable(self) -> Result<T, TaskError> {
        self.map_err(|e| {
            let mut e = e.into();
            e.recoverable = false;
            e
        })
    }
}

/// How one attempt of a task ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The task returned an error that may be retried.
    Recoverable,
    /// The task returned an error marked non-recoverable, or its inputs or outputs could not be
    /// moved across the task boundary.
    NonRecoverable,
    /// The task panicked; panics are never retried.
    Panic,
    /// The process running the attempt died (it was killed, or the machine went away); this
    /// counts against the runtime's system-failure budget, not the task's retries.
    Interrupted,
    /// The attempt ran past its task's `timeout`; it is retried like a recoverable error.
    TimedOut,
    /// The attempt was asked to stop because another node failed; it is not retried.
    Stopped,
}

/// One failed attempt: its number (1-based), how it failed, and the cause as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Recoverable, non-recoverable or panic.
    pub kind: FailureKind,
    /// The error's or the panic's message.
    pub cause: String,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FailureKind::Recoverable => "recoverable error",
            FailureKind::NonRecoverable => "non-recoverable error",
            FailureKind::Panic => "panic",
            FailureKind::Interrupted => "interrupted",
            FailureKind::TimedOut => "timed out",
            FailureKind::Stopped => "stopped",
        };
        write!(f, "attempt {}: {kind}: {}", self.attempt, self.cause)
    }
}

/// Why a workflow failed, as its `on_failure` task receives it (its last input).
///
/// ```
/// use flytekit::{task, workflow, LocalRuntime, TaskError, WorkflowFailure};
///
/// #[task]
/// fn fetch(url: String) -> Result<String, TaskError> {
///     Err(TaskError::non_recoverable(format!("{url}: not found")))
/// }
///
/// #[task]
/// fn clean_up(url: String, failure: WorkflowFailure) {
///     assert_eq!(failure.task.as_deref(), Some("fetch"));
///     eprintln!("cleaning up after {url}: {}", failure.message);
/// }
///
/// #[workflow(on_failure = clean_up)]
/// fn download(url: String) -> String {
///     fetch(url)
/// }
///
/// assert!(LocalRuntime::new().run(download, "x".to_string()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkflowFailure {
    /// The execution's id.
    pub execution: String,
    /// The workflow's name.
    pub workflow: String,
    /// The node that failed, when a node did.
    pub node: Option<String>,
    /// Its task's name.
    pub task: Option<String>,
    /// The error, in words (as the run returns it).
    pub message: String,
}

impl WorkflowFailure {
    pub(crate) fn new(execution: &str, workflow: &str, error: &Error) -> Self {
        let (node, task) = match error {
            Error::NodeFailed(f) => (Some(f.node.clone()), Some(f.task.clone())),
            Error::MapFailed(f) => (Some(f.node.clone()), Some(f.task.clone())),
            Error::BranchFailed { node, .. } => (Some(node.clone()), Some("branch".to_owned())),
            _ => (None, None),
        };
        WorkflowFailure {
            execution: execution.to_owned(),
            workflow: workflow.to_owned(),
            node,
            task,
            message: error.to_string(),
        }
    }
}

/// A node that failed for good: where, and every attempt's cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The execution's id: run it again with this id to retry the failed node.
    pub execution: String,
    /// The workflow that called the task, as a path when it is a sub-workflow (`outer/inner`);
    /// the task's own name for [`run_task`](crate::LocalRuntime::run_task).
    pub workflow: String,
    /// The node's id in the graph, such as `n0`.
    pub node: String,
    /// The task's name.
    pub task: String,
    /// How many attempts the task was allowed (`retries + 1`).
    pub max_attempts: u32,
    /// Every attempt that was made, in order.
    pub attempts: Vec<AttemptFailure>,
}

impl fmt::Display for NodeFailure {
    /// Counts what the sentence says: attempts against the task's retries, interruptions
    /// (which do not count against them) apart, across resumes of the execution.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interrupted = self
            .attempts
            .iter()
            .filter(|a| a.kind == FailureKind::Interrupted)
            .count();
        let counted = self.attempts.len() - interrupted;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "workflow `{}` failed (execution {}): node {} (task `{}`) ",
            self.workflow, self.execution, self.node, self.task
        )?;
        if self.attempts.last().is_some_and(|a| a.kind == FailureKind::Interrupted) {
            write!(
                f,
                "was interrupted {interrupted} time{}, more than its system-failure budget allows",
                plural(interrupted)
            )?;
            if counted > 0 {
                write!(f, " (and {counted} of {} attempts failed)", self.max_attempts)?;
            }
        } else {
            let max = self.max_attempts;
            write!(f, "failed after {counted} of {max} attempt{}", plural(max as usize))?;
            if interrupted > 0 {
                write!(
                    f,
                    " (and {interrupted} interrupted attempt{}, which do not count against retries)",
                    plural(interrupted)
                )?;
            }
        }
        if let Some(first) = self.attempts.first().filter(|a| a.attempt > 1) {
            write!(
                f,
                ", counting from attempt {}: the execution was run again after it failed",
                first.attempt
            )?;
        }
        for attempt in &self.attempts {
            write!(f, "; {attempt}")?;
        }
        Ok(())
    }
}

/// A `map(..)` node whose elements failed more than its `min_success_ratio` allows.
#[derive(Debug, Clone, PartialEq)]
pub struct MapFailure {
    /// The execution's id: run it again with this id to retry the failed elements.
    pub execution: String,
    /// The workflow that called the map.
    pub workflow: String,
    /// The map node's id; element `i` runs as node `<node>-<i>`.
    pub node: String,
    /// The mapped task's name.
    pub task: String,
    /// How many elements the list had.
    pub elements: usize,
    /// How many of them succeeded.
    pub succeeded: usize,
    /// The share that had to succeed.
    pub min_success_ratio: f64,
    /// Each failed element's index and failure, in index order. Elements not started because
    /// the ratio could no longer be met are not listed.
    pub failures: Vec<(usize, NodeFailure)>,
}

impl fmt::Display for MapFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "workflow `{}` failed (execution {}): map node {} (task `{}`) failed: {} of {} elements succeeded, \
             below its min_success_ratio of {}",
            self.workflow, self.execution, self.node, self.task, self.succeeded, self.elements, self.min_success_ratio,
        )?;
        for (i, failure) in &self.failures {
            write!(f, "; element {i} (node {})", failure.node)?;
            for (k, attempt) in failure.attempts.iter().enumerate() {
                write!(f, "{} {attempt}", if k == 0 { ":" } else { ";" })?;
            }
        }
        Ok(())
    }
}

/// An execution that a preemption notice ended: which, by what, the attempts it interrupted,
/// and how to resume it. Its message is one line:
///
/// ```text
/// execution p1 stopped by SIGTERM: interrupted n2 attempt 3; resume it with `pipeline --store /tmp/fk resume p1`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preempted {
    /// The execution's id.
    pub execution: String,
    /// What raised the notice.
    pub notice: crate::Notice,
    /// The attempts recorded as interrupted by the notice: node id and attempt number.
    pub interrupted: Vec<(String, u32)>,
    /// Set when attempts still running were abandoned, and why. The process then ends with
    /// this message on stderr: no program sees it as an error.
    pub abandoned: Option<crate::Abandoned>,
    /// What the message says about resuming, after `; `: ``resume it with `<command>` `` when the
    /// runtime knows the command ([`LocalRuntime::resume_command`](crate::LocalRuntime::resume_command)).
    pub how_to_resume: String,
}

impl fmt::Display for Preempted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "execution {} stopped by {}: ", self.execution, self.notice)?;
        if self.interrupted.is_empty() {
            f.write_str("no attempt was running")?;
        } else {
            f.write_str("interrupted ")?;
            for (i, (node, attempt)) in self.interrupted.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{node} attempt {attempt}")?;
            }
        }
        if let Some(why) = &self.abandoned {
            write!(f, " (abandoned: {why})")?;
        }
        write!(f, "; {}", self.how_to_resume)
    }
}

/// A checkpoint operation that failed, with the path it was working on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file system refused an operation.
    #[error("checkpoint {op} failed for {}: {source}", path.display())]
    Io {
        /// What was being done: `write`, `read`, `save`, `restore`, ...
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `read()` found a checkpoint saved from a directory of several files.
    #[error("checkpoint {} holds a directory, not bytes: use `restore(dir)` to get it back", path.display())]
    NotBytes {
        /// The checkpoint's directory.
        path: PathBuf,
    },
    /// `load_state` or `save_state` could not (de)serialize the state.
    #[error("checkpoint {} could not be used as `{type_name}`: {message}", path.display())]
    State {
        /// The checkpoint (or, when saving, its directory).
        path: PathBuf,
        /// The Rust type asked for.
        type_name: &'static str,
        /// What the codec said.
        message: String,
    },
    /// A committed checkpoint failed its checksum: it was damaged after it was written.
    #[error("checkpoint {} is corrupted: {reason}", path.display())]
    Corrupt {
        /// The damaged file or directory.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },
    /// The attempt was asked to stop (it timed out, or the execution is failing), so the
    /// commit was refused. Returning this error (with `?`) ends the attempt.
    #[error("checkpoint {} not committed: {reason}", path.display())]
    Stopped {
        /// The checkpoint's directory.
        path: PathBuf,
        /// Why the attempt must stop.
        reason: crate::StopReason,
    },
    /// `save(path)` was given something that is neither a file nor a directory.
    #[error("cannot save {} as a checkpoint: it is not a file or a directory", path.display())]
    NotSaveable {
        /// The path given to `save`.
        path: PathBuf,
    },
    /// `restore(dir)` was given a target it does not write into: one that exists and is not an
    /// empty directory, or that is a symbolic link.
    #[error(
        "cannot restore a checkpoint into {}: it is {found}; restore into an empty or missing directory",
        path.display()
    )]
    RestoreTarget {
        /// The directory given to `restore`.
        path: PathBuf,
        /// What is there: `a directory that is not empty`, `a symbolic link` or `not a directory`.
        found: &'static str,
    },
    /// `save(path)` met an entry that a checkpoint cannot hold as it is.
    #[error("cannot save {} in a checkpoint: {reason}", path.display())]
    UnsupportedEntry {
        /// The entry.
        path: PathBuf,
        /// Why it cannot be kept.
        reason: &'static str,
    },
}

/// A value that could not cross a task boundary (serialization failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {op} a value of type `{type_name}`: {message}")]
pub struct ValueError {
    pub(crate) op: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) message: String,
}

/// Everything that can make a run, or a call into the runtime, fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A node failed and had no retries left (or failed in a way that is not retried).
    #[error("{0}")]
    NodeFailed(Box<NodeFailure>),
    /// Too many elements of a `map(..)` node failed.
    #[error("{0}")]
    MapFailed(Box<MapFailure>),
    /// `current_context()` was called outside a running task.
    #[error("flytekit::current_context() was called outside a running task: it only works on the thread running a task's attempt; pass `&TaskContext` as a parameter instead if you need it elsewhere")]
    NoContext,
    /// A workflow's inputs, outputs or literals could not be (de)serialized.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A file or directory of the execution (its directory, its lock) could not be prepared.
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A node's inputs (or the workflow's outputs) could not be assembled from what they are
    /// bound to: a part of a value that is not there, such as `xs[5]` of a list of 3.
    #[error("workflow `{workflow}` failed (execution {execution}): {whom} cannot be given its inputs: {message}")]
    Input {
        /// The execution's id.
        execution: String,
        /// The workflow.
        workflow: String,
        /// The node (`node n3 (task `fit`)`), or `its outputs`.
        whom: String,
        /// What is missing.
        message: String,
    },
    /// A branch took its `else`, which fails the run (`else { fail("..") }`).
    #[error("workflow `{workflow}` failed (execution {execution}): branch {node} took its `else`, which fails the run: {message}")]
    BranchFailed {
        /// The execution's id.
        execution: String,
        /// The workflow (a path for a sub-workflow).
        workflow: String,
        /// The branch node's id.
        node: String,
        /// The message given to `fail`.
        message: String,
    },
    /// A workflow's body built a graph that cannot run: a node reads the result of a node inside
    /// a branch's case from outside that case.
    #[error("workflow `{workflow}` cannot run: {message}")]
    Graph {
        /// The workflow.
        workflow: String,
        /// What is wrong, naming the nodes.
        message: String,
    },
    /// A checkpoint could not be opened for an attempt.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The store's database could not be opened, read or written.
    #[error("store {}: {source}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        source: StoreError,
    },
    /// An attempt ended, and the store could not record it (the disk is full, say). The
    /// attempt's own end comes first: it is often the same cause, seen where it happened.
    #[error("node {node} (task `{task}`), {failure}; and the store could not record it: {source}")]
    NotRecorded {
        /// The node's id.
        node: String,
        /// Its task.
        task: String,
        /// How the attempt ended.
        failure: Box<AttemptFailure>,
        /// Why the store could not record it.
        source: Box<Error>,
    },
    /// A preemption notice (SIGTERM, SIGINT, [`Preemption::notify`](crate::Preemption::notify))
    /// ended the execution before it finished: nothing new started, its running attempts
    /// returned and were recorded as interrupted, and it resumes when run again. Not a failure
    /// of the workflow: its status in the store is `interrupted`.
    #[error("{0}")]
    Preempted(Box<Preempted>),
    /// SIGTERM and SIGINT could not be listened for
    /// ([`LocalRuntime::handle_signals`](crate::LocalRuntime::handle_signals)).
    #[error("cannot listen for SIGTERM and SIGINT: {message}")]
    Signals {
        /// What the operating system said.
        message: String,
    },
    /// Another process is running this execution.
    #[error("execution `{id}` is already running ({holder}): wait for it to finish, or stop it and run again with the same id to resume")]
    ExecutionBusy {
        /// The execution id.
        id: String,
        /// Who holds it, as it wrote into the lock file (`process 1234`).
        holder: String,
    },
    /// An execution id that cannot name a directory.
    #[error(
        "invalid execution id `{}`: use 1 to 128 ASCII letters, digits, `-`, `_` or `.`, not starting with `.`",
        shown(id)
    )]
    InvalidExecutionId {
        /// The id given.
        id: String,
    },
    /// An execution id was reused for another workflow or other inputs.
    #[error("execution id `{id}` already belongs to {what}: resume it with the same workflow and inputs, or choose a new id")]
    ExecutionMismatch {
        /// The execution id.
        id: String,
        /// What differs.
        what: String,
    },
}

/// Why the store's database failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused (a corrupted file reads as "file is not a database").
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The store's directory could not be created.
    #[error(transparent)]
    Io(std::io::Error),
    /// The database was written by a newer flytekit.
    #[error("the database has schema version {0}, newer than this flytekit understands: upgrade flytekit")]
    Schema(i64),
    /// A value read back from the database is not what flytekit wrote: it was damaged on
    /// disk. It is never used.
    #[error("{place}: {problem}")]
    Damaged {
        /// The row: `execution `x`, node n1`, a cache entry, ...
        place: String,
        /// What is wrong with it: `stored outputs fail their checksum: ...`.
        problem: String,
    },
}

impl Error {
    /// The failed node, when this is [`Error::NodeFailed`].
    pub fn node_failure(&self) -> Option<&NodeFailure> {
        match self {
            Error::NodeFailed(failure) => Some(failure),
            _ => None,
        }
    }
}
