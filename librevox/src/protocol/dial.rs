//! Dial strings: where `bridge` and `originate` call, typed.
//!
//! A [`Dial`] is one or more failover groups (`|`: tried in turn), each of
//! one or more legs dialled at the same time (`,`: the first to answer
//! wins), with channel variables for every leg (`{a=b}`) and for one leg
//! (`[a=b]`). Each leg's [`Endpoint`] is a SIP gateway, a directory user, a
//! loopback extension, a SIP profile target, or any other dial string.
//!
//! ```
//! use librevox::protocol::{Dial, Endpoint};
//! let d = Dial::to(Endpoint::user("1001", "example.com"))
//!     .leg_var("leg_timeout", "10")
//!     .and(Endpoint::gateway("trunk", "5551234"))
//!     .or(Endpoint::loopback("voicemail", "default"))
//!     .var("origination_caller_id_name", "Front Desk");
//! assert_eq!(
//!     d.to_string(),
//!     "{origination_caller_id_name=Front\\sDesk}[leg_timeout=10]user/1001@example.com,\
//!      sofia/gateway/trunk/5551234|loopback/voicemail/default"
//! );
//! assert_eq!(Dial::parse(&d.to_string()).unwrap(), d);
//! ```
//!
//! How values are written, and what cannot be, is told at [`Dial`].

use std::fmt::{self, Write as _};

use crate::error::{Error, Result};

/// Where one leg of a call goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `sofia/gateway/<gateway>/<number>`: out through a SIP gateway.
    Gateway {
        /// The gateway's name in the sofia profile.
        gateway: String,
        /// The number dialled.
        number: String,
    },
    /// `user/<user>[@<domain>]`: a directory user (its `dial-string`).
    User {
        /// The user id.
        user: String,
        /// The domain; without it FreeSWITCH uses the default domain.
        domain: Option<String>,
    },
    /// `sofia/<profile>/<destination>`: a SIP URI through a profile
    /// (`sofia/internal/1000@10.0.0.5`).
    Sofia {
        /// The sofia profile (`internal`, `external`).
        profile: String,
        /// The SIP destination (`user@host[:port]`).
        destination: String,
    },
    /// `loopback/<extension>[/<context>[/<dialplan>]]`: back into
    /// FreeSWITCH's own dialplan.
    Loopback {
        /// The extension (destination number).
        extension: String,
        /// The context; FreeSWITCH's default when absent.
        context: Option<String>,
        /// The dialplan (`XML`, `inline`); needs a context.
        dialplan: Option<String>,
    },
    /// Any other dial string (`error/user_busy`, `freetdm/1/a/5551234`), as
    /// given.
    Raw(String),
}

impl Endpoint {
    /// `sofia/gateway/<gateway>/<number>`.
    pub fn gateway(gateway: impl Into<String>, number: impl Into<String>) -> Endpoint {
        Endpoint::Gateway {
            gateway: gateway.into(),
            number: number.into(),
        }
    }

    /// `user/<user>@<domain>`.
    pub fn user(user: impl Into<String>, domain: impl Into<String>) -> Endpoint {
        Endpoint::User {
            user: user.into(),
            domain: Some(domain.into()),
        }
    }

    /// `sofia/<profile>/<destination>`.
    pub fn sofia(profile: impl Into<String>, destination: impl Into<String>) -> Endpoint {
        Endpoint::Sofia {
            profile: profile.into(),
            destination: destination.into(),
        }
    }

    /// `loopback/<extension>/<context>`.
    pub fn loopback(extension: impl Into<String>, context: impl Into<String>) -> Endpoint {
        Endpoint::Loopback {
            extension: extension.into(),
            context: Some(context.into()),
            dialplan: None,
        }
    }

    /// Reads one endpoint (no variables): the typed forms where the text is
    /// one, else [`Endpoint::Raw`].
    pub fn parse(text: &str) -> Endpoint {
        let parts: Vec<&str> = text.split('/').collect();
        let typed = match parts.as_slice() {
            ["sofia", "gateway", gw, number @ ..] if !gw.is_empty() && !number.is_empty() => {
                Some(Endpoint::gateway(*gw, number.join("/")))
            }
            ["sofia", profile, dest @ ..]
                if !profile.is_empty() && !dest.is_empty() && *profile != "gateway" =>
            {
                Some(Endpoint::sofia(*profile, dest.join("/")))
            }
            ["user", user] if !user.is_empty() => match user.split_once('@') {
                Some((u, d)) if !u.is_empty() && !d.is_empty() => Some(Endpoint::user(u, d)),
                Some(_) => None,
                None => Some(Endpoint::User {
                    user: (*user).to_owned(),
                    domain: None,
                }),
            },
            ["loopback", ext, rest @ ..] if !ext.is_empty() && rest.len() <= 2 => {
                let context = rest.first().map(|c| (*c).to_owned());
                let dialplan = rest.get(1).map(|d| (*d).to_owned());
                (context.iter().chain(&dialplan).all(|s| !s.is_empty())).then(|| {
                    Endpoint::Loopback {
                        extension: (*ext).to_owned(),
                        context,
                        dialplan,
                    }
                })
            }
            _ => None,
        };
        typed.unwrap_or_else(|| Endpoint::Raw(text.to_owned()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Gateway { gateway, number } => write!(f, "sofia/gateway/{gateway}/{number}"),
            Endpoint::User { user, domain } => match domain {
                Some(d) => write!(f, "user/{user}@{d}"),
                None => write!(f, "user/{user}"),
            },
            Endpoint::Sofia {
                profile,
                destination,
            } => write!(f, "sofia/{profile}/{destination}"),
            Endpoint::Loopback {
                extension,
                context,
                dialplan,
            } => {
                write!(f, "loopback/{extension}")?;
                if let Some(c) = context {
                    write!(f, "/{c}")?;
                    if let Some(d) = dialplan {
                        write!(f, "/{d}")?;
                    }
                }
                Ok(())
            }
            Endpoint::Raw(s) => f.write_str(s),
        }
    }
}

impl From<&str> for Endpoint {
    fn from(text: &str) -> Endpoint {
        Endpoint::parse(text)
    }
}

impl From<String> for Endpoint {
    fn from(text: String) -> Endpoint {
        Endpoint::parse(&text)
    }
}

/// One leg: an endpoint and the variables of that leg alone (`[a=b]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Leg {
    /// Where the leg goes.
    pub endpoint: Endpoint,
    /// `[name=value]` variables of this leg, in order.
    pub vars: Vec<(String, String)>,
}

/// A dial string for `bridge` and `originate`: failover groups of
/// simultaneous legs, with variables for all legs and for single legs. See
/// below for how values are written.
///
/// # How values are written
///
/// [`Display`](fmt::Display) writes the argument of `bridge`;
/// [`Originate`](crate::commands::Originate) writes the same string as one
/// word of its API line (in single quotes, `'` as `\'`, when it holds a
/// quote or a space). Each rule below was checked on a running FreeSWITCH
/// 1.11.3, through `bridge` (sendmsg `execute`) and `api originate`, by
/// reading the variables back from the new channels' `CHANNEL_CREATE`:
///
/// * a value containing `,` makes the whole group use FreeSWITCH's own
///   separator syntax, `{^^;a=x,y;b=z}`, with a separator no name or value
///   contains (single quotes around `x,y` work for `bridge` but not for
///   `originate`, whose line splitting takes them off first);
/// * a space, tab, CR or LF is written `\s`, `\t`, `\r`, `\n`, which
///   FreeSWITCH turns back;
/// * a `'` is written `\\'` (a lone `'` works only while no other quote
///   follows; `\'` loses the quote);
/// * `|` and `=` in a value need nothing;
/// * `{...}` goes only at the very start (after a `|` it makes FreeSWITCH
///   place no call); `[...]` goes before each leg.
///
/// What cannot be written, [`Dial::check`] reports: `}` inside `{...}` or
/// `]` inside `[...]` (quoted or escaped, FreeSWITCH places no call), an
/// empty value (FreeSWITCH reads it as "unset"), and a backslash before
/// `s`, `t`, `r`, `n`, `\`, `'`, `"` or `,` (FreeSWITCH unescapes those a
/// varying number of times; a backslash before anything else is kept).
/// FreeSWITCH expands `${...}` in values; that is left to you.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Dial {
    /// `{name=value}` variables of every leg, in order.
    pub vars: Vec<(String, String)>,
    /// Failover groups (joined with `|`), each of legs dialled together
    /// (joined with `,`).
    pub groups: Vec<Vec<Leg>>,
}

impl Dial {
    /// Dial `endpoint` (an [`Endpoint`], or a dial string read with
    /// [`Endpoint::parse`]).
    pub fn to(endpoint: impl Into<Endpoint>) -> Dial {
        Dial {
            vars: Vec::new(),
            groups: vec![vec![Leg {
                endpoint: endpoint.into(),
                vars: Vec::new(),
            }]],
        }
    }

    /// Also dial `endpoint` at the same time; the first to answer wins.
    pub fn and(mut self, endpoint: impl Into<Endpoint>) -> Dial {
        let leg = Leg {
            endpoint: endpoint.into(),
            vars: Vec::new(),
        };
        match self.groups.last_mut() {
            Some(g) => g.push(leg),
            None => self.groups.push(vec![leg]),
        }
        self
    }

    /// If everything so far fails, dial `endpoint` (a new failover group).
    pub fn or(mut self, endpoint: impl Into<Endpoint>) -> Dial {
        self.groups.push(vec![Leg {
            endpoint: endpoint.into(),
            vars: Vec::new(),
        }]);
        self
    }

    /// A channel variable for every leg (`{name=value}`).
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Dial {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// A channel variable for the leg added last (`[name=value]`).
    pub fn leg_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Dial {
        if let Some(leg) = self.groups.last_mut().and_then(|g| g.last_mut()) {
            leg.vars.push((name.into(), value.into()));
        }
        self
    }

    /// The dial string (the same as `to_string()`).
    pub fn dial_string(&self) -> String {
        self.to_string()
    }

    /// Checks that FreeSWITCH can read every variable back as given (see
    /// [`Dial`]): at least one leg, no empty name
    /// or value, names without `=`, `,`, spaces or brackets, no `}` in a
    /// `{}` value, no `]` in a `[]` value, no backslash sequence FreeSWITCH
    /// would unescape, and no more distinct characters than separators.
    pub fn check(&self) -> Result<()> {
        if self.groups.is_empty() || self.groups.iter().any(Vec::is_empty) {
            return Err(Error::InvalidCommand(
                "a dial string needs an endpoint in every group".into(),
            ));
        }
        check_vars(&self.vars, '}')?;
        for leg in self.groups.iter().flatten() {
            check_vars(&leg.vars, ']')?;
            if leg.endpoint.to_string().is_empty() {
                return Err(Error::InvalidCommand(
                    "a dial-string leg has an empty endpoint".into(),
                ));
            }
        }
        Ok(())
    }

    /// Reads a dial string back: what [`Display`](fmt::Display) writes, and
    /// dial strings written by hand in the same syntax.
    pub fn parse(text: &str) -> Result<Dial> {
        let (vars, mut rest) = match text.strip_prefix('{') {
            Some(after) => {
                let end = after.find('}').ok_or_else(|| unclosed(text, '{'))?;
                (parse_vars(&after[..end]), &after[end + 1..])
            }
            None => (Vec::new(), text),
        };
        let mut groups = vec![Vec::new()];
        loop {
            let mut leg_vars = Vec::new();
            if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| unclosed(text, '['))?;
                leg_vars = parse_vars(&after[..end]);
                rest = &after[end + 1..];
            }
            let end = rest.find([',', '|']).unwrap_or(rest.len());
            if end == 0 {
                return Err(Error::InvalidCommand(format!(
                    "dial string `{text}` has an empty endpoint"
                )));
            }
            if let Some(g) = groups.last_mut() {
                g.push(Leg {
                    endpoint: Endpoint::parse(&rest[..end]),
                    vars: leg_vars,
                });
            }
            match rest[end..].chars().next() {
                None => break,
                Some('|') => groups.push(Vec::new()),
                Some(_) => {}
            }
            rest = &rest[end + 1..];
        }
        Ok(Dial { vars, groups })
    }
}

fn unclosed(text: &str, open: char) -> Error {
    Error::InvalidCommand(format!("dial string `{text}` has an unclosed `{open}`"))
}

fn check_vars(vars: &[(String, String)], close: char) -> Result<()> {
    for (name, value) in vars {
        if name.is_empty()
            || name.contains(['=', ',', ' ', '\'', '\\', '{', '}', '[', ']'])
            || value.is_empty()
        {
            return Err(Error::InvalidCommand(format!(
                "the dial-string variable `{name}={value}` cannot be written: names must be \
                 non-empty words without `=`, `,`, quotes or brackets, values non-empty \
                 (an empty value unsets the variable: leave it out)"
            )));
        }
        if value.contains(close) {
            return Err(Error::InvalidCommand(format!(
                "the dial-string variable `{name}` contains `{close}`, which FreeSWITCH cannot \
                 read inside its brackets; set it with `set`/`export` instead"
            )));
        }
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\'
                && chars
                    .peek()
                    .is_none_or(|n| matches!(n, 's' | 't' | 'r' | 'n' | '\\' | '\'' | '"' | ','))
            {
                return Err(Error::InvalidCommand(format!(
                    "the dial-string variable `{name}` has a backslash FreeSWITCH would take as \
                     an escape (`\\` before s, t, r, n, \\, quote, comma or at the end); \
                     set it with `set`/`export` instead"
                )));
            }
        }
        if value.contains(',') && separator(vars).is_none() {
            return Err(Error::InvalidCommand(format!(
                "the dial-string variables around `{name}` use every separator FreeSWITCH's \
                 `^^` syntax could take instead of `,`"
            )));
        }
    }
    Ok(())
}

/// Separators FreeSWITCH's `^^<c>` syntax may use instead of `,`.
const SEPARATORS: [char; 7] = [';', '~', '!', '#', '@', '+', '%'];

/// The separator of a variable group: `,` unless a value contains one,
/// else the first of [`SEPARATORS`] no name or value contains.
fn separator(vars: &[(String, String)]) -> Option<char> {
    if !vars.iter().any(|(_, v)| v.contains(',')) {
        return Some(',');
    }
    SEPARATORS
        .into_iter()
        .find(|c| !vars.iter().any(|(n, v)| n.contains(*c) || v.contains(*c)))
}

/// Writes `name=value` pairs between `open` and `close`.
fn write_vars(
    f: &mut fmt::Formatter<'_>,
    vars: &[(String, String)],
    open: char,
    close: char,
) -> fmt::Result {
    if vars.is_empty() {
        return Ok(());
    }
    // `check` reports a group with no free separator; written anyway, it
    // uses a control character no one types.
    let sep = separator(vars).unwrap_or('\u{1f}');
    f.write_char(open)?;
    if sep != ',' {
        write!(f, "^^{sep}")?;
    }
    for (i, (name, value)) in vars.iter().enumerate() {
        if i > 0 {
            f.write_char(sep)?;
        }
        write!(f, "{name}=")?;
        for c in value.chars() {
            match c {
                ' ' => f.write_str("\\s")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                '\n' => f.write_str("\\n")?,
                '\'' => f.write_str("\\\\'")?,
                c => f.write_char(c)?,
            }
        }
    }
    f.write_char(close)
}

/// Reads `name=value` pairs (the inside of `{...}` or `[...]`), undoing
/// what [`write_vars`] does.
fn parse_vars(inner: &str) -> Vec<(String, String)> {
    let (sep, body) = match inner.strip_prefix("^^") {
        Some(rest) => match rest.chars().next() {
            Some(c) => (c, &rest[c.len_utf8()..]),
            None => (',', ""),
        },
        None => (',', inner),
    };
    body.split(sep)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), unescape(value))
        })
        .collect()
}

/// `\\'` to `'`, `\s` `\t` `\r` `\n` to their characters; any other
/// backslash is kept.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (text, len) = if tail.starts_with("\\\\'") {
            ("'", 3)
        } else {
            match tail.as_bytes().get(1) {
                Some(b's') => (" ", 2),
                Some(b't') => ("\t", 2),
                Some(b'r') => ("\r", 2),
                Some(b'n') => ("\n", 2),
                _ => ("\\", 1),
            }
        };
        out.push_str(text);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_vars(f, &self.vars, '{', '}')?;
        for (g, group) in self.groups.iter().enumerate() {
            if g > 0 {
                f.write_str("|")?;
            }
            for (l, leg) in group.iter().enumerate() {
                if l > 0 {
                    f.write_str(",")?;
                }
                write_vars(f, &leg.vars, '[', ']')?;
                write!(f, "{}", leg.endpoint)?;
            }
        }
        Ok(())
    }
}

impl From<Endpoint> for Dial {
    fn from(endpoint: Endpoint) -> Dial {
        Dial::to(endpoint)
    }
}

impl From<&str> for Dial {
    /// A dial string given as text is sent exactly as written (one
    /// [`Endpoint::Raw`]); use [`Dial::parse`] to read it into parts.
    fn from(text: &str) -> Dial {
        Dial::to(Endpoint::Raw(text.to_owned()))
    }
}

impl From<String> for Dial {
    fn from(text: String) -> Dial {
        Dial::from(text.as_str())
    }
}

impl From<&String> for Dial {
    fn from(text: &String) -> Dial {
        Dial::from(text.as_str())
    }
}
