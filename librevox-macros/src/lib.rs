//! Procedural macros for [librevox](https://docs.rs/librevox).
//!
//! Do not depend on this crate directly: the `librevox` crate re-exports
//! every macro, and the generated code names the runtime through the hidden
//! path `::librevox::__private`.
//!
//! | macro | what it writes |
//! |---|---|
//! | [`macro@inbound`] | `InboundListener` for the type of an impl block: subscription, filters, hook dispatch |
//! | [`macro@outbound`] | `OutboundListener`: socket options, `session_initiated`, hook dispatch |
//! | [`macro@event`] | marks a hook inside such an impl block |
//! | [`macro@app`] | an extension trait that runs a dialplan application |
//! | [`start!`] | a future that runs listeners |
//!
//! Each macro is parse → validate → expand: parsing records every mistake
//! it finds and keeps going, validation checks across options and methods,
//! and when anything is wrong the expansion still emits the user's item
//! (plus a stub where a trait impl was due) next to the errors, so one
//! mistake gives one clear error rather than a cascade.

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod ctxt;
mod expand;
mod kw;
mod names;
mod parse;
mod validate;

use parse::Kind;

/// Tokens as text for a message, without the spaces `to_string` puts
/// around punctuation (`digit: char`, not `digit : char`).
pub(crate) fn pretty(tokens: &dyn quote::ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .replace(" : ", ": ")
        .replace("& ", "&")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace("' ", "'")
}

/// Makes the type of an inherent impl block an inbound listener: librevox
/// connects to FreeSWITCH, subscribes and calls the hooks for each event.
///
/// ```ignore
/// use librevox::{event, inbound, Event, Inbound};
///
/// struct Monitor;
///
/// #[inbound(events = ["CHANNEL_HANGUP", "CUSTOM conference::maintenance"],
///           filters("Caller-Context" = ["default", "example"]))]
/// impl Monitor {
///     async fn on_event(&self, event: &Event) { /* every event, first */ }
///
///     #[event(channel_hangup)]
///     async fn hangup(&self, ctx: &Inbound, event: &Event) { /* … */ }
///
///     #[event(custom = "conference::maintenance")]
///     async fn conference(&self, event: &Event) { /* … */ }
///
///     async fn connection_completed(&self, ctx: &Inbound) { /* after subscribing */ }
/// }
/// ```
///
/// # Options
///
/// * `events = ["NAME", ...]`: what to subscribe to; default `["ALL"]`. Names
///   are FreeSWITCH event names in upper case; a CUSTOM subscription names
///   its subclasses in one string, last: `"CUSTOM a::b c::d"`.
/// * `format = "plain" | "json" | "xml"`: event serialization; default plain.
/// * `filters("Header" = "value" | ["v1", "v2"], ...)`: one `filter` command
///   per value, in the order written. A value may be any expression giving
///   a string or a list of strings (`self.context.clone()`,
///   `["default", &self.extra]`, `config::contexts()`): it is evaluated in
///   `subscription()`, i.e. each time the listener connects, and may read
///   the listener's fields. Header names and literal values are checked at
///   compile time, computed values when the listener starts
///   (`Subscription::validate`).
///
/// # Methods
///
/// Every hook is an `async fn` taking `&self`, then optionally
/// `&Inbound` (the connection), then optionally `&Event`, and returns
/// nothing. The runtime recognises by name:
///
/// * `on_event`: runs for every event, before the hooks;
/// * `connection_completed`, `reconnected`: after the (re)connection is
///   authenticated and subscribed; they take no event;
///
/// and every method marked [`#[event(...)]`](macro@event). Several hooks may
/// handle the same event; they run in declaration order. Other methods are
/// left alone.
///
/// # Compile-time checks
///
/// Event names are checked against FreeSWITCH's list (with a "did you
/// mean"), a bare `CUSTOM` is refused (FreeSWITCH only delivers named
/// subclasses), and a hook for an event that `events` does not subscribe is
/// an error.
#[proc_macro_attribute]
pub fn inbound(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::listener::expand(Kind::Inbound, args.into(), item.into()).into()
}

/// Makes the type of an inherent impl block an outbound listener:
/// FreeSWITCH connects to it for each call that runs the dialplan `socket`
/// application, and `session_initiated` drives the call.
///
/// ```ignore
/// use librevox::{event, outbound, Session};
///
/// #[derive(Default)]
/// struct Ivr;
///
/// #[outbound(linger = 30)]
/// impl Ivr {
///     async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
///         call.answer().await?;
///         Ok(())
///     }
///
///     #[event(channel_hangup)]
///     async fn gone(&self, call: &Session) { /* … */ }
/// }
/// ```
///
/// # Options
///
/// * `linger = true | false | <seconds>`: keep the socket after the hangup
///   until the listener closes it (`true`, the default), for that many
///   seconds, or not at all (`false`, FreeSWITCH may then drop the last
///   events of the call).
/// * `event_lock = bool`: send applications with `event-lock: true`
///   (default), so they run strictly one after another.
/// * `events = ["NAME", ...]`: events to subscribe in addition to
///   `myevents` (which delivers the call's channel events).
/// * `format = "plain" | "json" | "xml"`.
///
/// # Methods
///
/// `session_initiated(&self, call: &Session) -> librevox::Result<()>` is
/// required; an `Err` it returns is logged at once, and the call then ends
/// as any other. Optional:
///
/// * `session_ended(&self, call: &Session, how: &SessionEnd)`: runs once
///   per call, after its end and the hooks, before the socket closes; `how`
///   has the hangup cause, the duration and what `session_initiated`
///   returned. Both parameters are optional.
///
/// Hooks are as for [`macro@inbound`], with `&Session` as the context. A
/// hook for an event that neither `myevents` nor `events` delivers is a
/// compile error.
#[proc_macro_attribute]
pub fn outbound(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::listener::expand(Kind::Outbound, args.into(), item.into()).into()
}

/// Marks a method of an [`#[inbound]`](macro@inbound) or
/// [`#[outbound]`](macro@outbound) impl block as the hook for one or more
/// events.
///
/// ```ignore
/// #[event(channel_hangup)]                        // snake_case identifier
/// #[event("CHANNEL_HANGUP_COMPLETE")]             // the wire name
/// #[event(custom = "conference::maintenance")]    // a CUSTOM subclass
/// #[event(dtmf, channel_bridge)]                  // several at once
/// ```
///
/// On its own (outside such an impl block) it is a compile error: nothing
/// would ever call the method.
#[proc_macro_attribute]
pub fn event(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::listener::stray_event(args.into(), item.into()).into()
}

/// Turns a function that builds a dialplan application's argument into an
/// async method on every application target (an outbound `Session`, or a
/// channel of a `CommandSocket`).
///
/// ```ignore
/// /// Plays a file to the caller.
/// #[app]
/// pub fn playback(file: &str) -> String {
///     file.to_owned()
/// }
///
/// #[app(name = "read", returns = variable(var))]
/// pub fn read_digits(min: u32, max: u32, file: &str, var: &str, timeout_ms: u32, terminators: &str) -> String {
///     format!("{min} {max} {file} {var} {timeout_ms} {terminators}")
/// }
///
/// // generates `pub trait Playback` and `pub trait ReadDigits`, so that:
/// call.playback("welcome.wav").await?;                                   // Result<()>
/// let digits = call.read_digits(1, 4, "pin.wav", "pin", 5000, "#").await?; // Result<Option<String>>
/// ```
///
/// The trait is named after the function in UpperCamelCase, has the
/// function's visibility and documentation, and is implemented for every
/// `T: AppTarget`. Its method has the function's name and parameters; it
/// evaluates the body (which returns anything `Into<String>`, or nothing for
/// an empty argument) and then runs the application, waiting for its
/// CHANNEL_EXECUTE_COMPLETE.
///
/// # Options
///
/// * `name = "app"`: the FreeSWITCH application (default: the function's name).
/// * `returns = event`: return the CHANNEL_EXECUTE_COMPLETE event
///   (`Result<Event>`).
/// * `returns = variable(param)` / `returns = variable("name")`: return that
///   channel variable of the completion event (`Result<Option<String>>`,
///   `None` when it is absent or empty).
/// * without `returns`: `Result<()>`.
///
/// The function must be a plain, non-async, non-generic free function whose
/// parameters are named.
#[proc_macro_attribute]
pub fn app(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::app::expand(args.into(), item.into()).into()
}

/// Runs listeners: evaluates to a future that connects the inbound
/// listeners, serves the outbound ones, and completes on Ctrl-C / SIGTERM
/// (or with the first listener error).
///
/// ```ignore
/// #[tokio::main]
/// async fn main() -> librevox::Result<()> {
///     librevox::start!(Monitor, Ivr(port = 8084)).await
/// }
/// ```
///
/// Each entry is a listener type, optionally with options in parentheses,
/// optionally followed by `= value`:
///
/// * `host = "..."`: inbound: FreeSWITCH's address; outbound: the address
///   to listen on (default `127.0.0.1`).
/// * `port = ...`: default 8021 (inbound) or 8084 (outbound).
/// * `password = ...`, `user = ...`: inbound only (default password
///   `ClueCon`; `user` switches to `userauth user@domain`).
/// * `hosts = ["10.0.0.1:8021", "10.0.0.2:8021"]`: inbound only, instead
///   of `host`/`port`: one listener value on several switches, one
///   independent connection each (reconnects, backoff, liveness, metrics)
///   with the same password and user. An entry may name its switch,
///   `hosts = [fs1 = "10.0.0.1:8021", fs2 = "10.0.0.2:8021"]`: hooks read
///   the name with `ctx.switch().name()` (else the `FreeSWITCH-Hostname`
///   the switch reports) and `ctx.switch().core_uuid()`. An address without
///   a port gets 8021. `Runner::inbound_many` is the same by hand.
/// * `factory = <closure>`: outbound only: builds each call's value
///   (`factory = move || Ivr::new(pool.clone())`).
/// * `Type = value` / `Type(options) = value`: inbound only: the listener's
///   one value, kept across reconnects (`Monitor = Monitor::new(db)`).
///
/// ```ignore
/// librevox::start!(
///     Monitor = Monitor::new(db.clone()),
///     Ivr(port = 8084, factory = move || Ivr::new(pool.clone())),
/// ).await
/// ```
///
/// Before the listeners, `metrics = "127.0.0.1:9464"` serves Prometheus
/// metrics, `/health` and `/ready` on that address while they run
/// (`Runner::metrics`; needs librevox's `prometheus` feature):
///
/// ```ignore
/// librevox::start!(metrics = "127.0.0.1:9464", Monitor, Ivr).await
/// ```
///
/// Option values may be any expression of the right type (e.g.
/// `password = std::env::var("FS_PASSWORD").unwrap()`). Whether a type is
/// inbound or outbound comes from its `#[inbound]` / `#[outbound]` impl.
/// Without a value or factory a listener is built with `Default::default()`:
/// inbound ones once, outbound ones once per call. `librevox::Runner` takes
/// the same: `.inbound(value, settings)`, `.outbound(factory, settings)`.
#[proc_macro]
pub fn start(input: TokenStream) -> TokenStream {
    expand::start::expand(input.into()).into()
}
