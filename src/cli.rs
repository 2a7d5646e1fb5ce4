//! A command line for a workflow binary: `flytekit::main([..])` in `main`, and the program can
//! run, resume, list, show and draw its workflows' executions (and, with the cargo feature
//! `cluster`, package them for a Flyte cluster and run their tasks' attempts there: `execute`).
//!
//! A command that refuses (a wrong command line) or only reads creates nothing: everything a
//! `run` is given is checked before the store is opened, and `show`, `executions` and `resume`
//! open a store only if one is there.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use flyte_runtime::__private::{escaped, shown, Values, SHOWN_CHARS};
use flyte_runtime::{Encoded, Error, Event, ExecutionReport, Graph, LocalRuntime, NodeReport, Status, Store, Workflow};
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
    /// Reads the inputs as written on the command line, one per input in order, and checks them
    /// against the workflow's types; touches no store.
    fn read_inputs(&self, raw: &[String]) -> Result<Vec<Encoded>, Failure>;
    /// Runs (or resumes) execution `id` on `inputs` and returns the outputs as JSON.
    fn run(&self, rt: &LocalRuntime, id: &str, inputs: &[Encoded]) -> Result<Json, Failure>;
    /// The workflow as the registration package takes it.
    #[cfg(feature = "cluster")]
    fn source(&self) -> Result<flyte_cluster::package::WorkflowSource, flyte_cluster::package::PackageError>;
}

/// Why a command failed: its cause and the exit status. The cause is printed on one line,
/// after `error: ` unless it is a preemption's (which is not an error of the program).
struct Failure {
    message: String,
    code: u8,
    preempted: bool,
}

impl Failure {
    /// A failure with status `code`.
    fn new(message: impl Into<String>, code: u8) -> Self {
        Failure {
            message: message.into(),
            code,
            preempted: false,
        }
    }

    /// The command line was used wrongly (an input, a name, an id): status 2, as clap's own.
    fn usage(message: impl Into<String>) -> Self {
        Failure::new(message, 2)
    }

    /// No execution `id` in the store at `dir` (or no store there at all).
    fn no_execution(id: &str, dir: &Path) -> Self {
        Failure::usage(format!(
            "no execution `{}` in {}",
            shown(id),
            escaped(&dir.display().to_string())
        ))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            // 130 for SIGINT, 143 for SIGTERM: what a shell reports for a process the signal
            // ended, so that a supervisor reads it the same way.
            Error::Preempted(p) => Failure {
                message: p.to_string(),
                code: p.notice.exit_status(),
                preempted: true,
            },
            e => Failure::new(e.to_string(), 1),
        }
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

    fn read_inputs(&self, raw: &[String]) -> Result<Vec<Encoded>, Failure> {
        let input = typed_inputs::<W>(raw).map_err(|(i, message)| {
            let (name, ty) = Entry::inputs(self).get(i).copied().unwrap_or(("?", "?"));
            let raw = raw.get(i).map_or("", String::as_str);
            let why = integer_out_of_range(raw, ty).unwrap_or_else(|| shorten_quoted(&message));
            Failure::usage(format!(
                "input `{name}` of workflow `{}` expects `{ty}`: {why}",
                Entry::name(self)
            ))
        })?;
        Ok(input.encode().map_err(Error::from)?)
    }

    fn run(&self, rt: &LocalRuntime, id: &str, inputs: &[Encoded]) -> Result<Json, Failure> {
        let input = W::Input::decode(inputs).map_err(Error::from)?;
        let output = rt.run_with_id(id, *self, input)?;
        outputs_json(&output)
    }

    #[cfg(feature = "cluster")]
    fn source(&self) -> Result<flyte_cluster::package::WorkflowSource, flyte_cluster::package::PackageError> {
        flyte_cluster::package::WorkflowSource::of(self)
    }
}

/// Reads each value as JSON; one that then does not fit its input is taken as the text it was
/// written as (`--input name=42` for a `String`). On failure, the input's index and what it was
/// refused for (as JSON if it read as JSON: that message is about what the user meant).
fn typed_inputs<W: Workflow>(raw: &[String]) -> Result<W::Input, (usize, String)> {
    let mut values: Vec<Json> = raw
        .iter()
        .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Json::String(r.clone())))
        .collect();
    let mut refused: Vec<Option<String>> = vec![None; values.len()];
    loop {
        let (i, message) = match W::Input::from_json(values.clone()) {
            Ok(input) => return Ok(input),
            Err(e) => e,
        };
        let (Some(value), Some(text)) = (values.get_mut(i), raw.get(i)) else {
            return Err((i, message));
        };
        let text = Json::String(text.clone());
        if *value == text {
            return Err((i, refused[i].take().unwrap_or(message)));
        }
        refused[i] = Some(message);
        *value = text;
    }
}

fn outputs_json<S, O: Values<S>>(output: &O) -> Result<Json, Failure> {
    let mut values = output
        .to_json()
        .map_err(|m| Failure::new(format!("the outputs cannot be written as JSON: {m}"), 1))?;
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
        #[command(flatten)]
        grace: Grace,
    },
    /// Resume an execution by id, on the inputs it was started with
    Resume {
        /// The execution's id
        execution_id: String,
        #[command(flatten)]
        grace: Grace,
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
        /// Draw inside each dynamic node the graph it built in this execution
        #[arg(long, value_name = "ID")]
        execution: Option<String>,
    },
    /// Write the registration package a Flyte cluster takes (`flytectl register files --archive`)
    #[cfg(feature = "cluster")]
    Package {
        /// The container image the tasks run in: this program, as its entry point
        #[arg(long, value_name = "IMAGE")]
        image: String,
        /// Where to write the package
        #[arg(long, value_name = "FILE", default_value = "flyte-package.tgz")]
        output: PathBuf,
        /// The workflows to package, with the tasks and sub-workflows they call [default: all]
        workflows: Vec<String>,
    },
    /// Run one attempt of a task, as a Flyte task container (the command `package` gives
    /// propeller); writes outputs.pb (futures.pb for a dynamic workflow's graph) or error.pb
    /// under --output-prefix and exits 0
    #[cfg(feature = "cluster")]
    Execute {
        /// The task's Flyte name, as the package names it (`module.function`)
        #[arg(long, value_name = "NAME")]
        task: String,
        /// The URI of the inputs (`inputs.pb`)
        #[arg(long, value_name = "URI")]
        inputs: String,
        /// Where outputs.pb, futures.pb or error.pb goes
        #[arg(long, value_name = "URI")]
        output_prefix: String,
        /// Where large values go
        #[arg(long, value_name = "URI", default_value = "")]
        raw_output_data_prefix: String,
        /// Where this attempt commits its checkpoints
        #[arg(long, value_name = "URI")]
        checkpoint_path: String,
        /// The previous attempt's checkpoints (`""` on a first attempt)
        #[arg(long, value_name = "URI")]
        prev_checkpoint: Option<String>,
        /// The task is a map task's element: its index is in FLYTE_K8S_ARRAY_INDEX
        #[arg(long)]
        map: bool,
        #[command(flatten)]
        grace: Grace,
    },
}

/// What `run`, `resume` and `execute` do on SIGTERM or SIGINT.
#[derive(clap::Args, Debug)]
struct Grace {
    /// After SIGTERM or Ctrl-C, how long running tasks have to save their state and return
    /// before they are abandoned (a second Ctrl-C: at once); a little under Kubernetes' 30 s
    #[arg(long, value_name = "DURATION", default_value = "25s", value_parser = humantime::parse_duration)]
    grace_period: Duration,
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
/// line that is wrong (an unknown workflow, input or execution, an input of the wrong type, an
/// invalid execution id); 143 or 130 when SIGTERM or SIGINT stopped a run (see below). Every
/// error is one line on stderr. A command that is refused, or only reads, creates no store.
/// `execute` (feature `cluster`, run by Flyte in a task's container) exits 0 once it has written
/// `outputs.pb` or `error.pb`, whatever the task did: propeller reads the outcome from them.
///
/// While `run` or `resume` works, SIGTERM and SIGINT are preemption notices
/// ([`LocalRuntime::handle_signals`]): running tasks see [`TaskContext::preempted`] and may
/// still save their state, nothing new starts, and once the tasks have returned (or the
/// `--grace-period` is over, or at a second Ctrl-C) the run ends with the execution recorded
/// as interrupted and one line naming it and the command that resumes it:
///
/// ```text
/// execution p1 stopped by SIGTERM: interrupted n2 attempt 3; resume it with `pipeline --store /tmp/fk resume p1`
/// ```
///
/// [`LocalRuntime::handle_signals`]: flyte_runtime::LocalRuntime::handle_signals
/// [`TaskContext::preempted`]: flyte_runtime::TaskContext::preempted
pub fn main(workflows: impl IntoIterator<Item = Registered>) -> ExitCode {
    main_from(std::env::args_os(), workflows)
}

/// [`main`] with the arguments given (the first is the program's name), for tests and for
/// programs that build their own command line.
pub fn main_from(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    workflows: impl IntoIterator<Item = Registered>,
) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let program = args
        .first()
        .map_or_else(|| "program".to_owned(), |p| p.to_string_lossy().into_owned());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let workflows: Vec<Registered> = workflows.into_iter().collect();
    match command(cli, &program, &workflows) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.preempted => {
            eprintln!("{}", one_line(&f.message));
            ExitCode::from(f.code)
        }
        Err(f) => {
            eprintln!("error: {}", one_line(&f.message));
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
                "unknown workflow `{}`: this program has {}",
                shown(name),
                names.join(", ")
            ))
        })
}

fn command(cli: Cli, program: &str, workflows: &[Registered]) -> Result<(), Failure> {
    let runtime = Runtime {
        program: program.to_owned(),
        store: cli.store.clone(),
    };
    let dir = cli.store.unwrap_or_else(Store::default_dir);
    match cli.command {
        Command::Run {
            workflow,
            inputs,
            execution_id,
            grace,
        } => run(
            &dir,
            &runtime,
            grace.grace_period,
            find(workflows, &workflow)?,
            &inputs,
            execution_id,
        ),
        Command::Resume { execution_id, grace } => resume(&dir, &runtime, grace.grace_period, workflows, &execution_id),
        Command::Executions { json } => executions(&dir, json),
        Command::Show { execution_id, json } => show(&dir, &execution_id, json),
        Command::Graph {
            workflow,
            format,
            execution,
        } => graph(&dir, find(workflows, &workflow)?, format, execution.as_deref()),
        #[cfg(feature = "cluster")]
        Command::Package {
            image,
            output,
            workflows: names,
        } => package(workflows, &image, &output, &names),
        #[cfg(feature = "cluster")]
        Command::Execute {
            task,
            inputs,
            output_prefix,
            raw_output_data_prefix,
            checkpoint_path,
            prev_checkpoint,
            map,
            grace,
        } => execute(
            workflows,
            flyte_cluster::execute::ExecuteArgs {
                task,
                inputs,
                output_prefix,
                raw_output_data_prefix,
                checkpoint_path,
                prev_checkpoint: prev_checkpoint
                    .as_deref()
                    .and_then(flyte_cluster::checkpoint::prev_checkpoint)
                    .map(str::to_owned),
                map,
            },
            grace.grace_period,
        ),
    }
}

/// `execute`: one attempt of the task named `--task`, found among every task the workflows
/// reach by the walk that names them in `package` (then among the program's tasks under the same
/// names: those only a dynamic body calls), under SIGTERM and SIGINT as preemption notices; a
/// dynamic workflow's attempt writes the graph its body built as `futures.pb`. Whatever the task does, `outputs.pb` or `error.pb` is written and the status is 0
/// (propeller reads the error's kind from `error.pb`); a failure is also one line on stderr.
/// Status 1 only when not even `error.pb` could be written.
#[cfg(feature = "cluster")]
fn execute(
    workflows: &[Registered],
    args: flyte_cluster::execute::ExecuteArgs,
    grace: Duration,
) -> Result<(), Failure> {
    use flyte_cluster::execute::{execute_packaged, write_error, AttemptEnv, ContainerFailure, Executed, Origin};
    use flyte_cluster::package::{Options, Package};

    let refuse = |code: &str, message: String| -> Result<(), Failure> {
        let failure = ContainerFailure {
            code: code.to_owned(),
            message,
            recoverable: false,
            origin: Origin::System,
        };
        write_error(&args.output_prefix, &failure, "")
            .map_err(|e| Failure::new(format!("{}; and error.pb cannot be written: {e}", failure.message), 1))?;
        eprintln!(
            "error: task `{}`: {}: {}",
            shown(&args.task),
            failure.code,
            one_line(&failure.message)
        );
        Ok(())
    };
    let env = match AttemptEnv::from_env() {
        Ok(env) => env,
        Err(e) => return refuse("SYSTEM:BadEnvironment", e.to_string()),
    };
    let package = workflows
        .iter()
        .map(|w| w.0.source())
        .collect::<Result<Vec<_>, _>>()
        .and_then(|sources| Package::build(&sources, &Options::new("")));
    let package = match package {
        Ok(package) => package,
        Err(e) => return refuse("SYSTEM:PackageError", e.to_string()),
    };
    let attempt = env.single_attempt(&args.task).handle_signals().grace_period(grace);
    let executed = execute_packaged(package.tasks(), &args, attempt, &env).map_err(|e| {
        Failure::new(
            format!(
                "task `{}`: neither outputs.pb nor error.pb can be written: {e}",
                shown(&args.task)
            ),
            1,
        )
    })?;
    if let Executed::Failed(failure) = executed {
        eprintln!(
            "error: task `{}` attempt {}: {}: {}",
            shown(&args.task),
            env.attempt,
            failure.code,
            one_line(&failure.message)
        );
    }
    Ok(())
}

/// `package`: every workflow named (all, when none is), with what they call, written to
/// `output`; prints how many entities and where. An unknown name writes nothing.
#[cfg(feature = "cluster")]
fn package(workflows: &[Registered], image: &str, output: &Path, names: &[String]) -> Result<(), Failure> {
    use flyte_cluster::package::{Options, Package};

    if image.trim().is_empty() {
        return Err(Failure::usage(
            "`--image` is empty: name the container image the tasks run in, like `--image ghcr.io/me/workflows:v1`",
        ));
    }
    let chosen: Vec<&dyn Entry> = if names.is_empty() {
        workflows.iter().map(|w| &*w.0).collect()
    } else {
        names.iter().map(|n| find(workflows, n)).collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Err(Failure::usage(
            "this program registers no workflow: there is nothing to package",
        ));
    }
    let sources = chosen
        .iter()
        .map(|w| w.source())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(e.to_string(), 1))?;
    let package = Package::build(&sources, &Options::new(image)).map_err(|e| Failure::new(e.to_string(), 1))?;
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(output)?);
        package.write_tgz(&mut file)?;
        std::io::Write::flush(&mut file)
    };
    write().map_err(|e| {
        Failure::new(
            format!(
                "cannot write the package to {}: {e}",
                escaped(&output.display().to_string())
            ),
            1,
        )
    })?;
    let count = |kind: u8| package.entities().iter().filter(|e| e.kind() == kind).count();
    println!(
        "{} tasks, {} workflows and {} launch plans in {}",
        count(1),
        count(2),
        count(3),
        output.display()
    );
    Ok(())
}

/// `graph`: the workflow's picture; with an execution, each dynamic node holds the graph it
/// built in that execution (read from the store, which is never created here).
fn graph(dir: &Path, entry: &dyn Entry, format: Format, execution: Option<&str>) -> Result<(), Failure> {
    let graph = entry.graph()?;
    let store = match execution {
        Some(id) => Some((stored(dir, id)?.0, id)),
        None => None,
    };
    // A recorded graph that cannot be read is drawn as the dynamic node alone.
    let expand = |node: &str| {
        store
            .as_ref()
            .and_then(|(s, id)| s.dynamic_graph(id, node).ok().flatten())
    };
    match format {
        Format::Dot => print!("{}", graph.to_dot_expanded(&expand)),
        Format::Mermaid => print!("{}", graph.to_mermaid_expanded(&expand)),
    }
    Ok(())
}

/// How `run` and `resume` make their runtime: durable, with SIGTERM and SIGINT as preemption
/// notices, and this program's `resume` command in a preempted execution's message.
struct Runtime {
    /// The program as it was invoked (its first argument).
    program: String,
    /// `--store`, if it was given.
    store: Option<PathBuf>,
}

impl Runtime {
    fn make(&self, dir: &Path, grace: Duration) -> Result<LocalRuntime, Failure> {
        let mut command = shell_word(&self.program);
        if let Some(store) = &self.store {
            command.push_str(" --store ");
            command.push_str(&shell_word(&store.display().to_string()));
        }
        Ok(LocalRuntime::with_store(dir)?
            .handle_signals()
            .grace_period(grace)
            .resume_command(move |id| format!("{command} resume {}", shell_word(id))))
    }
}

/// `word` as a shell reads it back: as it is if it holds no character a shell treats
/// specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+' | '@' | '%')
        });
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `run`: everything the command line gives is checked before the store is opened, so that a
/// refused run creates nothing.
fn run(
    dir: &Path,
    runtime: &Runtime,
    grace: Duration,
    entry: &dyn Entry,
    pairs: &[String],
    id: Option<String>,
) -> Result<(), Failure> {
    let id = id.unwrap_or_else(new_id);
    check_execution_id(&id)?;
    let inputs = entry.read_inputs(&parse_inputs(entry, pairs)?)?;
    let rt = runtime.make(dir, grace)?;
    watch(entry)?;
    eprintln!("execution {id}");
    println!("{}", entry.run(&rt, &id, &inputs)?);
    Ok(())
}

/// `resume`: the execution's workflow and inputs come from the store.
fn resume(dir: &Path, runtime: &Runtime, grace: Duration, workflows: &[Registered], id: &str) -> Result<(), Failure> {
    let (store, report) = stored(dir, id)?;
    let workflow = report.summary.workflow;
    let entry = find(workflows, &workflow)?;
    let inputs = store.inputs(id)?.ok_or_else(|| {
        Failure::new(
            format!(
                "execution `{id}` was recorded before the store kept inputs: resume it with `run {workflow} \
                 --execution-id {id}` and the inputs it was started with"
            ),
            1,
        )
    })?;
    drop(store);
    let rt = runtime.make(dir, grace)?;
    watch(entry)?;
    println!("{}", entry.run(&rt, id, &inputs)?);
    Ok(())
}

/// Execution `id` and the store in `dir` that holds it; a store that is not there is not created.
fn stored(dir: &Path, id: &str) -> Result<(Store, ExecutionReport), Failure> {
    let store = Store::open_existing(dir)?.ok_or_else(|| Failure::no_execution(id, dir))?;
    let report = store.execution(id)?.ok_or_else(|| Failure::no_execution(id, dir))?;
    Ok((store, report))
}

/// `executions`: newest first; no store is an empty list.
fn executions(dir: &Path, json: bool) -> Result<(), Failure> {
    let runs = match Store::open_existing(dir)? {
        Some(store) => store.executions()?,
        None => Vec::new(),
    };
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
    } else if runs.is_empty() {
        println!("no executions in {}", escaped(&dir.display().to_string()));
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
    Ok(())
}

/// `show`: the table (status 1 for a failed execution, whose error ends the output) or JSON.
fn show(dir: &Path, id: &str, json: bool) -> Result<(), Failure> {
    let (_, report) = stored(dir, id)?;
    if json {
        println!("{}", report_json(&report));
        return Ok(());
    }
    print!("{}", report_table(&report));
    if report.summary.status == Status::Failed {
        let message = report.error.unwrap_or_else(|| "the execution failed".to_owned());
        return Err(Failure::new(message, 1));
    }
    Ok(())
}

fn last_error(node: &NodeReport) -> Option<String> {
    node.attempts.iter().rev().find_map(|a| a.cause.clone())
}

fn report_json(report: &ExecutionReport) -> Json {
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
                "events": events_json(&n.events),
            })
        })
        .collect();
    let s = &report.summary;
    json!({
        "id": s.id,
        "workflow": s.workflow,
        "status": s.status.to_string(),
        "error": report.error,
        "nodes": nodes,
        "events": events_json(&report.events),
    })
}

fn events_json(events: &[Event]) -> Json {
    events
        .iter()
        .map(|e| {
            json!({
                "kind": e.kind,
                "attempt": e.attempt,
                "at": rfc3339(e.at),
                "message": e.message,
            })
        })
        .collect()
}

/// The execution's status line, its nodes' table, then its notable events, one line each.
fn report_table(report: &ExecutionReport) -> String {
    let s = &report.summary;
    let rows = report.nodes.iter().map(|n| {
        vec![
            n.id.clone(),
            n.task.clone(),
            n.status.to_string(),
            n.attempts.len().to_string(),
            n.duration.map_or_else(|| "-".to_owned(), human),
            n.checkpoint_bytes.to_string(),
            if n.cache_hit { "hit" } else { "-" }.to_owned(),
            last_error(n).map_or_else(|| "-".to_owned(), |e| one_line(&e)),
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
    let mut out = format!(
        "execution {} of `{}`: {}\n{}",
        s.id,
        s.workflow,
        s.status,
        table(&head, rows)
    );
    let events = event_lines(report);
    if !events.is_empty() {
        out.push('\n');
        out.push_str(&events.join("\n"));
        out.push('\n');
    }
    out
}

/// The execution's and its nodes' notable events, oldest first, one line each.
fn event_lines(report: &ExecutionReport) -> Vec<String> {
    // The execution's own events (`resumed`) come first among those of the same millisecond.
    let mut events: Vec<(Option<&str>, &Event)> = report
        .events
        .iter()
        .map(|e| (None, e))
        .chain(
            report
                .nodes
                .iter()
                .flat_map(|n| n.events.iter().map(|e| (Some(n.id.as_str()), e))),
        )
        .filter(|(_, e)| !QUIET_EVENTS.contains(&e.kind.as_str()))
        .collect();
    events.sort_by_key(|(_, e)| e.at);
    events.into_iter().map(|(node, e)| event_line(node, e)).collect()
}

/// Events the table already shows (a cache hit has its column), left out of the list below it.
const QUIET_EVENTS: &[&str] = &["cache-hit"];

/// `n2 attempt 3: checkpoint-fallback: checkpoint … is corrupted: …`, on one line.
fn event_line(node: Option<&str>, event: &Event) -> String {
    let whose = node.unwrap_or("execution");
    let attempt = event.attempt.map(|a| format!(" attempt {a}")).unwrap_or_default();
    format!("{whose}{attempt}: {}: {}", event.kind, one_line(&event.message))
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
            let pair = shown(pair);
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
                "unknown input `{}`: workflow `{}` has {inputs}",
                shown(name),
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

/// The runtime's rule for an execution id, checked before the store is opened so that a run
/// refused for its id creates no store.
fn check_execution_id(id: &str) -> Result<(), Failure> {
    flyte_runtime::__private::check_execution_id(id).map_err(|e| Failure::usage(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Integers out of range

/// Why `raw`, written as a JSON integer, does not fit the integer type `ty`; `None` if it is
/// not an integer, `ty` not an integer type, or the value fits (another reason refused it).
/// serde_json reads an integer beyond 64 bits as a float, and would call it "floating point".
fn integer_out_of_range(raw: &str, ty: &str) -> Option<String> {
    let text = json_integer(raw)?;
    let (min, max) = integer_range(ty)?;
    let (shown_text, negative) = (shown(text), text.starts_with('-'));
    if negative && !matches!(text.parse::<i128>(), Ok(v) if v >= min) {
        return Some(format!("{shown_text} is too small (at least {min})"));
    }
    if !negative && !matches!(text.parse::<u128>(), Ok(v) if v <= max) {
        return Some(format!("{shown_text} is too large (at most {max})"));
    }
    let in_64_bits = text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok();
    (!in_64_bits).then(|| {
        format!(
            "{shown_text} fits `{ty}`, but the command line reads integers from {} to {} only",
            i64::MIN,
            u64::MAX
        )
    })
}

/// `raw` without the whitespace JSON allows around it, if it is a JSON integer (`-?(0|[1-9][0-9]*)`).
fn json_integer(raw: &str) -> Option<&str> {
    let text = raw.trim_matches([' ', '\t', '\n', '\r']);
    let digits = text.strip_prefix('-').unwrap_or(text);
    let ok =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    ok.then_some(text)
}

/// The range of a primitive integer type, by its name.
fn integer_range(ty: &str) -> Option<(i128, u128)> {
    Some(match ty {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        "u128" => (0, u128::MAX),
        "usize" => (0, usize::MAX as u128),
        "i8" => (i8::MIN.into(), i8::MAX.unsigned_abs().into()),
        "i16" => (i16::MIN.into(), i16::MAX.unsigned_abs().into()),
        "i32" => (i32::MIN.into(), i32::MAX.unsigned_abs().into()),
        "i64" => (i64::MIN.into(), i64::MAX.unsigned_abs().into()),
        "i128" => (i128::MIN, i128::MAX.unsigned_abs()),
        "isize" => (isize::MIN as i128, isize::MAX.unsigned_abs() as u128),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Text a user gave, shown in a message

/// A message on one line: its lines joined with spaces, any other control character escaped.
fn one_line(message: &str) -> String {
    let joined: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    escaped(&joined.join(" "))
}

/// serde's `message` with each value it quotes (`"…"`, `` `…` ``) cut after [`SHOWN_CHARS`]
/// characters, with an ellipsis and how long it was: serde echoes a value whole.
fn shorten_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = if rest[open..].starts_with('"') { '"' } else { '`' };
        out.push_str(&rest[..=open]);
        let tail = &rest[open + 1..];
        let close = closing_quote(tail, quote);
        out.push_str(&cut_quoted(
            &tail[..close.unwrap_or(tail.len())],
            quote,
            close.is_some(),
        ));
        rest = &tail[close.map_or(tail.len(), |c| c + 1)..];
    }
    out.push_str(rest);
    out
}

/// A quoted `body` and its closing quote (if it was `closed`), cut after [`SHOWN_CHARS`]
/// characters: `xxxx…" (1048576 characters)`.
fn cut_quoted(body: &str, quote: char, closed: bool) -> String {
    let close = if closed { quote.to_string() } else { String::new() };
    let Some((end, _)) = body.char_indices().nth(SHOWN_CHARS) else {
        return format!("{body}{close}");
    };
    let length = if quote == '"' {
        unescaped_len(body)
    } else {
        body.chars().count()
    };
    format!("{}…{close} ({length} characters)", &body[..end])
}

/// Where the quote closing `text` is: the first `quote` not escaped by a backslash (serde
/// writes strings as Rust's `{:?}` does; backquoted values have no escapes).
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some(i);
        }
        if c == '\\' && quote == '"' {
            chars.next();
        }
    }
    None
}

/// How many characters a string written as `{:?}` writes it (without its quotes) stands for.
fn unescaped_len(body: &str) -> usize {
    let mut n = 0;
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next() == Some('u') {
            chars.by_ref().find(|&c| c == '}');
        }
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Formatting

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_beyond_64_bits_that_fits_its_type_is_said_to_be_beyond_what_is_read() {
        let big = "99999999999999999999";
        assert_eq!(
            integer_out_of_range(big, "u128").as_deref(),
            Some("99999999999999999999 fits `u128`, but the command line reads integers from -9223372036854775808 to 18446744073709551615 only")
        );
        assert_eq!(
            integer_out_of_range(" 300 ", "u8").as_deref(),
            Some("300 is too large (at most 255)")
        );
        // Not an integer as JSON writes one, or not an integer type: serde's message stands.
        for (raw, ty) in [
            ("1.0", "u8"),
            ("1e3", "u8"),
            ("0300", "u8"),
            ("-", "u8"),
            (big, "f32"),
            ("5", "u8"),
        ] {
            assert_eq!(integer_out_of_range(raw, ty), None, "{raw} for {ty}");
        }
    }

    #[test]
    fn quoted_values_are_cut_and_the_rest_is_kept() {
        let long = "y".repeat(100);
        assert_eq!(
            shorten_quoted(&format!("unknown field `{long}`, expected `a` or `b`")),
            format!(
                "unknown field `{}…` (100 characters), expected `a` or `b`",
                "y".repeat(64)
            )
        );
        // An escaped quote does not close a string; an unclosed one is cut all the same.
        assert_eq!(shorten_quoted(r#"string "a\"b", x"#), r#"string "a\"b", x"#);
        assert_eq!(
            shorten_quoted(&format!("string \"{long}")),
            format!("string \"{}… (100 characters)", "y".repeat(64))
        );
        assert_eq!(unescaped_len(r"a\n\u{1b}\\"), 4);
    }
}
