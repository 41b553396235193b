//! What a console line means.

/// The console's own commands, for `/help` and tab completion.
pub(crate) const SLASH_COMMANDS: &[&str] = &[
    "/help",
    "/exit",
    "/quit",
    "/bye",
    "/bgapi",
    "/log",
    "/nolog",
    "/event",
    "/nixevent",
    "/noevents",
    "/filter",
    "/uuid",
];

/// Log levels as `log` takes them, for completion.
pub(crate) const LOG_LEVELS: &[&str] = &[
    "console", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

pub(crate) const HELP: &str = "\
Lines are FreeSWITCH API commands (`status`, `show channels`, `uuid_kill <uuid>`), run
with `api`; Tab completes command names, arguments and channel UUIDs. Console commands:

  /bgapi <command>                  run it in the background; its result prints when it comes
  /log [<level>]                    stream log lines up to <level>: console alert crit err
                                    warning notice info debug, or 0-7 (default debug)
  /nolog                            stop the log stream
  /uuid [<uuid>]                    only log lines of that channel (no argument: all again)
  /event <names>                    stream events: ALL, CHANNEL_CREATE ..., CUSTOM <sub::class>
  /nixevent <names>                 stop some of them
  /noevents                         stop every event
  /filter <header> <value>          only events whose header has that value
  /filter delete <header> [<value>] remove filters
  /filter                           show the filters
  /help                             this text
  /exit, /quit, /bye, Ctrl-D        leave (`exit`, `quit`, `bye` and `...` leave too: `...`
                                    would shut FreeSWITCH down)

Ctrl-R searches the history; Ctrl-C clears the line, or stops waiting for a command.
The log level, events and filters are restored when the console reconnects.";

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Empty,
    Exit,
    Help,
    Api(String),
    Bgapi(String),
    Log(String),
    NoLog,
    Uuid(Option<String>),
    Event(Vec<String>),
    NixEvent(Vec<String>),
    NoEvents,
    Filter(String, String),
    FilterDelete(String, Option<String>),
    ShowFilters,
}

impl Line {
    /// Parses a line; `Err` is the message for a console command used
    /// wrongly.
    pub(crate) fn parse(line: &str) -> Result<Line, String> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(Line::Empty);
        }
        if ["exit", "quit", "bye", "..."].contains(&line) {
            return Ok(Line::Exit);
        }
        let Some(slash) = line.strip_prefix('/') else {
            return Ok(Line::Api(line.to_owned()));
        };
        let (name, rest) = match slash.split_once(char::is_whitespace) {
            Some((n, r)) => (n, r.trim()),
            None => (slash, ""),
        };
        let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
        let need = |what: &str| -> Result<Line, String> { Err(format!("usage: /{name} {what}")) };
        Ok(match name {
            "help" | "?" => Line::Help,
            "exit" | "quit" | "bye" => Line::Exit,
            "bgapi" if rest.is_empty() => return need("<command>"),
            "bgapi" => Line::Bgapi(rest.to_owned()),
            "log" if words.len() > 1 => return need("[<level>]"),
            "log" => Line::Log(words.first().cloned().unwrap_or_else(|| "debug".into())),
            "nolog" => Line::NoLog,
            "uuid" => Line::Uuid(words.first().cloned()),
            "event" | "events" if words.is_empty() => return need("<names> (ALL for every event)"),
            "event" | "events" => Line::Event(words),
            "nixevent" if words.is_empty() => return need("<names>"),
            "nixevent" => Line::NixEvent(words),
            "noevents" => Line::NoEvents,
            "filter" => match words.as_slice() {
                [] => Line::ShowFilters,
                [d, h] if d == "delete" => Line::FilterDelete(h.clone(), None),
                [d, h, v] if d == "delete" => Line::FilterDelete(h.clone(), Some(v.clone())),
                [h, ..] if h != "delete" && words.len() >= 2 => {
                    // The value is the rest of the line, spaces included.
                    let value = rest[h.len()..].trim().to_owned();
                    Line::Filter(h.clone(), value)
                }
                _ => return need("<header> <value> | delete <header> [<value>]"),
            },
            _ => {
                return Err(format!(
                    "unknown console command /{name}; /help lists them (a FreeSWITCH command \
                     is typed without the slash)"
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Line {
        Line::parse(s).unwrap()
    }

    #[test]
    fn plain_lines_are_api_commands() {
        assert_eq!(p("  show channels "), Line::Api("show channels".into()));
        assert_eq!(p(""), Line::Empty);
        assert_eq!(p("..."), Line::Exit);
        assert_eq!(p("/quit"), Line::Exit);
    }

    #[test]
    fn console_commands() {
        assert_eq!(
            p("/bgapi originate a b"),
            Line::Bgapi("originate a b".into())
        );
        assert_eq!(p("/log"), Line::Log("debug".into()));
        assert_eq!(p("/log info"), Line::Log("info".into()));
        assert_eq!(
            p("/event CHANNEL_CREATE CUSTOM a::b"),
            Line::Event(vec![
                "CHANNEL_CREATE".into(),
                "CUSTOM".into(),
                "a::b".into()
            ])
        );
        assert_eq!(
            p("/filter Caller-Caller-ID-Name Jane Doe"),
            Line::Filter("Caller-Caller-ID-Name".into(), "Jane Doe".into())
        );
        assert_eq!(
            p("/filter delete Unique-ID"),
            Line::FilterDelete("Unique-ID".into(), None)
        );
        assert_eq!(p("/filter"), Line::ShowFilters);
        assert_eq!(p("/uuid"), Line::Uuid(None));
    }

    #[test]
    fn misuse_says_how() {
        assert_eq!(
            Line::parse("/bgapi").unwrap_err(),
            "usage: /bgapi <command>"
        );
        assert!(Line::parse("/filter x")
            .unwrap_err()
            .starts_with("usage: /filter"));
        assert!(Line::parse("/status")
            .unwrap_err()
            .contains("without the slash"));
    }
}
