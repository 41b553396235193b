//! Writing your own application helper with `#[app]`: the function's
//! parameters become the method's, its body builds `execute-app-arg`, and
//! `returns` says what the call gives back.
//!
//! Runs by itself against the embedded simulator:
//!
//! ```sh
//! cargo run --example custom_app
//! ```
//!
//! Against a real FreeSWITCH: the `#[app]` helpers work on any outbound
//! `Session` (and on `CommandSocket::channel(uuid)`); serve `Bank` with
//! `librevox::start!(Bank(port = 8084))` and route a dialplan extension to
//! it with `socket <this-host>:8084 async full`.

use std::time::Duration;

use librevox::listener::{serve_outbound, OutboundSettings};
use librevox::prelude::*;
use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};
use librevox::{app, outbound};

/// Asks for a PIN with FreeSWITCH's `read`: at most `len` digits, `#` ends.
/// Returns the PIN (None when the caller typed nothing).
#[app(name = "read", returns = variable(var))]
pub fn ask_pin(prompt: &str, len: u32, var: &str) -> String {
    format!("{len} {len} {prompt} {var} 5000 #")
}

/// Sets a variable and returns the completion event (its `variable_*`
/// headers show the channel after the change).
#[app(name = "set", returns = event)]
pub fn tag(label: &str) -> String {
    format!("call_label={label}")
}

#[derive(Default)]
struct Bank;

#[outbound]
impl Bank {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        let pin = call.ask_pin("tone_stream://%(200,0,440)", 4, "pin").await?;
        let done = call.tag("bank").await?;
        println!("PIN {pin:?}; label now {:?}", done.variable("call_label"));
        call.hangup("").await
    }
}

#[tokio::main]
async fn main() -> librevox::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sim = Simulator::start(
        SimulatorConfig::default()
            .extension(Extension::socket("bank", &format!("{addr} async full"))),
    )
    .await?;
    let stop = librevox::Shutdown::new();
    let server = tokio::spawn(serve_outbound(
        listener,
        Bank::default,
        OutboundSettings::default(),
        stop.clone(),
    ));
    let call = sim.place_call(CallSpec::new("bank").input("4321"));
    sim.wait_for(Duration::from_secs(10), |s| s.channel(&call.uuid).is_none())
        .await?;
    stop.trigger();
    server.await.expect("server task")?;
    Ok(())
}
