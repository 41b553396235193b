//! FreeSWITCH's event names, for compile-time checks.
//!
//! A copy of the runtime's `librevox::protocol::names` tables (a proc-macro
//! crate cannot depend on the crate it generates code for). The unit test at
//! the bottom keeps the two copies identical.

/// Every event name FreeSWITCH fires (`switch_event_types_t`, enum order).
/// `ALL` is a subscription keyword, not an event name, and is not listed.
pub(crate) const EVENT_NAMES: &[&str] = &[
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "TEXT",
    "SHUTDOWN_REQUESTED",
    "CERT_RELOAD",
];

/// The event types `myevents` subscribes an outbound socket to.
pub(crate) const MYEVENTS: &[&str] = &[
    "CHANNEL_ANSWER",
    "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE",
    "CHANNEL_CREATE",
    "CHANNEL_DATA",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_UNPARK",
    "DETECTED_SPEECH",
    "DTMF",
    "NOTALK",
    "TALK",
];

/// The subscription keyword for every event.
pub(crate) const ALL: &str = "ALL";
/// The event type whose events carry a subclass (`Event-Subclass`).
pub(crate) const CUSTOM: &str = "CUSTOM";
/// The prefix FreeSWITCH also accepts in front of an event name.
const SWITCH_PREFIX: &str = "SWITCH_EVENT_";

/// What a string or identifier naming an event means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventSpec {
    /// `ALL`: every event, CUSTOM subclasses included.
    All,
    /// One event type, by its canonical (upper-case) name.
    Named(&'static str),
    /// `CUSTOM <subclass> [<subclass> ...]`.
    Custom(Vec<String>),
}

/// How the user spelled a name, so suggestions come back in the same style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A wire string: `"CHANNEL_HANGUP"`.
    Wire,
    /// A Rust identifier: `channel_hangup`.
    Snake,
}

impl Style {
    /// `name` (canonical) written in this style, quoted as code.
    pub(crate) fn show(self, name: &str) -> String {
        match self {
            Style::Wire => format!("`\"{name}\"`"),
            Style::Snake => format!("`{}`", name.to_ascii_lowercase()),
        }
    }
}

/// The canonical spelling of an event name, matched exactly.
pub(crate) fn find(name: &str) -> Option<&'static str> {
    EVENT_NAMES.iter().copied().find(|n| *n == name)
}

/// The canonical spelling of an event name given in any case.
pub(crate) fn find_ignore_case(name: &str) -> Option<&'static str> {
    EVENT_NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(name))
}

/// Why a name is not an event, as a sentence for a compile error.
///
/// `name` is the text as written (upper-cased for identifiers by the caller
/// when `style` is `Snake`).
pub(crate) fn unknown(name: &str, style: Style) -> String {
    let upper = name.to_ascii_uppercase();
    if let Some(bare) = upper.strip_prefix(SWITCH_PREFIX) {
        if let Some(n) = find(bare) {
            return format!("drop the `SWITCH_EVENT_` prefix: write {}", style.show(n));
        }
    }
    let shown = match style {
        Style::Wire => format!("`\"{name}\"`"),
        Style::Snake => format!("`{}`", name.to_ascii_lowercase()),
    };
    match suggest(&upper) {
        Some(n) => format!(
            "unknown FreeSWITCH event {shown}; did you mean {}?",
            style.show(n)
        ),
        None => format!(
            "unknown FreeSWITCH event {shown}; expected an event name such as {} or {}",
            style.show("CHANNEL_HANGUP"),
            style.show("DTMF"),
        ),
    }
}

/// The event name closest to `upper` (already upper case), if one is close
/// enough to be a likely typo, or the one it is the tail of (`HANGUP` →
/// `CHANNEL_HANGUP`).
pub(crate) fn suggest(upper: &str) -> Option<&'static str> {
    let limit = (upper.len() / 3).max(1);
    let best = EVENT_NAMES
        .iter()
        .copied()
        .map(|n| (distance(upper, n), n))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= limit)
        .map(|(_, n)| n);
    best.or_else(|| {
        let tail = format!("_{upper}");
        EVENT_NAMES
            .iter()
            .copied()
            .filter(|n| n.ends_with(&tail))
            .min_by_key(|n| n.len())
    })
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and transpositions of neighbours each cost one.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = v;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literals of `const <name>: &[&str] = &[ ... ];` in `src`.
    fn table(src: &str, name: &str) -> Vec<String> {
        let start = src
            .find(&format!("const {name}: &[&str] = &["))
            .unwrap_or_else(|| panic!("{name} not found"));
        let body = &src[start..];
        let body = &body[body.find("&[").unwrap() + 2..body.find("];").unwrap()];
        body.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    const RUNTIME: &str = include_str!("../../librevox/src/protocol/names.rs");

    #[test]
    fn event_names_match_the_runtime_table() {
        assert_eq!(table(RUNTIME, "EVENT_NAMES"), EVENT_NAMES);
        assert_eq!(EVENT_NAMES.len(), 93);
    }

    #[test]
    fn myevents_match_the_runtime_table() {
        assert_eq!(table(RUNTIME, "MYEVENTS"), MYEVENTS);
    }

    #[test]
    fn every_myevents_name_is_an_event() {
        assert!(MYEVENTS.iter().all(|n| find(n).is_some()));
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("CHANEL_HANGUP", "CHANNEL_HANGUP"), 1);
        assert_eq!(distance("CHANNEL_HANUGP", "CHANNEL_HANGUP"), 1);
        assert_eq!(distance("", "DTMF"), 4);
        assert_eq!(distance("DTMF", "DTMF"), 0);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("CHANEL_HANGUP"), Some("CHANNEL_HANGUP"));
        assert_eq!(suggest("HANGUP"), Some("CHANNEL_HANGUP"));
        assert_eq!(suggest("BRIDGE"), Some("CHANNEL_BRIDGE"));
        assert_eq!(suggest("HEARTBEET"), Some("HEARTBEAT"));
        assert_eq!(suggest("XYZZY_PLUGH"), None);
    }

    #[test]
    fn unknown_messages_keep_the_users_style() {
        assert_eq!(
            unknown("chanel_hangup", Style::Snake),
            "unknown FreeSWITCH event `chanel_hangup`; did you mean `channel_hangup`?"
        );
        assert_eq!(
            unknown("CHANEL_HANGUP", Style::Wire),
            "unknown FreeSWITCH event `\"CHANEL_HANGUP\"`; did you mean `\"CHANNEL_HANGUP\"`?"
        );
        assert_eq!(
            unknown("SWITCH_EVENT_DTMF", Style::Wire),
            "drop the `SWITCH_EVENT_` prefix: write `\"DTMF\"`"
        );
    }
}
