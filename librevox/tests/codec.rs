//! The frame decoder and message typing, against the captured FreeSWITCH bytes
//! and against malformed input.

mod support;

use bytes::{Bytes, BytesMut};
use librevox::protocol::{EslCodec, Event, EventFormat, Frame, Limits, Message};
use librevox::Error;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn decode_all(codec: &mut EslCodec, buf: &mut BytesMut) -> Result<Vec<Frame>, Error> {
    let mut frames = Vec::new();
    while let Some(f) = codec.decode(buf)? {
        frames.push(f);
    }
    Ok(frames)
}

fn decode_whole(bytes: &[u8]) -> Vec<Frame> {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(bytes);
    let mut frames = decode_all(&mut codec, &mut buf).unwrap();
    if let Some(f) = codec.decode_eof(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(
        buf.is_empty(),
        "bytes left over: {:?}",
        &buf[..buf.len().min(80)]
    );
    frames
}

/// Feeds `bytes` in the given chunk sizes (cycled).
fn decode_chunked(bytes: &[u8], chunks: &[usize]) -> Vec<Frame> {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = chunks[i % chunks.len()].max(1).min(bytes.len() - pos);
        buf.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        i += 1;
        frames.extend(decode_all(&mut codec, &mut buf).unwrap());
    }
    if let Some(f) = codec.decode_eof(&mut buf).unwrap() {
        frames.push(f);
    }
    frames
}

fn summary(frames: &[Frame]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in frames {
        let ct = f.content_type().unwrap_or("").to_owned();
        match counts.iter_mut().find(|(c, _)| *c == ct) {
            Some((_, n)) => *n += 1,
            None => counts.push((ct, 1)),
        }
    }
    counts.sort();
    counts
}

#[test]
fn every_capture_decodes_to_the_expected_frames() {
    let expected = support::expected_frames();
    assert_eq!(expected.len(), 40);
    for (name, bytes) in support::raw_captures() {
        let (_, count, types) = expected
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from FRAMES.md"));
        let frames = decode_whole(&bytes);
        assert_eq!(frames.len(), *count, "{name}: frame count");
        assert_eq!(&summary(&frames), types, "{name}: content types");
        // Every frame is typed without error, and nothing is dropped as unknown.
        for f in frames {
            let msg =
                Message::from_frame(f.clone()).unwrap_or_else(|e| panic!("{name}: {e} in {f:?}"));
            assert!(
                !matches!(msg, Message::Unknown(_)),
                "{name}: untyped frame {f:?}"
            );
        }
    }
}

#[test]
fn every_capture_decodes_the_same_fed_one_byte_at_a_time() {
    for (name, bytes) in support::raw_captures() {
        let whole = decode_whole(&bytes);
        let bytewise = decode_chunked(&bytes, &[1]);
        assert_eq!(whole, bytewise, "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn captures_decode_the_same_at_random_split_points(
        chunks in proptest::collection::vec(1usize..3000, 1..40),
        which in 0usize..40,
    ) {
        let captures = support::raw_captures();
        let (name, bytes) = &captures[which];
        let whole = decode_whole(bytes);
        let split = decode_chunked(bytes, &chunks);
        prop_assert_eq!(whole, split, "{}", name);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut codec = EslCodec::new(Limits { max_header_block: 512, max_body: 1024 });
        let mut buf = BytesMut::from(&data[..]);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => { let _ = Message::from_frame(frame); }
                Ok(None) => { let _ = codec.decode_eof(&mut buf); break; }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn arbitrary_event_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let payload = Bytes::from(data);
        let _ = Event::parse_plain(&payload);
        let _ = Event::parse_json(&payload);
        let _ = Event::parse_xml(&payload);
    }
}

#[test]
fn crlf_line_ends_and_blank_lines_between_frames_are_tolerated() {
    let bytes = b"\r\n\nContent-Type: command/reply\r\nReply-Text: +OK accepted\r\n\r\n\n\nContent-Type: api/response\nContent-Length: 2\n\r\nok";
    let frames = decode_whole(bytes);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].header("Reply-Text"), Some("+OK accepted"));
    assert_eq!(frames[1].body().as_ref(), b"ok");
    assert_eq!(frames[1].header("content-length"), Some("2"));
}

fn decode_err(bytes: &[u8], limits: Limits) -> Error {
    let mut codec = EslCodec::new(limits);
    let mut buf = BytesMut::from(bytes);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => return codec.decode_eof(&mut buf).expect_err("expected an error"),
            Err(e) => return e,
        }
    }
}

#[test]
fn negative_content_length_is_a_protocol_error() {
    let e = decode_err(
        b"Content-Type: api/response\nContent-Length: -5\n\n",
        Limits::default(),
    );
    assert!(
        matches!(e, Error::Protocol(ref m) if m.contains("negative")),
        "{e}"
    );
}

#[test]
fn non_numeric_content_length_is_a_protocol_error() {
    let e = decode_err(
        b"Content-Type: api/response\nContent-Length: 12abc\n\n",
        Limits::default(),
    );
    assert!(matches!(e, Error::Protocol(_)), "{e}");
}

#[test]
fn a_second_content_length_is_refused_whatever_its_casing_or_value() {
    for (second, first_seen) in [
        ("Content-Length: 3", "Content-Length: 3"),
        ("Content-Length: 7", "Content-Length: 3"),
        ("content-length: 7", "Content-Length: 3"),
        ("CONTENT-LENGTH:0", "Content-Length: 3"),
    ] {
        let frame = format!("Content-Type: api/response\nContent-Length: 3\n{second}\n\nabcdefg");
        // Whole, and fed one byte at a time: the error is the same.
        let e = decode_err(frame.as_bytes(), Limits::default());
        match &e {
            Error::AmbiguousLength { first, second: s } => {
                assert_eq!(first, first_seen);
                assert_eq!(s, second);
            }
            other => panic!("{second}: expected AmbiguousLength, got {other}"),
        }
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::new();
        let mut bytewise = None;
        for &b in frame.as_bytes() {
            buf.extend_from_slice(&[b]);
            match codec.decode(&mut buf) {
                Ok(None) => {}
                Ok(Some(f)) => panic!("{second}: a frame came out: {f:?}"),
                Err(e) => {
                    bytewise = Some(e);
                    break;
                }
            }
        }
        assert!(
            matches!(bytewise, Some(Error::AmbiguousLength { .. })),
            "{second}: {bytewise:?}"
        );
    }
}

#[test]
fn a_content_length_name_padded_with_whitespace_is_refused() {
    for line in [
        "Content-Length : 3",
        " Content-Length: 3",
        "\tcontent-length: 3",
    ] {
        let frame = format!("Content-Type: api/response\n{line}\n\nabc");
        let e = decode_err(frame.as_bytes(), Limits::default());
        assert!(
            matches!(e, Error::Protocol(ref m) if m.contains("whitespace")),
            "{line:?}: {e}"
        );
    }
}

#[test]
fn the_ambiguous_length_message_quotes_at_most_64_bytes_of_each_header() {
    let long = "9".repeat(500);
    let frame = format!("Content-Length: 1\nContent-Length: {long}\n\nx");
    let e = decode_err(frame.as_bytes(), Limits::default());
    let Error::AmbiguousLength { first, second } = &e else {
        panic!("{e}");
    };
    assert_eq!(first, "Content-Length: 1");
    assert_eq!(second.len(), 64);
    assert!(e.to_string().len() < 200, "{e}");
}

#[test]
fn huge_content_length_fails_before_any_body_arrives() {
    let limits = Limits::default();
    let mut codec = EslCodec::new(limits);
    let mut buf = BytesMut::from(
        &b"Content-Type: api/response\nContent-Length: 99999999999999999999\n\n"[..],
    );
    let cap_before = buf.capacity();
    let e = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(e, Error::FrameTooLarge { part: "body", limit, .. } if limit == 16 * 1024 * 1024),
        "{e}"
    );
    assert!(
        buf.capacity() <= cap_before,
        "nothing was reserved for the claimed body"
    );
}

#[test]
fn a_body_just_over_the_limit_is_refused_and_one_at_the_limit_is_waited_for() {
    let limits = Limits {
        max_header_block: 1024,
        max_body: 100,
    };
    let e = decode_err(
        b"Content-Type: api/response\nContent-Length: 101\n\n",
        limits,
    );
    assert!(
        matches!(
            e,
            Error::FrameTooLarge {
                size: 101,
                limit: 100,
                ..
            }
        ),
        "{e}"
    );
    let mut codec = EslCodec::new(limits);
    let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 100\n\n"[..]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    buf.extend_from_slice(&[b'x'; 100]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().body().len(), 100);
}

#[test]
fn an_endless_header_block_hits_the_header_limit() {
    let limits = Limits {
        max_header_block: 256,
        max_body: 1024,
    };
    let mut codec = EslCodec::new(limits);
    let mut buf = BytesMut::new();
    let mut err = None;
    for _ in 0..100 {
        buf.extend_from_slice(b"X-Header: some value\n");
        match codec.decode(&mut buf) {
            Ok(None) => continue,
            Ok(Some(f)) => panic!("unexpected frame {f:?}"),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let e = err.expect("the limit must trip");
    assert!(
        matches!(
            e,
            Error::FrameTooLarge {
                part: "header block",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn eof_in_the_middle_of_a_frame_is_an_error() {
    let e = decode_err(
        b"Content-Type: api/response\nContent-Len",
        Limits::default(),
    );
    assert!(
        matches!(e, Error::Protocol(ref m) if m.contains("header block")),
        "{e}"
    );
    let e = decode_err(
        b"Content-Type: api/response\nContent-Length: 10\n\nabc",
        Limits::default(),
    );
    assert!(
        matches!(e, Error::Protocol(ref m) if m.contains("3 of 10")),
        "{e}"
    );
}

#[test]
fn eof_after_trailing_blank_lines_is_clean() {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&b"Content-Type: auth/request\n\n\n\r\n"[..]);
    assert!(codec.decode(&mut buf).unwrap().is_some());
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
}

#[test]
fn nul_and_non_utf8_header_bytes_are_protocol_errors() {
    let e = decode_err(
        b"Content-Type: command/reply\nReply-Text: +OK\0\n\n",
        Limits::default(),
    );
    assert!(
        matches!(e, Error::Protocol(ref m) if m.contains("NUL")),
        "{e}"
    );
    let e = decode_err(
        b"Content-Type: command/reply\nReply-Text: \xff\xfe\n\n",
        Limits::default(),
    );
    assert!(
        matches!(e, Error::Protocol(ref m) if m.contains("UTF-8")),
        "{e}"
    );
}

#[test]
fn bodies_may_contain_blank_lines_and_header_lookalikes() {
    let body = b"line\n\nContent-Type: command/reply\n\n";
    let mut bytes = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(b"Content-Type: auth/request\n\n");
    let frames = decode_whole(&bytes);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].body().as_ref(), body);
    assert_eq!(frames[1].content_type(), Some("auth/request"));
}

#[test]
fn unknown_content_types_are_kept_raw() {
    let frames =
        decode_whole(b"Content-Type: text/something-new\nX-A: 1\nContent-Length: 3\n\nabc");
    let msg = Message::from_frame(frames[0].clone()).unwrap();
    match msg {
        Message::Unknown(f) => {
            assert_eq!(f.header("X-A"), Some("1"));
            assert_eq!(f.body().as_ref(), b"abc");
        }
        other => panic!("{other:?}"),
    }
}

fn messages(name: &str) -> Vec<Message> {
    decode_whole(&support::raw(name))
        .into_iter()
        .map(|f| Message::from_frame(f).unwrap())
        .collect()
}

#[test]
fn inbound_basic_is_typed_as_freeswitch_meant_it() {
    let msgs = messages("inbound_basic");
    assert!(matches!(msgs[0], Message::AuthRequest));
    let Message::CommandReply(r) = &msgs[1] else {
        panic!()
    };
    assert_eq!(r.text(), "+OK accepted");
    assert!(r.is_ok());
    let Message::ApiResponse(status) = &msgs[2] else {
        panic!()
    };
    assert!(status.text().starts_with("UP 0 years"));
    assert!(!status.is_err());
    let Message::ApiResponse(notfound) = &msgs[3] else {
        panic!()
    };
    assert!(notfound.is_err());
    let err = notfound.clone().into_result("no_such_command").unwrap_err();
    assert_eq!(
        err.reply_text(),
        Some("-ERR no_such_command Command not found!")
    );
    assert_eq!(
        &notfound.body()[..],
        b"-ERR no_such_command Command not found!\n"
    );
    let Message::ApiResponse(noreply) = &msgs[4] else {
        panic!()
    };
    assert_eq!(noreply.text(), "-ERR no reply\n");
    // bgapi reply with Job-UUID, then the BACKGROUND_JOB event with its body.
    let Message::CommandReply(job) = &msgs[6] else {
        panic!()
    };
    assert_eq!(job.job_uuid(), Some("1303bacd-b2e1-4d00-a2be-23141c235239"));
    let Message::Event(ev) = &msgs[7] else {
        panic!()
    };
    assert_eq!(ev.name(), Some("BACKGROUND_JOB"));
    assert_eq!(ev.job_uuid(), Some("1303bacd-b2e1-4d00-a2be-23141c235239"));
    assert_eq!(ev.header("FreeSWITCH-IPv6"), Some("fd00::2"));
    assert_eq!(ev.header("Event-Date-Local"), Some("2026-11-26 03:08:11"));
    assert_eq!(ev.sequence(), Some(391));
    assert!(ev.body_str().unwrap().starts_with("UP 0 years"));
    assert_eq!(ev.body().unwrap().len(), 333);
    assert_eq!(
        ev.header("Content-Length"),
        None,
        "the body length is not a header"
    );
    let Message::DisconnectNotice(n) = msgs.last().unwrap() else {
        panic!()
    };
    assert!(n.is_closing());
    assert_eq!(
        n.body,
        "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    );
}

#[test]
fn the_connect_reply_is_percent_decoded_channel_data() {
    let msgs = messages("call_plain_outbound");
    let Message::CommandReply(r) = &msgs[0] else {
        panic!("{:?}", msgs[0])
    };
    assert_eq!(r.text(), "+OK");
    assert!(r.is_ok());
    let data = r.channel_data().expect("channel data");
    assert_eq!(data.name(), Some("CHANNEL_DATA"));
    assert_eq!(data.header("Socket-Mode"), Some("async"));
    assert_eq!(data.header("Control"), Some("full"));
    assert_eq!(data.header("Reply-Text"), Some("+OK\n"));
    assert_eq!(
        data.variable("current_application_data"),
        Some("127.0.0.1:8084 async full")
    );
    assert!(data.unique_id().is_some());
    assert_eq!(
        data.header("Caller-Channel-Name"),
        Some("loopback/socket_test-b")
    );
}

#[test]
fn linger_and_disconnect_notices_are_told_apart() {
    let msgs = messages("call_plain_linger_outbound");
    let notices: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::DisconnectNotice(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices[0].is_linger());
    assert_eq!(notices[0].linger_time, Some(-1));
    assert!(notices[0].controlled_session_uuid.is_some());
    assert!(notices[1].is_closing());
    assert_eq!(notices[1].disposition.as_deref(), Some("disconnect"));
}

#[test]
fn rude_rejection_and_log_data_are_typed() {
    let msgs = messages("rude_rejection");
    assert_eq!(
        msgs[0],
        Message::RudeRejection("Access Denied, go away.\n".into())
    );
    let logs: Vec<_> = messages("log_data")
        .into_iter()
        .filter_map(|m| match m {
            Message::Log(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 17);
    let api_log = logs
        .iter()
        .find(|l| l.text.contains("hello from api log"))
        .unwrap();
    assert_eq!(api_log.level, 5);
    assert_eq!(api_log.text_channel, Some(3));
    assert_eq!(
        api_log.user_data, None,
        "an empty User-Data is no user data"
    );
    assert!(logs
        .iter()
        .any(|l| l.user_data.is_some() && l.text_channel == Some(1)));
}

#[test]
fn plain_values_are_decoded_exactly_where_freeswitch_encodes() {
    let msgs = messages("sendevent_custom");
    let events: Vec<&Event> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let ascii = events
        .iter()
        .find(|e| e.header("X-Ascii").is_some())
        .expect("the printable-ASCII event");
    assert_eq!(
        ascii.header("X-Ascii"),
        Some("!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~")
    );
    assert_eq!(ascii.header("X-Utf8"), Some("Müller €"));
    assert_eq!(ascii.header("X-Tab"), Some("\tvalue"));
    assert_eq!(ascii.header("X-Spaces"), Some("lead"));
    assert_eq!(ascii.header("X-Sp "), Some("spaced name"));
    // FreeSWITCH copies `%25` literally when encoding, so it decodes to `%`.
    assert_eq!(ascii.header("X-Pct"), Some("100% a%2fb %zz %4a"));
    assert_eq!(ascii.header("X-Empty"), None);
    assert_eq!(ascii.header_ignore_case("x-utf8"), Some("Müller €"));
    // The event with a client Content-Length keeps it as a header; the body
    // length header the serializer appended is not a header.
    let with_body = events
        .iter()
        .find(|e| e.header("X-Plain").is_some())
        .expect("the event with a body");
    assert_eq!(
        with_body.header_all("X-Dup").collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(with_body.header("content-length"), Some("48"));
    assert_eq!(
        with_body.body_str().as_deref(),
        Some("line one\nline two: with colon\n\nafter empty line\n")
    );
    assert!(with_body.is("CUSTOM test::verify"));
    assert!(with_body.is("custom"));
    assert!(!with_body.is("CUSTOM other::x"));
}

#[test]
fn array_headers_split_in_all_three_formats() {
    let msgs = messages("outbound_divert_events");
    let mut seen = Vec::new();
    for m in &msgs {
        if let Message::Event(e) = m {
            if e.header("variable_arr").is_some() {
                seen.push(e.header_values("variable_arr"));
            }
        }
    }
    // After the first `push` the variable has one element (written as a plain
    // value), after the second it is an array in every format.
    let full: Vec<_> = seen.iter().filter(|v| v.len() == 2).collect();
    assert!(
        full.len() >= 3,
        "plain, JSON and XML events with the array: {seen:?}"
    );
    for values in full {
        assert_eq!(values, &["first", "second value"]);
    }
    assert!(seen.iter().all(|v| v[0] == "first"));
}

#[test]
fn xml_events_parse_with_escaped_bodies() {
    let msgs = messages("event_xml");
    let events: Vec<&Event> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].name(), Some("BACKGROUND_JOB"));
    let special = events[1];
    // `%41` is uppercase hex, which FreeSWITCH's encoder copies literally, so
    // it decodes to `A`: the documented irreversibility of its encoding.
    assert_eq!(special.header("X-Special"), Some("<&>\"' A ü"));
    assert_eq!(
        special.body_str().as_deref(),
        Some("a<b & c>d \"q\" 'a'\ttab\r\nline2 ü€\n")
    );
    assert_eq!(events[2].header("X-Empty-Body"), Some("yes"));
    assert_eq!(events[2].body(), None);
}

/// Masks values that legitimately differ between two recordings of the same
/// call (UUIDs, times, counters): every run of ASCII digits becomes `#`, and a
/// UUID becomes `<uuid>`.
fn mask(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let is_uuid = b.len() - i >= 36
            && b[i..i + 36].iter().enumerate().all(|(k, c)| {
                if [8, 13, 18, 23].contains(&k) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            });
        if is_uuid {
            out.push_str("<uuid>");
            i += 36;
        } else if b[i].is_ascii_digit() {
            out.push('#');
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            let c = v[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn masked(e: &Event) -> String {
    let mut s = String::new();
    for (n, v) in e.headers() {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(&mask(v));
        s.push('\n');
    }
    if let Some(b) = e.body_str() {
        s.push_str(&mask(&b));
    }
    s
}

fn events_of(name: &str) -> Vec<Event> {
    messages(name)
        .into_iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn one_call_recorded_as_plain_and_as_json_parses_to_the_same_events() {
    // The same call flow was recorded once with `event plain ALL` and once
    // with `event json ALL`. After masking UUIDs and numbers, the two sets of
    // parsed events are identical: same names, same header order, same
    // decoded values, same bodies. (Inbound recordings interleave the two
    // loopback legs differently, so the comparison is as sorted sets.)
    for (plain, json) in [
        ("call_plain_outbound", "call_json_outbound"),
        ("call_plain_linger_outbound", "call_json_linger_outbound"),
        ("call_plain_inbound", "call_json_inbound"),
        ("call_plain_linger_inbound", "call_json_linger_inbound"),
    ] {
        let mut p: Vec<String> = events_of(plain).iter().map(masked).collect();
        let mut j: Vec<String> = events_of(json).iter().map(masked).collect();
        assert!(p.len() >= 31, "{plain}: {} events", p.len());
        p.sort();
        j.sort();
        let differing: Vec<_> = p.iter().zip(&j).filter(|(a, b)| a != b).collect();
        assert!(
            differing.is_empty(),
            "{plain} vs {json}: first difference {:#?}",
            differing.first()
        );
    }
}

#[test]
fn plain_json_and_xml_of_one_event_are_equal() {
    // The same BACKGROUND_JOB, written by hand in the three formats exactly as
    // ESL-PROTOCOL.md §1.1 shows FreeSWITCH writing it.
    let plain = Bytes::from_static(b"Event-Name: BACKGROUND_JOB\nCore-UUID: 7c3f6a52-2b1e-4d8f-9a0c-5e4d3b2a1f09\nFreeSWITCH-IPv6: %3A%3A1\nEvent-Date-Local: 2024-05-14%2010%3A21%3A07\nEvent-Sequence: 48213\nJob-UUID: 5d2f8a34-8c1b-4f0e-b6a7-3e9d1c2b4a55\nJob-Command: originate\nJob-Command-Arg: loopback/9664%20%26park()\nContent-Length: 41\n\n+OK 1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71\n");
    let json = Bytes::from_static(br#"{"Event-Name":"BACKGROUND_JOB","Core-UUID":"7c3f6a52-2b1e-4d8f-9a0c-5e4d3b2a1f09","FreeSWITCH-IPv6":"::1","Event-Date-Local":"2024-05-14 10:21:07","Event-Sequence":"48213","Job-UUID":"5d2f8a34-8c1b-4f0e-b6a7-3e9d1c2b4a55","Job-Command":"originate","Job-Command-Arg":"loopback/9664 &park()","Content-Length":"41","_body":"+OK 1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71\n"}"#);
    let xml = Bytes::from_static(b"<event>\n  <headers>\n    <Event-Name>BACKGROUND_JOB</Event-Name>\n    <Core-UUID>7c3f6a52-2b1e-4d8f-9a0c-5e4d3b2a1f09</Core-UUID>\n    <FreeSWITCH-IPv6>%3A%3A1</FreeSWITCH-IPv6>\n    <Event-Date-Local>2024-05-14%2010%3A21%3A07</Event-Date-Local>\n    <Event-Sequence>48213</Event-Sequence>\n    <Job-UUID>5d2f8a34-8c1b-4f0e-b6a7-3e9d1c2b4a55</Job-UUID>\n    <Job-Command>originate</Job-Command>\n    <Job-Command-Arg>loopback/9664%20%26park()</Job-Command-Arg>\n  </headers>\n  <Content-Length>41</Content-Length>\n  <body>+OK 1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71\n  </body>\n</event>\n");
    let p = Event::parse(EventFormat::Plain, &plain).unwrap();
    let j = Event::parse(EventFormat::Json, &json).unwrap();
    let x = Event::parse(EventFormat::Xml, &xml).unwrap();
    assert_eq!(p, j);
    assert_eq!(p, x);
    assert_eq!(p.header("Job-Command-Arg"), Some("loopback/9664 &park()"));
    assert_eq!(
        p.body_str().as_deref(),
        Some("+OK 1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71\n")
    );
}

#[test]
fn json_with_invalid_utf8_is_decoded_lossily() {
    let json = Bytes::from_static(b"{\"Event-Name\":\"CUSTOM\",\"X\":\"a\xffb\"}");
    let e = Event::parse_json(&json).unwrap();
    assert_eq!(e.header("X"), Some("a\u{fffd}b"));
}

#[test]
fn diverted_events_without_standard_headers_parse() {
    let payload = Bytes::from_static(b"Command: sendevent%20CUSTOM\nUnique-ID: abc\nX-Id: 1\n\n");
    let e = Event::parse_plain(&payload).unwrap();
    assert_eq!(e.name(), None);
    assert_eq!(e.header("Command"), Some("sendevent CUSTOM"));
    assert_eq!(e.unique_id(), Some("abc"));
}
