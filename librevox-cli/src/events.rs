//! `librevox events`: subscribe and print one event per line.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use librevox::listener::{run_inbound, Inbound, InboundListener, InboundSettings, Subscription};
use librevox::{Event, EventFormat};
use tokio_util::sync::CancellationToken;

use librevox::protocol::event_json;

use crate::conn::Target;
use crate::parse_pair;
use crate::style::{self, paint};

/// Text format of `events` output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// A compact human-readable line per event.
    Text,
    /// One JSON object per event: `{"headers": {...}, "body": ...}`, headers
    /// in FreeSWITCH's order, a repeated header as an array of its values,
    /// `body` null when there is none.
    Json,
}

/// Arguments of `librevox events`.
#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    /// Event names (default ALL); `CUSTOM sub::class` for custom events.
    names: Vec<String>,
    /// The format FreeSWITCH sends events in.
    #[arg(long, value_enum, default_value = "plain")]
    format: Format,
    /// Only events whose header has this value, `HEADER=VALUE` (repeatable;
    /// FreeSWITCH's `filter`).
    #[arg(long = "filter", value_name = "HEADER=VALUE", value_parser = parse_pair)]
    filters: Vec<(String, String)>,
    /// How to print each event.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Probe the switch with `api version` after SECS of silence and
    /// reconnect when it has not answered SECS later; 0 turns the probe off.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    liveness: f64,
    /// Serve Prometheus metrics, /health and /ready on ADDR (e.g.
    /// 127.0.0.1:9464) while running.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Plain,
    Json,
    Xml,
}

struct Printer {
    subscription: Subscription,
    output: Output,
    colors: bool,
    printed: AtomicU64,
    count: Option<u64>,
    done: CancellationToken,
}

/// `--liveness SECS`: probe after SECS of silence, give up SECS later.
fn liveness(secs: f64) -> Option<librevox::Liveness> {
    (secs > 0.0).then(|| {
        let d = std::time::Duration::from_secs_f64(secs.min(86_400.0));
        librevox::Liveness::new(d, d)
    })
}

/// The compact line: time, name, channel, caller → destination, details.
pub(crate) fn text_line(e: &Event, colors: bool) -> String {
    let mut line = String::new();
    let time = e.header("Event-Date-Local").unwrap_or("-");
    line.push_str(time);
    line.push(' ');
    let mut name = e.name().unwrap_or("(no Event-Name)").to_owned();
    if let Some(sub) = e.subclass() {
        name.push(' ');
        name.push_str(sub);
    }
    line.push_str(&paint(colors, style::event_name(), &name));
    if let Some(uuid) = e.unique_id() {
        line.push_str(&format!(" [{uuid}]"));
    }
    if let Some(name) = e.header("Channel-Name") {
        line.push_str(&format!(" {name}"));
    }
    if let (Some(from), Some(to)) = (
        e.header("Caller-Caller-ID-Number"),
        e.header("Caller-Destination-Number"),
    ) {
        line.push_str(&format!(" {from}->{to}"));
    }
    if let Some(state) = e.header("Channel-State") {
        line.push_str(&format!(" {state}"));
    }
    if let Some(app) = e.application() {
        line.push_str(&format!(" {app}({})", e.application_data().unwrap_or("")));
        if let Some(resp) = e.application_response() {
            line.push_str(&format!(" => {resp}"));
        }
    }
    if let Some(cause) = e.hangup_cause() {
        line.push_str(&format!(" cause={cause}"));
    }
    if let Some(digit) = e.header("DTMF-Digit") {
        line.push_str(&format!(" digit={digit}"));
    }
    if let Some(job) = e.job_uuid() {
        line.push_str(&format!(" job={job}"));
    }
    if let Some(body) = e.body_str() {
        let first = body.lines().next().unwrap_or("");
        line.push_str(&format!(" | {first}"));
    }
    line
}

impl InboundListener for Printer {
    fn subscription(&self) -> Subscription {
        self.subscription.clone()
    }

    async fn connection_completed(&self, ctx: &Inbound) {
        eprintln!(
            "librevox events: subscribed on {} ({})",
            ctx.addr(),
            self.subscription.events.join(" ")
        );
    }

    async fn reconnected(&self, ctx: &Inbound) {
        eprintln!(
            "librevox events: reconnected to {}; events fired while disconnected were missed",
            ctx.addr()
        );
    }

    async fn handle_event(&self, _ctx: &Inbound, event: &Event) {
        if self.done.is_cancelled() {
            return;
        }
        let line = match self.output {
            Output::Text => text_line(event, self.colors),
            Output::Json => event_json::to_string(event),
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        let n = self.printed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.count.is_some_and(|c| n >= c) {
            self.done.cancel();
        }
    }
}

/// Event names as `event` takes them: plain names first, then `CUSTOM`
/// and every subclass (FreeSWITCH reads every word after `CUSTOM` as a
/// subclass). `CUSTOM a::b` may come as one word or two.
pub(crate) fn subscription_names(words: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let mut custom = Vec::new();
    let mut in_custom = false;
    for w in words {
        for n in w.split_whitespace() {
            if n.eq_ignore_ascii_case("CUSTOM") {
                in_custom = true;
            } else if in_custom || n.contains("::") {
                custom.push(n.to_owned());
            } else if !names.iter().any(|x: &String| x.eq_ignore_ascii_case(n)) {
                names.push(n.to_owned());
            }
        }
    }
    if in_custom || !custom.is_empty() {
        names.push(format!("CUSTOM {}", custom.join(" ")).trim_end().to_owned());
    }
    names
}

pub(crate) async fn run(args: EventsArgs, target: &Target) -> ExitCode {
    let names = if args.names.is_empty() {
        vec!["ALL".to_owned()]
    } else {
        subscription_names(&args.names)
    };
    let format = match args.format {
        Format::Plain => EventFormat::Plain,
        Format::Json => EventFormat::Json,
        Format::Xml => EventFormat::Xml,
    };
    let done = CancellationToken::new();
    let printer = Arc::new(Printer {
        subscription: Subscription {
            events: names,
            format,
            filters: args.filters,
        },
        output: args.output,
        colors: args.output == Output::Text && style::stdout_colors(),
        printed: AtomicU64::new(0),
        count: args.count,
        done: done.clone(),
    });
    let mut options = target.options();
    options.keep_events = true;
    let settings = InboundSettings {
        addr: options.addr.clone(),
        password: options.password.clone(),
        user: options.user.clone(),
        connect_timeout: options.connect_timeout,
        serial: true,
        give_up_on_refusal: true,
        config: librevox::ConnectionConfig {
            liveness: liveness(args.liveness),
            ..options.config.clone()
        },
        ..InboundSettings::default()
    };
    if let Err(code) = crate::serve_metrics("events", args.metrics.as_deref()).await {
        return code;
    }
    let stop = done.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    match run_inbound(printer, settings, done).await {
        Ok(()) => ExitCode::SUCCESS,
        // Which command FreeSWITCH refused matters here (`fail` prints only
        // the reply, as fs_cli does for `api`).
        Err(e @ librevox::Error::CommandFailed { .. }) => {
            eprintln!("librevox: {e}");
            ExitCode::from(1)
        }
        Err(e) => crate::fail(&e),
    }
}
