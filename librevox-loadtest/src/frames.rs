//! The bytes the FreeSWITCH side sends, built once from the captured frames
//! (`testdata/captures`), so that every workload carries what a real
//! FreeSWITCH writes: the same header names, values and percent-encoding.

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Event, EventFormat, Frame};
use tokio_util::codec::Decoder;

const CALL_PLAIN_INBOUND: &[u8] =
    include_bytes!("../../testdata/captures/call_plain_inbound.raw.txt");
const CALL_PLAIN_LINGER_OUTBOUND: &[u8] =
    include_bytes!("../../testdata/captures/call_plain_linger_outbound.raw.txt");

/// Length of a textual UUID: every placeholder is patched in place with one.
pub const UUID_LEN: usize = 36;

fn frames(raw: &[u8]) -> Vec<Frame> {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(raw);
    let mut out = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).expect("captures decode") {
        out.push(frame);
    }
    out
}

fn events(raw: &[u8]) -> Vec<Event> {
    frames(raw)
        .into_iter()
        .filter(|f| f.content_type() == Some("text/event-plain"))
        .map(|f| Event::parse(EventFormat::Plain, f.body()).expect("captured event parses"))
        .collect()
}

/// All offsets of `needle` in `hay`.
fn offsets(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    memchr::memmem::find_iter(hay, needle).collect()
}

/// Writes a fresh random UUID into `buf` at each offset.
pub fn patch(buf: &mut [u8], at: &[usize], uuid: &[u8; UUID_LEN]) {
    for &o in at {
        buf[o..o + UUID_LEN].copy_from_slice(uuid);
    }
}

/// A random UUID as 36 ASCII bytes.
pub fn uuid_bytes() -> [u8; UUID_LEN] {
    let mut out = [0u8; UUID_LEN];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut out);
    out
}

/// Channel variables a SIP call carries beyond the loopback calls of the
/// captures (names and value shapes from a FreeSWITCH SIP leg), so that the
/// events reach the size of a production call's: ~105 headers, ~3.7 KB.
const SIP_VARIABLES: &[(&str, &str)] = &[
    ("variable_sip_from_user", "1000"),
    ("variable_sip_from_uri", "1000@192.0.2.10"),
    ("variable_sip_from_host", "192.0.2.10"),
    ("variable_sip_from_user_stripped", "1000"),
    ("variable_sip_from_tag", "a4Bc9XyZ0t1Q"),
    ("variable_sofia_profile_name", "internal"),
    ("variable_recovery_profile_name", "internal"),
    ("variable_sip_full_to", "<sip:2000@192.0.2.2>"),
    ("variable_sip_req_user", "2000"),
    ("variable_sip_req_uri", "2000@192.0.2.2"),
    ("variable_sip_req_host", "192.0.2.2"),
    ("variable_sip_to_user", "2000"),
    ("variable_sip_to_uri", "2000@192.0.2.2"),
    ("variable_sip_to_host", "192.0.2.2"),
    ("variable_sip_contact_user", "1000"),
    ("variable_sip_contact_port", "5060"),
    ("variable_sip_contact_uri", "1000@192.0.2.10:5060"),
    ("variable_sip_contact_host", "192.0.2.10"),
    ("variable_sip_via_protocol", "udp"),
    ("variable_sip_via_host", "192.0.2.10"),
    ("variable_sip_via_port", "5060"),
    ("variable_sip_via_rport", "5060"),
    ("variable_sip_user_agent", "Z 5.4.12 v2.10.13.2-mod"),
    (
        "variable_sip_call_id",
        "NzU0ZWM4ZjA2YjQ0ZTRkMzQ2ZGM4NjRhNmZlYjE5ZmE.",
    ),
    ("variable_rtp_use_codec_string", "OPUS,G722,PCMU,PCMA"),
    ("variable_remote_media_ip", "192.0.2.10"),
    ("variable_remote_media_port", "8000"),
    ("variable_rtp_audio_recv_pt", "106"),
    ("variable_dtmf_type", "rfc2833"),
    ("variable_endpoint_disposition", "ANSWER"),
    ("variable_current_application", "playback"),
];

/// The inbound workload: a cycle of event frames (`calls` interleaved calls,
/// each CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_EXECUTE,
/// CHANNEL_EXECUTE_COMPLETE, CHANNEL_HANGUP, then one HEARTBEAT), with the
/// offsets of every call's UUID so that each cycle can carry new channels.
pub struct InboundCycle {
    /// The frames, concatenated.
    pub bytes: Vec<u8>,
    /// End offset of each frame in `bytes`.
    pub frame_ends: Vec<usize>,
    /// Per call slot, the offsets of its UUID.
    pub uuid_at: Vec<Vec<usize>>,
    /// Average header count of the events.
    pub avg_headers: f64,
}

/// The event names of the inbound workload, in call order.
pub const INBOUND_CALL_EVENTS: [&str; 5] = [
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
];

fn heartbeat(core_uuid: &str) -> Event {
    let mut e = Event::new("HEARTBEAT");
    for (n, v) in [
        ("Core-UUID", core_uuid),
        ("FreeSWITCH-Hostname", "vm"),
        ("FreeSWITCH-Switchname", "vm"),
        ("FreeSWITCH-IPv4", "192.0.2.2"),
        ("FreeSWITCH-IPv6", "fd00::2"),
        ("Event-Date-Local", "2026-11-26 03:08:20"),
        ("Event-Date-GMT", "Thu, 26 Nov 2026 03:08:20 GMT"),
        ("Event-Date-Timestamp", "1795662500000000"),
        ("Event-Calling-File", "switch_core.c"),
        ("Event-Calling-Function", "send_heartbeat"),
        ("Event-Calling-Line-Number", "81"),
        ("Event-Sequence", "420"),
        ("Event-Info", "System Ready"),
        (
            "Up-Time",
            "0 years, 0 days, 1 hour, 12 minutes, 40 seconds, 212 milliseconds, 33 microseconds",
        ),
        (
            "FreeSWITCH-Version",
            "1.11.3-dev+git~20261120T101010Z~cc93a683~64bit",
        ),
        ("Uptime-msec", "4360212"),
        ("Session-Count", "212"),
        ("Max-Sessions", "1000"),
        ("Session-Per-Sec", "30"),
        ("Session-Per-Sec-Last", "12"),
        ("Session-Per-Sec-Max", "27"),
        ("Session-Per-Sec-FiveMin", "14"),
        ("Session-Since-Startup", "48213"),
        ("Session-Peak-Max", "640"),
        ("Session-Peak-FiveMin", "233"),
        ("Idle-CPU", "71.466667"),
    ] {
        e.push_header(n, v);
    }
    e
}

/// Builds the inbound cycle.
pub fn inbound_cycle(calls: usize) -> InboundCycle {
    let captured = events(CALL_PLAIN_INBOUND);
    // The first leg's events of each kind.
    let leg = captured
        .iter()
        .find(|e| e.is("CHANNEL_CREATE"))
        .and_then(|e| e.unique_id())
        .expect("a CHANNEL_CREATE")
        .to_owned();
    let core = captured[0].core_uuid().unwrap_or("").to_owned();
    let templates: Vec<Event> = INBOUND_CALL_EVENTS
        .iter()
        .map(|name| {
            let mut e = captured
                .iter()
                .find(|e| e.is(name) && e.unique_id() == Some(&leg))
                .unwrap_or_else(|| panic!("the capture has {name}"))
                .clone();
            for (n, v) in SIP_VARIABLES {
                e.push_header(n, v);
            }
            e
        })
        .collect();
    let mut out = InboundCycle {
        bytes: Vec::new(),
        frame_ends: Vec::new(),
        uuid_at: vec![Vec::new(); calls],
        avg_headers: 0.0,
    };
    let mut headers = 0usize;
    let placeholders: Vec<String> = (0..calls)
        .map(|_| String::from_utf8(uuid_bytes().to_vec()).unwrap())
        .collect();
    for template in &templates {
        for (slot, ph) in placeholders.iter().enumerate() {
            let mut e = Event::empty();
            for (n, v) in template.headers() {
                e.push_header(n, &v.replace(&leg, ph));
            }
            headers += e.len();
            let frame = e.to_frame(EventFormat::Plain);
            let base = out.bytes.len();
            out.uuid_at[slot].extend(offsets(&frame, ph.as_bytes()).into_iter().map(|o| o + base));
            out.bytes.extend_from_slice(&frame);
            out.frame_ends.push(out.bytes.len());
        }
    }
    let hb = heartbeat(&core);
    headers += hb.len();
    out.bytes
        .extend_from_slice(&hb.to_frame(EventFormat::Plain));
    out.frame_ends.push(out.bytes.len());
    out.avg_headers = headers as f64 / out.frame_ends.len() as f64;
    out
}

/// A pre-serialized frame with UUID placeholders.
#[derive(Clone)]
pub struct Template {
    pub bytes: Vec<u8>,
    /// Offsets of the channel UUID.
    pub channel_at: Vec<usize>,
    /// Offsets of the application UUID (`Application-UUID`).
    pub app_at: Vec<usize>,
}

impl Template {
    fn new(bytes: Vec<u8>, channel: &str, app: Option<&str>) -> Template {
        Template {
            channel_at: offsets(&bytes, channel.as_bytes()),
            app_at: app
                .map(|a| offsets(&bytes, a.as_bytes()))
                .unwrap_or_default(),
            bytes,
        }
    }

    /// Appends this frame for `channel` (and `app`) to `out`.
    pub fn render(&self, out: &mut Vec<u8>, channel: &[u8; UUID_LEN], app: &[u8; UUID_LEN]) {
        let base = out.len();
        out.extend_from_slice(&self.bytes);
        for &o in &self.channel_at {
            out[base + o..base + o + UUID_LEN].copy_from_slice(channel);
        }
        for &o in &self.app_at {
            out[base + o..base + o + UUID_LEN].copy_from_slice(app);
        }
    }
}

/// What an outbound FreeSWITCH writes for one call, per step, from the
/// captured linger call (answer, playback, hangup).
pub struct OutboundScript {
    /// The `connect` reply (channel data).
    pub connect: Template,
    /// CHANNEL_EXECUTE, CHANNEL_ANSWER, CHANNEL_EXECUTE_COMPLETE of answer.
    pub answer: Vec<Template>,
    /// CHANNEL_EXECUTE, PLAYBACK_START of playback (then it plays).
    pub playback_start: Vec<Template>,
    /// PLAYBACK_STOP, CHANNEL_EXECUTE_COMPLETE of playback.
    pub playback_end: Vec<Template>,
    /// CHANNEL_EXECUTE, CHANNEL_HANGUP, CHANNEL_EXECUTE_COMPLETE of hangup,
    /// the linger notice, CHANNEL_HANGUP_COMPLETE.
    pub hangup: Vec<Template>,
    /// Any other application: CHANNEL_EXECUTE, CHANNEL_EXECUTE_COMPLETE.
    pub other: Vec<Template>,
}

fn event_frame_bytes(f: &Frame) -> Vec<u8> {
    let mut v = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        f.body().len()
    )
    .into_bytes();
    v.extend_from_slice(f.body());
    v
}

/// Builds the outbound script from the linger capture.
pub fn outbound_script() -> OutboundScript {
    let all = frames(CALL_PLAIN_LINGER_OUTBOUND);
    let connect = all
        .iter()
        .find(|f| f.content_type() == Some("command/reply") && f.header("Event-Name").is_some())
        .expect("connect reply");
    let channel = connect.header("Unique-ID").expect("Unique-ID").to_owned();
    let mut connect_bytes = connect.raw_head().to_vec();
    connect_bytes.extend_from_slice(b"\n\n");
    let own: Vec<(Event, Vec<u8>)> = all
        .iter()
        .filter(|f| f.content_type() == Some("text/event-plain"))
        .map(|f| {
            (
                Event::parse(EventFormat::Plain, f.body()).unwrap(),
                event_frame_bytes(f),
            )
        })
        .filter(|(e, _)| e.unique_id() == Some(channel.as_str()))
        .collect();
    let find = |name: &str, app: Option<&str>| -> Template {
        let (e, bytes) = own
            .iter()
            .find(|(e, _)| e.is(name) && (app.is_none() || e.application() == app))
            .unwrap_or_else(|| panic!("the capture has {name} {app:?}"));
        Template::new(bytes.clone(), &channel, e.application_uuid())
    };
    let linger = all
        .iter()
        .find(|f| f.header("Content-Disposition") == Some("linger"))
        .expect("linger notice");
    let mut linger_bytes = linger.raw_head().to_vec();
    linger_bytes.extend_from_slice(b"\n\n");
    OutboundScript {
        connect: Template::new(connect_bytes, &channel, None),
        answer: vec![
            find("CHANNEL_EXECUTE", Some("answer")),
            find("CHANNEL_ANSWER", None),
            find("CHANNEL_EXECUTE_COMPLETE", Some("answer")),
        ],
        playback_start: vec![
            find("CHANNEL_EXECUTE", Some("playback")),
            find("PLAYBACK_START", None),
        ],
        playback_end: vec![
            find("PLAYBACK_STOP", None),
            find("CHANNEL_EXECUTE_COMPLETE", Some("playback")),
        ],
        hangup: vec![
            find("CHANNEL_EXECUTE", Some("hangup")),
            find("CHANNEL_HANGUP", None),
            find("CHANNEL_EXECUTE_COMPLETE", Some("hangup")),
            Template::new(linger_bytes, &channel, None),
            find("CHANNEL_HANGUP_COMPLETE", None),
        ],
        other: vec![
            find("CHANNEL_EXECUTE", Some("set")),
            find("CHANNEL_EXECUTE_COMPLETE", Some("set")),
        ],
    }
}

/// The body of `api status` as FreeSWITCH writes it.
pub const STATUS_BODY: &str =
    "UP 0 years, 0 days, 1 hour, 12 minutes, 40 seconds, 212 milliseconds, 33 microseconds\n\
FreeSWITCH (Version 1.11.3-dev git cc93a683 2026-11-20 10:10:10Z 64bit) is ready\n\
48213 session(s) since startup\n\
212 session(s) - peak 640, last 5min 233 \n\
30 session(s) per Sec out of max 30, peak 27, last 5min 14 \n\
1000 session(s) max\n\
min idle cpu 0.00/71.47\n\
Current Stack Size/Max 240K/8192K\n";

/// The bridge workload's events: `n` events of the inbound workload's calls
/// (16 interleaved, fresh UUIDs every cycle), each with its own
/// `Event-Sequence` (1, 2, ...) so that every one has its own `Nats-Msg-Id`
/// and JetStream stores them all.
pub struct BridgeStream {
    /// The events as the blaster writes them (`text/event-plain` frames, no
    /// patching: the whole run is serialized).
    pub esl: InboundCycle,
    /// The same events, in the same order.
    pub events: Vec<Event>,
}

/// Builds [`BridgeStream`] of `n` events.
pub fn bridge_stream(n: usize) -> BridgeStream {
    let cycle = inbound_cycle(16);
    let mut templates = Vec::new();
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&cycle.bytes[..]);
    while let Some(frame) = codec.decode(&mut buf).expect("the cycle decodes") {
        templates.push(Event::parse(EventFormat::Plain, frame.body()).expect("cycle event"));
    }
    // Each cycle's calls get fresh UUIDs: the slots' placeholders are the
    // UUIDs the cycle was built with.
    let slots: Vec<String> = cycle
        .uuid_at
        .iter()
        .map(|at| String::from_utf8(cycle.bytes[at[0]..at[0] + UUID_LEN].to_vec()).unwrap())
        .collect();
    let mut esl = InboundCycle {
        bytes: Vec::new(),
        frame_ends: Vec::with_capacity(n),
        uuid_at: Vec::new(),
        avg_headers: cycle.avg_headers,
    };
    let mut events = Vec::with_capacity(n);
    let mut fresh: Vec<String> = Vec::new();
    for k in 0..n {
        let t = &templates[k % templates.len()];
        if k % templates.len() == 0 {
            fresh = slots
                .iter()
                .map(|_| String::from_utf8(uuid_bytes().to_vec()).unwrap())
                .collect();
        }
        let mut e = Event::empty();
        for (name, value) in t.headers() {
            let mut v = value.to_owned();
            for (old, new) in slots.iter().zip(&fresh) {
                if v.contains(old.as_str()) {
                    v = v.replace(old.as_str(), new);
                }
            }
            e.push_header(name, &v);
        }
        e.set_header("Event-Sequence", &(k + 1).to_string());
        let frame = e.to_frame(EventFormat::Plain);
        esl.bytes.extend_from_slice(&frame);
        esl.frame_ends.push(esl.bytes.len());
        events.push(e);
    }
    BridgeStream { esl, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_cycle_frames_parse_and_carry_patched_uuids() {
        let mut cycle = inbound_cycle(4);
        assert_eq!(cycle.frame_ends.len(), 4 * 5 + 1);
        let fresh: Vec<_> = (0..4).map(|_| uuid_bytes()).collect();
        for (slot, at) in cycle.uuid_at.clone().iter().enumerate() {
            patch(&mut cycle.bytes, at, &fresh[slot]);
        }
        let all = frames(&cycle.bytes);
        assert_eq!(all.len(), 21);
        let first = Event::parse(EventFormat::Plain, all[0].body()).unwrap();
        assert!(first.is("CHANNEL_CREATE"));
        assert_eq!(first.unique_id().unwrap().as_bytes(), &fresh[0]);
        assert!(cycle.avg_headers > 95.0, "{}", cycle.avg_headers);
    }

    #[test]
    fn outbound_script_renders_frames() {
        let s = outbound_script();
        let ch = uuid_bytes();
        let app = uuid_bytes();
        let mut out = Vec::new();
        s.connect.render(&mut out, &ch, &app);
        for t in &s.answer {
            t.render(&mut out, &ch, &app);
        }
        let all = frames(&out);
        assert_eq!(all.len(), 4);
        let done = Event::parse(EventFormat::Plain, all[3].body()).unwrap();
        assert!(done.is("CHANNEL_EXECUTE_COMPLETE"));
        assert_eq!(done.application_uuid().unwrap().as_bytes(), &app);
        assert_eq!(done.unique_id().unwrap().as_bytes(), &ch);
    }
}
