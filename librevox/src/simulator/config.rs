//! Settings, dialplan and call scripts.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::order::{self, CallOrder, Order, SyncHangupOrder};

/// An inbound ACL: returns true when a peer address may connect.
pub type AclFn = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// A directory user for `userauth` (§2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EslUser {
    /// `user@domain`.
    pub user: String,
    /// `esl-password` (a user without one cannot log in).
    pub password: Option<String>,
    /// `esl-allowed-events` (`None` = `all`), echoed verbatim in the reply.
    pub allowed_events: Option<String>,
    /// `esl-allowed-api` (`None` = `all`), echoed verbatim.
    pub allowed_api: Option<String>,
    /// `esl-allowed-log`.
    pub allowed_log: bool,
}

impl EslUser {
    /// A user with full rights.
    pub fn new(user: &str, password: &str) -> EslUser {
        EslUser {
            user: user.to_owned(),
            password: Some(password.to_owned()),
            allowed_events: None,
            allowed_api: None,
            allowed_log: true,
        }
    }
}

/// One dialplan action: an application and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Application name (`answer`, `socket`, `playback`, ...).
    pub app: String,
    /// Argument (may be empty).
    pub arg: String,
}

impl Action {
    /// An action.
    pub fn new(app: &str, arg: &str) -> Action {
        Action {
            app: app.to_owned(),
            arg: arg.to_owned(),
        }
    }
}

/// An extension: calls whose destination number equals `destination` run
/// `actions` in order; when the last one returns with the channel still up,
/// the channel is hung up with NORMAL_CLEARING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Destination number matched exactly.
    pub destination: String,
    /// The applications to run.
    pub actions: Vec<Action>,
}

impl Extension {
    /// An extension running these `(app, arg)` actions.
    pub fn new<A: AsRef<str>, B: AsRef<str>>(destination: &str, actions: &[(A, B)]) -> Extension {
        Extension {
            destination: destination.to_owned(),
            actions: actions
                .iter()
                .map(|(a, b)| Action::new(a.as_ref(), b.as_ref()))
                .collect(),
        }
    }

    /// An extension that hands the call to an outbound socket:
    /// `socket <target> [async] [full]`, e.g. `"127.0.0.1:8084 async full"`.
    pub fn socket(destination: &str, socket_arg: &str) -> Extension {
        Extension::new(destination, &[("socket", socket_arg)])
    }

    /// An extension that parks the call.
    pub fn park(destination: &str) -> Extension {
        Extension::new(destination, &[("park", "")])
    }
}

/// The dialplan: extensions tried in order (first exact match wins). A call
/// to an unknown destination is hung up with NO_ROUTE_DESTINATION.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dialplan {
    /// The extensions.
    pub extensions: Vec<Extension>,
}

impl Dialplan {
    /// Adds an extension (builder style).
    pub fn with(mut self, extension: Extension) -> Dialplan {
        self.extensions.push(extension);
        self
    }

    pub(crate) fn find(&self, destination: &str) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|e| e.destination == destination)
    }
}

/// What the simulated caller does during a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerScript {
    /// Digits typed for each digit-collecting application (`read`,
    /// `play_and_get_digits`), in order: the n-th such application run on
    /// the channel receives the n-th string (each character is one DTMF; an
    /// empty string or a missing entry means no input, i.e. a timeout).
    pub inputs: Vec<String>,
    /// Delay before the first digit and between digits of an input.
    pub digit_interval: Duration,
    /// Hang up this long after the channel was created.
    pub hangup_after: Option<Duration>,
    /// Hang up this long after the first start of the named application.
    pub hangup_during: Option<(String, Duration)>,
    /// Hangup cause used by the caller (default NORMAL_CLEARING).
    pub hangup_cause: Option<String>,
    /// Outcome of `bridge` on this channel: `None` succeeds, `Some(cause)`
    /// fails with that cause (e.g. `USER_BUSY`).
    pub bridge_failure: Option<String>,
    /// How long a successful bridge lasts before the far end hangs up.
    pub bridge_duration: Duration,
}

/// A call to place into the simulated switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    /// Destination number (looked up in the dialplan).
    pub destination: String,
    /// Caller ID number.
    pub caller_id_number: String,
    /// Caller ID name (omitted from events when empty).
    pub caller_id_name: String,
    /// Dialplan context.
    pub context: String,
    /// Channel name; default `loopback/<destination>-b`.
    pub channel_name: Option<String>,
    /// Fixed channel UUID (otherwise generated).
    pub uuid: Option<String>,
    /// Extra channel variables, set at creation (after the standard ones).
    pub variables: Vec<(String, String)>,
    /// The caller's behaviour.
    pub script: CallerScript,
}

impl CallSpec {
    /// A call to `destination` from caller ID `0000000000`, context
    /// `default` (the values a `loopback` originate produces).
    pub fn new(destination: &str) -> CallSpec {
        CallSpec {
            destination: destination.to_owned(),
            caller_id_number: "0000000000".to_owned(),
            caller_id_name: String::new(),
            context: "default".to_owned(),
            channel_name: None,
            uuid: None,
            variables: Vec::new(),
            script: CallerScript::default(),
        }
    }

    /// Sets the caller's script.
    pub fn script(mut self, script: CallerScript) -> CallSpec {
        self.script = script;
        self
    }

    /// Sets the caller ID number.
    pub fn caller(mut self, number: &str) -> CallSpec {
        self.caller_id_number = number.to_owned();
        self
    }

    /// Fixes the channel UUID.
    pub fn uuid(mut self, uuid: &str) -> CallSpec {
        self.uuid = Some(uuid.to_owned());
        self
    }

    /// Adds a channel variable.
    pub fn variable(mut self, name: &str, value: &str) -> CallSpec {
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Digits for the next digit-collecting application.
    pub fn input(mut self, digits: &str) -> CallSpec {
        self.script.inputs.push(digits.to_owned());
        self
    }
}

/// Simulator settings. `Default` gives a fast, loopback-only FreeSWITCH with
/// password `ClueCon`, random UUIDs and the real clock.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Address of the inbound TCP listener; `None` for in-memory connections
    /// only. Default `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// The `auth` password (default `ClueCon`).
    pub password: String,
    /// Users for `userauth`.
    pub users: Vec<EslUser>,
    /// Inbound ACL; `None` means FreeSWITCH's default `loopback.auto`
    /// (loopback addresses only). In-memory connections without a peer
    /// address always pass.
    pub acl: Option<AclFn>,
    /// The first-packet timeout (FreeSWITCH: 25 s).
    pub first_packet_timeout: Duration,
    /// `Core-UUID` (random when `None`).
    pub core_uuid: Option<String>,
    /// `FreeSWITCH-Hostname` and `-Switchname`.
    pub hostname: String,
    /// `FreeSWITCH-IPv4`.
    pub ipv4: String,
    /// `FreeSWITCH-IPv6`.
    pub ipv6: String,
    /// Version string of `api version`.
    pub version: String,
    /// Clock base in microseconds since the epoch (real time when `None`);
    /// simulated time then advances with tokio time.
    pub epoch_us: Option<u64>,
    /// Seed for deterministic UUIDs (random v4 when `None`).
    pub seed: Option<u64>,
    /// The first `Event-Sequence` number.
    pub first_sequence: u64,
    /// Duration of `playback` for files without an intrinsic length
    /// (`tone_stream://%(on,off,...)` and `silence_stream://ms` carry theirs).
    pub playback_duration: Duration,
    /// Per-file playback durations (exact file argument); `Duration::MAX`
    /// plays until interrupted.
    pub file_durations: HashMap<String, Duration>,
    /// How long after `connect` an async outbound channel parks (FreeSWITCH:
    /// about 20 ms).
    pub park_delay: Duration,
    /// CUSTOM subclasses "registered by modules": `event ALL` subscribes them
    /// explicitly (see `nixevent` in §3.2).
    pub registered_subclasses: Vec<String>,
    /// The dialplan.
    pub dialplan: Dialplan,
    /// Global variables (`global_getvar`).
    pub globals: Vec<(String, String)>,
    /// On a sync outbound socket, whether the linger disconnect-notice comes
    /// after or before the hangup's events (the real switch does either);
    /// used by every call under [`Order::Fixed`].
    pub sync_hangup_order: SyncHangupOrder,
    /// How many events an outbound socket's linger notice overtakes beyond
    /// the hangup's own ([`CallOrder::dispatch_lag`]); used by every call
    /// under [`Order::Fixed`]. 0 (the default): none.
    pub dispatch_lag: u32,
    /// One order for every call (default), or each call's drawn from a seed
    /// ([`Order::Seeded`]) among the orders the real switch produces.
    pub order: Order,
}

impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("listen", &self.listen)
            .field("users", &self.users.len())
            .field("acl", &self.acl.is_some())
            .field("hostname", &self.hostname)
            .field("seed", &self.seed)
            .field("dialplan", &self.dialplan)
            .finish_non_exhaustive()
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            password: "ClueCon".to_owned(),
            users: Vec::new(),
            acl: None,
            first_packet_timeout: Duration::from_secs(25),
            core_uuid: None,
            hostname: "simulator".to_owned(),
            ipv4: "127.0.0.1".to_owned(),
            ipv6: "::1".to_owned(),
            version: "1.11.3-dev~64bit".to_owned(),
            epoch_us: None,
            seed: None,
            first_sequence: 1,
            playback_duration: Duration::from_millis(20),
            file_durations: HashMap::new(),
            park_delay: Duration::from_millis(20),
            registered_subclasses: Vec::new(),
            dialplan: Dialplan::default(),
            globals: Vec::new(),
            sync_hangup_order: SyncHangupOrder::default(),
            dispatch_lag: 0,
            order: Order::default(),
        }
    }
}

impl SimulatorConfig {
    /// Deterministic settings for tests: fixed Core-UUID, hostname, clock
    /// and UUID seed.
    pub fn deterministic(seed: u64) -> SimulatorConfig {
        SimulatorConfig {
            core_uuid: Some("6542e642-7436-456b-983b-ff751e0810dc".to_owned()),
            hostname: "vm".to_owned(),
            ipv4: "192.0.2.2".to_owned(),
            ipv6: "fd00::2".to_owned(),
            epoch_us: Some(1_795_662_491_571_947),
            seed: Some(seed),
            ..SimulatorConfig::default()
        }
    }

    /// Builder: sets the dialplan.
    pub fn dialplan(mut self, dialplan: Dialplan) -> SimulatorConfig {
        self.dialplan = dialplan;
        self
    }

    /// Builder: adds an extension.
    pub fn extension(mut self, extension: Extension) -> SimulatorConfig {
        self.dialplan.extensions.push(extension);
        self
    }

    /// Builder: no TCP listener (in-memory connections only).
    pub fn in_memory(mut self) -> SimulatorConfig {
        self.listen = None;
        self
    }

    /// The order the call with UUID `uuid` gets under
    /// [`SimulatorConfig::order`].
    ///
    /// ```
    /// use librevox::simulator::{Order, SimulatorConfig, SyncHangupOrder};
    ///
    /// let mut config = SimulatorConfig::default();
    /// let uuid = "94d9b7e2-d60f-4ec3-8648-0acb4dc403be";
    /// assert_eq!(config.call_order(uuid).sync_hangup, SyncHangupOrder::EventsFirst);
    /// // Some seed puts the linger notice first for this call.
    /// assert!((0..20).any(|seed| {
    ///     config.order = Order::Seeded(seed);
    ///     config.call_order(uuid).sync_hangup == SyncHangupOrder::NoticeFirst
    /// }));
    /// ```
    pub fn call_order(&self, uuid: &str) -> CallOrder {
        order::draw(
            self.order,
            uuid,
            order::Configured {
                sync_hangup: self.sync_hangup_order,
                park_delay: self.park_delay,
                dispatch_lag: self.dispatch_lag,
            },
        )
    }
}
