//! Typed values and header lookups, against the captured FreeSWITCH events.

mod support;

use bytes::BytesMut;
use librevox::protocol::{
    AnswerState, CallState, ChannelState, EslCodec, Event, EventName, HangupCause, Message,
};
use tokio_util::codec::Decoder;

/// Every event of every capture (plain, JSON and XML alike).
fn captured_events() -> Vec<(String, Event)> {
    let mut out = Vec::new();
    for (name, bytes) in support::raw_captures() {
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::from(&bytes[..]);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            if let Ok(Message::Event(e)) = Message::from_frame(frame) {
                out.push((name.clone(), e));
            }
        }
    }
    out
}

#[test]
fn every_captured_value_is_known_and_reads_back_as_sent() {
    let events = captured_events();
    assert!(events.len() > 200, "only {} events", events.len());
    let mut causes = 0;
    for (capture, e) in &events {
        let Some(name) = e.event_name() else {
            // Diverted events come without an Event-Name.
            assert_eq!(capture, "outbound_divert_events", "{e:?}");
            continue;
        };
        assert!(!name.is_other(), "{capture}: unknown event {name:?}");
        assert_eq!(name.as_str(), e.name().unwrap(), "{capture}");
        if matches!(name, EventName::Custom(_)) {
            assert_eq!(name.subclass(), e.subclass(), "{capture}");
        }
        if let Some(text) = e.header("Hangup-Cause") {
            let cause = e.hangup_cause().unwrap();
            assert!(!cause.is_other(), "{capture}: unknown cause {text}");
            assert_eq!(cause.as_str(), text);
            causes += 1;
        }
        if let Some(text) = e.header("Channel-State") {
            let state = e.channel_state().unwrap();
            assert!(!state.is_other(), "{capture}: unknown state {text}");
            assert_eq!(state.as_str(), text);
            // The number FreeSWITCH sends beside it is the channel's
            // running state, which may differ (CS_EXECUTE with 10 while
            // the hangup runs), but it is always a known state.
            if let Some(n) = e.header("Channel-State-Number") {
                assert!(
                    ChannelState::from_number(n.parse().unwrap()).is_some(),
                    "{capture}: {n}"
                );
            }
        }
        if let Some(text) = e.header("Channel-Call-State") {
            let state = e.call_state().unwrap();
            assert!(!state.is_other(), "{capture}: unknown call state {text}");
            assert_eq!(state.as_str(), text);
            if let Some(n) = e.header("Channel-Call-State-Number") {
                assert_eq!(state.number(), n.parse().ok(), "{capture}: {text}");
            }
        }
        if let Some(text) = e.header("Answer-State") {
            let state = e.answer_state().unwrap();
            assert!(!state.is_other(), "{capture}: unknown answer state {text}");
            assert_eq!(state.as_str(), text);
        }
    }
    assert!(causes > 10, "only {causes} hangup causes seen");
}

#[test]
fn accessors_type_what_the_headers_say() {
    let e = Event::new("CHANNEL_HANGUP")
        .with_header("Hangup-Cause", "USER_BUSY")
        .with_header("Channel-State", "CS_HANGUP")
        .with_header("Channel-Call-State", "HANGUP")
        .with_header("Answer-State", "hangup");
    assert_eq!(e.event_name(), Some(EventName::ChannelHangup));
    assert_eq!(e.hangup_cause(), Some(HangupCause::UserBusy));
    assert_eq!(e.hangup_cause().and_then(|c| c.code()), Some(17));
    assert_eq!(e.channel_state(), Some(ChannelState::Hangup));
    assert_eq!(e.call_state(), Some(CallState::Hangup));
    assert_eq!(e.answer_state(), Some(AnswerState::Hangup));

    // A value librevox does not know is kept, never an error.
    let e = Event::new("SOME_FUTURE_EVENT").with_header("Hangup-Cause", "NEW_CAUSE");
    assert_eq!(
        e.event_name(),
        Some(EventName::Other("SOME_FUTURE_EVENT".into()))
    );
    assert_eq!(
        e.hangup_cause(),
        Some(HangupCause::Other("NEW_CAUSE".into()))
    );
    assert_eq!(e.channel_state(), None);

    let e = Event::new("CUSTOM").with_header("Event-Subclass", "sofia::register");
    assert_eq!(
        e.event_name(),
        Some(EventName::Custom("sofia::register".into()))
    );
    assert_eq!(
        e.event_name().unwrap().to_string(),
        "CUSTOM sofia::register"
    );
}

#[test]
fn header_names_match_in_any_ascii_case() {
    let mut e = Event::new("CHANNEL_DATA")
        .with_header("Unique-ID", "u1")
        .with_header("Hangup-Cause", "NORMAL_CLEARING")
        .with_header("hangup-cause", "SECOND")
        .with_header("variable_sip_from_user", "1000");
    assert_eq!(e.header("Unique-ID"), Some("u1"));
    assert_eq!(e.header("unique-id"), Some("u1"));
    assert_eq!(e.header("UNIQUE-ID"), Some("u1"));
    assert_eq!(e.unique_id(), Some("u1"));
    // The first occurrence wins, whatever its spelling.
    assert_eq!(e.header("HANGUP-CAUSE"), Some("NORMAL_CLEARING"));
    assert_eq!(
        e.header_all("hangup-cause").collect::<Vec<_>>(),
        ["NORMAL_CLEARING", "SECOND"]
    );
    assert_eq!(e.variable("SIP_FROM_USER"), Some("1000"));
    assert_eq!(e.header("Unique-IDs"), None);
    assert_eq!(e.header("Unique-I"), None);
    // Changing a header finds it the same way.
    e.set_header("UNIQUE-id", "u2");
    assert_eq!(e.header("Unique-ID"), Some("u2"));
    assert_eq!(e.headers().filter(|(n, _)| *n == "Unique-ID").count(), 1);
    e.remove_header("HANGUP-cause");
    assert_eq!(e.header("Hangup-Cause"), None);
    assert_eq!(e.header_all("hangup-cause").count(), 0);
}
