//! `kill -9, run again` as a test: `examples/train.rs` is killed with SIGKILL at random moments
//! and re-run with the same arguments until it finishes, and must then print the result of a run
//! that was never interrupted.
//!
//! The program under test is this test binary itself: the ignored test `train_worker` runs the
//! example's `cli` with the arguments in `FLYTEKIT_TRAIN_ARGS`, so the kill test needs no cargo
//! invocation and no release build of the example. Set `FLYTEKIT_KILL_SEED` to replay a run's
//! kill moments (each run prints its seed).
#![cfg(unix)]

#[path = "../examples/train.rs"]
mod train;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use flytekit::{Status, Store};

const ARGS_VAR: &str = "FLYTEKIT_TRAIN_ARGS";
const TASKS: [&str; 3] = ["prepare", "train", "finish"];

/// Not a test: the process the other tests start and kill.
#[test]
#[ignore = "run by the kill tests as a child process"]
fn train_worker() {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return;
    };
    let argv = std::iter::once("train").chain(args.split('\n'));
    let code = train::cli(argv);
    // Leave before the test harness prints anything after `result=`.
    std::process::exit(i32::from(code));
}

/// A running worker, its stderr lines arriving on a channel as they are written.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
    stdout: thread::JoinHandle<String>,
}

impl Worker {
    fn start(store: &Path, id: &str, steps: u64, progress: bool) -> Worker {
        let mut args = vec![
            "--store".to_string(),
            store.display().to_string(),
            "--execution-id".to_string(),
            id.to_string(),
            "--steps".to_string(),
            steps.to_string(),
        ];
        if progress {
            args.push("--progress".to_string());
        }
        let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
            .args([
                "train_worker",
                "--exact",
                "--ignored",
                "--nocapture",
                "--quiet",
                "--test-threads=1",
            ])
            .env(ARGS_VAR, args.join("\n"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        // Read continuously: a worker blocked on a full pipe would never be killed mid-step.
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut out = child.stdout.take().expect("piped stdout");
        let stdout = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Worker {
            child,
            lines,
            stderr: Vec::new(),
            stdout,
        }
    }

    /// Waits for a stderr line matching `pred`, up to `timeout`; false if the worker ended first.
    fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.stderr.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("no such line within {timeout:?}: {:?}", self.stderr),
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// SIGKILLs the worker (if it still runs) and returns what it printed; `None` for the exit
    /// code when it was killed.
    fn kill(mut self) -> Outcome {
        // `Child::kill` is SIGKILL on Unix: no destructor, no flush, as on a preempted machine.
        let _ = self.child.kill();
        self.finish()
    }

    fn finish(mut self) -> Outcome {
        let status = self.child.wait().expect("wait for a worker");
        self.stderr.extend(self.lines.iter());
        Outcome {
            code: status.code(),
            stdout: self.stdout.join().expect("the stdout reader"),
            stderr: self.stderr,
        }
    }
}

#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: Vec<String>,
}

impl Outcome {
    fn result(&self) -> Option<&str> {
        let line = self.stdout.lines().rev().find(|l| l.contains("result="))?;
        line.split("result=").nth(1).map(str::trim)
    }

    /// The `k` of every `<prefix><k>` line, in order.
    fn numbers(&self, prefix: &str) -> Vec<u64> {
        self.stderr
            .iter()
            .filter_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .collect()
    }

    /// The tasks that printed `<task>: attempt <n>`, i.e. started an attempt.
    fn started(&self) -> Vec<&str> {
        self.stderr
            .iter()
            .filter_map(|l| l.split_once(": attempt ").map(|(task, _)| task))
            .filter(|task| TASKS.contains(task))
            .collect()
    }
}

/// The tasks whose node the store records as succeeded.
fn finished_tasks(store: &Path, id: &str) -> BTreeSet<String> {
    let store = Store::open(store).expect("open the store");
    let Some(report) = store.execution(id).expect("read the execution") else {
        return BTreeSet::new();
    };
    report
        .nodes
        .iter()
        .filter(|n| n.status == Status::Succeeded)
        .map(|n| n.task.clone())
        .collect()
}

fn expected_result(steps: u64) -> String {
    format!("{:016x}", train::expected(steps))
}

#[test]
fn the_result_is_determined_by_the_step_count() {
    let store = tempfile::tempdir().unwrap();
    let args = |steps: u64| train::Args {
        store: store.path().to_path_buf(),
        execution_id: format!("plain-{steps}"),
        steps,
        system_retries: 3,
        progress: false,
        writer: train::Writer::Sync,
        ignore_notice: false,
        grace_period: Duration::from_secs(25),
    };
    assert_eq!(train::run(&args(40)).unwrap(), train::expected(40));
    assert_eq!(train::run(&args(41)).unwrap(), train::expected(41));
    assert_ne!(train::expected(40), train::expected(41));
}

#[test]
fn killed_at_random_moments_it_resumes_and_finishes_with_the_uninterrupted_result() {
    // Each step sleeps at least 1 ms, so 20 kills of at most 250 ms each cannot outlast the loop:
    // every kill lands before the run could finish.
    const STEPS: u64 = 5000;
    const KILLS: usize = 20;
    let seed = std::env::var("FLYTEKIT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("kill seed {seed} (FLYTEKIT_KILL_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let store = tempfile::tempdir().unwrap();
    let id = "killed";
    let started = Instant::now();

    let mut kills = 0;
    let mut redone = Vec::new(); // per kill inside `train`: steps applied before the kill, then again
    let mut last_resume = 0;
    let mut last_step: Option<u64> = None; // the last step the previous (killed) run applied
    let mut finished = BTreeSet::new();
    let mut final_run = None;
    for _ in 0..KILLS + 1 {
        let worker = Worker::start(store.path(), id, STEPS, true);
        let outcome = if kills < KILLS {
            // Most kills land mid-loop; one in four lands in the first moments, where the
            // process opens the store, runs `prepare` or resumes.
            let ms = if rng.u8(..4) == 0 {
                rng.u64(0..30)
            } else {
                rng.u64(30..250)
            };
            thread::sleep(Duration::from_millis(ms));
            worker.kill()
        } else {
            worker.finish()
        };

        let resumed = outcome.numbers("resumed at step ");
        assert!(resumed.len() <= 1, "one resume per run: {:?}", outcome.stderr);
        if let Some(&k) = resumed.first() {
            assert!(k >= last_resume, "resumed at step {k} after resuming at {last_resume}");
            if let Some(applied) = last_step {
                // A step is printed before it is saved: at most the step in flight is redone.
                assert!(
                    k <= applied && applied - k <= 1,
                    "applied {applied} before the kill, resumed at {k}"
                );
                redone.push(applied - k);
            }
            last_resume = k;
        }
        for task in outcome.started() {
            assert!(
                !finished.contains(task),
                "{task} ran again after it finished: {:?}",
                outcome.stderr
            );
        }
        let steps = outcome.numbers("step ");
        if let Some(&s) = steps.last() {
            last_step = Some(s);
        } else if !resumed.is_empty() {
            last_step = resumed.first().copied();
        }
        finished = finished_tasks(store.path(), id);

        if outcome.code.is_none() {
            kills += 1;
        } else {
            assert_eq!(outcome.code, Some(0), "a run that was not killed succeeds: {outcome:?}");
            final_run = Some(outcome);
            break;
        }
    }
    let final_run = final_run.expect("the last run is not killed");
    assert_eq!(final_run.result(), Some(expected_result(STEPS).as_str()));

    let report = Store::open(store.path()).unwrap().execution(id).unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    assert_eq!(report.nodes.len(), 3);
    for node in &report.nodes {
        let succeeded = node.attempts.iter().filter(|a| a.status == Status::Succeeded).count();
        assert_eq!(succeeded, 1, "{} succeeded once: {:?}", node.task, node.attempts);
        assert_eq!(node.attempts.last().map(|a| a.status), Some(Status::Succeeded));
        // Every earlier attempt was cut short by a kill; none failed.
        assert!(node
            .attempts
            .iter()
            .rev()
            .skip(1)
            .all(|a| a.status == Status::Interrupted));
    }

    // Once more: the stored result at once, no task runs.
    let again = Worker::start(store.path(), id, STEPS, true).finish();
    assert_eq!(again.code, Some(0));
    assert_eq!(again.result(), Some(expected_result(STEPS).as_str()));
    assert_eq!(again.started(), Vec::<&str>::new(), "{:?}", again.stderr);

    let train_node = report.nodes.iter().find(|n| n.task == "train").unwrap();
    let total: u64 = redone.iter().sum();
    println!(
        "{kills} kills in {:.1?}: train interrupted {} times, resumed {} times, steps redone per resume: \
         max {}, total {total}",
        started.elapsed(),
        train_node.system_failures,
        redone.len(),
        redone.iter().max().unwrap_or(&0),
    );
    assert_eq!(kills, KILLS, "the run finished before every kill was spent");
}

#[test]
fn a_second_process_is_refused_and_a_killed_owner_does_not_block_resuming() {
    let store = tempfile::tempdir().unwrap();
    let id = "owned";
    // Far more steps than the test waits for: the owner is killed, never finishes.
    let steps = 1_000_000;
    let mut owner = Worker::start(store.path(), id, steps, true);
    assert!(
        owner.wait_for(Duration::from_secs(60), |l| l == "step 1"),
        "the owner runs train"
    );

    let second = Worker::start(store.path(), id, steps, false).finish();
    assert_eq!(second.code, Some(1), "{second:?}");
    let message = second.stderr.last().expect("one line of error");
    assert!(message.contains("execution `owned` is already running"), "{message}");
    assert!(message.contains(&format!("process {}", owner.child.id())), "{message}");
    assert_eq!(second.started(), Vec::<&str>::new());

    owner.kill();
    let mut resumer = Worker::start(store.path(), id, steps, true);
    assert!(resumer.wait_for(Duration::from_secs(60), |l| l.starts_with("resumed at step ")));
    let resumed = resumer.kill();
    assert!(resumed.numbers("resumed at step ")[0] >= 1);
}
