//! The applications the simulator implements, one file per family, each
//! with its argument reading and its behaviour, and the one table the
//! runner looks them up in.

mod bridge;
mod call;
mod input;
mod log;
mod media;
mod socket;
mod vars;

use super::runner::{App, Run, Runner};

/// An application that runs and returns at once (its signalling or media
/// is not modelled): EXECUTE and EXECUTE_COMPLETE, nothing else.
fn inert(_: &mut Runner, _: &str) -> Option<String> {
    None
}

const fn now(name: &'static str, f: super::runner::NowFn) -> App {
    App {
        name,
        zombie: false,
        run: Run::Now(f),
    }
}

/// Runs after hangup too ("zombie exec", §6.4).
const fn zombie(name: &'static str, f: super::runner::NowFn) -> App {
    App {
        name,
        zombie: true,
        run: Run::Now(f),
    }
}

const fn wait(name: &'static str, f: super::runner::WaitFn) -> App {
    App {
        name,
        zombie: false,
        run: Run::Wait(f),
    }
}

/// Every application the simulator knows; any other name hangs the
/// channel up with DESTINATION_OUT_OF_ORDER, as FreeSWITCH does.
pub(crate) const APPS: &[App] = &[
    now("answer", call::answer),
    now("pre_answer", call::pre_answer),
    now("hangup", call::hangup),
    now("transfer", call::transfer),
    wait("park", call::park),
    wait("playback", media::playback),
    wait("record", media::record),
    wait("sleep", media::sleep),
    wait("read", input::read),
    wait("play_and_get_digits", input::play_and_get_digits),
    zombie("set", vars::set),
    zombie("export", vars::export),
    zombie("multiset", vars::multiset),
    zombie("unset", vars::unset),
    zombie("push", vars::push),
    wait("bridge", bridge::bridge),
    zombie("log", log::log),
    zombie("info", inert),
    zombie("event", inert),
    wait("socket", socket::socket),
    // These hold the call until it ends (or, nested, until a queued
    // message runs), as on a real switch.
    wait("echo", media::hold),
    wait("conference", media::hold),
    wait("eavesdrop", media::hold),
    wait("intercept", media::hold),
    // mod_dptools applications whose media or signalling effect is not
    // modelled.
    now("att_xfer", inert),
    now("bind_meta_app", inert),
    now("unbind_meta_app", inert),
    now("deflect", inert),
    now("redirect", inert),
    now("respond", inert),
    now("gentones", inert),
    now("say", inert),
    now("speak", inert),
    now("phrase", inert),
    now("send_dtmf", inert),
    now("record_session", inert),
    now("stop_record_session", inert),
    now("ring_ready", inert),
    now("limit", inert),
];

#[cfg(test)]
mod tests {
    use super::APPS;

    #[test]
    fn each_application_once() {
        let mut names: Vec<&str> = APPS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "an application is in the table twice");
    }
}
