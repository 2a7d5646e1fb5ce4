//! The runtime behind [flytekit](https://docs.rs/flytekit): tasks, checkpoints, workflow graphs
//! and the local executor. Users depend on `flytekit`, which re-exports everything here with the
//! `#[task]` and `#[workflow]` macros.

mod asynchronous;
mod attempt;
pub mod backend;
mod binding;
mod branch;
mod cache;
mod checkpoint;
mod context;
mod dynamic;
mod error;
mod executor;
mod file;
mod flush;
mod flyte_type;
mod graph;
mod interface;
mod panic;
mod preempt;
mod record;
mod render;
mod retry;
mod scheduler;
mod signals;
mod single;
mod stop;
mod store;
mod task;
mod trace;
mod typed;
mod value;
mod wiring;
mod writer;

pub use backend::CheckpointBackend;
pub use binding::{Binding, Step};
pub use branch::{BranchSpec, Comparison, Condition, Op, Otherwise};
pub use cache::CacheMode;
pub use checkpoint::Checkpoint;
pub use context::{current_context, TaskContext};
pub use dynamic::Dynamic;
/// The crate an unserialized output is handed over through ([`Encoded::with_typed`]), at the
/// version this crate uses.
pub use erased_serde;
pub use error::{
    AttemptFailure, CheckpointError, Error, FailureKind, MapFailure, NodeFailure, Preempted, ResultExt, StoreError,
    TaskError, ValueError, WorkflowFailure,
};
pub use executor::LocalRuntime;
pub use file::{FlyteDirectory, FlyteFile};
pub use flyte_type::{DatetimeForm, DurationForm, Type};
pub use graph::{FailurePolicy, Graph, IntoInput, MapOptions, Node, Promise, SubWorkflowCall, Workflow};
pub use interface::{output_name, Interface, InterfaceError, Slot};
pub use preempt::{Abandoned, Notice, Preemption};
pub use record::registered_nodes;
pub use single::SingleAttempt;
pub use stop::StopReason;
pub use store::{AttemptReport, Event, ExecutionReport, ExecutionSummary, NodeReport, Status, Store};
pub use task::{Body, Resources, Task, TaskFuture, TaskInfo};
pub use trace::{traced, TypeError};
pub use typed::Typed;
pub use value::{Encoded, Value};
pub use wiring::Ran;
pub use writer::AsyncWriter;

/// What the macros' generated code names. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::branch::{compare, truthy, Branch, Cases, Comparable, Condition, NoOutputs, Op, Operand};
    pub use crate::error::{escaped, marker, shown, task_error, task_result, IntoTaskError, TaskResult, SHOWN_CHARS};
    pub use crate::executor::check_execution_id;
    pub use crate::graph::{
        map, map_some, on_failure, AsTask, AsWorkflow, Callable, IntoOutput, MapBody, Mappable, OnFailure,
        Placeholders, Scope,
    };
    pub use crate::interface::{interface, Describe, Describer, ViaNothing, ViaTrace, ViaTyped};
    pub use crate::record::Registration;

    pub use crate::value::{Many, One, Values};
    pub use crate::wiring::{after, After, Index, List, Split};
    pub use inventory;

    /// What a workflow gets for each output of a task whose signature `#[task]` rejected, when
    /// the output's type cannot be written: it passes for any input and as any workflow output,
    /// so that the signature's error is the only one. None is ever made: the crate does not
    /// compile while that error stands. (An uninhabited type would say so better, but rustc
    /// would then warn that the rest of the workflow is unreachable.)
    #[derive(Clone, Copy)]
    pub struct Stub(());

    const NEVER: &str = "a #[task] with a signature error does not compile";

    impl<T> crate::IntoInput<T> for Stub {
        fn bind(self, _: &Scope) -> crate::Binding {
            unreachable!("{NEVER}")
        }
    }

    impl<P> IntoOutput<P> for Stub {
        fn into_output(self) -> P {
            unreachable!("{NEVER}")
        }
    }

    /// What `#[task] async fn` checks: that flytekit was built with the executor its attempts
    /// run on. A trait rather than a missing item, so that the error is one sentence saying
    /// which feature to turn on.
    #[diagnostic::on_unimplemented(
        message = "`#[task] async fn` needs flytekit's cargo feature `async`",
        label = "an async task",
        note = "turn the feature on where flytekit is a dependency: `flytekit = {{ version = \"..\", features = [\"async\"] }}`; it brings the executor (tokio) that async tasks run on, which a program without them does not compile"
    )]
    pub trait AsyncTasks {}

    /// Implements [`AsyncTasks`] when the feature is on.
    pub struct Feature;

    #[cfg(feature = "async")]
    impl AsyncTasks for Feature {}

    /// Compiles only when [`AsyncTasks`] holds.
    pub const fn async_tasks<F: AsyncTasks>() {}

    /// Checks that a task or workflow may be called inside a workflow, and gets its binder.
    pub fn binder<'s, C: Callable>(callable: &C, scope: &'s Scope) -> C::Binder<'s> {
        callable.binder(scope)
    }
}
