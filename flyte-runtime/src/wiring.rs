//! What a workflow body does with placeholders besides passing them as they are: lists and maps
//! of them (Flyte's collection and map bindings), the parts of a tuple, list or map output
//! (Flyte's promise attribute paths), and ordering two calls that exchange no data (Flyte's
//! `upstream_node_ids`). Generated code and these impls are all that uses it.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use crate::binding::{Binding, Step};
use crate::graph::{IntoInput, Placeholders, Promise, Scope};

// The collection impls below are `do_not_recommend`: an input of the wrong type is then reported
// with the forms that fit one value (a placeholder, a literal), not a list of every collection.

#[diagnostic::do_not_recommend]
impl<T> IntoInput<Vec<T>> for Vec<Promise<T>> {
    fn bind(self, scope: &Scope) -> Binding {
        scope.list(self.iter().map(Promise::binding).collect())
    }
}

#[diagnostic::do_not_recommend]
impl<T, const N: usize> IntoInput<Vec<T>> for [Promise<T>; N] {
    fn bind(self, scope: &Scope) -> Binding {
        scope.list(self.iter().map(Promise::binding).collect())
    }
}

#[diagnostic::do_not_recommend]
impl IntoInput<Vec<String>> for Vec<&str> {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(&self)
    }
}

#[diagnostic::do_not_recommend]
impl<const N: usize> IntoInput<Vec<String>> for [&str; N] {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(&self[..])
    }
}

macro_rules! map_inputs {
    ($map:ident) => {
        #[diagnostic::do_not_recommend]
        impl<T> IntoInput<$map<String, T>> for $map<String, Promise<T>> {
            fn bind(self, scope: &Scope) -> Binding {
                scope.map_of(self.into_iter().map(|(k, p)| (k, p.binding())).collect())
            }
        }

        #[diagnostic::do_not_recommend]
        impl<T> IntoInput<$map<String, T>> for $map<&str, Promise<T>> {
            fn bind(self, scope: &Scope) -> Binding {
                scope.map_of(
                    self.into_iter()
                        .map(|(k, p)| (k.to_owned(), p.binding()))
                        .collect(),
                )
            }
        }
    };
}

map_inputs!(HashMap);
map_inputs!(BTreeMap);

/// `vec![a, b, 3]` in a workflow, where an item is a placeholder or a task call: each item is
/// anything that passes for a `T`, so placeholders and literals mix. The macro builds it.
#[doc(hidden)]
pub struct List<'s, T> {
    scope: &'s Scope,
    items: Vec<Binding>,
    _type: PhantomData<fn() -> T>,
}

impl<'s, T> List<'s, T> {
    pub fn new(scope: &'s Scope) -> Self {
        List {
            scope,
            items: Vec::new(),
            _type: PhantomData,
        }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn push(mut self, item: impl IntoInput<T>) -> Self {
        self.items.push(item.bind(self.scope));
        self
    }
}

#[diagnostic::do_not_recommend]
impl<T> IntoInput<Vec<T>> for List<'_, T> {
    fn bind(self, scope: &Scope) -> Binding {
        scope.list(self.items)
    }
}

/// A placeholder of a tuple, as placeholders of its elements: `let (a, (b, c)) = t(x);` where
/// `t` returns `(u64, (String, f64))`. The macro calls it for each nested tuple pattern.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be destructured: it is not a placeholder of a tuple",
    label = "not a tuple's placeholder",
    note = "a nested tuple pattern in a #[workflow] takes apart a task output whose type is a tuple, such as `(u64, (String, f64))`"
)]
pub trait Split<Parts> {
    fn split(self, scope: &Scope) -> Parts;
}

macro_rules! tuple_split {
    () => {};
    ($($t:ident $i:tt),+) => {
        impl<$($t),+> Split<($(Promise<$t>,)+)> for Promise<($($t,)+)> {
            fn split(self, scope: &Scope) -> ($(Promise<$t>,)+) {
                ($(Promise::new(scope.part(self.binding(), Step::Index($i))),)+)
            }
        }
    };
}

crate::value::for_each_tuple!(tuple_split);

/// `xs[0]` or `m["key"]` on a placeholder of a list or a map, with an index or a key known
/// while the graph is built: a placeholder of the element.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be indexed by `{K}` in a #[workflow]",
    label = "not an index of this placeholder",
    note = "a placeholder of a `Vec<T>` is indexed by a `usize`, and one of a `HashMap<String, T>` or `BTreeMap<String, T>` by a string, each known while the graph is built (a literal, a constant, a loop counter); to index by a run-time value, do it inside a task"
)]
pub trait Index<K, Output> {
    fn index(self, scope: &Scope, key: K) -> Output;
}

impl<T> Index<usize, Promise<T>> for Promise<Vec<T>> {
    fn index(self, scope: &Scope, key: usize) -> Promise<T> {
        Promise::new(scope.part(self.binding(), Step::Index(key)))
    }
}

macro_rules! map_index {
    ($map:ident) => {
        impl<T> Index<&str, Promise<T>> for Promise<$map<String, T>> {
            fn index(self, scope: &Scope, key: &str) -> Promise<T> {
                Promise::new(scope.part(self.binding(), Step::Key(key.to_owned())))
            }
        }

        impl<T> Index<String, Promise<T>> for Promise<$map<String, T>> {
            fn index(self, scope: &Scope, key: String) -> Promise<T> {
                Promise::new(scope.part(self.binding(), Step::Key(key)))
            }
        }
    };
}

map_index!(HashMap);
map_index!(BTreeMap);

/// What `.after(..)` takes: the result of earlier calls (a placeholder, a tuple of them, a
/// [`Ran`] of a task without outputs), or a list of those.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`.after(..)` takes what earlier task or workflow calls returned, not `{Self}`",
    label = "not the result of a call in this workflow",
    note = "write `let a = first(); let b = second().after(a);`, or `.after((a, b))` for several"
)]
pub trait After {
    /// The nodes to come after.
    fn nodes(&self, scope: &Scope) -> Vec<usize>;
}

impl<P: Placeholders> After for P {
    fn nodes(&self, scope: &Scope) -> Vec<usize> {
        self.called()
            .map_or_else(|| scope.nodes_of(&self.bindings()), |nodes| nodes.collect())
    }
}

impl<P: Placeholders> After for Vec<P> {
    fn nodes(&self, scope: &Scope) -> Vec<usize> {
        self.iter().flat_map(|p| p.nodes(scope)).collect()
    }
}

impl<P: Placeholders, const N: usize> After for [P; N] {
    fn nodes(&self, scope: &Scope) -> Vec<usize> {
        self.iter().flat_map(|p| p.nodes(scope)).collect()
    }
}

/// `call(..).after(deps)`: the nodes the call added (since `mark`) run after `before`, the
/// nodes of `deps` ([`After::nodes`]).
#[doc(hidden)]
pub fn after<V>(scope: &Scope, mark: usize, value: V, before: Vec<usize>) -> V {
    scope.order_since(mark, &before);
    value
}

/// What a call of a task or workflow without outputs returns in a workflow: no value to pass
/// on, but the nodes it added, so that another call can come [`after`](crate::Promise) it.
#[derive(Clone, Copy)]
pub struct Ran {
    pub(crate) nodes: (usize, usize),
}

impl Placeholders for Ran {
    fn from_bindings(_: &mut dyn FnMut(usize) -> Binding) -> Self {
        Ran { nodes: (0, 0) }
    }
    fn bindings(&self) -> Vec<Binding> {
        Vec::new()
    }
    fn with_nodes(self, first: usize, end: usize) -> Self {
        Ran { nodes: (first, end) }
    }
    fn called(&self) -> Option<std::ops::Range<usize>> {
        Some(self.nodes.0..self.nodes.1)
    }
}
