//! `#[inbound]` / `#[outbound]`: the user's impl block, plus the listener
//! trait impl that subscribes, dispatches events to hooks and calls the
//! lifecycle methods.

use super::{private, with_errors};
use crate::ctxt::Ctxt;
use crate::kw;
use crate::parse::hooks::{self, Handler, ListenerImpl};
use crate::parse::listener::{self, FilterValue, Format, Linger, ListenerArgs};
use crate::parse::Kind;
use crate::validate;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

/// The whole attribute: parse, validate, expand (or fall back).
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = listener::parse(&cx, kind, args);
    let imp = hooks::parse(&cx, kind, item.clone());
    if let Some(imp) = &imp {
        validate::listener(&cx, kind, &args, imp);
    }
    let tokens = match &imp {
        Some(imp) if cx.is_clean() => listener_impl(kind, &args, imp),
        Some(imp) => fallback(kind, imp),
        None => item,
    };
    with_errors(tokens, cx.check())
}

/// The real expansion.
fn listener_impl(kind: Kind, args: &ListenerArgs, imp: &ListenerImpl) -> TokenStream {
    let p = private();
    let item = &imp.item;
    let header = impl_header(kind, imp);
    let format = format(args.format);
    let events: Vec<String> = args
        .events
        .iter()
        .flat_map(|e| &e.entries)
        .map(|e| e.lit.value())
        .collect();
    let dispatch = dispatch(kind, imp);
    let body = match kind {
        Kind::Inbound => {
            let events = if events.is_empty() {
                vec!["ALL".to_owned()]
            } else {
                events
            };
            let private = &p;
            let filters = args.filters.iter().flat_map(|f| {
                let header = f.header.value();
                f.values.iter().map(move |v| {
                    // An expression's type is checked on the expression.
                    let (value, span) = match v {
                        FilterValue::Lit(lit) => (quote!(#lit), lit.span()),
                        FilterValue::Expr(e) => (quote!(#e), e.span()),
                    };
                    let push = quote_spanned!(span=> #private::push_filters);
                    quote!(#push(&mut __filters, #header, #value);)
                })
            });
            let completed = lifecycle(kind, imp, kw::CONNECTION_COMPLETED);
            let reconnected = lifecycle(kind, imp, kw::RECONNECTED);
            quote! {
                fn subscription(&self) -> #p::Subscription {
                    let mut __filters = ::std::vec::Vec::new();
                    #(#filters)*
                    #p::Subscription {
                        events: ::std::vec![#(::std::string::String::from(#events)),*],
                        format: #format,
                        filters: __filters,
                    }
                }
                #completed
                #reconnected
                #dispatch
            }
        }
        Kind::Outbound => {
            let linger = match args.linger {
                Linger::Forever => quote!(#p::Linger::Forever),
                Linger::Seconds(n) => quote!(#p::Linger::Seconds(#n)),
                Linger::Off => quote!(#p::Linger::Off),
            };
            let event_lock = args.event_lock;
            let initiated = lifecycle(kind, imp, kw::SESSION_INITIATED);
            let ended = lifecycle(kind, imp, kw::SESSION_ENDED);
            quote! {
                fn options(&self) -> #p::OutboundOptions {
                    #p::OutboundOptions {
                        linger: #linger,
                        event_lock: #event_lock,
                        events: ::std::vec![#(::std::string::String::from(#events)),*],
                        format: #format,
                    }
                }
                #initiated
                #ended
                #dispatch
            }
        }
    };
    quote! {
        #item
        #header {
            #body
        }
    }
}

/// `impl<..> ::librevox::__private::XListener for Type where ..`, with the
/// trait spanned on the type so `Send`/`Sync`/`'static` errors point at it.
fn impl_header(kind: Kind, imp: &ListenerImpl) -> TokenStream {
    let p = private();
    let self_ty = &imp.item.self_ty;
    let (impl_generics, _, where_clause) = imp.item.generics.split_for_impl();
    let span = self_ty.span();
    let trait_path = match kind {
        Kind::Inbound => quote_spanned!(span=> #p::InboundListener),
        Kind::Outbound => quote_spanned!(span=> #p::OutboundListener),
    };
    quote!(impl #impl_generics #trait_path for #self_ty #where_clause)
}

fn format(format: Format) -> TokenStream {
    let p = private();
    match format {
        Format::Plain => quote!(#p::EventFormat::Plain),
        Format::Json => quote!(#p::EventFormat::Json),
        Format::Xml => quote!(#p::EventFormat::Xml),
    }
}

/// The parameter list of a runtime trait method: the context, then the
/// event when `with_event`.
fn context_params(kind: Kind, with_event: bool) -> TokenStream {
    let p = private();
    let ctx = match kind {
        Kind::Inbound => quote!(__ctx: &#p::Inbound),
        Kind::Outbound => quote!(__ctx: &#p::Session),
    };
    if with_event {
        quote!(#ctx, __event: &#p::Event)
    } else {
        ctx
    }
}

/// `Self::method(self, ctx?, event?).await`, spanned on the user's method.
fn call(handler: &Handler) -> TokenStream {
    call_spanned(handler, handler.ident.span())
}

/// The same call, spanned at `span`.
fn call_spanned(handler: &Handler, span: Span) -> TokenStream {
    let ident = &handler.ident;
    let mut args = vec![quote!(self)];
    if let Some(span) = handler.ctx {
        args.push(quote_spanned!(span=> __ctx));
    }
    if let Some(span) = handler.event {
        args.push(quote_spanned!(span=> __event));
    }
    if let Some(span) = handler.end {
        args.push(quote_spanned!(span=> __end));
    }
    quote_spanned!(span=> Self::#ident(#(#args),*).await)
}

/// The trait method forwarding to lifecycle method `name`, if the user
/// wrote one (otherwise the trait's default applies).
fn lifecycle(kind: Kind, imp: &ListenerImpl, name: &str) -> TokenStream {
    let p = private();
    let Some(handler) = imp.lifecycle(name) else {
        return TokenStream::new();
    };
    let method = syn::Ident::new(name, Span::call_site());
    let mut params = context_params(kind, false);
    if name == kw::SESSION_ENDED {
        params = quote!(#params, __end: &#p::SessionEnd);
    }
    let call = call(handler);
    match &handler.output {
        Some(output) => {
            // The binding's type is spanned on the user's return type, so a
            // wrong one is reported there.
            let span = output.span();
            let result = quote_spanned!(span=> #p::Result<()>);
            let call = call_spanned(handler, span);
            let body = quote! {
                async move {
                    let __result: #result = #call;
                    __result
                }
            };
            quote! {
                fn #method(&self, #params)
                    -> impl ::core::future::Future<Output = #p::Result<()>> + ::core::marker::Send
                {
                    #body
                }
            }
        }
        None => quote! {
            fn #method(&self, #params)
                -> impl ::core::future::Future<Output = ()> + ::core::marker::Send
            {
                async move { #call; }
            }
        },
    }
}

/// `handle_event`: `on_event` first, then each matching hook in
/// declaration order.
fn dispatch(kind: Kind, imp: &ListenerImpl) -> TokenStream {
    let p = private();
    let params = context_params(kind, true);
    let on_event = imp.on_event.as_ref().map(|h| {
        let call = call(h);
        quote!(#call;)
    });
    let hooks = imp.hooks.iter().map(|hook| {
        let conditions = hook.targets.iter().map(|t| {
            let wire = t.wire();
            quote!(#p::Event::is(__event, #wire))
        });
        let call = call(&hook.handler);
        quote! {
            if #(#conditions)||* {
                #call;
            }
        }
    });
    // The event names some hook matches (a CUSTOM hook matches by name
    // and subclass; by name alone, every CUSTOM event may be wanted).
    let wants = if imp.on_event.is_some() {
        quote!(true)
    } else {
        let mut names: Vec<String> = imp
            .hooks
            .iter()
            .flat_map(|hook| hook.targets.iter())
            .map(|t| t.wire().split(' ').next().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            quote!({
                let _ = __name;
                false
            })
        } else {
            quote!(#(__name.eq_ignore_ascii_case(#names))||*)
        }
    };
    quote! {
        fn handle_event(&self, #params)
            -> impl ::core::future::Future<Output = ()> + ::core::marker::Send
        {
            async move {
                #on_event
                #(#hooks)*
            }
        }

        fn wants_event(&self, __name: &str) -> bool {
            #wants
        }
    }
}

/// After an error: the user's impl block unchanged (so errors inside method
/// bodies still show) and a stub trait impl (so uses of the listener do not
/// add "trait not implemented" errors).
fn fallback(kind: Kind, imp: &ListenerImpl) -> TokenStream {
    let p = private();
    let mut item = imp.item.clone();
    item.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    if item.trait_.is_some() {
        return item.into_token_stream();
    }
    let header = impl_header(kind, imp);
    let params = context_params(kind, true);
    let handle = quote! {
        fn handle_event(&self, #params)
            -> impl ::core::future::Future<Output = ()> + ::core::marker::Send
        {
            async move {}
        }
    };
    let body = match kind {
        Kind::Inbound => quote! {
            fn subscription(&self) -> #p::Subscription {
                ::core::default::Default::default()
            }
            #handle
        },
        Kind::Outbound => {
            let ctx = context_params(kind, false);
            quote! {
                fn options(&self) -> #p::OutboundOptions {
                    #p::OutboundOptions {
                        linger: #p::Linger::Forever,
                        event_lock: true,
                        events: ::std::vec::Vec::new(),
                        format: #p::EventFormat::Plain,
                    }
                }
                fn session_initiated(&self, #ctx)
                    -> impl ::core::future::Future<Output = #p::Result<()>> + ::core::marker::Send
                {
                    async move { ::core::result::Result::Ok(()) }
                }
                #handle
            }
        }
    };
    quote! {
        #item
        #header {
            #body
        }
    }
}

/// The standalone `#[event]`: only meaningful inside a listener impl.
pub(crate) fn stray_event(args: TokenStream, item: TokenStream) -> TokenStream {
    if args.to_string() == hooks::CHECKED {
        return item;
    }
    let error = syn::Error::new(
        Span::call_site(),
        "#[event] only works on a method of an impl block marked #[inbound] or #[outbound]; \
         put `#[inbound]` or `#[outbound]` above that `impl`",
    )
    .to_compile_error();
    quote!(#item #error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(kind: Kind, args: &str, item: &str) -> String {
        expand(kind, args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    /// Position of `needle` in `haystack`, which must contain it.
    fn at(haystack: &str, needle: &str) -> usize {
        haystack
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in {haystack}"))
    }

    #[test]
    fn dispatch_runs_on_event_first_then_hooks_in_declaration_order() {
        let out = expand_str(
            Kind::Inbound,
            r#"events = ["DTMF", "CUSTOM a::b"]"#,
            r#"impl M {
                #[event(custom = "a::b")] async fn second(&self) {}
                async fn on_event(&self, e: &Event) {}
                #[event(dtmf, "CUSTOM a::b")] async fn third(&self, e: &Event) {}
            }"#,
        );
        assert!(!out.contains("compile_error"), "{out}");
        let dispatch = &out[at(&out, "fn handle_event")..];
        let on_event = at(dispatch, "Self :: on_event");
        let second = at(dispatch, "Self :: second");
        let third = at(dispatch, "Self :: third");
        assert!(on_event < second && second < third, "{dispatch}");
        assert!(dispatch.contains(r#"Event :: is (__event , "CUSTOM a::b")"#));
        assert!(dispatch.contains(r#"Event :: is (__event , "DTMF") || "#));
    }

    #[test]
    fn subscription_keeps_declaration_order() {
        let out = expand_str(
            Kind::Inbound,
            r#"events = ["TALK", "DTMF"], filters("B" = ["2", "1"], "A" = "3")"#,
            "impl M {}",
        );
        let t = at(&out, r#""TALK""#);
        let d = at(&out, r#""DTMF""#);
        assert!(t < d);
        let b2 = at(&out, r#"push_filters (& mut __filters , "B" , "2")"#);
        let b1 = at(&out, r#"push_filters (& mut __filters , "B" , "1")"#);
        let a3 = at(&out, r#"push_filters (& mut __filters , "A" , "3")"#);
        assert!(b2 < b1 && b1 < a3, "{out}");
    }

    #[test]
    fn filter_expressions_are_evaluated_in_subscription_in_order() {
        let out = expand_str(
            Kind::Inbound,
            r#"filters("A" = self.a.clone(), "B" = ["x", f()])"#,
            "impl M {}",
        );
        assert!(!out.contains("compile_error"), "{out}");
        let subscription = &out[at(&out, "fn subscription (& self)")..];
        let a = at(
            subscription,
            r#"push_filters (& mut __filters , "A" , self . a . clone ())"#,
        );
        let x = at(
            subscription,
            r#"push_filters (& mut __filters , "B" , "x")"#,
        );
        let f = at(
            subscription,
            r#"push_filters (& mut __filters , "B" , f ())"#,
        );
        assert!(a < x && x < f, "{subscription}");
    }

    #[test]
    fn session_ended_is_forwarded_with_the_parameters_it_takes() {
        let out = expand_str(
            Kind::Outbound,
            "",
            "impl M {
                async fn session_initiated(&self) -> librevox::Result<()> { Ok(()) }
                async fn session_ended(&self, how: &SessionEnd) {}
            }",
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("fn session_ended (& self , __ctx : & :: librevox :: __private :: Session , __end : & :: librevox :: __private :: SessionEnd)"), "{out}");
        assert!(
            out.contains("Self :: session_ended (self , __end) . await"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_the_impl_and_add_a_stub() {
        let out = expand_str(
            Kind::Inbound,
            "evnts = []",
            "impl M { fn helper(&self) {} }",
        );
        assert!(out.contains("compile_error"));
        assert!(out.contains("fn helper"));
        assert!(out.contains("InboundListener for M"));
        assert!(out.contains("allow (dead_code)"));
    }

    #[test]
    fn lifecycle_methods_are_forwarded_only_when_written() {
        let out = expand_str(
            Kind::Inbound,
            "",
            "impl M { async fn reconnected(&self, ctx: &Inbound) {} }",
        );
        assert!(out.contains("fn reconnected"));
        assert!(!out.contains("fn connection_completed"));
        assert!(out.contains(r#"String :: from ("ALL")"#));
    }
}
