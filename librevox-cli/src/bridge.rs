//! `librevox bridge`: the NATS JetStream bridge ([`librevox::bridge`]) as a
//! process: every event of N switches into one stream, api/bgapi by
//! request/reply, until SIGINT or SIGTERM.
//!
//! Each setting is taken from the first of these that has it:
//!
//! 1. the command-line flag;
//! 2. its environment variable (`NATS_URL`, `NATS_USER`, `NATS_PASSWORD`,
//!    `NATS_TOKEN`, `LIBREVOX_SWITCHES`, `LIBREVOX_STREAM`, `LIBREVOX_BRIDGE_*`);
//! 3. the bridge file (`--bridge-config FILE` or `LIBREVOX_BRIDGE_CONFIG`);
//! 4. the library's default ([`BridgeConfig::new`]).
//!
//! Switches: those of the file, then each `--switch NAME=HOST:PORT`; a flag
//! naming a switch of the file moves it to the new address (it keeps the
//! file's password). A switch without a password of its own takes the
//! connection settings' (`--password`, `LIBREVOX_PASSWORD`, a profile,
//! `ClueCon`), and its user likewise.
//!
//! ```toml
//! stream = "FREESWITCH"              # created if missing
//!
//! [nats]
//! url = "nats://10.0.0.5:4222"       # several: "nats://a:4222,nats://b:4222"
//! user = "bridge"                    # or token = "..."
//! password = "s3cret"
//!
//! [switches.fs1]
//! address = "10.0.0.1:8021"
//! password = "ClueCon"
//! # user = "1000@default"            # userauth instead of auth
//!
//! [switches.fs2]
//! address = "10.0.0.2:8021"
//!
//! [limits]                           # all optional
//! max_buffered_events = 100000       # per switch, while NATS is slow or down
//! max_buffered_bytes = 268435456     # per switch (256 MiB)
//! max_in_flight = 256                # publishes awaiting their ack, per switch
//! ack_timeout = 5                    # seconds before a publish is retried
//! request_timeout = 30               # seconds, every api/bgapi request
//! dedup_window = 120                 # seconds, of a stream the bridge creates
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use librevox::bridge::{Bridge, BridgeConfig, NatsAuth, SwitchConfig};
use librevox::fleet::SwitchName;
use serde::Deserialize;

use crate::conn::Target;

/// The flags of `librevox bridge`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct BridgeArgs {
    /// The bridge's TOML file (switches, NATS, stream, limits)
    #[arg(long, env = "LIBREVOX_BRIDGE_CONFIG", value_name = "FILE")]
    pub(crate) bridge_config: Option<PathBuf>,
    /// A switch, `NAME=HOST:PORT` (repeatable; NAME is the subject token,
    /// `freeswitch.NAME.event.…`) [env: LIBREVOX_SWITCHES, comma separated]
    #[arg(
        long = "switch",
        value_name = "NAME=HOST:PORT",
        env = "LIBREVOX_SWITCHES",
        value_delimiter = ',',
        hide_env = true
    )]
    pub(crate) switches: Vec<String>,
    /// The NATS server(s), comma separated [default: nats://127.0.0.1:4222]
    #[arg(long, env = "NATS_URL", value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// NATS user (with --nats-password)
    #[arg(long, env = "NATS_USER", value_name = "USER")]
    pub(crate) nats_user: Option<String>,
    /// NATS password
    #[arg(
        long,
        env = "NATS_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub(crate) nats_password: Option<String>,
    /// NATS token (instead of a user and password)
    #[arg(long, env = "NATS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub(crate) nats_token: Option<String>,
    /// The JetStream stream [default: FREESWITCH]
    #[arg(long, env = "LIBREVOX_STREAM", value_name = "NAME")]
    pub(crate) stream: Option<String>,
    /// Events buffered per switch while NATS is slow or down, before the
    /// bridge stops reading that switch [default: 100000]
    #[arg(long, env = "LIBREVOX_BRIDGE_MAX_BUFFERED_EVENTS", value_name = "N")]
    pub(crate) max_buffered_events: Option<usize>,
    /// Payload bytes buffered per switch [default: 268435456]
    #[arg(long, env = "LIBREVOX_BRIDGE_MAX_BUFFERED_BYTES", value_name = "BYTES")]
    pub(crate) max_buffered_bytes: Option<usize>,
    /// Publishes per switch awaiting their JetStream ack at once [default: 256]
    #[arg(long, env = "LIBREVOX_BRIDGE_MAX_IN_FLIGHT", value_name = "N")]
    pub(crate) max_in_flight: Option<usize>,
    /// Seconds a publish waits for its ack before it is retried [default: 5]
    #[arg(long, env = "LIBREVOX_BRIDGE_ACK_TIMEOUT", value_name = "SECS")]
    pub(crate) ack_timeout: Option<f64>,
    /// Seconds every api/bgapi request may take [default: 30]
    #[arg(long, env = "LIBREVOX_BRIDGE_REQUEST_TIMEOUT", value_name = "SECS")]
    pub(crate) request_timeout: Option<f64>,
    /// Serve Prometheus metrics, /health and /ready on ADDR (e.g.
    /// 127.0.0.1:9464) while running; ready = every switch connected and
    /// NATS reachable
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// Print the settings decided (passwords hidden) and exit
    #[arg(long)]
    pub(crate) check: bool,
}

/// The bridge file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeFile {
    stream: Option<String>,
    #[serde(default)]
    nats: NatsSection,
    #[serde(default)]
    switches: BTreeMap<String, SwitchSection>,
    #[serde(default)]
    limits: Limits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NatsSection {
    url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchSection {
    address: String,
    password: Option<String>,
    user: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    max_buffered_events: Option<usize>,
    max_buffered_bytes: Option<usize>,
    max_in_flight: Option<usize>,
    ack_timeout: Option<f64>,
    request_timeout: Option<f64>,
    dedup_window: Option<f64>,
}

fn load(path: &Path) -> Result<BridgeFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))
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

fn name(s: &str) -> Result<SwitchName, String> {
    SwitchName::new(s).map_err(|e| e.to_string())
}

impl BridgeArgs {
    /// Decides every setting (see the module documentation); `conn` gives
    /// the password and user of a switch that has none of its own.
    fn resolve(&self, conn: &Target) -> Result<BridgeConfig, String> {
        let file = match &self.bridge_config {
            Some(p) => load(p)?,
            None => BridgeFile::default(),
        };
        let url = self
            .nats
            .clone()
            .or(file.nats.url)
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
        let mut config = BridgeConfig::new(url);
        let user = self.nats_user.clone().or(file.nats.user);
        let password = self.nats_password.clone().or(file.nats.password);
        let token = self.nats_token.clone().or(file.nats.token);
        config.nats_auth = match (user, password, token) {
            (None, None, None) => NatsAuth::None,
            (Some(u), Some(p), None) => NatsAuth::UserPassword(u, p),
            (None, None, Some(t)) => NatsAuth::Token(t),
            (Some(_), None, None) => {
                return Err("a NATS user needs a password: add --nats-password \
                            (or NATS_PASSWORD, or `password` under [nats])"
                    .into())
            }
            (None, Some(_), None) => {
                return Err("a NATS password needs a user: add --nats-user \
                            (or NATS_USER, or `user` under [nats])"
                    .into())
            }
            _ => {
                return Err(
                    "NATS credentials: give a user and password, or a token, not both".into(),
                )
            }
        };
        if let Some(s) = self.stream.clone().or(file.stream) {
            config.stream = s;
        }
        for (n, s) in file.switches {
            let sw_name =
                name(&n).map_err(|e| format!("[switches.{n}] in the bridge file: {e}"))?;
            let mut sw = SwitchConfig::new(
                sw_name,
                s.address,
                s.password.unwrap_or_else(|| conn.password.clone()),
            );
            sw.user = s.user.or_else(|| conn.user.clone());
            config.switches.push(sw);
        }
        for flag in &self.switches {
            let (n, address) = flag.split_once('=').ok_or_else(|| {
                format!(
                    "--switch {flag}: expected NAME=HOST:PORT, e.g. --switch fs1=127.0.0.1:8021"
                )
            })?;
            let sw_name = name(n.trim()).map_err(|e| format!("--switch {flag}: {e}"))?;
            let address = address.trim();
            if address.is_empty() {
                return Err(format!(
                    "--switch {flag}: no address after `=`, e.g. --switch {n}=127.0.0.1:8021"
                ));
            }
            match config.switches.iter_mut().find(|s| s.name == sw_name) {
                Some(existing) => existing.address = address.to_owned(),
                None => {
                    let mut sw = SwitchConfig::new(sw_name, address, conn.password.clone());
                    sw.user = conn.user.clone();
                    config.switches.push(sw);
                }
            }
        }
        if config.switches.is_empty() {
            return Err("no switch to bridge: add --switch NAME=HOST:PORT \
                        (e.g. --switch fs1=127.0.0.1:8021) or [switches.NAME] in --bridge-config"
                .into());
        }
        let l = file.limits;
        if let Some(v) = self.max_buffered_events.or(l.max_buffered_events) {
            config.max_buffered_events = v;
        }
        if let Some(v) = self.max_buffered_bytes.or(l.max_buffered_bytes) {
            config.max_buffered_bytes = v;
        }
        if let Some(v) = self.max_in_flight.or(l.max_in_flight) {
            config.max_in_flight = v;
        }
        if config.max_buffered_events == 0 || config.max_in_flight == 0 {
            return Err("max_buffered_events and max_in_flight must be at least 1".into());
        }
        if let Some(v) = self.ack_timeout.or(l.ack_timeout) {
            config.ack_timeout = seconds(v, "the ack timeout")?;
        }
        if let Some(v) = self.request_timeout.or(l.request_timeout) {
            config.request_timeout = seconds(v, "the request timeout")?;
        }
        if let Some(v) = l.dedup_window {
            config.dedup_window = seconds(v, "the dedup window")?;
        }
        Ok(config)
    }
}

/// What `--check` prints: one `key = value` line per setting, passwords hidden.
fn describe(c: &BridgeConfig) -> String {
    let auth = match &c.nats_auth {
        NatsAuth::None => "none".to_owned(),
        NatsAuth::UserPassword(u, _) => format!("user {u} (password hidden)"),
        NatsAuth::Token(_) => "token (hidden)".to_owned(),
    };
    let mut out = format!(
        "nats = {}\nnats_auth = {auth}\nstream = {}\n",
        c.nats_url, c.stream
    );
    for s in &c.switches {
        out.push_str(&format!(
            "switch {} = {}{}\n",
            s.name,
            s.address,
            s.user
                .as_ref()
                .map(|u| format!(" (user {u})"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "max_buffered_events = {}\nmax_buffered_bytes = {}\nmax_in_flight = {}\n\
         ack_timeout = {:?}\nrequest_timeout = {:?}\ndedup_window = {:?}\n",
        c.max_buffered_events,
        c.max_buffered_bytes,
        c.max_in_flight,
        c.ack_timeout,
        c.request_timeout,
        c.dedup_window
    ));
    out
}

/// Runs the bridge until SIGINT/SIGTERM. Status lines go to standard error:
/// `librevox bridge: ready` once every switch is connected and NATS is
/// reachable, and the final counters, one line per switch. The exit status is
/// 1 when it could not start or when an event was never acknowledged.
pub(crate) async fn run(args: BridgeArgs, conn: &Target) -> ExitCode {
    let config = match args.resolve(conn) {
        Ok(c) => c,
        Err(msg) => return crate::usage(&msg),
    };
    if args.check {
        print!("{}", describe(&config));
        return ExitCode::SUCCESS;
    }
    let names: Vec<String> = config
        .switches
        .iter()
        .map(|s| format!("{} ({})", s.name, s.address))
        .collect();
    eprintln!(
        "librevox bridge: {} -> {}, stream {}",
        names.join(", "),
        config.nats_url,
        config.stream
    );
    if let Err(code) = crate::serve_metrics("bridge", args.metrics.as_deref()).await {
        return code;
    }
    let bridge = match Bridge::start(config).await {
        Ok(b) => b,
        Err(e) => return crate::fail_msg(&e.to_string()),
    };
    let stop = librevox::listener::shutdown_signal();
    tokio::pin!(stop);
    // Ready is reported once; later outages are logged by the library.
    let mut waited = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut stop => return finish(bridge).await,
            ready = bridge.wait_ready(Duration::from_secs(10)) => {
                if ready {
                    eprintln!("librevox bridge: ready");
                    break;
                }
                waited += Duration::from_secs(10);
                let down: Vec<String> = bridge
                    .stats()
                    .iter()
                    .filter(|s| !s.connected)
                    .map(|s| s.name.to_string())
                    .collect();
                eprintln!(
                    "librevox bridge: not ready after {} s (switches not connected: {})",
                    waited.as_secs(),
                    if down.is_empty() { "none; NATS unreachable".into() } else { down.join(", ") }
                );
            }
        }
    }
    stop.await;
    finish(bridge).await
}

async fn finish(bridge: Bridge) -> ExitCode {
    eprintln!("librevox bridge: stopping");
    let stats = bridge.stop().await;
    let mut dropped = 0;
    for s in &stats {
        dropped += s.dropped;
        eprintln!(
            "librevox bridge: {}: received {}, acknowledged {} (duplicates {}), retries {}, \
             dropped {}, connects {}",
            s.name, s.received, s.acked, s.duplicates, s.retries, s.dropped, s.connects
        );
    }
    if dropped > 0 {
        eprintln!("librevox bridge: {dropped} events were never acknowledged by JetStream");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        b: BridgeArgs,
    }

    fn conn() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 8021,
            password: "fromconn".into(),
            user: None,
            timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(120),
            profile: None,
        }
    }

    fn file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("librevox-bridge-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bridge.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn args(v: &[&str]) -> BridgeArgs {
        let mut argv = vec!["t"];
        argv.extend_from_slice(v);
        T::try_parse_from(argv).unwrap().b
    }

    #[test]
    fn the_minimal_form_is_flags_only() {
        let c = args(&["--switch", "fs1=127.0.0.1:8021", "--nats", "nats://h:4222"])
            .resolve(&conn())
            .unwrap();
        assert_eq!(c.nats_url, "nats://h:4222");
        assert_eq!(c.stream, "FREESWITCH");
        assert_eq!(c.switches.len(), 1);
        assert_eq!(c.switches[0].name.as_str(), "fs1");
        assert_eq!(c.switches[0].address, "127.0.0.1:8021");
        assert_eq!(c.switches[0].password, "fromconn");
        assert_eq!(c.max_buffered_events, 100_000);
    }

    #[test]
    fn flags_override_the_file_and_add_switches() {
        let p = file(
            "over",
            "stream = \"FS\"\n[nats]\nurl = \"nats://file:4222\"\nuser = \"u\"\npassword = \"p\"\n\
             [switches.fs1]\naddress = \"10.0.0.1:8021\"\npassword = \"one\"\n\
             [switches.fs2]\naddress = \"10.0.0.2:8021\"\n[limits]\nmax_in_flight = 7\nack_timeout = 2.5\n",
        );
        let c = args(&[
            "--bridge-config",
            p.to_str().unwrap(),
            "--switch",
            "fs1=127.0.0.1:9000",
            "--switch",
            "fs3=127.0.0.1:9003",
            "--stream",
            "OTHER",
        ])
        .resolve(&conn())
        .unwrap();
        assert_eq!(c.nats_url, "nats://file:4222");
        assert!(matches!(&c.nats_auth, NatsAuth::UserPassword(u, p) if u == "u" && p == "p"));
        assert_eq!(c.stream, "OTHER");
        let sw: Vec<(&str, &str, &str)> = c
            .switches
            .iter()
            .map(|s| (s.name.as_str(), s.address.as_str(), s.password.as_str()))
            .collect();
        assert_eq!(
            sw,
            [
                ("fs1", "127.0.0.1:9000", "one"),
                ("fs2", "10.0.0.2:8021", "fromconn"),
                ("fs3", "127.0.0.1:9003", "fromconn")
            ]
        );
        assert_eq!(c.max_in_flight, 7);
        assert_eq!(c.ack_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let e = args(&[]).resolve(&conn()).unwrap_err();
        assert!(e.contains("--switch NAME=HOST:PORT"), "{e}");
        let e = args(&["--switch", "127.0.0.1:8021"])
            .resolve(&conn())
            .unwrap_err();
        assert!(e.contains("expected NAME=HOST:PORT"), "{e}");
        let e = args(&["--switch", "fs.1=h:1"])
            .resolve(&conn())
            .unwrap_err();
        assert!(e.contains("invalid switch name \"fs.1\""), "{e}");
        let e = args(&["--switch", "fs1=h:1", "--nats-user", "u"])
            .resolve(&conn())
            .unwrap_err();
        assert!(e.contains("needs a password"), "{e}");
        let p = file("typo", "[switches.fs1]\nadress = \"h:1\"\n");
        let e = args(&["--bridge-config", p.to_str().unwrap()])
            .resolve(&conn())
            .unwrap_err();
        assert!(e.contains("adress") && e.contains("line 2"), "{e}");
        let e = args(&["--switch", "fs1=h:1", "--ack-timeout", "0"])
            .resolve(&conn())
            .unwrap_err();
        assert!(e.contains("positive number of seconds"), "{e}");
    }
}
