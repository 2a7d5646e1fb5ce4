//! Stage 3: reject what the macros cannot turn into a task or a workflow, with a spanned error
//! that says what to write instead. Every error is collected; none stops the others.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Pat, Type};

use crate::ast::{Context, Function, Param};
use crate::Errors;

/// Whether the generated code can be emitted at all: a signature problem (a generic, `self`,
/// an `async` workflow, ...) means the task type cannot be written, so only the errors are.
pub fn signature(f: &Function, what: &str, errors: &mut Errors) -> bool {
    let before = errors.len();
    let sig = &f.item.sig;
    // A task may be `async fn`; a workflow's body runs once, to build a graph, and awaits
    // nothing.
    if let Some(t) = sig.asyncness.filter(|_| what != "task") {
        errors.push(syn::Error::new_spanned(
            t,
            format!("a #[{what}] cannot be `async fn`: its body builds a graph of tasks and awaits nothing; make the tasks that wait `async fn` instead"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("#[{what}] cannot be generic: a {what}'s interface is fixed at compile time, as in Flyte; use concrete types, or write one {what} per type"),
        ));
    }
    if let Some(t) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            t,
            format!("#[{what}] cannot be `unsafe fn`: make the function safe and use `unsafe` blocks inside it"),
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            format!("#[{what}] cannot have an `extern` ABI"),
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new_spanned(v, format!("#[{what}] cannot be variadic")));
    }
    let name = f.ident().to_string();
    if name.starts_with(|c: char| c.is_uppercase()) {
        errors.push(syn::Error::new_spanned(
            f.ident(),
            format!("a #[{what}] name must start with a lowercase letter (`{}`): inside a workflow, capitalised calls like `Some(..)` are values, not {what}s", name.to_lowercase()),
        ));
    }
    for p in &f.params {
        match p {
            Param::Input { ty, .. } => interface_type(ty, "input", errors),
            Param::Receiver(span) => errors.push(syn::Error::new(
                *span,
                format!("#[{what}] goes on a free function, not a method: move it out of the `impl` block and pass what it needs as parameters"),
            )),
            Param::Context { ty, .. } if !matches!(ty, Type::Reference(r) if r.mutability.is_none()) => {
                errors.push(syn::Error::new_spanned(
                    ty,
                    "the runtime lends the context by shared reference: write `&Checkpoint` or `&TaskContext`",
                ));
            }
            _ => {}
        }
    }
    if f.inputs().count() > MAX_SLOTS {
        if let Some((_, ty)) = f.inputs().nth(MAX_SLOTS) {
            errors.push(syn::Error::new_spanned(
                ty,
                format!("a #[{what}] takes at most {MAX_SLOTS} inputs: group the rest in a struct that derives serde's Serialize and Deserialize"),
            ));
        }
    }
    if let Type::Tuple(t) = &f.output.ty {
        if let Some(extra) = t.elems.iter().nth(MAX_SLOTS) {
            errors.push(syn::Error::new_spanned(
                extra,
                format!("a #[{what}] returns at most {MAX_SLOTS} outputs: group the rest in a struct that derives serde's Serialize and Deserialize"),
            ));
        }
        t.elems.iter().for_each(|ty| interface_type(ty, "output", errors));
    } else {
        interface_type(&f.output.ty, "output", errors);
    }
    errors.len() == before
}

/// As many as the runtime has tuple impls for.
pub const MAX_SLOTS: usize = 12;

/// Inputs and outputs are owned, deserialized values: no borrows, no `impl Trait`.
fn interface_type(ty: &Type, what: &str, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_string(),
                Type::Slice(s) => format!("Vec<{}>", s.elem.to_token_stream()),
                other => other.to_token_stream().to_string(),
            };
            errors.push(syn::Error::new_spanned(
                ty,
                format!("a task {what} is a value that crosses the task boundary serialized, so it cannot be borrowed: use `{owned}`"),
            ));
        }
        Type::ImplTrait(_) => errors.push(syn::Error::new_spanned(
            ty,
            format!("a task {what} cannot be `impl Trait`: its type is part of the interface the workflow checks; use a concrete type"),
        )),
        _ => {}
    }
}

/// A task takes at most one context parameter.
pub fn task_context(f: &Function, errors: &mut Errors) {
    let contexts: Vec<_> = f.params.iter().filter(|p| matches!(p, Param::Context { .. })).collect();
    for extra in contexts.iter().skip(1) {
        if let Param::Context { ty, .. } = extra {
            errors.push(syn::Error::new_spanned(
                ty,
                "a #[task] takes at most one context parameter: keep `&TaskContext` (it has `.checkpoint()`) or `&Checkpoint`, not both",
            ));
        }
    }
}

/// A workflow's parameters are plain named inputs, and it produces values, not errors.
/// Returns whether the signature is fine (the body is only worth checking then).
pub fn workflow_signature(f: &Function, errors: &mut Errors) -> bool {
    let before = errors.len();
    for p in &f.params {
        match p {
            Param::Context { kind, ty } => {
                let name = match kind {
                    Context::Checkpoint => "&Checkpoint",
                    Context::TaskContext => "&TaskContext",
                };
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("a #[workflow] has no `{name}`: it only wires tasks together; take `{name}` in the #[task] that needs it"),
                ));
            }
            Param::Input { pat, .. } if !matches!(&**pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none()) => {
                errors.push(syn::Error::new(
                    pat.span(),
                    "a #[workflow] parameter must be a plain name, like `n: u64`: it stands for a value the graph receives at run time",
                ));
            }
            _ => {}
        }
    }
    if f.output.fallible() {
        errors.push(syn::Error::new_spanned(
            &f.item.sig.output,
            "a #[workflow] cannot return `Result`: failures happen in tasks, at run time, and the runtime reports them; return the task outputs (`-> u64`)",
        ));
    }
    errors.len() == before
}

/// A `#[dynamic]` body builds a graph from values: it takes no injected context (its tasks do),
/// and its parameters are plain names.
pub fn dynamic_signature(f: &Function, errors: &mut Errors) -> bool {
    let before = errors.len();
    for p in &f.params {
        match p {
            Param::Context { ty, .. } => errors.push(syn::Error::new_spanned(
                ty,
                "a #[dynamic] workflow takes no `&Checkpoint` or `&TaskContext`: it builds a graph; take them in the #[task]s it calls",
            )),
            Param::Input { pat, .. } if !matches!(&**pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none()) => {
                errors.push(syn::Error::new(
                    pat.span(),
                    "a #[dynamic] parameter must be a plain name, like `n: u64`",
                ));
            }
            _ => {}
        }
    }
    errors.len() == before
}
