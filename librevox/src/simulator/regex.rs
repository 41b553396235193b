//! A small backtracking regular-expression matcher for the PCRE subset that
//! event filters (`filter X /re/`) and `play_and_get_digits` use: literals,
//! `.`, `^`, `$`, classes (`[a-z]`, `[^0-9]`, `\d \w \s` and their negations),
//! groups with alternation (`(a|b)`, `(?:...)`), and the quantifiers
//! `* + ? {n} {n,} {n,m}` (lazy forms accepted). Search is unanchored.

#[derive(Debug, Clone)]
enum Item {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Start,
    End,
    Class(Vec<Item>, bool),
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, u32, Option<u32>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    alts: Vec<Vec<Node>>,
    caseless: bool,
    dotall: bool,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Option<Vec<Vec<Node>>> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Some(alts)
    }

    fn sequence(&mut self) -> Option<Vec<Node>> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantified(atom)?;
            seq.push(atom);
        }
        Some(seq)
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let save = self.pos;
                self.pos += 1;
                let Some(min) = self.number() else {
                    self.pos = save;
                    return Some(atom);
                };
                let max = if self.peek() == Some(',') {
                    self.pos += 1;
                    self.number()
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    self.pos = save;
                    return Some(atom);
                }
                (min, max)
            }
            _ => return Some(atom),
        };
        self.pos += 1;
        if self.peek() == Some('?') || self.peek() == Some('+') {
            self.pos += 1;
        }
        Some(Node::Repeat(Box::new(atom), min, max))
    }

    fn escape_item(c: char) -> Option<Item> {
        Some(match c {
            'd' => Item::Digit(true),
            'D' => Item::Digit(false),
            'w' => Item::Word(true),
            'W' => Item::Word(false),
            's' => Item::Space(true),
            'S' => Item::Space(false),
            _ => return None,
        })
    }

    fn escaped_char(c: char) -> char {
        match c {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            other => other,
        }
    }

    fn atom(&mut self) -> Option<Node> {
        let c = self.peek()?;
        self.pos += 1;
        Some(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                if self.peek() == Some('?') && self.chars.get(self.pos + 1) == Some(&':') {
                    self.pos += 2;
                }
                let alts = self.alternation()?;
                if self.peek() != Some(')') {
                    return None;
                }
                self.pos += 1;
                Node::Group(alts)
            }
            '[' => {
                let mut negate = false;
                if self.peek() == Some('^') {
                    negate = true;
                    self.pos += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let c = self.peek()?;
                    self.pos += 1;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        let e = self.peek()?;
                        self.pos += 1;
                        if let Some(item) = Self::escape_item(e) {
                            items.push(item);
                            continue;
                        }
                        Self::escaped_char(e)
                    } else {
                        c
                    };
                    if self.peek() == Some('-')
                        && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']')
                    {
                        self.pos += 1;
                        let mut hi = self.peek()?;
                        self.pos += 1;
                        if hi == '\\' {
                            hi = Self::escaped_char(self.peek()?);
                            self.pos += 1;
                        }
                        items.push(Item::Range(lo, hi));
                    } else {
                        items.push(Item::Range(lo, lo));
                    }
                }
                Node::Class(items, negate)
            }
            '\\' => {
                let e = self.peek()?;
                self.pos += 1;
                match Self::escape_item(e) {
                    Some(item) => Node::Class(vec![item], false),
                    None => Node::Char(Self::escaped_char(e)),
                }
            }
            '*' | '+' | '?' => return None,
            c => Node::Char(c),
        })
    }
}

impl Regex {
    /// Compiles `pattern`; `None` when it is not understood.
    pub(crate) fn new(pattern: &str, caseless: bool, dotall: bool) -> Option<Regex> {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            _src: pattern,
        };
        let alts = p.alternation()?;
        if p.pos != p.chars.len() {
            return None;
        }
        Some(Regex {
            alts,
            caseless,
            dotall,
        })
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
        let chars: Vec<char> = text.chars().collect();
        let m = Matcher {
            re: self,
            text: &chars,
        };
        (0..=chars.len()).any(|start| self.alts.iter().any(|alt| m.seq(alt, start, &mut |_| true)))
    }
}

struct Matcher<'a> {
    re: &'a Regex,
    text: &'a [char],
}

impl Matcher<'_> {
    fn eq(&self, a: char, b: char) -> bool {
        if self.re.caseless {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    }

    fn item(&self, item: &Item, c: char) -> bool {
        match *item {
            Item::Range(lo, hi) => {
                (lo..=hi).contains(&c)
                    || (self.re.caseless
                        && ((lo..=hi).contains(&c.to_ascii_lowercase())
                            || (lo..=hi).contains(&c.to_ascii_uppercase())))
            }
            Item::Digit(yes) => c.is_ascii_digit() == yes,
            Item::Word(yes) => (c.is_alphanumeric() || c == '_') == yes,
            Item::Space(yes) => c.is_whitespace() == yes,
        }
    }

    fn seq(&self, seq: &[Node], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match seq.split_first() {
            None => k(pos),
            Some((first, rest)) => self.node(first, pos, &mut |p| self.seq(rest, p, k)),
        }
    }

    fn node(&self, node: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let len = self.text.len();
        match node {
            Node::Char(c) => pos < len && self.eq(self.text[pos], *c) && k(pos + 1),
            Node::Any => pos < len && (self.re.dotall || self.text[pos] != '\n') && k(pos + 1),
            Node::Start => pos == 0 && k(pos),
            Node::End => (pos == len || (pos + 1 == len && self.text[pos] == '\n')) && k(pos),
            Node::Class(items, negate) => {
                pos < len
                    && (items.iter().any(|i| self.item(i, self.text[pos])) != *negate)
                    && k(pos + 1)
            }
            Node::Group(alts) => alts.iter().any(|alt| self.seq(alt, pos, k)),
            Node::Repeat(inner, min, max) => self.repeat(inner, *min, *max, pos, 0, k),
        }
    }

    fn repeat(
        &self,
        inner: &Node,
        min: u32,
        max: Option<u32>,
        pos: usize,
        count: u32,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if max.is_none_or(|m| count < m)
            && self.node(inner, pos, &mut |p| {
                p != pos && self.repeat(inner, min, max, p, count + 1, k)
            })
        {
            return true;
        }
        count >= min && k(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(re: &str, s: &str) -> bool {
        Regex::new(re, false, false).unwrap().is_match(s)
    }

    #[test]
    fn subset() {
        assert!(m(r"\d+", "42"));
        assert!(!m(r"^9\d+$", "42"));
        assert!(m(r"^9\d+$", "912"));
        assert!(m("^gr(e|a)y$", "grey"));
        assert!(m("^gr(e|a)y$", "gray"));
        assert!(!m("^gr(e|a)y$", "groy"));
        assert!(m("[a-c]{2,3}x", "zzabx"));
        assert!(!m("^[^0-9]+$", "ab1"));
        assert!(Regex::from_slashed("/^RED$/i").unwrap().is_match("red"));
    }
}
