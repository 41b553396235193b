//! Call control: `answer`, `pre_answer`, `hangup`, `transfer`, `park`.

use crate::simulator::channel::runner::{BoxFut, Runner};
use crate::simulator::state::cause_name;

pub(super) fn answer(r: &mut Runner, _: &str) -> Option<String> {
    r.ch.mark_answered(&r.core);
    None
}

pub(super) fn pre_answer(r: &mut Runner, _: &str) -> Option<String> {
    r.ch.mark_pre_answered(&r.core);
    None
}

/// `hangup [<cause>]`: a cause by name or Q.850 number.
pub(super) fn hangup(r: &mut Runner, data: &str) -> Option<String> {
    r.ch.hangup(&r.core, cause_name(data), false);
    None
}

/// `transfer <extension> [<dialplan> [<context>]]`: the runner routes the
/// channel again once the application returned.
pub(super) fn transfer(r: &mut Runner, data: &str) -> Option<String> {
    let dest = data.split(' ').next().unwrap_or("");
    if !dest.is_empty() {
        r.transfer = Some(dest.to_owned());
    }
    None
}

pub(super) fn park<'a>(r: &'a mut Runner, _: &'a str, _: bool) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        r.park(false, None).await;
        None
    })
}
