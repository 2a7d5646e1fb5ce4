//! A command line for a workflow binary: `flytekit::main([..])` in `main`, and the program can
//! run, resume, list, show and draw its workflows' executions.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use flyte_runtime::__private::Values;
use flyte_runtime::{Error, Graph, Literal, LocalRuntime, Status, Store, Workflow};
use serde_json::{json, Value as Json};

/// A workflow registered with [`main`]. Made from any workflow with `.into()`.
pub struct Registered(Box<dyn Entry>);

impl<W: Workflow + Copy> From<W> for Registered {
    fn from(workflow: W) -> Self {
        Registered(Box::new(workflow))
    }
}

/// What the command line needs of a workflow, whatever its types.
trait Entry {
    fn name(&self) -> &'static str;
    /// Each input's name and Rust type.
    fn inputs(&self) -> Vec<(&'static str, &'static str)>;
    fn graph(&self) -> Result<Graph, Error>;
    /// Runs (or resumes) execution `id` on the inputs as written on the command line, one per
    /// input in order, and returns the outputs as JSON.
    fn run_json(&self, rt: &LocalRuntime, id: &str, raw: Vec<String>) -> Result<Json, Failure>;
    /// Resumes execution `id` on the inputs the store kept.
    fn resume(&self, rt: &LocalRuntime, id: &str, inputs: &[Literal]) -> Result<Json, Failure>;
}

/// Why a command failed: its one-line cause and the exit status.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// The command line was used wrongly (an input, a name): status 2, as clap's own errors.
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 2,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // One line, whatever the error's message holds.
        let message = e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ");
        Failure { message, code: 1 }
    }
}

impl<W: Workflow + Copy> Entry for W {
    fn name(&self) -> &'static str {
        Workflow::name(self)
    }

    fn inputs(&self) -> Vec<(&'static str, &'static str)> {
        self.input_names().iter().copied().zip(W::Input::type_names()).collect()
    }

    fn graph(&self) -> Result<Graph, Error> {
        Workflow::graph(self)
    }

    fn run_json(&self, rt: &LocalRuntime, id: &str, raw: Vec<String>) -> Result<Json, Failure> {
        // Each value is read as JSON; one that then does not fit its input is taken as the
        // text it was written as (`--input name=42` for a `String`).
        let mut values: Vec<Json> = raw
            .iter()
            .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Json::String(r.clone())))
            .collect();
        // What the value read as JSON was refused for: the message to show if the text fails too.
        let mut refused: Vec<Option<String>> = vec![None; values.len()];
        let input = loop {
            match W::Input::from_json(values.clone()) {
                Ok(input) => break input,
                Err((i, message)) => {
                    let text = Json::String(raw[i].clone());
                    if values[i] == text {
                        let (name, ty) = Entry::inputs(self)[i];
                        let message = refused[i].take().unwrap_or(message);
                        return Err(Failure::usage(format!(
                            "input `{name}` of workflow `{}` expects `{ty}`: {message}",
                            Entry::name(self)
                        )));
                    }
                    refused[i] = Some(message);
                    values[i] = text;
                }
            }
        };
        eprintln!("execution {id}");
        let output = rt.run_with_id(id, *self, input)?;
        outputs_json(&output)
    }

    fn resume(&self, rt: &LocalRuntime, id: &str, inputs: &[Literal]) -> Result<Json, Failure> {
        let input = W::Input::decode(inputs).map_err(Error::from)?;
        let output = rt.run_with_id(id, *self, input)?;
        outputs_json(&output)
    }
}

fn outputs_json<S, O: Values<S>>(output: &O) -> Result<Json, Failure> {
    let mut values = output.to_json().map_err(|m| Failure {
        message: format!("the outputs cannot be written as JSON: {m}"),
        code: 1,
    })?;
    Ok(match values.len() {
        0 => Json::Null,
        1 => values.remove(0),
        _ => Json::Array(values),
    })
}

#[derive(Parser, Debug)]
#[command(
    about = "Run, resume and inspect this program's workflows",
    disable_help_subcommand = true
)]
struct Cli {
    /// The store's directory [default: $FLYTEKIT_HOME, or .flytekit in the working directory]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workflow; prints its outputs as JSON
    Run {
        /// The workflow's name
        workflow: String,
        /// An input, as JSON (a bare word is a string): --input n=3 --input name=alice
        #[arg(long = "input", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// The execution's id: run the same id again to resume it [default: a new one]
        #[arg(long)]
        execution_id: Option<String>,
    },
    /// Resume an execution by id, on the inputs it was started with
    Resume {
        /// The execution's id
        execution_id: String,
    },
    /// List the store's executions
    Executions {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one execution's nodes: status, attempts, last error, duration, checkpoint, cache
    Show {
        /// The execution's id
        execution_id: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Draw a workflow's graph
    Graph {
        /// The workflow's name
        workflow: String,
        /// dot (Graphviz) or mermaid (Markdown viewers)
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Dot,
    Mermaid,
}

/// The whole program of a workflow binary: parses the command line and runs the command.
///
/// ```no_run
/// use flytekit::{task, workflow};
///
/// #[task]
/// fn greet(name: String) -> String {
///     format!("hello {name}")
/// }
///
/// #[workflow]
/// fn hello(name: String) -> String {
///     greet(name)
/// }
///
/// fn main() -> std::process::ExitCode {
///     // `my-binary run hello --input name=alice`, `my-binary executions`, ...
///     flytekit::main([hello.into()])
/// }
/// ```
///
/// Exit status: 0 on success; 1 when a run fails or the store cannot be used; 2 for a command
/// line that is wrong (an unknown workflow or input, an input of the wrong type). Every error is
/// one line on stderr.
pub fn main(workflows: impl IntoIterator<Item = Registered>) -> ExitCode {
    main_from(std::env::args_os(), workflows)
}

/// [`main`] with the arguments given (the first is the program's name), for tests and for
/// programs that build their own command line.
pub fn main_from(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    workflows: impl IntoIterator<Item = Registered>,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let workflows: Vec<Registered> = workflows.into_iter().collect();
    match command(cli, &workflows) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn find<'w>(workflows: &'w [Registered], name: &str) -> Result<&'w dyn Entry, Failure> {
    workflows
        .iter()
        .map(|w| &*w.0)
        .find(|w| w.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = workflows.iter().map(|w| w.0.name()).collect();
            Failure::usage(format!(
                "unknown workflow `{name}`: this program has {}",
                names.join(", ")
            ))
        })
}

fn command(cli: Cli, workflows: &[Registered]) -> Result<(), Failure> {
    let dir = cli.store.unwrap_or_else(Store::default_dir);
    match cli.command {
        Command::Run {
            workflow,
            inputs,
            execution_id,
        } => {
            let entry = find(workflows, &workflow)?;
            let values = parse_inputs(entry, &inputs)?;
            let rt = LocalRuntime::with_store(&dir)?;
            watch(entry)?;
            let id = execution_id.unwrap_or_else(new_id);
            let out = entry.run_json(&rt, &id, values)?;
            println!("{out}");
        }
        Command::Resume { execution_id } => {
            let store = Store::open(&dir)?;
            let Some(report) = store.execution(&execution_id)? else {
                return Err(Failure::usage(format!(
                    "no execution `{execution_id}` in {}",
                    dir.display()
                )));
            };
            let workflow = report.summary.workflow;
            let entry = find(workflows, &workflow)?;
            let inputs = store.inputs(&execution_id)?.ok_or_else(|| Failure {
                message: format!(
                    "execution `{execution_id}` was recorded before the store kept inputs: resume it with \
                     `run {workflow} --execution-id {execution_id}` and the inputs it was started with"
                ),
                code: 1,
            })?;
            drop(store);
            let rt = LocalRuntime::with_store(&dir)?;
            watch(entry)?;
            let out = entry.resume(&rt, &execution_id, &inputs)?;
            println!("{out}");
        }
        Command::Executions { json } => {
            let runs = Store::open(&dir)?.executions()?;
            if json {
                let rows: Vec<Json> = runs
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "workflow": r.workflow,
                            "status": r.status.to_string(),
                            "started": rfc3339(r.started),
                            "duration_ms": r.ended.map(|e| millis(span(r.started, e))),
                        })
                    })
                    .collect();
                println!("{}", Json::Array(rows));
            } else {
                let rows = runs.iter().map(|r| {
                    vec![
                        r.id.clone(),
                        r.workflow.clone(),
                        r.status.to_string(),
                        rfc3339(r.started),
                        r.ended.map_or_else(|| "-".to_owned(), |e| human(span(r.started, e))),
                    ]
                });
                print!("{}", table(&["ID", "WORKFLOW", "STATUS", "STARTED", "DURATION"], rows));
            }
        }
        Command::Show { execution_id, json } => {
            let Some(report) = Store::open(&dir)?.execution(&execution_id)? else {
                return Err(Failure::usage(format!(
                    "no execution `{execution_id}` in {}",
                    dir.display()
                )));
            };
            let last_error = |n: &flyte_runtime::NodeReport| n.attempts.iter().rev().find_map(|a| a.cause.clone());
            if json {
                let nodes: Vec<Json> = report
                    .nodes
                    .iter()
                    .map(|n| {
                        json!({
                            "id": n.id,
                            "task": n.task,
                            "status": n.status.to_string(),
                            "attempts": n.attempts.len(),
                            "last_error": last_error(n),
                            "duration_ms": n.duration.map(millis),
                            "checkpoint_bytes": n.checkpoint_bytes,
                            "cache_hit": n.cache_hit,
                        })
                    })
                    .collect();
                let s = &report.summary;
                let out = json!({
                    "id": s.id,
                    "workflow": s.workflow,
                    "status": s.status.to_string(),
                    "error": report.error,
                    "nodes": nodes,
                });
                println!("{out}");
            } else {
                let s = &report.summary;
                println!("execution {} of `{}`: {}", s.id, s.workflow, s.status);
                let rows = report.nodes.iter().map(|n| {
                    vec![
                        n.id.clone(),
                        n.task.clone(),
                        n.status.to_string(),
                        n.attempts.len().to_string(),
                        n.duration.map_or_else(|| "-".to_owned(), human),
                        n.checkpoint_bytes.to_string(),
                        if n.cache_hit { "hit" } else { "-" }.to_owned(),
                        last_error(n).unwrap_or_else(|| "-".to_owned()),
                    ]
                });
                let head = [
                    "NODE",
                    "TASK",
                    "STATUS",
                    "ATTEMPTS",
                    "DURATION",
                    "CHECKPOINT",
                    "CACHE",
                    "LAST ERROR",
                ];
                print!("{}", table(&head, rows));
                if report.summary.status == Status::Failed {
                    return Err(Failure {
                        message: report.error.unwrap_or_else(|| "the execution failed".to_owned()),
                        code: 1,
                    });
                }
            }
        }
        Command::Graph { workflow, format } => {
            let graph = find(workflows, &workflow)?.graph()?;
            match format {
                Format::Dot => print!("{}", graph.to_dot()),
                Format::Mermaid => print!("{}", graph.to_mermaid()),
            }
        }
    }
    Ok(())
}

/// Shows the run's progress on stderr, from the runtime's tracing events. A program that
/// installed its own global subscriber keeps it, and goes without the view.
fn watch(entry: &dyn Entry) -> Result<(), Failure> {
    use tracing_subscriber::layer::SubscriberExt;
    let view = crate::progress::Progress::new(&entry.graph()?);
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(view));
    Ok(())
}

/// The values of `name=value` pairs, in the workflow's input order.
fn parse_inputs(entry: &dyn Entry, pairs: &[String]) -> Result<Vec<String>, Failure> {
    let expected = entry.inputs();
    let list = || {
        expected
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut values: Vec<Option<String>> = vec![None; expected.len()];
    for pair in pairs {
        let Some((name, raw)) = pair.split_once('=') else {
            return Err(Failure::usage(format!(
                "`--input {pair}` needs a value: write `--input {pair}=...`"
            )));
        };
        let Some(i) = expected.iter().position(|(n, _)| *n == name) else {
            let inputs = if expected.is_empty() {
                "no inputs".to_owned()
            } else {
                format!("inputs {}", list())
            };
            return Err(Failure::usage(format!(
                "unknown input `{name}`: workflow `{}` has {inputs}",
                entry.name()
            )));
        };
        if values[i].is_some() {
            return Err(Failure::usage(format!("input `{name}` is given twice")));
        }
        values[i] = Some(raw.to_owned());
    }
    values
        .into_iter()
        .zip(&expected)
        .map(|(v, (name, ty))| {
            v.ok_or_else(|| {
                Failure::usage(format!(
                    "missing input `{name}` (`{ty}`) of workflow `{}`: add `--input {name}=...`",
                    entry.name()
                ))
            })
        })
        .collect()
}

fn new_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("x{:x}-{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

fn span(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration to the millisecond, as `1m 3s 250ms`.
fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(millis(d))).to_string()
}

/// Left-aligned columns, two spaces apart.
fn table(head: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(head.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
