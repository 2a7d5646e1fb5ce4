//! A map of 10,000 elements that each wait 10 ms: as an `async fn` task awaiting a timer
//! (`tokio::time::sleep`), against the same as a synchronous task sleeping
//! (`std::thread::sleep`), in the same run, with the same `concurrency`. Reported: wall time,
//! and the process's peak thread count while the map runs.
//!
//! ```text
//! cargo bench --bench async_map            # 5 rounds, ~10 s
//! cargo bench --bench async_map -- 3       # another number of rounds
//! ```
//!
//! `concurrency = 1000` for both: a synchronous element holds a thread for its 10 ms, so a
//! thousand threads is what lets the sync map finish in about a second (10 waves of 10 ms, plus
//! what a thousand threads cost to start and switch), far more than the machine's 2 cores
//! but few enough for any Linux; the async map under the same bound shows what it costs to
//! run the same elements as futures. A third row gives the async map no bound at all (all
//! 10,000 elements waiting at once), which threads could not do on an ordinary machine.
//!
//! The peak thread count is sampled: a thread reads `Threads:` in `/proc/self/status` every
//! millisecond while the map runs (the sampler itself is one of the threads counted). Each run
//! starts once the process is back to the threads it had before any run (the main thread and
//! the executor's workers, started by a warm-up). The rounds alternate the variants so that a
//! slow moment of the machine does not fall on one variant only; medians and ranges are
//! printed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use flytekit::{task, workflow, LocalRuntime};

const ELEMENTS: u64 = 10_000;
const WAIT: Duration = Duration::from_millis(10);

#[task]
async fn waits_async(x: u64) -> u64 {
    tokio::time::sleep(WAIT).await;
    x
}

#[task]
fn waits_sync(x: u64) -> u64 {
    thread::sleep(WAIT);
    x
}

#[workflow]
fn async_1000(xs: Vec<u64>) -> Vec<u64> {
    map(waits_async, xs, concurrency = 1000)
}

#[workflow]
fn sync_1000(xs: Vec<u64>) -> Vec<u64> {
    map(waits_sync, xs, concurrency = 1000)
}

#[workflow]
fn async_unbounded(xs: Vec<u64>) -> Vec<u64> {
    map(waits_async, xs)
}

/// The process's thread count, from `/proc/self/status`.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the process is back to `baseline` threads: the sync map's threads have all
/// returned when it does, but the OS counts each until it has torn down, which would otherwise
/// land in the next variant's peak. Gives up after 5 s, and says so.
fn settle(baseline: usize) {
    let since = Instant::now();
    while threads() > baseline {
        if since.elapsed() > Duration::from_secs(5) {
            eprintln!("still {} threads after 5 s (baseline {baseline})", threads());
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `run`, and returns its wall time and the peak thread count seen while it ran.
fn measure(run: impl FnOnce()) -> (Duration, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(threads()));
    let sampler = {
        let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(threads(), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let start = Instant::now();
    run();
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler does not panic");
    (wall, peak.load(Ordering::Relaxed))
}

struct Variant {
    name: &'static str,
    run: fn(&LocalRuntime, Vec<u64>) -> Vec<u64>,
    walls: Vec<Duration>,
    peaks: Vec<usize>,
}

fn median<T: Copy + Ord>(xs: &[T]) -> T {
    let mut sorted = xs.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a number among the arguments is the rounds to run.
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let xs: Vec<u64> = (0..ELEMENTS).collect();
    let rt = LocalRuntime::new();
    let mut variants = [
        Variant {
            name: "async, concurrency 1000",
            run: |rt, xs| rt.run(async_1000, xs).expect("the async map succeeds"),
            walls: Vec::new(),
            peaks: Vec::new(),
        },
        Variant {
            name: "sync, concurrency 1000",
            run: |rt, xs| rt.run(sync_1000, xs).expect("the sync map succeeds"),
            walls: Vec::new(),
            peaks: Vec::new(),
        },
        Variant {
            name: "async, no concurrency bound",
            run: |rt, xs| rt.run(async_unbounded, xs).expect("the async map succeeds"),
            walls: Vec::new(),
            peaks: Vec::new(),
        },
    ];
    // Starts flytekit's executor, so that its threads count in every async round alike.
    (variants[0].run)(&rt, xs[..10].to_vec());
    let baseline = threads();
    println!("{ELEMENTS} elements waiting {WAIT:?} each; {rounds} rounds; threads before each run: {baseline}");
    for round in 0..rounds {
        // Alternate the order, so that no variant always runs right after another.
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1, 2] } else { vec![2, 1, 0] };
        for i in order {
            let v = &mut variants[i];
            let xs = xs.clone();
            settle(baseline);
            let (wall, peak) = measure(|| {
                let out = (v.run)(&rt, xs);
                assert_eq!(out.len() as u64, ELEMENTS);
            });
            v.walls.push(wall);
            v.peaks.push(peak);
        }
    }
    println!();
    println!("| variant | wall time, median (range) | peak threads, median (range) |\n| --- | ---: | ---: |");
    for v in &variants {
        let (lo, hi) = (v.walls.iter().min().unwrap(), v.walls.iter().max().unwrap());
        let (plo, phi) = (v.peaks.iter().min().unwrap(), v.peaks.iter().max().unwrap());
        println!(
            "| {} | {:.0} ms ({:.0}–{:.0}) | {} ({}–{}) |",
            v.name,
            median(&v.walls).as_secs_f64() * 1e3,
            lo.as_secs_f64() * 1e3,
            hi.as_secs_f64() * 1e3,
            median(&v.peaks),
            plo,
            phi
        );
    }
}
