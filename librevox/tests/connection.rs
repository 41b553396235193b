//! The connection core and CommandSocket over an in-memory socket, against a
//! scripted FreeSWITCH peer that writes exact bytes.

mod support;

use std::time::Duration;

use librevox::protocol::{Message, SendMsg};
use librevox::{
    CommandSocket, ConnectOptions, Connection, ConnectionConfig, Error, EventStream, OverflowPolicy,
};
use support::peer::{api, event, reply, Peer, GOODBYE};
use tokio::io::AsyncWriteExt;

/// Asserts that an application ended with `Error::Hangup` for `uuid` and
/// `cause`.
fn assert_hangup(result: librevox::Result<librevox::Event>, uuid: &str, cause: &str) {
    match result {
        Err(Error::Hangup { uuid: u, cause: c }) => {
            assert_eq!(u, uuid);
            assert_eq!(c.as_ref().map(|c| c.as_str()), Some(cause));
        }
        other => panic!("expected a hangup, got {other:?}"),
    }
}

fn pair(config: ConnectionConfig) -> (Connection, EventStream, Peer) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, events) = Connection::new(client, config);
    (conn, events, Peer::new(server))
}

/// Runs `msg` on a task of its own, as an application a caller awaits.
fn spawn_execute(
    conn: &Connection,
    msg: SendMsg,
) -> tokio::task::JoinHandle<librevox::Result<librevox::Event>> {
    let conn = conn.clone();
    tokio::spawn(async move { conn.execute(msg).await })
}

async fn next_event_name(events: &mut EventStream) -> String {
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        Ok(Some(Message::Event(e))) => e.name().unwrap_or("").to_owned(),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn replies_resolve_in_fifo_order_with_events_in_between() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
    let c1 = conn.clone();
    let first = tokio::spawn(async move { c1.api("echo one").await });
    assert_eq!(peer.packet().await.command, "api echo one");
    let c2 = conn.clone();
    let second = tokio::spawn(async move { c2.api("echo two").await });
    assert_eq!(peer.packet().await.command, "api echo two");
    peer.send(event(&[("Event-Name", "HEARTBEAT")], None)).await;
    peer.send(api("one")).await;
    peer.send(event(&[("Event-Name", "CHANNEL_CREATE")], None))
        .await;
    peer.send(event(&[("Event-Name", "CHANNEL_ANSWER")], None))
        .await;
    peer.send(api("two")).await;
    assert_eq!(first.await.unwrap().unwrap().text(), "one");
    assert_eq!(second.await.unwrap().unwrap().text(), "two");
    assert_eq!(next_event_name(&mut events).await, "HEARTBEAT");
    assert_eq!(next_event_name(&mut events).await, "CHANNEL_CREATE");
    assert_eq!(next_event_name(&mut events).await, "CHANNEL_ANSWER");
}

#[tokio::test]
async fn many_pipelined_commands_each_get_their_own_reply() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            (i, c.api(&format!("echo {i}")).await.unwrap())
        }));
    }
    // Answer in the order the commands reached the socket, with the argument.
    for _ in 0..200 {
        let p = peer.packet().await;
        let arg = p.command.strip_prefix("api echo ").unwrap().to_owned();
        peer.send(api(&arg)).await;
    }
    for t in tasks {
        let (i, resp) = t.await.unwrap();
        assert_eq!(resp.text(), i.to_string());
    }
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_times_out_does_not_shift_later_replies() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let impatient = conn.with_timeout(Duration::from_millis(100));
    let t = tokio::spawn(async move { impatient.api("slow").await });
    assert_eq!(peer.packet().await.command, "api slow");
    let err = t.await.unwrap().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let c = conn.clone();
    let next = tokio::spawn(async move { c.api("fast").await });
    assert_eq!(peer.packet().await.command, "api fast");
    peer.send(api("reply to slow")).await;
    peer.send(api("reply to fast")).await;
    assert_eq!(next.await.unwrap().unwrap().text(), "reply to fast");
}

#[tokio::test]
async fn a_dropped_future_does_not_shift_later_replies() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let abandoned = tokio::spawn(async move { c.api("abandoned").await });
    assert_eq!(peer.packet().await.command, "api abandoned");
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());
    let c = conn.clone();
    let next =
        tokio::spawn(async move { c.command(&librevox::protocol::Command::noevents()).await });
    assert_eq!(peer.packet().await.command, "noevents");
    peer.send(api("for the abandoned one")).await;
    peer.send(reply("+OK no longer listening for events")).await;
    assert_eq!(
        next.await.unwrap().unwrap().text(),
        "+OK no longer listening for events"
    );
}

#[tokio::test(start_paused = true)]
async fn every_wait_times_out_with_a_typed_error() {
    let config = ConnectionConfig {
        reply_timeout: Duration::from_secs(3),
        job_timeout: Duration::from_secs(5),
        app_timeout: Duration::from_secs(7),
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("silent").await });
    peer.packet().await;
    match t.await.unwrap() {
        Err(Error::Timeout { after, .. }) => assert_eq!(after, Duration::from_secs(3)),
        other => panic!("{other:?}"),
    }
    peer.send(api("late")).await;
    // bgapi: the reply comes, the job event never does.
    let c = conn.clone();
    let t = tokio::spawn(async move { c.bgapi("status").await?.wait().await });
    let p = peer.packet().await;
    let job = p.header("Job-UUID").unwrap().to_owned();
    peer.send(format!(
        "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
    ))
    .await;
    match t.await.unwrap() {
        Err(Error::Timeout { after, what }) => {
            assert_eq!(after, Duration::from_secs(5));
            assert!(what.contains("BACKGROUND_JOB"));
        }
        other => panic!("{other:?}"),
    }
    // An application whose completion never comes.
    let t = spawn_execute(&conn, SendMsg::execute("park", "").uuid("u1"));
    peer.packet().await;
    peer.send(reply("+OK")).await;
    match t.await.unwrap() {
        Err(Error::Timeout { after, .. }) => assert_eq!(after, Duration::from_secs(7)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn disconnect_fails_every_pending_waiter_at_once() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
    let mut tasks = Vec::new();
    for i in 0..5 {
        let c = conn.clone();
        tasks.push(tokio::spawn(async move {
            c.api(&format!("echo {i}")).await.map(|_| ())
        }));
    }
    for _ in 0..5 {
        peer.packet().await;
    }
    // A job that was accepted and an application that was acknowledged.
    let c = conn.clone();
    let job = tokio::spawn(async move {
        c.bgapi_with_uuid("status", "job-1")
            .await?
            .wait()
            .await
            .map(|_| ())
    });
    peer.packet().await;
    let c = conn.clone();
    let app = tokio::spawn(async move {
        c.execute(SendMsg::execute("playback", "x.wav").uuid("u1"))
            .await
            .map(|_| ())
    });
    peer.packet().await;
    // Answer the 5 api calls' positions? No: answer nothing and hang up.
    drop(peer);
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
    }
    assert!(job.await.unwrap().unwrap_err().is_closed());
    assert!(app.await.unwrap().unwrap_err().is_closed());
    assert!(events.recv().await.is_none(), "the event stream ends");
    assert!(conn.is_closed());
    assert!(conn.closed().await.is_closed());
    // New commands fail at once.
    assert!(conn.api("status").await.unwrap_err().is_closed());
}

#[tokio::test]
async fn a_closing_disconnect_notice_fails_pending_commands_and_is_delivered() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(GOODBYE).await;
    let err = t.await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(err.to_string().contains("Disconnected, goodbye."), "{err}");
    match events.recv().await {
        Some(Message::DisconnectNotice(n)) => assert!(n.is_closing()),
        other => panic!("{other:?}"),
    }
    assert!(events.recv().await.is_none());
}

#[tokio::test]
async fn a_linger_notice_keeps_the_connection_open() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
    peer.send("Content-Type: text/disconnect-notice\nControlled-Session-UUID: u1\nContent-Disposition: linger\nChannel-Name: loopback/x\nLinger-Time: -1\nContent-Length: 0\n\n").await;
    match events.recv().await {
        Some(Message::DisconnectNotice(n)) => assert!(n.is_linger()),
        other => panic!("{other:?}"),
    }
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(api("UP")).await;
    assert_eq!(t.await.unwrap().unwrap().text(), "UP");
}

#[tokio::test]
async fn bgapi_resolves_by_job_uuid_even_when_other_jobs_finish_first() {
    let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move {
        let job = c.bgapi_with_uuid("status", "mine").await?;
        assert_eq!(job.uuid(), "mine");
        job.output().await
    });
    let p = peer.packet().await;
    assert_eq!(p.command, "bgapi status");
    assert_eq!(p.header("Job-UUID"), Some("mine"));
    peer.send("Content-Type: command/reply\nReply-Text: +OK Job-UUID: mine\nJob-UUID: mine\n\n")
        .await;
    peer.send(event(
        &[
            ("Event-Name", "BACKGROUND_JOB"),
            ("Job-UUID", "someone-else"),
        ],
        Some("-ERR not yours\n"),
    ))
    .await;
    peer.send(event(
        &[("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "mine")],
        Some("UP 1 day\n"),
    ))
    .await;
    assert_eq!(t.await.unwrap().unwrap(), "UP 1 day\n");
    // Both events still reach the event stream.
    assert_eq!(next_event_name(&mut events).await, "BACKGROUND_JOB");
    assert_eq!(next_event_name(&mut events).await, "BACKGROUND_JOB");
}

#[tokio::test]
async fn a_failed_background_job_is_an_error_with_freeswitch_text() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move { c.bgapi_with_uuid("nope", "j").await?.output().await });
    peer.packet().await;
    peer.send("Content-Type: command/reply\nReply-Text: +OK Job-UUID: j\nJob-UUID: j\n\n")
        .await;
    peer.send(event(
        &[("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j")],
        Some("-ERR nope Command not found!\n"),
    ))
    .await;
    let err = t.await.unwrap().unwrap_err();
    assert_eq!(err.reply_text(), Some("-ERR nope Command not found!"));
}

#[tokio::test]
async fn applications_resolve_by_application_uuid_not_by_order() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let a = spawn_execute(
        &conn,
        SendMsg::execute("playback", "a.wav")
            .uuid("ch")
            .event_uuid("A"),
    );
    let p = peer.packet().await;
    assert_eq!(p.header("Event-UUID"), Some("A"));
    let b = spawn_execute(
        &conn,
        SendMsg::execute("set", "x=1").uuid("ch").event_uuid("B"),
    );
    let p = peer.packet().await;
    assert_eq!(p.header("Event-UUID"), Some("B"));
    peer.send(reply("+OK")).await;
    peer.send(reply("+OK")).await;
    // A completion nobody waits for (a dialplan app), then B, then A.
    let complete = |uuid: &'static str, app: &'static str, resp: &'static str| {
        event(
            &[
                ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
                ("Unique-ID", "ch"),
                ("Application", app),
                ("Application-Response", resp),
                ("Application-UUID", uuid),
            ],
            None,
        )
    };
    peer.send(complete("dialplan-1", "socket", "_none_")).await;
    peer.send(complete("B", "set", "_none_")).await;
    peer.send(complete("A", "playback", "FILE%20PLAYED")).await;
    let a = a.await.unwrap().unwrap();
    let b = b.await.unwrap().unwrap();
    assert_eq!(a.application(), Some("playback"));
    assert_eq!(a.application_response(), Some("FILE PLAYED"));
    assert_eq!(b.application(), Some("set"));
}

#[tokio::test]
async fn a_hangup_fails_a_running_application_at_hangup_complete() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let t = spawn_execute(
        &conn,
        SendMsg::execute("playback", "long.wav")
            .uuid("ch")
            .event_uuid("A"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP"),
            ("Unique-ID", "ch"),
            ("Hangup-Cause", "NORMAL_CLEARING"),
        ],
        None,
    ))
    .await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Unique-ID", "ch"),
            ("Hangup-Cause", "NORMAL_CLEARING"),
        ],
        None,
    ))
    .await;
    assert_hangup(t.await.unwrap(), "ch", "NORMAL_CLEARING");
}

#[tokio::test]
async fn the_interrupted_applications_completion_after_hangup_still_resolves_it() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let t = spawn_execute(
        &conn,
        SendMsg::execute("playback", "long.wav")
            .uuid("ch")
            .event_uuid("A"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[("Event-Name", "CHANNEL_HANGUP"), ("Unique-ID", "ch")],
        None,
    ))
    .await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", "ch"),
            ("Application-Response", "PLAYBACK%20ERROR"),
            ("Application-UUID", "A"),
        ],
        None,
    ))
    .await;
    let done = t.await.unwrap().unwrap();
    assert_eq!(done.application_response(), Some("PLAYBACK ERROR"));
}

#[tokio::test(start_paused = true)]
async fn without_hangup_complete_the_grace_period_ends_the_wait() {
    // Sync outbound sockets never see CHANNEL_HANGUP_COMPLETE.
    let config = ConnectionConfig {
        hangup_grace: Duration::from_millis(500),
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let c = conn.clone();
    let t = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let r = c
            .execute(SendMsg::execute("park", "").uuid("ch").event_uuid("A"))
            .await;
        (r, start.elapsed())
    });
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP"),
            ("Unique-ID", "ch"),
            ("Hangup-Cause", "USER_BUSY"),
        ],
        None,
    ))
    .await;
    let (r, elapsed) = t.await.unwrap();
    assert!(
        matches!(r, Err(Error::Hangup { ref cause, .. }) if *cause == Some(librevox::HangupCause::UserBusy)),
        "{r:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

fn hangup_event(uuid: &str, cause: &str) -> String {
    event(
        &[
            ("Event-Name", "CHANNEL_HANGUP"),
            ("Unique-ID", uuid),
            ("Hangup-Cause", cause),
        ],
        None,
    )
}

#[tokio::test(start_paused = true)]
async fn a_waiting_hangup_application_resolves_with_the_channel_hangup_at_the_grace_end() {
    // The CHANNEL_HANGUP is kept for the wait it resolves.
    let config = ConnectionConfig {
        hangup_grace: Duration::from_millis(500),
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let t = spawn_execute(
        &conn,
        SendMsg::execute("hangup", "").uuid("ch").event_uuid("H"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(hangup_event("ch", "NORMAL_CLEARING")).await;
    let done = t.await.unwrap().unwrap();
    assert!(done.is("CHANNEL_HANGUP"), "{done:?}");
    assert_eq!(done.unique_id(), Some("ch"));
    assert_eq!(done.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
}

#[tokio::test(start_paused = true)]
async fn a_hangup_application_sent_after_the_channel_hangup_fails_with_its_cause() {
    // Nothing waited on the channel when its CHANNEL_HANGUP came, so only
    // its cause was kept: a `hangup` sent later ends with Error::Hangup at
    // the grace's end (a Session takes that as the application's success).
    let config = ConnectionConfig {
        hangup_grace: Duration::from_millis(500),
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    peer.send(hangup_event("ch", "USER_BUSY")).await;
    // A round trip: the driver has read the hangup.
    let c = conn.clone();
    let status = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(api("UP")).await;
    status.await.unwrap().unwrap();
    let t = spawn_execute(
        &conn,
        SendMsg::execute("hangup", "").uuid("ch").event_uuid("H"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    assert_hangup(t.await.unwrap(), "ch", "USER_BUSY");
}

#[tokio::test]
async fn drop_newest_counts_every_dropped_event() {
    let config = ConnectionConfig {
        event_capacity: 4,
        overflow: OverflowPolicy::DropNewest,
        ..ConnectionConfig::default()
    };
    let (conn, mut events, mut peer) = pair(config);
    for i in 0..20 {
        peer.send(event(
            &[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())],
            None,
        ))
        .await;
    }
    // A reply after the flood proves every event before it was processed.
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(api("UP")).await;
    t.await.unwrap().unwrap();
    let mut received = 0;
    while let Some(Message::Event(_)) = events.try_recv() {
        received += 1;
    }
    assert_eq!(received, 4);
    assert_eq!(conn.dropped_events(), 16);
}

#[tokio::test]
async fn backpressure_never_drops_and_keeps_order_with_a_slow_consumer() {
    let config = ConnectionConfig {
        event_capacity: 8,
        ..ConnectionConfig::default()
    };
    let (conn, mut events, mut peer) = pair(config);
    let n = 5000;
    let writer = tokio::spawn(async move {
        for i in 0..n {
            peer.send(event(
                &[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())],
                None,
            ))
            .await;
        }
        peer
    });
    for i in 0..n {
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
        match events.recv().await {
            Some(Message::Event(e)) => assert_eq!(e.header("X-I"), Some(i.to_string().as_str())),
            other => panic!("{other:?}"),
        }
    }
    writer.await.unwrap();
    assert_eq!(conn.dropped_events(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_come_whole_and_in_order_under_backpressure() {
    // Full batches take the requeue path of `recv_many`; nothing may be
    // lost, duplicated or reordered by it.
    let config = ConnectionConfig {
        event_capacity: 100,
        ..ConnectionConfig::default()
    };
    let (conn, mut events, mut peer) = pair(config);
    let n = 3000;
    // An `api` answered after the first 200 events: once it returns, the
    // driver has read all 200 (frames are handled in order), so the stream
    // is full and the first batches come back full.
    let c = conn.clone();
    let sync = tokio::spawn(async move { c.api("status").await });
    assert_eq!(peer.packet().await.command, "api status");
    let writer = tokio::spawn(async move {
        for i in 0..n {
            if i == 200 {
                peer.send(api("UP")).await;
            }
            peer.send(event(
                &[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())],
                None,
            ))
            .await;
        }
        peer
    });
    assert_eq!(sync.await.unwrap().unwrap().text(), "UP");
    let mut batch = Vec::new();
    let (mut next, mut full) = (0, 0);
    while next < n {
        let got = events.recv_many(&mut batch, 64).await;
        assert!(got > 0 && got <= 64, "{got}");
        full += usize::from(got == 64);
        for msg in batch.drain(..) {
            match msg {
                Message::Event(e) => {
                    assert_eq!(e.header("X-I"), Some(next.to_string().as_str()))
                }
                other => panic!("{other:?}"),
            }
            next += 1;
        }
    }
    assert!(full > 0, "no batch came back full");
    writer.await.unwrap();
    assert_eq!(conn.dropped_events(), 0);
}

#[tokio::test]
async fn a_consumer_that_calls_api_while_the_stream_is_full_does_not_deadlock() {
    let config = ConnectionConfig {
        event_capacity: 2,
        ..ConnectionConfig::default()
    };
    let (conn, mut events, mut peer) = pair(config);
    // Fill the stream and more, then the consumer makes an api call for each
    // event, as a hook would.
    for i in 0..6 {
        peer.send(event(
            &[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())],
            None,
        ))
        .await;
    }
    let responder = tokio::spawn(async move {
        for i in 0..6 {
            let p = peer.packet().await;
            assert_eq!(p.command, format!("api echo {i}"));
            // More events pile up before each reply.
            peer.send(event(&[("Event-Name", "CUSTOM"), ("X-Late", "1")], None))
                .await;
            peer.send(api(&i.to_string())).await;
        }
        peer
    });
    for i in 0..6 {
        let Some(Message::Event(e)) = events.recv().await else {
            panic!()
        };
        assert_eq!(e.header("X-I"), Some(i.to_string().as_str()));
        let r = conn.api(&format!("echo {i}")).await.unwrap();
        assert_eq!(r.text(), i.to_string());
    }
    let _peer = responder.await.unwrap();
    let mut late = 0;
    while let Ok(Some(Message::Event(e))) =
        tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        assert_eq!(e.header("X-Late"), Some("1"));
        late += 1;
    }
    assert_eq!(late, 6, "no event was dropped");
}

#[tokio::test]
async fn an_endless_backlog_behind_an_awaited_reply_closes_the_connection() {
    let config = ConnectionConfig {
        event_capacity: 2,
        max_backlog: 50,
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("originate ...").await });
    peer.packet().await;
    // Nobody consumes events, and the reply never comes: a flood. The client
    // closes once the backlog passes the limit, so writes start failing.
    for i in 0..200 {
        let frame = event(&[("Event-Name", "CUSTOM"), ("X-I", &i.to_string())], None);
        if peer.io.write_all(frame.as_bytes()).await.is_err() {
            break;
        }
    }
    let err = t.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::EventBacklog { limit: 50 }), "{err}");
    assert_eq!(conn.dropped_events(), 0);
}

#[tokio::test]
async fn a_malformed_frame_closes_the_connection_with_a_protocol_error() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send("Content-Type: api/response\nContent-Length: -1\n\n")
        .await;
    let err = t.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(matches!(conn.closed().await, Error::Protocol(_)));
}

#[tokio::test]
async fn a_frame_with_two_lengths_closes_the_connection_with_ambiguous_length() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    // Read with the first length this would be a 2-byte reply followed by a
    // forged one; with the second, one 40-byte reply. Neither is taken.
    peer.send(
        "Content-Type: api/response\nContent-Length: 2\ncontent-length: 40\n\n\
         ok\nContent-Type: api/response\nContent-Length: 3\n\nbad",
    )
    .await;
    let err = t.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::AmbiguousLength { ref first, ref second }
            if first == "Content-Length: 2" && second == "content-length: 40"),
        "{err}"
    );
    assert!(matches!(conn.closed().await, Error::AmbiguousLength { .. }));
}

#[tokio::test]
async fn eof_mid_frame_is_an_error_not_a_hang() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send("Content-Type: api/response\nContent-Length: 100\n\nonly part")
        .await;
    drop(peer);
    let err = t.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ref m) if m.contains("9 of 100")),
        "{err}"
    );
}

#[tokio::test]
async fn the_last_handle_dropped_sends_exit() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    drop(conn);
    let p = peer.packet().await;
    assert_eq!(p.command, "exit");
    peer.send(reply("+OK bye")).await;
    peer.send(GOODBYE).await;
    assert!(peer.until_closed().await.is_empty());
}

#[tokio::test]
async fn a_command_with_crlf_fails_before_anything_is_sent() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let err = conn.api("status\n\nexit").await.unwrap_err();
    assert!(matches!(err, Error::InvalidCommand(_)), "{err}");
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    assert_eq!(peer.packet().await.command, "api status");
    peer.send(api("UP")).await;
    t.await.unwrap().unwrap();
}

// ----- CommandSocket -----

async fn command_socket(
    options: ConnectOptions,
) -> (
    tokio::task::JoinHandle<librevox::Result<CommandSocket>>,
    Peer,
) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let t = tokio::spawn(CommandSocket::connect_io(client, options));
    (t, Peer::new(server))
}

#[tokio::test]
async fn command_socket_waits_for_the_greeting_and_authenticates() {
    let (t, mut peer) = command_socket(ConnectOptions::default().password("s3cret")).await;
    peer.send("Content-Type: auth/request\n\n").await;
    let p = peer.packet().await;
    assert_eq!(p.raw.as_ref(), b"auth s3cret\n\n");
    peer.send(reply("+OK accepted")).await;
    let socket = t.await.unwrap().unwrap();
    let api_call = tokio::spawn(async move {
        let r = socket.api("no_such_command").await;
        (socket, r)
    });
    assert_eq!(peer.packet().await.command, "api no_such_command");
    peer.send(api("-ERR no_such_command Command not found!\n"))
        .await;
    let (socket, r) = api_call.await.unwrap();
    match r {
        Err(Error::CommandFailed { command, reply }) => {
            assert_eq!(command, "api no_such_command");
            assert_eq!(reply, "-ERR no_such_command Command not found!");
        }
        other => panic!("{other:?}"),
    }
    let close = tokio::spawn(socket.close());
    assert_eq!(peer.packet().await.command, "exit");
    peer.send(reply("+OK bye")).await;
    peer.send(GOODBYE).await;
    drop(peer);
    close.await.unwrap().unwrap();
}

#[tokio::test]
async fn command_socket_userauth() {
    let (t, mut peer) = command_socket(
        ConnectOptions::default()
            .user("bob@example.com")
            .password("pw"),
    )
    .await;
    peer.send("Content-Type: auth/request\n\n").await;
    assert_eq!(
        peer.packet().await.raw.as_ref(),
        b"userauth bob@example.com:pw\n\n"
    );
    peer.send("Content-Type: command/reply\nReply-Text: +OK accepted\nAllowed-Events: all\nAllowed-API: all\nAllowed-LOG: true\n\n").await;
    t.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error() {
    let (t, mut peer) = command_socket(ConnectOptions::default().password("wrong")).await;
    peer.send("Content-Type: auth/request\n\n").await;
    peer.packet().await;
    peer.send(reply("-ERR invalid")).await;
    peer.send(GOODBYE).await;
    drop(peer);
    match t.await.unwrap() {
        Err(Error::Auth { reply }) => assert_eq!(reply, "-ERR invalid"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_rude_rejection_is_reported() {
    let (t, mut peer) = command_socket(ConnectOptions::default()).await;
    let capture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/captures/rude_rejection.raw.txt"
    ))
    .unwrap();
    peer.send(capture).await;
    drop(peer);
    match t.await.unwrap() {
        Err(Error::Rejected { reason }) => assert_eq!(reason, "Access Denied, go away."),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let (t, _peer) =
        command_socket(ConnectOptions::default().connect_timeout(Duration::from_secs(4))).await;
    match t.await.unwrap() {
        Err(Error::Timeout { after, .. }) => assert_eq!(after, Duration::from_secs(4)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn command_socket_bgapi_subscribes_to_background_jobs_once() {
    let (t, mut peer) = command_socket(ConnectOptions::default()).await;
    peer.send("Content-Type: auth/request\n\n").await;
    peer.packet().await;
    peer.send(reply("+OK accepted")).await;
    let socket = t.await.unwrap().unwrap();
    let jobs = tokio::spawn(async move {
        let a = socket.bgapi("status").await?.output().await?;
        let b = socket.bgapi("version").await?.output().await?;
        Ok::<_, Error>((a, b))
    });
    assert_eq!(peer.packet().await.command, "event plain BACKGROUND_JOB");
    peer.send(reply("+OK event listener enabled plain")).await;
    for (cmd, out) in [
        ("bgapi status", "UP\n"),
        ("bgapi version", "FreeSWITCH 1.11\n"),
    ] {
        let p = peer.packet().await;
        assert_eq!(p.command, cmd);
        let job = p.header("Job-UUID").unwrap().to_owned();
        peer.send(format!(
            "Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
        ))
        .await;
        peer.send(event(
            &[("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", &job)],
            Some(out),
        ))
        .await;
    }
    let (a, b) = jobs.await.unwrap().unwrap();
    assert_eq!(a, "UP\n");
    assert_eq!(b, "FreeSWITCH 1.11\n");
}

#[tokio::test]
async fn command_socket_execute_waits_for_the_completion() {
    let (t, mut peer) = command_socket(ConnectOptions::default()).await;
    peer.send("Content-Type: auth/request\n\n").await;
    peer.packet().await;
    peer.send(reply("+OK accepted")).await;
    let socket = t.await.unwrap().unwrap();
    let run = tokio::spawn(async move {
        // Queued only (the +OK), then run and waited for.
        let ack = socket
            .sendmsg(&SendMsg::execute("answer", "").uuid("ch-1"))
            .await?;
        let done = socket
            .execute(SendMsg::execute("playback", "welcome.wav").uuid("ch-1"))
            .await?;
        Ok::<_, Error>((ack.text().to_owned(), done))
    });
    let p = peer.packet().await;
    assert_eq!(
        p.raw.as_ref(),
        b"sendmsg ch-1\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n"
    );
    peer.send(reply("+OK")).await;
    assert_eq!(
        peer.packet().await.command,
        "event plain CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE"
    );
    peer.send(reply("+OK event listener enabled plain")).await;
    let p = peer.packet().await;
    assert_eq!(p.header("execute-app-arg"), Some("welcome.wav"));
    let uuid = p.header("Event-UUID").unwrap().to_owned();
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", "ch-1"),
            ("Application", "playback"),
            ("Application-UUID", &uuid),
        ],
        None,
    ))
    .await;
    let (ack, done) = run.await.unwrap().unwrap();
    assert_eq!(ack, "+OK");
    assert_eq!(done.application(), Some("playback"));
}

#[test]
fn the_blocking_command_socket_reports_a_refused_connection() {
    // Bind then drop a listener, so the port is closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = librevox::blocking::CommandSocket::connect(&format!("127.0.0.1:{port}"), "ClueCon")
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
}

#[test]
fn the_blocking_command_socket_runs_commands() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"Content-Type: auth/request\n\n").unwrap();
        let mut buf = [0u8; 256];
        let mut read_packet_text = |s: &mut std::net::TcpStream| {
            let mut got = Vec::new();
            while !got.ends_with(b"\n\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            String::from_utf8(got).unwrap()
        };
        assert_eq!(read_packet_text(&mut s), "auth ClueCon\n\n");
        s.write_all(reply("+OK accepted").as_bytes()).unwrap();
        assert_eq!(read_packet_text(&mut s), "api status\n\n");
        s.write_all(api("UP 0 years").as_bytes()).unwrap();
        assert_eq!(read_packet_text(&mut s), "exit\n\n");
        s.write_all(reply("+OK bye").as_bytes()).unwrap();
        s.write_all(GOODBYE.as_bytes()).unwrap();
    });
    let socket = librevox::blocking::CommandSocket::connect(&addr, "ClueCon").unwrap();
    assert_eq!(socket.api("status").unwrap().text(), "UP 0 years");
    socket.close().unwrap();
    server.join().unwrap();
}

#[tokio::test]
async fn an_application_for_a_channel_that_ended_fails_at_once() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_HANGUP_COMPLETE"),
            ("Unique-ID", "gone"),
            ("Hangup-Cause", "NORMAL_CLEARING"),
        ],
        None,
    ))
    .await;
    // A round trip orders the event before the next command.
    let c = conn.clone();
    let t = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(api("UP")).await;
    t.await.unwrap().unwrap();
    let t = spawn_execute(&conn, SendMsg::execute("playback", "x.wav").uuid("gone"));
    peer.packet().await;
    peer.send(reply("+OK")).await;
    // No completion is ever sent, and the default app timeout is hours.
    assert_hangup(
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .unwrap()
            .unwrap(),
        "gone",
        "NORMAL_CLEARING",
    );
}

#[tokio::test]
async fn a_completion_reporting_the_hangup_is_a_hangup_error() {
    let (conn, _events, mut peer) = pair(ConnectionConfig::default());
    let playback = spawn_execute(
        &conn,
        SendMsg::execute("playback", "x.wav")
            .uuid("ch")
            .event_uuid("P"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", "ch"),
            ("Answer-State", "hangup"),
            ("Hangup-Cause", "ORIGINATOR_CANCEL"),
            ("Application", "playback"),
            ("Application-Response", "PLAYBACK%20ERROR"),
            ("Application-UUID", "P"),
        ],
        None,
    ))
    .await;
    assert_hangup(playback.await.unwrap(), "ch", "ORIGINATOR_CANCEL");
    // The hangup application itself completes normally on a hung-up channel.
    let hangup = spawn_execute(
        &conn,
        SendMsg::execute("hangup", "").uuid("ch2").event_uuid("H"),
    );
    peer.packet().await;
    peer.send(reply("+OK")).await;
    peer.send(event(
        &[
            ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
            ("Unique-ID", "ch2"),
            ("Answer-State", "hangup"),
            ("Application", "hangup"),
            ("Application-UUID", "H"),
        ],
        None,
    ))
    .await;
    assert!(hangup.await.unwrap().is_ok());
}

mod robustness {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static PANICS: AtomicUsize = AtomicUsize::new(0);

    /// Counts every panic in the process, including ones tokio would catch
    /// in the driver task.
    fn count_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                PANICS.fetch_add(1, Ordering::SeqCst);
                default(info);
            }));
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the peer sends, a waiting command ends (with a reply or a
        /// typed error) once the peer closes, and nothing panics.
        #[test]
        fn arbitrary_peer_bytes_end_in_a_typed_result_not_a_panic(
            junk in proptest::collection::vec(any::<u8>(), 0..2000),
            framed in any::<bool>(),
        ) {
            count_panics();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let (conn, mut events, mut peer) = pair(ConnectionConfig::default());
                let c = conn.clone();
                let t = tokio::spawn(async move { c.api("status").await });
                peer.packet().await;
                if framed {
                    // Junk inside a well-formed event frame.
                    let head = format!("Content-Length: {}\nContent-Type: text/event-plain\n\n", junk.len());
                    let _ = peer.io.write_all(head.as_bytes()).await;
                }
                let _ = peer.io.write_all(&junk).await;
                drop(peer);
                let r = tokio::time::timeout(Duration::from_secs(5), t).await;
                assert!(r.is_ok(), "the waiting command did not end");
                while tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("the stream ends").is_some() {}
                assert!(conn.is_closed());
            });
            prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0);
        }
    }
}

/// 13.8: a peer that stops reading. Past `write_high_water` unwritten
/// bytes the connection takes no more commands: their callers time out
/// and are never written, so what the connection held (everything it
/// writes once the peer reads again) stays within the mark, and later
/// replies stay aligned.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_bounds_the_write_buffer_and_callers_time_out() {
    const HIGH_WATER: usize = 32 * 1024;
    const CALLERS: usize = 400;
    let pad = "x".repeat(4000);
    let config = ConnectionConfig {
        reply_timeout: Duration::from_secs(1),
        write_high_water: HIGH_WATER,
        liveness: None,
        ..ConnectionConfig::default()
    };
    let (conn, _events, mut peer) = pair(config);
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let c = conn.clone();
            let cmd = format!("echo {i} {pad}");
            tokio::spawn(async move { c.api(&cmd).await })
        })
        .collect();
    for t in callers {
        let err = t.await.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::Timeout { .. }),
            "expected a timeout, got {err}"
        );
    }
    let c = conn.with_timeout(Duration::from_secs(60));
    let marker = tokio::spawn(async move { c.api("echo marker").await });
    // The peer reads again and answers every command, in order.
    let mut before_marker = 0;
    loop {
        let p = peer.packet().await;
        peer.send(api(&p.command)).await;
        if p.command == "api echo marker" {
            break;
        }
        before_marker += p.raw.len();
    }
    assert_eq!(marker.await.unwrap().unwrap().text(), "api echo marker");
    // The in-memory pipe holds 64 KiB; the connection at most the mark plus
    // the one command that crossed it.
    let bound = (1 << 16) + HIGH_WATER + pad.len() + 64;
    assert!(
        before_marker <= bound,
        "{before_marker} bytes were written for callers that had given up (bound {bound}; {} were sent)",
        CALLERS * pad.len()
    );
}

/// The read buffer is reused, or its unconsumed tail moved, while frames
/// split off it are still held: events from 10 bytes to beyond the largest
/// read (256 KiB), written in chunks that cut frames anywhere, each arrive
/// whole and in order, with earlier events kept alive meanwhile.
#[tokio::test]
async fn events_of_every_size_across_reads_arrive_whole_while_earlier_ones_are_held() {
    let (_conn, mut events, mut peer) = pair(ConnectionConfig::default());
    let sizes = [
        10usize, 3_000, 70_000, 5, 300_000, 1, 4_095, 4_096, 4_097, 130_000, 600_000, 2,
    ];
    let bodies: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (0..n)
                .map(|k| char::from(b'a' + ((i * 7 + k) % 26) as u8))
                .collect()
        })
        .collect();
    let mut wire = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let seq = i.to_string();
        wire.extend_from_slice(
            event(
                &[("Event-Name", "CUSTOM"), ("Event-Sequence", &seq)],
                Some(body),
            )
            .as_bytes(),
        );
    }
    let writer = tokio::spawn(async move {
        // Chunk sizes that are not multiples of anything the reader uses.
        let chunks = [1usize, 7, 4_093, 65_537, 333, 250_001, 17];
        let mut at = 0;
        let mut k = 0;
        while at < wire.len() {
            let end = (at + chunks[k % chunks.len()]).min(wire.len());
            peer.io.write_all(&wire[at..end]).await.unwrap();
            at = end;
            k += 1;
        }
        peer
    });
    let mut held = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let got = match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(Message::Event(e))) => e,
            other => panic!("event {i}: expected an event, got {other:?}"),
        };
        assert_eq!(got.sequence(), Some(i as u64), "event {i} out of order");
        assert_eq!(
            got.body().map(|b| b.as_ref()),
            Some(body.as_bytes()),
            "event {i}: body of {} bytes changed",
            body.len()
        );
        held.push(got);
    }
    // The held events still read as they came, after all later reads.
    for (i, (e, body)) in held.iter().zip(&bodies).enumerate() {
        assert_eq!(
            e.body().map(|b| b.as_ref()),
            Some(body.as_bytes()),
            "held event {i}"
        );
    }
    let _peer = writer.await.unwrap();
}
