//! SIGTERM and SIGINT sent for real to a child process running a workflow: through
//! `flytekit::main`'s `run` and `resume` (the ignored test `program` is the workflow binary),
//! and through `examples/train.rs`, which asks `LocalRuntime::handle_signals` itself (the
//! ignored test `train_worker`), at random moments as `tests/kill.rs` kills it with SIGKILL.
//!
//! Set `FLYTEKIT_PREEMPT_ROUNDS` to send more signals in the random-moment test (default 12
//! of each), and `FLYTEKIT_KILL_SEED` to replay its moments.
#![cfg(unix)]

mod common;

#[path = "../examples/train.rs"]
mod train;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use flytekit::{task, workflow, Status, Store, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

const PROGRAM_ARGS: &str = "FLYTEKIT_SIGNALS_ARGS";
const TRAIN_ARGS: &str = "FLYTEKIT_TRAIN_ARGS";

#[derive(Serialize, Deserialize)]
struct Progress {
    step: u64,
    /// Makes each commit take a while, so that a state handed over is not on disk at once.
    pad: String,
}

/// Counts to `n`, 1 ms a step, handing each step to an asynchronous writer and printing
/// `step <k>` once it is handed over. Unless told to `ignore` the notice, it checks it before
/// each step, and returns when it came.
#[task]
fn stepper(ctx: &TaskContext, n: u64, ignore: bool, pad: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    let writer = cp.async_writer();
    let mut step = cp.load_state::<Progress>()?.map_or(0, |p| p.step);
    eprintln!("resumed at step {step}");
    let pad = "x".repeat(usize::try_from(pad)?);
    while step < n {
        if !ignore && ctx.preempted() {
            eprintln!("returned at step {step}");
            return Err(TaskError::recoverable(format!("returned at step {step}")));
        }
        thread::sleep(Duration::from_millis(1));
        step += 1;
        writer.save_state(&Progress { step, pad: pad.clone() })?;
        eprintln!("step {step}");
    }
    Ok(step)
}

#[workflow]
fn stepping(n: u64, ignore: bool, pad: u64) -> u64 {
    stepper(n, ignore, pad)
}

/// Not a test: the workflow binary the CLI tests run.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let Ok(args) = std::env::var(PROGRAM_ARGS) else {
        return;
    };
    let argv = std::iter::once("prog").chain(args.split('\n'));
    let code = flytekit::main_from(argv, [stepping.into()]);
    let status = (0..=u8::MAX)
        .find(|&c| code == std::process::ExitCode::from(c))
        .unwrap_or(1);
    std::process::exit(i32::from(status));
}

/// Not a test: `examples/train.rs` with the arguments in `FLYTEKIT_TRAIN_ARGS`.
#[test]
#[ignore = "run by the other tests as a child process"]
fn train_worker() {
    let Ok(args) = std::env::var(TRAIN_ARGS) else {
        return;
    };
    let code = train::cli(std::iter::once("train").chain(args.split('\n')));
    std::process::exit(i32::from(code));
}

/// A running child, its stderr lines arriving on a channel as they are written.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    stderr: Vec<(Instant, String)>,
    stdout: thread::JoinHandle<String>,
}

impl Worker {
    /// The CLI program with `args`.
    fn program(args: &[&str]) -> Worker {
        let mut cmd = common::program_command();
        cmd.env(PROGRAM_ARGS, args.join("\n"));
        Worker::spawn(cmd)
    }

    /// `examples/train.rs` with `args`.
    fn train(args: &[String]) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
        cmd.args([
            "train_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        .env(TRAIN_ARGS, args.join("\n"))
        .stdin(Stdio::null());
        Worker::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Worker {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        // Read continuously: a worker blocked on a full pipe would not see its signal in time.
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
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

    /// Waits for a stderr line `line`, up to a minute.
    fn wait_for(&mut self, line: &str) {
        self.wait_until(|l| l == line);
    }

    /// Waits for a stderr line that `pred` accepts, up to a minute, and returns it.
    fn wait_until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, l)) => {
                    let hit = pred(&l);
                    self.stderr.push((at, l.clone()));
                    if hit {
                        return l;
                    }
                }
                Err(e) => panic!("no such line ({e:?}): {:?}", self.stderr),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
    }

    /// Whether the process has not exited yet.
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
    /// `None` when a signal ended the process.
    code: Option<i32>,
    stdout: String,
    /// Each line, with when it was read.
    stderr: Vec<(Instant, String)>,
}

impl Outcome {
    /// The `k` of every `<prefix><k>` line, in order.
    fn numbers(&self, prefix: &str) -> Vec<u64> {
        self.numbers_before(prefix, None)
    }

    /// The `k` of every `<prefix><k>` line read before `before` (every one, for `None`).
    fn numbers_before(&self, prefix: &str, before: Option<Instant>) -> Vec<u64> {
        self.stderr
            .iter()
            .filter(|(at, _)| before.is_none_or(|b| *at < b))
            .filter_map(|(_, l)| l.strip_prefix(prefix)?.trim().parse().ok())
            .collect()
    }

    /// The runtime's last line, the one naming the execution. A task that ignores the notice
    /// may still be writing when the process exits: its `step ` line, cut short, can follow.
    fn last_line(&self) -> &str {
        self.stderr
            .iter()
            .rev()
            .map(|(_, l)| l.as_str())
            .find(|l| l.contains("execution "))
            .unwrap_or("")
    }
}

/// `prog --store DIR run stepping` with its inputs, under execution id `id`, then `extra`.
fn run_stepping(dir: &str, id: &str, n: u64, ignore: bool, pad: u64, extra: &[&str]) -> Vec<String> {
    let inputs = [format!("n={n}"), format!("ignore={ignore}"), format!("pad={pad}")];
    let mut args: Vec<String> = ["--store", dir, "run", "stepping"].map(String::from).to_vec();
    for input in inputs {
        args.extend(["--input".to_owned(), input]);
    }
    args.extend(["--execution-id", id].map(String::from));
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Sends `signal` once `stepper` has handed over step 50, and returns the outcome, when the
/// signal was sent and how long the process took to exit after it.
fn signalled(args: &[&str], signal: &str) -> (Outcome, Instant, Duration) {
    let mut worker = Worker::program(args);
    worker.wait_for("step 50");
    worker.signal(signal);
    let sent = Instant::now();
    let outcome = worker.finish();
    (outcome, sent, sent.elapsed())
}

/// The arguments of `resume` in the line's `resume it with `…`` command, which must be the
/// program's.
fn resume_args(line: &str) -> Vec<String> {
    let command = line
        .split("resume it with `")
        .nth(1)
        .and_then(|rest| rest.strip_suffix('`'))
        .unwrap_or_else(|| panic!("no command in {line:?}"));
    let mut words = command.split(' ');
    assert_eq!(words.next(), Some("prog"), "{line}");
    words.map(str::to_owned).collect()
}

/// Every attempt of execution `id` has ended: none is left recorded as running.
fn no_attempt_running(store: &Path, id: &str) -> flytekit::ExecutionReport {
    let report = Store::open(store).unwrap().execution(id).unwrap().unwrap();
    for node in &report.nodes {
        assert!(
            node.attempts.iter().all(|a| a.status != Status::Running),
            "{}: {:?}",
            node.id,
            node.attempts
        );
    }
    report
}

#[test]
fn sigterm_lets_a_checking_task_return_with_its_state_and_the_printed_command_resumes_it() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let args = run_stepping(dir, "t1", 3000, false, 0, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _, took) = signalled(&args, "TERM");
    assert_eq!(out.code, Some(143), "{out:?}");
    let last = *out.numbers("step ").last().unwrap();
    assert_eq!(out.numbers("returned at step "), [last], "it returned at the notice");
    assert_eq!(
        out.last_line(),
        format!(
            "execution t1 stopped by SIGTERM: interrupted n0 attempt 1; resume it with `prog --store {dir} resume t1`"
        ),
        "one line, not an error: {out:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "a checking task ends the run at once: {took:?}"
    );

    let report = no_attempt_running(store.path(), "t1");
    assert_eq!(report.summary.status, Status::Interrupted);
    assert_eq!(report.events.last().map(|e| e.kind.as_str()), Some("preempted"));
    let node = &report.nodes[0];
    assert_eq!((node.status, node.system_failures), (Status::Interrupted, 1));
    let cause = format!("preempted by SIGTERM: the attempt returned at the notice (returned at step {last})");
    assert_eq!(node.attempts[0].cause.as_deref(), Some(&*cause));

    // The command the line gives resumes it from the last state handed over: no step redone.
    let resume = resume_args(out.last_line());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let again = Worker::program(&resume).finish();
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.numbers("resumed at step "), [last]);
    assert_eq!(again.numbers("step ").first(), Some(&(last + 1)));
    assert!(again.stdout.contains("3000"), "{again:?}");
    let report = no_attempt_running(store.path(), "t1");
    assert_eq!(report.summary.status, Status::Succeeded);
}

#[test]
fn sigint_exits_130_with_the_same_line() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let args = run_stepping(dir, "i1", 3000, false, 0, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _, _) = signalled(&args, "INT");
    assert_eq!(out.code, Some(130), "{out:?}");
    assert_eq!(
        out.last_line(),
        format!(
            "execution i1 stopped by SIGINT: interrupted n0 attempt 1; resume it with `prog --store {dir} resume i1`"
        )
    );
    let report = no_attempt_running(store.path(), "i1");
    assert_eq!(report.summary.status, Status::Interrupted);
    assert!(report.nodes[0].attempts[0]
        .cause
        .as_deref()
        .is_some_and(|c| c.starts_with("preempted by SIGINT: the attempt returned at the notice")));
}

#[test]
fn a_task_that_ignores_the_notice_is_abandoned_after_the_grace_period_with_its_writer_flushed() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    // Each state carries 64 KiB, so that its commit (written, fsynced, renamed) takes a while.
    // Whether the runtime flushed the writer is `preempt::settle`'s unit test; here, that
    // what it holds at the end of the grace period is what the next run resumes from.
    let args = run_stepping(dir, "g1", 100000, true, 65536, &["--grace-period", "1s"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, sent, took) = signalled(&args, "TERM");
    assert_eq!(out.code, Some(143), "{out:?}");
    assert!(out.numbers("returned at step ").is_empty());
    assert_eq!(
        out.last_line(),
        format!(
            "execution g1 stopped by SIGTERM: interrupted n0 attempt 1 (abandoned: still running when the 1s grace \
             period ended); resume it with `prog --store {dir} resume g1`"
        )
    );
    println!("an ignoring task: exit {took:?} after SIGTERM, with a grace period of 1 s");
    assert!(
        took >= Duration::from_secs(1),
        "abandoned before its grace period ended: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    let report = no_attempt_running(store.path(), "g1");
    assert_eq!(report.summary.status, Status::Interrupted);
    let cause = "preempted by SIGTERM: still running when the 1s grace period ended; abandoned";
    assert_eq!(report.nodes[0].attempts[0].cause.as_deref(), Some(cause));
    assert_eq!(report.nodes[0].system_failures, 1);

    // The writer's latest state at the end of the grace period was committed before the
    // process ended: a step printed before then (the notice came after the signal was sent)
    // was handed over before then, and the resume starts from it or from a later one.
    let last = *out.numbers("step ").last().unwrap();
    let by_deadline = *out
        .numbers_before("step ", Some(sent + Duration::from_secs(1)))
        .last()
        .unwrap();
    let mut again = Worker::program(&["--store", dir, "resume", "g1"]);
    let line = again.wait_until(|l| l.starts_with("resumed at step "));
    again.signal("KILL");
    let again = again.finish();
    let resumed: u64 = line["resumed at step ".len()..].parse().unwrap();
    println!("handed over {by_deadline} by the end of the grace period, {last} in all; resumed at {resumed}");
    assert!(
        (by_deadline..=last).contains(&resumed),
        "handed over {by_deadline} by the end of the grace period and {last} in all, resumed at {resumed}: {:?}",
        again.stderr.first()
    );
}

#[test]
fn a_second_sigint_exits_at_once_and_leaves_the_store_consistent() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let args = run_stepping(dir, "c1", 2000, true, 0, &["--grace-period", "60s"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut worker = Worker::program(&args);
    worker.wait_for("step 50");
    worker.signal("INT");
    thread::sleep(Duration::from_millis(300));
    assert!(worker.running(), "the first Ctrl-C waits for the task");
    worker.signal("INT");
    let sent = Instant::now();
    let out = worker.finish();
    let took = sent.elapsed();
    assert_eq!(out.code, Some(130), "{out:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(
        out.last_line(),
        format!(
            "execution c1 stopped by SIGINT: interrupted n0 attempt 1 (abandoned: still running at a second notice); \
             resume it with `prog --store {dir} resume c1`"
        )
    );
    let report = no_attempt_running(store.path(), "c1");
    assert_eq!(report.summary.status, Status::Interrupted);
    assert_eq!(
        report.nodes[0].attempts[0].cause.as_deref(),
        Some("preempted by SIGINT: still running at a second notice; abandoned")
    );

    // It resumes, from a state it committed, and finishes.
    let last = *out.numbers("step ").last().unwrap();
    let again = Worker::program(&["--store", dir, "resume", "c1"]).finish();
    assert_eq!(again.code, Some(0), "{again:?}");
    let resumed = again.numbers("resumed at step ")[0];
    assert!(resumed <= last, "resumed at {resumed}, after {last}");
    assert!(again.stdout.contains("2000"), "{again:?}");
    assert_eq!(no_attempt_running(store.path(), "c1").summary.status, Status::Succeeded);
}

/// What interrupting `examples/train.rs` at random moments with one signal gave.
struct Interruptions {
    /// Per interruption inside `train`: steps applied before it, then applied again after.
    redone: Vec<u64>,
    /// From each signal to the process's exit, when the runtime handled it.
    shutdown: Vec<Duration>,
    /// How many times the store says `train` was interrupted.
    in_train: u32,
}

/// Runs `train --writer async` and sends it `signal` after a random moment, `rounds` times,
/// then lets it finish; checks the result and the store, and returns what each interruption
/// cost.
fn interrupt_train_at_random(signal: &str, rounds: usize, rng: &mut fastrand::Rng) -> Interruptions {
    // Each step sleeps at least 1 ms, and no round lasts more than 250 ms of training.
    let steps = (rounds as u64 * 300).max(4000);
    let store = tempfile::tempdir().unwrap();
    let id = format!("random-{signal}");
    let args: Vec<String> = [
        "--store",
        store.path().to_str().unwrap(),
        "--execution-id",
        &id,
        "--steps",
        &steps.to_string(),
        "--progress",
        "--writer",
        "async",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut redone = Vec::new();
    let mut shutdown = Vec::new();
    let mut last_step: Option<u64> = None;
    let mut sent = 0;
    let final_run = loop {
        let worker = Worker::train(&args);
        if sent == rounds {
            break worker.finish();
        }
        // Most signals land mid-loop; one in four in the first moments, where the process
        // starts, opens the store, runs `prepare` or resumes.
        let ms = if rng.u8(..4) == 0 {
            rng.u64(0..30)
        } else {
            rng.u64(30..250)
        };
        thread::sleep(Duration::from_millis(ms));
        worker.signal(signal);
        let at = Instant::now();
        let out = worker.finish();
        let took = at.elapsed();
        sent += 1;

        let resumed = out.numbers("resumed at step ");
        if let (Some(&k), Some(applied)) = (resumed.first(), last_step) {
            assert!(k <= applied, "applied {applied} before the {signal}, resumed at {k}");
            redone.push(applied - k);
        }
        let steps_run = out.numbers("step ");
        if let Some(&s) = steps_run.last() {
            last_step = Some(s);
        } else if let Some(&k) = resumed.first() {
            last_step = Some(k);
        }
        let started = out.stderr.iter().any(|(_, l)| l.contains(": attempt "));
        match (signal, out.code) {
            ("KILL", code) => assert_eq!(code, None, "{out:?}"),
            // Before the run listens (the process starting), SIGTERM kills: nothing ran.
            (_, None) => assert!(!started, "a task ran, yet SIGTERM killed the process: {out:?}"),
            (_, Some(code)) => {
                assert_eq!(code, 143, "{out:?}");
                let line = out.last_line();
                assert!(
                    line.starts_with(&format!("train: execution {id} stopped by SIGTERM: "))
                        && line.ends_with(&format!(
                            "resume it with `train --store {} --execution-id {id} --steps {steps}`",
                            store.path().display()
                        )),
                    "{line}"
                );
                // A run that stepped returned at the notice, right after its last step.
                if let Some(&s) = steps_run.last() {
                    assert_eq!(out.numbers("preempted at step "), [s], "{:?}", out.stderr);
                }
                shutdown.push(took);
            }
        }
    };
    assert_eq!(final_run.code, Some(0), "{final_run:?}");
    let expected = format!("result={:016x}", train::expected(steps));
    assert!(final_run.stdout.contains(&expected), "{final_run:?}");
    if let (Some(&k), Some(applied)) = (final_run.numbers("resumed at step ").first(), last_step) {
        assert!(k <= applied);
        redone.push(applied - k);
    }

    let report = Store::open(store.path()).unwrap().execution(&id).unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    let train_node = report.nodes.iter().find(|n| n.task == "train").unwrap();
    let (last, earlier) = train_node.attempts.split_last().unwrap();
    assert_eq!(last.status, Status::Succeeded);
    for attempt in earlier {
        assert_eq!(attempt.status, Status::Interrupted, "{attempt:?}");
        let cause = attempt.cause.as_deref().unwrap_or("");
        let expected = if signal == "KILL" {
            "the process running this attempt stopped before it finished"
        } else {
            "preempted by SIGTERM: the attempt returned at the notice (preempted at step "
        };
        assert!(cause.starts_with(expected), "{cause}");
    }
    Interruptions {
        redone,
        shutdown,
        in_train: train_node.system_failures,
    }
}

#[test]
fn at_random_moments_sigterm_redoes_no_step_where_sigkill_loses_the_writes_in_flight() {
    let rounds = std::env::var("FLYTEKIT_PREEMPT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let seed = std::env::var("FLYTEKIT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (FLYTEKIT_KILL_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let term = interrupt_train_at_random("TERM", rounds, &mut rng);
    assert!(
        term.redone.iter().all(|&r| r == 0),
        "SIGTERM: every resume starts from the last state handed over: {:?}",
        term.redone
    );
    let kill = interrupt_train_at_random("KILL", rounds, &mut rng);

    let summary = |what: &str, i: &Interruptions| {
        let n = i.redone.len().max(1) as f64;
        let mut shutdown = i.shutdown.clone();
        shutdown.sort();
        let median = shutdown.get(shutdown.len() / 2).copied().unwrap_or_default();
        println!(
            "{what}: {rounds} signals, train interrupted {} times, {} resumes; steps redone per resume: mean {:.2}, \
             max {}, total {}; signal to exit: median {median:?}, max {:?}",
            i.in_train,
            i.redone.len(),
            i.redone.iter().sum::<u64>() as f64 / n,
            i.redone.iter().max().unwrap_or(&0),
            i.redone.iter().sum::<u64>(),
            shutdown.last().copied().unwrap_or_default(),
        );
    };
    summary("SIGTERM", &term);
    summary("SIGKILL", &kill);
    assert!(term.in_train > 0 && kill.in_train > 0, "no signal landed inside train");
}
