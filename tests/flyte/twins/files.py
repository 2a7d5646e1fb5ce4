"""(g) Files: a `FlyteFile` written by one task, read and rewritten by the next, and passed on.

The Rust twin, in a module named `files`. A file is a blob of one part without a format; its
value is where the file is, and each task container downloads its input files and uploads its
output files under its raw output prefix:

```rust
use std::io::{BufRead, BufReader, Write};

use flytekit::{task, workflow, FlyteFile, TaskError};

#[task]
fn write_lines(n: u64) -> Result<FlyteFile, TaskError> {
    let (file, mut out) = FlyteFile::create("lines.txt")?;
    for i in 0..n {
        writeln!(out, "line {i} {}", "x".repeat(60))?;
    }
    Ok(file)
}

#[task]
fn number_lines(lines: FlyteFile) -> Result<(FlyteFile, FlyteFile), TaskError> {
    let (numbered, mut out) = FlyteFile::create("numbered.txt")?;
    for (i, line) in BufReader::new(std::fs::File::open(lines.path())?).lines().enumerate() {
        writeln!(out, "{}: {}", i + 1, line?)?;
    }
    Ok((numbered, lines))
}

#[task]
fn summarize(numbered: FlyteFile, original: FlyteFile) -> Result<String, TaskError> {
    let a = std::fs::read_to_string(numbered.path())?;
    let b = std::fs::read_to_string(original.path())?;
    let last = a.lines().last().unwrap_or("");
    Ok(format!("{} numbered lines ({} bytes) of {} ({} bytes); last: {last}", a.lines().count(), a.len(), b.lines().count(), b.len()))
}

#[workflow]
fn files(n: u64) -> String {
    let (numbered, original) = number_lines(write_lines(n));
    summarize(numbered, original)
}
```
"""

import os
from typing import Tuple

from flytekit import current_context, task, workflow
from flytekit.types.file import FlyteFile


@task
def write_lines(n: int) -> FlyteFile:
    path = os.path.join(current_context().working_directory, "lines.txt")
    with open(path, "w") as out:
        for i in range(n):
            out.write(f"line {i} {'x' * 60}\n")
    return FlyteFile(path)


@task
def number_lines(lines: FlyteFile) -> Tuple[FlyteFile, FlyteFile]:
    path = os.path.join(current_context().working_directory, "numbered.txt")
    with open(lines) as src, open(path, "w") as out:
        for i, line in enumerate(src):
            out.write(f"{i + 1}: {line}")
    return FlyteFile(path), lines


@task
def summarize(numbered: FlyteFile, original: FlyteFile) -> str:
    with open(numbered) as f:
        a = f.read()
    with open(original) as f:
        b = f.read()
    last = a.splitlines()[-1] if a else ""
    return f"{len(a.splitlines())} numbered lines ({len(a)} bytes) of {len(b.splitlines())} ({len(b)} bytes); last: {last}"


@workflow
def files(n: int) -> str:
    numbered, original = number_lines(lines=write_lines(n=n))
    return summarize(numbered=numbered, original=original)
