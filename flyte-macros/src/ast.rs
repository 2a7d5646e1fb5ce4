//! Stage 2: the model of the annotated function: its parameters (inputs, or the injected
//! context), and its output's shape.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// A `#[task]` or `#[workflow]` function.
pub struct Function {
    pub item: ItemFn,
    pub params: Vec<Param>,
    pub output: Output,
}

pub enum Param {
    /// A parameter the runtime fills in; not part of the interface.
    Context { kind: Context, ty: Type },
    /// An input of the interface.
    Input { name: Ident, ty: Type, pat: Box<Pat> },
    /// `self`, which valid.rs rejects.
    Receiver(Span),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Checkpoint,
    TaskContext,
}

/// How a signature's values map onto slots: one value, or a tuple of zero or more.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    One,
    Many,
}

pub struct Output {
    /// The value the function produces: `T` for `-> T` and for `-> Result<T, E>`.
    pub ty: Type,
    pub shape: Shape,
    /// Whether the function returns `Result<T, E>`.
    pub fallible: bool,
    /// Where to report an error type that cannot become a `TaskError`: `E`, or the whole
    /// `Result<T>` for an alias like `io::Result<T>`.
    pub error_span: proc_macro2::Span,
}

impl Function {
    pub fn new(item: ItemFn) -> Self {
        let params = item
            .sig
            .inputs
            .iter()
            .enumerate()
            .map(|(i, arg)| Param::new(i, arg))
            .collect();
        let output = Output::new(&item.sig.output);
        Function { item, params, output }
    }

    pub fn ident(&self) -> &Ident {
        &self.item.sig.ident
    }

    pub fn inputs(&self) -> impl Iterator<Item = (&Ident, &Type)> {
        self.params.iter().filter_map(|p| match p {
            Param::Input { name, ty, .. } => Some((name, ty)),
            _ => None,
        })
    }

    /// The inputs' names as the interface lists them (`r#type` is `type`).
    pub fn input_names(&self) -> Vec<String> {
        self.inputs()
            .map(|(n, _)| n.to_string().trim_start_matches("r#").to_owned())
            .collect()
    }

    pub fn input_shape(&self) -> Shape {
        if self.inputs().count() == 1 {
            Shape::One
        } else {
            Shape::Many
        }
    }

    /// The attributes to move onto the generated type: docs and `cfg`s.
    pub fn outer_attrs(&self) -> impl Iterator<Item = &Attribute> {
        self.item.attrs.iter().filter(|a| is_outer(a))
    }

    /// The attributes that stay on the function body (`allow`, `inline`, ...).
    pub fn body_attrs(&self) -> impl Iterator<Item = &Attribute> {
        self.item.attrs.iter().filter(|a| !a.path().is_ident("doc"))
    }

    pub fn cfg_attrs(&self) -> impl Iterator<Item = &Attribute> {
        self.item.attrs.iter().filter(|a| a.path().is_ident("cfg"))
    }
}

fn is_outer(attr: &Attribute) -> bool {
    attr.path().is_ident("doc") || attr.path().is_ident("cfg")
}

impl Param {
    fn new(index: usize, arg: &FnArg) -> Self {
        let typed = match arg {
            FnArg::Receiver(r) => return Param::Receiver(r.span()),
            FnArg::Typed(typed) => typed,
        };
        let ty = (*typed.ty).clone();
        if let Some(kind) = context_kind(&ty) {
            return Param::Context { kind, ty };
        }
        let name = match &*typed.pat {
            Pat::Ident(p) => p.ident.clone(),
            other => Ident::new(&format!("arg{index}"), other.span()),
        };
        Param::Input {
            name,
            ty,
            pat: typed.pat.clone(),
        }
    }
}

/// `&Checkpoint` or `&TaskContext` (any path ending in those names), or the same by value or
/// `&mut`, which valid.rs turns into an error.
pub fn context_kind(ty: &Type) -> Option<Context> {
    let inner = match ty {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    let Type::Path(path) = inner else { return None };
    let last = path.path.segments.last()?;
    if !last.arguments.is_none() {
        return None;
    }
    match last.ident.to_string().as_str() {
        "Checkpoint" => Some(Context::Checkpoint),
        "TaskContext" => Some(Context::TaskContext),
        _ => None,
    }
}

impl Output {
    fn new(ret: &ReturnType) -> Self {
        let (ty, fallible, error_span) = match ret {
            ReturnType::Default => (syn::parse_quote!(()), false, Span::call_site()),
            ReturnType::Type(_, ty) => match result_types(ty) {
                Some((ok, err)) => (ok.clone(), true, err.map_or_else(|| ty.span(), |e| e.span())),
                None => ((**ty).clone(), false, Span::call_site()),
            },
        };
        let shape = match &ty {
            Type::Tuple(_) => Shape::Many,
            _ => Shape::One,
        };
        Output {
            ty,
            shape,
            fallible,
            error_span,
        }
    }
}

/// `T` and `E` in a return type written `Result<T, E>` (any path ending in `Result`, so that
/// `io::Result<T>` works too, with no `E`).
fn result_types(ty: &Type) -> Option<(&Type, Option<&Type>)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    });
    Some((types.next()?, types.next()))
}
