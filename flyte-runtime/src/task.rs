//! The [`Task`] trait that `#[task]` implements, and the type-erased form the executor runs.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::context::TaskContext;
use crate::error::{AttemptFailure, FailureKind, TaskError};
use crate::interface::{Describer, Interface, InterfaceError};
use crate::value::{Encoded, Values};

/// What a task declares about itself: its name and its options.
///
/// Built by `#[task]`; read it through [`Task::info`].
///
/// ```
/// use flytekit::{task, Task};
///
/// #[task(retries = 2)]
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// #[task(cache = true, cache_version = "1")]
/// fn triple(x: u64) -> u64 {
///     x * 3
/// }
///
/// assert_eq!(double.info().name(), "double");
/// assert_eq!(double.info().retries(), 2);
/// assert_eq!(double.info().inputs(), ["x"]);
/// assert_eq!(double.info().cache_version(), None);
/// assert_eq!(triple.info().cache_version(), Some("1"));
/// assert!(!double.info().is_async());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskInfo {
    name: &'static str,
    module: &'static str,
    inputs: &'static [&'static str],
    retries: u32,
    cache_version: Option<&'static str>,
    timeout: Option<Duration>,
    asynchronous: bool,
    interruptible: bool,
    requests: Resources,
    limits: Resources,
    docs: &'static str,
}

/// Compute resources a task asks for, as Kubernetes quantities (`"1"`, `"500m"`, `"2Gi"`):
/// what `#[task(requests(..), limits(..))]` writes, and what a Flyte cluster gives the task's
/// container. The local runtime does not enforce them.
///
/// ```
/// use flytekit::{task, Resources, Task};
///
/// #[task(requests(cpu = "1", mem = "500Mi"), limits(cpu = "2", mem = "1Gi"))]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// assert_eq!(square.info().requests(), Resources::new().cpu("1").mem("500Mi"));
/// assert_eq!(square.info().limits().mem, Some("1Gi"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    /// CPU cores: `"1"`, `"0.5"`, `"500m"`.
    pub cpu: Option<&'static str>,
    /// Memory: `"500Mi"`, `"2Gi"`.
    pub mem: Option<&'static str>,
    /// GPUs: `"1"`.
    pub gpu: Option<&'static str>,
    /// Local disk: `"10Gi"`.
    pub ephemeral_storage: Option<&'static str>,
}

impl Resources {
    /// No resource named.
    pub const fn new() -> Self {
        Resources {
            cpu: None,
            mem: None,
            gpu: None,
            ephemeral_storage: None,
        }
    }

    /// With `cpu` cores.
    pub const fn cpu(mut self, quantity: &'static str) -> Self {
        self.cpu = Some(quantity);
        self
    }

    /// With `mem` of memory.
    pub const fn mem(mut self, quantity: &'static str) -> Self {
        self.mem = Some(quantity);
        self
    }

    /// With `gpu` GPUs.
    pub const fn gpu(mut self, quantity: &'static str) -> Self {
        self.gpu = Some(quantity);
        self
    }

    /// With `quantity` of local disk.
    pub const fn ephemeral_storage(mut self, quantity: &'static str) -> Self {
        self.ephemeral_storage = Some(quantity);
        self
    }

    /// Whether no resource is named.
    pub const fn is_empty(&self) -> bool {
        self.cpu.is_none() && self.mem.is_none() && self.gpu.is_none() && self.ephemeral_storage.is_none()
    }
}

impl TaskInfo {
    /// A task named `name`, defined in `module`, with the given input names, no retries and no
    /// caching.
    pub const fn new(name: &'static str, module: &'static str, inputs: &'static [&'static str]) -> Self {
        TaskInfo {
            name,
            module,
            inputs,
            retries: 0,
            cache_version: None,
            timeout: None,
            asynchronous: false,
            interruptible: false,
            requests: Resources::new(),
            limits: Resources::new(),
            docs: "",
        }
    }

    /// The function's documentation (its `///` comments, one line each), which a Flyte package
    /// writes as the task's description. `#[task]` calls this.
    pub const fn with_docs(mut self, docs: &'static str) -> Self {
        self.docs = docs;
        self
    }

    /// Marks the task as able to run on machines that may be taken away (spot or preemptible
    /// instances): Flyte schedules it there and retries it elsewhere when they are, which is
    /// what intra-task checkpoints are for. `#[task(interruptible = true)]` calls this.
    pub const fn with_interruptible(mut self) -> Self {
        self.interruptible = true;
        self
    }

    /// The resources each attempt is guaranteed on a cluster. `#[task(requests(..))]` calls this.
    pub const fn with_requests(mut self, requests: Resources) -> Self {
        self.requests = requests;
        self
    }

    /// The most each attempt may use on a cluster. `#[task(limits(..))]` calls this.
    pub const fn with_limits(mut self, limits: Resources) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how many times a failed attempt is retried.
    pub const fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Turns output caching on, under `version`: a run of the task whose name, version and
    /// serialized inputs match an earlier successful one reuses its outputs instead of running.
    ///
    /// The version is part of the cache key: bump it when the task's behaviour changes, so that
    /// outputs of the old code are not reused. `#[task(cache = true, cache_version = "1")]` calls
    /// this, and refuses an empty version.
    pub const fn with_cache(mut self, version: &'static str) -> Self {
        self.cache_version = Some(version);
        self
    }

    /// Bounds each attempt to `timeout`; an attempt that runs longer is a retryable failure
    /// (how a running attempt is stopped: [`TaskContext::is_stopping`]).
    /// `#[task(timeout = "30s")]` calls this.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Marks the task as an `async fn`, whose attempts are futures ([`Body::Future`]): the
    /// runtime runs them on its executor, and runs a map of them as futures rather than one
    /// thread per element. `#[task]` calls this on an `async fn`.
    pub const fn with_async(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// The function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The module that defines the task (`module_path!()`).
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// The names of the inputs, in order, without the context parameter.
    pub fn inputs(&self) -> &'static [&'static str] {
        self.inputs
    }

    /// How many times a failed attempt is retried: at most `retries + 1` attempts run.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `retries + 1`.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The cache version if the task's outputs are cached (see [`TaskInfo::with_cache`]); `None`
    /// when caching is off, the default.
    pub fn cache_version(&self) -> Option<&'static str> {
        self.cache_version
    }

    /// How long one attempt may run, if the task has a `timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the task is an `async fn` (see [`TaskInfo::with_async`]).
    pub fn is_async(&self) -> bool {
        self.asynchronous
    }

    /// Whether the task may run on interruptible machines (see [`TaskInfo::with_interruptible`]).
    pub fn interruptible(&self) -> bool {
        self.interruptible
    }

    /// The function's documentation, `""` when it has none (see [`TaskInfo::with_docs`]).
    pub fn docs(&self) -> &'static str {
        self.docs
    }

    /// The resources the task requests on a cluster (see [`Resources`]).
    pub fn requests(&self) -> Resources {
        self.requests
    }

    /// The resource limits of the task on a cluster (see [`Resources`]).
    pub fn limits(&self) -> Resources {
        self.limits
    }
}

/// One attempt of a task's body, as [`Task::run`] returns it.
///
/// A synchronous task's body has run by the time `run` returns; an `async fn` task's has not
/// started: `run` returns its future, which the runtime polls on its executor (cargo feature
/// `async`), with the attempt's context as [`current_context`](crate::current_context) at
/// every poll, and drops at the attempt's deadline.
///
/// ```
/// use flytekit::{task, Body, Checkpoint, Task, TaskContext};
///
/// #[task]
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// #[task]
/// async fn triple(x: u64) -> u64 {
///     x * 3
/// }
///
/// let ctx = TaskContext::detached(Checkpoint::temporary()?);
/// assert!(matches!(double.run(&ctx, 2), Body::Done(Ok(4))));
///
/// // Nothing of `triple` has run yet: its attempt is a future, for an executor to poll.
/// let Body::Future(attempt) = triple.run(&ctx, 2) else { unreachable!() };
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// assert_eq!(runtime.block_on(attempt)?, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum Body<T> {
    /// A synchronous task's attempt, which ran to its end.
    Done(Result<T, TaskError>),
    /// An `async fn` task's attempt, not polled yet.
    Future(TaskFuture<T>),
}

/// An `async fn` task's attempt: a future that owns what it needs (its inputs, a clone of its
/// [`TaskContext`]), so that it can move between the executor's threads and outlive the call
/// that made it.
pub type TaskFuture<T> = Pin<Box<dyn Future<Output = Result<T, TaskError>> + Send + 'static>>;

impl<T> std::fmt::Debug for Body<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Done(result) => f.debug_tuple("Done").field(&result.as_ref().map(|_| "..")).finish(),
            Body::Future(_) => f.write_str("Future(..)"),
        }
    }
}

/// A unit of work with typed inputs and outputs, retried by the runtime.
///
/// `#[task]` implements this for you on a type named after the function; you do not implement
/// it by hand. The type also dereferences to the function, so the task stays callable directly.
///
/// ```
/// use flytekit::{task, LocalRuntime, Task};
///
/// #[task]
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
///
/// assert_eq!(add(2, 3), 5); // a plain call, as in a unit test
/// let out = LocalRuntime::new().run_task(add, (2, 3)).unwrap(); // through the runtime
/// assert_eq!(out, 5);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[task]",
    label = "expected a #[task]",
    note = "put #[task] on the function to make it a task"
)]
pub trait Task: Send + Sync + 'static {
    /// The inputs, without the context parameter: `()`, a single type, or a tuple.
    type Input: Values<Self::InputShape>;
    /// The output: `()`, a single type, or a tuple of several outputs.
    type Output: Values<Self::OutputShape>;
    #[doc(hidden)]
    type InputShape;
    #[doc(hidden)]
    type OutputShape;

    /// The task's name and options.
    fn info(&self) -> TaskInfo;

    /// The task's inputs and outputs with their Flyte types (see [`Interface`]). Each type is
    /// described when this is called, not before: an error names the input or output whose
    /// type has no Flyte type.
    ///
    /// `#[task]` describes each type through its [`Typed`](crate::Typed) impl if it has one,
    /// otherwise by tracing it. This default, for an impl written by hand, traces every type
    /// (so a `chrono::DateTime` is a string to it) and takes the input names from
    /// [`TaskInfo::inputs`].
    ///
    /// ```
    /// use flytekit::{task, Task, Type};
    ///
    /// #[task]
    /// fn split(text: String) -> (Vec<String>, u64) {
    ///     let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    ///     let n = words.len() as u64;
    ///     (words, n)
    /// }
    ///
    /// let interface = split.interface()?;
    /// assert_eq!(interface.inputs, [("text".to_string(), Type::Str)]);
    /// assert_eq!(interface.output("o0"), Some(&Type::Collection(Box::new(Type::Str))));
    /// assert_eq!(interface.output("o1"), Some(&Type::Integer));
    /// # Ok::<(), flytekit::InterfaceError>(())
    /// ```
    fn interface(&self) -> Result<Interface, InterfaceError> {
        let info = self.info();
        let inputs: Vec<(&str, Describer)> = info.inputs().iter().copied().zip(Self::Input::describers()).collect();
        crate::interface::interface("task", info.module(), info.name(), &inputs, &Self::Output::describers())
    }

    /// Runs one attempt of the task's body: a synchronous task's to its end, an `async fn`
    /// task's as far as making its future (see [`Body`]).
    fn run(&self, ctx: &TaskContext, input: Self::Input) -> Body<Self::Output>;
}

/// A task with its types erased, as the executor holds it.
pub(crate) trait ErasedTask: Send + Sync {
    fn info(&self) -> TaskInfo;
    /// The typed interface; none for the runtime's own nodes (a branch), which run no task.
    fn interface(&self) -> Result<Interface, InterfaceError> {
        Ok(Interface {
            inputs: Vec::new(),
            outputs: Vec::new(),
        })
    }
    /// Runs the task's code on `inputs`, which it owns so that they are freed once decoded,
    /// before the body runs (a large input is not held as both its bytes and its value).
    fn run_erased(&self, ctx: &TaskContext, inputs: Vec<Encoded>) -> Started;
}

/// An attempt once its task's code was called, its types erased: [`Body`] for the executor.
pub(crate) enum Started {
    /// A synchronous body ran, with this result.
    Done(Result<Vec<Encoded>, AttemptFailure>),
    /// An `async fn` body's future, not polled yet.
    Future(ErasedFuture),
}

/// An `async fn` task's attempt, ending in its encoded outputs.
pub(crate) type ErasedFuture = Pin<Box<dyn Future<Output = Result<Vec<Encoded>, AttemptFailure>> + Send + 'static>>;

impl From<Result<Vec<Encoded>, AttemptFailure>> for Started {
    fn from(result: Result<Vec<Encoded>, AttemptFailure>) -> Self {
        Started::Done(result)
    }
}

impl<T: Task> ErasedTask for T {
    fn info(&self) -> TaskInfo {
        Task::info(self)
    }

    fn interface(&self) -> Result<Interface, InterfaceError> {
        Task::interface(self)
    }

    fn run_erased(&self, ctx: &TaskContext, inputs: Vec<Encoded>) -> Started {
        let attempt = ctx.attempt();
        // Taken, so that each input's bytes are freed as they are decoded (all of them before
        // the body runs).
        let input = match T::Input::decode_owned(inputs) {
            Ok(input) => input,
            Err(e) => return Started::Done(Err(boundary(attempt, e))),
        };
        let typed = ctx.typed_outputs();
        match self.run(ctx, input) {
            Body::Done(result) => Started::Done(erase(attempt, typed, result)),
            Body::Future(future) => Started::Future(Box::pin(async move { erase(attempt, typed, future.await) })),
        }
    }
}

/// A value that does not decode or encode now will not on a retry either.
fn boundary(attempt: u32, e: crate::error::ValueError) -> AttemptFailure {
    AttemptFailure {
        attempt,
        kind: FailureKind::NonRecoverable,
        cause: e.to_string(),
    }
}

/// What attempt `attempt` returned, encoded (or, `typed`, kept unserialized once checked to
/// serialize), or its error as an attempt's failure.
fn erase<O: Values<S>, S>(
    attempt: u32,
    typed: bool,
    result: Result<O, TaskError>,
) -> Result<Vec<Encoded>, AttemptFailure> {
    match result {
        Ok(output) if typed => output.encode_typed().map_err(|e| boundary(attempt, e)),
        Ok(output) => output.encode().map_err(|e| boundary(attempt, e)),
        Err(e) => Err(AttemptFailure {
            attempt,
            kind: if e.is_recoverable() {
                FailureKind::Recoverable
            } else {
                FailureKind::NonRecoverable
            },
            cause: e.to_string(),
        }),
    }
}
