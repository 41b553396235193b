//! `#[app]`: every `returns`, the `name` option, an argument-less app, and
//! a fake application target that records what would be sent.

use librevox::{app, AppTarget, Event};
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Plays a file.
#[app]
pub fn playback(file: &str) -> String {
    file.to_owned()
}

/// Answers the call.
#[app]
fn answer() {}

#[app(name = "read", returns = variable(var))]
fn read_digits(min: u32, max: u32, file: &str, var: &str, timeout_ms: u32, terminators: &str) -> String {
    format!("{min} {max} {file} {var} {timeout_ms} {terminators}")
}

#[app(returns = variable("bridge_hangup_cause"))]
fn bridge(endpoint: impl Into<String>) -> String {
    endpoint.into()
}

#[app(name = "set", returns = event)]
fn set_var(mut name: String, value: &str) -> &'static str {
    name.push('=');
    let _ = (name, value);
    "x=y"
}

/// Records the applications it is asked to run and completes them at once.
#[derive(Default)]
struct Fake {
    sent: Mutex<Vec<(String, String)>>,
}

impl AppTarget for Fake {
    fn run_app(&self, app: &str, arg: String) -> impl Future<Output = librevox::Result<Event>> + Send {
        self.sent.lock().unwrap().push((app.to_owned(), arg));
        async {
            Ok(Event::new("CHANNEL_EXECUTE_COMPLETE")
                .with_header("variable_pin", "1234")
                .with_header("variable_bridge_hangup_cause", ""))
        }
    }
}

/// Polls a future that is ready at once (the fake never waits).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fake target never waits"),
    }
}

fn main() {
    let call = Fake::default();
    let () = now(call.playback("welcome.wav")).unwrap();
    let () = now(call.answer()).unwrap();
    let pin: Option<String> = now(call.read_digits(1, 4, "pin.wav", "pin", 5000, "#")).unwrap();
    assert_eq!(pin.as_deref(), Some("1234"));
    let cause: Option<String> = now(call.bridge("user/1000")).unwrap();
    assert_eq!(cause, None, "an empty variable is None");
    let event: Event = now(call.set_var("x".to_owned(), "y")).unwrap();
    assert_eq!(event.name(), Some("CHANNEL_EXECUTE_COMPLETE"));

    let sent = call.sent.lock().unwrap();
    let sent: Vec<(&str, &str)> = sent.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        sent,
        [
            ("playback", "welcome.wav"),
            ("answer", ""),
            ("read", "1 4 pin.wav pin 5000 #"),
            ("bridge", "user/1000"),
            ("set", "x=y"),
        ]
    );
}
