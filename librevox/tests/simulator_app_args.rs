//! Every catalogue application's argument string, as its helper sends it,
//! reads back through the parser the simulator uses into the options that
//! built it. The helpers run on a recording `AppTarget`, so what is parsed
//! is exactly what goes on the wire.

use std::sync::Mutex;

use librevox::apps::{
    multiset_arg, parse_multiset, parse_set, Digits, ExportTo, MetaApp, MetaListen, MetaRespond,
    RecordOptions,
};
use librevox::prelude::*;
use librevox::protocol::Dial;
use proptest::prelude::*;

#[path = "support/dial_strategy.rs"]
mod dial_strategy;

/// Records every application run on it and completes it at once.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl AppTarget for Recorder {
    fn run_app(
        &self,
        app: &str,
        arg: String,
    ) -> impl std::future::Future<Output = librevox::Result<Event>> + Send {
        self.0.lock().unwrap().push((app.to_owned(), arg));
        async { Ok(Event::new("CHANNEL_EXECUTE_COMPLETE")) }
    }
}

impl Recorder {
    fn last(&self) -> (String, String) {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("an application ran")
    }
}

/// Runs a helper on a fresh recorder and returns (application, argument).
fn sent<F>(f: F) -> (String, String)
where
    F: AsyncFnOnce(&Recorder),
{
    let r = Recorder::default();
    futures_lite(f(&r));
    r.last()
}

/// Polls a future that never waits (the recorder completes at once).
fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// A field FreeSWITCH can carry: no space, not empty.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_./#*-]{1,12}"
}

fn digits_strategy() -> impl Strategy<Value = Digits> {
    (
        (0u32..20, 0u32..20, 0u32..6, 0u32..100_000),
        ("[0-9#*]{1,3}", word(), "[0-9\\\\d^$+]{1,8}"),
        prop::option::of(0u32..100_000),
        prop::option::of("[a-z0-9]{1,8}( XML [a-z]{1,8})?"),
    )
        .prop_map(
            |((min, max, tries, timeout), (terms, var, re), dt, transfer)| Digits {
                min,
                max,
                tries,
                timeout_ms: timeout,
                terminators: terms,
                variable: var,
                regexp: re,
                digit_timeout_ms: dt,
                transfer_on_failure: transfer,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn read(file in word(), d in digits_strategy()) {
        let (app, arg) = sent(async |t| { let _ = t.read(&file, &d).await; });
        prop_assert_eq!(app, "read");
        let (f, back) = Digits::parse_read(&arg).unwrap();
        prop_assert_eq!(f, file);
        // `read` carries these; the others keep their defaults.
        let want = Digits {
            tries: Digits::default().tries,
            regexp: Digits::default().regexp,
            transfer_on_failure: None,
            ..d
        };
        prop_assert_eq!(back, want);
    }

    #[test]
    fn play_and_get_digits(file in word(), invalid in word(), d in digits_strategy()) {
        let (app, arg) = sent(async |t| { let _ = t.play_and_get_digits(&file, &invalid, &d).await; });
        prop_assert_eq!(app, "play_and_get_digits");
        let (f, i, back) = Digits::parse_play_and_get_digits(&arg).unwrap();
        prop_assert_eq!((f, i), (file, invalid));
        // A transfer target needs a digit timeout before it: the timeout.
        let dt = d.digit_timeout_ms.or(d.transfer_on_failure.as_ref().map(|_| d.timeout_ms));
        prop_assert_eq!(back, Digits { digit_timeout_ms: dt, ..d });
    }

    #[test]
    fn bind_meta_app(
        key in "[0-9]",
        listen in prop_oneof![Just(MetaListen::A), Just(MetaListen::B), Just(MetaListen::Both)],
        respond in prop_oneof![Just(MetaRespond::Same), Just(MetaRespond::Opposite), Just(MetaRespond::Both)],
        application in "[a-z_]{1,16}",
        parameters in prop::option::of("[a-zA-Z0-9 ]{0,20}"),
    ) {
        let meta = MetaApp { key, listen_to: listen, respond_on: respond, application, parameters };
        let (app, arg) = sent(async |t| { let _ = t.bind_meta_app(&meta).await; });
        prop_assert_eq!(app, "bind_meta_app");
        prop_assert_eq!(MetaApp::parse(&arg), Some(meta));
    }

    #[test]
    fn record(
        path in word(),
        limit in prop::option::of(0u32..3600),
        threshold in prop::option::of(0u32..10_000),
        hits in prop::option::of(0u32..60),
    ) {
        let o = RecordOptions { limit_secs: limit, silence_threshold: threshold, silence_hits: hits };
        let (app, arg) = sent(async |t| { let _ = t.record(&path, &o).await; });
        prop_assert_eq!(app, "record");
        // Each option is written only after the one before it.
        let threshold = threshold.filter(|_| limit.is_some());
        let hits = hits.filter(|_| threshold.is_some());
        let want = RecordOptions { limit_secs: limit, silence_threshold: threshold, silence_hits: hits };
        prop_assert_eq!(RecordOptions::parse(&arg), Some((path, want)));
    }

    #[test]
    fn export_and_set(
        name in "[A-Za-z_][A-Za-z0-9_-]{0,16}",
        value in "[ -~]{0,30}",
        b_leg in any::<bool>(),
    ) {
        let to = if b_leg { ExportTo::BLegOnly } else { ExportTo::Both };
        let (app, arg) = sent(async |t| { let _ = t.export(&name, &value, to).await; });
        prop_assert_eq!(app, "export");
        prop_assert_eq!(ExportTo::parse(&arg), Some((name.clone(), value.clone(), to)));
        let (app, arg) = sent(async |t| { let _ = t.set(&name, &value).await; });
        prop_assert_eq!(app, "set");
        prop_assert_eq!(parse_set(&arg), Some((name.as_str(), value.as_str())));
    }

    #[test]
    fn bridge(d in dial_strategy::dial()) {
        let (app, arg) = sent(async |t| { let _ = t.bridge(d.clone()).await; });
        prop_assert_eq!(app, "bridge");
        prop_assert_eq!(Dial::parse(&arg).unwrap(), d);
    }

    #[test]
    fn multiset(vars in prop::collection::vec(("[A-Za-z_][A-Za-z0-9_]{0,10}", "[ -~]{0,12}"), 0..6)) {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (app, arg) = sent(async |t| { let _ = t.multiset(&pairs).await; });
        prop_assert_eq!(app, "multiset");
        prop_assert_eq!(&arg, &multiset_arg(&pairs));
        prop_assert_eq!(parse_multiset(&arg), vars);
    }
}

/// The applications whose argument is one string, sent as given: the
/// simulator reads it whole.
#[test]
fn single_string_applications_send_their_argument_as_is() {
    let s = "sofia/gateway/trunk/5551234";
    let cases: Vec<(&str, (String, String))> = vec![
        (
            "att_xfer",
            sent(async |t| {
                let _ = t.att_xfer(s).await;
            }),
        ),
        (
            "deflect",
            sent(async |t| {
                let _ = t.deflect(s).await;
            }),
        ),
        (
            "gentones",
            sent(async |t| {
                let _ = t.gentones(s).await;
            }),
        ),
        (
            "hangup",
            sent(async |t| {
                let _ = t.hangup(s).await;
            }),
        ),
        (
            "playback",
            sent(async |t| {
                let _ = t.playback(s).await;
            }),
        ),
        (
            "redirect",
            sent(async |t| {
                let _ = t.redirect(s).await;
            }),
        ),
        (
            "respond",
            sent(async |t| {
                let _ = t.respond(s).await;
            }),
        ),
        (
            "transfer",
            sent(async |t| {
                let _ = t.transfer(s).await;
            }),
        ),
        (
            "unbind_meta_app",
            sent(async |t| {
                let _ = t.unbind_meta_app(s).await;
            }),
        ),
        (
            "unset",
            sent(async |t| {
                let _ = t.unset(s).await;
            }),
        ),
        (
            "conference",
            sent(async |t| {
                let _ = t.conference(s).await;
            }),
        ),
        (
            "send_dtmf",
            sent(async |t| {
                let _ = t.send_dtmf(s).await;
            }),
        ),
        (
            "record_session",
            sent(async |t| {
                let _ = t.record_session(s).await;
            }),
        ),
        (
            "stop_record_session",
            sent(async |t| {
                let _ = t.stop_record_session(s).await;
            }),
        ),
        (
            "eavesdrop",
            sent(async |t| {
                let _ = t.eavesdrop(s).await;
            }),
        ),
        (
            "intercept",
            sent(async |t| {
                let _ = t.intercept(s).await;
            }),
        ),
    ];
    for (name, (app, arg)) in cases {
        assert_eq!((app.as_str(), arg.as_str()), (name, s));
    }
    assert_eq!(
        sent(async |t| {
            let _ = t.sleep(1500).await;
        })
        .1,
        "1500"
    );
    assert_eq!(
        sent(async |t| {
            let _ = t.log("INFO", "in the IVR").await;
        })
        .1,
        "INFO in the IVR"
    );
}
