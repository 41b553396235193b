//! The outbound scripts: a call originated with `&socket(...)` reaches a
//! socket in the test, which runs answer, playback and hangup on it. The
//! transcript has two parts: each write with its reply, then the channel's
//! events in the order they came, each as its name, its application and
//! whose channel it is, with the disconnect-notices where they came among
//! them. How replies interleave with events is timing (the applications run
//! with `event-lock`), so it is not compared; the order of a channel's
//! events is (their headers are compared by the inbound scripts).

use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, EventFormat, Frame};
use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};
use librevox_live_tests::{within, WAIT};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use super::{fresh_uuid, mask_uuids, Conn};

/// The seeds of the simulator's order mode ([`Order::Seeded`]) the outbound
/// scripts run under, each call with the UUID [`seeded_uuid`] gives it (so
/// which order each seed draws is fixed): together they must produce every
/// order the switch produced, saved ones included. Seeds 1 to 8 draw the
/// linger notice after or before the hangup's events and the park at each
/// delay (5 and 7: none the client sees); 10 is the first whose call draws a
/// dispatch lag ([`CallOrder::dispatch_lag`](librevox::simulator::CallOrder::dispatch_lag)):
/// the notice overtakes the backlog from the playback's
/// CHANNEL_EXECUTE_COMPLETE on, on either socket (the switch did so under
/// load, `..switch-2.txt` sync and `..switch-1.txt` async). A seed whose
/// call parks at once and lags (34) is left out: the switch has not been
/// seen to do both in one call.
pub(super) const SIM_SEEDS: [u64; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 10];

/// The UUID of the simulator's call under `seed`.
pub(super) fn seeded_uuid(seed: u64) -> String {
    format!("5eed0000-0000-4000-8000-{seed:012}")
}

/// How long the test waits for the switch to dial its socket.
const DIALED: Duration = Duration::from_secs(5);

/// An outbound script: the socket application's mode and what the socket
/// writes once the call reached it (each write then reads up to its
/// reply, the last one until the switch closes the socket).
pub(super) struct Call {
    pub(super) name: &'static str,
    mode: &'static str,
    steps: &'static [&'static str],
}

const ANSWER_PLAY_HANGUP: &[&str] = &[
    "connect\n\n",
    "myevents\n\n",
    "linger 1\n\n",
    "sendmsg\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n",
    "sendmsg\ncall-command: execute\nexecute-app-name: playback\n\
     execute-app-arg: silence_stream://200\nevent-lock: true\n\n",
    "sendmsg\ncall-command: execute\nexecute-app-name: hangup\nevent-lock: true\n\n",
];

/// The outbound scripts.
pub(super) fn calls() -> Vec<Call> {
    vec![
        Call {
            name: "outbound async full: answer, playback, hangup",
            mode: "async full",
            steps: ANSWER_PLAY_HANGUP,
        },
        Call {
            name: "outbound sync full: answer, playback, hangup",
            mode: "full",
            steps: ANSWER_PLAY_HANGUP,
        },
    ]
}

/// The exchanges of `call`: the originate, each step, the close.
pub(super) fn exchanges(call: &Call) -> usize {
    call.steps.len() + 2
}

/// The far end: answers at once and parks, so the A leg reaches the socket
/// answered.
const FAR_END: &str = "loopback/^^;answer;park/default/inline";

/// Outer headers of a reply or notice kept in the transcript (the connect
/// reply's channel data is left to the inbound scripts).
const KEPT: &[&str] = &[
    "Content-Type",
    "Reply-Text",
    "Content-Disposition",
    "Socket-Mode",
    "Control",
    "Channel-State",
    "Answer-State",
];

/// A frame as transcript lines: an event as `[event] NAME (app) on <leg>`
/// into `events`, a notice as its kept outer headers and body into
/// `events`, anything else so into `out`.
fn summary(frame: &Frame, a_leg: &str, out: &mut Vec<String>, events: &mut Vec<String>) {
    let format = frame
        .content_type()
        .and_then(EventFormat::from_content_type);
    if let Some(format) = format {
        match Event::parse(format, frame.body()) {
            Ok(e) => {
                let whose = match e.header("Unique-ID") {
                    Some(u) if u == a_leg => "the A leg",
                    Some(_) => "another channel",
                    None => "no channel",
                };
                let app = e
                    .header("Application")
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default();
                events.push(format!(
                    "  [event] {}{app} on {whose}",
                    e.header("Event-Name").unwrap_or("?")
                ));
            }
            Err(e) => events.push(format!("  [undecodable event: {e}]")),
        }
        return;
    }
    let out = if frame.content_type() == Some("text/disconnect-notice") {
        events
    } else {
        out
    };
    for (name, value) in frame.headers() {
        if KEPT.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            // None of them is one the inbound scripts mask: UUIDs only.
            out.push(format!("{name}: {}", mask_uuids(value)));
        }
    }
    if !frame.body().is_empty() {
        out.push(format!(
            "  [body] {:?}",
            mask_uuids(&String::from_utf8_lossy(frame.body()))
        ));
    }
}

/// Reads frames into `out` until one `until` accepts (`true`), the peer
/// closes (`[closed]`) or nothing comes for [`WAIT`].
async fn read_until(
    conn: &mut Conn,
    a_leg: &str,
    (out, events): (&mut Vec<String>, &mut Vec<String>),
    until: impl Fn(&Frame) -> bool,
) -> bool {
    loop {
        match conn.frame(WAIT).await {
            Ok(Some(frame)) => {
                summary(&frame, a_leg, out, events);
                if until(&frame) {
                    return true;
                }
            }
            Ok(None) => {
                out.push("[closed]".to_owned());
                return false;
            }
            Err(e) => {
                out.push(format!("[{e}]"));
                return false;
            }
        }
    }
}

/// Reads one frame of the control connection, which the transcript leaves
/// out (a missing one shows as the socket never dialled).
async fn skip_frame(conn: &mut Conn) {
    let _ = conn.frame(WAIT).await;
}

fn conn(stream: TcpStream) -> Conn {
    Conn {
        stream,
        codec: EslCodec::default(),
        buf: BytesMut::new(),
    }
}

/// The transcript's first line: the call the script makes.
fn originate_line(call: &Call) -> String {
    format!(
        "> (control) bgapi originate {{origination_uuid=<uuid>}}{FAR_END} \
         &socket('<host>:<port> {}')",
        call.mode
    )
}

/// Runs `call` against the switch at `addr`: the control connection
/// originates the call to a socket on `listen_host`, then the socket's
/// transcript.
pub(super) async fn run(addr: &str, password: &str, listen_host: &str, call: &Call) -> Vec<String> {
    let listener = TcpListener::bind((listen_host, 0))
        .await
        .expect("a free port for the outbound socket");
    let port = listener.local_addr().expect("bound").port();
    let stream = within("connect", WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("no switch at {addr}: {e}"));
    let mut control = conn(stream);
    let uuid = fresh_uuid();
    skip_frame(&mut control).await;
    let originate = format!(
        "bgapi originate {{origination_uuid={uuid}}}{FAR_END} \
         &socket('{listen_host}:{port} {}')\n\n",
        call.mode
    );
    for send in [format!("auth {password}\n\n"), originate] {
        control
            .stream
            .write_all(send.as_bytes())
            .await
            .expect("write");
        skip_frame(&mut control).await;
    }
    socket_script(listener, &uuid, call).await
}

/// Runs `call`'s socket script on the simulator with the call placed
/// through its dialplan (`answer`, then `socket`), not by `originate`: the
/// socket then sees an answered call as it does from the switch's
/// `originate`, so the socket's side of the script is compared even where
/// the simulator's `originate` falls short. The first line is the
/// switch's, as the socket's side is what is compared.
pub(super) async fn run_placed(config: SimulatorConfig, uuid: &str, call: &Call) -> Vec<String> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a free port for the outbound socket");
    let port = listener.local_addr().expect("bound").port();
    let config = config.extension(Extension::new(
        "librevox_diff_socket",
        &[
            ("answer", String::new()),
            ("socket", format!("127.0.0.1:{port} {}", call.mode)),
        ],
    ));
    let sim = Simulator::start(config)
        .await
        .expect("the simulator starts");
    sim.place_call(CallSpec::new("librevox_diff_socket").uuid(uuid));
    let out = socket_script(listener, uuid, call).await;
    sim.shutdown().await;
    out
}

/// The socket's side of `call` on the channel `uuid`, once the switch
/// dials `listener`.
async fn socket_script(listener: TcpListener, uuid: &str, call: &Call) -> Vec<String> {
    let mut out = vec![originate_line(call)];
    let socket = match tokio::time::timeout(DIALED, listener.accept()).await {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(e)) => panic!("accept: {e}"),
        Err(_) => {
            out.push(format!(
                "[the switch did not dial the socket within {DIALED:?}]"
            ));
            return out;
        }
    };
    out.push("> (the switch dialled the socket)".to_owned());
    let mut socket = conn(socket);
    let mut events = Vec::new();
    let mut open = true;
    let reply = |f: &Frame| f.content_type() == Some("command/reply");
    for step in call.steps {
        out.push(format!("> {}", step.trim_end().replace('\n', "\\n")));
        socket
            .stream
            .write_all(step.as_bytes())
            .await
            .expect("write");
        if !read_until(&mut socket, uuid, (&mut out, &mut events), reply).await {
            open = false;
            break;
        }
    }
    if open {
        out.push("> (until the switch closes the socket)".to_owned());
        read_until(&mut socket, uuid, (&mut out, &mut events), |_| false).await;
    }
    out.push("> (the A leg's events and notices, in the order they came)".to_owned());
    out.extend(events);
    out
}
