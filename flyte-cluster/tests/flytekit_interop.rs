//! What flytekit 1.16.31 itself makes of our checkpoints and error documents, and we of its
//! checkpoints: its own classes run in the reference environment (`tests/support/flytekit.rs`).

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

use std::path::Path;

use flyte_cluster::checkpoint::checkpoint;
use flyte_cluster::execute::{write_error, ContainerFailure};
use flyte_runtime::{AttemptFailure, FailureKind, TaskError};
use flytekit_reference::Reference;

fn python(script: &str) -> String {
    let r = Reference::get();
    let out = std::process::Command::new(r.python())
        .args(["-B", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn a_checkpoint_flytekit_wrote_is_read_and_ours_sits_where_flytekit_looks() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("python-attempt");
    python(&format!(
        "from flytekit.core.checkpointer import SyncCheckpoint\n\
         SyncCheckpoint(checkpoint_dest={:?}).write(b'step 41')\n",
        theirs.display().to_string()
    ));
    let ours = checkpoint(&file_uri(&dir.path().join("rust-attempt")), Some(&file_uri(&theirs))).unwrap();
    assert_eq!(ours.read().unwrap().as_deref(), Some(&b"step 41"[..]));
    ours.write(b"step 42").unwrap();

    // flytekit's restore of our prefix finds our value in the object it writes itself; its
    // read() refuses, since our manifest sits beside it (README, "Checkpoints in object storage").
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    let out = python(&format!(
        "from flytekit.core.checkpointer import SyncCheckpoint\n\
         cp = SyncCheckpoint(checkpoint_dest='/unused', checkpoint_src={:?})\n\
         p = cp.restore({:?})\n\
         print((p / '_dst_cp').read_bytes().decode())\n\
         try:\n    cp.read()\nexcept ValueError as e:\n    print(e)\n",
        dir.path().join("rust-attempt").display().to_string(),
        restored.display().to_string(),
    ));
    assert_eq!(out, "step 42\nExpected exactly one checkpoint - found 2\n");
}

#[test]
fn flytekit_reads_our_error_documents_with_their_kind_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "recoverable",
            ContainerFailure::from_task_error(&TaskError::recoverable("try again")),
        ),
        (
            "fatal",
            ContainerFailure::from_task_error(&TaskError::non_recoverable("bad config")),
        ),
        (
            "panic",
            ContainerFailure::from_attempt(&AttemptFailure {
                attempt: 1,
                kind: FailureKind::Panic,
                cause: "index out of bounds".to_owned(),
            }),
        ),
        (
            "preempted",
            ContainerFailure::from_attempt(&AttemptFailure {
                attempt: 2,
                kind: FailureKind::Interrupted,
                cause: "the pod was preempted".to_owned(),
            }),
        ),
    ];
    let mut script = String::from(
        "from flyteidl.core import errors_pb2\n\
         from flytekit.models.core.errors import ContainerError, ErrorDocument\n\
         from flytekit.models.core.execution import ExecutionError\n\
         kinds = {ContainerError.Kind.RECOVERABLE: 'RECOVERABLE', ContainerError.Kind.NON_RECOVERABLE: 'NON_RECOVERABLE'}\n\
         origins = {ExecutionError.ErrorKind.USER: 'USER', ExecutionError.ErrorKind.SYSTEM: 'SYSTEM'}\n\
         def show(path):\n\
         \x20   pb = errors_pb2.ErrorDocument()\n\
         \x20   pb.ParseFromString(open(path, 'rb').read())\n\
         \x20   e = ErrorDocument.from_flyte_idl(pb).error\n\
         \x20   print(e.code, kinds[e.kind], origins[e.origin], e.message, e.timestamp is not None, sep='|')\n",
    );
    for (name, failure) in &cases {
        let prefix = dir.path().join(name);
        write_error(&file_uri(&prefix), failure, "").unwrap();
        script.push_str(&format!("show({:?})\n", prefix.join("error.pb").display().to_string()));
    }
    assert_eq!(
        python(&script),
        "USER:Recoverable|RECOVERABLE|USER|try again|True\n\
         USER:NonRecoverable|NON_RECOVERABLE|USER|bad config|True\n\
         USER:Panic|NON_RECOVERABLE|USER|index out of bounds|True\n\
         SYSTEM:Interrupted|RECOVERABLE|SYSTEM|the pod was preempted|True\n"
    );
}
