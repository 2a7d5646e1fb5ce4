//! A graph as data: what a durable execution records of the graph a dynamic node's body built,
//! so that the execution, run again, runs that same graph without running the body again (a
//! body that reads a clock or a file could build another).
//!
//! Everything in a graph is data but the tasks (and nested dynamic bodies) its nodes run, and
//! the typed comparisons of its branches. Tasks are recorded by their module path and name, and
//! found again in a registry every `#[task]` and `#[dynamic]` adds itself to when the program
//! starts (`inventory`); a comparison by the type it compares.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::binding::{Binding, Tables};
use crate::branch::{BranchSpec, Builtin, Comparison, Condition, Op, Otherwise};
use crate::dynamic::{Dynamic, ErasedDynamic};
use crate::graph::{Graph, MapSpec, Node, Runs};
use crate::task::{ErasedTask, Task};
use crate::value::Encoded;

/// A task or dynamic body, made from its name when a recorded graph is rebuilt. The macros
/// submit one per `#[task]` and `#[dynamic]`.
#[doc(hidden)]
pub struct Registration {
    key: &'static str,
    make: Make,
}

enum Make {
    Task(fn() -> Arc<dyn ErasedTask>),
    Dynamic(fn() -> Arc<dyn ErasedDynamic>),
}

inventory::collect!(Registration);

impl Registration {
    /// `key` is `module_path!()`, `::` and the function's name.
    pub const fn task<T: Task + Default>(key: &'static str) -> Self {
        Registration {
            key,
            make: Make::Task(make_task::<T>),
        }
    }

    pub const fn dynamic<D: Dynamic + Default>(key: &'static str) -> Self {
        Registration {
            key,
            make: Make::Dynamic(make_dynamic::<D>),
        }
    }
}

fn make_task<T: Task + Default>() -> Arc<dyn ErasedTask> {
    Arc::new(T::default())
}

fn make_dynamic<D: Dynamic + Default>() -> Arc<dyn ErasedDynamic> {
    Arc::new(D::default())
}

fn registry() -> &'static HashMap<&'static str, &'static Make> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static Make>> = OnceLock::new();
    REGISTRY.get_or_init(|| inventory::iter::<Registration>().map(|r| (r.key, &r.make)).collect())
}

/// A node for every task and dynamic workflow of the program (every `#[task]` and `#[dynamic]`,
/// wherever it is called, in a dynamic body too), with its id `n0`: what a task container looks a
/// task up in when the workflows' graphs do not call it (a task only a dynamic body calls).
pub fn registered_nodes() -> Vec<Node> {
    let mut keys: Vec<&&str> = registry().keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let runs = match registry()[*key] {
                Make::Task(make) => Runs::Task(make()),
                Make::Dynamic(make) => Runs::Dynamic(make()),
            };
            Node::from_parts(
                "n0".to_owned(),
                String::new(),
                runs,
                Vec::new(),
                Vec::new(),
                Vec::new(),
                None,
                None,
                None,
                None,
            )
        })
        .collect()
}

/// How a task is recorded: `module::name`.
fn key(spec: &crate::TaskInfo) -> String {
    format!("{}::{}", spec.module(), spec.name())
}

/// A graph, recorded.
#[derive(Serialize, Deserialize)]
pub(crate) struct GraphRecord {
    name: String,
    inputs: Vec<String>,
    nodes: Vec<NodeRecord>,
    literals: Vec<Vec<u8>>,
    tables: Tables,
    outputs: Vec<Binding>,
    /// Flyte's `FAIL_AFTER_EXECUTABLE_NODES_COMPLETE` rather than the default.
    after_executable: bool,
}

#[derive(Serialize, Deserialize)]
struct NodeRecord {
    id: String,
    workflow: String,
    runs: RunsRecord,
    inputs: Vec<Binding>,
    upstream: Vec<usize>,
    after: Vec<usize>,
    map: Option<MapSpec>,
    guard: Option<(usize, usize)>,
    branch: Option<BranchRecord>,
    output_of: Option<usize>,
}

#[derive(Serialize, Deserialize)]
enum RunsRecord {
    Task(String),
    /// A branch, or a branch's output.
    Builtin(String),
    Workflow(Box<GraphRecord>),
    Dynamic(String),
}

#[derive(Serialize, Deserialize)]
struct BranchRecord {
    cases: Vec<(ConditionRecord, Vec<Binding>)>,
    otherwise: Otherwise,
    otherwise_outputs: Vec<Binding>,
    output_node: Option<usize>,
}

#[derive(Serialize, Deserialize)]
enum ConditionRecord {
    Compare {
        left: Binding,
        op: Op,
        right: Binding,
        /// The Rust type compared (`u64`, `alloc::string::String`).
        compares: String,
    },
    And(Box<ConditionRecord>, Box<ConditionRecord>),
    Or(Box<ConditionRecord>, Box<ConditionRecord>),
}

impl GraphRecord {
    pub fn of(graph: &Graph) -> GraphRecord {
        GraphRecord {
            name: graph.name().to_owned(),
            inputs: graph.inputs().iter().map(|s| (*s).to_owned()).collect(),
            nodes: graph.nodes().iter().map(NodeRecord::of).collect(),
            literals: graph.literals().iter().map(|l| l.as_bytes().to_vec()).collect(),
            tables: graph.tables().clone(),
            outputs: graph.outputs().to_vec(),
            after_executable: graph.failure_policy() == crate::FailurePolicy::FailAfterExecutableNodesComplete,
        }
    }

    /// The graph again, its tasks found in the registry; what it cannot rebuild, in words.
    pub fn rebuild(self) -> Result<Graph, String> {
        let nodes = self
            .nodes
            .into_iter()
            .map(NodeRecord::rebuild)
            .collect::<Result<_, _>>()?;
        // A graph names itself and its inputs for as long as the program runs; a rebuilt one,
        // once per dynamic node a resumed execution runs, leaks these few strings.
        let name: &'static str = Box::leak(self.name.into_boxed_str());
        let inputs: Vec<&'static str> = self
            .inputs
            .into_iter()
            .map(|i| &*Box::leak(i.into_boxed_str()))
            .collect();
        Ok(Graph::from_parts(
            name,
            Box::leak(inputs.into_boxed_slice()),
            nodes,
            self.literals.iter().map(|b| Encoded::from_bytes(b)).collect(),
            self.tables,
            self.outputs,
            if self.after_executable {
                crate::FailurePolicy::FailAfterExecutableNodesComplete
            } else {
                crate::FailurePolicy::FailImmediately
            },
        ))
    }
}

impl NodeRecord {
    fn of(node: &Node) -> NodeRecord {
        let runs = match node.runs() {
            Runs::Task(task) if node.branch().is_some() || node.output_of().is_some() => {
                RunsRecord::Builtin(task.info().name().to_owned())
            }
            Runs::Task(task) => RunsRecord::Task(key(&task.info())),
            Runs::Workflow(graph) => RunsRecord::Workflow(Box::new(GraphRecord::of(graph))),
            Runs::Dynamic(dynamic) => RunsRecord::Dynamic(key(&dynamic.info())),
        };
        NodeRecord {
            id: node.id().to_owned(),
            workflow: node.workflow().to_owned(),
            runs,
            inputs: node.inputs().to_vec(),
            upstream: node.upstream().to_vec(),
            after: node.after().to_vec(),
            map: node.map_spec().cloned(),
            guard: node.guard(),
            branch: node.branch().map(|b| BranchRecord {
                cases: b
                    .cases
                    .iter()
                    .map(|(c, out)| (ConditionRecord::of(c), out.clone()))
                    .collect(),
                otherwise: b.otherwise.clone(),
                otherwise_outputs: b.otherwise_outputs.clone(),
                output_node: b.output_node,
            }),
            output_of: node.output_of(),
        }
    }

    fn rebuild(self) -> Result<Node, String> {
        let missing = |what: &str, key: &str| {
            format!("the recorded graph runs the {what} `{key}`, which this program does not have (was it renamed or removed since the execution began?)")
        };
        let runs = match self.runs {
            RunsRecord::Task(key) => match registry().get(key.as_str()) {
                Some(Make::Task(make)) => Runs::Task(make()),
                _ => return Err(missing("task", &key)),
            },
            RunsRecord::Dynamic(key) => match registry().get(key.as_str()) {
                Some(Make::Dynamic(make)) => Runs::Dynamic(make()),
                _ => return Err(missing("dynamic workflow", &key)),
            },
            RunsRecord::Builtin(name) => match name.as_str() {
                "branch" => Runs::Task(Arc::new(Builtin("branch"))),
                "branch output" => Runs::Task(Arc::new(Builtin("branch output"))),
                other => return Err(missing("node kind", other)),
            },
            RunsRecord::Workflow(graph) => Runs::Workflow(Arc::new(graph.rebuild()?)),
        };
        let branch = match self.branch {
            Some(b) => Some(Box::new(BranchSpec {
                cases: b
                    .cases
                    .into_iter()
                    .map(|(c, out)| Ok((c.rebuild()?, out)))
                    .collect::<Result<_, String>>()?,
                otherwise: b.otherwise,
                otherwise_outputs: b.otherwise_outputs,
                output_node: b.output_node,
            })),
            None => None,
        };
        Ok(Node::from_parts(
            self.id,
            self.workflow,
            runs,
            self.inputs,
            self.upstream,
            self.after,
            self.map,
            self.guard,
            branch,
            self.output_of,
        ))
    }
}

impl ConditionRecord {
    fn of(condition: &Condition) -> ConditionRecord {
        match condition {
            Condition::Compare(c) => ConditionRecord::Compare {
                left: c.left,
                op: c.op,
                right: c.right,
                compares: c.compares().to_owned(),
            },
            Condition::And(a, b) => ConditionRecord::And(Box::new(Self::of(a)), Box::new(Self::of(b))),
            Condition::Or(a, b) => ConditionRecord::Or(Box::new(Self::of(a)), Box::new(Self::of(b))),
        }
    }

    fn rebuild(self) -> Result<Condition, String> {
        Ok(match self {
            ConditionRecord::Compare {
                left,
                op,
                right,
                compares,
            } => {
                Condition::Compare(Comparison::of_type(left, op, right, &compares).ok_or_else(|| {
                    format!("the recorded graph compares `{compares}`, which a branch cannot compare")
                })?)
            }
            ConditionRecord::And(a, b) => a.rebuild()?.and(b.rebuild()?),
            ConditionRecord::Or(a, b) => a.rebuild()?.or(b.rebuild()?),
        })
    }
}
