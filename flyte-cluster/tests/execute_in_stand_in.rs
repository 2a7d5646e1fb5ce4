//! Rust tasks run as task containers by the propeller stand-in, against S3 on loopback, inside
//! workflows that `pyflyte package` packaged: the chosen tasks' container args are replaced by
//! ours (`execute --task NAME --inputs {{.input}} ...`), and the container runs
//! `flyte_cluster::execute::execute_task` for the Rust twin of the task (this test binary,
//! started again as `container_entry`, is the container, so that Rust and Python tasks share
//! one pyflyte package; `tests/execute.rs` runs a workflow binary's own `execute` on its own
//! package). Python tasks' outputs feed Rust tasks and the other way round, each side reading
//! the other's `outputs.pb` through its own type engine.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

#[path = "../../tests/support/propeller.rs"]
mod propeller;

/// The Rust twins, for those run here as they are (`files::number_lines`).
#[path = "../../examples/twins.rs"]
mod twins;

use std::path::PathBuf;
use std::sync::OnceLock;

use flyte_cluster::execute::{execute_task, AttemptEnv, ExecuteArgs};
use flyte_idl::core::{task_template, LiteralMap};
use flyte_idl::prost::Message;
use flytekit::{task, Checkpoint, TaskError};
use flytekit_reference::Reference;
use propeller::{Outcome, Package, Propeller};

/// Killed by SIGKILL (a preempted pod) on its first attempt, right after committing step 4;
/// returns the step it started from.
#[task(retries = 3)]
fn killed_at_four(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    for i in start..n_iterations {
        cp.write(format!("{}", i + 1).as_bytes())?;
        if i + 1 == 4 && std::env::var("FLYTE_ATTEMPT_NUMBER").as_deref() == Ok("0") {
            let me = std::process::id().to_string();
            let _ = std::process::Command::new("kill").args(["-9", &me]).status();
            std::thread::sleep(std::time::Duration::from_secs(10));
        }
    }
    Ok(start)
}

/// Hands its step to the asynchronous writer every 2 ms and notes it in the file
/// `FLYTEKIT_TEST_HANDED`; at a preemption notice it returns, unless `FLYTEKIT_TEST_VARIANT` is
/// `ignore`. Returns the step it started from.
#[task(retries = 3)]
fn stepping(ctx: &flytekit::TaskContext, n_iterations: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    let writer = cp.async_writer();
    let start: u64 = cp.load_state()?.unwrap_or(0);
    let handed = std::env::var("FLYTEKIT_TEST_HANDED").unwrap();
    let ignore = std::env::var(VARIANT).as_deref() == Ok("ignore");
    for step in start..n_iterations {
        writer.save_state(&(step + 1))?;
        std::fs::write(&handed, (step + 1).to_string())?;
        if ctx.preempted() && !ignore {
            return Err(TaskError::recoverable(format!("preempted after step {}", step + 1)));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(start)
}

#[task]
fn double(x: u64) -> u64 {
    2 * x
}

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn stats(x: u64) -> (u64, String) {
    (x * 2, format!("#{x}"))
}

/// The twins' `mapping.total`: a list of optionals, as a map task's outputs are.
#[task]
fn total(xs: Vec<Option<u64>>) -> u64 {
    xs.into_iter().flatten().sum()
}

/// The twins' `structs` module, in Rust: a dataclass and an enum.
mod structs {
    use std::collections::HashMap;

    use flytekit::task;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    pub enum Color {
        Red,
        Green,
        Blue,
    }

    #[derive(Serialize, Deserialize, Debug)]
    pub struct Shard {
        pub name: String,
        pub size: u64,
        pub weights: Vec<f64>,
        pub tags: HashMap<String, u64>,
        pub owner: Option<String>,
    }

    /// As the twin, and it checks that every field crossed: a wrong one fails the task.
    #[task]
    pub fn weigh(shard: Shard, color: Color) -> Result<f64, flytekit::TaskError> {
        let expected = ("s1", Some(2), Some("ada"), matches!(color, Color::Green));
        let found = (
            shard.name.as_str(),
            shard.tags.get("a").copied(),
            shard.owner.as_deref(),
            matches!(color, Color::Green),
        );
        if found != expected {
            return Err(flytekit::TaskError::non_recoverable(format!("{shard:?} {color:?}")));
        }
        Ok(shard.weights.iter().sum::<f64>() * shard.size as f64)
    }
}

const CONTAINER: &str = "FLYTEKIT_TEST_CONTAINER";
const VARIANT: &str = "FLYTEKIT_TEST_VARIANT";

/// The container: does nothing unless started by the stand-in with its arguments in
/// `FLYTEKIT_TEST_CONTAINER`.
#[test]
fn container_entry() {
    let Ok(json) = std::env::var(CONTAINER) else { return };
    let args: Vec<String> = serde_json::from_str(&json).unwrap();
    assert_eq!(args[0], "execute", "{args:?}");
    let args = ExecuteArgs::parse(args[1..].iter().cloned()).unwrap();
    let env = AttemptEnv::from_env().unwrap();
    let variant = std::env::var(VARIANT).unwrap_or_default();
    let attempt = env
        .single_attempt(&args.task)
        .handle_signals()
        .grace_period(std::time::Duration::from_millis(300));
    let done = match (args.task.as_str(), variant.as_str()) {
        ("twins.checkpoint.use_checkpoint", "notice" | "ignore") => {
            execute_task(&stepping, &args, attempt, &env.worker)
        }
        ("twins.checkpoint.use_checkpoint", "killed") => execute_task(&killed_at_four, &args, attempt, &env.worker),
        ("twins.checkpoint.use_checkpoint", _) => {
            execute_task(&twins::checkpoint::use_checkpoint, &args, attempt, &env.worker)
        }
        ("twins.diamond.double", _) => execute_task(&double, &args, attempt, &env.worker),
        ("twins.diamond.square", _) => execute_task(&square, &args, attempt, &env.worker),
        ("twins.subworkflow.stats", _) => execute_task(&stats, &args, attempt, &env.worker),
        ("twins.mapping.total", _) => execute_task(&total, &args, attempt, &env.worker),
        ("twins.structs.weigh", _) => execute_task(&structs::weigh, &args, attempt, &env.worker),
        ("twins.files.number_lines", _) => execute_task(&twins::files::number_lines, &args, attempt, &env.worker),
        ("twins.files.merge", _) => execute_task(&twins::files::merge, &args, attempt, &env.worker),
        ("twins.files.write_lines", _) => execute_task(&twins::files::write_lines, &args, attempt, &env.worker),
        ("twins.files.split", _) => execute_task(&twins::files::split, &args, attempt, &env.worker),
        ("twins.files.summarize", _) => execute_task(&twins::files::summarize, &args, attempt, &env.worker),
        (other, _) => panic!("no Rust twin for {other}"),
    };
    eprintln!("{}: {:?}", args.task, done.unwrap());
}

/// pyflyte's package of the twins, made once per process.
fn pyflyte_package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        Package::made_by(|tgz| {
            Reference::get().ok(["package".as_ref(), tgz.as_os_str()]);
        })
    })
}

/// pyflyte's package with `rust`'s tasks run by our `execute`.
fn package_with_rust(rust: &[&str]) -> Package {
    let mut pkg = pyflyte_package().clone();
    for name in rust {
        let task = pkg.tasks.get_mut(*name).unwrap_or_else(|| panic!("no task {name}"));
        let Some(task_template::Target::Container(container)) = &mut task.target else {
            unreachable!()
        };
        container.args = [
            "execute",
            "--task",
            name,
            "--inputs",
            "{{.input}}",
            "--output-prefix",
            "{{.outputPrefix}}",
            "--raw-output-data-prefix",
            "{{.rawOutputDataPrefix}}",
            "--checkpoint-path",
            "{{.checkpointOutputPrefix}}",
            "--prev-checkpoint",
            "{{.prevCheckpointPrefix}}",
        ]
        .map(str::to_owned)
        .to_vec();
    }
    pkg
}

/// The stand-in over `pkg`: `pyflyte-execute` from the reference environment, `execute` as
/// this binary's `container_entry`, with `variant` told to the Rust side.
fn stand_in<'a>(pkg: &'a Package, variant: &'static str) -> Propeller<'a> {
    let server = s3::S3::shared();
    let root = server.new_bucket("mixed");
    let twins = Reference::dir();
    let mut env: Vec<(String, String)> = server.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.push(("PYTHONPATH".to_owned(), twins.display().to_string()));
    env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let mut p = Propeller::new(pkg, root, env);
    let bin = Reference::get().python().parent().unwrap().to_path_buf();
    p.program = Box::new(move |word| bin.join(word));
    p.cwd = twins;
    let me = std::env::current_exe().unwrap();
    p.before = Box::new(move |_, cmd| {
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        if cmd.get_program() != bin_of(&cmd).join("execute") {
            return cmd;
        }
        let mut ours = std::process::Command::new(&me);
        ours.args(["container_entry", "--exact", "--nocapture", "--test-threads", "1", "-q"])
            .current_dir(cmd.get_current_dir().unwrap())
            .env(
                CONTAINER,
                serde_json::to_string(&[vec!["execute".to_owned()], args].concat()).unwrap(),
            )
            .env(VARIANT, variant);
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                ours.env(k, v);
            }
        }
        ours
    });
    p
}

/// The directory of a command's program.
fn bin_of(cmd: &std::process::Command) -> PathBuf {
    PathBuf::from(cmd.get_program()).parent().unwrap().to_path_buf()
}

fn summary(p: &Propeller<'_>) -> Vec<String> {
    p.attempts
        .iter()
        .map(|a| match &a.outcome {
            Outcome::Succeeded => format!("{} {}: ok", a.node, a.number),
            Outcome::Failed { code, recoverable, .. } => {
                format!("{} {}: {code} recoverable={recoverable}", a.node, a.number)
            }
            Outcome::Died(status) => format!("{} {}: died ({status})", a.node, a.number),
        })
        .collect()
}

/// The seed on the stand-in: fails twice, recoverably, and each retry resumes from the S3
/// checkpoint the attempt before it committed.
#[test]
fn the_seed_resumes_from_its_s3_checkpoints() {
    let pkg = package_with_rust(&["twins.checkpoint.use_checkpoint"]);
    let mut p = stand_in(&pkg, "");
    let out = p
        .run(
            "twins.checkpoint.example",
            encoded(r#"{"n_iterations": "int"}"#, r#"{"n_iterations": 7}"#),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 7}));
    assert_eq!(
        summary(&p),
        [
            "n0 0: USER:Recoverable recoverable=true",
            "n0 1: USER:Recoverable recoverable=true",
            "n0 2: ok"
        ]
    );
    let Outcome::Failed { message, .. } = &p.attempts[1].outcome else {
        unreachable!()
    };
    assert_eq!(message, "failed at iteration 6");
    assert_eq!(p.attempts[0].prev_checkpoint, "\"\"");
    assert_eq!(p.attempts[2].prev_checkpoint, p.attempts[1].checkpoint);
}

/// A process SIGKILLed in the middle of its loop (a preempted pod) is retried as a system
/// failure, and the next attempt resumes from the last checkpoint it uploaded.
#[test]
fn a_killed_attempt_resumes_from_the_last_checkpoint_it_uploaded() {
    let pkg = package_with_rust(&["twins.checkpoint.use_checkpoint"]);
    let mut p = stand_in(&pkg, "killed");
    let out = p
        .run(
            "twins.checkpoint.example",
            encoded(r#"{"n_iterations": "int"}"#, r#"{"n_iterations": 7}"#),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    // It returns the step it started from.
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 4}));
    assert_eq!(summary(&p), ["n0 0: died (signal: 9 (SIGKILL))", "n0 1: ok"]);
}

/// Python's `start` feeds Rust's `double` and `square`, which feed Python's `join`: the result
/// is flytekit's local execution's.
#[test]
fn python_and_rust_tasks_feed_each_other_in_diamond() {
    let pkg = package_with_rust(&["twins.diamond.double", "twins.diamond.square"]);
    let mut p = stand_in(&pkg, "");
    let out = p
        .run("twins.diamond.diamond", encoded(r#"{"n": "int"}"#, r#"{"n": 3}"#))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 24}));
    assert_eq!(
        decoded(r#"{"o0": "int"}"#, &out),
        local("twins.diamond", "diamond", r#"{"n": 3}"#)
    );
    assert!(
        p.attempts.iter().all(|a| a.outcome == Outcome::Succeeded),
        "{:#?}",
        p.attempts
    );
}

/// Rust's `stats` (a tuple of an integer and a string) inside a Python sub-workflow, its
/// outputs built into a list for Python's `total`.
#[test]
fn a_rust_task_with_tuple_outputs_in_a_python_sub_workflow() {
    let pkg = package_with_rust(&["twins.subworkflow.stats"]);
    let mut p = stand_in(&pkg, "");
    let out = p
        .run("twins.subworkflow.outer", encoded(r#"{"a": "int"}"#, r#"{"a": 4}"#))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(
        decoded(r#"{"o0": "int", "o1": "str"}"#, &out),
        local("twins.subworkflow", "outer", r#"{"a": 4}"#)
    );
    assert_eq!(decoded(r#"{"o0": "int", "o1": "str"}"#, &out)["o1"], "#4");
}

/// A Python dataclass (str, int, list of floats, dict, optional) and an enum, as the workflow's
/// inputs, read by a Rust task through its own type engine.
#[test]
fn a_rust_task_reads_a_python_dataclass_and_enum() {
    let pkg = package_with_rust(&["twins.structs.weigh"]);
    let mut p = stand_in(&pkg, "");
    let types = r#"{"shard": "twins.structs.Shard", "color": "twins.structs.Color"}"#;
    let values = r#"{"shard": {"name": "s1", "size": 3, "weights": [0.5, 1.25], "tags": {"a": 2}, "owner": "ada"}, "color": "green"}"#;
    let out = p
        .run("twins.structs.structs", encoded(types, values))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(decoded(r#"{"o0": "float"}"#, &out), serde_json::json!({"o0": 5.25}));
    // (0.5 + 1.25) * 3, as the Python twin computes it.
}

/// A Python map task's outputs (a list of optionals) read by a Rust task.
#[test]
fn a_rust_task_reads_a_python_map_tasks_list_of_optionals() {
    let pkg = package_with_rust(&["twins.mapping.total"]);
    let mut p = stand_in(&pkg, "");
    let out = p
        .run(
            "twins.mapping.squares",
            encoded(r#"{"xs": "List[int]"}"#, r#"{"xs": [1, 2, 3, 4]}"#),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 30}));
    assert_eq!(
        decoded(r#"{"o0": "int"}"#, &out),
        local("twins.mapping", "squares", r#"{"xs": [1, 2, 3, 4]}"#)
    );
}

/// A file Python wrote (21 MiB: three upload parts) read by a Rust task, which writes another
/// and passes the first on; Python splits the new one into a directory, which a Rust task
/// merges into another directory (a file in a subdirectory, one beside it), which Python reads
/// with the file passed on. Each side downloads the other's files and directories from S3
/// through its own type engine; the file passed on keeps its URI (it is not uploaded again),
/// and the new ones are under the Rust attempts' raw output prefixes.
#[test]
fn python_and_rust_tasks_pass_files_and_directories_to_each_other() {
    let pkg = package_with_rust(&["twins.files.number_lines", "twins.files.merge"]);
    let mut p = stand_in(&pkg, "");
    // The containers' temporary files (ours from `FlyteFile::create`), removed after.
    let tmp = tempfile::tempdir().unwrap();
    p.env.push(("TMPDIR".to_owned(), tmp.path().display().to_string()));
    let n = 300_000;
    let out = p
        .run(
            "twins.files.files",
            encoded(r#"{"n": "int"}"#, &format!(r#"{{"n": {n}}}"#)),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let summary = decoded(r#"{"o0": "str"}"#, &out);
    // `line {i} `, 60 x's and a newline a line; then `{i + 1}: ` in front of each.
    let digits = |i: usize| i.to_string().len();
    let original: usize = (0..n).map(|i| 67 + digits(i)).sum();
    let numbered = original + (1..=n).map(|i| digits(i) + 2).sum::<usize>();
    assert_eq!(
        summary["o0"],
        format!(
            "{n} numbered lines ({numbered} bytes) of {n} ({original} bytes); last: {n}: line 299999 {}",
            "x".repeat(60)
        )
    );
    assert_eq!(summary, local("twins.files", "files", &format!(r#"{{"n": {n}}}"#)));

    // The Rust node's outputs: the new file under its attempt's raw prefix, the input as it came.
    let rust = p
        .attempts
        .iter()
        .find(|a| a.task == "twins.files.number_lines")
        .unwrap();
    let (written, passed) = (&rust.outputs.literals["o0"], &rust.outputs.literals["o1"]);
    let raw = format!("{}/{}/raw/{}/0", p.root, p.execution, rust.node);
    assert_eq!(blob_uri(written), format!("{raw}/o0/1/numbered.txt"));
    let python = p.attempts.iter().find(|a| a.task == "twins.files.write_lines").unwrap();
    assert_eq!(blob_uri(passed), blob_uri(&python.outputs.literals["o0"]));
    let merge = p.attempts.iter().find(|a| a.task == "twins.files.merge").unwrap();
    let merged = blob_uri(&merge.outputs.literals["o0"]);
    let raw = format!("{}/{}/raw/{}/0/o0/1/", p.root, p.execution, merge.node);
    assert!(merged.starts_with(&raw), "{merged} is not under {raw}");
}

/// The same workflow with every task Rust's: files and directories from Rust to Rust through
/// S3, to the result flytekit's local run gives.
#[test]
fn rust_tasks_pass_files_and_directories_to_each_other() {
    let tasks = ["write_lines", "number_lines", "split", "merge", "summarize"].map(|t| format!("twins.files.{t}"));
    let pkg = package_with_rust(&tasks.each_ref().map(String::as_str));
    let mut p = stand_in(&pkg, "");
    let tmp = tempfile::tempdir().unwrap();
    p.env.push(("TMPDIR".to_owned(), tmp.path().display().to_string()));
    let out = p
        .run("twins.files.files", encoded(r#"{"n": "int"}"#, r#"{"n": 1000}"#))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(
        decoded(r#"{"o0": "str"}"#, &out),
        local("twins.files", "files", r#"{"n": 1000}"#)
    );
    assert_eq!(p.attempts.len(), 5, "{:#?}", p.attempts);
}

/// The URI of a file's literal.
fn blob_uri(literal: &flyte_idl::core::Literal) -> String {
    use flyte_idl::core::{literal::Value, scalar};
    match &literal.value {
        Some(Value::Scalar(s)) => match &s.value {
            Some(scalar::Value::Blob(b)) => b.uri.clone(),
            other => panic!("not a blob: {other:?}"),
        },
        other => panic!("not a scalar: {other:?}"),
    }
}

/// SIGTERM in the middle of the loop (Kubernetes deleting the pod), to a task that returns at
/// the notice: the attempt ends interrupted (a system failure in `error.pb`), and the next one
/// starts from the last state the task handed over: no step is done twice.
#[test]
fn after_sigterm_the_next_attempt_starts_from_the_last_state_handed_over() {
    let handed = tempfile::NamedTempFile::new().unwrap();
    let pkg = package_with_rust(&["twins.checkpoint.use_checkpoint"]);
    let mut p = stand_in(&pkg, "notice");
    p.env
        .push(("FLYTEKIT_TEST_HANDED".to_owned(), handed.path().display().to_string()));
    p.signal = Box::new(|a| (a.number == 0).then_some((std::time::Duration::from_millis(400), "TERM")));
    let out = p
        .run(
            "twins.checkpoint.example",
            encoded(r#"{"n_iterations": "int"}"#, r#"{"n_iterations": 600}"#),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    // The first attempt's message says the last step it handed over.
    let Outcome::Failed {
        code,
        recoverable,
        user,
        message,
    } = &p.attempts[0].outcome
    else {
        panic!("{:#?}", p.attempts);
    };
    assert_eq!(
        (code.as_str(), *recoverable, *user),
        ("SYSTEM:Interrupted", true, false),
        "{message}"
    );
    let last_handed: u64 = message
        .rsplit("preempted after step ")
        .next()
        .and_then(|rest| rest.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(last_handed > 0 && last_handed < 600, "{last_handed}");
    assert_eq!(
        decoded(r#"{"o0": "int"}"#, &out),
        serde_json::json!({ "o0": last_handed })
    );
    assert_eq!(summary(&p)[1..], ["n0 1: ok"]);
}

/// A task that ignores the notice is abandoned when the grace period ends: the process exits
/// with 143 after its writer committed the latest state, which the next attempt starts from.
#[test]
fn a_task_that_ignores_sigterm_is_abandoned_with_its_writer_flushed() {
    let handed = tempfile::NamedTempFile::new().unwrap();
    let pkg = package_with_rust(&["twins.checkpoint.use_checkpoint"]);
    let mut p = stand_in(&pkg, "ignore");
    p.env
        .push(("FLYTEKIT_TEST_HANDED".to_owned(), handed.path().display().to_string()));
    p.signal = Box::new(|a| (a.number == 0).then_some((std::time::Duration::from_millis(400), "TERM")));
    let out = p
        .run(
            "twins.checkpoint.example",
            encoded(r#"{"n_iterations": "int"}"#, r#"{"n_iterations": 600}"#),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(summary(&p), ["n0 0: died (exit status: 143)", "n0 1: ok"]);
    let resumed_from = decoded(r#"{"o0": "int"}"#, &out)["o0"].as_u64().unwrap();
    // Steps run 2 ms apart: 400 ms to the notice, 300 ms of grace, and what the writer held at
    // the end was committed (at most 350 steps were run; the loop has 600).
    assert!(
        resumed_from > 100 && resumed_from < 600,
        "resumed from step {resumed_from}"
    );
    let last_handed: u64 = std::fs::read_to_string(handed.path()).unwrap().parse().unwrap();
    assert_eq!(last_handed, 600, "the second attempt ran to the end");
    assert!(
        p.attempts[0].stderr.contains("stopped by SIGTERM"),
        "{}",
        p.attempts[0].stderr
    );
}

/// `values` of `types` as a `LiteralMap`, made by flytekit's type engine.
fn encoded(types: &str, values: &str) -> LiteralMap {
    LiteralMap::decode(&Reference::get().encode(types, values)[..]).unwrap()
}

/// `outputs` as flytekit's type engine reads them, as JSON.
fn decoded(types: &str, outputs: &LiteralMap) -> serde_json::Value {
    Reference::get().decode(types, &outputs.encode_to_vec())
}

/// What flytekit's local execution of `module.workflow(**kwargs)` returns.
fn local(module: &str, workflow: &str, kwargs: &str) -> serde_json::Value {
    Reference::get().local(module, workflow, kwargs)
}
