//! Branch nodes: `if` / `else if` / `else` on run-time values in a workflow body, Flyte's
//! `BranchNode` (an `IfElseBlock` of `BooleanExpression`s).
//!
//! A branch is a node that decides: it compares its operands when they exist and records which
//! case it took. Each case's nodes are nodes of the graph, guarded by the branch and the case:
//! they wait for the decision, and are skipped unless their case was taken. A second node, the
//! branch's output, waits for every case's nodes and gives the taken case's results, so that
//! nodes after the branch read one set of placeholders whichever way it went.

use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::binding::{Binding, Resolver};
use crate::graph::{Placeholders, Promise, Scope};
use crate::value::Encoded;
use crate::wiring::Ran;

/// A comparison, as Flyte's `ComparisonExpression` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// `==`, `<`, ... as written in Rust.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, order: Option<Ordering>) -> bool {
        match (self, order) {
            // A NaN is unordered: only `!=` holds, as in Rust.
            (Op::Ne, None) => true,
            (_, None) => false,
            (Op::Eq, Some(o)) => o == Ordering::Equal,
            (Op::Ne, Some(o)) => o != Ordering::Equal,
            (Op::Lt, Some(o)) => o == Ordering::Less,
            (Op::Le, Some(o)) => o != Ordering::Greater,
            (Op::Gt, Some(o)) => o == Ordering::Greater,
            (Op::Ge, Some(o)) => o != Ordering::Less,
        }
    }
}

/// A branch condition, as Flyte's `BooleanExpression` can say it: comparisons of placeholders
/// and literals, joined by `&&` and `||`.
#[derive(Clone)]
pub enum Condition {
    /// `left op right`.
    Compare(Comparison),
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
}

/// `left op right`, both of one comparable type.
#[derive(Clone)]
pub struct Comparison {
    /// The left operand.
    pub left: Binding,
    /// How they are compared.
    pub op: Op,
    /// The right operand.
    pub right: Binding,
    /// Decodes both as their type and orders them.
    order: fn(&Encoded, &Encoded) -> Result<Option<Ordering>, String>,
    /// That type's name, as a recorded graph names it.
    compares: &'static str,
}

impl Comparison {
    /// The Rust type the two sides are compared as.
    pub fn compares(&self) -> &'static str {
        self.compares
    }

    /// A comparison of the type named `compares`, for a recorded graph; `None` for a type a
    /// branch cannot compare.
    pub(crate) fn of_type(left: Binding, op: Op, right: Binding, compares: &str) -> Option<Comparison> {
        macro_rules! find {
            ($($t:ty),*) => {$(
                if std::any::type_name::<$t>() == compares {
                    return Some(Comparison { left, op, right, order: order::<$t>, compares: std::any::type_name::<$t>() });
                }
            )*};
        }
        find!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, bool, String);
        None
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare(c) => write!(f, "{:?} {} {:?}", c.left, c.op.symbol(), c.right),
            Condition::And(a, b) => write!(f, "({a:?} && {b:?})"),
            Condition::Or(a, b) => write!(f, "({a:?} || {b:?})"),
        }
    }
}

impl Condition {
    #[doc(hidden)]
    pub fn and(self, other: Condition) -> Condition {
        Condition::And(Box::new(self), Box::new(other))
    }

    #[doc(hidden)]
    pub fn or(self, other: Condition) -> Condition {
        Condition::Or(Box::new(self), Box::new(other))
    }

    /// Stands in for a condition the macro refused, so that the rest type-checks.
    #[doc(hidden)]
    pub fn never() -> Condition {
        Condition::Compare(Comparison {
            left: Binding::Constant(usize::MAX),
            op: Op::Ne,
            right: Binding::Constant(usize::MAX),
            order: |_, _| Ok(Some(Ordering::Equal)),
            compares: "",
        })
    }

    /// Every operand, in order.
    pub fn operands(&self) -> Vec<Binding> {
        match self {
            Condition::Compare(c) => vec![c.left, c.right],
            Condition::And(a, b) | Condition::Or(a, b) => {
                let mut all = a.operands();
                all.extend(b.operands());
                all
            }
        }
    }

    /// Whether it holds on the values of a run.
    pub(crate) fn holds(&self, values: &Resolver<'_>) -> Result<bool, String> {
        match self {
            Condition::Compare(c) => {
                let (left, right) = (values.resolve(c.left)?, values.resolve(c.right)?);
                Ok(c.op.holds((c.order)(&left, &right)?))
            }
            Condition::And(a, b) => Ok(a.holds(values)? && b.holds(values)?),
            Condition::Or(a, b) => Ok(a.holds(values)? || b.holds(values)?),
        }
    }
}

/// The types Flyte's conditions compare: integers, floats, strings and booleans.
#[diagnostic::on_unimplemented(
    message = "a branch condition cannot compare values of type `{Self}`",
    label = "not comparable in a branch",
    note = "Flyte's conditions compare integers, floats, strings and booleans; compare something else inside a task and branch on its `bool` output"
)]
pub trait Comparable: Serialize + DeserializeOwned + PartialOrd + Send + 'static {}

macro_rules! comparable {
    ($($t:ty),*) => { $(impl Comparable for $t {})* };
}

comparable!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, bool, String);

/// One side of a comparison: a placeholder of a `T`, or a `T` known while the graph is built.
#[diagnostic::on_unimplemented(
    message = "a branch condition compares a `{T}` here, not `{Self}`",
    label = "expected a `{T}` or a placeholder of one",
    note = "both sides of a comparison in a branch condition have the same type: a task output, a workflow input, or a value known while the graph is built"
)]
pub trait Operand<T> {
    #[doc(hidden)]
    fn bind(self, scope: &Scope) -> Binding;
}

impl<T> Operand<T> for Promise<T> {
    fn bind(self, _: &Scope) -> Binding {
        self.binding()
    }
}

// Any serde type here, so that a type that cannot be compared is reported once, by `compare`.
impl<T: Serialize> Operand<T> for T {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(&self)
    }
}

impl Operand<String> for &str {
    fn bind(self, scope: &Scope) -> Binding {
        scope.literal(self)
    }
}

/// `left op right` in a branch condition.
#[doc(hidden)]
pub fn compare<T: Comparable>(scope: &Scope, left: impl Operand<T>, op: Op, right: impl Operand<T>) -> Condition {
    Condition::Compare(Comparison {
        left: left.bind(scope),
        op,
        right: right.bind(scope),
        order: order::<T>,
        compares: std::any::type_name::<T>(),
    })
}

/// A `bool` alone as a branch condition: `if is_big(x) { .. }`.
#[doc(hidden)]
pub fn truthy(scope: &Scope, value: impl Operand<bool>) -> Condition {
    compare(scope, value, Op::Eq, true)
}

fn order<T: Comparable>(left: &Encoded, right: &Encoded) -> Result<Option<Ordering>, String> {
    let decode = |l: &Encoded| l.decode::<T>().map_err(|e| e.to_string());
    Ok(decode(left)?.partial_cmp(&decode(right)?))
}

/// What a branch does when no condition holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Otherwise {
    /// Nothing: the branch has no `else` (and no outputs).
    Nothing,
    /// Runs the `else` arm, case number `cases.len()`.
    Arm,
    /// Fails the run with this message (`else { fail("..") }`).
    Fail(String),
}

/// A branch node's cases, as the graph keeps them.
#[derive(Debug, Clone)]
pub struct BranchSpec {
    /// Each `if` / `else if`: its condition, and the bindings of the arm's results.
    pub cases: Vec<(Condition, Vec<Binding>)>,
    /// The `else`.
    pub otherwise: Otherwise,
    /// The `else` arm's results, when it has one.
    pub otherwise_outputs: Vec<Binding>,
    /// The node giving the taken case's results, once the branch is complete.
    pub output_node: Option<usize>,
}

/// `if cond { .. } else if .. else { .. }` on a run-time value, as the macro writes it:
/// `Branch::new(scope).when(cond, || arm)...otherwise(|| arm)`.
#[doc(hidden)]
pub struct Branch<'s> {
    scope: &'s Scope,
    node: usize,
}

#[doc(hidden)]
pub struct Cases<'s, P> {
    scope: &'s Scope,
    node: usize,
    _outputs: PhantomData<fn() -> P>,
}

impl<'s> Branch<'s> {
    pub fn new(scope: &'s Scope) -> Self {
        Branch {
            node: scope.begin_branch(),
            scope,
        }
    }

    pub fn when<P: Placeholders>(self, condition: Condition, arm: impl FnOnce() -> P) -> Cases<'s, P> {
        Cases {
            scope: self.scope,
            node: self.node,
            _outputs: PhantomData,
        }
        .when(condition, arm)
    }
}

impl<'s, P: Placeholders> Cases<'s, P> {
    pub fn when(self, condition: Condition, arm: impl FnOnce() -> P) -> Self {
        self.scope.enter_case(self.node, Some(condition));
        let outputs = arm().bindings();
        self.scope.leave_case(self.node, outputs);
        self
    }

    pub fn otherwise(self, arm: impl FnOnce() -> P) -> P {
        self.scope.enter_case(self.node, None);
        let outputs = arm().bindings();
        self.scope.leave_case(self.node, outputs);
        self.finish(Otherwise::Arm)
    }

    pub fn fail(self, message: impl Into<String>) -> P {
        self.finish(Otherwise::Fail(message.into()))
    }

    /// An `if` without `else`: its arms yield nothing.
    pub fn end(self) -> P
    where
        P: NoOutputs,
    {
        self.finish(Otherwise::Nothing)
    }

    fn finish(self, otherwise: Otherwise) -> P {
        let output = self.scope.finish_branch(self.node, otherwise);
        P::from_bindings(&mut |slot| Binding::Output { node: output, slot }).with_nodes(self.node, self.scope.mark())
    }
}

/// What the arms of an `if` without `else` may yield: nothing.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "an `if` on a run-time value without `else` yields nothing, not `{Self}`",
    label = "this arm yields a value",
    note = "add an `else` that yields placeholders of the same types, or end each arm's last call with `;`"
)]
pub trait NoOutputs: Placeholders {}

impl NoOutputs for () {}
impl NoOutputs for Ran {}

/// The task of a node that runs none: a branch deciding, or a branch's output. The executor
/// never runs it; it names the node in pictures and reports.
pub(crate) struct Builtin(pub &'static str);

impl crate::task::ErasedTask for Builtin {
    fn info(&self) -> crate::task::TaskInfo {
        crate::task::TaskInfo::new(self.0, "flytekit", &[])
    }

    fn run_erased(&self, ctx: &crate::context::TaskContext, _: Vec<Encoded>) -> crate::task::Started {
        crate::task::Started::Done(Err(crate::error::AttemptFailure {
            attempt: ctx.attempt(),
            kind: crate::error::FailureKind::NonRecoverable,
            cause: format!("`{}` is not a task: this is a bug in flytekit", self.0),
        }))
    }
}

impl crate::graph::Graph {
    /// A branch condition as Rust would write it, with the workflow's input names, node ids for
    /// task outputs and the values of literals: `x < 3 || n1 == "big"`.
    pub fn condition_text(&self, condition: &Condition) -> String {
        match condition {
            Condition::Compare(c) => format!(
                "{} {} {}",
                self.binding_text(c.left),
                c.op.symbol(),
                self.binding_text(c.right)
            ),
            Condition::And(a, b) => format!("{} && {}", self.joined_text(a, true), self.joined_text(b, true)),
            Condition::Or(a, b) => format!("{} || {}", self.joined_text(a, false), self.joined_text(b, false)),
        }
    }

    /// A side of `&&` (`and`) or `||`: in parentheses when it joins the other way.
    fn joined_text(&self, c: &Condition, and: bool) -> String {
        match (c, and) {
            (Condition::Or(..), true) | (Condition::And(..), false) => format!("({})", self.condition_text(c)),
            _ => self.condition_text(c),
        }
    }

    /// A binding as a person reads it: an input's name, `n2` (or `n2.1` for a tuple's second
    /// output), a literal's value, a list, a map or a part of one.
    pub fn binding_text(&self, binding: Binding) -> String {
        match binding {
            Binding::Input(i) => self
                .inputs()
                .get(i)
                .map_or_else(|| format!("input{i}"), |n| (*n).to_owned()),
            Binding::Output { node, slot: 0 } => format!("n{node}"),
            Binding::Output { node, slot } => format!("n{node}.{slot}"),
            Binding::Constant(i) => match self.literal_value(i) {
                Some(text) => text,
                None => "?".to_owned(),
            },
            Binding::List(i) => {
                let items: Vec<String> = self
                    .list(i)
                    .unwrap_or_default()
                    .iter()
                    .map(|&b| self.binding_text(b))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            Binding::Map(i) => {
                let entries: Vec<String> = self
                    .map_binding(i)
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, b)| format!("{k:?}: {}", self.binding_text(*b)))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
            Binding::Part(i) => match self.part(i) {
                Some((whole, step)) => format!("{}{step}", self.binding_text(whole)),
                None => "?".to_owned(),
            },
        }
    }
}
