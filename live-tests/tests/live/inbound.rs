//! `#[inbound]` listeners against the real switch: subscription and filters
//! in the three event formats, and a CUSTOM event reaching its hook.

use std::collections::BTreeMap;
use std::sync::Arc;

use librevox::commands::{Commands as _, Originate};
use librevox::listener::{run_inbound, InboundListener};
use librevox::protocol::Command;
use librevox::{event, inbound, new_uuid, Event};
use librevox_live_tests::{tag, within, Calls, Switch, Watcher, WAIT};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::command_socket::ANSWERED;

/// What a monitor saw.
type Seen = mpsc::UnboundedSender<Event>;

/// Runs `listener` against the switch until the token is cancelled; returns
/// once its subscription is in place (`connected` has a value).
async fn start<L: InboundListener>(
    switch: &Switch,
    listener: L,
    connected: &mut mpsc::UnboundedReceiver<()>,
) -> (CancellationToken, JoinHandle<librevox::Result<()>>) {
    let token = CancellationToken::new();
    let task = tokio::spawn(run_inbound(
        Arc::new(listener),
        switch.inbound_settings(),
        token.clone(),
    ));
    within("the listener's handshake", WAIT, connected.recv())
        .await
        .expect("connection_completed ran");
    (token, task)
}

async fn stop(token: CancellationToken, task: JoinHandle<librevox::Result<()>>) {
    token.cancel();
    within("the listener to stop", WAIT, task)
        .await
        .expect("the listener did not panic")
        .expect("the listener stopped without error");
}

/// `(Event-Name, Unique-ID)`.
fn ids(event: &Event) -> (String, String) {
    (
        event.name().unwrap_or("-").to_owned(),
        event.unique_id().unwrap_or("-").to_owned(),
    )
}

/// The channel events each monitor subscribes to.
const CHANNEL_EVENTS: [&str; 5] = [
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
];

// One monitor per format, each filtered on its own value of the channel
// variable `live_inbound`: the three tests run at once, and each one's calls
// are the others' "someone else's calls".
macro_rules! monitor {
    ($name:ident, $format:tt) => {
        struct $name {
            connected: mpsc::UnboundedSender<()>,
            seen: Seen,
        }

        #[inbound(
            events = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"],
            format = $format,
            filters("variable_live_inbound" = $format)
        )]
        impl $name {
            async fn connection_completed(&self) {
                let _ = self.connected.send(());
            }

            async fn on_event(&self, event: &Event) {
                let _ = self.seen.send(event.clone());
            }
        }
    };
}

monitor!(PlainMonitor, "plain");
monitor!(JsonMonitor, "json");
monitor!(XmlMonitor, "xml");

/// Three tagged calls and one someone else's call (tagged `other`), all
/// answered, then hung up: the monitor sees each event of each of its calls'
/// legs exactly once, and nothing of the other call.
async fn own_calls_exactly_once<L: InboundListener>(
    format: &str,
    make: impl FnOnce(mpsc::UnboundedSender<()>, Seen) -> L,
) {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (token, task) = start(&switch, make(connected_tx, seen_tx), &mut connected).await;

    let mine: Vec<String> = (0..3).map(|_| calls.add(new_uuid())).collect();
    let other = calls.add(new_uuid());
    let mut watcher = Watcher::new(&switch, &["CHANNEL_DESTROY"], &[]).await;
    for (uuid, value) in mine.iter().map(|u| (u, format)).chain([(&other, "other")]) {
        let originate = Originate::new(ANSWERED)
            .var("origination_uuid", uuid)
            .var("live_inbound", value)
            .caller_id("live", tag(format));
        within("originate", WAIT, socket.originate(&originate))
            .await
            .unwrap();
    }
    for uuid in mine.iter().chain([&other]) {
        within("uuid_kill", WAIT, socket.uuid_kill(uuid, None))
            .await
            .unwrap();
        watcher.destroyed(uuid).await;
    }

    // Until each of our calls' channels is destroyed: count what came.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut destroyed = 0;
    within(&format!("the {format} monitor's events"), WAIT, async {
        while destroyed < mine.len() {
            let event = seen.recv().await.expect("the monitor runs");
            let (name, uuid) = ids(&event);
            assert_eq!(
                event.variable("live_inbound"),
                Some(format),
                "{name} of {uuid} is someone else's: {event:#?}"
            );
            assert_ne!(uuid, other, "{name} of the other call came through");
            if name == "CHANNEL_DESTROY" && mine.contains(&uuid) {
                destroyed += 1;
            }
            *counts.entry((uuid, name)).or_default() += 1;
        }
    })
    .await;
    // Anything late (a duplicate) has arrived once the watcher, which gets
    // the same events, saw ours: stop, then drain.
    stop(token, task).await;
    while let Ok(event) = seen.try_recv() {
        let (name, uuid) = ids(&event);
        assert_eq!(
            event.variable("live_inbound"),
            Some(format),
            "{name} of {uuid} is someone else's: {event:#?}"
        );
        *counts.entry((uuid, name)).or_default() += 1;
    }
    for uuid in &mine {
        for name in CHANNEL_EVENTS {
            assert_eq!(
                counts.get(&(uuid.clone(), name.to_owned())),
                Some(&1),
                "{name} of {uuid} in {format}: {counts:?}"
            );
        }
    }
    // Any other channel seen is a B leg of one of ours (loopback copies the
    // variable); its events come once each too.
    for ((uuid, name), n) in &counts {
        assert_eq!(*n, 1, "{name} of {uuid} came {n} times in {format}");
    }
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_listener_sees_its_own_calls_exactly_once() {
    own_calls_exactly_once("plain", |connected, seen| PlainMonitor { connected, seen }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_listener_sees_its_own_calls_exactly_once() {
    own_calls_exactly_once("json", |connected, seen| JsonMonitor { connected, seen }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_listener_sees_its_own_calls_exactly_once() {
    own_calls_exactly_once("xml", |connected, seen| XmlMonitor { connected, seen }).await;
}

// ----- CUSTOM events -----

struct CustomMonitor {
    connected: mpsc::UnboundedSender<()>,
    hooked: mpsc::UnboundedSender<(&'static str, Event)>,
}

#[inbound(events = ["CUSTOM librevox::live librevox::other"])]
impl CustomMonitor {
    async fn connection_completed(&self) {
        let _ = self.connected.send(());
    }

    #[event(custom = "librevox::live")]
    async fn live(&self, event: &Event) {
        let _ = self.hooked.send(("live", event.clone()));
    }

    #[event(custom = "librevox::other")]
    async fn other(&self, event: &Event) {
        let _ = self.hooked.send(("other", event.clone()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendevent_custom_reaches_its_custom_hook_only() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let (hooked_tx, mut hooked) = mpsc::unbounded_channel();
    let (token, task) = start(
        &switch,
        CustomMonitor {
            connected: connected_tx,
            hooked: hooked_tx,
        },
        &mut connected,
    )
    .await;
    let mine = tag("custom");
    let body = "line one\nline two: 100% \u{e9}";
    let mut replies = Vec::new();
    for subclass in ["librevox::other", "librevox::live"] {
        let event = Event::new("CUSTOM")
            .with_header("Event-Subclass", subclass)
            .with_header("X-Live-Tag", &mine)
            .with_header("X-Spaced", "a b+c")
            .with_body(body.to_owned());
        let reply = within(
            "sendevent",
            WAIT,
            socket.command(&Command::sendevent(&event)),
        )
        .await
        .unwrap();
        replies.push(reply.text().to_owned());
    }
    // Each hook gets its own subclass's event once (events of earlier runs
    // carry another tag).
    let mut got = BTreeMap::new();
    within("the custom hooks", WAIT, async {
        while got.len() < 2 {
            let (hook, e) = hooked.recv().await.expect("the monitor runs");
            if e.header("X-Live-Tag") == Some(mine.as_str()) {
                assert!(got.insert(hook, e).is_none(), "{hook} ran twice");
            }
        }
    })
    .await;
    stop(token, task).await;
    while let Ok((hook, e)) = hooked.try_recv() {
        assert_ne!(
            e.header("X-Live-Tag"),
            Some(mine.as_str()),
            "{hook} ran again"
        );
    }
    for (hook, subclass, reply) in [
        ("other", "librevox::other", &replies[0]),
        ("live", "librevox::live", &replies[1]),
    ] {
        let e = &got[hook];
        assert!(e.is("CUSTOM"));
        assert_eq!(e.subclass(), Some(subclass));
        assert_eq!(e.header("X-Spaced"), Some("a b+c"));
        assert_eq!(e.body_str().as_deref(), Some(body));
        // The sendevent reply names the queued event's UUID.
        assert_eq!(
            Some(reply.as_str()),
            e.header("Event-UUID")
                .map(|u| format!("+OK {u}"))
                .as_deref()
        );
    }
    socket.close().await.unwrap();
}
