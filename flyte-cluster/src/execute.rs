//! The pieces of the task container's entry point (`<binary> execute --task NAME --inputs URI
//! --output-prefix URI --raw-output-data-prefix URI --checkpoint-path URI --prev-checkpoint
//! URI`) that need no package: what the environment says about the attempt, reading
//! `inputs.pb`, writing `outputs.pb` or `error.pb`, and the `core.ErrorDocument` a failure
//! becomes.
//!
//! The contract is flytekit's `pyflyte-execute`: the task runs **once** (propeller owns the
//! retries), and the process exits 0 whether the task succeeded or failed, since a non-zero exit
//! is judged from the pod's status and loses the error's kind. Propeller reads `error.pb` to
//! decide: a `RECOVERABLE` error is retried while retries are left, a `NON_RECOVERABLE` one is
//! not.
//!
//! A large input or output is held about once at each step, not once per form. Measured on a
//! 32 MiB `Vec<String>` in and one as large out (`tests/execute_large.rs`, heap above where
//! [`execute_task`] started):
//!
//! - reading `inputs.pb` ([`read_input_values`]): as it streams in, into the input's
//!   serialized value (in chunks) and nothing else: 1.02 times the value (2.38 through
//!   [`read_inputs`], which holds the object's bytes beside their `LiteralMap`);
//! - the task: the runtime decodes its input taken, freeing each chunk once read
//!   (`SingleAttempt::run_owned`, +0.05 times above the input where decoding in place holds it
//!   twice), and keeps its output unserialized (`SingleAttempt::typed_outputs`);
//! - writing `outputs.pb` ([`write_output_values`]): a list or dict the task returned is
//!   serialized, converted and encoded into the upload an element at a time, beside only the
//!   upload's parts in flight (23 to 27 MiB, whatever the value's size); an output held
//!   serialized (one holding files) is converted whole, its literals freed once encoded
//!   ([`write_outputs_owned`]: 1.02 times; 1.39 encoding the map whole before the upload).
//!
//! The whole (a release build): 1.72 to 1.91 times the value, the value about once and the
//! upload's parts; no block the value's size is ever allocated (2.01 times when the task's
//! input and output were each held beside their serialized forms).
//!
//! A map task's element reads `inputs.pb` the same way, converting the element of each list it
//! runs and reading past the others (each decoded, so that a malformed one fails as before, and
//! dropped).

use std::time::SystemTime;

use flyte_idl::core::{container_error, execution_error, ContainerError, ErrorDocument, LiteralMap};
use flyte_idl::prost::Message;
use flyte_runtime::{AttemptFailure, FailureKind, TaskError};

use crate::storage::{Location, StorageError};

/// The object the inputs are in, under the inputs prefix propeller renders as `{{.input}}`
/// (which names the file itself).
pub const INPUTS_FILE: &str = "inputs.pb";
/// The object the outputs go to, under `--output-prefix`.
pub const OUTPUTS_FILE: &str = "outputs.pb";
/// The object a failure goes to, under `--output-prefix`.
pub const ERROR_FILE: &str = "error.pb";
/// The object a dynamic workflow's task writes in place of `outputs.pb`, under
/// `--output-prefix`: the `core.DynamicJobSpec` of the graph its body built, which propeller
/// runs as the node's sub-workflow (flytekit's `futures.pb`).
pub const FUTURES_FILE: &str = "futures.pb";

/// What the environment tells the task container about its attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptEnv {
    /// 1 for the first attempt (`TaskContext::attempt`'s numbering); Flyte's
    /// `FLYTE_ATTEMPT_NUMBER` counts from 0.
    pub attempt: u32,
    /// `FLYTE_INTERNAL_EXECUTION_ID`, or `local` when unset.
    pub execution: String,
    /// `FLYTE_INTERNAL_EXECUTION_PROJECT`, if set.
    pub project: Option<String>,
    /// `FLYTE_INTERNAL_EXECUTION_DOMAIN`, if set.
    pub domain: Option<String>,
    /// `FLYTE_INTERNAL_EXECUTION_WORKFLOW`, if set: the workflow propeller runs, as
    /// `project:domain:name`.
    pub workflow: Option<String>,
    /// `FLYTE_INTERNAL_WORKER_NAME` when `FLYTE_INTERNAL_DIST_ERROR_STRATEGY` is set (a
    /// distributed task's worker), as flytekit reports it in a `ContainerError`; empty otherwise.
    pub worker: String,
    /// The element a map task's container runs, as flytekit's entry point computes it: the
    /// variable `BATCH_JOB_ARRAY_INDEX_VAR_NAME` names (propeller's array plugin sets
    /// `FLYTE_K8S_ARRAY_INDEX`), plus `BATCH_JOB_ARRAY_INDEX_OFFSET`; 0 when neither is set.
    pub array_index: usize,
}

/// An environment variable that is set to something it cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}={value:?} is not {expected}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// What it holds.
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

impl AttemptEnv {
    /// Reads the variables propeller sets in the task's pod.
    pub fn from_env() -> Result<AttemptEnv, EnvError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads them from `var` (a test's map, or the process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<AttemptEnv, EnvError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let attempt = match set("FLYTE_ATTEMPT_NUMBER") {
            None => 1,
            Some(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .and_then(|n| n.checked_add(1))
                .ok_or(EnvError {
                    name: "FLYTE_ATTEMPT_NUMBER",
                    value,
                    expected: "an attempt number (0 for the first attempt)",
                })?,
        };
        let worker = if set("FLYTE_INTERNAL_DIST_ERROR_STRATEGY").is_some() {
            set("FLYTE_INTERNAL_WORKER_NAME").unwrap_or_default()
        } else {
            String::new()
        };
        let number = |name: &'static str, value: String| {
            value.trim().parse::<usize>().map_err(|_| EnvError {
                name,
                value,
                expected: "an array index (0 or more)",
            })
        };
        let offset = match set("BATCH_JOB_ARRAY_INDEX_OFFSET") {
            Some(value) => number("BATCH_JOB_ARRAY_INDEX_OFFSET", value)?,
            None => 0,
        };
        let index = match set("BATCH_JOB_ARRAY_INDEX_VAR_NAME").and_then(|name| set(&name)) {
            Some(value) => number("FLYTE_K8S_ARRAY_INDEX", value)?,
            None => 0,
        };
        Ok(AttemptEnv {
            array_index: offset + index,
            attempt,
            execution: set("FLYTE_INTERNAL_EXECUTION_ID").unwrap_or_else(|| "local".to_owned()),
            project: set("FLYTE_INTERNAL_EXECUTION_PROJECT"),
            domain: set("FLYTE_INTERNAL_EXECUTION_DOMAIN"),
            workflow: set("FLYTE_INTERNAL_EXECUTION_WORKFLOW"),
            worker,
        })
    }
}

/// Who a failure is blamed on, as `core.ExecutionError.ErrorKind` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The task's code: an error it returned, a panic.
    User,
    /// What runs around it: reading inputs, writing outputs, object storage, the process.
    System,
}

/// A failed attempt as propeller needs to see it: what `error.pb` will hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFailure {
    /// A short code (`USER:Recoverable`, `SYSTEM:DownloadDataError`, ...), flytekit's style.
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// Whether propeller may retry it.
    pub recoverable: bool,
    /// Whose failure it is.
    pub origin: Origin,
}

impl ContainerFailure {
    /// The failure of an attempt as the runtime classified it. A recoverable error and a
    /// timeout may be retried, a non-recoverable error and a panic may not; an attempt
    /// interrupted (its process preempted) or stopped is the system's and may be retried.
    pub fn from_attempt(failure: &AttemptFailure) -> ContainerFailure {
        let (code, recoverable, origin) = match failure.kind {
            FailureKind::Recoverable => ("USER:Recoverable", true, Origin::User),
            FailureKind::NonRecoverable => ("USER:NonRecoverable", false, Origin::User),
            FailureKind::Panic => ("USER:Panic", false, Origin::User),
            FailureKind::TimedOut => ("USER:Timeout", true, Origin::User),
            FailureKind::Interrupted => ("SYSTEM:Interrupted", true, Origin::System),
            FailureKind::Stopped => ("SYSTEM:Stopped", true, Origin::System),
        };
        ContainerFailure {
            code: code.to_owned(),
            message: failure.cause.clone(),
            recoverable,
            origin,
        }
    }

    /// An error a task returned, classified as the runtime would.
    pub fn from_task_error(error: &TaskError) -> ContainerFailure {
        Self::from_attempt(&AttemptFailure {
            attempt: 0,
            kind: if error.is_recoverable() {
                FailureKind::Recoverable
            } else {
                FailureKind::NonRecoverable
            },
            cause: error_chain(error.cause()),
        })
    }

    /// A failure around the task, the system's: retried, as flytekit retries the errors it
    /// does not recognise.
    pub fn system(code: &str, message: impl Into<String>) -> ContainerFailure {
        ContainerFailure {
            code: code.to_owned(),
            message: message.into(),
            recoverable: true,
            origin: Origin::System,
        }
    }

    /// Reading an input failed (flytekit's `SYSTEM:DownloadDataError`).
    pub fn download(error: &StorageError) -> ContainerFailure {
        Self::system("SYSTEM:DownloadDataError", error.to_string())
    }

    /// Writing an output failed (flytekit's `SYSTEM:UploadDataError`).
    pub fn upload(error: &StorageError) -> ContainerFailure {
        Self::system("SYSTEM:UploadDataError", error.to_string())
    }

    /// The `core.ErrorDocument` for `error.pb`, stamped now, naming `worker` (see
    /// [`AttemptEnv::worker`]).
    pub fn to_error_document(&self, worker: &str) -> ErrorDocument {
        let kind = if self.recoverable {
            container_error::Kind::Recoverable
        } else {
            container_error::Kind::NonRecoverable
        };
        let origin = match self.origin {
            Origin::User => execution_error::ErrorKind::User,
            Origin::System => execution_error::ErrorKind::System,
        };
        ErrorDocument {
            error: Some(ContainerError {
                code: self.code.clone(),
                message: self.message.clone(),
                kind: kind as i32,
                origin: origin as i32,
                timestamp: Some(flyte_idl::prost_types::Timestamp::from(SystemTime::now())),
                worker: worker.to_owned(),
            }),
        }
    }
}

/// An error with its causes, `outer: inner: innermost`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

/// Why `inputs.pb` could not be had.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The object could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Its bytes are not a `core.LiteralMap`.
    #[error("{uri} is not a core.LiteralMap: {source}")]
    Decode {
        /// The object.
        uri: String,
        /// prost's error.
        source: flyte_idl::prost::DecodeError,
    },
    /// A literal is not of its input's type, or the map does not hold the interface's inputs
    /// (from [`read_input_values`], which converts them).
    #[error(transparent)]
    Literal(#[from] crate::literal::LiteralError),
}

/// Reads the `core.LiteralMap` at `uri` (`--inputs`, which names the object itself), whole:
/// prost decodes it from all of its bytes, so both are held at once for a while
/// ([`read_input_values`] reads the inputs as they stream in).
pub fn read_inputs(uri: &str) -> Result<LiteralMap, InputsError> {
    let at = Location::parse(uri)?;
    let bytes = at.read()?;
    let map = LiteralMap::decode(&bytes[..]);
    // The bytes go as soon as they are decoded: a large input is not held as both.
    drop(bytes);
    map.map_err(|source| InputsError::Decode {
        uri: at.uri().to_owned(),
        source,
    })
}

/// The inputs at `uri` (`--inputs`) as the runtime's values, one per slot of the interface and
/// in its order, each converted as
/// [`from_literal_map_owned`](crate::literal::from_literal_map_owned) converts it: what
/// [`read_inputs`] and that make of them, without holding `inputs.pb` or its `LiteralMap` whole.
///
/// The object is read as it streams in, and a list's or dict's literals are converted one at a
/// time as they arrive, each input's CBOR written straight into its value's buffer; so a large
/// input is held about once (1.0 times a 32 MiB list of strings, measured with a counting
/// allocator in `tests/execute_large.rs`; 2.4 times through `read_inputs`). A list or dict
/// becomes CBOR of indefinite length, which `Encoded::decode` reads as it reads any other.
///
/// Bytes that do not decode, a literal that does not convert, an input missing or extra, and a
/// layout no writer produces (a value given twice in one literal) make it read the object again
/// the whole way, through [`read_inputs`]: the error is then the one that reports, and the
/// values (for the odd layout) the ones it reads. A dict's entries are in the order
/// `inputs.pb` holds them, where the whole reading sorts them by key.
pub fn read_input_values(
    uri: &str,
    slots: &[(&str, &flyte_runtime::Type)],
) -> Result<Vec<flyte_runtime::Encoded>, InputsError> {
    match streamed_inputs(uri, slots, None)? {
        Some(values) => Ok(values),
        None => Ok(crate::literal::from_literal_map_owned(read_inputs(uri)?, slots)?),
    }
}

/// The inputs at `uri` read as they stream in (element `element` of each list, for a map
/// task's element), or `None` where the walk gave up and the whole reading is to say what they
/// are (or what is wrong with them).
fn streamed_inputs(
    uri: &str,
    slots: &[(&str, &flyte_runtime::Type)],
    element: Option<usize>,
) -> Result<Option<Vec<flyte_runtime::Encoded>>, InputsError> {
    let at = Location::parse(uri)?;
    let pieces = at.pieces()?;
    let size = pieces.size();
    match crate::wire::read_inputs(pieces, size, slots, element) {
        Ok(values) => Ok(Some(values)),
        Err(crate::wire::Stop::Storage(e)) => Err(e.into()),
        Err(crate::wire::Stop::Fallback(why)) => {
            tracing::debug!(uri = %at.uri(), ?why, "inputs read again whole");
            Ok(None)
        }
    }
}

/// Writes `outputs` as `outputs.pb` under `output_prefix`.
pub fn write_outputs(output_prefix: &str, outputs: &LiteralMap) -> Result<(), StorageError> {
    Location::parse(output_prefix)?
        .join(OUTPUTS_FILE)
        .write(&outputs.encode_to_vec())
}

/// [`write_outputs`], taking the map: it is encoded into the upload a piece at a time (about
/// 1 MiB), a large list's or dict's literals each freed once written, so that a large output is
/// never held as both the map and its bytes. The bytes are prost's, as `write_outputs` writes
/// them; an upload larger than [`PART_SIZE`](crate::storage::PART_SIZE) holds up to a few parts
/// of that size besides.
pub fn write_outputs_owned(output_prefix: &str, outputs: LiteralMap) -> Result<(), StorageError> {
    let at = Location::parse(output_prefix)?.join(OUTPUTS_FILE);
    let mut pieces = crate::wire::OutputPieces::new(outputs);
    at.write_from(|| pieces.next_piece())?.map_err(|e| StorageError::Store {
        op: "write",
        uri: at.uri().to_owned(),
        source: Box::new(e),
    })
}

/// Converts the outputs `values` (each a name, a value and its type) and writes them as
/// `outputs.pb` under `output_prefix`, as `execute` does: a list or dict the task returned
/// unserialized ([`SingleAttempt::typed_outputs`](flyte_runtime::SingleAttempt::typed_outputs))
/// and holding no files is serialized, converted and encoded into the upload an element at a
/// time, never whole; every other output is converted whole and encoded a literal of its list
/// or dict at a time (as [`write_outputs_owned`] does). The bytes are prost's for the map
/// [`to_literal_map_owned`](crate::literal::to_literal_map_owned) makes, and a value that does
/// not convert fails with its error (`Ok(Err(..))`), before anything is uploaded.
pub fn write_output_values(
    output_prefix: &str,
    values: Vec<(&str, flyte_runtime::Encoded, &flyte_runtime::Type)>,
) -> Result<Result<(), crate::literal::LiteralError>, StorageError> {
    use crate::outputs::WriteError;
    let outputs = match crate::outputs::convert(values) {
        Ok(outputs) => outputs,
        Err(e) => return Ok(Err(e)),
    };
    let at = Location::parse(output_prefix)?.join(OUTPUTS_FILE);
    let mut upload = at.upload();
    let written = crate::outputs::write(outputs, at.uri(), &mut |piece| upload.put(piece));
    match written {
        Ok(()) => upload.finish().map(Ok),
        Err(e) => {
            upload.abort();
            match e {
                WriteError::Storage(e) => Err(e),
                WriteError::Literal(e) => Ok(Err(e)),
            }
        }
    }
}

/// Writes `spec` as `futures.pb` under `output_prefix`.
pub fn write_futures(output_prefix: &str, spec: &flyte_idl::core::DynamicJobSpec) -> Result<(), StorageError> {
    Location::parse(output_prefix)?
        .join(FUTURES_FILE)
        .write(&spec.encode_to_vec())
}

/// Writes `failure` as `error.pb` under `output_prefix`.
pub fn write_error(output_prefix: &str, failure: &ContainerFailure, worker: &str) -> Result<(), StorageError> {
    Location::parse(output_prefix)?
        .join(ERROR_FILE)
        .write(&failure.to_error_document(worker).encode_to_vec())
}

/// The command line propeller gives a Rust task's container, after `execute`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecuteArgs {
    /// `--task`: the task's Flyte name (`module.function`).
    pub task: String,
    /// `--inputs`: the URI of `inputs.pb`.
    pub inputs: String,
    /// `--output-prefix`: where `outputs.pb` or `error.pb` goes.
    pub output_prefix: String,
    /// `--raw-output-data-prefix`: where large values (blobs) go.
    pub raw_output_data_prefix: String,
    /// `--checkpoint-path`: where this attempt commits its checkpoints.
    pub checkpoint_path: String,
    /// `--prev-checkpoint`, `None` when propeller passed `""` or left it unrendered.
    pub prev_checkpoint: Option<String>,
    /// `--map`: the task is a map task's element; its inputs are the array node's lists, and
    /// the element's index is in the environment ([`AttemptEnv::array_index`]).
    pub map: bool,
}

impl ExecuteArgs {
    /// Reads `--flag value` pairs (in any order; `--flag=value` too) and the flag `--map`. Every
    /// flag but `--raw-output-data-prefix`, `--prev-checkpoint` and `--map` is required; an
    /// unknown one is an error.
    pub fn parse<I, S>(args: I) -> Result<ExecuteArgs, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut found: std::collections::HashMap<&'static str, String> = std::collections::HashMap::new();
        let mut args = args.into_iter().map(Into::into);
        let mut map = false;
        const FLAGS: [&str; 6] = [
            "--task",
            "--inputs",
            "--output-prefix",
            "--raw-output-data-prefix",
            "--checkpoint-path",
            "--prev-checkpoint",
        ];
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if flag == "--map" {
                if inline.is_some() {
                    return Err("`--map` takes no value".to_owned());
                }
                map = true;
                continue;
            }
            let Some(known) = FLAGS.iter().find(|f| **f == flag) else {
                return Err(format!(
                    "unknown argument `{flag}` (expected one of {}, --map)",
                    FLAGS.join(", ")
                ));
            };
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            if found.insert(known, value).is_some() {
                return Err(format!("`{flag}` given twice"));
            }
        }
        let mut take = |flag: &str| found.remove(flag);
        let required = |value: Option<String>, flag: &str| value.ok_or_else(|| format!("`{flag}` is required"));
        Ok(ExecuteArgs {
            task: required(take("--task"), "--task")?,
            inputs: required(take("--inputs"), "--inputs")?,
            output_prefix: required(take("--output-prefix"), "--output-prefix")?,
            checkpoint_path: required(take("--checkpoint-path"), "--checkpoint-path")?,
            raw_output_data_prefix: take("--raw-output-data-prefix").unwrap_or_default(),
            prev_checkpoint: take("--prev-checkpoint")
                .as_deref()
                .and_then(crate::checkpoint::prev_checkpoint)
                .map(str::to_owned),
            map,
        })
    }
}

impl AttemptEnv {
    /// The attempt of node `node` this environment describes, ready to run.
    pub fn single_attempt(&self, node: &str) -> flyte_runtime::SingleAttempt {
        flyte_runtime::SingleAttempt::new(&self.execution, node, self.attempt)
    }
}

/// What [`execute_task`] left under the output prefix.
#[derive(Clone, Debug, PartialEq)]
pub enum Executed {
    /// `outputs.pb`.
    Outputs,
    /// `futures.pb`: a dynamic workflow's graph, for propeller to run.
    Futures,
    /// `error.pb`, holding this.
    Failed(ContainerFailure),
}

/// The container's work for `task`, typed: reads `inputs.pb` as the task's inputs, runs one
/// attempt (`attempt`, from [`AttemptEnv::single_attempt`], with its preemption settings) with
/// its checkpoint under `--checkpoint-path` starting from `--prev-checkpoint`, and writes
/// `outputs.pb` or `error.pb`. Every failure of the task or around it ends in `error.pb`:
/// `Err` only when not even that could be written. The process then exits 0 either way.
pub fn execute_task<T: flyte_runtime::Task>(
    task: &T,
    args: &ExecuteArgs,
    attempt: flyte_runtime::SingleAttempt,
    worker: &str,
) -> Result<Executed, StorageError> {
    run_once(task.interface(), None, None, args, worker, |inputs, checkpoint| {
        // Its outputs unserialized: a large list or dict is written an element at a time.
        attempt
            .typed_outputs()
            .run_owned(task, inputs, checkpoint)
            .map(Produced::Outputs)
            .map_err(|f| ContainerFailure::from_attempt(&f))
    })
}

/// `execute --task NAME`: the task of that Flyte name among `tasks` (a package's,
/// [`Package::tasks`](crate::package::Package::tasks), so that the names are the ones the
/// package registered), run as [`execute_task`] runs one. For a map task's name (`--map`), the
/// inputs are the array node's lists and the container runs element
/// [`env.array_index`](AttemptEnv::array_index) of them, writing that element's outputs, as
/// flytekit's map tasks do; propeller gathers the elements' outputs into lists.
///
/// A name that is not among `tasks` is looked up among every task and dynamic workflow of the
/// program ([`registered_task`](crate::package::registered_task)): the tasks a dynamic
/// workflow's body calls are in no workflow's graph. A dynamic workflow's task runs its body on
/// the inputs, and writes the graph it built as `futures.pb`
/// ([`dynamic_job_spec`](crate::package::dynamic_job_spec)) in place of `outputs.pb`.
///
/// A workflow's `on_failure` task ([`PackagedTask::is_failure_hook`](crate::package::PackagedTask::is_failure_hook))
/// gets its last input, the [`WorkflowFailure`](flyte_runtime::WorkflowFailure), from the input
/// propeller fills with the workflow's error ([`FAILURE_INPUT`](crate::package::FAILURE_INPUT),
/// a `core.Error` in a union): see [`workflow_failure`].
///
/// A name found nowhere and a `--map` that does not match the name end in a `NON_RECOVERABLE`
/// `error.pb`, as does an array index outside the lists and an `on_failure` task given no error.
pub fn execute_packaged(
    tasks: &std::collections::BTreeMap<String, crate::package::PackagedTask>,
    args: &ExecuteArgs,
    attempt: flyte_runtime::SingleAttempt,
    env: &AttemptEnv,
) -> Result<Executed, StorageError> {
    let refused = |code: &str, message: String| -> Result<Executed, StorageError> {
        let failure = ContainerFailure {
            code: code.to_owned(),
            message,
            recoverable: false,
            origin: Origin::System,
        };
        write_error(&args.output_prefix, &failure, &env.worker)?;
        Ok(Executed::Failed(failure))
    };
    let registered;
    let task = match tasks.get(&args.task) {
        Some(task) => Some(task),
        None => {
            registered = crate::package::registered_task(&args.task);
            registered.as_ref()
        }
    };
    let Some(task) = task else {
        let known: Vec<&str> = tasks.keys().map(String::as_str).collect();
        return refused(
            "SYSTEM:UnknownTask",
            format!(
                "no task `{}` in this program (is the image the one the workflow was registered with?); its tasks are {}",
                args.task,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        );
    };
    if task.is_map() != args.map {
        let why = if args.map {
            "is not a map task, but `--map` was given"
        } else {
            "is a map task, but `--map` was not given"
        };
        return refused("SYSTEM:UnknownTask", format!("task `{}` {why}", args.task));
    }
    let node = task.node();
    if node.is_dynamic() {
        let Some(interface) = node.interface() else {
            return refused("SYSTEM:Unsupported", format!("`{}` has no interface", args.task));
        };
        let options = crate::package::Options::new(image_of(args));
        return run_once(interface, None, None, args, &env.worker, |inputs, checkpoint| {
            let graph = attempt
                .build_dynamic(node, &inputs, checkpoint)
                .map_err(|f| ContainerFailure::from_attempt(&f))?;
            crate::package::dynamic_job_spec(node, graph, &options)
                .map(|mut spec| {
                    let var = |name: &str| std::env::var(name).unwrap_or_default();
                    crate::package::stamp_identifiers(
                        &mut spec,
                        &var("FLYTE_INTERNAL_EXECUTION_PROJECT"),
                        &var("FLYTE_INTERNAL_EXECUTION_DOMAIN"),
                        &var("FLYTE_INTERNAL_TASK_VERSION"),
                    );
                    Produced::Futures(spec)
                })
                .map_err(|e| ContainerFailure {
                    code: "USER:DynamicWorkflowError".to_owned(),
                    message: format!("the graph `{}` built cannot run on Flyte: {e}", args.task),
                    recoverable: false,
                    origin: Origin::User,
                })
        });
    }
    let Some(interface) = node.interface() else {
        return refused(
            "SYSTEM:Unsupported",
            format!("`{}` is a map over a workflow, which runs no task container", args.task),
        );
    };
    let element = args.map.then_some(env.array_index);
    let hook = task.is_failure_hook().then_some(env);
    run_once(interface, element, hook, args, &env.worker, |inputs, checkpoint| {
        attempt
            .typed_outputs()
            .run_node_owned(node, inputs, checkpoint)
            .map(Produced::Outputs)
            .map_err(|f| ContainerFailure::from_attempt(&f))
    })
}

/// What an attempt gave: a task's outputs, or a dynamic workflow's graph.
enum Produced {
    Outputs(Vec<flyte_runtime::Encoded>),
    Futures(flyte_idl::core::DynamicJobSpec),
}

/// The image the graph's tasks run in: the package's, which it sets in a dynamic task's
/// container ([`IMAGE_ENV`](crate::package::IMAGE_ENV)); empty without it.
fn image_of(_args: &ExecuteArgs) -> String {
    std::env::var(crate::package::IMAGE_ENV).unwrap_or_default()
}

/// Element `index` of each list in `map`: the inputs of one element of a map task.
fn element_of(map: LiteralMap, index: usize) -> Result<LiteralMap, ContainerFailure> {
    use flyte_idl::core::literal::Value;
    let mut literals = std::collections::BTreeMap::new();
    for (name, literal) in map.literals {
        let Some(Value::Collection(list)) = literal.value else {
            return Err(ContainerFailure {
                code: "USER:TypeError".to_owned(),
                message: format!("the input `{name}` of a map task's element is not a list"),
                recoverable: false,
                origin: Origin::User,
            });
        };
        let size = list.literals.len();
        let Some(item) = list.literals.into_iter().nth(index) else {
            return Err(ContainerFailure {
                code: "SYSTEM:ArrayIndexOutOfRange".to_owned(),
                message: format!("the array index is {index}, but the input `{name}` has {size} elements"),
                recoverable: false,
                origin: Origin::System,
            });
        };
        literals.insert(name, item);
    }
    Ok(LiteralMap { literals })
}

/// A file that could not be moved: the store's failure is the system's (retried), and so is
/// writing a download; an output file the task named but did not write, or a value that is
/// not a file, is the task's.
fn file_failure(code: &str, error: crate::files::FileError, uploading: bool) -> ContainerFailure {
    use crate::files::FileError;
    match error {
        FileError::Storage { .. } => ContainerFailure::system(code, error.to_string()),
        FileError::Local { .. } if !uploading => ContainerFailure::system(code, error.to_string()),
        error => ContainerFailure {
            code: "USER:FileError".to_owned(),
            message: error.to_string(),
            recoverable: false,
            origin: Origin::User,
        },
    }
}

/// The work of one attempt, whatever runs it: `inputs.pb` read as `interface`'s inputs (element
/// `element` of each list, for a map task's element), `run` given them and the checkpoint, and
/// its outputs or failure written.
fn run_once(
    interface: Result<flyte_runtime::Interface, flyte_runtime::InterfaceError>,
    element: Option<usize>,
    failure_hook: Option<&AttemptEnv>,
    args: &ExecuteArgs,
    worker: &str,
    run: impl FnOnce(
        Vec<flyte_runtime::Encoded>,
        Box<dyn flyte_runtime::CheckpointBackend>,
    ) -> Result<Produced, ContainerFailure>,
) -> Result<Executed, StorageError> {
    let failed = |failure: ContainerFailure| -> Result<Executed, StorageError> {
        write_error(&args.output_prefix, &failure, worker)?;
        Ok(Executed::Failed(failure))
    };
    let type_error = |message: String| ContainerFailure {
        code: "USER:TypeError".to_owned(),
        message,
        recoverable: false,
        origin: Origin::User,
    };
    let interface = match interface {
        Ok(interface) => interface,
        Err(e) => return failed(type_error(e.to_string())),
    };
    let slots: Vec<(&str, &flyte_runtime::Type)> = interface.inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let read = match (element, failure_hook) {
        // Read as it streams in, each input's literals converted as they arrive.
        (None, None) => read_input_values(&args.inputs, &slots),
        // A map task's element: the element of each list, the others read past as they stream
        // in; or, where that gives up, the lists read whole and the element taken out of them.
        (Some(index), _) => match streamed_inputs(&args.inputs, &slots, Some(index)) {
            Ok(Some(values)) => Ok(values),
            Ok(None) => match read_inputs(&args.inputs) {
                Ok(map) => match element_of(map, index) {
                    Ok(map) => crate::literal::from_literal_map_owned(map, &slots).map_err(InputsError::from),
                    Err(failure) => return failed(failure),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        // An `on_failure` task's last input is not in the map by its own name: it is made of
        // the error propeller gave. Its inputs are read whole (a workflow's inputs and an error).
        (None, Some(env)) => match read_inputs(&args.inputs) {
            Ok(mut map) => {
                let given = map.literals.remove(crate::package::FAILURE_INPUT);
                let failure = workflow_failure(given.as_ref(), env).and_then(|f| {
                    flyte_runtime::Encoded::encode(&f).map_err(|e| WorkflowFailureError::Encode(e.to_string()))
                });
                match failure {
                    Ok(failure) => crate::literal::from_literal_map_owned(map, &slots[..slots.len().saturating_sub(1)])
                        .map(|mut inputs| {
                            inputs.push(failure);
                            inputs
                        })
                        .map_err(InputsError::from),
                    Err(e) => return failed(type_error(format!("the inputs of `{}`: {e}", args.task))),
                }
            }
            Err(e) => Err(e),
        },
    };
    let inputs = match read {
        Ok(inputs) => inputs,
        Err(InputsError::Storage(e)) => return failed(ContainerFailure::download(&e)),
        Err(e @ InputsError::Decode { .. }) => return failed(type_error(e.to_string())),
        Err(InputsError::Literal(e)) => return failed(type_error(format!("the inputs of `{}`: {e}", args.task))),
    };
    // The input files, downloaded before the task starts into a directory removed when the
    // attempt ends; made only for a task that takes files.
    let downloads = if slots.iter().any(|(_, ty)| crate::files::holds_files(ty)) {
        match tempfile::Builder::new().prefix("flytekit-inputs-").tempdir() {
            Ok(dir) => Some(dir),
            Err(e) => {
                return failed(ContainerFailure::system(
                    "SYSTEM:DownloadDataError",
                    format!("no directory for the input files: {e}"),
                ))
            }
        }
    } else {
        None
    };
    let inputs = match &downloads {
        None => inputs,
        Some(dir) => match crate::files::download_inputs(inputs, &slots, dir.path()) {
            Ok(inputs) => inputs,
            Err(e) => return failed(file_failure("SYSTEM:DownloadDataError", e, false)),
        },
    };
    let checkpoint =
        match crate::checkpoint::ObjectStoreCheckpoint::open(&args.checkpoint_path, args.prev_checkpoint.as_deref()) {
            Ok(checkpoint) => checkpoint,
            Err(e) => return failed(ContainerFailure::system("SYSTEM:CheckpointUnavailable", e.to_string())),
        };
    // The task takes the inputs, and frees them once it has decoded them.
    let produced = run(inputs, Box::new(checkpoint));
    let outputs = match produced {
        Ok(Produced::Outputs(outputs)) => outputs,
        Ok(Produced::Futures(spec)) => {
            return match write_futures(&args.output_prefix, &spec) {
                Ok(()) => Ok(Executed::Futures),
                Err(e) => failed(ContainerFailure::upload(&e)),
            }
        }
        Err(failure) => return failed(failure),
    };
    let out_slots: Vec<(&str, &flyte_runtime::Type)> = interface.outputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let outputs = match crate::files::upload_outputs(outputs, &out_slots, &args.raw_output_data_prefix) {
        Ok(outputs) => outputs,
        Err(e) => return failed(file_failure("SYSTEM:UploadDataError", e, true)),
    };
    drop(downloads);
    // Each output is converted and freed in turn (a list or dict the task returned only
    // walked, to be converted again element by element as it is written), then written.
    let values: Vec<(&str, flyte_runtime::Encoded, &flyte_runtime::Type)> = interface
        .outputs
        .iter()
        .zip(outputs)
        .map(|((name, ty), value)| (name.as_str(), value, ty))
        .collect();
    match write_output_values(&args.output_prefix, values) {
        Ok(Ok(())) => Ok(Executed::Outputs),
        Ok(Err(e)) => failed(type_error(format!("the outputs of `{}`: {e}", args.task))),
        Err(e) => failed(ContainerFailure::upload(&e)),
    }
}

/// Why an `on_failure` task's input [`FAILURE_INPUT`](crate::package::FAILURE_INPUT) is not a
/// failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowFailureError {
    /// The input is missing, or none: the task did not run as a failure node.
    #[error("`err` holds no error: an on_failure task runs as a workflow's failure node, which propeller gives the workflow's error")]
    NoError,
    /// The input holds something else than a `core.Error`.
    #[error("`err` is not an error (a `core.Error`, alone or in a union): {0}")]
    NotAnError(String),
    /// The failure could not be encoded as the task's input.
    #[error("the failure cannot be encoded: {0}")]
    Encode(String),
}

/// The [`WorkflowFailure`](flyte_runtime::WorkflowFailure) an `on_failure` task gets on the
/// cluster, made of `given`, the input propeller filled (flytekit's `Optional[FlyteError]`: a
/// union holding a `core.Error`, or the bare `core.Error`), and of the attempt's environment:
///
/// * `message`: the error's message, which propeller takes from the workflow's error (the
///   failed task's `error.pb` message, or `[n/m] currentAttempt done. Last Error: ...` once its
///   retries were spent);
/// * `node`: the error's `failed_node_id` as propeller gives it, which flytepropeller 1.16 sets
///   to the failure node's own id (`fn0`), not the failed node's;
/// * `task`: none, which propeller does not say;
/// * `execution` and `workflow`: `FLYTE_INTERNAL_EXECUTION_ID` and the name part of
///   `FLYTE_INTERNAL_EXECUTION_WORKFLOW` (`project:domain:name`; empty when unset).
///
/// A missing or none input is [`WorkflowFailureError::NoError`], another literal
/// [`WorkflowFailureError::NotAnError`].
pub fn workflow_failure(
    given: Option<&flyte_idl::core::Literal>,
    env: &AttemptEnv,
) -> Result<flyte_runtime::WorkflowFailure, WorkflowFailureError> {
    use flyte_idl::core::{literal, scalar};
    let Some(given) = given else {
        return Err(WorkflowFailureError::NoError);
    };
    let mut value = given;
    // A union's value, at any depth (an optional's union holds the error, or none).
    let error = loop {
        let Some(literal::Value::Scalar(s)) = &value.value else {
            return Err(WorkflowFailureError::NotAnError(format!("{:?}", value.value)));
        };
        match &s.value {
            Some(scalar::Value::Error(e)) => break e,
            Some(scalar::Value::NoneType(_)) => return Err(WorkflowFailureError::NoError),
            Some(scalar::Value::Union(u)) => match &u.value {
                Some(inner) => value = inner,
                None => return Err(WorkflowFailureError::NoError),
            },
            other => return Err(WorkflowFailureError::NotAnError(format!("{other:?}"))),
        }
    };
    let workflow = env
        .workflow
        .as_deref()
        .map(|id| id.rsplit(':').next().unwrap_or(id))
        .unwrap_or_default();
    Ok(flyte_runtime::WorkflowFailure {
        execution: env.execution.clone(),
        workflow: workflow.to_owned(),
        node: Some(error.failed_node_id.clone()).filter(|id| !id.is_empty()),
        task: None,
        message: error.message.clone(),
    })
}
