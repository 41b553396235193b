//! `librevox`: an fs_cli replacement over the librevox stack (an interactive
//! console, one-shot API commands, event tailing, originate), plus a
//! FreeSWITCH simulator and an ESL byte-stream decoder.
//!
//! Data goes to standard output, progress and errors to standard error. The
//! exit status is 0 on success, 1 when FreeSWITCH refused something or a
//! connection failed, 2 on a usage error.

mod bridge;
mod config;
mod conn;
mod console;
mod decode;
mod events;
mod sim;
mod style;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use librevox::commands::{Commands, Originate};
use librevox::Error;

use conn::{ConnArgs, Target};

/// An fs_cli replacement built on librevox. With no subcommand it opens an
/// interactive console on the switch: FreeSWITCH commands with tab
/// completion and history, /log and /event streams, reconnecting when the
/// switch restarts.
#[derive(Parser, Debug)]
#[command(
    name = "librevox",
    version,
    about,
    long_about = None,
    after_help = "Connection settings come from the flags, then the profile named by -p, then \
                  LIBREVOX_* variables, then the config file's default profile."
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    console: console::ConsoleArgs,
    /// How warnings and errors are logged on stderr: `text`, or `json`
    /// (one JSON object per line, with the spans and their fields).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormatArg,
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Open the interactive console (what `librevox` alone does).
    Console(console::ConsoleArgs),
    /// Run an API command and print its output (`librevox api status`).
    ///
    /// Everything after the command's first word is sent to FreeSWITCH, so
    /// connection flags go before it; a word that looks like a flag there is
    /// refused unless `--` comes first (`librevox api -- cmd --its-flag`).
    Api {
        /// The command and its arguments, e.g. `show channels`.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Run an API command in the background and print the job's output,
    /// waiting up to --job-timeout (120 s) for it.
    Bgapi {
        /// The command and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Subscribe to events and print one per line until interrupted;
    /// reconnects when FreeSWITCH restarts.
    Events(events::EventsArgs),
    /// Place a call and print the new channel's UUID (waits up to
    /// --job-timeout for the answer).
    Originate {
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
    /// Run the FreeSWITCH simulator, serving inbound ESL on --host/--port
    /// with --password (so `librevox` with the same flags or profile talks
    /// to it); optionally dial an outbound listener.
    Sim(sim::SimArgs),
    /// Publish every event of one or more switches into NATS JetStream and
    /// answer api/bgapi requests from NATS, until SIGINT or SIGTERM
    /// (`librevox bridge --switch fs1=127.0.0.1:8021 --nats nats://127.0.0.1:4222`).
    ///
    /// Settings: flags, then NATS_*/LIBREVOX_* variables, then the
    /// --bridge-config file. A switch without its own password uses
    /// --password (LIBREVOX_PASSWORD, a profile, ClueCon). Prints
    /// `librevox bridge: ready` on standard error once every switch is
    /// connected and NATS reachable, and each switch's counters at the end.
    Bridge(bridge::BridgeArgs),
    /// Decode a raw ESL byte stream (a file, or - for standard input) into one
    /// JSON object per frame.
    Decode {
        /// The file to read; `-` or nothing reads standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print a shell completion script (`librevox completions bash >
    /// ~/.local/share/bash-completion/completions/librevox`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (`librevox man > ~/.local/share/man/man1/librevox.1`).
    Man,
}

pub(crate) fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))
}

/// Prints an error the way every subcommand does and returns status 1.
/// `--metrics ADDR`: serve Prometheus metrics, `/health` and `/ready` on
/// ADDR while the command runs; says where on stderr (the port, when ADDR
/// asks for port 0).
pub(crate) async fn serve_metrics(cmd: &str, addr: Option<&str>) -> Result<(), ExitCode> {
    let Some(addr) = addr else {
        return Ok(());
    };
    match librevox::telemetry::serve(addr).await {
        Ok(server) => {
            eprintln!(
                "librevox {cmd}: metrics on http://{}/metrics (also /health, /ready)",
                server.local_addr()
            );
            Ok(())
        }
        Err(e) => Err(fail(&e)),
    }
}

pub(crate) fn fail(e: &Error) -> ExitCode {
    match e {
        Error::CommandFailed { reply, .. } => eprintln!("{reply}"),
        other => eprintln!("librevox: {other}"),
    }
    ExitCode::from(1)
}

fn fail_msg(msg: &str) -> ExitCode {
    eprintln!("librevox: {msg}");
    ExitCode::from(1)
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("librevox: {msg}");
    ExitCode::from(2)
}

pub(crate) fn print_body(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

/// Warnings only (RUST_LOG overrides), but `info` for the bridge: a
/// long-running service whose NATS and switch outages its operator wants to see.
fn init_logging(level: &str, format: LogFormatArg) {
    let _ = librevox::listener::init_logging(&librevox::listener::LogOptions {
        file: None,
        level: Some(level.into()),
        format: match format {
            LogFormatArg::Text => librevox::listener::LogFormat::Text,
            LogFormatArg::Json => librevox::listener::LogFormat::Json,
        },
    });
}

/// The command text of `api`/`bgapi`, refusing a word that looks like one
/// of our flags unless the user wrote `--` before the command: a flag
/// written after the command would otherwise go to FreeSWITCH as text.
fn command_text(words: &[String], argv: &[OsString]) -> Result<String, String> {
    let escaped = argv.iter().any(|a| a == "--");
    let looks_like_flag = |w: &str| {
        w.len() > 1
            && w.starts_with('-')
            && !w[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
    };
    if !escaped {
        if let Some(i) = (1..words.len()).find(|&i| looks_like_flag(&words[i])) {
            let flag = &words[i];
            let sub = argv
                .iter()
                .filter_map(|a| a.to_str())
                .find(|a| *a == "api" || *a == "bgapi")
                .unwrap_or("api");
            // The flag and its value, moved before the command.
            let takes_value =
                !flag.contains('=') && words.get(i + 1).is_some_and(|v| !looks_like_flag(v));
            let moved = if takes_value { i..i + 2 } else { i..i + 1 };
            let rest: Vec<&str> = (0..words.len())
                .filter(|j| !moved.contains(j))
                .map(|j| words[j].as_str())
                .collect();
            return Err(format!(
                "`{flag}` comes after the command, so it would be sent to FreeSWITCH as part \
                 of it.\n  Put connection flags before the command:  librevox {sub} {} {}\n  \
                 or write `--` to send the text as it is:  librevox {sub} -- {}",
                words[moved].join(" "),
                rest.join(" "),
                words.join(" ")
            ));
        }
    }
    Ok(words.join(" "))
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&argv);
    init_logging(
        if matches!(cli.command, Some(Cmd::Bridge(_))) {
            "info"
        } else {
            "warn"
        },
        cli.log_format,
    );
    match &cli.command {
        Some(Cmd::Decode { file }) => return decode::run(file),
        Some(Cmd::Completions { shell }) => {
            // Into a buffer first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "librevox", &mut script);
            return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail_msg(&format!("cannot write the completion script: {e}")),
            };
        }
        Some(Cmd::Man) => {
            return match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail_msg(&format!("cannot write the manual page: {e}")),
            };
        }
        _ => {}
    }
    let target = match cli.conn.resolve() {
        Ok(t) => t,
        Err(msg) => return usage(&msg),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail_msg(&format!("cannot start the runtime: {e}")),
    };
    match cli.command {
        None => console::run(&rt, target, cli.console),
        Some(Cmd::Console(args)) => console::run(&rt, target, args),
        Some(Cmd::Sim(args)) => rt.block_on(sim::run(args, &target)),
        Some(Cmd::Events(args)) => rt.block_on(events::run(args, &target)),
        Some(Cmd::Bridge(args)) => rt.block_on(bridge::run(args, &target)),
        Some(cmd) => rt.block_on(run(cmd, &target, &argv)),
    }
}

async fn run(cmd: Cmd, target: &Target, argv: &[OsString]) -> ExitCode {
    match cmd {
        Cmd::Api { command } => {
            let command = match command_text(&command, argv) {
                Ok(c) => c,
                Err(msg) => return usage(&msg),
            };
            let socket = match target.connect(false).await {
                Ok(s) => s,
                Err(msg) => return fail_msg(&msg),
            };
            match socket.api(&command).await {
                Ok(out) => {
                    print_body(&out.text());
                    let _ = socket.close().await;
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Bgapi { command } => {
            let command = match command_text(&command, argv) {
                Ok(c) => c,
                Err(msg) => return usage(&msg),
            };
            let socket = match target.connect(false).await {
                Ok(s) => s,
                Err(msg) => return fail_msg(&msg),
            };
            let result = async {
                let job = socket.bgapi(&command).await?;
                eprintln!("job {}", job.uuid());
                job.output().await
            }
            .await;
            match result {
                Ok(text) => {
                    print_body(&text);
                    let _ = socket.close().await;
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Originate {
            endpoint,
            target: to,
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
            o = match to.strip_prefix('&') {
                Some(app) => {
                    let (name, args) = match app.split_once('(') {
                        Some((n, rest)) => (n, rest.strip_suffix(')').unwrap_or(rest)),
                        None => (app, ""),
                    };
                    o.app(name, args)
                }
                None => {
                    let mut o = o.extension(to);
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
            let socket = match target.connect(false).await {
                Ok(s) => s,
                Err(msg) => return fail_msg(&msg),
            };
            // `api originate` answers when the call is answered: a job.
            let conn = socket.connection().with_timeout(target.job_timeout);
            match conn.originate(&o).await {
                Ok(uuid) => {
                    println!("{uuid}");
                    let _ = socket.close().await;
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Console(_)
        | Cmd::Sim(_)
        | Cmd::Events(_)
        | Cmd::Bridge(_)
        | Cmd::Decode { .. }
        | Cmd::Completions { .. }
        | Cmd::Man => unreachable!("dispatched in main"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    fn argv(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn a_flag_after_the_command_is_refused_with_the_two_ways_out() {
        let e = command_text(
            &words("status --port 18999"),
            &argv("librevox api status --port 18999"),
        )
        .unwrap_err();
        assert!(e.starts_with("`--port` comes after the command"), "{e}");
        assert!(e.contains("librevox api --port 18999 status\n"), "{e}");
        assert!(e.contains("librevox api -- status --port 18999"), "{e}");
    }

    #[test]
    fn text_after_a_double_dash_and_numbers_pass() {
        assert_eq!(
            command_text(&words("x --y"), &argv("librevox api -- x --y")).unwrap(),
            "x --y"
        );
        assert_eq!(
            command_text(
                &words("uuid_setvar u v -1"),
                &argv("librevox api uuid_setvar u v -1")
            )
            .unwrap(),
            "uuid_setvar u v -1"
        );
        assert_eq!(
            command_text(&words("echo -"), &argv("librevox api echo -")).unwrap(),
            "echo -"
        );
    }

    #[test]
    fn the_cli_model_is_consistent() {
        Cli::command().debug_assert();
    }
}
