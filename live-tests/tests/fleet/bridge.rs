//! `librevox bridge` on real switches: two switches through one bridge, and
//! two bridges on one switch with one killed mid-burst.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use librevox::commands::Originate;
use librevox::new_uuid;
use librevox::protocol::event_json;
use librevox_live_tests::{librevox_binary, Calls};

use super::*;

/// A call answered and parked at once by the inline dialplan of its B leg.
const PARKED: &str = "loopback/^^;answer;park/default/inline";

/// What one burst did on one switch.
struct Burst {
    witness: Witness,
    window: Window,
    /// The A legs of the calls it placed.
    calls: Vec<String>,
}

/// Between a begin and an end marker: `events` CUSTOM `librevox::fleet`
/// events (`Fleet-Burst: <tag>`, `Fleet-Index: i`, every tenth with a body of
/// two lines) and `calls` parked loopback calls placed along the way, then
/// hung up (their A legs' CHANNEL_DESTROY awaited). `at(i)` runs after the
/// i-th event.
async fn burst(
    switch: &Switch,
    tag: &str,
    events: usize,
    calls: usize,
    mut at: impl FnMut(usize),
) -> Burst {
    let witness = Witness::start(switch).await;
    let socket = switch.connect().await;
    let placed = Calls::new(switch);
    let begin = marker(&socket, &witness, "begin").await;
    let mut a_legs = Vec::new();
    let every = events / calls.max(1);
    for i in 0..events {
        if a_legs.len() < calls && i % every == 0 {
            let uuid = placed.add(new_uuid());
            let o = Originate::new(PARKED)
                .var("origination_uuid", &uuid)
                .caller_id("fleet", tag);
            within("originate", WAIT, socket.originate(&o))
                .await
                .expect("originate a parked call");
            a_legs.push(uuid);
        }
        let mut ev = SendEvent::custom(SUBCLASS)
            .header("Fleet-Burst", tag)
            .header("Fleet-Index", i.to_string());
        if i % 10 == 0 {
            ev = ev.body("line one\nline two");
        }
        within("sendevent", WAIT, socket.sendevent(&ev))
            .await
            .expect("sendevent");
        at(i);
    }
    placed.cleanup(&socket).await;
    for uuid in &a_legs {
        witness
            .wait(&format!("CHANNEL_DESTROY of {uuid}"), |e| {
                e.is("CHANNEL_DESTROY") && e.unique_id() == Some(uuid)
            })
            .await;
    }
    let end = marker(&socket, &witness, "end").await;
    let window = Window::between(&begin, &end);
    Burst {
        witness,
        window,
        calls: a_legs,
    }
}

/// The burst's own CUSTOM events among `seen`, by `Fleet-Index`.
fn burst_events<'a>(seen: impl Iterator<Item = &'a Event>, tag: &str) -> usize {
    seen.filter(|e| e.subclass() == Some(SUBCLASS) && e.header("Fleet-Burst") == Some(tag))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_switches_through_one_bridge_every_event_under_its_subject_and_msg_id() {
    const EVENTS: usize = 150;
    const CALLS: usize = 3;
    let _one = SERIAL.lock().await;
    let nats = NatsServer::start();
    let (fs1, fs2) = (Switch::from_env(), Switch::second_from_env());
    assert_ne!(fs1.addr(), fs2.addr(), "two switches, not one twice");
    let bridge = start_bridge(&nats, &[("fs1", &fs1), ("fs2", &fs2)]).await;
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let mut reader = StreamReader::new(&js).await;

    let tag = librevox_live_tests::tag("fleet-two");
    // Both switches at once, so the bridge interleaves them.
    let (b1, b2) = tokio::join!(
        burst(&fs1, &tag, EVENTS, CALLS, |_| {}),
        burst(&fs2, &tag, EVENTS, CALLS, |_| {})
    );
    assert_ne!(
        b1.window.core, b2.window.core,
        "each switch has its own Core-UUID"
    );
    for (name, b) in [("fs1", &b1), ("fs2", &b2)] {
        let (seen, stored) = settle(&b.witness, &mut reader, &b.window).await;
        assert_eq!(duplicates(&stored), 0, "{name}: an event stored twice");
        let by_id: HashMap<&str, &Stored> = stored.iter().map(|s| (s.msg_id.as_str(), s)).collect();
        for (id, e) in &seen {
            let s = by_id[id.as_str()];
            assert_eq!(s.subject, expected_subject(name, e), "subject of {id}");
            assert_eq!(s.event_name.as_deref(), e.name(), "Event-Name of {id}");
            assert_eq!(s.unique_id.as_deref(), e.unique_id(), "Unique-ID of {id}");
            assert_eq!(s.payload, event_json::to_string(e), "payload of {id}");
        }
        assert_eq!(burst_events(seen.values(), &tag), EVENTS, "{name}");
        for uuid in &b.calls {
            assert!(
                seen.values()
                    .any(|e| e.is("CHANNEL_CREATE") && e.unique_id() == Some(uuid)),
                "{name}: the CHANNEL_CREATE of call {uuid} in the window"
            );
        }
        println!(
            "two switches: {name} (Core-UUID {}) delivered {} events in its window, {} stored, \
             0 twice, 0 missing: {:?}",
            b.window.core,
            seen.len(),
            stored.len(),
            by_name(seen.values())
        );
    }
    let stats = bridge.stop().await;
    println!("two switches: bridge {stats:?}");
    for s in &stats {
        assert_eq!(s.dropped, 0, "{stats:?}");
        assert_eq!(s.connects, 1, "one connection per switch: {stats:?}");
    }
}

/// A `librevox bridge` process, killed with SIGKILL when dropped.
struct BridgeProcess {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl BridgeProcess {
    /// `librevox bridge --switch fs1=ADDR --nats URL`, the password from
    /// `LIBREVOX_PASSWORD`; returns once it printed that it is ready.
    fn start(switch: &Switch, nats: &NatsServer) -> BridgeProcess {
        let mut child = std::process::Command::new(librevox_binary())
            .args([
                "bridge",
                "--switch",
                &format!("fs1={}", switch.addr()),
                "--nats",
                &nats.url(),
            ])
            .env("LIBREVOX_PASSWORD", &switch.password)
            .env_remove("LIBREVOX_USER")
            .env(
                "XDG_CONFIG_HOME",
                std::env::temp_dir().join("librevox-live-no-config"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the librevox binary runs");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let p = BridgeProcess { child, stderr };
        let deadline = Instant::now() + WAIT;
        let mut lines = Vec::new();
        loop {
            match p
                .stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains("librevox bridge: ready") => break,
                Ok(line) => lines.push(line),
                Err(e) => panic!(
                    "`librevox bridge` not ready ({e:?}); it printed:\n{}",
                    lines.join("\n")
                ),
            }
        }
        p
    }

    /// SIGKILL, as a crash; fails if it had exited already.
    fn kill(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the bridge process ended before it was killed"
        );
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridges_on_one_real_switch_one_killed_mid_burst_store_each_event_once() {
    const EVENTS: usize = 300;
    const CALLS: usize = 6;
    const KILL_AT: usize = EVENTS / 3;
    let _one = SERIAL.lock().await;
    let nats = NatsServer::start();
    let fs1 = Switch::from_env();
    let survivor = start_bridge(&nats, &[("fs1", &fs1)]).await;
    let victim = BridgeProcess::start(&fs1, &nats);
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let mut reader = StreamReader::new(&js).await;

    let tag = librevox_live_tests::tag("fleet-ha");
    let mut victim = Some(victim);
    let b = burst(&fs1, &tag, EVENTS, CALLS, |i| {
        if i == KILL_AT {
            // Killed mid-burst: whatever it read and had not published,
            // or published without an ack, dies with it.
            victim.take().expect("killed once").kill();
        }
    })
    .await;
    assert!(victim.is_none(), "the victim was killed");
    let (seen, stored) = settle(&b.witness, &mut reader, &b.window).await;
    let dups = duplicates(&stored);
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.msg_id.as_str()).collect();
    let missing = seen.keys().filter(|k| !ids.contains(k.as_str())).count();
    let stats = survivor.stop().await;
    println!(
        "HA (real switch): events fired {}, stored {}, duplicates {dups}, missing {missing} \
         ({} of the burst's own, {} calls); surviving bridge: received {}, acked {}, \
         JetStream duplicates (the killed bridge's copies first) {}, dropped {}",
        seen.len(),
        stored.len(),
        burst_events(seen.values(), &tag),
        b.calls.len(),
        stats[0].received,
        stats[0].acked,
        stats[0].duplicates,
        stats[0].dropped
    );
    assert_eq!((dups, missing), (0, 0));
    assert_eq!(stored.len(), seen.len());
    assert_eq!(burst_events(seen.values(), &tag), EVENTS);
    assert_eq!(stats[0].dropped, 0, "{stats:?}");
}
