//! Attribute macros for the `brigade` async runtime.
//!
//! Use them through the `brigade` crate, which re-exports them:
//! `#[brigade::main]` and `#[brigade::test]`. Both turn an `async fn` into a
//! plain `fn` that builds a brigade runtime and drives the function body to
//! completion with `Runtime::block_on`.
//!
//! # `#[brigade::main]`
//!
//! ```ignore
//! #[brigade::main]
//! async fn main() -> std::io::Result<()> {
//!     let value = compute().await?;
//!     println!("{value}");
//!     Ok(())
//! }
//! ```
//!
//! expands to (roughly)
//!
//! ```ignore
//! fn main() -> std::io::Result<()> {
//!     ::brigade::Runtime::new()
//!         .expect("brigade::main: could not start the runtime")
//!         .block_on(async move {
//!             let value = compute().await?;
//!             println!("{value}");
//!             Ok(())
//!         })
//! }
//! ```
//!
//! Without arguments the runtime gets one worker per available core
//! (`Runtime::new()`). Choose the number of workers with `workers = N`:
//!
//! ```ignore
//! #[brigade::main(workers = 4)]
//! async fn main() {
//!     // runs on a runtime built with `Runtime::builder().workers(4).build()`
//! }
//! ```
//!
//! # `#[brigade::test]`
//!
//! ```ignore
//! #[brigade::test]
//! async fn adds() {
//!     assert_eq!(add(1, 2).await, 3);
//! }
//!
//! #[brigade::test(workers = 1)]
//! #[should_panic(expected = "boom")]
//! async fn panics() {
//!     panic!("boom");
//! }
//! ```
//!
//! `#[brigade::test]` adds `#[test]` itself (do not add another one) and
//! keeps the other attributes, such as `#[should_panic]` or `#[ignore]`.
//! Test runtimes have 2 workers unless `workers = N` says otherwise, so
//! tests exercise cross-thread scheduling without depending on the machine.
//!
//! # Arguments
//!
//! | argument      | meaning                                   | default                                 |
//! |---------------|-------------------------------------------|-----------------------------------------|
//! | `workers = N` | number of worker threads, an integer ≥ 1  | `main`: available cores; `test`: 2      |
//! | `start_paused = true` | virtual time: the clock starts paused (`Builder::start_paused`) | `false` |
//! | `seeds = N` (test only) | run the body under N deterministic schedules (`Builder::deterministic(0..N)`), spawned as a task (so it must be `Send`); a failure prints the seed and a `BRIGADE_SEED=<seed> cargo test ...` command replaying it; with `BRIGADE_SEED` set only that seed runs | – |
//!
//! # Requirements on the function
//!
//! The function must be an `async fn` without parameters and without
//! generic parameters. Its attributes, visibility and return type are kept,
//! so `-> Result<(), E>` and `?` inside the body work as in any `fn`.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Literal, Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{ItemFn, LitInt, ReturnType, Type};

/// The arguments every macro accepts, listed in "unknown argument" errors.
const ACCEPTED_ARGUMENTS: &str = "`workers = N`, `start_paused = true`, `seeds = N` (test only)";

/// Runs an `async fn main` on a brigade runtime.
///
/// The function becomes a plain `fn` that builds a runtime and calls
/// `block_on` with the body. Attributes, visibility and the return type are
/// kept, so `async fn main() -> Result<(), E>` with `?` in the body works.
///
/// Arguments:
///
/// - `workers = N`: build the runtime with `Runtime::builder().workers(N)`;
///   `N` must be at least 1. Without it the runtime uses `Runtime::new()`,
///   one worker per available core.
/// - `start_paused = true`: the runtime's clock starts paused (virtual time).
///
/// ```ignore
/// #[brigade::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let text = read_config().await?;
///     println!("{text}");
///     Ok(())
/// }
///
/// // or, with a fixed number of workers:
/// // #[brigade::main(workers = 4)]
/// ```
///
/// The function must be `async`, take no parameters and have no generic
/// parameters. It does not need to be called `main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    finish(expand_main(args.into(), item.clone().into()), item)
}

/// Runs an `async fn` test on a brigade runtime.
///
/// The function becomes a plain `#[test] fn` that builds a runtime and calls
/// `block_on` with the body. Do not add `#[test]` yourself; other attributes
/// such as `#[should_panic]` or `#[ignore]` are kept and placed after the
/// generated `#[test]`.
///
/// Arguments:
///
/// - `workers = N`: number of worker threads, at least 1. Defaults to 2.
/// - `start_paused = true`: the runtime's clock starts paused (virtual time: sleeps complete at
///   once, at their exact virtual deadline).
/// - `seeds = N`: run the body under N seeded deterministic schedules (one worker, virtual
///   time); on failure the seed and a one-line replay command are printed, and
///   `BRIGADE_SEED=<seed>` runs just that seed. The body is spawned as a task, so it must be
///   `Send`, and the test must return `()`.
///
/// ```ignore
/// #[brigade::test]
/// async fn spawned_task_runs() {
///     let handle = brigade::spawn(async { 40 + 2 });
///     assert_eq!(handle.await, 42);
/// }
///
/// #[brigade::test(workers = 1)]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     panic!("boom");
/// }
/// ```
///
/// The function must be `async`, take no parameters and have no generic
/// parameters.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    finish(expand_test(args.into(), item.clone().into()), item)
}

/// Turns an expansion result into the macro output.
///
/// On error, the original item is emitted next to the error so the user does
/// not also get follow-up errors such as "`main` function not found".
fn finish(result: syn::Result<TokenStream2>, item: TokenStream) -> TokenStream {
    match result {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(TokenStream2::from(item));
            out.into()
        }
    }
}

/// Which attribute is being expanded; decides defaults and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "#[brigade::main]",
            Kind::Test => "#[brigade::test]",
        }
    }

    fn expect_message(self) -> &'static str {
        match self {
            Kind::Main => "brigade::main: could not start the runtime",
            Kind::Test => "brigade::test: could not start the runtime",
        }
    }

    /// Worker count used when the attribute has no `workers = N`;
    /// `None` means `Runtime::new()` (available cores).
    fn default_workers(self) -> Option<usize> {
        match self {
            Kind::Main => None,
            Kind::Test => Some(2),
        }
    }
}

/// Parsed attribute arguments.
#[derive(Debug, Default)]
struct Args {
    /// `workers = N`, with the span of `N`.
    workers: Option<(usize, Span)>,
    /// `start_paused = true|false`.
    start_paused: Option<bool>,
    /// `seeds = N`, with the span of `N`.
    seeds: Option<(u64, Span)>,
}

/// Parses `workers = N` (comma separated, trailing comma allowed).
fn parse_args(kind: Kind, args: TokenStream2) -> syn::Result<Args> {
    let mut parsed = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("workers") {
            if parsed.workers.is_some() {
                return Err(meta.error("`workers` is given more than once: keep only one"));
            }
            let value = meta.value().map_err(|_| {
                meta.error("`workers` needs a value: write `workers = N` with N >= 1")
            })?;
            let lit: LitInt = value.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`workers` must be an integer literal: write `workers = N` with N >= 1",
                )
            })?;
            let n: usize = lit.base10_parse().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    "`workers` must be a positive integer that fits in `usize`: write `workers = N` with N >= 1",
                )
            })?;
            if n == 0 {
                return Err(syn::Error::new(
                    lit.span(),
                    "workers must be at least 1: a runtime needs a worker thread to run tasks",
                ));
            }
            parsed.workers = Some((n, lit.span()));
            Ok(())
        } else if meta.path.is_ident("start_paused") {
            if parsed.start_paused.is_some() {
                return Err(meta.error("`start_paused` is given more than once: keep only one"));
            }
            let value = meta.value().map_err(|_| {
                meta.error("`start_paused` needs a value: write `start_paused = true`")
            })?;
            let lit: syn::LitBool = value.parse().map_err(|e| {
                syn::Error::new(e.span(), "`start_paused` must be `true` or `false`")
            })?;
            parsed.start_paused = Some(lit.value);
            Ok(())
        } else if meta.path.is_ident("seeds") && kind == Kind::Test {
            if parsed.seeds.is_some() {
                return Err(meta.error("`seeds` is given more than once: keep only one"));
            }
            let value = meta
                .value()
                .map_err(|_| meta.error("`seeds` needs a value: write `seeds = N` with N >= 1"))?;
            let lit: LitInt = value.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`seeds` must be an integer literal: write `seeds = N`",
                )
            })?;
            let n: u64 = lit.base10_parse().map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    "`seeds` must be a positive integer that fits in `u64`",
                )
            })?;
            if n == 0 {
                return Err(syn::Error::new(lit.span(), "seeds must be at least 1"));
            }
            parsed.seeds = Some((n, lit.span()));
            Ok(())
        } else {
            let name = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format!(
                "unknown argument `{name}` for {}: the accepted arguments are {ACCEPTED_ARGUMENTS}",
                kind.attr()
            )))
        }
    });
    parser.parse2(args)?;
    Ok(parsed)
}

/// Expands `#[brigade::main(args)] item`.
///
/// Kept as a plain function over `proc_macro2` tokens so it can be unit
/// tested.
fn expand_main(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    expand(Kind::Main, args, item)
}

/// Expands `#[brigade::test(args)] item`.
fn expand_test(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    expand(Kind::Test, args, item)
}

/// Pushes `error` onto `errors`, combining with earlier ones so the user sees
/// every problem at once.
fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(existing) => existing.combine(error),
        None => *errors = Some(error),
    }
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut errors: Option<syn::Error> = None;

    let args = parse_args(kind, args).unwrap_or_else(|e| {
        push_error(&mut errors, e);
        Args::default()
    });

    let func: ItemFn = match syn::parse2(item) {
        Ok(func) => func,
        Err(e) => {
            let mut error = syn::Error::new(
                e.span(),
                format!(
                    "{} can only be applied to an `async fn` (for example `async fn {}() {{ ... }}`)",
                    kind.attr(),
                    if kind == Kind::Main { "main" } else { "my_test" },
                ),
            );
            if let Some(mut earlier) = errors {
                earlier.combine(error);
                error = earlier;
            }
            return Err(error);
        }
    };

    let attr = kind.attr();
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        push_error(
            &mut errors,
            syn::Error::new(
                sig.fn_token.span,
                format!("{attr} needs an `async fn`: add `async` before `fn`"),
            ),
        );
    }
    if !sig.inputs.is_empty() {
        push_error(
            &mut errors,
            syn::Error::new(
                sig.inputs.span(),
                format!("{attr} functions cannot take parameters: remove them"),
            ),
        );
    }
    if sig.variadic.is_some() {
        push_error(
            &mut errors,
            syn::Error::new(
                sig.variadic.span(),
                format!("{attr} functions cannot be variadic: remove the `...`"),
            ),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        push_error(
            &mut errors,
            syn::Error::new(
                sig.generics.span(),
                format!("{attr} functions cannot be generic: remove the generic parameters and `where` clause"),
            ),
        );
    }
    if kind == Kind::Test {
        for a in &func.attrs {
            if a.path().is_ident("test") {
                push_error(
                    &mut errors,
                    syn::Error::new(
                        a.span(),
                        "#[brigade::test] already adds `#[test]`: remove this attribute",
                    ),
                );
            }
        }
    }
    if let Some((_, span)) = args.seeds {
        if args.workers.is_some_and(|(n, _)| n > 1) {
            push_error(
                &mut errors,
                syn::Error::new(
                    span,
                    "`seeds = N` runs the test on a deterministic runtime with one worker thread: remove `workers = N`",
                ),
            );
        }
        if !matches!(sig.output, ReturnType::Default) {
            push_error(
                &mut errors,
                syn::Error::new(
                    sig.output.span(),
                    "`seeds = N` needs a test returning `()`: unwrap errors inside the body (the failing seed is reported)",
                ),
            );
        }
    }
    if let Some(error) = errors {
        return Err(error);
    }

    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    sig.asyncness = None;

    let paused = match args.start_paused {
        Some(true) => quote! { .start_paused(true) },
        _ => TokenStream2::new(),
    };
    let runtime = match args
        .workers
        .or(kind.default_workers().map(|n| (n, Span::call_site())))
    {
        Some((n, span)) => {
            let mut lit = Literal::usize_suffixed(n);
            lit.set_span(span);
            quote_spanned! {span=>
                ::brigade::Runtime::builder().workers(#lit) #paused .build()
            }
        }
        None if args.start_paused == Some(true) => {
            quote! { ::brigade::Runtime::builder() #paused .build() }
        }
        None => quote! { ::brigade::Runtime::new() },
    };

    // Annotating the body's type lets `?` in the body know what it converts
    // into (an `async` block cannot declare its output type). Types that are
    // not allowed in a `let` annotation are left to inference.
    let body_span = block.brace_token.span.join();
    let body = match &sig.output {
        ReturnType::Type(_, ty) if annotatable(ty) => quote_spanned! {body_span=>
            {
                let __brigade_output: #ty = #block;
                __brigade_output
            }
        },
        _ => block.to_token_stream(),
    };

    let expect = kind.expect_message();
    let test_attr = match kind {
        Kind::Test => quote! { #[::core::prelude::v1::test] },
        Kind::Main => TokenStream2::new(),
    };

    if let Some((n, span)) = args.seeds {
        let mut lit = Literal::u64_suffixed(n);
        lit.set_span(span);
        let name = &sig.ident;
        return Ok(quote! {
            #test_attr
            #(#attrs)*
            #vis #sig {
                ::brigade::runtime::run_with_seeds(
                    ::brigade::runtime::SeededTest {
                        module_path: ::core::module_path!(),
                        name: ::core::stringify!(#name),
                        package: ::core::env!("CARGO_PKG_NAME"),
                        crate_name: ::core::env!("CARGO_CRATE_NAME"),
                    },
                    #lit,
                    || async move #body,
                )
            }
        });
    }

    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #runtime
                .expect(#expect)
                .block_on(async move #body)
        }
    })
}

/// Whether `ty` may be written as the type of a `let` binding.
fn annotatable(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) | Type::Never(_) | Type::Infer(_) => false,
        Type::Paren(p) => annotatable(&p.elem),
        Type::Group(g) => annotatable(&g.elem),
        // `impl Trait` nested inside another type is rejected in `let` too.
        other => !other.to_token_stream().to_string().contains("impl "),
    }
}

#[cfg(test)]
mod tests {
    use super::{expand_main, expand_test, Kind};
    use proc_macro2::TokenStream as TokenStream2;
    use quote::quote;

    fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
        match kind {
            Kind::Main => expand_main(args, item),
            Kind::Test => expand_test(args, item),
        }
    }

    fn expand_ok(kind: Kind, args: TokenStream2, item: TokenStream2) -> String {
        expand(kind, args, item)
            .unwrap_or_else(|e| panic!("unexpected error: {e}"))
            .to_string()
    }

    fn expand_err(kind: Kind, args: TokenStream2, item: TokenStream2) -> String {
        match expand(kind, args, item) {
            Ok(tokens) => panic!("expected an error, got {tokens}"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn main_without_args_uses_runtime_new() {
        let out = expand_ok(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() {
                    run().await;
                }
            ),
        );
        assert!(out.contains(":: brigade :: Runtime :: new ()"), "{out}");
        assert!(!out.contains("builder"), "{out}");
        assert!(
            out.contains("brigade::main: could not start the runtime"),
            "{out}"
        );
        assert!(out.contains("block_on (async move"), "{out}");
        assert!(!out.contains("async fn"), "{out}");
        assert!(out.starts_with("fn main ()"), "{out}");
    }

    #[test]
    fn main_with_workers_uses_builder() {
        let out = expand_ok(
            Kind::Main,
            quote!(workers = 4),
            quote!(
                async fn main() {}
            ),
        );
        assert!(
            out.contains(":: brigade :: Runtime :: builder () . workers (4usize) . build ()"),
            "{out}"
        );
    }

    #[test]
    fn trailing_comma_is_accepted() {
        let out = expand_ok(
            Kind::Main,
            quote!(workers = 3,),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.contains("workers (3usize)"), "{out}");
    }

    #[test]
    fn test_defaults_to_two_workers() {
        let out = expand_ok(
            Kind::Test,
            quote!(),
            quote!(
                async fn it_works() {}
            ),
        );
        assert!(out.contains("workers (2usize)"), "{out}");
        assert!(
            out.contains("brigade::test: could not start the runtime"),
            "{out}"
        );
        assert!(
            out.starts_with("# [:: core :: prelude :: v1 :: test] fn it_works ()"),
            "{out}"
        );
    }

    #[test]
    fn test_workers_override() {
        let out = expand_ok(
            Kind::Test,
            quote!(workers = 1),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("workers (1usize)"), "{out}");
        assert!(!out.contains("workers (2usize)"), "{out}");
    }

    #[test]
    fn workers_zero_is_an_error() {
        for kind in [Kind::Main, Kind::Test] {
            let err = expand_err(
                kind,
                quote!(workers = 0),
                quote!(
                    async fn main() {}
                ),
            );
            assert!(
                err.contains(
                    "workers must be at least 1: a runtime needs a worker thread to run tasks"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn workers_must_be_an_integer_literal() {
        let err = expand_err(
            Kind::Main,
            quote!(workers = "4"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("integer literal"), "{err}");
        let err = expand_err(
            Kind::Main,
            quote!(workers = -1),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("workers = N"), "{err}");
        let err = expand_err(
            Kind::Main,
            quote!(workers),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("needs a value"), "{err}");
    }

    #[test]
    fn duplicate_workers_is_an_error() {
        let err = expand_err(
            Kind::Main,
            quote!(workers = 1, workers = 2),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("more than once"), "{err}");
    }

    #[test]
    fn unknown_argument_is_named_and_accepted_ones_listed() {
        let err = expand_err(
            Kind::Main,
            quote!(flavor = "current"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("unknown argument `flavor`"), "{err}");
        assert!(err.contains("`workers = N`"), "{err}");
        let err = expand_err(
            Kind::Test,
            quote!(threads = 2),
            quote!(
                async fn t() {}
            ),
        );
        assert!(
            err.contains("unknown argument `threads` for #[brigade::test]"),
            "{err}"
        );
    }

    #[test]
    fn non_async_fn_is_an_error_saying_add_async() {
        let err = expand_err(
            Kind::Main,
            quote!(),
            quote!(
                fn main() {}
            ),
        );
        assert!(
            err.contains("#[brigade::main] needs an `async fn`: add `async`"),
            "{err}"
        );
        let err = expand_err(
            Kind::Test,
            quote!(),
            quote!(
                fn t() {}
            ),
        );
        assert!(
            err.contains("#[brigade::test] needs an `async fn`: add `async`"),
            "{err}"
        );
    }

    #[test]
    fn parameters_are_an_error() {
        let err = expand_err(
            Kind::Main,
            quote!(),
            quote!(
                async fn main(x: u32) {}
            ),
        );
        assert!(err.contains("cannot take parameters: remove them"), "{err}");
    }

    #[test]
    fn generics_are_an_error() {
        let err = expand_err(
            Kind::Test,
            quote!(),
            quote!(
                async fn t<T: Default>() {}
            ),
        );
        assert!(err.contains("cannot be generic"), "{err}");
        let err = expand_err(
            Kind::Test,
            quote!(),
            quote!(
                async fn t()
                where
                    u8: Copy,
                {
                }
            ),
        );
        assert!(err.contains("cannot be generic"), "{err}");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = expand_err(
            Kind::Main,
            quote!(workers = 0),
            quote!(
                fn main(x: u8) {}
            ),
        );
        assert!(err.contains("at least 1"), "{err}");
        assert!(err.contains("add `async`"), "{err}");
        assert!(err.contains("parameters"), "{err}");
    }

    #[test]
    fn non_fn_item_is_an_error() {
        let err = expand_err(
            Kind::Main,
            quote!(),
            quote!(
                struct Main;
            ),
        );
        assert!(
            err.contains("can only be applied to an `async fn`"),
            "{err}"
        );
    }

    #[test]
    fn other_name_than_main_is_allowed() {
        let out = expand_ok(
            Kind::Main,
            quote!(),
            quote!(
                pub async fn start() {}
            ),
        );
        assert!(out.starts_with("pub fn start ()"), "{out}");
    }

    #[test]
    fn should_panic_and_ignore_are_kept_after_test() {
        let out = expand_ok(
            Kind::Test,
            quote!(),
            quote!(
                #[should_panic(expected = "boom")]
                #[ignore]
                async fn t() {
                    panic!("boom")
                }
            ),
        );
        let test = out
            .find("# [:: core :: prelude :: v1 :: test]")
            .expect(&out);
        let should_panic = out
            .find("# [should_panic (expected = \"boom\")]")
            .expect(&out);
        let ignore = out.find("# [ignore]").expect(&out);
        assert!(test < should_panic && should_panic < ignore, "{out}");
    }

    #[test]
    fn start_paused_chains_onto_the_builder() {
        let out = expand_ok(
            Kind::Test,
            quote!(start_paused = true),
            quote!(
                async fn t() {}
            ),
        );
        assert!(
            out.contains("workers (2usize) . start_paused (true) . build ()"),
            "{out}"
        );
        let out = expand_ok(
            Kind::Main,
            quote!(start_paused = true),
            quote!(
                async fn main() {}
            ),
        );
        assert!(
            out.contains("builder () . start_paused (true) . build ()"),
            "{out}"
        );
    }

    #[test]
    fn seeds_run_the_body_under_run_with_seeds() {
        let out = expand_ok(
            Kind::Test,
            quote!(seeds = 100),
            quote!(
                async fn races() {}
            ),
        );
        assert!(
            out.contains(":: brigade :: runtime :: run_with_seeds"),
            "{out}"
        );
        assert!(out.contains("100u64"), "{out}");
        assert!(out.contains("stringify ! (races)"), "{out}");
        let err = expand_err(
            Kind::Test,
            quote!(seeds = 10, workers = 2),
            quote!(
                async fn t() {}
            ),
        );
        assert!(err.contains("remove `workers = N`"), "{err}");
        let err = expand_err(
            Kind::Test,
            quote!(seeds = 10),
            quote!(
                async fn t() -> Result<(), ()> {
                    Ok(())
                }
            ),
        );
        assert!(err.contains("returning `()`"), "{err}");
        let err = expand_err(
            Kind::Main,
            quote!(seeds = 10),
            quote!(
                async fn main() {}
            ),
        );
        assert!(err.contains("unknown argument `seeds`"), "{err}");
    }

    #[test]
    fn explicit_test_attribute_is_an_error() {
        let err = expand_err(
            Kind::Test,
            quote!(),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        assert!(err.contains("already adds `#[test]`: remove"), "{err}");
    }

    #[test]
    fn attributes_visibility_and_return_type_are_kept() {
        let out = expand_ok(
            Kind::Main,
            quote!(),
            quote!(
                #[allow(unused)]
                pub(crate) async fn main() -> Result<(), std::io::Error> {
                    step().await?;
                    Ok(())
                }
            ),
        );
        assert!(
            out.starts_with("# [allow (unused)] pub (crate) fn main ()"),
            "{out}"
        );
        assert!(
            out.contains("-> Result < () , std :: io :: Error >"),
            "{out}"
        );
        // The body's type is annotated so `?` knows the error type.
        assert!(
            out.contains("let __brigade_output : Result < () , std :: io :: Error > ="),
            "{out}"
        );
        assert!(out.contains("step () . await ?"), "{out}");
    }

    #[test]
    fn unannotatable_return_types_are_left_to_inference() {
        let out = expand_ok(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() -> impl std::process::Termination {}
            ),
        );
        assert!(!out.contains("__brigade_output"), "{out}");
        let out = expand_ok(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() {}
            ),
        );
        assert!(!out.contains("__brigade_output"), "{out}");
    }
}
