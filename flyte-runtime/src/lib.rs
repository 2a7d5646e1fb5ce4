//! The runtime behind [flytekit](https://docs.rs/flytekit): tasks, checkpoints, workflow graphs
//! and the local executor. Users depend on `flytekit`, which re-exports everything here with the
//! `#[task]` and `#[workflow]` macros.

mod checkpoint;
mod context;
mod error;
mod executor;
mod graph;
mod task;
mod value;

pub use checkpoint::Checkpoint;
pub use context::{current_context, TaskContext};
pub use error::{AttemptFailure, CheckpointError, Error, FailureKind, NodeFailure, ResultExt, TaskError, ValueError};
pub use executor::LocalRuntime;
pub use graph::{Binding, Graph, IntoInput, Node, Promise, Workflow};
pub use task::{Task, TaskSpec};
pub use value::{Literal, Value};

/// What the macros' generated code names. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::graph::{Callable, IntoOutput, Scope};
    pub use crate::value::{Many, One, Values};

    /// Checks that a task or workflow may be called inside a workflow, and gets its binder.
    pub fn binder<'s, C: Callable>(callable: &C, scope: &'s Scope) -> C::Binder<'s> {
        callable.binder(scope)
    }

    /// Checks, at the type's span, that an input or output type can cross a task boundary.
    pub const fn assert_value<T: crate::Value>() {}
}
