//! `log [<level>] <message>`.

use crate::protocol::LogLevel;
use crate::simulator::channel::runner::Runner;
use crate::simulator::core::{level_by_name, TextChannel};

/// The level and the text: a first word that names a level is the level,
/// otherwise the whole argument is logged at DEBUG.
fn parse(data: &str) -> (LogLevel, &str) {
    match data.split_once(' ') {
        Some((l, text)) => match level_by_name(l) {
            Some(level) => (level, text),
            None => (LogLevel::Debug, data),
        },
        None => (LogLevel::Debug, data),
    }
}

pub(super) fn log(r: &mut Runner, data: &str) -> Option<String> {
    let (level, text) = parse(data);
    r.core.log(
        level.number(),
        TextChannel::Session,
        ("mod_dptools.c", "log_function", 1584),
        &r.ch.uuid,
        &format!("{text}\n"),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::protocol::LogLevel;

    #[test]
    fn level_first_or_debug() {
        assert_eq!(
            parse("INFO caller entered"),
            (LogLevel::Info, "caller entered")
        );
        assert_eq!(parse("warning x"), (LogLevel::Warning, "x"));
        assert_eq!(parse("hello there"), (LogLevel::Debug, "hello there"));
        assert_eq!(parse("alone"), (LogLevel::Debug, "alone"));
    }
}
