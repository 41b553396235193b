//! The application catalogue: FreeSWITCH dialplan applications as typed
//! async methods, written with `#[app]`.
//!
//! Each application is an extension trait implemented for every
//! [`AppTarget`](crate::AppTarget): an outbound [`Session`](crate::Session),
//! or a channel of a [`CommandSocket`](crate::CommandSocket)
//! (`socket.channel(uuid)`). Bring them into scope with
//! `use librevox::prelude::*;`. Every call sends `sendmsg` with an
//! `Event-UUID` (and `event-lock: true` unless the listener turned it off)
//! and returns when the matching CHANNEL_EXECUTE_COMPLETE arrives; a hangup
//! first ends it with [`Error::Hangup`](crate::Error::Hangup).
//!
//! ```no_run
//! use librevox::prelude::*;
//! use librevox::apps::Digits;
//!
//! async fn ivr(call: &Session) -> librevox::Result<()> {
//!     call.answer().await?;
//!     call.playback("ivr/ivr-welcome.wav").await?;
//!     let choice = call
//!         .play_and_get_digits("ivr/ivr-enter_ext.wav", "ivr/ivr-that_was_an_invalid_entry.wav", &Digits::new().max(4))
//!         .await?;
//!     match choice {
//!         Some(ext) => call.transfer(&format!("{ext} XML default")).await?,
//!         None => call.hangup("NO_ANSWER").await?,
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The `execute-app-arg` strings are the original librevox's, so a port keeps
//! its wire behaviour. For an application without a helper, use
//! [`Session::application`](crate::Session::application), or
//! [`Session::execute`](crate::Session::execute) with a
//! [`SendMsg`](crate::protocol::SendMsg) for `loops`, `async`, or
//! `event-lock` off.

use crate::app;
pub use crate::protocol::{Dial, Endpoint};

// ----- option types -----

/// Options of [`play_and_get_digits`](PlayAndGetDigits::play_and_get_digits)
/// and [`read`](Read::read). `Digits::default()` gives the original's
/// defaults: 1 to 2 digits, 3 tries, 5000 ms, `#` terminates, variable
/// `read_digits_var`, regexp `\d+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits {
    /// Fewest digits accepted.
    pub min: u32,
    /// Most digits collected.
    pub max: u32,
    /// Attempts (play_and_get_digits only).
    pub tries: u32,
    /// Milliseconds to wait for the first digit (and, unless
    /// `digit_timeout` is set, between digits).
    pub timeout_ms: u32,
    /// Keys that end the input.
    pub terminators: String,
    /// The channel variable the digits are stored in, and read back from.
    pub variable: String,
    /// Regular expression the input must match (play_and_get_digits only).
    pub regexp: String,
    /// Milliseconds allowed between digits.
    pub digit_timeout_ms: Option<u32>,
    /// Where to transfer the call after the last failed try
    /// (play_and_get_digits only), e.g. `"operator XML default"`.
    pub transfer_on_failure: Option<String>,
}

impl Default for Digits {
    fn default() -> Self {
        Digits {
            min: 1,
            max: 2,
            tries: 3,
            timeout_ms: 5000,
            terminators: "#".into(),
            variable: "read_digits_var".into(),
            regexp: "\\d+".into(),
            digit_timeout_ms: None,
            transfer_on_failure: None,
        }
    }
}

impl Digits {
    /// The defaults.
    pub fn new() -> Digits {
        Digits::default()
    }
    /// Sets `min`.
    pub fn min(mut self, n: u32) -> Self {
        self.min = n;
        self
    }
    /// Sets `max`.
    pub fn max(mut self, n: u32) -> Self {
        self.max = n;
        self
    }
    /// Sets `tries`.
    pub fn tries(mut self, n: u32) -> Self {
        self.tries = n;
        self
    }
    /// Sets `timeout_ms`.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = ms;
        self
    }
    /// Sets `terminators`.
    pub fn terminators(mut self, keys: impl Into<String>) -> Self {
        self.terminators = keys.into();
        self
    }
    /// Sets `variable`.
    pub fn variable(mut self, name: impl Into<String>) -> Self {
        self.variable = name.into();
        self
    }
    /// Sets `regexp`.
    pub fn regexp(mut self, re: impl Into<String>) -> Self {
        self.regexp = re.into();
        self
    }
    /// Sets `digit_timeout_ms`.
    pub fn digit_timeout_ms(mut self, ms: u32) -> Self {
        self.digit_timeout_ms = Some(ms);
        self
    }
    /// Sets `transfer_on_failure` (`"<extension> [<dialplan> [<context>]]"`).
    pub fn transfer_on_failure(mut self, target: impl Into<String>) -> Self {
        self.transfer_on_failure = Some(target.into());
        self
    }
}

/// Which leg a meta application listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaListen {
    /// This leg (`a`).
    #[default]
    A,
    /// The bridged leg (`b`).
    B,
    /// Both (`ab`).
    Both,
}

/// Which leg a meta application runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaRespond {
    /// The leg that pressed the key (`s`).
    #[default]
    Same,
    /// The other leg (`o`).
    Opposite,
    /// Both legs (`b`).
    Both,
}

/// Options of [`bind_meta_app`](BindMetaApp::bind_meta_app): bind a `*<key>`
/// sequence to an application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaApp {
    /// The key after `*` (`0`–`9`).
    pub key: String,
    /// Which leg's keys to watch.
    pub listen_to: MetaListen,
    /// Which leg runs the application.
    pub respond_on: MetaRespond,
    /// The application (`hangup`, `execute_extension`, ...).
    pub application: String,
    /// Its parameters, if any (sent after `::`).
    pub parameters: Option<String>,
}

/// Options of [`record`](Record::record).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordOptions {
    /// Longest recording in seconds.
    pub limit_secs: Option<u32>,
    /// Energy level below which sound is silence (needs `limit_secs`).
    pub silence_threshold: Option<u32>,
    /// Seconds of silence that end the recording (needs the threshold).
    pub silence_hits: Option<u32>,
}

/// Where [`export`](Export::export) puts a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportTo {
    /// This channel and the channels it bridges to (FreeSWITCH's default).
    #[default]
    Both,
    /// Only the bridged channels (`nolocal:`).
    BLegOnly,
}

// ----- the option types' arguments, written and read back -----
//
// FreeSWITCH's applications split their argument at spaces
// (`switch_separate_string`: runs of spaces count as one, the last field
// takes the rest of the line). The builders below write exactly what the
// helpers send; the parsers read such a string back the way the
// application does, so a field can hold no space (except the last) and
// must not be empty.

/// Splits an application argument into at most `n` space-separated fields,
/// the last one taking the rest, as FreeSWITCH's `switch_separate_string`
/// does.
fn fields(arg: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(n);
    let mut rest = arg.trim_start_matches(' ');
    while !rest.is_empty() {
        if out.len() + 1 == n {
            out.push(rest);
            break;
        }
        match rest.split_once(' ') {
            Some((field, tail)) => {
                out.push(field);
                rest = tail.trim_start_matches(' ');
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// A number as C's `atoi` reads it for an unsigned field: the leading
/// digits (0 when there are none, or for a negative number), saturating.
fn number(field: &str) -> u32 {
    field
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
}

impl Digits {
    /// The argument of `read`: `<min> <max> <file> <variable> <timeout>
    /// <terminators> [<digit_timeout>]`.
    ///
    /// ```
    /// use librevox::apps::Digits;
    /// assert_eq!(Digits::new().max(4).read_arg("ext.wav"), "1 4 ext.wav read_digits_var 5000 #");
    /// ```
    pub fn read_arg(&self, file: &str) -> String {
        let mut arg = format!(
            "{} {} {file} {} {} {}",
            self.min, self.max, self.variable, self.timeout_ms, self.terminators
        );
        if let Some(dt) = self.digit_timeout_ms {
            arg.push_str(&format!(" {dt}"));
        }
        arg
    }

    /// Reads a `read` argument back: the prompt file and the options, as
    /// FreeSWITCH's `read` reads them. Missing fields take FreeSWITCH's
    /// initial values (max 0, timeout 1000, terminators `#`, no variable);
    /// the fields `read` does not carry (`tries`, `regexp`,
    /// `transfer_on_failure`) keep [`Digits::default`]'s. FreeSWITCH then
    /// raises `min` to 1, `max` to `min` and the timeout to 1000; that is
    /// the application's business, not the parser's. `None` for an empty
    /// argument ("No arguments specified").
    ///
    /// ```
    /// use librevox::apps::Digits;
    /// let d = Digits::new().max(4).digit_timeout_ms(1000);
    /// assert_eq!(Digits::parse_read(&d.read_arg("ext.wav")), Some(("ext.wav".to_owned(), d)));
    /// ```
    pub fn parse_read(arg: &str) -> Option<(String, Digits)> {
        let f = fields(arg, 7);
        let min = number(f.first()?);
        let at = |i: usize| f.get(i).copied();
        let digits = Digits {
            min,
            max: at(1).map_or(0, number),
            timeout_ms: at(4).map_or(1000, number),
            terminators: at(5).unwrap_or("#").to_owned(),
            variable: at(3).unwrap_or("").to_owned(),
            digit_timeout_ms: at(6).map(number),
            ..Digits::default()
        };
        Some((at(2).unwrap_or("").to_owned(), digits))
    }

    /// The argument of `play_and_get_digits`: `<min> <max> <tries>
    /// <timeout> <terminators> <file> <invalid_file> <variable> <regexp>
    /// [<digit_timeout> [<transfer_on_failure>]]` (a transfer target needs
    /// a digit timeout before it: `timeout_ms` when none is set).
    ///
    /// ```
    /// use librevox::apps::Digits;
    /// assert_eq!(
    ///     Digits::default().play_and_get_digits_arg("enter.wav", "bad.wav"),
    ///     "1 2 3 5000 # enter.wav bad.wav read_digits_var \\d+"
    /// );
    /// ```
    pub fn play_and_get_digits_arg(&self, file: &str, invalid_file: &str) -> String {
        let mut arg = format!(
            "{} {} {} {} {} {file} {invalid_file} {} {}",
            self.min,
            self.max,
            self.tries,
            self.timeout_ms,
            self.terminators,
            self.variable,
            self.regexp
        );
        let digit_timeout = self
            .digit_timeout_ms
            .or(self.transfer_on_failure.as_ref().map(|_| self.timeout_ms));
        if let Some(dt) = digit_timeout {
            arg.push_str(&format!(" {dt}"));
        }
        if let Some(target) = &self.transfer_on_failure {
            arg.push_str(&format!(" {target}"));
        }
        arg
    }

    /// Reads a `play_and_get_digits` argument back: the prompt, the file
    /// played after invalid input, and the options, as FreeSWITCH's
    /// application reads them (the transfer target, last, may hold
    /// spaces). Missing fields take FreeSWITCH's initial values (max and
    /// tries 0, timeout 1000, terminators `#`, no files, variable or
    /// regexp). `None` for an empty argument.
    ///
    /// ```
    /// use librevox::apps::Digits;
    /// let d = Digits::new().min(4).max(4).digit_timeout_ms(2000).transfer_on_failure("operator XML default");
    /// let arg = d.play_and_get_digits_arg("pin.wav", "bad.wav");
    /// assert_eq!(
    ///     Digits::parse_play_and_get_digits(&arg),
    ///     Some(("pin.wav".to_owned(), "bad.wav".to_owned(), d))
    /// );
    /// ```
    pub fn parse_play_and_get_digits(arg: &str) -> Option<(String, String, Digits)> {
        let f = fields(arg, 11);
        let min = number(f.first()?);
        let at = |i: usize| f.get(i).copied();
        let text = |i: usize| at(i).unwrap_or("").to_owned();
        let digits = Digits {
            min,
            max: at(1).map_or(0, number),
            tries: at(2).map_or(0, number),
            timeout_ms: at(3).map_or(1000, number),
            terminators: at(4).unwrap_or("#").to_owned(),
            variable: text(7),
            regexp: text(8),
            digit_timeout_ms: at(9).map(number),
            transfer_on_failure: at(10).map(str::to_owned),
        };
        Some((text(5), text(6), digits))
    }
}

impl MetaListen {
    /// The letters `bind_meta_app` takes (`a`, `b`, `ab`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetaListen::A => "a",
            MetaListen::B => "b",
            MetaListen::Both => "ab",
        }
    }

    /// The leg for its letters (`ba` is `ab`).
    pub fn from_letters(s: &str) -> Option<MetaListen> {
        match s {
            "a" => Some(MetaListen::A),
            "b" => Some(MetaListen::B),
            "ab" | "ba" => Some(MetaListen::Both),
            _ => None,
        }
    }
}

impl MetaRespond {
    /// The letter `bind_meta_app` takes (`s`, `o`, `b`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetaRespond::Same => "s",
            MetaRespond::Opposite => "o",
            MetaRespond::Both => "b",
        }
    }

    /// The leg for its letter.
    pub fn from_letters(s: &str) -> Option<MetaRespond> {
        match s {
            "s" => Some(MetaRespond::Same),
            "o" => Some(MetaRespond::Opposite),
            "b" => Some(MetaRespond::Both),
            _ => None,
        }
    }
}

impl MetaApp {
    /// The argument of `bind_meta_app`: `<key> <listen> <respond>
    /// <application>[::<parameters>]`.
    pub fn to_arg(&self) -> String {
        let mut arg = format!(
            "{} {} {} {}",
            self.key,
            self.listen_to.as_str(),
            self.respond_on.as_str(),
            self.application
        );
        if let Some(p) = &self.parameters {
            arg.push_str("::");
            arg.push_str(p);
        }
        arg
    }

    /// Reads a `bind_meta_app` argument back; `None` when it lacks one of
    /// the four fields or a leg letter is not one this type names.
    ///
    /// ```
    /// use librevox::apps::MetaApp;
    /// let m = MetaApp::parse("2 a s execute_extension::dx XML features").unwrap();
    /// assert_eq!(m.application, "execute_extension");
    /// assert_eq!(m.parameters.as_deref(), Some("dx XML features"));
    /// assert_eq!(m.to_arg(), "2 a s execute_extension::dx XML features");
    /// ```
    pub fn parse(arg: &str) -> Option<MetaApp> {
        let f = fields(arg, 4);
        let [key, listen, respond, app] = f[..] else {
            return None;
        };
        let (application, parameters) = match app.split_once("::") {
            Some((a, p)) => (a, Some(p.to_owned())),
            None => (app, None),
        };
        Some(MetaApp {
            key: key.to_owned(),
            listen_to: MetaListen::from_letters(listen)?,
            respond_on: MetaRespond::from_letters(respond)?,
            application: application.to_owned(),
            parameters,
        })
    }
}

impl RecordOptions {
    /// The argument of `record`: `<path> [<limit> [<threshold>
    /// [<hits>]]]` (each option only after the one before it).
    pub fn to_arg(&self, path: &str) -> String {
        let mut arg = path.to_owned();
        if let Some(limit) = self.limit_secs {
            arg.push_str(&format!(" {limit}"));
            if let Some(t) = self.silence_threshold {
                arg.push_str(&format!(" {t}"));
                if let Some(h) = self.silence_hits {
                    arg.push_str(&format!(" {h}"));
                }
            }
        }
        arg
    }

    /// Reads a `record` argument back (a `+` before the limit is allowed,
    /// as FreeSWITCH allows it); `None` without a path.
    ///
    /// ```
    /// use librevox::apps::RecordOptions;
    /// let (path, o) = RecordOptions::parse("/tmp/m.wav +60 200").unwrap();
    /// assert_eq!((path.as_str(), o.limit_secs, o.silence_threshold), ("/tmp/m.wav", Some(60), Some(200)));
    /// ```
    pub fn parse(arg: &str) -> Option<(String, RecordOptions)> {
        let f = fields(arg, 4);
        let path = (*f.first()?).to_owned();
        let at = |i: usize| f.get(i).map(|v| number(v.strip_prefix('+').unwrap_or(v)));
        let options = RecordOptions {
            limit_secs: at(1),
            silence_threshold: at(2),
            silence_hits: at(3),
        };
        Some((path, options))
    }
}

impl ExportTo {
    /// The argument of `export`: `<name>=<value>`, or
    /// `nolocal:<name>=<value>` for the bridged legs only.
    pub fn to_arg(self, name: &str, value: &str) -> String {
        match self {
            ExportTo::Both => format!("{name}={value}"),
            ExportTo::BLegOnly => format!("nolocal:{name}={value}"),
        }
    }

    /// Reads an `export` argument back: name, value, where it goes; `None`
    /// without `=`.
    ///
    /// ```
    /// use librevox::apps::ExportTo;
    /// assert_eq!(
    ///     ExportTo::parse("nolocal:sip_h_X-Account=42"),
    ///     Some(("sip_h_X-Account".to_owned(), "42".to_owned(), ExportTo::BLegOnly))
    /// );
    /// ```
    pub fn parse(arg: &str) -> Option<(String, String, ExportTo)> {
        let (to, rest) = match arg.strip_prefix("nolocal:") {
            Some(rest) => (ExportTo::BLegOnly, rest),
            None => (ExportTo::Both, arg),
        };
        let (name, value) = rest.split_once('=')?;
        Some((name.to_owned(), value.to_owned(), to))
    }
}

// ----- the original's 21 applications -----

/// Answers the call.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.answer().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn answer() {}

/// Parks the call: it waits, silent, until something else takes it.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.park().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn park() {}

/// Attended transfer: calls `endpoint`, and bridges the caller to it when
/// the transferring party hangs up.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.att_xfer("user/1002").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn att_xfer(endpoint: &str) -> String {
    endpoint.to_owned()
}

/// Binds `*<key>` to an application for the rest of the call.
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::{MetaApp, MetaListen, MetaRespond};
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.bind_meta_app(&MetaApp {
///     key: "2".into(),
///     listen_to: MetaListen::A,
///     respond_on: MetaRespond::Same,
///     application: "execute_extension".into(),
///     parameters: Some("dx XML features".into()),
/// })
/// .await?; // bind_meta_app 2 a s execute_extension::dx XML features
/// # Ok(()) }
/// ```
#[app]
pub fn bind_meta_app(meta: &MetaApp) -> String {
    meta.to_arg()
}

/// Bridges the call to one or more endpoints; returns the completion event
/// (its `variable_bridge_hangup_cause` / `variable_originate_disposition`
/// say how it went).
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::{Dial, Endpoint};
/// # async fn f(call: &Session, digit: &str) -> librevox::Result<()> {
/// call.bridge(format!("sofia/gateway/trunk/{digit}")).await?; // sent as written
/// call.bridge(Dial::to(Endpoint::user("1001", "example.com"))
///     .and(Endpoint::user("1002", "example.com"))
///     .or(Endpoint::gateway("trunk", "5551001"))
///     .var("call_timeout", "20")).await?;
/// // {call_timeout=20}user/1001@example.com,user/1002@example.com|sofia/gateway/trunk/5551001
/// # Ok(()) }
/// ```
#[app(returns = event)]
pub fn bridge(target: impl Into<Dial>) -> String {
    target.into().dial_string()
}

/// Redirects an unanswered SIP call to `uri` (302); after answer, REFERs it.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.deflect("sip:1002@example.com").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn deflect(uri: &str) -> String {
    uri.to_owned()
}

/// Sets a variable on this channel and on the channels it bridges to.
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::ExportTo;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.export("hangup_after_bridge", "true", ExportTo::Both).await?;
/// call.export("sip_h_X-Account", "42", ExportTo::BLegOnly).await?; // nolocal:
/// # Ok(()) }
/// ```
#[app]
pub fn export(name: &str, value: &str, to: ExportTo) -> String {
    to.to_arg(name, value)
}

/// Plays tones described in TGML (`%(500,0,800)`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.gentones("%(500,0,800)").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn gentones(tgml: &str) -> String {
    tgml.to_owned()
}

/// Hangs up with `cause` (`""` for NORMAL_CLEARING, or `USER_BUSY`, ...).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.hangup("USER_BUSY").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn hangup(cause: &str) -> String {
    cause.to_owned()
}

/// Plays `file`, collects digits, checks them against `regexp`, retries
/// with `invalid_file`; returns the digits (None when nothing valid was
/// entered).
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::Digits;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// let digit = call
///     .play_and_get_digits("enter-digit.wav", "bad-digit.wav", &Digits::default())
///     .await?; // 1 2 3 5000 # enter-digit.wav bad-digit.wav read_digits_var \d+
/// let pin = call
///     .play_and_get_digits("pin.wav", "bad.wav",
///         &Digits::new().min(4).max(4).variable("pin").digit_timeout_ms(2000)
///             .transfer_on_failure("operator XML default"))
///     .await?;
/// # Ok(()) }
/// ```
#[app(returns = variable(options.variable))]
pub fn play_and_get_digits(file: &str, invalid_file: &str, options: &Digits) -> String {
    options.play_and_get_digits_arg(file, invalid_file)
}

/// Plays a file or stream to the caller.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.playback("ivr/ivr-welcome_to_freeswitch.wav").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn playback(file: &str) -> String {
    file.to_owned()
}

/// Sends early media (183 Session Progress) without answering.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.pre_answer().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn pre_answer() {}

/// Plays `file` and collects digits; returns them (None when nothing was
/// entered before the timeout).
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::Digits;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// let ext = call.read("ivr/ivr-enter_ext.wav", &Digits::new().max(4)).await?;
/// // read 1 4 ivr/ivr-enter_ext.wav read_digits_var 5000 #
/// # Ok(()) }
/// ```
#[app(returns = variable(options.variable))]
pub fn read(file: &str, options: &Digits) -> String {
    options.read_arg(file)
}

/// Records the caller to `path` until silence, `#`, hangup or the limit.
///
/// ```no_run
/// # use librevox::prelude::*;
/// use librevox::apps::RecordOptions;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.record("/tmp/message.wav", &RecordOptions { limit_secs: Some(60), ..Default::default() }).await?;
/// # Ok(()) }
/// ```
#[app]
pub fn record(path: &str, options: &RecordOptions) -> String {
    options.to_arg(path)
}

/// Redirects the call to a SIP URI (302 before answer).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.redirect("sip:1002@example.com").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn redirect(uri: &str) -> String {
    uri.to_owned()
}

/// Sends a SIP response (`"403"`, `"486 Busy Here"`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.respond("403").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn respond(code: &str) -> String {
    code.to_owned()
}

/// Sets a channel variable.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.set("foo", "bar").await?; // set foo=bar
/// # Ok(()) }
/// ```
#[app]
pub fn set(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// Sets several channel variables at once.
///
/// The separator is `|` as in the original (`^^|k=v|k2=v2`); when a name or
/// value contains `|`, another separator that occurs nowhere is chosen, so
/// values are never split.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.multiset(&[("baz", "1"), ("qux", "2")]).await?; // multiset ^^|baz=1|qux=2
/// # Ok(()) }
/// ```
#[app]
pub fn multiset(vars: &[(&str, &str)]) -> String {
    multiset_arg(vars)
}

/// The argument of `multiset`: `^^<sep>k=v<sep>k2=v2`, with `|` as the
/// separator unless a name or value holds one (then the first of `~!;^#@+`
/// that none holds, or U+001F).
pub fn multiset_arg(vars: &[(&str, &str)]) -> String {
    let used = |c: char| vars.iter().any(|(k, v)| k.contains(c) || v.contains(c));
    let sep = ['|', '~', '!', ';', '^', '#', '@', '+']
        .into_iter()
        .find(|c| !used(*c))
        .unwrap_or('\u{1f}');
    let mut arg = format!("^^{sep}");
    for (i, (k, v)) in vars.iter().enumerate() {
        if i > 0 {
            arg.push(sep);
        }
        arg.push_str(&format!("{k}={v}"));
    }
    arg
}

/// Reads a `multiset` argument back into its variables: after `^^<sep>`
/// the pairs are split at `<sep>`, otherwise at spaces (FreeSWITCH's
/// default); empty parts and parts without `=` are skipped. Names must
/// not hold `=`.
///
/// ```
/// use librevox::apps::{multiset_arg, parse_multiset};
/// let arg = multiset_arg(&[("a", "x|y"), ("b", "2")]);
/// assert_eq!(arg, "^^~a=x|y~b=2");
/// assert_eq!(parse_multiset(&arg), [("a".to_owned(), "x|y".to_owned()), ("b".to_owned(), "2".to_owned())]);
/// ```
pub fn parse_multiset(arg: &str) -> Vec<(String, String)> {
    let (sep, rest) = match arg.strip_prefix("^^") {
        Some(r) if !r.is_empty() => {
            let sep = r.chars().next().unwrap_or(' ');
            (sep, &r[sep.len_utf8()..])
        }
        _ => (' ', arg),
    };
    rest.split(sep)
        .filter_map(|part| part.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// Reads a `set` argument back: the name (trimmed) and the value after the
/// first `=`; `None` without `=`.
///
/// ```
/// assert_eq!(librevox::apps::parse_set("foo=a=b"), Some(("foo", "a=b")));
/// ```
pub fn parse_set(arg: &str) -> Option<(&str, &str)> {
    arg.split_once('=').map(|(n, v)| (n.trim(), v))
}

/// Transfers the call to `destination`: `<extension> [<dialplan>
/// [<context>]]`, e.g. `"1000 XML default"`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.transfer("1000 XML default").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn transfer(destination: &str) -> String {
    destination.to_owned()
}

/// Removes a `bind_meta_app` binding (or all of them with `""`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.unbind_meta_app("2").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn unbind_meta_app(key: &str) -> String {
    key.to_owned()
}

/// Unsets a channel variable.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.unset("foo").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn unset(name: &str) -> String {
    name.to_owned()
}

// ----- applications beyond the original -----

/// Pauses for `ms` milliseconds (media keeps flowing).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.sleep(1500).await?;
/// # Ok(()) }
/// ```
#[app]
pub fn sleep(ms: u64) -> String {
    ms.to_string()
}

/// Speaks with the say engine: `say("en", "number", "pronounced", "123")`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.say("en", "number", "pronounced", "123").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn say(module: &str, say_type: &str, method: &str, text: &str) -> String {
    format!("{module} {say_type} {method} {text}")
}

/// Text to speech: `speak("flite", "kal", "Hello")` → `flite|kal|Hello`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.speak("flite", "kal", "Hello, caller.").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn speak(engine: &str, voice: &str, text: &str) -> String {
    format!("{engine}|{voice}|{text}")
}

/// Plays a phrase macro: `phrase("voicemail_message_count", "3:new")`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.phrase("voicemail_message_count", "3:new").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn phrase(macro_name: &str, data: &str) -> String {
    if data.is_empty() {
        macro_name.to_owned()
    } else {
        format!("{macro_name},{data}")
    }
}

/// Joins a conference: `"room@default"`, `"room@default+flags{mute}"`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.conference("sales@default").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn conference(room: &str) -> String {
    room.to_owned()
}

/// Sends DTMF digits on the channel (`"1234#"`, `"1w2w3"` with pauses).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.send_dtmf("1234#").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn send_dtmf(digits: &str) -> String {
    digits.to_owned()
}

/// Records the whole call (both directions) to `path` in the background.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.record_session("/var/recordings/call.wav").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn record_session(path: &str) -> String {
    path.to_owned()
}

/// Stops a `record_session` recording (`"all"` stops every one).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.stop_record_session("/var/recordings/call.wav").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn stop_record_session(path: &str) -> String {
    path.to_owned()
}

/// Echoes the caller's audio back (a media test).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.echo().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn echo() {}

/// Sends 180 Ringing.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.ring_ready().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn ring_ready() {}

/// Writes to FreeSWITCH's log: `log("INFO", "caller entered the IVR")`.
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.log("INFO", "caller entered the IVR").await?;
/// # Ok(()) }
/// ```
#[app]
pub fn log(level: &str, message: &str) -> String {
    format!("{level} {message}")
}

/// Listens in on another channel (`uuid`, or `all`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session, target: &str) -> librevox::Result<()> {
/// call.eavesdrop(target).await?;
/// # Ok(()) }
/// ```
#[app]
pub fn eavesdrop(uuid: &str) -> String {
    uuid.to_owned()
}

/// Picks up another ringing channel (`uuid`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session, ringing: &str) -> librevox::Result<()> {
/// call.intercept(ringing).await?;
/// # Ok(()) }
/// ```
#[app]
pub fn intercept(uuid: &str) -> String {
    uuid.to_owned()
}

/// Limits concurrent calls: `limit("hash", "outbound", "gateway1", 10)`;
/// over the limit the call is hung up (or transferred, per FreeSWITCH's
/// `limit` settings).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.limit("hash", "outbound", "gateway1", 10).await?;
/// # Ok(()) }
/// ```
#[app]
pub fn limit(backend: &str, realm: &str, resource: &str, max: u32) -> String {
    format!("{backend} {realm} {resource} {max}")
}

/// Logs every channel variable (FreeSWITCH's `info`).
///
/// ```no_run
/// # use librevox::prelude::*;
/// # async fn f(call: &Session) -> librevox::Result<()> {
/// call.info().await?;
/// # Ok(()) }
/// ```
#[app]
pub fn info() {}
