//! A task's panic is caught and reported in the error, and printed nowhere: the panic hook's
//! `thread 'main' panicked at ...` would read as if the program had crashed. Panics outside
//! tasks, and a hook the program installed first, behave as before.
//!
//! Each case runs this test binary again as a child process (the ignored `program` test, with
//! the case in `FLYTEKIT_PANIC_CASE`) and reads what it printed.

mod common;

use std::process::Output;

use flytekit::{task, workflow, LocalRuntime};

const CASE_VAR: &str = "FLYTEKIT_PANIC_CASE";

#[task(retries = 2)]
fn explode(x: u64) -> u64 {
    if x > 0 {
        panic!("exploded on {x}");
    }
    x
}

#[workflow]
fn fragile(x: u64) -> u64 {
    explode(x)
}

/// Runs the workflow with a panicking task and prints the error's message on stdout.
fn run_the_panicking_task() {
    match LocalRuntime::new().run(fragile, 3) {
        Ok(out) => println!("unexpected success: {out}"),
        Err(e) => println!("{e}"),
    }
}

/// Not a test: the program the other tests run.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        return;
    };
    match case.as_str() {
        "task" => run_the_panicking_task(),
        "outside" => {
            run_the_panicking_task();
            // A thread of the program's own, outside any task.
            let _ = std::thread::spawn(|| panic!("a panic outside any task")).join();
        }
        "user-hook" => {
            std::panic::set_hook(Box::new(|info| eprintln!("user hook saw: {}", payload(info.payload()))));
            run_the_panicking_task();
            let _ = std::thread::spawn(|| panic!("a panic outside any task")).join();
        }
        other => panic!("unknown case {other}"),
    }
    // Leave before the test harness prints anything.
    std::process::exit(0);
}

fn payload(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>().copied().unwrap_or("?")
}

fn child(case: &str) -> Output {
    common::program_command()
        .env(CASE_VAR, case)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_task_panic_prints_nothing_and_its_message_and_location_are_in_the_error() {
    let out = child("task");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stderr, "",
        "a caught task panic printed something, even with RUST_BACKTRACE=1"
    );
    // Panics are not retried: one attempt of the three allowed, its cause with where it happened.
    let line = format!(
        "node n0 (task `explode`) failed after 1 of 3 attempts; attempt 1: panic: task `explode` panicked: exploded on 3 (at tests/panics.rs:{}:9)",
        line_of("panic!(\"exploded on {x}\")")
    );
    assert!(stdout.contains(&line), "expected `{line}` in:\n{stdout}");
}

#[test]
fn a_panic_outside_tasks_still_reaches_the_default_hook() {
    let out = child("outside");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("task `explode` panicked: exploded on 3"), "{stdout}");
    assert!(stderr.contains("panicked at tests/panics.rs:"), "{stderr}");
    assert!(stderr.contains("a panic outside any task"), "{stderr}");
    assert!(!stderr.contains("exploded"), "the task's panic was printed: {stderr}");
}

#[test]
fn a_hook_the_program_installed_first_still_sees_panics_outside_tasks() {
    let out = child("user-hook");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("task `explode` panicked: exploded on 3"), "{stdout}");
    assert_eq!(stderr, "user hook saw: a panic outside any task\n");
}

/// The 1-based line of this file holding `needle`.
fn line_of(needle: &str) -> usize {
    include_str!("panics.rs")
        .lines()
        .position(|l| l.contains(needle) && !l.contains("line_of"))
        .map(|i| i + 1)
        .expect("the line is in this file")
}
