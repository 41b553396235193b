//! Tab completion: FreeSWITCH's own (`console_complete`), channel UUIDs for
//! `uuid_*` commands (from `show channels`), and the console's commands.

use std::sync::Arc;
use std::time::Duration;

use librevox::commands::Commands;
use librevox::protocol::names::EVENT_NAMES;
use reedline::{Completer, Span, Suggestion};

use super::line::{LOG_LEVELS, SLASH_COMMANDS};
use super::session::Session;

/// A completion never keeps the line editor waiting longer than this.
const WAIT: Duration = Duration::from_secs(2);

/// What `console_complete` answered: the candidates for the word at the
/// cursor.
///
/// The body (FreeSWITCH's `switch_console_complete`, stream form) is two
/// newlines, one `[%20s]\t` cell per candidate (a newline after every
/// fourth), two newlines, then `write=<len>:<text>` when there is a unique
/// candidate (with a trailing space) or a common prefix.
pub(crate) fn parse_console_complete(body: &str) -> Vec<String> {
    let cells = match body.rfind("\n\n") {
        Some(end) if end > 0 => &body[..end],
        _ => body,
    };
    let mut out = Vec::new();
    let mut rest = cells;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        // A cell ends with `]` followed by the tab FreeSWITCH writes.
        let Some(close) = after.find("]\t").or_else(|| after.rfind(']')) else {
            break;
        };
        let value = after[..close].trim();
        if !value.is_empty() {
            out.push(value.to_owned());
        }
        rest = &after[close + 1..];
    }
    out
}

/// The console's completer.
pub(crate) struct ConsoleCompleter {
    pub(crate) session: Arc<Session>,
    pub(crate) runtime: tokio::runtime::Handle,
}

fn suggestion(value: String, description: Option<String>, start: usize, end: usize) -> Suggestion {
    Suggestion {
        value,
        description,
        span: Span::new(start, end),
        append_whitespace: true,
        ..Suggestion::default()
    }
}

fn matching<'a>(words: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    words
        .into_iter()
        .filter(|w| {
            w.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        })
        .map(str::to_owned)
        .collect()
}

impl ConsoleCompleter {
    /// Runs `f` on the runtime, giving up after [`WAIT`].
    fn ask<T, F>(&self, f: F) -> Option<T>
    where
        F: std::future::Future<Output = Option<T>>,
    {
        self.runtime
            .block_on(async { tokio::time::timeout(WAIT, f).await.ok().flatten() })
    }

    /// FreeSWITCH's candidates for the word before the cursor of `line`.
    fn freeswitch(&self, line: &str) -> Vec<String> {
        let Some(conn) = self.session.connection() else {
            return Vec::new();
        };
        // `c=<cursor>;` first: FreeSWITCH looks for the first `c=` in the
        // whole argument, which could otherwise be inside the line.
        let cmd = format!("console_complete c={};{line}", line.len());
        self.ask(async move { conn.api(&cmd).await.ok() })
            .map(|r| parse_console_complete(&r.text()))
            .unwrap_or_default()
    }

    /// Live channels whose UUID starts with `prefix`, described by name and
    /// state.
    fn uuids(&self, prefix: &str) -> Vec<(String, Option<String>)> {
        let Some(conn) = self.session.connection() else {
            return Vec::new();
        };
        let rows = self
            .ask(async move { conn.show_channels().await.ok() })
            .unwrap_or_default();
        rows.into_iter()
            .filter_map(|row| {
                let get = |k: &str| row.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let uuid = get("uuid")?;
                uuid.starts_with(prefix).then(|| {
                    let desc = [get("name"), get("state"), get("cid_num")]
                        .into_iter()
                        .flatten()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    (uuid, Some(desc).filter(|d| !d.is_empty()))
                })
            })
            .collect()
    }

    /// Completion of an API command line (`line` ends at the cursor).
    fn api(&self, line: &str, offset: usize) -> Vec<Suggestion> {
        let start = line.rfind(' ').map_or(0, |i| i + 1);
        let word = &line[start..];
        let words: Vec<&str> = line[..start].split_whitespace().collect();
        let mut out: Vec<Suggestion> = Vec::new();
        if words.len() == 1 && words[0].starts_with("uuid_") {
            for (uuid, desc) in self.uuids(word) {
                out.push(suggestion(uuid, desc, offset + start, offset + line.len()));
            }
        }
        for value in self.freeswitch(line) {
            if !out.iter().any(|s| s.value == value) {
                out.push(suggestion(value, None, offset + start, offset + line.len()));
            }
        }
        out
    }

    /// Completion of a console command line (`line` starts with `/`).
    fn slash(&self, line: &str) -> Vec<Suggestion> {
        let end = line.len();
        let Some(space) = line.find(' ') else {
            return matching(SLASH_COMMANDS.iter().copied(), line)
                .into_iter()
                .map(|v| suggestion(v, None, 0, end))
                .collect();
        };
        let (name, rest) = (&line[..space], &line[space + 1..]);
        if name == "/bgapi" {
            return self.api(rest, space + 1);
        }
        let start = line.rfind(' ').map_or(0, |i| i + 1);
        let word = &line[start..];
        let values: Vec<(String, Option<String>)> = match name {
            "/log" => matching(LOG_LEVELS.iter().copied(), word)
                .into_iter()
                .map(|v| (v, None))
                .collect(),
            "/event" | "/nixevent" => matching(
                std::iter::once("ALL").chain(EVENT_NAMES.iter().copied()),
                word,
            )
            .into_iter()
            .map(|v| (v, None))
            .collect(),
            "/uuid" => self.uuids(word),
            _ => Vec::new(),
        };
        values
            .into_iter()
            .map(|(v, d)| suggestion(v, d, start, end))
            .collect()
    }
}

impl Completer for ConsoleCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> Vec<Suggestion> {
        let Some(before) = line.get(..pos) else {
            return Vec::new();
        };
        if before.trim_start().starts_with('/') {
            let indent = before.len() - before.trim_start().len();
            let mut s = self.slash(before.trim_start());
            for x in &mut s {
                x.span = Span::new(x.span.start + indent, x.span.end + indent);
            }
            s
        } else {
            self.api(before, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_freeswitch_1_11_answers() {
        // Bytes from the real switch.
        assert_eq!(
            parse_console_complete("\n\n[                show]\t\n\nwrite=3:show "),
            ["show"]
        );
        assert_eq!(
            parse_console_complete(
                "\n\n[               calls]\t[            channels]\t[                chat]\t[               codec]\t\n[            complete]\t\n\nwrite=1:c"
            ),
            ["calls", "channels", "chat", "codec", "complete"]
        );
        assert_eq!(
            parse_console_complete("\n\n[2954e1f7-9e75-4f29-bed8-e6b403c33954]\t[2c99d93d-001d-439a-a146-e81106c24392]\t\n\nwrite=0:2"),
            ["2954e1f7-9e75-4f29-bed8-e6b403c33954", "2c99d93d-001d-439a-a146-e81106c24392"]
        );
        assert!(parse_console_complete("\n\n\n\n").is_empty());
        assert!(parse_console_complete("-ERR console_complete Command not found!\n").is_empty());
    }

    #[test]
    fn prefixes_match_without_case() {
        assert_eq!(matching(["debug", "Info"], "in"), ["Info"]);
        assert!(matching(["a"], "ab").is_empty());
    }
}
