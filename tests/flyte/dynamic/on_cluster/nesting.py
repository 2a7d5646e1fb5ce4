"""Twin of `on_cluster::nesting` in `examples/on_cluster.rs`: dynamic bodies that call a
sub-workflow (`on_cluster.fanout.inner`), branch on a task's output, and call another dynamic
workflow, each of which the dynamic node's `futures.pb` holds:

```rust
#[task]
pub fn is_big(x: u64) -> bool {
    x > 10
}

#[task]
pub fn square(x: u64) -> u64 {
    x * x
}

#[task]
pub fn double(x: u64) -> u64 {
    2 * x
}

#[dynamic]
pub fn doubled_all(xs: Vec<u64>) -> u64 {
    let parts: Vec<_> = xs.iter().map(|&x| inner(x).0).collect();
    total(parts)
}

#[dynamic]
pub fn sized(xs: Vec<u64>) -> u64 {
    let sum = total(xs);
    if is_big(sum) { square(sum) } else { double(sum) }
}

#[dynamic]
pub fn sum_to(n: u64) -> u64 {
    let parts: Vec<_> = (1..=n).map(double).collect();
    total(parts)
}

#[dynamic]
pub fn sums_to(n: u64) -> u64 {
    let parts: Vec<_> = (1..=n).map(sum_to).collect();
    total(parts)
}
```

and a workflow calling each (`doubled`, `bucketed`, `nested`).
"""

from typing import List

from flytekit import conditional, dynamic, task, workflow

from on_cluster.fanout import inner, total


@task
def is_big(x: int) -> bool:
    return x > 10


@task
def square(x: int) -> int:
    return x * x


@task
def double(x: int) -> int:
    return 2 * x


@dynamic
def doubled_all(xs: List[int]) -> int:
    parts = [inner(x=x)[0] for x in xs]
    return total(xs=parts)


@workflow
def doubled(xs: List[int]) -> int:
    return doubled_all(xs=xs)


@dynamic
def sized(xs: List[int]) -> int:
    s = total(xs=xs)
    big = is_big(x=s)
    return conditional("sized").if_(big.is_true()).then(square(x=s)).else_().then(double(x=s))


@workflow
def bucketed(xs: List[int]) -> int:
    return sized(xs=xs)


@dynamic
def sum_to(n: int) -> int:
    parts = [double(x=i) for i in range(1, n + 1)]
    return total(xs=parts)


@dynamic
def sums_to(n: int) -> int:
    parts = [sum_to(n=i) for i in range(1, n + 1)]
    return total(xs=parts)


@workflow
def nested(n: int) -> int:
    return sums_to(n=n)
