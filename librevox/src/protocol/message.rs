//! Typed messages: a [`Frame`] interpreted by its `Content-Type`.

use bytes::Bytes;

use super::event::{Event, EventFormat};
use super::frame::Frame;
use crate::error::{Error, Result};

/// A frame from FreeSWITCH, typed by its `Content-Type`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// `auth/request`: the inbound greeting, asking for `auth`.
    AuthRequest,
    /// `command/reply`: the reply to every command except `api`.
    CommandReply(CommandReply),
    /// `api/response`: the reply to `api`.
    ApiResponse(ApiResponse),
    /// `text/event-plain`, `text/event-json` or `text/event-xml`.
    Event(Event),
    /// `text/disconnect-notice`: the socket is closing, or (linger) the
    /// controlled channel hung up.
    DisconnectNotice(DisconnectNotice),
    /// `text/rude-rejection`: refused by an ACL before the greeting.
    RudeRejection(String),
    /// `log/data`: a log line after `log <level>`.
    Log(LogData),
    /// A frame of a content type librevox does not know, kept whole.
    Unknown(Frame),
}

impl Message {
    /// Interprets a frame. Event payloads are parsed here; a payload that
    /// cannot be parsed is a protocol error.
    pub fn from_frame(frame: Frame) -> Result<Message> {
        let Some(ct) = frame.content_type() else {
            return Ok(Message::Unknown(frame));
        };
        if let Some(format) = EventFormat::from_content_type(ct) {
            return Event::parse(format, frame.body()).map(Message::Event);
        }
        Ok(match ct {
            "command/reply" => Message::CommandReply(CommandReply::from_frame(frame)),
            "api/response" => Message::ApiResponse(ApiResponse::new(frame.into_body())),
            "auth/request" => Message::AuthRequest,
            "text/disconnect-notice" => {
                Message::DisconnectNotice(DisconnectNotice::from_frame(&frame))
            }
            "text/rude-rejection" => {
                Message::RudeRejection(String::from_utf8_lossy(frame.body()).into_owned())
            }
            "log/data" => Message::Log(LogData::from_frame(&frame)),
            _ => Message::Unknown(frame),
        })
    }

    /// True for `command/reply` and `api/response`, the two frame types that
    /// answer a command.
    pub fn is_reply(&self) -> bool {
        matches!(self, Message::CommandReply(_) | Message::ApiResponse(_))
    }
}

/// A `command/reply` frame.
///
/// For the outbound `connect` command, FreeSWITCH writes the channel's data as
/// the reply's header block, percent-encoded; that reply carries
/// [`channel_data`](CommandReply::channel_data), decoded, and its
/// [`text`](CommandReply::text) is the decoded `+OK` (without the LF).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandReply {
    frame: Frame,
    text: String,
    channel_data: Option<Box<Event>>,
}

impl CommandReply {
    fn from_frame(frame: Frame) -> CommandReply {
        if frame.header("Event-Name").is_some() {
            let data = Event::parse_encoded_block(frame.raw_head());
            let text = data
                .header("Reply-Text")
                .unwrap_or_default()
                .trim_end_matches('\n')
                .to_owned();
            return CommandReply {
                frame,
                text,
                channel_data: Some(Box::new(data)),
            };
        }
        let text = frame.header("Reply-Text").unwrap_or_default().to_owned();
        CommandReply {
            frame,
            text,
            channel_data: None,
        }
    }

    /// `Reply-Text` (for example `+OK accepted`, `-ERR invalid`, or the raw
    /// value of a variable for `getvar`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the reply text starts with `+OK`.
    pub fn is_ok(&self) -> bool {
        self.text.starts_with("+OK")
    }

    /// True when the reply text starts with `-ERR`.
    pub fn is_err(&self) -> bool {
        self.text.starts_with("-ERR")
    }

    /// A header of the reply, raw (`Job-UUID`, `Allowed-Events`, ...). For the
    /// `connect` reply, look in [`channel_data`](Self::channel_data) instead.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.frame.header(name)
    }

    /// `Job-UUID` of a `bgapi` reply.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header("Job-UUID")
    }

    /// The decoded channel data of a `connect` reply.
    pub fn channel_data(&self) -> Option<&Event> {
        self.channel_data.as_deref()
    }

    /// Takes the channel data out of a `connect` reply.
    pub fn into_channel_data(self) -> Option<Event> {
        self.channel_data.map(|b| *b)
    }

    /// The underlying frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }
}

/// An `api/response` frame: the output of an `api` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    body: Bytes,
}

impl ApiResponse {
    /// An API response with this body.
    pub fn new(body: Bytes) -> ApiResponse {
        ApiResponse { body }
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (lossy if it is not UTF-8).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// True when the body starts with `-ERR` or `-USAGE`, FreeSWITCH's way of
    /// reporting a failed API command (the frame itself carries no status).
    pub fn is_err(&self) -> bool {
        self.body.starts_with(b"-ERR") || self.body.starts_with(b"-USAGE")
    }

    /// `Ok(self)` unless [`is_err`](Self::is_err); then
    /// [`Error::CommandFailed`] with the body's text (trailing newline
    /// trimmed). `command` names the command in the error.
    pub fn into_result(self, command: &str) -> Result<ApiResponse> {
        if self.is_err() {
            Err(Error::CommandFailed {
                command: command.to_owned(),
                reply: self.text().trim_end().to_owned(),
            })
        } else {
            Ok(self)
        }
    }
}

/// A `text/disconnect-notice` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectNotice {
    /// `Content-Disposition`: `linger`, `disconnect`, or absent (inbound).
    pub disposition: Option<String>,
    /// `Controlled-Session-UUID` on session sockets.
    pub controlled_session_uuid: Option<String>,
    /// `Channel-Name` (linger notices).
    pub channel_name: Option<String>,
    /// `Linger-Time` (linger notices): seconds, or -1 for no limit.
    pub linger_time: Option<i64>,
    /// The goodbye text (`Disconnected, goodbye.\n...`), empty for linger.
    pub body: String,
}

impl DisconnectNotice {
    fn from_frame(frame: &Frame) -> DisconnectNotice {
        DisconnectNotice {
            disposition: frame.header("Content-Disposition").map(str::to_owned),
            controlled_session_uuid: frame.header("Controlled-Session-UUID").map(str::to_owned),
            channel_name: frame.header("Channel-Name").map(str::to_owned),
            linger_time: frame
                .header("Linger-Time")
                .and_then(|v| v.trim().parse().ok()),
            body: String::from_utf8_lossy(frame.body()).into_owned(),
        }
    }

    /// True for the linger form: the channel hung up but the socket stays
    /// open (until `exit` or the linger time).
    pub fn is_linger(&self) -> bool {
        self.disposition
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("linger"))
    }

    /// True when FreeSWITCH is about to close the socket: any notice that is
    /// not the linger form.
    pub fn is_closing(&self) -> bool {
        !self.is_linger()
    }
}

/// A `log/data` frame: one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogData {
    /// `Log-Level`: 0 CONSOLE, 1 ALERT, 2 CRIT, 3 ERR, 4 WARNING, 5 NOTICE,
    /// 6 INFO, 7 DEBUG.
    pub level: u8,
    /// `Text-Channel` (0 log, 1 clean log, 2 event, 3 session).
    pub text_channel: Option<u8>,
    /// `Log-File` (source file).
    pub file: Option<String>,
    /// `Log-Func`.
    pub function: Option<String>,
    /// `Log-Line`.
    pub line: Option<u32>,
    /// `User-Data`: the session UUID for session logs (empty otherwise).
    pub user_data: Option<String>,
    /// The log text, as FreeSWITCH formatted it.
    pub text: String,
}

impl LogData {
    fn from_frame(frame: &Frame) -> LogData {
        let num = |h: &str| frame.header(h).and_then(|v| v.trim().parse().ok());
        LogData {
            level: num("Log-Level").unwrap_or(7),
            text_channel: num("Text-Channel"),
            file: frame.header("Log-File").map(str::to_owned),
            function: frame.header("Log-Func").map(str::to_owned),
            line: frame.header("Log-Line").and_then(|v| v.trim().parse().ok()),
            user_data: frame
                .header("User-Data")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            text: String::from_utf8_lossy(frame.body()).into_owned(),
        }
    }
}
