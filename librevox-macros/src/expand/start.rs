//! `start!`: a future that runs the listeners with a `Runner`.
//!
//! Which entries are inbound and which outbound is not visible to a macro,
//! so the expansion lets the type system pick: a local trait with one
//! blanket impl for `InboundListener` types and one for `OutboundListener`
//! types, told apart by a marker type parameter that inference resolves.

use super::{private, with_errors};
use crate::ctxt::Ctxt;
use crate::parse::start::{self, Entry};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// The default host of both kinds of listener (the runtime's default too).
const DEFAULT_HOST: &str = "127.0.0.1";
/// FreeSWITCH's event socket port.
const DEFAULT_INBOUND_PORT: u16 = 8021;
/// The port the dialplan `socket` application dials by default.
const DEFAULT_OUTBOUND_PORT: u16 = 8084;

/// The whole macro.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let entries = start::parse(&cx, input);
    let tokens = runner(&entries);
    // An expression: the errors go inside the block, not after it.
    let errors = with_errors(TokenStream::new(), cx.check());
    quote!({ #errors #tokens })
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

fn add(entry: &Entry) -> TokenStream {
    let path = &entry.path;
    let string = |e: &syn::Expr| quote!(::core::convert::Into::<::std::string::String>::into(#e));
    let host = option(entry.host.as_ref().map(string));
    let port = option(entry.port.as_ref().map(|e| quote!(#e)));
    let password = option(entry.password.as_ref().map(|(_, e)| string(e)));
    let user = option(entry.user.as_ref().map(|(_, e)| string(e)));
    let inbound_only = [&entry.password, &entry.user]
        .into_iter()
        .flatten()
        .map(|(key, _)| quote_spanned!(key.span()=> __librevox_inbound_only::<#path>();));
    let call = quote_spanned!(path.span()=> __librevox_add::<#path, _>);
    quote! {
        #(#inbound_only)*
        let __runner = #call(__runner, __LibrevoxOptions {
            host: #host,
            port: #port,
            password: #password,
            user: #user,
        });
    }
}

fn runner(entries: &[Entry]) -> TokenStream {
    let p = private();
    let adds = entries.iter().map(add);
    quote! {{
        #[diagnostic::on_unimplemented(
            message = "`{Self}` is not a librevox listener",
            label = "not an #[inbound] or #[outbound] listener",
            note = "put `#[librevox::inbound]` or `#[librevox::outbound]` on an `impl {Self} {{ ... }}` block"
        )]
        trait __LibrevoxListener<Kind> {
            fn __add(runner: #p::Runner, options: __LibrevoxOptions) -> #p::Runner
            where
                Self: ::core::marker::Sized + ::core::default::Default;
        }

        #[diagnostic::on_unimplemented(
            message = "`password` and `user` only apply to inbound listeners, and `{Self}` is not one",
            label = "FreeSWITCH connects to an outbound listener without authentication",
            note = "remove this option, or start an #[inbound] listener"
        )]
        trait __LibrevoxInboundOnly {}
        impl<T: #p::InboundListener> __LibrevoxInboundOnly for T {}
        fn __librevox_inbound_only<T: __LibrevoxInboundOnly>() {}

        struct __LibrevoxInbound;
        struct __LibrevoxOutbound;

        struct __LibrevoxOptions {
            host: ::core::option::Option<::std::string::String>,
            port: ::core::option::Option<u16>,
            password: ::core::option::Option<::std::string::String>,
            user: ::core::option::Option<::std::string::String>,
        }

        impl __LibrevoxOptions {
            fn addr(&self, default_port: u16) -> ::std::string::String {
                let host = self.host.as_deref().unwrap_or(#DEFAULT_HOST);
                let port = self.port.unwrap_or(default_port);
                if host.contains(':') {
                    ::std::format!("[{}]:{}", host, port)
                } else {
                    ::std::format!("{}:{}", host, port)
                }
            }
        }

        impl<T: #p::InboundListener> __LibrevoxListener<__LibrevoxInbound> for T {
            fn __add(runner: #p::Runner, options: __LibrevoxOptions) -> #p::Runner
            where
                Self: ::core::marker::Sized + ::core::default::Default,
            {
                let mut settings = #p::InboundSettings::new(options.addr(#DEFAULT_INBOUND_PORT));
                if let ::core::option::Option::Some(password) = options.password {
                    settings = settings.password(password);
                }
                if options.user.is_some() {
                    settings.user = options.user;
                }
                runner.inbound(<T as ::core::default::Default>::default(), settings)
            }
        }

        impl<T: #p::OutboundListener> __LibrevoxListener<__LibrevoxOutbound> for T {
            fn __add(runner: #p::Runner, options: __LibrevoxOptions) -> #p::Runner
            where
                Self: ::core::marker::Sized + ::core::default::Default,
            {
                let settings = #p::OutboundSettings::new(options.addr(#DEFAULT_OUTBOUND_PORT));
                runner.outbound(<T as ::core::default::Default>::default, settings)
            }
        }

        fn __librevox_add<T, Kind>(runner: #p::Runner, options: __LibrevoxOptions) -> #p::Runner
        where
            T: __LibrevoxListener<Kind> + ::core::default::Default,
        {
            <T as __LibrevoxListener<Kind>>::__add(runner, options)
        }

        let __runner = #p::Runner::new();
        #(#adds)*
        #p::Runner::run(__runner)
    }}
}
