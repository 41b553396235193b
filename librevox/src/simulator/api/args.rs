//! What an API command is given.

/// What an API is given: the argument text and its words.
pub(crate) struct Args<'a> {
    pub(crate) line: &'a str,
    pub(crate) words: Vec<&'a str>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(line: &'a str) -> Args<'a> {
        Args {
            line,
            words: line.split(' ').filter(|w| !w.is_empty()).collect(),
        }
    }

    /// The n-th word, or "".
    pub(crate) fn word(&self, n: usize) -> &'a str {
        self.words.get(n).copied().unwrap_or("")
    }
}
