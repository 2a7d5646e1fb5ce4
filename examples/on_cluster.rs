//! A workflow binary for a Flyte cluster: `package` writes the registration package whose
//! tasks run this same program's `execute` subcommand, one attempt per container, with the
//! checkpoints in object storage (see the README's "Running on a Flyte cluster").
//!
//! ```sh
//! cargo build --release --example on_cluster --features cluster
//! target/release/examples/on_cluster package --image ghcr.io/me/on-cluster:1 --output on-cluster.tgz
//! flytectl register files --archive on-cluster.tgz --version 1
//! # propeller then runs, in the image, for each attempt of each task:
//! #   on_cluster execute --task on_cluster.seed.use_checkpoint --inputs s3://... --output-prefix s3://...
//! #       --raw-output-data-prefix s3://... --checkpoint-path s3://... --prev-checkpoint s3://...
//! ```
//!
//! `tests/execute.rs` includes this file as a module and runs [`workflows`] through the
//! propeller stand-in, over S3 on loopback.
#![allow(dead_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    flytekit::main(workflows())
}

/// The workflows of this program, with every task they call.
pub fn workflows() -> Vec<flytekit::Registered> {
    vec![
        seed::example.into(),
        training::training.into(),
        strict::checked.into(),
        strict::ratio.into(),
        fanout::squares.into(),
        fanout::outer.into(),
        shards::sharded.into(),
        shards::halved.into(),
        nesting::doubled.into(),
        nesting::bucketed.into(),
        nesting::nested.into(),
        hooks::download.into(),
    ]
}

/// The seed of Flyte's "Intratask Checkpoints" page: fails twice, recoverably, and each retry
/// resumes from the checkpoint the attempt before it committed.
pub mod seed {
    use flytekit::{current_context, task, workflow, Checkpoint, TaskError};

    #[task(retries = 3)]
    pub fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
        let attempt = current_context()?.attempt();
        let start: u64 = match cp.read()? {
            Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
            None => 0,
        };
        eprintln!("attempt {attempt}: starting at iteration {start}");
        let failure_interval = (n_iterations / 3).max(1);
        for i in start..n_iterations {
            if i > start && i % failure_interval == 0 {
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

/// A loop that hands its state to the asynchronous writer every step and returns at a
/// preemption notice (SIGTERM: Kubernetes deleting the pod), so that the next attempt starts
/// from the last state it handed over.
pub mod training {
    use std::time::Duration;

    use flytekit::{task, workflow, TaskContext, TaskError};

    /// Runs `steps` steps of 3 ms; returns the step this attempt started from (0 unless an
    /// attempt before it was preempted or killed).
    #[task(retries = 3)]
    pub fn train(ctx: &TaskContext, steps: u64) -> Result<u64, TaskError> {
        let cp = ctx.checkpoint();
        let writer = cp.async_writer();
        let start: u64 = cp.load_state()?.unwrap_or(0);
        eprintln!("attempt {}: starting at step {start}", ctx.attempt());
        for step in start..steps {
            writer.save_state(&(step + 1))?;
            eprintln!("step {} handed over", step + 1);
            if ctx.preempted() {
                return Err(TaskError::recoverable(format!("preempted after step {}", step + 1)));
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        Ok(start)
    }

    #[workflow]
    pub fn training(steps: u64) -> u64 {
        train(steps)
    }
}

/// Failures that are not retried, whatever the task's `retries`: an error the task calls
/// non-recoverable, and a panic.
pub mod strict {
    use flytekit::{task, workflow, TaskError};

    #[task(retries = 3)]
    pub fn validate(x: i64) -> Result<i64, TaskError> {
        if x < 0 {
            return Err(TaskError::non_recoverable(format!("{x} is negative")));
        }
        Ok(x)
    }

    #[task(retries = 3)]
    pub fn divide(a: u64, b: u64) -> u64 {
        if b == 0 {
            panic!("cannot divide {a} by zero");
        }
        a / b
    }

    #[workflow]
    pub fn checked(x: i64) -> i64 {
        validate(x)
    }

    #[workflow]
    pub fn ratio(a: u64, b: u64) -> u64 {
        divide(a, b)
    }
}

/// A map over a task, and a sub-workflow called twice.
pub mod fanout {
    use flytekit::{task, workflow};

    #[task(retries = 1)]
    pub fn square(x: u64) -> u64 {
        x * x
    }

    #[task]
    pub fn total(xs: Vec<u64>) -> u64 {
        xs.iter().sum()
    }

    #[workflow]
    pub fn squares(xs: Vec<u64>) -> u64 {
        total(map(square, xs))
    }

    #[task]
    pub fn stats(x: u64) -> (u64, String) {
        (x * 2, format!("#{x}"))
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

/// A dynamic workflow: on a cluster, `shard_all`'s container runs the body on the real `data`
/// and writes the graph it built (a `process` per shard, then `total`) as `futures.pb`, which
/// propeller runs, each task in a container of its own.
pub mod shards {
    use flytekit::{dynamic, task, workflow, TaskError};

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

    #[task]
    pub fn halve(x: u64) -> Result<u64, TaskError> {
        if x == 0 {
            return Err(TaskError::non_recoverable("there is no half of nothing"));
        }
        Ok(x / 2)
    }

    /// A map inside a dynamic body: its map task (`on_cluster.shards.map_halve_<md5>-arraynode`)
    /// is in no workflow's graph, and its elements' containers find it by that name. A body
    /// that fails fails the dynamic node's attempt, as a task's does.
    #[dynamic(retries = 2)]
    pub fn halve_all(xs: Vec<u64>) -> Result<u64, TaskError> {
        if xs.is_empty() {
            return Err(TaskError::non_recoverable("nothing to halve"));
        }
        Ok(super::fanout::total(map(halve, xs)))
    }

    #[workflow]
    pub fn halved(xs: Vec<u64>) -> u64 {
        halve_all(xs)
    }
}

/// Dynamic bodies that call a sub-workflow, branch on a task's output and call another dynamic
/// workflow: each of these is a node of the `futures.pb` the dynamic task writes (a
/// sub-workflow the spec carries, a branch node, a task node whose container writes its own
/// `futures.pb`).
pub mod nesting {
    use flytekit::{dynamic, task, workflow};

    use super::fanout::{inner, total};

    #[task]
    pub fn is_big(x: u64) -> bool {
        x > 10
    }

    #[task]
    pub fn square(x: u64) -> u64 {
        x * x
    }

    #[task]
    pub fn double(x: u64) -> u64 {
        2 * x
    }

    /// The sub-workflow `inner` once per element, then the total of the doubled values.
    #[dynamic]
    pub fn doubled_all(xs: Vec<u64>) -> u64 {
        let parts: Vec<_> = xs
            .iter()
            .map(|&x| {
                let (n, _) = inner(x);
                n
            })
            .collect();
        total(parts)
    }

    #[workflow]
    pub fn doubled(xs: Vec<u64>) -> u64 {
        doubled_all(xs)
    }

    /// A branch on a task's output, which only the graph knows: a branch node.
    #[dynamic]
    pub fn sized(xs: Vec<u64>) -> u64 {
        let sum = total(xs);
        if is_big(sum) {
            square(sum)
        } else {
            double(sum)
        }
    }

    #[workflow]
    pub fn bucketed(xs: Vec<u64>) -> u64 {
        sized(xs)
    }

    /// `2 + 4 + .. + 2n`, a `double` per term.
    #[dynamic]
    pub fn sum_to(n: u64) -> u64 {
        let parts: Vec<_> = (1..=n).map(|i| double(i)).collect();
        total(parts)
    }

    /// A dynamic workflow per term, each building its own graph when it runs.
    #[dynamic]
    pub fn sums_to(n: u64) -> u64 {
        let parts: Vec<_> = (1..=n).map(|i| sum_to(i)).collect();
        total(parts)
    }

    #[workflow]
    pub fn nested(n: u64) -> u64 {
        sums_to(n)
    }
}

/// A workflow whose task fails, and its `on_failure` task: on a cluster, propeller runs the
/// failure node with the workflow's input and the error, which `execute` gives the task as its
/// `WorkflowFailure`.
pub mod hooks {
    use flytekit::{task, workflow, TaskError, WorkflowFailure};

    #[task]
    pub fn fetch(url: String) -> Result<String, TaskError> {
        if !url.starts_with("https://") {
            return Err(TaskError::non_recoverable(format!("{url}: not found")));
        }
        Ok(url)
    }

    /// Says what it was given on stderr, where the stand-in keeps each attempt's output.
    #[task]
    pub fn clean_up(url: String, failure: WorkflowFailure) {
        eprintln!("on failure of {url}: {failure:?}");
    }

    #[workflow(on_failure = clean_up)]
    pub fn download(url: String) -> String {
        fetch(url)
    }
}
