//! The API commands the simulator answers (`api` / `bgapi`): one table of
//! built-ins, the user's registered ones first, and the API event every
//! execution fires.

mod args;
mod calls;
mod complete;
mod eval;
mod show;
mod system;

use std::sync::Arc;

use self::args::Args;
use super::channel::Switch;
use super::core::Core;
use super::sync::{lock, BoxFut};

/// An API's output; `None` is "Command not found" (unknown, or refused
/// like an unknown one).
type NowFn = fn(&Arc<Switch>, &Args<'_>) -> Option<String>;
type WaitFn = for<'a> fn(&'a Arc<Switch>, &'a Args<'a>) -> BoxFut<'a, Option<String>>;

/// An API that answers from the names of every API (the table it is in).
type NamesFn = fn(&Arc<Switch>, &Args<'_>, &[String]) -> Option<String>;

/// An API that runs other APIs (`eval`'s `${api(args)}`).
type NestingFn =
    for<'a> fn(&'a Arc<Switch>, &'a Args<'a>, eval::RunApi) -> BoxFut<'a, Option<String>>;

#[derive(Clone, Copy)]
enum Api {
    Now(NowFn),
    Wait(WaitFn),
    Names(NamesFn),
    Nesting(NestingFn),
}

/// The built-in APIs, by name.
const BUILTINS: &[(&str, Api)] = &[
    ("echo", Api::Now(system::echo)),
    ("eval", Api::Nesting(eval::eval)),
    ("version", Api::Now(system::version)),
    ("uptime", Api::Now(system::uptime)),
    ("status", Api::Now(system::status)),
    ("global_getvar", Api::Now(system::global_getvar)),
    ("global_setvar", Api::Now(system::global_setvar)),
    ("hash", Api::Now(system::hash)),
    ("fsctl", Api::Now(system::fsctl)),
    ("log", Api::Now(system::log)),
    ("msleep", Api::Wait(system::msleep)),
    ("originate", Api::Wait(calls::originate)),
    ("hupall", Api::Now(calls::hupall)),
    ("uuid_dump", Api::Now(calls::uuid_dump)),
    ("uuid_exists", Api::Now(calls::uuid_exists)),
    ("uuid_kill", Api::Now(calls::uuid_kill)),
    ("uuid_park", Api::Now(calls::uuid_park)),
    ("uuid_bridge", Api::Now(calls::uuid_bridge)),
    ("uuid_send_dtmf", Api::Now(calls::uuid_send_dtmf)),
    ("uuid_getvar", Api::Now(calls::uuid_getvar)),
    ("uuid_setvar", Api::Now(calls::uuid_setvar)),
    ("show", Api::Now(show::show)),
    ("console_complete", Api::Names(complete::console_complete)),
];

/// Every API name the switch answers (built-in and registered), sorted.
fn names(switch: &Switch) -> Vec<String> {
    let mut names: Vec<String> = BUILTINS.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.extend(lock(&switch.core.state).apis.keys().cloned());
    names.sort();
    names.dedup();
    names
}

/// Runs an API: a registered one wins over a built-in of the same name.
/// `None` means "Command not found".
pub(crate) async fn execute(
    switch: &Arc<Switch>,
    command: &str,
    args: &str,
    _session: Option<&str>,
) -> Option<String> {
    let user = lock(&switch.core.state).apis.get(command).cloned();
    if let Some(f) = user {
        return Some(f(args));
    }
    let api = BUILTINS.iter().find(|(n, _)| *n == command)?.1;
    let args = Args::new(args);
    match api {
        Api::Now(f) => f(switch, &args),
        Api::Wait(f) => f(switch, &args).await,
        Api::Names(f) => f(switch, &args, &names(switch)),
        Api::Nesting(f) => f(switch, &args, nested).await,
    }
}

/// An API run by another (`${api(args)}` in `eval`): its output ("" when
/// unknown), its API event fired as the switch does for every execution.
fn nested(switch: &Arc<Switch>, command: String, args: String) -> BoxFut<'_, String> {
    Box::pin(async move {
        let out = execute(switch, &command, &args, None).await;
        fire_api_event(&switch.core, &command, &args);
        out.unwrap_or_default()
    })
}

/// Fires the `API` event of an API execution.
pub(crate) fn fire_api_event(core: &Core, command: &str, args: &str) {
    let src = ("switch_loadable_module.c", "switch_api_execute", 3140);
    let mut e = core.base_event("API", src);
    e.push_header("API-Command", command);
    if !args.is_empty() {
        e.push_header("API-Command-Argument", args);
    }
    core.fire(e);
}
