//! The loose shape shared by every option list: `key`, `key = <expr>` or
//! `key(<tokens>)`, separated by commas.
//!
//! Parsing into this shape only fails on syntax; the meaning of each option
//! is read afterwards, one option at a time, so one bad option never hides
//! the others.

use crate::ctxt::Ctxt;
use crate::kw;
use crate::names::distance;
use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{token, Expr, Ident, Lit, LitStr, Token};

/// One option as written.
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: ArgValue,
}

/// What follows an option's key.
pub(crate) enum ArgValue {
    /// `key`
    Flag,
    /// `key = <expr>`
    Eq(Expr),
    /// `key(<tokens>)`
    Paren(token::Paren, TokenStream),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Arg> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            ArgValue::Eq(ungroup(input.parse()?))
        } else if input.peek(token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            ArgValue::Paren(paren, content.parse()?)
        } else {
            ArgValue::Flag
        };
        Ok(Arg { key, value })
    }
}

impl quote::ToTokens for Arg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.key.to_tokens(tokens);
        match &self.value {
            ArgValue::Flag => {}
            ArgValue::Eq(e) => {
                <Token![=]>::default().to_tokens(tokens);
                e.to_tokens(tokens);
            }
            ArgValue::Paren(p, inner) => p.surround(tokens, |t| t.extend(inner.clone())),
        }
    }
}

impl Arg {
    /// The value of a `key = <expr>` option, or an error saying to write one.
    pub(crate) fn expr(&self, cx: &Ctxt, example: &str) -> Option<&Expr> {
        match &self.value {
            ArgValue::Eq(e) => Some(e),
            _ => {
                cx.error_at(
                    self.key.span(),
                    format!("`{}` needs a value: write `{example}`", self.key),
                );
                None
            }
        }
    }
}

/// `expr` without the invisible groups a `macro_rules!` fragment comes
/// in: `$f` of a `$f:literal` or `$f:expr` reaches the macro as a group
/// with no delimiters, which syn reads as `Expr::Group`. Unwrapped (also
/// inside lists), such a value is checked like the same text written
/// directly: `#[inbound(format = $f)]` works in a `macro_rules!`.
pub(crate) fn ungroup(expr: Expr) -> Expr {
    match expr {
        Expr::Group(g) if g.attrs.is_empty() => ungroup(*g.expr),
        Expr::Array(mut a) => {
            a.elems = a.elems.into_iter().map(ungroup).collect();
            Expr::Array(a)
        }
        other => other,
    }
}

/// Parses a comma-separated option list.
pub(crate) fn parse_args(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let list = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens)?;
    Ok(list.into_iter().collect())
}

/// Remembers which options were given, to reject repeats.
#[derive(Default)]
pub(crate) struct Seen(Vec<String>);

impl Seen {
    /// False (and an error on the key) when `key` was already given.
    pub(crate) fn first(&mut self, cx: &Ctxt, key: &Ident) -> bool {
        let name = key.to_string();
        if self.0.contains(&name) {
            cx.error_at(
                key.span(),
                format!("`{name}` is given more than once; keep one"),
            );
            false
        } else {
            self.0.push(name);
            true
        }
    }
}

/// Reports an option that `what` (e.g. `#[inbound]`) does not know.
pub(crate) fn unknown_option(cx: &Ctxt, what: &str, key: &Ident, valid: &[&str], extra: &str) {
    let name = key.to_string();
    let close = valid
        .iter()
        .copied()
        .map(|v| (distance(&name, v), v))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, v)| *d <= (v.len() / 3).max(1))
        .map(|(_, v)| v);
    let hint = match close {
        Some(v) => format!("; did you mean `{v}`?"),
        None => String::new(),
    };
    cx.error_at(
        key.span(),
        format!(
            "unknown {what} option `{name}`{hint} (expected {}){extra}",
            kw::one_of(valid)
        ),
    );
}

/// The string literal `expr` is, or an error saying what to write.
pub(crate) fn lit_str<'a>(cx: &Ctxt, expr: &'a Expr, what: &str) -> Option<&'a LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => {
            cx.error_spanned_by(expr, format!("expected {what} as a string literal"));
            None
        }
    }
}

/// The single identifier `expr` is, if it is one.
pub(crate) fn ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

/// The string literal `expr` is, if it is one.
pub(crate) fn lit_str_opt(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Group(g) => lit_str_opt(&g.expr),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}
