//! `LocalRuntime` itself: running a task alone, and runtimes used side by side.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;

use flytekit::{task, workflow, FailureKind, LocalRuntime, TaskContext, TaskError};

// ---------------------------------------------------------------------------------------------
// run_task

#[task(retries = 2)]
fn add_on_third(ctx: &TaskContext, a: u64, b: u64) -> Result<u64, TaskError> {
    let progress: u32 = ctx.checkpoint().load_state()?.unwrap_or(0);
    ctx.checkpoint().save_state(&(progress + 1))?;
    if ctx.attempt() < 3 {
        return Err(TaskError::recoverable(format!("attempt {}", ctx.attempt())));
    }
    Ok(a + b + u64::from(progress) * 1000)
}

#[test]
fn run_task_runs_one_task_with_retries_and_checkpoints() {
    // Two earlier attempts each committed one step of progress.
    assert_eq!(LocalRuntime::new().run_task(add_on_third, (2, 3)).unwrap(), 2005);
}

static RUN_TASK_FAILURES: AtomicU32 = AtomicU32::new(0);

#[task(retries = 1)]
fn lone_failure(x: u64) -> Result<u64, TaskError> {
    RUN_TASK_FAILURES.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::recoverable(format!("no luck with {x}")))
}

#[test]
fn run_task_failure_names_the_task_as_the_workflow() {
    let err = LocalRuntime::new().run_task(lone_failure, 12).unwrap_err();
    assert_eq!(RUN_TASK_FAILURES.load(Ordering::SeqCst), 2);
    let failure = err
        .node_failure()
        .unwrap_or_else(|| panic!("expected a node failure: {err:?}"));
    assert_eq!(failure.workflow, "lone_failure");
    assert_eq!(failure.node, "n0");
    assert_eq!(failure.task, "lone_failure");
    assert_eq!(failure.max_attempts, 2);
    assert_eq!(failure.attempts.len(), 2);
    assert!(failure.attempts.iter().all(|a| a.kind == FailureKind::Recoverable));
    assert_eq!(
        err.to_string(),
        format!(
            "workflow `lone_failure` failed (execution {}): node n0 (task `lone_failure`) failed after 2 of 2 attempts; \
             attempt 1: recoverable error: no luck with 12; attempt 2: recoverable error: no luck with 12",
            failure.execution
        )
    );
}

#[task]
fn no_inputs_no_context() -> String {
    "plain".to_string()
}

#[task]
fn three_inputs(a: u8, b: String, c: Vec<u8>) -> (String, usize) {
    (format!("{a}{b}"), c.len())
}

#[test]
fn run_task_takes_unit_a_value_or_a_tuple() {
    let runtime = LocalRuntime::new();
    assert_eq!(runtime.run_task(no_inputs_no_context, ()).unwrap(), "plain");
    assert_eq!(runtime.run_task(lone_failure_free, 4).unwrap(), 8);
    assert_eq!(
        runtime
            .run_task(three_inputs, (1, "x".to_string(), vec![0; 3]))
            .unwrap(),
        ("1x".to_string(), 3)
    );
}

#[task]
fn lone_failure_free(x: u64) -> u64 {
    x * 2
}

// ---------------------------------------------------------------------------------------------
// Runtimes side by side

#[task(retries = 2)]
fn resumable_count(ctx: &TaskContext, n: u64) -> Result<(u64, String, String), TaskError> {
    let cp = ctx.checkpoint();
    let start: u64 = cp.load_state()?.unwrap_or(0);
    let mut i = start;
    while i < n {
        i += 1;
        cp.save_state(&i)?;
        // Every attempt but the last stops halfway through what is left.
        if ctx.attempt() < ctx.max_attempts() && i == start + (n - start) / 2 {
            return Err(TaskError::recoverable(format!("stopped at {i}")));
        }
    }
    // The count, and where the last attempt resumed, to show it did resume.
    let count = i * 1000 + start;
    Ok((
        count,
        ctx.execution_id().to_string(),
        cp.dir().to_string_lossy().into_owned(),
    ))
}

#[task]
fn tag(label: String, n: u64) -> String {
    format!("{label}:{n}")
}

#[workflow]
fn counted(label: String, n: u64) -> (String, String, String) {
    let (count, execution, dir) = resumable_count(n);
    (tag(label, count), execution, dir)
}

/// Runs `counted` a few times on `runtime`, checking every result; returns (execution, dir)s.
fn run_several(runtime: &LocalRuntime, label: &str) -> Vec<(String, PathBuf)> {
    (0..5u64)
        .map(|k| {
            let n = 10 + k;
            let (tagged, execution, dir) = runtime.run(counted, (label.to_string(), n)).unwrap();
            // Attempt 1 stops at n/2, attempt 2 halfway through the rest, attempt 3 resumes there.
            let resumed = n / 2 + (n - n / 2) / 2;
            assert_eq!(tagged, format!("{label}:{}", n * 1000 + resumed));
            (execution, PathBuf::from(dir))
        })
        .collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn two_runtimes_in_their_own_dirs_on_two_threads_do_not_interfere() {
    let root_a = tempfile::tempdir().unwrap();
    let root_b = tempfile::tempdir().unwrap();
    let a = LocalRuntime::in_dir(root_a.path());
    let b = LocalRuntime::in_dir(root_b.path());
    let barrier = Barrier::new(2);

    let (runs_a, runs_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            barrier.wait();
            run_several(&a, "a")
        });
        let tb = s.spawn(|| {
            barrier.wait();
            run_several(&b, "b")
        });
        (ta.join().unwrap(), tb.join().unwrap())
    });

    for (runs, root) in [(&runs_a, root_a.path()), (&runs_b, root_b.path())] {
        let mut executions: Vec<String> = runs.iter().map(|(e, _)| e.clone()).collect();
        for (execution, dir) in runs {
            assert_eq!(dir, &root.join(execution).join("n0"));
            assert!(dir.is_dir(), "{} was not kept", dir.display());
        }
        executions.sort();
        executions.dedup();
        assert_eq!(executions.len(), 5, "every run has its own execution id");
        // Each root holds exactly its own runtime's executions.
        assert_eq!(dir_names(root), executions);
    }
    let all: std::collections::HashSet<_> = runs_a.iter().chain(&runs_b).map(|(e, _)| e.clone()).collect();
    assert_eq!(all.len(), 10, "execution ids are unique across runtimes");
}

#[test]
fn two_default_runtimes_on_two_threads_do_not_interfere() {
    let barrier = Barrier::new(2);
    let (runs_a, runs_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            barrier.wait();
            run_several(&LocalRuntime::new(), "left")
        });
        let tb = s.spawn(|| {
            barrier.wait();
            run_several(&LocalRuntime::new(), "right")
        });
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let executions: std::collections::HashSet<_> = runs_a.iter().chain(&runs_b).map(|(e, _)| e.clone()).collect();
    assert_eq!(executions.len(), 10);
    let dirs: std::collections::HashSet<_> = runs_a.iter().chain(&runs_b).map(|(_, d)| d.clone()).collect();
    assert_eq!(dirs.len(), 10, "every run has its own checkpoint directory");
    assert!(dirs.iter().all(|d| !d.exists()), "temporary checkpoints are removed");
}

#[test]
fn one_runtime_shared_by_two_threads() {
    let root = tempfile::tempdir().unwrap();
    let runtime = LocalRuntime::in_dir(root.path());
    let (x, y) = std::thread::scope(|s| {
        let tx = s.spawn(|| run_several(&runtime, "x"));
        let ty = s.spawn(|| run_several(&runtime, "y"));
        (tx.join().unwrap(), ty.join().unwrap())
    });
    let mut executions: Vec<String> = x.iter().chain(&y).map(|(e, _)| e.clone()).collect();
    executions.sort();
    executions.dedup();
    assert_eq!(executions.len(), 10);
    assert_eq!(dir_names(root.path()), executions);
}
