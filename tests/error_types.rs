//! The error types Rust programs use, returned by tasks: each form runs, is retried when it fails
//! (errors are recoverable by default), and the attempt's cause shows the whole chain of
//! `source()`s, every layer once. `anyhow` and `eyre` need flytekit's features of those names;
//! the crate's dev-dependencies turn them on for its tests.

use std::error::Error as StdError;
use std::fmt;
use std::num::ParseIntError;

use flytekit::{task, workflow, AttemptFailure, Error, FailureKind, LocalRuntime, ResultExt, TaskContext, TaskError};

/// The text every failing task's cause must read: two layers over the parse error.
const CHAIN: &str = "loading shard 7: parsing the count: invalid digit found in string";

fn parse_count() -> Result<u64, ParseIntError> {
    "x".parse()
}

/// Whether this attempt fails: always, or on the first two of three.
fn fails(ctx: &TaskContext, always: bool) -> bool {
    always || ctx.attempt() < 3
}

/// A std error with a source, for the `Box<dyn Error>`, `E` and `io::Result` forms.
#[derive(Debug)]
struct ShardError {
    source: CountError,
}

#[derive(Debug)]
struct CountError(ParseIntError);

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loading shard 7")
    }
}

impl StdError for ShardError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

impl fmt::Display for CountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("parsing the count")
    }
}

impl StdError for CountError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn shard_error() -> ShardError {
    ShardError {
        source: CountError(parse_count().unwrap_err()),
    }
}

#[task(retries = 2)]
fn with_anyhow(ctx: &TaskContext, always: bool) -> anyhow::Result<u32> {
    if fails(ctx, always) {
        use anyhow::Context as _;
        parse_count().context("parsing the count").context("loading shard 7")?;
    }
    Ok(ctx.attempt())
}

#[task(retries = 2)]
fn with_eyre(ctx: &TaskContext, always: bool) -> eyre::Result<u32> {
    if fails(ctx, always) {
        use eyre::WrapErr as _;
        parse_count()
            .wrap_err("parsing the count")
            .wrap_err("loading shard 7")?;
    }
    Ok(ctx.attempt())
}

#[task(retries = 2)]
fn with_box(ctx: &TaskContext, always: bool) -> Result<u32, Box<dyn StdError + Send + Sync>> {
    if fails(ctx, always) {
        return Err(shard_error().into());
    }
    Ok(ctx.attempt())
}

#[task(retries = 2)]
fn with_std_error(ctx: &TaskContext, always: bool) -> Result<u32, ShardError> {
    if fails(ctx, always) {
        return Err(shard_error());
    }
    Ok(ctx.attempt())
}

#[task(retries = 2)]
fn with_io_result(ctx: &TaskContext, always: bool) -> std::io::Result<u32> {
    if fails(ctx, always) {
        return Err(std::io::Error::other(shard_error()));
    }
    Ok(ctx.attempt())
}

/// A crate's own `Result` alias, found through the type system like `io::Result`.
mod shards {
    pub type Result<T> = std::result::Result<T, super::ShardError>;
}

#[task(retries = 2)]
fn with_own_alias(ctx: &TaskContext, always: bool) -> shards::Result<u32> {
    if fails(ctx, always) {
        return Err(shard_error());
    }
    Ok(ctx.attempt())
}

#[workflow]
fn all_forms(always: bool) -> (u32, u32, u32, u32, u32, u32) {
    (
        with_anyhow(always),
        with_eyre(always),
        with_box(always),
        with_std_error(always),
        with_io_result(always),
        with_own_alias(always),
    )
}

#[test]
fn every_form_is_retried_until_it_succeeds() {
    let out = LocalRuntime::new().run(all_forms, false).unwrap();
    assert_eq!(out, (3, 3, 3, 3, 3, 3), "each task succeeds on its third attempt");
}

/// Runs `task` alone, failing every attempt, and returns how its attempts ended.
fn attempts<T: flytekit::Task<Input = bool, Output = u32>>(task: T) -> Vec<AttemptFailure> {
    match LocalRuntime::new().run_task(task, true) {
        Err(Error::NodeFailed(failure)) => failure.attempts,
        other => panic!("expected Error::NodeFailed, got {other:?}"),
    }
}

fn recoverable_chain(attempts: Vec<AttemptFailure>, form: &str) {
    let expected: Vec<AttemptFailure> = (1..=3)
        .map(|attempt| AttemptFailure {
            attempt,
            kind: FailureKind::Recoverable,
            cause: CHAIN.to_owned(),
        })
        .collect();
    assert_eq!(attempts, expected, "{form}");
}

#[test]
fn anyhow_errors_are_recoverable_with_every_context_layer_once() {
    recoverable_chain(attempts(with_anyhow), "anyhow::Result");
}

#[test]
fn eyre_errors_are_recoverable_with_every_layer_once() {
    recoverable_chain(attempts(with_eyre), "eyre::Result");
}

#[test]
fn boxed_errors_are_recoverable_with_their_sources() {
    recoverable_chain(attempts(with_box), "Box<dyn Error + Send + Sync>");
}

#[test]
fn std_errors_and_result_aliases_are_recoverable_with_their_sources() {
    recoverable_chain(attempts(with_std_error), "Result<T, E>");
    recoverable_chain(attempts(with_io_result), "io::Result");
    recoverable_chain(attempts(with_own_alias), "a crate's own Result alias");
}

#[task(retries = 2)]
fn refuses(n: u64) -> Result<u64, TaskError> {
    if n == 0 {
        return Err(TaskError::non_recoverable("zero shards: no retry can fix that"));
    }
    n.to_string().parse::<u64>().non_recoverable()
}

#[test]
fn non_recoverable_task_errors_still_stop_at_once() {
    let attempts = match LocalRuntime::new().run_task(refuses, 0) {
        Err(Error::NodeFailed(failure)) => failure.attempts,
        other => panic!("expected Error::NodeFailed, got {other:?}"),
    };
    assert_eq!(
        attempts,
        [AttemptFailure {
            attempt: 1,
            kind: FailureKind::NonRecoverable,
            cause: "zero shards: no retry can fix that".into(),
        }]
    );
    assert_eq!(LocalRuntime::new().run_task(refuses, 4).unwrap(), 4);
}

/// Called directly, as in a unit test, a task returns its own error type.
#[test]
fn a_direct_call_returns_the_error_as_written() {
    let ctx = TaskContext::detached(flytekit::Checkpoint::temporary().unwrap());
    let err: anyhow::Error = with_anyhow(&ctx, true).unwrap_err();
    assert_eq!(format!("{err:#}"), CHAIN);
}
