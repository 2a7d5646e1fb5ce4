//! Task output caching: `#[task(cache = true, cache_version = "1")]` on a durable runtime.
//!
//! The key is the task (its module path and name), the cache version and a hash of the
//! serialized inputs, as in Flyte; a hit skips the task in any later execution of the store.

use crate::task::TaskInfo;
use crate::value::{digest, Encoded};

/// How a durable runtime uses cached task outputs.
///
/// ```
/// use flytekit::{CacheMode, LocalRuntime};
///
/// let dir = tempfile::tempdir().unwrap();
/// let fresh = LocalRuntime::with_store(dir.path()).unwrap().cache_mode(CacheMode::Overwrite);
/// # let _ = fresh;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Reuse cached outputs, and cache new ones.
    #[default]
    Use,
    /// Neither read nor write the cache.
    Bypass,
    /// Run every task, and replace the cached outputs with the new ones.
    Overwrite,
}

/// The cache key of a task run on `inputs`.
pub(crate) fn key(spec: &TaskInfo, version: &str, inputs: &[Encoded]) -> String {
    let task = format!("{}::{}\0{version}", spec.module(), spec.name());
    digest(task.as_bytes(), inputs)
}
