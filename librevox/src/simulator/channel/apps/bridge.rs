//! `bridge`: the far end is the caller script's (`bridge_failure`,
//! `bridge_duration`); the dial string itself is not dialled.

use crate::simulator::channel::runner::{BoxFut, Runner};

/// The variables a failed bridge leaves.
fn failed(r: &Runner, cause: &str) {
    for var in [
        "originate_disposition",
        "DIALSTATUS",
        "originate_failed_cause",
        "last_bridge_hangup_cause",
    ] {
        r.ch.set_var(var, cause);
    }
}

pub(super) fn bridge<'a>(r: &'a mut Runner, _: &'a str, _: bool) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let (failure, duration) =
            r.ch.with(|d| (d.script.bridge_failure.clone(), d.script.bridge_duration));
        if let Some(cause) = failure {
            failed(r, &cause);
            return None;
        }
        let (core, ch) = (r.core.clone(), r.ch.clone());
        ch.mark_answered(&core);
        let other = core.uuids.next();
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
        None
    })
}
