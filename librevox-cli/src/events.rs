//! `librevox events`: subscribe and print one event per line.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use librevox::listener::{run_inbound, Inbound, InboundListener, InboundSettings, Subscription};
use librevox::{Event, EventFormat};
use tokio_util::sync::CancellationToken;

use crate::decode::EventOut;
use crate::{parse_pair, ConnArgs, Output};

/// Arguments of `librevox events`.
#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    conn: ConnArgs,
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
    printed: AtomicU64,
    count: Option<u64>,
    done: CancellationToken,
}

/// The compact line: time, name, channel, caller → destination, details.
fn text_line(e: &Event) -> String {
    let mut line = String::new();
    let time = e.header("Event-Date-Local").unwrap_or("-");
    line.push_str(time);
    line.push(' ');
    line.push_str(e.name().unwrap_or("(no Event-Name)"));
    if let Some(sub) = e.subclass() {
        line.push(' ');
        line.push_str(sub);
    }
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
            Output::Text => text_line(event),
            Output::Json => serde_json::to_string(&EventOut::new(event)).unwrap_or_default(),
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

pub(crate) async fn run(args: EventsArgs) -> ExitCode {
    let names = if args.names.is_empty() {
        vec!["ALL".to_owned()]
    } else {
        // `CUSTOM a::b` may come as two words.
        let mut names = Vec::new();
        let mut custom = Vec::new();
        let mut in_custom = false;
        for n in &args.names {
            if n.eq_ignore_ascii_case("CUSTOM") {
                in_custom = true;
            } else if in_custom || n.contains("::") {
                custom.push(n.trim_start_matches("CUSTOM ").to_owned());
            } else {
                names.push(n.clone());
            }
        }
        if !custom.is_empty() {
            names.push(format!("CUSTOM {}", custom.join(" ")));
        }
        names
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
        printed: AtomicU64::new(0),
        count: args.count,
        done: done.clone(),
    });
    let mut options = args.conn.options();
    options.keep_events = true;
    let settings = InboundSettings {
        addr: options.addr.clone(),
        password: options.password.clone(),
        user: options.user.clone(),
        connect_timeout: options.connect_timeout,
        serial: true,
        give_up_on_refusal: true,
        config: options.config.clone(),
        ..InboundSettings::default()
    };
    let stop = done.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    match run_inbound(printer, settings, done).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(&e),
    }
}
