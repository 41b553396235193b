//! Event names as the user writes them: wire strings in `events = [...]` and
//! in `#[event("...")]`, snake_case identifiers and `custom = "..."` in
//! `#[event(...)]`.

use crate::names::{self, EventSpec, Style, ALL, CUSTOM};

/// Where a name appears; the same mistake gets advice that fits the place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In `events = [...]`.
    Subscription,
    /// In `#[event(...)]` on a hook.
    Hook,
}

const CUSTOM_EXAMPLE: &str = "conference::maintenance";

/// Why bare `CUSTOM` is refused, worded for `place`.
pub(crate) fn bare_custom(place: Place) -> String {
    match place {
        Place::Subscription => format!(
            "a bare `\"CUSTOM\"` receives almost nothing: FreeSWITCH delivers a module's \
             CUSTOM events only for the subclasses a listener names (bare CUSTOM matches only \
             CUSTOM events without a subclass); name the subclass: \
             `\"CUSTOM {CUSTOM_EXAMPLE}\"`"
        ),
        Place::Hook => format!(
            "a CUSTOM hook must name its subclass: `#[event(custom = \"{CUSTOM_EXAMPLE}\")]`; \
             CUSTOM events are told apart by subclass, and FreeSWITCH only delivers the \
             subclasses a listener subscribes to (to see every CUSTOM event, check \
             `event.subclass()` in `on_event`)"
        ),
    }
}

/// Why `ALL` is refused on a hook.
pub(crate) fn all_on_hook() -> String {
    "`ALL` is a subscription keyword, only valid in `events = [...]`; to run a method for \
     every event, name it `on_event` (it needs no #[event])"
        .to_owned()
}

/// Reads a wire string: `"CHANNEL_HANGUP"`, `"CUSTOM a::b c::d"`, `"ALL"`.
pub(crate) fn from_wire(text: &str, place: Place) -> Result<EventSpec, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((&first, rest)) = words.split_first() else {
        return Err("empty event name; expected e.g. `\"CHANNEL_HANGUP\"`".to_owned());
    };
    if words.join(" ") != text {
        return Err(format!(
            "stray whitespace in an event name; write `\"{}\"`",
            words.join(" ")
        ));
    }
    if first.eq_ignore_ascii_case(CUSTOM) {
        if first != CUSTOM {
            return Err(format!(
                "event names are upper case: write `\"{}\"`",
                std::iter::once(CUSTOM)
                    .chain(rest.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if rest.is_empty() {
            return Err(bare_custom(place));
        }
        if place == Place::Hook && rest.len() > 1 {
            return Err(format!(
                "one CUSTOM subclass per string; write `#[event(custom = \"{}\", custom = \"{}\")]`",
                rest[0], rest[1]
            ));
        }
        return Ok(EventSpec::Custom(
            rest.iter().map(|s| (*s).to_owned()).collect(),
        ));
    }
    if first.eq_ignore_ascii_case(ALL) {
        return match place {
            Place::Hook => Err(all_on_hook()),
            Place::Subscription if first != ALL => {
                Err("event names are upper case: write `\"ALL\"`".to_owned())
            }
            Place::Subscription if !rest.is_empty() => {
                Err("`ALL` takes no further words; give other events their own string".to_owned())
            }
            Place::Subscription => Ok(EventSpec::All),
        };
    }
    if !rest.is_empty() {
        let split: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
        return Err(format!(
            "one event per string (only CUSTOM takes subclass words); write `{}`",
            split.join(", ")
        ));
    }
    if let Some(name) = names::find(first) {
        return Ok(EventSpec::Named(name));
    }
    if let Some(name) = names::find_ignore_case(first) {
        return Err(format!("event names are upper case: write `\"{name}\"`"));
    }
    Err(names::unknown(first, Style::Wire))
}

/// Reads a hook's identifier: `channel_hangup` (any case).
pub(crate) fn from_ident(ident: &str) -> Result<EventSpec, String> {
    let upper = ident.to_ascii_uppercase();
    if upper == CUSTOM {
        return Err(bare_custom(Place::Hook));
    }
    if upper == ALL {
        return Err(all_on_hook());
    }
    match names::find(&upper) {
        Some(name) => Ok(EventSpec::Named(name)),
        None => Err(names::unknown(ident, Style::Snake)),
    }
}

/// Reads the subclass of `custom = "..."`.
pub(crate) fn custom_subclass(text: &str) -> Result<EventSpec, String> {
    if text.is_empty() {
        return Err(format!(
            "empty subclass; name it: `custom = \"{CUSTOM_EXAMPLE}\"`"
        ));
    }
    if text.split_whitespace().count() != 1 || text.trim() != text {
        return Err(
            "a subclass is one word without spaces; give several as `custom = \"a\", custom = \"b\"`"
                .to_owned(),
        );
    }
    if text.eq_ignore_ascii_case(CUSTOM) {
        return Err(format!(
            "`custom = ...` takes the subclass, not the word CUSTOM: `custom = \"{CUSTOM_EXAMPLE}\"`"
        ));
    }
    Ok(EventSpec::Custom(vec![text.to_owned()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        assert_eq!(
            from_wire("CHANNEL_HANGUP", Place::Hook),
            Ok(EventSpec::Named("CHANNEL_HANGUP"))
        );
        assert_eq!(
            from_wire("CUSTOM a::b c::d", Place::Subscription),
            Ok(EventSpec::Custom(vec!["a::b".into(), "c::d".into()]))
        );
        assert_eq!(from_wire("ALL", Place::Subscription), Ok(EventSpec::All));
    }

    #[test]
    fn wire_mistakes() {
        let err = |s, p| from_wire(s, p).unwrap_err();
        assert!(err("CUSTOM", Place::Subscription).contains("a bare `\"CUSTOM\"`"));
        assert!(err("CUSTOM", Place::Hook).contains("custom = "));
        assert!(err("ALL", Place::Hook).contains("on_event"));
        assert_eq!(
            err("channel_hangup", Place::Subscription),
            "event names are upper case: write `\"CHANNEL_HANGUP\"`"
        );
        assert_eq!(
            err("CHANNEL_HANGUP DTMF", Place::Subscription),
            "one event per string (only CUSTOM takes subclass words); write `\"CHANNEL_HANGUP\", \"DTMF\"`"
        );
        assert_eq!(
            err(" DTMF", Place::Subscription),
            "stray whitespace in an event name; write `\"DTMF\"`"
        );
        assert!(err("CUSTOM a b", Place::Hook).contains("one CUSTOM subclass per string"));
        assert!(err("", Place::Hook).starts_with("empty event name"));
        assert!(err("custom a::b", Place::Hook).contains("`\"CUSTOM a::b\"`"));
    }

    #[test]
    fn ident_names() {
        assert_eq!(
            from_ident("channel_hangup"),
            Ok(EventSpec::Named("CHANNEL_HANGUP"))
        );
        assert!(from_ident("custom").unwrap_err().contains("custom = "));
        assert!(from_ident("all").unwrap_err().contains("on_event"));
        assert_eq!(
            from_ident("chanel_hangup").unwrap_err(),
            "unknown FreeSWITCH event `chanel_hangup`; did you mean `channel_hangup`?"
        );
    }

    #[test]
    fn subclasses() {
        assert_eq!(
            custom_subclass("a::b"),
            Ok(EventSpec::Custom(vec!["a::b".into()]))
        );
        assert!(custom_subclass("").is_err());
        assert!(custom_subclass("a b").is_err());
        assert!(custom_subclass("CUSTOM").is_err());
    }
}
