//! The runtime behind [flytekit](https://docs.rs/flytekit): tasks, checkpoints, workflow graphs
//! and the local executor. Users depend on `flytekit`, which re-exports everything here with the
//! `#[task]` and `#[workflow]` macros.

mod binding;
mod branch;
mod cache;
mod checkpoint;
mod context;
mod error;
mod executor;
mod graph;
mod panic;
mod render;
mod scheduler;
mod stop;
mod store;
mod task;
mod value;
mod wiring;
mod writer;

pub use binding::{Binding, Step};
pub use branch::{BranchSpec, Comparison, Condition, Op, Otherwise};
pub use cache::CacheMode;
pub use checkpoint::Checkpoint;
pub use context::{current_context, TaskContext};
pub use error::{
    AttemptFailure, CheckpointError, Error, FailureKind, MapFailure, NodeFailure, ResultExt, StoreError, TaskError,
    ValueError, WorkflowFailure,
};
pub use executor::LocalRuntime;
pub use graph::{Graph, IntoInput, MapOptions, Node, Promise, Workflow};
pub use scheduler::FailurePolicy;
pub use stop::StopReason;
pub use store::{AttemptReport, Event, ExecutionReport, ExecutionSummary, NodeReport, Status, Store};
pub use task::{Task, TaskSpec};
pub use value::{Literal, Value};
pub use wiring::Ran;
pub use writer::AsyncWriter;

/// What the macros' generated code names. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::branch::{compare, truthy, Branch, Cases, Comparable, Condition, NoOutputs, Op, Operand};
    pub use crate::error::{escaped, shown, SHOWN_CHARS};
    pub use crate::executor::check_execution_id;
    pub use crate::graph::{
        map, map_some, on_failure, AsTask, AsWorkflow, Callable, IntoOutput, MapBody, Mappable, OnFailure,
        Placeholders, Scope,
    };
    pub use crate::value::{Many, One, Values};
    pub use crate::wiring::{after, After, Index, List, Split};

    /// The error type `E` of a task returning `Result<T, E>`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a task's error type",
        label = "does not convert into `TaskError`",
        note = "a task's error must implement `std::error::Error` (then `?` works on it), or be `flytekit::TaskError`: for a message, return `TaskError::recoverable(msg)` or `TaskError::non_recoverable(msg)`"
    )]
    pub trait IntoTaskError {
        fn into_task_error(self) -> crate::TaskError;
    }

    #[diagnostic::do_not_recommend]
    impl<E: Into<crate::TaskError>> IntoTaskError for E {
        fn into_task_error(self) -> crate::TaskError {
            self.into()
        }
    }

    /// Checks that a task or workflow may be called inside a workflow, and gets its binder.
    pub fn binder<'s, C: Callable>(callable: &C, scope: &'s Scope) -> C::Binder<'s> {
        callable.binder(scope)
    }
}
