//! Where FreeSWITCH is and how to log in: flags, profiles, environment.
//!
//! Each setting is taken from the first of these that has it:
//!
//! 1. the command-line flag (`--host`, `--port`, ...);
//! 2. the profile named by `-p NAME` (or `LIBREVOX_PROFILE`);
//! 3. the environment (`LIBREVOX_HOST`, `LIBREVOX_PORT`, `LIBREVOX_PASSWORD`,
//!    `LIBREVOX_USER`, `LIBREVOX_TIMEOUT`, `LIBREVOX_JOB_TIMEOUT`);
//! 4. the file's `default` profile;
//! 5. the built-in default (127.0.0.1:8021, password ClueCon, 10 s, 120 s).
//!
//! A profile you name is the switch you asked for, so it beats variables
//! left in the environment; the default profile does not.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use librevox::{CommandSocket, ConnectOptions, ConnectionConfig, Error};

use crate::config::{self, Profile};

/// The connection flags, accepted before or after any subcommand's name
/// (but before the command text of `api` and `bgapi`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ConnArgs {
    /// FreeSWITCH host [env: LIBREVOX_HOST] [default: 127.0.0.1]
    #[arg(long, global = true, value_name = "HOST", help_heading = "Connection")]
    pub(crate) host: Option<String>,
    /// Event socket port [env: LIBREVOX_PORT] [default: 8021]
    #[arg(long, global = true, value_name = "PORT", help_heading = "Connection")]
    pub(crate) port: Option<u16>,
    /// Event socket password [env: LIBREVOX_PASSWORD] [default: ClueCon]
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        help_heading = "Connection"
    )]
    pub(crate) password: Option<String>,
    /// Log in with `userauth` as `user@domain` [env: LIBREVOX_USER]
    #[arg(
        long,
        global = true,
        value_name = "USER@DOMAIN",
        help_heading = "Connection"
    )]
    pub(crate) user: Option<String>,
    /// Seconds to wait for the connection and for each reply [env: LIBREVOX_TIMEOUT] [default: 10]
    #[arg(long, global = true, value_name = "SECS", help_heading = "Connection")]
    pub(crate) timeout: Option<f64>,
    /// Seconds to wait for a background job (`bgapi`, `/bgapi`) or an
    /// originate's answer [env: LIBREVOX_JOB_TIMEOUT] [default: 120]
    #[arg(long, global = true, value_name = "SECS", help_heading = "Connection")]
    pub(crate) job_timeout: Option<f64>,
    /// Use the switch named NAME in the config file
    #[arg(
        short = 'p',
        long,
        global = true,
        env = "LIBREVOX_PROFILE",
        value_name = "NAME",
        help_heading = "Connection"
    )]
    pub(crate) profile: Option<String>,
    /// The profiles file [default: $XDG_CONFIG_HOME/librevox/config.toml]
    #[arg(
        long,
        global = true,
        env = "LIBREVOX_CONFIG",
        value_name = "FILE",
        help_heading = "Connection"
    )]
    pub(crate) config: Option<PathBuf>,
}

/// A switch to talk to, every setting decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) password: String,
    pub(crate) user: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) job_timeout: Duration,
    /// The profile it came from, if any (for the prompt).
    pub(crate) profile: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_parsed<T: std::str::FromStr>(name: &str, what: &str) -> Result<Option<T>, String> {
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v} is not {what}")),
    }
}

fn seconds(v: f64, what: &str) -> Result<Duration, String> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "{what} must be a positive number of seconds, not {v}"
        ))
    }
}

impl ConnArgs {
    /// Decides every setting (see the module documentation).
    pub(crate) fn resolve(&self) -> Result<Target, String> {
        let (path, explicit) = match &self.config {
            Some(p) => (Some(p.clone()), true),
            None => (config::default_path(), false),
        };
        let file = match &path {
            Some(p) => config::load(p, explicit)?,
            None => config::ConfigFile::default(),
        };
        let named = match &self.profile {
            None => None,
            Some(name) => match file.profiles.get(name) {
                Some(p) => Some((name.clone(), p.clone())),
                None => {
                    let where_ = path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the config file".into());
                    return Err(if file.profiles.is_empty() && !explicit {
                        format!("no profile `{name}`: {where_} does not define any")
                    } else {
                        format!("no profile `{name}` in {where_} ({})", config::names(&file))
                    });
                }
            },
        };
        let default = match (&named, &file.default) {
            (None, Some(d)) => file.profiles.get(d).map(|p| (d.clone(), p.clone())),
            _ => None,
        };
        let environment = Profile {
            host: env("LIBREVOX_HOST"),
            port: env_parsed("LIBREVOX_PORT", "a port number")?,
            password: env("LIBREVOX_PASSWORD"),
            user: env("LIBREVOX_USER"),
            timeout: env_parsed("LIBREVOX_TIMEOUT", "a number of seconds")?,
            job_timeout: env_parsed("LIBREVOX_JOB_TIMEOUT", "a number of seconds")?,
        };
        let flags = Profile {
            host: self.host.clone(),
            port: self.port,
            password: self.password.clone(),
            user: self.user.clone(),
            timeout: self.timeout,
            job_timeout: self.job_timeout,
        };
        let none = Profile::default();
        let layers = [
            &flags,
            named.as_ref().map_or(&none, |(_, p)| p),
            &environment,
            default.as_ref().map_or(&none, |(_, p)| p),
        ];
        macro_rules! pick {
            ($field:ident) => {
                layers.iter().find_map(|l| l.$field.clone())
            };
        }
        Ok(Target {
            host: pick!(host).unwrap_or_else(|| "127.0.0.1".into()),
            port: pick!(port).unwrap_or(8021),
            password: pick!(password).unwrap_or_else(|| "ClueCon".into()),
            user: pick!(user),
            timeout: seconds(pick!(timeout).unwrap_or(10.0), "the timeout")?,
            job_timeout: seconds(pick!(job_timeout).unwrap_or(120.0), "the job timeout")?,
            profile: named.or(default).map(|(n, _)| n),
        })
    }
}

impl Target {
    /// `host:port`, with brackets around an IPv6 host.
    pub(crate) fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// How the prompt and messages name the switch: `fs1 (10.0.0.1:8021)`
    /// or just the address.
    pub(crate) fn label(&self) -> String {
        match &self.profile {
            Some(p) => format!("{p} ({})", self.addr()),
            None => self.addr(),
        }
    }

    pub(crate) fn options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new(self.addr())
            .password(self.password.as_str())
            .connect_timeout(self.timeout)
            .config(ConnectionConfig {
                reply_timeout: self.timeout,
                job_timeout: self.job_timeout,
                ..ConnectionConfig::default()
            });
        if let Some(u) = &self.user {
            o = o.user(u.as_str());
        }
        o
    }

    /// Connects and logs in; the error says which address it tried.
    pub(crate) async fn connect(&self, keep_events: bool) -> Result<CommandSocket, String> {
        self.options()
            .keep_events(keep_events)
            .connect()
            .await
            .map_err(|e| self.connect_error(&e))
    }

    /// A connection failure, naming the address.
    pub(crate) fn connect_error(&self, e: &Error) -> String {
        let addr = self.addr();
        match e {
            Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "cannot connect to {addr}: connection refused (is FreeSWITCH running there, \
                 with mod_event_socket listening on that port?)"
            ),
            Error::Io(io) => format!("cannot connect to {addr}: {io}"),
            Error::Timeout { after, .. } => format!(
                "cannot connect to {addr}: no answer within {:.1} s (see --timeout)",
                after.as_secs_f64()
            ),
            Error::Auth { reply } => format!("{addr}: authentication failed: {reply}"),
            Error::Rejected { reason } => format!("{addr} refused the connection: {reason}"),
            other => format!("{addr}: {other}"),
        }
    }
}
