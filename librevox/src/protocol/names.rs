//! FreeSWITCH's event names (`switch_event_types_t`, in enum order).
//!
//! `ALL` is a subscription keyword, not an event name, and is not listed.
//! The macros crate keeps a copy of this table for compile-time checks; a test
//! keeps the two identical. [`EventName`] is the typed form of these names.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// Every event name FreeSWITCH fires, in `switch_event_types_t` order.
pub const EVENT_NAMES: &[&str] = &[
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

/// The event types `myevents` subscribes to (§3.2 of the protocol notes).
pub const MYEVENTS: &[&str] = &[
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

/// The canonical spelling of an event name given in any case, with or
/// without the `SWITCH_EVENT_` prefix (as the `event` command accepts it).
pub fn canonical(name: &str) -> Option<&'static str> {
    let bare = name
        .get(..13)
        .filter(|p| p.eq_ignore_ascii_case("SWITCH_EVENT_"))
        .map_or(name, |_| &name[13..]);
    EVENT_NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(bare))
}

/// Declares [`EventName`] from its variants in `EVENT_NAMES` order (after
/// CUSTOM): the variant of `EVENT_NAMES[i]` is the i-th one, and its text is
/// read from the table, so the names are written once.
macro_rules! event_name_type {
    ($($variant:ident,)*) => {
        /// A FreeSWITCH event type (`Event-Name`), or a CUSTOM event's
        /// subclass.
        ///
        /// The variants are FreeSWITCH's names in CamelCase
        /// (`ChannelHangupComplete` is `CHANNEL_HANGUP_COMPLETE`); their
        /// [`number`](EventName::number) is the `switch_event_types_t` value.
        /// A name this version of librevox does not know is kept as
        /// `Other(name)`.
        ///
        /// ```
        /// use librevox::protocol::EventName;
        /// assert_eq!(EventName::parse("CHANNEL_ANSWER"), EventName::ChannelAnswer);
        /// assert_eq!(EventName::ChannelAnswer.as_str(), "CHANNEL_ANSWER");
        /// let custom = EventName::parse("CUSTOM conference::maintenance");
        /// assert_eq!(custom, EventName::Custom("conference::maintenance".into()));
        /// assert_eq!(custom.to_string(), "CUSTOM conference::maintenance");
        /// assert_eq!(EventName::parse("NEW_THING"), EventName::Other("NEW_THING".into()));
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventName {
            /// `CUSTOM` (0), with its `Event-Subclass`; empty when the event
            /// has none (in a subscription: every custom event).
            Custom(String),
            $(
                #[doc = concat!("The event `", stringify!($variant), "` (in FreeSWITCH's spelling: upper case, words joined with `_`).")]
                $variant,
            )*
            /// An event name this version of librevox does not know, as read.
            Other(String),
        }

        /// Positions in `EVENT_NAMES`, to map a variant to its text.
        #[derive(Clone, Copy)]
        #[repr(usize)]
        enum Index {
            Custom,
            $($variant,)*
        }

        impl EventName {
            /// The variants after CUSTOM, in `EVENT_NAMES` order.
            const AFTER_CUSTOM: &'static [EventName] = &[$(EventName::$variant),*];

            fn index(&self) -> Option<usize> {
                match self {
                    EventName::Custom(_) => Some(Index::Custom as usize),
                    $(EventName::$variant => Some(Index::$variant as usize),)*
                    EventName::Other(_) => None,
                }
            }
        }
    };
}

event_name_type! {
    Clone,
    ChannelCreate,
    ChannelDestroy,
    ChannelState,
    ChannelCallstate,
    ChannelAnswer,
    ChannelHangup,
    ChannelHangupComplete,
    ChannelExecute,
    ChannelExecuteComplete,
    ChannelHold,
    ChannelUnhold,
    ChannelBridge,
    ChannelUnbridge,
    ChannelProgress,
    ChannelProgressMedia,
    ChannelOutgoing,
    ChannelPark,
    ChannelUnpark,
    ChannelApplication,
    ChannelOriginate,
    ChannelUuid,
    Api,
    Log,
    InboundChan,
    OutboundChan,
    Startup,
    Shutdown,
    Publish,
    Unpublish,
    Talk,
    Notalk,
    SessionCrash,
    ModuleLoad,
    ModuleUnload,
    Dtmf,
    Message,
    PresenceIn,
    NotifyIn,
    PresenceOut,
    PresenceProbe,
    MessageWaiting,
    MessageQuery,
    Roster,
    Codec,
    BackgroundJob,
    DetectedSpeech,
    DetectedTone,
    PrivateCommand,
    Heartbeat,
    Trap,
    AddSchedule,
    DelSchedule,
    ExeSchedule,
    ReSchedule,
    Reloadxml,
    Notify,
    PhoneFeature,
    PhoneFeatureSubscribe,
    SendMessage,
    RecvMessage,
    RequestParams,
    ChannelData,
    General,
    Command,
    SessionHeartbeat,
    ClientDisconnected,
    ServerDisconnected,
    SendInfo,
    RecvInfo,
    RecvRtcpMessage,
    SendRtcpMessage,
    CallSecure,
    Nat,
    RecordStart,
    RecordStop,
    PlaybackStart,
    PlaybackStop,
    CallUpdate,
    Failure,
    SocketData,
    MediaBugStart,
    MediaBugStop,
    ConferenceDataQuery,
    ConferenceData,
    CallSetupReq,
    CallSetupResult,
    CallDetail,
    DeviceState,
    Text,
    ShutdownRequested,
    CertReload,
}

/// `EVENT_NAMES` position by name, built on first use.
fn index_of(name: &str) -> Option<usize> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            EVENT_NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, i))
                .collect()
        })
        .get(name)
        .copied()
}

impl EventName {
    /// Reads an event name: as FreeSWITCH spells it, or in any case and with
    /// or without the `SWITCH_EVENT_` prefix (as the `event` command accepts
    /// it); `CUSTOM <subclass>` gives [`Custom`](EventName::Custom) of that
    /// subclass; anything else is `Other`.
    pub fn parse(text: &str) -> EventName {
        let (word, subclass) = match text.split_once(' ') {
            Some((w, rest)) => (w, rest.trim()),
            None => (text, ""),
        };
        let index = index_of(word).or_else(|| canonical(word).and_then(index_of));
        match index {
            Some(0) => EventName::Custom(subclass.to_owned()),
            Some(i) if subclass.is_empty() => EventName::AFTER_CUSTOM[i - 1].clone(),
            _ => EventName::Other(text.to_owned()),
        }
    }

    /// The event type name as FreeSWITCH writes it in `Event-Name`
    /// (`CUSTOM` for every custom event; see [`subclass`](Self::subclass)).
    pub fn as_str(&self) -> &str {
        match (self, self.index()) {
            (EventName::Other(text), _) => text,
            (_, Some(i)) => EVENT_NAMES[i],
            (_, None) => "",
        }
    }

    /// FreeSWITCH's number for this event type (`switch_event_types_t`).
    pub fn number(&self) -> Option<u32> {
        self.index().map(|i| i as u32)
    }

    /// The known event type with this number (CUSTOM without a subclass
    /// for 0).
    pub fn from_number(number: u32) -> Option<EventName> {
        match number as usize {
            0 => Some(EventName::Custom(String::new())),
            i => EventName::AFTER_CUSTOM.get(i.wrapping_sub(1)).cloned(),
        }
    }

    /// The subclass of a [`Custom`](EventName::Custom) name, if it has one.
    pub fn subclass(&self) -> Option<&str> {
        match self {
            EventName::Custom(sub) if !sub.is_empty() => Some(sub),
            _ => None,
        }
    }

    /// True for `Other`: a name librevox does not know.
    pub fn is_other(&self) -> bool {
        matches!(self, EventName::Other(_))
    }

    /// Every known event type (CUSTOM without a subclass first), in
    /// FreeSWITCH's order.
    pub fn known() -> impl Iterator<Item = EventName> {
        std::iter::once(EventName::Custom(String::new()))
            .chain(EventName::AFTER_CUSTOM.iter().cloned())
    }
}

impl fmt::Display for EventName {
    /// The name as a subscription writes it: `CUSTOM <subclass>` for a
    /// custom event with a subclass, [`as_str`](EventName::as_str) otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subclass() {
            Some(sub) => write!(f, "CUSTOM {sub}"),
            None => f.write_str(self.as_str()),
        }
    }
}

super::values::impl_parse_traits!(EventName);

impl PartialEq<str> for EventName {
    /// Equal when `other` reads as this name (see [`EventName::parse`]).
    fn eq(&self, other: &str) -> bool {
        *self == EventName::parse(other)
    }
}

impl PartialEq<&str> for EventName {
    fn eq(&self, other: &&str) -> bool {
        *self == EventName::parse(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_to_its_variant_and_back() {
        let known: Vec<EventName> = EventName::known().collect();
        assert_eq!(known.len(), EVENT_NAMES.len());
        for (i, (name, variant)) in EVENT_NAMES.iter().zip(&known).enumerate() {
            assert_eq!(&EventName::parse(name), variant);
            assert_eq!(variant.as_str(), *name);
            assert_eq!(variant.number(), Some(i as u32));
            assert_eq!(EventName::from_number(i as u32).as_ref(), Some(variant));
            // The variant is the name in CamelCase.
            let camel: String = name
                .split('_')
                .map(|w| w[..1].to_owned() + &w[1..].to_ascii_lowercase())
                .collect();
            let debug = format!("{variant:?}");
            assert_eq!(debug.split('(').next(), Some(camel.as_str()));
        }
        assert_eq!(EventName::from_number(EVENT_NAMES.len() as u32), None);
    }

    #[test]
    fn names_read_as_the_event_command_accepts_them() {
        assert_eq!(EventName::parse("channel_answer"), EventName::ChannelAnswer);
        assert_eq!(
            EventName::parse("SWITCH_EVENT_CHANNEL_ANSWER"),
            EventName::ChannelAnswer
        );
        assert_eq!(EventName::parse("CUSTOM"), EventName::Custom(String::new()));
        assert_eq!(EventName::Custom(String::new()).to_string(), "CUSTOM");
        assert_eq!(EventName::Custom("a::b".into()).as_str(), "CUSTOM");
        assert_eq!(EventName::Custom("a::b".into()).subclass(), Some("a::b"));
        assert_eq!(
            EventName::parse("CHANNEL_ANSWER extra"),
            EventName::Other("CHANNEL_ANSWER extra".into())
        );
        assert!(EventName::parse("").is_other());
        assert_eq!(EventName::BackgroundJob, "BACKGROUND_JOB");
    }
}
