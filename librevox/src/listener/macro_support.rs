//! The runtime half of the macros: what `start!`, `#[inbound]` and
//! `#[outbound]` expansions call (through `librevox::__private`), so the
//! generated code is a thin list of calls and the logic is tested here.
//!
//! A macro cannot see whether a type is an inbound or an outbound listener,
//! so [`StartListener`] has one blanket impl for each, told apart by a
//! marker type parameter that inference resolves. The other traits exist
//! for their compile-time messages: rustc reports an unmet bound with the
//! message of the trait the function asked for, so each says what to write
//! instead.

use std::borrow::Cow;
use std::sync::Arc;

use super::inbound::InboundSettings;
use super::outbound::OutboundSettings;
use super::runner::Runner;
use super::{InboundListener, OutboundListener};

/// The host listeners use when `start!` names none.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// FreeSWITCH's event socket port: inbound listeners connect to it.
pub const DEFAULT_INBOUND_PORT: u16 = 8021;
/// The port the dialplan `socket` application dials by default.
pub const DEFAULT_OUTBOUND_PORT: u16 = 8084;

/// The options of one `start!` entry, as written (`None`: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// `host = ...`.
    pub host: Option<String>,
    /// `port = ...`.
    pub port: Option<u16>,
    /// `password = ...` (inbound only).
    pub password: Option<String>,
    /// `user = ...` (inbound only).
    pub user: Option<String>,
    /// `hosts = ["a:8021", fs2 = "b:8021"]` (inbound only): one connection
    /// per entry, each `(name, address)`.
    pub hosts: Option<Vec<(Option<String>, String)>>,
    /// `nats = ...` (inbound only): consume from JetStream at this URL.
    pub nats: Option<String>,
    /// `consumer = ...` with `nats`: the durable consumer's name.
    pub consumer: Option<String>,
}

impl StartOptions {
    /// `host:port` with the defaults filled in; an IPv6 host gets brackets.
    pub fn address(&self, default_port: u16) -> String {
        address(
            self.host.as_deref().unwrap_or(DEFAULT_HOST),
            self.port.unwrap_or(default_port),
        )
    }

    /// The settings of an inbound listener with these options (one
    /// switch: `host` and `port`).
    pub fn inbound_settings(self) -> InboundSettings {
        let mut settings = InboundSettings::new(self.address(DEFAULT_INBOUND_PORT));
        if let Some(password) = self.password {
            settings = settings.password(password);
        }
        settings.user = self.user;
        settings
    }

    /// The settings of each connection of an inbound listener: one per
    /// entry of `hosts` (an address without a port gets 8021), with the
    /// same password and user; without `hosts`, the one of `host`/`port`.
    pub fn inbound_settings_all(mut self) -> Vec<InboundSettings> {
        let Some(hosts) = self.hosts.take() else {
            return vec![self.inbound_settings()];
        };
        let one = self.inbound_settings();
        hosts
            .into_iter()
            .map(|(name, addr)| InboundSettings {
                addr: with_port(&addr, DEFAULT_INBOUND_PORT),
                name,
                ..one.clone()
            })
            .collect()
    }

    /// The settings of an outbound server with these options.
    pub fn outbound_settings(self) -> OutboundSettings {
        OutboundSettings::new(self.address(DEFAULT_OUTBOUND_PORT))
    }
}

/// `host:port`, bracketing a bare IPv6 address (`[::1]:8021`).
pub fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `addr` as `host:port`: kept when it ends in a port (`host:8021`,
/// `[::1]:8021`), else given `port` (`host`, `::1`).
pub fn with_port(addr: &str, port: u16) -> String {
    let has_port = match addr.rsplit_once(':') {
        Some((host, p)) => p.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    };
    if has_port {
        addr.to_owned()
    } else {
        address(addr, port)
    }
}

/// Marks an inbound listener for [`StartListener`].
#[derive(Debug)]
pub struct InboundKind;
/// Marks an outbound listener for [`StartListener`].
#[derive(Debug)]
pub struct OutboundKind;

/// A listener `start!` can run: inbound (`Kind` = [`InboundKind`]) or
/// outbound ([`OutboundKind`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a librevox listener",
    label = "not an #[inbound] or #[outbound] listener",
    note = "put `#[librevox::inbound]` or `#[librevox::outbound]` on an `impl {Self} {{ ... }}` block"
)]
pub trait StartListener<Kind>: Sized {
    /// Adds the listener, built with `Default`, to `runner`.
    fn add_default(runner: Runner, options: StartOptions) -> Runner
    where
        Self: BuildDefault;
}

impl<T: InboundListener> StartListener<InboundKind> for T {
    fn add_default(runner: Runner, options: StartOptions) -> Runner
    where
        Self: BuildDefault,
    {
        add_inbound(runner, options, T::default())
    }
}

impl<T: OutboundListener> StartListener<OutboundKind> for T {
    fn add_default(runner: Runner, options: StartOptions) -> Runner
    where
        Self: BuildDefault,
    {
        runner.outbound(T::default, options.outbound_settings())
    }
}

/// A listener `start!` can build by itself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `Default`, so `start!` cannot build it",
    label = "`start!` builds this listener with `Default::default()`",
    note = "derive or implement `Default` for `{Self}`, or give the listener's value: `{Self} = {Self}::new(...)` for an #[inbound] listener, `{Self}(factory = || {Self}::new(...))` for an #[outbound] one"
)]
pub trait BuildDefault: Default {}
impl<T: Default> BuildDefault for T {}

/// A listener that can run from one value (`start!(Type = value)`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[inbound] listener, so `start!` cannot run it from one value",
    label = "`{Self} = ...` gives an inbound listener the one value it keeps across reconnects",
    note = "an #[outbound] listener gets a fresh value for each call: write `{Self}(factory = || ...)`; otherwise put `#[librevox::inbound]` on an `impl {Self} {{ ... }}` block"
)]
pub trait InboundValue: InboundListener {}
impl<T: InboundListener> InboundValue for T {}

/// A listener that can run from a factory (`start!(Type(factory = ...))`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[outbound] listener, so it takes no `factory`",
    label = "`factory` builds a fresh value of an outbound listener for each call",
    note = "an #[inbound] listener keeps one value across reconnects: write `{Self} = {Self}::new(...)`; otherwise put `#[librevox::outbound]` on an `impl {Self} {{ ... }}` block"
)]
pub trait OutboundTarget: OutboundListener {}
impl<T: OutboundListener> OutboundTarget for T {}

/// What `factory = ...` takes: a closure that builds a `T` for each call.
#[diagnostic::on_unimplemented(
    message = "`factory` must be a closure that builds a `{T}` for each call",
    label = "expected a closure returning `{T}`",
    note = "write `factory = move || {T}::new(...)`: it runs once per call, on any thread, so it must be `Fn() -> {T} + Send + Sync + 'static` (clone shared state such as a pool inside it)"
)]
pub trait Factory<T>: Fn() -> T + Send + Sync + 'static {}
impl<T, F: Fn() -> T + Send + Sync + 'static> Factory<T> for F {}

/// A listener that `password` and `user` apply to.
#[diagnostic::on_unimplemented(
    message = "`password` and `user` only apply to inbound listeners, and `{Self}` is not one",
    label = "FreeSWITCH connects to an outbound listener without authentication",
    note = "remove this option, or start an #[inbound] listener"
)]
pub trait InboundOnly {}
impl<T: InboundListener> InboundOnly for T {}

/// `start!(Type)` / `start!(Type(options))`: built with `Default`.
pub fn add_default<T, Kind>(runner: Runner, options: StartOptions) -> Runner
where
    T: StartListener<Kind> + BuildDefault,
{
    T::add_default(runner, options)
}

/// `start!(Type = value)`: an inbound listener from its value.
pub fn add_inbound<T: InboundValue>(runner: Runner, options: StartOptions, listener: T) -> Runner {
    #[cfg(feature = "nats")]
    if let (Some(url), Some(consumer)) = (&options.nats, &options.consumer) {
        return runner.stream(
            listener,
            crate::listener::StreamSettings::new(url.clone(), consumer.clone()),
        );
    }
    runner.inbound_many(listener, options.inbound_settings_all())
}

/// `start!(Type(factory = ...))`: an outbound listener from its factory.
pub fn add_outbound<T, F>(runner: Runner, options: StartOptions, factory: F) -> Runner
where
    T: OutboundTarget,
    F: Factory<T>,
{
    runner.outbound(factory, options.outbound_settings())
}

/// What `metrics = ...` takes: the address as a string.
#[diagnostic::on_unimplemented(
    message = "`metrics` takes the address to serve on as a string, not `{Self}`",
    label = "expected a `host:port` string",
    note = "write `metrics = \"127.0.0.1:9464\"` (or any expression giving a `&str` or a `String`)"
)]
pub trait MetricsAddr {
    /// The address as an owned string.
    fn into_addr(self) -> String;
}
impl MetricsAddr for &str {
    fn into_addr(self) -> String {
        self.to_owned()
    }
}
impl MetricsAddr for String {
    fn into_addr(self) -> String {
        self
    }
}
impl MetricsAddr for &String {
    fn into_addr(self) -> String {
        self.clone()
    }
}
impl MetricsAddr for Cow<'_, str> {
    fn into_addr(self) -> String {
        self.into_owned()
    }
}

/// `start!(metrics = "host:port", ...)`: the runner serves `/metrics`,
/// `/health` and `/ready` there ([`Runner::metrics`]).
#[cfg(feature = "prometheus")]
pub fn metrics(runner: Runner, addr: impl MetricsAddr) -> Runner {
    runner.metrics(addr.into_addr())
}

/// Without the `prometheus` feature there is no exporter to serve.
#[cfg(not(feature = "prometheus"))]
#[diagnostic::on_unimplemented(
    message = "`metrics = ...` in `start!` needs librevox's `prometheus` feature",
    label = "the built-in exporter is behind the `prometheus` feature",
    note = "enable it in Cargo.toml: `librevox = {{ version = \"0.1\", features = [\"prometheus\"] }}`, or remove `metrics`"
)]
pub trait PrometheusFeature {}

/// `start!(metrics = ...)` without the `prometheus` feature: a compile
/// error naming the feature (no type implements [`PrometheusFeature`]).
#[cfg(not(feature = "prometheus"))]
pub fn metrics<R: PrometheusFeature>(runner: R, _addr: impl MetricsAddr) -> R {
    runner
}

/// Checks (at compile time) that `password`/`user` were given to an
/// inbound listener.
pub fn inbound_only<T: InboundOnly>() {}

/// A listener that `hosts` applies to.
#[diagnostic::on_unimplemented(
    message = "`hosts` only applies to inbound listeners, and `{Self}` is not one",
    label = "an outbound listener is a server: FreeSWITCH dials it, it dials no switch",
    note = "give an outbound listener one `host` and `port` to listen on, and point every switch's dialplan `socket` at it (or run several instances)"
)]
pub trait ManyHosts {}
impl<T: InboundListener> ManyHosts for T {}

/// Checks (at compile time) that `hosts` was given to an inbound listener.
pub fn many_hosts<T: ManyHosts>() {}

/// A listener that `nats` applies to.
#[cfg(feature = "nats")]
#[diagnostic::on_unimplemented(
    message = "`nats` only applies to inbound listeners, and `{Self}` is not one",
    label = "a JetStream consumer feeds the hooks of an #[inbound] listener",
    note = "put `#[librevox::inbound]` on an `impl {Self} {{ ... }}` block, or remove `nats` and `consumer`"
)]
pub trait StreamInbound {}
#[cfg(feature = "nats")]
impl<T: InboundListener> StreamInbound for T {}

/// Checks (at compile time) that `nats` was given to an inbound listener.
#[cfg(feature = "nats")]
pub fn from_stream<T: StreamInbound>() {}

/// Without the `nats` feature there is no JetStream consumer.
#[cfg(not(feature = "nats"))]
#[diagnostic::on_unimplemented(
    message = "`nats = ...` in `start!` needs librevox's `nats` feature",
    label = "consuming from JetStream is behind the `nats` feature",
    note = "enable it in Cargo.toml: `librevox = {{ version = \"0.1\", features = [\"nats\"] }}`, or remove `nats` and `consumer`"
)]
pub trait NatsFeature {}

/// `start!(L(nats = ...))` without the `nats` feature: a compile error
/// naming the feature (no type implements [`NatsFeature`]).
#[cfg(not(feature = "nats"))]
pub fn from_stream<T: NatsFeature>() {}

/// What each entry of `hosts = [...]` takes: an address as a string.
#[diagnostic::on_unimplemented(
    message = "an entry of `hosts` is a switch address as a string, not `{Self}`",
    label = "expected a `\"host:port\"` string",
    note = "write `hosts = [\"10.0.0.1:8021\", \"10.0.0.2:8021\"]`, or name each switch: `hosts = [fs1 = \"10.0.0.1:8021\"]`"
)]
pub trait HostAddr {
    /// The address as an owned string.
    fn into_host(self) -> String;
}
impl HostAddr for &str {
    fn into_host(self) -> String {
        self.to_owned()
    }
}
impl HostAddr for String {
    fn into_host(self) -> String {
        self
    }
}
impl HostAddr for &String {
    fn into_host(self) -> String {
        self.clone()
    }
}
impl HostAddr for Cow<'_, str> {
    fn into_host(self) -> String {
        self.into_owned()
    }
}

/// One entry of `hosts = [...]`.
pub fn host(name: Option<&str>, addr: impl HostAddr) -> (Option<String>, String) {
    (name.map(str::to_owned), addr.into_host())
}

/// The filter values of `#[inbound(filters("Header" = <expr>))]`: one
/// string, or a list of them (one `filter` command each).
#[diagnostic::on_unimplemented(
    message = "a filter value must be a string or a list of strings, not `{Self}`",
    label = "expected `&str`, `String`, or a `Vec`, array or slice of them",
    note = "each string becomes one `filter <header> <value>` command; convert other values first (`n.to_string()`)"
)]
pub trait FilterValues {
    /// Appends the values, in order.
    fn push_to(self, out: &mut Vec<String>);
}

macro_rules! one_filter_value {
    ($($ty:ty),*) => {$(
        impl FilterValues for $ty {
            fn push_to(self, out: &mut Vec<String>) {
                out.push(String::from(&*self));
            }
        }
    )*};
}

one_filter_value!(&str, &String, String, Cow<'_, str>, Box<str>, Arc<str>);

impl<S: AsRef<str>> FilterValues for Vec<S> {
    fn push_to(self, out: &mut Vec<String>) {
        out.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

impl<S: AsRef<str>> FilterValues for &Vec<S> {
    fn push_to(self, out: &mut Vec<String>) {
        out.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

impl<S: AsRef<str>> FilterValues for &[S] {
    fn push_to(self, out: &mut Vec<String>) {
        out.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

impl<S: AsRef<str>, const N: usize> FilterValues for [S; N] {
    fn push_to(self, out: &mut Vec<String>) {
        out.extend(self.iter().map(|s| s.as_ref().to_owned()));
    }
}

/// Appends one `(header, value)` filter per value, in order.
pub fn push_filters(filters: &mut Vec<(String, String)>, header: &str, values: impl FilterValues) {
    let mut out = Vec::new();
    values.push_to(&mut out);
    filters.extend(out.into_iter().map(|v| (header.to_owned(), v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fill_in_defaults_and_bracket_ipv6() {
        let opts = |host: Option<&str>, port| StartOptions {
            host: host.map(str::to_owned),
            port,
            ..StartOptions::default()
        };
        assert_eq!(opts(None, None).address(8021), "127.0.0.1:8021");
        assert_eq!(
            opts(Some("fs.example.net"), Some(9000)).address(8021),
            "fs.example.net:9000"
        );
        assert_eq!(opts(Some("::1"), None).address(8084), "[::1]:8084");
        assert_eq!(opts(Some("[::1]"), Some(1)).address(8084), "[::1]:1");
        assert_eq!(opts(Some("0.0.0.0"), None).address(8084), "0.0.0.0:8084");
    }

    #[test]
    fn inbound_settings_take_password_and_user() {
        let plain = StartOptions::default().inbound_settings();
        assert_eq!(plain.addr, "127.0.0.1:8021");
        assert_eq!(plain.password, InboundSettings::default().password);
        assert_eq!(plain.user, None);

        let s = StartOptions {
            host: Some("10.0.0.1".into()),
            port: Some(8022),
            password: Some("pw".into()),
            user: Some("1000@default".into()),
            hosts: None,
            nats: None,
            consumer: None,
        }
        .inbound_settings();
        assert_eq!(s.addr, "10.0.0.1:8022");
        assert_eq!(s.password, crate::Password::new("pw"));
        assert_eq!(s.user.as_deref(), Some("1000@default"));
    }

    #[test]
    fn hosts_give_one_settings_each_with_the_shared_password() {
        let all = StartOptions {
            password: Some("pw".into()),
            hosts: Some(vec![
                host(Some("fs1"), "10.0.0.1:8022"),
                host(None, "fs2.example"),
                host(None, "::1"),
                host(None, "[::1]:9000"),
            ]),
            ..StartOptions::default()
        }
        .inbound_settings_all();
        let got: Vec<(Option<&str>, &str)> = all
            .iter()
            .map(|s| (s.name.as_deref(), s.addr.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("fs1"), "10.0.0.1:8022"),
                (None, "fs2.example:8021"),
                (None, "[::1]:8021"),
                (None, "[::1]:9000"),
            ]
        );
        assert!(all.iter().all(|s| s.password == crate::Password::new("pw")));
        let one = StartOptions::default().inbound_settings_all();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].addr, "127.0.0.1:8021");
    }

    #[test]
    fn outbound_settings_bind_the_outbound_port() {
        assert_eq!(
            StartOptions::default().outbound_settings().bind,
            "127.0.0.1:8084"
        );
        let s = StartOptions {
            host: Some("0.0.0.0".into()),
            port: Some(9999),
            ..StartOptions::default()
        }
        .outbound_settings();
        assert_eq!(s.bind, "0.0.0.0:9999");
    }

    #[test]
    fn filter_values_are_one_string_or_a_list_in_order() {
        let mut f = Vec::new();
        push_filters(&mut f, "A", "1");
        push_filters(&mut f, "B", String::from("2"));
        push_filters(&mut f, "C", vec!["3", "4"]);
        push_filters(&mut f, "D", ["5".to_owned()]);
        let owned = vec![String::from("6")];
        push_filters(&mut f, "E", &owned);
        push_filters(&mut f, "F", &owned[..]);
        push_filters(&mut f, "G", Vec::<String>::new());
        let pairs: Vec<(&str, &str)> = f.iter().map(|(h, v)| (h.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("A", "1"),
                ("B", "2"),
                ("C", "3"),
                ("C", "4"),
                ("D", "5"),
                ("E", "6"),
                ("F", "6")
            ]
        );
    }
}
