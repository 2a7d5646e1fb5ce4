//! What a checkpoint commit costs, next to the same bytes written by hand.
//!
//! Every group measures the checkpoint and its hand-written baseline in the same run, on the same
//! file system, so that their ratio means something. See BENCHMARKS.md at the root of the
//! workspace for the figures and how to read them.
//!
//! ```text
//! cargo bench -p flyte-runtime --bench checkpoint
//! ```
//!
//! The durable benchmarks write under `$CARGO_TARGET_DIR/bench-tmp` (or `target/bench-tmp`), which
//! must be on a real disk: on tmpfs an fsync costs nothing and the ratios are meaningless. The
//! temporary checkpoint and its baseline write under the system temporary directory, where
//! `Checkpoint::temporary` puts itself. The file system of each is printed first.

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use flyte_runtime::Checkpoint;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Where the durable benchmarks write: under the target directory, on the disk that holds the
/// workspace, never on a tmpfs `/tmp`.
fn bench_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let root = target.join("bench-tmp");
    fs::create_dir_all(&root).expect("create the benchmark directory");
    root
}

/// A fresh directory under `root`, removed when dropped.
fn fresh_dir(root: &Path) -> tempfile::TempDir {
    tempfile::tempdir_in(root).expect("create a benchmark directory")
}

/// The type of the file system holding `path` (from /proc/self/mounts), to print with the
/// figures.
fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            Some((fields.next()?, fields.next()?))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind.to_owned())
}

fn report_dir(what: &str, path: &Path) {
    let kind = fs_type(path);
    eprintln!("{what}: {} ({kind})", path.display());
    if kind == "tmpfs" || kind == "ramfs" {
        eprintln!("WARNING: {what} is on {kind}: fsync costs nothing there, the durable figures are meaningless");
    }
}

/// `len` bytes that no layer could compress or skip (a fixed xorshift stream).
fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The hand-written atomic replace of one file: the baseline every checkpoint is compared to.
struct Plain {
    dir: PathBuf,
    tmp: PathBuf,
    target: PathBuf,
}

/// How far a hand-written commit goes to make the new bytes survive a crash.
#[derive(Clone, Copy)]
enum Durability {
    /// write, rename: atomic, not durable.
    None,
    /// write, fsync, rename: the new bytes are on disk, the rename may not be.
    File,
    /// write, fsync, rename, fsync the directory: what a durable checkpoint guarantees.
    FileAndDir,
}

impl Plain {
    fn new(dir: &Path) -> Plain {
        Plain {
            dir: dir.to_path_buf(),
            tmp: dir.join(".tmp-plain"),
            target: dir.join("plain"),
        }
    }

    fn commit(&self, bytes: &[u8], sync: Durability) -> io::Result<()> {
        self.commit_with_header(0, bytes, sync)
    }

    /// The same, with `header` zero bytes written first (a separate `write`, as the checkpoint
    /// writes its 32-byte header; it wrote 20 bytes before): the payload then starts at file
    /// offset `header`.
    fn commit_with_header(&self, header: usize, bytes: &[u8], sync: Durability) -> io::Result<()> {
        let mut file = File::create(&self.tmp)?;
        if header > 0 {
            file.write_all(&[0; 64][..header])?;
        }
        file.write_all(bytes)?;
        if matches!(sync, Durability::File | Durability::FileAndDir) {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&self.tmp, &self.target)?;
        if matches!(sync, Durability::FileAndDir) {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// A hand-written non-durable commit in the checkpoint's file-system pattern: a fresh name per
/// version, never renamed over an existing one, and the version before the two newest unlinked.
struct PlainFresh {
    dir: PathBuf,
    next: u64,
}

impl PlainFresh {
    fn commit(&mut self, bytes: &[u8]) -> io::Result<()> {
        let seq = self.next;
        let tmp = self.dir.join(format!(".tmp-{seq:016}"));
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        drop(file);
        fs::rename(&tmp, self.dir.join(format!("v-{seq:016}")))?;
        if let Some(old) = seq.checked_sub(2) {
            fs::remove_file(self.dir.join(format!("v-{old:016}")))?;
        }
        self.next = seq + 1;
        Ok(())
    }
}

/// A durable 1 KiB commit against the hand-written atomic replace of the same bytes, and the
/// temporary (non-durable) checkpoint against a plain write + rename.
fn commit_1kib(c: &mut Criterion) {
    let root = bench_root();
    report_dir("durable benchmarks", &root);
    report_dir("temporary benchmarks", &std::env::temp_dir());
    let data = payload(KIB);

    let mut group = c.benchmark_group("commit_1kib");
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));

    {
        let dir = fresh_dir(&root);
        let cp = Checkpoint::new(dir.path()).unwrap();
        group.bench_function("durable", |b| b.iter(|| cp.write(black_box(&data)).unwrap()));
        // The base and the two newest commits: one stale version was unlinked per commit.
        assert!(fs::read_dir(dir.path()).unwrap().count() <= 3);
    }
    {
        let dir = fresh_dir(&root);
        let plain = Plain::new(dir.path());
        group.bench_function("plain_atomic", |b| {
            b.iter(|| plain.commit(black_box(&data), Durability::FileAndDir).unwrap())
        });
        group.bench_function("plain_no_dirsync", |b| {
            b.iter(|| plain.commit(black_box(&data), Durability::File).unwrap())
        });
    }
    {
        let cp = Checkpoint::temporary().unwrap();
        group.bench_function("temporary", |b| b.iter(|| cp.write(black_box(&data)).unwrap()));
        let dir = fresh_dir(&std::env::temp_dir());
        let plain = Plain::new(dir.path());
        group.bench_function("plain_rename", |b| {
            b.iter(|| plain.commit(black_box(&data), Durability::None).unwrap())
        });
        // Diagnostic: the same without replacing an existing name, as the checkpoint does (ext4
        // starts writing a file back when it is renamed over another: `auto_da_alloc`).
        let dir = fresh_dir(&std::env::temp_dir());
        let mut plain = PlainFresh {
            dir: dir.path().to_path_buf(),
            next: 0,
        };
        group.bench_function("plain_rename_fresh", |b| {
            b.iter(|| plain.commit(black_box(&data)).unwrap())
        });
    }
    group.finish();
}

/// What the caller of an asynchronous writer waits for: the hand-over alone, and the hand-over
/// followed by `flush`, next to a synchronous durable commit.
fn async_writer_1kib(c: &mut Criterion) {
    let root = bench_root();
    let data = payload(KIB);

    let mut group = c.benchmark_group("async_writer_1kib");
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));

    let dir = fresh_dir(&root);
    let cp = Checkpoint::new(dir.path()).unwrap();
    group.bench_function("sync_write", |b| b.iter(|| cp.write(black_box(&data)).unwrap()));
    {
        let writer = cp.async_writer();
        // Includes copying the 1 KiB into the Vec the writer takes; the background thread
        // commits (durably) meanwhile, replacing states it has not started.
        group.bench_function("handover", |b| b.iter(|| writer.write(black_box(&data[..])).unwrap()));
        writer.flush().unwrap();
        group.bench_function("write_flush", |b| {
            b.iter(|| {
                writer.write(black_box(&data[..])).unwrap();
                writer.flush().unwrap();
            })
        });
    }
    group.finish();
}

/// A durable 64 MiB commit against a plain write of the same bytes, fsync'd and renamed.
fn throughput_64mib(c: &mut Criterion) {
    let root = bench_root();
    let data = payload(64 * MIB);
    eprintln!("64 MiB payload address modulo 4096: {}", data.as_ptr() as usize % 4096);

    let mut group = c.benchmark_group("throughput_64mib");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));

    {
        let dir = fresh_dir(&root);
        let cp = Checkpoint::new(dir.path()).unwrap();
        group.bench_function("durable", |b| b.iter(|| cp.write(black_box(&data)).unwrap()));
    }
    {
        let dir = fresh_dir(&root);
        let plain = Plain::new(dir.path());
        group.bench_function("plain_atomic", |b| {
            b.iter(|| plain.commit(black_box(&data), Durability::FileAndDir).unwrap())
        });
        group.bench_function("plain_no_dirsync", |b| {
            b.iter(|| plain.commit(black_box(&data), Durability::File).unwrap())
        });
        // Diagnostics: plain_atomic with the payload after a 20-byte header, as the checkpoint
        // wrote it before, and after a 32-byte one, as it does now. On the machine measured (BENCHMARKS.md), the
        // kernel copies into the page cache much more slowly when the user buffer and the file
        // offset disagree modulo 16 bytes.
        group.bench_function("plain_atomic_header20", |b| {
            b.iter(|| {
                plain
                    .commit_with_header(20, black_box(&data), Durability::FileAndDir)
                    .unwrap()
            })
        });
        group.bench_function("plain_atomic_header32", |b| {
            b.iter(|| {
                plain
                    .commit_with_header(32, black_box(&data), Durability::FileAndDir)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, commit_1kib, async_writer_1kib, throughput_64mib);
criterion_main!(benches);
