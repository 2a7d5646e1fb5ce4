//! Pictures of a workflow graph: Graphviz DOT and Mermaid, with each node's task, retries,
//! cache and timeout marked, the workflow's inputs and outputs as ovals, and the `on_failure`
//! task dashed.

use std::fmt::Write;

use crate::binding::Binding;
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

/// An edge of the picture: data flowing, or an order without data (`.after(..)`), drawn
/// dashed.
#[derive(PartialEq)]
enum Edge {
    Data(String, String),
    Order(String, String),
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
        let nodes = self.nodes().iter().enumerate().map(|(i, n)| (format!("n{i}"), n));
        for (id, node) in nodes {
            let options = options(node);
            let label = match options.as_str() {
                "" => quote(node.task_name()),
                o => format!("{}\\n{}", quote(node.task_name()), quote(o)),
            };
            let _ = writeln!(out, "  {id} [label=\"{label}\"];");
        }
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
        for (i, node) in self.nodes().iter().enumerate() {
            let options = options(node);
            let label = match options.as_str() {
                "" => quote(node.task_name()),
                o => format!("{}<br/>{}", quote(node.task_name()), quote(o)),
            };
            let _ = writeln!(out, "  n{i}[\"{label}\"]");
        }
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
