//! Checks that need more than one part of the input: hooks against the
//! subscription, required methods. Per-option and per-signature checks
//! happen while parsing.

use crate::ctxt::Ctxt;
use crate::kw;
use crate::names::{distance, EventSpec, MYEVENTS};
use crate::parse::hooks::{ListenerImpl, Target};
use crate::parse::listener::ListenerArgs;
use crate::parse::Kind;
use quote::ToTokens;
use syn::ImplItem;

/// Validates a listener as a whole.
pub(crate) fn listener(cx: &Ctxt, kind: Kind, args: &ListenerArgs, imp: &ListenerImpl) {
    if kind == Kind::Outbound && imp.lifecycle(kw::SESSION_INITIATED).is_none() {
        session_initiated_missing(cx, imp);
    }
    for hook in &imp.hooks {
        for target in &hook.targets {
            subscribed(cx, kind, args, target);
        }
    }
}

fn session_initiated_missing(cx: &Ctxt, imp: &ListenerImpl) {
    let signature = "async fn session_initiated(&self, call: &Session) -> librevox::Result<()>";
    // A method that exists but failed its signature check was reported
    // already; only report a method that is truly absent.
    let methods: Vec<&syn::Ident> = imp
        .item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(&f.sig.ident),
            _ => None,
        })
        .collect();
    if methods.iter().any(|m| *m == kw::SESSION_INITIATED) {
        return;
    }
    let distance_to = |m: &syn::Ident| distance(&m.to_string(), kw::SESSION_INITIATED);
    let close = methods
        .iter()
        .copied()
        .filter(|m| distance_to(m) <= 4)
        .min_by_key(|m| distance_to(m));
    match close {
        Some(m) => cx.error_spanned_by(
            m,
            format!(
                "`{m}` is not a listener method; did you mean `session_initiated`? An \
                 #[outbound] listener needs `{signature}`"
            ),
        ),
        None => cx.error_spanned_by(
            &imp.item.self_ty,
            format!(
                "an #[outbound] listener needs `{signature}`: it runs when FreeSWITCH connects \
                 for a call, and drives the call"
            ),
        ),
    }
}

/// A hook for an event the listener never receives is a bug: report it.
fn subscribed(cx: &Ctxt, kind: Kind, args: &ListenerArgs, target: &Target) {
    let received = match (&target.spec, &args.events) {
        (_, Some(events)) if events.has_all() => true,
        (_, None) if kind == Kind::Inbound => true,
        (EventSpec::Named(name), events) => {
            let listed = events.as_ref().is_some_and(|e| e.has(name));
            listed || (kind == Kind::Outbound && MYEVENTS.contains(name))
        }
        (EventSpec::Custom(subs), events) => {
            events.as_ref().is_some_and(|e| e.has_custom(&subs[0]))
        }
        (EventSpec::All, _) => true,
    };
    if received {
        return;
    }
    let (what, fix) = match &target.spec {
        EventSpec::Custom(subs) => {
            let sub = &subs[0];
            let existing = args.events.as_ref().and_then(|e| {
                e.entries
                    .iter()
                    .find(|entry| matches!(entry.spec, EventSpec::Custom(_)))
            });
            let fix = match existing {
                Some(entry) => format!(
                    "add `{sub}` to the `\"{}\"` entry of `events`",
                    entry.lit.value()
                ),
                None => add_to_events(kind, args, &format!("CUSTOM {sub}")),
            };
            (format!("the CUSTOM subclass `{sub}`"), fix)
        }
        _ => {
            let wire = target.wire();
            let fix = add_to_events(kind, args, &wire);
            (target.style.show(&wire), fix)
        }
    };
    let msg = match kind {
        Kind::Inbound => format!(
            "{what} is handled here but not subscribed, so this hook would never run; {fix}"
        ),
        Kind::Outbound => format!(
            "{what} is handled here, but an #[outbound] listener only receives its call's \
             `myevents` channel events, so this hook would never run; {fix}"
        ),
    };
    cx.error_spanned_by(target.tokens.to_token_stream(), msg);
}

/// "add `"X"` to `events`", or how to write `events` when there is none.
fn add_to_events(kind: Kind, args: &ListenerArgs, wire: &str) -> String {
    match &args.events {
        Some(_) => format!("add `\"{wire}\"` to `events = [...]`"),
        None => format!(
            "subscribe to it: `{}(events = [\"{wire}\"])]`",
            kind.attr().trim_end_matches(']')
        ),
    }
}
