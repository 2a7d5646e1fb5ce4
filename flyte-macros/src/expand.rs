//! Stage 4: code generation.
//!
//! `#[task] fn f(..)` becomes a unit struct `f` (a value and a type, like the function was)
//! that implements `Task`, dereferences to the original function so `f(..)` still calls it,
//! and has a binder whose typed `call` method adds a node when `f(..)` is written in a
//! workflow. `#[workflow]` is the same, with `Workflow` and the rewritten body.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use crate::ast::{Context, Function, Param, Shape};
use crate::attr::{TaskAttr, WorkflowAttr};
use crate::body::Body;
use crate::Errors;

pub fn task(f: &Function, attr: &TaskAttr) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    let retries = attr.retries;
    let cache = attr.cache_version.as_ref().map(|v| quote!(.with_cache(#v)));
    let timeout = attr.timeout.map(|t| {
        let (secs, nanos) = (t.as_secs(), t.subsec_nanos());
        quote!(.with_timeout(::core::time::Duration::new(#secs, #nanos)))
    });
    let body_fn = format_ident!("__flytekit_{}", ident, span = Span::mixed_site());
    let (input_ty, input_shape) = interface(f);
    let (output_ty, output_shape) = (&f.output.ty, shape(f.output.shape));
    let input_names = f.input_names();

    // The user's function, renamed, as the body every call ends in.
    let mut item = f.item.clone();
    item.sig.ident = body_fn.clone();
    item.attrs = f.body_attrs().cloned().collect();
    let sig = &item.sig;
    let param_types = sig.inputs.iter().map(|a| match a {
        syn::FnArg::Typed(t) => &*t.ty,
        syn::FnArg::Receiver(_) => unreachable!("valid.rs rejects receivers"),
    });
    let ret = &sig.output;
    let fn_ptr = quote!(fn(#(#param_types),*) #ret);

    // `run`: unpack the input tuple, fill in the context, call the body.
    let locals: Vec<Ident> = (0..input_names.len())
        .map(|i| format_ident!("__input{}", i, span = Span::mixed_site()))
        .collect();
    let unpack = match f.input_shape() {
        Shape::One => quote!(let #(#locals)* = __input;),
        Shape::Many => quote!(let (#(#locals,)*) = __input;),
    };
    let mut next_input = locals.iter();
    let args = f.params.iter().map(|p| match p {
        Param::Context {
            kind: Context::Checkpoint,
            ..
        } => quote!(__ctx.checkpoint()),
        Param::Context {
            kind: Context::TaskContext,
            ..
        } => quote!(__ctx),
        _ => {
            let local = next_input.next();
            quote!(#local)
        }
    });
    let result = if f.output.fallible {
        // Spanned at `E`, so that an error type that does not convert is reported there.
        quote_spanned! {f.output.error_span=>
            ::core::result::Result::map_err(__out, ::flytekit::__private::IntoTaskError::into_task_error)
        }
    } else {
        quote!(::core::result::Result::Ok(__out))
    };

    let impls = quote! {
            #item

            impl ::core::ops::Deref for #ident {
                type Target = #fn_ptr;
                fn deref(&self) -> &Self::Target {
                    const F: #fn_ptr = #body_fn;
                    &F
                }
            }

            impl ::flytekit::Task for #ident {
                type Input = #input_ty;
                type Output = #output_ty;
                type InputShape = #input_shape;
                type OutputShape = #output_shape;

                fn spec(&self) -> ::flytekit::TaskSpec {
                    ::flytekit::TaskSpec::new(#name, ::core::module_path!(), &[#(#input_names),*])
                        .with_retries(#retries)
                        #timeout
                        #cache
                }

                #[allow(unused_variables)]
                fn run(
                    &self,
                    __ctx: &::flytekit::TaskContext,
                    __input: Self::Input,
                ) -> ::core::result::Result<Self::Output, ::flytekit::TaskError> {
                    #unpack
                    let __out = #body_fn(#(#args),*);
                    #result
                }
            }
    };
    unit_struct(f, impls, quote!(task(#ident, __inputs)))
}

pub fn workflow(f: &Function, attr: &WorkflowAttr, check_body: bool, errors: &mut Errors) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    let (input_ty, input_shape) = interface(f);
    let (output_ty, output_shape) = (&f.output.ty, shape(f.output.shape));
    let names: Vec<&Ident> = f.inputs().map(|(n, _)| n).collect();
    let input_names = f.input_names();
    let unpack = match f.input_shape() {
        Shape::One => quote!(let #(#names)* = __input;),
        Shape::Many => quote!(let (#(#names,)*) = __input;),
    };

    let input_types: Vec<&Type> = f.inputs().map(|(_, ty)| ty).collect();
    let input_promises = promises(&input_types, f.input_shape());
    let output_promises = promises(&output_slots(f), f.output.shape);
    let scope = Ident::new("__scope", Span::mixed_site());
    let before = errors.len();
    let (stmts, tail) = if check_body {
        Body::new(names.iter().map(|n| n.to_string()), &scope, errors).block(&f.item.block)
    } else {
        (Vec::new(), TokenStream::new())
    };
    let body = if check_body && errors.len() == before {
        let tail = quote_spanned!(tail.span()=> ::flytekit::__private::IntoOutput::into_output(#tail));
        quote!(#unpack #(#stmts)* #tail)
    } else {
        // The errors say what is wrong; a body that type-checks keeps rustc from adding more.
        quote!(::core::panic!("this workflow did not compile"))
    };

    let failure_policy = attr.failure_policy.as_ref().map(|variant| {
        quote! {
            fn failure_policy(&self) -> ::flytekit::FailurePolicy {
                ::flytekit::FailurePolicy::#variant
            }
        }
    });
    let (on_failure, on_failure_check) = attr.on_failure.as_ref().map(|hook| on_failure(f, hook)).unzip();

    let impls = quote! {
            impl ::flytekit::Workflow for #ident {
                type Input = #input_ty;
                type Output = #output_ty;
                type InputShape = #input_shape;
                type OutputShape = #output_shape;
                type InputPromises = #input_promises;
                type OutputPromises = #output_promises;

                fn name(&self) -> &'static str {
                    #name
                }

                fn input_names(&self) -> &'static [&'static str] {
                    &[#(#input_names),*]
                }

                #[allow(unused_variables, clippy::let_unit_value, clippy::unused_unit)]
                fn build(
                    &self,
                    #scope: &::flytekit::__private::Scope,
                    __input: Self::InputPromises,
                ) -> Self::OutputPromises {
                    #body
                }

                #failure_policy
                #on_failure
            }

            #on_failure_check
    };
    unit_struct(f, impls, quote!(workflow(&#ident, __inputs)))
}

/// `Workflow::on_failure`, returning the hook task, and the items that check that its inputs
/// are the workflow's, then a `WorkflowFailure`. The check is a trait of our own rather than
/// the runtime's `Input = I` bound: its message names the hook and the workflow and shows the
/// signature to write, where rustc's "type mismatch resolving `<hook as Task>::Input == ..`"
/// says none of that. Everything is spanned at the user's path, so that errors point at
/// `on_failure = ..`, and a hook that is not a task is reported once, as such.
fn on_failure(f: &Function, hook: &syn::Path) -> (TokenStream, TokenStream) {
    let span = hook.span();
    let failure = quote!(::flytekit::WorkflowFailure);
    let types: Vec<&Type> = f.inputs().map(|(_, ty)| ty).collect();
    let expected = match types.len() {
        0 => failure,
        _ => quote!((#(#types,)* #failure)),
    };

    let (workflow, task) = (f.ident(), &hook.segments.last().expect("a path has a segment").ident);
    let mut params: Vec<String> = f
        .inputs()
        .map(|(name, ty)| format!("{name}: {}", written(ty)))
        .collect();
    params.push("failure: WorkflowFailure".to_owned());
    let takes = match types.len() {
        0 => format!("it must take only a `WorkflowFailure`, as `{workflow}` has no inputs"),
        _ => format!("it must take `{workflow}`'s inputs, in order, then a `WorkflowFailure`"),
    };
    let message = braces(format!(
        "`{}` cannot be the on_failure task of `{workflow}`: {takes}",
        written(hook)
    ));
    let note = braces(format!("give it the signature `fn {task}({})`", params.join(", ")));

    // The runtime's `on_failure::<I, _>` is left to infer `I`: the check reports a mismatch,
    // once. The helpers are prefixed rather than hygienic (hygiene does not cover items or
    // generics): the hook's path and the input types resolve where they are in scope.
    let method = quote_spanned! {span=>
        fn on_failure(&self) -> ::core::option::Option<::flytekit::__private::OnFailure> {
            __check_on_failure(&#hook);
            ::core::option::Option::Some(::flytekit::__private::on_failure(#hook))
        }
    };
    let items = quote_spanned! {span=>
        #[diagnostic::on_unimplemented(message = #message, label = "takes `{Self}`, not `{__Expected}`", note = #note)]
        trait __OnFailureInputs<__Expected> {}
        impl<__Expected> __OnFailureInputs<__Expected> for __Expected {}

        fn __check_on_failure<__Hook: ::flytekit::Task>(_: &__Hook)
        where
            <__Hook as ::flytekit::Task>::Input: __OnFailureInputs<#expected>,
        {
        }
    };
    (method, items)
}

/// Tokens as a person writes them (`Vec<u64>`, not `Vec < u64 >`), for messages.
fn written(tokens: &impl quote::ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

/// `text` for a `#[diagnostic]` message, where `{..}` would be a format parameter.
fn braces(text: String) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// The unit struct named after the function (a value and a type, as the function was), with
/// `impls` and the binder hidden in a `const _` block. `add` is the `Scope` call that adds the
/// node(s) when the struct is called inside a workflow.
fn unit_struct(f: &Function, impls: TokenStream, add: TokenStream) -> TokenStream {
    let ident = f.ident();
    let binder = binder(f, add);
    let outer = f.outer_attrs();
    let cfgs = f.cfg_attrs();
    let vis = &f.item.vis;
    quote! {
        #(#outer)*
        #[allow(non_camel_case_types)]
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #ident;

        #(#cfgs)*
        const _: () = {
            #impls
            #binder
        };
    }
}

/// The binder: `call` takes each input as `impl IntoInput<T>` under the user's parameter name,
/// so a mistyped argument is reported at that argument, and a wrong count at the call.
fn binder(f: &Function, add: TokenStream) -> TokenStream {
    let ident = f.ident();
    let params = f
        .inputs()
        .map(|(name, ty)| quote!(#name: impl ::flytekit::IntoInput<#ty>));
    let names = f.inputs().map(|(name, _)| name);
    let call = Ident::new("call", ident.span());
    // A call without outputs still names its nodes, so that another can come `.after(..)` it.
    let slots = output_slots(f);
    let output_promises = match slots.len() {
        0 => quote!(::flytekit::Ran),
        _ => promises(&slots, f.output.shape),
    };
    quote! {
        pub struct __Binder<'s>(&'s ::flytekit::__private::Scope);

        impl<'s> __Binder<'s> {
            #[allow(clippy::too_many_arguments, clippy::vec_init_then_push)]
            pub fn #call(self, #(#params),*)
                -> #output_promises
            {
                let __inputs = ::std::vec![#(::flytekit::IntoInput::bind(#names, self.0)),*];
                self.0.#add
            }
        }

        impl ::flytekit::__private::Callable for #ident {
            type Binder<'s> = __Binder<'s>;
            fn binder<'s>(&self, scope: &'s ::flytekit::__private::Scope) -> __Binder<'s> {
                __Binder(scope)
            }
        }
    }
}

/// The Rust type and the shape of the inputs, spanned at the parameter list so that a type
/// error in the tuple points there.
fn interface(f: &Function) -> (TokenStream, TokenStream) {
    let types = f.inputs().map(|(_, ty)| ty);
    let params = f.item.sig.paren_token.span.join();
    let ty = match f.input_shape() {
        Shape::One => quote!(#(#types)*),
        Shape::Many => quote_spanned!(params=> (#(#types,)*)),
    };
    (ty, shape(f.input_shape()))
}

/// The placeholders for an interface, written out (`Promise<T>`, or a tuple of them) rather
/// than projected through `Values`, so that a type that is not serializable is reported once,
/// at the `Task` impl, and not again at every signature that mentions its placeholder.
fn promises(types: &[&Type], shape: Shape) -> TokenStream {
    let promise = |ty: &&Type| quote_spanned!(ty.span()=> ::flytekit::Promise<#ty>);
    match shape {
        Shape::One => types.iter().map(promise).collect(),
        Shape::Many => {
            let each = types.iter().map(promise);
            quote!((#(#each,)*))
        }
    }
}

/// The slot types of the output: the tuple's elements, or the one type.
fn output_slots(f: &Function) -> Vec<&Type> {
    match (&f.output.ty, f.output.shape) {
        (Type::Tuple(t), Shape::Many) => t.elems.iter().collect(),
        (ty, _) => vec![ty],
    }
}

fn shape(shape: Shape) -> TokenStream {
    match shape {
        Shape::One => quote!(::flytekit::__private::One),
        Shape::Many => quote!(::flytekit::__private::Many),
    }
}
