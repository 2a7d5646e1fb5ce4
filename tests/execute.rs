//! `execute` (flytekit's cargo feature `cluster`) as a Flyte task container: the real example
//! binary `examples/on_cluster.rs`, built with `--features cluster`, packages its workflows with
//! its own `package` subcommand, and the propeller stand-in (`support/propeller.rs`) runs that
//! package against S3 on loopback (`support/s3.rs`, moto), each attempt of each task one
//! process of the binary's `execute` (the image's entry point). The example is also included
//! here as a module, to run the same workflows on the local runtime and compare.

#[path = "support/s3.rs"]
mod s3;

#[path = "support/propeller.rs"]
mod propeller;

#[path = "support/flytekit.rs"]
mod flytekit_reference;

#[path = "../examples/on_cluster.rs"]
mod on_cluster;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use flyte_cluster::literal::{from_literal_map, to_literal_map};
use flyte_idl::core::{task_template, LiteralMap};
use flytekit::{Encoded, LocalRuntime, Workflow};
use propeller::{Outcome, Package, Propeller};

/// The example binary, built once per test process with the feature `cluster` into this
/// build's target directory (cargo builds only the example; the libraries are this test's).
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/execute-<hash>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let target = profile_dir.parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = std::process::Command::new(cargo)
            .args(["build", "--offline", "--example", "on_cluster", "--features", "cluster"])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo build --example on_cluster --features cluster:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = target.join("debug").join("examples").join("on_cluster");
        assert!(bin.exists(), "{}", bin.display());
        bin
    })
}

/// The binary's `package`, read back, made once per process.
fn package() -> &'static Package {
    static PKG: OnceLock<Package> = OnceLock::new();
    PKG.get_or_init(|| {
        Package::made_by(|tgz| {
            let out = std::process::Command::new(binary())
                .args(["package", "--image", "example.com/on-cluster:1", "--output"])
                .arg(tgz)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        })
    })
}

/// Where the containers run: one directory for the test process, under the target directory
/// (the containers write nothing there; a temporary directory kept for each test piled up).
fn containers_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("execute-containers");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The stand-in over `pkg`, the binary as every container's entry point.
fn stand_in(pkg: &Package) -> Propeller<'_> {
    let server = s3::S3::shared();
    let root = server.new_bucket("execute");
    let env = server.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut p = Propeller::new(pkg, root, env);
    p.entrypoint = Some(binary().to_path_buf());
    p.cwd = containers_dir().to_path_buf();
    p
}

/// `values` as the inputs of `workflow`, a `core.LiteralMap` made by our literals.
fn inputs<W: Workflow>(workflow: &W, values: &[Encoded]) -> LiteralMap {
    let interface = workflow.interface().unwrap();
    let slots: Vec<_> = interface
        .inputs
        .iter()
        .zip(values)
        .map(|((name, ty), value)| (name.as_str(), value, ty))
        .collect();
    to_literal_map(&slots).unwrap()
}

/// The outputs of `workflow` as the stand-in gave them, decoded.
fn outputs<W: Workflow>(workflow: &W, map: &LiteralMap) -> Vec<Encoded> {
    let interface = workflow.interface().unwrap();
    let slots: Vec<_> = interface.outputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    from_literal_map(map, &slots).unwrap()
}

fn enc<T: serde::Serialize>(value: T) -> Encoded {
    Encoded::encode(&value).unwrap()
}

fn summary(p: &Propeller<'_>) -> Vec<String> {
    p.attempts
        .iter()
        .map(|a| match &a.outcome {
            Outcome::Succeeded => format!("{} {}: ok", a.node, a.number),
            Outcome::Failed {
                code,
                recoverable,
                user,
                ..
            } => format!("{} {}: {code} recoverable={recoverable} user={user}", a.node, a.number),
            Outcome::Died(status) => format!("{} {}: died ({status})", a.node, a.number),
        })
        .collect()
}

fn message(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Failed { message, .. } => message,
        other => panic!("not a failure: {other:?}"),
    }
}

/// The last step a `train` attempt says it handed to its writer (its stderr).
fn last_handed(stderr: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("step ")?.strip_suffix(" handed over")?.parse().ok())
        .unwrap_or_else(|| panic!("no step handed over in:\n{stderr}"))
}

/// The seed fails twice, recoverably; each retry is a new process that resumes from the S3
/// checkpoint of the attempt before it, and the third returns the right result.
#[test]
fn the_seed_fails_twice_and_resumes_from_its_s3_checkpoints() {
    let mut p = stand_in(package());
    let out = p
        .run(
            "on_cluster.seed.example",
            inputs(&on_cluster::seed::example, &[enc(9u64)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(outputs(&on_cluster::seed::example, &out)[0].decode::<u64>().unwrap(), 9);
    assert_eq!(
        summary(&p),
        [
            "n0 0: USER:Recoverable recoverable=true user=true",
            "n0 1: USER:Recoverable recoverable=true user=true",
            "n0 2: ok"
        ]
    );
    assert_eq!(message(&p.attempts[0].outcome), "failed at iteration 3");
    assert_eq!(message(&p.attempts[1].outcome), "failed at iteration 6");
    // FLYTE_ATTEMPT_NUMBER (from 0) is the context's attempt (from 1); each attempt starts
    // where the one before it stopped, from `--prev-checkpoint`.
    for (a, line) in p.attempts.iter().zip([
        "attempt 1: starting at iteration 0",
        "attempt 2: starting at iteration 3",
        "attempt 3: starting at iteration 6",
    ]) {
        assert!(a.stderr.contains(line), "{line:?} in {}", a.stderr);
    }
    assert_eq!(p.attempts[0].prev_checkpoint, "\"\"");
    assert_eq!(p.attempts[1].prev_checkpoint, p.attempts[0].checkpoint);
    assert_eq!(p.attempts[2].prev_checkpoint, p.attempts[1].checkpoint);
    assert_eq!(
        LocalRuntime::new().run(on_cluster::seed::example, 9).unwrap(),
        9,
        "the local runtime agrees"
    );
}

/// An error the task calls non-recoverable is not retried, although the task has 3 retries:
/// one attempt, its kind and message in `error.pb`.
#[test]
fn a_non_recoverable_error_is_not_retried() {
    let mut p = stand_in(package());
    let err = p
        .run(
            "on_cluster.strict.checked",
            inputs(&on_cluster::strict::checked, &[enc(-4i64)]),
        )
        .unwrap_err();
    assert!(err.contains("on_cluster.strict.validate"), "{err}");
    assert_eq!(summary(&p), ["n0 0: USER:NonRecoverable recoverable=false user=true"]);
    assert_eq!(message(&p.attempts[0].outcome), "-4 is negative");
    assert!(
        p.attempts[0]
            .stderr
            .contains("error: task `on_cluster.strict.validate` attempt 1: USER:NonRecoverable: -4 is negative"),
        "{}",
        p.attempts[0].stderr
    );
}

/// A panic is not retried either: `USER:Panic`, non-recoverable, with the panic's message.
/// The same workflow with a divisor succeeds.
#[test]
fn a_panic_is_not_retried() {
    let mut p = stand_in(package());
    p.run(
        "on_cluster.strict.ratio",
        inputs(&on_cluster::strict::ratio, &[enc(7u64), enc(0u64)]),
    )
    .unwrap_err();
    assert_eq!(summary(&p), ["n0 0: USER:Panic recoverable=false user=true"]);
    let text = message(&p.attempts[0].outcome);
    assert!(text.contains("cannot divide 7 by zero"), "{text}");

    let mut p = stand_in(package());
    let out = p
        .run(
            "on_cluster.strict.ratio",
            inputs(&on_cluster::strict::ratio, &[enc(7u64), enc(2u64)]),
        )
        .unwrap();
    assert_eq!(outputs(&on_cluster::strict::ratio, &out)[0].decode::<u64>().unwrap(), 3);
}

/// SIGKILL in the middle of the loop (a pod lost with its node): no `error.pb`, a system
/// failure the stand-in retries; the next attempt resumes from the last checkpoint the killed
/// process uploaded, which is at most the last step it handed to its writer (the writer may not
/// have committed the latest).
#[test]
fn a_sigkilled_attempt_resumes_from_the_last_checkpoint_it_uploaded() {
    let mut p = stand_in(package());
    p.signal = Box::new(|a| (a.number == 0).then_some((Duration::from_millis(400), "KILL")));
    let out = p
        .run(
            "on_cluster.training.training",
            inputs(&on_cluster::training::training, &[enc(400u64)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(summary(&p), ["n0 0: died (signal: 9 (SIGKILL))", "n0 1: ok"]);
    let resumed = outputs(&on_cluster::training::training, &out)[0]
        .decode::<u64>()
        .unwrap();
    let handed = last_handed(&p.attempts[0].stderr);
    assert!(
        resumed > 0 && resumed <= handed && handed < 400,
        "resumed from {resumed}, last handed over {handed}"
    );
    assert!(
        p.attempts[1]
            .stderr
            .contains(&format!("attempt 2: starting at step {resumed}")),
        "{}",
        p.attempts[1].stderr
    );
}

/// SIGTERM in the middle of the loop (Kubernetes deleting the pod): a notice, not a kill. The
/// task sees it and returns; the state it last handed to its writer is uploaded before the
/// process exits, `error.pb` says `SYSTEM:Interrupted` (recoverable, the system's), and the next
/// attempt starts from exactly that state: no step is done twice (issue 15, item 3).
#[test]
fn after_sigterm_the_next_attempt_resumes_from_the_latest_state() {
    let mut p = stand_in(package());
    p.signal = Box::new(|a| (a.number == 0).then_some((Duration::from_millis(400), "TERM")));
    let out = p
        .run(
            "on_cluster.training.training",
            inputs(&on_cluster::training::training, &[enc(400u64)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    assert_eq!(
        summary(&p),
        ["n0 0: SYSTEM:Interrupted recoverable=true user=false", "n0 1: ok"]
    );
    let handed = last_handed(&p.attempts[0].stderr);
    assert!(handed > 0 && handed < 400, "{handed}");
    let text = message(&p.attempts[0].outcome);
    assert!(text.contains(&format!("preempted after step {handed}")), "{text}");
    let resumed = outputs(&on_cluster::training::training, &out)[0]
        .decode::<u64>()
        .unwrap();
    assert_eq!(resumed, handed, "zero steps redone");
}

/// A map over a task: the array node's elements each run the map task's container (`--map`,
/// the whole lists as inputs, the index in `FLYTE_K8S_ARRAY_INDEX`) and write one element's
/// outputs, which the stand-in gathers as propeller does; the result is the local runtime's.
#[test]
fn a_map_runs_one_container_per_element_with_the_local_runtimes_result() {
    let mut p = stand_in(package());
    let xs = vec![1u64, 2, 3, 4];
    let out = p
        .run(
            "on_cluster.fanout.squares",
            inputs(&on_cluster::fanout::squares, &[enc(&xs)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let local = LocalRuntime::new().run(on_cluster::fanout::squares, xs).unwrap();
    assert_eq!(local, 30);
    assert_eq!(
        outputs(&on_cluster::fanout::squares, &out)[0].decode::<u64>().unwrap(),
        local
    );
    assert_eq!(
        summary(&p),
        ["n0-0 0: ok", "n0-1 0: ok", "n0-2 0: ok", "n0-3 0: ok", "n1 0: ok"]
    );
    let map_task = &p.attempts[0].task;
    assert!(
        map_task.starts_with("on_cluster.fanout.map_square_") && map_task.ends_with("-arraynode"),
        "{map_task}"
    );
    let Some(task_template::Target::Container(c)) = &package().tasks[map_task].target else {
        unreachable!()
    };
    assert!(c.args.iter().any(|a| a == "--map"), "{:?}", c.args);
}

/// A sub-workflow called twice (once with a literal), its tuple outputs read by the caller:
/// the local runtime's result.
#[test]
fn sub_workflows_run_with_the_local_runtimes_result() {
    let mut p = stand_in(package());
    let out = p
        .run(
            "on_cluster.fanout.outer",
            inputs(&on_cluster::fanout::outer, &[enc(4u64)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let decoded = outputs(&on_cluster::fanout::outer, &out);
    let ours = (
        decoded[0].decode::<u64>().unwrap(),
        decoded[1].decode::<String>().unwrap(),
    );
    let local = LocalRuntime::new().run(on_cluster::fanout::outer, 4).unwrap();
    assert_eq!(ours, local);
    assert_eq!(ours, (28, "#4".to_owned()));
    assert_eq!(summary(&p), ["n0-n0 0: ok", "n1-n0 0: ok", "n2 0: ok"]);
}

/// A task name the program does not have (an image that is not the one registered): a
/// non-recoverable `error.pb` naming the tasks it has, one line on stderr, status 0.
#[test]
fn an_unknown_task_name_is_a_non_recoverable_error_naming_the_known_tasks() {
    let mut pkg = package().clone();
    let Some(task_template::Target::Container(c)) =
        &mut pkg.tasks.get_mut("on_cluster.strict.validate").unwrap().target
    else {
        unreachable!()
    };
    let at = c.args.iter().position(|a| a == "on_cluster.strict.validate").unwrap();
    c.args[at] = "on_cluster.strict.renamed".to_owned();
    let mut p = stand_in(&pkg);
    p.run(
        "on_cluster.strict.checked",
        inputs(&on_cluster::strict::checked, &[enc(4i64)]),
    )
    .unwrap_err();
    assert_eq!(summary(&p), ["n0 0: SYSTEM:UnknownTask recoverable=false user=false"]);
    let text = message(&p.attempts[0].outcome);
    assert!(
        text.starts_with("no task `on_cluster.strict.renamed` in this program"),
        "{text}"
    );
    // Every task the package holds, by the name it registered: the same walk found them.
    let mut known: Vec<&str> = package().tasks.keys().map(String::as_str).collect();
    known.sort_unstable();
    assert_eq!(known.len(), 15, "{known:?}");
    assert!(text.ends_with(&format!("its tasks are {}", known.join(", "))), "{text}");
    let stderr: Vec<&str> = p.attempts[0].stderr.lines().collect();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with("error: task `on_cluster.strict.renamed` attempt 1: SYSTEM:UnknownTask: no task"),
        "{stderr:?}"
    );
}

/// A dynamic workflow: `shard_all`'s container runs the body on the real list and writes the
/// graph it built as `futures.pb` (no `outputs.pb`); the stand-in runs that `DynamicJobSpec`
/// under the node, each task in a container of the binary (`process`, which only the body calls,
/// found by its package name), and the node's outputs are the spec's: the local runtime's
/// result.
#[test]
fn a_dynamic_workflow_runs_its_graph_with_the_local_runtimes_result() {
    use flyte_idl::core::{binding_data, node, scalar, task_node};

    let mut p = stand_in(package());
    let data = vec![1u64, 2, 3, 4, 5];
    let out = p
        .run(
            "on_cluster.shards.sharded",
            inputs(&on_cluster::shards::sharded, &[enc(data.clone())]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let ours = outputs(&on_cluster::shards::sharded, &out)[0].decode::<u64>().unwrap();
    let local = LocalRuntime::new().run(on_cluster::shards::sharded, data).unwrap();
    assert_eq!(ours, local);
    assert_eq!(ours, 15);
    // The dynamic node's one attempt, then its graph's nodes under it, in order.
    assert_eq!(
        summary(&p),
        [
            "n0 0: ok",
            "n0-dn0 0: ok",
            "n0-dn1 0: ok",
            "n0-dn2 0: ok",
            "n0-dn3 0: ok"
        ]
    );
    let tasks: Vec<&str> = p.attempts.iter().map(|a| a.task.as_str()).collect();
    assert_eq!(
        tasks,
        [
            "on_cluster.shards.shard_all",
            "on_cluster.shards.process",
            "on_cluster.shards.process",
            "on_cluster.shards.process",
            "on_cluster.fanout.total",
        ]
    );
    assert!(!package().tasks.contains_key("on_cluster.shards.process"));

    // The spec, as flytekit writes a @dynamic's: nodes dn0.., every node to succeed, the
    // chunks as literals (the body's values), the total bound to the three sums, and the
    // node's output to the total's.
    let [(at, spec)] = &p.futures[..] else {
        panic!("{:?}", p.futures)
    };
    assert_eq!(at, "n0");
    let ids: Vec<&str> = spec.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["dn0", "dn1", "dn2", "dn3"]);
    assert_eq!(spec.min_successes, 4);
    let mut names: Vec<&str> = spec
        .tasks
        .iter()
        .map(|t| t.id.as_ref().unwrap().name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["on_cluster.fanout.total", "on_cluster.shards.process"]);
    for t in &spec.tasks {
        let Some(task_template::Target::Container(c)) = &t.target else {
            unreachable!()
        };
        assert_eq!(c.args[..3], ["execute", "--task", t.id.as_ref().unwrap().name.as_str()]);
    }
    let ints = |b: &flyte_idl::core::BindingData| -> Vec<i64> {
        let Some(binding_data::Value::Collection(c)) = &b.value else {
            panic!("{b:?}")
        };
        c.bindings
            .iter()
            .map(|b| match &b.value {
                Some(binding_data::Value::Scalar(flyte_idl::core::Scalar {
                    value: Some(scalar::Value::Primitive(p)),
                })) => match p.value {
                    Some(flyte_idl::core::primitive::Value::Integer(i)) => i,
                    _ => panic!("{p:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let chunks: Vec<Vec<i64>> = spec.nodes[..3]
        .iter()
        .map(|n| {
            assert_eq!(n.inputs.len(), 1);
            assert_eq!(n.inputs[0].var, "shard");
            assert!(n.upstream_node_ids.is_empty());
            ints(n.inputs[0].binding.as_ref().unwrap())
        })
        .collect();
    assert_eq!(chunks, [vec![1, 2], vec![3, 4], vec![5]]);
    let total = &spec.nodes[3];
    assert_eq!(total.upstream_node_ids, ["dn0", "dn1", "dn2"]);
    let Some(node::Target::TaskNode(t)) = &total.target else {
        unreachable!()
    };
    let Some(task_node::Reference::ReferenceId(id)) = &t.reference else {
        unreachable!()
    };
    assert_eq!(id.name, "on_cluster.fanout.total");
    let Some(binding_data::Value::Collection(c)) = &total.inputs[0].binding.as_ref().unwrap().value else {
        unreachable!()
    };
    let promises: Vec<(String, String)> = c
        .bindings
        .iter()
        .map(|b| match &b.value {
            Some(binding_data::Value::Promise(p)) => (p.node_id.clone(), p.var.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        promises,
        [("dn0", "o0"), ("dn1", "o0"), ("dn2", "o0")].map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(spec.outputs.len(), 1);
    assert_eq!(spec.outputs[0].var, "o0");
    let Some(binding_data::Value::Promise(o)) = &spec.outputs[0].binding.as_ref().unwrap().value else {
        unreachable!()
    };
    assert_eq!((o.node_id.as_str(), o.var.as_str()), ("dn3", "o0"));
    assert!(spec.subworkflows.is_empty());
}

/// A map inside a dynamic body: the spec's array node runs the map task (with `--map`), which
/// no workflow's graph holds, one container per element, each finding it by its package name;
/// then `total` of the halves: the local runtime's result.
#[test]
fn a_map_in_a_dynamic_workflow_runs_its_elements() {
    let mut p = stand_in(package());
    let xs = vec![4u64, 6, 9];
    let out = p
        .run(
            "on_cluster.shards.halved",
            inputs(&on_cluster::shards::halved, &[enc(xs.clone())]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let ours = outputs(&on_cluster::shards::halved, &out)[0].decode::<u64>().unwrap();
    assert_eq!(ours, LocalRuntime::new().run(on_cluster::shards::halved, xs).unwrap());
    assert_eq!(ours, 2 + 3 + 4);
    assert_eq!(
        summary(&p),
        [
            "n0 0: ok",
            "n0-dn0-0 0: ok",
            "n0-dn0-1 0: ok",
            "n0-dn0-2 0: ok",
            "n0-dn1 0: ok"
        ]
    );
    let map_task = &p.attempts[1].task;
    assert!(
        map_task.starts_with("on_cluster.shards.map_halve_") && map_task.ends_with("-arraynode"),
        "{map_task}"
    );
    assert!(!package().tasks.contains_key(map_task));
    let (_, spec) = &p.futures[0];
    let template = spec
        .tasks
        .iter()
        .find(|t| &t.id.as_ref().unwrap().name == map_task)
        .unwrap();
    let Some(task_template::Target::Container(c)) = &template.target else {
        unreachable!()
    };
    assert!(c.args.iter().any(|a| a == "--map"), "{:?}", c.args);
    assert_eq!(c.image, "example.com/on-cluster:1");
}

/// Failures of a dynamic workflow: a body that returns a non-recoverable error writes that
/// `error.pb` (no `futures.pb`) and is not retried whatever its `retries`; a node of the graph
/// it built that fails (an element of its map) fails the dynamic node after the body
/// succeeded.
#[test]
fn a_dynamic_body_or_a_node_of_its_graph_fails_the_dynamic_node() {
    let mut p = stand_in(package());
    let err = p
        .run(
            "on_cluster.shards.halved",
            inputs(&on_cluster::shards::halved, &[enc(Vec::<u64>::new())]),
        )
        .unwrap_err();
    assert!(
        err.starts_with("node n0 (task on_cluster.shards.halve_all) failed on attempt 0"),
        "{err}"
    );
    assert_eq!(summary(&p), ["n0 0: USER:NonRecoverable recoverable=false user=true"]);
    assert_eq!(message(&p.attempts[0].outcome), "nothing to halve");
    assert!(p.futures.is_empty());

    let mut p = stand_in(package());
    let err = p
        .run(
            "on_cluster.shards.halved",
            inputs(&on_cluster::shards::halved, &[enc(vec![4u64, 0])]),
        )
        .unwrap_err();
    assert!(err.starts_with("array node n0-dn0: too many elements failed"), "{err}");
    assert_eq!(
        summary(&p),
        [
            "n0 0: ok",
            "n0-dn0-0 0: ok",
            "n0-dn0-1 0: USER:NonRecoverable recoverable=false user=true"
        ]
    );
    assert_eq!(message(&p.attempts[2].outcome), "there is no half of nothing");
    assert_eq!(p.futures.len(), 1);
}

/// The `futures.pb` of our dynamic task against the one flytekit's `pyflyte-execute` writes for
/// the Python twin (`tests/flyte/dynamic`, names as ours), both run by the stand-in on the same
/// inputs: the same `DynamicJobSpec`, field by field, once the differences that are the SDKs'
/// own are set aside (as `tests/flyte/README.md` normalises packages): a task's `type`
/// (`python-task`, ours `container`), its runtime's version and flavor, its container's args
/// reduced to the template-variable pairs (flytekit's start with `pyflyte-execute` and end with
/// its resolver and module; ours start with `execute --task NAME`), the order of the tasks
/// (sorted by name: flytekit lists them as its compiler met them) and of a node's
/// `upstream_node_ids` (sorted: flytekit writes a set's iteration order). Everything else is
/// compared as written: node ids, metadata, bindings (the chunks as literals, the total's
/// promises), task references and identifiers (project, domain, version), `min_successes`,
/// output bindings, and the tasks' interfaces, metadata, images, resources and environment.
#[test]
fn the_dynamic_job_spec_is_flytekits() {
    let data = enc(vec![1u64, 2, 3, 4, 5]);
    let mut ours = stand_in(package());
    ours.run(
        "on_cluster.shards.sharded",
        inputs(&on_cluster::shards::sharded, std::slice::from_ref(&data)),
    )
    .unwrap_or_else(|e| panic!("{e}\n{:#?}", ours.attempts));
    let theirs = flytekits_run(
        "on_cluster.shards.sharded",
        inputs(&on_cluster::shards::sharded, &[data]),
    );
    assert_eq!(
        outputs(&on_cluster::shards::sharded, &theirs.1)[0]
            .decode::<u64>()
            .unwrap(),
        15
    );
    assert_same_specs(&ours.futures, &theirs.0);
}

/// The `futures.pb` of a dynamic body that calls a sub-workflow, one that branches on a task's
/// output and one that calls another dynamic workflow (every spec the nested one's nodes
/// write), against flytekit's for the twins (`tests/flyte/dynamic/on_cluster/nesting.py`), as
/// [`the_dynamic_job_spec_is_flytekits`] compares them, with two more of the SDKs' own
/// differences set aside: a branch node's name (flytekit's is the `conditional`'s) and the
/// variable a dynamic task's container finds its settings in (flytekit's `_F_SS_C`, our
/// `FLYTEKIT_RS_IMAGE`). The same: the sub-workflow carried in `subworkflows` (its node ids
/// `dn0`.., as flytekit compiles it there), the branch node, its condition and its cases
/// (`dn0`, `dn1`), and the inner dynamic task's node and template.
#[test]
fn the_job_specs_of_nested_constructs_are_flytekits() {
    for (workflow, map) in [
        (
            "on_cluster.nesting.doubled",
            inputs(&on_cluster::nesting::doubled, &[enc(vec![1u64, 2])]),
        ),
        (
            "on_cluster.nesting.bucketed",
            inputs(&on_cluster::nesting::bucketed, &[enc(vec![5u64, 6])]),
        ),
        (
            "on_cluster.nesting.nested",
            inputs(&on_cluster::nesting::nested, &[enc(1u64)]),
        ),
    ] {
        let mut ours = stand_in(package());
        ours.run(workflow, map.clone())
            .unwrap_or_else(|e| panic!("{workflow}: {e}\n{:#?}", ours.attempts));
        let (theirs, _) = flytekits_run(workflow, map);
        assert_same_specs(&ours.futures, &theirs);
    }
}

/// The Python twins (`tests/flyte/dynamic`) packaged by pyflyte, once per process.
fn pyflyte_package() -> &'static Package {
    static PKG: OnceLock<Package> = OnceLock::new();
    PKG.get_or_init(|| {
        Package::made_by(|tgz| flytekit_reference::Reference::get().package_dynamic("example.com/on-cluster:1", tgz))
    })
}

/// Runs `workflow` of the Python twins through the stand-in, each task in flytekit's
/// `pyflyte-execute`: the specs their dynamic tasks wrote, and the outputs.
fn flytekits_run(workflow: &str, values: LiteralMap) -> (Vec<(String, flyte_idl::core::DynamicJobSpec)>, LiteralMap) {
    use flytekit_reference::Reference;

    let server = s3::S3::shared();
    let mut env: Vec<(String, String)> = server.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.push(("PYTHONPATH".to_owned(), Reference::dynamic_dir().display().to_string()));
    env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let mut theirs = Propeller::new(pyflyte_package(), server.new_bucket("pyflyte"), env);
    let bin = Reference::get().python().parent().unwrap().to_path_buf();
    theirs.program = Box::new(move |word| bin.join(word));
    theirs.cwd = Reference::dynamic_dir();
    let out = theirs
        .run(workflow, values)
        .unwrap_or_else(|e| panic!("{workflow}: {e}\n{:#?}", theirs.attempts));
    (theirs.futures, out)
}

/// Each of `ours` the same `DynamicJobSpec` as flytekit's of the same node, once the
/// differences that are the SDKs' own are set aside (see [`the_dynamic_job_spec_is_flytekits`]).
fn assert_same_specs(
    ours: &[(String, flyte_idl::core::DynamicJobSpec)],
    theirs: &[(String, flyte_idl::core::DynamicJobSpec)],
) {
    use flyte_idl::core::{DynamicJobSpec, TaskTemplate};

    fn normalized(mut spec: DynamicJobSpec) -> DynamicJobSpec {
        spec.tasks
            .sort_by(|a, b| a.id.as_ref().unwrap().name.cmp(&b.id.as_ref().unwrap().name));
        for t in &mut spec.tasks {
            normalize_task(t);
        }
        for n in &mut spec.nodes {
            n.upstream_node_ids.sort();
            // A branch's name is the SDK's: flytekit's `conditional("name")`, ours the node id.
            if matches!(n.target, Some(flyte_idl::core::node::Target::BranchNode(_))) {
                if let Some(m) = n.metadata.as_mut() {
                    m.name.clear();
                }
            }
        }
        spec
    }
    fn normalize_task(t: &mut TaskTemplate) {
        if t.r#type == "python-task" {
            t.r#type = "container".to_owned();
        }
        if let Some(runtime) = t.metadata.as_mut().and_then(|m| m.runtime.as_mut()) {
            runtime.version.clear();
            runtime.flavor.clear();
        }
        if let Some(task_template::Target::Container(c)) = t.target.as_mut() {
            let pairs: Vec<String> = c
                .args
                .windows(2)
                .filter(|w| w[0].starts_with("--") && w[1].starts_with("{{"))
                .flat_map(|w| w.to_vec())
                .collect();
            c.args = pairs;
            // How a dynamic task finds its settings when it runs: flytekit's serialization
            // settings (`_F_SS_C`), our image (`FLYTEKIT_RS_IMAGE`).
            c.env
                .retain(|kv| kv.key != "_F_SS_C" && kv.key != flyte_cluster::package::IMAGE_ENV);
        }
    }
    let at = |specs: &[(String, DynamicJobSpec)]| specs.iter().map(|(at, _)| at.clone()).collect::<Vec<_>>();
    assert_eq!(at(ours), at(theirs), "the dynamic nodes that wrote futures.pb");
    for ((at, ours), (_, theirs)) in ours.iter().zip(theirs) {
        let (ours, theirs) = (normalized(ours.clone()), normalized(theirs.clone()));
        let (a, b) = (format!("{ours:#?}"), format!("{theirs:#?}"));
        let differ: Vec<String> = a
            .lines()
            .zip(b.lines())
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| format!("line {i}: ours {} | flytekit's {}", x.trim(), y.trim()))
            .collect();
        assert!(
            ours == theirs,
            "{at}: {} lines against {}; first differences:\n{}",
            a.lines().count(),
            b.lines().count(),
            differ[..differ.len().min(20)].join("\n")
        );
    }
}

/// `execute` by hand, on `file://` prefixes, for a map task's element: the element the index
/// variables name (`BATCH_JOB_ARRAY_INDEX_VAR_NAME` -> `FLYTE_K8S_ARRAY_INDEX`, plus
/// `BATCH_JOB_ARRAY_INDEX_OFFSET`) is the one run, its single output written; an index outside
/// the lists, and `--map` on a task that is not a map task, are non-recoverable errors.
#[test]
fn a_map_element_is_the_one_the_index_names() {
    use flyte_idl::core::{container_error, ErrorDocument};
    use flyte_idl::prost::Message;
    use flytekit::Task;

    let square = on_cluster::fanout::square.interface().unwrap();
    let (input, element) = &square.inputs[0];
    let list = flytekit::Type::Collection(Box::new(element.clone()));
    let dir = tempfile::tempdir().unwrap();
    let uri = |name: &str| format!("file://{}/{name}", dir.path().display());
    let xs = enc(vec![3u64, 5]);
    let map = to_literal_map(&[(input.as_str(), &xs, &list)]).unwrap();
    std::fs::write(dir.path().join("inputs.pb"), map.encode_to_vec()).unwrap();
    let map_task = package()
        .tasks
        .keys()
        .find(|k| k.starts_with("on_cluster.fanout.map_square_"))
        .unwrap()
        .clone();
    let run = |task: &str, out: &str, env: &[(&str, &str)], map: bool| {
        let mut cmd = std::process::Command::new(binary());
        cmd.args(["execute", "--task", task, "--inputs", &uri("inputs.pb")])
            .args(["--output-prefix", &uri(out), "--raw-output-data-prefix", &uri("raw")])
            .args([
                "--checkpoint-path",
                &uri(&format!("{out}-cp")),
                "--prev-checkpoint",
                "\"\"",
            ])
            .args(map.then_some("--map"))
            .env_remove("FLYTE_K8S_ARRAY_INDEX")
            .env_remove("BATCH_JOB_ARRAY_INDEX_OFFSET")
            .env_remove("BATCH_JOB_ARRAY_INDEX_VAR_NAME")
            .envs(env.iter().copied());
        let done = cmd.output().unwrap();
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        dir.path().join(out)
    };
    let error = |out: &Path| {
        let doc = ErrorDocument::decode(&std::fs::read(out.join("error.pb")).unwrap()[..]).unwrap();
        let e = doc.error.unwrap();
        assert_eq!(e.kind, container_error::Kind::NonRecoverable as i32, "{e:?}");
        (e.code, e.message)
    };
    let named = ("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "FLYTE_K8S_ARRAY_INDEX");

    let out = run(&map_task, "one", &[named, ("FLYTE_K8S_ARRAY_INDEX", "1")], true);
    let outputs = LiteralMap::decode(&std::fs::read(out.join("outputs.pb")).unwrap()[..]).unwrap();
    let slots: Vec<_> = square.outputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let values = from_literal_map(&outputs, &slots).unwrap();
    assert_eq!(values[0].decode::<u64>().unwrap(), 25, "element 1 of [3, 5], squared");

    let out = run(
        &map_task,
        "beyond",
        &[
            named,
            ("FLYTE_K8S_ARRAY_INDEX", "1"),
            ("BATCH_JOB_ARRAY_INDEX_OFFSET", "1"),
        ],
        true,
    );
    assert_eq!(
        error(&out),
        (
            "SYSTEM:ArrayIndexOutOfRange".to_owned(),
            "the array index is 2, but the input `x` has 2 elements".to_owned()
        )
    );

    let out = run("on_cluster.fanout.square", "flag", &[], true);
    assert_eq!(
        error(&out),
        (
            "SYSTEM:UnknownTask".to_owned(),
            "task `on_cluster.fanout.square` is not a map task, but `--map` was given".to_owned()
        )
    );
}

/// `summary`'s lines of the attempts after the dynamic node's own, each with its task (without
/// `on_cluster.`).
fn graph_nodes(p: &Propeller<'_>) -> Vec<String> {
    p.attempts
        .iter()
        .skip(1)
        .map(|a| format!("{} {}", a.node, a.task.trim_start_matches("on_cluster.")))
        .collect()
}

/// A dynamic body calling a sub-workflow: the spec carries `inner` (`subworkflows`) and its
/// nodes' tasks, each call a workflow node that the stand-in runs under the dynamic node
/// (`n0-dn0-n0`), its `stats` in a container of the binary: the local runtime's result, and the
/// node paths flytekit's twin gives (`flyte-cluster/tests/propeller_reference.rs`).
#[test]
fn a_dynamic_body_calling_a_sub_workflow_runs_it_from_the_job_spec() {
    use flyte_idl::core::{node, workflow_node};

    let mut p = stand_in(package());
    let xs = vec![1u64, 2, 3];
    let out = p
        .run(
            "on_cluster.nesting.doubled",
            inputs(&on_cluster::nesting::doubled, &[enc(&xs)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let ours = outputs(&on_cluster::nesting::doubled, &out)[0].decode::<u64>().unwrap();
    assert_eq!(ours, LocalRuntime::new().run(on_cluster::nesting::doubled, xs).unwrap());
    assert_eq!(ours, 12);
    assert!(
        p.attempts.iter().all(|a| a.outcome == Outcome::Succeeded),
        "{:#?}",
        p.attempts
    );
    assert_eq!(
        graph_nodes(&p),
        [
            "n0-dn0-n0 fanout.stats",
            "n0-dn1-n0 fanout.stats",
            "n0-dn2-n0 fanout.stats",
            "n0-dn3 fanout.total"
        ]
    );
    let [(_, spec)] = &p.futures[..] else {
        panic!("{:?}", p.futures)
    };
    let names: Vec<&str> = spec
        .subworkflows
        .iter()
        .map(|w| w.id.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["on_cluster.fanout.inner"]);
    let Some(node::Target::WorkflowNode(w)) = &spec.nodes[0].target else {
        panic!("{:?}", spec.nodes[0])
    };
    let Some(workflow_node::Reference::SubWorkflowRef(id)) = &w.reference else {
        panic!("{w:?}")
    };
    assert_eq!(id.name, "on_cluster.fanout.inner");
}

/// A dynamic body branching on a task's output: the spec's branch node takes the case its
/// condition picks on `is_big`'s output, on each side of it, with the local runtime's result
/// and the node paths flytekit's twin gives.
#[test]
fn a_branch_in_a_dynamic_body_takes_the_case_its_condition_picks() {
    for (xs, expected, case) in [
        (vec![5u64, 6], 121, "n0-dn2-dn0 nesting.square"),
        (vec![1u64, 2], 6, "n0-dn2-dn1 nesting.double"),
    ] {
        let mut p = stand_in(package());
        let out = p
            .run(
                "on_cluster.nesting.bucketed",
                inputs(&on_cluster::nesting::bucketed, &[enc(&xs)]),
            )
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
        let ours = outputs(&on_cluster::nesting::bucketed, &out)[0]
            .decode::<u64>()
            .unwrap();
        assert_eq!(
            ours,
            LocalRuntime::new().run(on_cluster::nesting::bucketed, xs).unwrap()
        );
        assert_eq!(ours, expected);
        assert_eq!(
            graph_nodes(&p),
            ["n0-dn0 fanout.total", "n0-dn1 nesting.is_big", case],
            "{:#?}",
            p.attempts
        );
    }
}

/// A dynamic body calling another dynamic workflow: each inner dynamic node's container (the
/// binary's `execute` of `sum_to`, found by its package name) writes its own `futures.pb`,
/// which runs under it (`n0-dn1-dn0`): the local runtime's result, and node paths named as
/// flytekit's twin names them.
#[test]
fn a_dynamic_body_calling_a_dynamic_workflow_runs_each_graph_it_builds() {
    let mut p = stand_in(package());
    let out = p
        .run(
            "on_cluster.nesting.nested",
            inputs(&on_cluster::nesting::nested, &[enc(2u64)]),
        )
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", p.attempts));
    let ours = outputs(&on_cluster::nesting::nested, &out)[0].decode::<u64>().unwrap();
    assert_eq!(ours, LocalRuntime::new().run(on_cluster::nesting::nested, 2).unwrap());
    assert_eq!(ours, 2 + (2 + 4));
    assert!(
        p.attempts.iter().all(|a| a.outcome == Outcome::Succeeded),
        "{:#?}",
        p.attempts
    );
    assert_eq!(
        graph_nodes(&p),
        [
            "n0-dn0 nesting.sum_to",
            "n0-dn0-dn0 nesting.double",
            "n0-dn0-dn1 fanout.total",
            "n0-dn1 nesting.sum_to",
            "n0-dn1-dn0 nesting.double",
            "n0-dn1-dn1 nesting.double",
            "n0-dn1-dn2 fanout.total",
            "n0-dn2 fanout.total"
        ]
    );
    let at: Vec<&str> = p.futures.iter().map(|(at, _)| at.as_str()).collect();
    assert_eq!(at, ["n0", "n0-dn0", "n0-dn1"]);
    assert!(!package().tasks.contains_key("on_cluster.nesting.sum_to"));
}

/// `on_failure` on the cluster: the package's failure node `fn0` runs `clean_up` with the input
/// `err` (whatever the Rust parameter's name), which propeller fills with the workflow's error
/// as a `core.Error`; `execute` gives the task that as its `WorkflowFailure` (the error's
/// message, and the node id propeller names, its own `fn0`), and the workflow still fails with
/// the node's error. A workflow that succeeds runs no failure node.
#[test]
fn a_failing_workflow_runs_its_on_failure_task_with_the_error() {
    use flyte_idl::core::{literal_type, task_node};

    let wf = &package().workflows["on_cluster.hooks.download"];
    let fnode = wf.failure_node.as_ref().unwrap();
    let vars: Vec<&str> = fnode.inputs.iter().map(|b| b.var.as_str()).collect();
    assert_eq!((fnode.id.as_str(), vars), ("fn0", vec!["err", "url"]));
    let Some(flyte_idl::core::node::Target::TaskNode(t)) = &fnode.target else {
        unreachable!()
    };
    let Some(task_node::Reference::ReferenceId(id)) = &t.reference else {
        unreachable!()
    };
    let hook = &package().tasks[&id.name];
    let variables = &hook.interface.as_ref().unwrap().inputs.as_ref().unwrap().variables;
    let mut names: Vec<&str> = variables.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["err", "url"]);
    assert!(matches!(
        variables["err"].r#type.as_ref().unwrap().r#type,
        Some(literal_type::Type::UnionType(_))
    ));

    let mut p = stand_in(package());
    let err = p
        .run(
            "on_cluster.hooks.download",
            inputs(&on_cluster::hooks::download, &[enc("x")]),
        )
        .unwrap_err();
    assert!(
        err.starts_with("node n0 (task on_cluster.hooks.fetch) failed on attempt 0"),
        "{err}"
    );
    assert_eq!(
        summary(&p),
        ["n0 0: USER:NonRecoverable recoverable=false user=true", "fn0 0: ok"]
    );
    let error = p.error.clone().unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("USER:NonRecoverable", "x: not found")
    );
    let [(at, given)] = &p.failure_nodes[..] else {
        panic!("{:?}", p.failure_nodes)
    };
    assert_eq!(at, "fn0");
    assert_eq!(
        propeller::as_flyte_error(&given.literals["err"]),
        Some(("fn0".to_owned(), "x: not found".to_owned()))
    );
    let failure = flytekit::WorkflowFailure {
        execution: p.execution.clone(),
        workflow: "on_cluster.hooks.download".to_owned(),
        node: Some("fn0".to_owned()),
        task: None,
        message: "x: not found".to_owned(),
    };
    let line = format!("on failure of x: {failure:?}");
    assert!(
        p.attempts[1].stderr.contains(&line),
        "{line}\nnot in\n{}",
        p.attempts[1].stderr
    );
    assert!(LocalRuntime::new()
        .run(on_cluster::hooks::download, "x".to_owned())
        .is_err());

    let mut p = stand_in(package());
    let out = p
        .run(
            "on_cluster.hooks.download",
            inputs(&on_cluster::hooks::download, &[enc("https://a")]),
        )
        .unwrap();
    assert_eq!(
        outputs(&on_cluster::hooks::download, &out)[0]
            .decode::<String>()
            .unwrap(),
        "https://a"
    );
    assert_eq!(summary(&p), ["n0 0: ok"]);
    assert!(p.failure_nodes.is_empty());
}

/// `execute` of an `on_failure` task by hand, on `file://`, with an `err` that holds no error
/// (none, as the package binds it: the task run outside a failure node) or something else (a
/// string): a non-recoverable `USER:TypeError` saying so, and the task does not run.
#[test]
fn an_on_failure_task_without_an_error_is_a_non_recoverable_error() {
    use flyte_idl::core::{container_error, literal, primitive, scalar, ErrorDocument, Literal, Primitive, Scalar};
    use flyte_idl::prost::Message;

    let hook = package().workflows["on_cluster.hooks.download"]
        .failure_node
        .clone()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = |name: &str| format!("file://{}/{name}", dir.path().display());
    let string = |s: &str| Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(scalar::Value::Primitive(Primitive {
                value: Some(primitive::Value::StringValue(s.to_owned())),
            })),
        }))),
        ..Default::default()
    };
    // The package's own binding of `err`: a union holding none.
    let Some(flyte_idl::core::binding_data::Value::Scalar(none)) = &hook
        .inputs
        .iter()
        .find(|b| b.var == "err")
        .unwrap()
        .binding
        .as_ref()
        .unwrap()
        .value
    else {
        unreachable!()
    };
    let none = Literal {
        value: Some(literal::Value::Scalar(Box::new(none.clone()))),
        ..Default::default()
    };
    for (case, err, expected) in [
        ("none", none, "`err` holds no error"),
        ("string", string("boom"), "`err` is not an error"),
    ] {
        let map = LiteralMap {
            literals: [("url".to_owned(), string("x")), ("err".to_owned(), err)].into(),
        };
        std::fs::write(dir.path().join(format!("{case}.pb")), map.encode_to_vec()).unwrap();
        let done = std::process::Command::new(binary())
            .args([
                "execute",
                "--task",
                "on_cluster.hooks.clean_up",
                "--inputs",
                &uri(&format!("{case}.pb")),
            ])
            .args(["--output-prefix", &uri(case), "--raw-output-data-prefix", &uri("raw")])
            .args([
                "--checkpoint-path",
                &uri(&format!("{case}-cp")),
                "--prev-checkpoint",
                "\"\"",
            ])
            .output()
            .unwrap();
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!stderr.contains("on failure of"), "{stderr}");
        let doc = ErrorDocument::decode(&std::fs::read(dir.path().join(case).join("error.pb")).unwrap()[..]).unwrap();
        let e = doc.error.unwrap();
        assert_eq!(e.kind, container_error::Kind::NonRecoverable as i32, "{e:?}");
        assert_eq!(e.code, "USER:TypeError", "{e:?}");
        assert!(
            e.message
                .starts_with(&format!("the inputs of `on_cluster.hooks.clean_up`: {expected}")),
            "{case}: {}",
            e.message
        );
    }
}
