//! An outbound listener: FreeSWITCH hands each call to it from the dialplan
//! (`<action application="socket" data="127.0.0.1:8084 async full"/>`). An
//! IVR: answer, play a greeting, collect a digit, bridge to a gateway.
//!
//! Against the simulator (no FreeSWITCH needed), in two terminals:
//!
//! ```sh
//! cargo run --example outbound_listener                                      # listens on 8084
//! cargo run -p librevox-cli -- sim --dial 127.0.0.1:8084 --calls 1 --digits 1
//! ```
//!
//! Against a real FreeSWITCH: point a dialplan extension at this host with
//! `socket <this-host>:8084 async full`, start this example with
//! `-- 0.0.0.0:8084`, and call the extension.

use librevox::apps::Digits;
use librevox::prelude::*;
use librevox::{event, outbound, start};

/// One value per call: fields are per-call state.
#[derive(Default)]
struct Ivr {
    digit: std::sync::Mutex<Option<String>>,
}

#[outbound]
impl Ivr {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        println!(
            "call {} from {}",
            call.uuid(),
            call.header("Caller-Caller-ID-Number").unwrap_or_default()
        );
        call.answer().await?;
        call.playback("ivr/ivr-welcome_to_freeswitch.wav").await?;
        // Returns the digits the caller typed, None if nothing was typed.
        let digit = call
            .play_and_get_digits(
                "ivr/ivr-enter_ext.wav",
                "ivr/ivr-that_was_an_invalid_entry.wav",
                &Digits::new().max(1),
            )
            .await?;
        *self.digit.lock().unwrap() = digit.clone();
        match digit {
            Some(digit) => {
                let done = call.bridge(format!("sofia/gateway/trunk/{digit}")).await?;
                println!(
                    "bridge ended: {}",
                    done.variable("bridge_hangup_cause").unwrap_or("-")
                );
                // After the bridge the caller is still here: end the call.
                call.hangup("").await?;
            }
            None => call.hangup("NO_USER_RESPONSE").await?,
        }
        Ok(())
    }

    /// The session closes by itself once the call is over (after the
    /// disconnect-notice and CHANNEL_HANGUP_COMPLETE); this hook just reports.
    #[event(channel_hangup_complete)]
    async fn done(&self, event: &Event) {
        println!(
            "call ended ({}), digit {:?}",
            event
                .hangup_cause()
                .map_or("?".to_owned(), |c| c.to_string()),
            self.digit.lock().unwrap()
        );
    }
}

#[tokio::main]
async fn main() -> librevox::Result<()> {
    librevox::listener::init_logging(&Default::default())?;
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1".into());
    let host = bind.split(':').next().unwrap_or("127.0.0.1").to_owned();
    start!(Ivr(host = host, port = 8084)).await
}
