//! `bridge <dial string>`: the argument is read with the catalogue's
//! [`Dial::parse`], the reader of what [`crate::apps::bridge`] writes. Legs
//! to mod_dptools' `error/<cause>` endpoint fail as on the switch; any other
//! endpoint is the caller script's far end (`bridge_failure`,
//! `bridge_duration`), which is not dialled.

use crate::protocol::{Dial, Endpoint, HangupCause, Leg};
use crate::simulator::channel::runner::{BoxFut, Runner};
use crate::simulator::state::cause_name;

/// How a bridge attempt ends before anything is bridged.
enum Outcome {
    /// Bridged to the caller script's far end (unless it scripts a
    /// failure), whose UUID is the dial string's `origination_uuid` if set.
    FarEnd(Option<String>),
    /// Failed with this cause.
    Failed(HangupCause),
    /// An empty argument: nothing is dialled and nothing is set.
    Nothing,
}

/// The endpoint tech that fails with the cause named after it.
const ERROR_TECH: &str = "error/";

/// What dialling `arg` gives, as on FreeSWITCH 1.11.3: a dial string that
/// does not parse (an unclosed `{` or `[`; also an empty leg, which the
/// switch skips) is ORIGINATOR_CANCEL; when every leg is an `error/<cause>`
/// leg, the last one's cause (read as `uuid_kill` reads a cause); otherwise
/// the far end.
fn dial(arg: &str) -> Outcome {
    if arg.is_empty() {
        return Outcome::Nothing;
    }
    let Ok(dial) = Dial::parse(arg) else {
        return Outcome::Failed(HangupCause::OriginatorCancel);
    };
    let error_cause = |leg: &Leg| match &leg.endpoint {
        Endpoint::Raw(text) => text.strip_prefix(ERROR_TECH).map(cause_name),
        _ => None,
    };
    let causes: Option<Vec<HangupCause>> = dial.groups.iter().flatten().map(error_cause).collect();
    match causes.and_then(|mut c| c.pop()) {
        Some(cause) => Outcome::Failed(cause),
        None => {
            let uuid = dial.vars.iter().find(|(n, _)| n == "origination_uuid");
            Outcome::FarEnd(uuid.map(|(_, v)| v.clone()))
        }
    }
}

/// `DIALSTATUS` for a failed bridge: the cause's name, except for the
/// five FreeSWITCH renames (seen on 1.11.3 with `bridge error/<cause>`).
fn dial_status(cause: &HangupCause) -> &str {
    match cause {
        HangupCause::UserBusy => "BUSY",
        HangupCause::NoAnswer => "NOANSWER",
        HangupCause::CallRejected => "DONTCALL",
        HangupCause::OriginatorCancel => "CANCEL",
        HangupCause::DestinationOutOfOrder => "INVALIDARGS",
        other => other.as_str(),
    }
}

/// The variables a failed bridge leaves.
fn failed(r: &Runner, cause: &HangupCause) {
    r.ch.set_var("originate_disposition", cause.as_str());
    r.ch.set_var("DIALSTATUS", dial_status(cause));
    r.ch.set_var("originate_failed_cause", cause.as_str());
}

pub(super) fn bridge<'a>(r: &'a mut Runner, arg: &'a str, _: bool) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let (failure, duration) =
            r.ch.with(|d| (d.script.bridge_failure.clone(), d.script.bridge_duration));
        match (dial(arg), failure) {
            (Outcome::Nothing, _) => {}
            (Outcome::Failed(cause), _) => failed(r, &cause),
            (Outcome::FarEnd(_), Some(cause)) => failed(r, &cause_name(&cause)),
            (Outcome::FarEnd(uuid), None) => bridged(r, uuid, duration).await,
        }
        None
    })
}

/// Bridged to the far end (with the dial string's `origination_uuid`, else
/// a new UUID) for `duration`, then unbridged.
async fn bridged(r: &mut Runner, far_uuid: Option<String>, duration: std::time::Duration) {
    let (core, ch) = (r.core.clone(), r.ch.clone());
    ch.mark_answered(&core);
    let other = far_uuid.unwrap_or_else(|| core.uuids.next());
    let now = core.clock.now_us();
    ch.with(|d| d.times.bridged = now);
    let legs = [
        ("Bridge-A-Unique-ID", ch.uuid.as_str()),
        ("Bridge-B-Unique-ID", other.as_str()),
    ];
    let src = (
        "switch_ivr_bridge.c",
        "switch_ivr_multi_threaded_bridge",
        1728,
    );
    ch.fire(&core, "CHANNEL_BRIDGE", src, true, &legs);
    ch.set_var("bridge_to", &other);
    ch.set_var("last_bridge_to", &other);
    let _ = r.wait(Some(duration), false, false).await;
    let src = (
        "switch_ivr_bridge.c",
        "switch_ivr_multi_threaded_bridge",
        1846,
    );
    ch.fire(&core, "CHANNEL_UNBRIDGE", src, true, &legs);
    ch.set_var("originate_disposition", "SUCCESS");
    ch.set_var("DIALSTATUS", "SUCCESS");
    ch.set_var("last_bridge_hangup_cause", "NORMAL_CLEARING");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_with(arg: &str) -> Option<String> {
        match dial(arg) {
            Outcome::Failed(cause) => Some(cause.to_string()),
            _ => None,
        }
    }

    #[test]
    fn error_legs_fail_with_the_last_cause_and_other_legs_reach_the_far_end() {
        assert_eq!(failed_with("error/user_busy").as_deref(), Some("USER_BUSY"));
        assert_eq!(failed_with("error/17").as_deref(), Some("USER_BUSY"));
        let two = "error/user_busy|[x=y]error/no_answer";
        assert_eq!(failed_with(two).as_deref(), Some("NO_ANSWER"));
        assert_eq!(failed_with("{a=b").as_deref(), Some("ORIGINATOR_CANCEL"));
        assert_eq!(failed_with("error/user_busy,sofia/gateway/gw/1"), None);
        assert!(matches!(dial(""), Outcome::Nothing));
        let far = dial("{origination_uuid=u1}sofia/gateway/gw/1");
        assert!(matches!(far, Outcome::FarEnd(Some(u)) if u == "u1"));
    }

    #[test]
    fn dial_status_renames_five_causes() {
        let status = |c: HangupCause| dial_status(&c).to_owned();
        assert_eq!(status(HangupCause::UserBusy), "BUSY");
        assert_eq!(status(HangupCause::NoAnswer), "NOANSWER");
        assert_eq!(status(HangupCause::CallRejected), "DONTCALL");
        assert_eq!(status(HangupCause::OriginatorCancel), "CANCEL");
        assert_eq!(status(HangupCause::DestinationOutOfOrder), "INVALIDARGS");
        assert_eq!(status(HangupCause::NoUserResponse), "NO_USER_RESPONSE");
    }
}
