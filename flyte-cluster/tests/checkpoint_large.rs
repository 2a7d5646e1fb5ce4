//! A 64 MiB checkpoint through S3 (moto's server on loopback) streams: saving, restoring,
//! writing and reading it hold a few upload parts at a time, not the checkpoint, let alone two
//! copies of it. A counting allocator measures the heap's peak above where each step started.
//!
//! One test in this binary, so that no other test's allocations are counted.

#[path = "../../tests/support/s3.rs"]
mod s3;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use flyte_cluster::checkpoint::checkpoint;
use flyte_cluster::storage::PART_SIZE;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;
const SIZE: usize = 64 * MIB;

/// Runs `step` and returns what it returned, with the heap's peak above its starting point
/// (in MiB) and the seconds it took.
fn measured<T>(step: impl FnOnce() -> T) -> (T, f64, f64) {
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    let t = Instant::now();
    let out = step();
    let secs = t.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(start);
    (out, peak as f64 / MIB as f64, secs)
}

#[test]
fn a_64_mib_checkpoint_streams_through_s3() {
    let server = s3::S3::shared();
    let bucket = server.new_bucket("large");
    let prefix = |name: &str| format!("{bucket}/{name}");
    // What streaming may hold: the part being read, the one buffered, and those in flight.
    let bound = (4 * PART_SIZE / MIB) as f64;

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("model.bin");
    {
        let mut f = fs::File::create(&file).unwrap();
        let block: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
        for _ in 0..SIZE / MIB {
            f.write_all(&block).unwrap();
        }
    }

    let a1 = checkpoint(&prefix("a1"), None).unwrap();
    let ((), save_peak, save_secs) = measured(|| a1.save(&file).unwrap());
    let a2 = checkpoint(&prefix("a2"), Some(&prefix("a1"))).unwrap();
    let out = work.path().join("restored");
    let (_, restore_peak, restore_secs) = measured(|| a2.restore(&out).unwrap().unwrap());
    assert_eq!(fs::metadata(out.join("model.bin")).unwrap().len(), SIZE as u64);
    assert!(fs::read(out.join("model.bin")).unwrap() == fs::read(&file).unwrap());

    let bytes = fs::read(&file).unwrap();
    let ((), write_peak, write_secs) = measured(|| a2.write(&bytes).unwrap());
    let a3 = checkpoint(&prefix("a3"), Some(&prefix("a2"))).unwrap();
    let (read, read_peak, read_secs) = measured(|| a3.read().unwrap().unwrap());
    assert!(read == bytes);
    drop(read);

    eprintln!(
        "64 MiB through S3 on loopback (moto): save {save_secs:.2} s, peak +{save_peak:.1} MiB; \
         restore {restore_secs:.2} s, +{restore_peak:.1} MiB; write {write_secs:.2} s, +{write_peak:.1} MiB; \
         read {read_secs:.2} s, +{read_peak:.1} MiB (64 of them the result)"
    );
    assert!(
        save_peak < bound,
        "save held {save_peak:.1} MiB at once (bound {bound} MiB)"
    );
    assert!(
        restore_peak < bound,
        "restore held {restore_peak:.1} MiB at once (bound {bound} MiB)"
    );
    assert!(
        write_peak < bound,
        "write held {write_peak:.1} MiB beside the caller's bytes (bound {bound} MiB)"
    );
    // The result, once, and no more than a part beside it: not a second copy.
    assert!(
        read_peak < 64.0 + bound / 2.0,
        "read held {read_peak:.1} MiB for a 64 MiB result"
    );
}
