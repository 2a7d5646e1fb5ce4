//! Formatting macros in a workflow body (`format!`, `println!`, `assert!`, `tracing`'s and
//! `log`'s, ...): where their format string is, and which names it captures, so that the body
//! check can refuse a placeholder formatted while the graph is built.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Token};

/// The message for a placeholder that a formatting macro would format (or check).
pub fn not_formattable(placeholder: Option<&str>, macro_name: &str, verb: &str) -> String {
    let (subject, it) = match placeholder {
        Some(name) => (format!("`{name}` is a placeholder for"), format!("`{name}`")),
        None => ("a placeholder stands for".to_string(), "it".to_string()),
    };
    format!("{subject} a value that exists only when the workflow runs: `{macro_name}!` cannot {verb} it while the graph is built; pass {it} to a #[task] and {verb} it there")
}

/// Where a formatting macro's format string is among its comma-separated arguments.
#[derive(Clone, Copy)]
pub enum FormatAt {
    Arg(usize),
    /// The first string literal: `tracing`'s and `log`'s macros may put a target, a level or
    /// fields before it.
    FirstString,
}

/// The formatting macros of std, `tracing`, `log` and `anyhow`, by their last path segment.
pub fn format_at(macro_name: &str) -> Option<FormatAt> {
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
pub struct FormatString {
    pub lit: syn::LitStr,
    /// Its index among the comma-separated arguments; the ones after it are formatted.
    pub index: usize,
    /// The names that `name = value` arguments give, which a `{name}` refers to.
    pub named: HashSet<String>,
}

impl FormatString {
    /// `None` if the invocation has no format string, or one that is not a string literal.
    pub fn of(at: FormatAt, tokens: TokenStream) -> Option<FormatString> {
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
pub fn named_argument(assign: &syn::ExprAssign) -> Option<String> {
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
pub fn captures(format: &str) -> Vec<String> {
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
