//! `start!` with inbound and outbound listeners and every option. The
//! future is built, not run.

use librevox::{inbound, outbound, start, Event, Session};

#[derive(Default)]
struct Monitor;

#[inbound(events = ["CHANNEL_HANGUP"])]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

#[derive(Default)]
struct Ivr;

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

mod other {
    #[derive(Default)]
    pub struct Remote;

    #[librevox::inbound]
    impl Remote {}
}

fn password() -> String {
    "from-the-environment".to_owned()
}

fn main() {
    let run = start!(Monitor, Ivr(port = 8085));
    drop(run);
    let run = librevox::start! {
        Monitor(host = "10.0.0.1", port = 8021, password = "secret"),
        other::Remote(host = "fs2.example.net", password = password(), user = "1000@default"),
        Ivr(host = "0.0.0.0"),
        Ivr(host = "::1", port = 8086),
    };
    drop(run);
    let addr = format!("127.0.0.1:{}", 9464);
    let run = start!(metrics = "127.0.0.1:9464", Monitor, Ivr);
    drop(run);
    let run = start!(metrics = addr, Monitor);
    drop(run);
    // Several switches, named or not, with shared credentials.
    let fs3 = String::from("10.0.0.3:8021");
    let run = start!(
        Monitor(hosts = ["10.0.0.1:8021", "fs2.example.net"]),
        other::Remote(hosts = [fs1 = "10.0.0.1:8021", fs3 = fs3.clone(), fs4 = &fs3], password = password()),
    );
    drop(run);
}
