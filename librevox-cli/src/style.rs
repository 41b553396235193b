//! Colours: one policy for everything the tool prints.
//!
//! Colour is on when the stream is a terminal that supports it, unless
//! `NO_COLOR` is set (to anything non-empty); `CLICOLOR_FORCE` turns it on
//! even into a pipe; `CLICOLOR=0` and `TERM=dumb` turn it off. That is
//! anstream's policy, the one clap already applies to `--help`, so the whole
//! binary answers the same way.

use anstyle::{AnsiColor, Style};

/// True when text written to `stream` may carry ANSI colours.
pub(crate) fn colors_for<S: anstream::stream::RawStream>(stream: &S) -> bool {
    anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
}

/// The policy for standard output.
pub(crate) fn stdout_colors() -> bool {
    colors_for(&std::io::stdout())
}

/// The colour of a log line of FreeSWITCH level `level` (0 CONSOLE … 7
/// DEBUG): fs_cli's choice, so a voice engineer's eye finds the same thing.
pub(crate) fn log_level(level: u8) -> Style {
    let color = match level {
        1..=3 => Some(AnsiColor::Red),
        4 => Some(AnsiColor::Magenta),
        5 => Some(AnsiColor::Cyan),
        6 => Some(AnsiColor::Green),
        7.. => Some(AnsiColor::Yellow),
        0 => None,
    };
    Style::new().fg_color(color.map(Into::into))
}

/// The event name in a compact event line.
pub(crate) fn event_name() -> Style {
    Style::new().bold().fg_color(Some(AnsiColor::Blue.into()))
}

/// Messages of the console itself (connection state, job results).
pub(crate) fn notice() -> Style {
    Style::new().dimmed()
}

/// Errors (`-ERR` replies, failures).
pub(crate) fn error() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into()))
}

/// `text` in `style` when `on`, else as it is. Each line is styled on its
/// own, so a multi-line text never leaves a colour open across a newline.
pub(crate) fn paint(on: bool, style: Style, text: &str) -> String {
    if !on || style == Style::new() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(&format!("{}{line}{}", style.render(), style.render_reset()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_styles_each_line_and_nothing_when_off() {
        let red = error();
        assert_eq!(paint(false, red, "a\nb"), "a\nb");
        assert_eq!(
            paint(true, red, "a\n\nb"),
            "\x1b[31ma\x1b[0m\n\n\x1b[31mb\x1b[0m"
        );
        assert_eq!(paint(true, log_level(0), "plain"), "plain");
    }

    #[test]
    fn levels_follow_fs_cli() {
        assert_eq!(
            log_level(3),
            Style::new().fg_color(Some(AnsiColor::Red.into()))
        );
        assert_eq!(
            log_level(7),
            Style::new().fg_color(Some(AnsiColor::Yellow.into()))
        );
        assert_eq!(
            log_level(6),
            Style::new().fg_color(Some(AnsiColor::Green.into()))
        );
    }
}
