"""Twin of `on_cluster::fanout` in `examples/on_cluster.rs`: the tasks `total` and `stats` and
the sub-workflow `inner`."""

from typing import List, Tuple

from flytekit import task, workflow


@task
def total(xs: List[int]) -> int:
    return sum(xs)


@task
def stats(x: int) -> Tuple[int, str]:
    return x * 2, f"#{x}"


@workflow
def inner(x: int) -> Tuple[int, str]:
    n, label = stats(x=x)
    return n, label
