//! The parallel scheduler: independent nodes overlap, `max_parallelism` bounds them, 1 keeps
//! the body's order, and a failure stops the rest. Concurrency is shown with barriers and
//! channels, never with clocks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Barrier, LazyLock, Mutex};
use std::time::Duration;

use flytekit::{task, workflow, FailureKind, LocalRuntime, Status, TaskContext, TaskError};

/// How long a task waits for its sibling before the test calls the overlap absent. Only a
/// failing run waits this long.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Two independent nodes overlap: each waits for the other to have started.

struct Handshake {
    tx: Mutex<Option<Sender<&'static str>>>,
    rx: Mutex<Option<Receiver<&'static str>>>,
}

fn handshake() -> (Handshake, Handshake) {
    let (a_tx, a_rx) = mpsc::channel();
    let (b_tx, b_rx) = mpsc::channel();
    let side = |tx, rx| Handshake {
        tx: Mutex::new(Some(tx)),
        rx: Mutex::new(Some(rx)),
    };
    (side(a_tx, b_rx), side(b_tx, a_rx))
}

impl Handshake {
    /// Tells the other side this one runs, then waits until the other side runs too.
    fn meet(&self, me: &'static str) -> Result<&'static str, TaskError> {
        let tx = self.tx.lock().unwrap().take().expect("one attempt per side");
        let rx = self.rx.lock().unwrap().take().expect("one attempt per side");
        tx.send(me)
            .map_err(|_| TaskError::non_recoverable("the other side is gone"))?;
        rx.recv_timeout(PATIENCE)
            .map_err(|_| TaskError::non_recoverable(format!("{me} ran alone: the other node never started")))
    }
}

static OVERLAP: LazyLock<(Handshake, Handshake)> = LazyLock::new(handshake);
static OVERLAP_DURABLE: LazyLock<(Handshake, Handshake)> = LazyLock::new(handshake);

#[task]
fn left(durable: bool) -> Result<String, TaskError> {
    let side = if durable { &OVERLAP_DURABLE.0 } else { &OVERLAP.0 };
    Ok(format!("left met {}", side.meet("left")?))
}

#[task]
fn right(durable: bool) -> Result<String, TaskError> {
    let side = if durable { &OVERLAP_DURABLE.1 } else { &OVERLAP.1 };
    Ok(format!("right met {}", side.meet("right")?))
}

#[workflow]
fn both_sides(durable: bool) -> (String, String) {
    (left(durable), right(durable))
}

#[test]
fn independent_nodes_run_at_the_same_time() {
    let out = LocalRuntime::new().max_parallelism(2).run(both_sides, false).unwrap();
    assert_eq!(out, ("left met right".to_string(), "right met left".to_string()));
}

#[test]
fn independent_nodes_run_at_the_same_time_in_a_durable_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(2);
    let out = rt.run_with_id("overlap", both_sides, true).unwrap();
    assert_eq!(out, ("left met right".to_string(), "right met left".to_string()));
    let report = rt.store().unwrap().execution("overlap").unwrap().unwrap();
    assert!(report
        .nodes
        .iter()
        .all(|n| n.status == Status::Succeeded && n.attempts.len() == 1));
}

// ---------------------------------------------------------------------------------------------
// `max_parallelism` bounds how many run at once: six nodes meet three at a time.

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static THREE: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(3));

#[task]
fn crowd(i: u64) -> u64 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    // Three must be running for any to pass: with fewer slots this would never return.
    THREE.wait();
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    i * 10
}

#[workflow]
fn six(a: u64) -> (u64, u64, u64, u64, u64, u64) {
    (crowd(a), crowd(1), crowd(2), crowd(3), crowd(4), crowd(5))
}

#[test]
fn max_parallelism_bounds_the_nodes_running_at_once() {
    let out = LocalRuntime::new().max_parallelism(3).run(six, 0).unwrap();
    assert_eq!(out, (0, 10, 20, 30, 40, 50), "outputs stay in their places");
    assert_eq!(PEAK.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------------------------------------
// A parallelism of 1 runs the nodes one at a time, in the order the body calls them.

static ORDER: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SEQ_RUNNING: AtomicUsize = AtomicUsize::new(0);
static SEQ_PEAK: AtomicUsize = AtomicUsize::new(0);

#[task]
fn step(name: String, after: u64) -> u64 {
    let now = SEQ_RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    SEQ_PEAK.fetch_max(now, Ordering::SeqCst);
    ORDER.lock().unwrap().push(name);
    SEQ_RUNNING.fetch_sub(1, Ordering::SeqCst);
    after + 1
}

#[workflow]
fn diamond_of_steps() -> u64 {
    let a = step("a", 0);
    let b = step("b", a);
    let c = step("c", a);
    let d = step("d", 0);
    step("e", b);
    step("f", c)
}

#[test]
fn a_parallelism_of_one_keeps_the_body_order() {
    let out = LocalRuntime::new()
        .max_parallelism(1)
        .run(diamond_of_steps, ())
        .unwrap();
    assert_eq!(out, 3);
    // Ready nodes start in the order they became ready: a and d first, then a's consumers.
    assert_eq!(*ORDER.lock().unwrap(), ["a", "d", "b", "c", "e", "f"]);
    assert_eq!(SEQ_PEAK.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// A failure stops the execution: the running sibling is asked to stop (its next checkpoint
// commit is refused) and is not retried, and nothing new starts.

static SIBLING_STARTED: AtomicBool = AtomicBool::new(false);
static SIBLING_COMMITS: AtomicUsize = AtomicUsize::new(0);
static AFTER_SIBLING_RAN: AtomicBool = AtomicBool::new(false);

#[task]
fn breaks(x: u64) -> Result<u64, TaskError> {
    // Fail only once the sibling is mid-loop, so that there is something to stop.
    while !SIBLING_STARTED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    Err(TaskError::non_recoverable(format!("{x} is broken")))
}

#[task(retries = 3)]
fn long_loop(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    SIBLING_STARTED.store(true, Ordering::SeqCst);
    let mut i = 0u64;
    loop {
        // Commits until the runtime refuses one: that is how a checkpointing loop is stopped.
        ctx.checkpoint().save_state(&i)?;
        SIBLING_COMMITS.fetch_add(1, Ordering::SeqCst);
        i += 1;
        if i == x {
            return Ok(i);
        }
    }
}

#[task]
fn after_sibling(x: u64) -> u64 {
    AFTER_SIBLING_RAN.store(true, Ordering::SeqCst);
    x
}

#[workflow]
fn fails_fast(x: u64) -> (u64, u64) {
    let a = breaks(x);
    let b = long_loop(x);
    (a, after_sibling(b))
}

#[test]
fn a_failed_node_stops_its_running_siblings_and_nothing_new_starts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(2);
    // The loop would run for ages (u64::MAX commits) unless it is stopped.
    let err = rt.run_with_id("fails-fast", fails_fast, u64::MAX).unwrap_err();
    let failure = err.node_failure().expect("a node failure");
    assert_eq!((failure.task.as_str(), failure.node.as_str()), ("breaks", "n0"));
    assert!(
        !AFTER_SIBLING_RAN.load(Ordering::SeqCst),
        "nothing starts after a failure"
    );
    assert!(SIBLING_COMMITS.load(Ordering::SeqCst) >= 1);

    let report = rt.store().unwrap().execution("fails-fast").unwrap().unwrap();
    let sibling = report.nodes.iter().find(|n| n.task == "long_loop").unwrap();
    assert_eq!(sibling.status, Status::Failed);
    assert_eq!(
        sibling.attempts.len(),
        1,
        "a stopped attempt is not retried: {:?}",
        sibling.attempts
    );
    let cause = sibling.attempts[0].cause.as_deref().unwrap();
    assert!(
        cause.contains("not committed: another node failed and the execution is stopping"),
        "{cause}"
    );
    assert!(report.nodes.iter().all(|n| n.task != "after_sibling"));
}

#[task]
fn refuses(x: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{x} refused")))
}

static QUEUED_RAN: AtomicBool = AtomicBool::new(false);

#[task]
fn queued(x: u64) -> u64 {
    QUEUED_RAN.store(true, Ordering::SeqCst);
    x
}

#[workflow]
fn one_refuses(x: u64) -> (u64, u64) {
    (refuses(x), queued(x))
}

#[test]
fn one_at_a_time_a_failure_leaves_the_queued_nodes_unstarted() {
    let err = LocalRuntime::new().max_parallelism(1).run(one_refuses, 7).unwrap_err();
    let failure = err.node_failure().unwrap();
    assert_eq!(failure.task, "refuses");
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::NonRecoverable);
    assert!(
        !QUEUED_RAN.load(Ordering::SeqCst),
        "the node queued after the failed one never starts"
    );
}

// Queued nodes that no worker has started are dropped at the first failure.

static BLOCKER_STARTED: AtomicBool = AtomicBool::new(false);
static LATE_RAN: AtomicUsize = AtomicUsize::new(0);

#[task]
fn fails_once_blocker_runs(x: u64) -> Result<u64, TaskError> {
    while !BLOCKER_STARTED.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    Err(TaskError::non_recoverable(format!("{x} failed")))
}

#[task]
fn blocker(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    BLOCKER_STARTED.store(true, Ordering::SeqCst);
    // Holds its worker until the execution stops, so the only free worker is the failed one's.
    while !ctx.is_stopping() {
        std::thread::yield_now();
    }
    Err(TaskError::recoverable(format!("{x} stopped")))
}

#[task]
fn late(x: u64) -> u64 {
    LATE_RAN.fetch_add(1, Ordering::SeqCst);
    x
}

#[workflow]
fn queue_behind_a_failure(x: u64) -> (u64, u64, u64, u64, u64) {
    (fails_once_blocker_runs(x), blocker(x), late(x), late(1), late(2))
}

#[test]
fn queued_nodes_do_not_start_after_a_failure() {
    let err = LocalRuntime::new()
        .max_parallelism(2)
        .run(queue_behind_a_failure, 0)
        .unwrap_err();
    assert_eq!(err.node_failure().unwrap().task, "fails_once_blocker_runs");
    assert_eq!(LATE_RAN.load(Ordering::SeqCst), 0);
}
