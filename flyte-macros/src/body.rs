//! The `#[workflow]` body: checked and rewritten in one walk, because the two need the same
//! knowledge of which names are placeholders.
//!
//! The body runs once, to build the graph. A call `task(args)` becomes "add a node, get
//! placeholders"; parameters and task outputs are placeholders; literals and constants pass
//! through and become literal inputs. Anything that would need a value at build time (`if`,
//! arithmetic, method calls on a placeholder, ...) is an error that says where to move it.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{BinOp, Block, Expr, ExprCall, Pat, Stmt, Token, Type};

use crate::Errors;

pub struct Body<'a> {
    placeholders: HashSet<String>,
    scope: &'a Ident,
    errors: &'a mut Errors,
}

/// What an expression is once the graph is built.
#[derive(PartialEq)]
enum Kind {
    /// A placeholder (or a tuple of them): a value that exists only at run time.
    Placeholder,
    /// A value known while the graph is built: a literal, a constant.
    Constant,
}

impl<'a> Body<'a> {
    pub fn new(params: impl IntoIterator<Item = String>, scope: &'a Ident, errors: &'a mut Errors) -> Self {
        Body {
            placeholders: params.into_iter().collect(),
            scope,
            errors,
        }
    }

    /// The rewritten statements, and the tail expression (`()` if there is none).
    pub fn block(&mut self, block: &Block) -> (Vec<TokenStream>, TokenStream) {
        let mut stmts = Vec::new();
        let mut tail = None;
        let last = block.stmts.len().saturating_sub(1);
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Local(local) => stmts.push(self.local(local)),
                Stmt::Expr(e, None) if i == last => tail = Some(self.expr(e).0),
                Stmt::Expr(e, semi) => {
                    let e = self.expr(e).0;
                    stmts.push(quote!(#e #semi));
                }
                Stmt::Item(item) => self.error(
                    item,
                    "items cannot be defined inside a #[workflow] body: define them outside the workflow",
                ),
                Stmt::Macro(m) => self.macro_error(&m.mac.path),
            }
        }
        let tail = tail.unwrap_or_else(|| quote_spanned!(block.brace_token.span.close()=> ()));
        (stmts, tail)
    }

    fn local(&mut self, local: &syn::Local) -> TokenStream {
        let Some(init) = &local.init else {
            self.error(local, "a `let` in a #[workflow] needs a value: `let x = task(..);`");
            return TokenStream::new();
        };
        if let Some((_, diverge)) = &init.diverge {
            self.error(
                diverge,
                "`let ... else` cannot test a placeholder: a #[workflow] body runs before any value exists",
            );
        }
        let (value, kind) = self.expr(&init.expr);
        let mut names = Vec::new();
        self.pattern(&local.pat, &mut names);
        for name in names {
            if kind == Kind::Placeholder {
                self.placeholders.insert(name);
            } else {
                self.placeholders.remove(&name);
            }
        }
        let pat = match &local.pat {
            // `let y: u64 = task(..)` reads naturally; what `y` holds is a `Promise<u64>`.
            Pat::Type(typed) if kind == Kind::Placeholder => {
                let (inner, ty) = (&typed.pat, promised(&typed.ty));
                quote!(#inner: #ty)
            }
            other => other.to_token_stream(),
        };
        quote!(let #pat = #value;)
    }

    /// Names bound by a `let` pattern: a name, `_`, or tuples of those.
    fn pattern(&mut self, pat: &Pat, names: &mut Vec<String>) {
        match pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => names.push(p.ident.to_string()),
            Pat::Wild(_) => {}
            Pat::Tuple(t) => t.elems.iter().for_each(|p| self.pattern(p, names)),
            Pat::Type(t) => self.pattern(&t.pat, names),
            Pat::Paren(p) => self.pattern(&p.pat, names),
            other => self.error(
                other,
                "only names and tuples of names can be bound in a #[workflow]: write `let x = task(..);` or `let (a, b) = task(..);`",
            ),
        }
    }

    fn expr(&mut self, expr: &Expr) -> (TokenStream, Kind) {
        match expr {
            Expr::Call(call) => self.call(call),
            Expr::Path(p) => {
                let kind = match p.path.get_ident() {
                    Some(id) if p.qself.is_none() && self.placeholders.contains(&id.to_string()) => Kind::Placeholder,
                    _ => Kind::Constant,
                };
                (expr.to_token_stream(), kind)
            }
            Expr::Lit(_) => (expr.to_token_stream(), Kind::Constant),
            Expr::Paren(p) => {
                let (inner, kind) = self.expr(&p.expr);
                (quote!((#inner)), kind)
            }
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Tuple(t) => {
                let mut kind = Kind::Constant;
                let elems: Vec<_> = t
                    .elems
                    .iter()
                    .map(|e| {
                        let (e, k) = self.expr(e);
                        if k == Kind::Placeholder {
                            kind = Kind::Placeholder;
                        }
                        e
                    })
                    .collect();
                (quote!((#(#elems,)*)), kind)
            }
            Expr::If(e) => self.refuse(
                &e.if_token,
                "`if` cannot branch inside a #[workflow]: the body runs once to build the graph, before any task has produced a value; make the decision inside a task and return its result",
            ),
            Expr::Match(e) => self.refuse(
                &e.match_token,
                "`match` cannot branch inside a #[workflow]: the body runs once to build the graph, before any task has produced a value; match inside a task and return its result",
            ),
            Expr::ForLoop(e) => self.refuse(&e.for_token, LOOP),
            Expr::While(e) => self.refuse(&e.while_token, LOOP),
            Expr::Loop(e) => self.refuse(&e.loop_token, LOOP),
            Expr::MethodCall(m) => self.refuse(
                &m.method,
                &format!(
                    "method calls are not allowed in a #[workflow]: `.{}()` would run once while the graph is built, not when it executes; pass a literal as it is (`\"text\"` works where a `String` is expected), or call the method inside a task",
                    m.method
                ),
            ),
            Expr::Field(f) if self.mentions_placeholder(&f.base) => self.refuse(
                &f.member,
                "a placeholder has no fields while the graph is built: destructure a task's tuple output with `let (a, b) = task(..);`, or read the field inside a task",
            ),
            Expr::Binary(b) if self.mentions_placeholder(expr) => {
                let op = b.op.to_token_stream();
                let what = if is_comparison(&b.op) { "compare" } else { "do arithmetic on" };
                self.refuse(
                    &b.op,
                    &format!("cannot {what} a placeholder with `{op}` in a #[workflow]: the value does not exist until the graph runs; do it inside a task that takes the value as an input"),
                )
            }
            Expr::Unary(u) if self.mentions_placeholder(expr) => self.refuse(
                &u.op,
                &format!(
                    "cannot apply `{}` to a placeholder in a #[workflow]: the value does not exist until the graph runs; do it inside a task",
                    u.op.to_token_stream()
                ),
            ),
            Expr::Try(t) => self.refuse(
                &t.question_token,
                "`?` has nothing to catch in a #[workflow]: errors happen in tasks, at run time, and the runtime reports them; remove the `?`",
            ),
            Expr::Return(r) => self.refuse(
                &r.return_token,
                "`return` is not allowed in a #[workflow]: end the body with the placeholders to return, as its final expression",
            ),
            Expr::Macro(m) => self.macro_value(&m.mac),
            Expr::Closure(_) | Expr::Block(_) | Expr::Async(_) | Expr::Await(_) | Expr::Assign(_) | Expr::Unsafe(_) | Expr::Let(_) | Expr::Break(_) | Expr::Continue(_) | Expr::Yield(_) | Expr::Const(_) | Expr::TryBlock(_) => self.refuse(
                expr,
                "a #[workflow] body may only bind task outputs with `let`, call tasks and workflows, and return placeholders; move this code into a task",
            ),
            // Constants: literals, arrays, structs, casts, ranges, macros like `vec![..]`.
            other => {
                if self.mentions_placeholder(other) {
                    self.refuse(
                        other,
                        "a placeholder cannot be used inside this expression: the value does not exist until the graph runs; pass it to a task as an input and build the value there",
                    )
                } else {
                    self.check_constant(other);
                    (other.to_token_stream(), Kind::Constant)
                }
            }
        }
    }

    /// `task(args)` becomes a node; `Some(..)`, `Point(..)` stay constants; `Type::f(..)` is
    /// refused, because it would run while the graph is built.
    fn call(&mut self, call: &ExprCall) -> (TokenStream, Kind) {
        let Expr::Path(func) = &*call.func else {
            return self.refuse(
                &call.func,
                "only tasks and workflows can be called in a #[workflow], by name: `task(..)`",
            );
        };
        if func.path.is_ident("map") {
            return self.map(call);
        }
        match call_kind(&func.path) {
            CallKind::Constructor => {
                if call.args.iter().any(|a| self.mentions_placeholder(a)) {
                    return self.refuse(
                        call,
                        "a placeholder cannot be wrapped in a value while the graph is built: have the task take the inner value, or build the value inside a task",
                    );
                }
                for arg in &call.args {
                    self.check_constant(arg);
                }
                return (call.to_token_stream(), Kind::Constant);
            }
            CallKind::Associated => {
                let name = func.path.to_token_stream().to_string().replace(' ', "");
                return self.refuse(
                    func,
                    &format!("`{name}(..)` is not a task: it would run once while the graph is built, not when the workflow executes; pass a literal instead (`\"text\"` for a `String`, `vec![..]` for a `Vec`), or compute the value inside a task"),
                );
            }
            CallKind::Task => {}
        }
        let args: Vec<_> = call.args.iter().map(|a| self.expr(a).0).collect();
        let scope = self.scope;
        let span = func.span();
        let method = Ident::new("call", span);
        // The user's parentheses, so that rustc's "provide the argument" fix lands in them.
        let mut args = Group::new(Delimiter::Parenthesis, quote!(#(#args),*));
        args.set_span(call.paren_token.span.join());
        let out = quote_spanned! {span=>
            ::flytekit::__private::binder(&#func, #scope).#method #args
        };
        (out, Kind::Placeholder)
    }

    /// `map(task, list, concurrency = 4, min_success_ratio = 0.9)`: one node that runs `task`
    /// on every element of `list`. The options are written as assignments, like flytekit's
    /// keyword arguments; a `min_success_ratio` makes the output `Vec<Option<T>>`, since failed
    /// elements have no value.
    fn map(&mut self, call: &ExprCall) -> (TokenStream, Kind) {
        const USAGE: &str =
            "write `map(task, list)`, optionally followed by `concurrency = 4` and `min_success_ratio = 0.9`";
        let mut args = call.args.iter();
        let (Some(task), Some(list)) = (args.next(), args.next()) else {
            return self.refuse(call, &format!("`map` needs a task and a list: {USAGE}"));
        };
        let Expr::Path(task_path) = task else {
            return self.refuse(
                task,
                &format!("the first argument of `map` is a #[task], by name: {USAGE}"),
            );
        };
        let (list, _) = self.expr(list);
        let mut concurrency: Option<TokenStream> = None;
        let mut ratio: Option<TokenStream> = None;
        for option in args {
            let Expr::Assign(assign) = option else {
                self.error(
                    option,
                    &format!("`map` takes a task, a list, then options as `key = value`: {USAGE}"),
                );
                continue;
            };
            let key = match &*assign.left {
                Expr::Path(p) => p.path.get_ident().map(ToString::to_string).unwrap_or_default(),
                _ => String::new(),
            };
            let slot = match key.as_str() {
                "concurrency" => &mut concurrency,
                "min_success_ratio" => &mut ratio,
                _ => {
                    self.error(
                        &assign.left,
                        "unknown `map` option: the options are `concurrency = N` (at most N elements at once) and `min_success_ratio = R` (the share of elements that must succeed, from 0 to 1)",
                    );
                    continue;
                }
            };
            if slot.is_some() {
                self.error(&assign.left, &format!("duplicate `map` option `{key}`: set it once"));
                continue;
            }
            let value = if key == "concurrency" {
                map_concurrency(&assign.right)
            } else {
                map_ratio(&assign.right)
            };
            match value {
                Ok(v) => *slot = Some(v),
                Err(e) => self.errors.push(e),
            }
        }
        let scope = self.scope;
        let span = task_path.span();
        let concurrency = match concurrency {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        let out = match ratio {
            Some(r) => quote_spanned! {span=>
                ::flytekit::__private::map_some(&#task_path, #scope, #list, #concurrency, #r)
            },
            None => quote_spanned! {span=>
                ::flytekit::__private::map(&#task_path, #scope, #list, #concurrency)
            },
        };
        (out, Kind::Placeholder)
    }

    /// `vec![..]`, `format!(..)`: a constant, checked like any other, when its body parses as
    /// expressions; otherwise refused only if it names a placeholder. A formatting macro must
    /// not format a placeholder, whether its format string captures it (`{x:?}`) or it is an
    /// argument (`"{}", x` or `n = x`).
    fn macro_value(&mut self, mac: &syn::Macro) -> (TokenStream, Kind) {
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
        (mac.to_token_stream(), Kind::Constant)
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

    fn refuse(&mut self, tokens: &dyn ToTokens, message: &str) -> (TokenStream, Kind) {
        self.error(tokens, message);
        (quote!(()), Kind::Constant)
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

    fn tokens_mention_placeholder(&self, tokens: TokenStream) -> bool {
        tokens_mention(&self.placeholders, tokens)
    }

    /// An expression that stays as written, a constant, is still checked: a task call nested
    /// in it (`[task(x), 1]`) would be a node whose placeholder is then used as a value, and a
    /// formatting macro in it (`Some(format!("{x}"))`) must not capture a placeholder.
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
                "a task's output can only be passed directly as an argument, bound with `let`, or returned: it cannot be put inside another value",
            );
        }
        for m in nested.macros {
            self.check_format_string(&macro_name(&m.path), m.tokens.clone());
            self.check_nested_macros(m.tokens);
        }
    }
}

fn macro_name(path: &syn::Path) -> String {
    path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default()
}

/// The message for a placeholder that a formatting macro would format (or check).
fn not_formattable(placeholder: Option<&str>, macro_name: &str, verb: &str) -> String {
    let (subject, it) = match placeholder {
        Some(name) => (format!("`{name}` is a placeholder for"), format!("`{name}`")),
        None => ("a placeholder stands for".to_string(), "it".to_string()),
    };
    format!("{subject} a value that exists only when the workflow runs: `{macro_name}!` cannot {verb} it while the graph is built; pass {it} to a #[task] and {verb} it there")
}

/// Where a formatting macro's format string is among its comma-separated arguments.
#[derive(Clone, Copy)]
enum FormatAt {
    Arg(usize),
    /// The first string literal: `tracing`'s and `log`'s macros may put a target, a level or
    /// fields before it.
    FirstString,
}

/// The formatting macros of std, `tracing`, `log` and `anyhow`, by their last path segment.
fn format_at(macro_name: &str) -> Option<FormatAt> {
    match macro_name {
        "format" | "format_args" | "print" | "println" | "eprint" | "eprintln" | "panic" | "unreachable" | "todo"
        | "unimplemented" => Some(FormatAt::Arg(0)),
        "write" | "writeln" | "assert" | "debug_assert" => Some(FormatAt::Arg(1)),
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => Some(FormatAt::Arg(2)),
        "trace" | "debug" | "info" | "warn" | "error" | "event" | "log" | "anyhow" | "bail" | "ensure"
        | "format_err" => Some(FormatAt::FirstString),
        _ => None,
    }
}

/// The format string of a formatting macro's invocation, and where it is among the arguments.
struct FormatString {
    lit: syn::LitStr,
    /// Its index among the comma-separated arguments; the ones after it are formatted.
    index: usize,
    /// The names that `name = value` arguments give, which a `{name}` refers to.
    named: HashSet<String>,
}

impl FormatString {
    /// `None` if the invocation has no format string, or one that is not a string literal.
    fn of(at: FormatAt, tokens: TokenStream) -> Option<FormatString> {
        let args = macro_args(tokens);
        let is_string = |arg: &Option<Expr>| {
            matches!(
                arg,
                Some(Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(_),
                    ..
                }))
            )
        };
        let index = match at {
            FormatAt::Arg(i) => i,
            FormatAt::FirstString => args.iter().position(is_string)?,
        };
        let Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        })) = args.get(index)?
        else {
            return None;
        };
        let named = args[index + 1..]
            .iter()
            .filter_map(|arg| match arg {
                Some(Expr::Assign(a)) => named_argument(a),
                _ => None,
            })
            .collect();
        Some(FormatString {
            lit: lit.clone(),
            index,
            named,
        })
    }
}

/// `name = value` in a formatting macro: the name.
fn named_argument(assign: &syn::ExprAssign) -> Option<String> {
    match &*assign.left {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

/// A macro's comma-separated arguments: each an expression where it parses as one, `None` where
/// it does not (`target: "t"` or `?x` in `tracing`'s macros).
fn macro_args(tokens: TokenStream) -> Vec<Option<Expr>> {
    let parser = |input: ParseStream| {
        let mut args = Vec::new();
        while !input.is_empty() {
            let fork = input.fork();
            match fork.parse::<Expr>() {
                Ok(e) if fork.is_empty() || fork.peek(Token![,]) => {
                    input.advance_to(&fork);
                    args.push(Some(e));
                }
                _ => {
                    input.step(|cursor| {
                        let mut rest = *cursor;
                        while let Some((tree, next)) = rest.token_tree() {
                            if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                                break;
                            }
                            rest = next;
                        }
                        Ok(((), rest))
                    })?;
                    args.push(None);
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    };
    parser.parse2(tokens).unwrap_or_default()
}

/// The names a format string captures from the scope: `x` in `{x}`, `{x:?}`, `{x:>8}`, and in
/// a width or precision taken from a name (`{:w$}`, `{:.p$}`). `{{` is a brace; `{}`, `{0}`
/// and `{:1$}` are positional.
fn captures(format: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            continue;
        }
        let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
        let (argument, options) = spec.split_once(':').unwrap_or((&spec, ""));
        let mut candidates = vec![argument.trim()];
        // Each piece before a `$` ends with a width or precision argument.
        let pieces: Vec<&str> = options.split('$').collect();
        for piece in &pieces[..pieces.len() - 1] {
            let start = piece
                .char_indices()
                .rev()
                .take_while(|&(_, c)| c.is_alphanumeric() || c == '_')
                .last()
                .map_or(piece.len(), |(i, _)| i);
            candidates.push(&piece[start..]);
        }
        for name in candidates {
            let is_name = name.starts_with(|c: char| c.is_alphabetic() || c == '_') && name != "_";
            if is_name {
                names.push(name.to_string());
            }
        }
    }
    names
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

const LOOP: &str = "loops are not allowed in a #[workflow]: the body runs once to build the graph, before any value exists; loop inside a task";

fn is_comparison(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_)
            | BinOp::And(_)
            | BinOp::Or(_)
    )
}

fn tokens_mention(placeholders: &HashSet<String>, tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(id) => placeholders.contains(&id.to_string()),
        TokenTree::Group(g) => tokens_mention(placeholders, g.stream()),
        _ => false,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn captures_are_the_names_a_format_string_takes_from_the_scope() {
        assert_eq!(captures("{x} {y:?} {z:>8} {w:#?}"), ["x", "y", "z", "w"]);
        assert_eq!(captures("{:w$} {:.p$} {v:>w2$.p2$}"), ["w", "p", "v", "w2", "p2"]);
        assert_eq!(captures("{_x} {é}"), ["_x", "é"]);
        // Escaped braces, positional arguments, and `_` (not a name) capture nothing.
        assert!(captures("{{x}} {} {0} {:?} {1:>2$} {:_<5} }}").is_empty());
        assert!(captures("{_}").is_empty());
        // An unclosed brace is rustc's to report.
        assert_eq!(captures("{x"), ["x"]);
    }

    #[test]
    fn the_format_string_of_each_kind_of_formatting_macro() {
        let find = |name: &str, tokens: TokenStream| {
            let at = format_at(name)?;
            FormatString::of(at, tokens).map(|f| (f.lit.value(), f.index, f.named.into_iter().collect::<Vec<_>>()))
        };
        let text = |s: &str| s.to_string();
        assert_eq!(
            find("format", quote!("{x}", n = 1)),
            Some((text("{x}"), 0, vec![text("n")]))
        );
        assert_eq!(find("writeln", quote!(out, "{x}")), Some((text("{x}"), 1, vec![])));
        assert_eq!(
            find("assert_eq", quote!(f::<A, B>(), "a", "{x}")),
            Some((text("{x}"), 2, vec![]))
        );
        // `target: ..` and `?y` are not expressions: the message is the first string argument.
        assert_eq!(
            find("info", quote!(target: "t", ?y, "{x}")),
            Some((text("{x}"), 2, vec![]))
        );
        assert_eq!(find("info", quote!(?y, n = %z, "{x}")), Some((text("{x}"), 2, vec![])));
        // Not a formatting macro, no format string, or one that is not a literal.
        assert_eq!(find("vec", quote!("{x}")), None);
        assert_eq!(find("assert", quote!(x == 1)), None);
        assert_eq!(find("format", quote!(concat!("{", "x}"))), None);
    }
}
