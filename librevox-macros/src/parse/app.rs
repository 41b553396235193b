//! `#[app(name = "...", returns = ...)]` and the function under it.

use super::args::{self, Arg, Seen};
use crate::ctxt::Ctxt;
use crate::kw;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Type};

/// The options.
pub(crate) struct AppArgs {
    /// The FreeSWITCH application; default: the function's name.
    pub(crate) name: Option<LitStr>,
    pub(crate) returns: Returns,
}

/// What the generated method returns.
pub(crate) enum Returns {
    /// `Result<()>` (default).
    Nothing,
    /// `Result<Event>`: the CHANNEL_EXECUTE_COMPLETE event.
    Event,
    /// `Result<Option<String>>`: a channel variable of that event.
    Variable(Variable),
}

/// Where `returns = variable(...)` takes the variable's name from.
pub(crate) enum Variable {
    /// `variable(param)`: the value the caller passes for that parameter.
    Param(Ident),
    /// `variable("name")`: a fixed name.
    Literal(LitStr),
    /// `variable(options.variable)`: a field of a parameter (for option
    /// structs); the first ident is the parameter.
    Field(Ident, Expr),
}

/// The function, read.
pub(crate) struct AppFn {
    pub(crate) item: ItemFn,
    /// Each parameter's name and type, in order.
    pub(crate) params: Vec<(Ident, Type)>,
}

/// Reads the options; records every problem and keeps the defaults.
pub(crate) fn parse_args(cx: &Ctxt, tokens: TokenStream) -> AppArgs {
    let mut out = AppArgs {
        name: None,
        returns: Returns::Nothing,
    };
    let list = match args::parse_args(tokens) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return out;
        }
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.key.to_string();
        if !kw::APP_OPTIONS.contains(&key.as_str()) {
            args::unknown_option(cx, "#[app]", &arg.key, kw::APP_OPTIONS, "");
            continue;
        }
        if !seen.first(cx, &arg.key) {
            continue;
        }
        match key.as_str() {
            kw::NAME => out.name = parse_name(cx, arg),
            kw::RETURNS => out.returns = parse_returns(cx, arg).unwrap_or(Returns::Nothing),
            _ => unreachable!("every valid option is handled"),
        }
    }
    out
}

fn parse_name(cx: &Ctxt, arg: &Arg) -> Option<LitStr> {
    let expr = arg.expr(cx, "name = \"play_and_get_digits\"")?;
    let lit = args::lit_str(cx, expr, "the FreeSWITCH application name")?;
    let value = lit.value();
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.error_spanned_by(
            lit,
            "an application name is one word, e.g. `name = \"play_and_get_digits\"`",
        );
        return None;
    }
    Some(lit.clone())
}

const RETURNS_HELP: &str = "expected `returns = event` (the CHANNEL_EXECUTE_COMPLETE event), \
     `returns = variable(param)` (the channel variable named by that parameter) or \
     `returns = variable(\"name\")`; leave `returns` out when the application returns nothing";

fn parse_returns(cx: &Ctxt, arg: &Arg) -> Option<Returns> {
    let expr = arg.expr(cx, "returns = event")?;
    if let Some(id) = args::ident(expr) {
        if id == kw::RETURNS_EVENT {
            return Some(Returns::Event);
        }
        if id == kw::RETURNS_VARIABLE {
            cx.error_spanned_by(
                expr,
                "say which variable: `returns = variable(param)` or `returns = variable(\"name\")`",
            );
            return None;
        }
    }
    if let Expr::Call(call) = expr {
        if args::ident(&call.func).is_some_and(|f| f == kw::RETURNS_VARIABLE) {
            if call.args.len() != 1 {
                cx.error_spanned_by(
                    expr,
                    "`variable(...)` takes one parameter name or one string: \
                     `variable(var)` or `variable(\"read_result\")`",
                );
                return None;
            }
            let inner = &call.args[0];
            if let Some(id) = args::ident(inner) {
                return Some(Returns::Variable(Variable::Param(id.clone())));
            }
            if let Expr::Field(_) = inner {
                let mut base = inner;
                while let Expr::Field(f) = base {
                    base = &f.base;
                }
                if let Some(root) = args::ident(base) {
                    return Some(Returns::Variable(Variable::Field(
                        root.clone(),
                        inner.clone(),
                    )));
                }
            }
            if let Some(lit) = args::lit_str_opt(inner) {
                if lit.value().trim().is_empty() {
                    cx.error_spanned_by(lit, "an empty variable name");
                    return None;
                }
                return Some(Returns::Variable(Variable::Literal(lit.clone())));
            }
            cx.error_spanned_by(
                inner,
                "expected a parameter name (`variable(var)`), a field of one (`variable(options.variable)`) or a variable name in quotes (`variable(\"read_result\")`)",
            );
            return None;
        }
    }
    cx.error_spanned_by(expr, format!("unknown `returns`; {RETURNS_HELP}"));
    None
}

/// Reads the function; `None` when it is not a usable free function (the
/// errors are recorded).
pub(crate) fn parse_fn(cx: &Ctxt, item: TokenStream) -> Option<AppFn> {
    let item: ItemFn = match syn::parse2::<syn::Item>(item) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(_) => {
            cx.error_at(
                Span::call_site(),
                "#[app] goes on a free `fn` that builds the application's argument, e.g. \
                 `#[app] fn playback(file: &str) -> String { file.to_owned() }`",
            );
            return None;
        }
        Err(e) => {
            cx.syn_error(e);
            return None;
        }
    };
    let sig = &item.sig;
    let mut ok = true;
    let mut fail = |tokens: &dyn ToTokens, msg: &str| {
        cx.error_spanned_by(tokens.to_token_stream(), msg);
        ok = false;
    };
    if let Some(a) = &sig.asyncness {
        fail(
            a,
            "remove `async`: an #[app] fn only builds the argument string; the generated \
             method is the async one, and waits for the application to complete",
        );
    }
    if let Some(c) = &sig.constness {
        fail(c, "an #[app] fn cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        fail(u, "an #[app] fn cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        fail(abi, "an #[app] fn cannot be `extern`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(
            &sig.generics,
            "an #[app] fn cannot have type parameters: give each parameter a concrete type \
             (`&str`, `u32`, ...) or an `impl Trait` such as `impl Into<String>`; the \
             parameters become those of the generated method",
        );
    }
    if let Some(v) = &sig.variadic {
        fail(v, "an #[app] fn cannot be variadic");
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => fail(
                r,
                "#[app] goes on a free fn, not a method: the generated trait method gets \
                 `&self`",
            ),
            FnArg::Typed(pt) => {
                // `impl Into<Bridge>` is fine: the argument is built before
                // the returned future, which holds no parameter.
                match &*pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        params.push((pi.ident.clone(), (*pt.ty).clone()));
                    }
                    other => fail(
                        other,
                        "give this parameter a plain name: it becomes a parameter of the \
                         generated method",
                    ),
                }
            }
        }
    }
    ok.then_some(AppFn { item, params })
}

/// Checks between the options and the function.
pub(crate) fn validate(cx: &Ctxt, args: &AppArgs, f: &AppFn) {
    let root = match &args.returns {
        Returns::Variable(Variable::Param(id)) | Returns::Variable(Variable::Field(id, _)) => {
            Some(id)
        }
        _ => None,
    };
    if let Some(id) = root {
        if !f.params.iter().any(|(p, _)| p == id) {
            let names: Vec<String> = f.params.iter().map(|(p, _)| p.to_string()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let have = if names.is_empty() {
                format!("`{}` has no parameters", f.item.sig.ident)
            } else {
                format!("expected one of {}", kw::one_of(&names))
            };
            cx.error_spanned_by(
                id,
                format!(
                    "`{id}` is not a parameter of `{}` ({have}); to read a variable with a \
                     fixed name, quote it: `variable(\"{id}\")`",
                    f.item.sig.ident
                ),
            );
        }
    }
}
