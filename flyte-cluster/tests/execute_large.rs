//! A task container's `execute` on a large input and output (a `Vec<String>` of 32 MiB as
//! `inputs.pb`, and one as large back as `outputs.pb`), on `file://`: each form of the value
//! (`inputs.pb`'s bytes, the `core.LiteralMap`, the runtime's `Encoded`, the task's own
//! `Vec<String>`) is freed as soon as the next one is made, so that the heap's peak above where
//! `execute` started stays near two copies of the value (2.4 times it, reading inputs.pb), not one
//! per form at once (6.5 times it before). A counting allocator measures it.
//!
//! One test in this binary, so that no other test's allocations are counted.

use std::fs;

use flyte_cluster::execute::{execute_task, ExecuteArgs, Executed};
use flyte_idl::core::LiteralMap;
use flyte_idl::prost::Message;
use flyte_runtime::{Encoded, SingleAttempt, Type};
use flytekit::task;
use heap::{measured, MIB};

#[path = "support/heap.rs"]
mod heap;

/// Each string's length, and how many there are: 32 MiB of text.
const LINE: usize = 1024;
const LINES: usize = 32 * 1024;

/// The lines in the other order, each reversed: as large as its input, and none of it shared.
#[task]
fn reversed(lines: Vec<String>) -> Vec<String> {
    lines.into_iter().rev().map(|l| l.chars().rev().collect()).collect()
}

fn line(i: usize) -> String {
    let mut s = format!("{i:08}:");
    while s.len() < LINE {
        s.push((b'a' + (s.len() * 7 + i) as u8 % 26) as char);
    }
    s
}

#[test]
fn execute_holds_a_32_mib_value_about_twice_not_once_per_form() {
    let ty = Type::Collection(Box::new(Type::Str));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().display().to_string();
    let inputs_pb = work.path().join("inputs.pb");
    let encoded_size = {
        let lines: Vec<String> = (0..LINES).map(line).collect();
        let value = Encoded::encode(&lines).unwrap();
        let map = flyte_cluster::literal::to_literal_map(&[("lines", &value, &ty)]).unwrap();
        let bytes = map.encode_to_vec();
        fs::write(&inputs_pb, &bytes).unwrap();
        bytes.len()
    };
    let size = encoded_size as f64 / MIB as f64;

    let args = ExecuteArgs {
        task: "large.reversed".to_owned(),
        inputs: format!("file://{dir}/inputs.pb"),
        output_prefix: format!("file://{dir}/out"),
        raw_output_data_prefix: format!("file://{dir}/raw"),
        checkpoint_path: format!("file://{dir}/checkpoint"),
        prev_checkpoint: None,
        map: false,
    };
    // execute's own steps, one at a time, as it takes them: reading inputs.pb and converting
    // it, and converting and encoding the outputs (the task's part in between is the runtime's).
    let phase = |f: &mut dyn FnMut()| measured(f).1.peak;
    let mut inputs = None;
    let read_peak = phase(&mut || {
        let map = flyte_cluster::execute::read_inputs(&args.inputs).unwrap();
        inputs = Some(flyte_cluster::literal::from_literal_map_owned(map, &[("lines", &ty)]).unwrap());
    });
    // The input as large as an output, handed over as execute hands the task's outputs over.
    let mut outputs = inputs;
    let write_peak = phase(&mut || {
        let output = outputs.take().unwrap().remove(0);
        let values = vec![("o0", output, &ty)];
        let map = flyte_cluster::literal::to_literal_map_owned(values).unwrap();
        let bytes = map.encode_to_vec();
        drop(map);
        drop(bytes);
    });

    let (executed, whole) =
        measured(|| execute_task(&reversed, &args, SingleAttempt::new("e", "n0", 1), "worker").unwrap());
    let (peak, after, secs) = (whole.peak, whole.left, whole.secs);
    assert_eq!(executed, Executed::Outputs);

    let out = fs::read(work.path().join("out/outputs.pb")).unwrap();
    assert!(
        out.len().abs_diff(encoded_size) < 16,
        "outputs.pb is {} bytes, inputs.pb {encoded_size}",
        out.len()
    );
    let map = LiteralMap::decode(&out[..]).unwrap();
    drop(out);
    let back: Vec<String> = flyte_cluster::literal::from_literal(&map.literals["o0"], &ty)
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(back.len(), LINES);
    for (i, l) in back.iter().enumerate() {
        assert!(*l == line(LINES - 1 - i).chars().rev().collect::<String>(), "line {i}");
    }

    eprintln!(
        "execute on a {size:.1} MiB Vec<String> (inputs.pb; outputs.pb as large), file://: \
         {secs:.2} s, peak +{peak:.1} MiB ({:.2}x the value), +{after:.1} MiB left after; \
         reading and converting the inputs +{read_peak:.1} MiB, converting and encoding the \
         outputs +{write_peak:.1} MiB",
        peak / size
    );
    // Reading: inputs.pb's bytes beside the LiteralMap decoded from them (prost decodes from a
    // whole buffer), then the map's literals freed as the `Encoded` value is written; some 15%
    // over two copies is the literals' per-element overhead at 1 KiB a line.
    assert!(
        read_peak < 2.5 * size,
        "reading the inputs held {read_peak:.1} MiB for a {size:.1} MiB value"
    );
    // Writing: the `Encoded` output beside its CBOR value, each freed as its literal is made,
    // then the LiteralMap beside outputs.pb's bytes, the map freed before the upload.
    assert!(
        write_peak < 2.0 * size,
        "writing the outputs held {write_peak:.1} MiB for a {size:.1} MiB value"
    );
    // The whole: no step holds more than reading does. While the task runs, the runtime has
    // freed the `Encoded` input once decoded (`SingleAttempt::run_owned`), so the task's own
    // `Vec<String>`s are beside at most the `Encoded` output, serialized into a buffer of its
    // exact size. Before, execute held 6.5 times the value (210 MiB): inputs.pb's bytes, the
    // LiteralMap, CBOR, `Encoded` in and out, the task's values, all at once.
    let bound = 2.5 * size;
    assert!(
        peak < bound,
        "execute held {peak:.1} MiB at once for a {size:.1} MiB value (bound {bound:.1} MiB)"
    );
    assert!(after < 1.0, "execute left {after:.1} MiB behind");
}
