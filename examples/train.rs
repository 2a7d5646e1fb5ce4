//! A resumable training run: kill it at any moment, run it again with the same arguments, and it
//! finishes with the same result as a run that was never interrupted.
//!
//! ```sh
//! cargo run --release --example train -- --store /tmp/fk --execution-id run-1 --steps 3000
//! # kill -9 it while it runs, then run the same command again:
//! #   stderr: "resumed at step k", and stdout ends with the same result= line
//! # or Ctrl-C it (or kill -TERM): it saves its last step and says how to resume
//! ```
//!
//! The workflow is `prepare -> train -> finish`. `train` applies N steps to a hash chain, one
//! step at a time (each sleeps 1 ms, standing in for real work), and saves its state to the
//! checkpoint after every step (`--writer async`: hands it to an asynchronous writer). The
//! chain is order-dependent: a step skipped, applied twice or out of order gives another
//! `result=`, so the result proves every step ran exactly once.
//!
//! SIGTERM and SIGINT are preemption notices while it runs: `train` checks the notice before
//! each step, and returns with its latest state saved (`--ignore-notice`: it does not check,
//! and is abandoned after `--grace-period`, its writer's latest state committed by the
//! runtime). The process then exits with 143 (SIGTERM) or 130 (SIGINT).
//!
//! What the program prints:
//!
//! * stdout, last line: `result=<16 hex digits>`, determined by `--steps` alone;
//! * stderr: `<task>: attempt <n>` when a task starts, `resumed at step <k>` when `train`
//!   resumes from a checkpoint holding k finished steps, `step <k>` after each step with
//!   `--progress`, `preempted at step <k>` when `train` returns at a notice, and a summary of
//!   the execution's nodes from the store;
//! * on an error: one line on stderr and a non-zero exit status; after a notice, one line
//!   naming the execution and the command that resumes it.
//!
//! Run again after it succeeded, it prints the stored result at once: no task runs.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use flytekit::{task, workflow, Error, LocalRuntime, Status, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

/// Runs (or resumes) a training execution in a durable store.
#[derive(Parser, Debug)]
#[command(name = "train")]
pub struct Args {
    /// The store's directory (created if missing).
    #[arg(long)]
    pub store: PathBuf,
    /// The execution's id: run the same id again to resume it.
    #[arg(long)]
    pub execution_id: String,
    /// How many steps `train` applies.
    #[arg(long)]
    pub steps: u64,
    /// How many times a node may be interrupted (its process killed) before the execution
    /// fails. Every SIGKILL of a running node is one system failure, and the runtime's default
    /// budget (3, as Flyte's) would fail a run killed a fourth time in the same node: this
    /// program is meant to be killed over and over, so its default is much larger.
    #[arg(long, default_value_t = 1000)]
    pub system_retries: u32,
    /// Print `step <k>` on stderr after each step is applied (before it is saved).
    #[arg(long)]
    pub progress: bool,
    /// How `train` saves its state after each step: `sync` commits it before the next step,
    /// `async` hands it to an asynchronous writer and goes on.
    #[arg(long, value_enum, default_value_t = Writer::Sync)]
    pub writer: Writer,
    /// `train` does not check for a preemption notice: it runs on until the grace period ends.
    #[arg(long)]
    pub ignore_notice: bool,
    /// After SIGTERM or SIGINT, how long `train` has to return before it is abandoned.
    #[arg(long, value_name = "DURATION", default_value = "25s", value_parser = humantime::parse_duration)]
    pub grace_period: Duration,
}

/// How `train` saves its state.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// `Checkpoint::save_state` after each step.
    Sync,
    /// `AsyncWriter::save_state` after each step.
    Async,
}

/// Set from `--progress`, `--writer async` and `--ignore-notice`. Process-wide settings rather
/// than task inputs: inputs are part of the execution's identity, and how a run prints, saves
/// or stops must not change which execution it is.
static PROGRESS: AtomicBool = AtomicBool::new(false);
static ASYNC_WRITER: AtomicBool = AtomicBool::new(false);
static IGNORE_NOTICE: AtomicBool = AtomicBool::new(false);

/// What `prepare` hands to the other tasks.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Steps to apply.
    pub steps: u64,
    /// The chain's starting value.
    pub seed: u64,
}

/// `train`'s state, saved to the checkpoint after every step.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Steps applied so far: steps 1..=step are in `hash`.
    pub step: u64,
    /// The chain's value after `step` steps.
    pub hash: u64,
}

/// The chain's starting value for a run of `steps` steps.
fn seed(steps: u64) -> u64 {
    mix(0x666c_7974_656b_6974 ^ steps)
}

/// Applies step `k` to the chain: order-dependent, so that no two orders (or counts) of steps
/// agree.
fn apply(hash: u64, k: u64) -> u64 {
    let mut h = hash;
    // A little arithmetic per step, beside the sleep.
    for round in 0..16 {
        h = mix(h.wrapping_mul(0x0000_0100_0000_01b3) ^ k.wrapping_add(round));
    }
    h
}

/// The final value: the chain, bound to its length.
fn finalize(hash: u64, steps: u64) -> u64 {
    mix(hash ^ steps.rotate_left(32))
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What an uninterrupted run of `steps` steps prints after `result=`, computed directly.
pub fn expected(steps: u64) -> u64 {
    let hash = (1..=steps).fold(seed(steps), apply);
    finalize(hash, steps)
}

#[task]
fn prepare(ctx: &TaskContext, steps: u64) -> Plan {
    eprintln!("{}: attempt {}", ctx.task_name(), ctx.attempt());
    Plan {
        steps,
        seed: seed(steps),
    }
}

#[task(retries = 2)]
fn train(ctx: &TaskContext, plan: Plan) -> Result<State, TaskError> {
    eprintln!("{}: attempt {}", ctx.task_name(), ctx.attempt());
    let cp = ctx.checkpoint();
    let mut state = match cp.load_state::<State>()? {
        Some(state) => {
            eprintln!("resumed at step {}", state.step);
            state
        }
        None => State {
            step: 0,
            hash: plan.seed,
        },
    };
    if state.step > plan.steps {
        return Err(TaskError::non_recoverable(format!(
            "the checkpoint is at step {} of a {}-step plan",
            state.step, plan.steps
        )));
    }
    let progress = PROGRESS.load(Ordering::Relaxed);
    let check = !IGNORE_NOTICE.load(Ordering::Relaxed);
    let writer = ASYNC_WRITER.load(Ordering::Relaxed).then(|| cp.async_writer());
    while state.step < plan.steps {
        if check && ctx.preempted() {
            // Every step so far was saved (or handed to the writer, which the runtime flushes):
            // the next run resumes right here.
            eprintln!("preempted at step {}", state.step);
            return Err(TaskError::recoverable(format!("preempted at step {}", state.step)));
        }
        std::thread::sleep(Duration::from_millis(1));
        state.hash = apply(state.hash, state.step + 1);
        state.step += 1;
        if progress {
            eprintln!("step {}", state.step);
        }
        match &writer {
            Some(writer) => writer.save_state(&state)?,
            None => cp.save_state(&state)?,
        }
    }
    Ok(state)
}

#[task]
fn finish(ctx: &TaskContext, plan: Plan, state: State) -> Result<u64, TaskError> {
    eprintln!("{}: attempt {}", ctx.task_name(), ctx.attempt());
    if state.step != plan.steps {
        return Err(TaskError::non_recoverable(format!(
            "train stopped at step {} of {}",
            state.step, plan.steps
        )));
    }
    Ok(finalize(state.hash, plan.steps))
}

#[workflow]
pub fn training(steps: u64) -> u64 {
    let plan = prepare(steps);
    let state = train(plan);
    finish(plan, state)
}

/// Runs (or resumes) the execution `args` names and returns its result.
pub fn run(args: &Args) -> Result<u64, flytekit::Error> {
    PROGRESS.store(args.progress, Ordering::Relaxed);
    ASYNC_WRITER.store(args.writer == Writer::Async, Ordering::Relaxed);
    IGNORE_NOTICE.store(args.ignore_notice, Ordering::Relaxed);
    let again = format!(
        "train --store {} --execution-id {} --steps {}",
        args.store.display(),
        args.execution_id,
        args.steps
    );
    let rt = LocalRuntime::with_store(&args.store)?
        .system_retries(args.system_retries)
        .handle_signals()
        .grace_period(args.grace_period)
        .resume_command(move |_| again.clone());
    let result = rt.run_with_id(&args.execution_id, training, args.steps)?;
    if let Some(report) = rt
        .store()
        .map(|s| s.execution(&args.execution_id))
        .transpose()?
        .flatten()
    {
        let nodes: Vec<String> = report
            .nodes
            .iter()
            .map(|n| {
                let interrupted = n.attempts.iter().filter(|a| a.status == Status::Interrupted).count();
                let s = if n.attempts.len() == 1 { "" } else { "s" };
                format!(
                    "{} {} {} ({} attempt{s}, {interrupted} interrupted)",
                    n.id,
                    n.task,
                    n.status,
                    n.attempts.len()
                )
            })
            .collect();
        eprintln!(
            "execution {} {}: {}",
            report.summary.id,
            report.summary.status,
            nodes.join(", ")
        );
    }
    Ok(result)
}

/// The whole program, from its arguments (the first is the program's name) to its exit status.
pub fn cli(argv: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args = match Args::try_parse_from(argv) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help or --version.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("bad arguments");
            eprintln!("train: {first} (see --help)");
            return 2;
        }
    };
    match run(&args) {
        Ok(result) => {
            println!("result={result:016x}");
            let _ = std::io::stdout().flush();
            0
        }
        Err(Error::Preempted(p)) => {
            eprintln!("train: {p}");
            p.notice.exit_status()
        }
        Err(e) => {
            // One line, whatever the error's message holds.
            let message = e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ");
            eprintln!("train: {message}");
            1
        }
    }
}

#[allow(dead_code)] // the kill test includes this file as a module and calls `cli`
fn main() -> ExitCode {
    ExitCode::from(cli(std::env::args_os()))
}
