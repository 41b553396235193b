//! What the simulator adds to the public state types of
//! [`crate::protocol`] ([`ChannelState`], [`CallState`], [`AnswerState`],
//! [`HangupCause`], which its channels use): the numbers FreeSWITCH writes
//! beside a state's name, and how FreeSWITCH reads a hangup cause given as
//! text (`uuid_kill <uuid> <cause>`, the `hangup` application,
//! `hupall`), both as 1.11.3 does them.

use crate::protocol::HangupCause;
#[cfg(doc)]
use crate::protocol::{AnswerState, CallState, ChannelState};

/// The text of a state's number header (`Channel-State-Number`,
/// `Channel-Call-State-Number`); the simulator only sets known states, so
/// `None` (an `Other` state) does not occur and writes nothing.
pub(crate) fn number_text(number: Option<u32>) -> String {
    number.map(|n| n.to_string()).unwrap_or_default()
}

/// The cause of `uuid_kill <uuid> <given>` and `hangup(<given>)`, as
/// `switch_channel_str2cause` reads it: empty is NORMAL_CLEARING; text
/// starting with a digit is a number (its leading digits), a known code
/// giving its cause and any other number `UNKNOWN`; otherwise a cause's
/// name in any case, anything else NORMAL_CLEARING (checked on 1.11.3:
/// `703` is MANAGER_REQUEST, `503` and `9999` are UNKNOWN, `bogus` and
/// ` 17` are NORMAL_CLEARING, `0` is NONE).
pub(crate) fn cause_name(given: &str) -> HangupCause {
    if given.starts_with(|c: char| c.is_ascii_digit()) {
        let digits = given.bytes().take_while(u8::is_ascii_digit).count();
        return given[..digits]
            .parse::<u32>()
            .ok()
            .and_then(HangupCause::from_code)
            .unwrap_or_else(|| HangupCause::Other(UNKNOWN.to_owned()));
    }
    match HangupCause::parse(given) {
        HangupCause::Other(_) => HangupCause::NormalClearing,
        known => known,
    }
}

/// The name FreeSWITCH gives a cause number it does not know.
const UNKNOWN: &str = "UNKNOWN";

/// The highest Q.850 cause code; FreeSWITCH's own causes are above it.
const Q850_MAX: u32 = 127;

/// `hangup_cause_q850`: the cause's code when it is a Q.850 one, else
/// NORMAL_CLEARING's (as `switch_channel_cause_q850`; on 1.11.3
/// ORIGINATOR_CANCEL and MANAGER_REQUEST give 16).
pub(crate) fn q850(cause: &HangupCause) -> u32 {
    let clearing = HangupCause::NormalClearing.code().unwrap_or_default();
    match cause.code() {
        Some(code) if code <= Q850_MAX => code,
        _ => clearing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_as_freeswitch_reads_them() {
        let name = |g: &str| cause_name(g).to_string();
        assert_eq!(name(""), "NORMAL_CLEARING");
        assert_eq!(name("user_busy"), "USER_BUSY");
        assert_eq!(name("17"), "USER_BUSY");
        assert_eq!(name("17x"), "USER_BUSY");
        assert_eq!(name("703"), "MANAGER_REQUEST");
        assert_eq!(name("503"), "UNKNOWN");
        assert_eq!(name("9999"), "UNKNOWN");
        assert_eq!(name("99999999999999"), "UNKNOWN");
        assert_eq!(name("0"), "NONE");
        assert_eq!(name("bogus"), "NORMAL_CLEARING");
        assert_eq!(name(" 17"), "NORMAL_CLEARING");
    }

    #[test]
    fn q850_is_normal_clearing_past_the_q850_range() {
        assert_eq!(q850(&HangupCause::UserBusy), 17);
        assert_eq!(q850(&HangupCause::Interworking), 127);
        assert_eq!(q850(&HangupCause::None), 0);
        assert_eq!(q850(&HangupCause::Success), 16);
        assert_eq!(q850(&HangupCause::OriginatorCancel), 16);
        assert_eq!(q850(&HangupCause::ManagerRequest), 16);
        assert_eq!(q850(&HangupCause::Other(UNKNOWN.into())), 16);
    }
}
