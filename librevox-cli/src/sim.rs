//! `librevox sim`: the FreeSWITCH simulator as a stand-alone server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};

use crate::conn::Target;

/// Arguments of `librevox sim`. It serves on the connection settings'
/// host and port (`--port 0` picks a free port, printed on stderr) with
/// their password.
#[derive(Args, Debug)]
pub(crate) struct SimArgs {
    /// Outbound listener the simulated dialplan dials (`socket <addr> async full`).
    #[arg(long, value_name = "HOST:PORT")]
    dial: Option<String>,
    /// Number of calls to place to the outbound listener.
    #[arg(long, default_value_t = 0)]
    calls: usize,
    /// Digits the simulated caller types at each digit prompt, e.g.
    /// `--digits 1 --digits 42#` (first prompt 1, second 42#).
    #[arg(long)]
    digits: Vec<String>,
    /// Socket mode words for the dial (`async full`, `full`, `async`, or
    /// empty for sync single-channel).
    #[arg(long, default_value = "async full")]
    mode: String,
    /// Exit once the placed calls have ended (instead of serving until
    /// interrupted).
    #[arg(long)]
    exit_after_calls: bool,
    /// Serve Prometheus metrics, /health and /ready on ADDR (e.g.
    /// 127.0.0.1:9464) while running.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
}

pub(crate) async fn run(args: SimArgs, target: &Target) -> ExitCode {
    let listen: SocketAddr = match target.addr().parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "librevox sim: cannot serve on {}: {e} (--host takes an IP address)",
                target.addr()
            );
            return ExitCode::from(2);
        }
    };
    let mut config = SimulatorConfig {
        listen: Some(listen),
        password: target.password.clone(),
        ..SimulatorConfig::default()
    }
    // Answered, then parked: `originate loopback/park &park()` returns once
    // the far end answers, as on a real switch.
    .extension(Extension::new("park", &[("answer", ""), ("park", "")]));
    if let Some(dial) = &args.dial {
        config = config.extension(Extension::socket(
            "socket",
            format!("{dial} {}", args.mode).trim(),
        ));
    }
    if let Err(code) = crate::serve_metrics("sim", args.metrics.as_deref()).await {
        return code;
    }
    let sim = match Simulator::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("librevox sim: {e}");
            return ExitCode::from(1);
        }
    };
    match sim.local_addr() {
        Some(addr) => eprintln!(
            "librevox sim: FreeSWITCH simulator on {addr} (password {})",
            target.password
        ),
        None => eprintln!("librevox sim: FreeSWITCH simulator running"),
    }
    if args.calls > 0 && args.dial.is_none() {
        eprintln!("librevox sim: --calls needs --dial HOST:PORT (the outbound listener to call)");
        return ExitCode::from(2);
    }
    let mut uuids = Vec::new();
    for i in 0..args.calls {
        let mut spec = CallSpec::new("socket");
        for d in &args.digits {
            spec = spec.input(d);
        }
        let call = sim.place_call(spec);
        eprintln!("librevox sim: call {} placed: {}", i + 1, call.uuid);
        uuids.push(call.uuid.clone());
    }
    if args.exit_after_calls {
        let ended = sim
            .wait_for(Duration::from_secs(3600), |s| {
                uuids.iter().all(|u| s.channel(u).is_none())
            })
            .await;
        sim.shutdown().await;
        return match ended {
            Ok(()) => {
                eprintln!("librevox sim: all {} calls ended", args.calls);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("librevox sim: {e}");
                ExitCode::from(1)
            }
        };
    }
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("librevox sim: shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
