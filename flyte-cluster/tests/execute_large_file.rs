//! A task container's `execute` on a large file (`FlyteFile`, 128 MiB) in and a copy of it out,
//! on `file://`: the input is downloaded to disk and the output uploaded from disk in parts, so
//! the heap's peak stays at a few parts ([`PART_SIZE`]), whatever the file's size. A counting
//! allocator measures it.
//!
//! One test in this binary, so that no other test's allocations are counted.

use std::fs;
use std::io::Write;

use flyte_cluster::execute::{execute_task, ExecuteArgs, Executed};
use flyte_cluster::storage::PART_SIZE;
use flyte_idl::core::{literal, scalar, LiteralMap};
use flyte_idl::prost::Message;
use flyte_runtime::{Encoded, FlyteFile, SingleAttempt, Type};
use flytekit::{task, TaskError};
use heap::{measured, MIB};

#[path = "support/heap.rs"]
mod heap;

const SIZE: usize = 128 * MIB;

/// A copy of the file, through the kernel.
#[task]
fn copied(file: FlyteFile) -> Result<FlyteFile, TaskError> {
    let (copy, mut out) = FlyteFile::create("copy.bin")?;
    std::io::copy(&mut fs::File::open(file.path())?, &mut out)?;
    Ok(copy)
}

#[test]
fn execute_moves_a_128_mib_file_in_and_out_in_a_few_parts_of_memory() {
    let work = tempfile::tempdir().unwrap();
    // Where `FlyteFile::create` puts the task's copy, removed with the rest.
    std::env::set_var("TMPDIR", work.path());
    let dir = work.path().display().to_string();
    let input = work.path().join("big.bin");
    {
        let mut f = fs::File::create(&input).unwrap();
        let block: Vec<u8> = (0..MIB).map(|i| (i * 31 % 253) as u8).collect();
        for i in 0..SIZE / MIB {
            let mut b = block.clone();
            b[0] = i as u8;
            f.write_all(&b).unwrap();
        }
    }
    let value = Encoded::encode(&FlyteFile::downloaded("unused", format!("file://{dir}/big.bin"))).unwrap();
    let map = flyte_cluster::literal::to_literal_map(&[("file", &value, &Type::File)]).unwrap();
    fs::write(work.path().join("inputs.pb"), map.encode_to_vec()).unwrap();
    let args = ExecuteArgs {
        task: "large.copied".to_owned(),
        inputs: format!("file://{dir}/inputs.pb"),
        output_prefix: format!("file://{dir}/out"),
        raw_output_data_prefix: format!("file://{dir}/raw"),
        checkpoint_path: format!("file://{dir}/checkpoint"),
        prev_checkpoint: None,
        map: false,
    };

    let (executed, m) = measured(|| execute_task(&copied, &args, SingleAttempt::new("e", "n0", 1), "worker").unwrap());
    assert_eq!(executed, Executed::Outputs);

    let out = LiteralMap::decode(&fs::read(work.path().join("out/outputs.pb")).unwrap()[..]).unwrap();
    let Some(literal::Value::Scalar(s)) = &out.literals["o0"].value else {
        panic!("{out:?}")
    };
    let Some(scalar::Value::Blob(blob)) = &s.value else {
        panic!("{out:?}")
    };
    assert_eq!(blob.uri, format!("file://{dir}/raw/o0/1/copy.bin"));
    let uploaded = work.path().join("raw/o0/1/copy.bin");
    assert!(
        fs::read(&uploaded).unwrap() == fs::read(&input).unwrap(),
        "the upload is not the file"
    );

    let (size, part) = ((SIZE / MIB) as f64, (PART_SIZE / MIB) as f64);
    eprintln!(
        "execute on a {size:.0} MiB file in and out, file://: {:.2} s, peak +{:.1} MiB ({:.2}x the file, {:.1} parts), +{:.1} MiB left after",
        m.secs,
        m.peak,
        m.peak / size,
        m.peak / part,
        m.left
    );
    // The upload's parts: the writer's buffer and those in flight; the download's pieces are
    // smaller. Holding the file would be 128 MiB at least.
    assert!(
        m.peak < 5.0 * part,
        "execute held {:.1} MiB for a {size:.0} MiB file",
        m.peak
    );
    assert!(m.left < 1.0, "execute left {:.1} MiB behind", m.left);
}
