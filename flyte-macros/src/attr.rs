//! Stage 1: parse the attribute's options (`#[task(retries = 3)]`, `#[workflow(on_failure = f)]`).
//!
//! As in serde_derive (`symbol.rs`, `attr.rs`): every key is a named constant ([`Key`]) with
//! its own arm in its attribute's dispatch; a key written twice is caught by one setter,
//! [`Attr::set`]; an unknown key ends the dispatch with [`Keys::unknown`], which lists the
//! valid keys and suggests the nearest. The same pieces serve any list of `key = value`
//! options, such as `map(..)`'s: see [`Keys`].

use std::time::Duration;

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Meta, Path, Token};

use crate::Errors;

/// One option key: its name, and how its value is written, for "needs a value" errors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub name: &'static str,
    pub example: &'static str,
}

pub(crate) const RETRIES: Key = Key {
    name: "retries",
    example: "`retries = 3` (an integer from 0 to 10)",
};
pub(crate) const TIMEOUT: Key = Key {
    name: "timeout",
    example: "`timeout = \"30s\"` (a duration, like \"500ms\", \"5m\" or \"1h 30m\")",
};
pub(crate) const CACHE: Key = Key {
    name: "cache",
    example: "`cache = true` (and a `cache_version`)",
};
pub(crate) const CACHE_VERSION: Key = Key {
    name: "cache_version",
    example: "`cache_version = \"1\"` (with `cache = true`)",
};
pub(crate) const INTERRUPTIBLE: Key = Key {
    name: "interruptible",
    example: "`interruptible = true` (the task may run on spot or preemptible machines)",
};
pub(crate) const REQUESTS: Key = Key {
    name: "requests",
    example: "`requests(cpu = \"1\", mem = \"2Gi\")` (what each attempt is guaranteed on a cluster)",
};
pub(crate) const LIMITS: Key = Key {
    name: "limits",
    example: "`limits(cpu = \"2\", mem = \"4Gi\")` (the most each attempt may use on a cluster)",
};
pub(crate) const CPU: Key = Key {
    name: "cpu",
    example: "`cpu = \"1\"` (cores: \"2\", \"0.5\", \"500m\")",
};
pub(crate) const MEM: Key = Key {
    name: "mem",
    example: "`mem = \"2Gi\"` (bytes: \"500Mi\", \"2Gi\")",
};
pub(crate) const GPU: Key = Key {
    name: "gpu",
    example: "`gpu = \"1\"`",
};
pub(crate) const EPHEMERAL_STORAGE: Key = Key {
    name: "ephemeral_storage",
    example: "`ephemeral_storage = \"10Gi\"`",
};
pub(crate) const FAILURE_POLICY: Key = Key {
    name: "failure_policy",
    example: "`failure_policy = FailAfterExecutableNodesComplete` (or `FailImmediately`, the default)",
};
pub(crate) const ON_FAILURE: Key = Key {
    name: "on_failure",
    example: "`on_failure = clean_up`, naming a #[task] that takes the workflow's inputs and then a `WorkflowFailure`",
};
pub(crate) const CONCURRENCY: Key = Key {
    name: "concurrency",
    example: "`concurrency = 4` (at most 4 elements at once)",
};
pub(crate) const MIN_SUCCESS_RATIO: Key = Key {
    name: "min_success_ratio",
    example: "`min_success_ratio = 0.9` (the share of elements that must succeed, from 0 to 1)",
};

impl PartialEq<Key> for Path {
    fn eq(&self, key: &Key) -> bool {
        self.is_ident(key.name)
    }
}

impl PartialEq<Key> for &Path {
    fn eq(&self, key: &Key) -> bool {
        self.is_ident(key.name)
    }
}

/// The keys one list of options accepts (an attribute's, or `map(..)`'s), and what its
/// messages say about it.
///
/// A list of options is parsed with one [`Attr`] per key and a dispatch with one arm per key,
/// ending with [`Keys::unknown`]. `map(task, list, concurrency = 4, min_success_ratio = 0.9)`
/// in a workflow body would read its options so:
///
/// ```text
/// let mut concurrency = Attr::none(&MAP, CONCURRENCY);
/// let mut ratio = Attr::none(&MAP, MIN_SUCCESS_RATIO);
/// for option in options {
///     // `concurrency = 4` parses as an assignment.
///     let Expr::Assign(assign) = option else { /* "options are `key = value`" */ continue };
///     let Expr::Path(key) = &*assign.left else { /* the same */ continue };
///     let (key, value) = (&key.path, Some(&*assign.right));
///     if key == CONCURRENCY {
///         concurrency.set(key, value, map_concurrency, errors);
///     } else if key == MIN_SUCCESS_RATIO {
///         ratio.set(key, value, map_ratio, errors);
///     } else {
///         MAP.unknown(key, errors);
///     }
/// }
/// let (concurrency, ratio) = (concurrency.get(), ratio.get());
/// ```
///
/// (The test `map_options_reuse_the_key_helpers` below runs this.)
pub(crate) struct Keys {
    /// How messages name the list: `#[task]`, `` `map` ``.
    pub what: &'static str,
    /// In the order the messages list them.
    pub keys: &'static [Key],
    /// A complete example, to show how options are written.
    pub sample: &'static str,
    /// Where a key of this list goes, for a user who wrote it in another list.
    pub home: &'static str,
}

pub(crate) const TASK: Keys = Keys {
    what: "#[task]",
    keys: &[RETRIES, TIMEOUT, CACHE, CACHE_VERSION, INTERRUPTIBLE, REQUESTS, LIMITS],
    sample: "#[task(retries = 3)]",
    home: "set it on each #[task] the workflow calls",
};

pub(crate) const WORKFLOW: Keys = Keys {
    what: "#[workflow]",
    keys: &[FAILURE_POLICY, ON_FAILURE],
    sample: "#[workflow(on_failure = clean_up)]",
    home: "set it on the #[workflow]",
};

pub(crate) const DYNAMIC: Keys = Keys {
    what: "#[dynamic]",
    keys: &[RETRIES],
    sample: "#[dynamic(retries = 2)]",
    home: "set it on the #[dynamic]",
};

pub(crate) const MAP: Keys = Keys {
    what: "`map`",
    keys: &[CONCURRENCY, MIN_SUCCESS_RATIO],
    sample: "`map(task, list, concurrency = 4)`",
    home: "pass it to `map(task, list, ..)` in the workflow body",
};

/// The resources of `requests(..)` and `limits(..)` in `#[task]`, in the order Flyte lists them.
pub(crate) const RESOURCES: Keys = Keys {
    what: "resource",
    keys: &[CPU, MEM, GPU, EPHEMERAL_STORAGE],
    sample: "`requests(cpu = \"1\", mem = \"2Gi\")`",
    home: "name it in `requests(..)` or `limits(..)` of #[task]",
};

/// Every list of options, for the hint that a key belongs to another one.
const ALL: [&Keys; 5] = [&TASK, &WORKFLOW, &DYNAMIC, &MAP, &RESOURCES];

impl Keys {
    /// Reports `key` as none of this list's keys: lists the valid ones, and says which list
    /// it belongs to, or else which key it is nearest to.
    pub fn unknown(&self, key: &Path, errors: &mut Errors) {
        let written = key.get_ident().map(ToString::to_string).unwrap_or_else(|| written(key));
        let valid = self
            .keys
            .iter()
            .map(|k| format!("`{}`", k.name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut msg = format!("unknown {} option `{written}`; valid options are: {valid}", self.what);
        let elsewhere = ALL
            .into_iter()
            .find(|other| other.what != self.what && other.keys.iter().any(|k| k.name == written));
        if let Some(other) = elsewhere {
            msg.push_str(&format!(" (`{written}` is a {} option: {})", other.what, other.home));
        } else if let Some(near) = did_you_mean(&written, &self.names()) {
            msg.push_str(&format!(" (did you mean `{near}`?)"));
        }
        errors.push(syn::Error::new_spanned(key, msg));
    }

    fn names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.name).collect()
    }
}

/// A path as written, without the spaces `to_string` puts around `::`.
fn written(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The value of one key of a list, set at most once.
pub(crate) struct Attr<'k, T> {
    keys: &'k Keys,
    key: Key,
    /// Where the key was written, once it was.
    at: Option<TokenStream>,
    /// `None` when the key is not set, or its value was missing or invalid (already reported).
    value: Option<T>,
}

impl<'k, T> Attr<'k, T> {
    pub fn none(keys: &'k Keys, key: Key) -> Self {
        Attr {
            keys,
            key,
            at: None,
            value: None,
        }
    }

    /// Sets the key, written at `at`, to `value` as `parse` reads it, reporting what is wrong
    /// with it; `value` is `None` when the key was written without one. A key set before is
    /// reported as a duplicate and its value is not looked at, so that one mistake is one error.
    pub fn set(
        &mut self,
        at: &impl ToTokens,
        value: Option<&Expr>,
        parse: impl FnOnce(&Expr) -> syn::Result<T>,
        errors: &mut Errors,
    ) {
        if self.at.is_some() {
            errors.push(syn::Error::new_spanned(
                at,
                format!("duplicate {} option `{}`: set it once", self.keys.what, self.key.name),
            ));
            return;
        }
        self.at = Some(at.to_token_stream());
        let Some(value) = value else {
            errors.push(syn::Error::new_spanned(
                at,
                format!("`{}` needs a value: write {}", self.key.name, self.key.example),
            ));
            return;
        };
        match parse(value) {
            Ok(v) => self.value = Some(v),
            Err(e) => errors.push(e),
        }
    }

    /// Sets the key from `key(..)`, a list of `name = value`s that `parse` reads, as [`set`]
    /// does from `key = value`.
    ///
    /// [`set`]: Attr::set
    pub fn set_list(
        &mut self,
        meta: &Meta,
        parse: impl FnOnce(&syn::MetaList, &mut Errors) -> Option<T>,
        errors: &mut Errors,
    ) {
        let at = meta.path();
        if self.at.is_some() {
            errors.push(syn::Error::new_spanned(
                at,
                format!("duplicate {} option `{}`: set it once", self.keys.what, self.key.name),
            ));
            return;
        }
        self.at = Some(at.to_token_stream());
        let Meta::List(list) = meta else {
            errors.push(syn::Error::new_spanned(
                meta,
                format!(
                    "`{}` takes a list in parentheses: write {}",
                    self.key.name, self.key.example
                ),
            ));
            return;
        };
        self.value = parse(list, errors);
    }

    /// The value, if the key was set to a valid one.
    pub fn get(self) -> Option<T> {
        self.value
    }
}

/// Flyte caps retries at 10.
const MAX_RETRIES: u32 = 10;

/// The variants of `flytekit::FailurePolicy`, in the order the error message lists them.
const FAILURE_POLICIES: &[&str] = &["FailImmediately", "FailAfterExecutableNodesComplete"];

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
    /// How long one attempt may run, parsed here so that a typo fails the build, not the run.
    pub timeout: Option<Duration>,
    /// The cache version when `cache = true`; `None` when the task is not cached.
    pub cache_version: Option<String>,
    /// `interruptible = true`.
    pub interruptible: bool,
    /// `requests(..)` and `limits(..)`: each resource named, with its quantity (checked here)
    /// and where it was written.
    pub requests: Vec<(Key, String, proc_macro2::Span)>,
    pub limits: Vec<(Key, String, proc_macro2::Span)>,
}

/// The options of one `#[workflow(...)]`.
#[derive(Default)]
pub struct WorkflowAttr {
    /// The `FailurePolicy` variant, spanned at the value the user wrote.
    pub failure_policy: Option<Ident>,
    /// The task to run when the workflow fails.
    pub on_failure: Option<Path>,
}

pub fn task(args: TokenStream, errors: &mut Errors) -> TaskAttr {
    let mut retries = Attr::none(&TASK, RETRIES);
    let mut timeout = Attr::none(&TASK, TIMEOUT);
    let mut cache = Attr::none(&TASK, CACHE);
    let mut cache_version = Attr::none(&TASK, CACHE_VERSION);
    let mut interruptible = Attr::none(&TASK, INTERRUPTIBLE);
    let mut requests = Attr::none(&TASK, REQUESTS);
    let mut limits = Attr::none(&TASK, LIMITS);
    for meta in metas(args, &TASK, errors) {
        let (key, value) = (meta.path(), value(&meta));
        if key == INTERRUPTIBLE {
            interruptible.set(key, value, interruptible_flag, errors);
        } else if key == REQUESTS {
            requests.set_list(&meta, resources, errors);
        } else if key == LIMITS {
            limits.set_list(&meta, resources, errors);
        } else if key == RETRIES {
            retries.set(key, value, self::retries, errors);
        } else if key == TIMEOUT {
            timeout.set(key, value, self::timeout, errors);
        } else if key == CACHE {
            cache.set(key, value, cache_flag, errors);
        } else if key == CACHE_VERSION {
            cache_version.set(key, value, version, errors);
        } else {
            TASK.unknown(key, errors);
        }
    }
    TaskAttr {
        retries: retries.get().unwrap_or(0),
        timeout: timeout.get(),
        cache_version: caching(cache, cache_version, errors),
        interruptible: interruptible.get().unwrap_or(false),
        requests: requests.get().unwrap_or_default(),
        limits: limits.get().unwrap_or_default(),
    }
    .check_requests_within_limits(errors)
}

impl TaskAttr {
    /// A request above its limit: Kubernetes refuses such a pod, so the build refuses the task.
    fn check_requests_within_limits(self, errors: &mut Errors) -> Self {
        for (key, request, at) in &self.requests {
            let Some((_, limit, _)) = self.limits.iter().find(|(k, _, _)| k == key) else {
                continue;
            };
            if let (Some(r), Some(l)) = (quantity_value(request), quantity_value(limit)) {
                if r > l {
                    errors.push(syn::Error::new(
                        *at,
                        format!(
                            "the `{}` request \"{request}\" is above its limit \"{limit}\": Kubernetes refuses \
                             such a task's pod; raise the limit or lower the request",
                            key.name
                        ),
                    ));
                }
            }
        }
        self
    }
}

pub fn workflow(args: TokenStream, errors: &mut Errors) -> WorkflowAttr {
    let mut failure_policy = Attr::none(&WORKFLOW, FAILURE_POLICY);
    let mut on_failure = Attr::none(&WORKFLOW, ON_FAILURE);
    for meta in metas(args, &WORKFLOW, errors) {
        let (key, value) = (meta.path(), value(&meta));
        if key == FAILURE_POLICY {
            failure_policy.set(key, value, self::failure_policy, errors);
        } else if key == ON_FAILURE {
            on_failure.set(key, value, self::on_failure, errors);
        } else {
            WORKFLOW.unknown(key, errors);
        }
    }
    WorkflowAttr {
        failure_policy: failure_policy.get(),
        on_failure: on_failure.get(),
    }
}

/// The options of one `#[dynamic(...)]`: how often building its graph is retried.
pub fn dynamic(args: TokenStream, errors: &mut Errors) -> u32 {
    let mut retries = Attr::none(&DYNAMIC, RETRIES);
    for meta in metas(args, &DYNAMIC, errors) {
        let (key, value) = (meta.path(), value(&meta));
        if key == RETRIES {
            retries.set(key, value, self::retries, errors);
        } else {
            DYNAMIC.unknown(key, errors);
        }
    }
    retries.get().unwrap_or(0)
}

/// The options, or none after reporting that they do not parse as `key = value`s.
fn metas(args: TokenStream, of: &Keys, errors: &mut Errors) -> Punctuated<Meta, Token![,]> {
    Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .unwrap_or_else(|e| {
            let (what, sample) = (of.what, of.sample);
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}: {what} options are written `key = value`, like {sample}"),
            ));
            Punctuated::new()
        })
}

/// The value of `key = value`; `None` for a bare `key` or `key(..)`.
fn value(meta: &Meta) -> Option<&Expr> {
    match meta {
        Meta::NameValue(nv) => Some(&nv.value),
        Meta::Path(_) | Meta::List(_) => None,
    }
}

/// The cache version if caching is on, after checking that `cache` and `cache_version` come
/// together. A key whose value was invalid has been reported already and raises nothing more.
fn caching(cache: Attr<bool>, version: Attr<String>, errors: &mut Errors) -> Option<String> {
    match (cache.at, version.at) {
        (None, None) => None,
        (Some(at), None) => {
            if cache.value == Some(true) {
                errors.push(syn::Error::new_spanned(
                    at,
                    "`cache = true` needs a version: add `cache_version = \"1\"`. The version is part of \
                     the cache key, as Flyte requires; bump it whenever the task's behaviour changes, so \
                     that outputs cached by the old code are not reused",
                ));
            }
            None
        }
        (None, Some(at)) => {
            errors.push(syn::Error::new_spanned(
                at,
                "`cache_version` has no effect without `cache = true`: add `cache = true` to cache \
                 this task's outputs, or remove `cache_version`",
            ));
            None
        }
        // `cache = false` with a version caches nothing (see `TaskAttr`).
        (Some(_), Some(_)) => match cache.value {
            Some(true) => version.value,
            _ => None,
        },
    }
}

fn interruptible_flag(value: &Expr) -> syn::Result<bool> {
    match value {
        Expr::Lit(syn::ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            "`interruptible` takes `true` or `false`: write `interruptible = true` to let the task run \
             on spot or preemptible machines",
        )),
    }
}

/// `requests(cpu = "1", mem = "2Gi")`: each resource once, each a Kubernetes quantity.
fn resources(list: &syn::MetaList, errors: &mut Errors) -> Option<Vec<(Key, String, proc_macro2::Span)>> {
    let what = list
        .path
        .get_ident()
        .map_or_else(|| "requests".to_owned(), ToString::to_string);
    let metas = match list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}: `{what}(..)` names resources as `name = \"quantity\"`, like `{what}(cpu = \"1\", mem = \"2Gi\")`"),
            ));
            return None;
        }
    };
    if metas.is_empty() {
        errors.push(syn::Error::new_spanned(
            list,
            format!("`{what}()` names no resource: write `{what}(cpu = \"1\", mem = \"2Gi\")`, or remove it"),
        ));
        return None;
    }
    let mut attrs: Vec<Attr<(String, proc_macro2::Span)>> =
        RESOURCES.keys.iter().map(|&k| Attr::none(&RESOURCES, k)).collect();
    for meta in &metas {
        let key = meta.path();
        match RESOURCES.keys.iter().position(|k| key == *k) {
            Some(i) => attrs[i].set(
                key,
                value(meta),
                |v| Ok((quantity(RESOURCES.keys[i], v)?, syn::spanned::Spanned::span(v))),
                errors,
            ),
            None => RESOURCES.unknown(key, errors),
        }
    }
    Some(
        RESOURCES
            .keys
            .iter()
            .zip(attrs)
            .filter_map(|(&k, a)| a.get().map(|(q, at)| (k, q, at)))
            .collect(),
    )
}

/// A Kubernetes quantity in a string literal: a decimal number and an optional suffix.
fn quantity(key: Key, value: &Expr) -> syn::Result<String> {
    let name = key.name;
    let Expr::Lit(syn::ExprLit { lit, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`{name}` takes a string literal, as a macro cannot read a constant's value: write {}",
                key.example
            ),
        ));
    };
    let text = match lit {
        Lit::Str(s) => s.value(),
        // `cpu = 2` or `cpu = 0.5`: the same, quoted.
        Lit::Int(i) => return Err(quote_it(value, name, &format!("{}{}", i.base10_digits(), i.suffix()))),
        Lit::Float(f) => return Err(quote_it(value, name, &format!("{}{}", f.base10_digits(), f.suffix()))),
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{name}` takes a quantity: write {}", key.example),
            ))
        }
    };
    if quantity_value(&text).is_some() {
        return Ok(text);
    }
    // `2GB`, `2gb`, `2 Gi`: the suffix Kubernetes spells.
    let hint = match text.trim().trim_end_matches(['B', 'b']) {
        t if t != text && quantity_value(t).is_some() => format!(" (did you mean \"{t}\"?)"),
        _ => String::new(),
    };
    Err(syn::Error::new_spanned(
        value,
        format!(
            "`{name}` takes a Kubernetes quantity, a number with an optional suffix (m, k, M, G, T, Ki, Mi, Gi, \
             Ti), like {}: \"{text}\" is not one{hint}",
            key.example
        ),
    ))
}

fn quote_it(value: &Expr, name: &str, text: &str) -> syn::Error {
    syn::Error::new_spanned(
        value,
        format!("`{name}` takes a quantity in a string literal, as Kubernetes writes it: write `{name} = \"{text}\"`"),
    )
}

/// The value of a Kubernetes quantity (`"500m"` is 0.5, `"2Gi"` is 2^31), or `None` if `text`
/// is not one.
pub(crate) fn quantity_value(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let valid_number =
        !number.is_empty() && !number.starts_with('.') && !number.ends_with('.') && number.matches('.').count() <= 1;
    if !valid_number {
        return None;
    }
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
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

fn timeout(value: &Expr) -> syn::Result<Duration> {
    const DURATION: &str = "a number and a unit, like \"30s\", \"500ms\", \"5m\" or \"1h 30m\"";
    let Expr::Lit(syn::ExprLit { lit, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`timeout` takes a string literal, as a macro cannot read a constant's value: write \
                 `timeout = \"30s\"` ({DURATION})"
            ),
        ));
    };
    let quoted = match lit {
        Lit::Str(s) => return duration(s),
        // `timeout = 30` or `timeout = 30s` (which lexes as 30 with a suffix): the same, quoted.
        Lit::Int(i) => format!("{}{}", i.base10_digits(), non_empty_or(i.suffix(), "s")),
        Lit::Float(f) => format!("{}{}", f.base10_digits(), non_empty_or(f.suffix(), "s")),
        _ => "30s".to_string(),
    };
    Err(syn::Error::new_spanned(
        value,
        format!("`timeout` takes a duration in a string literal: write `timeout = \"{quoted}\"` ({DURATION})"),
    ))
}

fn non_empty_or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() {
        default
    } else {
        s
    }
}

fn duration(s: &LitStr) -> syn::Result<Duration> {
    let text = s.value();
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() => Err(syn::Error::new_spanned(
            s,
            "`timeout` must be longer than zero, or every attempt would time out before it starts: \
             write how long one attempt may run, like `timeout = \"30s\"`, or remove `timeout` to let \
             attempts run as long as they need",
        )),
        Ok(d) => Ok(d),
        // A bare number: say which unit, rather than humantime's "30sec or 30ms".
        Err(_) if is_number(text.trim()) => Err(syn::Error::new_spanned(
            s,
            format!(
                "`timeout = {text:?}` needs a unit: write `timeout = \"{}s\"` for seconds (or \"m\", \"h\", \
                 \"ms\")",
                text.trim()
            ),
        )),
        Err(e) => Err(syn::Error::new_spanned(
            s,
            format!(
                "`timeout = {text:?}` is not a duration: {e}; write a number and a unit, like \"30s\", \
                 \"500ms\", \"5m\" or \"1h 30m\""
            ),
        )),
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn failure_policy(value: &Expr) -> syn::Result<Ident> {
    let variants = "`FailImmediately` (the default: start nothing new once a node has failed) or \
                    `FailAfterExecutableNodesComplete` (first run every node that does not depend on the failed one)";
    let written = match value {
        Expr::Path(p) if p.qself.is_none() => {
            // Any path to the variant: `FailImmediately`, `FailurePolicy::FailImmediately`, ...
            let last = p.path.segments.last().expect("a path has a segment");
            let name = last.ident.to_string();
            if last.arguments.is_none() && FAILURE_POLICIES.contains(&name.as_str()) {
                return Ok(Ident::new(&name, last.ident.span()));
            }
            name
        }
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
            let near = did_you_mean(&s.value(), FAILURE_POLICIES).unwrap_or("FailAfterExecutableNodesComplete");
            return Err(syn::Error::new_spanned(
                value,
                format!(
                    "`failure_policy` takes a `FailurePolicy` variant, not a string: write `failure_policy = {near}`"
                ),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`failure_policy` takes a `FailurePolicy` variant: write {variants}"),
            ))
        }
    };
    let msg = match did_you_mean(&written, FAILURE_POLICIES) {
        Some(near) => format!("unknown failure policy `{written}`: did you mean `{near}`? Write {variants}"),
        None => format!("unknown failure policy `{written}`: write {variants}"),
    };
    Err(syn::Error::new_spanned(value, msg))
}

fn on_failure(value: &Expr) -> syn::Result<Path> {
    let what = "the task runs when the workflow fails, on the workflow's inputs and then a `WorkflowFailure`";
    let fix = match value {
        Expr::Path(p) if p.qself.is_none() => return Ok(p.path.clone()),
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) if s.parse::<Path>().is_ok() => {
            format!("names the task without quotes: write `on_failure = {}`", s.value())
        }
        Expr::Call(syn::ExprCall { func, .. }) if matches!(&**func, Expr::Path(_)) => {
            let name = quote::ToTokens::to_token_stream(func).to_string().replace(' ', "");
            format!("names the task without calling it: write `on_failure = {name}`")
        }
        _ => "takes the name of a #[task]: write `on_failure = clean_up`".to_string(),
    };
    Err(syn::Error::new_spanned(value, format!("`on_failure` {fix}; {what}")))
}

/// The candidate closest to `written` (at most 3 edits away), or else one that contains it
/// (`version` for `cache_version`, `FailAfter` for `FailAfterExecutableNodesComplete`). Case
/// and underscores are ignored, so that Flyte's `FAIL_IMMEDIATELY` finds `FailImmediately`.
fn did_you_mean(written: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let fold = |s: &str| s.replace('_', "").to_lowercase();
    let written = fold(written);
    let closest = candidates
        .iter()
        .map(|c| (edit_distance(&fold(c), &written), *c))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    closest.or_else(|| {
        candidates
            .iter()
            .copied()
            .find(|c| written.len() >= 4 && fold(c).contains(&written))
    })
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
    fn kubernetes_quantities() {
        for (text, value) in [
            ("1", 1.0),
            ("0.5", 0.5),
            ("500m", 0.5),
            ("2Gi", 2.0 * 1024f64.powi(3)),
            ("500Mi", 500.0 * 1024f64.powi(2)),
            ("1k", 1e3),
            ("3G", 3e9),
        ] {
            assert_eq!(quantity_value(text), Some(value), "{text}");
        }
        for text in ["", "2GB", "2gi", "Gi", ".5", "1.", "1.2.3", "-1", "1 Gi", "one"] {
            assert_eq!(quantity_value(text), None, "{text:?}");
        }
    }

    #[test]
    fn resources_in_flytes_order_with_their_quantities() {
        let (attr, errors) = parse(quote!(
            interruptible = true,
            limits(mem = "1Gi", cpu = "2"),
            requests(cpu = "500m")
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(attr.interruptible);
        let names = |list: &[(Key, String, proc_macro2::Span)]| {
            list.iter()
                .map(|(k, q, _)| format!("{}={q}", k.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&attr.limits), ["cpu=2", "mem=1Gi"]);
        assert_eq!(names(&attr.requests), ["cpu=500m"]);
        // A request equal to its limit is fine; above it is not.
        assert!(parse(quote!(requests(mem = "1024Mi"), limits(mem = "1Gi")))
            .1
            .is_empty());
        let (_, errors) = parse(quote!(requests(mem = "1025Mi"), limits(mem = "1Gi")));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("the `mem` request \"1025Mi\" is above its limit \"1Gi\""),
            "{errors:?}"
        );
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
        let (_, errors) = parse(quote!(retry = 3, retries = "3", retries = 1, deadline = 5));
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
            errors[0]
                .contains("valid options are: `retries`, `timeout`, `cache`, `cache_version`, `interruptible`, `requests`, `limits` (did you mean `cache`?)"),
            "{errors:?}"
        );
        assert!(errors[1].contains("did you mean `cache_version`?"), "{errors:?}");
        assert!(errors[2].contains("duplicate #[task] option `cache`"), "{errors:?}");
        assert!(errors[3].contains("add `cache_version"), "{errors:?}");
    }

    #[test]
    fn timeout_takes_any_humane_duration() {
        for (tokens, expected) in [
            (quote!(timeout = "30s"), Duration::from_secs(30)),
            (quote!(timeout = "1h 30m"), Duration::from_secs(90 * 60)),
            (quote!(timeout = "500ms"), Duration::from_millis(500)),
            (quote!(timeout = "2 minutes"), Duration::from_secs(120)),
        ] {
            let (attr, errors) = parse(tokens);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(attr.timeout, Some(expected));
        }
        assert_eq!(parse(quote!()).0.timeout, None);
    }

    #[test]
    fn bad_timeouts_say_what_to_write() {
        for (tokens, fix) in [
            (quote!(timeout = 30), "write `timeout = \"30s\"`"),
            (quote!(timeout = 5m), "write `timeout = \"5m\"`"),
            (quote!(timeout = TIMEOUT), "cannot read a constant"),
            (quote!(timeout = "30"), "needs a unit: write `timeout = \"30s\"`"),
            (quote!(timeout = "5 minuets"), "unknown time unit \"minuets\""),
            (quote!(timeout = "soon"), "is not a duration"),
            (quote!(timeout = "0s"), "must be longer than zero"),
            (quote!(timeout), "`timeout` needs a value: write `timeout = \"30s\"`"),
        ] {
            let (attr, errors) = parse(tokens);
            assert_eq!(attr.timeout, None);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains(fix), "{errors:?}");
        }
    }

    fn parse_workflow(tokens: TokenStream) -> (WorkflowAttr, Vec<String>) {
        let mut errors = Errors::new();
        let attr = workflow(tokens, &mut errors);
        (attr, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn failure_policy_is_a_variant_by_any_path() {
        for tokens in [
            quote!(failure_policy = FailAfterExecutableNodesComplete),
            quote!(failure_policy = FailurePolicy::FailAfterExecutableNodesComplete),
            quote!(failure_policy = ::flytekit::FailurePolicy::FailAfterExecutableNodesComplete),
        ] {
            let (attr, errors) = parse_workflow(tokens);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(attr.failure_policy.unwrap(), "FailAfterExecutableNodesComplete");
        }
        let (attr, _) = parse_workflow(quote!(failure_policy = FailImmediately));
        assert_eq!(attr.failure_policy.unwrap(), "FailImmediately");
        assert!(parse_workflow(quote!()).0.failure_policy.is_none());
    }

    #[test]
    fn unknown_failure_policies_list_the_variants() {
        for (tokens, near) in [
            (quote!(failure_policy = FailImediately), Some("FailImmediately")),
            (
                quote!(failure_policy = FAIL_AFTER_EXECUTABLE_NODES_COMPLETE),
                Some("FailAfterExecutableNodesComplete"),
            ),
            (
                quote!(failure_policy = FailAfter),
                Some("FailAfterExecutableNodesComplete"),
            ),
            (quote!(failure_policy = Retry), None),
        ] {
            let (attr, errors) = parse_workflow(tokens);
            assert!(attr.failure_policy.is_none());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0]
                    .to_lowercase()
                    .contains("write `failimmediately` (the default")
                    && errors[0].contains("or `FailAfterExecutableNodesComplete` ("),
                "{errors:?}"
            );
            match near {
                Some(near) => assert!(
                    errors[0].contains(&format!(": did you mean `{near}`? Write")),
                    "{errors:?}"
                ),
                None => assert!(!errors[0].contains("did you mean"), "{errors:?}"),
            }
        }
        let (_, errors) = parse_workflow(quote!(failure_policy = "FailImmediately"));
        assert!(
            errors[0].contains("not a string: write `failure_policy = FailImmediately`"),
            "{errors:?}"
        );
    }

    #[test]
    fn on_failure_names_a_task() {
        let (attr, errors) = parse_workflow(quote!(on_failure = hooks::clean_up));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(attr.on_failure.unwrap().segments.len(), 2);
        for (tokens, fix) in [
            (
                quote!(on_failure = clean_up()),
                "without calling it: write `on_failure = clean_up`",
            ),
            (
                quote!(on_failure = "clean_up"),
                "without quotes: write `on_failure = clean_up`",
            ),
            (quote!(on_failure = |f| f), "takes the name of a #[task]"),
            (quote!(on_failure), "`on_failure` needs a value"),
        ] {
            let (attr, errors) = parse_workflow(tokens);
            assert!(attr.on_failure.is_none());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains(fix), "{errors:?}");
        }
    }

    #[test]
    fn workflow_keys_are_checked_like_task_keys() {
        let (attr, errors) = parse_workflow(quote!(
            on_fail = f,
            retries = 3,
            on_failure = f,
            on_failure = g,
            failure_policy = FailImmediately
        ));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("unknown #[workflow] option `on_fail`; valid options are: `failure_policy`, `on_failure` (did you mean `on_failure`?)"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("(`retries` is a #[task] option: set it on each #[task] the workflow calls)"),
            "{errors:?}"
        );
        assert!(
            errors[2].contains("duplicate #[workflow] option `on_failure`"),
            "{errors:?}"
        );
        assert!(attr.on_failure.unwrap().is_ident("f") && attr.failure_policy.is_some());

        let (_, errors) = parse(quote!(on_failure = f));
        assert!(
            errors[0].contains("(`on_failure` is a #[workflow] option: set it on the #[workflow])"),
            "{errors:?}"
        );
        let (_, errors) = parse_workflow(quote!(on_failure: f));
        assert!(
            errors[0].contains("#[workflow] options are written `key = value`"),
            "{errors:?}"
        );
    }

    /// Every key a list names has an arm in its dispatch: none of them reads as unknown.
    #[test]
    fn every_listed_key_has_its_arm() {
        for key in TASK.keys {
            let ident = Ident::new(key.name, proc_macro2::Span::call_site());
            let (_, errors) = parse(quote!(#ident = 1));
            assert!(
                errors.iter().all(|e| !e.contains("unknown")),
                "{}: {errors:?}",
                key.name
            );
        }
        for key in WORKFLOW.keys {
            let ident = Ident::new(key.name, proc_macro2::Span::call_site());
            let (_, errors) = parse_workflow(quote!(#ident = 1));
            assert!(
                errors.iter().all(|e| !e.contains("unknown")),
                "{}: {errors:?}",
                key.name
            );
        }
    }

    #[test]
    fn a_map_option_on_an_attribute_says_where_it_goes() {
        let (_, errors) = parse(quote!(concurrency = 4));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .contains("(`concurrency` is a `map` option: pass it to `map(task, list, ..)` in the workflow body)"),
            "{errors:?}"
        );
    }

    /// The way `Keys`' documentation shows `map(..)` reading its options.
    #[test]
    fn map_options_reuse_the_key_helpers() {
        fn map_concurrency(value: &Expr) -> syn::Result<u64> {
            match value {
                Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse(),
                _ => Err(syn::Error::new_spanned(value, "`concurrency` takes an integer")),
            }
        }
        fn map_ratio(value: &Expr) -> syn::Result<f64> {
            match value {
                Expr::Lit(syn::ExprLit { lit: Lit::Float(f), .. }) => f.base10_parse(),
                _ => Err(syn::Error::new_spanned(value, "`min_success_ratio` takes a number")),
            }
        }
        let call: syn::ExprCall = syn::parse_quote!(map(
            score,
            shards,
            concurency = 2,
            concurrency = 4,
            retries = 1,
            concurrency = 8,
            min_success_ratio = 0.9
        ));
        let mut errors = Errors::new();
        let mut concurrency = Attr::none(&MAP, CONCURRENCY);
        let mut ratio = Attr::none(&MAP, MIN_SUCCESS_RATIO);
        for option in call.args.iter().skip(2) {
            let Expr::Assign(assign) = option else { continue };
            let Expr::Path(key) = &*assign.left else { continue };
            let (key, value) = (&key.path, Some(&*assign.right));
            if key == CONCURRENCY {
                concurrency.set(key, value, map_concurrency, &mut errors);
            } else if key == MIN_SUCCESS_RATIO {
                ratio.set(key, value, map_ratio, &mut errors);
            } else {
                MAP.unknown(key, &mut errors);
            }
        }
        assert_eq!((concurrency.get(), ratio.get()), (Some(4), Some(0.9)));
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains(
                "unknown `map` option `concurency`; valid options are: `concurrency`, `min_success_ratio` (did you mean `concurrency`?)"
            ),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("(`retries` is a #[task] option: set it on each #[task] the workflow calls)"),
            "{errors:?}"
        );
        assert!(
            errors[2].contains("duplicate `map` option `concurrency`: set it once"),
            "{errors:?}"
        );
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("retries", "retries"), 0);
        assert_eq!(edit_distance("retries", "retry"), 3);
        assert_eq!(edit_distance("retries", "entries"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
