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

use crate::ast::{Context, ErrorType, Function, Param, Shape};
use crate::attr::{TaskAttr, WorkflowAttr};
use crate::body::Body;
use crate::Errors;

pub fn task(f: &Function, attr: &TaskAttr) -> TokenStream {
    let ident = f.ident();
    let body_fn = body_fn(f);
    let item = renamed(f, &body_fn);
    let deref = deref(f, &body_fn);

    // `run`: unpack the input tuple, fill in the context, call the body; for an `async fn`,
    // return the future that does that, owning a clone of the context.
    let locals: Vec<Ident> = (0..f.inputs().count())
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
    // The conversion names the error type (`E`, or the alias whose error type rustc finds),
    // which is where rustc reports one that does not convert: once, as the helpers take no
    // argument to blame.
    let output_ty = &f.output.ty;
    let result = match &f.output.error {
        Some(ErrorType::Written(e)) => quote! {
            ::core::result::Result::map_err(__out, ::flytekit::__private::task_error::<#e, _>())
        },
        Some(ErrorType::Alias(r)) => quote! {
            ::flytekit::__private::task_result::<#r, #output_ty, _>()(__out)
        },
        None => quote!(::core::result::Result::Ok(__out)),
    };
    let run = if f.item.sig.asyncness.is_some() {
        let start_fn = start_fn(f);
        quote! {
            #unpack
            let __owned_ctx = ::core::clone::Clone::clone(__ctx);
            ::flytekit::Body::Future(::std::boxed::Box::pin(async move {
                let __ctx = &__owned_ctx;
                let __out = #start_fn(#(#args),*).await;
                #result
            }))
        }
    } else {
        quote! {
            #unpack
            let __out = #body_fn(#(#args),*);
            ::flytekit::Body::Done(#result)
        }
    };
    let task_impl = task_impl(f, attr, run);
    let registration = registration(f, quote!(task));
    unit_struct(
        f,
        quote!(#item #deref #task_impl #registration),
        quote!(task(#ident, __inputs)),
    )
}

/// Adds the task (or dynamic body) to the registry a recorded graph is rebuilt from, under
/// `module::name` (`kind` is the `Registration` constructor: `task` or `dynamic`).
fn registration(f: &Function, kind: TokenStream) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    quote! {
        ::flytekit::__private::inventory::submit! {
            ::flytekit::__private::Registration::#kind::<#ident>(
                ::core::concat!(::core::module_path!(), "::", #name)
            )
        }
    }
}

/// The name the user's function is emitted under, beside the unit struct that takes its name.
pub fn body_fn(f: &Function) -> Ident {
    format_ident!("__flytekit_{}", f.ident(), span = Span::mixed_site())
}

/// The user's function, renamed to `body_fn`: the body every call ends in.
pub fn renamed(f: &Function, body_fn: &Ident) -> syn::ItemFn {
    let mut item = f.item.clone();
    item.sig.ident = body_fn.clone();
    item.attrs = f.body_attrs().cloned().collect();
    item
}

/// `impl Deref` from the unit struct to `body_fn` as a function pointer, so that `f(..)` still
/// calls the function. An `async fn`'s pointer type cannot name its future, so it goes through
/// [`start_fn`], whose future is boxed (see [`async_deref`]).
pub fn deref(f: &Function, body_fn: &Ident) -> TokenStream {
    if f.item.sig.asyncness.is_some() {
        return async_deref(f, body_fn);
    }
    let ident = f.ident();
    let sig = &f.item.sig;
    let (unsafety, abi, ret) = (&sig.unsafety, &sig.abi, &sig.output);
    let param_types = sig.inputs.iter().filter_map(|a| match a {
        syn::FnArg::Typed(t) => Some(&*t.ty),
        // valid.rs rejects receivers, and fallback.rs emits no struct for a method.
        syn::FnArg::Receiver(_) => None,
    });
    let fn_ptr = quote!(#unsafety #abi fn(#(#param_types),*) #ret);
    quote! {
        impl ::core::ops::Deref for #ident {
            type Target = #fn_ptr;
            fn deref(&self) -> &Self::Target {
                const F: #fn_ptr = #body_fn;
                &F
            }
        }
    }
}

/// The function an `async fn` task's `Deref` leads to, and which its attempts call.
pub fn start_fn(f: &Function) -> Ident {
    format_ident!("__flytekit_start_{}", f.ident(), span = Span::mixed_site())
}

/// For an `async fn` task: [`start_fn`], which calls the function and boxes its future as
/// `Pin<Box<dyn Future<Output = R> + Send + 'a>>` (`'a` the context's borrow, when the task
/// takes one), and `Deref` to it, so that `f(..).await` works in a unit test. The runtime needs
/// the future to be `Send` (it moves between the executor's threads); requiring it here, where
/// the function's future is first named, makes a future that is not `Send` one error, at the
/// function's name, for both uses.
fn async_deref(f: &Function, body_fn: &Ident) -> TokenStream {
    let ident = f.ident();
    let start_fn = start_fn(f);
    let lifetime = syn::Lifetime::new("'__flytekit", Span::call_site());
    let borrows = f.params.iter().any(|p| {
        matches!(
            p,
            Param::Context {
                ty: Type::Reference(_),
                ..
            }
        )
    });
    let (names, types): (Vec<Ident>, Vec<Type>) = f
        .params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let ty = match p {
                // The context's borrow is the one the future keeps.
                Param::Context {
                    ty: Type::Reference(r), ..
                } if r.lifetime.is_none() => {
                    let mut r = r.clone();
                    r.lifetime = Some(lifetime.clone());
                    Type::Reference(r)
                }
                Param::Context { ty, .. } | Param::Input { ty, .. } => ty.clone(),
                // valid.rs rejects receivers, and fallback.rs emits no struct for a method.
                Param::Receiver(_) => return None,
            };
            Some((format_ident!("__param{}", i, span = Span::mixed_site()), ty))
        })
        .unzip();
    let output = f.return_type();
    let bound = borrows.then(|| quote!(+ #lifetime));
    let future = quote! {
        ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #output> + ::core::marker::Send #bound>>
    };
    let (generics, for_all) = match borrows {
        true => (quote!(<#lifetime>), quote!(for<#lifetime>)),
        false => (quote!(), quote!()),
    };
    let fn_ptr = quote!(#for_all fn(#(#types),*) -> #future);
    let boxed = quote_spanned!(ident.span()=> ::std::boxed::Box::pin(#body_fn(#(#names),*)));
    quote! {
        #[allow(clippy::type_complexity)]
        fn #start_fn #generics(#(#names: #types),*) -> #future {
            #boxed
        }

        impl ::core::ops::Deref for #ident {
            type Target = #fn_ptr;
            fn deref(&self) -> &Self::Target {
                const F: #fn_ptr = #start_fn;
                &F
            }
        }
    }
}

/// The `Task` impl, whose `run` method (taking `__ctx` and `__input`) has the body `run`.
pub fn task_impl(f: &Function, attr: &TaskAttr, run: TokenStream) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    let retries = attr.retries;
    let cache = attr.cache_version.as_ref().map(|v| quote!(.with_cache(#v)));
    let timeout = attr.timeout.map(|t| {
        let (secs, nanos) = (t.as_secs(), t.subsec_nanos());
        quote!(.with_timeout(::core::time::Duration::new(#secs, #nanos)))
    });
    let interruptible = attr.interruptible.then(|| quote!(.with_interruptible()));
    let resources = |method: &str, list: &[(crate::attr::Key, String, Span)]| {
        if list.is_empty() {
            return None;
        }
        let method = Ident::new(method, proc_macro2::Span::call_site());
        let set = list.iter().map(|(key, quantity, _)| {
            let key = Ident::new(key.name, proc_macro2::Span::call_site());
            quote!(.#key(#quantity))
        });
        Some(quote!(.#method(::flytekit::Resources::new() #(#set)*)))
    };
    let docs = docs(f);
    let docs = (!docs.is_empty()).then(|| quote!(.with_docs(#docs)));
    let requests = resources("with_requests", &attr.requests);
    let limits = resources("with_limits", &attr.limits);
    // An `async fn` says so in its info, and needs the executor the feature `async` brings,
    // which the check reports at the `async` keyword.
    let (asynchronous, feature_check) = match &f.item.sig.asyncness {
        Some(token) => (
            Some(quote!(.with_async())),
            Some(quote_spanned! {token.span=>
                const _: () = ::flytekit::__private::async_tasks::<::flytekit::__private::Feature>();
            }),
        ),
        None => (None, None),
    };
    let (input_ty, input_shape) = interface(f);
    let (output_ty, output_shape) = (&f.output.ty, shape(f.output.shape));
    let input_names = f.input_names();
    let interface = interface_fn(f, "task");
    quote! {
        #feature_check

        impl ::flytekit::Task for #ident {
            type Input = #input_ty;
            type Output = #output_ty;
            type InputShape = #input_shape;
            type OutputShape = #output_shape;

            fn info(&self) -> ::flytekit::TaskInfo {
                ::flytekit::TaskInfo::new(#name, ::core::module_path!(), &[#(#input_names),*])
                    .with_retries(#retries)
                    #timeout
                    #cache
                    #asynchronous
                    #interruptible
                    #requests
                    #limits
                    #docs
            }

            #interface

            #[allow(unused_variables)]
            fn run(
                &self,
                __ctx: &::flytekit::TaskContext,
                __input: Self::Input,
            ) -> ::flytekit::Body<Self::Output> {
                #run
            }
        }
    }
}

pub fn workflow(f: &Function, attr: &WorkflowAttr, check_body: bool, errors: &mut Errors) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    let (input_ty, input_shape) = interface(f);
    let (output_ty, output_shape) = (&f.output.ty, shape(f.output.shape));
    let names: Vec<&Ident> = f.inputs().map(|(n, _)| n).collect();
    let input_names = f.input_names();
    let interface = interface_fn(f, "workflow");
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
    let docs = docs(f);

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

                fn module(&self) -> &'static str {
                    ::core::module_path!()
                }

                fn input_names(&self) -> &'static [&'static str] {
                    &[#(#input_names),*]
                }

                fn docs(&self) -> &'static str {
                    #docs
                }

                #interface

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
    let impls = with_local_run(f, impls);
    unit_struct(f, impls, quote!(workflow(&#ident, __inputs)))
}

/// `#[dynamic]`: a unit struct implementing `Dynamic`, whose `build` runs the body on real
/// input values (task calls in it add nodes, as in a workflow), and a binder that adds the
/// dynamic node to a workflow.
pub fn dynamic(f: &Function, retries: u32, errors: &mut Errors) -> TokenStream {
    let ident = f.ident();
    let name = ident.to_string();
    let (input_ty, input_shape) = interface(f);
    let (output_ty, output_shape) = (&f.output.ty, shape(f.output.shape));
    let names: Vec<&Ident> = f.inputs().map(|(n, _)| n).collect();
    let input_names = f.input_names();
    let interface = interface_fn(f, "dynamic workflow");
    let unpack = match f.input_shape() {
        Shape::One => quote!(let #(#names)* = __input;),
        Shape::Many => quote!(let (#(#names,)*) = __input;),
    };
    let output_promises = promises(&output_slots(f), f.output.shape);
    let docs = docs(f);
    let scope = Ident::new("__scope", Span::mixed_site());
    let before = errors.len();
    let (stmts, tail) = Body::dynamic(&scope, errors).block(&f.item.block);
    let body = if errors.len() > before {
        quote!(::core::panic!("this dynamic workflow did not compile"))
    } else if f.output.fallible() {
        // The body is the function's, `?` and all: a closure returning the written `Result`
        // with placeholders in place of the value.
        let result = with_first_argument(&f.item.sig.output, &output_promises);
        quote! {
            #unpack
            let __out: #result = (move || { #(#stmts)* #tail })();
            ::flytekit::__private::task_result::<#result, #output_promises, _>()(__out)
        }
    } else {
        let tail = quote_spanned!(tail.span()=> ::flytekit::__private::IntoOutput::into_output(#tail));
        quote!(#unpack #(#stmts)* ::core::result::Result::Ok(#tail))
    };
    let impls = quote! {
        impl ::flytekit::Dynamic for #ident {
            type Input = #input_ty;
            type Output = #output_ty;
            type InputShape = #input_shape;
            type OutputShape = #output_shape;
            type OutputPromises = #output_promises;

            fn info(&self) -> ::flytekit::TaskInfo {
                ::flytekit::TaskInfo::new(#name, ::core::module_path!(), &[#(#input_names),*])
                    .with_retries(#retries)
                    .with_docs(#docs)
            }

            #interface

            #[allow(unused_variables, unused_mut, clippy::let_unit_value, clippy::unused_unit)]
            fn build(
                &self,
                #scope: &::flytekit::__private::Scope,
                __input: Self::Input,
            ) -> ::core::result::Result<Self::OutputPromises, ::flytekit::TaskError> {
                #body
            }
        }
    };
    let registration = registration(f, quote!(dynamic));
    unit_struct(f, quote!(#impls #registration), quote!(dynamic(#ident, __inputs)))
}

/// The written return type (`Result<T, E>`, `anyhow::Result<T>`) with `first` for `T`.
fn with_first_argument(output: &syn::ReturnType, first: &TokenStream) -> TokenStream {
    let syn::ReturnType::Type(_, ty) = output else {
        return quote!(());
    };
    let mut ty = (**ty).clone();
    if let Type::Path(p) = &mut ty {
        if let Some(syn::PathArguments::AngleBracketed(args)) = p.path.segments.last_mut().map(|s| &mut s.arguments) {
            if let Some(syn::GenericArgument::Type(t)) = args.args.first_mut() {
                if let Ok(replacement) = syn::parse2(first.clone()) {
                    *t = replacement;
                }
            }
        }
    }
    quote!(#ty)
}

/// `impls` and what makes `wf(3)` outside a workflow body run the workflow, as flytekit users
/// call a workflow to test it: a function of the workflow's inputs (names and types as written)
/// that runs it on a new `LocalRuntime`, and `Deref` from the unit struct to it, as a task's
/// leads to its function. Inside a body, body.rs makes the same call a sub-workflow node.
fn with_local_run(f: &Function, impls: TokenStream) -> TokenStream {
    let ident = f.ident();
    let run_fn = format_ident!("__flytekit_run_{}", ident, span = Span::mixed_site());
    let names: Vec<&Ident> = f.inputs().map(|(name, _)| name).collect();
    let types: Vec<&Type> = f.inputs().map(|(_, ty)| ty).collect();
    let input = match f.input_shape() {
        Shape::One => quote!(#(#names)*),
        Shape::Many => quote!((#(#names,)*)),
    };
    let output = &f.output.ty;
    let fn_ptr = quote!(fn(#(#types),*) -> ::core::result::Result<#output, ::flytekit::Error>);
    quote! {
        #impls

        #[allow(clippy::too_many_arguments)]
        fn #run_fn(#(#names: #types),*) -> ::core::result::Result<#output, ::flytekit::Error> {
            ::flytekit::LocalRuntime::new().run(#ident, #input)
        }

        impl ::core::ops::Deref for #ident {
            type Target = #fn_ptr;
            fn deref(&self) -> &Self::Target {
                const F: #fn_ptr = #run_fn;
                &F
            }
        }
    }
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
    unit_struct_with(f, impls, binder(f, add))
}

/// The unit struct, with `impls` and the binder items `binder` (see `binder`).
pub fn unit_struct_with(f: &Function, impls: TokenStream, binder: TokenStream) -> TokenStream {
    let ident = f.ident();
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
pub fn binder(f: &Function, add: TokenStream) -> TokenStream {
    let params = f
        .inputs()
        .map(|(name, ty)| quote!(#name: impl ::flytekit::IntoInput<#ty>));
    let names = f.inputs().map(|(name, _)| name);
    let call = Ident::new("call", f.ident().span());
    // A call without outputs still names its nodes, so that another can come `.after(..)` it.
    let slots = output_slots(f);
    let output_promises = match slots.len() {
        0 => quote!(::flytekit::Ran),
        _ => promises(&slots, f.output.shape),
    };
    binder_with(
        f,
        quote! {
            #[allow(clippy::too_many_arguments, clippy::vec_init_then_push)]
            pub fn #call(self, #(#params),*)
                -> #output_promises
            {
                let __inputs = ::std::vec![#(::flytekit::IntoInput::bind(#names, self.0)),*];
                self.0.#add
            }
        },
    )
}

/// The binder type with the method `call`, and the `Callable` impl that hands it out.
pub fn binder_with(f: &Function, call: TokenStream) -> TokenStream {
    let ident = f.ident();
    quote! {
        pub struct __Binder<'s>(&'s ::flytekit::__private::Scope);

        impl<'s> __Binder<'s> {
            #call
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

/// The trait method `interface`: one call per input and output type that picks, at compile
/// time, what describes the type (its `Typed` impl, else tracing its `Deserialize` impl; see
/// the runtime's `interface.rs`), and the runtime's `interface` to run them when asked.
fn interface_fn(f: &Function, kind: &str) -> TokenStream {
    let name = f.ident().to_string();
    let describe = |ty: &Type| quote!((&&&::flytekit::__private::Describe::<#ty>::NEW).describer());
    let inputs = f.inputs().zip(f.input_names()).map(|((_, ty), input)| {
        let describe = describe(ty);
        quote!((#input, #describe))
    });
    let outputs = output_slots(f).into_iter().map(describe);
    // `#[inline]`: nothing is generated for it unless something asks for the interface (a
    // non-generic function is otherwise compiled whether or not it is called).
    quote! {
        #[inline]
        fn interface(&self) -> ::core::result::Result<::flytekit::Interface, ::flytekit::InterfaceError> {
            #[allow(unused_imports)]
            use ::flytekit::__private::{ViaNothing as _, ViaTrace as _, ViaTyped as _};
            ::flytekit::__private::interface(
                #kind,
                ::core::module_path!(),
                #name,
                &[#(#inputs),*],
                &[#(#outputs),*],
            )
        }
    }
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
pub fn output_slots(f: &Function) -> Vec<&Type> {
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

/// The function's documentation: its `#[doc = ".."]` attributes (`///` comments), one line
/// each, without the space after `///`, trimmed.
pub fn docs(f: &Function) -> String {
    let lines: Vec<String> = f
        .item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.lines())
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    text.join("\n").trim().to_owned()
}
