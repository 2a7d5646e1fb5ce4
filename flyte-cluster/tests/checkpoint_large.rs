//! A 64 MiB checkpoint through S3 (moto's server on loopback) streams: saving, restoring,
//! writing and reading it hold a few upload parts at a time, not the checkpoint, let alone two
//! copies of it. A counting allocator measures the heap's peak above where each step started.
//!
//! One test in this binary, so that no other test's allocations are counted.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[path = "support/heap.rs"]
mod heap;

use std::fs;
use std::io::Write;

use flyte_cluster::checkpoint::checkpoint;
use flyte_cluster::storage::PART_SIZE;
use heap::{measured, MIB};

const SIZE: usize = 64 * MIB;

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
    let ((), save) = measured(|| a1.save(&file).unwrap());
    let a2 = checkpoint(&prefix("a2"), Some(&prefix("a1"))).unwrap();
    let out = work.path().join("restored");
    let (_, restore) = measured(|| a2.restore(&out).unwrap().unwrap());
    assert_eq!(fs::metadata(out.join("model.bin")).unwrap().len(), SIZE as u64);
    assert!(fs::read(out.join("model.bin")).unwrap() == fs::read(&file).unwrap());

    let bytes = fs::read(&file).unwrap();
    let ((), write) = measured(|| a2.write(&bytes).unwrap());
    let a3 = checkpoint(&prefix("a3"), Some(&prefix("a2"))).unwrap();
    let (read_back, read) = measured(|| a3.read().unwrap().unwrap());
    assert!(read_back == bytes);
    drop(read_back);

    eprintln!(
        "64 MiB through S3 on loopback (moto): save {:.2} s, peak +{:.1} MiB; \
         restore {:.2} s, +{:.1} MiB; write {:.2} s, +{:.1} MiB; \
         read {:.2} s, +{:.1} MiB (64 of them the result)",
        save.secs, save.peak, restore.secs, restore.peak, write.secs, write.peak, read.secs, read.peak
    );
    assert!(
        save.peak < bound,
        "save held {:.1} MiB at once (bound {bound} MiB)",
        save.peak
    );
    assert!(
        restore.peak < bound,
        "restore held {:.1} MiB at once (bound {bound} MiB)",
        restore.peak
    );
    assert!(
        write.peak < bound,
        "write held {:.1} MiB beside the caller's bytes (bound {bound} MiB)",
        write.peak
    );
    // The result, once, and no more than a part beside it: not a second copy.
    assert!(
        read.peak < 64.0 + bound / 2.0,
        "read held {:.1} MiB for a 64 MiB result",
        read.peak
    );
}
