//! Less common task signatures, through the runtime and as plain calls.

use std::sync::atomic::{AtomicU32, Ordering};

use flytekit::{task, workflow, FailureKind, LocalRuntime, Task, TaskError};

/// A single input that is itself a tuple is one input, not two.
#[task]
fn sum_pair(pair: (u8, u8)) -> u16 {
    u16::from(pair.0) + u16::from(pair.1)
}

#[workflow]
fn pair_wf(pair: (u8, u8)) -> u16 {
    sum_pair(pair)
}

#[test]
fn a_single_tuple_input_is_one_input() {
    assert_eq!(sum_pair((200, 100)), 300);
    assert_eq!(sum_pair.info().inputs(), ["pair"]);
    assert_eq!(LocalRuntime::new().run_task(sum_pair, (200, 100)).unwrap(), 300);
    assert_eq!(LocalRuntime::new().run(pair_wf, (1, 2)).unwrap(), 3);
}

/// A destructuring pattern as a parameter.
#[task]
fn pattern_param((a, b): (u32, u32), mut c: u32) -> u32 {
    c += a * b;
    c
}

#[workflow]
fn pattern_wf(c: u32) -> u32 {
    pattern_param((3, 4), c)
}

#[test]
fn pattern_and_mut_parameters_work() {
    assert_eq!(pattern_param((2, 5), 1), 11);
    assert_eq!(LocalRuntime::new().run(pattern_wf, 1).unwrap(), 13);
}

// `r#type` as a parameter name does not compile: see tests/bugs.rs.

/// A one-element tuple output is one slot, destructured as such.
#[task]
fn one_tuple(x: u8) -> (u8,) {
    (x + 1,)
}

#[workflow]
fn one_tuple_wf(x: u8) -> (u8,) {
    let (y,) = one_tuple(x);
    one_tuple(y)
}

#[test]
fn a_one_element_tuple_output_is_destructured() {
    assert_eq!(LocalRuntime::new().run(one_tuple_wf, 1).unwrap(), (3,));
}

/// `-> Result<(A, B), E>`: a fallible task with several outputs.
#[task(retries = 1)]
fn fallible_split(text: String) -> Result<(String, usize), TaskError> {
    if text.is_empty() {
        return Err(TaskError::non_recoverable("nothing to split"));
    }
    let words = text.split_whitespace().count();
    Ok((text.to_uppercase(), words))
}

#[task]
fn render(upper: String, words: usize) -> String {
    format!("{upper} ({words})")
}

#[workflow]
fn fallible_split_wf(text: String) -> String {
    let (upper, words) = fallible_split(text);
    render(upper, words)
}

#[test]
fn a_fallible_tuple_output_is_destructured() {
    assert_eq!(
        LocalRuntime::new().run(fallible_split_wf, "a b c".to_string()).unwrap(),
        "A B C (3)"
    );
    let err = LocalRuntime::new().run(fallible_split_wf, String::new()).unwrap_err();
    let failure = err.node_failure().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(failure.task, "fallible_split");
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].cause, "nothing to split");
}

static IO_RESULT_CALLS: AtomicU32 = AtomicU32::new(0);

/// `-> io::Result<T>`: a `Result` alias with one parameter.
#[task(retries = 2)]
fn io_result(path: String) -> std::io::Result<usize> {
    IO_RESULT_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(std::fs::read(path)?.len())
}

#[test]
fn an_io_result_task_is_fallible_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("five");
    std::fs::write(&file, "12345").unwrap();
    let runtime = LocalRuntime::new();
    assert_eq!(
        runtime
            .run_task(io_result, file.to_string_lossy().into_owned())
            .unwrap(),
        5
    );

    IO_RESULT_CALLS.store(0, Ordering::SeqCst);
    let missing = dir.path().join("missing").to_string_lossy().into_owned();
    let err = runtime.run_task(io_result, missing).unwrap_err();
    assert_eq!(IO_RESULT_CALLS.load(Ordering::SeqCst), 3);
    let failure = err.node_failure().unwrap_or_else(|| panic!("{err:?}"));
    assert!(failure.attempts.iter().all(|a| a.kind == FailureKind::Recoverable));
}

/// A context parameter written with its full path, between two inputs.
#[task(retries = 1)]
fn full_path_context(a: u32, ctx: &flytekit::TaskContext, b: u32) -> Result<u32, TaskError> {
    if ctx.attempt() == 1 {
        ctx.checkpoint().save_state(&(a * b))?;
        return Err(TaskError::recoverable("first"));
    }
    Ok(ctx.checkpoint().load_state::<u32>()?.unwrap_or(0) + a + b)
}

#[test]
fn a_context_parameter_between_inputs_with_a_full_path() {
    assert_eq!(full_path_context.info().inputs(), ["a", "b"]);
    assert_eq!(LocalRuntime::new().run_task(full_path_context, (3, 4)).unwrap(), 19);
}

/// Documented, with other attributes kept on the function.
#[task]
#[allow(clippy::needless_return)]
pub fn documented(x: u64) -> u64 {
    return x;
}

#[test]
fn docs_and_attributes_are_kept() {
    assert_eq!(documented(5), 5);
    assert_eq!(LocalRuntime::new().run_task(documented, 6).unwrap(), 6);
}

/// Twelve inputs, the most a tuple interface supports.
#[task]
#[allow(clippy::too_many_arguments)]
fn twelve(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8, j: u8, k: u8, l: u8) -> u32 {
    [a, b, c, d, e, f, g, h, i, j, k, l].iter().map(|&x| u32::from(x)).sum()
}

#[workflow]
fn twelve_wf(x: u8) -> u32 {
    twelve(x, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
}

#[test]
fn twelve_inputs_work() {
    assert_eq!(LocalRuntime::new().run(twelve_wf, 100).unwrap(), 166);
    assert_eq!(
        LocalRuntime::new()
            .run_task(twelve, (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))
            .unwrap(),
        12
    );
}
