"""(e) A struct (dataclass) input, and an enum input.

The Rust twin, in a module named `structs`. A dataclass is a `STRUCT` whose value is msgpack
(a map of field names, in field order) and whose type carries mashumaro's JSON schema; an enum
is an enum type of its values:

```rust
use std::collections::HashMap;

use flytekit::{task, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
    Blue,
}

#[derive(Serialize, Deserialize)]
struct Shard {
    name: String,
    size: u64,
    weights: Vec<f64>,
    tags: HashMap<String, u64>,
    owner: Option<String>,
}

#[task]
fn weigh(shard: Shard, color: Color) -> f64 {
    let _ = color;
    shard.weights.iter().sum::<f64>() * shard.size as f64
}

#[workflow]
fn structs(shard: Shard, color: Color) -> f64 {
    weigh(shard, color)
}
```
"""

from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Optional

from flytekit import task, workflow


class Color(Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


@dataclass
class Shard:
    name: str
    size: int
    weights: List[float]
    tags: Dict[str, int]
    owner: Optional[str]


@task
def weigh(shard: Shard, color: Color) -> float:
    return sum(shard.weights) * shard.size


@workflow
def structs(shard: Shard, color: Color) -> float:
    return weigh(shard=shard, color=color)
