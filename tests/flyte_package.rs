//! `package` (flytekit's cargo feature `cluster`) against flytekit 1.16.31's `pyflyte package`:
//! the Rust twins (`examples/twins.rs`, included here as a module) packaged by our command line,
//! the Python twins (`tests/flyte/twins`) by pyflyte with the same `--image`, and
//! `reference.py compare` must find no difference after its normalisations (`tests/flyte/README.md`
//! lists them with their reasons); flytekit's own model classes must load every file of ours; and
//! the command's errors.
//!
//! This test binary re-executes itself as the workflow program (the ignored test `program` runs
//! `flytekit::main_from` on the arguments in `FLYTEKIT_PACKAGE_ARGS`, one a line), as
//! `tests/cli.rs` does, so that exit statuses and messages are the real program's.
#![cfg(unix)]

mod common;
#[path = "support/flytekit.rs"]
mod flytekit_reference;
#[path = "../examples/twins.rs"]
mod twins;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use flytekit::{dynamic, task, workflow, Registered, WorkflowFailure};
use flytekit_reference::Reference;
use serde::{Deserialize, Serialize};

const ARGS_VAR: &str = "FLYTEKIT_PACKAGE_ARGS";
/// Set: the program registers the workflows below as well as the twins.
const EXTRAS_VAR: &str = "FLYTEKIT_PACKAGE_EXTRAS";
const IMAGE: &str = "example.com/twins:1";

// Workflows `package` refuses, each for a reason of its own.

#[task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn per_item(x: u64) -> u64 {
    inc(x)
}

/// A map over a workflow: flytekit's `map_task` over its launch plan.
#[workflow]
fn map_of_workflow(xs: Vec<u64>) -> Vec<u64> {
    map(per_item, xs)
}

/// A map over a workflow, two elements at a time.
#[workflow]
fn map_of_workflow_in_pairs(xs: Vec<u64>) -> Vec<u64> {
    map(per_item, xs, concurrency = 2)
}

#[workflow]
fn add_both(a: u64, b: u64) -> u64 {
    add(a, b)
}

/// A map over a workflow of two inputs, as over a task of two.
#[workflow]
fn map_of_pair_workflow(ps: Vec<(u64, u64)>) -> Vec<u64> {
    map(add_both, ps)
}

#[derive(Serialize, Deserialize)]
struct Loose {
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

#[task]
fn take_loose(config: Loose) -> u64 {
    config.rest.len() as u64
}

/// A struct with flattened fields has no Flyte type.
#[workflow]
fn loose(config: Loose) -> u64 {
    take_loose(config)
}

/// A case of two task calls: flytekit's `then()` takes one node (a user writes the two calls as
/// a workflow and calls that).
#[workflow]
fn two_in_a_case(x: u64) -> u64 {
    if x > 1 {
        inc(inc(x))
    } else {
        inc(x)
    }
}

/// A case that calls nothing: flytekit's `then()` takes a node.
#[workflow]
fn empty_case(x: u64) -> u64 {
    if x > 1 {
        x
    } else {
        inc(x)
    }
}

/// A map over a task of two inputs: ours maps one list of tuples, flytekit's `map_task` one
/// list per input.
#[workflow]
fn map_of_pairs(ps: Vec<(u64, u64)>) -> Vec<u64> {
    map(add, ps)
}

/// An `on_failure` task with an input named `err` before the failure: Flyte gives the failure
/// as the input `err`, which the package names the last input.
#[task]
fn err_first(err: String, failure: WorkflowFailure) {
    let _ = (err, failure);
}

#[task]
fn shout(s: String) -> String {
    s.to_uppercase()
}

#[workflow(on_failure = err_first)]
fn hook_with_err(err: String) -> String {
    shout(err)
}

fn extras() -> Vec<Registered> {
    vec![
        hook_with_err.into(),
        map_of_pair_workflow.into(),
        loose.into(),
        two_in_a_case.into(),
        empty_case.into(),
        map_of_pairs.into(),
    ]
}

// Workflows with what the twins do not have, which `package` writes and flytekit loads.

#[task]
fn clean_up(xs: Vec<u64>, failure: WorkflowFailure) {
    let _ = (xs, failure);
}

#[task]
fn pairs(n: u64) -> (Vec<u64>, std::collections::BTreeMap<String, u64>) {
    ((0..n).collect(), [("n".to_owned(), n)].into_iter().collect())
}

/// Adds two numbers.
///
/// The second is **added** to the first: a description in two parts, as flytekit splits a
/// docstring (the first line, and the rest).
#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[task]
fn sum_all(xs: Vec<u64>, named: std::collections::BTreeMap<String, u64>) -> u64 {
    xs.iter().sum::<u64>() + named.values().sum::<u64>()
}

#[task]
fn describe(label: String, scale: f64, maybe: Option<u64>, flags: Vec<bool>) -> String {
    format!("{label} {scale} {maybe:?} {flags:?}")
}

#[dynamic(retries = 1)]
fn fan_out(n: u64) -> u64 {
    let parts: Vec<_> = (0..n).map(|i| inc(i)).collect();
    sum_all(parts, std::collections::BTreeMap::<String, u64>::new())
}

/// A failure node, the policy that runs what it can, parts of outputs (a list's element, a
/// map's entry), a list and a map binding, a dynamic node, an input returned as it is, and
/// literals of other types (a string, a float, an optional, a list).
#[workflow(on_failure = clean_up, failure_policy = FailAfterExecutableNodesComplete)]
fn everything_else(xs: Vec<u64>) -> (u64, u64, u64, Vec<u64>, String) {
    let (list, named) = pairs(3);
    let first = add(list[0], named["n"]);
    let total = sum_all(
        vec![first, 2],
        std::collections::BTreeMap::from([("first".to_owned(), first)]),
    );
    let text = describe("x", 0.5, Some(3), vec![true, false]);
    (total, fan_out(first), first, xs, text)
}

/// A branch with an `else` arm, `||`, and comparisons of a string and a float.
#[workflow]
fn pick(x: u64, name: String, w: f64) -> u64 {
    if x > 3 || name == "big" {
        inc(x)
    } else if w <= 0.5 {
        add(x, 1)
    } else {
        add(x, 2)
    }
}

#[workflow]
fn twice(x: u64) -> u64 {
    inc(inc(x))
}

/// A sub-workflow called in a branch's case: a case whose node is a workflow node.
#[workflow]
fn sub_in_case(x: u64) -> u64 {
    let y = inc(x);
    if x > 3 {
        twice(y)
    } else {
        add(x, y)
    }
}

/// A branch nested in a case: a branch node inside a case.
#[workflow]
fn nested(x: u64, y: u64) -> u64 {
    if x > 3 {
        if y > 3 {
            inc(x)
        } else {
            add(x, y)
        }
    } else {
        inc(y)
    }
}

#[task]
fn upto(n: u64) -> Vec<u64> {
    (0..n).collect()
}

/// A sub-workflow with a branch of its own.
#[workflow]
fn choose(x: u64) -> u64 {
    if x > 10 {
        inc(x)
    } else {
        add(x, 10)
    }
}

/// Sub-workflows (one with a branch of its own) in the cases of a nested branch whose condition reads a node's output.
#[workflow]
fn deep(x: u64) -> u64 {
    let y = inc(x);
    if x > 3 {
        if y > 5 {
            choose(y)
        } else {
            twice(x)
        }
    } else {
        add(y, 1)
    }
}

/// A map in a branch's case.
#[workflow]
fn map_in_case(x: u64, xs: Vec<u64>) -> Vec<u64> {
    if x > 3 {
        map(inc, xs)
    } else {
        upto(x)
    }
}

/// A map without options: flytekit's `map_task(inc)`.
#[workflow]
fn plain_map(xs: Vec<u64>) -> u64 {
    sum_all(map(inc, xs), std::collections::BTreeMap::<String, u64>::new())
}

/// Not a test: the program the other tests run.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return;
    };
    let argv = std::iter::once("twins".to_owned()).chain(args.split('\n').filter(|a| !a.is_empty()).map(str::to_owned));
    let mut workflows = twins::workflows();
    if std::env::var_os(EXTRAS_VAR).is_some() {
        workflows.extend(extras());
        workflows.push(everything_else.into());
        workflows.push(plain_map.into());
        workflows.push(pick.into());
        workflows.push(sub_in_case.into());
        workflows.push(nested.into());
        workflows.push(deep.into());
        workflows.push(map_in_case.into());
        workflows.push(map_of_workflow.into());
        workflows.push(map_of_workflow_in_pairs.into());
    }
    let code = flytekit::main_from(argv, workflows);
    let status = (0..=u8::MAX)
        .find(|&c| code == std::process::ExitCode::from(c))
        .unwrap_or(1);
    std::process::exit(i32::from(status));
}

fn run(args: &[&str], extras: bool) -> Output {
    let mut cmd = common::program_command();
    cmd.env(ARGS_VAR, args.join("\n"));
    if extras {
        cmd.env(EXTRAS_VAR, "1");
    } else {
        cmd.env_remove(EXTRAS_VAR);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.strip_prefix("\nrunning 1 test\n")
        .or_else(|| text.strip_prefix("running 1 test\n"))
        .unwrap_or(&text)
        .trim()
        .to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

/// `package --image IMAGE --output OUT NAMES..` of the twins; panics with its output unless it
/// succeeds.
fn package(out: &Path, names: &[&str]) {
    let mut args = vec!["package", "--image", IMAGE, "--output", out.to_str().unwrap()];
    args.extend_from_slice(names);
    let done = run(&args, false);
    assert_eq!(
        done.status.code(),
        Some(0),
        "package failed:\n--- stdout\n{}\n--- stderr\n{}",
        stdout(&done),
        stderr(&done)
    );
}

/// pyflyte's package of the Python twins, made once per test process.
fn theirs() -> &'static Path {
    static THEIRS: OnceLock<PathBuf> = OnceLock::new();
    THEIRS.get_or_init(|| {
        let path = scratch().join("theirs.tgz");
        Reference::get().ok(["package".as_ref(), path.as_os_str(), "--image".as_ref(), IMAGE.as_ref()]);
        path
    })
}

/// A directory of this test process's own, under the target directory.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("flyte-package")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Ours, with every twin (no names given: all the program registers).
fn ours() -> &'static Path {
    static OURS: OnceLock<PathBuf> = OnceLock::new();
    OURS.get_or_init(|| {
        let path = scratch().join("ours.tgz");
        package(&path, &[]);
        path
    })
}

#[test]
fn our_package_of_the_twins_has_no_difference_from_pyflytes() {
    let r = Reference::get();
    let out = r.run(["compare".as_ref(), theirs().as_os_str(), ours().as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "reference.py compare (A: pyflyte, B: ours) found differences:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every entity of both: 19 tasks (the map task and the task it maps among them), 8
    // workflows and their 8 launch plans.
    assert_eq!(text.trim(), "no difference in 35 entities");
}

#[test]
fn flytekits_model_classes_load_every_file_of_ours() {
    let out = Reference::get().ok(["load".as_ref(), ours().as_os_str()]);
    assert_eq!(
        out.trim(),
        "loaded 19 tasks, 8 workflows and 8 launch plans through flytekit's model classes"
    );
}

/// What the comparison normalises away, checked here instead: our container runs this binary's
/// `execute` with the task's name and Flyte's template variables, and our runtime says `rust`
/// and this crate's version.
#[test]
fn our_tasks_run_this_binarys_execute_and_name_the_rust_sdk() {
    let script = r#"
import sys, tarfile
from flyteidl.admin import task_pb2
with tarfile.open(sys.argv[1]) as archive:
    for m in archive.getmembers():
        if m.name.endswith("_1.pb"):
            spec = task_pb2.TaskSpec()
            spec.ParseFromString(archive.extractfile(m).read())
            t = spec.template
            print(t.id.name, t.type, t.metadata.runtime.version, t.metadata.runtime.flavor, " ".join(t.container.args))
"#;
    let r = Reference::get();
    let out = std::process::Command::new(r.python())
        .args(["-B", "-c", script])
        .arg(ours())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let template = "--inputs {{.input}} --output-prefix {{.outputPrefix}} --raw-output-data-prefix \
                    {{.rawOutputDataPrefix}} --checkpoint-path {{.checkpointOutputPrefix}} --prev-checkpoint \
                    {{.prevCheckpointPrefix}}";
    let square = format!(
        "flyte_package.twins.diamond.square container {version} rust execute --task \
         flyte_package.twins.diamond.square {template}"
    );
    assert!(text.lines().any(|l| l == square), "no line {square:?} in:\n{text}");
    let map = "flyte_package.twins.mapping.map_square_1b6b0fecf4392c7d11c829144ba49908-arraynode";
    let map_line = format!("{map} container {version} rust execute --task {map} --map {template}");
    assert!(text.lines().any(|l| l == map_line), "no line {map_line:?} in:\n{text}");
    assert_eq!(text.lines().count(), 19, "{text}");
}

#[test]
fn a_named_workflow_is_packaged_with_what_it_calls_in_dependency_order() {
    let path = scratch().join("outer.tgz");
    package(&path, &["outer"]);
    let listing = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&path)
        .output()
        .unwrap();
    let names = String::from_utf8(listing.stdout).unwrap();
    let p = "flyte_package.twins.subworkflow";
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            format!("0_{p}.stats_1.pb"),
            format!("1_{p}.inner_2.pb"),
            format!("2_{p}.inner_3.pb"),
            format!("3_{p}.total_1.pb"),
            format!("4_{p}.outer_2.pb"),
            format!("5_{p}.outer_3.pb"),
        ]
    );
    Reference::get().ok(["load".as_ref(), path.as_os_str()]);
}

#[test]
fn the_same_workflows_give_the_same_bytes() {
    let again = scratch().join("again.tgz");
    package(&again, &[]);
    assert!(std::fs::read(ours()).unwrap() == std::fs::read(&again).unwrap());
}

#[test]
fn an_unknown_workflow_is_refused_naming_the_known_ones_and_writes_nothing() {
    let path = scratch().join("unknown.tgz");
    let out = run(
        &[
            "package",
            "--image",
            IMAGE,
            "--output",
            path.to_str().unwrap(),
            "diamond",
            "nope",
        ],
        false,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: unknown workflow `nope`: this program has example, diamond, squares, inner, outer, structs, branch, files"
    );
    assert!(!path.exists());
}

#[test]
fn an_empty_or_missing_image_is_refused() {
    let out = run(&["package", "--image", " ", "diamond"], false);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: `--image` is empty: name the container image the tasks run in, like `--image ghcr.io/me/workflows:v1`"
    );
    let out = run(&["package", "diamond"], false);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--image <IMAGE>"), "{}", stderr(&out));
}

#[test]
fn an_output_that_cannot_be_written_is_an_error_naming_it() {
    let path = scratch().join("no-such-directory").join("pkg.tgz");
    let out = run(
        &["package", "--image", IMAGE, "--output", path.to_str().unwrap()],
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!("error: cannot write the package to {}: ", path.display())),
        "{text}"
    );
}

#[test]
fn what_cannot_be_packaged_yet_is_an_error_naming_the_workflow_and_the_node() {
    let cases = [
        (
            "hook_with_err",
            "error: workflow flyte_package.hook_with_err: an on_failure task with an input named `err` before its \
             last (Flyte gives the failure as `err`) cannot be packaged for Flyte yet",
        ),
        (
            "map_of_pair_workflow",
            "error: workflow flyte_package.map_of_pair_workflow: node n0 (a map over the workflow add_both, which \
             takes 2 inputs: ours maps one list of tuples, flytekit's map_task one list per input, and no node of a \
             Flyte workflow splits the one into the others) cannot be packaged for Flyte yet",
        ),
        (
            "map_of_pairs",
            "error: workflow flyte_package.map_of_pairs: node n0 (a map over add, which takes 2 inputs: ours maps \
             one list of tuples, flytekit's map_task one list per input, and no node of a Flyte workflow splits the \
             one into the others) cannot be packaged for Flyte yet",
        ),
        (
            "empty_case",
            "error: workflow flyte_package.empty_case: case 0 of the branch n0, which makes no call (a Flyte branch \
             case runs one node: call a task or a #[workflow] that gives the case's result) cannot be packaged for \
             Flyte yet",
        ),
        (
            "two_in_a_case",
            "error: workflow flyte_package.two_in_a_case: case 0 of the branch n0, which makes 2 calls (a Flyte \
             branch case runs one node: move the calls into a #[workflow] and call that in the case) cannot be \
             packaged for Flyte yet",
        ),
    ];
    for (workflow, message) in cases {
        let path = scratch().join(format!("{workflow}.tgz"));
        let out = run(
            &[
                "package",
                "--image",
                IMAGE,
                "--output",
                path.to_str().unwrap(),
                workflow,
            ],
            true,
        );
        assert_eq!(out.status.code(), Some(1), "{workflow}: {}", stderr(&out));
        assert_eq!(stderr(&out), message);
        assert!(!path.exists());
    }
}

#[test]
fn a_type_without_a_flyte_type_is_an_error_naming_the_input() {
    let out = run(&["package", "--image", IMAGE, "loose"], true);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.starts_with("error: flyte_package.loose: ") && text.contains("config"),
        "{text}"
    );
}

/// The Python twin of `everything_else`, `pick`, `plain_map`, `sub_in_case` (with `twice`),
/// `nested`, `deep` (with `choose`) and `map_in_case`, as a flytekit user writes them, in a module named like this test's crate so that
/// names line up (`flyte_package.plain_map`).
const EXTRA_TWIN: &str = r#"
from typing import Dict, List, Optional, Tuple

from flytekit import LaunchPlan, WorkflowFailurePolicy, conditional, dynamic, map_task, task, workflow
from flytekit.types.error import FlyteError


@task
def clean_up(xs: List[int], err: Optional[FlyteError] = None):
    print(xs, err)


@task
def pairs(n: int) -> Tuple[List[int], Dict[str, int]]:
    return list(range(n)), {"n": n}


@task
def add(a: int, b: int) -> int:
    """Adds two numbers.

    The second is **added** to the first: a description in two parts, as flytekit splits a
    docstring (the first line, and the rest).
    """
    return a + b


@task
def sum_all(xs: List[int], named: Dict[str, int]) -> int:
    return sum(xs) + sum(named.values())


@task
def inc(x: int) -> int:
    return x + 1


@task
def describe(label: str, scale: float, maybe: Optional[int], flags: List[bool]) -> str:
    return f"{label} {scale} {maybe} {flags}"


@dynamic(retries=1)
def fan_out(n: int) -> int:
    return sum_all(xs=[inc(x=i) for i in range(n)], named={})


@workflow(on_failure=clean_up, failure_policy=WorkflowFailurePolicy.FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)
def everything_else(xs: List[int]) -> Tuple[int, int, int, List[int], str]:
    """A failure node, the policy that runs what it can, parts of outputs (a list's element, a
    map's entry), a list and a map binding, a dynamic node, an input returned as it is, and
    literals of other types (a string, a float, an optional, a list).
    """
    lst, named = pairs(n=3)
    first = add(a=lst[0], b=named["n"])
    total = sum_all(xs=[first, 2], named={"first": first})
    text = describe(label="x", scale=0.5, maybe=3, flags=[True, False])
    return total, fan_out(n=first), first, xs, text


@workflow
def pick(x: int, name: str, w: float) -> int:
    """A branch with an `else` arm, `||`, and comparisons of a string and a float."""
    return (
        conditional("pick")
        .if_((x > 3) | (name == "big"))
        .then(inc(x=x))
        .elif_(w <= 0.5)
        .then(add(a=x, b=1))
        .else_()
        .then(add(a=x, b=2))
    )


@workflow
def twice(x: int) -> int:
    return inc(x=inc(x=x))


@workflow
def sub_in_case(x: int) -> int:
    """A sub-workflow called in a branch's case: a case whose node is a workflow node."""
    y = inc(x=x)
    return conditional("sub_in_case").if_(x > 3).then(twice(x=y)).else_().then(add(a=x, b=y))


@workflow
def nested(x: int, y: int) -> int:
    """A branch nested in a case: a branch node inside a case."""
    return (
        conditional("nested")
        .if_(x > 3)
        .then(conditional("nested_inner").if_(y > 3).then(inc(x=x)).else_().then(add(a=x, b=y)))
        .else_()
        .then(inc(x=y))
    )


# One map task for both workflows that map `inc` (each `map_task(inc)` is an entity of its own,
# of one name, which pyflyte would write twice).
inc_each = map_task(inc)


@task
def upto(n: int) -> List[int]:
    return list(range(n))


@workflow
def choose(x: int) -> int:
    """A sub-workflow with a branch of its own."""
    return conditional("choose").if_(x > 10).then(inc(x=x)).else_().then(add(a=x, b=10))


@workflow
def deep(x: int) -> int:
    """Sub-workflows (one with a branch of its own) in the cases of a nested branch whose condition reads a node's output."""
    y = inc(x=x)
    return (
        conditional("deep")
        .if_(x > 3)
        .then(conditional("deep_inner").if_(y > 5).then(choose(x=y)).else_().then(twice(x=x)))
        .else_()
        .then(add(a=y, b=1))
    )


@workflow
def map_in_case(x: int, xs: List[int]) -> List[int]:
    """A map in a branch's case."""
    return conditional("map_in_case").if_(x > 3).then(inc_each(x=xs)).else_().then(upto(n=x))


@workflow
def per_item(x: int) -> int:
    return inc(x=x)


@workflow
def map_of_workflow(xs: List[int]) -> List[int]:
    """A map over a workflow: flytekit's `map_task` over its launch plan."""
    return map_task(LaunchPlan.get_or_create(per_item))(x=xs)


@workflow
def map_of_workflow_in_pairs(xs: List[int]) -> List[int]:
    """A map over a workflow, two elements at a time."""
    return map_task(LaunchPlan.get_or_create(per_item), concurrency=2)(x=xs)


@workflow
def plain_map(xs: List[int]) -> int:
    """A map without options: flytekit's `map_task(inc)`."""
    return sum_all(xs=inc_each(x=xs), named={})
"#;

/// pyflyte's package of [`EXTRA_TWIN`].
fn theirs_extra() -> PathBuf {
    let root = scratch().join("py");
    let package = root.join("extra");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("__init__.py"), "").unwrap();
    std::fs::write(package.join("flyte_package.py"), EXTRA_TWIN).unwrap();
    let out = scratch().join("theirs-extra.tgz");
    let python = Reference::get().python();
    let pyflyte = python.parent().unwrap().join("pyflyte");
    let done = std::process::Command::new(pyflyte)
        .args([
            "--pkgs", "extra", "package", "--image", IMAGE, "--force", "--copy", "none", "--output",
        ])
        .arg(&out)
        .current_dir(&root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "pyflyte package failed:\n{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// A failure node, a failure policy, parts of outputs, list and map bindings, a dynamic node,
/// an input returned as it is, a map without options, a sub-workflow called in a branch's case
/// (`sub_in_case`), a branch nested in a case (`nested`), both at once with a sub-workflow that
/// branches and a nested condition reading a node's output (`deep`) and a map in a case
/// (`map_in_case`), against pyflyte's package of their Python twin.
#[test]
fn what_the_twins_do_not_cover_matches_pyflyte_too() {
    let ours = scratch().join("everything_else.tgz");
    let out = run(
        &[
            "package",
            "--image",
            IMAGE,
            "--output",
            ours.to_str().unwrap(),
            "everything_else",
            "plain_map",
            "pick",
            "sub_in_case",
            "nested",
            "deep",
            "map_in_case",
            "map_of_workflow",
            "map_of_workflow_in_pairs",
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let theirs = theirs_extra();
    let r = Reference::get();
    let compared = r.run(["compare".as_ref(), theirs.as_os_str(), ours.as_os_str()]);
    let text = String::from_utf8_lossy(&compared.stdout);
    // Three differences, and only these.
    //
    // A dynamic task's container carries flytekit's own serialization settings in the
    // environment variable `_F_SS_C` (gzipped JSON: the Python interpreter, the virtual
    // environment, the source root, the image), which pyflyte-execute reads to compile the
    // dynamic workflow's tasks at run time. Ours carries only the image, in `FLYTEKIT_RS_IMAGE`,
    // which the Rust binary's `execute` writes into the templates of the tasks its futures.pb
    // names (the rest of `_F_SS_C` is Python's): two lines, the variable's key and value.
    //
    // `deep` calls the sub-workflows `choose` and `twice` in the cases of a branch nested in a
    // case. flytekit 1.16 collects a workflow's sub-workflows from its nodes and from the cases of
    // its branches, but not from the cases of a branch nested in a case
    // (`flytekit/tools/translator.py`, `get_serializable_workflow`), so pyflyte's spec of `deep`
    // refers to them (`sub_workflow_ref`) without embedding them. Ours embeds them, as it does a
    // sub-workflow called anywhere else: the template itself is the same.
    let lines: Vec<&str> = text.lines().collect();
    let env = "task:flyte_package.fan_out: template.container.env[0]";
    let deep_subs = r#"workflow:flyte_package.deep: sub_workflows: (absent) != [{"id":{"name":"flyte_package.choose","#;
    assert!(
        compared.status.code() == Some(1)
            && lines.len() == 4
            && lines[0] == format!(r#"{env}.key: "_F_SS_C" != "FLYTEKIT_RS_IMAGE""#)
            && lines[1].starts_with(&format!(r#"{env}.value: "H4sI"#))
            && lines[1].ends_with(&format!(r#"" != "{IMAGE}""#))
            && lines[2].starts_with(deep_subs)
            && lines[2].contains(r#"{"id":{"name":"flyte_package.twice","resource_type":"WORKFLOW"}"#)
            && lines[3].starts_with("3 difference(s) between "),
        "reference.py compare (A: pyflyte, B: ours) found other differences than the dynamic task's \
         _F_SS_C and deep's sub-workflows:\n{text}{}",
        String::from_utf8_lossy(&compared.stderr)
    );
    // And flytekit's model classes load those with a case's workflow node or a nested branch.
    // (Not the maps': flytekit's ArrayNode model writes back an absent `parallelism` as 0, for
    // pyflyte's as for ours, which `load` takes as not kept as written.)
    let cases = scratch().join("cases.tgz");
    let out = run(
        &[
            "package",
            "--image",
            IMAGE,
            "--output",
            cases.to_str().unwrap(),
            "sub_in_case",
            "nested",
            "deep",
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    r.ok(["load".as_ref(), cases.as_os_str()]);
}

/// `package` costs a local-only user nothing: without the feature `cluster`, flytekit's build
/// holds none of the Flyte layer's crates (cargo resolves it; nothing is compiled here).
#[test]
fn the_feature_cluster_is_off_by_default() {
    let tree = |features: &[&str]| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = std::process::Command::new(cargo)
            .args([
                "tree",
                "--offline",
                "-p",
                "flytekit",
                "-e",
                "normal",
                "--prefix",
                "none",
            ])
            .args(features)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| l.split(' ').next())
            .filter(|n| ["flyte-cluster", "flyte-idl", "prost", "tar", "flate2", "md-5"].contains(n))
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    assert_eq!(tree(&[]), Vec::<String>::new());
    assert_eq!(
        tree(&["--features", "cluster"]),
        ["flate2", "flyte-cluster", "flyte-idl", "md-5", "prost", "tar"]
    );
}

#[test]
fn help_lists_package_with_its_options() {
    let out = run(&["--help"], false);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("package") && l.contains("Flyte cluster")),
        "{text}"
    );
    let out = run(&["package", "--help"], false);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for wanted in [
        "Usage: twins package [OPTIONS] --image <IMAGE> [WORKFLOWS]...",
        "--output <FILE>",
        "[default: flyte-package.tgz]",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in:\n{text}");
    }
}
