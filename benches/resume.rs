//! Resume cost: the time from starting a process to the first step of a task it resumes, next
//! to the time a process of the same binary takes to start and print a line.
//!
//! ```text
//! cargo bench --bench resume
//! ```
//!
//! The benchmark runs itself as a child process (`std::env::current_exe()`), in one of two modes
//! chosen by the `FLYTEKIT_RESUME_BENCH` environment variable:
//!
//! * `start`: prints the first-step line at once and exits (the baseline: process start);
//! * `resume`: opens a durable runtime on a store (`LocalRuntime::with_store`) and runs
//!   `prepare -> train` as the execution `resume-bench`. `train` loads its state (64 Ki `f32`
//!   weights: a 320 KiB checkpoint) from the checkpoint, or creates and saves it on a first attempt,
//!   and at the start of its first step prints the first-step line and calls
//!   `std::process::exit(0)`: the execution stays `running` in the store, as after a crash.
//!
//! Setup: a first `resume` child on an empty store leaves `prepare` succeeded, `train`'s attempt
//! 1 running and a checkpoint committed; the store is copied aside as a snapshot. Each iteration
//! of `resume/resume` then starts from a fresh copy of that snapshot (copied and fsynced outside
//! the timing), so every child takes exactly the path of a first resume after a crash: open the
//! store (SQLite recovers the WAL the dead process left), lock the execution, `begin`, record
//! attempt 1 as interrupted, start attempt 2, open the checkpoint, `load_state`.
//! `resume/resume_same_store` resumes the same store over and over instead (attempts pile up).
//!
//! Timed per iteration: from just before the spawn to the moment the parent has read the
//! first-step line from the child's stdout. The child's exit is waited for outside the timing.
//! After criterion, a breakdown of the same runs (wall-clock timestamps written by the child)
//! says where the time goes. The stores live under `target/bench-tmp` (a real disk: the store's
//! fsyncs are part of the cost) and are removed at the end.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, Criterion};
use flytekit::{task, workflow, LocalRuntime, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

/// Selects the child's mode; unset in the parent.
const MODE: &str = "FLYTEKIT_RESUME_BENCH";
/// The store a `resume` child opens.
const STORE: &str = "FLYTEKIT_RESUME_BENCH_STORE";
const EXECUTION: &str = "resume-bench";
/// The weights in `train`'s state: 64 Ki `f32`.
const WEIGHTS: usize = 64 * 1024;

/// Wall-clock timestamps (ns since the epoch) of the child's phases, for the breakdown.
static T_MAIN: AtomicU64 = AtomicU64::new(0);
static T_OPENED: AtomicU64 = AtomicU64::new(0);

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Plan {
    steps: u64,
    seed: u64,
}

/// A small model's training state.
#[derive(Serialize, Deserialize)]
struct State {
    step: u64,
    loss: f64,
    weights: Vec<f32>,
}

#[task]
fn prepare(steps: u64) -> Plan {
    Plan { steps, seed: 0x5eed }
}

#[task(retries = 2)]
fn train(ctx: &TaskContext, plan: Plan) -> Result<u64, TaskError> {
    let t_task = now_ns();
    let cp = ctx.checkpoint();
    let (mut state, resumed) = match cp.load_state::<State>()? {
        Some(state) => (state, true),
        None => {
            let weights = (0..WEIGHTS)
                .map(|i| ((i as u64 ^ plan.seed) % 1000) as f32 / 1000.0)
                .collect();
            let state = State {
                step: 0,
                loss: f64::INFINITY,
                weights,
            };
            cp.save_state(&state)?;
            (state, false)
        }
    };
    let t_loaded = now_ns();
    let first = state.step;
    while state.step < plan.steps {
        if state.step == first {
            // This attempt's first step: say so and die, leaving the execution running in the
            // store, as a crash would.
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "first-step attempt={} resumed={} step={} weights={} main={} opened={} task={t_task} loaded={t_loaded}",
                ctx.attempt(),
                resumed as u8,
                state.step,
                state.weights.len(),
                T_MAIN.load(Ordering::Relaxed),
                T_OPENED.load(Ordering::Relaxed),
            )?;
            out.flush()?;
            std::process::exit(0);
        }
        state.step += 1;
        state.loss = 1.0 / state.step as f64;
        cp.save_state(&state)?;
    }
    Ok(state.step)
}

#[workflow]
fn resumable(steps: u64) -> u64 {
    let plan = prepare(steps);
    train(plan)
}

/// The child process: never returns.
fn child(mode: &str) -> ! {
    T_MAIN.store(now_ns(), Ordering::Relaxed);
    match mode {
        "start" => {
            let t = T_MAIN.load(Ordering::Relaxed);
            println!("first-step attempt=0 resumed=0 step=0 weights=0 main={t} opened={t} task={t} loaded={t}");
            std::process::exit(0);
        }
        "resume" => {
            let store = std::env::var_os(STORE).expect("the store's directory");
            let rt = LocalRuntime::with_store(store)
                .expect("open the store")
                .system_retries(1_000_000);
            T_OPENED.store(now_ns(), Ordering::Relaxed);
            let out = rt.run_with_id(EXECUTION, resumable, 1000);
            eprintln!("resume child: the run returned instead of exiting at its first step: {out:?}");
            std::process::exit(3);
        }
        other => {
            eprintln!("unknown {MODE}={other}");
            std::process::exit(2);
        }
    }
}

/// What the child printed, and when the parent saw it.
struct Run {
    /// From just before the spawn to the first-step line read.
    to_line: Duration,
    /// From just before the spawn to the child's exit reaped.
    to_exit: Duration,
    /// ns since the epoch: the parent just before the spawn, then the child's phases.
    t_spawn: u64,
    attempt: u32,
    resumed: bool,
    stamps: [u64; 4],
    t_line: u64,
}

fn spawn(mode: &str, store: Option<&Path>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("the benchmark's own path"));
    cmd.env(MODE, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(store) = store {
        cmd.env(STORE, store);
    }
    cmd.spawn().expect("spawn the child")
}

/// Runs one child to its first-step line, then reaps it.
fn run_child(mode: &str, store: Option<&Path>) -> Run {
    let t_spawn = now_ns();
    let start = Instant::now();
    let mut child = spawn(mode, store);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the child's stdout");
    let to_line = start.elapsed();
    let t_line = now_ns();
    let status = child.wait().expect("wait for the child");
    let to_exit = start.elapsed();
    assert!(
        status.success() && line.starts_with("first-step "),
        "child `{mode}` exited with {status} after printing {line:?}"
    );
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    Run {
        to_line,
        to_exit,
        t_spawn,
        attempt: field("attempt") as u32,
        resumed: field("resumed") == 1,
        stamps: [field("main"), field("opened"), field("task"), field("loaded")],
        t_line,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            fs::File::open(&target).unwrap().sync_all().unwrap();
        }
    }
    fs::File::open(to).unwrap().sync_all().unwrap();
}

/// The benchmark's directory: `target/bench-tmp/resume-<pid>`, holding the snapshot.
struct Dirs {
    root: PathBuf,
    snapshot: PathBuf,
    next: u64,
}

impl Dirs {
    fn new() -> Dirs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/bench-tmp")
            .join(format!("resume-{}", std::process::id()));
        let snapshot = root.join("snapshot");
        fs::create_dir_all(&snapshot).expect("create the benchmark directory");
        // The crash to resume from: `prepare` done, `train`'s attempt 1 running, state saved.
        let first = run_child("resume", Some(&snapshot));
        assert_eq!((first.attempt, first.resumed), (1, false));
        Dirs {
            root,
            snapshot,
            next: 0,
        }
    }

    /// A fresh copy of the snapshot, on disk.
    fn fresh(&mut self) -> PathBuf {
        self.next += 1;
        let dir = self.root.join(format!("store-{}", self.next));
        copy_dir(&self.snapshot, &dir);
        dir
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn resume(c: &mut Criterion) {
    let mut dirs = Dirs::new();
    let mut group = c.benchmark_group("resume");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("process_start", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_child("start", None).to_line).sum())
    });

    group.bench_function("resume", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let store = dirs.fresh();
                let run = run_child("resume", Some(&store));
                assert_eq!((run.attempt, run.resumed), (2, true));
                total += run.to_line;
                fs::remove_dir_all(&store).unwrap();
            }
            total
        })
    });

    let same = dirs.fresh();
    let mut attempts = 1;
    group.bench_function("resume_same_store", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let run = run_child("resume", Some(&same));
                attempts += 1;
                assert_eq!((run.attempt, run.resumed), (attempts, true));
                total += run.to_line;
            }
            total
        })
    });
    group.finish();
    println!("resume_same_store: the last child ran attempt {attempts} of `train`");

    breakdown(&mut dirs);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Where the time goes: 30 runs of each mode, interleaved, medians of each phase in ms.
fn breakdown(dirs: &mut Dirs) {
    const RUNS: usize = 30;
    let (mut starts, mut resumes) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        starts.push(run_child("start", None));
        let store = dirs.fresh();
        resumes.push(run_child("resume", Some(&store)));
        fs::remove_dir_all(&store).unwrap();
    }
    println!("\nbreakdown: medians of {RUNS} runs of each, interleaved (ms; wall-clock timestamps)");
    println!("{:<52} {:>9} {:>9}", "phase", "start", "resume");
    let (starts, resumes) = (starts.iter().map(Run::phases), resumes.iter().map(Run::phases));
    let (starts, resumes): (Vec<_>, Vec<_>) = (starts.collect(), resumes.collect());
    for (i, name) in PHASES.iter().enumerate() {
        let s = median(starts.iter().map(|p| p[i]).collect());
        let r = median(resumes.iter().map(|p| p[i]).collect());
        println!("{name:<52} {s:>9.3} {r:>9.3}");
    }
}

const PHASES: [&str; 7] = [
    "spawn -> main() (fork/exec, loader, Rust runtime)",
    "main() -> store open (LocalRuntime::with_store)",
    "store open -> task starts (lock, begin, attempts)",
    "task starts -> state loaded (checkpoint, decode)",
    "state loaded -> line read by the parent",
    "total: spawn -> first-step line read",
    "(spawn -> exit reaped)",
];

impl Run {
    /// The durations of [`PHASES`], in ms.
    fn phases(&self) -> [f64; 7] {
        let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e6;
        let [main, opened, task, loaded] = self.stamps;
        [
            ms(self.t_spawn, main),
            ms(main, opened),
            ms(opened, task),
            ms(task, loaded),
            ms(loaded, self.t_line),
            self.to_line.as_secs_f64() * 1e3,
            self.to_exit.as_secs_f64() * 1e3,
        ]
    }
}

criterion_group!(benches, resume);

fn main() {
    if let Some(mode) = std::env::var_os(MODE) {
        child(&mode.to_string_lossy());
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
