//! Proptest strategies for dial strings (shared by `dial.rs` and
//! `simulator_app_args.rs`): every endpoint kind, leg and `{}` variables,
//! values with every character FreeSWITCH reads back escaped.
#![allow(dead_code)]

use librevox::protocol::{Dial, Endpoint};
use proptest::prelude::*;

pub fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

pub fn value() -> impl Strategy<Value = String> {
    // Everything FreeSWITCH can read back, including the escaped characters
    // and every `^^` separator.
    proptest::collection::vec(
        prop_oneof![
            "[A-Za-z0-9.:/@+-]",
            Just(" ".to_owned()),
            Just(",".to_owned()),
            Just("'".to_owned()),
            Just("\t".to_owned()),
            Just("\n".to_owned()),
            Just("|".to_owned()),
            Just("=".to_owned()),
            Just(";".to_owned()),
            Just("~".to_owned()),
            Just("\\x".to_owned()),
        ],
        1..8,
    )
    .prop_map(|parts| parts.concat())
}

pub fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        (word(), "[0-9]{1,6}").prop_map(|(g, n)| Endpoint::gateway(g, n)),
        (word(), word()).prop_map(|(u, d)| Endpoint::user(u, format!("{d}.com"))),
        (word(), word()).prop_map(|(e, c)| Endpoint::loopback(e, c)),
        (word(), word()).prop_map(|(p, d)| Endpoint::sofia(p, format!("{d}@10.0.0.1"))),
        word().prop_map(|w| Endpoint::Raw(format!("error/{w}"))),
    ]
}

pub fn dial() -> impl Strategy<Value = Dial> {
    let vars = || proptest::collection::vec((word(), value()), 0..3);
    let leg = (endpoint(), vars());
    (
        vars(),
        proptest::collection::vec(proptest::collection::vec(leg, 1..3), 1..3),
    )
        .prop_map(|(vars, groups)| {
            let mut d: Option<Dial> = None;
            for group in groups {
                for (i, (ep, leg_vars)) in group.into_iter().enumerate() {
                    d = Some(match (d, i) {
                        (None, _) => Dial::to(ep),
                        (Some(d), 0) => d.or(ep),
                        (Some(d), _) => d.and(ep),
                    });
                    for (n, v) in leg_vars {
                        d = d.map(|d| d.leg_var(n.clone(), v));
                    }
                }
            }
            let mut d = d.unwrap_or_default();
            for (n, v) in vars {
                d = d.var(n, v);
            }
            d
        })
}
