//! The typed API commands: exact `api` bytes, reply parsing, `-ERR` handling.

mod support;

use std::future::Future;

use librevox::commands::{Commands, Destination, Hold, Leg, Originate, Record};
use librevox::{Connection, ConnectionConfig, Error};
use support::peer::{api, Peer};

/// Runs `f` on a connection whose peer answers the one `api` command it
/// receives with `reply`; returns the command's bytes and `f`'s result.
async fn run<T, F, Fut>(reply: &str, f: F) -> (String, T)
where
    F: FnOnce(Connection) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, _events) = Connection::new(client, ConnectionConfig::default());
    let task = tokio::spawn(f(conn));
    let mut peer = Peer::new(server);
    let p = peer.packet().await;
    peer.send(api(reply)).await;
    let out = task.await.unwrap();
    (String::from_utf8(p.raw.to_vec()).unwrap(), out)
}

#[tokio::test]
async fn the_originals_commands_send_its_wire_strings() {
    let (sent, r) = run("UP 0 years\n", |c| async move { c.status().await }).await;
    assert_eq!(sent, "api status\n\n");
    assert_eq!(r.unwrap(), "UP 0 years\n");
    let (sent, _) = run("+OK\n", |c| async move {
        c.fsctl("hupall normal_clearing").await
    })
    .await;
    assert_eq!(sent, "api fsctl hupall normal_clearing\n\n");
    let (sent, _) = run("+OK\n", |c| async move { c.hupall(None).await }).await;
    assert_eq!(sent, "api hupall\n\n");
    let (sent, _) = run(
        "+OK\n",
        |c| async move { c.hupall(Some("USER_BUSY")).await },
    )
    .await;
    assert_eq!(sent, "api hupall USER_BUSY\n\n");
    let (sent, _) = run("+OK\n", |c| async move { c.uuid_park("u-1").await }).await;
    assert_eq!(sent, "api uuid_park u-1\n\n");
    let (sent, _) = run(
        "+OK\n",
        |c| async move { c.uuid_bridge("u-1", "u-2").await },
    )
    .await;
    assert_eq!(sent, "api uuid_bridge u-1 u-2\n\n");
    let (sent, _) = run("+OK\n", |c| async move {
        c.hash_insert("realm", "key", "value").await
    })
    .await;
    assert_eq!(sent, "api hash insert/realm/key/value\n\n");
    let (sent, r) = run(
        "value\n",
        |c| async move { c.hash_select("realm", "key").await },
    )
    .await;
    assert_eq!(sent, "api hash select/realm/key\n\n");
    assert_eq!(r.unwrap().as_deref(), Some("value\n"));
    let (sent, _) = run(
        "+OK\n",
        |c| async move { c.hash_delete("realm", "key").await },
    )
    .await;
    assert_eq!(sent, "api hash delete/realm/key\n\n");
    let (sent, _) = run(
        "x\n",
        |c| async move { c.api_command("show", "modules").await },
    )
    .await;
    assert_eq!(sent, "api show modules\n\n");
    let (sent, _) = run(
        "x\n",
        |c| async move { c.api_command("reloadacl", "").await },
    )
    .await;
    assert_eq!(sent, "api reloadacl\n\n");
}

type Case = Box<
    dyn FnOnce(
            Connection,
        ) -> std::pin::Pin<Box<dyn Future<Output = librevox::Result<String>> + Send>>
        + Send,
>;

#[tokio::test]
async fn uuid_commands() {
    let cases: Vec<(&str, Case)> = vec![
        (
            "api uuid_kill u-1\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_kill("u-1", None).await })),
        ),
        (
            "api uuid_kill u-1 USER_BUSY\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_kill("u-1", Some("USER_BUSY")).await })),
        ),
        (
            "api uuid_transfer u-1 1000\n\n",
            Box::new(|c| {
                Box::pin(async move { c.uuid_transfer("u-1", Leg::A, "1000", None, None).await })
            }),
        ),
        (
            "api uuid_transfer u-1 -bleg 1000 XML sales\n\n",
            Box::new(|c| {
                Box::pin(async move {
                    c.uuid_transfer("u-1", Leg::B, "1000", None, Some("sales"))
                        .await
                })
            }),
        ),
        (
            "api uuid_transfer u-1 -both 1000 inline\n\n",
            Box::new(|c| {
                Box::pin(async move {
                    c.uuid_transfer("u-1", Leg::Both, "1000", Some("inline"), None)
                        .await
                })
            }),
        ),
        (
            "api uuid_setvar u-1 foo bar\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_setvar("u-1", "foo", Some("bar")).await })),
        ),
        (
            "api uuid_setvar u-1 foo\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_setvar("u-1", "foo", None).await })),
        ),
        (
            "api uuid_send_dtmf u-1 1234#\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_send_dtmf("u-1", "1234#").await })),
        ),
        (
            "api uuid_record u-1 start /tmp/a.wav 60\n\n",
            Box::new(|c| {
                Box::pin(async move {
                    c.uuid_record("u-1", Record::Start, "/tmp/a.wav", Some(60))
                        .await
                })
            }),
        ),
        (
            "api uuid_record u-1 stop all\n\n",
            Box::new(|c| {
                Box::pin(async move { c.uuid_record("u-1", Record::Stop, "all", None).await })
            }),
        ),
        (
            "api uuid_broadcast u-1 /tmp/a.wav both\n\n",
            Box::new(|c| {
                Box::pin(async move { c.uuid_broadcast("u-1", "/tmp/a.wav", Leg::Both).await })
            }),
        ),
        (
            "api uuid_answer u-1\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_answer("u-1").await })),
        ),
        (
            "api uuid_hold u-1\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_hold("u-1", Hold::On).await })),
        ),
        (
            "api uuid_hold off u-1\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_hold("u-1", Hold::Off).await })),
        ),
        (
            "api uuid_hold toggle u-1\n\n",
            Box::new(|c| Box::pin(async move { c.uuid_hold("u-1", Hold::Toggle).await })),
        ),
        (
            "api reloadxml\n\n",
            Box::new(|c| Box::pin(async move { c.reloadxml().await })),
        ),
        (
            "api version\n\n",
            Box::new(|c| Box::pin(async move { c.version().await })),
        ),
    ];
    for (expected, f) in cases {
        let (sent, r) = run("+OK\n", f).await;
        assert_eq!(sent, expected);
        assert!(r.is_ok());
    }
}

#[tokio::test]
async fn err_and_usage_bodies_are_errors_with_freeswitch_text() {
    let (_, r) = run("-ERR No such channel!\n", |c| async move {
        c.uuid_kill("nope", None).await
    })
    .await;
    match r {
        Err(Error::CommandFailed { command, reply }) => {
            // The command as sent, as for bgapi ("bgapi ...").
            assert_eq!(command, "api uuid_kill nope");
            assert_eq!(reply, "-ERR No such channel!");
        }
        other => panic!("{other:?}"),
    }
    let (_, r) = run("-USAGE: <uuid> <var>\n", |c| async move {
        c.uuid_getvar("", "").await
    })
    .await;
    assert_eq!(r.unwrap_err().reply_text(), Some("-USAGE: <uuid> <var>"));
    let (_, r) = run("-ERR USER_BUSY\n", |c| async move {
        c.originate(&Originate::new("user/1001").extension("1000"))
            .await
    })
    .await;
    assert_eq!(r.unwrap_err().reply_text(), Some("-ERR USER_BUSY"));
}

#[tokio::test]
async fn replies_are_parsed() {
    let (sent, r) = run(
        "+OK 1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71\n",
        |c| async move {
            c.originate(&Originate::new("loopback/9664").app("park", ""))
                .await
        },
    )
    .await;
    assert_eq!(sent, "api originate loopback/9664 &park()\n\n");
    assert_eq!(r.unwrap(), "1e7b3c9d-4a2f-4b8e-8d6c-0f5a9e3b2c71");
    let (_, r) = run("7531\n", |c| async move { c.uptime().await }).await;
    assert_eq!(r.unwrap(), 7531);
    let (_, r) = run(
        "_undef_",
        |c| async move { c.uuid_getvar("u", "nope").await },
    )
    .await;
    assert_eq!(r.unwrap(), None);
    let (_, r) = run("sip:1001@10.0.0.1", |c| async move {
        c.uuid_getvar("u", "contact").await
    })
    .await;
    assert_eq!(
        r.unwrap().as_deref(),
        Some("sip:1001@10.0.0.1"),
        "a colon does not make it a hash"
    );
    let (sent, r) = run(
        "Event-Name: CHANNEL_DATA\nUnique-ID: u-1\nChannel-Name: sofia/internal/1001%4010.0.0.1\nvariable_foo: a%20b\n\n",
        |c| async move { c.uuid_dump("u-1").await },
    )
    .await;
    assert_eq!(sent, "api uuid_dump u-1\n\n");
    let dump = r.unwrap();
    assert_eq!(
        dump.header("Channel-Name"),
        Some("sofia/internal/1001@10.0.0.1")
    );
    assert_eq!(dump.variable("foo"), Some("a b"));
    let (sent, r) = run(
        r#"{"row_count":2,"rows":[{"uuid":"u-1","direction":"inbound","cid_num":"1001","created_epoch":"1715674870"},{"uuid":"u-2","direction":"outbound","cid_num":"","created_epoch":"1715674871"}]}"#,
        |c| async move { c.show_channels().await },
    )
    .await;
    assert_eq!(sent, "api show channels as json\n\n");
    let rows = r.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], ("uuid".to_owned(), "u-1".to_owned()));
    assert_eq!(
        rows[1].iter().find(|(k, _)| k == "direction").unwrap().1,
        "outbound"
    );
    let (sent, r) = run(
        r#"{"row_count":0}"#,
        |c| async move { c.show_calls().await },
    )
    .await;
    assert_eq!(sent, "api show calls as json\n\n");
    assert!(r.unwrap().is_empty());
}

#[test]
fn originate_targets_and_escaping() {
    let cases = [
        (
            Originate::new("user/coltrane").extension("4000"),
            "originate user/coltrane 4000",
        ),
        (
            Originate::new("user/coltrane")
                .extension("4000")
                .dialplan("XML")
                .context("public"),
            "originate user/coltrane 4000 XML public",
        ),
        // A context alone keeps its position: the dialplan defaults to XML.
        (
            Originate::new("user/coltrane")
                .extension("4000")
                .context("public"),
            "originate user/coltrane 4000 XML public",
        ),
        (Originate::new("user/1001"), "originate user/1001 &park()"),
        (
            Originate::new("user/1001").app("bridge", "sofia/gateway/trunk/5551234"),
            "originate user/1001 &bridge(sofia/gateway/trunk/5551234)",
        ),
        (
            Originate::new("user/1001").app("playback", "/tmp/hello world.wav"),
            "originate user/1001 '&playback(/tmp/hello world.wav)'",
        ),
        (
            Originate::new("user/1001")
                .var("a", "1")
                .var("with_comma", "x,y")
                .var("with_space", "John Doe")
                .var("quote", "it's")
                .extension("1000"),
            // Checked on FreeSWITCH 1.11.3: the new channel gets exactly these values.
            r"originate '{^^;a=1;with_comma=x,y;with_space=John\sDoe;quote=it\\\'s}user/1001' 1000",
        ),
        (
            Originate::new("user/1001")
                .extension("1000")
                .caller_id("Front Desk", "5550100")
                .timeout(30),
            "originate user/1001 1000 XML default 'Front Desk' 5550100 30",
        ),
        (
            Originate::new("user/1001").app("park", "").timeout(20),
            "originate user/1001 &park() XML default undef undef 20",
        ),
    ];
    for (o, expected) in cases {
        assert_eq!(o.to_string(), expected);
    }
    // Building an originate never changes the caller's data.
    let base = Originate::new("user/1001").var("x", "1");
    let _ = base.clone().extension("1000");
    assert_eq!(
        base.destination(),
        &Destination::App {
            app: "park".into(),
            args: String::new()
        }
    );
}
