//! Subjects and message ids (see [the module](super)).

use std::fmt;

use crate::protocol::Event;

/// The first token of every subject a fleet uses.
pub const SUBJECT_ROOT: &str = "freeswitch";

/// A switch's name as it appears in subjects: one NATS subject token of
/// ASCII letters, digits, `-` and `_` (no `.`, spaces or wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwitchName(String);

/// A switch name that cannot be one subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid switch name {name:?}: use 1 to 64 ASCII letters, digits, '-' or '_' (it becomes one NATS subject token), e.g. \"fs1\"")]
pub struct InvalidSwitchName {
    /// The name as given.
    pub name: String,
}

impl SwitchName {
    /// Checks `name` and wraps it.
    pub fn new(name: &str) -> Result<SwitchName, InvalidSwitchName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(SwitchName(name.to_owned()))
        } else {
            Err(InvalidSwitchName {
                name: name.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SwitchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends `text` as subject tokens split on `sep`: each token keeps only
/// characters a subject token may hold (others become `_`), and an empty
/// token becomes `_`, so the subject is always valid.
fn push_tokens(out: &mut String, text: &str, sep: &str) {
    for token in text.split(sep) {
        out.push('.');
        if token.is_empty() {
            out.push('_');
            continue;
        }
        out.extend(token.chars().map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>') {
                c
            } else {
                '_'
            }
        }));
    }
}

/// The subject an event is published on:
/// `freeswitch.<switch>.event.<Event-Name>`, plus the subclass's parts for
/// CUSTOM. An event without `Event-Name` goes under `_`.
pub fn event_subject(switch: &SwitchName, event: &Event) -> String {
    let mut s = format!("{SUBJECT_ROOT}.{switch}.event");
    push_tokens(&mut s, event.name().unwrap_or(""), "\u{0}");
    if let Some(sub) = event.subclass().filter(|_| event.name() == Some("CUSTOM")) {
        push_tokens(&mut s, sub, "::");
    }
    s
}

/// `freeswitch.<switch>.api`: request/reply for `api`.
pub fn api_subject(switch: &SwitchName) -> String {
    format!("{SUBJECT_ROOT}.{switch}.api")
}

/// `freeswitch.<switch>.bgapi`: request/reply for `bgapi` (the reply is the
/// Job-UUID).
pub fn bgapi_subject(switch: &SwitchName) -> String {
    format!("{SUBJECT_ROOT}.{switch}.bgapi")
}

/// `freeswitch.<switch>.job.<Job-UUID>`: where a background job's result is
/// published.
pub fn job_subject(switch: &SwitchName, job_uuid: &str) -> String {
    let mut s = format!("{SUBJECT_ROOT}.{switch}.job");
    push_tokens(&mut s, job_uuid, "\u{0}");
    s
}

/// The JetStream dedup id of an event, `<Core-UUID>:<Event-Sequence>`, or
/// `None` when either header is missing (such an event cannot be
/// deduplicated between two bridges).
pub fn msg_id(event: &Event) -> Option<String> {
    let core = event.header("Core-UUID")?;
    let seq = event.header("Event-Sequence")?;
    Some(format!("{core}:{seq}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs1() -> SwitchName {
        SwitchName::new("fs1").unwrap()
    }

    #[test]
    fn plain_event_subject() {
        let e = Event::new("CHANNEL_ANSWER");
        assert_eq!(
            event_subject(&fs1(), &e),
            "freeswitch.fs1.event.CHANNEL_ANSWER"
        );
    }

    #[test]
    fn custom_subclass_becomes_tokens() {
        let e = Event::new("CUSTOM").with_header("Event-Subclass", "conference::maintenance");
        assert_eq!(
            event_subject(&fs1(), &e),
            "freeswitch.fs1.event.CUSTOM.conference.maintenance"
        );
    }

    #[test]
    fn unsafe_characters_and_empty_tokens_are_replaced() {
        let e = Event::new("CUSTOM").with_header("Event-Subclass", "a.b::::c d>*");
        assert_eq!(
            event_subject(&fs1(), &e),
            "freeswitch.fs1.event.CUSTOM.a_b._.c_d__"
        );
        assert_eq!(
            event_subject(&fs1(), &Event::default()),
            "freeswitch.fs1.event._"
        );
    }

    #[test]
    fn subclass_of_a_non_custom_event_is_not_added() {
        let e = Event::new("HEARTBEAT").with_header("Event-Subclass", "x::y");
        assert_eq!(event_subject(&fs1(), &e), "freeswitch.fs1.event.HEARTBEAT");
    }

    #[test]
    fn command_subjects() {
        assert_eq!(api_subject(&fs1()), "freeswitch.fs1.api");
        assert_eq!(bgapi_subject(&fs1()), "freeswitch.fs1.bgapi");
        assert_eq!(job_subject(&fs1(), "1234-ab"), "freeswitch.fs1.job.1234-ab");
    }

    #[test]
    fn msg_id_needs_both_headers() {
        let e = Event::new("HEARTBEAT")
            .with_header("Core-UUID", "u")
            .with_header("Event-Sequence", "7");
        assert_eq!(msg_id(&e).as_deref(), Some("u:7"));
        assert_eq!(
            msg_id(&Event::new("HEARTBEAT").with_header("Core-UUID", "u")),
            None
        );
    }

    #[test]
    fn switch_names_are_one_token() {
        assert!(SwitchName::new("fs-1_a").is_ok());
        for bad in ["", "a.b", "a b", "*", ">", "é", &"x".repeat(65)] {
            let err = SwitchName::new(bad).unwrap_err();
            assert_eq!(err.name, bad);
        }
    }
}
