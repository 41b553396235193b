//! The states a simulated channel passes through, as FreeSWITCH names and
//! numbers them in its events (`Channel-State`, `Channel-State-Number`,
//! `Channel-Call-State`, `Answer-State`, `Hangup-Cause`).

use std::fmt;

/// A channel's state (`switch_channel_state_t`), in FreeSWITCH's enum order
/// (the `Channel-State-Number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // The whole enum: the numbers follow from the order.
pub(crate) enum ChannelState {
    New,
    Init,
    Routing,
    SoftExecute,
    Execute,
    ExchangeMedia,
    Park,
    ConsumeMedia,
    Hibernate,
    Reset,
    Hangup,
    Reporting,
    Destroy,
    None,
}

impl ChannelState {
    /// The `CS_*` name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChannelState::New => "CS_NEW",
            ChannelState::Init => "CS_INIT",
            ChannelState::Routing => "CS_ROUTING",
            ChannelState::SoftExecute => "CS_SOFT_EXECUTE",
            ChannelState::Execute => "CS_EXECUTE",
            ChannelState::ExchangeMedia => "CS_EXCHANGE_MEDIA",
            ChannelState::Park => "CS_PARK",
            ChannelState::ConsumeMedia => "CS_CONSUME_MEDIA",
            ChannelState::Hibernate => "CS_HIBERNATE",
            ChannelState::Reset => "CS_RESET",
            ChannelState::Hangup => "CS_HANGUP",
            ChannelState::Reporting => "CS_REPORTING",
            ChannelState::Destroy => "CS_DESTROY",
            ChannelState::None => "CS_NONE",
        }
    }

    /// The `Channel-State-Number`.
    pub(crate) fn number(self) -> u8 {
        self as u8
    }
}

/// A channel's call state (`switch_channel_callstate_t`), in enum order
/// (`Channel-Call-State-Number`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // The whole enum: the numbers follow from the order.
pub(crate) enum CallState {
    Down,
    Dialing,
    Ringing,
    Early,
    Active,
    Held,
    RingWait,
    Hangup,
    Unheld,
}

impl CallState {
    /// The name in `Channel-Call-State`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallState::Down => "DOWN",
            CallState::Dialing => "DIALING",
            CallState::Ringing => "RINGING",
            CallState::Early => "EARLY",
            CallState::Active => "ACTIVE",
            CallState::Held => "HELD",
            CallState::RingWait => "RING_WAIT",
            CallState::Hangup => "HANGUP",
            CallState::Unheld => "UNHELD",
        }
    }

    /// The `Channel-Call-State-Number`.
    pub(crate) fn number(self) -> u8 {
        self as u8
    }
}

/// `Answer-State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerState {
    Ringing,
    Early,
    Answered,
    Hangup,
}

impl AnswerState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AnswerState::Ringing => "ringing",
            AnswerState::Early => "early",
            AnswerState::Answered => "answered",
            AnswerState::Hangup => "hangup",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(ChannelState, CallState, AnswerState);

/// The hangup causes the simulator knows by number, with their Q.850 codes.
const CAUSES: &[(&str, u32)] = &[
    ("UNALLOCATED_NUMBER", 1),
    ("NO_ROUTE_DESTINATION", 3),
    ("NORMAL_CLEARING", 16),
    ("USER_BUSY", 17),
    ("NO_USER_RESPONSE", 18),
    ("NO_ANSWER", 19),
    ("CALL_REJECTED", 21),
    ("DESTINATION_OUT_OF_ORDER", 27),
    ("INVALID_NUMBER_FORMAT", 28),
    ("NORMAL_TEMPORARY_FAILURE", 41),
    ("ORIGINATOR_CANCEL", 487),
    ("MANAGER_REQUEST", 503),
];

/// Q.850 code of a hangup cause (0 for one the simulator does not know).
pub(crate) fn q850(cause: &str) -> u32 {
    CAUSES
        .iter()
        .find(|(name, _)| *name == cause)
        .map_or(0, |(_, code)| *code)
}

/// A hangup cause given by name (any case) or Q.850 number; empty or an
/// unknown number is NORMAL_CLEARING.
pub(crate) fn cause_name(given: &str) -> String {
    let g = given.trim();
    if let Ok(n) = g.parse::<u32>() {
        let name = CAUSES.iter().find(|(_, code)| *code == n);
        return name.map_or("NORMAL_CLEARING", |(name, _)| name).to_owned();
    }
    if g.is_empty() {
        return "NORMAL_CLEARING".to_owned();
    }
    g.to_ascii_uppercase()
}
