//! The inbound handshake, shared by [`CommandSocket`](crate::CommandSocket)
//! and inbound listeners: connect, wait for the `auth/request` greeting
//! (a `text/rude-rejection` instead is [`Error::Rejected`]), then `auth
//! <password>` or `userauth <user@domain>:<password>` (`-ERR` is
//! [`Error::Auth`]).

use std::fmt;

use tokio::net::TcpStream;
use tracing::debug;

use super::{Connection, ConnectionConfig, EventStream, Reply};
use crate::error::{Error, Result};
use crate::protocol::{Command, Message};

/// A secret that never shows in `Debug` or `Display` output, nor in logs.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(transparent))]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

/// Who to authenticate as: `auth <password>`, or with a user
/// `userauth <user@domain>:<password>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credentials<'a> {
    pub(crate) password: &'a Password,
    pub(crate) user: Option<&'a str>,
}

/// Opens a TCP connection (no Nagle delay) and starts a [`Connection`]
/// over it.
pub(crate) async fn connect_tcp(
    addr: &str,
    config: &ConnectionConfig,
) -> Result<(Connection, EventStream)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    super::set_keepalive(&stream)?;
    Ok(Connection::with_peer(
        stream,
        config.clone(),
        addr.to_string(),
    ))
}

/// Waits for the greeting, then authenticates.
pub(crate) async fn authenticate(
    conn: &Connection,
    events: &mut EventStream,
    credentials: Credentials<'_>,
) -> Result<()> {
    loop {
        match events.recv().await {
            Some(Message::AuthRequest) => break,
            Some(Message::RudeRejection(reason)) => {
                return Err(Error::Rejected {
                    reason: reason.trim().to_owned(),
                })
            }
            Some(Message::DisconnectNotice(n)) => {
                return Err(Error::closed(format!(
                    "FreeSWITCH disconnected before the greeting: {}",
                    n.body.trim()
                )))
            }
            Some(other) => debug!(?other, "ignoring a frame before the auth/request greeting"),
            None => return Err(conn.closed().await),
        }
    }
    let cmd = match credentials.user {
        Some(user) => Command::userauth(user, credentials.password.expose()),
        None => Command::auth(credentials.password.expose()),
    };
    // FreeSWITCH closes right after `-ERR invalid`; the reply still comes
    // first, so a refusal is reported as one.
    match conn.send(&cmd).await? {
        Reply::Command(r) if r.is_ok() => Ok(()),
        Reply::Command(r) => Err(Error::Auth {
            reply: r.text().to_owned(),
        }),
        Reply::Api(_) => Err(Error::protocol("auth answered with api/response")),
    }
}
