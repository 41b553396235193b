//! The crate's one error type.
//!
//! Every fallible operation in librevox returns [`Error`]. Callers match on its
//! variants (it is `#[non_exhaustive]`, so keep a wildcard arm) or use the
//! predicates such as [`Error::is_closed`] and [`Error::is_timeout`].

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::HangupCause;

/// Shorthand for `Result<T, librevox::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to FreeSWITCH.
///
/// Transport failures (`Io`, `Closed`, `Timeout`), malformed input from the
/// peer (`Protocol`, `FrameTooLarge`, `AmbiguousLength`) and refusals by
/// FreeSWITCH itself (`Auth`, `Rejected`, `CommandFailed`) are kept apart so
/// that a caller can decide what to retry.
///
/// Errors are `Clone` (one failure is reported to every waiter of a
/// connection that closed); an I/O error is shared behind an `Arc`, so a
/// clone keeps its kind, text and source chain.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed (connect refused, reset, broken pipe, ...).
    #[error("I/O error: {0}")]
    Io(#[source] Arc<std::io::Error>),

    /// The connection is gone: FreeSWITCH closed it, sent a closing
    /// disconnect-notice, or the connection task stopped. Every command that
    /// was waiting for a reply fails with this error at once.
    #[error("connection closed: {reason}")]
    Closed {
        /// Why the connection ended, for logs.
        reason: String,
    },

    /// A wait (reply, application completion, background job, connect,
    /// greeting) did not finish within its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// The deadline that expired.
        after: Duration,
    },

    /// The peer sent bytes that are not valid ESL (bad `Content-Length`, a NUL
    /// or non-UTF-8 byte in a header block, an unparsable event body, a frame
    /// cut short by EOF, an unexpected reply type, ...).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// A frame's header block or body exceeds the configured limit. Nothing of
    /// the claimed size is allocated before the error is raised.
    #[error("{part} of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// `"header block"` or `"body"`.
        part: &'static str,
        /// The size claimed or seen so far.
        size: u64,
        /// The configured limit.
        limit: usize,
    },

    /// A frame carried more than one `Content-Length` header (compared in any
    /// casing), whether or not the values agree. FreeSWITCH writes one; two
    /// make the frame's length ambiguous (the classic request-smuggling
    /// vector), so the frame is refused and the connection closed.
    #[error("ambiguous frame length: `Content-Length` given twice (`{first}`, then `{second}`)")]
    AmbiguousLength {
        /// The first length header as it appeared (`Name: value`, at most
        /// 64 bytes of it).
        first: String,
        /// The second one, likewise.
        second: String,
    },

    /// FreeSWITCH refused the password or the `user@domain` (`-ERR invalid`).
    #[error("authentication failed: {reply}")]
    Auth {
        /// FreeSWITCH's reply text.
        reply: String,
    },

    /// FreeSWITCH refused the connection before authentication
    /// (`text/rude-rejection`, usually an ACL such as `loopback.auto`).
    #[error("connection rejected by FreeSWITCH: {reason}")]
    Rejected {
        /// The rejection text FreeSWITCH sent (`Access Denied, go away.`).
        reason: String,
    },

    /// FreeSWITCH answered a command with an error: a `-ERR` `Reply-Text`, or
    /// an `api/response` whose body starts with `-ERR` or `-USAGE`.
    #[error("command `{command}` failed: {reply}")]
    CommandFailed {
        /// The command as sent (first line; passwords are never included).
        command: String,
        /// FreeSWITCH's text, trimmed of its trailing newline.
        reply: String,
    },

    /// The channel hung up before the application finished.
    #[error("channel {uuid} hung up{}", cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Hangup {
        /// The channel's `Unique-ID`.
        uuid: String,
        /// The `Hangup-Cause`, whenever FreeSWITCH reported one.
        cause: Option<HangupCause>,
    },

    /// The event consumer fell so far behind while a reply was awaited that
    /// more than `limit` events were parked; the connection was closed rather
    /// than let memory grow without bound or drop events silently.
    #[error("more than {limit} events backed up behind a slow event consumer; connection closed")]
    EventBacklog {
        /// [`ConnectionConfig::max_backlog`](crate::ConnectionConfig::max_backlog).
        limit: usize,
    },

    /// The peer sent nothing for `silent_for` and did not answer a liveness
    /// probe either (see [`Liveness`](crate::Liveness)): the connection was
    /// closed as half-open. An inbound listener reconnects after it.
    #[error("{peer} sent nothing for {silent_for:?} and did not answer a liveness probe; connection closed")]
    Unresponsive {
        /// The peer's address (`"the peer"` when the socket was handed in).
        peer: String,
        /// How long nothing had arrived when the connection was closed.
        silent_for: Duration,
    },

    /// A command could not be encoded: for example a header value containing
    /// CR or LF where the protocol has no body to carry it.
    #[error("invalid command: {0}")]
    InvalidCommand(String),

    /// A setting read from the environment or a file is not valid; the text
    /// names the setting and what to write instead.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn closed(reason: impl Into<String>) -> Self {
        Error::Closed {
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(msg: impl Into<String>) -> Self {
        Error::Protocol(msg.into())
    }

    /// True when the connection is gone ([`Error::Closed`], or
    /// [`Error::Unresponsive`]: closed as half-open).
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed { .. } | Error::Unresponsive { .. })
    }

    /// True when a deadline expired ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// True when the channel hung up under a running application.
    pub fn is_hangup(&self) -> bool {
        matches!(self, Error::Hangup { .. })
    }

    /// FreeSWITCH's error text, when FreeSWITCH itself refused something.
    pub fn reply_text(&self) -> Option<&str> {
        match self {
            Error::CommandFailed { reply, .. } | Error::Auth { reply } => Some(reply),
            Error::Rejected { reason } => Some(reason),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_keeps_the_io_errors_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("the peer reset")]
        struct Inner;
        let err = Error::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            Inner,
        ));
        let copy = err.clone();
        let Error::Io(io) = &copy else {
            panic!("{copy:?}")
        };
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
        // The very error inside, not a copy of its text.
        assert!(io.get_ref().is_some_and(|inner| inner.is::<Inner>()));
        let source = std::error::Error::source(&copy).expect("the io::Error");
        assert_eq!(source.to_string(), "the peer reset");
    }

    #[test]
    fn a_hangup_error_names_its_cause() {
        let err = Error::Hangup {
            uuid: "u1".into(),
            cause: Some(HangupCause::UserBusy),
        };
        assert_eq!(err.to_string(), "channel u1 hung up (USER_BUSY)");
    }
}
