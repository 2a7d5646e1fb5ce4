//! A dynamic workflow's task container, by hand on `file://`: `execute_packaged` finds a task
//! that no workflow's graph holds by its package name among the program's tasks
//! (`registered_task`, map tasks' names too), and a dynamic task's attempt writes `futures.pb`
//! (a `core.DynamicJobSpec`) and no `outputs.pb`.

use std::collections::BTreeMap;

use flyte_cluster::execute::{execute_packaged, AttemptEnv, ExecuteArgs, Executed, FUTURES_FILE, OUTPUTS_FILE};
use flyte_cluster::literal::to_literal_map;
use flyte_cluster::package::{registered_task, stamp_identifiers};
use flyte_idl::core::{node, task_node, DynamicJobSpec};
use flyte_idl::prost::Message;
use flyte_runtime::{Encoded, SingleAttempt, Type};

mod pieces {
    use flytekit::{dynamic, task};

    #[task]
    pub fn inc(x: u64) -> u64 {
        x + 1
    }

    #[task]
    pub fn sum(xs: Vec<u64>) -> u64 {
        xs.iter().sum()
    }

    #[dynamic]
    pub fn incs(n: u64) -> u64 {
        let parts: Vec<_> = (0..n).map(|i| inc(i)).collect();
        sum(parts)
    }
}

#[test]
fn tasks_are_found_by_their_package_names() {
    let inc = registered_task("dynamic_spec.pieces.inc").unwrap();
    assert!(!inc.is_map());
    assert_eq!(inc.node().task_name(), "inc");
    // `map_task(inc)` without options, as flytekit names it (tests/flyte/README.md).
    let map = registered_task("dynamic_spec.pieces.map_inc_6b3bd0353da5de6e84d7982921ead2b3-arraynode").unwrap();
    assert!(map.is_map());
    assert_eq!(map.node().task_name(), "inc");
    assert!(registered_task("dynamic_spec.pieces.incs").unwrap().node().is_dynamic());
    for unknown in [
        "dynamic_spec.pieces.dec",
        "dynamic_spec.pieces.map_inc_nothex-arraynode",
        "dynamic_spec.pieces.map_incs_6b3bd0353da5de6e84d7982921ead2b3-arraynode",
        "pieces.inc",
    ] {
        assert!(registered_task(unknown).is_none(), "{unknown}");
    }
}

#[test]
fn a_dynamic_task_writes_futures_pb() {
    let dir = tempfile::tempdir().unwrap();
    let uri = |name: &str| format!("file://{}/{name}", dir.path().display());
    let n = Encoded::encode(&3u64).unwrap();
    let inputs = to_literal_map(&[("n", &n, &Type::Integer)]).unwrap();
    std::fs::write(dir.path().join("inputs.pb"), inputs.encode_to_vec()).unwrap();
    let args = ExecuteArgs::parse([
        "--task",
        "dynamic_spec.pieces.incs",
        "--inputs",
        &uri("inputs.pb"),
        "--output-prefix",
        &uri("out"),
        "--checkpoint-path",
        &uri("cp"),
        "--prev-checkpoint",
        "\"\"",
    ])
    .unwrap();
    let env = AttemptEnv::from_vars(|_| None).unwrap();
    let done = execute_packaged(&BTreeMap::new(), &args, SingleAttempt::new("e1", "n0", 1), &env).unwrap();
    assert_eq!(done, Executed::Futures);
    assert!(!dir.path().join("out").join(OUTPUTS_FILE).exists());
    let bytes = std::fs::read(dir.path().join("out").join(FUTURES_FILE)).unwrap();
    let mut spec = DynamicJobSpec::decode(&bytes[..]).unwrap();
    let ids: Vec<&str> = spec.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["dn0", "dn1", "dn2", "dn3"]);
    assert_eq!(spec.min_successes, 4);
    assert_eq!(spec.outputs.len(), 1);
    let names: Vec<&str> = spec
        .tasks
        .iter()
        .map(|t| t.id.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["dynamic_spec.pieces.inc", "dynamic_spec.pieces.sum"]);

    // Every identifier, the tasks' and the nodes' references, takes the execution's project
    // and domain and the task's version.
    stamp_identifiers(&mut spec, "flytesnacks", "development", "v7");
    let reference = |n: &flyte_idl::core::Node| match &n.target {
        Some(node::Target::TaskNode(t)) => match &t.reference {
            Some(task_node::Reference::ReferenceId(id)) => id.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    for id in spec
        .nodes
        .iter()
        .map(reference)
        .chain(spec.tasks.iter().map(|t| t.id.clone().unwrap()))
    {
        assert_eq!(
            (id.project.as_str(), id.domain.as_str(), id.version.as_str()),
            ("flytesnacks", "development", "v7"),
            "{}",
            id.name
        );
    }
}
