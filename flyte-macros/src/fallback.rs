//! What `#[task]` emits when the signature is wrong: the task's unit struct with stub impls,
//! beside the signature's error, as thiserror's `fallback.rs` does "to minimize spurious
//! secondary errors".
//!
//! Emitting the plain function instead would leave every use of the task with an error of its
//! own that blames the wrong thing: a workflow calling it would read "`f` is not a #[task] or a
//! #[workflow]", a `run_task(f, ..)` "`f` is not a #[task]". The user wrote a task; only its
//! signature is not right yet, and that is the one error to show. The stubs never run: the
//! crate does not compile while the signature's error stands.
//!
//! How much is emitted depends on what can still be named outside the function:
//! - the `Task` impl and the real binder, when every input and output type can (a context
//!   passed by value, a capitalised name; a borrowed input or output is
//!   taken as the owned type the error tells the user to write): a workflow calling the task
//!   is checked as it will be once the signature is fixed;
//! - otherwise (a generic, `impl Trait`, more than 12 inputs or outputs) a binder whose `call`
//!   takes an input of each type that can be named and anything in the other places, and
//!   returns a `Promise` of each output type that can be named and a `Stub` for the others,
//!   which passes for any input and as a workflow's whole output. (A `Stub` inside a tuple
//!   the workflow returns, or in a `let` with a type, still reads as a type mismatch.)
//! - `Deref` to the function, when its pointer type can be written (not for a generic,
//!   `impl Trait`, or an `async fn` with a borrowed input, whose future would borrow it), so
//!   that a unit test calling `f(..)` gets no error either.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::visit::Visit;
use syn::{Ident, Type};

use crate::ast::{self, Function, Param, Shape};
use crate::attr::TaskAttr;
use crate::expand;
use crate::valid::MAX_SLOTS;

pub fn task(f: &Function, attr: &TaskAttr) -> TokenStream {
    // A method sits in an `impl` block, where no struct can go: the function stays as written.
    if f.params.iter().any(|p| matches!(p, Param::Receiver(_))) {
        return f.item.to_token_stream();
    }
    let ident = f.ident();
    let body_fn = expand::body_fn(f);
    let mut item = expand::renamed(f, &body_fn);
    // Nothing calls it when there is no `Deref`.
    item.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    let deref = fn_pointer_writable(f).then(|| expand::deref(f, &body_fn));

    let owned = with_owned_interface(f);
    let inputs: Vec<Option<&Type>> = owned.inputs().map(|(_, ty)| nameable(f, ty).then_some(ty)).collect();
    let outputs: Vec<Option<&Type>> = expand::output_slots(&owned)
        .into_iter()
        .map(|ty| nameable(f, ty).then_some(ty))
        .collect();
    let fits = inputs.len() <= MAX_SLOTS && outputs.len() <= MAX_SLOTS;
    if fits && inputs.iter().chain(&outputs).all(Option::is_some) {
        let never = quote!(::core::unreachable!(
            "a #[task] with a signature error does not compile"
        ));
        let task_impl = expand::task_impl(&owned, attr, never);
        let binder = expand::binder(&owned, quote!(task(#ident, __inputs)));
        expand::unit_struct_with(f, quote!(#item #deref #task_impl), binder)
    } else {
        expand::unit_struct_with(f, quote!(#item #deref), stub_binder(f, &inputs, &outputs))
    }
}

/// A binder whose `call` takes an input of each type that can be named, anything for the
/// others, and returns a `Promise` of each output type that can be named, a `Stub` for the
/// others.
fn stub_binder(f: &Function, inputs: &[Option<&Type>], outputs: &[Option<&Type>]) -> TokenStream {
    let call = Ident::new("call", f.ident().span());
    let params = inputs.iter().map(|ty| match ty {
        Some(ty) => quote!(_: impl ::flytekit::IntoInput<#ty>),
        None => quote!(_: impl ::core::marker::Sized),
    });
    let each = outputs.iter().map(|ty| match ty {
        Some(ty) => quote!(::flytekit::Promise<#ty>),
        None => quote!(::flytekit::__private::Stub),
    });
    let outputs = match f.output.shape {
        Shape::One => quote!(#(#each)*),
        Shape::Many => quote!((#(#each,)*)),
    };
    expand::binder_with(
        f,
        quote! {
            #[allow(clippy::too_many_arguments, clippy::unused_self)]
            pub fn #call(self, #(#params),*) -> #outputs {
                ::core::unreachable!("a #[task] with a signature error does not compile")
            }
        },
    )
}

/// `f` with each borrowed input or output in the owned type valid.rs tells the user to write
/// (`String` for `&str`), so that the workflow is checked as it will be once that is done.
fn with_owned_interface(f: &Function) -> Function {
    let own = |ty: &Type| ast::owned(ty).unwrap_or_else(|| ty.clone());
    let params = f
        .params
        .iter()
        .map(|p| match p {
            Param::Input { name, ty, pat } => Param::Input {
                name: name.clone(),
                ty: own(ty),
                pat: pat.clone(),
            },
            other => other.clone(),
        })
        .collect();
    let mut output = f.output.clone();
    output.ty = match &f.output.ty {
        Type::Tuple(t) => {
            let mut t = t.clone();
            t.elems.iter_mut().for_each(|e| *e = own(e));
            Type::Tuple(t)
        }
        ty => own(ty),
    };
    Function {
        item: f.item.clone(),
        params,
        output,
    }
}

/// Whether `ty`, an input or output of `f` (owned), can be named outside the function: not
/// borrowed, no `impl Trait`, none of the function's generic parameters.
fn nameable(f: &Function, ty: &Type) -> bool {
    struct Find<'a> {
        generics: &'a syn::Generics,
        found: bool,
    }
    impl Visit<'_> for Find<'_> {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.found = true;
        }
        fn visit_type_reference(&mut self, _: &syn::TypeReference) {
            self.found = true;
        }
        fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
            self.found |= lifetime.ident != "static";
        }
        fn visit_path(&mut self, path: &syn::Path) {
            let generic = |name: &Ident| {
                self.generics.type_params().any(|p| p.ident == *name)
                    || self.generics.const_params().any(|p| p.ident == *name)
            };
            if path.segments.iter().any(|s| generic(&s.ident)) {
                self.found = true;
            }
            syn::visit::visit_path(self, path);
        }
    }
    let mut find = Find {
        generics: &f.item.sig.generics,
        found: false,
    };
    find.visit_type(ty);
    !find.found
}

/// Whether `fn(..) -> R` can name the function: not generic, no `impl Trait`, and for an
/// `async fn`, no borrowed input (only the context's borrow has a lifetime in its pointer).
fn fn_pointer_writable(f: &Function) -> bool {
    let sig = &f.item.sig;
    let ret_impl = match &sig.output {
        syn::ReturnType::Type(_, ty) => has_impl_trait(ty),
        syn::ReturnType::Default => false,
    };
    let async_borrows_input = sig.asyncness.is_some() && f.inputs().any(|(_, ty)| matches!(ty, Type::Reference(_)));
    !async_borrows_input
        && sig.variadic.is_none()
        && !generic(f)
        && !ret_impl
        && f.params.iter().all(|p| match p {
            Param::Input { ty, .. } | Param::Context { ty, .. } => !has_impl_trait(ty),
            Param::Receiver(_) => false,
        })
}

fn generic(f: &Function) -> bool {
    let generics = &f.item.sig.generics;
    !generics.params.is_empty() || generics.where_clause.is_some()
}

fn has_impl_trait(ty: &Type) -> bool {
    struct Find(bool);
    impl Visit<'_> for Find {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut find = Find(false);
    find.visit_type(ty);
    find.0
}
