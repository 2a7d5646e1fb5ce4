//! The Rust twins of `tests/flyte/twins`: each module here is the Rust version of the Python
//! module of the same name (its docstring holds this code), so that `package` of this program
//! and `pyflyte package` of the twins can be compared field by field
//! (`tests/flyte_package.rs`, `tests/flyte/README.md`).
//!
//! ```sh
//! cargo run --example twins -- package --image example.com/twins:1 --output ours.tgz
//! ```

//!
//! `tests/flyte_package.rs` includes this file as a module and runs its [`workflows`].
#![allow(dead_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    flytekit::main(workflows())
}

/// Every twin's workflow, in the order of `tests/flyte/README.md`'s table.
pub fn workflows() -> Vec<flytekit::Registered> {
    vec![
        checkpoint::example.into(),
        diamond::diamond.into(),
        mapping::squares.into(),
        subworkflow::inner.into(),
        subworkflow::outer.into(),
        structs::structs.into(),
        conditional::branch.into(),
        files::files.into(),
    ]
}

/// (a) The seed: a task with retries that checkpoints every iteration. Public: the tests that
/// run the seed as a task container use it.
pub mod checkpoint {
    use flytekit::{task, workflow, Checkpoint, TaskError};

    #[task(retries = 3)]
    pub fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
        let start: u64 = match cp.read()? {
            Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
            None => 0,
        };
        for i in start..n_iterations {
            if i > start && i.is_multiple_of(3) {
                return Err(TaskError::recoverable(format!("failed at iteration {i}")));
            }
            cp.write(format!("{}", i + 1).as_bytes())?;
        }
        Ok(n_iterations)
    }

    #[workflow]
    pub fn example(n_iterations: u64) -> u64 {
        use_checkpoint(n_iterations)
    }
}

/// (b) A diamond, and one task option per task.
mod diamond {
    use flytekit::{task, workflow};

    #[task(cache = true, cache_version = "1")]
    fn start(n: u64) -> u64 {
        n + 1
    }

    #[task(retries = 2, timeout = "10m")]
    fn double(x: u64) -> u64 {
        2 * x
    }

    #[task(
        interruptible = true,
        requests(cpu = "1", mem = "500Mi"),
        limits(cpu = "2", mem = "1Gi")
    )]
    fn square(x: u64) -> u64 {
        x * x
    }

    #[task]
    fn join(a: u64, b: u64) -> u64 {
        a + b
    }

    #[workflow]
    pub fn diamond(n: u64) -> u64 {
        let s = start(n);
        let d = double(s);
        let q = square(s);
        join(d, q)
    }
}

/// (c) A map with options.
mod mapping {
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
    pub fn squares(xs: Vec<u64>) -> u64 {
        total(map(square, xs, concurrency = 4, min_success_ratio = 0.75))
    }
}

/// (d) A sub-workflow with tuple outputs, called twice (once with a literal), and a list built
/// from two of its outputs and a literal.
mod subworkflow {
    use flytekit::{task, workflow};

    #[task]
    fn stats(x: u64) -> (u64, String) {
        (x * 2, format!("#{x}"))
    }

    #[task]
    fn total(xs: Vec<u64>) -> u64 {
        xs.iter().sum()
    }

    #[workflow]
    pub fn inner(x: u64) -> (u64, String) {
        let (n, label) = stats(x);
        (n, label)
    }

    #[workflow]
    pub fn outer(a: u64) -> (u64, String) {
        let (n, label) = inner(a);
        let (m, _) = inner(5);
        (total(vec![n, m, 10]), label)
    }
}

/// (e) A struct input and an enum input.
mod structs {
    use std::collections::HashMap;

    use flytekit::{task, workflow};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Color {
        Red,
        Green,
        Blue,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Shard {
        name: String,
        size: u64,
        weights: Vec<f64>,
        tags: HashMap<String, u64>,
        owner: Option<String>,
    }

    #[task]
    fn weigh(shard: Shard, color: Color) -> f64 {
        let _ = (color, &shard.name, &shard.tags, &shard.owner);
        shard.weights.iter().sum::<f64>() * shard.size as f64
    }

    #[workflow]
    pub fn structs(shard: Shard, color: Color) -> f64 {
        weigh(shard, color)
    }
}

/// (f) A conditional: a comparison joined with a task's boolean output, an `else if`, and an
/// `else` that fails.
mod conditional {
    use flytekit::{task, workflow};

    #[task]
    fn is_even(x: u64) -> bool {
        x.is_multiple_of(2)
    }

    #[task]
    fn square(x: u64) -> u64 {
        x * x
    }

    #[task]
    fn double(x: u64) -> u64 {
        2 * x
    }

    #[workflow]
    pub fn branch(x: u64) -> u64 {
        if x > 100 && is_even(x) {
            square(x)
        } else if x > 0 {
            double(x)
        } else {
            fail("x must be positive")
        }
    }
}

/// (g) Files and directories: a `FlyteFile` written by one task, read and rewritten by the
/// next and passed on, split into a `FlyteDirectory`, merged into another. Public:
/// `flyte-cluster/tests/execute_in_stand_in.rs` runs these tasks in pyflyte's package.
pub mod files {
    use std::io::{BufRead, BufReader, Write};

    use flytekit::{task, workflow, FlyteDirectory, FlyteFile, TaskError};

    #[task]
    pub fn write_lines(n: u64) -> Result<FlyteFile, TaskError> {
        let (file, mut out) = FlyteFile::create("lines.txt")?;
        for i in 0..n {
            writeln!(out, "line {i} {}", "x".repeat(60))?;
        }
        Ok(file)
    }

    #[task]
    pub fn number_lines(lines: FlyteFile) -> Result<(FlyteFile, FlyteFile), TaskError> {
        let (numbered, mut out) = FlyteFile::create("numbered.txt")?;
        for (i, line) in BufReader::new(std::fs::File::open(lines.path())?).lines().enumerate() {
            writeln!(out, "{}: {}", i + 1, line?)?;
        }
        Ok((numbered, lines))
    }

    #[task]
    pub fn split(numbered: FlyteFile, parts: u64) -> Result<FlyteDirectory, TaskError> {
        let lines: Vec<String> = BufReader::new(std::fs::File::open(numbered.path())?)
            .lines()
            .collect::<Result<_, _>>()?;
        let dir = FlyteDirectory::create()?;
        let size = lines.len().div_ceil(parts.max(1) as usize).max(1);
        for (i, chunk) in lines.chunks(size).enumerate() {
            std::fs::write(dir.path().join(format!("part-{i}.txt")), chunk.join("\n") + "\n")?;
        }
        Ok(dir)
    }

    #[task]
    pub fn merge(parts: FlyteDirectory) -> Result<FlyteDirectory, TaskError> {
        let mut names: Vec<_> = std::fs::read_dir(parts.path())?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
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
    pub fn summarize(merged: FlyteDirectory, original: FlyteFile) -> Result<String, TaskError> {
        let count = std::fs::read_to_string(merged.path().join("count.txt"))?;
        let a = std::fs::read_to_string(merged.path().join("all/lines.txt"))?;
        let b = std::fs::read_to_string(original.path())?;
        let last = a.lines().last().unwrap_or("");
        Ok(format!(
            "{count} numbered lines ({} bytes) of {} ({} bytes); last: {last}",
            a.len(),
            b.lines().count(),
            b.len()
        ))
    }

    #[workflow]
    pub fn files(n: u64) -> String {
        let (numbered, original) = number_lines(write_lines(n));
        summarize(merge(split(numbered, 4)), original)
    }
}
