//! Dynamic workflows (flytekit's `@dynamic`): a node whose body runs when the execution reaches
//! it, on its real input values, and builds a graph from them, which the execution then runs
//! as part of itself, under the node's id (`n2-n0`, `n2-n1`, ...).
//!
//! `#[dynamic]` implements [`Dynamic`]. Building the graph is the node's attempt: a body that
//! fails (returns an error, panics) is retried like a task; a node of the graph that fails
//! fails the dynamic node, as a workflow's node fails its workflow. A durable execution records
//! the graph a body built ([`crate::record`]), and a resumed execution runs that graph again
//! instead of building a new one.

use std::sync::{Arc, Mutex};

use crate::binding::Binding;
use crate::context::TaskContext;
use crate::error::{AttemptFailure, Error, FailureKind, TaskError};
use crate::graph::{Graph, Placeholders, Runs, Scope};
use crate::interface::{Describer, Interface, InterfaceError};
use crate::record::GraphRecord;
use crate::task::ErasedTask;
use crate::task::Started;
use crate::task::TaskInfo;
use crate::value::{Encoded, Values};

/// How deep dynamic nodes may nest (a dynamic body calling a dynamic task, ...).
pub(crate) const MAX_DEPTH: usize = 16;

/// A node whose body builds a graph at run time. `#[dynamic]` implements it for you.
///
/// ```
/// use flytekit::{dynamic, task, workflow, LocalRuntime};
///
/// #[task]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[task]
/// fn total(xs: Vec<u64>) -> u64 { xs.iter().sum() }
///
/// // `n` is a real `u64` here: the body runs when the execution reaches the node.
/// #[dynamic]
/// fn squares(n: u64) -> u64 {
///     let parts: Vec<_> = (0..n).map(|i| square(i)).collect();
///     total(parts)
/// }
///
/// #[task]
/// fn count(text: String) -> u64 { text.split_whitespace().count() as u64 }
///
/// #[workflow]
/// fn words_squared(text: String) -> u64 {
///     squares(count(text))
/// }
///
/// assert_eq!(LocalRuntime::new().run(words_squared, "a b c".to_string()).unwrap(), 0 + 1 + 4);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[dynamic] workflow",
    label = "expected a #[dynamic] workflow",
    note = "put #[dynamic] on the function whose body builds a graph from its inputs' values"
)]
pub trait Dynamic: Send + Sync + 'static {
    /// The inputs: `()`, a single type, or a tuple.
    type Input: Values<Self::InputShape>;
    /// The outputs: `()`, a single type, or a tuple.
    type Output: Values<Self::OutputShape>;
    #[doc(hidden)]
    type InputShape;
    #[doc(hidden)]
    type OutputShape;
    /// The placeholders the body returns.
    #[doc(hidden)]
    type OutputPromises: Placeholders;

    /// Its name and options (retries apply to building the graph).
    fn info(&self) -> TaskInfo;

    /// Its inputs and outputs with their Flyte types, as [`Task::interface`](crate::Task::interface)
    /// describes a task's (and, in an impl written by hand, by tracing every type).
    ///
    /// ```
    /// use flytekit::{dynamic, task, Dynamic, Type};
    ///
    /// #[task]
    /// fn square(x: u64) -> u64 { x * x }
    ///
    /// #[task]
    /// fn total(xs: Vec<u64>) -> u64 { xs.iter().sum() }
    ///
    /// #[dynamic]
    /// fn squares(n: u64, label: String) -> (u64, u64) {
    ///     println!("{label}");
    ///     let parts: Vec<_> = (0..n).map(|i| square(i)).collect();
    ///     (total(parts), square(n))
    /// }
    ///
    /// let interface = squares.interface()?;
    /// assert_eq!(interface.inputs, [("n".to_string(), Type::Integer), ("label".to_string(), Type::Str)]);
    /// assert_eq!(interface.outputs, [("o0".to_string(), Type::Integer), ("o1".to_string(), Type::Integer)]);
    /// # Ok::<(), flytekit::InterfaceError>(())
    /// ```
    fn interface(&self) -> Result<Interface, InterfaceError> {
        let info = self.info();
        let inputs: Vec<(&str, Describer)> = info.inputs().iter().copied().zip(Self::Input::describers()).collect();
        crate::interface::interface(
            "dynamic workflow",
            info.module(),
            info.name(),
            &inputs,
            &Self::Output::describers(),
        )
    }

    /// Runs the body on real inputs, adding its nodes to `scope`; an error fails this attempt.
    #[doc(hidden)]
    fn build(&self, scope: &Scope, input: Self::Input) -> Result<Self::OutputPromises, TaskError>;
}

/// A dynamic body with its types erased, as the executor holds it.
pub(crate) trait ErasedDynamic: Send + Sync {
    fn info(&self) -> TaskInfo;
    fn interface(&self) -> Result<Interface, InterfaceError>;
    /// Builds the graph on `inputs`, its nodes marked as called from `path`.
    fn build_erased(&self, inputs: &[Encoded], path: String, attempt: u32) -> Result<Graph, AttemptFailure>;
}

impl<D: Dynamic> ErasedDynamic for D {
    fn info(&self) -> TaskInfo {
        Dynamic::info(self)
    }

    fn interface(&self) -> Result<Interface, InterfaceError> {
        Dynamic::interface(self)
    }

    fn build_erased(&self, inputs: &[Encoded], path: String, attempt: u32) -> Result<Graph, AttemptFailure> {
        let fail = |kind, cause: String| AttemptFailure { attempt, kind, cause };
        let input = D::Input::decode(inputs).map_err(|e| fail(FailureKind::NonRecoverable, e.to_string()))?;
        let name = Dynamic::info(self).name();
        let scope = Scope::new(name);
        scope.set_path(path);
        let output = self.build(&scope, input).map_err(|e| {
            let kind = if e.is_recoverable() {
                FailureKind::Recoverable
            } else {
                FailureKind::NonRecoverable
            };
            fail(kind, e.to_string())
        })?;
        scope
            .finish(name, &[], output.bindings())
            .map_err(|e| fail(FailureKind::NonRecoverable, e.to_string()))
    }
}

impl Scope {
    /// Adds a dynamic node running `dynamic` on `inputs`, and returns placeholders for its
    /// outputs.
    #[doc(hidden)]
    pub fn dynamic<D: Dynamic, P: Placeholders>(&self, dynamic: D, inputs: Vec<Binding>) -> P {
        let node = self.add_node(Runs::Dynamic(Arc::new(dynamic)), inputs, None);
        P::from_bindings(&mut |slot| Binding::Output { node, slot }).with_nodes(node, node + 1)
    }
}

/// A dynamic body as a task, so that building its graph runs as a task's attempt does (context,
/// panic caught, retried by the same rules). Its one output is the graph, recorded
/// ([`GraphRecord`]) for the durable store to keep; the graph itself is kept beside, so that
/// the node runs it without rebuilding it from the record.
pub(crate) struct Builder<'a> {
    pub dynamic: &'a dyn ErasedDynamic,
    /// The workflow path the graph's nodes are called from.
    pub path: String,
    /// Whether the graph is recorded (for a durable store), or only kept.
    pub record: bool,
    pub built: Mutex<Option<Graph>>,
}

impl Builder<'_> {
    /// Builds the graph on `inputs` as attempt `attempt`, keeps it, and returns its record (or
    /// nothing, when it is not recorded).
    fn build(&self, attempt: u32, inputs: &[Encoded]) -> Result<Vec<Encoded>, AttemptFailure> {
        let graph = self.dynamic.build_erased(inputs, self.path.clone(), attempt)?;
        let outputs = if self.record {
            let record = Encoded::encode(&GraphRecord::of(&graph)).map_err(|e| AttemptFailure {
                attempt,
                kind: FailureKind::NonRecoverable,
                cause: format!("the graph could not be recorded: {e}"),
            })?;
            vec![record]
        } else {
            Vec::new()
        };
        *self.built.lock().unwrap_or_else(|p| p.into_inner()) = Some(graph);
        Ok(outputs)
    }
}

impl ErasedTask for Builder<'_> {
    fn info(&self) -> TaskInfo {
        self.dynamic.info()
    }

    fn run_erased(&self, ctx: &TaskContext, inputs: Vec<Encoded>) -> Started {
        Started::Done(self.build(ctx.attempt(), &inputs))
    }
}

/// The graph a [`Builder`] recorded, rebuilt to run.
pub(crate) fn rebuild(recorded: &Encoded) -> Result<Graph, String> {
    let record: GraphRecord = recorded
        .decode()
        .map_err(|e| format!("the recorded graph does not decode: {e}"))?;
    record.rebuild()
}

/// A dynamic node nested deeper than [`MAX_DEPTH`]: most likely a body that calls itself.
pub(crate) fn too_deep(node: &str) -> Error {
    Error::Graph {
        workflow: node.to_owned(),
        message: format!(
            "dynamic nodes nest more than {MAX_DEPTH} deep here ({node}): a dynamic body calls itself, directly or through others, without end"
        ),
    }
}
