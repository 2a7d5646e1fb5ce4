//! The `#[workflow]` body: checked and rewritten in one walk, because the two need the same
//! knowledge of which names are placeholders.
//!
//! The body is Rust that runs once, to build the graph. Values known then (literals, constants,
//! loop counters, a `Vec` being filled) behave as Rust does: loops, iterator chains, closures and
//! method calls on them are left as written. Only placeholders are special. A call `task(args)`,
//! wherever it is (a loop, a closure), becomes "add a node, get placeholders"; `if` on a
//! comparison of placeholders becomes a branch node; `vec![..]` of placeholders a list binding;
//! `xs[0]` and nested tuple patterns parts of an output; `call(..).after(x)` an order without
//! data. What would need a value while the graph is built (arithmetic, a method call or a loop
//! over a placeholder, `match` on one, formatting one) is an error that says where to move it;
//! what the walk cannot see, rustc's type checks and the runtime's `on_unimplemented` messages
//! catch.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Block, Expr, ExprCall, ExprIf, ExprMethodCall, Local, Pat, Stmt, Token, Type, UnOp};

use crate::attr::{Attr, CONCURRENCY, MAP, MIN_SUCCESS_RATIO};
use crate::format::{captures, format_at, named_argument, not_formattable, FormatString};
use crate::Errors;

pub struct Body<'a> {
    /// Names that hold a placeholder (or a tuple of them) here.
    placeholders: HashSet<String>,
    /// Names that hold a closure: calling one is a call, not a task.
    closures: HashSet<String>,
    /// Inside a branch arm: the names declared in it, so that assigning a name outside it is
    /// refused (a node in an arm may not run).
    arm: Option<HashSet<String>>,
    scope: &'a Ident,
    errors: &'a mut Errors,
    temps: usize,
    /// A `#[dynamic]` body: it runs at execution time, so `?`, `return` and `Ok(..)` are its
    /// own Rust, and its inputs are values, not placeholders.
    dynamic: bool,
}

impl<'a> Body<'a> {
    pub fn new(params: impl IntoIterator<Item = String>, scope: &'a Ident, errors: &'a mut Errors) -> Self {
        Body {
            placeholders: params.into_iter().collect(),
            closures: HashSet::new(),
            arm: None,
            scope,
            errors,
            temps: 0,
            dynamic: false,
        }
    }

    /// The body of a `#[dynamic]`: its inputs are real values.
    pub fn dynamic(scope: &'a Ident, errors: &'a mut Errors) -> Self {
        Body {
            dynamic: true,
            ..Body::new(std::iter::empty(), scope, errors)
        }
    }

    /// The rewritten statements, and the tail expression (`()` if there is none).
    pub fn block(&mut self, block: &Block) -> (Vec<TokenStream>, TokenStream) {
        let mut stmts = self.stmts(block.stmts.clone());
        let tail = match stmts.pop() {
            Some(Stmt::Expr(e, None)) => e.to_token_stream(),
            other => {
                stmts.extend(other);
                quote_spanned!(block.brace_token.span.close()=> ())
            }
        };
        (stmts.iter().map(ToTokens::to_token_stream).collect(), tail)
    }

    fn stmts(&mut self, stmts: Vec<Stmt>) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        let last = stmts.len().saturating_sub(1);
        for (i, stmt) in stmts.into_iter().enumerate() {
            match stmt {
                Stmt::Local(local) => out.extend(self.local(local)),
                Stmt::Expr(mut e, mut semi) => {
                    self.visit_expr_mut(&mut e);
                    // An `if` statement may now be a branch, which has a value: drop it.
                    if semi.is_none() && i != last && matches!(e, Expr::Verbatim(_)) {
                        semi = Some(Token![;](Span::call_site()));
                    }
                    out.push(Stmt::Expr(e, semi));
                }
                Stmt::Item(item) => self.error(
                    &item,
                    "items cannot be defined inside a #[workflow] body: define them outside the workflow",
                ),
                // A dynamic body runs at execution time: its `println!` prints then.
                Stmt::Macro(m) if self.dynamic => {
                    self.macro_value(&m.mac);
                    out.push(Stmt::Macro(m));
                }
                Stmt::Macro(m) => self.macro_error(&m.mac.path),
            }
        }
        out
    }

    /// A `let`: its value rewritten, its names recorded as placeholders or not, and nested
    /// tuple patterns of a call's output taken apart (`let (a, (b, c)) = t(x);`).
    fn local(&mut self, mut local: Local) -> Vec<Stmt> {
        let Some(init) = &mut local.init else {
            // `let y;` assigned later: what it holds is known at the assignment.
            let mut names = Vec::new();
            pattern_names(&local.pat, &mut names);
            for name in &names {
                self.placeholders.remove(name);
                if let Some(arm) = &mut self.arm {
                    arm.insert(name.clone());
                }
            }
            return vec![Stmt::Local(local)];
        };
        if let Some((_, diverge)) = &init.diverge {
            if self.mentions_placeholder(&init.expr) {
                self.error(
                    diverge,
                    "`let ... else` cannot test a placeholder: its value exists only when the workflow runs",
                );
            }
        }
        let placeholder = self.is_placeholder(&init.expr);
        let closure = matches!(&*init.expr, Expr::Closure(_));
        let call = is_call(&init.expr);
        let kinds = self.element_kinds(&local.pat, &init.expr);
        self.visit_expr_mut(&mut init.expr);
        if let Some((_, diverge)) = &mut init.diverge {
            self.visit_expr_mut(diverge);
        }

        let mut names = Vec::new();
        pattern_names(&local.pat, &mut names);
        for (i, name) in names.iter().enumerate() {
            let is_placeholder = kinds
                .as_ref()
                .map_or(placeholder, |k| k.get(i).copied().unwrap_or(false));
            set(&mut self.placeholders, name, is_placeholder);
            set(&mut self.closures, name, closure);
            if let Some(arm) = &mut self.arm {
                arm.insert(name.clone());
            }
        }
        let mut extra = Vec::new();
        if placeholder && call && has_nested_tuple(&local.pat) {
            // The annotation would describe the whole value, not its parts: rustc still checks
            // each part against the task's output type.
            if let Pat::Type(typed) = &local.pat {
                local.pat = (*typed.pat).clone();
            }
            self.split_nested(&mut local.pat, &mut extra);
        } else if placeholder {
            // `let y: u64 = task(..)` reads naturally; what `y` holds is a `Promise<u64>`.
            if let Pat::Type(typed) = &mut local.pat {
                let ty = promised(&typed.ty);
                *typed.ty = syn::parse2(ty).unwrap_or_else(|_| (*typed.ty).clone());
            }
        }
        let mut out = vec![Stmt::Local(local)];
        out.extend(extra);
        out
    }

    /// For `let (a, b) = (x, 3);`, whether each name is a placeholder, element by element; `None`
    /// when the pattern and the value are not tuples of the same length.
    fn element_kinds(&self, pat: &Pat, value: &Expr) -> Option<Vec<bool>> {
        let (Pat::Tuple(p), Expr::Tuple(v)) = (strip_type(pat), value) else {
            return None;
        };
        if p.elems.len() != v.elems.len() {
            return None;
        }
        let mut kinds = Vec::new();
        for (pat, value) in p.elems.iter().zip(&v.elems) {
            let mut names = Vec::new();
            pattern_names(pat, &mut names);
            kinds.extend(names.iter().map(|_| self.is_placeholder(value)));
        }
        Some(kinds)
    }

    /// Replaces each nested tuple pattern by a temporary, taken apart by a `let` of its own.
    fn split_nested(&mut self, pat: &mut Pat, extra: &mut Vec<Stmt>) {
        let Pat::Tuple(tuple) = pat else { return };
        for elem in tuple.elems.iter_mut() {
            let inner = strip_paren(elem).clone();
            if !matches!(inner, Pat::Tuple(_)) {
                continue;
            }
            // Hygienic, but located at the pattern, where a value that is not a tuple is reported.
            let span = inner.span().resolved_at(Span::mixed_site());
            let temp = Ident::new(&format!("__flytekit_part{}", self.temps), span);
            self.temps += 1;
            *elem = syn::parse_quote!(#temp);
            let mut inner = inner;
            let mut deeper = Vec::new();
            self.split_nested(&mut inner, &mut deeper);
            let scope = self.scope;
            extra.push(syn::parse_quote_spanned! {inner.span()=>
                let #inner = ::flytekit::__private::Split::split(#temp, #scope);
            });
            extra.extend(deeper);
        }
    }

    /// `task(args)` becomes a node; `map(..)` a map node; `Some(x)` and `Type::f(..)` stay calls.
    fn call(&mut self, call: &mut ExprCall) -> Option<Expr> {
        let Expr::Path(func) = &*call.func else {
            self.visit_call_args(call);
            return None;
        };
        if func.path.is_ident("map") {
            return Some(self.map(call));
        }
        let local_closure = func
            .path
            .get_ident()
            .is_some_and(|id| self.closures.contains(&id.to_string()));
        match call_kind(&func.path) {
            _ if local_closure => {
                self.visit_call_args(call);
                None
            }
            CallKind::Constructor => {
                // `Some(x)` included: an `Option` input is a literal, and `None` must stay one.
                // A dynamic body returns `Ok(placeholders)`.
                let result = self.dynamic && (func.path.is_ident("Ok") || func.path.is_ident("Err"));
                if !result
                    && call
                        .args
                        .iter()
                        .any(|a| self.mentions_placeholder(a) || self.contains_task_call(a))
                {
                    self.error(
                        call,
                        "a placeholder cannot be wrapped in a value while the graph is built: have the task take the inner value, or build the value inside a task",
                    );
                }
                self.visit_call_args(call);
                None
            }
            // A function of a type (`Vec::new()`, `String::from(..)`) runs while the graph is built.
            CallKind::Associated => {
                self.visit_call_args(call);
                None
            }
            CallKind::Task => {
                // `vec![]` as an argument could be a list of values or of placeholders, which
                // rustc cannot choose between: the list binding takes both.
                for arg in call.args.iter_mut() {
                    if matches!(arg, Expr::Macro(m) if m.mac.path.is_ident("vec") && m.mac.tokens.is_empty()) {
                        let scope = self.scope;
                        *arg = Expr::Verbatim(quote_spanned!(arg.span()=> ::flytekit::__private::List::new(#scope)));
                    }
                }
                self.visit_call_args(call);
                let scope = self.scope;
                let func = &call.func;
                let span = func.span();
                let method = Ident::new("call", span);
                let args = &call.args;
                // The user's parentheses, so that rustc's "provide the argument" fix lands in them.
                let mut group = Group::new(Delimiter::Parenthesis, quote!(#args));
                group.set_span(call.paren_token.span.join());
                Some(Expr::Verbatim(quote_spanned! {span=>
                    ::flytekit::__private::binder(&#func, #scope).#method #group
                }))
            }
        }
    }

    fn visit_call_args(&mut self, call: &mut ExprCall) {
        for arg in call.args.iter_mut() {
            self.visit_expr_mut(arg);
        }
    }

    /// `map(task, list, concurrency = 4, min_success_ratio = 0.9)`: one node that runs `task`
    /// (or a workflow) on every element of `list`. The options are written as assignments, like
    /// flytekit's keyword arguments; a `min_success_ratio` makes the output `Vec<Option<T>>`,
    /// since failed elements have no value.
    fn map(&mut self, call: &mut ExprCall) -> Expr {
        const USAGE: &str =
            "write `map(task, list)`, optionally followed by `concurrency = 4` and `min_success_ratio = 0.9`";
        let mut args = call.args.iter_mut();
        let (Some(task), Some(list)) = (args.next(), args.next()) else {
            return self.refuse(call, &format!("`map` needs a task and a list: {USAGE}"));
        };
        let Expr::Path(task_path) = task.clone() else {
            return self.refuse(
                task,
                &format!("the first argument of `map` is a #[task] or a #[workflow], by name: {USAGE}"),
            );
        };
        self.visit_expr_mut(list);
        let list = list.clone();
        // The attributes' key handling: one arm per key, duplicates and "did you mean".
        let mut concurrency = Attr::none(&MAP, CONCURRENCY);
        let mut ratio = Attr::none(&MAP, MIN_SUCCESS_RATIO);
        for option in args {
            let (Expr::Assign(assign), Expr::Path(key)) = (&*option, option_key(option)) else {
                self.error(
                    option,
                    &format!("`map` takes a task, a list, then options as `key = value`: {USAGE}"),
                );
                continue;
            };
            let (key, value) = (&key.path, Some(&*assign.right));
            if key == CONCURRENCY {
                concurrency.set(key, value, map_concurrency, self.errors);
            } else if key == MIN_SUCCESS_RATIO {
                ratio.set(key, value, map_ratio, self.errors);
            } else {
                MAP.unknown(key, self.errors);
            }
        }
        let (concurrency, ratio) = (concurrency.get(), ratio.get());
        let scope = self.scope;
        let span = task_path.span();
        let concurrency = match concurrency {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        Expr::Verbatim(match ratio {
            Some(r) => quote_spanned! {span=>
                ::flytekit::__private::map_some(&#task_path, #scope, #list, #concurrency, #r)
            },
            None => quote_spanned! {span=>
                ::flytekit::__private::map(&#task_path, #scope, #list, #concurrency)
            },
        })
    }

    /// `call(..).after(deps)`: the nodes the call adds run after those of `deps`. The deps are
    /// evaluated first, so that a call among them comes before the mark.
    fn after(&mut self, m: &mut ExprMethodCall) -> Expr {
        self.visit_expr_mut(&mut m.receiver);
        for arg in m.args.iter_mut() {
            self.visit_expr_mut(arg);
        }
        if m.args.len() != 1 {
            return self.refuse(
                &m.method,
                "`.after(..)` takes one argument: what an earlier call returned (`second().after(a)`), or a tuple of them (`.after((a, b))`)",
            );
        }
        let (scope, receiver, deps) = (self.scope, &m.receiver, &m.args[0]);
        let (mark, value, before) = (
            Ident::new("__flytekit_mark", Span::mixed_site()),
            Ident::new("__flytekit_value", Span::mixed_site()),
            Ident::new("__flytekit_deps", Span::mixed_site()),
        );
        // `After::nodes` is spanned at the argument, where a value that is not a call's result
        // is reported.
        let nodes = quote_spanned!(deps.span()=> ::flytekit::__private::After::nodes(&#deps, #scope));
        Expr::Verbatim(quote_spanned! {m.method.span()=>
            {
                let #before = #nodes;
                let #mark = #scope.mark();
                let #value = #receiver;
                ::flytekit::__private::after(#scope, #mark, #value, #before)
            }
        })
    }

    /// `if` on a run-time value: a branch node. Each arm builds its own nodes, which run only if
    /// the arm is taken; all arms yield placeholders of the same types (rustc checks).
    fn branch(&mut self, top: &ExprIf) -> Expr {
        let mut cases = Vec::new();
        let mut otherwise = None;
        let mut current = top.clone();
        loop {
            cases.push((current.cond, current.then_branch));
            match current.else_branch {
                None => break,
                Some((_, e)) => match *e {
                    Expr::If(next) => current = next,
                    Expr::Block(b) => {
                        otherwise = Some(b.block);
                        break;
                    }
                    other => {
                        otherwise = Some(syn::parse_quote!({ #other }));
                        break;
                    }
                },
            }
        }
        let scope = self.scope;
        // Every condition first: a task call in one is a node before the branch, whichever case
        // is taken, as it would be in Flyte.
        let mut conditions = Vec::new();
        let mut chain = quote_spanned!(top.if_token.span=> ::flytekit::__private::Branch::new(#scope));
        for (i, (cond, block)) in cases.into_iter().enumerate() {
            if let Some(message) = fail_message(&block) {
                self.error(
                    &message,
                    "`fail(..)` ends the run only from the final `else` of a branch, as in Flyte's conditions: reorder the conditions so that the failing case is the `else`",
                );
            }
            let condition = self.condition(&cond);
            let temp = Ident::new(&format!("__flytekit_condition{i}"), Span::mixed_site());
            conditions.push(quote!(let #temp = #condition;));
            let arm = self.arm(block);
            chain = quote_spanned!(cond.span()=> #chain.when(#temp, || #arm));
        }
        let end = match otherwise {
            None => quote_spanned!(top.if_token.span=> #chain.end()),
            Some(block) => match fail_message(&block) {
                Some(mut message) => {
                    self.visit_expr_mut(&mut message);
                    quote_spanned!(message.span()=> #chain.fail(#message))
                }
                None => {
                    let span = block.brace_token.span.join();
                    let arm = self.arm(block);
                    quote_spanned!(span=> #chain.otherwise(|| #arm))
                }
            },
        };
        Expr::Verbatim(quote!({ #(#conditions)* #end }))
    }

    /// A branch arm: a block of its own, whose names stay inside it.
    fn arm(&mut self, mut block: Block) -> TokenStream {
        let outer = self.arm.replace(HashSet::new());
        self.visit_block_mut(&mut block);
        self.arm = outer;
        block.to_token_stream()
    }

    /// A branch condition, as Flyte's conditions can say it: comparisons of placeholders and
    /// literals joined by `&&` and `||`, or a `bool` placeholder alone.
    fn condition(&mut self, cond: &Expr) -> TokenStream {
        let scope = self.scope;
        match cond {
            Expr::Paren(p) => self.condition(&p.expr),
            Expr::Group(g) => self.condition(&g.expr),
            Expr::Binary(b) if matches!(b.op, BinOp::And(_) | BinOp::Or(_)) => {
                let (left, right) = (self.condition(&b.left), self.condition(&b.right));
                let join = Ident::new(if matches!(b.op, BinOp::And(_)) { "and" } else { "or" }, b.op.span());
                quote!(::flytekit::__private::Condition::#join(#left, #right))
            }
            Expr::Binary(b) if is_comparison(&b.op) => {
                let (left, right) = (self.operand(&b.left), self.operand(&b.right));
                let op = Ident::new(comparison_name(&b.op), b.op.span());
                quote_spanned! {b.op.span()=>
                    ::flytekit::__private::compare(#scope, #left, ::flytekit::__private::Op::#op, #right)
                }
            }
            Expr::Unary(u) if matches!(u.op, UnOp::Not(_)) => {
                self.error(
                    &u.op,
                    "Flyte's conditions have no `!`: compare instead (`x == false`, or `<` for `>=`)",
                );
                quote!(::flytekit::__private::Condition::never())
            }
            Expr::Let(l) => {
                self.error(
                    &l.let_token,
                    "`if let` cannot test a run-time value: compare it instead (`x == 3`), which becomes a branch node",
                );
                quote!(::flytekit::__private::Condition::never())
            }
            other => {
                let operand = self.operand(other);
                quote_spanned!(other.span()=> ::flytekit::__private::truthy(#scope, #operand))
            }
        }
    }

    /// One side of a comparison: a placeholder (a name, a call, a part), or a value known while
    /// the graph is built.
    fn operand(&mut self, e: &Expr) -> TokenStream {
        let allowed = match e {
            Expr::Path(_) | Expr::Lit(_) | Expr::Call(_) | Expr::Index(_) | Expr::Paren(_) | Expr::Group(_) => true,
            Expr::Field(f) => matches!(f.member, syn::Member::Unnamed(_)),
            Expr::Unary(u) => matches!(u.op, UnOp::Neg(_)) && matches!(&*u.expr, Expr::Lit(_)),
            Expr::Reference(r) => matches!(&*r.expr, Expr::Lit(_)),
            _ => !self.mentions_placeholder(e) && !self.contains_task_call(e),
        };
        if !allowed {
            self.error(
                e,
                "a branch condition compares task outputs, workflow inputs and values known while the graph is built, with `==`, `!=`, `<`, `<=`, `>` or `>=`, joined by `&&` and `||` (or takes a `bool` output alone), as Flyte's conditions do: compute this in a task and compare its output",
            );
            return quote!(());
        }
        let mut e = e.clone();
        self.visit_expr_mut(&mut e);
        e.to_token_stream()
    }

    /// `vec![..]` with a placeholder or a call in it: a list binding, whose items may mix
    /// placeholders and literals (`vec![double(x), 1]`).
    fn placeholder_vec(&mut self, mac: &syn::Macro) -> Option<Expr> {
        if !mac.path.is_ident("vec") {
            return None;
        }
        let items = mac
            .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            .ok()?;
        if !items
            .iter()
            .any(|e| self.mentions_placeholder(e) || self.contains_task_call(e))
        {
            return None;
        }
        let scope = self.scope;
        let mut list = quote_spanned!(mac.path.span()=> ::flytekit::__private::List::new(#scope));
        for mut item in items {
            self.visit_expr_mut(&mut item);
            list = quote_spanned!(item.span()=> #list.push(#item));
        }
        Some(Expr::Verbatim(list))
    }

    /// `vec![..]`, `format!(..)`: a constant, checked like any other, when its body parses as
    /// expressions; otherwise refused only if it names a placeholder. A formatting macro must
    /// not format a placeholder, whether its format string captures it (`{x:?}`) or it is an
    /// argument (`"{}", x` or `n = x`).
    fn macro_value(&mut self, mac: &syn::Macro) {
        let exprs = mac
            .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            .map(|list| list.into_iter().collect::<Vec<_>>())
            .or_else(|_| {
                mac.parse_body_with(|input: syn::parse::ParseStream| {
                    let value: Expr = input.parse()?;
                    input.parse::<Token![;]>()?;
                    Ok(vec![value, input.parse()?])
                })
            });
        let name = macro_name(&mac.path);
        let at = format_at(&name);
        let format = at.and_then(|at| FormatString::of(at, mac.tokens.clone()));
        if let Some(format) = &format {
            self.check_captures(&name, format);
        }
        match exprs {
            Ok(exprs) => {
                for (i, e) in exprs.iter().enumerate() {
                    let formatted = format.as_ref().is_some_and(|f| i > f.index);
                    // A named argument's name is not a use of a placeholder of that name.
                    let e = match e {
                        Expr::Assign(a) if formatted && named_argument(a).is_some() => &a.right,
                        _ => e,
                    };
                    if !self.mentions_placeholder(e) {
                        self.check_constant(e);
                    } else if formatted {
                        self.cannot_format(e, &name, "format");
                    } else if at.is_some() && name.contains("assert") {
                        // A condition or an operand, which the macro also formats if the check fails.
                        self.cannot_format(e, &name, "check");
                    } else {
                        self.error(
                            e,
                            &format!("a placeholder cannot go inside `{name}![..]` while the graph is built: pass it to a task as an input and build the value there"),
                        );
                    }
                }
            }
            Err(_) => {
                if self.tokens_mention_placeholder(mac.tokens.clone()) {
                    self.macro_error(&mac.path);
                }
                self.check_nested_macros(mac.tokens.clone());
            }
        }
    }

    /// A format string must not capture a placeholder: `format!("{x:?}")` would format the
    /// placeholder, not the value, and hand a task its text. Spanned at the string, the finest
    /// span a macro can give inside a literal on stable Rust.
    fn check_captures(&mut self, macro_name: &str, format: &FormatString) {
        let value = format.lit.value();
        let mut seen = HashSet::new();
        for name in captures(&value) {
            if self.placeholders.contains(&name) && !format.named.contains(&name) && seen.insert(name.clone()) {
                self.error(&format.lit, &not_formattable(Some(&name), macro_name, "format"));
            }
        }
    }

    /// A placeholder given to a formatting macro (`format!("{}", x)`, `assert_eq!(x, 1)`).
    fn cannot_format(&mut self, arg: &Expr, macro_name: &str, verb: &str) {
        let name = match arg {
            Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
            _ => None,
        };
        self.error(arg, &not_formattable(name.as_deref(), macro_name, verb));
    }

    /// If `macro_name` is a formatting macro, its format string, checked for captures.
    fn check_format_string(&mut self, macro_name: &str, tokens: TokenStream) {
        if let Some(format) = format_at(macro_name).and_then(|at| FormatString::of(at, tokens)) {
            self.check_captures(macro_name, &format);
        }
    }

    /// The formatting macros among `tokens` (`vec![format!("{x}")]`), at any depth: their
    /// format strings, checked as the top-level macro's is.
    fn check_nested_macros(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tree) in tokens.iter().enumerate() {
            let TokenTree::Group(group) = tree else { continue };
            if let [.., TokenTree::Ident(name), TokenTree::Punct(bang)] = &tokens[..i] {
                if bang.as_char() == '!' {
                    self.check_format_string(&name.to_string(), group.stream());
                }
            }
            self.check_nested_macros(group.stream());
        }
    }

    fn refuse(&mut self, tokens: &dyn ToTokens, message: &str) -> Expr {
        self.error(tokens, message);
        Expr::Verbatim(quote!(()))
    }

    fn error(&mut self, tokens: &dyn ToTokens, message: &str) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    fn macro_error(&mut self, path: &syn::Path) {
        let name = macro_name(path);
        self.error(
            path,
            &format!("`{name}!` would run once, while the graph is built, not when the workflow executes: call it inside a task"),
        );
    }

    /// Whether `expr` is, as written, a placeholder or a tuple of them: a name holding one, a
    /// task or workflow call, a map, a branch, a part of one.
    fn is_placeholder(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(p) => p
                .path
                .get_ident()
                .is_some_and(|id| p.qself.is_none() && self.placeholders.contains(&id.to_string())),
            Expr::Call(c) => match &*c.func {
                Expr::Path(f) => {
                    let closure = f
                        .path
                        .get_ident()
                        .is_some_and(|id| self.closures.contains(&id.to_string()));
                    !closure && (f.path.is_ident("map") || call_kind(&f.path) == CallKind::Task)
                }
                _ => false,
            },
            Expr::Paren(p) => self.is_placeholder(&p.expr),
            Expr::Group(g) => self.is_placeholder(&g.expr),
            Expr::Tuple(t) => t.elems.iter().any(|e| self.is_placeholder(e)),
            Expr::If(i) if self.is_run_time(&i.cond) => true,
            Expr::If(i) => block_tail(&i.then_branch).is_some_and(|e| self.is_placeholder(e)),
            Expr::Block(b) => block_tail(&b.block).is_some_and(|e| self.is_placeholder(e)),
            Expr::MethodCall(m) if m.method == "after" => self.is_placeholder(&m.receiver),
            Expr::Index(i) => self.is_placeholder(&i.expr),
            Expr::Field(f) => matches!(f.member, syn::Member::Unnamed(_)) && self.is_placeholder(&f.base),
            _ => false,
        }
    }

    /// Whether some items are placeholders and others are not.
    fn mixes_placeholders<'e>(&self, items: impl IntoIterator<Item = &'e Expr>) -> bool {
        let kinds: HashSet<bool> = items.into_iter().map(|e| self.is_placeholder(e)).collect();
        kinds.len() > 1
    }

    /// Whether an `if` on `cond` is decided when the workflow runs: it reads a placeholder.
    fn is_run_time(&self, cond: &Expr) -> bool {
        self.mentions_placeholder(cond) || self.contains_task_call(cond)
    }

    fn mentions_placeholder(&self, expr: &Expr) -> bool {
        struct Finder<'b> {
            placeholders: &'b HashSet<String>,
            found: bool,
        }
        impl<'ast> Visit<'ast> for Finder<'_> {
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if let Some(id) = p.path.get_ident() {
                    self.found |= self.placeholders.contains(&id.to_string());
                }
            }
            fn visit_macro(&mut self, m: &'ast syn::Macro) {
                self.found |= tokens_mention(self.placeholders, m.tokens.clone());
            }
        }
        let mut finder = Finder {
            placeholders: &self.placeholders,
            found: false,
        };
        finder.visit_expr(expr);
        finder.found
    }

    /// Whether `expr` calls a task or workflow (or maps one) anywhere, closures included.
    fn contains_task_call(&self, expr: &Expr) -> bool {
        struct Finder<'b> {
            closures: &'b HashSet<String>,
            found: bool,
        }
        impl<'ast> Visit<'ast> for Finder<'_> {
            fn visit_expr_call(&mut self, c: &'ast ExprCall) {
                if let Expr::Path(p) = &*c.func {
                    let closure = p
                        .path
                        .get_ident()
                        .is_some_and(|id| self.closures.contains(&id.to_string()));
                    self.found |= !closure && call_kind(&p.path) == CallKind::Task;
                }
                syn::visit::visit_expr_call(self, c);
            }
        }
        let mut finder = Finder {
            closures: &self.closures,
            found: false,
        };
        finder.visit_expr(expr);
        finder.found
    }

    fn tokens_mention_placeholder(&self, tokens: TokenStream) -> bool {
        tokens_mention(&self.placeholders, tokens)
    }

    /// An expression inside a macro that stays as written is still checked: a task call nested
    /// in it would be a node whose placeholder is then used as a value, and a formatting macro
    /// in it (`Some(format!("{x}"))`) must not capture a placeholder.
    fn check_constant(&mut self, expr: &Expr) {
        #[derive(Default)]
        struct Nested {
            calls: Vec<ExprCall>,
            macros: Vec<syn::Macro>,
        }
        impl<'ast> Visit<'ast> for Nested {
            fn visit_expr_call(&mut self, c: &'ast ExprCall) {
                if matches!(&*c.func, Expr::Path(p) if call_kind(&p.path) == CallKind::Task) {
                    self.calls.push(c.clone());
                }
                syn::visit::visit_expr_call(self, c);
            }
            fn visit_macro(&mut self, m: &'ast syn::Macro) {
                self.macros.push(m.clone());
            }
        }
        let mut nested = Nested::default();
        nested.visit_expr(expr);
        for c in nested.calls {
            self.error(
                &c,
                "a task's output can only be passed as an argument, bound with `let`, put in a `vec![..]`, or returned: it cannot be put inside another macro's value",
            );
        }
        for m in nested.macros {
            self.check_format_string(&macro_name(&m.path), m.tokens.clone());
            self.check_nested_macros(m.tokens);
        }
    }

    /// A name bound by a pattern inside `f` (a closure's parameters, a loop's pattern) is a
    /// value of that construct, not whatever placeholder had the name outside.
    fn shadowed(&mut self, pats: &[&Pat], f: impl FnOnce(&mut Self)) {
        let saved = (self.placeholders.clone(), self.closures.clone());
        let mut names = Vec::new();
        for pat in pats {
            pattern_names(pat, &mut names);
        }
        for name in &names {
            self.placeholders.remove(name);
            self.closures.remove(name);
            if let Some(arm) = &mut self.arm {
                arm.insert(name.clone());
            }
        }
        f(self);
        (self.placeholders, self.closures) = saved;
    }
}

impl VisitMut for Body<'_> {
    fn visit_block_mut(&mut self, block: &mut Block) {
        let saved = (self.placeholders.clone(), self.closures.clone());
        let stmts = std::mem::take(&mut block.stmts);
        block.stmts = self.stmts(stmts);
        (self.placeholders, self.closures) = saved;
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let replacement = match expr {
            Expr::Call(call) => self.call(call),
            Expr::MethodCall(m) if m.method == "after" => Some(self.after(m)),
            Expr::MethodCall(m) if self.is_placeholder(&m.receiver) => Some(self.refuse(
                &m.method,
                &format!(
                    "a placeholder has no methods while the graph is built: `.{}()` would need its value, which exists only when the workflow runs; pass it to a task and call the method there (`.after(..)` orders two calls)",
                    m.method
                ),
            )),
            Expr::If(i) if self.is_run_time(&i.cond) => Some(self.branch(i)),
            Expr::Match(m) if self.is_run_time(&m.expr) => Some(self.refuse(
                &m.match_token,
                "`match` cannot branch on a run-time value: use `if` / `else if` on comparisons (they become a branch node), or match inside a task and return its result",
            )),
            Expr::ForLoop(f) if self.is_placeholder(&f.expr) => Some(self.refuse(
                &f.expr,
                "`for` cannot iterate over a placeholder: its elements exist only when the workflow runs. Run a task (or a workflow) once per element with `map(task, list)`, or shape the graph from run-time values in a #[dynamic] workflow",
            )),
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                let pat = (*f.pat).clone();
                self.shadowed(&[&pat], |body| body.visit_block_mut(&mut f.body));
                None
            }
            Expr::While(w) if self.is_run_time(&w.cond) => Some(self.refuse(
                &w.while_token,
                "`while` cannot loop on a run-time value: the body runs once to build the graph. Use `map(task, list)` to run a task per element, or a #[dynamic] workflow to shape the graph from run-time values",
            )),
            Expr::Closure(c) => {
                let pats: Vec<Pat> = c.inputs.iter().cloned().collect();
                let refs: Vec<&Pat> = pats.iter().collect();
                self.shadowed(&refs, |body| body.visit_expr_mut(&mut c.body));
                None
            }
            Expr::Index(i) if self.is_placeholder(&i.expr) && self.is_run_time(&i.index) => Some(self.refuse(
                &i.index,
                "a placeholder is indexed by a value known while the graph is built (a literal, a constant, a loop counter), not by another placeholder: index inside a task",
            )),
            Expr::Index(i) if self.is_placeholder(&i.expr) => {
                self.visit_expr_mut(&mut i.expr);
                self.visit_expr_mut(&mut i.index);
                let (scope, base, index) = (self.scope, &i.expr, &i.index);
                Some(Expr::Verbatim(quote_spanned! {i.bracket_token.span.join()=>
                    ::flytekit::__private::Index::index(#base, #scope, #index)
                }))
            }
            Expr::Field(f) if matches!(f.member, syn::Member::Named(_)) && self.is_placeholder(&f.base) => {
                Some(self.refuse(
                    &f.member,
                    "a placeholder has no fields while the graph is built: destructure a task's tuple output with `let (a, b) = task(..);`, or read the field inside a task",
                ))
            }
            Expr::Binary(b) if self.is_placeholder(&b.left) || self.is_placeholder(&b.right) => {
                let op = b.op.to_token_stream();
                let message = if is_comparison(&b.op) {
                    format!("a placeholder can be compared with `{op}` only in the condition of an `if`, which becomes a branch node: its value does not exist while the graph is built; to pass the comparison on, compute it in a task")
                } else {
                    format!("cannot do arithmetic on a placeholder with `{op}` in a #[workflow]: the value does not exist until the graph runs; do it inside a task that takes the value as an input")
                };
                Some(self.refuse(&b.op, &message))
            }
            Expr::Unary(u) if self.is_placeholder(&u.expr) => Some(self.refuse(
                &u.op,
                &format!(
                    "cannot apply `{}` to a placeholder in a #[workflow]: the value does not exist until the graph runs; do it inside a task",
                    u.op.to_token_stream()
                ),
            )),
            Expr::Assign(a) => {
                if let (Some(arm), Expr::Path(p)) = (&self.arm, &*a.left) {
                    if let Some(name) = p.path.get_ident().map(ToString::to_string) {
                        if !arm.contains(&name) {
                            self.error(
                                &a.left,
                                &format!("a branch arm cannot assign `{name}`, which is outside it: the arm's nodes run only if it is taken. Make the value the arm's result instead: `let {name} = if .. {{ task({name}) }} else {{ {name} }};`"),
                            );
                        }
                    }
                }
                let placeholder = self.is_placeholder(&a.right);
                if let Expr::Path(p) = &*a.left {
                    if let Some(name) = p.path.get_ident() {
                        set(&mut self.placeholders, &name.to_string(), placeholder);
                    }
                }
                self.visit_expr_mut(&mut a.right);
                None
            }
            Expr::Array(a) if self.mixes_placeholders(&a.elems) => Some(self.refuse(
                &a.elems,
                "an array's items have one type, and here placeholders and values mix: write `vec![..]`, whose items may be task outputs and literals alike",
            )),
            Expr::Struct(_) if self.mentions_placeholder(expr) || self.contains_task_call(expr) => Some(self.refuse(
                expr,
                "a placeholder cannot be put inside a struct while the graph is built: the value does not exist until the graph runs; pass it to a task as an input and build the struct there",
            )),
            Expr::Macro(m) => match self.placeholder_vec(&m.mac) {
                Some(list) => Some(list),
                None => {
                    let mac = m.mac.clone();
                    self.macro_value(&mac);
                    None
                }
            },
            Expr::Try(_) | Expr::Return(_) if self.dynamic => {
                visit_mut::visit_expr_mut(self, expr);
                None
            }
            Expr::Try(t) => Some(self.refuse(
                &t.question_token,
                "`?` has nothing to catch in a #[workflow]: errors happen in tasks, at run time, and the runtime reports them; remove the `?`",
            )),
            Expr::Return(r) => Some(self.refuse(
                &r.return_token,
                "`return` is not allowed in a #[workflow]: end the body with the placeholders to return, as its final expression",
            )),
            Expr::Let(l) if self.mentions_placeholder(&l.expr) => Some(self.refuse(
                &l.let_token,
                "`if let` cannot test a placeholder: its value exists only when the workflow runs; compare it instead (`x == 3`), which becomes a branch node",
            )),
            Expr::Async(_) | Expr::Await(_) | Expr::Unsafe(_) | Expr::Yield(_) | Expr::Const(_) | Expr::TryBlock(_) => {
                Some(self.refuse(
                    expr,
                    "a #[workflow] body builds the graph: `async`, `.await`, `unsafe` and `const` blocks belong inside a task",
                ))
            }
            _ => {
                visit_mut::visit_expr_mut(self, expr);
                None
            }
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
    }
}

/// The message of a branch's final `else` that only fails the run: `else { fail("..") }` with
/// a string literal, or `flytekit::fail(message)` with any message (a task named `fail` stays
/// callable: `else { fail(x) }`).
fn fail_message(block: &Block) -> Option<Expr> {
    let [Stmt::Expr(Expr::Call(call), _)] = &block.stmts[..] else {
        return None;
    };
    let Expr::Path(p) = &*call.func else { return None };
    let [message] = call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let literal = matches!(
        message,
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(_),
            ..
        })
    );
    let segments: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
    match segments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["fail"] if literal => Some(message.clone()),
        ["flytekit", "fail"] => Some(message.clone()),
        _ => None,
    }
}

fn block_tail(block: &Block) -> Option<&Expr> {
    match block.stmts.last() {
        Some(Stmt::Expr(e, None)) => Some(e),
        _ => None,
    }
}

/// Whether the value is a call's output, whose tuple slots a nested pattern takes apart.
fn is_call(expr: &Expr) -> bool {
    match expr {
        Expr::Call(_) | Expr::If(_) => true,
        Expr::MethodCall(m) => m.method == "after" && is_call(&m.receiver),
        Expr::Paren(p) => is_call(&p.expr),
        _ => false,
    }
}

fn has_nested_tuple(pat: &Pat) -> bool {
    match strip_type(pat) {
        Pat::Tuple(t) => t.elems.iter().any(|p| matches!(strip_paren(p), Pat::Tuple(_))),
        _ => false,
    }
}

fn strip_type(pat: &Pat) -> &Pat {
    match pat {
        Pat::Type(t) => &t.pat,
        other => other,
    }
}

fn strip_paren(pat: &Pat) -> &Pat {
    match pat {
        Pat::Paren(p) => &p.pat,
        other => other,
    }
}

/// The names a pattern binds.
fn pattern_names(pat: &Pat, names: &mut Vec<String>) {
    struct Names<'n>(&'n mut Vec<String>);
    impl<'ast> Visit<'ast> for Names<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.0.push(p.ident.to_string());
            syn::visit::visit_pat_ident(self, p);
        }
        // A path in a pattern (`None`, `Kind::A`) binds nothing; a type holds no names.
        fn visit_type(&mut self, _: &'ast Type) {}
    }
    Names(names).visit_pat(pat);
}

fn set(names: &mut HashSet<String>, name: &str, member: bool) {
    if member {
        names.insert(name.to_owned());
    } else {
        names.remove(name);
    }
}

fn macro_name(path: &syn::Path) -> String {
    path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default()
}

/// The placeholder type for a value type written in a `let`: `u64` is `Promise<u64>`, tuples
/// map element-wise, and `Promise<T>` or `_` stay as written.
fn promised(ty: &Type) -> TokenStream {
    match ty {
        Type::Tuple(t) => {
            let elems = t.elems.iter().map(promised);
            quote!((#(#elems,)*))
        }
        Type::Paren(p) => promised(&p.elem),
        Type::Infer(_) => ty.to_token_stream(),
        Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Promise") => ty.to_token_stream(),
        _ => quote_spanned!(ty.span()=> ::flytekit::Promise<#ty>),
    }
}

#[derive(PartialEq)]
enum CallKind {
    /// `task(..)`, `module::task(..)`.
    Task,
    /// `Some(..)`, `Point(..)`: capitalised, by Rust's naming convention (which `#[task]`
    /// enforces on task names).
    Constructor,
    /// `String::from(..)`, `Vec::new()`: a function of a type.
    Associated,
}

fn call_kind(path: &syn::Path) -> CallKind {
    let capitalised = |s: &syn::PathSegment| s.ident.to_string().starts_with(|c: char| c.is_uppercase());
    let mut segments = path.segments.iter().rev();
    if segments.next().is_some_and(capitalised) {
        CallKind::Constructor
    } else if segments.any(capitalised) {
        CallKind::Associated
    } else {
        CallKind::Task
    }
}

fn is_comparison(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq(_) | BinOp::Ne(_) | BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_)
    )
}

/// The runtime's name for a comparison, as Flyte's `ComparisonExpression` has them.
fn comparison_name(op: &BinOp) -> &'static str {
    match op {
        BinOp::Eq(_) => "Eq",
        BinOp::Ne(_) => "Ne",
        BinOp::Lt(_) => "Lt",
        BinOp::Le(_) => "Le",
        BinOp::Gt(_) => "Gt",
        _ => "Ge",
    }
}

fn tokens_mention(placeholders: &HashSet<String>, tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(id) => placeholders.contains(&id.to_string()),
        TokenTree::Group(g) => tokens_mention(placeholders, g.stream()),
        _ => false,
    })
}

/// The key of a `key = value` option, or the option itself when it is not one.
fn option_key(option: &Expr) -> &Expr {
    match option {
        Expr::Assign(a) => &a.left,
        other => other,
    }
}

/// `concurrency = N`: an integer literal of at least 1.
fn map_concurrency(value: &Expr) -> syn::Result<TokenStream> {
    let message = "`concurrency` takes an integer literal of at least 1: at most that many elements run at once";
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i), ..
        }) => match i.base10_parse::<usize>() {
            Ok(n) if n >= 1 => Ok(quote!(#n)),
            _ => Err(syn::Error::new_spanned(value, message)),
        },
        _ => Err(syn::Error::new_spanned(
            value,
            format!("{message}; write `concurrency = 4`"),
        )),
    }
}

/// `min_success_ratio = R`: a literal from 0 to 1.
fn map_ratio(value: &Expr) -> syn::Result<TokenStream> {
    let message = "`min_success_ratio` takes a number from 0 to 1, the share of elements that must succeed: write `min_success_ratio = 0.9`";
    let ratio = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) => f.base10_parse::<f64>().ok(),
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i), ..
        }) => i.base10_parse::<u8>().ok().map(f64::from),
        _ => None,
    };
    match ratio {
        Some(r) if (0.0..=1.0).contains(&r) => Ok(quote!(#r)),
        _ => Err(syn::Error::new_spanned(value, message)),
    }
}
