"""(c) A map with options: `square` over a list, at most 4 at once, 75% of them must succeed, so
the mapped output is a list of optionals.

The Rust twin, in a module named `mapping` (not `map`, which would read like the DSL's `map`):

```rust
use flytekit::{task, workflow};

#[task(retries = 1)]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn total(xs: Vec<Option<u64>>) -> u64 {
    xs.iter().flatten().sum()
}

#[workflow]
fn squares(xs: Vec<u64>) -> u64 {
    total(map(square, xs, concurrency = 4, min_success_ratio = 0.75))
}
```

flytekit names the array node's task `<module>.map_<function>_<hash>-arraynode`, where `<hash>` is
the MD5 (hex) of the text `f"{bound_inputs}{concurrency}{min_successes}{min_success_ratio}"`:
here "" + "4" + "None" + "0.75", Python's `str` of each (`None` when unset; a float as Python
writes it, `1.0` not `1`). The comparison keeps that name, so ours must compute it the same way.
"""

from typing import List, Optional

from flytekit import map_task, task, workflow


@task(retries=1)
def square(x: int) -> int:
    return x * x


@task
def total(xs: List[Optional[int]]) -> int:
    return sum(x for x in xs if x is not None)


@workflow
def squares(xs: List[int]) -> int:
    return total(xs=map_task(square, concurrency=4, min_success_ratio=0.75)(x=xs))
