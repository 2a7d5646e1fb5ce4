//! The seed example of Flyte's "Intratask Checkpoints" page, ported: a task that fails twice
//! with recoverable errors and, because every retry resumes from the last checkpoint, finishes
//! on its third attempt. flytekit cannot run this locally (it does not retry); here it runs.
//!
//! `cargo run --example checkpoint`

use flytekit::{current_context, task, workflow, Checkpoint, LocalRuntime, TaskError};

const RETRIES: u64 = 3;

/// Counts to `n_iterations`, failing every `n_iterations / RETRIES` iterations to show that
/// each retry picks up where the last checkpoint left off.
#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    let attempt = current_context()?.attempt();
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    println!("attempt {attempt}: starting at iteration {start}");

    // A deterministic failure for the demonstration.
    let failure_interval = n_iterations / RETRIES;
    for i in start..n_iterations {
        if i > start && i % failure_interval == 0 {
            println!("attempt {attempt}: failed at iteration {i}");
            return Err(TaskError::recoverable(format!(
                "failed at iteration {i}, failure_interval {failure_interval}"
            )));
        }
        // Save progress after every iteration; the write is atomic.
        cp.write(format!("{}", i + 1).as_bytes())?;
    }
    println!("attempt {attempt}: finished all {n_iterations} iterations");
    Ok(n_iterations)
}

#[workflow]
fn example(n_iterations: u64) -> u64 {
    use_checkpoint(n_iterations)
}

fn main() -> Result<(), flytekit::Error> {
    let out = LocalRuntime::new().run(example, 9)?;
    println!("result: {out}");
    Ok(())
}
