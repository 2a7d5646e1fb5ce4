//! Where a node's input (or a workflow's output) takes its value from: Flyte's bindings. A
//! workflow input, a node's output, a literal, and, built from those, a list or a map of them
//! (Flyte's collection and map bindings) or a part of one (Flyte's promise attribute paths:
//! `let (a, (b, c)) = t(x);`, `xs[0]`, `m["k"]`).
//!
//! A [`Binding`] is `Copy` so that placeholders are; lists, maps and parts live in the graph's
//! [`Tables`] and a binding holds their index.

use std::collections::BTreeSet;

use ciborium::Value as Cbor;

use crate::value::{Encoded, Outputs};

/// Where a node input (or a workflow output) takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Binding {
    /// The workflow's input number `0`.
    Input(usize),
    /// Output slot `slot` of node number `node`.
    Output {
        /// The producing node's index in [`Graph::nodes`](crate::Graph::nodes).
        node: usize,
        /// Which of its outputs (0 unless the task returns a tuple).
        slot: usize,
    },
    /// A value written in the workflow's body, index into the graph's constants. Recorded
    /// graphs name it as they did before the rename.
    #[serde(rename = "Literal")]
    Constant(usize),
    /// A list of bindings ([`Graph::list`](crate::Graph::list)): `vec![a, b]` of placeholders.
    List(usize),
    /// A map from strings to bindings ([`Graph::map_binding`](crate::Graph::map_binding)).
    Map(usize),
    /// A part of another binding's value ([`Graph::part`](crate::Graph::part)): a tuple's
    /// element, a list's element, a map's entry.
    Part(usize),
}

/// One step into a value, for [`Binding::Part`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Step {
    /// The element at this position of a tuple or a list.
    Index(usize),
    /// The entry under this key of a map.
    Key(String),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Index(i) => write!(f, "[{i}]"),
            Step::Key(k) => write!(f, "[{k:?}]"),
        }
    }
}

/// The lists, maps and parts a graph's bindings refer to.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tables {
    pub lists: Vec<Vec<Binding>>,
    pub maps: Vec<Vec<(String, Binding)>>,
    pub parts: Vec<(Binding, Step)>,
}

impl Tables {
    /// The nodes whose outputs `binding` reads, at any depth, into `nodes`.
    pub fn nodes_of(&self, binding: Binding, nodes: &mut BTreeSet<usize>) {
        match binding {
            Binding::Output { node, .. } => {
                nodes.insert(node);
            }
            Binding::Input(_) | Binding::Constant(_) => {}
            Binding::List(i) => {
                for &b in self.lists.get(i).into_iter().flatten() {
                    self.nodes_of(b, nodes);
                }
            }
            Binding::Map(i) => {
                for (_, b) in self.maps.get(i).into_iter().flatten() {
                    self.nodes_of(*b, nodes);
                }
            }
            Binding::Part(i) => {
                if let Some((base, _)) = self.parts.get(i) {
                    self.nodes_of(*base, nodes);
                }
            }
        }
    }

    /// The workflow inputs and node outputs `binding` reads, at any depth, without repeats.
    pub fn sources(&self, binding: Binding, out: &mut Vec<Binding>) {
        match binding {
            Binding::Input(_) | Binding::Output { .. } => {
                if !out.contains(&binding) {
                    out.push(binding);
                }
            }
            Binding::Constant(_) => {}
            Binding::List(i) => {
                for &b in self.lists.get(i).into_iter().flatten() {
                    self.sources(b, out);
                }
            }
            Binding::Map(i) => {
                for (_, b) in self.maps.get(i).into_iter().flatten() {
                    self.sources(*b, out);
                }
            }
            Binding::Part(i) => {
                if let Some((base, _)) = self.parts.get(i) {
                    self.sources(*base, out);
                }
            }
        }
    }
}

/// What a binding resolves against when a graph runs.
pub(crate) struct Resolver<'a> {
    pub tables: &'a Tables,
    pub literals: &'a [Encoded],
    pub inputs: &'a [Encoded],
    pub outputs: &'a Outputs,
}

impl Resolver<'_> {
    /// The value of `binding`, or why there is none. A list, a map or a part is assembled from
    /// the values it is made of; a part that is not in its value (an index past a list's end, a
    /// missing key) is an error naming it.
    pub fn resolve(&self, binding: Binding) -> Result<Encoded, String> {
        // Graphs are built by the macros, so a dangling binding is a bug in flytekit.
        let missing = || format!("no value for {binding:?}");
        match binding {
            Binding::Input(i) => self.inputs.get(i).cloned().ok_or_else(missing),
            Binding::Constant(i) => self.literals.get(i).cloned().ok_or_else(missing),
            Binding::Output { node, slot } => self
                .outputs
                .get(node)
                .and_then(|o| o.as_ref()?.get(slot))
                .cloned()
                .ok_or_else(missing),
            Binding::List(i) => {
                let items = self.tables.lists.get(i).ok_or_else(missing)?;
                let values = items.iter().map(|&b| self.cbor(b)).collect::<Result<Vec<_>, _>>()?;
                encode(&Cbor::Array(values))
            }
            Binding::Map(i) => {
                let entries = self.tables.maps.get(i).ok_or_else(missing)?;
                let values = entries
                    .iter()
                    .map(|(k, b)| Ok((Cbor::Text(k.clone()), self.cbor(*b)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                encode(&Cbor::Map(values))
            }
            Binding::Part(i) => {
                let (base, step) = self.tables.parts.get(i).ok_or_else(missing)?;
                let whole = self.cbor(*base)?;
                let part = match (step, whole) {
                    (Step::Index(n), Cbor::Array(mut items)) => {
                        let len = items.len();
                        (*n < len)
                            .then(|| items.swap_remove(*n))
                            .ok_or_else(|| part_error(step, format!("the list has {len} elements")))?
                    }
                    (Step::Key(key), Cbor::Map(entries)) => entries
                        .into_iter()
                        .find(|(k, _)| k.as_text() == Some(key.as_str()))
                        .map(|(_, v)| v)
                        .ok_or_else(|| part_error(step, "the map has no such key".to_owned()))?,
                    (_, other) => {
                        return Err(part_error(
                            step,
                            format!("the value is not a list, tuple or map: {other:?}"),
                        ))
                    }
                };
                encode(&part)
            }
        }
    }

    fn cbor(&self, binding: Binding) -> Result<Cbor, String> {
        self.resolve(binding)?.decode::<Cbor>().map_err(|e| e.to_string())
    }
}

fn encode(value: &Cbor) -> Result<Encoded, String> {
    Encoded::encode(value).map_err(|e| e.to_string())
}

fn part_error(step: &Step, why: String) -> String {
    format!("`{step}` is not there: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn lit<T: serde::Serialize>(v: T) -> Encoded {
        Encoded::encode(&v).unwrap()
    }

    #[test]
    fn lists_maps_and_parts_assemble_from_their_values() {
        let tables = Tables {
            lists: vec![vec![
                Binding::Input(0),
                Binding::Output { node: 0, slot: 1 },
                Binding::Constant(0),
            ]],
            maps: vec![vec![
                ("a".into(), Binding::Input(0)),
                ("b".into(), Binding::Constant(0)),
            ]],
            parts: vec![
                (Binding::Output { node: 0, slot: 0 }, Step::Index(1)),
                (Binding::Part(0), Step::Index(0)),
                (Binding::Map(0), Step::Key("b".into())),
            ],
        };
        let values = Resolver {
            tables: &tables,
            literals: &[lit(3u64)],
            inputs: &[lit(1u64)],
            outputs: &vec![Some(vec![lit((7u64, (8u64, "x"))), lit(2u64)])],
        };
        assert_eq!(
            values.resolve(Binding::List(0)).unwrap().decode::<Vec<u64>>().unwrap(),
            [1, 2, 3]
        );
        let map: BTreeMap<String, u64> = values.resolve(Binding::Map(0)).unwrap().decode().unwrap();
        assert_eq!(map, BTreeMap::from([("a".into(), 1), ("b".into(), 3)]));
        let inner: (u64, String) = values.resolve(Binding::Part(0)).unwrap().decode().unwrap();
        assert_eq!(inner, (8, "x".into()));
        assert_eq!(values.resolve(Binding::Part(1)).unwrap().decode::<u64>().unwrap(), 8);
        assert_eq!(values.resolve(Binding::Part(2)).unwrap().decode::<u64>().unwrap(), 3);

        let mut nodes = BTreeSet::new();
        tables.nodes_of(Binding::List(0), &mut nodes);
        tables.nodes_of(Binding::Part(1), &mut nodes);
        assert_eq!(nodes.into_iter().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_part_that_is_not_there_names_the_step() {
        let tables = Tables {
            parts: vec![
                (Binding::Input(0), Step::Index(5)),
                (Binding::Input(1), Step::Key("k".into())),
            ],
            ..Tables::default()
        };
        let values = Resolver {
            tables: &tables,
            literals: &[],
            inputs: &[lit(vec![1u64, 2]), lit(BTreeMap::from([("j", 1u64)]))],
            outputs: &Vec::new(),
        };
        assert_eq!(
            values.resolve(Binding::Part(0)).unwrap_err(),
            "`[5]` is not there: the list has 2 elements"
        );
        assert_eq!(
            values.resolve(Binding::Part(1)).unwrap_err(),
            "`[\"k\"]` is not there: the map has no such key"
        );
    }
}
