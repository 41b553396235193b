//! `librevox-loadtest`: reproducible load tests of librevox.
//!
//! Each workload runs the library and a raw-socket ceiling against the same
//! FreeSWITCH-side peer (a blaster, a responder or a dialer running on a
//! thread and runtime of its own), in the same run, and reports both and
//! their ratio. `--smoke` runs small versions that check correctness only
//! (every event counted, every call completed, no protocol error) and exits
//! non-zero otherwise.

mod bridge;
mod frames;
mod fs;
mod library;
mod memory;
mod metrics_cost;
mod raw;
mod soak;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use librevox::OverflowPolicy;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "librevox-loadtest",
    about = "Load tests of librevox against a fast FreeSWITCH-side peer, with a raw-socket ceiling"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Small runs that check correctness only (no timing assertion); exits
    /// non-zero on any lost event, failed call or protocol error.
    #[arg(long)]
    smoke: bool,
    /// Workloads to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
    /// Inbound: events pushed.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// api: sequential requests.
    #[arg(long, default_value_t = 20_000)]
    api_requests: usize,
    /// api: pipelined requests.
    #[arg(long, default_value_t = 200_000)]
    pipelined_requests: usize,
    /// api: requests in flight when pipelining.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Outbound: calls placed.
    #[arg(long, default_value_t = 2_000)]
    calls: usize,
    /// Outbound: calls at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Memory: calls parked in playback at once.
    #[arg(long, default_value_t = 10_000)]
    parked: usize,
    /// Memory: calls per back-to-back run (three runs).
    #[arg(long, default_value_t = 100_000)]
    memory_calls: usize,
    /// Only the library's inbound figure (no ceiling, no slow-consumer
    /// checks): for profiling.
    #[arg(long, hide = true)]
    profile_inbound: bool,
    /// With `--profile-inbound`: a Prometheus recorder records (the
    /// metrics-cost workload's, switched on).
    #[arg(long, hide = true)]
    profile_metrics: bool,
    /// Run only the library side of the outbound workload (`raw` for the
    /// ceiling's side), for a profiler.
    #[arg(long, value_name = "SIDE", hide = true)]
    profile_outbound: Option<String>,
    /// Run only one side of the sequential api workload (`lib` or `raw`;
    /// `lib-pipelined`, `raw-pipelined` for the pipelined one), for a
    /// profiler: prints the rate and the latency percentiles.
    #[arg(long, value_name = "SIDE", hide = true)]
    profile_api: Option<String>,
    /// Bridge: events through the JetStream bridge (run with `--only bridge`;
    /// needs a nats-server, see `$NATS_SERVER`).
    #[arg(long, default_value_t = 100_000)]
    bridge_events: usize,
    /// Run one side of the bridge workload once (`bridge` or `raw`), for a
    /// profiler.
    #[arg(long, value_name = "SIDE", hide = true)]
    profile_bridge: Option<String>,
    /// Soak: outbound calls placed (run with `--only soak`).
    #[arg(long, default_value_t = 1_000_000)]
    soak_calls: usize,
    /// Soak: outbound calls at once.
    #[arg(long, default_value_t = 1_000)]
    soak_concurrency: usize,
    /// Soak: the server's RSS is read after every this many calls.
    #[arg(long, default_value_t = 100_000)]
    soak_sample_every: usize,
    /// Soak: inbound events streamed (RSS read every tenth of them).
    #[arg(long, default_value_t = 10_000_000)]
    soak_events: usize,
    /// Repetitions of each throughput measurement (medians are reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Runtime flavours to run the inbound, api and outbound workloads on
    /// (default: both); the raw ceiling runs on the same flavour as the
    /// library it is compared with.
    #[arg(long, value_enum, value_delimiter = ',')]
    runtime: Vec<Flavour>,
}

/// The tokio runtime the library (and its ceiling) runs on.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// `#[tokio::main(flavor = "current_thread")]`: one thread.
    Current,
    /// `#[tokio::main]`, what most users write: one worker per CPU.
    Multi,
}

impl Flavour {
    fn label(self) -> &'static str {
        match self {
            Flavour::Current => "current-thread",
            Flavour::Multi => "multi-thread",
        }
    }

    /// The runtime `#[tokio::main]` of this flavour builds (the multi-thread
    /// one with a worker per CPU).
    fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Flavour::Current => tokio::runtime::Builder::new_current_thread(),
            Flavour::Multi => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
        .expect("runtime")
    }
}

/// `/proc/loadavg`'s three load averages (the machine is shared: every
/// figure is quoted with them).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// (internal) The library's outbound server in a process of its own,
    /// for the memory workload.
    #[command(hide = true)]
    ServeOutbound,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Inbound,
    /// The inbound workload with a Prometheus recorder and without,
    /// interleaved: the cost of metrics.
    InboundMetrics,
    Api,
    Outbound,
    Memory,
    /// Not part of the default set: a long run checking RSS stays flat.
    Soak,
    /// Not part of the default set (it needs a nats-server): events through
    /// the JetStream bridge against a raw async-nats publisher.
    Bridge,
}

/// Counts WARN and ERROR events logged (by the library) and prints them.
pub fn count_warnings() -> Arc<AtomicU64> {
    static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    COUNT
        .get_or_init(|| {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            use tracing_subscriber::Layer;
            let count = Arc::new(AtomicU64::new(0));
            struct Count(Arc<AtomicU64>);
            impl<S: tracing::Subscriber> Layer<S> for Count {
                fn on_event(
                    &self,
                    _event: &tracing::Event<'_>,
                    _ctx: tracing_subscriber::layer::Context<'_, S>,
                ) {
                    self.0.fetch_add(1, Ordering::Relaxed);
                }
            }
            let filter = tracing_subscriber::filter::LevelFilter::WARN;
            let _ = tracing_subscriber::registry()
                .with(Count(count.clone()).with_filter(filter))
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_filter(filter),
                )
                .try_init();
            count
        })
        .clone()
}

/// Runs `f` on a thread with a current-thread runtime of its own: the
/// FreeSWITCH side, kept off the runtime under test.
fn peer<F, Fut, T>(f: F) -> tokio::sync::oneshot::Receiver<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("freeswitch".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let _ = tx.send(rt.block_on(f()));
        })
        .expect("thread");
    rx
}

fn loopback_listener() -> (std::net::TcpListener, std::net::SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One line of the results table.
struct Row {
    workload: &'static str,
    runtime: &'static str,
    metric: String,
    library: String,
    ceiling: String,
    ratio: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// The runtime flavour the rows being added were measured on.
    runtime: &'static str,
    /// Warnings the runs were expected to log (the lossy policy's).
    expected_warnings: u64,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        workload: &'static str,
        metric: impl Into<String>,
        library: impl Into<String>,
        ceiling: impl Into<String>,
        ratio: impl Into<String>,
        target: impl Into<String>,
        met: Option<bool>,
    ) {
        self.rows.push(Row {
            workload,
            runtime: self.runtime,
            metric: metric.into(),
            library: library.into(),
            ceiling: ceiling.into(),
            ratio: ratio.into(),
            target: target.into(),
            met,
        });
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("CORRECTNESS FAILURE: {what}");
            self.failures.push(what);
        }
    }

    fn print(&self, smoke: bool) {
        println!();
        println!("| workload | runtime | metric | librevox | raw ceiling | ratio | target | |");
        println!("|---|---|---|---:|---:|---:|---|---|");
        for r in &self.rows {
            let met = match r.met {
                _ if smoke => "",
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.workload, r.runtime, r.metric, r.library, r.ceiling, r.ratio, r.target, met
            );
        }
        for n in &self.notes {
            println!();
            println!("{n}");
        }
    }
}

fn fmt_rate(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.0}k", x / 1000.0)
    } else {
        format!("{x:.0}")
    }
}

struct Sizes {
    events: usize,
    lossy_events: usize,
    api_requests: usize,
    pipelined_requests: usize,
    calls: usize,
    concurrency: usize,
    parked: usize,
    memory_calls: usize,
    repeat: usize,
    deadline: Duration,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let flavours = if cli.runtime.is_empty() {
        vec![Flavour::Current, Flavour::Multi]
    } else {
        cli.runtime.clone()
    };
    if let Some(Cmd::ServeOutbound) = cli.cmd {
        // The memory workload's server runs on what most users run.
        let rt = Flavour::Multi.runtime();
        return match rt.block_on(memory::serve_child()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("serve-outbound: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let sizes = if cli.smoke {
        Sizes {
            events: 3_000,
            lossy_events: 2_000,
            api_requests: 200,
            pipelined_requests: 2_000,
            calls: 100,
            concurrency: 20,
            parked: 50,
            memory_calls: 100,
            repeat: 1,
            deadline: Duration::from_secs(60),
        }
    } else {
        Sizes {
            events: cli.events,
            lossy_events: 20_000,
            api_requests: cli.api_requests,
            pipelined_requests: cli.pipelined_requests,
            calls: cli.calls,
            concurrency: cli.concurrency,
            parked: cli.parked,
            memory_calls: cli.memory_calls,
            repeat: cli.repeat.max(1),
            deadline: Duration::from_secs(300),
        }
    };
    let soak_sizes = if cli.smoke {
        soak::SoakSizes {
            calls: 3_000,
            concurrency: 300,
            sample_every: 1_000,
            events: 100_000,
            check_flat: false,
            deadline: Duration::from_secs(120),
        }
    } else {
        soak::SoakSizes {
            calls: cli.soak_calls,
            concurrency: cli.soak_concurrency,
            sample_every: cli.soak_sample_every,
            events: cli.soak_events,
            check_flat: true,
            deadline: Duration::from_secs(1_800),
        }
    };
    let all = cli.only.is_empty();
    let runs = |w: Workload| {
        (all && w != Workload::Soak && w != Workload::Bridge) || cli.only.contains(&w)
    };
    let bridge_events = if cli.smoke { 3_000 } else { cli.bridge_events };
    let warnings = count_warnings();
    machine();
    let mut report = Report::default();
    // The profiling and size modes run on the first flavour asked for.
    let rt = flavours[0].runtime();
    if std::env::var_os("LOADTEST_SIZES").is_some() {
        rt.block_on(async {
            let (a, _b) = tokio::io::duplex(64);
            let settings = librevox::OutboundSettings::default();
            let stats = Arc::new(library::OutboundStats::default());
            let fut =
                librevox::listener::run_outbound_session(a, library::Call::new(stats), &settings);
            println!(
                "run_outbound_session future: {} bytes",
                std::mem::size_of_val(&fut)
            );
            println!(
                "Message: {} bytes",
                std::mem::size_of::<librevox::Message>()
            );
            println!("Event: {} bytes", std::mem::size_of::<librevox::Event>());
            let (c, _d) = tokio::io::duplex(64);
            let (conn, _events) =
                librevox::Connection::new(c, librevox::ConnectionConfig::default());
            let session = librevox::Session::new(conn, librevox::Event::new("CHANNEL_DATA"), true);
            let exec = session
                .connection()
                .execute(librevox::protocol::SendMsg::execute("answer", ""));
            println!(
                "Connection::execute future: {} bytes",
                std::mem::size_of_val(&exec)
            );
            drop(exec);
            println!(
                "SendMsg: {} bytes, Command: {} bytes",
                std::mem::size_of::<librevox::protocol::SendMsg>(),
                std::mem::size_of::<librevox::protocol::Command>()
            );
            let app = session.application("answer", "");
            println!(
                "Session::application future: {} bytes",
                std::mem::size_of_val(&app)
            );
            let call = library::Call::new(Default::default());
            let main = librevox::listener::OutboundListener::session_initiated(&call, &session);
            println!(
                "workload session_initiated future: {} bytes",
                std::mem::size_of_val(&main)
            );
        });
        return std::process::ExitCode::SUCCESS;
    }
    if cli.profile_inbound {
        if cli.profile_metrics {
            metrics_cost::record(true);
        }
        rt.block_on(profile_inbound(sizes.events));
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(side) = &cli.profile_bridge {
        let rt = Flavour::Multi.runtime();
        let mut report = Report::default();
        rt.block_on(bridge::profile(
            &sizes,
            bridge_events,
            side == "raw",
            &mut report,
        ));
        report.print(true);
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(side) = &cli.profile_outbound {
        let mut report = Report::default();
        let script = Arc::new(frames::outbound_script());
        let run = rt.block_on(outbound_once(
            &sizes,
            &script,
            side != "raw",
            side == "hangup-only",
            &mut report,
        ));
        if let Some(run) = run {
            println!(
                "{:.0} sessions/s, app p50 {:.0} µs, p99 {:.0} µs",
                run.sessions_per_s,
                us(percentile(&run.latency, 0.5)),
                us(percentile(&run.latency, 0.99))
            );
        }
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(side) = &cli.profile_api {
        rt.block_on(profile_api(&sizes, cli.window, side));
        return std::process::ExitCode::SUCCESS;
    }
    drop(rt);
    for &flavour in &flavours {
        let rt = flavour.runtime();
        report.runtime = flavour.label();
        let before = load_average();
        let t = Instant::now();
        rt.block_on(async {
            if runs(Workload::Inbound) {
                inbound(&sizes, &mut report).await;
            }
            if runs(Workload::InboundMetrics) {
                metrics_cost::inbound_metrics(&sizes, &mut report).await;
            }
            if runs(Workload::Api) {
                api(&sizes, cli.window, &mut report).await;
            }
            if runs(Workload::Outbound) {
                outbound(&sizes, &mut report).await;
            }
        });
        if runs(Workload::Inbound)
            || runs(Workload::InboundMetrics)
            || runs(Workload::Api)
            || runs(Workload::Outbound)
        {
            report.notes.push(format!(
                "{}: {:.0} s, load average {before} before, {} after",
                flavour.label(),
                t.elapsed().as_secs_f64(),
                load_average()
            ));
        }
    }
    if runs(Workload::Memory) {
        // One server process on the multi-thread runtime (memory does not
        // depend on the flavour); the dialer runs on a peer thread.
        report.runtime = Flavour::Multi.label();
        let rt = Flavour::Multi.runtime();
        rt.block_on(memory(&sizes, &mut report));
    }
    if runs(Workload::Bridge) {
        // What `librevox bridge` runs on: the multi-thread runtime.
        report.runtime = Flavour::Multi.label();
        let rt = Flavour::Multi.runtime();
        let before = load_average();
        let t = Instant::now();
        rt.block_on(bridge::bridge(&sizes, bridge_events, &mut report));
        report.notes.push(format!(
            "bridge ({}): {:.0} s, load average {before} before, {} after",
            Flavour::Multi.label(),
            t.elapsed().as_secs_f64(),
            load_average()
        ));
    }
    if runs(Workload::Soak) {
        // Like memory: one process, the multi-thread runtime.
        report.runtime = Flavour::Multi.label();
        let rt = Flavour::Multi.runtime();
        rt.block_on(soak::soak(&soak_sizes, &mut report));
    }
    let logged = warnings.load(Ordering::Relaxed) - report.expected_warnings;
    report.check(
        logged == 0,
        format!("{logged} unexpected warnings/errors logged"),
    );
    report.print(cli.smoke);
    if report.failures.is_empty() {
        println!("\nall correctness checks passed");
        std::process::ExitCode::SUCCESS
    } else {
        println!("\n{} correctness check(s) failed:", report.failures.len());
        for f in &report.failures {
            println!("- {f}");
        }
        std::process::ExitCode::FAILURE
    }
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "machine: {threads} CPU(s), {cpu}; {rustc}; build: {}; load average {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        load_average()
    );
}

// ----- inbound -----

async fn blaster(
    cycle: &Arc<frames::InboundCycle>,
    n: usize,
) -> (std::net::SocketAddr, Arc<OnceLock<Instant>>) {
    let (l, addr) = loopback_listener();
    let started = Arc::new(OnceLock::new());
    let (c, s) = (cycle.clone(), started.clone());
    drop(peer(move || async move {
        let l = tokio::net::TcpListener::from_std(l).expect("listener");
        fs::inbound_blaster(l, c, n, s).await
    }));
    (addr, started)
}

/// CHANNEL_ANSWER events among the first `n` of the stream.
fn answers_in(cycle: &frames::InboundCycle, calls: usize, n: usize) -> u64 {
    let per = cycle.frame_ends.len();
    let full = n / per;
    let rest = n % per;
    (full * calls + rest.saturating_sub(calls).min(calls)) as u64
}

async fn inbound(sizes: &Sizes, report: &mut Report) {
    const CALLS: usize = 16;
    let cycle = Arc::new(frames::inbound_cycle(CALLS));
    let n = sizes.events;
    let avg_bytes = cycle.bytes.len() as f64 / cycle.frame_ends.len() as f64;
    println!(
        "inbound: {n} event frames, {avg_bytes:.0} bytes and {:.0} headers on average",
        cycle.avg_headers
    );
    let mut lib = Vec::new();
    let mut ceiling = Vec::new();
    for _ in 0..sizes.repeat {
        // Ceiling.
        let (addr, started) = blaster(&cycle, n).await;
        match tokio::time::timeout(sizes.deadline, raw::inbound(addr, n)).await {
            Ok(Ok(end)) => {
                let t = end - *started.get().expect("blaster started");
                ceiling.push(n as f64 / t.as_secs_f64());
            }
            other => report.check(false, format!("raw inbound client failed: {other:?}")),
        }
        // Library.
        let (addr, started) = blaster(&cycle, n).await;
        let state = library::InboundState::new(n as u64, None);
        let reached = library::inbound(addr, state.clone(), |_| {}, sizes.deadline).await;
        let count = state.count.load(Ordering::Acquire);
        report.check(reached, format!("inbound: {count} of {n} events handled"));
        report.check(
            state.dropped() == 0,
            format!("inbound: {} events dropped", state.dropped()),
        );
        let unusable = state.unusable.load(Ordering::Relaxed);
        report.check(
            unusable == 0,
            format!("inbound: {unusable} events unusable"),
        );
        let answered = state.answered.load(Ordering::Relaxed);
        let expected = answers_in(&cycle, CALLS, n);
        report.check(
            answered == expected,
            format!("inbound: {answered} CHANNEL_ANSWER hooks ran, expected {expected}"),
        );
        if let (Some(end), Some(start)) = (state.end.get(), started.get()) {
            lib.push(n as f64 / (*end - *start).as_secs_f64());
        }
    }
    let (l, c) = (median(lib), median(ceiling));
    report.row(
        "inbound",
        format!("events/s ({n} events, `#[inbound]` hook + `on_event`)"),
        fmt_rate(l),
        fmt_rate(c),
        format!("{:.2}", l / c),
        "≥ 0.5 × ceiling",
        Some(l / c >= 0.5),
    );

    // No loss under backpressure with a slow consumer; under DropNewest,
    // every drop counted.
    for (policy, label) in [
        (OverflowPolicy::Backpressure, "backpressure"),
        (OverflowPolicy::DropNewest, "DropNewest"),
    ] {
        let m = sizes.lossy_events;
        let (addr, _) = blaster(&cycle, m).await;
        let spin = match policy {
            OverflowPolicy::Backpressure => Duration::from_micros(10),
            _ => Duration::from_micros(50),
        };
        let state = library::InboundState::new(m as u64, Some(spin));
        let warned = count_warnings().load(Ordering::Relaxed);
        let reached = library::inbound(
            addr,
            state.clone(),
            move |s| {
                s.config.overflow = policy;
                s.config.event_capacity = 16;
                s.mailbox_capacity = 16;
                s.serial = true;
            },
            sizes.deadline,
        )
        .await;
        let handled = state.count.load(Ordering::Acquire);
        let dropped = state.dropped();
        if policy == OverflowPolicy::DropNewest {
            // It says so (at powers of two of the drop count).
            report.expected_warnings += count_warnings().load(Ordering::Relaxed) - warned;
        }
        report.check(
            reached && handled + dropped == m as u64,
            format!("{label}: {handled} handled + {dropped} dropped != {m} sent"),
        );
        if policy == OverflowPolicy::Backpressure {
            report.check(dropped == 0, format!("{label}: {dropped} dropped"));
        }
        report.row(
            "inbound",
            format!("slow consumer, {label}: handled + counted drops = sent"),
            format!("{handled} + {dropped}"),
            format!("{m}"),
            "",
            if policy == OverflowPolicy::Backpressure {
                "no drop"
            } else {
                "every drop counted"
            },
            Some(handled + dropped == m as u64),
        );
    }
}

async fn profile_inbound(n: usize) {
    let cycle = Arc::new(frames::inbound_cycle(16));
    let (addr, started) = blaster(&cycle, n).await;
    let state = library::InboundState::new(n as u64, None);
    library::inbound(addr, state.clone(), |_| {}, Duration::from_secs(300)).await;
    if let (Some(end), Some(start)) = (state.end.get(), started.get()) {
        println!("{:.0} events/s", n as f64 / (*end - *start).as_secs_f64());
    }
}

// ----- api -----

async fn api(sizes: &Sizes, window: usize, report: &mut Report) {
    let (l, addr) = loopback_listener();
    let stop = CancellationToken::new();
    let s = stop.clone();
    drop(peer(move || async move {
        let l = tokio::net::TcpListener::from_std(l).expect("listener");
        tokio::select! {
            _ = fs::api_responder(l) => {}
            _ = s.cancelled() => {}
        }
    }));
    let (n, m) = (sizes.api_requests, sizes.pipelined_requests);
    let mut seq = (Vec::new(), Vec::new());
    let mut pipe = (Vec::new(), Vec::new());
    let mut lat_lib = Vec::new();
    let mut lat_raw = Vec::new();
    for _ in 0..sizes.repeat {
        match raw::api_sequential(addr, n).await {
            Ok(lat) => {
                seq.1
                    .push(n as f64 / lat.iter().sum::<Duration>().as_secs_f64());
                lat_raw.extend(lat);
            }
            Err(e) => report.check(false, format!("raw api: {e}")),
        }
        match library::api_sequential(addr, n).await {
            Ok(lat) => {
                seq.0
                    .push(n as f64 / lat.iter().sum::<Duration>().as_secs_f64());
                lat_lib.extend(lat);
            }
            Err(e) => report.check(false, format!("library api: {e}")),
        }
        match raw::api_pipelined(addr, m, window).await {
            Ok(t) => pipe.1.push(m as f64 / t.as_secs_f64()),
            Err(e) => report.check(false, format!("raw pipelined api: {e}")),
        }
        match library::api_pipelined(addr, m, window).await {
            Ok(t) => pipe.0.push(m as f64 / t.as_secs_f64()),
            Err(e) => report.check(false, format!("library pipelined api: {e}")),
        }
    }
    stop.cancel();
    lat_lib.sort();
    lat_raw.sort();
    let (sl, sc) = (median(seq.0), median(seq.1));
    let (pl, pc) = (median(pipe.0), median(pipe.1));
    report.row(
        "api",
        format!("sequential `api status`, req/s ({n} requests)"),
        fmt_rate(sl),
        fmt_rate(sc),
        format!("{:.2}", sl / sc),
        "≥ 0.95 × ceiling",
        Some(sl / sc >= 0.95),
    );
    for (q, label, target) in [(0.5, "p50", ""), (0.99, "p99", "≤ 1.5 × ceiling")] {
        let (a, b) = (percentile(&lat_lib, q), percentile(&lat_raw, q));
        report.row(
            "api",
            format!("sequential latency {label}, µs"),
            format!("{:.1}", us(a)),
            format!("{:.1}", us(b)),
            format!("{:.2}", us(a) / us(b)),
            target,
            (!target.is_empty()).then(|| us(a) <= 1.5 * us(b)),
        );
    }
    report.row(
        "api",
        format!("pipelined, {window} in flight, req/s ({m} requests)"),
        fmt_rate(pl),
        fmt_rate(pc),
        format!("{:.2}", pl / pc),
        format!("≥ 10 × our sequential ({:.1} ×)", pl / sl),
        Some(pl >= 10.0 * sl),
    );
}

/// One side of the api workload alone (`--profile-api`), for `perf stat`
/// and `perf record`: its per-request figures then are that side's only.
async fn profile_api(sizes: &Sizes, window: usize, side: &str) {
    let (l, addr) = loopback_listener();
    drop(peer(move || async move {
        let l = tokio::net::TcpListener::from_std(l).expect("listener");
        fs::api_responder(l).await
    }));
    let (n, m) = (sizes.api_requests, sizes.pipelined_requests);
    let t = Instant::now();
    let lat = match side {
        "lib" => library::api_sequential(addr, n)
            .await
            .map_err(|e| e.to_string()),
        "raw" => raw::api_sequential(addr, n)
            .await
            .map_err(|e| e.to_string()),
        "lib-pipelined" | "raw-pipelined" => {
            let r = if side == "lib-pipelined" {
                library::api_pipelined(addr, m, window)
                    .await
                    .map_err(|e| e.to_string())
            } else {
                raw::api_pipelined(addr, m, window)
                    .await
                    .map_err(|e| e.to_string())
            };
            match r {
                Ok(t) => println!("{side}: {:.0} req/s", m as f64 / t.as_secs_f64()),
                Err(e) => println!("{side}: {e}"),
            }
            return;
        }
        other => {
            println!(
                "--profile-api: unknown side {other:?} (lib, raw, lib-pipelined, raw-pipelined)"
            );
            return;
        }
    };
    match lat {
        Ok(mut lat) => {
            lat.sort();
            println!(
                "{side}: {n} requests in {:.3} s, {:.0} req/s, p50 {:.1} µs, p99 {:.1} µs",
                t.elapsed().as_secs_f64(),
                n as f64 / lat.iter().sum::<Duration>().as_secs_f64(),
                us(percentile(&lat, 0.5)),
                us(percentile(&lat, 0.99))
            );
        }
        Err(e) => println!("{side}: {e}"),
    }
}

// ----- outbound -----

struct OutboundRun {
    sessions_per_s: f64,
    latency: Vec<Duration>,
    peak_handshakes: usize,
}

async fn dial_on_peer(
    plan: fs::DialPlan,
    script: Arc<frames::OutboundScript>,
    stats: Arc<fs::DialStats>,
) -> tokio::sync::oneshot::Receiver<Duration> {
    peer(move || fs::dial(plan, script, stats))
}

fn check_dial(report: &mut Report, who: &str, stats: &fs::DialStats, calls: usize) {
    let completed = stats.completed.load(Ordering::Relaxed);
    let errors = stats.protocol_errors.load(Ordering::Relaxed);
    report.check(
        completed == calls,
        format!("{who}: {completed} of {calls} calls completed"),
    );
    report.check(
        errors == 0,
        format!(
            "{who}: {errors} protocol errors (first: {:?})",
            stats.first_error.get()
        ),
    );
}

async fn outbound_once(
    sizes: &Sizes,
    script: &Arc<frames::OutboundScript>,
    use_library: bool,
    hangup_only: bool,
    report: &mut Report,
) -> Option<OutboundRun> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let addr = listener.local_addr().ok()?;
    let shutdown = CancellationToken::new();
    let lib_stats = Arc::new(library::OutboundStats::default());
    let raw_stats = Arc::new(raw::RawOutboundStats::default());
    let server = if use_library {
        tokio::spawn({
            let (s, t) = (lib_stats.clone(), shutdown.clone());
            async move {
                let _ = library::outbound_server(listener, s, t, hangup_only).await;
            }
        })
    } else {
        tokio::spawn(raw::outbound_server(
            listener,
            library::APPS,
            raw_stats.clone(),
            shutdown.clone(),
        ))
    };
    let plan = fs::DialPlan {
        addr,
        calls: sizes.calls,
        concurrency: sizes.concurrency,
        hold: None,
    };
    let dial_stats = Arc::new(fs::DialStats::default());
    let done = dial_on_peer(plan, script.clone(), dial_stats.clone()).await;
    let who = if use_library {
        "outbound"
    } else {
        "raw outbound"
    };
    let elapsed = match tokio::time::timeout(sizes.deadline, done).await {
        Ok(Ok(t)) => t,
        _ => {
            report.check(false, format!("{who}: the dialer did not finish"));
            shutdown.cancel();
            return None;
        }
    };
    // The server side counts a call after its socket closed: let it finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let settled = if use_library {
                lib_stats.completed.load(Ordering::Relaxed)
                    + lib_stats.errors.load(Ordering::Relaxed)
            } else {
                raw_stats.completed.load(Ordering::Relaxed)
                    + raw_stats.errors.load(Ordering::Relaxed)
            };
            if settled >= sizes.calls {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    check_dial(report, who, &dial_stats, sizes.calls);
    let (completed, errors, mut latency) = if use_library {
        let completed = lib_stats.completed.load(Ordering::Relaxed);
        let errors = lib_stats.errors.load(Ordering::Relaxed);
        if errors > 0 {
            eprintln!("first session error: {:?}", lib_stats.first_error.get());
        }
        let hangups = lib_stats.hangups.load(Ordering::Relaxed);
        report.check(
            hangups == sizes.calls as u64,
            format!(
                "{who}: {hangups} CHANNEL_HANGUP hooks for {} calls",
                sizes.calls
            ),
        );
        let latency = std::mem::take(&mut *lib_stats.app_latency.lock().unwrap());
        (completed, errors, latency)
    } else {
        let latency = std::mem::take(&mut *raw_stats.app_latency.lock().unwrap());
        (
            raw_stats.completed.load(Ordering::Relaxed),
            raw_stats.errors.load(Ordering::Relaxed),
            latency,
        )
    };
    report.check(
        completed == sizes.calls && errors == 0,
        format!("{who}: {completed} sessions completed, {errors} failed"),
    );
    latency.sort();
    Some(OutboundRun {
        sessions_per_s: sizes.calls as f64 / elapsed.as_secs_f64(),
        latency,
        peak_handshakes: dial_stats.peak_handshakes.load(Ordering::Relaxed),
    })
}

async fn outbound(sizes: &Sizes, report: &mut Report) {
    let script = Arc::new(frames::outbound_script());
    let mut lib = Vec::new();
    let mut ceiling = Vec::new();
    let mut light = Vec::new();
    for _ in 0..sizes.repeat {
        if let Some(r) = outbound_once(sizes, &script, false, false, report).await {
            ceiling.push(r);
        }
        if let Some(r) = outbound_once(sizes, &script, true, false, report).await {
            lib.push(r);
        }
        if let Some(r) = outbound_once(sizes, &script, true, true, report).await {
            light.push(r);
        }
    }
    if lib.is_empty() || ceiling.is_empty() {
        return;
    }
    let pick = |runs: &mut Vec<OutboundRun>| {
        runs.sort_by(|a, b| a.sessions_per_s.total_cmp(&b.sessions_per_s));
        runs.swap_remove(runs.len() / 2)
    };
    let (l, c) = (pick(&mut lib), pick(&mut ceiling));
    let light = (!light.is_empty()).then(|| pick(&mut light));
    report.row(
        "outbound",
        format!(
            "sessions/s ({} calls, {} at once; connect, myevents, linger, answer, playback, hangup)",
            sizes.calls, sizes.concurrency
        ),
        fmt_rate(l.sessions_per_s),
        fmt_rate(c.sessions_per_s),
        format!("{:.2}", l.sessions_per_s / c.sessions_per_s),
        "≥ 0.9 × ceiling",
        Some(l.sessions_per_s / c.sessions_per_s >= 0.9),
    );
    for (q, label, target) in [(0.5, "p50", ""), (0.99, "p99", "≤ 1.5 × ceiling")] {
        let (a, b) = (percentile(&l.latency, q), percentile(&c.latency, q));
        report.row(
            "outbound",
            format!("application round trip {label}, µs"),
            format!("{:.0}", us(a)),
            format!("{:.0}", us(b)),
            format!("{:.2}", us(a) / us(b)),
            target,
            (!target.is_empty()).then(|| us(a) <= 1.5 * us(b)),
        );
    }
    if let Some(h) = light {
        report.row(
            "outbound",
            "the same calls, listener without `on_event` (CHANNEL_HANGUP hook only): sessions/s",
            fmt_rate(h.sessions_per_s),
            fmt_rate(c.sessions_per_s),
            format!("{:.2}", h.sessions_per_s / c.sessions_per_s),
            "(information)",
            None,
        );
        let (a, b) = (percentile(&h.latency, 0.99), percentile(&c.latency, 0.99));
        report.row(
            "outbound",
            "the same, application round trip p99, µs",
            format!("{:.0}", us(a)),
            format!("{:.0}", us(b)),
            format!("{:.2}", us(a) / us(b)),
            "(information)",
            None,
        );
    }
    report.row(
        "outbound",
        "peak concurrent handshakes (connect → linger reply)",
        format!("{}", l.peak_handshakes),
        format!("{}", c.peak_handshakes),
        "",
        "not serialized (> 1)",
        Some(l.peak_handshakes > 1),
    );
}

// ----- memory -----

async fn memory(sizes: &Sizes, report: &mut Report) {
    let script = Arc::new(frames::outbound_script());
    // Peak with calls parked in playback.
    let Ok(mut server) = memory::ServerProcess::spawn().await else {
        report.check(false, "memory: cannot start the server process");
        return;
    };
    let idle = server.rss().await.unwrap_or_default();
    let (release, hold) = tokio::sync::watch::channel(false);
    let plan = fs::DialPlan {
        addr: server.addr,
        calls: sizes.parked,
        concurrency: sizes.parked,
        hold: Some(hold),
    };
    let stats = Arc::new(fs::DialStats::default());
    let done = dial_on_peer(plan, script.clone(), stats.clone()).await;
    let parked_all = tokio::time::timeout(sizes.deadline, async {
        while stats.parked.load(Ordering::Relaxed) < sizes.parked {
            if stats.protocol_errors.load(Ordering::Relaxed) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok();
    // Let the server settle (its last events handled) before reading.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let peak = server.rss().await.unwrap_or_default();
    let parked = stats.parked.load(Ordering::Relaxed);
    report.check(
        parked_all && parked == sizes.parked,
        format!("memory: {parked} of {} calls parked", sizes.parked),
    );
    let _ = release.send(true);
    let finished = tokio::time::timeout(sizes.deadline, done).await.is_ok();
    report.check(finished, "memory: parked calls did not finish");
    check_dial(report, "memory (parked)", &stats, sizes.parked);
    let after = server.rss().await.unwrap_or_default();
    report.check(
        after.completed == sizes.parked as u64 && after.errors == 0 && after.warnings == 0,
        format!(
            "memory (parked): server completed {} sessions, {} failed, {} warnings",
            after.completed, after.errors, after.warnings
        ),
    );
    server.quit().await;
    let per_call = peak.hwm_kib as f64 * 1024.0 / sizes.parked as f64;
    let per_call_delta =
        peak.hwm_kib.saturating_sub(idle.rss_kib) as f64 * 1024.0 / sizes.parked as f64;
    report.row(
        "memory",
        format!(
            "peak RSS (VmHWM) / parked calls ({} parked; idle server {} KiB, peak {} KiB)",
            sizes.parked, idle.rss_kib, peak.hwm_kib
        ),
        format!(
            "{:.1} KiB ({:.1} KiB above idle)",
            per_call / 1024.0,
            per_call_delta / 1024.0
        ),
        "",
        "",
        "≤ 16 KiB per call",
        Some(per_call <= 16.0 * 1024.0),
    );

    // No growth across back-to-back runs.
    let Ok(mut server) = memory::ServerProcess::spawn().await else {
        report.check(false, "memory: cannot start the server process");
        return;
    };
    let mut after_runs = Vec::new();
    for run in 1..=3 {
        let plan = fs::DialPlan {
            addr: server.addr,
            calls: sizes.memory_calls,
            concurrency: 100.min(sizes.memory_calls),
            hold: None,
        };
        let stats = Arc::new(fs::DialStats::default());
        let done = dial_on_peer(plan, script.clone(), stats.clone()).await;
        let finished = tokio::time::timeout(sizes.deadline, done).await.is_ok();
        report.check(finished, format!("memory: run {run} did not finish"));
        check_dial(
            report,
            &format!("memory run {run}"),
            &stats,
            sizes.memory_calls,
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = server.rss().await.unwrap_or_default();
        after_runs.push(r.rss_kib);
        if run == 3 {
            let expected = 3 * sizes.memory_calls as u64;
            report.check(
                r.completed == expected && r.errors == 0 && r.warnings == 0,
                format!(
                    "memory runs: server completed {} of {expected} sessions, {} failed, {} warnings",
                    r.completed, r.errors, r.warnings
                ),
            );
        }
    }
    server.quit().await;
    if let [first, _, third] = after_runs[..] {
        let growth = (third as f64 - first as f64) / first as f64;
        report.row(
            "memory",
            format!(
                "RSS after 3 back-to-back runs of {} calls (KiB)",
                sizes.memory_calls
            ),
            format!("{} / {} / {}", after_runs[0], after_runs[1], after_runs[2]),
            "",
            format!("{:+.1} %", growth * 100.0),
            "third within 5 % of first",
            Some(growth.abs() <= 0.05),
        );
    }
}
