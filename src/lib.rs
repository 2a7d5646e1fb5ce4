//! Flyte's tasks, workflows and intra-task checkpoints for Rust.
//!
//! A `#[task]` is a function the runtime runs with retries and a checkpoint; a `#[workflow]`
//! wires tasks into a graph whose every edge rustc type-checks; [`LocalRuntime`] executes the
//! graph. When a task fails, its next attempt resumes from the last checkpoint it committed,
//! which is what makes long loops on preemptible machines affordable.
//!
//! ```
//! use flytekit::{task, workflow, Checkpoint, LocalRuntime, TaskError};
//!
//! #[task(retries = 3)]
//! fn count_to(cp: &Checkpoint, n: u64) -> Result<u64, TaskError> {
//!     let start: u64 = cp.load_state()?.unwrap_or(0);
//!     for i in start..n {
//!         if i == 5 && !cp.prev_exists() {
//!             return Err(TaskError::recoverable("preempted")); // the retry resumes at 5
//!         }
//!         cp.save_state(&(i + 1))?;
//!     }
//!     Ok(n)
//! }
//!
//! #[workflow]
//! fn example(n: u64) -> u64 {
//!     count_to(n)
//! }
//!
//! # fn main() -> Result<(), flytekit::Error> {
//! assert_eq!(LocalRuntime::new().run(example, 9)?, 9);
//! # Ok(()) }
//! ```
//!
//! The pieces, each in a module of `flyte-runtime` named for what it holds:
//! [`Checkpoint`] (checkpoint), [`TaskContext`] and [`current_context`] (context),
//! [`TaskError`] and [`Error`] (error), [`Task`] (task), [`Workflow`], [`Graph`] and
//! [`Promise`] (graph), [`LocalRuntime`] (executor), [`Encoded`] (value).
//!
//! Cargo features, off by default: `anyhow` and `eyre` let a task return `anyhow::Result<T>`
//! or `eyre::Result<T>`; `async` lets a task be an `async fn`, run on an executor (tokio) the
//! runtime owns. Without them, none of these crates is compiled.

mod cli;
mod progress;

pub use cli::{main, main_from, Registered};

/// Turns a function into a task: a value of a type named after the function that implements
/// [`Task`], runs with retries and gets its checkpoint injected.
///
/// # Options
///
/// * `retries = N`: retry a failed attempt up to `N` times (`0..=10`, as Flyte caps it), so at
///   most `N + 1` attempts run. Default 0.
/// * `timeout = "30s"`: how long one attempt may run, in any humane syntax (`"500ms"`, `"5m"`,
///   `"1h 30m"`), checked when the crate compiles. An attempt that runs longer is asked to stop
///   (its next checkpoint commit fails, and [`TaskContext::is_stopping`] turns true) and counts
///   as a failure that `retries` retries. Default: no limit.
/// * `cache = true, cache_version = "1"`: cache the outputs, keyed by the task's name, the
///   version and a hash of its serialized inputs; a hit skips the task, across executions when
///   the runtime is durable. Bump the version when the task's behaviour changes. Default off.
///
/// For a Flyte cluster (written into the registration package by `package`, cargo feature
/// `cluster`; the local runtime does not act on them):
///
/// * `interruptible = true`: the task may run on spot or preemptible machines, which the
///   cluster may take away mid-attempt; a checkpointing task resumes where it was. Default false.
/// * `requests(cpu = "1", mem = "2Gi")` and `limits(cpu = "2", mem = "4Gi")`: what each attempt
///   is guaranteed, and the most it may use, as Kubernetes quantities (`"500m"`, `"0.5"`,
///   `"500Mi"`, `"2Gi"`) of `cpu`, `mem`, `gpu` and `ephemeral_storage`, checked when the crate
///   compiles (a request above its limit too). Read them back with [`TaskInfo::requests`] and
///   [`TaskInfo::limits`] ([`Resources`]).
///
/// ```
/// use std::time::Duration;
/// use flytekit::{task, Task};
///
/// #[task(retries = 2, timeout = "1h 30m", cache = true, cache_version = "1")]
/// fn train(epochs: u64) -> u64 {
///     epochs * 10
/// }
///
/// let spec = train.info();
/// assert_eq!(spec.timeout(), Some(Duration::from_secs(90 * 60)));
/// assert_eq!((spec.retries(), spec.cache_version()), (2, Some("1")));
/// ```
///
/// ```
/// use flytekit::{task, Resources, Task};
///
/// #[task(interruptible = true, requests(cpu = "1", mem = "500Mi"), limits(mem = "1Gi"))]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let info = square.info();
/// assert!(info.interruptible());
/// assert_eq!(info.requests(), Resources::new().cpu("1").mem("500Mi"));
/// assert_eq!(info.limits(), Resources::new().mem("1Gi"));
/// ```
///
/// # Signature
///
/// * Inputs and outputs are any types that implement serde's `Serialize` and
///   `Deserialize`: several inputs, none, or one; `-> T`, `-> (A, B)` for several outputs
///   (a workflow destructures them), `-> ()` or nothing for none.
/// * `-> Result<T, E>` makes the task fallible, for any `E: std::error::Error + Send + Sync +
///   'static` (recoverable, so `?` works on io, parse, ... errors), [`TaskError`] or
///   `Box<dyn Error + Send + Sync>`. A return type named `Result` with one argument is fallible
///   too, and rustc finds its error type: `io::Result<T>`, your crate's own `Result<T>` alias,
///   `anyhow::Result<T>` with flytekit's cargo feature `anyhow`, `eyre::Result<T>` with `eyre`.
///   Every error is recoverable unless it is a non-recoverable [`TaskError`]; the attempt's
///   cause is its whole chain of sources. A type alias under another name (`type Out =
///   Result<..>`) is taken as a plain output: name it `Result` or write the `Result` out.
/// * A parameter `&Checkpoint` or `&TaskContext`, in any position, is filled in by the runtime
///   and is not part of the task's interface. At most one per task.
///
/// The function stays callable directly, which is how you unit-test it:
///
/// ```
/// use flytekit::{task, Checkpoint, TaskError};
///
/// #[task(retries = 2)]
/// fn resume_sum(cp: &Checkpoint, upto: u64) -> Result<u64, TaskError> {
///     let (mut i, mut sum): (u64, u64) = cp.load_state()?.unwrap_or((0, 0));
///     while i < upto {
///         i += 1;
///         sum += i;
///         cp.save_state(&(i, sum))?;
///     }
///     Ok(sum)
/// }
///
/// let cp = Checkpoint::temporary()?;
/// assert_eq!(resume_sum(&cp, 4)?, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With `anyhow` (the `anyhow` feature on):
///
/// ```
/// use anyhow::Context;
/// use flytekit::{task, LocalRuntime};
///
/// #[task(retries = 1)]
/// fn shard_size(text: String) -> anyhow::Result<u64> {
///     let n: u64 = text.trim().parse().context("parsing the shard size")?;
///     Ok(n)
/// }
///
/// assert_eq!(LocalRuntime::new().run_task(shard_size, " 12 ".to_string()).unwrap(), 12);
/// let err = LocalRuntime::new().run_task(shard_size, "x".to_string()).unwrap_err();
/// let attempts = &err.node_failure().unwrap().attempts;
/// assert_eq!(attempts.len(), 2); // recoverable: retried once
/// assert_eq!(attempts[1].cause, "parsing the shard size: invalid digit found in string");
/// ```
///
/// # Async tasks
///
/// With flytekit's cargo feature `async`, a task may be an `async fn`, with every option and
/// parameter above. Its attempts run on an executor the runtime owns (tokio, multi-thread, a
/// few workers), a `map` over it runs its elements as futures rather than a thread each, and
/// a `timeout` cancels an attempt by dropping its future. The future must be `Send`; the
/// injected `&Checkpoint` or `&TaskContext` lives across its `.await`s, and checkpoint commits
/// in it do not stall the executor's other tasks. Called directly, it returns its future (boxed),
/// to `.await` in a unit test:
///
/// ```
/// use std::time::Duration;
/// use flytekit::{task, Checkpoint, LocalRuntime, TaskError};
///
/// #[task(retries = 1, timeout = "10s")]
/// async fn download(cp: &Checkpoint, part: u64) -> Result<u64, TaskError> {
///     let done: u64 = cp.load_state()?.unwrap_or(0);
///     tokio::time::sleep(Duration::from_millis(1)).await;
///     cp.save_state(&(done + part))?;
///     Ok(done + part)
/// }
///
/// assert_eq!(LocalRuntime::new().run_task(download, 5).unwrap(), 5);
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let cp = Checkpoint::temporary()?;
/// assert_eq!(download(&cp, 2).await?, 2);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// ```
///
/// Not supported, each a compile error that says what to do: methods, generics,
/// `impl Trait` or borrowed inputs (`&str`: take `String`), more than 12 inputs or outputs,
/// two context parameters, a type that is not serializable, a capitalised name (inside a
/// workflow, capitalised calls such as `Some(..)` are values), an `async fn` without the
/// feature `async` or whose future is not `Send`. Only the signature is read: a
/// syntax error in the body is rustc's own, and after a signature error the task still exists
/// for the workflows that call it, so that the signature's error is the only one.
pub use flyte_macros::task;

/// Turns a function into a workflow: a graph of tasks whose wiring rustc checks.
///
/// The body runs once, when the graph is built, never at execution. Inside it, the parameters
/// and every task output are [`Promise`]s (placeholders): calling a task adds a node and returns
/// placeholders for its outputs. Passing a `Promise<String>` where a task takes a `u64` is a
/// compile error at that argument.
///
/// The body is Rust: values known while the graph is built (literals, constants, loop
/// counters, a `Vec` being filled) behave as in any Rust code, and only placeholders are
/// special. A body may call tasks and workflows anywhere (in loops, closures and iterator
/// chains too), pass placeholders or literals (`5`, `"text"`, `vec![1, 2]`, a constant) as
/// arguments, bind outputs with `let`, and end with the placeholder or tuple of placeholders to
/// return. `let y: u64 = task(x);` is accepted and means `y: Promise<u64>`. What would need a
/// placeholder's value while the graph is built (arithmetic, a method call or a loop over it,
/// `match` on it, formatting it) is a compile error that says where to do it instead.
///
/// # Loops, lists and maps of placeholders, parts of outputs
///
/// A loop over values known now makes as many nodes; a `Vec` of placeholders (from `vec![..]`,
/// an array, `collect()` or `push`), or one that mixes placeholders and literals in `vec![..]`,
/// passes where a `Vec<T>` is expected, and a `HashMap` or `BTreeMap` of placeholders where a
/// map is (Flyte's collection and map bindings). Tuple outputs destructure at any depth, and a
/// placeholder of a list or a map is indexed by a value known now (Flyte's attribute paths).
///
/// ```
/// use std::collections::HashMap;
/// use flytekit::{task, workflow, LocalRuntime, Workflow};
///
/// #[task] fn inc(x: u64) -> u64 { x + 1 }
/// #[task] fn total(xs: Vec<u64>) -> u64 { xs.iter().sum() }
/// #[task] fn weigh(w: HashMap<String, u64>) -> u64 { w.values().sum() }
/// #[task] fn stats(x: u64) -> (u64, (String, Vec<u64>)) { (x, (x.to_string(), vec![x, 2 * x])) }
///
/// #[workflow]
/// fn loops(a: u64) -> u64 {
///     let mut x = inc(a);
///     for _ in 0..3 {
///         x = inc(x); // a chain of four `inc`
///     }
///     let fan: Vec<_> = (0..5).map(|i| inc(i)).collect(); // a fan-out of five
///     let sum = total(fan);
///     let mixed = total(vec![x, sum, 100]);
///     let (n, (label, doubles)) = stats(mixed);
///     let _ = label;
///     weigh(HashMap::from([("n".to_string(), n), ("second".to_string(), doubles[1])]))
/// }
///
/// assert_eq!(loops.graph().unwrap().nodes().len(), 4 + 5 + 3 + 1);
/// // x = 5, sum = 15, mixed = 120: n = 120 and doubles[1] = 240.
/// assert_eq!(LocalRuntime::new().run(loops, 1).unwrap(), 360);
/// ```
///
/// # Branches
///
/// `if` / `else if` / `else` on comparisons of placeholders and literals (`==`, `!=`, `<`,
/// `<=`, `>`, `>=`, joined by `&&` and `||`), or on a `bool` placeholder, is a branch node
/// (Flyte's `BranchNode`): it decides once its operands exist, and only the case taken runs.
/// Every arm yields placeholders of the same types; `else { fail("message") }` fails the run
/// instead (`Error::BranchFailed`); without `else`, the arms yield nothing. An `if` on a value
/// known now is plain Rust.
///
/// ```
/// use flytekit::{task, workflow, Error, LocalRuntime};
///
/// #[task] fn halve(x: u64) -> u64 { x / 2 }
/// #[task] fn is_even(x: u64) -> bool { x % 2 == 0 }
///
/// #[workflow]
/// fn shrink(x: u64) -> u64 {
///     if x > 100 && is_even(x) {
///         halve(x)
///     } else if x > 0 {
///         x
///     } else {
///         fail("nothing to shrink")
///     }
/// }
///
/// let rt = LocalRuntime::new();
/// assert_eq!(rt.run(shrink, 400).unwrap(), 200);
/// assert_eq!(rt.run(shrink, 7).unwrap(), 7);
/// assert!(matches!(rt.run(shrink, 0), Err(Error::BranchFailed { .. })));
/// ```
///
/// # Ordering without data
///
/// `second(..).after(a)` runs `second` after the call that gave `a`, although it takes no data
/// from it (Flyte's `upstream_node_ids`); a call without outputs returns a [`Ran`] for this.
///
/// ```
/// use flytekit::{task, workflow, Workflow};
///
/// #[task] fn create_table(name: String) {}
/// #[task] fn fill_table(name: String) -> u64 { 3 }
///
/// #[workflow]
/// fn load(name: String) -> u64 {
///     let created = create_table(name);
///     fill_table(name).after(created)
/// }
///
/// assert_eq!(load.graph().unwrap().edges(), [(0, 1)]);
/// ```
///
/// A workflow is a value: run it with [`LocalRuntime::run`], inspect it with
/// [`Workflow::graph`], or call it inside another workflow. Called outside a workflow body,
/// it runs: `wf(x)` is `LocalRuntime::new().run(wf, x)`, and returns
/// `Result<Output, flytekit::Error>`, as flytekit users call a workflow to test it.
///
/// ```
/// use flytekit::{task, workflow, LocalRuntime, Workflow};
///
/// #[task]
/// fn split(text: String) -> (String, usize) {
///     let words = text.split_whitespace().count();
///     (text.to_uppercase(), words)
/// }
///
/// #[task]
/// fn describe(upper: String, words: usize, sep: String) -> String {
///     format!("{upper}{sep}{words} words")
/// }
///
/// #[workflow]
/// fn shout(text: String) -> String {
///     let (upper, words) = split(text);
///     describe(upper, words, " / ")
/// }
///
/// #[workflow]
/// fn twice(text: String) -> (String, String) {
///     (shout(text), shout("again"))
/// }
///
/// let out = LocalRuntime::new().run(twice, "hi there".to_string()).unwrap();
/// assert_eq!(out, ("HI THERE / 2 words".to_string(), "AGAIN / 1 words".to_string()));
/// assert_eq!(twice.graph().unwrap().nodes().len(), 4);
///
/// // Called like a function, it runs on a default runtime.
/// assert_eq!(shout("a b c".to_string()).unwrap(), "A B C / 3 words");
/// ```
///
/// # Map
///
/// `map(task, list)` in a body runs `task` once per element of `list` (a `Vec` placeholder or
/// literal), each element as a node of its own with its own retries, checkpoint and cache entry,
/// and gives the `Vec` of outputs in the list's order. A task of several inputs maps over a list
/// of tuples. Options follow as `key = value`, like flytekit's keyword arguments:
/// `concurrency = 4` bounds how many elements run at once (default: the runtime's
/// `max_parallelism`), and `min_success_ratio = 0.9` lets up to a tenth fail, which makes the
/// output a `Vec<Option<T>>` with `None` for each failed element. `map` is recognised by the
/// macro by that name; it is not a function to import.
///
/// A `#[workflow]` maps the same way, with the same options: each element runs the workflow's
/// whole graph, whose nodes are nodes of the execution under the element's id (`n0-1-n0`,
/// `n0-1-n1` for element 1 of map node `n0`), each with its own retries, checkpoint and cache
/// entry.
///
/// ```
/// use flytekit::{task, workflow, LocalRuntime, TaskError};
///
/// #[task(retries = 1)]
/// fn parse(line: String) -> Result<u64, TaskError> {
///     line.trim().parse::<u64>().map_err(TaskError::non_recoverable)
/// }
///
/// #[task]
/// fn total(xs: Vec<Option<u64>>) -> u64 {
///     xs.into_iter().flatten().sum()
/// }
///
/// #[workflow]
/// fn sum_lines(lines: Vec<String>) -> u64 {
///     let parsed = map(parse, lines, concurrency = 2, min_success_ratio = 0.5);
///     total(parsed)
/// }
///
/// let lines = vec!["1".to_string(), "x".to_string(), "40".to_string()];
/// assert_eq!(LocalRuntime::new().run(sum_lines, lines).unwrap(), 41);
/// ```
///
/// # Options
///
/// * `failure_policy = FailAfterExecutableNodesComplete`: once a node has failed for good, run
///   every node that does not depend on it before failing the execution. The default,
///   `FailImmediately`, starts nothing new and asks running nodes to stop. The value is a
///   [`FailurePolicy`] variant, written by name or by path (`FailurePolicy::FailImmediately`).
/// * `on_failure = clean_up`: when the workflow fails, run the `#[task]` `clean_up` on the
///   workflow's inputs, in order, and then a [`WorkflowFailure`] that says what failed. A task
///   with other inputs is a compile error at `on_failure = ..` that shows the signature to
///   write. The execution fails with the workflow's error either way.
///
/// ```
/// use flytekit::{task, workflow, FailurePolicy, LocalRuntime, TaskError, Workflow, WorkflowFailure};
///
/// #[task]
/// fn fetch(url: String) -> Result<String, TaskError> {
///     Err(TaskError::non_recoverable(format!("{url}: not found")))
/// }
///
/// #[task]
/// fn mirror(url: String) -> String {
///     format!("mirror of {url}")
/// }
///
/// #[task]
/// fn clean_up(url: String, failure: WorkflowFailure) {
///     assert_eq!(failure.task.as_deref(), Some("fetch"));
///     eprintln!("cleaning up after {url}: {}", failure.message);
/// }
///
/// // `mirror` still runs after `fetch` fails: it does not depend on it.
/// #[workflow(failure_policy = FailAfterExecutableNodesComplete, on_failure = clean_up)]
/// fn download(url: String) -> (String, String) {
///     (fetch(url), mirror(url))
/// }
///
/// assert_eq!(download.graph().unwrap().failure_policy(), FailurePolicy::FailAfterExecutableNodesComplete);
/// assert!(LocalRuntime::new().run(download, "x".to_string()).is_err());
/// ```
pub use flyte_macros::workflow;

/// Turns a function into a dynamic workflow (flytekit's `@dynamic`): a node whose body runs when
/// the execution reaches it, with its inputs' real values, and builds a graph from them, which
/// runs as part of the execution.
///
/// Inside the body, inputs are values (a `u64`, a `Vec<String>`), so ordinary Rust decides the
/// graph's shape: loop over a run-time list, branch on a count read from data. Calls of tasks
/// and workflows add nodes and return placeholders, as in a `#[workflow]` (every construct of a
/// workflow body works), and the body returns the placeholders of its outputs. It may return
/// `Result<T, E>` (`-> Result<u64, std::io::Error>`, `?` working in it) to fail.
///
/// The graph's nodes are nodes of the execution, under the dynamic node's id (`n2-n0`,
/// `n2-n1`, ...), each with its own retries, checkpoints and cache entry. `#[dynamic(retries =
/// N)]` retries building the graph when the body fails (an error, a panic); a node of the graph
/// that fails fails the dynamic node. A durable execution records the graph a body built: run
/// again, it runs that graph, without running the body again, so a body that reads a clock or a
/// file cannot build a different one. Dynamic nodes nest (a body may call a `#[dynamic]`) up
/// to 16 deep.
///
/// ```
/// use flytekit::{dynamic, task, workflow, LocalRuntime};
///
/// #[task]
/// fn lines(text: String) -> Vec<String> {
///     text.lines().map(str::to_owned).collect()
/// }
///
/// #[task]
/// fn length(line: String) -> u64 {
///     line.len() as u64
/// }
///
/// #[task]
/// fn total(xs: Vec<u64>) -> u64 {
///     xs.iter().sum()
/// }
///
/// // As many `length` nodes as the text has lines: a number known only at run time.
/// #[dynamic(retries = 1)]
/// fn measure(rows: Vec<String>) -> u64 {
///     let lengths: Vec<_> = rows.into_iter().map(|row| length(row)).collect();
///     total(lengths)
/// }
///
/// #[workflow]
/// fn text_length(text: String) -> u64 {
///     measure(lines(text))
/// }
///
/// assert_eq!(LocalRuntime::new().run(text_length, "ab\ncde".to_string()).unwrap(), 5);
/// ```
pub use flyte_macros::dynamic;

pub use flyte_runtime::{
    current_context, flyte_type, output_name, traced, Abandoned, AsyncWriter, AttemptFailure, AttemptReport, Binding,
    Body, BranchSpec, CacheMode, Checkpoint, CheckpointError, Comparison, Condition, DatetimeForm, DurationForm,
    Dynamic, Encoded, Error, Event, ExecutionReport, ExecutionSummary, FailureKind, FailurePolicy, FlyteDirectory,
    FlyteFile, Graph, Interface, InterfaceError, IntoInput, LocalRuntime, MapFailure, MapOptions, Node, NodeFailure,
    NodeReport, Notice, Op, Otherwise, Preempted, Preemption, Promise, Ran, Resources, ResultExt, Slot, Status, Step,
    StopReason, Store, StoreError, SubWorkflowCall, Task, TaskContext, TaskError, TaskFuture, TaskInfo, Type,
    TypeError, Typed, Value, ValueError, Workflow, WorkflowFailure,
};

#[doc(hidden)]
pub use flyte_runtime::__private;

// The README's complete examples compile and run as doctests; its sketches are `ignore`d.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
