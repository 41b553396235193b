//! The handles' shared verbs, on exact bytes: event-lock as the listener
//! decides it, `command` vs `send`, `refresh`, `sendevent`, and the command
//! an error names.

mod support;

use librevox::commands::Commands;
use librevox::protocol::{Command, SendEvent, SendMsg};
use librevox::{Connection, ConnectionConfig, Error, Event, Reply, Session};
use support::peer::{api, event, reply, Peer};

const UUID: &str = "abb8cff4-588a-4fed-b53c-81fd8b81441b";

fn pair() -> (Connection, Peer) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, _events) = Connection::new(client, ConnectionConfig::default());
    (conn, Peer::new(server))
}

fn session(event_lock: bool) -> (Session, Peer) {
    let (conn, peer) = pair();
    let data = Event::new("CHANNEL_DATA")
        .with_header("Unique-ID", UUID)
        .with_header("variable_origin", "first");
    (Session::new(conn, data, event_lock), peer)
}

/// Runs `msg` on the session, answers it like FreeSWITCH and returns the
/// bytes of the `sendmsg` it sent.
async fn sent_by_execute(session: Session, peer: &mut Peer, msg: SendMsg) -> Vec<u8> {
    let run = tokio::spawn(async move { session.execute(msg).await });
    let p = peer.packet().await;
    let app_uuid = p.header("Event-UUID").expect("an Event-UUID").to_owned();
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", UUID),
            ("Application-UUID", &app_uuid),
            ("variable_x", "1"),
        ],
        None,
    ))
    .await;
    run.await.unwrap().unwrap();
    // The Event-UUID is random: put a fixed one in its place.
    String::from_utf8(p.raw.to_vec())
        .unwrap()
        .replace(&app_uuid, "E")
        .into_bytes()
}

#[tokio::test]
async fn a_message_without_event_lock_gets_the_listeners() {
    // The case: extra headers (loops) and no event-lock of its own.
    let (s, mut peer) = session(true);
    let msg = SendMsg::execute("playback", "f.wav").loops(3);
    assert_eq!(
        sent_by_execute(s, &mut peer, msg).await,
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: f.wav\n\
          event-lock: true\nEvent-UUID: E\nloops: 3\n\n"
    );
    // The listener turned it off: none is sent.
    let (s, mut peer) = session(false);
    let msg = SendMsg::execute("playback", "f.wav").loops(3);
    assert_eq!(
        sent_by_execute(s, &mut peer, msg).await,
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: f.wav\n\
          Event-UUID: E\nloops: 3\n\n"
    );
}

#[tokio::test]
async fn a_message_that_sets_event_lock_keeps_its_choice() {
    let (s, mut peer) = session(true);
    let msg = SendMsg::execute("playback", "f.wav").event_lock(false);
    assert_eq!(
        sent_by_execute(s, &mut peer, msg).await,
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: f.wav\n\
          Event-UUID: E\n\n"
    );
    let (s, mut peer) = session(false);
    let msg = SendMsg::execute("playback", "f.wav").event_lock(true);
    assert_eq!(
        sent_by_execute(s, &mut peer, msg).await,
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: f.wav\n\
          event-lock: true\nEvent-UUID: E\n\n"
    );
}

#[tokio::test]
async fn sendmsg_queues_with_the_listeners_event_lock_too() {
    let (s, mut peer) = session(true);
    let run = tokio::spawn(async move {
        let queued = s
            .sendmsg(&SendMsg::execute("playback", "f.wav").event_uuid("E"))
            .await?;
        // A call-command other than execute is sent as built.
        s.sendmsg(&SendMsg::hangup(Some("NORMAL_CLEARING"))).await?;
        Ok::<_, Error>(queued)
    });
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: f.wav\n\
          event-lock: true\nEvent-UUID: E\n\n"
    );
    peer.send(reply("+OK")).await;
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING\n\n"
    );
    peer.send(reply("+OK")).await;
    assert_eq!(run.await.unwrap().unwrap().text(), "+OK");
}

#[tokio::test]
async fn the_connections_own_sendmsg_and_execute_turn_event_lock_on() {
    let (conn, mut peer) = pair();
    let c = conn.clone();
    let run = tokio::spawn(async move {
        c.sendmsg(&SendMsg::execute("answer", "").uuid("u1"))
            .await?;
        c.sendmsg(&SendMsg::execute("answer", "").uuid("u1").event_lock(false))
            .await
    });
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendmsg u1\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n"
    );
    peer.send(reply("+OK")).await;
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendmsg u1\ncall-command: execute\nexecute-app-name: answer\n\n"
    );
    peer.send(reply("+OK")).await;
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn command_fails_on_err_while_send_returns_the_reply_as_it_came() {
    let (s, mut peer) = session(true);
    let s2 = s.clone();
    let run = tokio::spawn(async move {
        let raw = s2.send(&Command::raw("nixevent BOGUS")).await?;
        let typed = s2.command(&Command::raw("nixevent BOGUS")).await;
        Ok::<_, Error>((raw, typed))
    });
    for _ in 0..2 {
        assert_eq!(peer.packet().await.raw.as_ref(), b"nixevent BOGUS\n\n");
        peer.send(reply("-ERR bad event")).await;
    }
    let (raw, typed) = run.await.unwrap().unwrap();
    match raw {
        Reply::Command(r) => assert_eq!(r.text(), "-ERR bad event"),
        other => panic!("{other:?}"),
    }
    match typed {
        Err(Error::CommandFailed { command, reply }) => {
            assert_eq!(command, "nixevent BOGUS");
            assert_eq!(reply, "-ERR bad event");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn command_failed_names_the_command_as_sent_for_api_and_bgapi() {
    let (conn, mut peer) = pair();
    let c = conn.clone();
    let run = tokio::spawn(async move {
        let a = c.api("no_such_command").await.unwrap_err();
        let b = c.bgapi("no_such_command").await.unwrap_err();
        (a, b)
    });
    assert_eq!(peer.packet().await.raw.as_ref(), b"api no_such_command\n\n");
    peer.send(api("-ERR no_such_command Command not found!\n"))
        .await;
    let p = peer.packet().await;
    assert!(p.command.starts_with("bgapi no_such_command"), "{p:?}");
    peer.send(reply("-ERR no_such_command Command not found!"))
        .await;
    let (a, b) = run.await.unwrap();
    for (err, expected) in [(a, "api no_such_command"), (b, "bgapi no_such_command")] {
        match err {
            Error::CommandFailed { command, .. } => assert_eq!(command, expected),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn refresh_rereads_the_channel_data_with_uuid_dump() {
    let (s, mut peer) = session(true);
    assert_eq!(s.variable("origin").as_deref(), Some("first"));
    let s2 = s.clone();
    let run = tokio::spawn(async move { s2.refresh().await });
    assert_eq!(
        peer.packet().await.raw,
        format!("api uuid_dump {UUID}\n\n").as_bytes()
    );
    // uuid_dump's body is the channel's headers, plain, values URL-encoded.
    peer.send(api(&format!(
        "Event-Name: CHANNEL_DATA\nUnique-ID: {UUID}\nvariable_origin: second\n\
         variable_set_by_others: a%20b\n\n"
    )))
    .await;
    let fresh = run.await.unwrap().unwrap();
    assert_eq!(fresh.variable("set_by_others"), Some("a b"));
    assert_eq!(s.variable("origin").as_deref(), Some("second"));
    assert_eq!(s.variable("set_by_others").as_deref(), Some("a b"));

    // A dump of nothing (the channel is gone) is an error; the data stays.
    let s2 = s.clone();
    let run = tokio::spawn(async move { s2.refresh().await });
    peer.packet().await;
    peer.send(api("-ERR No such channel!\n")).await;
    assert!(matches!(
        run.await.unwrap(),
        Err(Error::CommandFailed { .. })
    ));
    assert_eq!(s.variable("origin").as_deref(), Some("second"));
}

#[tokio::test]
async fn sendevent_fires_a_typed_event_and_returns_its_uuid() {
    let (conn, mut peer) = pair();
    let c = conn.clone();
    let run = tokio::spawn(async move {
        c.sendevent(
            &SendEvent::custom("myapp::alert")
                .header("X-Level", "high")
                .body("disk full\n"),
        )
        .await
    });
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendevent CUSTOM\nEvent-Subclass: myapp::alert\nX-Level: high\n\
          content-type: text/plain\ncontent-length: 10\n\ndisk full\n"
    );
    peer.send(reply("+OK 3b1c9a2e-0d4f-4e7a-9c1b-2f8e6d5a4c3b"))
        .await;
    assert_eq!(
        run.await.unwrap().unwrap(),
        "3b1c9a2e-0d4f-4e7a-9c1b-2f8e6d5a4c3b"
    );

    // A named event type, on a session; a refusal is an error.
    let (s, mut peer) = session(true);
    let run = tokio::spawn(async move {
        s.sendevent(&SendEvent::new("HEARTBEAT").header("X-A", "1"))
            .await
    });
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"sendevent HEARTBEAT\nX-A: 1\n\n"
    );
    peer.send(reply("-ERR invalid event")).await;
    match run.await.unwrap() {
        Err(Error::CommandFailed { command, reply }) => {
            assert_eq!(command, "sendevent HEARTBEAT");
            assert_eq!(reply, "-ERR invalid event");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_command_socket_runs_only_messages_that_name_their_channel() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let t = tokio::spawn(librevox::CommandSocket::connect_io(
        client,
        librevox::ConnectOptions::default(),
    ));
    let mut peer = Peer::new(server);
    peer.send("Content-Type: auth/request\n\n").await;
    peer.packet().await;
    peer.send(reply("+OK accepted")).await;
    let socket = t.await.unwrap().unwrap();
    match socket.execute(SendMsg::execute("answer", "")).await {
        Err(Error::InvalidCommand(why)) => assert!(why.contains(".uuid("), "{why}"),
        other => panic!("{other:?}"),
    }
    // Nothing was sent: the next packet is the next command.
    let run = tokio::spawn(async move { socket.api("status").await });
    assert_eq!(peer.packet().await.raw.as_ref(), b"api status\n\n");
    peer.send(api("UP\n")).await;
    assert_eq!(run.await.unwrap().unwrap().body(), "UP\n");
}
