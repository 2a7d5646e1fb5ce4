//! Stage 2: the model of the annotated function: its parameters (inputs, or the injected
//! context), and its output's shape.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    braced, Attribute, Block, Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Signature,
    Stmt, Type, Visibility,
};

/// A `#[task]` function, read as tokio-macros' `entry.rs` reads one: its attributes, visibility
/// and signature parsed, its body kept as the tokens between the braces. The macro only needs
/// the signature, and rustc parses the body where the function is emitted: a syntax error in
/// it is rustc's own, at its place, and the task around it still expands (so a workflow calling
/// the task gets no second error). In the returned `ItemFn`, the block holds those tokens as one
/// `Expr::Verbatim`, which prints them back unchanged inside the original braces.
pub fn task_item(input: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<TaskItem>(input).map(|item| item.0)
}

struct TaskItem(ItemFn);

impl Parse for TaskItem {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body;
        let brace_token = braced!(body in input);
        let body: TokenStream = body.parse()?;
        let block = Block {
            brace_token,
            stmts: vec![Stmt::Expr(Expr::Verbatim(body), None)],
        };
        Ok(TaskItem(ItemFn {
            attrs,
            vis,
            sig,
            block: Box::new(block),
        }))
    }
}

/// A `#[task]` or `#[workflow]` function. A task's body is not parsed (see [`task_item`]).
pub struct Function {
    pub item: ItemFn,
    pub params: Vec<Param>,
    pub output: Output,
}

#[derive(Clone)]
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

#[derive(Clone)]
pub struct Output {
    /// The value the function produces: `T` for `-> T`, `-> Result<T, E>` and `-> io::Result<T>`.
    pub ty: Type,
    pub shape: Shape,
    /// How the function fails, when it returns a `Result`.
    pub error: Option<ErrorType>,
}

/// The error type of a function that returns a `Result`.
#[derive(Clone)]
pub enum ErrorType {
    /// `E` in `Result<T, E>`.
    Written(Type),
    /// The whole return type, an alias with one argument (`io::Result<T>`,
    /// `anyhow::Result<T>`) whose error type only rustc knows.
    Alias(Type),
}

impl Output {
    /// Whether the function returns a `Result`.
    pub fn fallible(&self) -> bool {
        self.error.is_some()
    }
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

    /// The return type as written (`Result<T, E>` included), `()` when there is none.
    pub fn return_type(&self) -> Type {
        match &self.item.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        }
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

/// The owned type that stands for a borrowed one in an interface, which holds values that
/// cross the task boundary serialized: `String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`.
pub fn owned(ty: &Type) -> Option<Type> {
    let Type::Reference(r) = ty else { return None };
    Some(match &*r.elem {
        Type::Path(p) if p.path.is_ident("str") => syn::parse_quote_spanned!(ty.span()=> ::std::string::String),
        Type::Slice(s) => {
            let elem = &s.elem;
            syn::parse_quote_spanned!(ty.span()=> ::std::vec::Vec<#elem>)
        }
        other => other.clone(),
    })
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
        let (ty, error) = match ret {
            ReturnType::Default => (syn::parse_quote!(()), None),
            ReturnType::Type(_, ty) => match result_types(ty) {
                Some((ok, Some(err))) => (ok.clone(), Some(ErrorType::Written(err.clone()))),
                Some((ok, None)) => (ok.clone(), Some(ErrorType::Alias((**ty).clone()))),
                None => ((**ty).clone(), None),
            },
        };
        let shape = match &ty {
            Type::Tuple(_) => Shape::Many,
            _ => Shape::One,
        };
        Output { ty, shape, error }
    }
}

/// `T` and `E` in a return type written `Result<T, E>`, or `T` alone in an alias with one
/// argument (any path ending in `Result`: `io::Result<T>`, `anyhow::Result<T>`), whose error
/// type the generated code leaves to rustc.
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
