//! The options of `#[inbound(...)]` and `#[outbound(...)]`.

use super::args::{self, Arg, ArgValue, Seen};
use super::events::{self, Place};
use super::Kind;
use crate::ctxt::Ctxt;
use crate::kw;
use crate::names::{EventSpec, CUSTOM};
use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Token};

/// Everything the options say, with defaults filled in.
pub(crate) struct ListenerArgs {
    /// `None`: not given, i.e. `ALL` for inbound, only `myevents` for outbound.
    pub(crate) events: Option<Events>,
    pub(crate) format: Format,
    pub(crate) filters: Vec<Filter>,
    pub(crate) linger: Linger,
    pub(crate) event_lock: bool,
}

/// `events = [...]`.
pub(crate) struct Events {
    pub(crate) entries: Vec<EventEntry>,
}

/// One string of `events = [...]`.
pub(crate) struct EventEntry {
    pub(crate) lit: LitStr,
    pub(crate) spec: EventSpec,
}

impl Events {
    /// True when `ALL` is among the entries.
    pub(crate) fn has_all(&self) -> bool {
        self.entries.iter().any(|e| e.spec == EventSpec::All)
    }

    /// True when the entries subscribe `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.has_all()
            || self
                .entries
                .iter()
                .any(|e| matches!(&e.spec, EventSpec::Named(n) if *n == name))
    }

    /// True when the entries subscribe CUSTOM `subclass`.
    pub(crate) fn has_custom(&self, subclass: &str) -> bool {
        self.has_all()
            || self.entries.iter().any(|e| match &e.spec {
                EventSpec::Custom(subs) => subs.iter().any(|s| s == subclass),
                _ => false,
            })
    }
}

/// `format = "plain" | "json" | "xml"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Plain,
    Json,
    Xml,
}

/// `filters("Header" = "value" | ["v1", "v2"] | <expr>, ...)`: one header
/// and its values, in declaration order.
pub(crate) struct Filter {
    pub(crate) header: LitStr,
    pub(crate) values: Vec<FilterValue>,
}

/// One value (or, for an expression, possibly several) of a filter.
pub(crate) enum FilterValue {
    /// A string literal, checked here.
    Lit(LitStr),
    /// Any other expression: evaluated in `subscription()` when the
    /// listener connects, to a string or a list of strings, and checked
    /// then (`Subscription::validate`).
    Expr(Expr),
}

impl FilterValue {
    fn read(cx: &Ctxt, expr: &Expr) -> FilterValue {
        match args::lit_str_opt(expr) {
            Some(lit) => {
                check_filter_value(cx, lit);
                FilterValue::Lit(lit.clone())
            }
            None => {
                if let Expr::Lit(other) = expr {
                    cx.error_spanned_by(
                        other,
                        format!(
                            "a filter value is a string: write `\"{}\"`",
                            crate::pretty(other).trim_matches('\'')
                        ),
                    );
                }
                FilterValue::Expr(expr.clone())
            }
        }
    }
}

fn check_filter_value(cx: &Ctxt, v: &LitStr) {
    let text = v.value();
    if text.trim().is_empty() {
        cx.error_spanned_by(
            v,
            "an empty filter value; FreeSWITCH rejects `filter <header>` without a value",
        );
    } else if text.contains(['\n', '\r']) {
        cx.error_spanned_by(
            v,
            "a filter value cannot contain a line break (it would end the command)",
        );
    }
}

/// `linger = true | false | <seconds>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Linger {
    /// `linger`: keep the socket until we close it (the default).
    Forever,
    /// `linger <n>`: FreeSWITCH closes it n seconds after the hangup.
    Seconds(u32),
    /// `nolinger`: FreeSWITCH closes it at the hangup.
    Off,
}

/// Reads the options of `kind`'s attribute.
pub(crate) fn parse(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> ListenerArgs {
    let mut out = ListenerArgs {
        events: None,
        format: Format::Plain,
        filters: Vec::new(),
        linger: Linger::Forever,
        event_lock: true,
    };
    let list = match args::parse_args(tokens) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return out;
        }
    };
    let valid = match kind {
        Kind::Inbound => kw::INBOUND_OPTIONS,
        Kind::Outbound => kw::OUTBOUND_OPTIONS,
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.key.to_string();
        if !valid.contains(&key.as_str()) {
            let extra = match (kind, key.as_str()) {
                (Kind::Outbound, kw::FILTERS) => {
                    "; an outbound socket only receives its own call's events (`myevents`), \
                     so it has no filters"
                }
                (Kind::Inbound, kw::LINGER | kw::EVENT_LOCK) => {
                    "; it belongs to #[outbound], which controls a call"
                }
                _ => "",
            };
            args::unknown_option(cx, kind.attr(), &arg.key, valid, extra);
            continue;
        }
        if !seen.first(cx, &arg.key) {
            continue;
        }
        match key.as_str() {
            kw::EVENTS => out.events = parse_events(cx, arg),
            kw::FORMAT => out.format = parse_format(cx, arg).unwrap_or(Format::Plain),
            kw::FILTERS => out.filters = parse_filters(cx, arg),
            kw::LINGER => out.linger = parse_linger(cx, arg).unwrap_or(Linger::Forever),
            kw::EVENT_LOCK => out.event_lock = parse_bool(cx, arg, kw::EVENT_LOCK).unwrap_or(true),
            _ => unreachable!("every valid option is handled"),
        }
    }
    out
}

fn parse_events(cx: &Ctxt, arg: &Arg) -> Option<Events> {
    let example = "events = [\"CHANNEL_HANGUP\", \"CUSTOM conference::maintenance\"]";
    let expr = arg.expr(cx, example)?;
    let Expr::Array(array) = expr else {
        let hint = match args::lit_str_opt(expr) {
            Some(s) => format!("; write `events = [\"{}\"]`", s.value()),
            None => format!("; write `{example}`"),
        };
        cx.error_spanned_by(expr, format!("`events` takes a list of strings{hint}"));
        return None;
    };
    if array.elems.is_empty() {
        cx.error_spanned_by(
            array,
            "an empty `events` list subscribes to nothing; name the events, or leave `events` \
             out to subscribe to ALL",
        );
        return None;
    }
    let mut entries: Vec<EventEntry> = Vec::new();
    for elem in &array.elems {
        let Some(lit) = args::lit_str(cx, elem, "an event name such as `\"CHANNEL_HANGUP\"`")
        else {
            continue;
        };
        match events::from_wire(&lit.value(), Place::Subscription) {
            Ok(spec) => entries.push(EventEntry {
                lit: lit.clone(),
                spec,
            }),
            Err(msg) => cx.error_spanned_by(lit, msg),
        }
    }
    check_entries(cx, &entries);
    Some(Events { entries })
}

/// Checks between the entries of one `events` list.
fn check_entries(cx: &Ctxt, entries: &[EventEntry]) {
    let mut first_custom: Option<&EventEntry> = None;
    for (i, entry) in entries.iter().enumerate() {
        if entries[..i].iter().any(|e| e.spec == entry.spec) {
            cx.error_spanned_by(&entry.lit, "this event is already in the list; remove one");
            continue;
        }
        match &entry.spec {
            EventSpec::All if entries.len() > 1 => cx.error_spanned_by(
                &entry.lit,
                "`ALL` already subscribes to every event, CUSTOM subclasses included; remove \
                 `ALL` or the other names",
            ),
            EventSpec::Custom(subs) => {
                if let Some(first) = first_custom {
                    cx.error_spanned_by(
                        &entry.lit,
                        format!(
                            "FreeSWITCH reads every word after `CUSTOM` as a subclass name, so \
                             give all subclasses in one string: `\"{} {}\"`",
                            first.lit.value(),
                            subs.join(" ")
                        ),
                    );
                } else {
                    first_custom = Some(entry);
                }
            }
            EventSpec::Named(name) => {
                if let Some(custom) = first_custom {
                    cx.error_spanned_by(
                        &entry.lit,
                        format!(
                            "FreeSWITCH reads every word after `{CUSTOM}` as a subclass name, so \
                             `{name}` would be taken for one; move `\"{name}\"` before `\"{}\"`",
                            custom.lit.value()
                        ),
                    );
                }
            }
            EventSpec::All => {}
        }
    }
}

fn parse_format(cx: &Ctxt, arg: &Arg) -> Option<Format> {
    let expr = arg.expr(cx, "format = \"json\"")?;
    let text = match (args::lit_str_opt(expr), args::ident(expr)) {
        (Some(s), _) => s.value(),
        (None, Some(id)) => id.to_string(),
        _ => String::new(),
    };
    match text.as_str() {
        "plain" => Some(Format::Plain),
        "json" => Some(Format::Json),
        "xml" => Some(Format::Xml),
        _ => {
            cx.error_spanned_by(
                expr,
                "unknown event format; expected `\"plain\"` (the default), `\"json\"` or `\"xml\"`",
            );
            None
        }
    }
}

fn parse_linger(cx: &Ctxt, arg: &Arg) -> Option<Linger> {
    let expr = arg.expr(cx, "linger = 30")?;
    let msg = "expected `linger = true` (keep the socket after the hangup until the listener \
               closes it; the default), `linger = <seconds>`, or `linger = false` (FreeSWITCH \
               closes the socket at the hangup)";
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Some(if b.value {
            Linger::Forever
        } else {
            Linger::Off
        }),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<u32>() {
            Ok(n) => Some(Linger::Seconds(n)),
            Err(_) => {
                cx.error_spanned_by(i, "`linger` seconds must fit in a u32");
                None
            }
        },
        _ => {
            cx.error_spanned_by(expr, msg);
            None
        }
    }
}

fn parse_bool(cx: &Ctxt, arg: &Arg, name: &str) -> Option<bool> {
    let expr = arg.expr(cx, &format!("{name} = false"))?;
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Some(b.value),
        _ => {
            cx.error_spanned_by(
                expr,
                format!("expected `{name} = true` or `{name} = false`"),
            );
            None
        }
    }
}

/// `"Header" = <value or list>` inside `filters(...)`.
struct FilterEntry {
    header: LitStr,
    value: Expr,
}

impl Parse for FilterEntry {
    fn parse(input: ParseStream) -> syn::Result<FilterEntry> {
        if !input.peek(LitStr) {
            if input.peek(Ident::peek_any) {
                // Take the words and dashes up to `=`: `Caller-Context`.
                let mut name = TokenStream::new();
                while !input.is_empty() && !input.peek(Token![=]) && !input.peek(Token![,]) {
                    let tt: proc_macro2::TokenTree = input.parse()?;
                    name.extend([tt]);
                }
                let text = name.to_string().replace(' ', "");
                return Err(syn::Error::new_spanned(
                    name,
                    format!("write the header name in quotes: `\"{text}\" = ...`"),
                ));
            }
            return Err(input.error(
                "expected a header name in quotes, e.g. `\"Caller-Context\" = \"default\"`",
            ));
        }
        let header: LitStr = input.parse()?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                header.span(),
                format!(
                    "give the header a value: `\"{}\" = \"value\"` or `\"{}\" = [\"a\", \"b\"]`",
                    header.value(),
                    header.value()
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(FilterEntry {
            header,
            value: args::ungroup(input.parse()?),
        })
    }
}

fn parse_filters(cx: &Ctxt, arg: &Arg) -> Vec<Filter> {
    let ArgValue::Paren(paren, tokens) = &arg.value else {
        cx.error_spanned_by(
            arg,
            "write filters in parentheses: `filters(\"Caller-Context\" = [\"default\", \"example\"])`",
        );
        return Vec::new();
    };
    let list = match Punctuated::<FilterEntry, Token![,]>::parse_terminated.parse2(tokens.clone()) {
        Ok(list) => list,
        Err(e) => {
            cx.syn_error(e);
            return Vec::new();
        }
    };
    if list.is_empty() {
        cx.error_at(
            paren.span.join(),
            "`filters()` is empty; add `\"Header\" = \"value\"` pairs or remove it",
        );
    }
    let mut out: Vec<Filter> = Vec::new();
    for entry in list {
        let name = entry.header.value();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == ':') {
            cx.error_spanned_by(
                &entry.header,
                "a header name cannot be empty or contain spaces or `:`",
            );
            continue;
        }
        if out
            .iter()
            .any(|f| f.header.value().eq_ignore_ascii_case(&name))
        {
            cx.error_spanned_by(
                &entry.header,
                format!(
                    "`{name}` is filtered twice; give all its values in one list: \
                     `\"{name}\" = [\"a\", \"b\"]`"
                ),
            );
            continue;
        }
        let values: Vec<FilterValue> = match &entry.value {
            Expr::Array(array) => {
                if array.elems.is_empty() {
                    cx.error_spanned_by(array, "an empty list of filter values; give at least one");
                }
                array
                    .elems
                    .iter()
                    .map(|e| FilterValue::read(cx, e))
                    .collect()
            }
            other => vec![FilterValue::read(cx, other)],
        };
        out.push(Filter {
            header: entry.header,
            values,
        });
    }
    out
}
