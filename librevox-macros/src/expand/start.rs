//! `start!`: a future that runs the listeners with a `Runner`.
//!
//! The expansion is a thin list of calls into the runtime
//! (`__private::add_default`, `add_inbound`, `add_outbound`), which holds
//! the logic (options, addresses, settings) and the traits that tell
//! inbound from outbound listeners and word the type errors.

use super::{private, with_errors};
use crate::ctxt::Ctxt;
use crate::parse::start::{self, Entry};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// The whole macro.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let start = start::parse(&cx, input);
    let p = private();
    let result = cx.check();
    // After a mistake in the macro's input, no listener is added: their
    // type checks would report consequences of it (a `Default` missing
    // because an option was misspelled) next to the real error.
    let mut adds: Vec<TokenStream> = match result {
        Ok(()) => start.entries.iter().map(add).collect(),
        Err(_) => Vec::new(),
    };
    if let (Ok(()), Some((key, addr))) = (&result, &start.metrics) {
        // Without the `prometheus` feature the runner argument misses a
        // bound, and rustc points at that argument and the path: both are
        // spanned on the key (the path's leading `::librevox` too, or the
        // joined span would be the whole macro), so the error names this
        // option. The address keeps its own spans for its type errors.
        let call = respanned(quote!(#p::metrics), key.span());
        let runner = respanned(quote!(__runner), key.span());
        adds.insert(
            0,
            quote! {
                let __runner = #call(#runner, #addr);
            },
        );
    }
    // An expression: the errors go inside the block, not after it.
    let errors = with_errors(TokenStream::new(), result);
    quote!({
        #errors
        let __runner = #p::Runner::new();
        #(#adds)*
        #p::Runner::run(__runner)
    })
}

/// The `StartOptions` of an entry.
fn options(entry: &Entry) -> TokenStream {
    let p = private();
    let some = |value: Option<TokenStream>| match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
    let string = |e: &syn::Expr| quote!(::core::convert::Into::<::std::string::String>::into(#e));
    let host = some(entry.host.as_ref().map(string));
    let port = some(entry.port.as_ref().map(|e| quote!(#e)));
    let password = some(entry.password.as_ref().map(|(_, e)| string(e)));
    let user = some(entry.user.as_ref().map(|(_, e)| string(e)));
    let nats = some(entry.nats.as_ref().map(|(_, e)| string(e)));
    let consumer = some(entry.consumer.as_ref().map(|(_, e)| string(e)));
    let hosts = some(entry.hosts.as_ref().map(|(_, hosts)| {
        let each = hosts.iter().map(|h| {
            let name = some(h.name.as_ref().map(|n| {
                let text = n.to_string();
                quote!(#text)
            }));
            let addr = &h.addr;
            // Spanned on the address: a wrong type is reported there.
            let host = quote_spanned!(addr.span()=> #p::host);
            quote!(#host(#name, #addr))
        });
        quote!(::std::vec![#(#each),*])
    }));
    quote! {
        #p::StartOptions {
            host: #host,
            port: #port,
            password: #password,
            user: #user,
            hosts: #hosts,
            nats: #nats,
            consumer: #consumer,
        }
    }
}

/// One entry: `let __runner = __private::add_*::<Type, ..>(__runner, options, ..);`,
/// each check spanned where its error belongs.
fn add(entry: &Entry) -> TokenStream {
    let p = private();
    let path = &entry.path;
    let options = options(entry);
    // Spanned on the option's key, the type included: the error names the
    // option that does not apply.
    let inbound_only = [&entry.password, &entry.user]
        .into_iter()
        .flatten()
        .map(|(key, _)| {
            let ty = respanned(quote!(#path), key.span());
            quote_spanned!(key.span()=> #p::inbound_only::<#ty>();)
        })
        .chain(entry.hosts.as_ref().map(|(key, _)| {
            let ty = respanned(quote!(#path), key.span());
            quote_spanned!(key.span()=> #p::many_hosts::<#ty>();)
        }))
        .chain(entry.nats.as_ref().map(|(key, _)| {
            let ty = respanned(quote!(#path), key.span());
            quote_spanned!(key.span()=> #p::from_stream::<#ty>();)
        }));
    let call = match (&entry.value, &entry.factory) {
        (Some(value), _) => {
            let add = quote_spanned!(path.span()=> #p::add_inbound::<#path>);
            quote!(#add(__runner, #options, #value))
        }
        (None, Some((_, factory))) => {
            let add = quote_spanned!(path.span()=> #p::add_outbound::<#path, _>);
            quote!(#add(__runner, #options, #factory))
        }
        (None, None) => {
            let add = quote_spanned!(path.span()=> #p::add_default::<#path, _>);
            quote!(#add(__runner, #options))
        }
    };
    quote! {
        #(#inbound_only)*
        let __runner = #call;
    }
}

/// `tokens` with every span set to `span`.
fn respanned(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = Group::new(g.delimiter(), respanned(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(input: &str) -> String {
        expand(input.parse().unwrap()).to_string()
    }

    #[test]
    fn each_form_is_one_call() {
        let out = expand_str(
            "Monitor, Db(port = 8022) = Db::new(pool), Ivr(host = \"0.0.0.0\", factory = move || Ivr::new(p.clone()))",
        );
        assert!(!out.contains("compile_error"), "{out}");
        let default = out.find("add_default :: < Monitor , _ >").expect(&out);
        let value = out.find("add_inbound :: < Db >").expect(&out);
        let factory = out.find("add_outbound :: < Ivr , _ >").expect(&out);
        assert!(default < value && value < factory, "in order: {out}");
        assert!(out.contains("Db :: new (pool))"), "{out}");
        assert!(out.contains("move | | Ivr :: new (p . clone ()))"), "{out}");
        assert!(out.contains(":: Runner :: run (__runner)"), "{out}");
    }

    #[test]
    fn hosts_become_one_entry_each_with_their_names() {
        let out = expand_str("Monitor(hosts = [\"a:8021\", fs2 = \"b:8022\"], password = \"pw\")");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("hosts : :: core :: option :: Option :: Some (:: std :: vec ! [")
                && out.contains("host (:: core :: option :: Option :: None , \"a:8021\")")
                && out
                    .contains("host (:: core :: option :: Option :: Some (\"fs2\") , \"b:8022\")"),
            "{out}"
        );
        assert_eq!(
            out.matches("many_hosts :: < Monitor > ()").count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn inbound_only_options_are_checked_per_key() {
        let out = expand_str("Ivr(password = \"x\", user = \"u@d\")");
        assert_eq!(
            out.matches("inbound_only :: < Ivr > ()").count(),
            2,
            "{out}"
        );
    }

    #[test]
    fn metrics_is_a_runner_setting_not_a_listener() {
        let out = expand_str("metrics = \"127.0.0.1:9464\", Monitor");
        assert!(!out.contains("compile_error"), "{out}");
        let metrics = out.find(":: metrics (__runner").expect(&out);
        let monitor = out.find("add_default :: < Monitor , _ >").expect(&out);
        assert!(metrics < monitor, "{out}");
        assert!(!out.contains("< metrics"), "{out}");
    }

    #[test]
    fn a_metrics_address_without_a_port_is_refused() {
        let out = expand_str("metrics = \"127.0.0.1\", Monitor");
        assert!(out.contains("give the port too"), "{out}");
        let out = expand_str("metrics = \"127.0.0.1\", Monitor");
        assert!(!out.contains("add_default"), "{out}");
    }

    #[test]
    fn a_value_and_a_factory_together_are_refused() {
        let out = expand_str("Ivr(factory = || Ivr) = Ivr");
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.contains("not both") || out.contains("keep the one"),
            "{out}"
        );
    }
}
