//! A dynamic workflow for something real: split a dataset into as many shards as its size asks
//! for (a number known only when the execution gets there), process each shard with a task that
//! checkpoints after every item, and merge the shards' results in order. Kill it at any moment
//! and run it again: finished shards are not processed again, the interrupted one resumes from
//! its checkpoint, and the graph of shards is the one recorded, not built again.
//!
//! ```sh
//! cargo run --example shards                       # a demo, in a temporary store
//! cargo run --release --example shards -- --store /tmp/fk --execution-id s1 --items 2000 --shard-size 300
//! # kill -9 it while it runs, then run the same command again: same result=
//! ```
//!
//! What the program prints: on stderr, `building <n> shards` when the dynamic body runs,
//! `shard <i>: attempt <a>` when a shard's task starts and `shard <i>: resumed at item <k>` when
//! it resumes from a checkpoint; on stdout, last, `result=<16 hex digits>`, determined by
//! `--items` and `--shard-size` alone: every item hashed exactly once, in order, within its
//! shard, and the shards merged in order.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use flytekit::{dynamic, task, workflow, LocalRuntime, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

/// Runs (or resumes) a sharded execution in a durable store.
#[derive(Parser, Debug)]
#[command(name = "shards")]
pub struct Args {
    /// The store's directory (created if missing); without it, a demo runs in a temporary one.
    #[arg(long, requires = "execution_id")]
    pub store: Option<PathBuf>,
    /// The execution's id: run the same id again to resume it.
    #[arg(long)]
    pub execution_id: Option<String>,
    /// How many items the dataset has.
    #[arg(long, default_value_t = 500)]
    pub items: u64,
    /// At most this many items per shard.
    #[arg(long, default_value_t = 120)]
    pub shard_size: u64,
    /// How many times a node may be interrupted (its process killed) before the execution
    /// fails: this program is meant to be killed over and over.
    #[arg(long, default_value_t = 1000)]
    pub system_retries: u32,
}

/// A shard's progress, saved to its checkpoint after every item.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    done: u64,
    hash: u64,
}

/// The dataset: `items` numbers.
#[task]
fn load(items: u64) -> Vec<u64> {
    (0..items).map(|i| mix(i ^ 0x5eed)).collect()
}

/// Hashes one shard's items in order, one a millisecond, checkpointing after each.
#[task(retries = 2)]
fn process(ctx: &TaskContext, index: u64, items: Vec<u64>) -> Result<u64, TaskError> {
    eprintln!("shard {index}: attempt {}", ctx.attempt());
    let cp = ctx.checkpoint();
    let mut progress = match cp.load_state::<Progress>()? {
        Some(p) => {
            eprintln!("shard {index}: resumed at item {}", p.done);
            p
        }
        None => Progress {
            done: 0,
            hash: mix(index),
        },
    };
    for item in items.iter().skip(progress.done as usize) {
        std::thread::sleep(Duration::from_millis(1));
        progress.hash = mix(progress.hash ^ item);
        progress.done += 1;
        cp.save_state(&progress)?;
    }
    Ok(progress.hash)
}

/// The shards' results, merged in order.
#[task]
fn merge(hashes: Vec<u64>) -> u64 {
    hashes.into_iter().fold(0, |acc, h| mix(acc ^ h))
}

/// As many `process` nodes as the dataset needs: a number known only at run time.
#[dynamic]
fn shard_all(data: Vec<u64>, shard_size: u64) -> u64 {
    let size = shard_size.max(1) as usize;
    let shards: Vec<Vec<u64>> = data.chunks(size).map(<[u64]>::to_vec).collect();
    eprintln!("building {} shards", shards.len());
    let hashes: Vec<_> = shards
        .into_iter()
        .enumerate()
        .map(|(i, items)| process(i as u64, items))
        .collect();
    merge(hashes)
}

#[workflow]
pub fn sharded(items: u64, shard_size: u64) -> u64 {
    let data = load(items);
    shard_all(data, shard_size)
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What an uninterrupted run prints after `result=`, computed directly.
pub fn expected(items: u64, shard_size: u64) -> u64 {
    let data: Vec<u64> = (0..items).map(|i| mix(i ^ 0x5eed)).collect();
    let hashes = data
        .chunks(shard_size.max(1) as usize)
        .enumerate()
        .map(|(i, chunk)| chunk.iter().fold(mix(i as u64), |h, item| mix(h ^ item)));
    hashes.fold(0, |acc, h| mix(acc ^ h))
}

/// Runs (or resumes) the execution `args` names and returns its result.
pub fn run(args: &Args) -> Result<u64, flytekit::Error> {
    let temp;
    let (store, id) = match (&args.store, &args.execution_id) {
        (Some(store), Some(id)) => (store.clone(), id.clone()),
        _ => {
            temp = tempfile::tempdir().map_err(|source| flytekit::Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            (temp.path().to_path_buf(), "demo".to_owned())
        }
    };
    let rt = LocalRuntime::with_store(&store)?.system_retries(args.system_retries);
    rt.run_with_id(&id, sharded, (args.items, args.shard_size))
}

/// The whole program, from its arguments (the first is the program's name) to its exit status.
pub fn cli(argv: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args = match Args::try_parse_from(argv) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let rendered = e.to_string();
            eprintln!(
                "shards: {} (see --help)",
                rendered.lines().next().unwrap_or("bad arguments")
            );
            return 2;
        }
    };
    match run(&args) {
        Ok(result) => {
            println!("result={result:016x}");
            let _ = std::io::stdout().flush();
            0
        }
        Err(e) => {
            let message = e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ");
            eprintln!("shards: {message}");
            1
        }
    }
}

#[allow(dead_code)] // the kill test includes this file as a module and calls `cli`
fn main() -> ExitCode {
    ExitCode::from(cli(std::env::args_os()))
}
