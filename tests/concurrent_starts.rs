//! Many processes, and many threads, starting executions on one store at the same moment: every
//! one of them runs, with the right outputs. (A transaction that read before it wrote could not
//! take the write lock once another process had committed, and failed at once with `database is
//! locked`, whatever the busy timeout.)
//!
//! Processes are this test binary run again (the ignored `program` test). Each one gets ready,
//! then waits on its stdin; the test closes every stdin together, a barrier without sleeps.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};

use flytekit::{task, workflow, LocalRuntime, Status, Store};

const STORE_VAR: &str = "FLYTEKIT_CONCURRENT_STORE";
const INDEX_VAR: &str = "FLYTEKIT_CONCURRENT_INDEX";
const PROCESSES: u64 = 16;

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task(retries = 1)]
fn add_one(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn chain(x: u64) -> u64 {
    let d = double(x);
    let a = add_one(d);
    double(a)
}

fn expected(x: u64) -> u64 {
    (x * 2 + 1) * 2
}

/// Not a test: one of the processes the other tests start.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let (Ok(store), Ok(index)) = (std::env::var(STORE_VAR), std::env::var(INDEX_VAR)) else {
        return;
    };
    let index: u64 = index.parse().unwrap();
    // The barrier: wait until the test closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let outcome = LocalRuntime::with_store(&store).and_then(|rt| rt.run_with_id(&format!("p{index}"), chain, index));
    match outcome {
        Ok(out) => println!("{out}"),
        Err(e) => println!("error: {e}"),
    }
    std::process::exit(0);
}

fn spawn(store: &Path, index: u64) -> Child {
    common::program_command()
        .env(STORE_VAR, store)
        .env(INDEX_VAR, index.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts [`PROCESSES`] processes on `store` at once and checks that each printed its result.
fn start_together(store: &Path) {
    let mut children: Vec<Child> = (0..PROCESSES).map(|i| spawn(store, i)).collect();
    // Every process is started before any is let go.
    for child in &mut children {
        drop(child.stdin.take());
    }
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The test harness announces itself before the program's own line.
        assert_eq!(
            stdout.lines().last().unwrap_or_default(),
            expected(i as u64).to_string(),
            "process {i}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Store::open(store).unwrap();
    for i in 0..PROCESSES {
        let report = store.execution(&format!("p{i}")).unwrap().unwrap();
        assert_eq!(report.summary.status, Status::Succeeded, "p{i}");
        assert_eq!(report.nodes.len(), 3, "p{i}");
    }
}

#[test]
fn processes_starting_together_on_a_new_store_all_run() {
    let dir = tempfile::tempdir().unwrap();
    start_together(&dir.path().join("store"));
}

#[test]
fn processes_starting_together_on_an_existing_store_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    for i in 0..20 {
        assert_eq!(rt.run_with_id(&format!("earlier-{i}"), chain, i).unwrap(), expected(i));
    }
    drop(rt);
    start_together(dir.path());
    assert_eq!(
        Store::open(dir.path()).unwrap().executions().unwrap().len(),
        20 + PROCESSES as usize
    );
}

#[test]
fn threads_of_one_process_run_executions_on_one_store_together() {
    let dir = tempfile::tempdir().unwrap();
    let shared = LocalRuntime::with_store(dir.path()).unwrap();
    let threads = 24;
    let barrier = Arc::new(Barrier::new(threads));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|i| {
                let (barrier, shared, dir) = (barrier.clone(), &shared, dir.path());
                scope.spawn(move || {
                    // Half share one runtime (one connection), half open their own.
                    let own = (i % 2 == 1).then(|| LocalRuntime::with_store(dir).unwrap());
                    let rt = own.as_ref().unwrap_or(shared);
                    barrier.wait();
                    rt.run_with_id(&format!("t{i}"), chain, i)
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let out = handle.join().unwrap();
            assert_eq!(out.unwrap_or_else(|e| panic!("thread {i}: {e}")), expected(i as u64));
        }
    });
    let runs = shared.store().unwrap().executions().unwrap();
    assert_eq!(runs.len(), threads);
    assert!(runs.iter().all(|r| r.status == Status::Succeeded));
}
