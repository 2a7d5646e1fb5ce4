//! The command line of a workflow binary (`flytekit::main`), driven as a real process: this test
//! binary re-executes itself as the program (the ignored test `program` runs `main_from` on the
//! arguments in `FLYTEKIT_CLI_ARGS`, one a line, or in the JSON file `FLYTEKIT_CLI_ARGS_FILE`
//! names: an argument with a newline, or longer than the 128 KiB Linux allows one).
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::versions;
use flytekit::{task, workflow, TaskContext, TaskError};
use serde_json::Value as Json;

const ARGS_VAR: &str = "FLYTEKIT_CLI_ARGS";
const ARGS_FILE_VAR: &str = "FLYTEKIT_CLI_ARGS_FILE";

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
fn words(file: flytekit::FlyteFile) -> Result<(u64, flytekit::FlyteFile), TaskError> {
    let n = std::fs::read_to_string(file.path())?.split_whitespace().count() as u64;
    Ok((n, file))
}

#[workflow]
fn count_words(file: flytekit::FlyteFile) -> (u64, flytekit::FlyteFile) {
    words(file)
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

#[task]
fn negate(n: i64) -> i64 {
    -n
}

#[workflow]
fn negative(n: i64) -> i64 {
    negate(n)
}

/// Commits two checkpoint versions on its first attempt and fails; a later attempt returns
/// what it resumed from.
#[task]
fn two_versions(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 1 {
        cp.write(b"first")?;
        cp.write(b"second")?;
        return Err(TaskError::non_recoverable("stopped after two commits"));
    }
    Ok(match cp.read()? {
        Some(bytes) => String::from_utf8(bytes)?,
        None => "<none>".to_owned(),
    })
}

#[workflow]
fn versioned() -> String {
    two_versions()
}

#[task]
fn keep(x: u64) -> u64 {
    x
}

#[task]
fn halve(x: u64) -> u64 {
    x / 2
}

#[workflow]
fn sorted(x: u64) -> u64 {
    if x > 10 {
        halve(x)
    } else {
        keep(x)
    }
}

/// Not a test: the program the other tests run.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    let args: Vec<String> = if let Ok(file) = std::env::var(ARGS_FILE_VAR) {
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    } else if let Ok(args) = std::env::var(ARGS_VAR) {
        args.split('\n').filter(|a| !a.is_empty()).map(str::to_owned).collect()
    } else {
        return;
    };
    let argv = std::iter::once("wf".to_owned()).chain(args);
    let code = flytekit::main_from(
        argv,
        [
            hello.into(),
            add.into(),
            stats.into(),
            breaks.into(),
            counting.into(),
            negative.into(),
            versioned.into(),
            sorted.into(),
            count_words.into(),
        ],
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
    let mut cmd = common::program_command();
    cmd.env(ARGS_VAR, all.join("\n"));
    cmd
}

fn run(store: &Path, args: &[&str]) -> Output {
    program_command(store, args).output().unwrap()
}

/// [`run`] with the arguments passed in a file written into `scratch`: for arguments that
/// hold a newline, or that are too long for an environment variable.
fn run_from_file(scratch: &Path, store: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--store", store.to_str().unwrap()];
    all.extend_from_slice(args);
    let file = scratch.join("args.json");
    std::fs::write(&file, serde_json::to_vec(&all).unwrap()).unwrap();
    common::program_command().env(ARGS_FILE_VAR, &file).output().unwrap()
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

/// A file input is given as its path; a file output is printed as its path and remote.
#[test]
fn a_file_is_given_and_printed_as_its_path() {
    let store = tempfile::tempdir().unwrap();
    let text = store.path().join("text.txt");
    std::fs::write(&text, "one two three").unwrap();
    let given = format!("file={}", text.display());
    let out = run(store.path(), &["run", "count_words", "--input", &given]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Json = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json, serde_json::json!([3, {"path": text, "remote": null}]));

    let out = run(store.path(), &["run", "count_words", "--input", "file=/no/such/file"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such file or directory"), "{}", stderr(&out));
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
            "error: unknown workflow `subtract`: this program has hello, add, stats, breaks, counting, negative, \
             versioned, sorted, count_words",
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
    let event = &report["nodes"][0]["events"][0];
    assert_eq!(
        (&event["kind"], &event["attempt"]),
        (&Json::from("interrupted"), &Json::from(1))
    );

    // The table lists the interruption under the nodes.
    let out = run(store.path(), &["show", "long"]);
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l
            == "n0 attempt 1: interrupted: the process running this attempt stopped before it finished \
                (system failure 1 of at most 3)"),
        "{text}"
    );

    let out = run(store.path(), &["resume", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

/// What a refused or read-only command must leave: no store directory.
fn assert_no_store(store: &Path, what: &str) {
    assert!(!store.exists(), "{what} created {}", store.display());
}

#[test]
fn refused_and_read_only_commands_create_no_store() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let dir = store.display();
    let refused: [(&[&str], String); 9] = [
        (&["run", "subtract"], "error: unknown workflow `subtract`: ".to_owned()),
        (
            &["run", "add", "--input", "a=x", "--input", "b=1"],
            "error: input `a` of workflow `add` expects `u64`: ".to_owned(),
        ),
        (&["run", "add", "--input", "a=1"], "error: missing input `b`".to_owned()),
        (
            &["run", "add", "--input", "a=1", "--input", "b=2", "--input", "c=3"],
            "error: unknown input `c`".to_owned(),
        ),
        (
            &[
                "run",
                "add",
                "--input",
                "a=1",
                "--input",
                "b=2",
                "--execution-id",
                "../up",
            ],
            "error: invalid execution id `../up`: use 1 to 128 ASCII letters, digits, `-`, `_` or `.`, \
             not starting with `.`"
                .to_owned(),
        ),
        (
            &[
                "run",
                "add",
                "--input",
                "a=1",
                "--input",
                "b=2",
                "--execution-id",
                ".hidden",
            ],
            "error: invalid execution id `.hidden`: ".to_owned(),
        ),
        (&["show", "nope"], format!("error: no execution `nope` in {dir}")),
        (
            &["show", "nope", "--json"],
            format!("error: no execution `nope` in {dir}"),
        ),
        (&["resume", "nope"], format!("error: no execution `nope` in {dir}")),
    ];
    for (args, message) in refused {
        let out = run(&store, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with(&message), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}");
        assert_no_store(&store, &format!("{args:?}"));
    }

    let out = run(&store, &["executions", "--json"]);
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "[]".to_owned()));
    let out = run(&store, &["executions"]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), format!("no executions in {dir}"))
    );
    let out = run(&store, &["graph", "add"]);
    assert_eq!(out.status.code(), Some(0));
    assert_no_store(&store, "executions and graph");

    // A run that is accepted creates the store.
    let out = run(&store, &["run", "add", "--input", "a=1", "--input", "b=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(store.join("flytekit.db").is_file(), "the store was created");
}

#[test]
fn an_execution_id_with_a_newline_is_refused_on_one_line() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let args = [
        "run",
        "add",
        "--input",
        "a=1",
        "--input",
        "b=2",
        "--execution-id",
        "p1\nn0 plus: succeeded",
    ];
    let out = run_from_file(root.path(), &store, &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: invalid execution id `p1\\nn0 plus: succeeded`: use 1 to 128 ASCII letters, digits, `-`, `_` or \
         `.`, not starting with `.`"
    );
    assert_eq!(stdout(&out), "");
    assert_no_store(&store, "a run with a bad id");

    // Looked up, such an id is an unknown execution, also shown on one line.
    let out = run_from_file(root.path(), &store, &["show", "a\nb"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("error: no execution `a\\nb` in {}", store.display())
    );

    // An id longer than 128 bytes is cut in the message.
    let long = "i".repeat(200);
    let out = run(
        &store,
        &[
            "run",
            "add",
            "--input",
            "a=1",
            "--input",
            "b=2",
            "--execution-id",
            &long,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let expected = format!(
        "error: invalid execution id `{}… (200 characters)`: use 1 to 128",
        "i".repeat(64)
    );
    assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
    assert_no_store(&store, "a run with a long id");
}

#[test]
fn a_huge_input_value_is_cut_in_its_error() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let huge = "x".repeat(1 << 20);
    let a = format!("a={huge}");
    let out = run_from_file(root.path(), &store, &["run", "add", "--input", &a, "--input", "b=1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.len() < 300, "{} bytes: {}", err.len(), &err[..err.len().min(400)]);
    assert_eq!(
        err,
        format!(
            "error: input `a` of workflow `add` expects `u64`: invalid type: string \"{}…\" (1048576 characters), \
             expected u64",
            "x".repeat(64)
        )
    );

    // As a JSON string, with escapes: the length counts the characters, not their escapes.
    let quoted = format!("a=\"{}\"", "\\n".repeat(1 << 19));
    let out = run_from_file(
        root.path(),
        &store,
        &["run", "add", "--input", &quoted, "--input", "b=1"],
    );
    let err = stderr(&out);
    assert_eq!(
        err,
        format!(
            "error: input `a` of workflow `add` expects `u64`: invalid type: string \"{}…\" (524288 characters), \
             expected u64",
            "\\n".repeat(32)
        )
    );

    // Cut on a character boundary: each `é` is two bytes.
    let accents = format!("a={}", "é".repeat(300));
    let out = run(&store, &["run", "add", "--input", &accents, "--input", "b=1"]);
    assert_eq!(
        stderr(&out),
        format!(
            "error: input `a` of workflow `add` expects `u64`: invalid type: string \"{}…\" (300 characters), \
             expected u64",
            "é".repeat(64)
        )
    );

    // A huge unknown input name, or a huge `--input` without a value, is cut too.
    let name = format!("{huge}=1");
    for (args, start) in [
        (["run", "add", "--input", name.as_str()], "error: unknown input `xxxx"),
        (["run", "add", "--input", huge.as_str()], "error: `--input xxxx"),
    ] {
        let out = run_from_file(root.path(), &store, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            err.len() < 300 && err.starts_with(start),
            "{}",
            &err[..err.len().min(400)]
        );
        assert!(err.contains("… (1048576 characters)"), "{err}");
    }
    assert_no_store(&store, "a huge input");
}

#[test]
fn an_integer_out_of_range_is_called_too_large_or_too_small() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let cases = [
        (
            "add",
            "a=99999999999999999999",
            "input `a` of workflow `add` expects `u64`: 99999999999999999999 is too large (at most 18446744073709551615)",
        ),
        (
            "add",
            "a=18446744073709551616",
            "input `a` of workflow `add` expects `u64`: 18446744073709551616 is too large (at most 18446744073709551615)",
        ),
        ("add", "a=-1", "input `a` of workflow `add` expects `u64`: -1 is too small (at least 0)"),
        (
            "negative",
            "n=-99999999999999999999",
            "input `n` of workflow `negative` expects `i64`: -99999999999999999999 is too small (at least \
             -9223372036854775808)",
        ),
        (
            "negative",
            "n=9223372036854775808",
            "input `n` of workflow `negative` expects `i64`: 9223372036854775808 is too large (at most \
             9223372036854775807)",
        ),
        // A float for an integer input: not an integer, whatever its size.
        (
            "add",
            "a=1.5",
            "input `a` of workflow `add` expects `u64`: invalid type: floating point `1.5`, expected u64",
        ),
        (
            "add",
            "a=1e3",
            "input `a` of workflow `add` expects `u64`: invalid type: floating point `1000.0`, expected u64",
        ),
        (
            "negative",
            "n=-2.5e30",
            "input `n` of workflow `negative` expects `i64`: invalid type: floating point `-2.5e+30`, expected i64",
        ),
    ];
    for (workflow, input, message) in cases {
        let mut args = vec!["run", workflow, "--input", input];
        if workflow == "add" {
            args.extend(["--input", "b=1"]);
        }
        let out = run(&store, &args);
        assert_eq!(out.status.code(), Some(2), "{input}");
        assert_eq!(stderr(&out), format!("error: {message}"), "{input}");
    }
    assert_no_store(&store, "an input out of range");

    // In range, both ends.
    let out = run(&store, &["run", "negative", "--input", "n=-9223372036854775807"]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "9223372036854775807".to_owned())
    );
}

#[test]
fn show_lists_a_checkpoint_fallback_in_the_table_and_in_json() {
    let store = tempfile::tempdir().unwrap();
    let out = run(store.path(), &["run", "versioned", "--execution-id", "v1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ckpt = store.path().join("executions").join("v1").join("n0");
    let found = versions(&ckpt);
    assert_eq!(found.len(), 2, "{found:?}");
    // Damage the newest version between the failed attempt and the resume.
    let mut bytes = std::fs::read(&found[1]).unwrap();
    *bytes.last_mut().unwrap() ^= 0xff;
    std::fs::write(&found[1], bytes).unwrap();

    let out = run(store.path(), &["resume", "v1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), r#""first""#, "the resume fell back to the first version");

    let message = format!(
        "checkpoint {} is corrupted: checksum mismatch; resuming from the newest intact checkpoint, {}",
        found[1].display(),
        found[0].display()
    );
    // The live view says so while it happens, between the attempt starting and succeeding.
    let view = stderr(&out);
    let lines: Vec<&str> = view.lines().collect();
    let fallback = format!("n0 two_versions: checkpoint fallback: {message}");
    let at = lines
        .iter()
        .position(|l| *l == fallback)
        .unwrap_or_else(|| panic!("no `{fallback}` in:\n{view}"));
    assert_eq!(lines[at - 1], "n0 two_versions: running (attempt 2)", "{view}");
    assert_eq!(lines[at + 1], "n0 two_versions: succeeded", "{view}");
    let out = run(store.path(), &["show", "v1"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let (table, events) = text.split_once("\n\n").expect("events under the table");
    assert!(
        table.starts_with("execution v1 of `versioned`: succeeded\nNODE"),
        "{text}"
    );
    assert_eq!(
        events,
        format!("execution: resumed: execution run again\nn0 attempt 2: checkpoint-fallback: {message}")
    );

    let out = run(store.path(), &["show", "v1", "--json"]);
    let report: Json = serde_json::from_str(&stdout(&out)).unwrap();
    let events = report["nodes"][0]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "checkpoint-fallback");
    assert_eq!(events[0]["attempt"], 2);
    assert_eq!(events[0]["message"], message.as_str());
    assert!(humantime::parse_rfc3339(events[0]["at"].as_str().unwrap()).is_ok());
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["kind"], &events[0]["attempt"]),
        (&Json::from("resumed"), &Json::Null)
    );
}

#[test]
fn a_branch_says_which_way_it_went_in_the_view_and_in_show() {
    let store = tempfile::tempdir().unwrap();
    let out = run(
        store.path(),
        &["run", "sorted", "--input", "x=4", "--execution-id", "b1"],
    );
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "4".to_owned()),
        "{}",
        stderr(&out)
    );
    let view = stderr(&out);
    let lines: Vec<&str> = view.lines().collect();
    assert!(
        lines.contains(&"n0 branch: took its `else` (case 1): no condition held"),
        "{view}"
    );
    assert!(
        lines.contains(&"n1 halve: skipped (its case of the branch was not taken)"),
        "{view}"
    );
    assert!(lines.contains(&"n2 keep: succeeded"), "{view}");
    assert!(!view.contains("n3"), "the branch's output node has no line: {view}");

    let out = run(store.path(), &["show", "b1"]);
    let text = stdout(&out);
    let status = |node: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{node} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    assert_eq!(status("n0").as_deref(), Some("succeeded"), "{text}");
    assert_eq!(status("n1").as_deref(), Some("skipped"), "{text}");
    assert_eq!(status("n2").as_deref(), Some("succeeded"), "{text}");
    assert!(
        text.contains("n0: branch-taken: took its `else` (case 1): no condition held"),
        "{text}"
    );
}
