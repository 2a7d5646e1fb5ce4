//! The registration package: a workflow binary's workflows as the `.tgz` that
//! `flytectl register files --archive` registers, written as `pyflyte package` writes its own.
//!
//! One `admin.TaskSpec` per task (`task_spec.rs`), one `admin.WorkflowSpec` per workflow with the
//! sub-workflows it calls embedded (`workflow_spec.rs`), and one default `admin.LaunchPlan` per
//! workflow, sub-workflows included. Each is a file `<index>_<name>_<1|2|3>.pb` (1 task, 2
//! workflow, 3 launch plan), indices zero-padded to one width, every entity after those it
//! refers to. Project, domain and version are left empty: `flytectl register files` fills them.
//!
//! ```ignore
//! // (flytekit's own tests run this: tests/flyte_package.rs)
//! use flyte_cluster::package::{Options, Package, WorkflowSource};
//! use flytekit::{task, workflow};
//!
//! #[task]
//! fn double(x: u64) -> u64 { 2 * x }
//!
//! #[workflow]
//! fn twice(x: u64) -> u64 { double(double(x)) }
//!
//! let options = Options::new("example.com/workflows:1");
//! let package = Package::build(&[WorkflowSource::of(&twice)?], &options)?;
//! let names = package.file_names();
//! assert_eq!(names.len(), 3);
//! assert!(names[0].ends_with("double_1.pb") && names[1].ends_with("twice_2.pb"));
//! let mut tgz = Vec::new();
//! package.write_tgz(&mut tgz)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod task_spec;
mod workflow_spec;

pub use task_spec::IMAGE_ENV;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use flyte_idl::admin;
use flyte_idl::core::{self, Identifier, ResourceType};
use flyte_idl::prost::Message;
use flyte_runtime::{Graph, Interface, InterfaceError, SubWorkflowCall, Workflow};

use crate::literal::LiteralError;

/// The version the tasks' `metadata.runtime` names, with `FLYTE_SDK` and the flavor `rust`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The input of an `on_failure` task that Flyte fills with the workflow's failure: propeller
/// replaces the failure node's input of this name (and no other) with a `core.Error`, which is
/// flytekit's `err: Optional[FlyteError]` convention. The package gives the task's last input,
/// the [`WorkflowFailure`](flyte_runtime::WorkflowFailure), this name.
pub const FAILURE_INPUT: &str = "err";

/// What the package needs beyond the workflows.
#[derive(Debug, Clone)]
pub struct Options {
    /// The container image every task runs in: the workflow binary, as its entry point.
    pub image: String,
}

impl Options {
    /// Tasks run in `image`.
    pub fn new(image: impl Into<String>) -> Self {
        Options { image: image.into() }
    }
}

/// A workflow to package: its name, module, typed interface and graph.
#[derive(Debug)]
pub struct WorkflowSource {
    name: &'static str,
    module: &'static str,
    docs: &'static str,
    interface: Interface,
    graph: Graph,
}

impl WorkflowSource {
    /// Everything `workflow` says about itself; an error if its interface or graph cannot be
    /// made.
    pub fn of<W: Workflow>(workflow: &W) -> Result<Self, PackageError> {
        let name = workflow.name();
        let qualified = qualified(workflow.module(), name);
        Ok(WorkflowSource {
            name,
            module: workflow.module(),
            docs: workflow.docs(),
            interface: workflow.interface().map_err(|source| PackageError::Interface {
                entity: qualified.clone(),
                source: Box::new(source),
            })?,
            graph: workflow.graph().map_err(|source| PackageError::Graph {
                workflow: qualified,
                source: Box::new(source),
            })?,
        })
    }

    fn of_call(call: &SubWorkflowCall) -> Result<Self, PackageError> {
        let qualified = qualified(call.module(), call.name());
        Ok(WorkflowSource {
            name: call.name(),
            module: call.module(),
            docs: call.docs(),
            interface: call.interface().map_err(|source| PackageError::Interface {
                entity: qualified.clone(),
                source: Box::new(source),
            })?,
            graph: call.graph().map_err(|source| PackageError::Graph {
                workflow: qualified,
                source: Box::new(source),
            })?,
        })
    }

    /// `module.function`, as flytekit names a workflow (`twins.diamond.diamond`).
    pub fn qualified_name(&self) -> String {
        qualified(self.module, self.name)
    }
}

/// `twins::diamond` and `double` as flytekit writes a Python function's name:
/// `twins.diamond.double`.
pub fn qualified(module: &str, name: &str) -> String {
    if module.is_empty() {
        return name.to_owned();
    }
    format!("{}.{name}", module.replace("::", "."))
}

/// Why a package cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// A task's or workflow's interface has an input or output without a Flyte type.
    #[error("{entity}: {source}")]
    Interface {
        /// The task or workflow, qualified.
        entity: String,
        /// Which slot, and why.
        source: Box<InterfaceError>,
    },
    /// A workflow's graph cannot be built.
    #[error("workflow {workflow}: {source}")]
    Graph {
        /// The workflow, qualified.
        workflow: String,
        /// Why.
        source: Box<flyte_runtime::Error>,
    },
    /// A value written in a workflow's body is not a literal of the type it is bound to.
    #[error("workflow {workflow}: the value bound to {place} is not a Flyte literal: {source}")]
    Literal {
        /// The workflow, qualified.
        workflow: String,
        /// The input or output it is bound to (`n2 input xs`).
        place: String,
        /// Why.
        source: Box<LiteralError>,
    },
    /// The graph holds something this package writer cannot write as Flyte's IDL yet.
    #[error("workflow {workflow}: {what} cannot be packaged for Flyte yet")]
    Unsupported {
        /// The workflow, qualified.
        workflow: String,
        /// What, and where.
        what: String,
    },
    /// Two different tasks or workflows have one qualified name.
    #[error("two different {kind}s are named {name}: give one of them another name or module")]
    Conflict {
        /// `task` or `workflow`.
        kind: &'static str,
        /// The qualified name.
        name: String,
    },
}

/// One entity of a package.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Entity {
    /// `1`: a task.
    Task(admin::TaskSpec),
    /// `2`: a workflow, with the sub-workflows it calls.
    Workflow(admin::WorkflowSpec),
    /// `3`: a workflow's default launch plan.
    LaunchPlan(admin::LaunchPlan),
}

impl Entity {
    /// The entity's name (its identifier's).
    pub fn name(&self) -> &str {
        let id = match self {
            Entity::Task(t) => t.template.as_ref().and_then(|t| t.id.as_ref()),
            Entity::Workflow(w) => w.template.as_ref().and_then(|t| t.id.as_ref()),
            Entity::LaunchPlan(l) => l.id.as_ref(),
        };
        id.map_or("", |id| id.name.as_str())
    }

    /// The digit of its file name: 1 task, 2 workflow, 3 launch plan.
    pub fn kind(&self) -> u8 {
        match self {
            Entity::Task(_) => 1,
            Entity::Workflow(_) => 2,
            Entity::LaunchPlan(_) => 3,
        }
    }

    /// The protobuf bytes of its `.pb` file.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            Entity::Task(t) => t.encode_to_vec(),
            Entity::Workflow(w) => w.encode_to_vec(),
            Entity::LaunchPlan(l) => l.encode_to_vec(),
        }
    }
}

/// The entities of a package, in the order they are registered.
#[derive(Debug, Clone)]
pub struct Package {
    entities: Vec<Entity>,
    tasks: BTreeMap<String, PackagedTask>,
}

/// A task of a package as its container runs it: the graph node that calls it, whether the
/// name is the one of flytekit's map task over it (`module.map_<fn>_<md5>-arraynode`), whose
/// container runs one element (`execute --map`), and whether it is a workflow's `on_failure`
/// task, whose last input is registered as [`FAILURE_INPUT`].
#[derive(Clone)]
pub struct PackagedTask {
    node: flyte_runtime::Node,
    map: bool,
    failure_hook: bool,
}

impl PackagedTask {
    /// A node that calls the task (the first the walk met; every node calling a task of one
    /// name runs the same task).
    pub fn node(&self) -> &flyte_runtime::Node {
        &self.node
    }

    /// Whether this is a map task's name: its inputs and outputs are lists, and a container
    /// runs one element.
    pub fn is_map(&self) -> bool {
        self.map
    }

    /// Whether this is a workflow's `on_failure` task: its last input, a
    /// [`WorkflowFailure`](flyte_runtime::WorkflowFailure), is the input [`FAILURE_INPUT`] of the
    /// package's interface, which propeller fills with a `core.Error`.
    pub fn is_failure_hook(&self) -> bool {
        self.failure_hook
    }
}

impl std::fmt::Debug for PackagedTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackagedTask")
            .field("task", &self.node.task_name())
            .field("map", &self.map)
            .field("failure_hook", &self.failure_hook)
            .finish()
    }
}

impl Package {
    /// The package of `workflows`, with every task they call and every workflow they call as a
    /// sub-workflow.
    pub fn build(workflows: &[WorkflowSource], options: &Options) -> Result<Package, PackageError> {
        let mut builder = Builder {
            options,
            entities: Vec::new(),
            tasks: HashMap::new(),
            workflows: HashMap::new(),
            runnable: BTreeMap::new(),
            prefix: "n",
        };
        for workflow in workflows {
            builder.workflow(workflow)?;
        }
        Ok(Package {
            entities: builder.entities,
            tasks: builder.runnable,
        })
    }

    /// Every task of the package by its Flyte name (`module.function`, and a map task's
    /// `module.map_<fn>_<md5>-arraynode`), with the graph node that runs it: what the task
    /// container's `execute --task NAME` looks up, found by the same walk that names the tasks
    /// in the package (sub-workflows, branches' cases, maps, dynamic nodes, failure nodes).
    pub fn tasks(&self) -> &BTreeMap<String, PackagedTask> {
        &self.tasks
    }

    /// The entities, in the order they are registered.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// Each entity's file name, `<index>_<name>_<1|2|3>.pb`, in order.
    pub fn file_names(&self) -> Vec<String> {
        let width = self.entities.len().to_string().len();
        self.entities
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i:0width$}_{}_{}.pb", e.name(), e.kind()))
            .collect()
    }

    /// Writes the package as a gzipped tar of its `.pb` files, at the top level. The same
    /// workflows give the same bytes (no timestamps, owners or modes of the machine).
    pub fn write_tgz(&self, out: impl Write) -> io::Result<()> {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for (name, entity) in self.file_names().iter().zip(&self.entities) {
            let bytes = entity.encode_to_vec();
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, bytes.as_slice())?;
        }
        tar.into_inner()?.finish()?.flush()
    }
}

/// The graph a dynamic workflow's body built (on its real inputs, in its task's container), as
/// the `core.DynamicJobSpec` its container writes to `futures.pb` in place of `outputs.pb`, as
/// flytekit's `@dynamic` does: the graph's nodes and output bindings translated as
/// [`Package::build`] translates a workflow's (one translation), the node ids `dn0`, `dn1`, ...
/// (flytekit's compilation prefix `d`), `min_successes` the number of nodes, the templates of
/// every task the nodes run (named as the package names them, so that their containers'
/// `execute --task NAME` finds them) and the sub-workflows they call. Propeller compiles it
/// into a workflow whose interface is the dynamic node's, runs it under the node, and gives
/// its outputs as the node's.
///
/// `dynamic` is the dynamic node (its name, module and interface); `graph`, what its body built.
pub fn dynamic_job_spec(
    dynamic: &flyte_runtime::Node,
    graph: Graph,
    options: &Options,
) -> Result<core::DynamicJobSpec, PackageError> {
    let Some(info) = dynamic.info() else {
        return Err(PackageError::Unsupported {
            workflow: dynamic.task_name().to_owned(),
            what: "a dynamic node without a body".to_owned(),
        });
    };
    let name = qualified(info.module(), info.name());
    let interface = match dynamic.interface() {
        Some(Ok(interface)) => interface,
        Some(Err(source)) => {
            return Err(PackageError::Interface {
                entity: name,
                source: Box::new(source),
            })
        }
        None => {
            return Err(PackageError::Unsupported {
                workflow: name,
                what: "a dynamic node without an interface".to_owned(),
            })
        }
    };
    let source = WorkflowSource {
        name: info.name(),
        module: info.module(),
        docs: info.docs(),
        interface,
        graph,
    };
    let mut builder = Builder {
        options,
        entities: Vec::new(),
        tasks: HashMap::new(),
        workflows: HashMap::new(),
        runnable: BTreeMap::new(),
        prefix: "dn",
    };
    let (template, sub_workflows) = workflow_spec::translate(&mut builder, &source)?;
    let tasks = builder
        .entities
        .into_iter()
        .filter_map(|e| match e {
            Entity::Task(spec) => spec.template,
            _ => None,
        })
        .collect();
    Ok(core::DynamicJobSpec {
        min_successes: template.nodes.len() as i64,
        nodes: template.nodes,
        outputs: template.outputs,
        tasks,
        subworkflows: sub_workflows,
    })
}

/// Sets the project, domain and version of every identifier in `spec` (its tasks', its
/// sub-workflows', and every node's reference to them, at any depth), as flytekit's dynamic
/// task stamps them from its container's environment (the execution's project and domain, the
/// task's version): propeller compiles the spec's references against its own templates.
pub fn stamp_identifiers(spec: &mut core::DynamicJobSpec, project: &str, domain: &str, version: &str) {
    let stamp = |id: &mut Identifier| {
        id.project = project.to_owned();
        id.domain = domain.to_owned();
        id.version = version.to_owned();
    };
    fn nodes(list: &mut [core::Node], stamp: &dyn Fn(&mut Identifier)) {
        for n in list {
            node(n, stamp);
        }
    }
    fn node(n: &mut core::Node, stamp: &dyn Fn(&mut Identifier)) {
        use core::node::Target;
        match n.target.as_mut() {
            Some(Target::TaskNode(t)) => {
                if let Some(core::task_node::Reference::ReferenceId(id)) = t.reference.as_mut() {
                    stamp(id);
                }
            }
            Some(Target::WorkflowNode(w)) => match w.reference.as_mut() {
                Some(core::workflow_node::Reference::SubWorkflowRef(id))
                | Some(core::workflow_node::Reference::LaunchplanRef(id)) => stamp(id),
                None => {}
            },
            Some(Target::BranchNode(b)) => {
                if let Some(if_else) = b.if_else.as_mut() {
                    let cases = if_else.case.iter_mut().map(|c| &mut **c).chain(&mut if_else.other);
                    for then in cases.filter_map(|c| c.then_node.as_mut()) {
                        node(then, stamp);
                    }
                    if let Some(core::if_else_block::Default::ElseNode(e)) = if_else.default.as_mut() {
                        node(e, stamp);
                    }
                }
            }
            Some(Target::ArrayNode(a)) => {
                if let Some(sub) = a.node.as_mut() {
                    node(sub, stamp);
                }
            }
            _ => {}
        }
    }
    for task in &mut spec.tasks {
        if let Some(id) = task.id.as_mut() {
            stamp(id);
        }
    }
    for wf in &mut spec.subworkflows {
        if let Some(id) = wf.id.as_mut() {
            stamp(id);
        }
        nodes(&mut wf.nodes, &stamp);
        if let Some(f) = wf.failure_node.as_mut() {
            node(f, &stamp);
        }
    }
    nodes(&mut spec.nodes, &stamp);
}

/// The task of the Flyte name `name` among every `#[task]` and `#[dynamic]` of the program, named
/// as a package names them (`module.function`; a map task's `module.map_<fn>_<md5>-arraynode`
/// runs one element of `module.fn`): how a task container finds a task that no workflow calls
/// but a dynamic workflow's body does, whose graph exists only once the body has run.
pub fn registered_task(name: &str) -> Option<PackagedTask> {
    let (wanted, map) = match name.strip_suffix("-arraynode") {
        Some(rest) => {
            let (module, function) = rest.rsplit_once('.').map_or(("", rest), |(m, f)| (m, f));
            let function = function.strip_prefix("map_")?;
            let (function, hash) = function.rsplit_once('_')?;
            if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let wanted = if module.is_empty() {
                function.to_owned()
            } else {
                format!("{module}.{function}")
            };
            (wanted, true)
        }
        None => (name.to_owned(), false),
    };
    flyte_runtime::registered_nodes()
        .into_iter()
        .find(|node| {
            node.info()
                .is_some_and(|info| task_spec::task_name(&info) == wanted && !(map && node.is_dynamic()))
        })
        .map(|node| PackagedTask {
            node,
            map,
            failure_hook: false,
        })
}

/// A package being built: entities in order, and those already in it by name.
struct Builder<'o> {
    options: &'o Options,
    entities: Vec<Entity>,
    /// Tasks by name, with their bytes, to add each once and refuse two under one name.
    tasks: HashMap<String, Vec<u8>>,
    /// Workflows by name: the template and the sub-workflows it embeds, for callers.
    workflows: HashMap<String, (core::WorkflowTemplate, Vec<core::WorkflowTemplate>)>,
    /// Tasks by name, with the node that runs them, for the task container.
    runnable: BTreeMap<String, PackagedTask>,
    /// What the node ids of every workflow it translates start with: `n`, or `dn` for a dynamic
    /// job spec, whose sub-workflows flytekit compiles with the dynamic prefix too.
    prefix: &'static str,
}

impl Builder<'_> {
    /// Notes that `node` runs the task named `name` (one element of it when `map`).
    fn runs(&mut self, name: String, node: &flyte_runtime::Node, map: bool) {
        self.runnable.entry(name).or_insert_with(|| PackagedTask {
            node: node.clone(),
            map,
            failure_hook: false,
        });
    }

    /// Records that `on_failure` task `name` runs `node`: its package interface names the last
    /// input [`FAILURE_INPUT`]. (A task both called in a graph and a hook has two interfaces,
    /// which [`task`](Self::task) refuses as a conflict before this.)
    fn runs_failure_hook(&mut self, name: String, node: &flyte_runtime::Node) {
        self.runnable
            .entry(name)
            .and_modify(|task| task.failure_hook = true)
            .or_insert_with(|| PackagedTask {
                node: node.clone(),
                map: false,
                failure_hook: true,
            });
    }

    /// Adds a task, unless it is in already; an error if another task has its name.
    fn task(&mut self, spec: admin::TaskSpec) -> Result<(), PackageError> {
        let entity = Entity::Task(spec);
        let name = entity.name().to_owned();
        let bytes = entity.encode_to_vec();
        match self.tasks.get(&name) {
            Some(known) if *known == bytes => Ok(()),
            Some(_) => Err(PackageError::Conflict { kind: "task", name }),
            None => {
                self.tasks.insert(name, bytes);
                self.entities.push(entity);
                Ok(())
            }
        }
    }

    /// Adds a workflow (after its tasks and sub-workflows) and its launch plan, unless it is in
    /// already; returns its template and the sub-workflows it embeds.
    fn workflow(
        &mut self,
        source: &WorkflowSource,
    ) -> Result<(core::WorkflowTemplate, Vec<core::WorkflowTemplate>), PackageError> {
        let name = source.qualified_name();
        if let Some(known) = self.workflows.get(&name) {
            return Ok(known.clone());
        }
        let (template, sub_workflows) = workflow_spec::translate(self, source)?;
        self.workflows
            .insert(name.clone(), (template.clone(), sub_workflows.clone()));
        let interface = template.interface.clone();
        self.entities.push(Entity::Workflow(admin::WorkflowSpec {
            template: Some(template.clone()),
            sub_workflows: sub_workflows.clone(),
            description: description(source.docs),
        }));
        self.entities.push(Entity::LaunchPlan(launch_plan(&name, interface)));
        Ok((template, sub_workflows))
    }

    /// Adds the workflow `call` calls, and returns its template and those it embeds.
    fn sub_workflow(
        &mut self,
        call: &SubWorkflowCall,
    ) -> Result<(core::WorkflowTemplate, Vec<core::WorkflowTemplate>), PackageError> {
        let name = qualified(call.module(), call.name());
        if let Some(known) = self.workflows.get(&name) {
            return Ok(known.clone());
        }
        self.workflow(&WorkflowSource::of_call(call)?)
    }
}

/// A task's or workflow's documentation as its description, split as flytekit splits a
/// docstring: the first line is the short description, the rest the long one (Markdown, as
/// rustdoc is); none without documentation.
pub(crate) fn description(docs: &str) -> Option<admin::DescriptionEntity> {
    let docs = docs.trim();
    if docs.is_empty() {
        return None;
    }
    let (short, long) = docs.split_once('\n').unwrap_or((docs, ""));
    let long = long.trim();
    Some(admin::DescriptionEntity {
        short_description: short.trim().to_owned(),
        long_description: Some(admin::Description {
            format: admin::DescriptionFormat::Markdown as i32,
            content: (!long.is_empty()).then(|| admin::description::Content::Value(long.to_owned())),
            ..admin::Description::default()
        }),
        ..admin::DescriptionEntity::default()
    })
}

/// An identifier of `kind` named `name`, project, domain and version left for flytectl.
pub(crate) fn identifier(kind: ResourceType, name: &str) -> Identifier {
    Identifier {
        resource_type: kind as i32,
        name: name.to_owned(),
        ..Identifier::default()
    }
}

/// An interface in Flyte's types, each variable described by its name as flytekit does.
pub(crate) fn typed_interface(interface: &Interface) -> core::TypedInterface {
    let map = |slots: &[(String, flyte_runtime::Type)]| core::VariableMap {
        variables: slots
            .iter()
            .map(|(name, ty)| (name.clone(), variable(name, ty)))
            .collect(),
    };
    core::TypedInterface {
        inputs: Some(map(&interface.inputs)),
        outputs: Some(map(&interface.outputs)),
    }
}

fn variable(name: &str, ty: &flyte_runtime::Type) -> core::Variable {
    core::Variable {
        r#type: Some(crate::types::literal_type(ty)),
        description: name.to_owned(),
        ..core::Variable::default()
    }
}

/// The workflow's default launch plan: every input required, nothing fixed, and a closure that
/// is set but empty, as flytekit writes it.
fn launch_plan(name: &str, interface: Option<core::TypedInterface>) -> admin::LaunchPlan {
    let inputs = interface.and_then(|i| i.inputs).unwrap_or_default();
    let parameters: BTreeMap<String, core::Parameter> = inputs
        .variables
        .into_iter()
        .map(|(name, var)| {
            let parameter = core::Parameter {
                var: Some(var),
                behavior: Some(core::parameter::Behavior::Required(true)),
            };
            (name, parameter)
        })
        .collect();
    admin::LaunchPlan {
        id: Some(identifier(ResourceType::LaunchPlan, name)),
        spec: Some(admin::LaunchPlanSpec {
            workflow_id: Some(identifier(ResourceType::Workflow, name)),
            entity_metadata: Some(admin::LaunchPlanMetadata::default()),
            default_inputs: Some(core::ParameterMap { parameters }),
            fixed_inputs: Some(core::LiteralMap::default()),
            labels: Some(admin::Labels::default()),
            annotations: Some(admin::Annotations::default()),
            raw_output_data_config: Some(admin::RawOutputDataConfig::default()),
            ..admin::LaunchPlanSpec::default()
        }),
        closure: Some(admin::LaunchPlanClosure {
            expected_inputs: Some(core::ParameterMap::default()),
            expected_outputs: Some(core::VariableMap::default()),
            ..admin::LaunchPlanClosure::default()
        }),
    }
}
