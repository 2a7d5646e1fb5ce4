//! The parts of `execute` that need no package: the attempt's environment, `error.pb` from a
//! failure's classification, and `inputs.pb`/`outputs.pb`/`error.pb` through object storage
//! (S3 on loopback, see `tests/support/s3.rs`, and `file://`).

#[path = "../../tests/support/s3.rs"]
mod s3;

use std::collections::HashMap;

use flyte_cluster::checkpoint::prev_checkpoint;
use flyte_cluster::execute::{
    read_input_values, read_inputs, write_error, write_outputs, write_outputs_owned, AttemptEnv, ContainerFailure,
    InputsError, Origin, ERROR_FILE, OUTPUTS_FILE,
};
use flyte_cluster::literal::{from_literal_map_owned, to_literal};
use flyte_cluster::storage::{Location, StorageError};
use flyte_idl::core::{
    container_error, execution_error, literal, primitive, scalar, ErrorDocument, Literal, LiteralMap,
};
use flyte_idl::prost::Message;
use flyte_runtime::{AttemptFailure, Encoded, FailureKind, TaskError, Type};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn flyte_attempt_number_counts_from_zero_and_the_context_from_one() {
    let env = AttemptEnv::from_vars(vars(&[
        ("FLYTE_ATTEMPT_NUMBER", "2"),
        ("FLYTE_INTERNAL_EXECUTION_ID", "f3a1b2"),
        ("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks"),
        ("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development"),
        (
            "FLYTE_INTERNAL_EXECUTION_WORKFLOW",
            "flytesnacks:development:wf.download",
        ),
        ("FLYTE_INTERNAL_WORKER_NAME", "worker-1"),
    ]))
    .unwrap();
    assert_eq!(
        env,
        AttemptEnv {
            attempt: 3,
            execution: "f3a1b2".to_owned(),
            project: Some("flytesnacks".to_owned()),
            domain: Some("development".to_owned()),
            workflow: Some("flytesnacks:development:wf.download".to_owned()),
            // Only a distributed task's workers are named, as flytekit does.
            worker: String::new(),
            array_index: 0,
        }
    );
    let first = AttemptEnv::from_vars(vars(&[("FLYTE_ATTEMPT_NUMBER", "0")])).unwrap();
    assert_eq!((first.attempt, first.execution.as_str()), (1, "local"));
    assert_eq!(AttemptEnv::from_vars(vars(&[])).unwrap().attempt, 1);
    let dist = AttemptEnv::from_vars(vars(&[
        ("FLYTE_INTERNAL_DIST_ERROR_STRATEGY", "Earliest"),
        ("FLYTE_INTERNAL_WORKER_NAME", "worker-1"),
    ]))
    .unwrap();
    assert_eq!(dist.worker, "worker-1");
    let err = AttemptEnv::from_vars(vars(&[("FLYTE_ATTEMPT_NUMBER", "one")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable FLYTE_ATTEMPT_NUMBER=\"one\" is not an attempt number (0 for the first attempt)"
    );
}

/// A map task's element, as flytekit's `_compute_array_job_index`: the variable
/// `BATCH_JOB_ARRAY_INDEX_VAR_NAME` names, plus `BATCH_JOB_ARRAY_INDEX_OFFSET`.
#[test]
fn the_array_index_is_read_through_the_variable_named_plus_the_offset() {
    let index = |pairs: &[(&str, &str)]| AttemptEnv::from_vars(vars(pairs)).map(|e| e.array_index);
    assert_eq!(index(&[]), Ok(0));
    let named = ("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "FLYTE_K8S_ARRAY_INDEX");
    assert_eq!(index(&[named, ("FLYTE_K8S_ARRAY_INDEX", "3")]), Ok(3));
    assert_eq!(
        index(&[
            named,
            ("FLYTE_K8S_ARRAY_INDEX", "3"),
            ("BATCH_JOB_ARRAY_INDEX_OFFSET", "10")
        ]),
        Ok(13)
    );
    // Without the name, the index variable is not looked at: flytekit's rule.
    assert_eq!(index(&[("FLYTE_K8S_ARRAY_INDEX", "3")]), Ok(0));
    assert_eq!(
        index(&[named, ("FLYTE_K8S_ARRAY_INDEX", "-1")])
            .unwrap_err()
            .to_string(),
        "environment variable FLYTE_K8S_ARRAY_INDEX=\"-1\" is not an array index (0 or more)"
    );
}

#[test]
fn prev_checkpoint_of_two_quotes_or_an_unrendered_template_is_none() {
    for none in [
        "\"\"",
        "",
        " ",
        "{{.prevCheckpointPrefix}}",
        "{{ .PrevCheckpointPrefix }}",
    ] {
        assert_eq!(prev_checkpoint(none), None, "{none:?}");
    }
    assert_eq!(
        prev_checkpoint("s3://bucket/metadata/n0/0/_flytecheckpoints"),
        Some("s3://bucket/metadata/n0/0/_flytecheckpoints")
    );
}

/// (code, kind, origin) of the document.
fn summary(doc: &ErrorDocument) -> (String, container_error::Kind, execution_error::ErrorKind, String) {
    let e = doc.error.as_ref().unwrap();
    assert!(e.timestamp.is_some());
    (
        e.code.clone(),
        container_error::Kind::try_from(e.kind).unwrap(),
        execution_error::ErrorKind::try_from(e.origin).unwrap(),
        e.message.clone(),
    )
}

#[test]
fn an_error_document_takes_its_kind_from_the_classification() {
    use container_error::Kind::{NonRecoverable, Recoverable};
    use execution_error::ErrorKind::{System, User};

    #[derive(Debug, thiserror::Error)]
    #[error("shard 3 unreadable")]
    struct Outer(#[source] std::io::Error);

    let recoverable: TaskError = Outer(std::io::Error::other("connection reset")).into();
    let doc = ContainerFailure::from_task_error(&recoverable).to_error_document("");
    assert_eq!(
        summary(&doc),
        (
            "USER:Recoverable".to_owned(),
            Recoverable,
            User,
            "shard 3 unreadable: connection reset".to_owned()
        )
    );
    let fatal = TaskError::non_recoverable("bad config");
    let doc = ContainerFailure::from_task_error(&fatal).to_error_document("w0");
    assert_eq!(
        summary(&doc),
        (
            "USER:NonRecoverable".to_owned(),
            NonRecoverable,
            User,
            "bad config".to_owned()
        )
    );
    assert_eq!(doc.error.unwrap().worker, "w0");

    let cases = [
        (FailureKind::Recoverable, "USER:Recoverable", Recoverable, User),
        (FailureKind::NonRecoverable, "USER:NonRecoverable", NonRecoverable, User),
        // A panic is a bug: retrying it will not help.
        (FailureKind::Panic, "USER:Panic", NonRecoverable, User),
        (FailureKind::TimedOut, "USER:Timeout", Recoverable, User),
        // A preempted or killed process is the system's failure, and retried.
        (FailureKind::Interrupted, "SYSTEM:Interrupted", Recoverable, System),
        (FailureKind::Stopped, "SYSTEM:Stopped", Recoverable, System),
    ];
    for (kind, code, want_kind, want_origin) in cases {
        let failure = AttemptFailure {
            attempt: 1,
            kind: kind.clone(),
            cause: format!("{kind:?} happened"),
        };
        let doc = ContainerFailure::from_attempt(&failure).to_error_document("");
        assert_eq!(
            summary(&doc),
            (code.to_owned(), want_kind, want_origin, format!("{kind:?} happened")),
            "{kind:?}"
        );
    }
    let system = ContainerFailure::download(&StorageError::NotFound {
        uri: "s3://b/inputs.pb".to_owned(),
    });
    assert_eq!(system.origin, Origin::System);
    assert_eq!(
        summary(&system.to_error_document("")),
        (
            "SYSTEM:DownloadDataError".to_owned(),
            Recoverable,
            System,
            "s3://b/inputs.pb does not exist".to_owned()
        )
    );
}

fn int(v: i64) -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(flyte_idl::core::Scalar {
            value: Some(scalar::Value::Primitive(flyte_idl::core::Primitive {
                value: Some(primitive::Value::Integer(v)),
            })),
        }))),
        ..Default::default()
    }
}

fn inputs_and_outputs(root: &str) {
    let inputs = LiteralMap {
        literals: std::collections::BTreeMap::from([("n".to_owned(), int(5))]),
    };
    Location::parse(&format!("{root}/in/inputs.pb"))
        .unwrap()
        .write(&inputs.encode_to_vec())
        .unwrap();
    assert_eq!(read_inputs(&format!("{root}/in/inputs.pb")).unwrap(), inputs);

    let outputs = LiteralMap {
        literals: std::collections::BTreeMap::from([("o0".to_owned(), int(25))]),
    };
    write_outputs(&format!("{root}/out"), &outputs).unwrap();
    let written = Location::parse(&format!("{root}/out/{OUTPUTS_FILE}"))
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(LiteralMap::decode(&written[..]).unwrap(), outputs);

    let failure = ContainerFailure::from_task_error(&TaskError::recoverable("try again"));
    write_error(&format!("{root}/out2/"), &failure, "").unwrap();
    let written = Location::parse(&format!("{root}/out2/{ERROR_FILE}"))
        .unwrap()
        .read()
        .unwrap();
    let doc = ErrorDocument::decode(&written[..]).unwrap();
    assert_eq!(doc.error.unwrap().message, "try again");

    match read_inputs(&format!("{root}/missing/inputs.pb")) {
        Err(InputsError::Storage(StorageError::NotFound { uri })) => {
            assert!(uri.ends_with("missing/inputs.pb"), "{uri}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    Location::parse(&format!("{root}/bad/inputs.pb"))
        .unwrap()
        .write(b"\xff\xff\xff")
        .unwrap();
    match read_inputs(&format!("{root}/bad/inputs.pb")) {
        Err(InputsError::Decode { uri, .. }) => assert!(uri.ends_with("bad/inputs.pb"), "{uri}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    streamed_inputs_and_outputs(root);
}

/// `read_input_values` (inputs.pb as it streams in) gives the whole reading's values, and its
/// errors, the same: the same kind, the same words. `write_outputs_owned` writes prost's bytes.
fn streamed_inputs_and_outputs(root: &str) {
    let ints = Type::Collection(Box::new(Type::Integer));
    let list = to_literal(&Encoded::encode(&(0..1000i64).collect::<Vec<_>>()).unwrap(), &ints).unwrap();
    let inputs = LiteralMap {
        literals: std::collections::BTreeMap::from([("n".to_owned(), int(5)), ("xs".to_owned(), list)]),
    };
    let put = |rel: &str, bytes: &[u8]| {
        let uri = format!("{root}/{rel}");
        Location::parse(&uri).unwrap().write(bytes).unwrap();
        uri
    };
    let bytes = inputs.encode_to_vec();
    let uri = put("streamed/inputs.pb", &bytes);
    let slots = [("xs", &ints), ("n", &Type::Integer)];
    let values = read_input_values(&uri, &slots).unwrap();
    assert_eq!(values[0].decode::<Vec<i64>>().unwrap(), (0..1000).collect::<Vec<_>>());
    assert_eq!(values[1].decode::<i64>().unwrap(), 5);

    // Errors: the whole reading's, word for word.
    let whole = |uri: &str, slots: &[(&str, &Type)]| -> Result<Vec<Encoded>, String> {
        let map = read_inputs(uri).map_err(|e| e.to_string())?;
        from_literal_map_owned(map, slots).map_err(|e| e.to_string())
    };
    let truncated = put("streamed/truncated.pb", &bytes[..bytes.len() - 3]);
    match read_input_values(&truncated, &slots) {
        Err(e @ InputsError::Decode { .. }) => assert_eq!(Err(e.to_string()), whole(&truncated, &slots)),
        other => panic!("expected a decode error, got {other:?}"),
    }
    let strs = Type::Collection(Box::new(Type::Str));
    for slots in [
        vec![("xs", &strs), ("n", &Type::Integer)],
        vec![("xs", &ints)],
        vec![("xs", &ints), ("n", &Type::Integer), ("m", &Type::Integer)],
    ] {
        match read_input_values(&uri, &slots) {
            Err(e @ InputsError::Literal(_)) => assert_eq!(Err(e.to_string()), whole(&uri, &slots)),
            other => panic!("expected a literal error, got {other:?}"),
        }
    }
    match read_input_values(&format!("{root}/missing/inputs.pb"), &slots) {
        Err(InputsError::Storage(StorageError::NotFound { uri })) => {
            assert!(uri.ends_with("missing/inputs.pb"), "{uri}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    write_outputs_owned(&format!("{root}/streamed-out"), inputs).unwrap();
    let written = Location::parse(&format!("{root}/streamed-out/{OUTPUTS_FILE}"))
        .unwrap()
        .read()
        .unwrap();
    assert!(written == bytes, "outputs.pb is not prost's encoding of the map");
}

#[test]
fn inputs_outputs_and_errors_through_s3() {
    let bucket = s3::S3::shared().new_bucket("exec");
    inputs_and_outputs(&bucket);
}

#[test]
fn inputs_outputs_and_errors_through_files() {
    let dir = tempfile::tempdir().unwrap();
    inputs_and_outputs(&format!("file://{}", dir.path().display()));
}

#[test]
fn execute_args_as_propeller_renders_them() {
    use flyte_cluster::execute::ExecuteArgs;
    let rendered = [
        "--task",
        "app.train",
        "--inputs",
        "s3://b/m/n0/inputs.pb",
        "--output-prefix",
        "s3://b/m/n0/0",
        "--raw-output-data-prefix",
        "s3://b/raw/0",
        "--checkpoint-path",
        "s3://b/m/n0/0/_flytecheckpoints",
        "--prev-checkpoint",
        "\"\"",
    ];
    let args = ExecuteArgs::parse(rendered).unwrap();
    assert_eq!(
        args,
        ExecuteArgs {
            task: "app.train".to_owned(),
            inputs: "s3://b/m/n0/inputs.pb".to_owned(),
            output_prefix: "s3://b/m/n0/0".to_owned(),
            raw_output_data_prefix: "s3://b/raw/0".to_owned(),
            checkpoint_path: "s3://b/m/n0/0/_flytecheckpoints".to_owned(),
            prev_checkpoint: None,
            map: false,
        }
    );
    let later = ExecuteArgs::parse([
        "--task=app.train",
        "--inputs=i",
        "--output-prefix=o",
        "--checkpoint-path=c1",
        "--prev-checkpoint=c0",
    ])
    .unwrap();
    assert_eq!(later.prev_checkpoint.as_deref(), Some("c0"));
    assert!(!later.map);
    let map = ExecuteArgs::parse([
        "--task",
        "t",
        "--map",
        "--inputs",
        "i",
        "--output-prefix",
        "o",
        "--checkpoint-path",
        "c",
    ]);
    assert!(map.unwrap().map);
    assert_eq!(ExecuteArgs::parse(["--map=yes"]).unwrap_err(), "`--map` takes no value");
    assert_eq!(
        ExecuteArgs::parse(["--task", "t", "--inputs"]).unwrap_err(),
        "`--inputs` needs a value"
    );
    assert_eq!(
        ExecuteArgs::parse(["--task", "t"]).unwrap_err(),
        "`--inputs` is required"
    );
    assert!(ExecuteArgs::parse(["--resolver", "x"])
        .unwrap_err()
        .starts_with("unknown argument `--resolver`"));
    assert_eq!(
        ExecuteArgs::parse(["--task", "a", "--task", "b"]).unwrap_err(),
        "`--task` given twice"
    );
}
