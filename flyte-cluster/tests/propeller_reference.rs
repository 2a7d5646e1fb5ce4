//! The propeller stand-in (`tests/support/propeller.rs`), validated on the reference first:
//! flytekit 1.16.31's own `pyflyte-execute` runs the twin workflows of `pyflyte package`
//! through it, against S3 on loopback, with the results flytekit's local execution gives.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

#[path = "../../tests/support/propeller.rs"]
mod propeller;

use std::path::PathBuf;
use std::sync::OnceLock;

use flyte_idl::core::LiteralMap;
use flyte_idl::prost::Message;
use flytekit_reference::Reference;
use propeller::{int, Outcome, Package, Propeller};

/// pyflyte's package of the twins, made once per process.
fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        Package::made_by(|tgz| {
            Reference::get().ok(["package".as_ref(), tgz.as_os_str()]);
        })
    })
}

/// A stand-in that runs flytekit's containers: `pyflyte-execute` from the reference
/// environment, the twins importable, the sandbox's S3 variables set.
fn stand_in() -> Propeller<'static> {
    let server = s3::S3::shared();
    let root = server.new_bucket("propeller");
    let twins = Reference::dir();
    let mut env: Vec<(String, String)> = server.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.push(("PYTHONPATH".to_owned(), twins.display().to_string()));
    env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let mut p = Propeller::new(package(), root, env);
    let bin = Reference::get().python().parent().unwrap().to_path_buf();
    p.program = Box::new(move |word| {
        let candidate = bin.join(word);
        if candidate.exists() {
            candidate
        } else {
            PathBuf::from(word)
        }
    });
    p.cwd = twins;
    p
}

fn inputs(pairs: &[(&str, i64)]) -> LiteralMap {
    LiteralMap {
        literals: pairs.iter().map(|(k, v)| (k.to_string(), int(*v))).collect(),
    }
}

/// The seed on the reference: `use_checkpoint(6)` fails twice, recoverably, and each retry
/// starts from the checkpoint the attempt before it committed.
#[test]
fn flytekit_resumes_from_the_previous_attempts_checkpoint_through_the_stand_in() {
    let mut p = stand_in();
    let out = p
        .run("twins.checkpoint.example", inputs(&[("n_iterations", 6)]))
        .unwrap();
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 5}));
    let outcomes: Vec<_> = p.attempts.iter().map(|a| (a.number, a.outcome.clone())).collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:#?}");
    for (i, (number, outcome)) in outcomes.iter().enumerate() {
        assert_eq!(*number, i as u32);
        match outcome {
            Outcome::Failed {
                code,
                recoverable: true,
                user: true,
                message,
            } if i < 2 => {
                assert_eq!(code, "USER:Recoverable", "{message}");
                assert!(message.contains("Failed at iteration"), "{message}");
            }
            Outcome::Succeeded if i == 2 => {}
            other => panic!("attempt {i}: {other:?}\n{}", p.attempts[i].stderr),
        }
    }
    assert_eq!(p.attempts[0].prev_checkpoint, "\"\"");
    assert_eq!(p.attempts[1].prev_checkpoint, p.attempts[0].checkpoint);
    assert_eq!(p.attempts[2].prev_checkpoint, p.attempts[1].checkpoint);
    // flytekit's checkpoint of attempt 2 is the object its SyncCheckpoint writes.
    let cp = flyte_cluster::storage::Location::parse(&format!("{}/_dst_cp", p.attempts[1].checkpoint)).unwrap();
    assert_eq!(cp.read().unwrap(), b"4");
}

/// A task process killed before it writes `error.pb` or `outputs.pb` (a preempted pod) is a
/// system failure, retried within its own budget, and the next attempt gets the killed one's
/// checkpoint prefix, where nothing was written. flytekit 1.16.31 fails there for good: its
/// `restore` of a prefix that does not exist raises `FlyteDataNotFoundException`, a
/// non-recoverable user error (ours starts without a checkpoint, with a warning).
#[test]
fn a_killed_attempt_is_retried_as_a_system_failure() {
    let mut p = stand_in();
    p.before = Box::new(|attempt, cmd| {
        if attempt.number == 1 {
            let mut kill = std::process::Command::new("sh");
            kill.args(["-c", "kill -9 $$"]);
            kill
        } else {
            cmd
        }
    });
    let err = p
        .run("twins.checkpoint.example", inputs(&[("n_iterations", 6)]))
        .unwrap_err();
    assert!(
        err.starts_with("node n0 (task twins.checkpoint.use_checkpoint) failed on attempt 2"),
        "{err}"
    );
    let outcomes: Vec<String> = p
        .attempts
        .iter()
        .map(|a| match &a.outcome {
            Outcome::Succeeded => "succeeded".to_owned(),
            Outcome::Failed { code, recoverable, .. } => format!("{code} recoverable={recoverable}"),
            Outcome::Died(status) => format!("died: {status}"),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "USER:Recoverable recoverable=true",
            "died: signal: 9 (SIGKILL)",
            "USER:ValueError recoverable=false"
        ]
    );
    assert_eq!(p.attempts[2].prev_checkpoint, p.attempts[1].checkpoint);
    let Outcome::Failed { message, .. } = &p.attempts[2].outcome else {
        unreachable!()
    };
    assert!(message.contains("FlyteDataNotFoundException"), "{message}");
}

/// Runs `module.workflow(values)` through the stand-in and checks its outputs against
/// flytekit's local execution of the same call; returns the stand-in for more checks.
fn same_as_local(module: &str, workflow: &str, types: &str, values: &str, outputs: &str) -> Propeller<'static> {
    let mut p = stand_in();
    let out = p
        .run(&format!("{module}.{workflow}"), encoded(types, values))
        .unwrap_or_else(|e| panic!("{module}.{workflow}({values}): {e}"));
    assert_eq!(
        decoded(outputs, &out),
        local(module, workflow, values),
        "{module}.{workflow}({values})"
    );
    assert!(
        p.attempts.iter().all(|a| a.outcome == Outcome::Succeeded),
        "{:#?}",
        p.attempts
    );
    p
}

/// Task nodes in dependency order, each waiting for what it binds.
#[test]
fn diamond_as_flytekit_runs_it_locally() {
    let p = same_as_local(
        "twins.diamond",
        "diamond",
        r#"{"n": "int"}"#,
        r#"{"n": 3}"#,
        r#"{"o0": "int"}"#,
    );
    let nodes: Vec<&str> = p.attempts.iter().map(|a| a.node.as_str()).collect();
    assert_eq!((nodes[0], nodes[3]), ("n0", "n3"));
}

/// A map task: one container per element, each told its index; a list of optionals out.
#[test]
fn a_map_task_as_flytekit_runs_it_locally() {
    let p = same_as_local(
        "twins.mapping",
        "squares",
        r#"{"xs": "List[int]"}"#,
        r#"{"xs": [1, 2, 3, 4]}"#,
        r#"{"o0": "int"}"#,
    );
    let nodes: Vec<&str> = p.attempts.iter().map(|a| a.node.as_str()).collect();
    assert_eq!(nodes, ["n0-0", "n0-1", "n0-2", "n0-3", "n1"]);
}

/// A sub-workflow called twice, a list built from two outputs and a literal, tuple outputs.
#[test]
fn a_sub_workflow_as_flytekit_runs_it_locally() {
    same_as_local(
        "twins.subworkflow",
        "outer",
        r#"{"a": "int"}"#,
        r#"{"a": 4}"#,
        r#"{"o0": "int", "o1": "str"}"#,
    );
}

/// Each case of a branch: `x > 100 and is_even(x)`, `x > 0`.
#[test]
fn branches_as_flytekit_runs_them_locally() {
    for x in [102, 101, 7] {
        same_as_local(
            "twins.conditional",
            "branch",
            r#"{"x": "int"}"#,
            &format!(r#"{{"x": {x}}}"#),
            r#"{"o0": "int"}"#,
        );
    }
}

/// A branch whose `else` fails fails the run, and a workflow the package lacks is an error.
#[test]
fn failures_the_stand_in_reports() {
    let mut p = stand_in();
    let err = p.run("twins.conditional.branch", inputs(&[("x", 0)])).unwrap_err();
    assert!(err.starts_with("branch failed: "), "{err}");
    assert_eq!(
        stand_in().run("twins.nope.none", inputs(&[])).unwrap_err(),
        "no workflow twins.nope.none in the package"
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

/// pyflyte's package of `tests/flyte/dynamic` (the twins of `examples/on_cluster.rs`), made
/// once per process.
fn dynamic_package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| Package::made_by(|tgz| Reference::get().package_dynamic("example.com/on-cluster:1", tgz)))
}

/// [`stand_in`] over [`dynamic_package`], its twins importable.
fn dynamic_stand_in() -> Propeller<'static> {
    let mut p = stand_in();
    p.package = dynamic_package();
    let dynamic = Reference::dynamic_dir();
    for (k, v) in p.env.iter_mut() {
        if k == "PYTHONPATH" {
            *v = dynamic.display().to_string();
        }
    }
    p.cwd = dynamic;
    p
}

/// flytekit's `@dynamic` through the stand-in: the twin of `examples/on_cluster.rs`'s dynamic
/// workflow (`tests/flyte/dynamic`), packaged by pyflyte, its dynamic task run by
/// `pyflyte-execute`, which writes `futures.pb` (no `outputs.pb`); the stand-in runs that
/// `DynamicJobSpec`'s nodes under the dynamic node, each task in `pyflyte-execute` with the
/// templates the spec carries, and gives the result of flytekit's local execution. What
/// flytekit writes there is what `tests/execute.rs` compares ours with.
#[test]
fn a_dynamic_workflow_as_flytekit_runs_it_locally() {
    let pkg = dynamic_package();
    let mut p = dynamic_stand_in();
    let values = r#"{"data": [1, 2, 3, 4, 5]}"#;
    let out = p
        .run("on_cluster.shards.sharded", encoded(r#"{"data": "List[int]"}"#, values))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(decoded(r#"{"o0": "int"}"#, &out), serde_json::json!({"o0": 15}));
    assert_eq!(
        decoded(r#"{"o0": "int"}"#, &out),
        Reference::get().local_in(&Reference::dynamic_dir(), "on_cluster.shards", "sharded", values)
    );
    let ran: Vec<(String, String, Outcome)> = p
        .attempts
        .iter()
        .map(|a| (a.node.clone(), a.task.clone(), a.outcome.clone()))
        .collect();
    let expected = [
        ("n0", "on_cluster.shards.shard_all"),
        ("n0-dn0", "on_cluster.shards.process"),
        ("n0-dn1", "on_cluster.shards.process"),
        ("n0-dn2", "on_cluster.shards.process"),
        ("n0-dn3", "on_cluster.fanout.total"),
    ]
    .map(|(n, t)| (n.to_owned(), t.to_owned(), Outcome::Succeeded));
    assert_eq!(ran, expected, "{:#?}", p.attempts);
    let [(at, spec)] = &p.futures[..] else {
        panic!("{:?}", p.futures)
    };
    assert_eq!(at, "n0");
    assert_eq!(spec.min_successes, 4);
    let ids: Vec<&str> = spec.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["dn0", "dn1", "dn2", "dn3"]);
    // The sub-graph's tasks are in the package too, as pyflyte registers every task it finds.
    assert!(pkg.tasks.contains_key("on_cluster.shards.process"));
    eprintln!("{spec:#?}");
}

/// Runs `on_cluster.nesting.workflow(values)` (a `@dynamic` twin) through the stand-in and
/// checks its output against flytekit's local execution; returns the stand-in for more checks.
fn nesting_as_local(workflow: &str, types: &str, values: &str) -> Propeller<'static> {
    let mut p = dynamic_stand_in();
    let out = p
        .run(&format!("on_cluster.nesting.{workflow}"), encoded(types, values))
        .unwrap_or_else(|e| panic!("{workflow}({values}): {e}\n{:#?}", p.attempts));
    assert_eq!(
        decoded(r#"{"o0": "int"}"#, &out),
        Reference::get().local_in(&Reference::dynamic_dir(), "on_cluster.nesting", workflow, values),
        "{workflow}({values})"
    );
    assert!(
        p.attempts.iter().all(|a| a.outcome == Outcome::Succeeded),
        "{:#?}",
        p.attempts
    );
    p
}

/// The nodes the stand-in ran, each as `path task` (the task's name without `on_cluster.`).
fn ran(p: &Propeller<'_>) -> Vec<String> {
    p.attempts
        .iter()
        .map(|a| format!("{} {}", a.node, a.task.trim_start_matches("on_cluster.")))
        .collect()
}

/// A `@dynamic` body calling a sub-workflow: the `DynamicJobSpec` carries the sub-workflow
/// (`subworkflows`), whose node runs it under the dynamic node (`n0-dn0-n0`).
#[test]
fn flytekits_dynamic_sub_workflows_run_from_the_job_spec() {
    let p = nesting_as_local("doubled", r#"{"xs": "List[int]"}"#, r#"{"xs": [1, 2, 3]}"#);
    assert_eq!(
        ran(&p),
        [
            "n0 nesting.doubled_all",
            "n0-dn0-n0 fanout.stats",
            "n0-dn1-n0 fanout.stats",
            "n0-dn2-n0 fanout.stats",
            "n0-dn3 fanout.total"
        ]
    );
    let spec = &p.futures[0].1;
    let names: Vec<&str> = spec
        .subworkflows
        .iter()
        .map(|w| w.id.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["on_cluster.fanout.inner"]);
}

/// A `@dynamic` body branching on a task's output: the spec's branch node takes the case its
/// condition picks, for each side of it.
#[test]
fn flytekits_dynamic_branches_take_the_case_their_condition_picks() {
    let p = nesting_as_local("bucketed", r#"{"xs": "List[int]"}"#, r#"{"xs": [5, 6]}"#);
    let tail: Vec<String> = ran(&p).into_iter().skip(1).collect();
    assert_eq!(
        tail,
        [
            "n0-dn0 fanout.total",
            "n0-dn1 nesting.is_big",
            "n0-dn2-dn0 nesting.square"
        ]
    );
    let p = nesting_as_local("bucketed", r#"{"xs": "List[int]"}"#, r#"{"xs": [1, 2]}"#);
    let tail: Vec<String> = ran(&p).into_iter().skip(1).collect();
    assert_eq!(
        tail,
        [
            "n0-dn0 fanout.total",
            "n0-dn1 nesting.is_big",
            "n0-dn2-dn1 nesting.double"
        ]
    );
}

/// A `@dynamic` body calling another: each inner dynamic node's container writes its own
/// `futures.pb`, whose graph runs under it (`n0-dn1-dn0`).
#[test]
fn flytekits_nested_dynamic_nodes_run_their_own_job_specs() {
    // n = 1: each pyflyte-execute takes a second or more.
    let p = nesting_as_local("nested", r#"{"n": "int"}"#, r#"{"n": 1}"#);
    assert_eq!(
        ran(&p),
        [
            "n0 nesting.sums_to",
            "n0-dn0 nesting.sum_to",
            "n0-dn0-dn0 nesting.double",
            "n0-dn0-dn1 fanout.total",
            "n0-dn1 fanout.total"
        ]
    );
    let at: Vec<&str> = p.futures.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(at, ["n0", "n0-dn0"]);
}

/// flytekit's `on_failure` under propeller's convention: the failing workflow's failure node
/// (`fn0`) runs `clean_up` with the workflow's input and `err`, which `pyflyte-execute` reads as
/// a `FlyteError` holding the failed node's error message and the failure node's own id; the
/// workflow still fails with the node's error.
#[test]
fn flytekits_failure_node_gets_the_error_as_propeller_passes_it() {
    use flyte_idl::core::{literal, scalar};

    let wf = &dynamic_package().workflows["on_cluster.hooks.download"];
    let fnode = wf.failure_node.as_ref().unwrap();
    assert_eq!(fnode.id, "fn0");
    let vars: Vec<&str> = fnode.inputs.iter().map(|b| b.var.as_str()).collect();
    assert_eq!(vars, ["err", "url"]);

    let mut p = dynamic_stand_in();
    let err = p
        .run(
            "on_cluster.hooks.download",
            encoded(r#"{"url": "str"}"#, r#"{"url": "x"}"#),
        )
        .unwrap_err();
    assert!(
        err.starts_with("node n0 (task on_cluster.hooks.fetch) failed on attempt 0"),
        "{err}"
    );
    let nodes: Vec<(&str, bool)> = p
        .attempts
        .iter()
        .map(|a| (a.node.as_str(), a.outcome == Outcome::Succeeded))
        .collect();
    assert_eq!(nodes, [("n0", false), ("fn0", true)], "{:#?}", p.attempts);
    let Outcome::Failed { code, message, .. } = &p.attempts[0].outcome else {
        unreachable!()
    };
    // flytekit 1.16 codes an exception a task raises `USER:RuntimeError`, whatever its class.
    assert_eq!(code, "USER:RuntimeError", "{message}");
    assert!(message.contains("x: not found"), "{message}");
    let error = p.error.clone().unwrap();
    assert_eq!((&error.code, &error.message), (code, message));

    let [(at, inputs)] = &p.failure_nodes[..] else {
        panic!("{:?}", p.failure_nodes)
    };
    assert_eq!(at, "fn0");
    assert_eq!(
        propeller::as_flyte_error(&inputs.literals["err"]),
        Some(("fn0".to_owned(), message.clone()))
    );
    let Some(literal::Value::Scalar(s)) = &inputs.literals["url"].value else {
        panic!("{inputs:?}")
    };
    assert!(matches!(&s.value, Some(scalar::Value::Primitive(_))), "{s:?}");
    // What `clean_up` read: flytekit's FlyteError of the same id and message.
    let seen = p.attempts[1]
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("on failure: "))
        .unwrap_or_else(|| panic!("{}", p.attempts[1].stderr));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(seen).unwrap(),
        serde_json::json!({"url": "x", "failed_node_id": "fn0", "message": message})
    );
}
