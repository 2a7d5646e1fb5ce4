//! Tasks' attempts run as a task container runs them (`SingleAttempt`), each with its
//! checkpoint under its own S3 prefix and `--prev-checkpoint` the previous attempt's, as
//! propeller passes them: the seed resumes, failures carry their kind into `error.pb`, and a
//! preemption notice ends an attempt with the state it handed over in S3.

#[path = "../../tests/support/s3.rs"]
mod s3;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flyte_cluster::checkpoint::ObjectStoreCheckpoint;
use flyte_cluster::execute::ContainerFailure;
use flyte_idl::core::{container_error, execution_error};
use flyte_runtime::{AttemptFailure, Encoded, FailureKind, Preemption, SingleAttempt};
use flytekit::{task, Checkpoint, TaskContext, TaskError};

/// The seed, as the design's Rust twin writes it.
#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    for i in start..n_iterations {
        if i > start && i % 3 == 0 {
            return Err(TaskError::recoverable(format!("failed at iteration {i}")));
        }
        cp.write(format!("{}", i + 1).as_bytes())?;
    }
    Ok(n_iterations)
}

#[task]
fn refuses(x: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{x} is not acceptable")))
}

#[task]
fn panics(x: u64) -> u64 {
    let v: Vec<u64> = Vec::new();
    v[x as usize]
}

/// The last state `steps` handed to its writer.
static HANDED: AtomicU64 = AtomicU64::new(0);

/// Saves its step every 2 ms through the asynchronous writer, and returns at a notice.
#[task(retries = 2)]
fn steps(ctx: &TaskContext, n: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    let writer = cp.async_writer();
    let start: u64 = cp.load_state()?.unwrap_or(0);
    for step in start..n {
        writer.save_state(&(step + 1))?;
        HANDED.store(step + 1, Ordering::SeqCst);
        if ctx.preempted() {
            return Err(TaskError::recoverable(format!("preempted after step {}", step + 1)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(start)
}

/// The prefixes of one node's attempts, as propeller lays them out.
struct Node {
    root: String,
}

impl Node {
    fn new() -> Node {
        Node {
            root: s3::S3::shared().new_bucket("attempts"),
        }
    }

    /// `--checkpoint-path` of attempt `number` (from 0).
    fn checkpoint_path(&self, number: u32) -> String {
        format!("{}/n0/{number}/_flytecheckpoints", self.root)
    }

    /// Attempt `number`'s checkpoint: it commits under its own prefix and starts from the
    /// previous attempt's.
    fn backend(&self, number: u32) -> Box<ObjectStoreCheckpoint> {
        let prev = number.checked_sub(1).map(|p| self.checkpoint_path(p));
        Box::new(ObjectStoreCheckpoint::open(&self.checkpoint_path(number), prev.as_deref()).unwrap())
    }
}

fn input(n: u64) -> Vec<Encoded> {
    vec![Encoded::encode(&n).unwrap()]
}

#[test]
fn the_seed_resumes_from_the_checkpoint_the_failed_attempt_left_in_s3() {
    let node = Node::new();
    let mut failures = Vec::new();
    let mut result = None;
    for number in 0..4u32 {
        let attempt = SingleAttempt::new("seed", "n0", number + 1);
        match attempt.run(&use_checkpoint, &input(7), node.backend(number)) {
            Ok(outputs) => {
                result = Some(outputs[0].decode::<u64>().unwrap());
                break;
            }
            Err(failure) => failures.push(failure),
        }
    }
    assert_eq!(result, Some(7));
    let causes: Vec<(u32, &str)> = failures.iter().map(|f| (f.attempt, f.cause.as_str())).collect();
    assert_eq!(causes, [(1, "failed at iteration 3"), (2, "failed at iteration 6")]);
    for failure in &failures {
        let doc = ContainerFailure::from_attempt(failure).to_error_document("");
        let e = doc.error.unwrap();
        assert_eq!(
            (e.kind, e.origin),
            (
                container_error::Kind::Recoverable as i32,
                execution_error::ErrorKind::User as i32
            )
        );
    }
    // What each failed attempt left for the next, in its own prefix.
    let at = |n: u32| flyte_cluster::storage::Location::parse(&format!("{}/_dst_cp", node.checkpoint_path(n))).unwrap();
    assert_eq!(at(0).read().unwrap(), b"3");
    assert_eq!(at(1).read().unwrap(), b"6");
    assert_eq!(at(2).read().unwrap(), b"7");
}

#[test]
fn a_non_recoverable_error_and_a_panic_are_not_for_retrying() {
    let node = Node::new();
    let refused = SingleAttempt::new("e", "n0", 1)
        .run(&refuses, &input(3), node.backend(0))
        .unwrap_err();
    assert_eq!(
        refused,
        AttemptFailure {
            attempt: 1,
            kind: FailureKind::NonRecoverable,
            cause: "3 is not acceptable".to_owned()
        }
    );
    let panicked = SingleAttempt::new("e", "n1", 1)
        .run(&panics, &input(3), node.backend(1))
        .unwrap_err();
    assert_eq!(panicked.kind, FailureKind::Panic);
    assert!(
        panicked
            .cause
            .starts_with("task `panics` panicked: index out of bounds"),
        "{}",
        panicked.cause
    );
    for failure in [refused, panicked] {
        let e = ContainerFailure::from_attempt(&failure)
            .to_error_document("")
            .error
            .unwrap();
        assert_eq!(e.kind, container_error::Kind::NonRecoverable as i32, "{failure:?}");
    }
}

/// A notice in the middle of the loop: the attempt returns at it, is classified as interrupted
/// (a system failure, retried without counting against the task's retries), and the next attempt
/// starts from the last state the task handed over, which reached S3 before the attempt ended.
#[test]
fn a_preemption_notice_ends_the_attempt_with_its_last_state_in_s3() {
    let node = Node::new();
    let notice = Preemption::new();
    let notifier = {
        let notice = notice.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            notice.notify();
        })
    };
    let interrupted = SingleAttempt::new("p", "n0", 1)
        .preemption(notice)
        .run(&steps, &input(1_000_000), node.backend(0))
        .unwrap_err();
    notifier.join().unwrap();
    assert_eq!(interrupted.kind, FailureKind::Interrupted, "{interrupted:?}");
    let handed = HANDED.load(Ordering::SeqCst);
    assert!(handed > 0);
    let e = ContainerFailure::from_attempt(&interrupted)
        .to_error_document("")
        .error
        .unwrap();
    assert_eq!(
        (e.kind, e.origin),
        (
            container_error::Kind::Recoverable as i32,
            execution_error::ErrorKind::System as i32
        )
    );

    // The next attempt resumes from exactly that state: no step is done twice.
    let resumed = SingleAttempt::new("p", "n0", 2)
        .run(&steps, &input(handed + 5), node.backend(1))
        .unwrap();
    assert_eq!(resumed[0].decode::<u64>().unwrap(), handed);
}
