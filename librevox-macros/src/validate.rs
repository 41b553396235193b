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
    // A method that exists but failed its signature check was reported
    // already; only report a method that is truly absent.
    let methods: Vec<String> = imp
        .item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .collect();
    if methods.iter().any(|m| m == kw::SESSION_INITIATED) {
        return;
    }
    let close = methods
        .iter()
        .filter(|m| distance(m, kw::SESSION_INITIATED) <= 4)
        .min_by_key(|m| distance(m, kw::SESSION_INITIATED));
    let hint = match close {
        Some(m) => format!(" (found `{m}`; is it misspelled?)"),
        None => String::new(),
    };
    cx.error_spanned_by(
        &imp.item.self_ty,
        format!(
            "an #[outbound] listener needs `async fn session_initiated(&self, call: &Session) \
             -> librevox::Result<()>`{hint}: it runs when FreeSWITCH connects for a call and \
             drives the call"
        ),
    );
}

/// A hook for an event the listener never receives is a bug: report it.
fn subscribed(cx: &Ctxt, kind: Kind, args: &ListenerArgs, target: &Target) {
    let shown = target.style.show(&target.wire());
    let wire = target.wire();
    let received = match (&target.spec, &args.events) {
        (_, Some(events)) if events.has_all() => true,
        (EventSpec::Named(name), events) => {
            let listed = events.as_ref().is_some_and(|e| e.has(name));
            let myevents = kind == Kind::Outbound && MYEVENTS.contains(name);
            let default_all = kind == Kind::Inbound && events.is_none();
            listed || myevents || default_all
        }
        (EventSpec::Custom(subs), events) => {
            let listed = events.as_ref().is_some_and(|e| e.has_custom(&subs[0]));
            let default_all = kind == Kind::Inbound && events.is_none();
            listed || default_all
        }
        (EventSpec::All, _) => true,
    };
    if received {
        return;
    }
    let msg = match kind {
        Kind::Inbound => format!(
            "{shown} is handled here but not subscribed, so this hook would never run; add \
             `\"{wire}\"` to `events` in #[inbound(...)]"
        ),
        Kind::Outbound => format!(
            "{shown} is handled here but an #[outbound] listener only receives the `myevents` \
             channel events of its call, so this hook would never run; add `\"{wire}\"` to \
             `events` in #[outbound(...)]"
        ),
    };
    cx.error_spanned_by(target.tokens.to_token_stream(), msg);
}
