"""(d) A sub-workflow with tuple outputs, called twice (once with a literal input), and a list
built from two of its outputs and a literal.

The Rust twin, in a module named `subworkflow`:

```rust
use flytekit::{task, workflow};

#[task]
fn stats(x: u64) -> (u64, String) {
    (x * 2, format!("#{x}"))
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn inner(x: u64) -> (u64, String) {
    let (n, label) = stats(x);
    (n, label)
}

#[workflow]
fn outer(a: u64) -> (u64, String) {
    let (n, label) = inner(a);
    let (m, _) = inner(5);
    (total(vec![n, m, 10]), label)
}
```
"""

from typing import List, Tuple

from flytekit import task, workflow


@task
def stats(x: int) -> Tuple[int, str]:
    return x * 2, f"#{x}"


@task
def total(xs: List[int]) -> int:
    return sum(xs)


@workflow
def inner(x: int) -> Tuple[int, str]:
    n, label = stats(x=x)
    return n, label


@workflow
def outer(a: int) -> Tuple[int, str]:
    n, label = inner(x=a)
    m, _ = inner(x=5)
    return total(xs=[n, m, 10]), label
