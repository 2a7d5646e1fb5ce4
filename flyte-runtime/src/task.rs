//! The [`Task`] trait that `#[task]` implements, and the type-erased form the executor runs.

use std::time::Duration;

use crate::context::TaskContext;
use crate::error::{AttemptFailure, FailureKind, TaskError};
use crate::value::{Literal, Values};

/// What a task declares about itself: its name and its options.
///
/// Built by `#[task]`; read it through [`Task::spec`].
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
/// assert_eq!(double.spec().name(), "double");
/// assert_eq!(double.spec().retries(), 2);
/// assert_eq!(double.spec().inputs(), ["x"]);
/// assert_eq!(double.spec().cache_version(), None);
/// assert_eq!(triple.spec().cache_version(), Some("1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSpec {
    name: &'static str,
    module: &'static str,
    inputs: &'static [&'static str],
    retries: u32,
    cache_version: Option<&'static str>,
    timeout: Option<Duration>,
}

impl TaskSpec {
    /// A task named `name`, defined in `module`, with the given input names, no retries and no
    /// caching.
    pub const fn new(name: &'static str, module: &'static str, inputs: &'static [&'static str]) -> Self {
        TaskSpec {
            name,
            module,
            inputs,
            retries: 0,
            cache_version: None,
            timeout: None,
        }
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

    /// The cache version if the task's outputs are cached (see [`TaskSpec::with_cache`]); `None`
    /// when caching is off, the default.
    pub fn cache_version(&self) -> Option<&'static str> {
        self.cache_version
    }

    /// How long one attempt may run, if the task has a `timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
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
    fn spec(&self) -> TaskSpec;

    /// Runs one attempt of the task's body.
    fn run(&self, ctx: &TaskContext, input: Self::Input) -> Result<Self::Output, TaskError>;
}

/// A task with its types erased, as the executor holds it.
pub(crate) trait ErasedTask: Send + Sync {
    fn spec(&self) -> TaskSpec;
    fn run_erased(&self, ctx: &TaskContext, inputs: &[Literal]) -> Result<Vec<Literal>, AttemptFailure>;
}

impl<T: Task> ErasedTask for T {
    fn spec(&self) -> TaskSpec {
        Task::spec(self)
    }

    fn run_erased(&self, ctx: &TaskContext, inputs: &[Literal]) -> Result<Vec<Literal>, AttemptFailure> {
        let attempt = ctx.attempt();
        // A value that does not decode or encode now will not on a retry either.
        let boundary = |e: crate::error::ValueError| AttemptFailure {
            attempt,
            kind: FailureKind::NonRecoverable,
            cause: e.to_string(),
        };
        let input = T::Input::decode(inputs).map_err(boundary)?;
        match self.run(ctx, input) {
            Ok(output) => output.encode().map_err(boundary),
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
}
