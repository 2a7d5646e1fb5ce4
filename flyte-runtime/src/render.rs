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
    if let Some(spec) = node.spec() {
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

/// The nodes of the top level, then of each case, nested as branches nest.
fn draw(graph: &Graph, picture: &mut impl Picture) {
    let mut blocks: BTreeMap<Option<(usize, usize)>, Vec<usize>> = BTreeMap::new();
    for (i, node) in graph.nodes().iter().enumerate() {
        blocks.entry(node.guard()).or_default().push(i);
    }
    draw_block(graph, &blocks, None, 1, picture);
}

fn draw_block(
    graph: &Graph,
    blocks: &BTreeMap<Option<(usize, usize)>, Vec<usize>>,
    block: Option<(usize, usize)>,
    depth: usize,
    picture: &mut impl Picture,
) {
    for &i in blocks.get(&block).into_iter().flatten() {
        let node = &graph.nodes()[i];
        let id = format!("n{i}");
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
                id: format!("n{i}_case{k}"),
                label,
            };
            picture.open(&case, depth);
            match &spec.otherwise {
                Otherwise::Fail(message) if k == spec.cases.len() => {
                    picture.node(&format!("{id}_fail"), Shape::Fail(message), depth + 1);
                }
                _ => draw_block(graph, blocks, Some((i, k)), depth + 1, picture),
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
fn edges(graph: &Graph) -> Vec<Edge> {
    let source = |b: Binding| match b {
        Binding::Input(i) => Some(format!("input{i}")),
        Binding::Output { node, .. } => Some(format!("n{node}")),
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
                add(Edge::Data(from, format!("n{i}")));
            }
        }
        for before in node.after() {
            add(Edge::Order(format!("n{before}"), format!("n{i}")));
        }
        // A case's nodes that read nothing else of the case come after the branch decides.
        if let Some((branch, case)) = node.guard() {
            let first = node
                .upstream()
                .iter()
                .all(|&u| u == branch || graph.nodes()[u].guard() != Some((branch, case)));
            if first {
                add(Edge::Order(format!("n{branch}"), format!("n{i}")));
            }
        }
        if let Some(spec) = node.branch() {
            if let (Otherwise::Fail(_), Some(_)) = (&spec.otherwise, spec.output_node) {
                add(Edge::Order(format!("n{i}"), format!("n{i}_fail")));
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
                    add(Edge::Data(from, format!("n{i}")));
                }
            }
        }
    }
    for (i, &b) in graph.outputs().iter().enumerate() {
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
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", quote(self.name()));
        out.push_str("  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        for (i, name) in self.inputs().iter().enumerate() {
            let _ = writeln!(out, "  input{i} [label=\"{}\", shape=oval];", quote(name));
        }
        draw(self, &mut Dot(&mut out));
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
        for edge in edges(self) {
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
        let quote = |s: &str| s.replace('"', "#quot;");
        let mut out = String::from("flowchart LR\n");
        for (i, name) in self.inputs().iter().enumerate() {
            let _ = writeln!(out, "  input{i}([\"{}\"])", quote(name));
        }
        draw(self, &mut Mermaid(&mut out));
        for i in 0..self.outputs().len() {
            let _ = writeln!(out, "  output{i}([\"output {i}\"])");
        }
        if let Some(hook) = self.on_failure() {
            let _ = writeln!(out, "  on_failure[\"on failure: {}\"]", quote(hook.task_name()));
            out.push_str("  style on_failure stroke-dasharray: 5 5\n");
        }
        for edge in edges(self) {
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
