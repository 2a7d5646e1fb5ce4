//! The command line of a workflow binary (`flytekit::main`), driven as a real process: this test
//! binary re-executes itself as the program (the ignored test `program` runs `main_from` on the
//! arguments in `FLYTEKIT_CLI_ARGS`).
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use flytekit::{task, workflow, TaskContext, TaskError};
use serde_json::Value as Json;

const ARGS_VAR: &str = "FLYTEKIT_CLI_ARGS";

#[task]
fn greet(name: String) -> String {
    format!("hello {name}")
}

#[workflow]
fn hello(name: String) -> String {
    greet(name)
}

#[task(retries = 1)]
fn plus(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn add(a: u64, b: u64) -> u64 {
    plus(a, b)
}

#[task]
fn summarize(xs: Vec<f64>) -> (f64, usize) {
    let n = xs.len();
    (xs.iter().sum::<f64>() / n.max(1) as f64, n)
}

#[workflow]
fn stats(xs: Vec<f64>) -> (f64, usize) {
    summarize(xs)
}

#[task]
fn refuse(n: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{n} is refused")))
}

#[workflow]
fn breaks(n: u64) -> u64 {
    refuse(n)
}

#[task]
fn count(ctx: &TaskContext, n: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    let mut i: u64 = match cp.load_state()? {
        Some(i) => {
            eprintln!("resumed at step {i}");
            i
        }
        None => 0,
    };
    while i < n {
        std::thread::sleep(Duration::from_millis(1));
        i += 1;
        cp.save_state(&i)?;
        eprintln!("step {i}");
    }
    Ok(i)
}

#[workflow]
fn counting(n: u64) -> u64 {
    count(n)
}

/// Not a test: the program the other tests run.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return;
    };
    let argv = std::iter::once("wf").chain(args.split('\n').filter(|a| !a.is_empty()));
    let code = flytekit::main_from(
        argv,
        [hello.into(), add.into(), stats.into(), breaks.into(), counting.into()],
    );
    // Leave before the test harness prints anything more, with the status `main` would return
    // (an `ExitCode` does not tell its number, but compares equal to the one it was made from).
    let status = (0..=u8::MAX)
        .find(|&c| code == std::process::ExitCode::from(c))
        .unwrap_or(1);
    std::process::exit(i32::from(status));
}

fn program_command(store: &Path, args: &[&str]) -> Command {
    let mut all = vec!["--store", store.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "program",
        "--exact",
        "--ignored",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ])
    .env(ARGS_VAR, all.join("\n"))
    .stdin(Stdio::null());
    cmd
}

fn run(store: &Path, args: &[&str]) -> Output {
    program_command(store, args).output().unwrap()
}

/// What the program printed, without the line the test harness prints before it runs.
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

#[test]
fn help_lists_every_command_and_exits_zero() {
    let store = tempfile::tempdir().unwrap();
    let out = run(store.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    // Each command is listed on a line of its own, with what it does.
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_whitespace().next())
        .collect();
    for command in ["run", "resume", "executions", "show", "graph"] {
        assert!(listed.contains(&command), "{command} is not listed: {text}");
        let out = run(store.path(), &[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        assert!(
            stdout(&out).starts_with("Usage: wf ") || stdout(&out).contains("\nUsage: wf "),
            "{command}"
        );
    }
    let out = run(store.path(), &["run", "--help"]);
    assert!(stdout(&out).contains("--input <NAME=VALUE>"), "{}", stdout(&out));
}

#[test]
fn run_prints_the_outputs_as_json() {
    let store = tempfile::tempdir().unwrap();
    let out = run(store.path(), &["run", "add", "--input", "a=2", "--input", "b=40"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "42");
    assert!(stderr(&out).starts_with("execution x"), "{}", stderr(&out));

    let out = run(store.path(), &["run", "hello", "--input", "name=alice"]);
    assert_eq!(stdout(&out), r#""hello alice""#);
    // A value that reads as JSON but the input is text: the text is taken as written.
    let out = run(store.path(), &["run", "hello", "--input", "name=42"]);
    assert_eq!(stdout(&out), r#""hello 42""#);

    let out = run(store.path(), &["run", "stats", "--input", "xs=[1.5, 2.5, 5]"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json, serde_json::json!([3.0, 3]));
}

#[test]
fn off_a_terminal_progress_is_one_line_per_change_of_state() {
    let store = tempfile::tempdir().unwrap();
    let out = run(
        store.path(),
        &["run", "add", "--input", "a=2", "--input", "b=3", "--execution-id", "p"],
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("n0 ")).collect();
    assert_eq!(lines, ["n0 plus: running (attempt 1)", "n0 plus: succeeded"], "{err}");

    let out = run(store.path(), &["run", "breaks", "--input", "n=1"]);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("n0 ")).collect();
    assert_eq!(lines, ["n0 refuse: running (attempt 1)", "n0 refuse: failed"], "{err}");
}

#[test]
fn on_a_terminal_progress_is_redrawn_in_place() {
    // `script` gives the program a pseudo-terminal, as an interactive shell would.
    let store = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let inner = format!(
        "{} program --exact --ignored --nocapture --quiet --test-threads=1",
        exe.display()
    );
    let on_terminal = |args: String| {
        let out = Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env(ARGS_VAR, args)
            .stdin(Stdio::null())
            .output()
            .expect("util-linux `script`");
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dir = store.path().display();
    let screen = on_terminal(format!("--store\n{dir}\nrun\nadd\n--input\na=1\n--input\nb=2"));
    assert!(screen.contains("\x1b[2K"), "lines are cleared and redrawn: {screen:?}");
    assert!(screen.contains("n0 plus running (attempt 1)"), "{screen:?}");
    assert!(screen.contains("n0 plus succeeded"), "{screen:?}");
    assert!(
        !screen.contains("n0 plus: succeeded"),
        "no plain lines on a terminal: {screen:?}"
    );

    // A checkpointing task shows when it last committed.
    let screen = on_terminal(format!("--store\n{dir}\nrun\ncounting\n--input\nn=30"));
    let shown = screen
        .split("n0 count running (attempt 1), last checkpoint at ")
        .nth(1)
        .expect("the last checkpoint's time");
    assert!(humantime::parse_rfc3339(&shown[..20]).is_ok(), "{screen:?}");
}

#[test]
fn input_errors_name_the_input_and_its_type() {
    let store = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["run", "add", "--input", "a=x", "--input", "b=1"],
            "error: input `a` of workflow `add` expects `u64`: invalid type: string \"x\", expected u64",
        ),
        // Valid JSON of the wrong shape: the message is about the JSON, not its text.
        (
            &["run", "add", "--input", "a=[1]", "--input", "b=1"],
            "error: input `a` of workflow `add` expects `u64`: invalid type: sequence, expected u64",
        ),
        (
            &["run", "add", "--input", "a=1"],
            "error: missing input `b` (`u64`) of workflow `add`: add `--input b=...`",
        ),
        (
            &["run", "add", "--input", "a=1", "--input", "b=2", "--input", "c=3"],
            "error: unknown input `c`: workflow `add` has inputs a: u64, b: u64",
        ),
        (
            &["run", "add", "--input", "a=1", "--input", "a=2"],
            "error: input `a` is given twice",
        ),
        (
            &["run", "add", "--input", "a"],
            "error: `--input a` needs a value: write `--input a=...`",
        ),
        (
            &["run", "subtract"],
            "error: unknown workflow `subtract`: this program has hello, add, stats, breaks, counting",
        ),
    ];
    for (args, message) in cases {
        let out = run(store.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), message, "{args:?}");
        assert_eq!(stdout(&out), "");
    }
    // Nothing was run.
    let out = run(store.path(), &["executions", "--json"]);
    assert_eq!(stdout(&out), "[]");
}

#[test]
fn a_failed_run_exits_one_with_a_one_line_cause() {
    let store = tempfile::tempdir().unwrap();
    let out = run(
        store.path(),
        &["run", "breaks", "--input", "n=7", "--execution-id", "b1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: workflow `breaks` failed (execution b1): node n0 (task `refuse`)"),
        "{last}"
    );
    assert!(last.ends_with("7 is refused"), "{last}");

    let out = run(store.path(), &["show", "b1"]);
    assert_eq!(out.status.code(), Some(1), "show says the execution failed");
    assert!(stdout(&out).contains("7 is refused"), "{}", stdout(&out));
}

#[test]
fn executions_and_show_print_tables_or_json() {
    let store = tempfile::tempdir().unwrap();
    run(
        store.path(),
        &["run", "add", "--input", "a=1", "--input", "b=2", "--execution-id", "e1"],
    );
    run(
        store.path(),
        &["run", "breaks", "--input", "n=1", "--execution-id", "e2"],
    );

    let out = run(store.path(), &["executions"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with("ID  WORKFLOW  STATUS     STARTED"),
        "{text}"
    );
    assert!(text.contains("\ne1  add       succeeded"), "{text}");
    assert!(text.contains("\ne2  breaks    failed"), "{text}");

    let out = run(store.path(), &["executions", "--json"]);
    let rows: Vec<Json> = serde_json::from_str(&stdout(&out)).unwrap();
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["workflow"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(summary, [("e2", "breaks", "failed"), ("e1", "add", "succeeded")]);
    assert!(rows
        .iter()
        .all(|r| r["started"].as_str().unwrap().ends_with('Z') && r["duration_ms"].is_u64()));

    let out = run(store.path(), &["show", "e1", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "succeeded");
    let node = &report["nodes"][0];
    assert_eq!((node["id"].as_str(), node["task"].as_str()), (Some("n0"), Some("plus")));
    assert_eq!(node["attempts"], 1);
    assert_eq!(node["cache_hit"], false);
    assert_eq!(node["checkpoint_bytes"], 0);
    assert!(node["last_error"].is_null());

    let out = run(store.path(), &["show", "e1"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("execution e1 of `add`: succeeded\nNODE  TASK  STATUS     ATTEMPTS"),
        "{text}"
    );

    let out = run(store.path(), &["show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no execution `nope` in "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn graph_draws_dot_and_mermaid() {
    let store = tempfile::tempdir().unwrap();
    let out = run(store.path(), &["graph", "add", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("digraph \"add\" {"), "{}", stdout(&out));
    assert!(stdout(&out).contains(r#"n0 [label="plus\nretries 1"];"#));
    let out = run(store.path(), &["graph", "add"]);
    assert!(stdout(&out).starts_with("flowchart LR"), "mermaid is the default");
    let out = run(store.path(), &["graph", "add", "--format", "png"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_run_killed_mid_task_resumes_by_id_alone() {
    let store = tempfile::tempdir().unwrap();
    let mut child = program_command(
        store.path(),
        &["run", "counting", "--input", "n=400", "--execution-id", "long"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    let mut progressed = false;
    for line in err.lines().map_while(Result::ok) {
        if line == "step 20" {
            progressed = true;
            break;
        }
    }
    assert!(progressed, "the run reached step 20");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let out = run(store.path(), &["executions", "--json"]);
    let rows: Vec<Json> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        rows[0]["status"], "running",
        "a killed run is left running (interrupted)"
    );

    let out = run(store.path(), &["resume", "long"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "400");
    let resumed = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("resumed at step "))
        .map(|k| k.parse::<u64>().unwrap())
        .expect("the task resumed from its checkpoint");
    assert!(resumed >= 20, "resumed at {resumed}");

    let out = run(store.path(), &["show", "long", "--json"]);
    let report: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["nodes"][0]["attempts"], 2);
    assert!(report["nodes"][0]["checkpoint_bytes"].as_u64().unwrap() > 0);

    let out = run(store.path(), &["resume", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}
