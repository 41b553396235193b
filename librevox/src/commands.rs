//! API commands, typed: what `api <command>` runs, built and parsed for you.
//!
//! [`Commands`] is implemented for everything that can run `api`: a
//! [`Connection`](crate::Connection), a
//! [`CommandSocket`](crate::CommandSocket), an inbound listener's
//! [`Inbound`](crate::Inbound) context and an outbound
//! [`Session`](crate::Session). Bring it into scope with
//! `use librevox::prelude::*;` (or `use librevox::commands::Commands;`).
//!
//! ```no_run
//! # async fn f(socket: librevox::CommandSocket) -> librevox::Result<()> {
//! use librevox::commands::{Commands, Originate};
//! let uuid = socket
//!     .originate(&Originate::new("sofia/gateway/trunk/5551234").extension("1000"))
//!     .await?;
//! socket.uuid_setvar(&uuid, "foo", Some("bar")).await?;
//! println!("{:?}", socket.uuid_getvar(&uuid, "foo").await?);
//! # Ok(()) }
//! ```
//!
//! Every command fails with [`Error::CommandFailed`] carrying FreeSWITCH's
//! text when the reply body starts with `-ERR` or `-USAGE`. Every command
//! string is also available as a `String` (the `*_command` functions and
//! [`Originate`]'s `Display`), to run it in the background with `bgapi`.

use std::fmt;
use std::future::Future;

use bytes::Bytes;

use crate::connection::BackgroundJob;
use crate::error::{Error, Result};
use crate::protocol::{ApiResponse, Dial, Event, JsonEvent, SendEvent};

pub use crate::target::ApiTarget;

fn join(name: &str, args: &[&str]) -> String {
    let mut s = name.to_owned();
    for a in args.iter().filter(|a| !a.is_empty()) {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn body(r: ApiResponse) -> String {
    r.text().into_owned()
}

/// `+OK <uuid>` → `<uuid>`.
fn ok_value(command: &str, r: ApiResponse) -> Result<String> {
    let text = r.text();
    let t = text.trim();
    match t.strip_prefix("+OK") {
        Some(rest) => Ok(rest.trim().to_owned()),
        None => Err(Error::CommandFailed {
            command: command.to_owned(),
            reply: t.to_owned(),
        }),
    }
}

/// A leg of a call, for commands that act on one or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Leg {
    /// The named channel (FreeSWITCH's `aleg`).
    #[default]
    A,
    /// The channel bridged to it (`bleg`).
    B,
    /// Both (`both`).
    Both,
}

impl Leg {
    fn broadcast_word(self) -> &'static str {
        match self {
            Leg::A => "aleg",
            Leg::B => "bleg",
            Leg::Both => "both",
        }
    }
}

/// `uuid_hold` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Put on hold.
    On,
    /// Take off hold.
    Off,
    /// Toggle.
    Toggle,
}

/// `uuid_record` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Start recording to the path.
    Start,
    /// Stop recording to the path (`all` stops every recording).
    Stop,
    /// Mask (silence) the recording.
    Mask,
    /// Unmask it.
    Unmask,
}

impl Record {
    fn word(self) -> &'static str {
        match self {
            Record::Start => "start",
            Record::Stop => "stop",
            Record::Mask => "mask",
            Record::Unmask => "unmask",
        }
    }
}

/// Where an originated call goes once the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An extension in a dialplan: `<extension> [<dialplan> [<context>]]`.
    Extension {
        /// The extension (destination number).
        extension: String,
        /// The dialplan (`XML` when only a context is given).
        dialplan: Option<String>,
        /// The context.
        context: Option<String>,
    },
    /// An application run on the answered channel: `&app(args)`.
    App {
        /// The application.
        app: String,
        /// Its arguments.
        args: String,
    },
}

/// A typed `originate` command. Where it calls is a [`Dial`], the same
/// type `bridge` takes.
///
/// ```
/// use librevox::commands::Originate;
/// use librevox::protocol::{Dial, Endpoint};
/// let o = Originate::new(Endpoint::gateway("trunk", "5551234"))
///     .var("origination_caller_id_name", "Front Desk")
///     .var("hangup_after_bridge", "true")
///     .extension("1000")
///     .context("default");
/// assert_eq!(
///     o.to_string(),
///     "originate {origination_caller_id_name=Front\\sDesk,hangup_after_bridge=true}sofia/gateway/trunk/5551234 1000 XML default"
/// );
/// let p = Originate::new(Dial::to(Endpoint::user("1001", "example.com")).or(Endpoint::gateway("trunk", "1001")))
///     .app("playback", "/tmp/welcome.wav");
/// assert_eq!(
///     p.to_string(),
///     "originate user/1001@example.com|sofia/gateway/trunk/1001 &playback(/tmp/welcome.wav)"
/// );
/// assert_eq!(Originate::parse(&p.to_string()).unwrap(), p);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    dial: Dial,
    destination: Destination,
    caller_id_name: Option<String>,
    caller_id_number: Option<String>,
    timeout: Option<u32>,
}

impl Originate {
    /// Originate to `dial` (a [`Dial`], an [`Endpoint`](crate::protocol::Endpoint),
    /// or a dial string as text such as `sofia/gateway/trunk/5551234`, sent
    /// as written); by default the answered call is parked (`&park()`).
    pub fn new(dial: impl Into<Dial>) -> Originate {
        Originate {
            dial: dial.into(),
            destination: Destination::App {
                app: "park".into(),
                args: String::new(),
            },
            caller_id_name: None,
            caller_id_number: None,
            timeout: None,
        }
    }

    /// Sets a channel variable for the new channels (`{name=value}` of the
    /// dial string; see [`Dial`] for how values are written).
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Originate {
        self.dial = self.dial.var(name, value);
        self
    }

    /// Where the call is placed.
    pub fn dial(&self) -> &Dial {
        &self.dial
    }

    /// Sends the answered call to an extension (dialplan XML, the
    /// endpoint's default context unless set).
    pub fn extension(mut self, extension: impl Into<String>) -> Originate {
        let (dialplan, context) = match self.destination {
            Destination::Extension {
                dialplan, context, ..
            } => (dialplan, context),
            Destination::App { .. } => (None, None),
        };
        self.destination = Destination::Extension {
            extension: extension.into(),
            dialplan,
            context,
        };
        self
    }

    /// The dialplan for [`extension`](Self::extension) (`XML`, `inline`, ...).
    pub fn dialplan(mut self, dialplan: impl Into<String>) -> Originate {
        if let Destination::Extension { dialplan: d, .. } = &mut self.destination {
            *d = Some(dialplan.into());
        }
        self
    }

    /// The context for [`extension`](Self::extension); the dialplan defaults
    /// to `XML` so the context lands in its own position.
    pub fn context(mut self, context: impl Into<String>) -> Originate {
        if let Destination::Extension { context: c, .. } = &mut self.destination {
            *c = Some(context.into());
        }
        self
    }

    /// Runs an application on the answered call: `&app(args)`.
    pub fn app(mut self, app: impl Into<String>, args: impl Into<String>) -> Originate {
        self.destination = Destination::App {
            app: app.into(),
            args: args.into(),
        };
        self
    }

    /// Caller ID name and number shown to the endpoint.
    pub fn caller_id(mut self, name: impl Into<String>, number: impl Into<String>) -> Originate {
        self.caller_id_name = Some(name.into());
        self.caller_id_number = Some(number.into());
        self
    }

    /// Seconds to wait for an answer.
    pub fn timeout(mut self, seconds: u32) -> Originate {
        self.timeout = Some(seconds);
        self
    }

    /// Where the call goes.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The caller ID name of [`caller_id`](Self::caller_id), if set.
    pub fn caller_id_name(&self) -> Option<&str> {
        self.caller_id_name.as_deref()
    }

    /// The caller ID number of [`caller_id`](Self::caller_id), if set.
    pub fn caller_id_number(&self) -> Option<&str> {
        self.caller_id_number.as_deref()
    }

    /// The seconds of [`timeout`](Self::timeout), if set.
    pub fn timeout_secs(&self) -> Option<u32> {
        self.timeout
    }
}

/// The leading digits of `word` as a number, as C's `atoi` reads a
/// non-negative one; `None` without any (or past `u32`).
fn leading_number(word: &str) -> Option<u32> {
    let word = word.strip_prefix('+').unwrap_or(word);
    let end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    word[..end].parse().ok()
}

/// Quotes an argument for FreeSWITCH's space-separated `originate` line.
fn quote_arg(value: &str) -> String {
    if value.is_empty() || value.contains([' ', '\'']) {
        format!("'{}'", value.replace('\'', "\\'"))
    } else {
        value.to_owned()
    }
}

impl fmt::Display for Originate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "originate {}", quote_arg(&self.dial.to_string()))?;
        let tail = self.caller_id_name.is_some() || self.timeout.is_some();
        match &self.destination {
            Destination::Extension {
                extension,
                dialplan,
                context,
            } => {
                write!(f, " {}", quote_arg(extension))?;
                let need_dialplan = dialplan.is_some() || context.is_some() || tail;
                if need_dialplan {
                    write!(f, " {}", dialplan.as_deref().unwrap_or("XML"))?;
                }
                if context.is_some() || tail {
                    write!(f, " {}", context.as_deref().unwrap_or("default"))?;
                }
            }
            Destination::App { app, args } => {
                let target = format!("&{app}({args})");
                write!(f, " {}", quote_arg(&target))?;
                if tail {
                    // Dialplan and context are ignored for an app target but
                    // hold their positions.
                    f.write_str(" XML default")?;
                }
            }
        }
        if tail {
            write!(
                f,
                " {} {}",
                quote_arg(self.caller_id_name.as_deref().unwrap_or("undef")),
                quote_arg(self.caller_id_number.as_deref().unwrap_or("undef"))
            )?;
            if let Some(t) = self.timeout {
                write!(f, " {t}")?;
            }
        }
        Ok(())
    }
}

impl Originate {
    /// Reads an `originate` command back (what `Display` writes; `undef`
    /// caller ID fields and the `XML default` an application destination
    /// carries for position are read as unset).
    ///
    /// The destination and the timeout are read as FreeSWITCH 1.11.3's
    /// `originate` reads them (`testdata/live/originate_lenient`): an
    /// application ends at its first `)` and needs none (`&park(` and
    /// `&park` are `park` with no arguments, `&echo(a)b)` is `echo` with
    /// `a`), and a bare `&` is an extension; the timeout is its leading
    /// digits (`2x` is 2 s), and one without any (`abc`) is unset, so the
    /// switch's default of 60 s applies.
    pub fn parse(text: &str) -> Result<Originate> {
        let bad = |why: &str| Error::InvalidCommand(format!("`{text}` is not an originate: {why}"));
        let words = split_args(text);
        let mut words = words.iter().map(String::as_str);
        if words.next() != Some("originate") {
            return Err(bad("it does not start with `originate`"));
        }
        let dial = Dial::parse(words.next().ok_or_else(|| bad("no dial string"))?)?;
        let target = words.next().ok_or_else(|| bad("no destination"))?;
        let (dialplan, context) = (words.next(), words.next());
        let destination = match target.strip_prefix('&').filter(|a| !a.is_empty()) {
            Some(app) => {
                let app = app.split(')').next().unwrap_or(app);
                let (name, args) = app.split_once('(').unwrap_or((app, ""));
                Destination::App {
                    app: name.to_owned(),
                    args: args.to_owned(),
                }
            }
            None => Destination::Extension {
                extension: target.to_owned(),
                dialplan: dialplan.map(str::to_owned),
                context: context.map(str::to_owned),
            },
        };
        let defined = |w: Option<&str>| w.filter(|w| *w != "undef").map(str::to_owned);
        let (caller_id_name, caller_id_number) = (defined(words.next()), defined(words.next()));
        let timeout = words.next().and_then(leading_number);
        Ok(Originate {
            dial,
            destination,
            caller_id_name,
            caller_id_number,
            timeout,
        })
    }
}

/// Splits an API command line as FreeSWITCH does: at spaces, except inside
/// single quotes (which are removed; `\'` is a quote).
fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut chars) = (false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\'') => word.push(chars.next().unwrap_or('\'')),
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// One row of `show channels` / `show calls`: column name → value, in
/// FreeSWITCH's column order.
pub type Row = Vec<(String, String)>;

fn parse_rows(command: &str, body: &str) -> Result<Vec<Row>> {
    /// `{"row_count":N,"rows":[{...}, ...]}`; `rows` is absent when N is 0.
    #[derive(serde::Deserialize)]
    struct Table {
        #[serde(default)]
        rows: Vec<JsonEvent>,
    }
    let table: Table = serde_json::from_str(body.trim()).map_err(|e| {
        Error::protocol(format!(
            "`{command}` did not return a JSON table ({e}): {body}"
        ))
    })?;
    Ok(table
        .rows
        .into_iter()
        .map(|row| {
            row.0
                .into_iter()
                .map(|(k, v)| (k, v.into_string()))
                .collect()
        })
        .collect())
}

/// The API commands, for every [`ApiTarget`].
pub trait Commands: ApiTarget {
    /// Any API command: `api <name> <args>`; returns the body.
    fn api_command(&self, name: &str, args: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = join(name, &[args]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// Any API command in the background: `bgapi <name> <args>`.
    fn background(
        &self,
        name: &str,
        args: &str,
    ) -> impl Future<Output = Result<BackgroundJob>> + Send {
        let cmd = join(name, &[args]);
        async move { self.run_bgapi(cmd).await }
    }

    /// `sendevent`: fires the event and returns its `Event-UUID`
    /// (FreeSWITCH replies `+OK <uuid>`). Works on inbound sockets and
    /// `full` outbound ones.
    ///
    /// ```no_run
    /// # async fn f(socket: librevox::CommandSocket) -> librevox::Result<()> {
    /// use librevox::prelude::*;
    /// use librevox::protocol::SendEvent;
    /// let id = socket
    ///     .sendevent(&SendEvent::custom("myapp::alert").header("X-Level", "high"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    fn sendevent(&self, event: &SendEvent) -> impl Future<Output = Result<String>> + Send {
        let cmd = event.to_command();
        async move {
            let describe = cmd.describe();
            let reply = self.run_command(cmd).await?;
            match reply.text().strip_prefix("+OK") {
                Some(uuid) => Ok(uuid.trim().to_owned()),
                None => Err(Error::CommandFailed {
                    command: describe,
                    reply: reply.text().to_owned(),
                }),
            }
        }
    }

    /// `status`: FreeSWITCH's status text.
    fn status(&self) -> impl Future<Output = Result<String>> + Send {
        async move { self.run_api("status".into()).await.map(body) }
    }

    /// `version`.
    fn version(&self) -> impl Future<Output = Result<String>> + Send {
        async move {
            self.run_api("version".into())
                .await
                .map(|r| body(r).trim().to_owned())
        }
    }

    /// `uptime`: seconds since FreeSWITCH started.
    fn uptime(&self) -> impl Future<Output = Result<u64>> + Send {
        async move {
            let text = body(self.run_api("uptime".into()).await?);
            text.trim()
                .parse()
                .map_err(|_| Error::protocol(format!("unexpected uptime reply `{}`", text.trim())))
        }
    }

    /// `reloadxml`.
    fn reloadxml(&self) -> impl Future<Output = Result<String>> + Send {
        async move { self.run_api("reloadxml".into()).await.map(body) }
    }

    /// `originate ...`: places a call and returns the new channel's UUID
    /// (`+OK <uuid>`); failures such as `-ERR USER_BUSY` are errors.
    fn originate(&self, o: &Originate) -> impl Future<Output = Result<String>> + Send {
        let cmd = o.to_string();
        async move {
            let r = self.run_api(cmd.clone()).await?;
            ok_value(&cmd, r)
        }
    }

    /// `originate ...` in the background; the job's output is `+OK <uuid>`.
    fn originate_bg(&self, o: &Originate) -> impl Future<Output = Result<BackgroundJob>> + Send {
        let cmd = o.to_string();
        async move { self.run_bgapi(cmd).await }
    }

    /// `fsctl <args>`.
    fn fsctl(&self, args: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("fsctl", &[args]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `hupall [<cause>]`: hangs up every call.
    fn hupall(&self, cause: Option<&str>) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("hupall", &[cause.unwrap_or("")]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `hash insert/<realm>/<key>/<value>`.
    fn hash_insert(
        &self,
        realm: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<String>> + Send {
        let cmd = format!("hash insert/{realm}/{key}/{value}");
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `hash select/<realm>/<key>`: the value, or `None` when unset.
    fn hash_select(
        &self,
        realm: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        let cmd = format!("hash select/{realm}/{key}");
        async move {
            let text = body(self.run_api(cmd).await?);
            Ok((!text.is_empty()).then_some(text))
        }
    }

    /// `hash delete/<realm>/<key>`.
    fn hash_delete(&self, realm: &str, key: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = format!("hash delete/{realm}/{key}");
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_park <uuid>`.
    fn uuid_park(&self, uuid: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_park", &[uuid]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_bridge <uuid> <other>`.
    fn uuid_bridge(&self, uuid: &str, other: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_bridge", &[uuid, other]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_kill <uuid> [<cause>]`.
    fn uuid_kill(
        &self,
        uuid: &str,
        cause: Option<&str>,
    ) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_kill", &[uuid, cause.unwrap_or("")]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_transfer <uuid> [-bleg|-both] <dest> [<dialplan>] [<context>]`.
    fn uuid_transfer(
        &self,
        uuid: &str,
        leg: Leg,
        destination: &str,
        dialplan: Option<&str>,
        context: Option<&str>,
    ) -> impl Future<Output = Result<String>> + Send {
        let flag = match leg {
            Leg::A => "",
            Leg::B => "-bleg",
            Leg::Both => "-both",
        };
        let dialplan = match (dialplan, context) {
            (None, Some(_)) => Some("XML"),
            (d, _) => d,
        };
        let cmd = join(
            "uuid_transfer",
            &[
                uuid,
                flag,
                destination,
                dialplan.unwrap_or(""),
                context.unwrap_or(""),
            ],
        );
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_getvar <uuid> <name>`: `None` when unset (`_undef_`).
    fn uuid_getvar(
        &self,
        uuid: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        let cmd = join("uuid_getvar", &[uuid, name]);
        async move {
            let text = body(self.run_api(cmd).await?);
            Ok(match text.as_str() {
                "_undef_" | "" => None,
                _ => Some(text),
            })
        }
    }

    /// `uuid_setvar <uuid> <name> [<value>]` (no value unsets).
    fn uuid_setvar(
        &self,
        uuid: &str,
        name: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_setvar", &[uuid, name, value.unwrap_or("")]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_send_dtmf <uuid> <digits>`.
    fn uuid_send_dtmf(
        &self,
        uuid: &str,
        digits: &str,
    ) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_send_dtmf", &[uuid, digits]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_record <uuid> start|stop|mask|unmask <path> [<limit secs>]`.
    fn uuid_record(
        &self,
        uuid: &str,
        action: Record,
        path: &str,
        limit: Option<u32>,
    ) -> impl Future<Output = Result<String>> + Send {
        let limit = limit.map(|l| l.to_string()).unwrap_or_default();
        let cmd = join("uuid_record", &[uuid, action.word(), path, &limit]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_broadcast <uuid> <path> [aleg|bleg|both]`.
    fn uuid_broadcast(
        &self,
        uuid: &str,
        path: &str,
        leg: Leg,
    ) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_broadcast", &[uuid, path, leg.broadcast_word()]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_answer <uuid>`.
    fn uuid_answer(&self, uuid: &str) -> impl Future<Output = Result<String>> + Send {
        let cmd = join("uuid_answer", &[uuid]);
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_hold [off|toggle] <uuid>`.
    fn uuid_hold(&self, uuid: &str, action: Hold) -> impl Future<Output = Result<String>> + Send {
        let cmd = match action {
            Hold::On => join("uuid_hold", &[uuid]),
            Hold::Off => join("uuid_hold", &["off", uuid]),
            Hold::Toggle => join("uuid_hold", &["toggle", uuid]),
        };
        async move { self.run_api(cmd).await.map(body) }
    }

    /// `uuid_dump <uuid>`: the channel's data as an [`Event`] (values
    /// decoded), like the channel data of an outbound session.
    fn uuid_dump(&self, uuid: &str) -> impl Future<Output = Result<Event>> + Send {
        let cmd = join("uuid_dump", &[uuid]);
        async move {
            let r = self.run_api(cmd).await?;
            let payload: Bytes = r.body().clone();
            Event::parse_plain(&payload)
        }
    }

    /// `show channels as json`: one row per channel.
    fn show_channels(&self) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move {
            let text = body(self.run_api("show channels as json".into()).await?);
            parse_rows("show channels", &text)
        }
    }

    /// `show calls as json`: one row per call (bridged channels together).
    fn show_calls(&self) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move {
            let text = body(self.run_api("show calls as json".into()).await?);
            parse_rows("show calls", &text)
        }
    }
}

impl<T: ApiTarget + ?Sized> Commands for T {}
