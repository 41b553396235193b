//! `console_complete`: the console's tab completion, in the plain stream
//! form FreeSWITCH 1.11.3's mod_commands writes (verified on the real
//! switch by teammate D): the candidates in 20-wide cells, four to a line,
//! then the text to insert (`write=<len>:<text>`).

use std::sync::Arc;

use super::args::Args;
use crate::simulator::channel::Switch;

/// What `show` offers as its first word (FreeSWITCH's list).
const SHOW_WORDS: &[&str] = &[
    "aliases",
    "api",
    "application",
    "bridged_calls",
    "calls",
    "channels",
    "chat",
    "codec",
    "complete",
    "detailed_bridged_calls",
    "detailed_calls",
    "dialplan",
    "endpoint",
    "file",
    "interface_types",
    "interfaces",
    "management",
    "modules",
    "nat_map",
    "registrations",
    "say",
    "status",
    "tasks",
    "timer",
];

/// The line to complete: after `c=<cursor>;` it is cut at the cursor;
/// leading spaces are skipped. A cursor past the end stands for the
/// trailing space the command line lost on its way in (`uuid_kill ` with
/// `c=10` arrives as `uuid_kill`): the word at the cursor is then a new,
/// empty one, as FreeSWITCH completes it.
fn line_of(arg: &str) -> String {
    let line = match arg.strip_prefix("c=").and_then(|r| r.split_once(';')) {
        Some((cursor, line)) => match cursor.parse::<usize>() {
            Ok(at) if at > line.len() => format!("{line} "),
            Ok(at) if line.is_char_boundary(at) => line[..at].to_owned(),
            _ => line.to_owned(),
        },
        None => arg.to_owned(),
    };
    line.trim_start_matches(' ').to_owned()
}

/// The candidates for the last word of `line`: API names for the first
/// word, channel UUIDs after a `uuid_*` command, `show`'s words after
/// `show`; none otherwise.
fn candidates(switch: &Switch, apis: &[String], line: &str) -> (String, Vec<String>) {
    let words: Vec<&str> = line.split(' ').collect();
    let word = words.last().copied().unwrap_or("").to_owned();
    let pool: Vec<String> = match words.len() {
        1 => apis.to_vec(),
        2 if words[0].starts_with("uuid_") => {
            let mut uuids: Vec<String> = switch.channels().iter().map(|c| c.uuid.clone()).collect();
            uuids.sort();
            uuids
        }
        2 if words[0] == "show" => SHOW_WORDS.iter().map(|w| (*w).to_owned()).collect(),
        _ => Vec::new(),
    };
    let matches = pool.into_iter().filter(|c| c.starts_with(&word)).collect();
    (word, matches)
}

/// The longest common prefix of the matches.
fn common_prefix(matches: &[String]) -> &str {
    let Some(first) = matches.first() else {
        return "";
    };
    let mut len = first.len();
    for m in &matches[1..] {
        let same = first
            .bytes()
            .zip(m.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        len = len.min(same);
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

pub(super) fn console_complete(
    switch: &Arc<Switch>,
    args: &Args<'_>,
    apis: &[String],
) -> Option<String> {
    let (word, matches) = candidates(switch, apis, &line_of(args.line));
    let mut out = String::from("\n\n");
    for (i, m) in matches.iter().enumerate() {
        out.push_str(&format!("[{m:>20}]\t"));
        if (i + 1) % 4 == 0 {
            out.push('\n');
        }
    }
    out.push_str("\n\n");
    match matches.len() {
        0 => {}
        1 => out.push_str(&format!("write={}:{} ", word.len(), matches[0])),
        _ => {
            let prefix = common_prefix(&matches);
            if !prefix.is_empty() {
                out.push_str(&format!("write={}:{prefix}", word.len()));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{common_prefix, line_of};

    #[test]
    fn the_line_and_the_prefix() {
        assert_eq!(line_of("c=3;show channels"), "sho");
        assert_eq!(line_of("   show cha"), "show cha");
        assert_eq!(line_of("c=99;sho"), "sho ");
        assert_eq!(line_of("c=10;uuid_kill"), "uuid_kill ");
        let m = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&m(&["channels", "chat"])), "cha");
        assert_eq!(common_prefix(&m(&["a", "b"])), "");
        assert_eq!(common_prefix(&m(&["uuid_kill"])), "uuid_kill");
    }
}
