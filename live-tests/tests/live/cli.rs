//! The `librevox` binary against the real switch: api, bgapi, events
//! --output json, originate.

use std::process::{Command, Output, Stdio};

use librevox::commands::Commands as _;
use librevox::new_uuid;
use librevox_live_tests::{librevox_binary as binary, within, Calls, Switch, Watcher, WAIT};
use tokio::io::{AsyncBufReadExt, BufReader};

/// `librevox <args>` pointed at the switch through the `LIBREVOX_*`
/// variables.
fn cli(switch: &Switch) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env("LIBREVOX_HOST", &switch.host)
        .env("LIBREVOX_PORT", switch.port.to_string())
        .env("LIBREVOX_PASSWORD", &switch.password)
        .env_remove("LIBREVOX_USER")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion within [`WAIT`].
async fn run(cmd: Command) -> Output {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    within("the librevox binary", WAIT, cmd.output())
        .await
        .expect("the librevox binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_api_prints_the_output_and_fails_on_err() {
    let switch = Switch::from_env();
    let mut cmd = cli(&switch);
    cmd.args(["api", "echo", "hello", "live"]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "hello live\n");

    let mut cmd = cli(&switch);
    cmd.args(["api", "no_such_command"]);
    let out = run(cmd).await;
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("-ERR no_such_command Command not found!"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bgapi_prints_the_jobs_output() {
    let switch = Switch::from_env();
    let mut cmd = cli(&switch);
    cmd.args(["bgapi", "echo", "from", "a", "job"]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "from a job\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_originate_prints_the_uuid_and_events_json_shows_the_call() {
    let switch = Switch::from_env();
    let socket = switch.connect().await;
    let calls = Calls::new(&switch);
    let uuid = calls.add(new_uuid());
    let mut watcher = Watcher::new(&switch, &["CHANNEL_DESTROY"], &[("Unique-ID", &uuid)]).await;

    // `events --output json`: one JSON object per line, here the call's
    // two events, then it exits (`--count`).
    let mut events = tokio::process::Command::from({
        let mut c = cli(&switch);
        c.args(["events", "--output", "json", "--count", "2"])
            .arg("--filter")
            .arg(format!("Unique-ID={uuid}"))
            .args(["CHANNEL_CREATE", "CHANNEL_DESTROY"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    });
    events.kill_on_drop(true);
    let mut events = events.spawn().expect("librevox events starts");
    let mut stderr = BufReader::new(events.stderr.take().unwrap()).lines();
    let stdout_pipe = events.stdout.take().unwrap();
    // It says so on stderr once the subscription is in place.
    let ready = within("librevox events to subscribe", WAIT, stderr.next_line())
        .await
        .expect("librevox events' stderr")
        .expect("a line on stderr");
    assert_eq!(
        ready,
        format!(
            "librevox events: subscribed on {} (CHANNEL_CREATE CHANNEL_DESTROY)",
            switch.addr()
        )
    );

    let mut cmd = cli(&switch);
    cmd.args([
        "originate",
        "--var",
        &format!("origination_uuid={uuid}"),
        "loopback/^^;answer;park/default/inline",
        "&park()",
    ]);
    let out = run(cmd).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), format!("{uuid}\n"));
    socket.uuid_kill(&uuid, None).await.unwrap();
    watcher.destroyed(&uuid).await;

    let mut lines = BufReader::new(stdout_pipe).lines();
    let mut names = Vec::new();
    within("the call's events on librevox events", WAIT, async {
        while let Some(line) = lines.next_line().await.expect("librevox events' output") {
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            assert_eq!(value["headers"]["Unique-ID"], uuid.as_str(), "{line}");
            names.push(
                value["headers"]["Event-Name"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
            );
        }
    })
    .await;
    assert_eq!(names, ["CHANNEL_CREATE", "CHANNEL_DESTROY"]);
    let status = within("librevox events to exit", WAIT, events.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    calls.cleanup(&socket).await;
    socket.close().await.unwrap();
}
