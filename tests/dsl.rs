//! The DSL end to end: `#[app]` helpers defined here running on a real
//! session, input applications returning what the simulated caller typed,
//! and the hook dispatch `#[outbound]` writes.

use std::time::Duration;

use librevox::listener::Session;
use librevox::simulator::{CallSpec, CallerScript};
use librevox::{app, event, outbound, Event};
use tokio::sync::mpsc;

use crate::outbound::Rig;
use crate::support::*;

/// Answers the call.
#[app]
fn answer() {}

/// `read <min> <max> <file> <var> <timeout> <terminators>`: the digits, or
/// `None` when the caller typed nothing.
#[app(name = "read", returns = variable(var))]
fn read_digits(
    min: u32,
    max: u32,
    file: &str,
    var: &str,
    timeout_ms: u32,
    terminators: &str,
) -> String {
    format!("{min} {max} {file} {var} {timeout_ms} {terminators}")
}

/// `play_and_get_digits`, every argument.
#[app(returns = variable(var))]
#[allow(clippy::too_many_arguments)]
fn play_and_get_digits(
    min: u32,
    max: u32,
    tries: u32,
    timeout_ms: u32,
    terminators: &str,
    file: &str,
    invalid_file: &str,
    var: &str,
    regex: &str,
    digit_timeout_ms: u32,
) -> String {
    format!(
        "{min} {max} {tries} {timeout_ms} {terminators} {file} {invalid_file} {var} {regex} {digit_timeout_ms}"
    )
}

/// `set name=value`, returning the completion event.
#[app(name = "set", returns = event)]
fn set_var(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// A variable by a fixed name.
#[app(name = "bridge", returns = variable("originate_disposition"))]
fn bridge_to(endpoint: &str) -> String {
    endpoint.to_owned()
}

// ----- input applications -----

struct Menu {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Menu {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        let pin = call.read_digits(1, 4, "pin.wav", "pin", 500, "#").await?;
        let _ = self.seen.send(format!("pin {pin:?}"));
        let nothing = call
            .read_digits(1, 4, "silence_stream://10", "nothing", 50, "#")
            .await?;
        let _ = self.seen.send(format!("timeout {nothing:?}"));
        let choice = call
            .play_and_get_digits(
                2,
                2,
                2,
                200,
                "#",
                "menu.wav",
                "invalid.wav",
                "choice",
                "^\\d{2}$",
                200,
            )
            .await?;
        let _ = self.seen.send(format!(
            "choice {choice:?} after invalid {:?}",
            call.variable("choice_invalid")
        ));
        let none = call
            .play_and_get_digits(
                1,
                3,
                1,
                50,
                "#",
                "menu.wav",
                "invalid.wav",
                "late",
                "\\d+",
                50,
            )
            .await?;
        let _ = self.seen.send(format!("pagd timeout {none:?}"));
        // The plain form: the completion event carries the variable.
        let done = call.application("read", "1 5 pin.wav ext 500 #").await?;
        let _ = self.seen.send(format!(
            "raw {:?} {:?}",
            done.variable("ext"),
            done.variable("read_terminator_used")
        ));
        let set: Event = call.set_var("colour", "blue").await?;
        let _ = self.seen.send(format!(
            "set {:?} session {:?}",
            set.application_data(),
            call.variable("colour")
        ));
        let cause = call.bridge_to("user/1000").await?;
        let _ = self.seen.send(format!("bridge {cause:?}"));
        call.application("hangup", "").await?;
        Ok(())
    }
}

/// A rig whose calls run `Menu`, and one call that types the inputs `Menu`
/// asks for (or nothing, for its timeouts); its bridge fails busy.
async fn menu_call(seed: u64) -> (Rig, Rx<String>, librevox::simulator::CallHandle) {
    let (seen, rx) = recorder();
    let rig = Rig::start(config(seed), move || Menu { seen: seen.clone() }).await;
    let call = rig
        .sim
        .place_call(CallSpec::new("ivr").script(CallerScript {
            inputs: vec![
                "1234".to_owned(),
                String::new(),
                "9".to_owned(),
                "42".to_owned(),
                String::new(),
                "77#".to_owned(),
            ],
            digit_interval: Duration::from_millis(5),
            bridge_failure: Some("USER_BUSY".to_owned()),
            ..CallerScript::default()
        }));
    (rig, rx, call)
}

#[tokio::test]
async fn input_applications_return_what_the_caller_typed_and_none_on_timeout() {
    let (rig, mut rx, call) = menu_call(40).await;
    assert_eq!(rx.next().await, r#"pin Some("1234")"#);
    assert_eq!(rx.next().await, "timeout None");
    assert_eq!(
        rx.next().await,
        r#"choice Some("42") after invalid Some("9")"#
    );
    assert_eq!(rx.next().await, "pagd timeout None");
    assert_eq!(rx.next().await, r##"raw Some("77") Some("#")"##);
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn set_var_returns_its_completion_and_updates_the_channel_data() {
    let (rig, mut rx, call) = menu_call(41).await;
    assert_eq!(
        rx.until(|m| m.starts_with("set ")).await,
        r#"set Some("colour=blue") session Some("blue")"#
    );
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn a_failed_bridge_returns_its_cause() {
    let (rig, mut rx, call) = menu_call(42).await;
    assert_eq!(
        rx.until(|m| m.starts_with("bridge ")).await,
        r#"bridge Some("USER_BUSY")"#
    );
    rig.wait_destroyed(&call.uuid).await;
    rig.stop().await;
}

#[tokio::test]
async fn the_input_helpers_send_the_arguments_the_dialplan_applications_expect() {
    let (rig, _rx, call) = menu_call(43).await;
    rig.wait_destroyed(&call.uuid).await;
    let rec = outbound_record(&rig.sim, &call.uuid).unwrap();
    let args: Vec<String> = texts(&rec.received)
        .iter()
        .filter_map(|p| {
            let app = p
                .lines()
                .find_map(|l| l.strip_prefix("execute-app-name: "))?;
            let arg = p
                .lines()
                .find_map(|l| l.strip_prefix("execute-app-arg: "))
                .unwrap_or("");
            Some(format!("{app}({arg})"))
        })
        .collect();
    assert_eq!(
        args,
        [
            "answer()",
            "read(1 4 pin.wav pin 500 #)",
            "read(1 4 silence_stream://10 nothing 50 #)",
            "play_and_get_digits(2 2 2 200 # menu.wav invalid.wav choice ^\\d{2}$ 200)",
            "play_and_get_digits(1 3 1 50 # menu.wav invalid.wav late \\d+ 50)",
            "read(1 5 pin.wav ext 500 #)",
            "set(colour=blue)",
            "bridge(user/1000)",
            "hangup()",
        ]
    );
    rig.stop().await;
}

// ----- hook dispatch -----

struct Hooks {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound]
impl Hooks {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        Ok(())
    }

    async fn on_event(&self, event: &Event) {
        if event.is("CHANNEL_ANSWER") || event.is("CHANNEL_HANGUP") {
            let _ = self
                .seen
                .send(format!("on_event {}", event.name().unwrap_or("")));
        }
    }

    #[event(channel_answer)]
    async fn first(&self) {
        // A slow hook: the next hooks still wait for it.
        tokio::task::yield_now().await;
        let _ = self.seen.send("first".to_owned());
    }

    #[event(channel_answer, channel_hangup)]
    async fn second(&self, event: &Event) {
        let _ = self
            .seen
            .send(format!("second {}", event.name().unwrap_or("")));
    }

    #[event("CHANNEL_ANSWER")]
    async fn third(&self, call: &Session, event: &Event) {
        let _ = self.seen.send(format!(
            "third {} {}",
            event.name().unwrap_or(""),
            event.unique_id() == Some(call.uuid())
        ));
    }

    #[event(channel_hangup)]
    async fn hung_up(&self, call: &Session) {
        let _ = self
            .seen
            .send(format!("hung_up {}", !call.uuid().is_empty()));
    }
}

#[tokio::test]
async fn on_event_runs_first_then_every_matching_hook_in_declaration_order() {
    let (seen, mut rx) = recorder();
    let rig = Rig::start(config(41), move || Hooks { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    for expected in [
        "on_event CHANNEL_ANSWER",
        "first",
        "second CHANNEL_ANSWER",
        "third CHANNEL_ANSWER true",
    ] {
        assert_eq!(rx.next().await, expected);
    }
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    for expected in [
        "on_event CHANNEL_HANGUP",
        "second CHANNEL_HANGUP",
        "hung_up true",
    ] {
        assert_eq!(rx.next().await, expected);
    }
    rig.wait_destroyed(&call.uuid).await;
    assert!(rx.drain().is_empty());
    rig.stop().await;
}

// ----- which events a listener wants -----

/// Hooks without `on_event`: only their events are parsed and handed on.
struct OnlyHangup {
    seen: mpsc::UnboundedSender<String>,
}

#[outbound(events = ["CUSTOM conference::maintenance"])]
impl OnlyHangup {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        let _ = self.seen.send("answered".to_owned());
        Ok(())
    }

    #[event(channel_hangup)]
    async fn hung_up(&self, event: &Event) {
        let _ = self
            .seen
            .send(format!("hung_up {}", event.name().unwrap_or("")));
    }

    #[event(custom = "conference::maintenance")]
    async fn conference(&self) {}
}

/// No hooks at all.
struct NoHooks;

#[outbound]
impl NoHooks {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        call.answer().await?;
        Ok(())
    }
}

#[test]
fn listeners_want_the_events_their_hooks_match() {
    use librevox::listener::OutboundListener;
    let (seen, _rx) = recorder();
    let only = OnlyHangup { seen: seen.clone() };
    assert!(only.wants_event("CHANNEL_HANGUP"));
    assert!(only.wants_event("channel_hangup"));
    // A CUSTOM hook matches by subclass too, which the name cannot tell.
    assert!(only.wants_event("CUSTOM"));
    assert!(!only.wants_event("CHANNEL_ANSWER"));
    assert!(!only.wants_event("CHANNEL_HANGUP_COMPLETE"));
    assert!(!NoHooks.wants_event("CHANNEL_HANGUP"));
    let all = Hooks { seen };
    assert!(all.wants_event("CHANNEL_ANSWER"));
    assert!(all.wants_event("HEARTBEAT"));
}

#[tokio::test]
async fn events_no_hook_wants_are_skipped_and_the_call_still_ends_cleanly() {
    let (seen, mut rx) = recorder();
    let rig = Rig::start(config(43), move || OnlyHangup { seen: seen.clone() }).await;
    let call = rig.sim.place_call(CallSpec::new("ivr"));
    // CHANNEL_EXECUTE, CHANNEL_ANSWER and the rest went by unwanted.
    assert_eq!(rx.next().await, "answered");
    rig.sim.hangup(&call.uuid, "NORMAL_CLEARING");
    assert_eq!(rx.next().await, "hung_up CHANNEL_HANGUP");
    rig.wait_destroyed(&call.uuid).await;
    assert!(rx.drain().is_empty());
    rig.stop().await;
}
