//! What durability costs: durable runs beside the same runs in memory, in the same process and
//! the same run of the benchmark.
//!
//! ```text
//! cargo bench --bench durable                       # everything below (~3 min)
//! cargo bench --bench durable -- nodes_1000         # per-node cost: chain, fan-out, map
//! cargo bench --bench durable -- start              # process start to the first task
//! cargo bench --bench durable -- executions_10000   # listing a store of 10,000 executions
//! cargo bench --bench durable -- long               # 100,000 nodes: per-node cost, memory, store size
//! ```
//!
//! `start` and `long` run this binary again as a child process (`FLYTEKIT_DURABLE_BENCH` says
//! what the child does), so that each figure is a fresh process: `start` times from the spawn to
//! the first task's line on the child's stdout; `long` reads the child's peak resident memory
//! (`VmHWM`) and store size. The stores live under `target/bench-tmp`, on the same disk as the
//! target directory (a real disk: its syncs are part of the cost), and are removed at the end.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion};
use flytekit::{task, workflow, LocalRuntime, Store};

/// Selects the child's mode; unset in the parent.
const MODE: &str = "FLYTEKIT_DURABLE_BENCH";
/// The store a child opens.
const STORE: &str = "FLYTEKIT_DURABLE_BENCH_STORE";
/// The line a `start` child prints from its first task.
const FIRST_TASK: &str = "first task";

#[task]
fn inc(x: u64) -> u64 {
    x.wrapping_add(1)
}

#[workflow]
fn chain_1000(x: u64) -> u64 {
    let mut y = inc(x);
    for _ in 1..1000 {
        y = inc(y);
    }
    y
}

#[workflow]
fn fan_1000(x: u64) {
    for _ in 0..1000 {
        inc(x);
    }
}

#[workflow]
fn map_of(xs: Vec<u64>) -> Vec<u64> {
    map(inc, xs)
}

#[workflow]
fn chain_100000(x: u64) -> u64 {
    let mut y = inc(x);
    for _ in 1..100_000 {
        y = inc(y);
    }
    y
}

#[workflow]
fn chain_10000(x: u64) -> u64 {
    let mut y = inc(x);
    for _ in 1..10_000 {
        y = inc(y);
    }
    y
}

#[task]
fn first(x: u64) -> u64 {
    println!("{FIRST_TASK}");
    std::process::exit(i32::from(x != 0))
}

#[workflow]
fn start_wf(x: u64) -> u64 {
    first(x)
}

fn bench_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp");
    fs::create_dir_all(&root).expect("create the benchmark directory");
    root
}

fn per_node(c: &mut Criterion) {
    let mut group = c.benchmark_group("nodes_1000");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    let root = bench_root();
    let xs: Vec<u64> = (0..1000).collect();
    let memory = LocalRuntime::new();
    group.bench_function("memory_chain", |b| b.iter(|| memory.run(chain_1000, 0).unwrap()));
    group.bench_function("memory_fan", |b| b.iter(|| memory.run(fan_1000, 0).unwrap()));
    group.bench_function("memory_map", |b| b.iter(|| memory.run(map_of, xs.clone()).unwrap()));
    for (name, run) in [
        ("durable_chain", durable_chain as fn(&LocalRuntime, &[u64])),
        ("durable_fan", durable_fan),
        ("durable_map", durable_map),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir_in(&root).unwrap();
                    let rt = LocalRuntime::with_store(dir.path()).unwrap();
                    (dir, rt)
                },
                |(dir, rt)| {
                    run(&rt, &xs);
                    drop(rt);
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn durable_chain(rt: &LocalRuntime, _: &[u64]) {
    rt.run_with_id("b", chain_1000, 0).unwrap();
}

fn durable_fan(rt: &LocalRuntime, _: &[u64]) {
    rt.run_with_id("b", fan_1000, 0).unwrap();
}

fn durable_map(rt: &LocalRuntime, xs: &[u64]) {
    rt.run_with_id("b", map_of, xs.to_vec()).unwrap();
}

/// A store holding `n` finished executions of a one-node workflow.
fn store_with_executions(dir: &Path, n: usize) {
    let rt = LocalRuntime::with_store(dir).unwrap();
    for i in 0..n {
        rt.run_with_id(&format!("past-{i}"), chain_one, i as u64).unwrap();
    }
}

#[workflow]
fn chain_one(x: u64) -> u64 {
    inc(x)
}

/// From the spawn of a process to its first task's line: a durable run of a new execution on a
/// store of 1,000 executions, against the same run in memory and a process that only prints.
fn start(c: &mut Criterion) {
    let root = bench_root();
    let store = tempfile::tempdir_in(&root).unwrap();
    store_with_executions(store.path(), 1000);
    let mut group = c.benchmark_group("start");
    group.sample_size(30);
    let seq = AtomicU64::new(0);
    for mode in ["print", "memory", "durable"] {
        group.bench_function(mode, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let id = format!("new-{}", seq.fetch_add(1, Ordering::Relaxed));
                    total += first_line(mode, store.path(), &id);
                }
                total
            })
        });
    }
    group.finish();
}

/// Spawns this binary in `mode` and times it to its first line.
fn first_line(mode: &str, store: &Path, id: &str) -> Duration {
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env(MODE, mode)
        .env(STORE, store)
        .arg(id)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(line.trim(), FIRST_TASK, "the child printed {line:?}");
    child.wait().unwrap();
    elapsed
}

/// `Store::executions` on a store of 10,000 executions.
fn executions(c: &mut Criterion) {
    let root = bench_root();
    let dir = tempfile::tempdir_in(&root).unwrap();
    store_with_executions(dir.path(), 10_000);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.executions().unwrap().len(), 10_000);
    c.bench_function("executions_10000", |b| b.iter(|| store.executions().unwrap().len()));
}

/// Long executions, each in a child process of its own: 10,000 and 100,000 nodes, in memory
/// and durable; per-node time, the child's peak memory and the store's size.
fn long() {
    println!("long: nodes, mode, time per node, peak resident memory, store size per node");
    let root = bench_root();
    for (shape, n) in [("chain", 10_000), ("chain", 100_000), ("map", 10_000), ("map", 100_000)] {
        for mode in ["memory", "durable"] {
            let dir = tempfile::tempdir_in(&root).unwrap();
            let exe = std::env::current_exe().unwrap();
            let out = Command::new(exe)
                .env(MODE, format!("long-{mode}-{shape}-{n}"))
                .env(STORE, dir.path())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
            let size = dir_size(dir.path());
            println!(
                "long/{shape}_{n}/{mode}: {} store {:.0} B/node",
                stdout.trim(),
                size as f64 / n as f64
            );
        }
    }
}

/// What a child does, by its mode.
fn child(mode: &str) {
    let store = std::env::var_os(STORE).map(PathBuf::from).unwrap_or_default();
    let id = std::env::args().nth(1).unwrap_or_default();
    match mode {
        "print" => println!("{FIRST_TASK}"),
        "memory" => {
            LocalRuntime::new().run(start_wf, 0).unwrap();
        }
        "durable" => {
            LocalRuntime::with_store(&store)
                .unwrap()
                .run_with_id(&id, start_wf, 0)
                .unwrap();
        }
        long => {
            let mut parts = long.split('-').skip(1);
            let (mode, shape, n) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let n: usize = n.parse().unwrap();
            let rt = match mode {
                "memory" => LocalRuntime::new(),
                _ => LocalRuntime::with_store(&store).unwrap(),
            };
            let started = Instant::now();
            match (shape, n) {
                ("chain", 10_000) => assert_eq!(rt.run_with_id("long", chain_10000, 0).unwrap(), 10_000),
                ("chain", _) => assert_eq!(rt.run_with_id("long", chain_100000, 0).unwrap(), 100_000),
                _ => assert_eq!(
                    rt.run_with_id("long", map_of, (0..n as u64).collect()).unwrap().len(),
                    n
                ),
            }
            let per_node = started.elapsed() / n as u32;
            drop(rt);
            println!("{per_node:.1?} per node, peak {} MiB", peak_mib());
        }
    }
}

/// The process's peak resident memory, in MiB.
fn peak_mib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

criterion_group!(benches, per_node, start, executions);

fn main() {
    if let Ok(mode) = std::env::var(MODE) {
        child(&mode);
        return;
    }
    let wants = |name: &str| {
        std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .all(|f| name.contains(&f))
    };
    if wants("long") {
        long();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    let _ = fs::remove_dir_all(bench_root());
}
