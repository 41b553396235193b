//! Dial strings: exact bytes for what a running FreeSWITCH 1.11.3 read back
//! as the intended variables (see `protocol::dial`'s module docs), and
//! build -> string -> parse round trips.

use librevox::commands::Originate;
use librevox::protocol::{Dial, Endpoint};
use proptest::prelude::*;

#[path = "support/dial_strategy.rs"]
mod dial_strategy;
use dial_strategy::dial;

fn park() -> Endpoint {
    Endpoint::loopback("park_test", "default")
}

#[test]
fn endpoints_are_written_as_freeswitch_documents_them() {
    assert_eq!(
        Endpoint::gateway("trunk", "5551234").to_string(),
        "sofia/gateway/trunk/5551234"
    );
    assert_eq!(
        Endpoint::user("1001", "example.com").to_string(),
        "user/1001@example.com"
    );
    assert_eq!(
        Endpoint::sofia("internal", "1000@10.0.0.5:5060").to_string(),
        "sofia/internal/1000@10.0.0.5:5060"
    );
    assert_eq!(
        Endpoint::loopback("echo", "default").to_string(),
        "loopback/echo/default"
    );
    assert_eq!(
        Endpoint::parse("error/user_busy"),
        Endpoint::Raw("error/user_busy".into())
    );
    assert_eq!(
        Endpoint::parse("sofia/gateway/trunk/555"),
        Endpoint::gateway("trunk", "555")
    );
    assert_eq!(
        Endpoint::parse("user/1001"),
        Endpoint::User {
            user: "1001".into(),
            domain: None
        }
    );
}

#[test]
fn simultaneous_failover_and_leg_variables() {
    let d = Dial::to(Endpoint::user("1001", "example.com"))
        .leg_var("leg_timeout", "10")
        .and(Endpoint::user("1002", "example.com"))
        .or(Endpoint::gateway("trunk", "5551001"))
        .var("call_timeout", "20");
    assert_eq!(
        d.to_string(),
        "{call_timeout=20}[leg_timeout=10]user/1001@example.com,user/1002@example.com|sofia/gateway/trunk/5551001"
    );
    d.check().unwrap();
    assert_eq!(Dial::parse(&d.to_string()).unwrap(), d);
}

// Each string below was sent as a `bridge` argument and (through
// `Originate`) as `api originate`; FreeSWITCH set exactly the values given.
#[test]
fn commas_use_the_caret_separator() {
    let d = Dial::to(park()).var("t_a", "x,y").var("t_b", "z");
    assert_eq!(
        d.to_string(),
        "{^^;t_a=x,y;t_b=z}loopback/park_test/default"
    );
    let d = Dial::to(park()).leg_var("t_c", "p,q;r");
    assert_eq!(d.to_string(), "[^^~t_c=p,q;r]loopback/park_test/default");
}

#[test]
fn spaces_tabs_and_quotes_are_escaped() {
    let d = Dial::to(park())
        .var("t_a", "it's")
        .var("t_b", "rock'n")
        .leg_var("t_c", "a'b c\td");
    assert_eq!(
        d.to_string(),
        "{t_a=it\\\\'s,t_b=rock\\\\'n}[t_c=a\\\\'b\\sc\\td]loopback/park_test/default"
    );
    assert_eq!(
        Originate::new(d.clone()).to_string(),
        "originate '{t_a=it\\\\\\'s,t_b=rock\\\\\\'n}[t_c=a\\\\\\'b\\sc\\td]loopback/park_test/default' &park()"
    );
    assert_eq!(Dial::parse(&d.to_string()).unwrap(), d);
}

#[test]
fn pipes_equals_and_plain_backslashes_pass_as_they_are() {
    let d = Dial::to(park())
        .var("t_a", "a|b")
        .var("t_b", "x=y")
        .var("t_c", "C:\\dir");
    assert_eq!(
        d.to_string(),
        "{t_a=a|b,t_b=x=y,t_c=C:\\dir}loopback/park_test/default"
    );
    d.check().unwrap();
    assert_eq!(Dial::parse(&d.to_string()).unwrap(), d);
}

#[test]
fn what_freeswitch_cannot_read_is_reported() {
    for bad in [
        Dial::to(park()).var("t_a", "x}y"),
        Dial::to(park()).var("t_a", ""),
        Dial::to(park()).var("t_a", "C:\\new"),
        Dial::to(park()).var("t_a", "end\\"),
        Dial::to(park()).var("t a", "1"),
        Dial::to(park()).leg_var("t_a", "x]y"),
        Dial::default(),
    ] {
        assert!(bad.check().is_err(), "{bad}");
    }
    // `}` is fine inside a leg's `[...]`, `]` inside `{...}`.
    Dial::to(park())
        .var("t_a", "x]y")
        .leg_var("t_b", "p}q")
        .check()
        .unwrap();
}

#[test]
fn text_dial_strings_are_sent_as_written() {
    let text = "{a='x,y'}sofia/gateway/gw/1|error/user_busy";
    assert_eq!(Dial::from(text).to_string(), text);
    let parsed = Dial::parse("<ignored>user/1").map(|d| d.to_string());
    assert!(parsed.is_ok());
}

#[test]
fn originate_reads_back_what_it_writes() {
    let o = Originate::new(
        Dial::to(Endpoint::user("1001", "example.com")).or(Endpoint::gateway("trunk", "1001")),
    )
    .var("origination_caller_id_name", "Front Desk")
    .app("playback", "/tmp/welcome.wav");
    assert_eq!(
        o.to_string(),
        "originate {origination_caller_id_name=Front\\sDesk}user/1001@example.com|sofia/gateway/trunk/1001 &playback(/tmp/welcome.wav)"
    );
    assert_eq!(Originate::parse(&o.to_string()).unwrap(), o);
}

// As FreeSWITCH 1.11.3 read them (testdata/live/originate_lenient).
#[test]
fn originate_reads_destinations_and_timeouts_as_freeswitch_does() {
    let read =
        |tail: &str| Originate::parse(&format!("originate loopback/echo_test {tail}")).unwrap();
    for (tail, app, args) in [
        ("&park(", "park", ""),
        ("&park", "park", ""),
        ("&echo(x", "echo", "x"),
        ("&echo(a)b)", "echo", "a"),
        ("&park()", "park", ""),
    ] {
        assert_eq!(
            read(tail),
            Originate::new(Dial::parse("loopback/echo_test").unwrap()).app(app, args),
            "{tail}"
        );
    }
    assert_eq!(
        read("&").destination(),
        &librevox::commands::Destination::Extension {
            extension: "&".into(),
            dialplan: None,
            context: None,
        }
    );
    for (timeout, secs) in [
        ("abc", None),
        ("2x", Some(2)),
        ("+7", Some(7)),
        ("0", Some(0)),
        ("-5", None),
    ] {
        let o = read(&format!("&park() XML default undef undef {timeout}"));
        assert_eq!(o.timeout_secs(), secs, "{timeout}");
    }
}

proptest! {
    #[test]
    fn build_write_parse_gives_the_value_back(d in dial()) {
        prop_assert!(d.check().is_ok(), "{}", d);
        prop_assert_eq!(Dial::parse(&d.to_string()).unwrap(), d.clone());
        let o = Originate::new(d).extension("1000");
        prop_assert_eq!(Originate::parse(&o.to_string()).unwrap(), o);
    }
}
