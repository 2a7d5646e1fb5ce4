"""(a) The seed: a task with retries that checkpoints every iteration, called by a workflow.

Flyte's "Intratask Checkpoints" example as written there. The Rust twin, in a module named
`checkpoint` (the design document's example):

```rust
use flytekit::{task, workflow, Checkpoint, TaskError};

#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    for i in start..n_iterations {
        if i > start && i % 3 == 0 {
            return Err(TaskError::recoverable(format!("failed at iteration {i}")));
        }
        cp.write(format!("{}", i + 1).as_bytes())?;
    }
    Ok(n_iterations)
}

#[workflow]
fn example(n_iterations: u64) -> u64 {
    use_checkpoint(n_iterations)
}
```
"""

from flytekit import current_context, task, workflow
from flytekit.exceptions.user import FlyteRecoverableException

RETRIES = 3


@task(retries=RETRIES)
def use_checkpoint(n_iterations: int) -> int:
    cp = current_context().checkpoint
    prev = cp.read()
    start = 0
    if prev:
        start = int(prev.decode())
    failure_interval = n_iterations * 1.0 / RETRIES
    i = 0
    for i in range(start, n_iterations):
        if i > start and i % failure_interval == 0:
            raise FlyteRecoverableException(f"Failed at iteration {start}, failure_interval {failure_interval}")
        cp.write(f"{i + 1}".encode())
    return i


@workflow
def example(n_iterations: int) -> int:
    return use_checkpoint(n_iterations=n_iterations)
