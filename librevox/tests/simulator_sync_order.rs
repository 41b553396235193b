//! The end of a call on a sync (`Socket-Mode: static`) outbound socket, in
//! both orders the real FreeSWITCH delivers it
//! ([`SyncHangupOrder`]): the exact frames a raw client receives after it
//! sends the `hangup` application. And with a dispatch lag
//! ([`CallOrder::dispatch_lag`](librevox::simulator::CallOrder::dispatch_lag)),
//! on a sync and an async socket, the notice overtaking the playback's
//! completion as the switch's did under load.
#![cfg(feature = "simulator")]

use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, Frame};
use librevox::simulator::{
    CallSpec, Extension, Order, Simulator, SimulatorConfig, SyncHangupOrder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

const T: Duration = Duration::from_secs(10);
const UUID: &str = "94d9b7e2-d60f-4ec3-8648-0acb4dc403be";

struct Raw {
    io: TcpStream,
    codec: EslCodec,
    buf: BytesMut,
}

impl Raw {
    async fn send(&mut self, bytes: &str) {
        self.io.write_all(bytes.as_bytes()).await.unwrap();
    }

    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                return f;
            }
            let n = tokio::time::timeout(T, self.io.read_buf(&mut self.buf))
                .await
                .expect("timed out waiting for a frame")
                .unwrap();
            assert!(n > 0, "the simulator closed the socket early");
        }
    }

    /// The next frame, or `None` once the simulator closed the socket.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                return Some(f);
            }
            let n = tokio::time::timeout(T, self.io.read_buf(&mut self.buf))
                .await
                .expect("timed out waiting for a frame or the close")
                .unwrap();
            if n == 0 {
                return None;
            }
        }
    }

    /// A frame as one line (see [`summarize`]).
    async fn summary(&mut self) -> (String, Frame) {
        let f = self.frame().await;
        (summarize(&f), f)
    }
}

/// A frame as one line: the reply text, the notice's disposition, or the
/// event's name (with its application).
fn summarize(f: &Frame) -> String {
    match f.content_type() {
        Some("command/reply") => format!("reply {}", f.header("Reply-Text").unwrap()),
        Some("text/disconnect-notice") => {
            format!("notice {}", f.header("Content-Disposition").unwrap())
        }
        Some("text/event-plain") => {
            let e = Event::parse_plain(f.body()).unwrap();
            match e.application() {
                Some(app) => format!("{} {app}", e.name().unwrap()),
                None => e.name().unwrap().to_owned(),
            }
        }
        other => panic!("unexpected frame {other:?}"),
    }
}

fn sendmsg(app: &str, n: u32) -> String {
    format!(
        "sendmsg\ncall-command: execute\nexecute-app-name: {app}\nevent-lock: true\n\
         Event-UUID: eeeeeeee-0000-4000-8000-00000000000{n}\n\n"
    )
}

/// A deterministic in-memory simulator, configured further by `set`, that
/// places call [`UUID`] through `extension` to a socket (`mode`: `full`,
/// `async full`) on a fresh port (the extension names the B leg's
/// `Channel-Name`); the simulator and the connection it made.
async fn placed_call(
    extension: &str,
    mode: &str,
    set: impl FnOnce(&mut SimulatorConfig),
) -> (Simulator, Raw) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = SimulatorConfig::deterministic(3)
        .in_memory()
        .extension(Extension::socket(
            extension,
            &format!("127.0.0.1:{port} {mode}"),
        ));
    set(&mut config);
    let sim = Simulator::start(config).await.unwrap();
    sim.place_call(CallSpec::new(extension).uuid(UUID));
    let (io, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let raw = Raw {
        io,
        codec: EslCodec::default(),
        buf: BytesMut::new(),
    };
    (sim, raw)
}

/// Runs answer and hangup on a sync `full` socket with `linger` and returns
/// what arrived from the hangup's `+OK` up to its completion, and the notice.
async fn hangup_frames(order: SyncHangupOrder) -> (Vec<String>, Frame) {
    hangup_frames_with(order, Order::Fixed, 0).await
}

/// [`hangup_frames`] under `order_mode` ([`SimulatorConfig::order`]) and
/// with a dispatch lag of `lag` events ([`SimulatorConfig::dispatch_lag`]).
async fn hangup_frames_with(
    order: SyncHangupOrder,
    order_mode: Order,
    lag: u32,
) -> (Vec<String>, Frame) {
    let (sim, mut c) = placed_call("socket_sync_full", "full", |config| {
        config.sync_hangup_order = order;
        config.order = order_mode;
        config.dispatch_lag = lag;
    })
    .await;
    for cmd in ["connect\n\n", "myevents\n\n", "linger\n\n"] {
        c.send(cmd).await;
        assert_eq!(c.frame().await.content_type(), Some("command/reply"));
    }
    c.send(&sendmsg("answer", 1)).await;
    while c.summary().await.0 != "CHANNEL_EXECUTE_COMPLETE answer" {}
    c.send(&sendmsg("hangup", 2)).await;
    let mut seen = Vec::new();
    let mut notice = None;
    while !seen.iter().any(|s| s == "CHANNEL_EXECUTE_COMPLETE hangup") || notice.is_none() {
        let (s, f) = c.summary().await;
        if s.starts_with("notice") {
            notice = Some(f);
        }
        if !s.starts_with("CHANNEL_STATE") && !s.starts_with("CHANNEL_CALLSTATE") {
            seen.push(s);
        }
    }
    c.send("exit\n\n").await;
    assert_eq!(c.summary().await.0, "reply +OK bye");
    assert_eq!(c.summary().await.0, "notice disconnect");
    sim.shutdown().await;
    (seen, notice.unwrap())
}

const LINGER_NOTICE: &str = "Content-Type: text/disconnect-notice\n\
    Controlled-Session-UUID: 94d9b7e2-d60f-4ec3-8648-0acb4dc403be\n\
    Content-Disposition: linger\nChannel-Name: loopback/socket_sync_full-b\n\
    Linger-Time: -1\nContent-Length: 0\n\n";

fn bytes(f: &Frame) -> Vec<u8> {
    let mut v = f.raw_head().to_vec();
    v.extend_from_slice(b"\n\n");
    v.extend_from_slice(f.body());
    v
}

#[tokio::test]
async fn by_default_the_hangups_events_come_before_the_linger_notice() {
    let (seen, notice) = hangup_frames(SyncHangupOrder::EventsFirst).await;
    assert_eq!(
        seen,
        [
            "reply +OK",
            "CHANNEL_EXECUTE hangup",
            "CHANNEL_HANGUP",
            "CHANNEL_EXECUTE_COMPLETE hangup",
            "notice linger",
        ]
    );
    assert_eq!(String::from_utf8(bytes(&notice)).unwrap(), LINGER_NOTICE);
}

/// The order of `testdata/live/differential/outbound_sync_full__answer__playback__hangup.switch-1.txt`:
/// the real switch's linger notice overtook the `hangup` application's
/// CHANNEL_EXECUTE too, not only CHANNEL_HANGUP (the simulator put it
/// between the two until the differential test saw it).
#[tokio::test]
async fn notice_first_puts_the_linger_notice_before_the_hangup_applications_execute() {
    let (seen, notice) = hangup_frames(SyncHangupOrder::NoticeFirst).await;
    assert_eq!(
        seen,
        [
            "reply +OK",
            "notice linger",
            "CHANNEL_EXECUTE hangup",
            "CHANNEL_HANGUP",
            "CHANNEL_EXECUTE_COMPLETE hangup",
        ]
    );
    assert_eq!(String::from_utf8(bytes(&notice)).unwrap(), LINGER_NOTICE);
}

const EVENTS_FIRST: [&str; 5] = [
    "reply +OK",
    "CHANNEL_EXECUTE hangup",
    "CHANNEL_HANGUP",
    "CHANNEL_EXECUTE_COMPLETE hangup",
    "notice linger",
];

const NOTICE_FIRST: [&str; 5] = [
    "reply +OK",
    "notice linger",
    "CHANNEL_EXECUTE hangup",
    "CHANNEL_HANGUP",
    "CHANNEL_EXECUTE_COMPLETE hangup",
];

/// Under `Order::Seeded`, the call gets the order its seed draws (whatever
/// `sync_hangup_order` says), and some of the seeds draw each order.
#[tokio::test]
async fn a_seeded_call_gets_the_order_its_seed_draws() {
    let mut met = Vec::new();
    for seed in 1..=8 {
        let config = SimulatorConfig {
            order: Order::Seeded(seed),
            ..SimulatorConfig::default()
        };
        let call = config.call_order(UUID);
        let drawn = call.sync_hangup;
        let (seen, notice) =
            hangup_frames_with(SyncHangupOrder::EventsFirst, Order::Seeded(seed), 0).await;
        // A dispatch lag puts the notice first too (what it holds back
        // beyond the hangup's events, this client waited for).
        let expected = match drawn {
            SyncHangupOrder::NoticeFirst => NOTICE_FIRST,
            _ if call.dispatch_lag > 0 => NOTICE_FIRST,
            _ => EVENTS_FIRST,
        };
        assert_eq!(seen, expected, "seed {seed} drew {drawn:?}");
        assert_eq!(String::from_utf8(bytes(&notice)).unwrap(), LINGER_NOTICE);
        met.push(drawn);
    }
    assert!(
        met.contains(&SyncHangupOrder::NoticeFirst) && met.contains(&SyncHangupOrder::EventsFirst),
        "seeds 1..=8 drew {met:?}"
    );
}

/// The frames of the captured call `testdata/live/sync_linger_notice_first.raw.txt`
/// (FreeSWITCH 1.11.3, a sync `full` socket: answer, playback, then the
/// `hangup` application, with `linger 1`) from the hangup's `+OK` on, as
/// [`Raw::summary`] names them (channel and call states left out, as in
/// [`hangup_frames`]), up to the goodbye.
fn captured_hangup_frames() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/live/sync_linger_notice_first.raw.txt"
    );
    let mut buf = BytesMut::from(&std::fs::read(path).expect("the captured vector")[..]);
    let mut codec = EslCodec::default();
    let mut seen = Vec::new();
    while let Some(f) = codec.decode(&mut buf).expect("the capture decodes") {
        seen.push(summarize(&f));
    }
    assert!(buf.is_empty(), "the capture ends with a whole frame");
    let notice = seen
        .iter()
        .position(|s| s == "notice linger")
        .expect("a linger notice");
    seen[notice - 1..]
        .iter()
        .filter(|s| !s.starts_with("CHANNEL_STATE") && !s.starts_with("CHANNEL_CALLSTATE"))
        .filter(|s| *s != "notice disconnect")
        .cloned()
        .collect()
}

/// The real switch's notice-first order, byte for byte from a capture, is
/// the one `SyncHangupOrder::NoticeFirst` produces.
#[tokio::test]
async fn notice_first_is_the_order_captured_from_the_switch() {
    assert_eq!(captured_hangup_frames(), NOTICE_FIRST);
    let (seen, _) = hangup_frames(SyncHangupOrder::NoticeFirst).await;
    assert_eq!(seen, NOTICE_FIRST);
}

/// Runs answer, playback and hangup on a `mode` socket with `linger 1` and
/// a dispatch lag of one event, the client reading only each command's
/// reply before the next (as the differential test's client does), and
/// returns the events (channel and call states left out) and notices that
/// came, in order, up to the close.
async fn lagged_frames(mode: &str) -> Vec<String> {
    let (sim, mut c) = placed_call("socket_lagged", mode, |config| config.dispatch_lag = 1).await;
    let playback = "sendmsg\ncall-command: execute\nexecute-app-name: playback\n\
                    execute-app-arg: silence_stream://100\nevent-lock: true\n\n";
    let mut seen = Vec::new();
    for cmd in [
        "connect\n\n",
        "myevents\n\n",
        "linger 1\n\n",
        &sendmsg("answer", 1),
        playback,
        &sendmsg("hangup", 2),
    ] {
        c.send(cmd).await;
        loop {
            let (s, _) = c.summary().await;
            if s.starts_with("reply") {
                break;
            }
            seen.push(s);
        }
    }
    // Then everything until the switch closes the socket.
    while let Some(f) = c.next_frame().await {
        seen.push(summarize(&f));
    }
    sim.shutdown().await;
    seen.retain(|s| !s.starts_with("CHANNEL_STATE") && !s.starts_with("CHANNEL_CALLSTATE"));
    seen
}

/// The order of `testdata/live/differential/outbound_sync_full__answer__playback__hangup.switch-2.txt`:
/// the notice before the playback's CHANNEL_EXECUTE_COMPLETE, which the
/// client did not wait for (it read the playback's `+OK`, then sent the
/// hangup).
#[tokio::test]
async fn a_dispatch_lag_puts_a_sync_sockets_notice_before_the_playbacks_completion() {
    assert_eq!(
        lagged_frames("full").await,
        [
            "CHANNEL_EXECUTE answer",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE_COMPLETE answer",
            "CHANNEL_EXECUTE playback",
            "notice linger",
            "CHANNEL_EXECUTE_COMPLETE playback",
            "CHANNEL_EXECUTE hangup",
            "CHANNEL_HANGUP",
            "CHANNEL_EXECUTE_COMPLETE hangup",
            "notice disconnect",
        ]
    );
}

/// The order of `testdata/live/differential/outbound_async_full__answer__playback__hangup.switch-1.txt`:
/// the client queued the three applications at once, so the hangup began
/// as the playback ended and the notice overtook the playback's completion
/// and everything after it.
#[tokio::test]
async fn a_dispatch_lag_puts_an_async_sockets_notice_before_the_playbacks_completion() {
    assert_eq!(
        lagged_frames("async full").await,
        [
            "CHANNEL_PARK",
            "CHANNEL_EXECUTE answer",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE_COMPLETE answer",
            "CHANNEL_EXECUTE playback",
            "notice linger",
            "CHANNEL_EXECUTE_COMPLETE playback",
            "CHANNEL_EXECUTE hangup",
            "CHANNEL_HANGUP",
            "CHANNEL_EXECUTE_COMPLETE hangup",
            "CHANNEL_UNPARK",
            "CHANNEL_EXECUTE_COMPLETE socket",
            "CHANNEL_HANGUP_COMPLETE",
            "notice disconnect",
        ]
    );
}

/// A client that waits for an event the lag holds back still gets it:
/// the lag only reorders what comes just before the hangup.
#[tokio::test]
async fn a_dispatch_lag_holds_an_event_a_client_waits_for_only_briefly() {
    let (seen, _) = hangup_frames_with(SyncHangupOrder::EventsFirst, Order::Fixed, 1).await;
    assert_eq!(seen, NOTICE_FIRST);
}
