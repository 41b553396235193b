//! `librevox`: fs_cli's everyday jobs over the librevox stack, plus a
//! FreeSWITCH simulator and an ESL byte-stream decoder.
//!
//! Data goes to standard output, progress and errors to standard error. The
//! exit status is 0 on success, 1 when FreeSWITCH refused something or a
//! connection failed, 2 on a usage error.

mod decode;
mod events;
mod sim;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use librevox::commands::{Commands, Originate};
use librevox::{CommandSocket, ConnectOptions, ConnectionConfig, Error};

/// fs_cli's everyday jobs, built on librevox: run API commands, tail events,
/// originate calls, run a FreeSWITCH simulator, decode captured ESL bytes.
#[derive(Parser, Debug)]
#[command(name = "librevox", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run an API command and print its output (`librevox api status`).
    Api {
        #[command(flatten)]
        conn: ConnArgs,
        /// The command and its arguments, e.g. `show channels`.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run an API command in the background and print the job's output.
    Bgapi {
        #[command(flatten)]
        conn: ConnArgs,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Subscribe to events and print one per line until interrupted;
    /// reconnects when FreeSWITCH restarts.
    Events(events::EventsArgs),
    /// Place a call and print the new channel's UUID.
    Originate {
        #[command(flatten)]
        conn: ConnArgs,
        /// The dial string, e.g. `sofia/gateway/trunk/5551234` or `user/1001`.
        endpoint: String,
        /// Where the answered call goes: an extension (`1000`) or an
        /// application (`&park()`, `&playback(/tmp/hello.wav)`).
        target: String,
        /// Dialplan for an extension target (default XML).
        #[arg(long)]
        dialplan: Option<String>,
        /// Context for an extension target.
        #[arg(long)]
        context: Option<String>,
        /// A channel variable for the new channel, `NAME=VALUE` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_pair)]
        vars: Vec<(String, String)>,
        /// Caller ID name.
        #[arg(long)]
        cid_name: Option<String>,
        /// Caller ID number.
        #[arg(long)]
        cid_number: Option<String>,
        /// Seconds to wait for an answer.
        #[arg(long)]
        answer_timeout: Option<u32>,
    },
    /// Run the FreeSWITCH simulator (inbound ESL on --port; optionally dial an
    /// outbound listener).
    Sim(sim::SimArgs),
    /// Decode a raw ESL byte stream (a file, or - for standard input) into one
    /// JSON object per frame.
    Decode {
        /// The file to read; `-` or nothing reads standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

/// Where FreeSWITCH is and how to log in.
#[derive(Args, Debug, Clone)]
struct ConnArgs {
    /// FreeSWITCH host.
    #[arg(long, env = "LIBREVOX_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Event socket port.
    #[arg(long, env = "LIBREVOX_PORT", default_value_t = 8021)]
    port: u16,
    /// Event socket password.
    #[arg(
        long,
        env = "LIBREVOX_PASSWORD",
        default_value = "ClueCon",
        hide_env_values = true
    )]
    password: String,
    /// Log in with `userauth` as `user@domain`.
    #[arg(long, env = "LIBREVOX_USER")]
    user: Option<String>,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, env = "LIBREVOX_TIMEOUT", default_value_t = 10.0)]
    timeout: f64,
}

impl ConnArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.001))
    }

    fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new(self.addr())
            .password(self.password.as_str())
            .connect_timeout(self.timeout())
            .config(ConnectionConfig {
                reply_timeout: self.timeout(),
                job_timeout: self.timeout(),
                ..ConnectionConfig::default()
            });
        if let Some(u) = &self.user {
            o = o.user(u.as_str());
        }
        o
    }

    async fn connect(&self) -> librevox::Result<CommandSocket> {
        self.options().connect().await
    }
}

/// Text format of `events` output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// A compact human-readable line per event.
    Text,
    /// One JSON object per event (headers in order, `_body` for the body).
    Json,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))
}

fn fail(e: &Error) -> ExitCode {
    match e {
        Error::CommandFailed { reply, .. } => eprintln!("{reply}"),
        Error::Auth { reply } => eprintln!("librevox: authentication failed: {reply}"),
        other => eprintln!("librevox: {other}"),
    }
    ExitCode::from(1)
}

fn print_body(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

fn init_logging() {
    let _ = librevox::listener::init_logging(&librevox::listener::LogOptions {
        file: None,
        level: Some("warn".into()),
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    if let Cmd::Decode { file } = &cli.command {
        return decode::run(file);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("librevox: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(cli.command))
}

async fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Api { conn, command } => {
            let result = async {
                let socket = conn.connect().await?;
                let out = socket.api(&command.join(" ")).await?;
                let _ = socket.close().await;
                Ok::<_, Error>(out.text().into_owned())
            }
            .await;
            match result {
                Ok(text) => {
                    print_body(&text);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Bgapi { conn, command } => {
            let result = async {
                let socket = conn.connect().await?;
                let job = socket.bgapi(&command.join(" ")).await?;
                eprintln!("job {}", job.uuid());
                let out = job.output().await?;
                let _ = socket.close().await;
                Ok::<_, Error>(out)
            }
            .await;
            match result {
                Ok(text) => {
                    print_body(&text);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Events(args) => events::run(args).await,
        Cmd::Originate {
            conn,
            endpoint,
            target,
            dialplan,
            context,
            vars,
            cid_name,
            cid_number,
            answer_timeout,
        } => {
            let mut o = Originate::new(endpoint);
            for (k, v) in vars {
                o = o.var(k, v);
            }
            o = match target.strip_prefix('&') {
                Some(app) => {
                    let (name, args) = match app.split_once('(') {
                        Some((n, rest)) => (n, rest.strip_suffix(')').unwrap_or(rest)),
                        None => (app, ""),
                    };
                    o.app(name, args)
                }
                None => {
                    let mut o = o.extension(target);
                    if let Some(d) = dialplan {
                        o = o.dialplan(d);
                    }
                    if let Some(c) = context {
                        o = o.context(c);
                    }
                    o
                }
            };
            if cid_name.is_some() || cid_number.is_some() {
                o = o.caller_id(cid_name.unwrap_or_default(), cid_number.unwrap_or_default());
            }
            if let Some(t) = answer_timeout {
                o = o.timeout(t);
            }
            eprintln!("{o}");
            let result = async {
                let socket = conn.connect().await?;
                let uuid = socket.originate(&o).await?;
                let _ = socket.close().await;
                Ok::<_, Error>(uuid)
            }
            .await;
            match result {
                Ok(uuid) => {
                    println!("{uuid}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Sim(args) => sim::run(args).await,
        Cmd::Decode { .. } => unreachable_decode(),
    }
}

fn unreachable_decode() -> ExitCode {
    // `decode` needs no runtime and is handled in `main`.
    ExitCode::from(2)
}
