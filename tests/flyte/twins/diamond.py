"""(b) A diamond: `start` fans out to `double` and `square`, which `join` joins; and every task
option we support, one per task.

The Rust twin, in a module named `diamond`. `interruptible` and the resource options are being
added to `#[task]`; the spelling below is a proposal, and what must match is the package it
produces (`interruptible`, `container.resources.requests`/`limits` as CPU and MEMORY):

```rust
use flytekit::{task, workflow};

#[task(cache = true, cache_version = "1")]
fn start(n: u64) -> u64 {
    n + 1
}

#[task(retries = 2, timeout = "10m")]
fn double(x: u64) -> u64 {
    2 * x
}

#[task(interruptible = true, requests(cpu = "1", mem = "500Mi"), limits(cpu = "2", mem = "1Gi"))]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn join(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn diamond(n: u64) -> u64 {
    let s = start(n);
    let d = double(s);
    let q = square(s);
    join(d, q)
}
```
"""

from datetime import timedelta

from flytekit import Resources, task, workflow


@task(cache=True, cache_version="1")
def start(n: int) -> int:
    return n + 1


@task(retries=2, timeout=timedelta(minutes=10))
def double(x: int) -> int:
    return 2 * x


@task(interruptible=True, requests=Resources(cpu="1", mem="500Mi"), limits=Resources(cpu="2", mem="1Gi"))
def square(x: int) -> int:
    return x * x


@task
def join(a: int, b: int) -> int:
    return a + b


@workflow
def diamond(n: int) -> int:
    s = start(n=n)
    d = double(x=s)
    q = square(x=s)
    return join(a=d, b=q)
