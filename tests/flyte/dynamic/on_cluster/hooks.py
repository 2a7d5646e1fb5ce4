"""Twin of `on_cluster::hooks` in `examples/on_cluster.rs`: a workflow whose task fails, and its
`on_failure` task, which Flyte's convention (flytekit's and propeller's) gives the error as the
input named `err`, an `Optional[FlyteError]` bound to none in the package:

```rust
#[task]
pub fn fetch(url: String) -> Result<String, TaskError> {
    if !url.starts_with("https://") {
        return Err(TaskError::non_recoverable(format!("{url}: not found")));
    }
    Ok(url)
}

#[task]
pub fn clean_up(url: String, err: WorkflowFailure) {
    eprintln!("on failure: {err:?}");
}

#[workflow(on_failure = clean_up)]
pub fn download(url: String) -> String {
    fetch(url)
}
```

The hook prints what it received to stderr as JSON, where the stand-in keeps each attempt's
output.
"""

import json
import sys
from typing import Optional

from flytekit import task, workflow
from flytekit.types.error import FlyteError


@task
def fetch(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError(f"{url}: not found")
    return url


@task
def clean_up(url: str, err: Optional[FlyteError] = None):
    seen = {"url": url, "failed_node_id": err.failed_node_id, "message": err.message}
    print(f"on failure: {json.dumps(seen)}", file=sys.stderr)


@workflow(on_failure=clean_up)
def download(url: str) -> str:
    return fetch(url=url)
