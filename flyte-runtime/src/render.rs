//! Pictures of a workflow graph: Graphviz DOT and Mermaid, with each node's task, retries,
//! cache and timeout marked, the workflow's inputs and outputs as ovals, the `on_failure` task
//! and orders without data dashed, and each branch a diamond followed by its cases, each a box
//! labelled with its condition around its nodes.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::binding::Binding;
use crate::branch::Otherwise;
use crate::graph::{Graph, Node};

/// One line describing a node's options, empty when it has none.
fn options(node: &Node) -> String {
    let mut parts = Vec::new();
    if let Some(map) = node.map() {
        // One box for the whole map, as for a task: the element workflow's nodes are its own
        // picture (`node.mapped_workflow()`).
        let mut m = match node.mapped_workflow() {
            Some(_) => "map (workflow)".to_owned(),
            None => "map".to_owned(),
        };
        if let Some(n) = map.concurrency {
            m.push_str(&format!(", concurrency {n}"));
        }
        if map.min_success_ratio < 1.0 {
            m.push_str(&format!(", min_success_ratio {}", map.min_success_ratio));
        }
        parts.push(m);
    }
    if let Some(spec) = node.info() {
        if spec.retries() > 0 {
            parts.push(format!("retries {}", spec.retries()));
        }
        if let Some(v) = spec.cache_version() {
            parts.push(format!("cache v{v}"));
        }
        if let Some(t) = spec.timeout() {
            parts.push(format!("timeout {t:?}"));
        }
    }
    parts.join(", ")
}

/// An edge of the picture: data flowing, or an order without data (`.after(..)`, a branch
/// before its cases' nodes), drawn dashed.
#[derive(PartialEq)]
enum Edge {
    Data(String, String),
    Order(String, String),
}

/// What a node of the picture is.
enum Shape<'g> {
    Task(String),
    Branch,
    /// A branch's output: a point its cases' results flow through.
    Output,
    /// A case that fails the run.
    Fail(&'g str),
}

/// A case of a branch, as the picture draws it: a box labelled with its condition.
struct Case {
    id: String,
    label: String,
}

/// How one picture language writes nodes, cases and edges.
trait Picture {
    fn node(&mut self, id: &str, shape: Shape<'_>, depth: usize);
    fn open(&mut self, case: &Case, depth: usize);
    fn close(&mut self, depth: usize);
}

/// The graphs dynamic nodes built in an execution, by the node's id (`n1`, `n1-n0`), to draw
/// inside them; a picture of a workflow alone has none.
pub type Expansions<'e> = &'e dyn Fn(&str) -> Option<Graph>;

/// Where a graph is drawn: the prefix of its nodes' ids in the execution (`n1-` inside dynamic
/// node `n1`), and the graphs its dynamic nodes built.
#[derive(Clone, Copy)]
struct Within<'e> {
    prefix: &'e str,
    expand: Expansions<'e>,
}

impl Within<'_> {
    /// A node's id in the picture: its id in the execution, `-` written `_`.
    fn id(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix.replace('-', "_"))
    }
}

/// The nodes of the top level, then of each case, nested as branches nest; a dynamic node
/// whose graph is known is followed by a box holding that graph.
fn draw(graph: &Graph, picture: &mut impl Picture, within: Within<'_>, depth: usize) -> Vec<Edge> {
    let mut blocks: BTreeMap<Option<(usize, usize)>, Vec<usize>> = BTreeMap::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        blocks.entry(node.guard()).or_default().push(i);
    }
    let mut inner = Vec::new();
    draw_block(graph, &blocks, None, depth, picture, within, &mut inner);
    inner
}

fn draw_block(
    graph: &Graph,
    blocks: &BTreeMap<Option<(usize, usize)>, Vec<usize>>,
    block: Option<(usize, usize)>,
    depth: usize,
    picture: &mut impl Picture,
    within: Within<'_>,
    inner: &mut Vec<Edge>,
) {
    for &i in blocks.get(&block).into_iter().flatten() {
        let node = &graph.nodes()[i];
        let id = within.id(i);
        if node.is_dynamic() {
            picture.node(&id, Shape::Task(label(node)), depth);
            let full = format!("{}n{i}", within.prefix);
            if let Some(sub) = (within.expand)(&full) {
                let case = Case {
                    id: format!("{id}_graph"),
                    label: format!("{full}: the graph `{}` built", node.task_name()),
                };
                picture.open(&case, depth);
                let prefix = format!("{full}-");
                let sub_within = Within {
                    prefix: &prefix,
                    expand: within.expand,
                };
                inner.extend(draw(&sub, picture, sub_within, depth + 1));
                inner.extend(edges(&sub, sub_within));
                // Its results flow out through the dynamic node.
                for &b in sub.outputs() {
                    for source in sub.sources(b) {
                        if let Binding::Output { node: n, .. } = source {
                            inner.push(Edge::Order(sub_within.id(n), id.clone()));
                        }
                    }
                }
                picture.close(depth);
            }
            continue;
        }
        let Some(spec) = node.branch() else {
            let shape = match node.output_of() {
                Some(_) => Shape::Output,
                None => Shape::Task(label(node)),
            };
            picture.node(&id, shape, depth);
            continue;
        };
        picture.node(&id, Shape::Branch, depth);
        let arms = spec.cases.len() + usize::from(!matches!(spec.otherwise, Otherwise::Nothing));
        for k in 0..arms {
            let label = match spec.cases.get(k) {
                Some((condition, _)) if k == 0 => format!("if {}", graph.condition_text(condition)),
                Some((condition, _)) => format!("else if {}", graph.condition_text(condition)),
                None => "else".to_owned(),
            };
            let case = Case {
                id: format!("{id}_case{k}"),
                label,
            };
            picture.open(&case, depth);
            match &spec.otherwise {
                Otherwise::Fail(message) if k == spec.cases.len() => {
                    picture.node(&format!("{id}_fail"), Shape::Fail(message), depth + 1);
                }
                _ => draw_block(graph, blocks, Some((i, k)), depth + 1, picture, within, inner),
            }
            picture.close(depth);
        }
    }
}

/// The task's name, and its options on a second line.
fn label(node: &Node) -> String {
    match options(node).as_str() {
        "" => node.task_name().to_owned(),
        o => format!("{}\n{o}", node.task_name()),
    }
}

/// Every edge of the picture: from a workflow input or a node, to a node or an output. A list,
/// a map or a part of a value is drawn as edges from what it reads.
fn edges(graph: &Graph, within: Within<'_>) -> Vec<Edge> {
    let n = |i: usize| within.id(i);
    let source = |b: Binding| match b {
        Binding::Input(i) => Some(format!("input{i}")),
        Binding::Output { node, .. } => Some(n(node)),
        _ => None,
    };
    let mut edges = Vec::new();
    let mut add = |edge: Edge| {
        if !edges.contains(&edge) {
            edges.push(edge);
        }
    };
    for (i, node) in graph.nodes().iter().enumerate() {
        for &input in node.inputs() {
            for from in graph.sources(input).into_iter().filter_map(source) {
                add(Edge::Data(from, n(i)));
            }
        }
        for before in node.after() {
            add(Edge::Order(n(*before), n(i)));
        }
        // A case's nodes that read nothing else of the case come after the branch decides.
        if let Some((branch, case)) = node.guard() {
            let first = node
                .upstream()
                .iter()
                .all(|&u| u == branch || graph.nodes()[u].guard() != Some((branch, case)));
            if first {
                add(Edge::Order(n(branch), n(i)));
            }
        }
        if let Some(spec) = node.branch() {
            if let (Otherwise::Fail(_), Some(_)) = (&spec.otherwise, spec.output_node) {
                add(Edge::Order(n(i), format!("{}_fail", n(i))));
            }
        }
        // A branch's output takes the results of its cases.
        if let Some(branch) = node.output_of() {
            let Some(spec) = graph.nodes()[branch].branch() else {
                continue;
            };
            let results = spec
                .cases
                .iter()
                .flat_map(|(_, out)| out)
                .chain(&spec.otherwise_outputs);
            for &result in results {
                for from in graph.sources(result).into_iter().filter_map(source) {
                    add(Edge::Data(from, n(i)));
                }
            }
        }
    }
    // A dynamic node's graph gives its results to the node, not to the workflow's outputs.
    for (i, &b) in graph.outputs().iter().enumerate().filter(|_| within.prefix.is_empty()) {
        for from in graph.sources(b).into_iter().filter_map(source) {
            add(Edge::Data(from, format!("output{i}")));
        }
    }
    edges
}

impl Graph {
    /// The graph in Graphviz's DOT language: `dot -Tsvg` renders it.
    ///
    /// ```
    /// use flytekit::{task, workflow, Workflow};
    ///
    /// #[task(retries = 2)]
    /// fn double(x: u64) -> u64 { x * 2 }
    ///
    /// #[workflow]
    /// fn twice(x: u64) -> u64 { double(double(x)) }
    ///
    /// let dot = twice.graph().unwrap().to_dot();
    /// assert!(dot.contains(r#"n0 [label="double\nretries 2"];"#));
    /// assert!(dot.contains("n0 -> n1;"));
    /// ```
    pub fn to_dot(&self) -> String {
        self.to_dot_expanded(&|_| None)
    }

    /// [`to_dot`](Self::to_dot), with each dynamic node followed by a box holding the graph
    /// `expand` gives for its id (an execution's: `Store::dynamic_graph`).
    pub fn to_dot_expanded(&self, expand: Expansions<'_>) -> String {
        let within = Within { prefix: "", expand };
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", quote(self.name()));
        out.push_str("  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        for (i, name) in self.inputs().iter().enumerate() {
            let _ = writeln!(out, "  input{i} [label=\"{}\", shape=oval];", quote(name));
        }
        let inner = draw(self, &mut Dot(&mut out), within, 1);
        for i in 0..self.outputs().len() {
            let _ = writeln!(out, "  output{i} [label=\"output {i}\", shape=oval];");
        }
        if let Some(hook) = self.on_failure() {
            let _ = writeln!(
                out,
                "  on_failure [label=\"on failure: {}\", style=\"rounded,dashed\"];",
                quote(hook.task_name())
            );
        }
        for edge in edges(self, within).into_iter().chain(inner) {
            let _ = match edge {
                Edge::Data(from, to) => writeln!(out, "  {from} -> {to};"),
                Edge::Order(from, to) => writeln!(out, "  {from} -> {to} [style=dashed];"),
            };
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart: GitHub and most Markdown viewers render it in a
    /// ```` ```mermaid ```` block.
    ///
    /// ```
    /// use flytekit::{task, workflow, Workflow};
    ///
    /// #[task(cache = true, cache_version = "2")]
    /// fn double(x: u64) -> u64 { x * 2 }
    ///
    /// #[workflow]
    /// fn twice(x: u64) -> u64 { double(double(x)) }
    ///
    /// let mermaid = twice.graph().unwrap().to_mermaid();
    /// assert!(mermaid.starts_with("flowchart LR\n"));
    /// assert!(mermaid.contains(r#"n1["double<br/>cache v2"]"#));
    /// assert!(mermaid.contains("input0 --> n0"));
    /// ```
    pub fn to_mermaid(&self) -> String {
        self.to_mermaid_expanded(&|_| None)
    }

    /// [`to_mermaid`](Self::to_mermaid), with each dynamic node followed by a box holding the
    /// graph `expand` gives for its id.
    pub fn to_mermaid_expanded(&self, expand: Expansions<'_>) -> String {
        let within = Within { prefix: "", expand };
        let quote = |s: &str| s.replace('"', "#quot;");
        let mut out = String::from("flowchart LR\n");
        for (i, name) in self.inputs().iter().enumerate() {
            let _ = writeln!(out, "  input{i}([\"{}\"])", quote(name));
        }
        let inner = draw(self, &mut Mermaid(&mut out), within, 1);
        for i in 0..self.outputs().len() {
            let _ = writeln!(out, "  output{i}([\"output {i}\"])");
        }
        if let Some(hook) = self.on_failure() {
            let _ = writeln!(out, "  on_failure[\"on failure: {}\"]", quote(hook.task_name()));
            out.push_str("  style on_failure stroke-dasharray: 5 5\n");
        }
        for edge in edges(self, within).into_iter().chain(inner) {
            let _ = match edge {
                Edge::Data(from, to) => writeln!(out, "  {from} --> {to}"),
                Edge::Order(from, to) => writeln!(out, "  {from} -.-> {to}"),
            };
        }
        out
    }
}

struct Dot<'o>(&'o mut String);

impl Dot<'_> {
    fn quote(s: &str) -> String {
        s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
    }
}

impl Picture for Dot<'_> {
    fn node(&mut self, id: &str, shape: Shape<'_>, depth: usize) {
        let indent = "  ".repeat(depth);
        let _ = match shape {
            Shape::Task(label) => writeln!(self.0, "{indent}{id} [label=\"{}\"];", Dot::quote(&label)),
            Shape::Branch => writeln!(self.0, "{indent}{id} [label=\"branch\", shape=diamond, style=\"\"];"),
            Shape::Output => writeln!(self.0, "{indent}{id} [label=\"\", shape=point];"),
            Shape::Fail(message) => writeln!(
                self.0,
                "{indent}{id} [label=\"fail: {}\", shape=octagon, style=\"\"];",
                Dot::quote(message)
            ),
        };
    }

    fn open(&mut self, case: &Case, depth: usize) {
        let indent = "  ".repeat(depth);
        let _ = writeln!(self.0, "{indent}subgraph cluster_{} {{", case.id);
        let _ = writeln!(self.0, "{indent}  label=\"{}\"; style=dashed;", Dot::quote(&case.label));
    }

    fn close(&mut self, depth: usize) {
        let _ = writeln!(self.0, "{}}}", "  ".repeat(depth));
    }
}

struct Mermaid<'o>(&'o mut String);

impl Mermaid<'_> {
    fn quote(s: &str) -> String {
        s.replace('"', "#quot;").replace('\n', "<br/>")
    }
}

impl Picture for Mermaid<'_> {
    fn node(&mut self, id: &str, shape: Shape<'_>, depth: usize) {
        let indent = "  ".repeat(depth);
        let _ = match shape {
            Shape::Task(label) => writeln!(self.0, "{indent}{id}[\"{}\"]", Mermaid::quote(&label)),
            Shape::Branch => writeln!(self.0, "{indent}{id}{{\"branch\"}}"),
            Shape::Output => writeln!(self.0, "{indent}{id}((\" \"))"),
            Shape::Fail(message) => writeln!(self.0, "{indent}{id}[[\"fail: {}\"]]", Mermaid::quote(message)),
        };
    }

    fn open(&mut self, case: &Case, depth: usize) {
        let _ = writeln!(
            self.0,
            "{}subgraph {}[\"{}\"]",
            "  ".repeat(depth),
            case.id,
            Mermaid::quote(&case.label)
        );
    }

    fn close(&mut self, depth: usize) {
        let _ = writeln!(self.0, "{}end", "  ".repeat(depth));
    }
}
