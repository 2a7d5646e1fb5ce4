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
    /// `FLYTE_INTERNAL_WORKER_NAME` when `FLYTE_INTERNAL_DIST_ERROR_STRATEGY` is set (a
    /// distributed task's worker), as flytekit reports it in a `ContainerError`; empty otherwise.
    pub worker: String,
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
        Ok(AttemptEnv {
            attempt,
            execution: set("FLYTE_INTERNAL_EXECUTION_ID").unwrap_or_else(|| "local".to_owned()),
            project: set("FLYTE_INTERNAL_EXECUTION_PROJECT"),
            domain: set("FLYTE_INTERNAL_EXECUTION_DOMAIN"),
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
}

/// Reads the `core.LiteralMap` at `uri` (`--inputs`, which names the object itself).
pub fn read_inputs(uri: &str) -> Result<LiteralMap, InputsError> {
    let at = Location::parse(uri)?;
    let bytes = at.read()?;
    LiteralMap::decode(&bytes[..]).map_err(|source| InputsError::Decode {
        uri: at.uri().to_owned(),
        source,
    })
}

/// Writes `outputs` as `outputs.pb` under `output_prefix`.
pub fn write_outputs(output_prefix: &str, outputs: &LiteralMap) -> Result<(), StorageError> {
    Location::parse(output_prefix)?
        .join(OUTPUTS_FILE)
        .write(&outputs.encode_to_vec())
}

/// Writes `failure` as `error.pb` under `output_prefix`.
pub fn write_error(output_prefix: &str, failure: &ContainerFailure, worker: &str) -> Result<(), StorageError> {
    Location::parse(output_prefix)?
        .join(ERROR_FILE)
        .write(&failure.to_error_document(worker).encode_to_vec())
}
