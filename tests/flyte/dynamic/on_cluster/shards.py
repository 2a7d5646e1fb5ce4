"""Twin of `on_cluster::shards` in `examples/on_cluster.rs`:

```rust
#[task]
pub fn process(shard: Vec<u64>) -> u64 {
    shard.iter().sum()
}

#[dynamic]
pub fn shard_all(data: Vec<u64>, size: u64) -> u64 {
    let parts: Vec<_> = data.chunks(size as usize).map(|c| process(c.to_vec())).collect();
    super::fanout::total(parts)
}

#[workflow]
pub fn sharded(data: Vec<u64>) -> u64 {
    shard_all(data, 2)
}
```
"""

from typing import List

from flytekit import dynamic, task, workflow

from on_cluster.fanout import total


@task
def process(shard: List[int]) -> int:
    return sum(shard)


@dynamic
def shard_all(data: List[int], size: int) -> int:
    parts = [process(shard=data[i : i + size]) for i in range(0, len(data), size)]
    return total(xs=parts)


@workflow
def sharded(data: List[int]) -> int:
    return shard_all(data=data, size=2)
