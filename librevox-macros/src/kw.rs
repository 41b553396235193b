//! The option and hook names the macros understand, in one place (serde's
//! `symbol.rs` idea): messages that list the valid options read from here.

/// `#[inbound(events = [...])]`, `#[outbound(events = [...])]`.
pub(crate) const EVENTS: &str = "events";
/// `#[inbound(format = "json")]`.
pub(crate) const FORMAT: &str = "format";
/// `#[inbound(filters("Header" = "value"))]`.
pub(crate) const FILTERS: &str = "filters";
/// `#[outbound(linger = ...)]`.
pub(crate) const LINGER: &str = "linger";
/// `#[outbound(event_lock = false)]`.
pub(crate) const EVENT_LOCK: &str = "event_lock";

/// Options of `#[inbound]`.
pub(crate) const INBOUND_OPTIONS: &[&str] = &[EVENTS, FILTERS, FORMAT];
/// Options of `#[outbound]`.
pub(crate) const OUTBOUND_OPTIONS: &[&str] = &[EVENTS, EVENT_LOCK, FORMAT, LINGER];

/// `#[app(name = "read")]`.
pub(crate) const NAME: &str = "name";
/// `#[app(returns = event)]`.
pub(crate) const RETURNS: &str = "returns";
/// Options of `#[app]`.
pub(crate) const APP_OPTIONS: &[&str] = &[NAME, RETURNS];
/// `returns = event`.
pub(crate) const RETURNS_EVENT: &str = "event";
/// `returns = variable(...)`.
pub(crate) const RETURNS_VARIABLE: &str = "variable";

/// `start!(Listener(host = "..."))`.
pub(crate) const HOST: &str = "host";
/// `start!(Listener(port = 8084))`.
pub(crate) const PORT: &str = "port";
/// `start!(Listener(hosts = ["a:8021", fs2 = "b:8021"]))`: several switches.
pub(crate) const HOSTS: &str = "hosts";
/// `start!(Listener(nats = "nats://...", consumer = "billing"))`: from JetStream.
pub(crate) const NATS: &str = "nats";
/// The durable consumer's name with `nats`.
pub(crate) const CONSUMER: &str = "consumer";
/// `start!(Listener(password = "..."))`.
pub(crate) const PASSWORD: &str = "password";
/// `start!(Listener(user = "..."))`.
pub(crate) const USER: &str = "user";
/// `start!(Listener(factory = || Listener::new()))`.
pub(crate) const FACTORY: &str = "factory";
/// `start!(metrics = "127.0.0.1:9464", ...)`: the runner's exporter.
pub(crate) const METRICS: &str = "metrics";
/// Options of an entry of `start!`.
pub(crate) const START_OPTIONS: &[&str] =
    &[CONSUMER, FACTORY, HOST, HOSTS, NATS, PASSWORD, PORT, USER];

/// The hook that sees every event.
pub(crate) const ON_EVENT: &str = "on_event";
/// Inbound: after authentication, subscription and filters.
pub(crate) const CONNECTION_COMPLETED: &str = "connection_completed";
/// Inbound: after a reconnect has completed.
pub(crate) const RECONNECTED: &str = "reconnected";
/// Outbound: the call's dialplan.
pub(crate) const SESSION_INITIATED: &str = "session_initiated";
/// Outbound: after the end of the call, before the socket closes.
pub(crate) const SESSION_ENDED: &str = "session_ended";

/// `custom = "subclass"` inside `#[event(...)]`.
pub(crate) const CUSTOM_KEY: &str = "custom";

/// "`a`, `b` or `c`" for messages.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}
