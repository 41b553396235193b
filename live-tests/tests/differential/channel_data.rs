//! The channel-data scripts: an originated loopback pair watched from an
//! inbound connection, the caller profile and loopback variables of each
//! leg's channel events compared (and, for a call sent to a socket, the
//! `connect` reply's channel data). These are the headers a client reads
//! to know who called whom (`Caller-Caller-ID-Name`, `Caller-Callee-ID-*`,
//! `Channel-Caller-ID-*`), which leg it is (`variable_loopback_leg`,
//! `variable_other_loopback_leg_uuid`) and how it was made
//! (`variable_originate_*`, `Caller-Dialplan`).
//!
//! The switch delivers the two legs' events from two threads, and a leg's
//! own events not always in `Event-Sequence` order, so the transcript is
//! the events grouped by leg and name (each group in header order), not
//! the order they came in; the order is compared by the outbound scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, EventFormat, Frame};
use librevox_live_tests::{within, WAIT};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use super::{fresh_uuid, mask_uuids, Conn};

/// A channel-data script: the far end of the originate, and whether the A
/// leg then runs `socket` (to a listener of the test) or `park`.
pub(super) struct Case {
    pub(super) name: &'static str,
    far_end: &'static str,
    socket: bool,
}

/// The events compared, each leg's.
const EVENTS: &str = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_PARK CHANNEL_HANGUP_COMPLETE";

/// The channel-data scripts.
pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "channel data: originate loopback/echo_test/default &park()",
            far_end: "loopback/echo_test/default",
            socket: false,
        },
        Case {
            name: "channel data: originate loopback/echo_test &park() (no context)",
            far_end: "loopback/echo_test",
            socket: false,
        },
        Case {
            name: "channel data: originate an inline dialplan &socket(async full)",
            far_end: "loopback/^^;answer;park/default/inline",
            socket: true,
        },
    ]
}

/// The exchanges of a case: auth, the subscription, the filter, the
/// originate, (the socket's connect,) the kill.
pub(super) fn exchanges(case: &Case) -> usize {
    5 + usize::from(case.socket)
}

/// Whether a header of a channel event is compared: the channel data
/// (`Channel-*`, also the `connect` reply's copy of the caller profile),
/// the caller profile (`Caller-*`), the direction and answer state, and
/// the variables of the loopback pair and of the originate.
fn compared(name: &str) -> bool {
    const VARS: &[&str] = &[
        "variable_loopback_",
        "variable_other_loopback_leg_uuid",
        "variable_originat",
        "variable_pre_transfer_",
        "variable_channel_cid_flipped",
        "variable_direction",
        "variable_is_outbound",
        "variable_call_uuid",
    ];
    name.starts_with("Channel-")
        || name.starts_with("Caller-")
        || matches!(
            name,
            "Call-Direction" | "Presence-Call-Direction" | "Answer-State" | "Unique-ID"
        )
        || VARS.iter().any(|v| name.starts_with(v))
}

/// A compared header's value as the transcript shows it: UUIDs masked, and
/// a time (`...-Time`, `...-Hold`, microseconds) as `<time>` unless 0, so
/// that whether a time is set is still compared.
fn value(name: &str, value: &str) -> String {
    if (name.ends_with("-Time") || name.ends_with("-Last-Hold")) && value != "0" {
        return "<time>".to_owned();
    }
    mask_uuids(value)
}

/// The compared headers of `e` as transcript lines.
fn lines(e: &Event) -> Vec<String> {
    e.headers()
        .filter(|(n, _)| compared(n))
        .map(|(n, v)| format!("  {n}: {}", value(n, v)))
        .collect()
}

fn conn(stream: TcpStream) -> Conn {
    Conn {
        stream,
        codec: EslCodec::default(),
        buf: BytesMut::new(),
    }
}

/// What the control connection collected: each leg's events by name.
#[derive(Default)]
struct Seen {
    /// (leg, event name, n-th of that name) -> header lines.
    events: BTreeMap<(String, String, usize), Vec<String>>,
    /// Legs whose CHANNEL_HANGUP_COMPLETE came.
    complete: Vec<String>,
    /// The A leg's CHANNEL_PARK came.
    parked: bool,
}

impl Seen {
    /// Records an event frame (other frames are replies: ignored).
    fn frame(&mut self, frame: &Frame, a_leg: &str) {
        let Some(format) = frame
            .content_type()
            .and_then(EventFormat::from_content_type)
        else {
            return;
        };
        let Ok(e) = Event::parse(format, frame.body()) else {
            self.events
                .insert(("?".into(), "[undecodable event]".into(), 0), Vec::new());
            return;
        };
        let name = e.header("Event-Name").unwrap_or("?").to_owned();
        let leg = match e.header("Unique-ID") {
            Some(u) if u == a_leg => "the A leg",
            Some(_) => "the B leg",
            None => "no channel",
        };
        if name == "CHANNEL_HANGUP_COMPLETE" {
            self.complete.push(leg.to_owned());
        }
        if name == "CHANNEL_PARK" && leg == "the A leg" {
            self.parked = true;
        }
        let n = (0..)
            .find(|n| {
                !self
                    .events
                    .contains_key(&(leg.to_owned(), name.clone(), *n))
            })
            .unwrap_or(0);
        self.events.insert((leg.to_owned(), name, n), lines(&e));
    }

    /// Both legs are reported.
    fn done(&self) -> bool {
        ["the A leg", "the B leg"]
            .iter()
            .all(|l| self.complete.iter().any(|c| c == l))
    }
}

/// Reads control frames into `seen` until `until` holds; an error or the
/// peer closing is written into the transcript.
async fn read_until(
    control: &mut Conn,
    a_leg: &str,
    seen: &mut Seen,
    out: &mut Vec<String>,
    until: impl Fn(&Seen) -> bool,
) -> bool {
    while !until(seen) {
        match control.frame(WAIT).await {
            Ok(Some(frame)) => seen.frame(&frame, a_leg),
            Ok(None) => {
                out.push("[control connection closed]".to_owned());
                return false;
            }
            Err(e) => {
                out.push(format!("[control: {e}]"));
                return false;
            }
        }
    }
    true
}

/// Runs `case` against the switch at `addr`; a socket call dials a
/// listener on `listen_host`. Returns the transcript.
pub(super) async fn run(addr: &str, password: &str, listen_host: &str, case: &Case) -> Vec<String> {
    let stream = within("connect", WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("no switch at {addr}: {e}"));
    let mut control = conn(stream);
    let uuid = fresh_uuid();
    control.skip(1).await;
    let listener = TcpListener::bind((listen_host, 0))
        .await
        .expect("a free port for the outbound socket");
    let port = listener.local_addr().expect("bound").port();
    let app = if case.socket {
        format!("&socket('{listen_host}:{port} async full')")
    } else {
        "&park()".to_owned()
    };
    let shown_app = if case.socket {
        "&socket('<host>:<port> async full')"
    } else {
        "&park()"
    };
    let mut out = vec![format!(
        "> (control) originate {{origination_uuid=<uuid>}}{} {shown_app}",
        case.far_end
    )];
    for send in [
        format!("auth {password}\n\n"),
        format!("event plain {EVENTS}\n\n"),
        // Both legs carry the originate's variables.
        format!("filter variable_origination_uuid {uuid}\n\n"),
        format!(
            "bgapi originate {{origination_uuid={uuid}}}{} {app}\n\n",
            case.far_end
        ),
    ] {
        control
            .stream
            .write_all(send.as_bytes())
            .await
            .expect("write");
        control.skip(1).await;
    }
    let mut seen = Seen::default();
    // The socket stays open until the call is killed (closing it would end
    // the call first).
    let mut _socket = None;
    if case.socket {
        _socket = connect_reply(listener, &mut out).await;
    } else if !read_until(&mut control, &uuid, &mut seen, &mut out, |s| s.parked).await {
        return out;
    }
    control
        .stream
        .write_all(format!("api uuid_kill {uuid}\n\n").as_bytes())
        .await
        .expect("write");
    read_until(&mut control, &uuid, &mut seen, &mut out, Seen::done).await;
    for ((leg, name, n), lines) in seen.events {
        let nth = if n == 0 {
            String::new()
        } else {
            format!(" (again, {})", n + 1)
        };
        out.push(format!("> {name} on {leg}{nth}"));
        out.extend(lines);
    }
    out
}

/// Accepts the switch's socket connection, sends `connect` and writes the
/// compared headers of its reply into `out`; returns the socket.
async fn connect_reply(listener: TcpListener, out: &mut Vec<String>) -> Option<Conn> {
    let socket = match tokio::time::timeout(Duration::from_secs(5), listener.accept()).await {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(e)) => panic!("accept: {e}"),
        Err(_) => {
            out.push("[the switch did not dial the socket within 5s]".to_owned());
            return None;
        }
    };
    let mut socket = conn(socket);
    out.push("> (socket) connect".to_owned());
    socket
        .stream
        .write_all(b"connect\n\n")
        .await
        .expect("write");
    match socket.frame(WAIT).await {
        Ok(Some(frame)) => {
            for (n, v) in frame.headers() {
                if compared(n) {
                    out.push(format!("  {n}: {}", value(n, v)));
                }
            }
        }
        Ok(None) => out.push("[socket closed]".to_owned()),
        Err(e) => out.push(format!("[socket: {e}]")),
    }
    Some(socket)
}
