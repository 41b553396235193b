//! The application catalogue: the exact `sendmsg` of every helper, and the
//! input applications against the simulator.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librevox::apps::{Dial, Digits, ExportTo, MetaApp, MetaListen, MetaRespond, RecordOptions};
use librevox::listener::{run_outbound_session, OutboundListener, OutboundSettings, Session};
use librevox::prelude::*;
use support::peer::{event, reply, Peer};

type Script =
    Box<dyn FnOnce(Session) -> Pin<Box<dyn Future<Output = librevox::Result<()>> + Send>> + Send>;

/// Runs a script; with `signal_done`, ends with a marker `set` that tells
/// the scripted peer the script is over.
struct Scripted(Mutex<Option<Script>>, bool);

impl OutboundListener for Scripted {
    async fn session_initiated(&self, call: &Session) -> librevox::Result<()> {
        let script = self.0.lock().unwrap().take().expect("one call");
        script(call.clone()).await?;
        if self.1 {
            call.application("set", DONE).await?;
        }
        Ok(())
    }
}

const UUID: &str = "abb8cff4-588a-4fed-b53c-81fd8b81441b";
const DONE: &str = "librevox_test_script_done=1";

/// Runs `script` in an outbound session against a scripted FreeSWITCH that
/// acknowledges each sendmsg and completes it at once (with `extra`
/// headers); returns every sendmsg as sent, its Event-UUID masked.
async fn sendmsgs<F, Fut>(extra: &'static [(&'static str, &'static str)], script: F) -> Vec<String>
where
    F: FnOnce(Session) -> Fut + Send + 'static,
    Fut: Future<Output = librevox::Result<()>> + Send + 'static,
{
    let (client, server) = tokio::io::duplex(1 << 16);
    let script: Script = Box::new(move |s| Box::pin(script(s)));
    let handler = Scripted(Mutex::new(Some(script)), true);
    let session = tokio::spawn(async move {
        run_outbound_session(client, handler, &OutboundSettings::default()).await
    });
    let mut peer = Peer::new(server);
    peer.outbound_handshake().await;
    let mut sent = Vec::new();
    loop {
        let p = tokio::time::timeout(Duration::from_secs(10), peer.packet())
            .await
            .unwrap();
        if p.command == "exit" {
            break;
        }
        assert_eq!(p.command, "sendmsg");
        let id = p.header("Event-UUID").unwrap().to_owned();
        let text = String::from_utf8(p.raw.to_vec())
            .unwrap()
            .replace(&id, "<uuid>");
        let app = p.header("execute-app-name").unwrap().to_owned();
        sent.push(text);
        peer.send(reply("+OK")).await;
        let mut headers = vec![
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", UUID),
            ("Application", app.as_str()),
        ];
        headers.extend_from_slice(extra);
        headers.push(("Application-UUID", id.as_str()));
        peer.send(event(&headers, None)).await;
        if sent.last().is_some_and(|m| m.contains(DONE)) {
            sent.pop();
            break;
        }
    }
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Unique-ID", UUID),
        ],
        None,
    ))
    .await;
    peer.send(
        "Content-Type: text/disconnect-notice\nContent-Disposition: linger\nContent-Length: 0\n\n",
    )
    .await;
    drop(peer);
    session.await.unwrap().unwrap();
    sent
}

fn msg(app: &str, arg: &str) -> String {
    let arg_line = if arg.is_empty() {
        String::new()
    } else {
        format!("execute-app-arg: {arg}\n")
    };
    format!("sendmsg\ncall-command: execute\nexecute-app-name: {app}\n{arg_line}event-lock: true\nEvent-UUID: <uuid>\n\n")
}

#[tokio::test]
async fn the_originals_applications_send_its_arguments() {
    let sent = sendmsgs(&[], |c| async move {
        c.answer().await?;
        c.park().await?;
        c.att_xfer("user/1002").await?;
        c.bind_meta_app(&MetaApp {
            key: "2".into(),
            listen_to: MetaListen::A,
            respond_on: MetaRespond::Same,
            application: "hangup".into(),
            parameters: None,
        })
        .await?;
        c.bind_meta_app(&MetaApp {
            key: "2".into(),
            listen_to: MetaListen::Both,
            respond_on: MetaRespond::Opposite,
            application: "execute_extension".into(),
            parameters: Some("dx XML features".into()),
        })
        .await?;
        c.bridge("user/coltrane,user/davis").await?;
        c.bridge(
            Dial::to("user/coltrane")
                .and("user/davis")
                .var("foo", "bar")
                .var("lol", "cat"),
        )
        .await?;
        c.bridge(Dial::to("a").and("b").or("c").and("d")).await?;
        c.deflect("sip:1002@example.com").await?;
        c.export("foo=bar", "", ExportTo::Both).await?;
        c.export("foo", "bar", ExportTo::BLegOnly).await?;
        c.gentones("%(500,0,800)").await?;
        c.hangup("").await?;
        c.hangup("USER_BUSY").await?;
        c.play_and_get_digits("file", "invalid", &Digits::default())
            .await?;
        c.playback("/tmp/test.wav").await?;
        c.pre_answer().await?;
        c.read("file", &Digits::default()).await?;
        c.record("/tmp/rec.wav", &RecordOptions::default()).await?;
        c.record(
            "/tmp/rec.wav",
            &RecordOptions {
                limit_secs: Some(30),
                ..Default::default()
            },
        )
        .await?;
        c.redirect("sip:1002@example.com").await?;
        c.respond("403").await?;
        c.set("foo", "bar").await?;
        c.multiset(&[("baz", "1"), ("qux", "2")]).await?;
        c.transfer("new_extension").await?;
        c.unbind_meta_app("2").await?;
        c.unset("foo").await?;
        Ok(())
    })
    .await;
    let expected = vec![
        msg("answer", ""),
        msg("park", ""),
        msg("att_xfer", "user/1002"),
        msg("bind_meta_app", "2 a s hangup"),
        msg("bind_meta_app", "2 ab o execute_extension::dx XML features"),
        msg("bridge", "user/coltrane,user/davis"),
        msg("bridge", "{foo=bar,lol=cat}user/coltrane,user/davis"),
        msg("bridge", "a,b|c,d"),
        msg("deflect", "sip:1002@example.com"),
        msg("export", "foo=bar="),
        msg("export", "nolocal:foo=bar"),
        msg("gentones", "%(500,0,800)"),
        msg("hangup", ""),
        msg("hangup", "USER_BUSY"),
        msg(
            "play_and_get_digits",
            "1 2 3 5000 # file invalid read_digits_var \\d+",
        ),
        msg("playback", "/tmp/test.wav"),
        msg("pre_answer", ""),
        msg("read", "1 2 file read_digits_var 5000 #"),
        msg("record", "/tmp/rec.wav"),
        msg("record", "/tmp/rec.wav 30"),
        msg("redirect", "sip:1002@example.com"),
        msg("respond", "403"),
        msg("set", "foo=bar"),
        msg("multiset", "^^|baz=1|qux=2"),
        msg("transfer", "new_extension"),
        msg("unbind_meta_app", "2"),
        msg("unset", "foo"),
    ];
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn the_added_applications_send_freeswitch_syntax() {
    let sent = sendmsgs(&[], |c| async move {
        c.sleep(1500).await?;
        c.say("en", "number", "pronounced", "123").await?;
        c.speak("flite", "kal", "Hello, caller.").await?;
        c.phrase("voicemail_message_count", "3:new").await?;
        c.conference("sales@default").await?;
        c.send_dtmf("1234#").await?;
        c.record_session("/tmp/call.wav").await?;
        c.stop_record_session("/tmp/call.wav").await?;
        c.echo().await?;
        c.ring_ready().await?;
        c.log("INFO", "caller entered the IVR").await?;
        c.eavesdrop("u-2").await?;
        c.intercept("u-3").await?;
        c.limit("hash", "outbound", "gateway1", 10).await?;
        c.info().await?;
        Ok(())
    })
    .await;
    let expected = vec![
        msg("sleep", "1500"),
        msg("say", "en number pronounced 123"),
        msg("speak", "flite|kal|Hello, caller."),
        msg("phrase", "voicemail_message_count,3:new"),
        msg("conference", "sales@default"),
        msg("send_dtmf", "1234#"),
        msg("record_session", "/tmp/call.wav"),
        msg("stop_record_session", "/tmp/call.wav"),
        msg("echo", ""),
        msg("ring_ready", ""),
        msg("log", "INFO caller entered the IVR"),
        msg("eavesdrop", "u-2"),
        msg("intercept", "u-3"),
        msg("limit", "hash outbound gateway1 10"),
        msg("info", ""),
    ];
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn options_the_original_lacked_and_its_fixed_bugs() {
    let sent = sendmsgs(&[], |c| async move {
        // digit timeout and the invalid-input transfer target
        c.play_and_get_digits(
            "pin.wav",
            "bad.wav",
            &Digits::new()
                .min(4)
                .max(4)
                .tries(2)
                .variable("pin")
                .regexp("^\\d{4}$")
                .digit_timeout_ms(2000)
                .transfer_on_failure("operator XML default"),
        )
        .await?;
        c.play_and_get_digits(
            "pin.wav",
            "bad.wav",
            &Digits::new().transfer_on_failure("operator"),
        )
        .await?;
        c.read(
            "ext.wav",
            &Digits::new()
                .max(4)
                .timeout_ms(3000)
                .terminators("*")
                .digit_timeout_ms(1000),
        )
        .await?;
        // multiset values containing the default separator
        c.multiset(&[("a", "x|y"), ("b", "2")]).await?;
        // bridge variables with commas are quoted, not split
        c.bridge(Dial::to("user/1001").var("cid", "Doe, John"))
            .await?;
        Ok(())
    })
    .await;
    assert_eq!(
        sent,
        vec![
            msg(
                "play_and_get_digits",
                "4 4 2 5000 # pin.wav bad.wav pin ^\\d{4}$ 2000 operator XML default"
            ),
            msg(
                "play_and_get_digits",
                "1 2 3 5000 # pin.wav bad.wav read_digits_var \\d+ 5000 operator"
            ),
            msg("read", "1 4 ext.wav read_digits_var 3000 * 1000"),
            msg("multiset", "^^~a=x|y~b=2"),
            msg("bridge", r"{^^;cid=Doe,\sJohn}user/1001"),
        ]
    );
}

#[tokio::test]
async fn input_applications_return_the_variable_and_none_when_empty() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    sendmsgs(
        &[("variable_read_digits_var", "42"), ("variable_pin", "")],
        move |c| async move {
            let a = c.read("x.wav", &Digits::default()).await?;
            let b = c
                .play_and_get_digits("x.wav", "y.wav", &Digits::new().variable("pin"))
                .await?;
            g.lock().unwrap().push(a);
            g.lock().unwrap().push(b);
            Ok(())
        },
    )
    .await;
    assert_eq!(*got.lock().unwrap(), vec![Some("42".to_owned()), None]);
}

#[cfg(feature = "simulator")]
mod against_the_simulator {
    use super::*;
    use librevox::listener::serve_outbound;
    use librevox::simulator::{
        CallSpec, CallerScript, Extension, Order, Simulator, SimulatorConfig,
    };
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    /// The orders each call runs in: the simulator's one, and three seeded
    /// ones (CHANNEL_PARK at another time after `connect` each).
    const ORDERS: [Order; 4] = [
        Order::Fixed,
        Order::Seeded(1),
        Order::Seeded(2),
        Order::Seeded(3),
    ];

    /// Places one call into the simulator that runs `script` in our outbound
    /// listener, once under each of [`ORDERS`]; returns what the script
    /// returned each time.
    async fn call<T, F, Fut>(spec: CallSpec, script: F) -> Vec<T>
    where
        T: Send + 'static,
        F: FnOnce(Session) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = librevox::Result<T>> + Send + 'static,
    {
        let mut out = Vec::new();
        for order in ORDERS {
            out.push(call_in(order, spec.clone(), script.clone()).await);
        }
        out
    }

    /// One call of [`call`], under `order`.
    async fn call_in<T, F, Fut>(order: Order, spec: CallSpec, script: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = librevox::Result<T>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = SimulatorConfig::default().extension(Extension::socket(
            &spec.destination,
            &format!("{addr} async full"),
        ));
        config.order = order;
        let sim = Simulator::start(config).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(Some(script)));
        let token = CancellationToken::new();
        let server = tokio::spawn(serve_outbound(
            listener,
            move || {
                let script = script.lock().unwrap().take();
                let tx = tx.clone();
                Scripted(
                    Mutex::new(Some(Box::new(move |s: Session| {
                        Box::pin(async move {
                            let out = (script.expect("one call"))(s.clone()).await?;
                            let _ = tx.send(out);
                            s.hangup("")
                                .await
                                .or_else(|e| if e.is_hangup() { Ok(()) } else { Err(e) })
                        })
                            as Pin<Box<dyn Future<Output = librevox::Result<()>> + Send>>
                    }))),
                    false,
                )
            },
            OutboundSettings::default(),
            token.clone(),
        ));
        sim.place_call(spec);
        let out = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        token.cancel();
        server.await.unwrap().unwrap();
        out
    }

    #[tokio::test]
    async fn read_returns_what_the_caller_typed() {
        let all = call(CallSpec::new("ivr").input("1234"), |c| async move {
            c.answer().await?;
            c.read(
                "tone_stream://%(200,0,350)",
                &Digits::new().max(4).variable("ext_digits"),
            )
            .await
        })
        .await;
        for digits in all {
            assert_eq!(digits.as_deref(), Some("1234"));
        }
    }

    #[tokio::test]
    async fn read_returns_none_when_nothing_was_typed() {
        let all = call(CallSpec::new("ivr"), |c| async move {
            c.answer().await?;
            c.read(
                "tone_stream://%(200,0,350)",
                &Digits::new().max(4).timeout_ms(300),
            )
            .await
        })
        .await;
        for digits in all {
            assert_eq!(digits, None);
        }
    }

    #[tokio::test]
    async fn play_and_get_digits_returns_valid_input_only() {
        let all = call(
            CallSpec::new("ivr").input("42#").input("42#"),
            |c| async move {
                c.answer().await?;
                let ok = c
                    .play_and_get_digits("a.wav", "b.wav", &Digits::new().max(5).variable("pagd"))
                    .await?;
                let invalid = c
                    .play_and_get_digits(
                        "a.wav",
                        "b.wav",
                        &Digits::new()
                            .max(5)
                            .tries(1)
                            .variable("pagd2")
                            .regexp("^9\\d+$"),
                    )
                    .await?;
                Ok((ok, invalid))
            },
        )
        .await;
        for (ok, invalid) in all {
            assert_eq!(ok.as_deref(), Some("42"));
            assert_eq!(invalid, None);
        }
    }

    #[tokio::test]
    async fn bridge_reports_a_scripted_failure() {
        let script = CallerScript {
            bridge_failure: Some("USER_BUSY".into()),
            ..CallerScript::default()
        };
        let all = call(CallSpec::new("ivr").script(script), |c| async move {
            c.answer().await?;
            let done = c.bridge("sofia/gateway/trunk/5551234").await?;
            c.set("after_bridge", "yes").await?;
            Ok(done)
        })
        .await;
        for done in all {
            assert_eq!(done.application(), Some("bridge"));
            assert_eq!(
                done.variable("bridge_hangup_cause")
                    .or(done.variable("originate_disposition")),
                Some("USER_BUSY")
            );
        }
    }

    #[tokio::test]
    async fn every_catalogue_application_runs_on_the_simulator() {
        let all = call(CallSpec::new("ivr").input("1").input("2"), |c| async move {
            c.answer().await?;
            c.pre_answer().await?;
            c.ring_ready().await?;
            c.set("a", "1").await?;
            c.multiset(&[("b", "2"), ("c", "3")]).await?;
            c.export("d", "4", ExportTo::Both).await?;
            c.unset("a").await?;
            c.playback("tone_stream://%(100,0,440)").await?;
            c.gentones("%(100,0,800)").await?;
            c.say("en", "number", "pronounced", "7").await?;
            c.speak("flite", "kal", "hi").await?;
            c.phrase("voicemail_hello", "").await?;
            c.send_dtmf("12").await?;
            c.sleep(10).await?;
            c.log("INFO", "catalogue").await?;
            c.info().await?;
            c.bind_meta_app(&MetaApp {
                key: "1".into(),
                application: "hangup".into(),
                ..Default::default()
            })
            .await?;
            c.unbind_meta_app("1").await?;
            c.record_session("/tmp/x.wav").await?;
            c.stop_record_session("/tmp/x.wav").await?;
            c.limit("hash", "r", "x", 5).await?;
            c.record(
                "/tmp/y.wav",
                &RecordOptions {
                    limit_secs: Some(0),
                    ..Default::default()
                },
            )
            .await?;
            c.read("x.wav", &Digits::new().max(1)).await?;
            c.play_and_get_digits("x.wav", "y.wav", &Digits::new().max(1))
                .await?;
            assert_eq!(
                c.variable("b").as_deref(),
                Some("2"),
                "multiset took effect"
            );
            assert_eq!(c.variable("a"), None, "unset took effect");
            Ok(24)
        })
        .await;
        assert_eq!(all, [24; ORDERS.len()]);
    }

    #[tokio::test]
    async fn a_hangup_ends_an_application_that_holds_the_call() {
        let script = CallerScript {
            hangup_during: Some(("echo".into(), Duration::from_millis(50))),
            ..CallerScript::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sim = Simulator::start(
            SimulatorConfig::default()
                .extension(Extension::socket("echo", &format!("{addr} async full"))),
        )
        .await
        .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let token = CancellationToken::new();
        let server = tokio::spawn(serve_outbound(
            listener,
            move || {
                let tx = tx.clone();
                Scripted(
                    Mutex::new(Some(Box::new(move |c: Session| {
                        Box::pin(async move {
                            c.answer().await?;
                            let r = c.echo().await;
                            let _ = tx.send(r.map_err(|e| e.is_hangup()));
                            Ok(())
                        })
                            as Pin<Box<dyn Future<Output = librevox::Result<()>> + Send>>
                    }))),
                    false,
                )
            },
            OutboundSettings::default(),
            token.clone(),
        ));
        sim.place_call(CallSpec::new("echo").script(script));
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        // Either the interrupted echo's completion or the hangup ends the wait.
        assert!(matches!(r, Ok(()) | Err(true)), "{r:?}");
        token.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn typed_show_channels_and_calls_against_the_simulator() {
        use librevox::commands::Commands;
        let sim = Simulator::start(SimulatorConfig::default().extension(Extension::park("park")))
            .await
            .unwrap();
        let socket = librevox::CommandSocket::connect_io(
            sim.connect_in_memory(),
            librevox::ConnectOptions::default(),
        )
        .await
        .unwrap();
        assert!(socket.show_channels().await.unwrap().is_empty());
        let call = sim.place_call(CallSpec::new("park").caller("1000"));
        sim.wait_for(Duration::from_secs(5), |s| {
            s.channel(&call.uuid)
                .is_some_and(|c| c.state == "CS_EXECUTE")
        })
        .await
        .unwrap();
        let rows = socket.show_channels().await.unwrap();
        assert_eq!(rows.len(), 1);
        let col = |name: &str| {
            rows[0]
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(rows[0][0].0, "uuid", "columns keep FreeSWITCH's order");
        assert_eq!(col("uuid"), Some(call.uuid.as_str()));
        assert_eq!(col("state"), Some("CS_EXECUTE"));
        assert_eq!(col("dest"), Some("park"));
        assert_eq!(col("cid_num"), Some("1000"));
        assert_eq!(socket.show_calls().await.unwrap().len(), 1);
    }
}
