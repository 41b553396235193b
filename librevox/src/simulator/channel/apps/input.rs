//! Digit collection: `read` and `play_and_get_digits`, their arguments read
//! with [`Digits`]' parsers.

use std::time::Duration;

use crate::apps::Digits;
use crate::simulator::channel::media::{Collect, Collected};
use crate::simulator::channel::runner::{BoxFut, Runner};
use crate::simulator::regex::Regex;

/// The variables every collection sets: the terminator used.
fn set_terminator(r: &Runner, got: &Collected) {
    if let Some(t) = got.terminator {
        r.ch.set_var("read_terminator_used", &t.to_string());
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(ms.into())
}

/// The collection limits `read` and `play_and_get_digits` share: the
/// first digit waits `timeout`, later ones the digit timeout when one is
/// given (not 0), else `timeout` too.
fn limits<'a>(prompt: &'a str, d: &'a Digits) -> Collect<'a> {
    Collect {
        prompt,
        max: d.max.max(1) as usize,
        first_timeout: millis(d.timeout_ms),
        digit_timeout: d
            .digit_timeout_ms
            .filter(|t| *t > 0)
            .map_or(millis(d.timeout_ms), millis),
        terminators: &d.terminators,
    }
}

/// `read <min> <max> <file> <variable> <timeout> <terminators>
/// [<digit_timeout>]`.
pub(super) fn read<'a>(
    r: &'a mut Runner,
    data: &'a str,
    nested: bool,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let (file, d) = Digits::parse_read(data).unwrap_or_default();
        if !d.variable.is_empty() {
            r.ch.set_var(&d.variable, "");
        }
        r.feed_input();
        let limits = limits(&file, &d);
        let got = r.collect(&limits, nested).await;
        set_terminator(r, &got);
        let ok = !got.digits.is_empty() && got.digits.len() >= d.min as usize;
        r.ch.set_var("read_result", if ok { "success" } else { "failure" });
        if ok && !d.variable.is_empty() {
            r.ch.set_var(&d.variable, &got.digits);
        }
        None
    })
}

/// `play_and_get_digits <min> <max> <tries> <timeout> <terminators> <file>
/// <invalid_file> <variable> <regexp> [<digit_timeout>
/// [<transfer_on_failure>]]` (the transfer is not modelled).
pub(super) fn play_and_get_digits<'a>(
    r: &'a mut Runner,
    data: &'a str,
    nested: bool,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let (file, invalid, d) = Digits::parse_play_and_get_digits(data).unwrap_or_default();
        if !d.variable.is_empty() {
            r.ch.set_var(&d.variable, "");
        }
        let re = Regex::new(&d.regexp, false, false).filter(|_| !d.regexp.is_empty());
        let limits = limits(&file, &d);
        for _ in 0..d.tries.max(1) {
            r.feed_input();
            let got = r.collect(&limits, nested).await;
            set_terminator(r, &got);
            if got.hung_up {
                break;
            }
            let digits = got.digits;
            let entered = !digits.is_empty();
            r.ch.set_var("read_result", if entered { "success" } else { "failure" });
            let valid = entered
                && digits.len() >= d.min as usize
                && digits.len() <= d.max.max(1) as usize
                && re.as_ref().is_none_or(|re| re.is_match(&digits));
            if valid {
                r.ch.set_var(&d.variable, &digits);
                break;
            }
            if entered {
                r.ch.set_var(&format!("{}_invalid", d.variable), &digits);
            }
            if !invalid.is_empty() && r.play(&invalid, nested).await {
                continue;
            }
            if r.down() {
                break;
            }
        }
        None
    })
}
