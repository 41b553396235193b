//! The regular expressions FreeSWITCH evaluates with PCRE: event filters
//! (`filter X /re/flags`) and `play_and_get_digits`' input check. The
//! `regex` crate covers the syntax these use (classes, groups, alternation,
//! repetition); search is unanchored, as PCRE's.

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex(regex::Regex);

impl Regex {
    /// Compiles `pattern`; `None` when it is not understood.
    pub(crate) fn new(pattern: &str, caseless: bool, dotall: bool) -> Option<Regex> {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(caseless)
            .dot_matches_new_line(dotall)
            .build()
            .ok()
            .map(Regex)
    }

    /// Parses FreeSWITCH's `/regex/flags` filter form.
    pub(crate) fn from_slashed(s: &str) -> Option<Regex> {
        let body = s.strip_prefix('/')?;
        let end = body.rfind('/')?;
        let flags = &body[end + 1..];
        Regex::new(&body[..end], flags.contains('i'), flags.contains('s'))
    }

    /// True when the pattern matches somewhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn freeswitch_style_patterns() {
        let grey = Regex::from_slashed("/^gr(e|a)y$/").unwrap();
        assert!(grey.is_match("grey") && grey.is_match("gray") && !grey.is_match("greey"));
        let caseless = Regex::from_slashed("/^RED$/i").unwrap();
        assert!(caseless.is_match("red"));
        let digits = Regex::new("^9\\d+$", false, false).unwrap();
        assert!(digits.is_match("942") && !digits.is_match("42"));
        assert!(
            Regex::new("\\d+", false, false).unwrap().is_match("x42"),
            "unanchored"
        );
        assert!(Regex::new("(", false, false).is_none());
    }
}
