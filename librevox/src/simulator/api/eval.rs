//! `eval [uuid:<uuid> ]<text>`: the text with its `${...}` expanded, as
//! mod_commands' `eval` does it (checked against FreeSWITCH 1.11.3,
//! `testdata/eval-1.11.3.txt`).
//!
//! The expansion reads a CHANNEL_DATA event made for the call (with the
//! channel data of `<uuid>` when that channel exists), then the global
//! variables, so `${Event-Name}` is `CHANNEL_DATA` and a channel variable is
//! `${variable_<name>}` (a bare `${name}` is not looked up on the channel).
//! `${name:offset[:length]}` is a substring (a negative offset counts from
//! the end); `${api(args)}` runs that API (its arguments expanded first, its
//! API event fired, an unknown one giving nothing). `\$` is a literal `$`,
//! `\\` a backslash; an unclosed `${` runs to the end of the text.

use std::sync::Arc;

use super::args::Args;
use crate::protocol::Event;
use crate::simulator::channel::Switch;
use crate::simulator::sync::{lock, BoxFut};

/// Runs a nested API (`${api(args)}`) and fires its API event: its output,
/// or "" when it is unknown.
pub(super) type RunApi = for<'a> fn(&'a Arc<Switch>, String, String) -> BoxFut<'a, String>;

/// `eval`: the expansion of its argument ("" becomes `-ERR no reply`).
pub(super) fn eval<'a>(
    switch: &'a Arc<Switch>,
    args: &'a Args<'a>,
    run: RunApi,
) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let mut text = args.line;
        let mut event = switch
            .core
            .base_event("CHANNEL_DATA", ("mod_commands.c", "eval_function", 1696));
        if text.len() >= 5 && text[..5].eq_ignore_ascii_case("uuid:") {
            // `uuid:<uuid> <text>`; without the text there is nothing.
            let Some((uuid, rest)) = text[5..].split_once(' ') else {
                return Some(String::new());
            };
            if let Some(ch) = switch.channel(uuid) {
                ch.push_channel_data(&mut event, true);
            }
            text = rest;
        }
        Some(expand(switch, &event, text, run).await)
    })
}

/// `text` with every `${...}` replaced.
fn expand<'a>(
    switch: &'a Arc<Switch>,
    event: &'a Event,
    text: &'a str,
    run: RunApi,
) -> BoxFut<'a, String> {
    Box::pin(async move {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['\\', '$']) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("\\$").or(tail.strip_prefix("\\\\")) {
                out.push(tail.as_bytes()[1] as char);
                rest = after;
            } else if let Some(body) = tail.strip_prefix("${").or_else(|| tail.strip_prefix("$${"))
            {
                let (inner, after) = closing(body);
                out.push_str(&value(switch, event, inner, run).await);
                rest = after;
            } else {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    })
}

/// Splits `body` (the text after `${`) at its matching `}`: the inside and
/// what follows (nothing, when the `}` is missing).
fn closing(body: &str) -> (&str, &str) {
    let mut depth = 0usize;
    for (i, b) in body.bytes().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => return (&body[..i], &body[i + 1..]),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    (body, "")
}

/// The value of one `${inside}`.
async fn value(switch: &Arc<Switch>, event: &Event, inside: &str, run: RunApi) -> String {
    if let Some((name, args)) = inside.split_once('(') {
        let args = args.rsplit_once(')').map_or(args, |(a, _)| a);
        let args = expand(switch, event, args, run).await;
        return run(switch, name.to_owned(), args).await;
    }
    let mut parts = inside.split(':');
    let name = parts.next().unwrap_or("");
    let offset: Option<i64> = parts.next().map(atoi);
    let length: Option<i64> = parts.next().map(atoi);
    let found = event.header(name).map(str::to_owned).or_else(|| {
        lock(&switch.core.state)
            .globals
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    });
    let Some(value) = found else {
        return String::new();
    };
    substring(&value, offset, length)
}

/// C's `atoi`: leading digits (with a sign), 0 when there are none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    sign * digits[..end].parse::<i64>().unwrap_or(0)
}

/// `${name:offset:length}`: from `offset` (from the end when negative; past
/// the end is nothing), at most `length` characters (when positive).
fn substring(value: &str, offset: Option<i64>, length: Option<i64>) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len() as i64;
    let start = match offset {
        None => 0,
        Some(o) if o > n => return String::new(),
        Some(o) if o >= 0 => o,
        Some(o) if -o <= n => n + o,
        Some(_) => 0,
    } as usize;
    let mut piece = &chars[start..];
    if let Some(l) = length.filter(|&l| l > 0) {
        piece = &piece[..piece.len().min(l as usize)];
    }
    piece.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::{atoi, closing, substring};

    #[test]
    fn substrings_follow_the_switch() {
        let v = "hello there";
        assert_eq!(substring(v, Some(2), None), "llo there");
        assert_eq!(substring(v, Some(2), Some(3)), "llo");
        assert_eq!(substring(v, Some(-3), None), "ere");
        assert_eq!(substring(v, Some(20), None), "");
        assert_eq!(substring(v, Some(0), Some(-1)), v);
        assert_eq!(atoi("12x"), 12);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("x"), 0);
    }

    #[test]
    fn braces_nest_and_an_unclosed_one_runs_to_the_end() {
        assert_eq!(closing("echo(${cvar})}|x"), ("echo(${cvar})", "|x"));
        assert_eq!(closing("cvar"), ("cvar", ""));
        assert_eq!(closing("}"), ("", ""));
    }
}
