"""Twin of `on_cluster::fanout::total` in `examples/on_cluster.rs`."""

from typing import List

from flytekit import task


@task
def total(xs: List[int]) -> int:
    return sum(xs)
