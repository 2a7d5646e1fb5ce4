//! Stage 1: parse the attribute's options (`#[task(retries = 3)]`).

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, Token};

use crate::Errors;

/// The options `#[task]` accepts, in the order the error message lists them.
const TASK_KEYS: &[&str] = &["retries"];

/// Flyte caps retries at 10.
const MAX_RETRIES: u32 = 10;

/// The options of one `#[task(...)]`.
#[derive(Default)]
pub struct TaskAttr {
    pub retries: u32,
}

pub fn task(args: TokenStream, errors: &mut Errors) -> TaskAttr {
    let mut attr = TaskAttr::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}: #[task] options are written `key = value`, like #[task(retries = 3)]"),
            ));
            return attr;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let key = meta.path().get_ident().map(ToString::to_string).unwrap_or_default();
        if !TASK_KEYS.contains(&key.as_str()) {
            errors.push(syn::Error::new_spanned(meta.path(), unknown_key(&key)));
            continue;
        }
        if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(
                meta.path(),
                format!("duplicate #[task] option `{key}`: set it once"),
            ));
            continue;
        }
        seen.push(key);
        let value = match &meta {
            Meta::NameValue(nv) => &nv.value,
            _ => {
                errors.push(syn::Error::new_spanned(
                    &meta,
                    "`retries` needs a value: write `retries = 3` (an integer from 0 to 10)",
                ));
                continue;
            }
        };
        match retries(value) {
            Ok(n) => attr.retries = n,
            Err(e) => errors.push(e),
        }
    }
    attr
}

fn retries(value: &Expr) -> syn::Result<u32> {
    let range = format!("`retries` takes an integer from 0 to {MAX_RETRIES}, as Flyte caps it");
    let Expr::Lit(lit) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("{range}; write a literal like `retries = 3`"),
        ));
    };
    let Lit::Int(int) = &lit.lit else {
        return Err(syn::Error::new_spanned(value, format!("{range}, like `retries = 3`")));
    };
    match int.base10_parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("{range}; `{}` is out of range", int.base10_digits()),
        )),
    }
}

fn unknown_key(key: &str) -> String {
    let valid = TASK_KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut msg = format!("unknown #[task] option `{key}`; valid options are: {valid}");
    if let Some(near) = TASK_KEYS.iter().find(|k| edit_distance(k, key) <= 3) {
        msg.push_str(&format!(" (did you mean `{near}`?)"));
    }
    msg
}

/// `#[workflow]` has no options yet; anything inside its parentheses is an error.
pub fn workflow(args: TokenStream, errors: &mut Errors) {
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            args,
            "#[workflow] takes no options: write `#[workflow]`, and put retries and other options on each #[task]",
        ));
    }
}

/// Levenshtein distance, for "did you mean" hints on short keys (`retry` is 3 from `retries`).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (TaskAttr, Vec<String>) {
        let mut errors = Errors::new();
        let attr = task(tokens, &mut errors);
        (attr, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn retries_within_flytes_cap() {
        assert_eq!(parse(quote!()).0.retries, 0);
        assert_eq!(parse(quote!(retries = 10)).0.retries, 10);
        let (_, errors) = parse(quote!(retries = 11));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("from 0 to 10") && errors[0].contains("`11` is out of range"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_bad_option_is_reported_at_once() {
        let (_, errors) = parse(quote!(retry = 3, retries = "3", retries = 1, timeout = 5));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("did you mean `retries`?"), "{errors:?}");
        assert!(errors[1].contains("like `retries = 3`"), "{errors:?}");
        assert!(errors[2].contains("duplicate #[task] option `retries`"), "{errors:?}");
        assert!(errors[3].contains("valid options are: `retries`") && !errors[3].contains("did you mean"));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("retries", "retries"), 0);
        assert_eq!(edit_distance("retries", "retry"), 3);
        assert_eq!(edit_distance("retries", "entries"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
