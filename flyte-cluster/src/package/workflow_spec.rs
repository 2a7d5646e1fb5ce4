//! A workflow's graph as Flyte's `core.WorkflowTemplate`, as flytekit compiles a Python workflow.
//!
//! The local graph and Flyte's differ in three ways, which this file bridges:
//!
//! * A workflow called in a body is inlined in the caller's graph (its nodes are the caller's);
//!   Flyte has one sub-workflow node for the call, whose outputs the caller reads. The graph
//!   keeps each call ([`SubWorkflowCall`]): its nodes become that one node, and a binding to one
//!   of its outputs a promise of the node's `o<i>`.
//! * A branch is a node that decides, its cases' nodes guarded by it, and a node that gives the
//!   taken case's results; Flyte has one branch node holding each case's node. They become one
//!   branch node, whose case nodes are numbered inside it (`n0`, `n1`, ...) as flytekit does. A
//!   case's one node is a task call, a sub-workflow call, a map or another branch, at any depth;
//!   a case of several calls or none is refused (flytekit's `then()` takes one node).
//! * A map over a workflow runs the workflow's graph per element; Flyte's is an array node over
//!   the workflow's launch plan, as flytekit 1.16 writes `map_task(LaunchPlan.get_or_create(wf))`.
//! * Node ids are renumbered `n0`, `n1`, ... in the order flytekit would call them: a
//!   sub-workflow call or a branch counts as one node, and a branch comes after the nodes its
//!   condition reads.

use std::collections::{BTreeMap, BTreeSet};

use flyte_idl::core::{
    self, binding_data, boolean_expression, comparison_expression::Operator, conjunction_expression::LogicalOperator,
    node, node_metadata, operand, promise_attribute, ResourceType,
};
use flyte_runtime::{
    Binding, Condition, FailurePolicy, Graph, Interface, Node, Op, Otherwise, Step, SubWorkflowCall, Type,
};

use super::task_spec::{self, duration};
use super::{identifier, typed_interface, Builder, PackageError, WorkflowSource, FAILURE_INPUT};
use crate::literal::to_literal;

/// What one package node is made of.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A task node (or a dynamic one), node index.
    Task(usize),
    /// A `map(..)` over a task or a workflow, node index.
    Map(usize),
    /// A sub-workflow call, index into the graph's calls.
    Call(usize),
    /// A branch, the branch node's index.
    Branch(usize),
}

/// Which package node a node of the graph belongs to.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// Package node number `0`.
    Item(usize),
    /// The case node of the branch that is package node `0`.
    Case(usize),
}

struct Translator<'a, 'b> {
    builder: &'a mut Builder<'b>,
    source: &'a WorkflowSource,
    graph: &'a Graph,
    workflow: String,
    items: Vec<Item>,
    ids: Vec<String>,
    owner: Vec<Owner>,
    /// The outermost sub-workflow call each node belongs to, if any.
    call_of: Vec<Option<usize>>,
    /// Sub-workflows the template calls, with those they call, each once.
    sub_workflows: BTreeMap<String, core::WorkflowTemplate>,
    /// What node ids start with: `n` in a workflow, `dn` in a dynamic workflow's graph and the
    /// sub-workflows it embeds (as flytekit compiles a `@dynamic` body, with the compilation
    /// prefix `d`), a branch's cases included (`dn2` holds `dn0` and `dn1`, as flytekit names
    /// them there).
    prefix: &'static str,
}

/// The template of `source`, and every sub-workflow it calls at any depth (adding their tasks,
/// specs and launch plans to the package first), the node ids starting with the builder's
/// prefix (`n0`, or `dn0`, `dn1`, ... for the graph a dynamic workflow's body built and the
/// sub-workflows it calls).
pub(super) fn translate(
    builder: &mut Builder<'_>,
    source: &WorkflowSource,
) -> Result<(core::WorkflowTemplate, Vec<core::WorkflowTemplate>), PackageError> {
    let prefix = builder.prefix;
    let graph = &source.graph;
    let mut t = Translator {
        builder,
        source,
        graph,
        workflow: source.qualified_name(),
        items: Vec::new(),
        ids: Vec::new(),
        owner: Vec::new(),
        call_of: Vec::new(),
        sub_workflows: BTreeMap::new(),
        prefix,
    };
    t.assign()?;
    let mut nodes = Vec::new();
    for k in 0..t.items.len() {
        nodes.push(t.node(k)?);
    }
    let outputs = t.outputs()?;
    let failure_node = t.failure_node()?;
    let template = core::WorkflowTemplate {
        id: Some(identifier(ResourceType::Workflow, &t.workflow)),
        metadata: Some(core::WorkflowMetadata {
            on_failure: match graph.failure_policy() {
                FailurePolicy::FailImmediately => 0,
                FailurePolicy::FailAfterExecutableNodesComplete => 1,
            },
            ..core::WorkflowMetadata::default()
        }),
        interface: Some(typed_interface(&source.interface)),
        nodes,
        outputs,
        failure_node,
        metadata_defaults: Some(core::WorkflowMetadataDefaults::default()),
    };
    Ok((template, t.sub_workflows.into_values().collect()))
}

impl Translator<'_, '_> {
    fn unsupported(&self, what: impl Into<String>) -> PackageError {
        PackageError::Unsupported {
            workflow: self.workflow.clone(),
            what: what.into(),
        }
    }

    /// Groups the graph's nodes into package nodes, orders those as flytekit calls them, and
    /// numbers them; a node inside a branch's case (at any depth) belongs to the package node of
    /// its outermost branch.
    fn assign(&mut self) -> Result<(), PackageError> {
        let nodes = self.graph.nodes();
        let calls = self.graph.sub_workflows();
        // The outermost calls: each node is in at most one of them.
        self.call_of = vec![None; nodes.len()];
        for (c, call) in calls.iter().enumerate() {
            if call.nodes().clone().any(|n| self.call_of[n].is_some()) {
                continue;
            }
            for n in call.nodes() {
                self.call_of[n] = Some(c);
            }
        }
        self.items = self.region(None);
        self.ids = (0..self.items.len()).map(|k| format!("{}{k}", self.prefix)).collect();
        self.owner = vec![Owner::Item(usize::MAX); nodes.len()];
        for (k, item) in self.items.iter().enumerate() {
            match *item {
                Item::Task(i) | Item::Map(i) => self.owner[i] = Owner::Item(k),
                Item::Call(c) => {
                    for n in calls[c].nodes() {
                        self.owner[n] = Owner::Item(k);
                    }
                }
                Item::Branch(b) => {
                    self.owner[b] = Owner::Item(k);
                    if let Some(out) = nodes[b].branch().and_then(|s| s.output_node) {
                        self.owner[out] = Owner::Item(k);
                    }
                }
            }
        }
        // A node in a case belongs to the package node of the branch that guards it (its
        // branch comes before it, so is assigned first).
        for (n, node) in nodes.iter().enumerate() {
            if let (Owner::Item(usize::MAX), Some((g, _))) = (self.owner[n], node.guard()) {
                let (Owner::Item(k) | Owner::Case(k)) = self.owner[g];
                if k != usize::MAX {
                    self.owner[n] = Owner::Case(k);
                }
            }
        }
        if let Some(n) = (0..nodes.len()).find(|&n| matches!(self.owner[n], Owner::Item(usize::MAX))) {
            return Err(self.unsupported(format!("node n{n}, which belongs to no package node,")));
        }
        Ok(())
    }

    /// The package nodes of one region of the graph: the workflow's own nodes (`guard` `None`),
    /// or a case's (`Some((branch, case))`), in the order flytekit calls them. A sub-workflow
    /// call or a branch counts as one; a branch comes after the nodes its condition reads.
    fn region(&self, guard: Option<(usize, usize)>) -> Vec<Item> {
        let nodes = self.graph.nodes();
        let calls = self.graph.sub_workflows();
        // (sort key, item): a node's key is its index; a call's, its first node; a branch's,
        // the last node its condition reads, so that it comes after them.
        let mut keyed: Vec<((usize, u8, usize), Item)> = Vec::new();
        for (c, call) in calls.iter().enumerate() {
            let range = call.nodes();
            // A call without nodes (its outputs are its inputs) is the workflow's own.
            let outermost = range.is_empty() || self.call_of[range.start] == Some(c);
            let here = nodes.get(range.start).map_or(guard.is_none(), |n| n.guard() == guard);
            if outermost && here {
                keyed.push(((range.start, 0, c), Item::Call(c)));
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            if self.call_of[i].is_some() || node.output_of().is_some() || node.guard() != guard {
                continue;
            }
            if node.branch().is_some() {
                let last = node.upstream().iter().copied().chain([i]).max().unwrap_or(i);
                keyed.push(((last, 1, i), Item::Branch(i)));
            } else if node.map().is_some() {
                keyed.push(((i, 0, i), Item::Map(i)));
            } else {
                keyed.push(((i, 0, i), Item::Task(i)));
            }
        }
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, item)| item).collect()
    }

    /// The package node number `k`.
    fn node(&mut self, k: usize) -> Result<core::Node, PackageError> {
        let id = self.ids[k].clone();
        self.item_node(k, self.items[k], &id)
    }

    /// The node of `item`, under `id`, as part of package node `k` (itself, or a case of the
    /// branch that is `k`, at any depth).
    fn item_node(&mut self, k: usize, item: Item, id: &str) -> Result<core::Node, PackageError> {
        match item {
            Item::Task(i) => {
                let mut node = self.task_node(i, id)?;
                node.upstream_node_ids = self.upstream(k, [i]);
                Ok(node)
            }
            Item::Map(i) => self.map_node(k, i, id),
            Item::Call(c) => self.call_node(k, c, id),
            Item::Branch(b) => self.branch_node(k, b, id),
        }
    }

    /// The ids of the package nodes that the graph nodes `members` (package node `k`) wait for,
    /// sorted.
    fn upstream(&self, k: usize, members: impl IntoIterator<Item = usize>) -> Vec<String> {
        let mut ids = BTreeSet::new();
        for n in members {
            for &u in self.graph.nodes()[n].upstream() {
                let owner = match self.owner[u] {
                    Owner::Item(o) | Owner::Case(o) => o,
                };
                if owner != k {
                    ids.insert(self.ids[owner].clone());
                }
            }
        }
        ids.into_iter().collect()
    }

    /// The task node of graph node `i`, under `id`, without upstream nodes.
    fn task_node(&mut self, i: usize, id: &str) -> Result<core::Node, PackageError> {
        let node = &self.graph.nodes()[i];
        let (info, interface) = self.task_of(node)?;
        let mut spec = task_spec::task_spec(&info, &interface, self.builder.options);
        if node.is_dynamic() {
            task_spec::carry_image(&mut spec, &self.builder.options.image);
        }
        self.builder.task(spec)?;
        self.builder.runs(task_spec::task_name(&info), node, false);
        let inputs = self.bindings(&format!("n{i}"), &interface.inputs, node.inputs())?;
        Ok(core::Node {
            id: id.to_owned(),
            metadata: Some(task_metadata(info.name(), &info)),
            inputs,
            target: Some(node::Target::TaskNode(task_reference(&task_spec::task_name(&info)))),
            ..core::Node::default()
        })
    }

    fn task_of(&self, node: &Node) -> Result<(flyte_runtime::TaskInfo, Interface), PackageError> {
        let (Some(info), Some(interface)) = (node.info(), node.interface()) else {
            return Err(self.unsupported(format!(
                "node {} (a map over the workflow {}: flytekit writes it as an array node over the workflow's \
                 launch plan, which this writer does not write yet)",
                node.id(),
                node.task_name()
            )));
        };
        let interface = interface.map_err(|source| PackageError::Interface {
            entity: task_spec::task_name(&info),
            source: Box::new(source),
        })?;
        Ok((info, interface))
    }

    /// A `map(task, list, ..)`: an array node whose sub-node runs flytekit's map task.
    fn map_node(&mut self, k: usize, i: usize, id: &str) -> Result<core::Node, PackageError> {
        let node = &self.graph.nodes()[i];
        let options = node.map().unwrap_or(flyte_runtime::MapOptions {
            concurrency: None,
            min_success_ratio: 1.0,
        });
        if let Some(call) = self.graph.mapped_workflow_call(i) {
            return self.workflow_map_node(k, i, id, call, &options);
        }
        let (info, interface) = self.task_of(node)?;
        if interface.inputs.is_empty() {
            return Err(self.unsupported(format!(
                "node {} (a map over {}, which takes no input)",
                node.id(),
                node.task_name()
            )));
        }
        if interface.inputs.len() != 1 {
            return Err(self.unsupported(format!(
                "node {} (a map over {}, which takes {} inputs: ours maps one list of tuples, flytekit's map_task \
                 one list per input, and no node of a Flyte workflow splits the one into the others)",
                node.id(),
                node.task_name(),
                interface.inputs.len()
            )));
        }
        // flytekit registers the mapped task as well as the map task that runs it.
        self.builder
            .task(task_spec::task_spec(&info, &interface, self.builder.options))?;
        self.builder.task(task_spec::map_task_spec(
            &info,
            &interface,
            &options,
            self.builder.options,
        ))?;
        let name = task_spec::map_task_name(&info, &options);
        self.builder.runs(task_spec::task_name(&info), node, false);
        self.builder.runs(name.clone(), node, true);
        let (input, element) = &interface.inputs[0];
        let list = [(input.clone(), Type::Collection(Box::new(element.clone())))];
        let inputs = self.bindings(&format!("n{i}"), &list, node.inputs())?;
        let sub_node = core::Node {
            id: name.clone(),
            metadata: Some(task_metadata(&name, &info)),
            inputs: inputs.clone(),
            target: Some(node::Target::TaskNode(task_reference(&name))),
            ..core::Node::default()
        };
        Ok(core::Node {
            id: id.to_owned(),
            metadata: Some(core::NodeMetadata {
                name,
                retries: Some(core::RetryStrategy::default()),
                ..core::NodeMetadata::default()
            }),
            inputs,
            upstream_node_ids: self.upstream(k, [i]),
            target: Some(node::Target::ArrayNode(Box::new(core::ArrayNode {
                node: Some(Box::new(sub_node)),
                is_original_sub_node_interface: Some(false),
                parallelism_option: options
                    .concurrency
                    .map(|c| core::array_node::ParallelismOption::Parallelism(c as u32)),
                // Always written, 1.0 by default, as flytekit does.
                success_criteria: Some(core::array_node::SuccessCriteria::MinSuccessRatio(
                    options.min_success_ratio as f32,
                )),
                ..core::ArrayNode::default()
            }))),
            ..core::Node::default()
        })
    }

    /// A `map(workflow, list, ..)`: what flytekit 1.16 writes for `map_task` over the workflow's
    /// launch plan, an array node whose sub-node runs the launch plan (which the package holds,
    /// with the workflow: the spec does not embed it), every element's whole state kept.
    fn workflow_map_node(
        &mut self,
        k: usize,
        i: usize,
        id: &str,
        call: &SubWorkflowCall,
        options: &flyte_runtime::MapOptions,
    ) -> Result<core::Node, PackageError> {
        let node = &self.graph.nodes()[i];
        let name = super::qualified(call.module(), call.name());
        let interface = call.interface().map_err(|source| PackageError::Interface {
            entity: name.clone(),
            source: Box::new(source),
        })?;
        if interface.inputs.len() != 1 {
            return Err(self.unsupported(format!(
                "node {} (a map over the workflow {}, which takes {} inputs: ours maps one list of tuples, \
                 flytekit's map_task one list per input, and no node of a Flyte workflow splits the one into the \
                 others)",
                node.id(),
                call.name(),
                interface.inputs.len()
            )));
        }
        let sub_node_id = dnsify(&name).ok_or_else(|| {
            self.unsupported(format!(
                "node {} (a map over the workflow {name}, whose name of 63 characters or more flytekit \
                 shortens with a hash this writer does not compute)",
                node.id()
            ))
        })?;
        self.builder.sub_workflow(call)?;
        let (input, element) = &interface.inputs[0];
        let list = [(input.clone(), Type::Collection(Box::new(element.clone())))];
        let inputs = self.bindings(&format!("n{i}"), &list, node.inputs())?;
        let metadata = core::NodeMetadata {
            name: name.clone(),
            retries: Some(core::RetryStrategy::default()),
            ..core::NodeMetadata::default()
        };
        let sub_node = core::Node {
            id: sub_node_id,
            metadata: Some(metadata.clone()),
            inputs: inputs.clone(),
            target: Some(node::Target::WorkflowNode(core::WorkflowNode {
                reference: Some(core::workflow_node::Reference::LaunchplanRef(identifier(
                    ResourceType::LaunchPlan,
                    &name,
                ))),
            })),
            ..core::Node::default()
        };
        Ok(core::Node {
            id: id.to_owned(),
            metadata: Some(metadata),
            inputs,
            upstream_node_ids: self.upstream(k, [i]),
            target: Some(node::Target::ArrayNode(Box::new(core::ArrayNode {
                node: Some(Box::new(sub_node)),
                is_original_sub_node_interface: Some(true),
                execution_mode: core::array_node::ExecutionMode::FullState as i32,
                parallelism_option: options
                    .concurrency
                    .map(|c| core::array_node::ParallelismOption::Parallelism(c as u32)),
                success_criteria: Some(core::array_node::SuccessCriteria::MinSuccessRatio(
                    options.min_success_ratio as f32,
                )),
                ..core::ArrayNode::default()
            }))),
            ..core::Node::default()
        })
    }

    /// A sub-workflow call: one node referring to the sub-workflow, which the spec embeds.
    fn call_node(&mut self, k: usize, c: usize, id: &str) -> Result<core::Node, PackageError> {
        let call: &SubWorkflowCall = &self.graph.sub_workflows()[c];
        let (template, nested) = self.builder.sub_workflow(call)?;
        let name = super::qualified(call.module(), call.name());
        let interface = call.interface().map_err(|source| PackageError::Interface {
            entity: name.clone(),
            source: Box::new(source),
        })?;
        for sub in nested.into_iter().chain([template]) {
            let key = sub.id.as_ref().map(|id| id.name.clone()).unwrap_or_default();
            self.sub_workflows.entry(key).or_insert(sub);
        }
        let inputs = self.bindings(id, &interface.inputs, call.inputs())?;
        Ok(core::Node {
            id: id.to_owned(),
            metadata: Some(core::NodeMetadata {
                name: call.name().to_owned(),
                retries: Some(core::RetryStrategy::default()),
                interruptible_value: Some(node_metadata::InterruptibleValue::Interruptible(false)),
                ..core::NodeMetadata::default()
            }),
            inputs,
            upstream_node_ids: self.upstream(k, call.nodes()),
            target: Some(node::Target::WorkflowNode(core::WorkflowNode {
                reference: Some(core::workflow_node::Reference::SubWorkflowRef(identifier(
                    ResourceType::Workflow,
                    &name,
                ))),
            })),
            ..core::Node::default()
        })
    }

    /// A branch: its condition's operands as the node's inputs (`.x` for a workflow input,
    /// `n0.o0` for a node's output), and each case's one node (a task call, a sub-workflow call,
    /// a map or another branch) numbered inside it by its case, as flytekit numbers them.
    fn branch_node(&mut self, k: usize, b: usize, id: &str) -> Result<core::Node, PackageError> {
        let nodes = self.graph.nodes();
        let node = &nodes[b];
        let Some(spec) = node.branch() else {
            return Err(self.unsupported(format!("node n{b}")));
        };
        let id = id.to_owned();
        // Each case's node, in order; the else's last.
        let case_count = spec.cases.len() + usize::from(matches!(spec.otherwise, Otherwise::Arm));
        let mut then_nodes = Vec::new();
        for case in 0..case_count {
            let items = self.region(Some((b, case)));
            // flytekit's `then()` takes one node. A case of several calls would be a sub-workflow
            // the user did not write, under a name of ours, in the console and in the cluster's
            // records: refused, saying how to write it as one.
            let [item] = items[..] else {
                return Err(self.unsupported(if items.is_empty() {
                    format!(
                        "case {case} of the branch n{b}, which makes no call (a Flyte branch case runs one node: \
                         call a task or a #[workflow] that gives the case's result)"
                    )
                } else {
                    format!(
                        "case {case} of the branch n{b}, which makes {} calls (a Flyte branch case runs one node: \
                         move the calls into a #[workflow] and call that in the case)",
                        items.len()
                    )
                }));
            };
            let outputs = match spec.cases.get(case) {
                Some((_, outputs)) => outputs,
                None => &spec.otherwise_outputs,
            };
            let gives: Vec<Binding> = match item {
                Item::Call(c) => self.graph.sub_workflows()[c].outputs().to_vec(),
                Item::Branch(inner) => {
                    let out = nodes[inner].branch().and_then(|s| s.output_node).unwrap_or(inner);
                    (0..outputs.len())
                        .map(|slot| Binding::Output { node: out, slot })
                        .collect()
                }
                Item::Task(i) | Item::Map(i) => (0..outputs.len())
                    .map(|slot| Binding::Output { node: i, slot })
                    .collect(),
            };
            if outputs[..] != gives[..] {
                return Err(self.unsupported(format!(
                    "case {case} of the branch n{b}, whose result is not its call's outputs in order"
                )));
            }
            then_nodes.push(self.item_node(k, item, &format!("{}{case}", self.prefix))?);
        }
        let mut operands = BTreeMap::new();
        let mut blocks = Vec::new();
        for ((condition, _), then_node) in spec.cases.iter().zip(then_nodes.iter()) {
            blocks.push(core::IfBlock {
                condition: Some(self.condition(condition, &mut operands)?),
                then_node: Some(Box::new(then_node.clone())),
            });
        }
        let default = match &spec.otherwise {
            Otherwise::Nothing => None,
            Otherwise::Arm => then_nodes
                .last()
                .map(|n| core::if_else_block::Default::ElseNode(Box::new(n.clone()))),
            Otherwise::Fail(message) => Some(core::if_else_block::Default::Error(core::Error {
                failed_node_id: id.clone(),
                message: message.clone(),
            })),
        };
        let mut blocks = blocks.into_iter();
        let case = blocks.next().map(Box::new);
        Ok(core::Node {
            id: id.clone(),
            metadata: Some(core::NodeMetadata {
                name: id,
                retries: Some(core::RetryStrategy::default()),
                ..core::NodeMetadata::default()
            }),
            inputs: operands
                .into_iter()
                .map(|(var, binding)| core::Binding {
                    var,
                    binding: Some(binding),
                })
                .collect(),
            // The nodes its condition reads: flytekit does not add those its cases read.
            upstream_node_ids: self.upstream(k, [b]),
            target: Some(node::Target::BranchNode(Box::new(core::BranchNode {
                if_else: Some(Box::new(core::IfElseBlock {
                    case,
                    other: blocks.collect(),
                    default,
                })),
            }))),
            ..core::Node::default()
        })
    }

    /// A condition as Flyte's boolean expression; each promise it reads is added to `operands`
    /// under the name the expression gives it.
    fn condition(
        &self,
        condition: &Condition,
        operands: &mut BTreeMap<String, core::BindingData>,
    ) -> Result<core::BooleanExpression, PackageError> {
        let expr = match condition {
            Condition::Compare(c) => {
                let ty = compared_type(c.compares());
                boolean_expression::Expr::Comparison(core::ComparisonExpression {
                    operator: operator(c.op) as i32,
                    left_value: Some(self.operand(c.left, &ty, operands)?),
                    right_value: Some(self.operand(c.right, &ty, operands)?),
                })
            }
            Condition::And(a, b) | Condition::Or(a, b) => {
                let op = match condition {
                    Condition::And(..) => LogicalOperator::And,
                    _ => LogicalOperator::Or,
                };
                boolean_expression::Expr::Conjunction(Box::new(core::ConjunctionExpression {
                    operator: op as i32,
                    left_expression: Some(Box::new(self.condition(a, operands)?)),
                    right_expression: Some(Box::new(self.condition(b, operands)?)),
                }))
            }
        };
        Ok(core::BooleanExpression { expr: Some(expr) })
    }

    fn operand(
        &self,
        binding: Binding,
        ty: &Type,
        operands: &mut BTreeMap<String, core::BindingData>,
    ) -> Result<core::Operand, PackageError> {
        let val = match binding {
            Binding::Constant(i) => {
                let literal = self.literal(i, ty, "a branch condition")?;
                match primitive(&literal) {
                    // Deprecated for `scalar`, but what flytekit 1.16 writes and propeller reads.
                    #[allow(deprecated)]
                    Some(p) => operand::Val::Primitive(p),
                    None => return Err(self.unsupported("a condition comparing a value that is not a primitive")),
                }
            }
            Binding::Input(_) | Binding::Output { .. } => {
                let data = self.binding(binding, ty, "a branch condition")?;
                let Some(binding_data::Value::Promise(promise)) = &data.value else {
                    return Err(self.unsupported("a branch condition's operand"));
                };
                let var = format!("{}.{}", promise.node_id, promise.var);
                operands.insert(var.clone(), data);
                operand::Val::Var(var)
            }
            _ => return Err(self.unsupported("a branch condition on a part of a value")),
        };
        Ok(core::Operand { val: Some(val) })
    }

    /// Bindings of the inputs `slots` to `bindings`, sorted by name as flytekit writes them.
    fn bindings(
        &self,
        place: &str,
        slots: &[(String, Type)],
        bindings: &[Binding],
    ) -> Result<Vec<core::Binding>, PackageError> {
        let mut out: Vec<core::Binding> = slots
            .iter()
            .zip(bindings)
            .map(|((name, ty), &b)| {
                Ok(core::Binding {
                    var: name.clone(),
                    binding: Some(self.binding(b, ty, &format!("{place} input {name}"))?),
                })
            })
            .collect::<Result<_, PackageError>>()?;
        out.sort_by(|a, b| a.var.cmp(&b.var));
        Ok(out)
    }

    /// Where a value of type `ty` comes from, as Flyte's binding data.
    fn binding(&self, binding: Binding, ty: &Type, place: &str) -> Result<core::BindingData, PackageError> {
        let value = match binding {
            Binding::Input(i) => binding_data::Value::Promise(core::OutputReference {
                node_id: String::new(),
                var: self.graph.inputs().get(i).copied().unwrap_or_default().to_owned(),
                attr_path: Vec::new(),
            }),
            Binding::Output { node, slot } => binding_data::Value::Promise(self.reference(node, slot)?),
            Binding::Constant(i) => return Ok(literal_binding(self.literal(i, ty, place)?)),
            Binding::List(i) => {
                let element = match ty {
                    Type::Collection(e) => e,
                    _ => return Err(self.unsupported(format!("a list bound to {place}, of type {ty:?}"))),
                };
                let items = self.graph.list(i).unwrap_or_default();
                binding_data::Value::Collection(core::BindingDataCollection {
                    bindings: items
                        .iter()
                        .map(|&b| self.binding(b, element, place))
                        .collect::<Result<_, _>>()?,
                })
            }
            Binding::Map(i) => {
                let value = match ty {
                    Type::Dict(v) => v,
                    _ => return Err(self.unsupported(format!("a map bound to {place}, of type {ty:?}"))),
                };
                let entries = self.graph.map_binding(i).unwrap_or_default();
                binding_data::Value::Map(core::BindingDataMap {
                    bindings: entries
                        .iter()
                        .map(|(k, b)| Ok((k.clone(), self.binding(*b, value, place)?)))
                        .collect::<Result<_, PackageError>>()?,
                })
            }
            Binding::Part(i) => {
                let Some((whole, step)) = self.graph.part(i) else {
                    return Err(self.unsupported(format!("the part bound to {place}")));
                };
                // The whole's type is not known here; a promise's path does not need it.
                let data = self.binding(whole, &Type::None, place)?;
                let Some(binding_data::Value::Promise(mut promise)) = data.value else {
                    return Err(self.unsupported(format!("a part of a value that is not a promise, bound to {place}")));
                };
                promise.attr_path.push(core::PromiseAttribute {
                    value: Some(match step {
                        Step::Index(i) => promise_attribute::Value::IntValue(*i as i32),
                        Step::Key(k) => promise_attribute::Value::StringValue(k.clone()),
                    }),
                });
                binding_data::Value::Promise(promise)
            }
            _ => return Err(self.unsupported(format!("the binding {binding:?} of {place}"))),
        };
        Ok(core::BindingData {
            value: Some(value),
            ..core::BindingData::default()
        })
    }

    /// Output `slot` of graph node `node`, as a promise of the package node that gives it.
    fn reference(&self, node: usize, slot: usize) -> Result<core::OutputReference, PackageError> {
        let promise = |k: usize, slot: usize| core::OutputReference {
            node_id: self.ids[k].clone(),
            var: flyte_runtime::output_name(slot),
            attr_path: Vec::new(),
        };
        match self.owner.get(node) {
            Some(&Owner::Item(k)) => match self.items[k] {
                Item::Call(c) => {
                    let call = &self.graph.sub_workflows()[c];
                    let wanted = Binding::Output { node, slot };
                    match call.outputs().iter().position(|&o| o == wanted) {
                        Some(i) => Ok(promise(k, i)),
                        None => Err(self.unsupported(format!(
                            "a read of n{node}'s output {slot} inside the sub-workflow {}, which is not one of its outputs",
                            call.name()
                        ))),
                    }
                }
                _ => Ok(promise(k, slot)),
            },
            _ => Err(self.unsupported(format!("a read of n{node}'s output {slot} from outside its branch"))),
        }
    }

    /// The value of constant `i` as a literal of `ty`.
    fn literal(&self, i: usize, ty: &Type, place: &str) -> Result<core::Literal, PackageError> {
        let Some(value) = self.graph.constant(i) else {
            return Err(self.unsupported(format!("the missing constant {i}, bound to {place}")));
        };
        to_literal(value, ty).map_err(|source| PackageError::Literal {
            workflow: self.workflow.clone(),
            place: place.to_owned(),
            source: Box::new(source),
        })
    }

    /// The workflow's outputs, `o0`, `o1`, ...
    fn outputs(&self) -> Result<Vec<core::Binding>, PackageError> {
        let slots = &self.source.interface.outputs;
        slots
            .iter()
            .zip(self.graph.outputs())
            .map(|((name, ty), &b)| {
                Ok(core::Binding {
                    var: name.clone(),
                    binding: Some(self.binding(b, ty, &format!("the workflow's output {name}"))?),
                })
            })
            .collect()
    }

    /// The `on_failure` task as Flyte's failure node (`fn0`, as flytekit names it), bound to the
    /// workflow's inputs. Its last input, the [`WorkflowFailure`](flyte_runtime::WorkflowFailure),
    /// is what flytekit declares as `err: Optional[FlyteError] = None`: a union of Flyte's
    /// `ERROR` and none, bound to none, which propeller replaces with the failure. Propeller
    /// fills only an input named `err` (flytepropeller's `ResolveOnFailureNodeInput`), so the
    /// task's interface names it so, whatever the Rust parameter's name: `execute` reads it back
    /// by that name ([`PackagedTask::is_failure_hook`](crate::package::PackagedTask::is_failure_hook)).
    fn failure_node(&mut self) -> Result<Option<core::Node>, PackageError> {
        let Some(node) = self.graph.on_failure() else {
            return Ok(None);
        };
        let (info, interface) = self.task_of(node)?;
        let Some((failure, _)) = interface.inputs.last().cloned() else {
            return Err(self.unsupported("an on_failure task without inputs"));
        };
        if interface.inputs[..interface.inputs.len() - 1]
            .iter()
            .any(|(name, _)| name == FAILURE_INPUT)
        {
            return Err(self.unsupported(format!(
                "an on_failure task with an input named `{FAILURE_INPUT}` before its last (Flyte gives the failure as `{FAILURE_INPUT}`)"
            )));
        }
        let mut spec = task_spec::task_spec(&info, &interface, self.builder.options);
        if let Some(variables) = spec
            .template
            .as_mut()
            .and_then(|t| t.interface.as_mut())
            .and_then(|i| i.inputs.as_mut())
            .map(|i| &mut i.variables)
        {
            if let Some(mut variable) = variables.remove(&failure) {
                variable.r#type = Some(optional_error());
                // flytekit describes a variable by its name.
                variable.description = FAILURE_INPUT.to_owned();
                variables.insert(FAILURE_INPUT.to_owned(), variable);
            }
        }
        self.builder.task(spec)?;
        self.builder.runs_failure_hook(task_spec::task_name(&info), node);
        let inputs: Vec<Binding> = (0..self.graph.inputs().len()).map(Binding::Input).collect();
        let bound = &interface.inputs[..inputs.len().min(interface.inputs.len() - 1)];
        let mut bindings = self.bindings("the failure node", bound, &inputs)?;
        bindings.push(core::Binding {
            var: FAILURE_INPUT.to_owned(),
            binding: Some(none_of(optional_error())),
        });
        bindings.sort_by(|a, b| a.var.cmp(&b.var));
        Ok(Some(core::Node {
            id: "fn0".to_owned(),
            metadata: Some(task_metadata(info.name(), &info)),
            inputs: bindings,
            target: Some(node::Target::TaskNode(task_reference(&task_spec::task_name(&info)))),
            ..core::Node::default()
        }))
    }
}

/// A name as flytekit's `_dnsify` makes a node id of it (`flyte_package.per_item` ->
/// `flyte-package-per-item`); `None` for a name of 63 characters or more, which flytekit
/// shortens with a SHA-224 hash.
fn dnsify(name: &str) -> Option<String> {
    if name.chars().count() >= 63 {
        return None;
    }
    let mut out = String::new();
    for ch in name.chars() {
        if matches!(ch, '_' | '-' | '.') {
            if !out.is_empty() && out.len() < 62 {
                out.push('-');
            }
        } else if !ch.is_alphanumeric() {
            // Dropped.
        } else if ch.is_lowercase() || ch.is_numeric() {
            out.push(ch);
        } else {
            if !out.is_empty() && !out.ends_with('-') && out.len() < 62 {
                out.push('-');
            }
            out.extend(ch.to_lowercase());
        }
    }
    if out.ends_with('-') {
        out.pop();
    }
    Some(out)
}

/// flytekit's `Optional[FlyteError]`: a union of `ERROR` and none, tagged as flytekit tags them.
fn optional_error() -> core::LiteralType {
    let tagged = |simple: core::SimpleType, tag: &str| core::LiteralType {
        r#type: Some(core::literal_type::Type::Simple(simple as i32)),
        structure: Some(core::TypeStructure {
            tag: tag.to_owned(),
            ..core::TypeStructure::default()
        }),
        ..core::LiteralType::default()
    };
    core::LiteralType {
        r#type: Some(core::literal_type::Type::UnionType(core::UnionType {
            variants: vec![
                tagged(core::SimpleType::Error, "FlyteError"),
                tagged(core::SimpleType::None, "none"),
            ],
        })),
        ..core::LiteralType::default()
    }
}

/// None, as a value of the union `ty` (flytekit's binding of an optional input's default).
fn none_of(ty: core::LiteralType) -> core::BindingData {
    let none_variant = match &ty.r#type {
        Some(core::literal_type::Type::UnionType(u)) => u.variants.last().cloned(),
        _ => None,
    };
    let none = core::Literal {
        value: Some(core::literal::Value::Scalar(Box::new(core::Scalar {
            value: Some(core::scalar::Value::NoneType(core::Void {})),
        }))),
        ..core::Literal::default()
    };
    core::BindingData {
        value: Some(binding_data::Value::Scalar(core::Scalar {
            value: Some(core::scalar::Value::Union(Box::new(core::Union {
                value: Some(Box::new(none)),
                r#type: none_variant,
            }))),
        })),
        ..core::BindingData::default()
    }
}

/// A task node's metadata: the task's retries, timeout and interruptible, as flytekit repeats them.
fn task_metadata(name: &str, info: &flyte_runtime::TaskInfo) -> core::NodeMetadata {
    core::NodeMetadata {
        name: name.to_owned(),
        timeout: info.timeout().map(duration),
        retries: Some(core::RetryStrategy {
            retries: info.retries(),
        }),
        interruptible_value: info
            .interruptible()
            .then_some(node_metadata::InterruptibleValue::Interruptible(true)),
        ..core::NodeMetadata::default()
    }
}

fn task_reference(name: &str) -> core::TaskNode {
    core::TaskNode {
        overrides: Some(core::TaskNodeOverrides::default()),
        reference: Some(core::task_node::Reference::ReferenceId(identifier(
            ResourceType::Task,
            name,
        ))),
    }
}

/// A literal as binding data: a scalar, or a collection or map of them.
fn literal_binding(literal: core::Literal) -> core::BindingData {
    use core::literal::Value as L;
    let value = match literal.value {
        Some(L::Scalar(s)) => Some(binding_data::Value::Scalar(*s)),
        Some(L::Collection(c)) => Some(binding_data::Value::Collection(core::BindingDataCollection {
            bindings: c.literals.into_iter().map(literal_binding).collect(),
        })),
        Some(L::Map(m)) => Some(binding_data::Value::Map(core::BindingDataMap {
            bindings: m.literals.into_iter().map(|(k, v)| (k, literal_binding(v))).collect(),
        })),
        Some(L::OffloadedMetadata(o)) => Some(binding_data::Value::OffloadedMetadata(o)),
        None => None,
    };
    core::BindingData {
        value,
        ..core::BindingData::default()
    }
}

fn primitive(literal: &core::Literal) -> Option<core::Primitive> {
    match &literal.value {
        Some(core::literal::Value::Scalar(s)) => match &s.value {
            Some(core::scalar::Value::Primitive(p)) => Some(p.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The Flyte type of the Rust type a branch compares (its `type_name`).
fn compared_type(rust: &str) -> Type {
    match rust {
        "f32" | "f64" => Type::Float,
        "bool" => Type::Boolean,
        "alloc::string::String" | "String" => Type::Str,
        _ => Type::Integer,
    }
}

fn operator(op: Op) -> Operator {
    match op {
        Op::Eq => Operator::Eq,
        Op::Ne => Operator::Neq,
        Op::Lt => Operator::Lt,
        Op::Le => Operator::Lte,
        Op::Gt => Operator::Gt,
        Op::Ge => Operator::Gte,
    }
}
