//! placeholder
pub use flyte_macros::{task, workflow};
pub use flyte_runtime::*;
