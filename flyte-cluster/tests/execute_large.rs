//! A task container's `execute` on a large input and output (a `Vec<String>` of 32 MiB as
//! `inputs.pb`, and one as large back as `outputs.pb`), on `file://`: `inputs.pb` is read as it
//! streams in, into the runtime's `Encoded` value in chunks and nothing else (about once the
//! value); the task's own `Vec<String>` is made from that, each chunk freed once read; the
//! task's output is kept as it returned it, unserialized, and each of its elements serialized,
//! converted and encoded into the upload of `outputs.pb` in turn. So the heap's peak above where
//! `execute` started is about the value once, plus the upload's parts (1.7 times it here, the
//! parts being 24 MiB whatever the value's size), not the value again in serialized form
//! (2.0 times it before; 6.5 times at first, every form at once; 2.4 times with `inputs.pb`'s
//! bytes and their `LiteralMap` both held). A counting allocator measures it.
//!
//! One test in this binary, so that no other test's allocations are counted.

use std::fs;

use flyte_cluster::execute::{execute_task, ExecuteArgs, Executed};
use flyte_cluster::storage::PART_SIZE;
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
fn execute_holds_a_32_mib_value_about_once_beside_the_uploads_parts() {
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
    let slots = [("lines", &ty)];
    // The whole reading, for comparison: inputs.pb's bytes beside their LiteralMap.
    let whole_read_peak = phase(&mut || {
        let map = flyte_cluster::execute::read_inputs(&args.inputs).unwrap();
        drop(flyte_cluster::literal::from_literal_map_owned(map, &slots).unwrap());
    });
    let mut inputs = None;
    let read_peak = phase(&mut || {
        inputs = Some(flyte_cluster::execute::read_input_values(&args.inputs, &slots).unwrap());
    });
    // Decoding the input as the runtime does, taking it (each of its chunks freed once read),
    // against decoding it in place (its bytes kept beside the value being made).
    let mut taken = Some(flyte_cluster::execute::read_input_values(&args.inputs, &slots).unwrap());
    let mut decoded = None;
    let decode_taken_peak = phase(&mut || {
        let input = taken.take().unwrap().remove(0);
        decoded = Some(input.decode_owned::<Vec<String>>().unwrap());
    });
    drop(decoded);
    let mut in_place = None;
    let decode_in_place_peak = phase(&mut || {
        in_place = Some(inputs.as_ref().unwrap()[0].decode::<Vec<String>>().unwrap());
    });
    let streamed = in_place.take().unwrap();
    assert!(streamed.len() == LINES && streamed.iter().enumerate().all(|(i, l)| *l == line(i)));
    drop(streamed);
    // The input as large as an output, handed over as execute hands the task's outputs over.
    let mut outputs = inputs;
    let write_prefix = format!("file://{dir}/phase");
    let write_peak = phase(&mut || {
        let output = outputs.take().unwrap().remove(0);
        let values = vec![("o0", output, &ty)];
        let map = flyte_cluster::literal::to_literal_map_owned(values).unwrap();
        flyte_cluster::execute::write_outputs_owned(&write_prefix, map).unwrap();
    });
    let written = fs::read(work.path().join("phase/outputs.pb")).unwrap();
    assert!(
        written.len().abs_diff(encoded_size) < 16,
        "outputs.pb is {} bytes, inputs.pb {encoded_size}",
        written.len()
    );
    // The task's output as execute has it: the list the task returned, unserialized
    // (`SingleAttempt::typed_outputs`), serialized, converted and encoded into the upload an
    // element at a time. The same bytes as the map's.
    let mut typed = Some(Encoded::typed((0..LINES).map(line).collect::<Vec<String>>()).unwrap());
    let typed_prefix = format!("file://{dir}/typed");
    let typed_write_peak = phase(&mut || {
        let values = vec![("o0", typed.take().unwrap(), &ty)];
        flyte_cluster::execute::write_output_values(&typed_prefix, values)
            .unwrap()
            .unwrap();
    });
    assert!(fs::read(work.path().join("typed/outputs.pb")).unwrap() == written);
    drop(written);
    // Encoding the map whole before the upload, for comparison (as execute did): the map
    // beside its bytes, the map freed before the upload.
    let mut output = Some(flyte_cluster::execute::read_input_values(&args.inputs, &slots).unwrap());
    let whole_write_peak = phase(&mut || {
        let values = vec![("o0", output.take().unwrap().remove(0), &ty)];
        let map = flyte_cluster::literal::to_literal_map_owned(values).unwrap();
        let bytes = map.encode_to_vec();
        drop(map);
        let at = flyte_cluster::storage::Location::parse(&write_prefix).unwrap();
        at.join("whole.pb").write(&bytes).unwrap();
    });

    let (executed, whole) =
        measured(|| execute_task(&reversed, &args, SingleAttempt::new("e", "n0", 1), "worker").unwrap());
    let (peak, after, secs, largest) = (whole.peak, whole.left, whole.secs, whole.largest);
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
         {secs:.2} s, peak +{peak:.1} MiB ({:.2}x the value), largest block {largest:.1} MiB, \
         +{after:.1} MiB left after; \
         reading and converting the inputs +{read_peak:.1} MiB ({:.2}x; the whole reading \
         +{whole_read_peak:.1} MiB, {:.2}x), decoding the input taken +{decode_taken_peak:.1} MiB \
         ({:.2}x; in place +{decode_in_place_peak:.1} MiB, {:.2}x), converting and encoding the outputs \
         +{write_peak:.1} MiB ({:.2}x; encoding the map whole +{whole_write_peak:.1} MiB, {:.2}x; \
         the task's unserialized output an element at a time +{typed_write_peak:.1} MiB, {:.2}x)",
        peak / size,
        read_peak / size,
        whole_read_peak / size,
        decode_taken_peak / size,
        decode_in_place_peak / size,
        write_peak / size,
        whole_write_peak / size,
        typed_write_peak / size,
    );
    // Reading: inputs.pb streams in, each element's literal decoded and converted in turn and
    // its CBOR written into the value's buffer (sized once from the literal's length), so the
    // value is held once, beside the piece being read. The whole reading (inputs.pb's bytes
    // beside their LiteralMap) is over twice the value: a regression to it fails here.
    assert!(
        read_peak < 1.1 * size,
        "reading the inputs held {read_peak:.1} MiB for a {size:.1} MiB value"
    );
    assert!(
        whole_read_peak > 2.0 * size,
        "the whole reading held {whole_read_peak:.1} MiB: the comparison no longer measures it"
    );
    // Decoding: the runtime takes the input and frees each of its chunks once read, so the
    // task's value replaces the input's bytes as it is made (above them: the chunk being read
    // and the list's growth). Decoding in place holds both, the value once more.
    assert!(
        decode_taken_peak < 0.15 * size,
        "decoding the input taken held {decode_taken_peak:.1} MiB more for a {size:.1} MiB value"
    );
    assert!(
        decode_in_place_peak > 0.9 * size,
        "decoding in place held {decode_in_place_peak:.1} MiB: the comparison no longer measures it"
    );
    // Writing a serialized output (one holding files, or held as bytes): the `Encoded` output
    // beside its CBOR value (the conversion reads it whole), then the LiteralMap, its elements
    // freed as they are encoded into the upload's pieces; the bytes are never whole (encoding
    // the map whole would add the value once more).
    assert!(
        write_peak < 1.2 * size,
        "writing the outputs held {write_peak:.1} MiB for a {size:.1} MiB value"
    );
    assert!(
        whole_write_peak > 1.25 * size,
        "encoding the map whole held {whole_write_peak:.1} MiB: the comparison no longer measures it"
    );
    // Writing the task's unserialized output: above the value, only the upload's parts and the
    // piece being encoded, not the value again, as CBOR or as literals. The parts in flight
    // depend on how fast the upload goes: one being filled and up to three sent
    // (`object_store`'s `BufWriter` waits for room only above its two), 24 to 32 MiB.
    let parts = 4.0 * (PART_SIZE / MIB) as f64;
    let typed_bound = parts + 2.0;
    assert!(
        typed_write_peak < typed_bound,
        "writing the unserialized output held {typed_write_peak:.1} MiB (bound {typed_bound:.1} MiB)"
    );
    // The whole: the value about once, and the upload's parts. The runtime decodes the input
    // taken, freeing its chunks as it reads them (above); the task holds its input and output
    // `Vec<String>`s (the input's strings freed as the output's are made); its output, kept
    // unserialized, is written an element at a time beside the upload's parts. Before, it was
    // twice the value (the task's value beside its serialized form, at its input and again at
    // its output); before streaming, reading inputs.pb held the most (2.4 times); before that,
    // execute held 6.5 times the value (210 MiB), every form at once.
    let bound = 1.1 * size + parts;
    assert!(
        peak < bound,
        "execute held {peak:.1} MiB at once for a {size:.1} MiB value (bound {bound:.1} MiB)"
    );
    // With 32 MiB of parts beside a 32 MiB value, the peak alone would not tell the value held
    // twice: no block is ever the value's size. A value serialized whole (the input in one
    // buffer, the output encoded into one) is one block of about its size; here the largest is
    // a piece of the upload, or a chunk of the input: a few MiB.
    let largest_bound = 0.25 * size;
    assert!(
        largest < largest_bound,
        "execute allocated a block of {largest:.1} MiB for a {size:.1} MiB value (bound {largest_bound:.1} MiB)"
    );
    assert!(after < 1.0, "execute left {after:.1} MiB behind");
}
