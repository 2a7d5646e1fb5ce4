//! Workflow graphs: the [`Workflow`] trait, the placeholders ([`Promise`]) a workflow body wires
//! together, and the [`Graph`] it builds.
//!
//! A `#[workflow]` body runs once, when the graph is built, never at execution time. Calling a
//! task there adds a node and returns placeholders for its outputs; rustc checks every
//! placeholder against the input it is passed to.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;

use std::collections::BTreeSet;

use ciborium::Value as Cbor;

use crate::binding::{Binding, Resolver, Step, Tables};
use crate::branch::{BranchSpec, Builtin, Condition, Otherwise};
use crate::dynamic::ErasedDynamic;
use crate::error::{Error, ValueError};
use crate::interface::{Describer, Interface, InterfaceError};
use crate::task::{ErasedTask, Task};
use crate::value::{Encoded, Outputs, Value, Values};

/// A typed placeholder for a value that exists only once the graph runs.
///
/// Inside a `#[workflow]`, parameters and task outputs are promises. They can be passed to
/// tasks, destructured when a task returns a tuple, and returned; there is nothing else to do
/// with them, because no value exists while the body runs.
///
/// Nor can they be formatted: `Promise` implements neither `Debug` nor `Display`, on purpose,
/// since `format!("{x:?}")` in a body would hand a task the placeholder's text instead of the
/// value (`#[workflow]` refuses formatting macros on placeholders with its own message).
/// [`Promise::binding`] tells where the value will come from.
pub struct Promise<T> {
    binding: Binding,
    _type: PhantomData<fn() -> T>,
}

impl<T> Promise<T> {
    pub(crate) fn new(binding: Binding) -> Self {
        Promise {
            binding,
            _type: PhantomData,
        }
    }

    /// Where the value will come from.
    pub fn binding(&self) -> Binding {
        self.binding
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Promise<T> {}

/// Something that can be passed where a workflow expects a `T`: a `Promise<T>`, or a value
/// of type `T` written in the workflow (a literal). A `&str` also passes for a `String`.
#[diagnostic::on_unimplemented(
    message = "expected an input of type `{T}`, found `{Self}`",
    label = "expected `{T}` here",
    note = "inside a #[workflow], pass a task output or workflow input of type `{T}` (a `Promise<{T}>`), or a literal `{T}`"
)]
pub trait IntoInput<T> {
    #[doc(hidden)]
    fn bind(self, scope: &Scope) -> Binding;
}

impl<T> IntoInput<T> for Promise<T> {
    fn bind(self, _: &Scope) -> Binding {
        self.binding
    }
}

impl<T: Serialize> IntoInput<T> for T {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(&self)
    }
}

impl IntoInput<String> for &str {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(self)
    }
}

/// What a workflow's body may return for an output of placeholders `P`: exactly those.
///
/// Implemented for placeholders and tuples of them only (no blanket `impl<P> IntoOutput<P>
/// for P`), so that returning a value reads as this message rather than a type mismatch.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a #[workflow] must return task outputs or its inputs, not `{Self}`",
    label = "not what the workflow's signature declares",
    note = "a workflow's result is wired from its nodes: return what a task call gave you (or a tuple of them), matching the declared return type (`-> u64` for a `Promise<u64>`); to return a computed value, compute it in a task"
)]
pub trait IntoOutput<P> {
    fn into_output(self) -> P;
}

impl<T> IntoOutput<Promise<T>> for Promise<T> {
    fn into_output(self) -> Promise<T> {
        self
    }
}

impl IntoOutput<()> for crate::wiring::Ran {
    fn into_output(self) {}
}

/// Placeholders as the graph sees them: a `Promise<T>` or a tuple of them, each a binding.
#[doc(hidden)]
pub trait Placeholders: Copy {
    /// Placeholders bound by `slot(i)` for each slot `i`.
    fn from_bindings(slot: &mut dyn FnMut(usize) -> Binding) -> Self;
    /// The bindings behind the placeholders, one per slot.
    fn bindings(&self) -> Vec<Binding>;
    /// The placeholders of a call that added the nodes `first..end`: only a call without
    /// outputs ([`Ran`](crate::Ran)) keeps them, having no binding to find them by.
    fn with_nodes(self, first: usize, end: usize) -> Self {
        let _ = (first, end);
        self
    }
    /// The nodes kept by [`with_nodes`](Self::with_nodes).
    fn called(&self) -> Option<std::ops::Range<usize>> {
        None
    }
}

impl<T> Placeholders for Promise<T> {
    fn from_bindings(slot: &mut dyn FnMut(usize) -> Binding) -> Self {
        Promise::new(slot(0))
    }
    fn bindings(&self) -> Vec<Binding> {
        vec![self.binding]
    }
}

macro_rules! tuple_outputs {
    ($($t:ident $i:tt),*) => {
        impl<$($t),*> IntoOutput<($(Promise<$t>,)*)> for ($(Promise<$t>,)*) {
            fn into_output(self) -> Self {
                self
            }
        }

        impl<$($t),*> Placeholders for ($(Promise<$t>,)*) {
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_bindings(slot: &mut dyn FnMut(usize) -> Binding) -> Self {
                ($(Promise::<$t>::new(slot($i)),)*)
            }
            fn bindings(&self) -> Vec<Binding> {
                vec![$(self.$i.binding),*]
            }
        }
    };
}

crate::value::for_each_tuple!(tuple_outputs);

/// Builds a graph while a workflow body runs. Generated code uses it; you do not need to.
pub struct Scope {
    inner: RefCell<Builder>,
}

struct Builder {
    nodes: Vec<Node>,
    literals: Vec<Encoded>,
    tables: Tables,
    /// The workflow being built and the sub-workflows it is in, outermost first.
    path: Vec<String>,
    /// The branch cases being built, innermost last: `(branch node, case)`.
    guards: Vec<(usize, usize)>,
    /// The first thing that went wrong while building: the graph is refused with it.
    error: Option<Error>,
    /// The workflows called in the body (their nodes inlined), in the order called.
    calls: Vec<SubWorkflowCall>,
    /// Each map over a workflow: the map node, and the workflow as a call of no nodes.
    mapped: Vec<(usize, SubWorkflowCall)>,
}

impl Scope {
    pub(crate) fn new(workflow: &'static str) -> Self {
        Scope {
            inner: RefCell::new(Builder {
                nodes: Vec::new(),
                literals: Vec::new(),
                tables: Tables::default(),
                path: vec![workflow.to_owned()],
                guards: Vec::new(),
                error: None,
                calls: Vec::new(),
                mapped: Vec::new(),
            }),
        }
    }

    /// Stores a value written in the workflow body.
    pub fn literal<T: Serialize + ?Sized>(&self, value: &T) -> Binding {
        let mut b = self.inner.borrow_mut();
        match Encoded::encode(value) {
            Ok(literal) => b.literals.push(literal),
            Err(e) => {
                b.error.get_or_insert(e.into());
                b.literals.push(Encoded::from_bytes(&[]));
            }
        }
        Binding::Constant(b.literals.len() - 1)
    }

    /// A list of `items` (Flyte's collection binding).
    pub fn list(&self, items: Vec<Binding>) -> Binding {
        let mut b = self.inner.borrow_mut();
        b.tables.lists.push(items);
        Binding::List(b.tables.lists.len() - 1)
    }

    /// A map of `entries` (Flyte's map binding).
    pub fn map_of(&self, entries: Vec<(String, Binding)>) -> Binding {
        let mut b = self.inner.borrow_mut();
        b.tables.maps.push(entries);
        Binding::Map(b.tables.maps.len() - 1)
    }

    /// A part of `whole`'s value: a tuple's or a list's element, a map's entry.
    pub fn part(&self, whole: Binding, step: Step) -> Binding {
        let mut b = self.inner.borrow_mut();
        b.tables.parts.push((whole, step));
        Binding::Part(b.tables.parts.len() - 1)
    }

    /// How many nodes the graph has so far; [`after`](Self::after) orders the nodes added since.
    pub fn mark(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// The nodes whose outputs `bindings` read.
    pub fn nodes_of(&self, bindings: &[Binding]) -> Vec<usize> {
        let b = self.inner.borrow();
        let mut nodes = BTreeSet::new();
        for &binding in bindings {
            b.tables.nodes_of(binding, &mut nodes);
        }
        nodes.into_iter().collect()
    }

    /// Makes every node added since `mark` run after the nodes `before` (those added earlier),
    /// although it takes no data from them (Flyte's `upstream_node_ids`).
    pub fn order_since(&self, mark: usize, before: &[usize]) {
        let mut b = self.inner.borrow_mut();
        for node in b.nodes.iter_mut().skip(mark) {
            for list in [&mut node.after, &mut node.upstream] {
                list.extend(before.iter().copied().filter(|&n| n < mark));
                list.sort_unstable();
                list.dedup();
            }
        }
    }

    /// Adds a branch node (without cases yet), and returns its index.
    pub(crate) fn begin_branch(&self) -> usize {
        let node = self.add_node(Runs::Task(Arc::new(Builtin("branch"))), Vec::new(), None);
        self.inner.borrow_mut().nodes[node].branch = Some(Box::new(BranchSpec {
            cases: Vec::new(),
            otherwise: Otherwise::Nothing,
            otherwise_outputs: Vec::new(),
            output_node: None,
        }));
        node
    }

    /// Starts a case of `branch`: an `if` with its condition, or the `else` (`None`). Nodes
    /// added until [`leave_case`](Self::leave_case) belong to it.
    pub(crate) fn enter_case(&self, branch: usize, condition: Option<Condition>) {
        let mut b = self.inner.borrow_mut();
        let b = &mut *b;
        let mut operands = BTreeSet::new();
        if let Some(c) = &condition {
            for operand in c.operands() {
                b.tables.nodes_of(operand, &mut operands);
            }
        }
        let node = &mut b.nodes[branch];
        if let Some(c) = &condition {
            node.inputs.extend(c.operands());
        }
        node.upstream.extend(operands);
        node.upstream.sort_unstable();
        node.upstream.dedup();
        let Some(spec) = node.branch.as_mut() else { return };
        let case = match condition {
            Some(c) => {
                spec.cases.push((c, Vec::new()));
                spec.cases.len() - 1
            }
            None => spec.cases.len(),
        };
        b.guards.push((branch, case));
    }

    /// Ends the current case of `branch`, whose arm yielded `outputs`.
    pub(crate) fn leave_case(&self, branch: usize, outputs: Vec<Binding>) {
        let mut b = self.inner.borrow_mut();
        let Some((_, case)) = b.guards.pop() else { return };
        let Some(spec) = b.nodes[branch].branch.as_mut() else {
            return;
        };
        match spec.cases.get_mut(case) {
            Some((_, out)) => *out = outputs,
            None => spec.otherwise_outputs = outputs,
        }
    }

    /// Completes `branch`: adds the node that gives the taken case's results, which waits for
    /// every node of every case, and returns its index.
    pub(crate) fn finish_branch(&self, branch: usize, otherwise: Otherwise) -> usize {
        let output = self.add_node(Runs::Task(Arc::new(Builtin("branch output"))), Vec::new(), None);
        let mut b = self.inner.borrow_mut();
        let cases: Vec<usize> = (branch + 1..output)
            .filter(|&n| b.nodes[n].guard.is_some_and(|(g, _)| g == branch))
            .collect();
        let node = &mut b.nodes[output];
        node.output_of = Some(branch);
        node.upstream.push(branch);
        node.upstream.extend(cases);
        node.upstream.sort_unstable();
        node.upstream.dedup();
        if let Some(spec) = b.nodes[branch].branch.as_mut() {
            spec.otherwise = otherwise;
            spec.output_node = Some(output);
        }
        output
    }

    /// Marks the nodes to come as called from `path` (`outer/inner`).
    pub(crate) fn set_path(&self, path: String) {
        self.inner.borrow_mut().path = vec![path];
    }

    /// The graph built, named `name`, with `inputs` and the outputs `outputs`; or the first
    /// thing that went wrong while building it.
    pub(crate) fn finish(
        self,
        name: &'static str,
        inputs: &'static [&'static str],
        outputs: Vec<Binding>,
    ) -> Result<Graph, Error> {
        let builder = self.inner.into_inner();
        if let Some(e) = builder.error {
            return Err(e);
        }
        check_cases(&builder.nodes, &builder.tables, &outputs).map_err(|message| Error::Graph {
            workflow: name.to_owned(),
            message,
        })?;
        Ok(Graph {
            name,
            inputs,
            nodes: builder.nodes,
            literals: builder.literals,
            tables: builder.tables,
            outputs,
            failure_policy: crate::FailurePolicy::default(),
            on_failure: None,
            calls: builder.calls,
            mapped: builder.mapped,
        })
    }

    /// Adds a node running `task` on `inputs`, and returns placeholders for its outputs.
    pub fn task<T: Task, P: Placeholders>(&self, task: T, inputs: Vec<Binding>) -> P {
        let node = self.add(task, inputs);
        P::from_bindings(&mut |slot| Binding::Output { node, slot }).with_nodes(node, node + 1)
    }

    fn add<T: Task>(&self, task: T, inputs: Vec<Binding>) -> usize {
        self.add_node(Runs::Task(Arc::new(task)), inputs, None)
    }

    pub(crate) fn add_node(&self, runs: Runs, inputs: Vec<Binding>, map: Option<MapSpec>) -> usize {
        let mut b = self.inner.borrow_mut();
        let index = b.nodes.len();
        let mut upstream = BTreeSet::new();
        for &input in &inputs {
            b.tables.nodes_of(input, &mut upstream);
        }
        // A node in a branch's case waits for the branch to decide.
        let guard = b.guards.last().copied();
        upstream.extend(guard.map(|(branch, _)| branch));
        let node = Node {
            id: format!("n{index}"),
            workflow: b.path.join("/"),
            runs,
            inputs,
            upstream: upstream.into_iter().collect(),
            after: Vec::new(),
            map,
            guard,
            branch: None,
            output_of: None,
        };
        b.nodes.push(node);
        index
    }

    /// Adds the nodes of `workflow` (inlined, as a sub-workflow) and returns its outputs.
    pub fn workflow<W: Workflow + Copy, P: Placeholders>(&self, workflow: &W, inputs: Vec<Binding>) -> P {
        let input = Placeholders::from_bindings(&mut |i| inputs[i]);
        let mark = self.mark();
        let call = self.inner.borrow().calls.len();
        self.inner.borrow_mut().calls.push(SubWorkflowCall {
            workflow: Arc::new(*workflow),
            nodes: mark..mark,
            inputs: inputs.clone(),
            outputs: Vec::new(),
        });
        self.inner.borrow_mut().path.push(workflow.name().to_owned());
        let output = workflow.build(self, input).bindings();
        {
            let mut b = self.inner.borrow_mut();
            b.path.pop();
            let end = b.nodes.len();
            b.calls[call].nodes = mark..end;
            b.calls[call].outputs = output.clone();
        }
        P::from_bindings(&mut |i| output[i]).with_nodes(mark, self.mark())
    }
}

/// A task call in a graph, or a `map(..)` over a task or a workflow.
#[derive(Clone)]
pub struct Node {
    id: String,
    workflow: String,
    runs: Runs,
    inputs: Vec<Binding>,
    /// The nodes it waits for: those whose outputs its inputs read, and those it comes
    /// [`after`](Self::after). Sorted, without repeats.
    upstream: Vec<usize>,
    /// The nodes it was ordered after without taking data from them.
    after: Vec<usize>,
    map: Option<MapSpec>,
    /// The branch and case it belongs to, if it is in a case of a branch.
    guard: Option<(usize, usize)>,
    /// Its cases, when it is a branch node.
    branch: Option<Box<BranchSpec>>,
    /// The branch whose taken case's results it gives, when it is a branch's output node.
    output_of: Option<usize>,
}

/// What a node runs: a task, or (as each element of a map over a workflow) a whole graph.
#[derive(Clone)]
pub(crate) enum Runs {
    Task(Arc<dyn ErasedTask>),
    Workflow(Arc<Graph>),
    /// A dynamic workflow's body, which builds the node's graph when it runs.
    Dynamic(Arc<dyn ErasedDynamic>),
}

impl Node {
    /// The node's id, `n0`, `n1`, ... in the order the body called the tasks.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name of the task it runs, or of the workflow a map runs on each element.
    pub fn task_name(&self) -> &'static str {
        match &self.runs {
            Runs::Task(task) => task.info().name(),
            Runs::Workflow(graph) => graph.name(),
            Runs::Dynamic(dynamic) => dynamic.info().name(),
        }
    }

    /// The workflow that called the task, with sub-workflows as a path (`outer/inner`).
    pub fn workflow(&self) -> &str {
        &self.workflow
    }

    /// What the task declares: name, retries, cache version, timeout. `None` for a map over a
    /// workflow, which has no options of its own beyond the map's: its nodes have theirs.
    pub fn info(&self) -> Option<crate::TaskInfo> {
        match &self.runs {
            Runs::Task(task) => Some(task.info()),
            Runs::Workflow(_) => None,
            Runs::Dynamic(dynamic) => Some(dynamic.info()),
        }
    }

    /// The typed interface of the task it runs (of one element's task for a map); `None` for a
    /// map over a workflow.
    pub fn interface(&self) -> Option<Result<Interface, InterfaceError>> {
        match &self.runs {
            Runs::Task(task) => Some(task.interface()),
            Runs::Workflow(_) => None,
            Runs::Dynamic(dynamic) => Some(dynamic.interface()),
        }
    }

    /// How many times a failed attempt is retried (0 for a map over a workflow).
    pub fn retries(&self) -> u32 {
        self.info().map_or(0, |s| s.retries())
    }

    /// The graph a map over a workflow runs on each element; `None` for a task or a map over
    /// a task.
    ///
    /// ```
    /// use flytekit::{task, workflow, Workflow};
    ///
    /// #[task]
    /// fn square(x: u64) -> u64 { x * x }
    /// #[task]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// #[workflow]
    /// fn per_item(x: u64) -> u64 { inc(square(x)) }
    ///
    /// #[workflow]
    /// fn all(xs: Vec<u64>) -> Vec<u64> { map(per_item, xs) }
    ///
    /// let graph = all.graph().unwrap();
    /// let map = &graph.nodes()[0];
    /// assert_eq!(map.task_name(), "per_item");
    /// let inner = map.mapped_workflow().unwrap();
    /// let tasks: Vec<_> = inner.nodes().iter().map(|n| n.task_name()).collect();
    /// assert_eq!(tasks, ["square", "inc"]);
    /// // The element workflow's nodes say where they were called from.
    /// assert_eq!(inner.nodes()[0].workflow(), "all/per_item");
    /// ```
    pub fn mapped_workflow(&self) -> Option<&Graph> {
        match &self.runs {
            Runs::Workflow(graph) => Some(graph),
            Runs::Task(_) | Runs::Dynamic(_) => None,
        }
    }

    /// Where each input comes from, in the task's order.
    pub fn inputs(&self) -> &[Binding] {
        &self.inputs
    }

    /// The indices of the nodes this node waits for: those whose outputs it consumes (at any
    /// depth of a list, a map or a part), and those it was ordered [`after`](Self::after).
    /// Sorted, without repeats.
    pub fn upstream(&self) -> &[usize] {
        &self.upstream
    }

    /// The nodes this node runs after although it takes no data from them
    /// (`task(..).after(x)` in a workflow: Flyte's `upstream_node_ids`).
    pub fn after(&self) -> &[usize] {
        &self.after
    }

    /// How the task is mapped over its list input, when the node is a `map(..)`.
    pub fn map(&self) -> Option<MapOptions> {
        self.map.as_ref().map(|m| m.options)
    }

    pub(crate) fn runs(&self) -> &Runs {
        &self.runs
    }

    pub(crate) fn map_spec(&self) -> Option<&MapSpec> {
        self.map.as_ref()
    }

    /// The node that runs element `i` of a map: the same task or workflow, under its own id
    /// (`n2-0`), so that it has its own attempts, checkpoint and cache entry (a workflow's
    /// nodes, their own, under `n2-0-n0`, `n2-0-n1`, ...).
    pub(crate) fn element(&self, i: usize) -> Node {
        Node {
            id: format!("{}-{i}", self.id),
            workflow: self.workflow.clone(),
            runs: self.runs.clone(),
            inputs: Vec::new(),
            upstream: Vec::new(),
            after: Vec::new(),
            map: None,
            guard: None,
            branch: None,
            output_of: None,
        }
    }

    /// A node from its parts, as a recorded graph is rebuilt.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        id: String,
        workflow: String,
        runs: Runs,
        inputs: Vec<Binding>,
        upstream: Vec<usize>,
        after: Vec<usize>,
        map: Option<MapSpec>,
        guard: Option<(usize, usize)>,
        branch: Option<Box<BranchSpec>>,
        output_of: Option<usize>,
    ) -> Node {
        Node {
            id,
            workflow,
            runs,
            inputs,
            upstream,
            after,
            map,
            guard,
            branch,
            output_of,
        }
    }

    /// Whether it is a dynamic node, whose graph is built when it runs.
    pub fn is_dynamic(&self) -> bool {
        matches!(self.runs, Runs::Dynamic(_))
    }

    /// The branch node and the case this node belongs to, when it is inside a case of a branch:
    /// it runs only if that case is taken.
    pub fn guard(&self) -> Option<(usize, usize)> {
        self.guard
    }

    /// The cases of a branch node.
    pub fn branch(&self) -> Option<&BranchSpec> {
        self.branch.as_deref()
    }

    /// The branch whose results this node gives, when it is a branch's output node (a node of
    /// the graph that runs no task: it waits for the branch's cases and passes on the results
    /// of the one taken).
    pub fn output_of(&self) -> Option<usize> {
        self.output_of
    }

    /// This node as part of a graph run under the id prefix `prefix` (`n2-0-`): same task,
    /// inputs and map, its id prefixed, so that each run of the graph has nodes of its own.
    pub(crate) fn prefixed(&self, prefix: &str) -> Node {
        Node {
            id: format!("{prefix}{}", self.id),
            workflow: self.workflow.clone(),
            runs: self.runs.clone(),
            inputs: self.inputs.clone(),
            upstream: self.upstream.clone(),
            after: self.after.clone(),
            map: self.map.clone(),
            guard: self.guard,
            branch: self.branch.clone(),
            output_of: self.output_of,
        }
    }
}

/// The options of a `map(task, list, ..)` node in a workflow.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapOptions {
    /// At most this many elements run at once (default: the runtime's `max_parallelism`).
    pub concurrency: Option<usize>,
    /// The share of elements that must succeed (default 1.0: all). Below 1.0 the output holds
    /// `None` for each failed element.
    pub min_success_ratio: f64,
}

/// A map node's options, and how its list and its elements' values correspond: data only, so
/// that a graph built at run time (a dynamic workflow's) can be recorded and rebuilt.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct MapSpec {
    pub options: MapOptions,
    /// An element is a tuple of the inputs (`true`), or the one input.
    pub tuple_inputs: bool,
    /// An element's result is a tuple of the outputs (`true`), or the one output.
    pub tuple_outputs: bool,
    /// Failed elements are `None` and the others `Some` (with a `min_success_ratio`).
    pub optional: bool,
}

impl MapSpec {
    /// The list input, as each element's input slots.
    pub fn split(&self, list: &Encoded) -> Result<Vec<Vec<Encoded>>, ValueError> {
        let invalid = |message: String| ValueError {
            op: "split",
            type_name: "the list a map runs over",
            message,
        };
        let Cbor::Array(items) = list.decode::<Cbor>()? else {
            return Err(invalid("it is not a list".to_owned()));
        };
        items
            .into_iter()
            .map(|item| match (self.tuple_inputs, item) {
                (true, Cbor::Array(parts)) => parts.iter().map(Encoded::encode).collect(),
                (true, other) => Err(invalid(format!("an element is not a tuple of inputs: {other:?}"))),
                (false, item) => Ok(vec![Encoded::encode(&item)?]),
            })
            .collect()
    }

    /// The elements' outputs (`None` for a failed one), as the list output.
    pub fn join(&self, outputs: Outputs) -> Result<Encoded, ValueError> {
        let items = outputs
            .into_iter()
            .map(|slots| match (slots, self.optional) {
                (None, true) => Ok(Cbor::Null),
                (None, false) => Err(ValueError {
                    op: "join",
                    type_name: "a map's results",
                    message: "an element has no result".to_owned(),
                }),
                // serde writes `Some(v)` as `v`: an optional element is its value.
                (Some(slots), _) => self.element(&slots),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Encoded::encode(&Cbor::Array(items))
    }

    fn element(&self, slots: &[Encoded]) -> Result<Cbor, ValueError> {
        let values = slots
            .iter()
            .map(|s| s.decode::<Cbor>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match (self.tuple_outputs, values.len()) {
            (true, 0) => Cbor::Null,
            (true, _) => Cbor::Array(values),
            (false, _) => values.into_iter().next().unwrap_or(Cbor::Null),
        })
    }
}

/// Whether an interface of shape `S` is a tuple ([`Many`](crate::value::Many)).
fn is_tuple<S: 'static>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<crate::value::Many>()
}

/// What `map(f, list)` can run on each element: a `#[task]` or a `#[workflow]`.
///
/// `Kind` is [`AsTask`] or [`AsWorkflow`], so that the two implementations do not overlap;
/// rustc infers it, since a function is one or the other.
///
/// ```
/// use flytekit::{task, workflow};
///
/// #[task]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[workflow]
/// fn squared_twice(x: u64) -> u64 { square(square(x)) }
///
/// #[workflow]
/// fn both(xs: Vec<u64>) -> (Vec<u64>, Vec<u64>) {
///     (map(square, xs), map(squared_twice, xs))
/// }
/// ```
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[task] or #[workflow], so it cannot be mapped",
    label = "not a task or workflow",
    note = "`map(f, list)` runs a #[task] or a #[workflow] once per element of `list`: put #[task] or #[workflow] on the function"
)]
pub trait Mappable<Kind>: Copy {
    /// One element's inputs: a single type, or a tuple.
    type Input: Values<Self::InputShape>;
    /// One element's outputs.
    type Output: Values<Self::OutputShape>;
    type InputShape: 'static;
    type OutputShape: 'static;

    /// What each element runs, built in `scope` (a workflow's graph is built once, here).
    fn body(&self, scope: &Scope) -> MapBody;
}

/// [`Mappable`] for a task.
#[doc(hidden)]
pub enum AsTask {}

/// [`Mappable`] for a workflow.
#[doc(hidden)]
pub enum AsWorkflow {}

/// What a map's elements run, as [`Mappable::body`] builds it.
#[doc(hidden)]
pub struct MapBody(Runs, Option<Arc<dyn ErasedWorkflow>>);

impl<T: Task + Copy> Mappable<AsTask> for T {
    type Input = T::Input;
    type Output = T::Output;
    type InputShape = T::InputShape;
    type OutputShape = T::OutputShape;

    fn body(&self, _: &Scope) -> MapBody {
        MapBody(Runs::Task(Arc::new(*self)), None)
    }
}

impl<W: Workflow + Copy> Mappable<AsWorkflow> for W {
    type Input = W::Input;
    type Output = W::Output;
    type InputShape = W::InputShape;
    type OutputShape = W::OutputShape;

    fn body(&self, scope: &Scope) -> MapBody {
        let mut path = scope.inner.borrow().path.clone();
        path.push(self.name().to_owned());
        let graph = build(self, path).unwrap_or_else(|e| {
            scope.inner.borrow_mut().error.get_or_insert(e);
            // Never run: the scope's error fails the whole graph.
            Graph::empty(self.name(), self.input_names())
        });
        MapBody(Runs::Workflow(Arc::new(graph)), Some(Arc::new(*self)))
    }
}

/// `map(f, list)` in a workflow: one run of the task or workflow `f` per element of `list`, all
/// of which must succeed; the output is the list of their outputs, in the input's order.
#[doc(hidden)]
pub fn map<M, K>(
    mapped: &M,
    scope: &Scope,
    list: impl IntoInput<Vec<M::Input>>,
    concurrency: Option<usize>,
) -> Promise<Vec<M::Output>>
where
    M: Mappable<K>,
    M::Input: Value,
    M::Output: Value,
{
    add_map(mapped, scope, list, concurrency, 1.0, false)
}

/// `map(f, list, min_success_ratio = r)`: as [`map`], succeeding when at least `r` of the
/// elements do, with `None` for each failed one.
#[doc(hidden)]
pub fn map_some<M, K>(
    mapped: &M,
    scope: &Scope,
    list: impl IntoInput<Vec<M::Input>>,
    concurrency: Option<usize>,
    min_success_ratio: f64,
) -> Promise<Vec<Option<M::Output>>>
where
    M: Mappable<K>,
    M::Input: Value,
    M::Output: Value,
{
    add_map(mapped, scope, list, concurrency, min_success_ratio, true)
}

fn add_map<M, K, P>(
    mapped: &M,
    scope: &Scope,
    list: impl IntoInput<Vec<M::Input>>,
    concurrency: Option<usize>,
    min_success_ratio: f64,
    optional: bool,
) -> Promise<P>
where
    M: Mappable<K>,
    M::Input: Value,
{
    let spec = MapSpec {
        options: MapOptions {
            concurrency,
            min_success_ratio,
        },
        tuple_inputs: is_tuple::<M::InputShape>(),
        tuple_outputs: is_tuple::<M::OutputShape>(),
        optional,
    };
    let list = list.bind(scope);
    let MapBody(runs, workflow) = mapped.body(scope);
    let node = scope.add_node(runs, vec![list], Some(spec));
    if let Some(workflow) = workflow {
        scope.inner.borrow_mut().mapped.push((
            node,
            SubWorkflowCall {
                workflow,
                nodes: 0..0,
                inputs: vec![list],
                outputs: Vec::new(),
            },
        ));
    }
    Promise::new(Binding::Output { node, slot: 0 })
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("task", &self.task_name())
            .field("inputs", &self.inputs)
            .finish()
    }
}

/// What to do once a node has failed for good: `#[workflow(failure_policy = ..)]` sets it.
///
/// ```
/// use flytekit::{task, workflow, FailurePolicy, TaskError, Workflow};
///
/// #[task]
/// fn upload(path: String) -> Result<u64, TaskError> {
///     Err(TaskError::non_recoverable(format!("{path}: permission denied")))
/// }
///
/// #[task]
/// fn index(path: String) -> u64 {
///     path.len() as u64
/// }
///
/// // `index` still runs when `upload` fails: it does not need its output.
/// #[workflow(failure_policy = FailAfterExecutableNodesComplete)]
/// fn publish(path: String) -> (u64, u64) {
///     (upload(path), index(path))
/// }
///
/// let graph = publish.graph().unwrap();
/// assert_eq!(graph.failure_policy(), FailurePolicy::FailAfterExecutableNodesComplete);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Start nothing new, ask running nodes to stop (see
    /// [`TaskContext::is_stopping`](crate::TaskContext::is_stopping)), and fail once they have
    /// returned. Flyte's default, `FAIL_IMMEDIATELY`.
    #[default]
    FailImmediately,
    /// Run every node that does not depend on a failed one, then fail. Flyte's
    /// `FAIL_AFTER_EXECUTABLE_NODES_COMPLETE`.
    FailAfterExecutableNodesComplete,
}

/// The graph a workflow body built: nodes, the literals they use and the workflow's outputs.
///
/// ```
/// use flytekit::{task, workflow, Workflow};
///
/// #[task]
/// fn load(n: u64) -> Vec<u64> { (0..n).collect() }
/// #[task]
/// fn total(xs: Vec<u64>) -> u64 { xs.iter().sum() }
///
/// #[workflow]
/// fn pipeline(n: u64) -> u64 {
///     let xs = load(n);
///     total(xs)
/// }
///
/// let graph = pipeline.graph().unwrap();
/// let tasks: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
/// assert_eq!(tasks, ["load", "total"]);
/// assert_eq!(graph.edges(), [(0, 1)]);
/// ```
#[derive(Debug)]
pub struct Graph {
    name: &'static str,
    inputs: &'static [&'static str],
    nodes: Vec<Node>,
    literals: Vec<Encoded>,
    tables: Tables,
    outputs: Vec<Binding>,
    failure_policy: FailurePolicy,
    on_failure: Option<Node>,
    calls: Vec<SubWorkflowCall>,
    mapped: Vec<(usize, SubWorkflowCall)>,
}

/// A workflow called in another workflow's body. Its nodes are part of the caller's graph
/// (inlined: the local runtime runs them as the caller's own), and this says which they are,
/// so that a Flyte package can write the call as a sub-workflow node.
#[derive(Clone)]
pub struct SubWorkflowCall {
    workflow: Arc<dyn ErasedWorkflow>,
    nodes: std::ops::Range<usize>,
    inputs: Vec<Binding>,
    outputs: Vec<Binding>,
}

impl SubWorkflowCall {
    /// The called workflow's name.
    pub fn name(&self) -> &'static str {
        self.workflow.name()
    }

    /// The module that defines the called workflow.
    pub fn module(&self) -> &'static str {
        self.workflow.module()
    }

    /// The called workflow's documentation.
    pub fn docs(&self) -> &'static str {
        self.workflow.docs()
    }

    /// The called workflow's typed interface.
    pub fn interface(&self) -> Result<Interface, InterfaceError> {
        self.workflow.interface()
    }

    /// The called workflow's own graph (built anew).
    pub fn graph(&self) -> Result<Graph, Error> {
        self.workflow.graph()
    }

    /// The indices of the caller's nodes that the call added (nested calls' included); none
    /// for the workflow of a map ([`Graph::mapped_workflow_call`]).
    pub fn nodes(&self) -> std::ops::Range<usize> {
        self.nodes.clone()
    }

    /// Where each of the called workflow's inputs comes from, in the caller's graph.
    pub fn inputs(&self) -> &[Binding] {
        &self.inputs
    }

    /// The called workflow's outputs, as bindings of the caller's graph.
    pub fn outputs(&self) -> &[Binding] {
        &self.outputs
    }
}

impl fmt::Debug for SubWorkflowCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubWorkflowCall")
            .field("workflow", &self.name())
            .field("nodes", &self.nodes)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// A workflow with its types erased, as a sub-workflow call keeps it.
pub(crate) trait ErasedWorkflow: Send + Sync {
    fn name(&self) -> &'static str;
    fn docs(&self) -> &'static str;
    fn module(&self) -> &'static str;
    fn interface(&self) -> Result<Interface, InterfaceError>;
    fn graph(&self) -> Result<Graph, Error>;
}

impl<W: Workflow> ErasedWorkflow for W {
    fn name(&self) -> &'static str {
        Workflow::name(self)
    }
    fn docs(&self) -> &'static str {
        Workflow::docs(self)
    }
    fn module(&self) -> &'static str {
        Workflow::module(self)
    }
    fn interface(&self) -> Result<Interface, InterfaceError> {
        Workflow::interface(self)
    }
    fn graph(&self) -> Result<Graph, Error> {
        Workflow::graph(self)
    }
}

impl Graph {
    /// The workflow's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The names of the workflow's inputs.
    pub fn inputs(&self) -> &'static [&'static str] {
        self.inputs
    }

    /// The nodes, in the order the body called them (an order in which every node comes after
    /// the nodes it depends on).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every `(upstream, downstream)` pair of node indices, sorted and without repeats.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let mut edges: Vec<_> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.upstream().iter().map(move |&u| (u, i)))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// Where each of the workflow's outputs comes from.
    pub fn outputs(&self) -> &[Binding] {
        &self.outputs
    }

    /// What the execution does once a node has failed for good.
    pub fn failure_policy(&self) -> FailurePolicy {
        self.failure_policy
    }

    /// The task that runs when the workflow fails (`#[workflow(on_failure = ..)]`): a node
    /// outside the graph, run on the workflow's inputs and a [`WorkflowFailure`](crate::WorkflowFailure).
    pub fn on_failure(&self) -> Option<&Node> {
        self.on_failure.as_ref()
    }

    /// The workflows the body called, in the order called (nested calls too: a call's
    /// [`nodes`](SubWorkflowCall::nodes) hold those of the calls it made).
    pub fn sub_workflows(&self) -> &[SubWorkflowCall] {
        &self.calls
    }

    /// The workflow that the map node `node` runs on each element, as a call of no nodes whose
    /// one input is the map's list (a Flyte package writes it as an array node over the
    /// workflow's launch plan); `None` for any other node.
    pub fn mapped_workflow_call(&self, node: usize) -> Option<&SubWorkflowCall> {
        self.mapped.iter().find(|(n, _)| *n == node).map(|(_, call)| call)
    }

    /// The value of a [`Binding::Constant`], as the body wrote it; `None` for an index the
    /// graph does not have.
    pub fn constant(&self, index: usize) -> Option<&Encoded> {
        self.literals.get(index)
    }

    /// The items of a [`Binding::List`].
    pub fn list(&self, index: usize) -> Option<&[Binding]> {
        self.tables.lists.get(index).map(Vec::as_slice)
    }

    /// The entries of a [`Binding::Map`].
    pub fn map_binding(&self, index: usize) -> Option<&[(String, Binding)]> {
        self.tables.maps.get(index).map(Vec::as_slice)
    }

    /// What a [`Binding::Part`] is part of, and which part.
    pub fn part(&self, index: usize) -> Option<(Binding, &Step)> {
        self.tables.parts.get(index).map(|(b, s)| (*b, s))
    }

    /// A literal of the body, as Rust would write it (`3`, `"big"`, `true`); `None` for an index
    /// the graph does not have.
    pub(crate) fn literal_value(&self, index: usize) -> Option<String> {
        use ciborium::Value as Cbor;
        let value: Cbor = self.literals.get(index)?.decode().ok()?;
        Some(match value {
            Cbor::Integer(i) => i128::from(i).to_string(),
            Cbor::Float(f) => format!("{f:?}"),
            Cbor::Text(t) => format!("{t:?}"),
            Cbor::Bool(b) => b.to_string(),
            Cbor::Null => "None".to_owned(),
            other => format!("{other:?}"),
        })
    }

    /// The workflow inputs and node outputs a binding reads, at any depth of its lists, maps
    /// and parts, without repeats.
    pub fn sources(&self, binding: Binding) -> Vec<Binding> {
        let mut out = Vec::new();
        self.tables.sources(binding, &mut out);
        out
    }

    /// What bindings resolve against, once a run has `inputs` and `outputs`.
    pub(crate) fn values<'a>(&'a self, inputs: &'a [Encoded], outputs: &'a Outputs) -> Resolver<'a> {
        Resolver {
            tables: &self.tables,
            literals: &self.literals,
            inputs,
            outputs,
        }
    }

    pub(crate) fn literals(&self) -> &[Encoded] {
        &self.literals
    }

    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// A graph from its parts, as a recorded one is rebuilt.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        name: &'static str,
        inputs: &'static [&'static str],
        nodes: Vec<Node>,
        literals: Vec<Encoded>,
        tables: Tables,
        outputs: Vec<Binding>,
        failure_policy: crate::FailurePolicy,
    ) -> Graph {
        Graph {
            name,
            inputs,
            nodes,
            literals,
            tables,
            outputs,
            failure_policy,
            on_failure: None,
            calls: Vec::new(),
            mapped: Vec::new(),
        }
    }

    /// A graph of no nodes, standing for one that could not be built.
    fn empty(name: &'static str, inputs: &'static [&'static str]) -> Graph {
        Graph {
            name,
            inputs,
            nodes: Vec::new(),
            literals: Vec::new(),
            tables: Tables::default(),
            outputs: Vec::new(),
            failure_policy: FailurePolicy::default(),
            on_failure: None,
            calls: Vec::new(),
            mapped: Vec::new(),
        }
    }

    /// A graph of one node that runs `task` on the workflow's inputs.
    pub(crate) fn single<T: Task>(task: T) -> Graph {
        let spec = task.info();
        let scope = Scope::new(spec.name());
        let inputs = (0..T::Input::type_names().len()).map(Binding::Input).collect();
        let node = scope.add(task, inputs);
        let outputs = (0..T::Output::type_names().len()).map(|slot| Binding::Output { node, slot });
        let builder = scope.inner.into_inner();
        Graph {
            name: spec.name(),
            inputs: spec.inputs(),
            nodes: builder.nodes,
            literals: builder.literals,
            tables: builder.tables,
            outputs: outputs.collect(),
            failure_policy: FailurePolicy::default(),
            on_failure: None,
            calls: Vec::new(),
            mapped: Vec::new(),
        }
    }
}

/// A graph of tasks with typed inputs and outputs. `#[workflow]` implements it.
///
/// Like a task, a workflow is a value named after its function: pass it to
/// [`LocalRuntime::run`](crate::LocalRuntime::run), or call it inside another workflow.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[workflow]",
    label = "expected a #[workflow]",
    note = "put #[workflow] on the function that wires your tasks together"
)]
pub trait Workflow: Send + Sync + 'static {
    /// The inputs: `()`, a single type, or a tuple.
    type Input: Values<Self::InputShape>;
    /// The outputs: `()`, a single type, or a tuple.
    type Output: Values<Self::OutputShape>;
    #[doc(hidden)]
    type InputShape;
    #[doc(hidden)]
    type OutputShape;
    /// The placeholders the body receives, written out by the macro.
    #[doc(hidden)]
    type InputPromises: Placeholders;
    /// The placeholders the body returns.
    #[doc(hidden)]
    type OutputPromises: Placeholders;

    /// The workflow's name (the function's).
    fn name(&self) -> &'static str;

    /// The module that defines the workflow (`module_path!()`), as [`TaskInfo::module`]
    /// gives a task's: flytekit names a workflow `module.function`.
    ///
    /// `#[workflow]` returns its `module_path!()`; this default, for an impl written by hand,
    /// the path of the implementing type without its last segment.
    ///
    /// [`TaskInfo::module`]: crate::TaskInfo::module
    ///
    /// ```
    /// use flytekit::{task, Workflow};
    ///
    /// #[task]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// mod pipelines {
    ///     use super::inc;
    ///
    ///     #[flytekit::workflow]
    ///     pub fn twice(x: u64) -> u64 {
    ///         inc(inc(x))
    ///     }
    /// }
    ///
    /// fn main() {
    ///     assert_eq!(pipelines::twice.module(), "rust_out::pipelines");
    ///     assert_eq!(pipelines::twice.name(), "twice");
    /// }
    /// ```
    fn module(&self) -> &'static str {
        let path = std::any::type_name::<Self>();
        path.rsplit_once("::").map_or("", |(module, _)| module)
    }

    /// The names of the inputs, in order.
    fn input_names(&self) -> &'static [&'static str];

    /// The function's documentation (its `///` comments), `""` when it has none: a Flyte
    /// package writes it as the workflow's description. `#[workflow]` returns it.
    fn docs(&self) -> &'static str {
        ""
    }

    /// The workflow's inputs and outputs with their Flyte types, as
    /// [`Task::interface`](crate::Task::interface) describes a task's (and, in an impl written
    /// by hand, by tracing every type).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use flytekit::{task, workflow, Type, Workflow};
    ///
    /// #[task]
    /// fn count(words: Vec<String>) -> HashMap<String, u64> {
    ///     let mut counts = HashMap::new();
    ///     for w in words {
    ///         *counts.entry(w).or_default() += 1;
    ///     }
    ///     counts
    /// }
    ///
    /// #[workflow]
    /// fn word_counts(words: Vec<String>) -> HashMap<String, u64> {
    ///     count(words)
    /// }
    ///
    /// let interface = word_counts.interface()?;
    /// assert_eq!(interface.input("words"), Some(&Type::Collection(Box::new(Type::Str))));
    /// assert_eq!(interface.output("o0"), Some(&Type::Dict(Box::new(Type::Integer))));
    /// # Ok::<(), flytekit::InterfaceError>(())
    /// ```
    fn interface(&self) -> Result<Interface, InterfaceError> {
        let inputs: Vec<(&str, Describer)> = self
            .input_names()
            .iter()
            .copied()
            .zip(Self::Input::describers())
            .collect();
        crate::interface::interface(
            "workflow",
            self.module(),
            self.name(),
            &inputs,
            &Self::Output::describers(),
        )
    }

    /// Runs the body once on placeholders, adding its nodes to `scope`.
    #[doc(hidden)]
    fn build(&self, scope: &Scope, input: Self::InputPromises) -> Self::OutputPromises;

    /// What the execution does once a node has failed for good; `#[workflow(failure_policy =
    /// ..)]` sets it.
    fn failure_policy(&self) -> FailurePolicy {
        FailurePolicy::default()
    }

    /// The task that runs when the workflow fails; `#[workflow(on_failure = ..)]` sets it.
    #[doc(hidden)]
    fn on_failure(&self) -> Option<OnFailure> {
        None
    }

    /// Builds the graph, for inspection or execution.
    fn graph(&self) -> Result<Graph, Error> {
        build(self, vec![self.name().to_owned()])
    }
}

/// Builds `workflow`'s graph, its nodes marked as called from `path` (the workflow's own
/// name, or `outer/inner` for a workflow mapped inside `outer`).
fn build<W: Workflow + ?Sized>(workflow: &W, path: Vec<String>) -> Result<Graph, Error> {
    let _building = Building::enter::<W>(workflow.name())?;
    let scope = Scope::new(workflow.name());
    scope.inner.borrow_mut().path = path;
    let input = Placeholders::from_bindings(&mut Binding::Input);
    let output = workflow.build(&scope, input);
    let mut graph = scope.finish(workflow.name(), workflow.input_names(), output.bindings())?;
    graph.failure_policy = workflow.failure_policy();
    graph.on_failure = workflow.on_failure().map(|hook| Node {
        id: "on-failure".to_owned(),
        workflow: workflow.name().to_owned(),
        runs: Runs::Task(hook.0),
        inputs: Vec::new(),
        upstream: Vec::new(),
        after: Vec::new(),
        map: None,
        guard: None,
        branch: None,
        output_of: None,
    });
    Ok(graph)
}

thread_local! {
    /// The workflows whose graphs this thread is building, innermost last.
    static BUILDING: RefCell<Vec<std::any::TypeId>> = const { RefCell::new(Vec::new()) };
}

/// A workflow's graph being built on this thread. A workflow that maps over itself, directly
/// or through others, would build forever (until the stack overflows): it is refused instead.
struct Building;

impl Building {
    fn enter<W: ?Sized + 'static>(name: &'static str) -> Result<Building, ValueError> {
        let id = std::any::TypeId::of::<W>();
        BUILDING.with_borrow_mut(|building| {
            if building.contains(&id) {
                return Err(ValueError {
                    op: "map",
                    type_name: name,
                    message: "the workflow would contain itself (it maps over itself, directly or through other \
                              workflows), and a workflow's graph is built once"
                        .to_owned(),
                });
            }
            building.push(id);
            Ok(Building)
        })
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDING.with_borrow_mut(|building| building.pop());
    }
}

/// A node of a branch's case may run or not: only nodes of the same case (or nested in it), and
/// the branch's output node, may read it or come after it.
fn check_cases(nodes: &[Node], tables: &Tables, outputs: &[Binding]) -> Result<(), String> {
    // The cases a node is in, outermost first.
    let chain = |mut n: usize| {
        let mut chain = Vec::new();
        while let Some(guard) = nodes[n].guard {
            chain.push(guard);
            n = guard.0;
        }
        chain.reverse();
        chain
    };
    // Where `u` runs only if a case is taken that `reader` is not in: that case.
    let outside = |u: usize, reader: &[(usize, usize)]| -> Option<(usize, usize)> {
        let of = chain(u);
        let shared = reader.iter().zip(&of).take_while(|(a, b)| a == b).count();
        of.get(shared).copied()
    };
    for (i, node) in nodes.iter().enumerate() {
        for &u in &node.upstream {
            let refused = match node.output_of {
                // A branch's output node reads its branch and anything in its cases.
                Some(branch) => {
                    let mut within = chain(branch);
                    let case = chain(u).get(within.len()).copied();
                    within.extend(case.filter(|&(b, _)| b == branch));
                    outside(u, &within)
                }
                None => outside(u, &chain(i)),
            };
            if let Some((branch, case)) = refused {
                return Err(format!(
                    "node n{i} reads (or comes after) n{u}, which is in case {case} of branch n{branch} and runs only if that case is taken: make the value that case's result (its arm's last expression) and read the branch's result instead"
                ));
            }
        }
    }
    let mut read = BTreeSet::new();
    for &b in outputs {
        tables.nodes_of(b, &mut read);
    }
    if let Some((u, (branch, case))) = read.iter().find_map(|&u| Some((u, outside(u, &[])?))) {
        return Err(format!(
            "the workflow's result reads n{u}, which is in case {case} of branch n{branch} and runs only if that case is taken: return the branch's result instead"
        ));
    }
    Ok(())
}

/// A workflow's `on_failure` task, type-erased. Built by [`on_failure`].
#[doc(hidden)]
pub struct OnFailure(Arc<dyn ErasedTask>);

/// Checks that `task` takes the inputs `I` (the workflow's inputs, then a
/// [`WorkflowFailure`](crate::WorkflowFailure)), as `#[workflow(on_failure = task)]` requires.
#[doc(hidden)]
pub fn on_failure<I, T: Task<Input = I>>(task: T) -> OnFailure {
    OnFailure(Arc::new(task))
}

/// What can be called inside a `#[workflow]`: a `#[task]` or another `#[workflow]`.
///
/// The macros implement it; the binder's `call` method carries the typed parameters, so rustc
/// checks each argument where it is written.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[task] or a #[workflow], so it cannot be called inside a #[workflow]",
    label = "not a task or workflow",
    note = "a workflow body only wires tasks together and runs before any value exists: mark the function #[task], or call it from inside a task"
)]
pub trait Callable {
    type Binder<'s>;
    fn binder<'s>(&self, scope: &'s Scope) -> Self::Binder<'s>;
}
