//! Channel variables: `set`, `export`, `multiset`, `unset`, `push`, their
//! arguments read with the catalogue's parsers.

use crate::apps::{parse_multiset, parse_set, ExportTo};
use crate::simulator::channel::runner::Runner;

/// `set <name>=<value>`.
pub(super) fn set(r: &mut Runner, data: &str) -> Option<String> {
    if let Some((n, v)) = parse_set(data) {
        r.ch.set_var(n, v);
    }
    None
}

/// `export [nolocal:]<name>=<value>`: sets the variable here (the legs
/// it would be copied to are not modelled) and lists it in `export_vars`.
/// FreeSWITCH 1.11.3 sets a `nolocal:` variable under its prefixed name on
/// this leg too (`nolocal:foo`, and `export_vars` lists `nolocal:foo`;
/// verified on the real switch): the prefix is read when variables are
/// copied to a bridged leg.
pub(super) fn export(r: &mut Runner, data: &str) -> Option<String> {
    let (name, value, to) = ExportTo::parse(data)?;
    let name = match to {
        ExportTo::Both => name.trim().to_owned(),
        ExportTo::BLegOnly => format!("nolocal:{}", name.trim()),
    };
    let name = name.as_str();
    r.ch.set_var(name, &value);
    let list = r.ch.var("export_vars").unwrap_or_default();
    let list = if list.is_empty() {
        name.to_owned()
    } else {
        format!("{list},{name}")
    };
    r.ch.set_var("export_vars", &list);
    None
}

/// `multiset [^^<sep>]<name>=<value><sep>...`.
pub(super) fn multiset(r: &mut Runner, data: &str) -> Option<String> {
    for (n, v) in parse_multiset(data) {
        r.ch.set_var(&n, &v);
    }
    None
}

/// `unset <name>`.
pub(super) fn unset(r: &mut Runner, data: &str) -> Option<String> {
    r.ch.set_var(data.trim(), "");
    None
}

/// `push <name>=<value>`: appends to the variable (an array).
pub(super) fn push(r: &mut Runner, data: &str) -> Option<String> {
    if let Some((n, v)) = data.split_once('=') {
        r.ch.with(|d| d.push_var(n, v));
    }
    None
}
