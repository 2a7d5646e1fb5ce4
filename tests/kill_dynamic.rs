//! `kill -9, run again` for a dynamic node: `examples/shards.rs` (a dynamic body that shards a
//! dataset, each shard a checkpointing task) is killed with SIGKILL at random moments, most of
//! them inside a shard's task, and run again until it finishes. It must print the result of an
//! uninterrupted run, never build its graph again once it was recorded, never run a finished
//! shard again, and resume each interrupted shard from its checkpoint.
//!
//! As in `tests/kill.rs`, the program is this test binary (the ignored test `shards_worker`).
//! `FLYTEKIT_KILL_SEED` replays a run's kill moments.
#![cfg(unix)]

#[path = "../examples/shards.rs"]
mod shards;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flytekit::{Status, Store};

const ARGS_VAR: &str = "FLYTEKIT_SHARDS_ARGS";
const ITEMS: u64 = 6000;
const SHARD_SIZE: u64 = 500;

/// Not a test: the process the kill test starts and kills.
#[test]
#[ignore = "run by the kill test as a child process"]
fn shards_worker() {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return;
    };
    let code = shards::cli(std::iter::once("shards").chain(args.split('\n')));
    std::process::exit(i32::from(code));
}

struct Outcome {
    killed: bool,
    stdout: String,
    stderr: Vec<String>,
}

/// Runs the program on `store`, SIGKILLed after `kill_after` if given.
fn run(store: &Path, kill_after: Option<Duration>) -> Outcome {
    let args = [
        "--store",
        &store.display().to_string(),
        "--execution-id",
        "sharded",
        "--items",
        &ITEMS.to_string(),
        "--shard-size",
        &SHARD_SIZE.to_string(),
    ]
    .join("\n");
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([
            "shards_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        .env(ARGS_VAR, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a worker");
    // Read continuously: a worker blocked on a full pipe would never be killed mid-shard.
    let err = child.stderr.take().expect("piped stderr");
    let stderr = thread::spawn(move || BufReader::new(err).lines().map_while(Result::ok).collect::<Vec<_>>());
    let mut out = child.stdout.take().expect("piped stdout");
    let stdout = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    if let Some(after) = kill_after {
        thread::sleep(after);
        // SIGKILL: no destructor, no flush, as on a preempted machine.
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for a worker");
    Outcome {
        killed: status.code().is_none(),
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

/// `(shard, k)` for every `shard <shard>: <what> <k>` line.
fn shard_lines<'o>(outcome: &'o Outcome, what: &'o str) -> impl Iterator<Item = (u64, u64)> + 'o {
    outcome.stderr.iter().filter_map(move |l| {
        let rest = l.strip_prefix("shard ")?;
        let (shard, tail) = rest.split_once(": ")?;
        let k = tail.strip_prefix(what)?.trim();
        Some((shard.parse().ok()?, k.parse().ok()?))
    })
}

/// The shards whose node the store records as succeeded.
fn finished_shards(store: &Path) -> BTreeSet<u64> {
    let Some(report) = Store::open(store).unwrap().execution("sharded").unwrap() else {
        return BTreeSet::new();
    };
    report
        .nodes
        .iter()
        .filter(|n| n.task == "process" && n.status == Status::Succeeded)
        .filter_map(|n| n.id.strip_prefix("n1-n")?.parse().ok())
        .collect()
}

#[test]
fn killed_inside_its_shards_a_dynamic_node_resumes_its_recorded_graph_to_the_uninterrupted_result() {
    const KILLS: usize = 15;
    let seed = std::env::var("FLYTEKIT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("kill seed {seed} (FLYTEKIT_KILL_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();

    let (mut kills, mut kills_in_shards) = (0, 0);
    let mut built = false; // the graph was built and recorded
    let mut builds = 0;
    let mut resumed_at: BTreeMap<u64, u64> = BTreeMap::new();
    let mut resumes = 0;
    let mut finished = BTreeSet::new();
    let mut last = None;
    for _ in 0..KILLS + 1 {
        let kill_after = (kills < KILLS).then(|| Duration::from_millis(rng.u64(40..400)));
        let outcome = run(store.path(), kill_after);
        let building = outcome.stderr.iter().filter(|l| l.starts_with("building ")).count();
        builds += building;
        assert!(
            !(built && building > 0),
            "the graph was built again: {:?}",
            outcome.stderr
        );
        let attempts: Vec<(u64, u64)> = shard_lines(&outcome, "attempt ").collect();
        if !attempts.is_empty() {
            // Shards start only once the graph was recorded.
            built = true;
        }
        for (shard, _) in &attempts {
            assert!(
                !finished.contains(shard),
                "shard {shard} ran again after it finished: {:?}",
                outcome.stderr
            );
        }
        for (shard, k) in shard_lines(&outcome, "resumed at item ") {
            let before = resumed_at.insert(shard, k).unwrap_or(0);
            assert!(
                k >= before,
                "shard {shard} resumed at item {k} after resuming at {before}"
            );
            resumes += 1;
        }
        finished = finished_shards(store.path());
        if outcome.killed {
            kills += 1;
            kills_in_shards += usize::from(!attempts.is_empty());
        } else {
            last = Some(outcome);
            break;
        }
    }
    let last = last.expect("the last run is not killed");
    let expected = format!("result={:016x}", shards::expected(ITEMS, SHARD_SIZE));
    assert_eq!(last.stdout.lines().last(), Some(expected.as_str()), "{:?}", last.stderr);

    // Every shard node succeeded once; its earlier attempts were all cut short by kills.
    let report = Store::open(store.path())
        .unwrap()
        .execution("sharded")
        .unwrap()
        .unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    let shard_nodes: Vec<_> = report.nodes.iter().filter(|n| n.task == "process").collect();
    assert_eq!(shard_nodes.len() as u64, ITEMS.div_ceil(SHARD_SIZE));
    for node in &shard_nodes {
        let statuses: Vec<Status> = node.attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses.last(), Some(&Status::Succeeded), "{}: {statuses:?}", node.id);
        assert!(
            statuses[..statuses.len() - 1].iter().all(|s| *s == Status::Interrupted),
            "{}: {statuses:?}",
            node.id
        );
    }
    println!(
        "{kills} kills in {:.1?}, {kills_in_shards} inside a shard; the graph built {builds} time(s); {resumes} shard resumes from a checkpoint",
        started.elapsed()
    );
    assert!(
        kills_in_shards >= 3,
        "too few kills landed inside a shard to test resuming ({kills_in_shards})"
    );
}
