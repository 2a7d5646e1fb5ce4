//! Stage 1: parse the attribute's options (`#[task(retries = 3)]`).

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Meta, Path, Token};

use crate::Errors;

/// The options `#[task]` accepts, in the order the error message lists them.
const TASK_KEYS: &[&str] = &["retries", "cache", "cache_version"];

/// Flyte caps retries at 10.
const MAX_RETRIES: u32 = 10;

/// The options of one `#[task(...)]`.
///
/// Caching takes two keys, as in Flyte: `cache = true` turns it on and `cache_version = "1"`
/// is part of the cache key, bumped when the task's behaviour changes. Either one without the
/// other is an error (`cache = true` alone would cache under a version nobody chose;
/// `cache_version` alone would look like caching but do nothing). `cache = false` with a
/// version is accepted and caches nothing: it is the switch that turns caching off for a while
/// and keeps the version to turn it back on.
#[derive(Default)]
pub struct TaskAttr {
    pub retries: u32,
    /// The cache version when `cache = true`; `None` when the task is not cached.
    pub cache_version: Option<String>,
}

/// What one key was set to, with the key's path for errors that span it. `value` is `None`
/// when the value was invalid (already reported), so that no second error follows from it.
struct Setting<T> {
    path: Path,
    value: Option<T>,
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
    let mut cache: Option<Setting<bool>> = None;
    let mut cache_version: Option<Setting<String>> = None;
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
        let path = meta.path().clone();
        let value = match &meta {
            Meta::NameValue(nv) => Some(&nv.value),
            _ => {
                errors.push(syn::Error::new_spanned(
                    &meta,
                    format!("`{key}` needs a value: write {}", example(&key)),
                ));
                None
            }
        };
        match key.as_str() {
            "retries" => attr.retries = parse(value, retries, errors).unwrap_or(0),
            "cache" => {
                let value = parse(value, cache_flag, errors);
                cache = Some(Setting { path, value });
            }
            _ => {
                let value = parse(value, version, errors);
                cache_version = Some(Setting { path, value });
            }
        }
        seen.push(key);
    }
    attr.cache_version = caching(cache, cache_version, errors);
    attr
}

/// `parse`s the value if there is one, reporting what is wrong with it.
fn parse<T>(value: Option<&Expr>, parse: fn(&Expr) -> syn::Result<T>, errors: &mut Errors) -> Option<T> {
    match parse(value?) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// How to write each key, for "needs a value" errors.
fn example(key: &str) -> &'static str {
    match key {
        "retries" => "`retries = 3` (an integer from 0 to 10)",
        "cache" => "`cache = true` (and a `cache_version`)",
        _ => "`cache_version = \"1\"` (with `cache = true`)",
    }
}

/// The cache version if caching is on, after checking that `cache` and `cache_version` come
/// together. A key whose value was invalid has been reported already and raises nothing more.
fn caching(cache: Option<Setting<bool>>, version: Option<Setting<String>>, errors: &mut Errors) -> Option<String> {
    match (cache, version) {
        (None, None) => None,
        (Some(cache), None) => {
            if cache.value == Some(true) {
                errors.push(syn::Error::new_spanned(
                    cache.path,
                    "`cache = true` needs a version: add `cache_version = \"1\"`. The version is part of \
                     the cache key, as Flyte requires; bump it whenever the task's behaviour changes, so \
                     that outputs cached by the old code are not reused",
                ));
            }
            None
        }
        (None, Some(version)) => {
            errors.push(syn::Error::new_spanned(
                version.path,
                "`cache_version` has no effect without `cache = true`: add `cache = true` to cache \
                 this task's outputs, or remove `cache_version`",
            ));
            None
        }
        // `cache = false` with a version caches nothing (see `TaskAttr`).
        (Some(cache), Some(version)) => match cache.value {
            Some(true) => version.value,
            _ => None,
        },
    }
}

fn cache_flag(value: &Expr) -> syn::Result<bool> {
    match value {
        Expr::Lit(syn::ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            "`cache` takes `true` or `false`: write `cache = true` (with a `cache_version`) to \
             cache this task's outputs",
        )),
    }
}

fn version(value: &Expr) -> syn::Result<String> {
    let Expr::Lit(syn::ExprLit { lit, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            "`cache_version` takes a string literal, as a macro cannot read a constant's value: \
             write `cache_version = \"1\"`, and bump it whenever the task's behaviour changes",
        ));
    };
    let quoted = match lit {
        Lit::Str(s) => return non_empty(s),
        // `cache_version = 1` or `1.2`: suggest the same text, quoted.
        Lit::Int(i) => i.base10_digits().to_string(),
        Lit::Float(f) => f.base10_digits().to_string(),
        _ => "1".to_string(),
    };
    Err(syn::Error::new_spanned(
        value,
        format!(
            "`cache_version` takes a string literal: write `cache_version = \"{quoted}\"`, and bump \
             it whenever the task's behaviour changes"
        ),
    ))
}

fn non_empty(s: &LitStr) -> syn::Result<String> {
    let v = s.value();
    if v.trim().is_empty() {
        return Err(syn::Error::new_spanned(
            s,
            "`cache_version` cannot be empty: it is part of the cache key; write \
             `cache_version = \"1\"`, and bump it whenever the task's behaviour changes",
        ));
    }
    Ok(v)
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
    if let Some(near) = did_you_mean(key) {
        msg.push_str(&format!(" (did you mean `{near}`?)"));
    }
    msg
}

/// The valid key closest to `key` (at most 3 edits away), or else one that contains it
/// (`version` for `cache_version`).
fn did_you_mean(key: &str) -> Option<&'static str> {
    let closest = TASK_KEYS
        .iter()
        .map(|k| (edit_distance(k, key), *k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    closest.or_else(|| TASK_KEYS.iter().copied().find(|k| key.len() >= 4 && k.contains(key)))
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
    fn cache_needs_a_version() {
        let (attr, errors) = parse(quote!(cache = true, cache_version = "1.2"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.cache_version.as_deref(), Some("1.2"));
        // Either order.
        let (attr, errors) = parse(quote!(cache_version = "1", retries = 2, cache = true));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((attr.cache_version.as_deref(), attr.retries), (Some("1"), 2));
        assert_eq!(parse(quote!()).0.cache_version, None);

        let (attr, errors) = parse(quote!(cache = true));
        assert_eq!(attr.cache_version, None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("add `cache_version = \"1\"`") && errors[0].contains("part of the cache key"),
            "{errors:?}"
        );
    }

    #[test]
    fn cache_version_needs_cache() {
        let (attr, errors) = parse(quote!(cache_version = "1"));
        assert_eq!(attr.cache_version, None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("no effect without `cache = true`") && errors[0].contains("add `cache = true`"),
            "{errors:?}"
        );
    }

    #[test]
    fn cache_false_is_off_with_or_without_a_version() {
        for tokens in [quote!(cache = false), quote!(cache = false, cache_version = "3")] {
            let (attr, errors) = parse(tokens);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(attr.cache_version, None);
        }
    }

    #[test]
    fn bad_cache_values_say_what_to_write() {
        let (attr, errors) = parse(quote!(cache = "yes", cache_version = "1"));
        assert_eq!(attr.cache_version, None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`cache` takes `true` or `false`"), "{errors:?}");

        let (_, errors) = parse(quote!(cache = true, cache_version = 2));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("write `cache_version = \"2\"`"), "{errors:?}");

        let (_, errors) = parse(quote!(cache = true, cache_version = VERSION));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cannot read a constant"), "{errors:?}");

        for empty in [
            quote!(cache = true, cache_version = ""),
            quote!(cache = true, cache_version = " "),
        ] {
            let (attr, errors) = parse(empty);
            assert_eq!(attr.cache_version, None);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("`cache_version` cannot be empty"), "{errors:?}");
        }

        let (_, errors) = parse(quote!(cache, cache_version));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("`cache` needs a value: write `cache = true`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("`cache_version` needs a value"), "{errors:?}");
    }

    #[test]
    fn cache_keys_are_listed_and_suggested() {
        let (_, errors) = parse(quote!(cached = true, version = "1", cache = true, cache = false));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors[0].contains("valid options are: `retries`, `cache`, `cache_version` (did you mean `cache`?)"),
            "{errors:?}"
        );
        assert!(errors[1].contains("did you mean `cache_version`?"), "{errors:?}");
        assert!(errors[2].contains("duplicate #[task] option `cache`"), "{errors:?}");
        assert!(errors[3].contains("add `cache_version"), "{errors:?}");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("retries", "retries"), 0);
        assert_eq!(edit_distance("retries", "retry"), 3);
        assert_eq!(edit_distance("retries", "entries"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
