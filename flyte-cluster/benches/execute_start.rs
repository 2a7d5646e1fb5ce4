//! Start-up of a task container, ours against flytekit's, in the same run: the time from
//! spawning the container's command to the first line of the task's body, for a task reading
//! one integer from `inputs.pb` on S3 (moto's server on loopback, as in the propeller
//! stand-in), then the whole container to its exit with `outputs.pb` written.
//!
//! `cargo bench -p flyte-cluster --bench execute_start`. Ours is this bench binary started again
//! as the container (`execute_task` for a `#[task]`, release build): the workflow binary's
//! `execute` will do the same plus parsing its command line. flytekit's is `pyflyte-execute`
//! with its default resolver on a module holding the same task. Each side's task body writes
//! the wall-clock time at its first line to a file; medians of ROUNDS containers.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[path = "../../tests/support/flytekit.rs"]
mod flytekit_reference;

use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use flyte_cluster::execute::{execute_task, AttemptEnv, ExecuteArgs, Executed};
use flyte_cluster::storage::Location;
use flyte_idl::core::{literal, primitive, scalar, Literal, LiteralMap, Primitive, Scalar};
use flyte_idl::prost::Message;
use flytekit::task;

const ROUNDS: usize = 9;
const CONTAINER: &str = "FLYTEKIT_BENCH_CONTAINER";
const MARK: &str = "FLYTEKIT_BENCH_MARK";

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

#[task]
fn first_line(x: u64) -> u64 {
    std::fs::write(std::env::var(MARK).unwrap(), now_ns().to_string()).unwrap();
    x + 1
}

const PYTHON_TASK: &str = r#"
import os, time
from flytekit import task

@task
def first_line(x: int) -> int:
    with open(os.environ["FLYTEKIT_BENCH_MARK"], "w") as f:
        f.write(str(time.time_ns()))
    return x + 1
"#;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    if let Ok(json) = std::env::var(CONTAINER) {
        let args: Vec<String> = serde_json::from_str(&json).unwrap();
        let args = ExecuteArgs::parse(args).unwrap();
        let env = AttemptEnv::from_env().unwrap();
        let done = execute_task(&first_line, &args, env.single_attempt(&args.task), &env.worker).unwrap();
        assert_eq!(done, Executed::Outputs);
        return;
    }
    let server = s3::S3::shared();
    let bucket = server.new_bucket("start");
    let inputs = LiteralMap {
        literals: [(
            "x".to_owned(),
            Literal {
                value: Some(literal::Value::Scalar(Box::new(Scalar {
                    value: Some(scalar::Value::Primitive(Primitive {
                        value: Some(primitive::Value::Integer(41)),
                    })),
                }))),
                ..Default::default()
            },
        )]
        .into(),
    };
    let inputs_uri = format!("{bucket}/inputs.pb");
    Location::parse(&inputs_uri)
        .unwrap()
        .write(&inputs.encode_to_vec())
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("bench_start.py"), PYTHON_TASK).unwrap();
    let mark = work.path().join("mark");
    let reference = flytekit_reference::Reference::get();
    let pyflyte_execute = reference.python().parent().unwrap().join("pyflyte-execute");

    let mut sides: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![("ours", vec![], vec![]), ("flytekit", vec![], vec![])];
    for round in 0..ROUNDS {
        for (side, to_first, to_exit) in sides.iter_mut() {
            let out = format!("{bucket}/{side}/{round}");
            let flags = [
                "--inputs".to_owned(),
                inputs_uri.clone(),
                "--output-prefix".to_owned(),
                out.clone(),
                "--raw-output-data-prefix".to_owned(),
                format!("{out}/raw"),
                "--checkpoint-path".to_owned(),
                format!("{out}/_flytecheckpoints"),
                "--prev-checkpoint".to_owned(),
                "\"\"".to_owned(),
            ];
            let mut cmd = if *side == "ours" {
                let mut args = vec!["--task".to_owned(), "bench_start.first_line".to_owned()];
                args.extend(flags.iter().cloned());
                let mut cmd = Command::new(std::env::current_exe().unwrap());
                cmd.env(CONTAINER, serde_json::to_string(&args).unwrap());
                cmd
            } else {
                let mut cmd = Command::new(&pyflyte_execute);
                cmd.args(&flags).args([
                    "--resolver",
                    "flytekit.core.python_auto_container.default_task_resolver",
                    "--",
                    "task-module",
                    "bench_start",
                    "task-name",
                    "first_line",
                ]);
                cmd
            };
            cmd.envs(server.env())
                .env(MARK, &mark)
                .env("PYTHONPATH", work.path())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("FLYTE_ATTEMPT_NUMBER", "0")
                .env("FLYTE_INTERNAL_EXECUTION_ID", "bench")
                .current_dir(work.path());
            let _ = std::fs::remove_file(&mark);
            let spawned_ns = now_ns();
            let t = Instant::now();
            let status = cmd.status().unwrap();
            let exited = t.elapsed().as_secs_f64();
            assert!(status.success(), "{side}: {status}");
            let first: u128 = std::fs::read_to_string(&mark).unwrap().parse().unwrap();
            to_first.push((first - spawned_ns) as f64 / 1e6);
            to_exit.push(exited * 1e3);
            assert!(Location::parse(&format!("{out}/outputs.pb"))
                .unwrap()
                .read_if_exists()
                .unwrap()
                .is_some());
        }
    }
    let [(_, ours_first, ours_exit), (_, py_first, py_exit)] = [sides.remove(0), sides.remove(0)];
    let (of, oe, pf, pe) = (median(ours_first), median(ours_exit), median(py_first), median(py_exit));
    println!(
        "task container start-up, S3 on loopback (moto {}), median of {ROUNDS}:",
        s3::MOTO_VERSION
    );
    println!(
        "  to the task's first line: ours {of:>7.1} ms   flytekit {pf:>7.1} ms   flytekit/ours {:.0}",
        pf / of
    );
    println!(
        "  to exit, outputs.pb written: ours {oe:>7.1} ms   flytekit {pe:>7.1} ms   flytekit/ours {:.0}",
        pe / oe
    );
}
