//! A task's or workflow's typed interface: each input and output, by name, with its Flyte
//! [`Type`], as Flyte's `core.TypedInterface` lists them.
//!
//! The macros know every input and output type where they expand, and generate one call per
//! type that picks, at compile time, how to describe it: through [`Typed`] when the type
//! implements it, otherwise by tracing its `Deserialize` impl ([`traced`]). The choice is
//! autoref specialization (three impls of one method name on `&&Describe<T>`, `&Describe<T>`
//! and `Describe<T>`; method resolution takes the first that applies), so no user type needs
//! a derive of ours. What the call returns is a function, run only when someone asks for the
//! interface: the local runtime never does, and a build pays for nothing it does not ask.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::flyte_type::Type;
use crate::trace::{traced, TypeError};
use crate::typed::Typed;

/// The inputs and outputs of a task, workflow or dynamic workflow, in order, each with its
/// name and Flyte type. Inputs are named after the function's parameters (without the
/// context); outputs `o0`, `o1`, ..., as flytekit names the outputs of a function whose
/// outputs have no names: a tuple output is one output per element, `()` none.
///
/// ```
/// use flytekit::{task, workflow, Interface, Task, Type, Workflow};
///
/// #[task]
/// fn stats(xs: Vec<f64>, label: String) -> (f64, Option<String>) {
///     (xs.iter().sum(), Some(label))
/// }
///
/// #[workflow]
/// fn report(xs: Vec<f64>) -> f64 {
///     let (total, _) = stats(xs, "x".to_string());
///     total
/// }
///
/// let floats = Type::Collection(Box::new(Type::Float));
/// assert_eq!(
///     stats.interface()?,
///     Interface {
///         inputs: vec![("xs".into(), floats.clone()), ("label".into(), Type::Str)],
///         outputs: vec![("o0".into(), Type::Float), ("o1".into(), Type::optional(Type::Str))],
///     }
/// );
/// assert_eq!(report.interface()?.input("xs"), Some(&floats));
/// assert_eq!(report.interface()?.output("o0"), Some(&Type::Float));
/// # Ok::<(), flytekit::InterfaceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The inputs, in the function's order.
    pub inputs: Vec<(String, Type)>,
    /// The outputs: `o0`, `o1`, ...
    pub outputs: Vec<(String, Type)>,
}

impl Interface {
    /// The type of the input named `name` (see the example on [`Interface`]).
    pub fn input(&self, name: &str) -> Option<&Type> {
        find(&self.inputs, name)
    }

    /// The type of the output named `name` (`o0`, ...; see the example on [`Interface`]).
    pub fn output(&self, name: &str) -> Option<&Type> {
        find(&self.outputs, name)
    }
}

fn find<'a>(slots: &'a [(String, Type)], name: &str) -> Option<&'a Type> {
    slots.iter().find(|(n, _)| n == name).map(|(_, ty)| ty)
}

/// The name flytekit gives output `index` of a function whose outputs have no names: `o0`,
/// `o1`, ...
///
/// ```
/// assert_eq!(flytekit::output_name(1), "o1");
/// ```
pub fn output_name(index: usize) -> String {
    format!("o{index}")
}

/// An input or output whose type has no Flyte type: which task or workflow, which slot, and
/// why (the [`TypeError`], which names the Rust type and says what to do).
///
/// ```
/// use flytekit::{task, Slot, Task, TypeError};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Config {
///     #[serde(flatten)]
///     rest: std::collections::HashMap<String, String>,
/// }
///
/// #[task]
/// fn load(config: Config) -> u64 {
///     config.rest.len() as u64
/// }
///
/// fn main() {
///     let err = load.interface().unwrap_err();
///     assert_eq!(err.slot, Slot::Input("config".into()));
///     assert!(matches!(err.error, TypeError::SelfDescribing { .. }));
///     assert!(
///         err.to_string().starts_with(
///             "the interface of task `rust_out::load` cannot be described: input `config`: \
///              `rust_out::Config` cannot be traced"
///         ),
///         "{err}"
///     );
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the interface of {of} cannot be described: {slot}: {error}")]
pub struct InterfaceError {
    /// What the interface is of: `task `my_crate::load``, `workflow `..``.
    pub of: String,
    /// The input or output.
    pub slot: Slot,
    /// Why its type has no Flyte type.
    pub error: TypeError,
}

/// An input or output of an interface, by name.
///
/// ```
/// use flytekit::Slot;
///
/// assert_eq!(Slot::Input("points".into()).to_string(), "input `points`");
/// assert_eq!(Slot::Output("o1".into()).to_string(), "output `o1`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The input of this name.
    Input(String),
    /// The output of this name (`o0`, ...).
    Output(String),
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Input(name) => write!(f, "input `{name}`"),
            Slot::Output(name) => write!(f, "output `{name}`"),
        }
    }
}

/// What describes one type, chosen at compile time and run when the interface is asked for.
#[doc(hidden)]
pub type Describer = fn() -> Result<Type, TypeError>;

/// The interface of the `kind` (`task`, `workflow`, `dynamic workflow`) `module::name`, its
/// inputs named, its outputs `o0`, `o1`, ...: each type described now, the first that cannot
/// be an error naming it.
#[doc(hidden)]
pub fn interface(
    kind: &str,
    module: &str,
    name: &str,
    inputs: &[(&str, Describer)],
    outputs: &[Describer],
) -> Result<Interface, InterfaceError> {
    let error = |slot: Slot, error: TypeError| InterfaceError {
        of: format!("{kind} `{module}::{name}`"),
        slot,
        error,
    };
    let inputs = inputs
        .iter()
        .map(|&(input, describe)| match describe() {
            Ok(ty) => Ok((input.to_owned(), ty)),
            Err(e) => Err(error(Slot::Input(input.to_owned()), e)),
        })
        .collect::<Result<_, _>>()?;
    let outputs = outputs
        .iter()
        .enumerate()
        .map(|(i, describe)| match describe() {
            Ok(ty) => Ok((output_name(i), ty)),
            Err(e) => Err(error(Slot::Output(output_name(i)), e)),
        })
        .collect::<Result<_, _>>()?;
    Ok(Interface { inputs, outputs })
}

/// The type `T`, for the method `describer` to be looked up on (see the module's docs).
#[doc(hidden)]
pub struct Describe<T>(PhantomData<fn() -> T>);

impl<T> Describe<T> {
    pub const NEW: Self = Describe(PhantomData);
}

/// First choice: `T`'s [`Typed`] impl.
#[doc(hidden)]
pub trait ViaTyped {
    fn describer(&self) -> Describer;
}

impl<T: Typed> ViaTyped for &&Describe<T> {
    fn describer(&self) -> Describer {
        || Ok(T::flyte_type())
    }
}

/// Second choice: tracing `T`'s `Deserialize` impl.
#[doc(hidden)]
pub trait ViaTrace {
    fn describer(&self) -> Describer;
}

impl<T: DeserializeOwned> ViaTrace for &Describe<T> {
    fn describer(&self) -> Describer {
        traced::<T>
    }
}

/// Last: a type that is not `Deserialize` at all. Its task does not compile (its `Values`
/// bound says why, once); this keeps the interface from adding a second error.
#[doc(hidden)]
pub trait ViaNothing {
    fn describer(&self) -> Describer;
}

impl<T> ViaNothing for Describe<T> {
    fn describer(&self) -> Describer {
        || {
            Err(TypeError::Incomplete {
                type_name: std::any::type_name::<T>(),
                detail: "it is not Deserialize".to_owned(),
            })
        }
    }
}

/// The Flyte [`Type`] of a Rust type, as the macros describe an input or output of that type:
/// through its [`Typed`] impl if it has one, otherwise by tracing its `Deserialize` impl
/// ([`traced`]). Returns `Result<Type, TypeError>`.
///
/// ```
/// use std::time::Duration;
/// use flytekit::{flyte_type, DurationForm, Type};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Level {
///     Low,
///     High,
/// }
///
/// assert_eq!(flyte_type!(Vec<Duration>)?, Type::Collection(Box::new(Type::Timedelta(DurationForm::SecsNanos))));
/// assert_eq!(flyte_type!(Option<Level>)?, Type::optional(Type::Enum(vec!["low".into(), "high".into()])));
/// # Ok::<(), flytekit::TypeError>(())
/// ```
#[macro_export]
macro_rules! flyte_type {
    ($ty:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ViaNothing as _, ViaTrace as _, ViaTyped as _};
        ((&&&$crate::__private::Describe::<$ty>::NEW).describer())()
    }};
}
