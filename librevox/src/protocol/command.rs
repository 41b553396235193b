//! Client commands: typed builders and their exact wire form.
//!
//! A command is written as FreeSWITCH's `read_packet` expects it (§1.2 of the
//! protocol notes): the command line, optional `Name: value` header lines,
//! an empty line, and, when a `content-length` header is present, exactly that
//! many body bytes. Lines end in a single LF, as libesl writes them.
//!
//! No value containing CR or LF ever reaches the wire inside a line: where the
//! protocol has a body to carry it (a `sendmsg` application argument), the
//! builder moves it there; everywhere else [`Command::encode`] fails with
//! [`Error::InvalidCommand`].

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::event::{Event, EventFormat};
use super::names::EventName;
use crate::error::{Error, Result};

/// Application arguments longer than this many bytes are sent in a
/// `text/plain` body instead of an `execute-app-arg` header line.
pub const MAX_INLINE_ARG: usize = 4096;

/// A command ready to be written to FreeSWITCH.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    line: String,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
    /// Byte offset in `line` after which the text is secret (a password).
    secret_from: Option<usize>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("line", &self.describe())
            .field("headers", &self.headers)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish()
    }
}

impl Command {
    fn line(line: impl Into<String>) -> Command {
        Command {
            line: line.into(),
            headers: Vec::new(),
            body: None,
            secret_from: None,
        }
    }

    /// Appends a header line. The value must not contain CR or LF (checked
    /// when the command is encoded).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Command {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Attaches a body, adding `content-type` and `content-length` headers.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Command {
        let body = body.into();
        self.headers
            .push(("content-type".to_owned(), content_type.to_owned()));
        self.headers
            .push(("content-length".to_owned(), body.len().to_string()));
        self.body = Some(body);
        self
    }

    /// A command given as its command line (`status` for `api status` is
    /// [`Command::api`]; this is for commands librevox has no builder for).
    pub fn raw(line: impl Into<String>) -> Command {
        Command::line(line)
    }

    /// `auth <password>` (inbound authentication).
    pub fn auth(password: &str) -> Command {
        Command {
            secret_from: Some(5),
            ..Command::line(format!("auth {password}"))
        }
    }

    /// `userauth <user@domain>:<password>`.
    pub fn userauth(user: &str, password: &str) -> Command {
        let line = format!("userauth {user}:{password}");
        Command {
            secret_from: Some(line.len() - password.len()),
            ..Command::line(line)
        }
    }

    /// `api <command>`: run an API command; the reply is an `api/response`.
    pub fn api(command: &str) -> Command {
        Command::line(format!("api {command}"))
    }

    /// `bgapi <command>` with a client-chosen `Job-UUID` header.
    pub fn bgapi(command: &str, job_uuid: &str) -> Command {
        Command::line(format!("bgapi {command}")).with_header("Job-UUID", job_uuid)
    }

    /// `event <format> <names...>`. Names are event names (`CHANNEL_ANSWER`,
    /// `ALL`) or `CUSTOM <subclass> ...`; FreeSWITCH takes every token after
    /// `CUSTOM` as a subclass, so this builder moves CUSTOM entries last.
    pub fn event<S: AsRef<str>>(format: EventFormat, names: &[S]) -> Command {
        Command::line(with_names(format!("event {format}"), names))
    }

    /// `nixevent <names...>`: unsubscribe.
    pub fn nixevent<S: AsRef<str>>(names: &[S]) -> Command {
        Command::line(with_names("nixevent".to_owned(), names))
    }

    /// `noevents`: drop every subscription.
    pub fn noevents() -> Command {
        Command::line("noevents")
    }

    /// `myevents` on a session socket (outbound): the events of the own channel.
    pub fn myevents() -> Command {
        Command::line("myevents")
    }

    /// `myevents <format>` on a session socket (`myevents json`).
    pub fn myevents_format(format: EventFormat) -> Command {
        Command::line(format!("myevents {format}"))
    }

    /// `myevents <uuid>` on an inbound socket: bind it to one channel.
    /// (FreeSWITCH ignores a format word here; choose the format with
    /// [`Command::event`].)
    pub fn myevents_uuid(uuid: &str) -> Command {
        Command::line(format!("myevents {uuid}"))
    }

    /// `filter <header> <value>`: deliver only matching events. A value
    /// starting with `-` excludes, `/regex/` matches a regular expression.
    pub fn filter(header: &str, value: &str) -> Command {
        Command::line(format!("filter {header} {value}"))
    }

    /// `filter delete <header> [<value>]`.
    pub fn filter_delete(header: &str, value: Option<&str>) -> Command {
        match value {
            Some(v) => Command::line(format!("filter delete {header} {v}")),
            None => Command::line(format!("filter delete {header}")),
        }
    }

    /// `filter delete all`.
    pub fn filter_delete_all() -> Command {
        Command::line("filter delete all")
    }

    /// `divert_events on|off` (session sockets).
    pub fn divert_events(on: bool) -> Command {
        Command::line(if on {
            "divert_events on"
        } else {
            "divert_events off"
        })
    }

    /// `sendevent <NAME>` with the event's other headers (values raw, as
    /// FreeSWITCH expects them) and its body. The name comes from the event's
    /// `Event-Name` (CUSTOM when absent).
    pub fn sendevent(event: &Event) -> Command {
        let name = event.name().unwrap_or("CUSTOM");
        let mut cmd = Command::line(format!("sendevent {name}"));
        let mut skipped_name = false;
        for (n, v) in event.headers() {
            if n == "Event-Name" && !skipped_name {
                skipped_name = true;
                continue;
            }
            cmd.headers.push((n.to_owned(), v.to_owned()));
        }
        if let Some(body) = event.body() {
            cmd.headers
                .push(("content-length".to_owned(), body.len().to_string()));
            cmd.body = Some(body.clone());
        }
        cmd
    }

    /// `sendevent <NAME>` built from a typed [`SendEvent`].
    pub fn send_event(event: &SendEvent) -> Command {
        event.to_command()
    }

    /// `sendmsg [<uuid>]` with the message's headers.
    pub fn sendmsg(msg: &SendMsg) -> Command {
        msg.to_command()
    }

    /// `linger` ([`Linger::Forever`]), `linger <seconds>`
    /// ([`Linger::Seconds`]) or `nolinger` ([`Linger::Off`]).
    pub fn linger(linger: Linger) -> Command {
        match linger {
            Linger::Forever => Command::line("linger"),
            Linger::Seconds(s) => Command::line(format!("linger {s}")),
            Linger::Off => Command::nolinger(),
        }
    }

    /// `nolinger`.
    pub fn nolinger() -> Command {
        Command::line("nolinger")
    }

    /// `log <level>`: receive log lines up to this level as `log/data`.
    pub fn log(level: LogLevel) -> Command {
        Command::line(format!("log {level}"))
    }

    /// `nolog`.
    pub fn nolog() -> Command {
        Command::line("nolog")
    }

    /// `resume`: let an async outbound channel continue its dialplan when the
    /// socket closes.
    pub fn resume() -> Command {
        Command::line("resume")
    }

    /// `getvar <name>` (session sockets).
    pub fn getvar(name: &str) -> Command {
        Command::line(format!("getvar {name}"))
    }

    /// `connect`: the first command of an outbound session.
    pub fn connect() -> Command {
        Command::line("connect")
    }

    /// `exit`: FreeSWITCH replies `+OK bye`, sends a disconnect-notice and
    /// closes.
    pub fn exit() -> Command {
        Command::line("exit")
    }

    /// True when FreeSWITCH answers this command with `api/response` rather
    /// than `command/reply`.
    pub fn expects_api_response(&self) -> bool {
        self.line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("api "))
    }

    /// The command line with any password replaced by `********`: what logs
    /// and error messages show.
    pub fn describe(&self) -> String {
        match self.secret_from {
            Some(at) => format!("{}********", &self.line[..at.min(self.line.len())]),
            None => self.line.clone(),
        }
    }

    /// The command line as sent (contains the password for `auth`).
    pub fn command_line(&self) -> &str {
        &self.line
    }

    /// The header lines, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    fn validate(&self) -> Result<()> {
        if self.line.trim().is_empty() {
            return Err(Error::InvalidCommand("empty command line".into()));
        }
        if has_crlf(&self.line) {
            return Err(Error::InvalidCommand(format!(
                "the command line `{}` contains CR or LF; FreeSWITCH would read the rest as headers",
                self.describe().escape_debug()
            )));
        }
        for (n, v) in &self.headers {
            if n.is_empty() || has_crlf(n) || n.contains(':') {
                return Err(Error::InvalidCommand(format!(
                    "invalid header name `{}` in `{}`",
                    n.escape_debug(),
                    self.describe()
                )));
            }
            if has_crlf(v) {
                return Err(Error::InvalidCommand(format!(
                    "the value of header `{n}` in `{}` contains CR or LF, which cannot be sent in a header line",
                    self.describe()
                )));
            }
        }
        Ok(())
    }

    /// The exact bytes of this command.
    pub fn encode(&self) -> Result<Bytes> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut buf)?;
        Ok(buf.freeze())
    }

    fn encoded_len(&self) -> usize {
        self.line.len()
            + 2
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 3)
                .sum::<usize>()
            + self.body.as_ref().map_or(0, Bytes::len)
    }

    /// Appends the exact bytes of this command to `dst`.
    pub fn encode_into(&self, dst: &mut BytesMut) -> Result<()> {
        self.validate()?;
        dst.reserve(self.encoded_len());
        dst.put_slice(self.line.as_bytes());
        dst.put_u8(b'\n');
        for (n, v) in &self.headers {
            dst.put_slice(n.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(v.as_bytes());
            dst.put_u8(b'\n');
        }
        dst.put_u8(b'\n');
        if let Some(body) = &self.body {
            dst.put_slice(body);
        }
        Ok(())
    }
}

fn has_crlf(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

fn with_names<S: AsRef<str>>(mut line: String, names: &[S]) -> String {
    let names = join_event_names(names);
    if !names.is_empty() {
        line.push(' ');
        line.push_str(&names);
    }
    line
}

fn join_event_names<S: AsRef<str>>(names: &[S]) -> String {
    let mut plain = Vec::new();
    let mut custom = Vec::new();
    for n in names {
        let n = n.as_ref().trim();
        let mut words = n.split_whitespace();
        match words.next() {
            Some(first) if first.eq_ignore_ascii_case("CUSTOM") => custom.extend(words),
            Some(_) => plain.push(n),
            None => {}
        }
    }
    let mut out = plain.join(" ");
    if !custom.is_empty() || names.iter().any(|n| n.as_ref().trim() == "CUSTOM") {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("CUSTOM");
        for c in custom {
            out.push(' ');
            out.push_str(c);
        }
    }
    out
}

/// Whether a session socket stays open after its channel hung up, so that
/// the last events of the call still arrive (`linger`, §5.5 of the protocol
/// notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Linger {
    /// Stay open until the client closes (`linger`): every event of the
    /// call is seen. The default of outbound listeners.
    #[default]
    Forever,
    /// Stay open this many seconds after the hangup (`linger <n>`).
    Seconds(u32),
    /// Close at the hangup (`nolinger`, FreeSWITCH's own default); the last
    /// events may be lost.
    Off,
}

/// A log level for the `log` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0
    Console,
    /// 1
    Alert,
    /// 2
    Crit,
    /// 3 (`ERR`; FreeSWITCH does not accept `ERROR`)
    Err,
    /// 4
    Warning,
    /// 5
    Notice,
    /// 6
    Info,
    /// 7
    Debug,
}

impl LogLevel {
    /// The level's name as `log` accepts it (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Console => "console",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Err => "err",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// The numeric level (0 CONSOLE … 7 DEBUG).
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `sendmsg` message: run an application on a channel, hang it up, ...
///
/// Headers are written in the order FreeSWITCH's own tools use:
/// `call-command`, `execute-app-name`, `execute-app-arg`, `event-lock`,
/// `Event-UUID`, `Event-UUID-Name`, `loops`, `async`, then any other headers,
/// then the body headers.
///
/// ```
/// use librevox::protocol::SendMsg;
/// let msg = SendMsg::execute("playback", "ivr/ivr-welcome.wav")
///     .event_lock(true)
///     .event_uuid("0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d");
/// assert_eq!(
///     &msg.encode().unwrap()[..],
///     b"sendmsg\ncall-command: execute\nexecute-app-name: playback\n\
///       execute-app-arg: ivr/ivr-welcome.wav\nevent-lock: true\n\
///       Event-UUID: 0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d\n\n"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMsg {
    uuid: Option<String>,
    call_command: String,
    app_name: Option<String>,
    app_arg: Option<String>,
    event_lock: Option<bool>,
    event_uuid: Option<String>,
    event_uuid_name: Option<String>,
    loops: Option<i64>,
    async_mode: bool,
    extra: Vec<(String, String)>,
}

impl SendMsg {
    fn call(command: &str) -> SendMsg {
        SendMsg {
            uuid: None,
            call_command: command.to_owned(),
            app_name: None,
            app_arg: None,
            event_lock: None,
            event_uuid: None,
            event_uuid_name: None,
            loops: None,
            async_mode: false,
            extra: Vec::new(),
        }
    }

    /// `call-command: execute` of `app` with `arg` (an empty `arg` sends no
    /// `execute-app-arg`). An argument containing CR or LF, or longer than
    /// [`MAX_INLINE_ARG`], is sent as a `text/plain` body.
    pub fn execute(app: &str, arg: &str) -> SendMsg {
        let mut m = SendMsg::call("execute");
        m.app_name = Some(app.to_owned());
        if !arg.is_empty() {
            m.app_arg = Some(arg.to_owned());
        }
        m
    }

    /// `call-command: hangup`, with `hangup-cause` when given (FreeSWITCH's
    /// default is NORMAL_CLEARING).
    pub fn hangup(cause: Option<&str>) -> SendMsg {
        let mut m = SendMsg::call("hangup");
        if let Some(c) = cause {
            m.extra.push(("hangup-cause".into(), c.to_owned()));
        }
        m
    }

    /// `call-command: nomedia` for the channel `nomedia_uuid`.
    pub fn nomedia(nomedia_uuid: &str) -> SendMsg {
        let mut m = SendMsg::call("nomedia");
        m.extra
            .push(("nomedia-uuid".into(), nomedia_uuid.to_owned()));
        m
    }

    /// `call-command: unicast`; add `local-ip`, `local-port`, `remote-ip`,
    /// `remote-port`, `transport`, `flags` with [`SendMsg::header`] (FreeSWITCH
    /// defaults: 127.0.0.1:8025 → 127.0.0.1:8026 over udp).
    pub fn unicast() -> SendMsg {
        SendMsg::call("unicast")
    }

    /// `call-command: xferext`: transfer the channel to an extension made of
    /// these `(application, argument)` pairs.
    pub fn xferext<A: AsRef<str>, B: AsRef<str>>(apps: &[(A, B)]) -> SendMsg {
        let mut m = SendMsg::call("xferext");
        for (app, arg) in apps {
            let value = if arg.as_ref().is_empty() {
                app.as_ref().to_owned()
            } else {
                format!("{} {}", app.as_ref(), arg.as_ref())
            };
            m.extra.push(("application".into(), value));
        }
        m
    }

    /// Target channel (`sendmsg <uuid>`); without it an outbound socket's own
    /// channel is the target.
    pub fn uuid(mut self, uuid: impl Into<String>) -> SendMsg {
        self.uuid = Some(uuid.into());
        self
    }

    /// `event-lock: true`: FreeSWITCH starts the next queued message only
    /// after this one finished. `false` sends no `event-lock` header (which
    /// FreeSWITCH reads as false) and keeps a handle's default from adding
    /// one.
    ///
    /// A message whose event-lock was never set leaves the choice to the
    /// handle that sends it: a [`Session`](crate::Session) applies its
    /// listener's `event_lock` (on by default), the other handles
    /// ([`Connection`](crate::Connection),
    /// [`CommandSocket`](crate::CommandSocket)) turn it on; the message on
    /// its own (`encode`) sends none.
    pub fn event_lock(mut self, on: bool) -> SendMsg {
        self.event_lock = Some(on);
        self
    }

    /// The event-lock this message asks for: `None` when it leaves the
    /// choice to the handle that sends it.
    pub fn event_lock_value(&self) -> Option<bool> {
        self.event_lock
    }

    /// This message with `event-lock` set to `default` if it was unset (a
    /// choice the message made itself stays). Only applications
    /// (`call-command: execute`) are changed: event-lock orders
    /// applications, and other call-commands are sent as built.
    pub fn or_event_lock(mut self, default: bool) -> SendMsg {
        if self.event_lock.is_none() && self.call_command == "execute" {
            self.event_lock = Some(default);
        }
        self
    }

    /// `Event-UUID`: comes back as `Application-UUID` on CHANNEL_EXECUTE and
    /// CHANNEL_EXECUTE_COMPLETE.
    pub fn event_uuid(mut self, uuid: impl Into<String>) -> SendMsg {
        self.event_uuid = Some(uuid.into());
        self
    }

    /// `Event-UUID-Name`: comes back as `Application-UUID-Name`.
    pub fn event_uuid_name(mut self, name: impl Into<String>) -> SendMsg {
        self.event_uuid_name = Some(name.into());
        self
    }

    /// `loops: n` (negative: forever).
    pub fn loops(mut self, n: i64) -> SendMsg {
        self.loops = Some(n);
        self
    }

    /// `async: true`: queue the message even on a sync outbound socket.
    pub fn async_mode(mut self, on: bool) -> SendMsg {
        self.async_mode = on;
        self
    }

    /// Any other header (`hold-bleg`, `lead-frames`, unicast parameters, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> SendMsg {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The target channel, if set.
    pub fn target(&self) -> Option<&str> {
        self.uuid.as_deref()
    }

    /// The `Event-UUID`, if set.
    pub fn event_uuid_value(&self) -> Option<&str> {
        self.event_uuid.as_deref()
    }

    /// The application name of an `execute` message.
    pub fn app_name(&self) -> Option<&str> {
        self.app_name.as_deref()
    }

    /// True for an application that ends the call itself (`hangup`, and
    /// `redirect`/`deflect`, which end a SIP call by sending it elsewhere):
    /// the channel's hangup is how it succeeds.
    pub fn ends_call(&self) -> bool {
        self.call_command == "execute"
            && self.app_name.as_deref().is_some_and(|app| {
                ["hangup", "redirect", "deflect"]
                    .iter()
                    .any(|a| app.eq_ignore_ascii_case(a))
            })
    }

    /// The application argument of an `execute` message.
    pub fn app_arg(&self) -> Option<&str> {
        self.app_arg.as_deref()
    }

    /// The command this message is sent as.
    pub fn to_command(&self) -> Command {
        let mut cmd = Command::line(match &self.uuid {
            Some(u) => format!("sendmsg {u}"),
            None => "sendmsg".to_owned(),
        });
        let mut push = |n: &str, v: &str| cmd.headers.push((n.to_owned(), v.to_owned()));
        push("call-command", &self.call_command);
        if let Some(app) = &self.app_name {
            push("execute-app-name", app);
        }
        let body_arg = match &self.app_arg {
            Some(arg) if has_crlf(arg) || arg.len() > MAX_INLINE_ARG => Some(arg.clone()),
            Some(arg) => {
                push("execute-app-arg", arg);
                None
            }
            None => None,
        };
        if self.event_lock == Some(true) {
            push("event-lock", "true");
        }
        if let Some(u) = &self.event_uuid {
            push("Event-UUID", u);
        }
        if let Some(n) = &self.event_uuid_name {
            push("Event-UUID-Name", n);
        }
        if let Some(l) = self.loops {
            push("loops", &l.to_string());
        }
        if self.async_mode {
            push("async", "true");
        }
        for (n, v) in &self.extra {
            push(n, v);
        }
        match body_arg {
            Some(arg) => cmd.with_body("text/plain", arg),
            None => cmd,
        }
    }

    /// The exact bytes of this message.
    pub fn encode(&self) -> Result<Bytes> {
        self.to_command().encode()
    }
}

/// A `sendevent`: fire an event of a type (or a CUSTOM subclass) with your
/// headers and an optional body. Headers are written as given (FreeSWITCH
/// does not decode `sendevent` values), in order and duplicates kept; a body
/// goes after `content-type: text/plain` and its `content-length`.
///
/// FreeSWITCH answers `+OK <Event-UUID>`; every handle's `sendevent`
/// ([`Commands::sendevent`](crate::commands::Commands::sendevent)) returns
/// that UUID.
///
/// ```
/// use librevox::protocol::SendEvent;
/// let e = SendEvent::custom("myapp::alert")
///     .header("X-Level", "high")
///     .body("disk full\n");
/// assert_eq!(
///     &e.to_command().encode().unwrap()[..],
///     b"sendevent CUSTOM\nEvent-Subclass: myapp::alert\nX-Level: high\n\
///       content-type: text/plain\ncontent-length: 10\n\ndisk full\n"
/// );
/// assert_eq!(SendEvent::parse(&e.to_command()), Some(e));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendEvent {
    name: EventName,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl SendEvent {
    /// An event of type `name` (`HEARTBEAT`, an [`EventName`]); a
    /// [`EventName::Custom`] with a subclass writes its `Event-Subclass`
    /// header first.
    pub fn new(name: impl Into<EventName>) -> SendEvent {
        SendEvent {
            name: name.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A CUSTOM event of `subclass` (`myapp::alert`).
    pub fn custom(subclass: &str) -> SendEvent {
        SendEvent::new(EventName::Custom(subclass.to_owned()))
    }

    /// Adds a header (checked for CR/LF when the command is encoded).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> SendEvent {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (an empty body is none).
    pub fn body(mut self, body: impl Into<Bytes>) -> SendEvent {
        let body = body.into();
        self.body = (!body.is_empty()).then_some(body);
        self
    }

    /// The event's type.
    pub fn name(&self) -> &EventName {
        &self.name
    }

    /// The headers given, in order (without the subclass).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if any.
    pub fn body_bytes(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The `sendevent` command.
    pub fn to_command(&self) -> Command {
        let mut cmd = Command::line(format!("sendevent {}", self.name.as_str()));
        if let Some(sub) = self.name.subclass() {
            cmd.headers.push(("Event-Subclass".into(), sub.to_owned()));
        }
        cmd.headers.extend(self.headers.iter().cloned());
        match &self.body {
            Some(body) => cmd.with_body("text/plain", body.clone()),
            None => cmd,
        }
    }

    /// Reads a `sendevent` command back (what [`to_command`](Self::to_command)
    /// wrote): `None` when it is not one.
    pub fn parse(cmd: &Command) -> Option<SendEvent> {
        let name = cmd.command_line().strip_prefix("sendevent ")?;
        let mut headers = cmd.headers().to_vec();
        let mut name = EventName::parse(name);
        if matches!(name, EventName::Custom(_)) {
            if let Some(pos) = headers.iter().position(|(n, _)| n == "Event-Subclass") {
                name = EventName::Custom(headers.remove(pos).1);
            }
        }
        if cmd.body().is_some() {
            // The two body headers `to_command` appended.
            headers.truncate(headers.len().saturating_sub(2));
        }
        Some(SendEvent {
            name,
            headers,
            body: cmd.body().cloned(),
        })
    }
}
