//! Settings read from the environment ([`ConnectionConfig::from_env`] and
//! friends) and, with the `serde` feature, deserialized from a file.

use std::time::Duration;

use super::{ConnectionConfig, Password};
use crate::error::{Error, Result};

/// The `LIBREVOX_*` variables the `librevox` CLI reads, read and checked
/// once. An empty variable counts as unset, as in the CLI.
#[derive(Debug, Default)]
pub(crate) struct EnvVars {
    host: Option<String>,
    port: Option<u16>,
    password: Option<String>,
    user: Option<String>,
    timeout: Option<Duration>,
    job_timeout: Option<Duration>,
}

impl EnvVars {
    pub(crate) fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<EnvVars> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let port = match get("LIBREVOX_PORT") {
            None => None,
            Some(v) => Some(v.trim().parse::<u16>().map_err(|_| {
                Error::Config(format!("LIBREVOX_PORT={v} is not a port number (1-65535)"))
            })?),
        };
        let seconds = |name: &str| -> Result<Option<Duration>> {
            let Some(v) = get(name) else { return Ok(None) };
            match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => {
                    Ok(Some(Duration::from_secs_f64(s)))
                }
                _ => Err(Error::Config(format!(
                    "{name}={v} is not a number of seconds (write e.g. {name}=10 or {name}=2.5)"
                ))),
            }
        };
        Ok(EnvVars {
            host: get("LIBREVOX_HOST").map(|h| h.trim().to_owned()),
            port,
            password: get("LIBREVOX_PASSWORD"),
            user: get("LIBREVOX_USER"),
            timeout: seconds("LIBREVOX_TIMEOUT")?,
            job_timeout: seconds("LIBREVOX_JOB_TIMEOUT")?,
        })
    }

    /// `host:port` when either is set (the other from the defaults,
    /// `127.0.0.1` and `8021`); an IPv6 host is put in brackets.
    pub(crate) fn addr(&self) -> Option<String> {
        if self.host.is_none() && self.port.is_none() {
            return None;
        }
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let port = self.port.unwrap_or(8021);
        Some(if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        })
    }

    /// Sets what the variables give of an address, password, user and
    /// connect timeout.
    pub(crate) fn endpoint(
        &self,
        addr: &mut String,
        password: &mut Password,
        user: &mut Option<String>,
        connect_timeout: &mut Duration,
    ) {
        if let Some(a) = self.addr() {
            *addr = a;
        }
        if let Some(p) = &self.password {
            *password = Password::new(p.as_str());
        }
        if self.user.is_some() {
            user.clone_from(&self.user);
        }
        if let Some(t) = self.timeout {
            *connect_timeout = t;
        }
    }

    pub(crate) fn config(&self) -> ConnectionConfig {
        let mut c = ConnectionConfig::default();
        if let Some(t) = self.timeout {
            c.reply_timeout = t;
        }
        if let Some(t) = self.job_timeout {
            c.job_timeout = t;
        }
        c
    }
}

impl ConnectionConfig {
    /// The defaults, with what the environment sets: `LIBREVOX_TIMEOUT`
    /// (seconds, the reply timeout) and `LIBREVOX_JOB_TIMEOUT` (seconds, the
    /// background-job timeout), read as the `librevox` CLI reads them. A
    /// value that is not a positive number of seconds is an
    /// [`Error::Config`] naming the variable.
    pub fn from_env() -> Result<ConnectionConfig> {
        ConnectionConfig::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by
    /// `lookup` (for tests, or a map read from elsewhere).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<ConnectionConfig> {
        Ok(EnvVars::read(lookup)?.config())
    }
}

/// Deserialization helpers (feature `serde`).
#[cfg(feature = "serde")]
pub(crate) mod de {
    use serde::{Deserialize, Deserializer};

    use super::super::Liveness;

    /// `liveness = false` (or `"off"`) turns the probe off; a table sets it.
    pub(crate) fn liveness<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Liveness>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Switch(bool),
            Word(String),
            On(Liveness),
        }
        match Form::deserialize(d)? {
            Form::Switch(false) => Ok(None),
            Form::Switch(true) => Ok(Some(Liveness::default())),
            Form::Word(w) if w == "off" => Ok(None),
            Form::Word(w) => Err(serde::de::Error::custom(format!(
                "liveness `{w}`: write `liveness = false` to turn the probe off, or a table \
                 `[liveness] interval = \"30s\"  timeout = \"10s\"`"
            ))),
            Form::On(l) => Ok(Some(l)),
        }
    }
}

/// `from_env` and `from_env_with` for a settings type with `addr`,
/// `password`, `user`, `connect_timeout` and `config` fields.
macro_rules! endpoint_from_env {
    ($ty:ident) => {
        impl $ty {
            /// The defaults, with what the `LIBREVOX_*` variables of the
            /// `librevox` CLI set: `LIBREVOX_HOST` and `LIBREVOX_PORT` (the
            /// address; either alone keeps the other's default),
            /// `LIBREVOX_PASSWORD`, `LIBREVOX_USER` (`userauth`),
            /// `LIBREVOX_TIMEOUT` (seconds: the connect and the reply
            /// timeout) and `LIBREVOX_JOB_TIMEOUT` (seconds). An invalid
            /// value is an [`Error::Config`](crate::Error::Config) naming the
            /// variable.
            pub fn from_env() -> $crate::Result<$ty> {
                $ty::from_env_with(|name| std::env::var(name).ok())
            }

            /// [`from_env`](Self::from_env) with the variables looked up by
            /// `lookup` (for tests, or a map read from elsewhere).
            pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> $crate::Result<$ty> {
                let vars = $crate::connection::EnvVars::read(lookup)?;
                let mut s = $ty::default();
                vars.endpoint(
                    &mut s.addr,
                    &mut s.password,
                    &mut s.user,
                    &mut s.connect_timeout,
                );
                s.config = vars.config();
                Ok(s)
            }
        }
    };
}
pub(crate) use endpoint_from_env;
