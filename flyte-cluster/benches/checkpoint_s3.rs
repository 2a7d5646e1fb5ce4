//! A 64 MiB checkpoint saved to and restored from S3 on loopback (moto's server), ours against
//! flytekit 1.16.31's `SyncCheckpoint` on the same server in the same run.
//!
//! `cargo bench -p flyte-cluster --bench checkpoint_s3`. Each side does ROUNDS rounds on the same
//! file, each round into fresh prefixes: `save(file)`, then a new attempt's `restore(dir)` of it.
//! flytekit's times are taken inside one Python process around the calls alone (its import is
//! reported apart), so neither side is charged for starting up. Medians are printed, with the
//! ratios; BENCHMARKS.md records them.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use flyte_cluster::checkpoint::checkpoint;

const MIB: usize = 1 << 20;
const SIZE: usize = 64 * MIB;
const ROUNDS: usize = 7;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

const FLYTEKIT: &str = r#"
import sys, time, tempfile, json
from pathlib import Path
t0 = time.perf_counter()
from flytekit.core.checkpointer import SyncCheckpoint
imported = time.perf_counter() - t0
bucket, src, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
saves, restores = [], []
for r in range(rounds):
    cp = SyncCheckpoint(checkpoint_dest=f"{bucket}/py{r}")
    t = time.perf_counter(); cp.save(src); saves.append(time.perf_counter() - t)
    nxt = SyncCheckpoint(checkpoint_dest=f"{bucket}/py{r}-next", checkpoint_src=f"{bucket}/py{r}")
    d = Path(tempfile.mkdtemp())
    t = time.perf_counter(); nxt.restore(d); restores.append(time.perf_counter() - t)
    assert (d / Path(src).name).stat().st_size == int(sys.argv[4])
print(json.dumps({"import": imported, "save": saves, "restore": restores}), flush=True)
"#;

fn main() {
    let server = s3::S3::shared();
    let bucket = server.new_bucket("bench");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("model.bin");
    {
        // Incompressible enough: a xorshift stream.
        let mut f = std::fs::File::create(&file).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = vec![0u8; MIB];
        for _ in 0..SIZE / MIB {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&block).unwrap();
        }
    }

    let (mut saves, mut restores) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let cp = checkpoint(&format!("{bucket}/rs{r}"), None).unwrap();
        let t = Instant::now();
        cp.save(&file).unwrap();
        saves.push(t.elapsed().as_secs_f64());
        let next = checkpoint(&format!("{bucket}/rs{r}-next"), Some(&format!("{bucket}/rs{r}"))).unwrap();
        let out = work.path().join(format!("restored-{r}"));
        let t = Instant::now();
        next.restore(&out).unwrap();
        restores.push(t.elapsed().as_secs_f64());
        assert_eq!(std::fs::metadata(out.join("model.bin")).unwrap().len(), SIZE as u64);
        std::fs::remove_dir_all(&out).unwrap();
    }
    let (ours_save, ours_restore) = (median(saves), median(restores));

    let reference = flytekit_reference::Reference::get();
    let out = Command::new(reference.python())
        .args(["-B", "-c", FLYTEKIT, &bucket, &file.display().to_string()])
        .arg(ROUNDS.to_string())
        .arg(SIZE.to_string())
        .envs(server.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flytekit's side failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.starts_with('{')).expect("flytekit's figures");
    let figures: serde_json::Value = serde_json::from_str(line).unwrap();
    let list = |key: &str| -> Vec<f64> {
        figures[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (py_save, py_restore) = (median(list("save")), median(list("restore")));
    let import = figures["import"].as_f64().unwrap();

    println!(
        "64 MiB checkpoint through S3 on loopback (moto {}), median of {ROUNDS}:",
        s3::MOTO_VERSION
    );
    println!(
        "  save:    ours {:>7.1} ms   flytekit {:>7.1} ms   flytekit/ours {:.2}",
        ours_save * 1e3,
        py_save * 1e3,
        py_save / ours_save
    );
    println!(
        "  restore: ours {:>7.1} ms   flytekit {:>7.1} ms   flytekit/ours {:.2}",
        ours_restore * 1e3,
        py_restore * 1e3,
        py_restore / ours_restore
    );
    println!(
        "  (flytekit's `import flytekit.core.checkpointer`: {:.0} ms, not counted above)",
        import * 1e3
    );
}
