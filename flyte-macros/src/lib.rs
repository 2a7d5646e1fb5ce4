//! The `#[task]` and `#[workflow]` attributes of flytekit. Use them through `flytekit`, which
//! documents them: `use flytekit::{task, workflow};`.
//!
//! Each attribute goes through the same stages, one file each: `attr` parses the options,
//! `ast` models the function, `valid` checks it, `expand` generates the code; `body` checks and
//! rewrites a workflow's body, and `fallback` stands in for a task whose signature is wrong.
//! Errors are collected across stages and reported together.

use proc_macro::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

mod ast;
mod attr;
mod body;
mod expand;
mod fallback;
mod format;
mod valid;

/// Errors collected across stages, reported together.
type Errors = Vec<syn::Error>;

/// Turns a function into a Flyte task. See the `flytekit` crate for the full documentation.
#[proc_macro_attribute]
pub fn task(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match ast::task_item(input.clone().into()) {
        Ok(item) => item,
        Err(e) => return not_a_function(e, input, "task"),
    };
    let mut errors = Errors::new();
    let attr = attr::task(args.into(), &mut errors);
    let f = ast::Function::new(item);
    if !valid::signature(&f, "task", &mut errors) {
        // The task type cannot be written as it is; stubs stand in for it.
        return with_errors(fallback::task(&f, &attr), errors);
    }
    valid::task_context(&f, &mut errors);
    with_errors(expand::task(&f, &attr), errors)
}

/// Turns a function into a Flyte workflow. See the `flytekit` crate for the full documentation.
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse::<ItemFn>(input.clone()) {
        Ok(item) => item,
        Err(e) => return not_a_function(e, input, "workflow"),
    };
    let mut errors = Errors::new();
    let attr = attr::workflow(args.into(), &mut errors);
    let f = ast::Function::new(item);
    if !valid::signature(&f, "workflow", &mut errors) {
        return with_errors(without_body(f.item), errors);
    }
    let check_body = valid::workflow_signature(&f, &mut errors);
    let expanded = expand::workflow(&f, &attr, check_body, &mut errors);
    with_errors(expanded, errors)
}

/// Turns a function into a dynamic workflow, whose body builds a graph from its inputs' values
/// when the execution reaches it. See the `flytekit` crate for the full documentation.
#[proc_macro_attribute]
pub fn dynamic(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse::<ItemFn>(input.clone()) {
        Ok(item) => item,
        Err(e) => return not_a_function(e, input, "dynamic"),
    };
    let mut errors = Errors::new();
    let retries = attr::dynamic(args.into(), &mut errors);
    let f = ast::Function::new(item);
    if !valid::signature(&f, "dynamic", &mut errors) || !valid::dynamic_signature(&f, &mut errors) {
        return with_errors(without_body(f.item), errors);
    }
    let expanded = expand::dynamic(&f, retries, &mut errors);
    with_errors(expanded, errors)
}

/// A workflow or dynamic function whose signature was rejected, emitted so that the rest of the
/// crate still finds it, with its body left out: the body is not Rust to run as written (its
/// task calls would call the functions, and an async task's returns a future), so checking it
/// would add errors that are not the user's.
fn without_body(mut item: ItemFn) -> proc_macro2::TokenStream {
    item.attrs.push(syn::parse_quote!(#[allow(unused_variables)]));
    item.block = Box::new(syn::parse_quote!({
        ::core::unreachable!("this workflow did not compile")
    }));
    item.into_token_stream()
}

fn with_errors(mut tokens: proc_macro2::TokenStream, errors: Errors) -> TokenStream {
    let combined = errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    });
    if let Some(e) = combined {
        tokens.extend(e.to_compile_error());
    }
    tokens.into()
}

fn not_a_function(e: syn::Error, input: TokenStream, what: &str) -> TokenStream {
    let e = syn::Error::new(
        e.span(),
        format!("#[{what}] goes on a free function (`fn name(..) -> T {{ .. }}`): {e}"),
    );
    let mut out: proc_macro2::TokenStream = input.into();
    out.extend(e.to_compile_error());
    out.into()
}
