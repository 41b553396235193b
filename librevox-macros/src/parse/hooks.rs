//! The impl block under `#[inbound]` / `#[outbound]`: which methods are
//! hooks, what their signatures take, and their `#[event(...)]` attributes.

use super::events::{self, Place};
use super::Kind;
use crate::ctxt::Ctxt;
use crate::kw;
use crate::names::{EventSpec, Style};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Meta, ReturnType, Token, Type,
};

/// The impl block, read.
pub(crate) struct ListenerImpl {
    /// The block as written, minus the `#[event]` attributes.
    pub(crate) item: ItemImpl,
    pub(crate) on_event: Option<Handler>,
    /// `connection_completed` / `reconnected` (inbound), `session_initiated`
    /// (outbound), by name.
    pub(crate) lifecycle: Vec<(&'static str, Handler)>,
    /// `#[event]` methods in declaration order.
    pub(crate) hooks: Vec<Hook>,
}

impl ListenerImpl {
    /// The lifecycle method called `name`, if the block has one.
    pub(crate) fn lifecycle(&self, name: &str) -> Option<&Handler> {
        self.lifecycle
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, h)| h)
    }
}

/// A method the runtime calls, and what to pass it.
pub(crate) struct Handler {
    pub(crate) ident: Ident,
    /// The span of its context parameter's type, when it takes one.
    pub(crate) ctx: Option<Span>,
    /// The span of its `&Event` parameter's type, when it takes one.
    pub(crate) event: Option<Span>,
    /// The span of its `&SessionEnd` parameter's type (`session_ended`).
    pub(crate) end: Option<Span>,
    /// Its return type (only `session_initiated` has one).
    pub(crate) output: Option<Type>,
}

/// An `#[event(...)]` method.
pub(crate) struct Hook {
    pub(crate) handler: Handler,
    pub(crate) targets: Vec<Target>,
}

/// One event a hook handles.
pub(crate) struct Target {
    /// `Named` or a `Custom` with exactly one subclass.
    pub(crate) spec: EventSpec,
    /// The tokens the user wrote, for error spans.
    pub(crate) tokens: TokenStream,
    pub(crate) style: Style,
}

impl Target {
    /// The string `Event::is` matches: `CHANNEL_HANGUP`, `CUSTOM a::b`.
    pub(crate) fn wire(&self) -> String {
        match &self.spec {
            EventSpec::Named(n) => (*n).to_owned(),
            EventSpec::Custom(subs) => format!("CUSTOM {}", subs[0]),
            EventSpec::All => "ALL".to_owned(),
        }
    }
}

/// What a method is to the runtime.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    OnEvent,
    Lifecycle(&'static str),
    Hook,
}

impl Role {
    fn describe(self) -> String {
        match self {
            Role::OnEvent => format!("`{}`", kw::ON_EVENT),
            Role::Lifecycle(name) => format!("`{name}`"),
            Role::Hook => "an #[event] hook".to_owned(),
        }
    }

    /// The signature to show in messages.
    fn canonical(self, kind: Kind, name: &Ident) -> String {
        let (ctx, param) = (kind.context(), kind.context_param());
        match self {
            Role::Lifecycle(kw::SESSION_INITIATED) => {
                format!("async fn {name}(&self, {param}: &{ctx}) -> librevox::Result<()>")
            }
            Role::Lifecycle(kw::SESSION_ENDED) => {
                format!("async fn {name}(&self, {param}: &{ctx}, how: &SessionEnd)")
            }
            Role::Lifecycle(_) => format!("async fn {name}(&self, {param}: &{ctx})"),
            Role::OnEvent | Role::Hook => {
                format!("async fn {name}(&self, {param}: &{ctx}, event: &Event)")
            }
        }
    }

    /// What the method may take after the context, if anything.
    fn second(self) -> Option<Param> {
        match self {
            Role::OnEvent | Role::Hook => Some(Param::Event),
            Role::Lifecycle(kw::SESSION_ENDED) => Some(Param::End),
            Role::Lifecycle(_) => None,
        }
    }
}

/// The argument of an `#[event]` that a listener macro has already read.
pub(crate) const CHECKED: &str = "__librevox_checked";

struct CheckedMarker;

impl ToTokens for CheckedMarker {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        Ident::new(CHECKED, Span::call_site()).to_tokens(tokens);
    }
}

const CHECKED_MARKER: CheckedMarker = CheckedMarker;

/// True for `#[event]`, `#[event(...)]`, `#[librevox::event(...)]`.
pub(crate) fn is_event_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "event")
}

/// Reads the impl block of a `kind` listener. `None` when `item` is not an
/// inherent impl block (the error is recorded).
pub(crate) fn parse(cx: &Ctxt, kind: Kind, item: TokenStream) -> Option<ListenerImpl> {
    let mut item: ItemImpl = match syn::parse2::<syn::Item>(item) {
        Ok(syn::Item::Impl(item)) => item,
        Ok(other) => {
            let name = match &other {
                syn::Item::Struct(s) => s.ident.to_string(),
                syn::Item::Enum(e) => e.ident.to_string(),
                _ => "MyListener".to_owned(),
            };
            cx.error_at(
                Span::call_site(),
                format!(
                    "{} goes on the impl block that holds the listener's hooks: \
                     `{} impl {name} {{ ... }}`",
                    kind.attr(),
                    kind.attr()
                ),
            );
            return None;
        }
        Err(e) => {
            cx.syn_error(e);
            return None;
        }
    };
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            format!(
                "{} goes on an inherent impl block (`impl {} {{ ... }}`), not on a trait impl; \
                 it writes the listener trait impl itself",
                kind.attr(),
                item.self_ty.to_token_stream()
            ),
        );
    }
    let mut out = ListenerImpl {
        item: item.clone(),
        on_event: None,
        lifecycle: Vec::new(),
        hooks: Vec::new(),
    };
    for impl_item in &mut item.items {
        match impl_item {
            ImplItem::Fn(method) => read_method(cx, kind, method, &mut out),
            ImplItem::Const(c) => reject_event_attrs(cx, &mut c.attrs),
            ImplItem::Type(t) => reject_event_attrs(cx, &mut t.attrs),
            ImplItem::Macro(m) => reject_event_attrs(cx, &mut m.attrs),
            _ => {}
        }
    }
    out.item = item;
    Some(out)
}

fn reject_event_attrs(cx: &Ctxt, attrs: &mut Vec<Attribute>) {
    for attr in take_event_attrs(attrs) {
        cx.error_spanned_by(attr, "#[event] goes on an `async fn` method");
    }
}

/// Removes and returns the `#[event]` attributes.
fn take_event_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (event, rest): (Vec<Attribute>, Vec<Attribute>) = attrs.drain(..).partition(is_event_attr);
    *attrs = rest;
    event
}

fn read_method(cx: &Ctxt, kind: Kind, method: &mut ImplItemFn, out: &mut ListenerImpl) {
    let event_attrs = take_event_attrs(&mut method.attrs);
    // Keep each attribute's path, with an argument that tells `#[event]` the
    // listener macro has read it: the user's `use librevox::event` stays used,
    // and the path still has to resolve, as anything written in Rust does.
    for attr in &event_attrs {
        let path = attr.path();
        method
            .attrs
            .push(syn::parse_quote!(#[#path(#CHECKED_MARKER)]));
    }
    let name = method.sig.ident.to_string();
    let role = match (name.as_str(), kind) {
        (kw::ON_EVENT, _) => Some(Role::OnEvent),
        (kw::CONNECTION_COMPLETED, Kind::Inbound) => {
            Some(Role::Lifecycle(kw::CONNECTION_COMPLETED))
        }
        (kw::RECONNECTED, Kind::Inbound) => Some(Role::Lifecycle(kw::RECONNECTED)),
        (kw::SESSION_INITIATED, Kind::Outbound) => Some(Role::Lifecycle(kw::SESSION_INITIATED)),
        (kw::SESSION_ENDED, Kind::Outbound) => Some(Role::Lifecycle(kw::SESSION_ENDED)),
        (kw::CONNECTION_COMPLETED | kw::RECONNECTED, Kind::Outbound) => {
            cx.error_spanned_by(
                &method.sig.ident,
                format!(
                    "`{name}` is an #[inbound] hook; an #[outbound] listener is not connected \
                     by us, it starts each call in `session_initiated`"
                ),
            );
            None
        }
        (kw::SESSION_INITIATED, Kind::Inbound) => {
            cx.error_spanned_by(
                &method.sig.ident,
                "`session_initiated` is an #[outbound] hook; an #[inbound] listener is told \
                 that its connection is ready in `connection_completed`",
            );
            None
        }
        (kw::SESSION_ENDED, Kind::Inbound) => {
            cx.error_spanned_by(
                &method.sig.ident,
                "`session_ended` is an #[outbound] hook, run when a call is over; an \
                 #[inbound] listener outlives calls (watch `channel_hangup_complete` with an \
                 #[event] hook, or `reconnected` for a lost connection)",
            );
            None
        }
        _ if !event_attrs.is_empty() => Some(Role::Hook),
        _ => None,
    };
    let Some(role) = role else { return };
    if role != Role::Hook {
        for attr in &event_attrs {
            let why = match role {
                Role::OnEvent => "`on_event` already runs for every event".to_owned(),
                _ => format!("`{name}` is a lifecycle method, not an event hook"),
            };
            cx.error_spanned_by(
                attr,
                format!("{why}; remove this #[event], or rename the method to make it a hook"),
            );
        }
    }
    let mut targets: Vec<Target> = Vec::new();
    if role == Role::Hook {
        for attr in &event_attrs {
            for target in read_event_attr(cx, attr) {
                if targets.iter().any(|t| t.spec == target.spec) {
                    cx.error_spanned_by(
                        &target.tokens,
                        "this method already handles this event; name it once",
                    );
                } else {
                    targets.push(target);
                }
            }
        }
    }
    let handler = check_signature(cx, kind, role, method);
    match role {
        Role::OnEvent => out.on_event = handler,
        Role::Lifecycle(n) => {
            if let Some(h) = handler {
                out.lifecycle.push((n, h));
            }
        }
        Role::Hook => {
            if let Some(handler) = handler {
                out.hooks.push(Hook { handler, targets });
            }
        }
    }
}

/// Reads the events of one `#[event(...)]`.
fn read_event_attr(cx: &Ctxt, attr: &Attribute) -> Vec<Target> {
    let tokens = match &attr.meta {
        Meta::List(list) => list.tokens.clone(),
        Meta::Path(_) => {
            cx.error_spanned_by(
                attr,
                "name the event this method handles: `#[event(channel_hangup)]`",
            );
            return Vec::new();
        }
        Meta::NameValue(nv) => {
            cx.error_spanned_by(
                attr,
                format!(
                    "write the event in parentheses: `#[event({})]`",
                    nv.value.to_token_stream()
                ),
            );
            return Vec::new();
        }
    };
    let list = match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return Vec::new();
        }
    };
    if list.is_empty() {
        cx.error_spanned_by(
            attr,
            "name the event this method handles: `#[event(channel_hangup)]`",
        );
    }
    let list: Vec<Expr> = list.into_iter().map(super::args::ungroup).collect();
    let mut out = Vec::new();
    for expr in &list {
        let (result, style) =
            match expr {
                Expr::Path(_) if super::args::ident(expr).is_some() => {
                    let id = super::args::ident(expr).expect("checked");
                    (events::from_ident(&id.to_string()), Style::Snake)
                }
                Expr::Lit(_) if super::args::lit_str_opt(expr).is_some() => {
                    let s = super::args::lit_str_opt(expr).expect("checked");
                    (events::from_wire(&s.value(), Place::Hook), Style::Wire)
                }
                Expr::Assign(assign) => {
                    let key = super::args::ident(&assign.left);
                    match (key, super::args::lit_str_opt(&assign.right)) {
                    (Some(k), Some(s)) if k == kw::CUSTOM_KEY => {
                        (events::custom_subclass(&s.value()), Style::Wire)
                    }
                    (Some(k), _) if k == kw::CUSTOM_KEY => (
                        Err("write the subclass in quotes: `custom = \"conference::maintenance\"`"
                            .to_owned()),
                        Style::Wire,
                    ),
                    _ => (
                        Err(format!(
                            "unknown #[event] option `{}`; the only one is `custom = \"subclass\"` \
                             for a CUSTOM event",
                            assign.left.to_token_stream()
                        )),
                        Style::Wire,
                    ),
                }
                }
                _ => (
                    Err(
                        "expected an event: `channel_hangup`, `\"CHANNEL_HANGUP\"` or \
                     `custom = \"conference::maintenance\"`"
                            .to_owned(),
                    ),
                    Style::Wire,
                ),
            };
        match result {
            Ok(spec) => out.push(Target {
                spec,
                tokens: expr.to_token_stream(),
                style,
            }),
            Err(msg) => cx.error_spanned_by(expr, msg),
        }
    }
    out
}

/// What a non-receiver parameter is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    Ctx(Kind),
    Event,
    End,
}

impl Param {
    fn type_name(self) -> &'static str {
        match self {
            Param::Ctx(k) => k.context(),
            Param::Event => "Event",
            Param::End => "SessionEnd",
        }
    }

    /// A conventional name for the parameter, for messages.
    fn conventional_name(self, kind: Kind) -> &'static str {
        match self {
            Param::Ctx(_) => kind.context_param(),
            Param::Event => "event",
            Param::End => "how",
        }
    }
}

/// The last path segment of `ty`, when it is one of the types hooks take.
fn param_of(ty: &Type) -> Option<Param> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if !last.arguments.is_none() {
        return None;
    }
    match last.ident.to_string().as_str() {
        "Event" => Some(Param::Event),
        "SessionEnd" => Some(Param::End),
        "Inbound" => Some(Param::Ctx(Kind::Inbound)),
        "Session" => Some(Param::Ctx(Kind::Outbound)),
        _ => None,
    }
}

/// Checks a hook's signature against `role`; `None` when it is unusable.
fn check_signature(cx: &Ctxt, kind: Kind, role: Role, method: &ImplItemFn) -> Option<Handler> {
    let sig = &method.sig;
    let what = role.describe();
    let canonical = role.canonical(kind, &sig.ident);
    let mut ok = true;
    let mut fail = |tokens: &dyn ToTokens, msg: String| {
        cx.error_spanned_by(tokens.to_token_stream(), msg);
        ok = false;
    };
    if sig.asyncness.is_none() {
        fail(
            &sig.fn_token,
            format!("{what} must be an `async fn`: write `{canonical}`"),
        );
    }
    if let Some(t) = &sig.constness {
        fail(t, format!("{what} cannot be `const`"));
    }
    if let Some(t) = &sig.unsafety {
        fail(
            t,
            format!("{what} cannot be `unsafe`: the runtime calls it"),
        );
    }
    if let Some(abi) = &sig.abi {
        fail(abi, format!("{what} cannot be `extern`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(
            &sig.generics,
            format!(
                "{what} cannot be generic: the runtime calls it with `&{}` and `&Event`",
                kind.context()
            ),
        );
    }
    if let Some(v) = &sig.variadic {
        fail(v, format!("{what} cannot be variadic"));
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            let shared_ref = matches!(&*r.ty, Type::Reference(t)
                if t.mutability.is_none() && matches!(&*t.elem, Type::Path(p) if p.path.is_ident("Self")));
            if r.reference.is_some() && r.mutability.is_some() {
                fail(
                    r,
                    format!(
                        "{what} takes `&self`, not `&mut self`: the runtime shares one listener \
                         between concurrent events, so keep mutable state behind a `Mutex` or \
                         an atomic"
                    ),
                );
            } else if !shared_ref {
                fail(
                    r,
                    format!(
                        "{what} takes `&self`: the runtime shares one listener between \
                         concurrent events; write `{canonical}`"
                    ),
                );
            }
        }
        _ => fail(
            &sig.ident,
            format!("{what} must take `&self` first: write `{canonical}`"),
        ),
    }

    let mut seen: Vec<Param> = Vec::new();
    let mut ctx: Option<Span> = None;
    let mut event: Option<Span> = None;
    let mut end: Option<Span> = None;
    let ctx_text = format!("{}: &{}", kind.context_param(), kind.context());
    // The parameters after `&self` this method may take, as a message.
    let allowed = match role.second() {
        Some(second) => format!(
            "`&self`, then optionally `{ctx_text}`, then optionally `{}: &{}`",
            second.conventional_name(kind),
            second.type_name()
        ),
        None => format!("`&self`, then optionally `{ctx_text}`"),
    };
    for arg in sig.inputs.iter() {
        let FnArg::Typed(pat_ty) = arg else { continue };
        let ty = &*pat_ty.ty;
        let (param, by_ref, mutable) = match ty {
            Type::Reference(r) => (param_of(&r.elem), true, r.mutability.is_some()),
            other => (param_of(other), false, false),
        };
        let Some(param) = param else {
            fail(
                pat_ty,
                format!(
                    "unexpected parameter `{}`; {what} of an {} listener takes {allowed}",
                    crate::pretty(pat_ty),
                    kind.attr()
                ),
            );
            continue;
        };
        let name = param.type_name();
        if !by_ref || mutable {
            fail(ty, format!("take `&{name}` (a shared reference)"));
            continue;
        }
        if let Param::Ctx(other) = param {
            if other != kind {
                fail(
                    ty,
                    format!(
                        "`&{}` is the context of an {} listener; in an {} listener take `{}: &{}`",
                        other.context(),
                        other.attr(),
                        kind.attr(),
                        kind.context_param(),
                        kind.context()
                    ),
                );
                continue;
            }
        }
        if param == Param::Event && role.second() != Some(Param::Event) {
            fail(
                ty,
                format!("{what} does not receive an event; it takes {allowed}"),
            );
            continue;
        }
        if param == Param::End && role.second() != Some(Param::End) {
            fail(
                ty,
                format!(
                    "only `{}` receives a `&SessionEnd` (how the call ended); {what} takes \
                     {allowed}",
                    kw::SESSION_ENDED
                ),
            );
            continue;
        }
        if seen.contains(&param) {
            fail(ty, format!("a second `&{name}` parameter; take it once"));
            continue;
        }
        if let (Param::Ctx(_), Some(second)) = (param, role.second()) {
            if seen.contains(&second) {
                fail(
                    ty,
                    format!(
                        "put the context before the `&{}`: write `{canonical}`",
                        second.type_name()
                    ),
                );
                continue;
            }
        }
        seen.push(param);
        match param {
            Param::Ctx(_) => ctx = Some(ty.span()),
            Param::Event => event = Some(ty.span()),
            Param::End => end = Some(ty.span()),
        }
    }

    let output = match (&sig.output, role) {
        (ReturnType::Default, Role::Lifecycle(kw::SESSION_INITIATED)) => {
            fail(
                &sig.ident,
                format!(
                    "`session_initiated` must return `librevox::Result<()>` (an `Err` ends the \
                     call's session): write `{canonical}`"
                ),
            );
            None
        }
        (ReturnType::Type(_, ty), Role::Lifecycle(kw::SESSION_INITIATED)) => Some((**ty).clone()),
        (ReturnType::Type(_, ty), _) if !is_unit(ty) => {
            fail(
                ty,
                format!(
                    "{what} returns nothing: the runtime has nowhere to send a value; handle \
                     errors inside it (log them, or end the call)"
                ),
            );
            None
        }
        _ => None,
    };

    ok.then(|| Handler {
        ident: sig.ident.clone(),
        ctx,
        event,
        end,
        output,
    })
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}
