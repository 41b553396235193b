//! `CommandSocket`: api, bgapi, originate, errors.

use librevox::commands::{Commands as _, Originate};
use librevox::{new_uuid, ConnectOptions, Error};
use librevox_live_tests::{within, Calls, Switch, Watcher, WAIT};

/// A B leg that answers and stays: the A leg (ours) is answered as soon as
/// the call is set up.
pub const ANSWERED: &str = "loopback/^^;answer;park/default/inline";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_status_says_the_switch_is_ready() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let status = within("api status", WAIT, socket.status()).await.unwrap();
    assert!(status.starts_with("UP "), "{status}");
    assert!(status.contains(" is ready\n"), "{status}");
    socket.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgapi_job_resolves_with_the_command_output() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let job = within("bgapi", WAIT, socket.bgapi("echo hi there"))
        .await
        .unwrap();
    let job_uuid = job.uuid().to_owned();
    let event = within("the BACKGROUND_JOB", WAIT, job.wait())
        .await
        .unwrap();
    assert!(event.is("BACKGROUND_JOB"));
    assert_eq!(event.header("Job-UUID"), Some(job_uuid.as_str()));
    assert_eq!(event.header("Job-Command"), Some("echo"));
    assert_eq!(event.header("Job-Command-Arg"), Some("hi there"));
    assert_eq!(event.body_str().as_deref(), Some("hi there"));
    // A failing background command resolves too, as the switch's error.
    let job = within("bgapi", WAIT, socket.bgapi("no_such_command"))
        .await
        .unwrap();
    match within("the BACKGROUND_JOB", WAIT, job.output()).await {
        Err(Error::CommandFailed { reply, .. }) => {
            assert_eq!(reply, "-ERR no_such_command Command not found!")
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    socket.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_to_loopback_returns_the_new_channel() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let mut watcher = Watcher::new(&switch, &["CHANNEL_DESTROY"], &[("Unique-ID", &uuid)]).await;
    let originate = Originate::new(ANSWERED).var("origination_uuid", &uuid);
    let answered = within("originate", WAIT, socket.originate(&originate))
        .await
        .unwrap();
    assert_eq!(answered, uuid);
    assert_eq!(
        within(
            "uuid_exists",
            WAIT,
            socket.api(&format!("uuid_exists {uuid}"))
        )
        .await
        .unwrap()
        .text(),
        "true"
    );
    let killed = within("uuid_kill", WAIT, socket.uuid_kill(&uuid, None))
        .await
        .unwrap();
    assert_eq!(killed, "+OK\n");
    let destroyed = watcher.destroyed(&uuid).await;
    assert_eq!(destroyed.header("Hangup-Cause"), Some("NORMAL_CLEARING"));
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn err_replies_are_command_failed_with_the_switch_text() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let err = within("api", WAIT, socket.api("no_such_command"))
        .await
        .unwrap_err();
    match err {
        Error::CommandFailed { reply, .. } => {
            assert_eq!(reply, "-ERR no_such_command Command not found!")
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    // A call nobody routes fails with the switch's cause.
    let err = within(
        "originate",
        WAIT,
        socket.originate(&Originate::new("loopback/no_such_extension/default")),
    )
    .await
    .unwrap_err();
    match err {
        Error::CommandFailed { reply, .. } => assert_eq!(reply, "-ERR NO_ROUTE_DESTINATION"),
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    // The socket is still usable after errors.
    assert_eq!(
        within("api", WAIT, socket.api("echo still here"))
            .await
            .unwrap()
            .text(),
        "still here"
    );
    socket.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_auth() {
    let switch = Switch::from_env();
    let err = within(
        "auth",
        WAIT,
        ConnectOptions::new(switch.addr())
            .password("not-the-password")
            .connect(),
    )
    .await
    .unwrap_err();
    match err {
        Error::Auth { reply } => assert_eq!(reply, "-ERR invalid"),
        other => panic!("expected Auth, got {other:?}"),
    }
}

/// Dial-string variables reach the new channel exactly as given, through
/// `originate`'s line splitting and the switch's `{}`/`[]` parsing: commas
/// (`^^;`), spaces (`\s`), quotes (`\\'`), `|` and `=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_dial_string_variables_arrive_as_written() {
    use librevox::protocol::{Dial, Endpoint};
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let values = [
        ("t_comma", "x,y"),
        ("t_space", "John Doe"),
        ("t_quote", "it's"),
        ("t_quote2", "rock'n roll"),
        ("t_pipe", "a|b"),
        ("t_equals", "x=y"),
    ];
    let mut dial = Dial::to(Endpoint::Raw(ANSWERED.to_owned()))
        .leg_var("t_leg", "p,q r")
        .var("origination_uuid", &uuid);
    for (name, value) in values {
        dial = dial.var(name, value);
    }
    dial.check().unwrap();
    let answered = within("originate", WAIT, socket.originate(&Originate::new(dial)))
        .await
        .unwrap();
    assert_eq!(answered, uuid);
    for (name, value) in values.into_iter().chain([("t_leg", "p,q r")]) {
        let got = within(
            "uuid_getvar",
            WAIT,
            socket.api(&format!("uuid_getvar {uuid} {name}")),
        )
        .await
        .unwrap();
        assert_eq!(got.text(), value, "{name}");
    }
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}
