//! Typed values for the headers where FreeSWITCH has a fixed vocabulary:
//! [`EventName`], [`HangupCause`], [`ChannelState`], [`CallState`],
//! [`AnswerState`].
//!
//! Each parses from the text FreeSWITCH writes and never fails: a value this
//! version of librevox does not know (a newer FreeSWITCH, a module's own
//! name) is kept as `Other(text)`, and [`as_str`](HangupCause::as_str) gives
//! back exactly what was read. They compare with strings, so
//! `event.hangup_cause() == Some(HangupCause::UserBusy)` and
//! `HangupCause::UserBusy == "USER_BUSY"` both hold.
//!
//! ```
//! use librevox::protocol::{ChannelState, HangupCause};
//! let cause: HangupCause = "USER_BUSY".parse().unwrap();
//! assert_eq!(cause, HangupCause::UserBusy);
//! assert_eq!(cause.code(), Some(17));
//! assert_eq!(HangupCause::from_code(17), Some(HangupCause::UserBusy));
//! assert_eq!(HangupCause::from("SOMETHING_NEW"), HangupCause::Other("SOMETHING_NEW".into()));
//! assert_eq!(ChannelState::from("CS_EXECUTE").number(), Some(4));
//! ```

use std::fmt;

/// Declares a value type: unit variants with their wire text and number,
/// plus `Other(String)`; `as_str`, the number both ways, parsing (exact, then
/// ASCII case-insensitive), `Display`, `FromStr`, `From<&str>`/`From<String>`
/// and comparison with strings.
macro_rules! value_type {
    (
        $(#[$meta:meta])*
        $name:ident, $number:ident, $from_number:ident {
            $( $variant:ident = $text:literal, $num:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "` (", stringify!($num), ")")]
                $variant,
            )*
            /// A value this version of librevox does not know, as read.
            Other(String),
        }

        impl $name {
            /// Every known value, in FreeSWITCH's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The text FreeSWITCH writes for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }

            /// FreeSWITCH's number for this value (`None` for `Other`).
            pub fn $number(&self) -> Option<u32> {
                match self {
                    $($name::$variant => Some($num),)*
                    $name::Other(_) => None,
                }
            }

            /// The known value with this number.
            pub fn $from_number(number: u32) -> Option<$name> {
                match number {
                    $($num => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// Reads a value: exactly as FreeSWITCH spells it, or else
            /// ignoring ASCII case; anything else is `Other`.
            pub fn parse(text: &str) -> $name {
                match text {
                    $($text => $name::$variant,)*
                    _ => $name::KNOWN
                        .iter()
                        .find(|v| v.as_str().eq_ignore_ascii_case(text))
                        .cloned()
                        .unwrap_or_else(|| $name::Other(text.to_owned())),
                }
            }

            /// True for `Other`: a value librevox does not know.
            pub fn is_other(&self) -> bool {
                matches!(self, $name::Other(_))
            }
        }

        impl_text_traits!($name);
    };
}

/// `FromStr` (never failing), `From<&str>`, `From<String>` and
/// `From<T> for String` for a type with `parse` and `Display`; shared with
/// [`EventName`](super::EventName).
macro_rules! impl_parse_traits {
    ($name:ident) => {
        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<$name, std::convert::Infallible> {
                Ok($name::parse(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::parse(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.to_string()
            }
        }
    };
}
pub(super) use impl_parse_traits;

/// [`impl_parse_traits`], `Display` as `as_str`, and comparisons with
/// `str` by the wire text.
macro_rules! impl_text_traits {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl_parse_traits!($name);

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

value_type! {
    /// Why a channel hung up (`Hangup-Cause`): the Q.850 causes FreeSWITCH
    /// uses, with their codes, and FreeSWITCH's own causes (codes 487 and
    /// up, which are not Q.850). Codes as FreeSWITCH 1.11 numbers them
    /// (checked against a running 1.11.3 with `uuid_kill <uuid> <code>`).
    HangupCause, code, from_code {
        None = "NONE", 0;
        UnallocatedNumber = "UNALLOCATED_NUMBER", 1;
        NoRouteTransitNet = "NO_ROUTE_TRANSIT_NET", 2;
        NoRouteDestination = "NO_ROUTE_DESTINATION", 3;
        ChannelUnacceptable = "CHANNEL_UNACCEPTABLE", 6;
        CallAwardedDelivered = "CALL_AWARDED_DELIVERED", 7;
        NormalClearing = "NORMAL_CLEARING", 16;
        UserBusy = "USER_BUSY", 17;
        NoUserResponse = "NO_USER_RESPONSE", 18;
        NoAnswer = "NO_ANSWER", 19;
        SubscriberAbsent = "SUBSCRIBER_ABSENT", 20;
        CallRejected = "CALL_REJECTED", 21;
        NumberChanged = "NUMBER_CHANGED", 22;
        RedirectionToNewDestination = "REDIRECTION_TO_NEW_DESTINATION", 23;
        ExchangeRoutingError = "EXCHANGE_ROUTING_ERROR", 25;
        DestinationOutOfOrder = "DESTINATION_OUT_OF_ORDER", 27;
        InvalidNumberFormat = "INVALID_NUMBER_FORMAT", 28;
        FacilityRejected = "FACILITY_REJECTED", 29;
        ResponseToStatusEnquiry = "RESPONSE_TO_STATUS_ENQUIRY", 30;
        NormalUnspecified = "NORMAL_UNSPECIFIED", 31;
        NormalCircuitCongestion = "NORMAL_CIRCUIT_CONGESTION", 34;
        NetworkOutOfOrder = "NETWORK_OUT_OF_ORDER", 38;
        NormalTemporaryFailure = "NORMAL_TEMPORARY_FAILURE", 41;
        SwitchCongestion = "SWITCH_CONGESTION", 42;
        AccessInfoDiscarded = "ACCESS_INFO_DISCARDED", 43;
        RequestedChanUnavail = "REQUESTED_CHAN_UNAVAIL", 44;
        PreEmpted = "PRE_EMPTED", 45;
        FacilityNotSubscribed = "FACILITY_NOT_SUBSCRIBED", 50;
        OutgoingCallBarred = "OUTGOING_CALL_BARRED", 52;
        IncomingCallBarred = "INCOMING_CALL_BARRED", 54;
        BearercapabilityNotauth = "BEARERCAPABILITY_NOTAUTH", 57;
        BearercapabilityNotavail = "BEARERCAPABILITY_NOTAVAIL", 58;
        ServiceUnavailable = "SERVICE_UNAVAILABLE", 63;
        BearercapabilityNotimpl = "BEARERCAPABILITY_NOTIMPL", 65;
        ChanNotImplemented = "CHAN_NOT_IMPLEMENTED", 66;
        FacilityNotImplemented = "FACILITY_NOT_IMPLEMENTED", 69;
        ServiceNotImplemented = "SERVICE_NOT_IMPLEMENTED", 79;
        InvalidCallReference = "INVALID_CALL_REFERENCE", 81;
        IncompatibleDestination = "INCOMPATIBLE_DESTINATION", 88;
        InvalidMsgUnspecified = "INVALID_MSG_UNSPECIFIED", 95;
        MandatoryIeMissing = "MANDATORY_IE_MISSING", 96;
        MessageTypeNonexist = "MESSAGE_TYPE_NONEXIST", 97;
        WrongMessage = "WRONG_MESSAGE", 98;
        IeNonexist = "IE_NONEXIST", 99;
        InvalidIeContents = "INVALID_IE_CONTENTS", 100;
        WrongCallState = "WRONG_CALL_STATE", 101;
        RecoveryOnTimerExpire = "RECOVERY_ON_TIMER_EXPIRE", 102;
        MandatoryIeLengthError = "MANDATORY_IE_LENGTH_ERROR", 103;
        ProtocolError = "PROTOCOL_ERROR", 111;
        Interworking = "INTERWORKING", 127;
        Success = "SUCCESS", 142;
        OriginatorCancel = "ORIGINATOR_CANCEL", 487;
        Crash = "CRASH", 700;
        SystemShutdown = "SYSTEM_SHUTDOWN", 701;
        LoseRace = "LOSE_RACE", 702;
        ManagerRequest = "MANAGER_REQUEST", 703;
        BlindTransfer = "BLIND_TRANSFER", 800;
        AttendedTransfer = "ATTENDED_TRANSFER", 801;
        AllottedTimeout = "ALLOTTED_TIMEOUT", 802;
        UserChallenge = "USER_CHALLENGE", 803;
        MediaTimeout = "MEDIA_TIMEOUT", 804;
        PickedOff = "PICKED_OFF", 805;
        UserNotRegistered = "USER_NOT_REGISTERED", 806;
        ProgressTimeout = "PROGRESS_TIMEOUT", 807;
        InvalidGateway = "INVALID_GATEWAY", 808;
        GatewayDown = "GATEWAY_DOWN", 809;
        InvalidUrl = "INVALID_URL", 810;
        InvalidProfile = "INVALID_PROFILE", 811;
        NoPickup = "NO_PICKUP", 812;
        SrtpReadError = "SRTP_READ_ERROR", 813;
        Bowout = "BOWOUT", 814;
        BusyEverywhere = "BUSY_EVERYWHERE", 815;
        Decline = "DECLINE", 816;
        DoesNotExistAnywhere = "DOES_NOT_EXIST_ANYWHERE", 817;
        NotAcceptable = "NOT_ACCEPTABLE", 818;
        Unwanted = "UNWANTED", 819;
        NoIdentity = "NO_IDENTITY", 820;
        BadIdentityInfo = "BAD_IDENTITY_INFO", 821;
        UnsupportedCertificate = "UNSUPPORTED_CERTIFICATE", 822;
        InvalidIdentity = "INVALID_IDENTITY", 823;
        StaleDate = "STALE_DATE", 824;
        RejectAll = "REJECT_ALL", 825;
    }
}

impl HangupCause {
    /// True for the causes of a call that ended as calls normally end
    /// (NORMAL_CLEARING, and SUCCESS which some modules report).
    pub fn is_normal(&self) -> bool {
        matches!(self, HangupCause::NormalClearing | HangupCause::Success)
    }
}

value_type! {
    /// A channel's state machine state (`Channel-State`). Its
    /// [`number`](ChannelState::number) is FreeSWITCH's
    /// `switch_channel_state_t`; note that the `Channel-State-Number`
    /// header FreeSWITCH sends beside it is the channel's *running* state,
    /// which may differ (`CS_EXECUTE` with 10 while the hangup runs).
    ChannelState, number, from_number {
        New = "CS_NEW", 0;
        Init = "CS_INIT", 1;
        Routing = "CS_ROUTING", 2;
        SoftExecute = "CS_SOFT_EXECUTE", 3;
        Execute = "CS_EXECUTE", 4;
        ExchangeMedia = "CS_EXCHANGE_MEDIA", 5;
        Park = "CS_PARK", 6;
        ConsumeMedia = "CS_CONSUME_MEDIA", 7;
        Hibernate = "CS_HIBERNATE", 8;
        Reset = "CS_RESET", 9;
        Hangup = "CS_HANGUP", 10;
        Reporting = "CS_REPORTING", 11;
        Destroy = "CS_DESTROY", 12;
        None = "CS_NONE", 13;
    }
}

value_type! {
    /// A channel's call state (`Channel-Call-State`, and
    /// `Original-Channel-Call-State` on CHANNEL_CALLSTATE; its number is
    /// `Channel-Call-State-Number`).
    CallState, number, from_number {
        Down = "DOWN", 0;
        Dialing = "DIALING", 1;
        Ringing = "RINGING", 2;
        Early = "EARLY", 3;
        Active = "ACTIVE", 4;
        Held = "HELD", 5;
        RingWait = "RING_WAIT", 6;
        Hangup = "HANGUP", 7;
        Unheld = "UNHELD", 8;
    }
}

value_type! {
    /// Where a call is in being answered (`Answer-State`). The numbers are
    /// the order of the states, not a FreeSWITCH field.
    AnswerState, ordinal, from_ordinal {
        Ringing = "ringing", 0;
        Early = "early", 1;
        Answered = "answered", 2;
        Hangup = "hangup", 3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_value_round_trips_through_text_and_number() {
        for v in HangupCause::KNOWN {
            assert_eq!(&HangupCause::parse(v.as_str()), v);
            assert_eq!(HangupCause::from_code(v.code().unwrap()).as_ref(), Some(v));
        }
        for v in ChannelState::KNOWN {
            assert_eq!(&ChannelState::parse(v.as_str()), v);
            assert_eq!(
                ChannelState::from_number(v.number().unwrap()).as_ref(),
                Some(v)
            );
        }
        for v in CallState::KNOWN {
            assert_eq!(&CallState::parse(v.as_str()), v);
            assert_eq!(
                CallState::from_number(v.number().unwrap()).as_ref(),
                Some(v)
            );
        }
        for v in AnswerState::KNOWN {
            assert_eq!(&AnswerState::parse(v.as_str()), v);
        }
    }

    #[test]
    fn numbers_follow_freeswitchs_enums() {
        // switch_channel_state_t and switch_channel_callstate_t count from 0.
        for (i, v) in ChannelState::KNOWN.iter().enumerate() {
            assert_eq!(v.number(), Some(i as u32), "{v}");
        }
        for (i, v) in CallState::KNOWN.iter().enumerate() {
            assert_eq!(v.number(), Some(i as u32), "{v}");
        }
        assert_eq!(HangupCause::KNOWN.len(), 82);
        assert_eq!(HangupCause::NormalClearing.code(), Some(16));
        assert_eq!(HangupCause::OriginatorCancel.code(), Some(487));
        assert_eq!(HangupCause::RejectAll.code(), Some(825));
    }

    #[test]
    fn unknown_text_is_kept_and_written_back_unchanged() {
        let v = HangupCause::parse("SOMETHING_NEW");
        assert_eq!(v, HangupCause::Other("SOMETHING_NEW".into()));
        assert_eq!(v.as_str(), "SOMETHING_NEW");
        assert_eq!(v.code(), None);
        assert!(v.is_other());
        assert_eq!(ChannelState::parse(""), ChannelState::Other(String::new()));
        assert_eq!(HangupCause::from_code(4), None);
    }

    #[test]
    fn case_is_ignored_when_nothing_matches_exactly() {
        assert_eq!(HangupCause::parse("user_busy"), HangupCause::UserBusy);
        assert_eq!(AnswerState::parse("ANSWERED"), AnswerState::Answered);
        assert_eq!("cs_park".parse::<ChannelState>(), Ok(ChannelState::Park));
    }

    #[test]
    fn values_compare_with_strings() {
        assert_eq!(HangupCause::UserBusy, "USER_BUSY");
        assert_eq!(CallState::RingWait.to_string(), "RING_WAIT");
        assert_eq!(String::from(AnswerState::Early), "early");
    }
}
