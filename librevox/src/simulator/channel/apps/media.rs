//! Media: `playback`, `record`, `sleep`, and the applications that hold the
//! call (`echo`, `conference`, `eavesdrop`, `intercept`).

use std::time::Duration;

use tokio::time::Instant;

use crate::apps::RecordOptions;
use crate::simulator::channel::runner::{BoxFut, Runner};

pub(super) fn playback<'a>(
    r: &'a mut Runner,
    file: &'a str,
    nested: bool,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let done = r.play(file, nested).await;
        let response = if done {
            "FILE PLAYED"
        } else {
            "PLAYBACK ERROR"
        };
        Some(response.to_owned())
    })
}

/// `record <path> [<limit> [<threshold> [<hits>]]]`: records until the
/// limit or a hangup (silence is not detected).
pub(super) fn record<'a>(
    r: &'a mut Runner,
    data: &'a str,
    nested: bool,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let (path, options) = RecordOptions::parse(data).unwrap_or_default();
        let path = [("Record-File-Path", path.as_str())];
        let src = ("switch_ivr_async.c", "record_callback", 1250);
        r.ch.fire(&r.core, "RECORD_START", src, true, &path);
        let started = Instant::now();
        // FreeSWITCH reads a limit of 0 as none; the simulator stops at
        // once (tests rely on it to record nothing).
        let limit = options.limit_secs.map(|s| Duration::from_secs(s.into()));
        let _ = r.wait(limit, nested, false).await;
        let ms = started.elapsed().as_millis() as u64;
        r.ch.set_var("record_ms", &ms.to_string());
        r.ch.set_var("record_seconds", &(ms / 1000).to_string());
        r.ch.set_var("record_samples", &(ms * 8).to_string());
        let src = ("switch_ivr_async.c", "record_callback", 1350);
        r.ch.fire(&r.core, "RECORD_STOP", src, true, &path);
        None
    })
}

/// `sleep <ms>`.
pub(super) fn sleep<'a>(
    r: &'a mut Runner,
    data: &'a str,
    nested: bool,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let ms: u64 = data.trim().parse().unwrap_or(0);
        let _ = r.wait(Some(Duration::from_millis(ms)), nested, false).await;
        None
    })
}

/// Holds the call until it ends.
pub(super) fn hold<'a>(r: &'a mut Runner, _: &'a str, nested: bool) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let _ = r.wait(None, nested, false).await;
        None
    })
}
