"""(f) A conditional: a comparison joined with a task's boolean output, an `elif`, and an `else`
that fails.

The Rust twin, in a module named `conditional`. The task call in the condition is a node before
the branch (n0), the branch is n1, and each case's node is numbered inside the branch (n0, n1):

```rust
use flytekit::{task, workflow};

#[task]
fn is_even(x: u64) -> bool {
    x % 2 == 0
}

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn double(x: u64) -> u64 {
    2 * x
}

#[workflow]
fn branch(x: u64) -> u64 {
    if x > 100 && is_even(x) {
        square(x)
    } else if x > 0 {
        double(x)
    } else {
        fail("x must be positive")
    }
}
```
"""

from flytekit import conditional, task, workflow


@task
def is_even(x: int) -> bool:
    return x % 2 == 0


@task
def square(x: int) -> int:
    return x * x


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def branch(x: int) -> int:
    even = is_even(x=x)
    return (
        conditional("branch")
        .if_((x > 100) & even.is_true())
        .then(square(x=x))
        .elif_(x > 0)
        .then(double(x=x))
        .else_()
        .fail("x must be positive")
    )
