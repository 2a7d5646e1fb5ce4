"""(g) Files and directories: a `FlyteFile` written by one task, read and rewritten by the
next and passed on, split into a `FlyteDirectory`, merged into another.

The Rust twin, in a module named `files`. A file is a blob of one part without a format, a
directory one of many parts; the value is where it is, and each task container downloads its
inputs and uploads its outputs under its raw output prefix:

```rust
use std::io::{BufRead, BufReader, Write};

use flytekit::{task, workflow, FlyteDirectory, FlyteFile, TaskError};

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
fn split(numbered: FlyteFile, parts: u64) -> Result<FlyteDirectory, TaskError> {
    let lines: Vec<String> = BufReader::new(std::fs::File::open(numbered.path())?).lines().collect::<Result<_, _>>()?;
    let dir = FlyteDirectory::create()?;
    let size = lines.len().div_ceil(parts.max(1) as usize).max(1);
    for (i, chunk) in lines.chunks(size).enumerate() {
        std::fs::write(dir.path().join(format!("part-{i}.txt")), chunk.join("\n") + "\n")?;
    }
    Ok(dir)
}

#[task]
fn merge(parts: FlyteDirectory) -> Result<FlyteDirectory, TaskError> {
    let mut names: Vec<_> = std::fs::read_dir(parts.path())?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    names.sort();
    let merged = FlyteDirectory::create()?;
    std::fs::create_dir(merged.path().join("all"))?;
    let mut all = std::fs::File::create(merged.path().join("all/lines.txt"))?;
    let mut count = 0;
    for name in names {
        for line in BufReader::new(std::fs::File::open(name)?).lines() {
            writeln!(all, "{}", line?)?;
            count += 1;
        }
    }
    std::fs::write(merged.path().join("count.txt"), count.to_string())?;
    Ok(merged)
}

#[task]
fn summarize(merged: FlyteDirectory, original: FlyteFile) -> Result<String, TaskError> {
    let count = std::fs::read_to_string(merged.path().join("count.txt"))?;
    let a = std::fs::read_to_string(merged.path().join("all/lines.txt"))?;
    let b = std::fs::read_to_string(original.path())?;
    let last = a.lines().last().unwrap_or("");
    Ok(format!("{count} numbered lines ({} bytes) of {} ({} bytes); last: {last}", a.len(), b.lines().count(), b.len()))
}

#[workflow]
fn files(n: u64) -> String {
    let (numbered, original) = number_lines(write_lines(n));
    summarize(merge(split(numbered, 4)), original)
}
```
"""

import os
from typing import Tuple

from flytekit import current_context, task, workflow
from flytekit.types.directory import FlyteDirectory
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
def split(numbered: FlyteFile, parts: int) -> FlyteDirectory:
    with open(numbered) as f:
        lines = f.read().splitlines()
    out = os.path.join(current_context().working_directory, "parts")
    os.makedirs(out)
    size = max(1, -(-len(lines) // max(1, parts)))
    for i in range(0, len(lines), size):
        with open(os.path.join(out, f"part-{i // size}.txt"), "w") as f:
            f.write("\n".join(lines[i : i + size]) + "\n")
    return FlyteDirectory(out)


@task
def merge(parts: FlyteDirectory) -> FlyteDirectory:
    merged = os.path.join(current_context().working_directory, "merged")
    os.makedirs(os.path.join(merged, "all"))
    count = 0
    with open(os.path.join(merged, "all", "lines.txt"), "w") as all_lines:
        for name in sorted(os.listdir(parts)):
            with open(os.path.join(parts, name)) as f:
                for line in f.read().splitlines():
                    all_lines.write(line + "\n")
                    count += 1
    with open(os.path.join(merged, "count.txt"), "w") as f:
        f.write(str(count))
    return FlyteDirectory(merged)


@task
def summarize(merged: FlyteDirectory, original: FlyteFile) -> str:
    with open(os.path.join(merged, "count.txt")) as f:
        count = f.read()
    with open(os.path.join(merged, "all", "lines.txt")) as f:
        a = f.read()
    with open(original) as f:
        b = f.read()
    last = a.splitlines()[-1] if a else ""
    return f"{count} numbered lines ({len(a)} bytes) of {len(b.splitlines())} ({len(b)} bytes); last: {last}"


@workflow
def files(n: int) -> str:
    numbered, original = number_lines(lines=write_lines(n=n))
    return summarize(merged=merge(parts=split(numbered=numbered, parts=4)), original=original)
