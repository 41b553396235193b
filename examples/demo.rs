//! The demo: a whole call, end to end, with no FreeSWITCH installed.
//!
//! ```sh
//! cargo run --example demo                          # embedded FreeSWITCH simulator
//! cargo run --example demo -- 10.0.0.5:8021 ClueCon 10.0.0.20
//! ```
//!
//! It runs, in one process:
//! * an **inbound listener** (written with `#[inbound]`) that connects to the
//!   switch and prints the call's events as they happen;
//! * an **outbound listener** (written with `#[outbound]`) that the switch
//!   hands the call to: answer, greeting, `play_and_get_digits`, bridge to
//!   `sofia/gateway/trunk/<digit>`;
//! * the **switch**: by default librevox's FreeSWITCH simulator, whose
//!   scripted caller presses `1`. With an address it talks to a real
//!   FreeSWITCH instead and places the call with
//!   `originate loopback/demo &socket(<this host>:<port> async full)`; the
//!   third argument is the address FreeSWITCH can reach this machine on
//!   (default 127.0.0.1).
//!
//! It exits once the call is over (or after 60 s).

use std::sync::Arc;
use std::time::Duration;

use librevox::apps::Digits;
use librevox::commands::Originate;
use librevox::listener::{run_inbound, serve_outbound, InboundSettings, OutboundSettings};
use librevox::prelude::*;
use librevox::simulator::{CallSpec, CallerScript, Extension, Simulator, SimulatorConfig};
use librevox::{event, inbound, outbound, CommandSocket};
use tokio::sync::Notify;

/// Prints the call's life as the switch reports it.
struct Monitor {
    subscribed: Arc<Notify>,
    call_over: Arc<Notify>,
}

#[inbound(events = [
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_BRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "DTMF"
])]
impl Monitor {
    async fn connection_completed(&self, ctx: &Inbound) {
        println!("[inbound]  connected to {} and subscribed", ctx.addr());
        self.subscribed.notify_one();
    }

    async fn on_event(&self, event: &Event) {
        let detail = match event.name() {
            Some("CHANNEL_EXECUTE") => format!(
                "{}({})",
                event.application().unwrap_or("?"),
                event.application_data().unwrap_or("")
            ),
            Some("CHANNEL_EXECUTE_COMPLETE") => format!(
                "{} -> {}",
                event.application().unwrap_or("?"),
                event.application_response().unwrap_or("")
            ),
            Some("DTMF") => format!("digit {}", event.header("DTMF-Digit").unwrap_or("?")),
            Some("CHANNEL_HANGUP") | Some("CHANNEL_HANGUP_COMPLETE") => event
                .hangup_cause()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            _ => event.header("Channel-Name").unwrap_or("").to_owned(),
        };
        println!("[inbound]  {:<25} {detail}", event.name().unwrap_or("?"));
    }

    #[event(channel_hangup_complete)]
    async fn over(&self) {
        self.call_over.notify_one();
    }
}

/// The IVR FreeSWITCH hands the call to.
#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        println!(
            "[outbound] call {} from {} to {}",
            call.uuid(),
            call.header("Caller-Caller-ID-Number").unwrap_or_default(),
            call.header("Caller-Destination-Number").unwrap_or_default()
        );
        call.answer().await?;
        call.playback("ivr/ivr-welcome_to_freeswitch.wav").await?;
        let digit = call
            .play_and_get_digits(
                "ivr/ivr-enter_ext.wav",
                "ivr/ivr-that_was_an_invalid_entry.wav",
                &Digits::new().max(1).timeout_ms(3000),
            )
            .await?;
        println!("[outbound] the caller pressed {digit:?}");
        match digit {
            Some(d) => {
                let done = call.bridge(format!("sofia/gateway/trunk/{d}")).await?;
                println!(
                    "[outbound] bridge finished ({})",
                    done.variable("bridge_hangup_cause")
                        .unwrap_or("the far end hung up")
                );
                // After a bridge the call stays up (parked) until someone
                // hangs it up.
                call.hangup("").await?;
            }
            None => call.hangup("NO_USER_RESPONSE").await?,
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> librevox::Result<()> {
    let _ = librevox::listener::init_logging(&librevox::listener::LogOptions {
        file: None,
        level: Some("warn".into()),
        ..Default::default()
    });
    let mut args = std::env::args().skip(1);
    let real_switch = args.next();
    let password = args.next().unwrap_or_else(|| "ClueCon".into());
    let reachable_host = args.next().unwrap_or_else(|| "127.0.0.1".into());

    // Our outbound listener, on a free port.
    let bind_host = if real_switch.is_some() {
        "0.0.0.0"
    } else {
        "127.0.0.1"
    };
    let listener = tokio::net::TcpListener::bind((bind_host, 0)).await?;
    let port = listener.local_addr()?.port();
    let stop = librevox::Shutdown::new();
    let outbound = tokio::spawn(serve_outbound(
        listener,
        Ivr::default,
        OutboundSettings::default(),
        stop.clone(),
    ));
    println!("[outbound] listening on {bind_host}:{port}");

    // The switch: the simulator, or a real FreeSWITCH.
    let (sim, switch_addr) = match &real_switch {
        None => {
            let sim = Simulator::start(
                SimulatorConfig {
                    listen: Some("127.0.0.1:0".parse().expect("address")),
                    password: password.clone(),
                    ..SimulatorConfig::default()
                }
                .extension(Extension::socket(
                    "5000",
                    &format!("127.0.0.1:{port} async full"),
                )),
            )
            .await?;
            let addr = sim.local_addr().expect("a TCP simulator").to_string();
            println!("[switch]   FreeSWITCH simulator on {addr}");
            (Some(sim), addr)
        }
        Some(addr) => {
            println!("[switch]   FreeSWITCH at {addr}");
            (None, addr.clone())
        }
    };

    // The inbound listener.
    let subscribed = Arc::new(Notify::new());
    let call_over = Arc::new(Notify::new());
    let inbound = tokio::spawn(run_inbound(
        Arc::new(Monitor {
            subscribed: subscribed.clone(),
            call_over: call_over.clone(),
        }),
        InboundSettings::new(switch_addr.clone()).password(password.as_str()),
        stop.clone(),
    ));

    // Place the call once the monitor is subscribed, so it sees every event.
    if tokio::time::timeout(Duration::from_secs(15), subscribed.notified())
        .await
        .is_err()
    {
        stop.trigger();
        return Err(librevox::Error::Timeout {
            what: "the inbound listener to connect and subscribe",
            after: Duration::from_secs(15),
        });
    }
    let socket = CommandSocket::connect(&switch_addr, password.as_str()).await?;
    match &sim {
        Some(sim) => {
            let script = CallerScript {
                inputs: vec!["1".into()],
                bridge_duration: Duration::from_millis(300),
                ..CallerScript::default()
            };
            let call = sim.place_call(CallSpec::new("5000").caller("1000").script(script));
            println!(
                "[switch]   the caller (1000) dials 5000: channel {}",
                call.uuid
            );
        }
        None => {
            let target = format!("{reachable_host}:{port} async full");
            let uuid = socket
                .originate(&Originate::new("loopback/demo").app("socket", target))
                .await?;
            println!("[switch]   originated {uuid}");
        }
    }

    let finished = tokio::time::timeout(Duration::from_secs(60), call_over.notified()).await;
    stop.trigger();
    let _ = socket.close().await;
    outbound.await.expect("outbound task")?;
    inbound.await.expect("inbound task")?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    match finished {
        Ok(()) => {
            println!("done: the call ran end to end");
            Ok(())
        }
        Err(_) => Err(librevox::Error::Timeout {
            what: "the demo call to finish",
            after: Duration::from_secs(60),
        }),
    }
}
