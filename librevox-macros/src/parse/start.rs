//! `start!(Listener, Listener(option = value, ...), Listener = value, ...)`.

use super::args::{self, Seen};
use crate::ctxt::Ctxt;
use crate::kw;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{token, Expr, Ident, Lit, LitStr, Path, Token};

/// What `start!` was given: the listeners, and the runner's own settings.
pub(crate) struct Start {
    pub(crate) entries: Vec<Entry>,
    /// `metrics = "127.0.0.1:9464"`: the key (for spans) and the address.
    pub(crate) metrics: Option<(Ident, Expr)>,
}

/// One listener to start.
pub(crate) struct Entry {
    /// The listener type.
    pub(crate) path: Path,
    pub(crate) host: Option<Expr>,
    pub(crate) port: Option<Expr>,
    /// The `password` key (for the inbound-only check's span) and value.
    pub(crate) password: Option<(Ident, Expr)>,
    /// The `user` key and value.
    pub(crate) user: Option<(Ident, Expr)>,
    /// `hosts = [...]`: the key, and each switch's name and address.
    pub(crate) hosts: Option<(Ident, Vec<Host>)>,
    /// `nats = <url>`: the key and the URL (consume from JetStream).
    pub(crate) nats: Option<(Ident, Expr)>,
    /// `consumer = <name>` with `nats`.
    pub(crate) consumer: Option<(Ident, Expr)>,
    /// `factory = <closure>` (outbound): the key and the closure.
    pub(crate) factory: Option<(Ident, Expr)>,
    /// `Listener = <value>` (inbound): the listener's value.
    pub(crate) value: Option<Expr>,
}

/// One entry of `hosts = [...]`: `"addr"` or `name = "addr"`.
pub(crate) struct Host {
    pub(crate) name: Option<Ident>,
    pub(crate) addr: Expr,
}

struct RawEntry {
    path: Path,
    options: Option<TokenStream>,
    value: Option<Expr>,
}

impl Parse for RawEntry {
    fn parse(input: ParseStream) -> syn::Result<RawEntry> {
        let path: Path = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a listener type, e.g. `Monitor` or `Ivr(port = 8084)`",
            )
        })?;
        let options = if input.peek(token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Some(content.parse()?)
        } else {
            None
        };
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the listener's value after `=`, e.g. `Monitor = Monitor::new(db)`",
                )
            })?)
        } else {
            None
        };
        Ok(RawEntry {
            path,
            options,
            value,
        })
    }
}

/// Reads the listeners; records every problem.
pub(crate) fn parse(cx: &Ctxt, tokens: TokenStream) -> Start {
    let mut start = Start {
        entries: Vec::new(),
        metrics: None,
    };
    let list = match Punctuated::<RawEntry, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return start;
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    for raw in list {
        if let Some(key) = raw.path.get_ident().filter(|i| *i == kw::METRICS) {
            read_metrics(
                cx,
                &mut start.metrics,
                key,
                raw.options.is_some(),
                raw.value,
            );
            continue;
        }
        let mut entry = Entry {
            path: raw.path,
            host: None,
            port: None,
            password: None,
            user: None,
            hosts: None,
            nats: None,
            consumer: None,
            factory: None,
            value: raw.value,
        };
        if let Some(tokens) = raw.options {
            read_options(cx, &mut entry, tokens);
        }
        check_nats(cx, &entry);
        if let (Some((key, _)), Some(_)) = (&entry.factory, &entry.value) {
            let name = entry.path.to_token_stream().to_string().replace(' ', "");
            cx.error_at(
                key.span(),
                format!(
                    "`{name}` has both a value (`{name} = ...`, for an #[inbound] listener) and \
                     a `factory` (for an #[outbound] one); keep the one that fits its kind"
                ),
            );
        }
        check_duplicate(cx, &out, &entry);
        out.push(entry);
    }
    if out.is_empty() && cx.is_clean() {
        cx.error_at(
            Span::call_site(),
            "name the listeners to start: `librevox::start!(Monitor, Ivr(port = 8084))`",
        );
    }
    start.entries = out;
    start
}

/// `nats` needs `consumer` and excludes the switch options.
fn check_nats(cx: &Ctxt, entry: &Entry) {
    match (&entry.nats, &entry.consumer) {
        (Some((key, _)), None) => cx.error_spanned_by(
            key,
            "`nats` needs the durable consumer's name too: `consumer = \"billing\"` \
             (processes with the same name share the work)",
        ),
        (None, Some((key, _))) => cx.error_spanned_by(
            key,
            "`consumer` names a JetStream consumer: give the NATS URL too, \
             `nats = \"nats://127.0.0.1:4222\"`",
        ),
        (Some(_), Some(_)) => {
            let socket = [&entry.password, &entry.user]
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .chain(entry.hosts.as_ref().map(|(k, _)| k));
            for key in socket {
                cx.error_spanned_by(
                    key,
                    format!(
                        "`{key}` is for a switch socket, and `nats` takes the events from \
                         JetStream instead; remove `{key}` (the bridge holds the switch connections)"
                    ),
                );
            }
            for e in [&entry.host, &entry.port].into_iter().flatten() {
                cx.error_spanned_by(
                    e,
                    "`host`/`port` are for a switch socket, and `nats` takes the events from \
                     JetStream instead; put the server in the URL: `nats = \"nats://host:4222\"`",
                );
            }
        }
        (None, None) => {}
    }
}

/// `metrics = "host:port"`: where the runner serves `/metrics`, `/health`
/// and `/ready`.
fn read_metrics(
    cx: &Ctxt,
    slot: &mut Option<(Ident, Expr)>,
    key: &Ident,
    parens: bool,
    value: Option<Expr>,
) {
    const EXAMPLE: &str = "`metrics = \"127.0.0.1:9464\"`";
    if parens {
        cx.error_spanned_by(
            key,
            format!("`metrics` takes no options, only an address: {EXAMPLE}"),
        );
        return;
    }
    let Some(value) = value else {
        cx.error_spanned_by(
            key,
            format!("`metrics` needs the address to serve them on: {EXAMPLE}"),
        );
        return;
    };
    if slot.is_some() {
        cx.error_spanned_by(key, "`metrics` is given more than once; keep one");
        return;
    }
    if let Some(lit) = args::lit_str_opt(&value) {
        check_metrics_addr(cx, lit);
    } else if let Expr::Lit(lit) = &value {
        cx.error_spanned_by(
            lit,
            format!("the metrics address is a string, host and port: {EXAMPLE}"),
        );
        return;
    }
    *slot = Some((key.clone(), value));
}

/// A literal metrics address is `host:port`.
fn check_metrics_addr(cx: &Ctxt, lit: &LitStr) {
    let addr = lit.value();
    let port = addr
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        _ if addr.is_empty() || addr.chars().any(char::is_whitespace) => cx.error_spanned_by(
            lit,
            "a metrics address is `host:port` without spaces, e.g. `\"127.0.0.1:9464\"`",
        ),
        Some((host, Ok(_))) if !host.is_empty() => {}
        Some((host, _)) if !host.is_empty() => cx.error_spanned_by(
            lit,
            format!(
                "the port after `{host}:` is a number between 0 and 65535, e.g. `\"{host}:9464\"`"
            ),
        ),
        _ => cx.error_spanned_by(
            lit,
            format!("give the port too: `metrics = \"{addr}:9464\"`"),
        ),
    }
}

fn read_options(cx: &Ctxt, entry: &mut Entry, tokens: TokenStream) {
    let list = match args::parse_args(tokens) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return;
        }
    };
    let mut seen = Seen::default();
    let mut single: Option<&Ident> = None;
    let mut hosts_key: Option<&Ident> = None;
    for arg in &list {
        match arg.key.to_string().as_str() {
            kw::HOST | kw::PORT => single = single.or(Some(&arg.key)),
            kw::HOSTS => hosts_key = hosts_key.or(Some(&arg.key)),
            _ => {}
        }
    }
    if let (Some(one), Some(_)) = (single, hosts_key) {
        cx.error_spanned_by(
            one,
            format!(
                "`{one}` and `hosts` together: `hosts` lists every switch with its port; \
                 write the address there (`hosts = [\"10.0.0.1:8021\"]`) and remove `{one}`"
            ),
        );
    }
    for arg in &list {
        let key = arg.key.to_string();
        if !kw::START_OPTIONS.contains(&key.as_str()) {
            let extra = match key.as_str() {
                "auth" | "pass" | "secret" => "; the password option is `password`",
                "addr" | "address" | "bind" => "; give `host` and `port` separately",
                "value" | "listener" | "instance" | "state" => {
                    "; give an #[inbound] listener its value after the options: \
                     `Monitor(port = 8021) = Monitor::new(..)`"
                }
                "new" | "make" | "build" | "builder" | "constructor" => {
                    "; an #[outbound] listener's constructor is `factory = || ...`"
                }
                _ => "",
            };
            args::unknown_option(cx, "start!", &arg.key, kw::START_OPTIONS, extra);
            continue;
        }
        if !seen.first(cx, &arg.key) {
            continue;
        }
        let example = format!("{key} = ...");
        let Some(expr) = arg.expr(cx, &example) else {
            continue;
        };
        match key.as_str() {
            kw::HOST => {
                if let Some(lit) = args::lit_str_opt(expr) {
                    check_host(cx, lit);
                }
                entry.host = Some(expr.clone());
            }
            kw::PORT => {
                if let Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }) = expr
                {
                    match i.base10_parse::<u16>() {
                        Ok(0) | Err(_) => {
                            cx.error_spanned_by(i, "a TCP port is between 1 and 65535");
                        }
                        Ok(_) => {}
                    }
                }
                entry.port = Some(expr.clone());
            }
            kw::HOSTS => {
                if let Some(hosts) = read_hosts(cx, expr) {
                    entry.hosts = Some((arg.key.clone(), hosts));
                }
            }
            kw::NATS => entry.nats = Some((arg.key.clone(), expr.clone())),
            kw::CONSUMER => entry.consumer = Some((arg.key.clone(), expr.clone())),
            kw::PASSWORD => entry.password = Some((arg.key.clone(), expr.clone())),
            kw::USER => entry.user = Some((arg.key.clone(), expr.clone())),
            kw::FACTORY => entry.factory = Some((arg.key.clone(), expr.clone())),
            _ => unreachable!("every valid option is handled"),
        }
    }
}

const HOSTS_EXAMPLE: &str =
    "`hosts = [\"10.0.0.1:8021\", \"10.0.0.2:8021\"]` or, with names, `hosts = [fs1 = \"10.0.0.1:8021\", fs2 = \"10.0.0.2:8021\"]`";

/// `hosts = [<addr>, <name> = <addr>, ...]`: a non-empty list, names that
/// can be one NATS subject token, no name or literal address twice.
fn read_hosts(cx: &Ctxt, expr: &Expr) -> Option<Vec<Host>> {
    let Expr::Array(array) = expr else {
        cx.error_spanned_by(
            expr,
            format!("`hosts` is a list of switch addresses in `[...]`: {HOSTS_EXAMPLE}"),
        );
        return None;
    };
    if array.elems.is_empty() {
        cx.error_spanned_by(
            array,
            format!("`hosts` is empty: name at least one switch, {HOSTS_EXAMPLE}"),
        );
        return None;
    }
    let mut out: Vec<Host> = Vec::new();
    for elem in &array.elems {
        let host = match args::ungroup(elem.clone()) {
            Expr::Assign(assign) => {
                let name = match &*assign.left {
                    Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                        p.path.get_ident().cloned()
                    }
                    other => {
                        cx.error_spanned_by(
                            other,
                            "a switch's name is a plain word before `=`, e.g. `fs1 = \"10.0.0.1:8021\"`",
                        );
                        continue;
                    }
                };
                Host {
                    name,
                    addr: (*assign.right).clone(),
                }
            }
            addr => Host { name: None, addr },
        };
        if let Some(lit) = args::lit_str_opt(&host.addr) {
            let addr = lit.value();
            if addr.is_empty() || addr.chars().any(char::is_whitespace) {
                cx.error_spanned_by(
                    lit,
                    "a switch address is `host:port` without spaces, e.g. `\"10.0.0.1:8021\"`",
                );
            } else if out
                .iter()
                .any(|h| args::lit_str_opt(&h.addr).is_some_and(|l| l.value() == addr))
            {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "`{addr}` is listed twice in `hosts`; one connection per switch is enough"
                    ),
                );
            }
        } else if let Expr::Lit(lit) = &host.addr {
            cx.error_spanned_by(
                lit,
                format!("a switch address is a string: {HOSTS_EXAMPLE}"),
            );
        }
        if let Some(name) = &host.name {
            let text = name.to_string();
            if text.len() > 64 || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                cx.error_spanned_by(
                    name,
                    "a switch name is 1 to 64 ASCII letters, digits or `_` (it becomes one NATS subject token), e.g. `fs1`",
                );
            }
            if out
                .iter()
                .any(|h| h.name.as_ref().is_some_and(|n| *n == text))
            {
                cx.error_spanned_by(
                    name,
                    format!("the name `{text}` is given to two switches; give each its own"),
                );
            }
        }
        out.push(host);
    }
    Some(out)
}

fn check_host(cx: &Ctxt, lit: &LitStr) {
    let host = lit.value();
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        cx.error_spanned_by(lit, "a host is a name or an IP address without spaces");
    } else if let Some((h, p)) = host.rsplit_once(':') {
        // One colon: `host:port`; several: an IPv6 address.
        if !h.contains(':') && p.parse::<u16>().is_ok() {
            cx.error_spanned_by(
                lit,
                format!("give the port separately: `host = \"{h}\", port = {p}`"),
            );
        }
    }
}

/// A literal's text, for comparing entries.
fn literal(expr: Option<&Expr>) -> Option<String> {
    match expr {
        None => Some(String::new()),
        Some(Expr::Lit(l)) => Some(l.lit.to_token_stream().to_string()),
        Some(_) => None,
    }
}

/// Two entries that would use the same address.
fn check_duplicate(cx: &Ctxt, before: &[Entry], entry: &Entry) {
    let (Some(host), Some(port)) = (literal(entry.host.as_ref()), literal(entry.port.as_ref()))
    else {
        return;
    };
    if entry.hosts.is_some() || entry.nats.is_some() {
        return;
    }
    for other in before
        .iter()
        .filter(|o| o.hosts.is_none() && o.nats.is_none())
    {
        let same_host = literal(other.host.as_ref()).as_ref() == Some(&host);
        let same_port = literal(other.port.as_ref()).as_ref() == Some(&port);
        if !(same_host && same_port) {
            continue;
        }
        let same_type = other.path == entry.path;
        let name = other.path.to_token_stream().to_string().replace(' ', "");
        if same_type {
            cx.error_spanned_by(
                &entry.path,
                format!(
                    "`{name}` is already started with the same host and port; give this one \
                     another `port` (or `host`), or remove it"
                ),
            );
        } else if let Some(port) = &entry.port {
            cx.error_spanned_by(
                port,
                format!(
                    "`{name}` above already uses this port on the same host; give each \
                     listener its own port (two outbound listeners cannot bind one port)"
                ),
            );
        }
    }
}
