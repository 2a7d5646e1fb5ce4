//! A stand-in for Flyte's propeller, test code only: it runs a registration package's workflow
//! the way propeller drives task containers, against an S3 API (see `s3.rs`).
//!
//! * reads a package (`pyflyte package`'s or ours): `<i>_<name>_1.pb` task specs, `_2.pb`
//!   workflow specs (with their sub-workflows), `_3.pb` launch plans;
//! * walks a `WorkflowTemplate` in dependency order (`upstream_node_ids` and the promises of each
//!   node's bindings), resolving each node's bindings into a `core.LiteralMap` (workflow inputs,
//!   other nodes' outputs, scalars, collections, maps);
//! * runs a task node's container: writes `inputs.pb`, renders the args' template variables
//!   (`{{.input}}`, `{{.outputPrefix}}`, `{{.rawOutputDataPrefix}}`,
//!   `{{.checkpointOutputPrefix}}`, `{{.prevCheckpointPrefix}}`: `""`, the two characters, on a
//!   first attempt), runs the command with Flyte's environment (`FLYTE_ATTEMPT_NUMBER`,
//!   `FLYTE_INTERNAL_EXECUTION_ID`, ..., and the S3 variables of the sandbox), and reads
//!   `error.pb` or `outputs.pb` under the attempt's output prefix;
//! * retries a `RECOVERABLE` error up to `retries + 1` attempts, each with fresh prefixes and
//!   `--prev-checkpoint` set to the previous attempt's checkpoint prefix; a process that exits
//!   without writing either file (killed, crashed) is a system failure, retried the same way
//!   within its own budget; a `NON_RECOVERABLE` error fails the node at once;
//! * runs sub-workflow and launch-plan nodes as nested workflows, branch nodes by evaluating
//!   their conditions on primitives, and array nodes (map tasks) as propeller's array plugin
//!   does for flytekit's: every element's container gets the whole input lists and its index in
//!   `FLYTE_K8S_ARRAY_INDEX` (named by `BATCH_JOB_ARRAY_INDEX_VAR_NAME`), each output becomes
//!   the list of the elements' outputs, a failed element a `None` while `min_success_ratio` (or
//!   `min_successes`) still holds, one element after another (no parallelism);
//! * runs a dynamic task's sub-graph as propeller's dynamic node handler does: an attempt that
//!   writes `futures.pb` (a `core.DynamicJobSpec`) rather than `outputs.pb` succeeded in building
//!   a graph, which runs as a workflow whose inputs are the dynamic node's, its nodes under the
//!   node's path (`n1-dn0`), its tasks (and sub-workflows) those the spec carries, and the
//!   node's outputs its `outputs` bindings; every spec is kept in [`Propeller::futures`]. The
//!   spec's sub-workflows, its branch nodes and its dynamic nodes (a task whose container again
//!   writes `futures.pb`, run under `n0-dn1-dn0`) run as they do in a package's workflow;
//! * keeps the error a node failed with as propeller's `core.ExecutionError`
//!   ([`Propeller::error`]): `error.pb`'s code, message and origin for a non-recoverable
//!   failure, `RetriesExhausted|<code>` with `[n/m] currentAttempt done. Last Error:
//!   USER::<message>` once the retries are spent, as propeller's node executor words it;
//! * runs a failed workflow's `failure_node` (the top workflow's and a sub-workflow's) as
//!   propeller does (flytepropeller 1.16 `nodes/resolve.go`, `ResolveOnFailureNodeInput`): its
//!   bindings resolved against the workflow's inputs, then the input named `err`, if it has one,
//!   replaced by a union of `ERROR` (tag `FlyteError`) holding a `core.Error` whose `message` is
//!   the workflow's error's and whose `failed_node_id` is the failure node's own id (`fn0`, as
//!   propeller passes it); the workflow still fails with its error, or with the failure node's
//!   if that fails too. Every failure node run is kept in [`Propeller::failure_nodes`].
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flyte_cluster::storage::Location;
use flyte_idl::admin::{LaunchPlan, TaskSpec, WorkflowSpec};
use flyte_idl::core::{
    array_node, binding_data, boolean_expression, comparison_expression, conjunction_expression, container_error,
    if_else_block, literal, node, operand, primitive, scalar, task_template, workflow_node, ArrayNode, BindingData,
    BooleanExpression, DynamicJobSpec, ErrorDocument, ExecutionError, Literal, LiteralCollection, LiteralMap, Node,
    Primitive, Scalar, TaskTemplate, WorkflowTemplate,
};
use flyte_idl::prost::Message;

/// A registration package, decoded.
#[derive(Clone)]
pub struct Package {
    pub tasks: HashMap<String, TaskTemplate>,
    pub workflows: HashMap<String, WorkflowTemplate>,
    /// Launch plan name -> workflow name.
    pub launch_plans: HashMap<String, String>,
}

impl Package {
    /// The package `write` writes to the path it is given (a `.tgz` in a temporary directory,
    /// removed once the package is read).
    pub fn made_by(write: impl FnOnce(&Path)) -> Package {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tgz = dir.path().join("package.tgz");
        write(&tgz);
        Package::read(&tgz)
    }

    /// Reads a `.tgz` package (with the system's `tar`).
    pub fn read(tgz: &Path) -> Package {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(tgz)
            .arg("-C")
            .arg(dir.path())
            .status()
            .expect("tar runs");
        assert!(status.success(), "tar -xzf {}", tgz.display());
        let mut pkg = Package {
            tasks: HashMap::new(),
            workflows: HashMap::new(),
            launch_plans: HashMap::new(),
        };
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            if name.ends_with("_1.pb") {
                let spec = TaskSpec::decode(&bytes[..]).unwrap();
                let template = spec.template.unwrap();
                pkg.tasks.insert(template.id.clone().unwrap().name, template);
            } else if name.ends_with("_2.pb") {
                let spec = WorkflowSpec::decode(&bytes[..]).unwrap();
                for wf in spec.sub_workflows.into_iter().chain(spec.template) {
                    pkg.workflows.insert(wf.id.clone().unwrap().name, wf);
                }
            } else if name.ends_with("_3.pb") {
                let lp = LaunchPlan::decode(&bytes[..]).unwrap();
                let workflow = lp.spec.unwrap().workflow_id.unwrap().name;
                pkg.launch_plans.insert(lp.id.unwrap().name, workflow);
            }
        }
        pkg
    }
}

/// How one attempt of a task node ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `outputs.pb` was written.
    Succeeded,
    /// `error.pb` was written: its code, kind (`RECOVERABLE`/`NON_RECOVERABLE`) and origin.
    Failed {
        code: String,
        recoverable: bool,
        user: bool,
        message: String,
    },
    /// The process ended without writing either (killed, crashed): its exit status.
    Died(String),
}

/// One attempt, as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The node's path: `n1`, or `n2-n0` inside a sub-workflow.
    pub node: String,
    /// The task's name.
    pub task: String,
    /// Flyte's attempt number, from 0.
    pub number: u32,
    pub outcome: Outcome,
    /// `--checkpoint-path` and `--prev-checkpoint` as given.
    pub checkpoint: String,
    pub prev_checkpoint: String,
    /// Its stderr, for messages.
    pub stderr: String,
    /// What it wrote as `outputs.pb`; empty unless it did.
    pub outputs: LiteralMap,
}

/// The stand-in.
pub struct Propeller<'a> {
    pub package: &'a Package,
    /// `s3://bucket`: everything goes under `<root>/<execution>/`.
    pub root: String,
    pub execution: String,
    /// Variables every container gets (the S3 server's).
    pub env: Vec<(String, String)>,
    /// The program for a command's first word (`pyflyte-execute`), when the task's container
    /// names no entry point of its own.
    pub program: Box<dyn Fn(&str) -> PathBuf + 'a>,
    /// The image's entry point (`ENTRYPOINT`), which every container's args follow: a
    /// workflow binary, whose package's args start with `execute`. `None`: the first arg is
    /// the program (pyflyte's packages).
    pub entrypoint: Option<PathBuf>,
    /// Where commands run.
    pub cwd: PathBuf,
    /// How many deaths (exits without error.pb or outputs.pb) a node may have, apart from its
    /// retries (propeller's system-failure budget).
    pub max_system_failures: u32,
    /// Called before each attempt with it and its command; runs the command it returns.
    pub before: Box<Before<'a>>,
    /// Called before each attempt: `Some((after, signal))` sends `signal` (`TERM`, `KILL`) to
    /// its process `after` it started, as Kubernetes does to a pod it deletes.
    pub signal: Box<Signal<'a>>,
    /// Every attempt made, in order.
    pub attempts: Vec<Attempt>,
    /// Every `futures.pb` read, with the dynamic node's path, in order.
    pub futures: Vec<(String, DynamicJobSpec)>,
    /// The error the last node that failed for good failed with, as propeller words it.
    pub error: Option<ExecutionError>,
    /// Every failure node run: its path and the inputs it was given (`err` filled in).
    pub failure_nodes: Vec<(String, LiteralMap)>,
    /// `FLYTE_INTERNAL_EXECUTION_WORKFLOW`: `project:domain:name` of the workflow [`run`]
    /// started, as propeller names the workflow it runs.
    ///
    /// [`run`]: Propeller::run
    workflow_id: String,
    /// The tasks and sub-workflows the dynamic job specs brought.
    dynamic_tasks: HashMap<String, TaskTemplate>,
    dynamic_workflows: HashMap<String, WorkflowTemplate>,
}

/// When to signal an attempt's process, and with what.
pub type Signal<'a> = dyn FnMut(&Attempt) -> Option<(std::time::Duration, &'static str)> + 'a;

type Outputs = HashMap<String, LiteralMap>;

/// What may replace an attempt's command before it runs (a test that kills it).
pub type Before<'a> = dyn FnMut(&Attempt, Command) -> Command + 'a;

impl<'a> Propeller<'a> {
    pub fn new(package: &'a Package, root: String, env: Vec<(String, String)>) -> Propeller<'a> {
        Propeller {
            package,
            root,
            execution: format!("e{}", std::process::id()),
            env,
            program: Box::new(|word| PathBuf::from(word)),
            entrypoint: None,
            cwd: std::env::current_dir().unwrap(),
            max_system_failures: 3,
            before: Box::new(|_, cmd| cmd),
            signal: Box::new(|_| None),
            attempts: Vec::new(),
            futures: Vec::new(),
            error: None,
            failure_nodes: Vec::new(),
            workflow_id: String::new(),
            dynamic_tasks: HashMap::new(),
            dynamic_workflows: HashMap::new(),
        }
    }

    /// The task named `name`: the package's, or one a dynamic job spec brought.
    fn task(&self, name: &str) -> Result<TaskTemplate, String> {
        self.package
            .tasks
            .get(name)
            .or_else(|| self.dynamic_tasks.get(name))
            .cloned()
            .ok_or_else(|| format!("no task {name} in the package or a dynamic job spec"))
    }

    /// The workflow named `name`: the package's, or one a dynamic job spec brought.
    fn workflow(&self, name: &str) -> Result<WorkflowTemplate, String> {
        self.package
            .workflows
            .get(name)
            .or_else(|| self.dynamic_workflows.get(name))
            .cloned()
            .ok_or_else(|| format!("no workflow {name}"))
    }

    /// Runs the graph a dynamic task's attempt wrote (`futures.pb`) as propeller's dynamic node
    /// handler does: a workflow with the node's inputs, the spec's nodes and output bindings,
    /// after at least `min_successes` of its nodes (all of them: the stand-in fails the node at
    /// the first failure, as propeller does for the default `min_successes`).
    fn run_dynamic(&mut self, spec: DynamicJobSpec, inputs: LiteralMap, path: &str) -> Result<LiteralMap, String> {
        if spec.min_successes != spec.nodes.len() as i64 {
            return Err(format!(
                "dynamic node {path}: min_successes {} of {} nodes: the stand-in runs every node",
                spec.min_successes,
                spec.nodes.len()
            ));
        }
        self.futures.push((path.to_owned(), spec.clone()));
        for task in &spec.tasks {
            self.dynamic_tasks.insert(
                task.id.as_ref().ok_or("a dynamic task without an id")?.name.clone(),
                task.clone(),
            );
        }
        for wf in &spec.subworkflows {
            self.dynamic_workflows.insert(
                wf.id.as_ref().ok_or("a sub-workflow without an id")?.name.clone(),
                wf.clone(),
            );
        }
        let wf = WorkflowTemplate {
            nodes: spec.nodes,
            outputs: spec.outputs,
            ..WorkflowTemplate::default()
        };
        self.run_workflow(&wf, inputs, path)
    }

    /// Runs the workflow (or the launch plan's) with `inputs`; its outputs, or why it failed.
    pub fn run(&mut self, workflow: &str, inputs: LiteralMap) -> Result<LiteralMap, String> {
        let name = self
            .package
            .launch_plans
            .get(workflow)
            .cloned()
            .unwrap_or_else(|| workflow.to_owned());
        let template = self
            .package
            .workflows
            .get(&name)
            .ok_or_else(|| format!("no workflow {name} in the package"))?
            .clone();
        self.workflow_id = format!("flytesnacks:development:{name}");
        self.run_workflow(&template, inputs, "")
    }

    /// Runs `wf`'s nodes, and its failure node if one of them failed.
    fn run_workflow(&mut self, wf: &WorkflowTemplate, inputs: LiteralMap, path: &str) -> Result<LiteralMap, String> {
        let failed = match self.run_nodes(wf, inputs.clone(), path) {
            Ok(outputs) => return Ok(outputs),
            Err(e) => e,
        };
        let Some(failure_node) = &wf.failure_node else {
            return Err(failed);
        };
        match self.run_failure_node(failure_node, inputs, path) {
            Ok(()) => Err(failed),
            Err(e) => Err(format!("{failed}; then its failure node failed: {e}")),
        }
    }

    /// Propeller's failure node: the workflow's error given as the input `err` (see the module's
    /// documentation), a task node run as any other.
    fn run_failure_node(&mut self, n: &Node, inputs: LiteralMap, path: &str) -> Result<(), String> {
        // Propeller's default when the workflow's status holds no error.
        let error = self.error.clone().unwrap_or_else(|| ExecutionError {
            code: "UnknownError".to_owned(),
            message: "Unknown error, last seen message []".to_owned(),
            kind: flyte_idl::core::execution_error::ErrorKind::Unknown as i32,
            ..Default::default()
        });
        let mut outputs: Outputs = HashMap::new();
        outputs.insert(String::new(), inputs.clone());
        outputs.insert("start-node".to_owned(), inputs);
        let mut literals = BTreeMap::new();
        for binding in &n.inputs {
            let value = resolve(binding.binding.as_ref().ok_or("a binding without data")?, &outputs)
                .map_err(|e| format!("failure node {}: {e} (the stand-in binds workflow inputs only)", n.id))?;
            literals.insert(binding.var.clone(), value);
        }
        if let Some(err) = literals.get_mut("err") {
            *err = flyte_error(&error.message, &n.id);
        }
        let node_path = if path.is_empty() {
            n.id.clone()
        } else {
            format!("{path}-{}", n.id)
        };
        let inputs = LiteralMap { literals };
        self.failure_nodes.push((node_path.clone(), inputs.clone()));
        let Some(node::Target::TaskNode(t)) = n.target.as_ref() else {
            return Err(format!(
                "failure node {node_path}: the stand-in runs failure nodes of tasks only"
            ));
        };
        let Some(flyte_idl::core::task_node::Reference::ReferenceId(id)) = &t.reference else {
            return Err("a task node without a reference".into());
        };
        let template = self.task(&id.name)?;
        self.run_task(&template, inputs, &node_path, &[]).map(drop)
    }

    fn run_nodes(&mut self, wf: &WorkflowTemplate, inputs: LiteralMap, path: &str) -> Result<LiteralMap, String> {
        let mut outputs: Outputs = HashMap::new();
        outputs.insert(String::new(), inputs.clone());
        outputs.insert("start-node".to_owned(), inputs);
        let mut done: HashSet<String> = HashSet::new();
        let nodes: Vec<&Node> = wf
            .nodes
            .iter()
            .filter(|n| n.id != "start-node" && n.id != "end-node")
            .collect();
        while done.len() < nodes.len() {
            let ready = nodes
                .iter()
                .find(|n| !done.contains(&n.id) && deps(n).iter().all(|d| done.contains(d) || outputs.contains_key(d)))
                .ok_or_else(|| format!("workflow {:?}: a cycle or a missing node", wf.id))?;
            let node_path = if path.is_empty() {
                ready.id.clone()
            } else {
                format!("{path}-{}", ready.id)
            };
            let out = self.run_node(ready, &outputs, &node_path)?;
            outputs.insert(ready.id.clone(), out);
            done.insert(ready.id.clone());
        }
        let mut literals = BTreeMap::new();
        for binding in &wf.outputs {
            literals.insert(
                binding.var.clone(),
                resolve(binding.binding.as_ref().unwrap(), &outputs)?,
            );
        }
        Ok(LiteralMap { literals })
    }

    fn run_node(&mut self, n: &Node, outputs: &Outputs, path: &str) -> Result<LiteralMap, String> {
        let mut literals = BTreeMap::new();
        for binding in &n.inputs {
            literals.insert(
                binding.var.clone(),
                resolve(binding.binding.as_ref().unwrap(), outputs)?,
            );
        }
        let inputs = LiteralMap { literals };
        match n.target.as_ref().ok_or("a node without a target")? {
            node::Target::TaskNode(t) => {
                let Some(flyte_idl::core::task_node::Reference::ReferenceId(id)) = &t.reference else {
                    return Err("a task node without a reference".into());
                };
                let template = self.task(&id.name)?;
                self.run_task(&template, inputs, path, &[])
            }
            node::Target::WorkflowNode(w) => {
                let name = match w.reference.as_ref().ok_or("a workflow node without a reference")? {
                    workflow_node::Reference::SubWorkflowRef(id) => id.name.clone(),
                    workflow_node::Reference::LaunchplanRef(id) => self
                        .package
                        .launch_plans
                        .get(&id.name)
                        .cloned()
                        .ok_or_else(|| format!("no launch plan {}", id.name))?,
                };
                let wf = self.workflow(&name)?;
                self.run_workflow(&wf, inputs, path)
            }
            node::Target::BranchNode(b) => {
                let if_else = b.if_else.as_ref().ok_or("a branch without if_else")?;
                let cases = if_else.case.iter().map(|c| &**c).chain(&if_else.other);
                for case in cases {
                    if eval(case.condition.as_ref().ok_or("a case without a condition")?, &inputs)? {
                        let then = case.then_node.as_ref().ok_or("a case without a node")?;
                        return self.run_node(then, outputs, &format!("{path}-{}", then.id));
                    }
                }
                match &if_else.default {
                    Some(if_else_block::Default::ElseNode(e)) => self.run_node(e, outputs, &format!("{path}-{}", e.id)),
                    Some(if_else_block::Default::Error(e)) => {
                        // Propeller's code for an `else` that fails; the message is the
                        // branch's (propeller's wording around it is not reproduced).
                        self.error = Some(ExecutionError {
                            code: "UserProvidedError".to_owned(),
                            message: e.message.clone(),
                            kind: flyte_idl::core::execution_error::ErrorKind::User as i32,
                            ..Default::default()
                        });
                        Err(format!("branch failed: {}", e.message))
                    }
                    None => Err("no case matched and there is no else".into()),
                }
            }
            node::Target::ArrayNode(a) => self.run_array(a, inputs, path),
            node::Target::GateNode(_) => Err("the stand-in does not run gate nodes".into()),
        }
    }

    fn run_array(&mut self, a: &ArrayNode, inputs: LiteralMap, path: &str) -> Result<LiteralMap, String> {
        let sub = a.node.as_ref().ok_or("an array node without its node")?;
        let Some(node::Target::TaskNode(t)) = &sub.target else {
            return Err("the stand-in runs array nodes of tasks only".into());
        };
        let Some(flyte_idl::core::task_node::Reference::ReferenceId(id)) = &t.reference else {
            return Err("a task node without a reference".into());
        };
        let template = self.task(&id.name)?;
        let size = inputs
            .literals
            .iter()
            .filter(|(k, _)| !a.bound_inputs.contains(k))
            .find_map(|(_, l)| match &l.value {
                Some(literal::Value::Collection(c)) => Some(c.literals.len()),
                _ => None,
            })
            .ok_or("an array node without a list input")?;
        let required = match a.success_criteria {
            Some(array_node::SuccessCriteria::MinSuccesses(n)) => n as usize,
            Some(array_node::SuccessCriteria::MinSuccessRatio(r)) => (size as f64 * r as f64).ceil() as usize,
            None => size,
        };
        let mut elements: Vec<Option<LiteralMap>> = Vec::with_capacity(size);
        for i in 0..size {
            let env = [
                (
                    "BATCH_JOB_ARRAY_INDEX_VAR_NAME".to_owned(),
                    "FLYTE_K8S_ARRAY_INDEX".to_owned(),
                ),
                ("FLYTE_K8S_ARRAY_INDEX".to_owned(), i.to_string()),
            ];
            match self.run_task(&template, inputs.clone(), &format!("{path}-{i}"), &env) {
                Ok(out) => elements.push(Some(out)),
                Err(_) if size - (elements.iter().filter(|e| e.is_none()).count() + 1) >= required => {
                    elements.push(None)
                }
                Err(e) => return Err(format!("array node {path}: too many elements failed: {e}")),
            }
        }
        let names: Vec<String> = elements
            .iter()
            .flatten()
            .next()
            .map(|m| m.literals.keys().cloned().collect())
            .unwrap_or_default();
        let mut literals = BTreeMap::new();
        for name in names {
            let items = elements
                .iter()
                .map(|e| match e {
                    Some(m) => m.literals.get(&name).cloned().unwrap_or_else(none),
                    None => none(),
                })
                .collect();
            literals.insert(
                name,
                Literal {
                    value: Some(literal::Value::Collection(LiteralCollection { literals: items })),
                    ..Default::default()
                },
            );
        }
        Ok(LiteralMap { literals })
    }

    fn run_task(
        &mut self,
        task: &TaskTemplate,
        inputs: LiteralMap,
        path: &str,
        extra_env: &[(String, String)],
    ) -> Result<LiteralMap, String> {
        let name = task.id.as_ref().unwrap().name.clone();
        let retries = task
            .metadata
            .as_ref()
            .and_then(|m| m.retries.as_ref())
            .map_or(0, |r| r.retries);
        let Some(task_template::Target::Container(container)) = &task.target else {
            return Err(format!("task {name} has no container"));
        };
        let base = format!("{}/{}/{path}", self.root, self.execution);
        let inputs_uri = format!("{base}/inputs.pb");
        Location::parse(&inputs_uri)
            .unwrap()
            .write(&inputs.encode_to_vec())
            .unwrap();
        let (mut failures, mut deaths) = (0u32, 0u32);
        let mut prev = "\"\"".to_owned();
        for number in 0.. {
            let out = format!("{base}/{number}");
            let checkpoint = format!("{out}/_flytecheckpoints");
            let raw = format!("{}/{}/raw/{path}/{number}", self.root, self.execution);
            let args: Vec<String> = container
                .args
                .iter()
                .map(|a| {
                    a.replace("{{.input}}", &inputs_uri)
                        .replace("{{.outputPrefix}}", &out)
                        .replace("{{.rawOutputDataPrefix}}", &raw)
                        .replace("{{.checkpointOutputPrefix}}", &checkpoint)
                        .replace("{{.prevCheckpointPrefix}}", &prev)
                })
                .collect();
            let mut cmd = match &self.entrypoint {
                Some(entrypoint) => {
                    let mut cmd = Command::new(entrypoint);
                    cmd.args(&args);
                    cmd
                }
                None => {
                    let mut cmd = Command::new((self.program)(&args[0]));
                    cmd.args(&args[1..]);
                    cmd
                }
            };
            cmd.current_dir(&self.cwd)
                .stdin(Stdio::null())
                .env("FLYTE_ATTEMPT_NUMBER", number.to_string())
                .env("FLYTE_INTERNAL_EXECUTION_ID", &self.execution)
                .env("FLYTE_INTERNAL_EXECUTION_PROJECT", "flytesnacks")
                .env("FLYTE_INTERNAL_EXECUTION_DOMAIN", "development")
                .env("FLYTE_INTERNAL_EXECUTION_WORKFLOW", &self.workflow_id)
                .env("FLYTE_INTERNAL_TASK_NAME", &name)
                .env("FLYTE_INTERNAL_TASK_PROJECT", "flytesnacks")
                .env("FLYTE_INTERNAL_TASK_DOMAIN", "development")
                .env("FLYTE_INTERNAL_TASK_VERSION", "v1");
            for kv in &container.env {
                cmd.env(&kv.key, &kv.value);
            }
            for (k, v) in self.env.iter().chain(extra_env) {
                cmd.env(k, v);
            }
            let mut attempt = Attempt {
                node: path.to_owned(),
                task: name.clone(),
                number,
                outcome: Outcome::Succeeded,
                checkpoint: checkpoint.clone(),
                prev_checkpoint: prev.clone(),
                stderr: String::new(),
                outputs: LiteralMap::default(),
            };
            let mut cmd = (self.before)(&attempt, cmd);
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
            if let Some((after, signal)) = (self.signal)(&attempt) {
                let pid = child.id().to_string();
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    let _ = Command::new("kill").arg(format!("-{signal}")).arg(&pid).status();
                });
            }
            let ran = child
                .wait_with_output()
                .map_err(|e| format!("cannot wait for {cmd:?}: {e}"))?;
            attempt.stderr = String::from_utf8_lossy(&ran.stderr).into_owned();
            let error = Location::parse(&format!("{out}/error.pb"))
                .unwrap()
                .read_if_exists()
                .unwrap();
            let outputs = Location::parse(&format!("{out}/outputs.pb"))
                .unwrap()
                .read_if_exists()
                .unwrap();
            let futures = Location::parse(&format!("{out}/futures.pb"))
                .unwrap()
                .read_if_exists()
                .unwrap();
            // Propeller's dynamic handler: `futures.pb` without `outputs.pb` is a graph to run.
            let dynamic = outputs.is_none() && futures.is_some();
            let outputs = outputs.or(futures);
            attempt.outcome = match (&error, &outputs) {
                (Some(bytes), _) => {
                    let doc = ErrorDocument::decode(&bytes[..]).map_err(|e| format!("{out}/error.pb: {e}"))?;
                    let e = doc.error.unwrap_or_default();
                    Outcome::Failed {
                        code: e.code,
                        recoverable: e.kind == container_error::Kind::Recoverable as i32,
                        user: e.origin == flyte_idl::core::execution_error::ErrorKind::User as i32,
                        message: e.message,
                    }
                }
                (None, Some(bytes)) => {
                    if !dynamic {
                        attempt.outputs =
                            LiteralMap::decode(&bytes[..]).map_err(|e| format!("{out}/outputs.pb: {e}"))?;
                    }
                    Outcome::Succeeded
                }
                (None, None) => Outcome::Died(ran.status.to_string()),
            };
            let outcome = attempt.outcome.clone();
            self.attempts.push(attempt);
            match outcome {
                Outcome::Succeeded if dynamic => {
                    let spec =
                        DynamicJobSpec::decode(&outputs.unwrap()[..]).map_err(|e| format!("{out}/futures.pb: {e}"))?;
                    return self.run_dynamic(spec, inputs, path);
                }
                Outcome::Succeeded => {
                    return LiteralMap::decode(&outputs.unwrap()[..]).map_err(|e| format!("{out}/outputs.pb: {e}"));
                }
                Outcome::Failed { recoverable: true, .. } if failures < retries => failures += 1,
                Outcome::Died(_) if deaths < self.max_system_failures => deaths += 1,
                other => {
                    self.error = Some(execution_error(&other, failures + 1, retries + 1, deaths));
                    return Err(format!(
                        "node {path} (task {name}) failed on attempt {number}: {other:?}"
                    ));
                }
            }
            prev = checkpoint;
        }
        unreachable!()
    }
}

/// The error of a node whose last attempt ended as `last`, as propeller's node executor words
/// it: a non-recoverable error as `error.pb` has it; a recoverable one, its retries spent, as
/// `RetriesExhausted|<code>` with `[<attempt>/<attempts>] currentAttempt done. Last Error:
/// <KIND>::<message>`; a process that died past its system-failure budget likewise, its exit
/// status for a message (propeller reads the pod's status there, which the stand-in has not).
fn execution_error(last: &Outcome, attempt: u32, attempts: u32, deaths: u32) -> ExecutionError {
    use flyte_idl::core::execution_error::ErrorKind;
    let exhausted = |code: &str, kind: ErrorKind, message: &str, (n, m): (u32, u32)| ExecutionError {
        code: format!("RetriesExhausted|{code}"),
        message: format!(
            "[{n}/{m}] currentAttempt done. Last Error: {}::{message}",
            kind.as_str_name()
        ),
        kind: ErrorKind::User as i32,
        ..Default::default()
    };
    match last {
        Outcome::Failed {
            code,
            recoverable,
            user,
            message,
        } => {
            let kind = if *user { ErrorKind::User } else { ErrorKind::System };
            if *recoverable {
                exhausted(code, kind, message, (attempt, attempts))
            } else {
                ExecutionError {
                    code: code.clone(),
                    message: message.clone(),
                    kind: kind as i32,
                    ..Default::default()
                }
            }
        }
        Outcome::Died(status) => exhausted(
            "Died",
            ErrorKind::System,
            &format!("the process ended ({status}) without error.pb or outputs.pb"),
            (deaths + 1, deaths + 1),
        ),
        Outcome::Succeeded => ExecutionError::default(),
    }
}

/// The literal propeller gives a failure node's input `err`: flytekit's `Optional[FlyteError]`
/// holding a `core.Error`.
fn flyte_error(message: &str, failed_node_id: &str) -> Literal {
    use flyte_idl::core::{literal_type, LiteralType, SimpleType, TypeStructure, Union};
    let error = Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(scalar::Value::Error(flyte_idl::core::Error {
                failed_node_id: failed_node_id.to_owned(),
                message: message.to_owned(),
            })),
        }))),
        ..Default::default()
    };
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(scalar::Value::Union(Box::new(Union {
                value: Some(Box::new(error)),
                r#type: Some(LiteralType {
                    r#type: Some(literal_type::Type::Simple(SimpleType::Error as i32)),
                    structure: Some(TypeStructure {
                        tag: "FlyteError".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }))),
        }))),
        ..Default::default()
    }
}

/// The `core.Error` in a failure node's `err` input, as [`flyte_error`] makes it: its
/// `failed_node_id` and `message`.
pub fn as_flyte_error(l: &Literal) -> Option<(String, String)> {
    let Some(literal::Value::Scalar(s)) = l.value.as_ref() else {
        return None;
    };
    let Some(scalar::Value::Union(u)) = s.value.as_ref() else {
        return None;
    };
    match u.value.as_ref()?.value.as_ref()? {
        literal::Value::Scalar(s) => match s.value.as_ref()? {
            scalar::Value::Error(e) => Some((e.failed_node_id.clone(), e.message.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The nodes `n` waits for.
fn deps(n: &Node) -> Vec<String> {
    let mut found: Vec<String> = n.upstream_node_ids.clone();
    fn walk(b: &BindingData, found: &mut Vec<String>) {
        match &b.value {
            Some(binding_data::Value::Promise(p)) if !p.node_id.is_empty() && p.node_id != "start-node" => {
                found.push(p.node_id.clone())
            }
            Some(binding_data::Value::Collection(c)) => c.bindings.iter().for_each(|b| walk(b, found)),
            Some(binding_data::Value::Map(m)) => m.bindings.values().for_each(|b| walk(b, found)),
            _ => {}
        }
    }
    for b in &n.inputs {
        walk(b.binding.as_ref().unwrap(), &mut found);
    }
    found
}

fn resolve(b: &BindingData, outputs: &Outputs) -> Result<Literal, String> {
    let value = match b.value.as_ref().ok_or("an empty binding")? {
        binding_data::Value::Scalar(s) => literal::Value::Scalar(Box::new(s.clone())),
        binding_data::Value::Promise(p) => {
            let map = outputs
                .get(&p.node_id)
                .ok_or_else(|| format!("no outputs of node {:?} yet", p.node_id))?;
            if !p.attr_path.is_empty() {
                return Err("the stand-in does not follow attribute paths".into());
            }
            return map
                .literals
                .get(&p.var)
                .cloned()
                .ok_or_else(|| format!("node {:?} has no output {}", p.node_id, p.var));
        }
        binding_data::Value::Collection(c) => literal::Value::Collection(LiteralCollection {
            literals: c
                .bindings
                .iter()
                .map(|b| resolve(b, outputs))
                .collect::<Result<_, _>>()?,
        }),
        binding_data::Value::Map(m) => literal::Value::Map(LiteralMap {
            literals: m
                .bindings
                .iter()
                .map(|(k, b)| Ok((k.clone(), resolve(b, outputs)?)))
                .collect::<Result<_, String>>()?,
        }),
        binding_data::Value::OffloadedMetadata(_) => return Err("offloaded literals are not supported".into()),
    };
    Ok(Literal {
        value: Some(value),
        ..Default::default()
    })
}

/// A primitive to compare.
#[derive(Debug, PartialEq, PartialOrd)]
enum Prim {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

fn prim(p: &Primitive) -> Result<Prim, String> {
    Ok(match p.value.as_ref().ok_or("an empty primitive")? {
        primitive::Value::Integer(i) => Prim::Int(*i),
        primitive::Value::FloatValue(f) => Prim::Float(*f),
        primitive::Value::StringValue(s) => Prim::Str(s.clone()),
        primitive::Value::Boolean(b) => Prim::Bool(*b),
        other => return Err(format!("cannot compare {other:?}")),
    })
}

fn scalar_prim(s: &Scalar) -> Result<Prim, String> {
    match s.value.as_ref() {
        Some(scalar::Value::Primitive(p)) => prim(p),
        other => Err(format!("cannot compare {other:?}")),
    }
}

fn operand_value(o: &flyte_idl::core::Operand, inputs: &LiteralMap) -> Result<Prim, String> {
    #[allow(deprecated)]
    match o.val.as_ref().ok_or("an empty operand")? {
        operand::Val::Primitive(p) => prim(p),
        operand::Val::Scalar(s) => scalar_prim(s),
        operand::Val::Var(v) => match inputs.literals.get(v).and_then(|l| l.value.as_ref()) {
            Some(literal::Value::Scalar(s)) => scalar_prim(s),
            other => Err(format!("operand {v}: {other:?}")),
        },
    }
}

fn eval(e: &BooleanExpression, inputs: &LiteralMap) -> Result<bool, String> {
    match e.expr.as_ref().ok_or("an empty condition")? {
        boolean_expression::Expr::Conjunction(c) => {
            let l = eval(c.left_expression.as_ref().ok_or("no left")?, inputs)?;
            let r = eval(c.right_expression.as_ref().ok_or("no right")?, inputs)?;
            Ok(if c.operator == conjunction_expression::LogicalOperator::And as i32 {
                l && r
            } else {
                l || r
            })
        }
        boolean_expression::Expr::Comparison(c) => {
            let l = operand_value(c.left_value.as_ref().ok_or("no left")?, inputs)?;
            let r = operand_value(c.right_value.as_ref().ok_or("no right")?, inputs)?;
            use comparison_expression::Operator as Op;
            let op = Op::try_from(c.operator).map_err(|e| e.to_string())?;
            let (l, r) = match (l, r) {
                (Prim::Int(a), Prim::Float(b)) => (Prim::Float(a as f64), Prim::Float(b)),
                (Prim::Float(a), Prim::Int(b)) => (Prim::Float(a), Prim::Float(b as f64)),
                pair => pair,
            };
            Ok(match op {
                Op::Eq => l == r,
                Op::Neq => l != r,
                Op::Gt => l > r,
                Op::Gte => l >= r,
                Op::Lt => l < r,
                Op::Lte => l <= r,
            })
        }
    }
}

/// `None`, as a literal.
fn none() -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(scalar::Value::NoneType(flyte_idl::core::Void {})),
        }))),
        ..Default::default()
    }
}

/// An integer literal.
pub fn int(v: i64) -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(scalar::Value::Primitive(Primitive {
                value: Some(primitive::Value::Integer(v)),
            })),
        }))),
        ..Default::default()
    }
}

/// The integer a literal holds.
pub fn as_int(l: &Literal) -> Option<i64> {
    match l.value.as_ref()? {
        literal::Value::Scalar(s) => match s.value.as_ref()? {
            scalar::Value::Primitive(Primitive {
                value: Some(primitive::Value::Integer(i)),
            }) => Some(*i),
            _ => None,
        },
        _ => None,
    }
}
