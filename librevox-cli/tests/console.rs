//! The interactive console, driven in a pseudo-terminal against the
//! simulator, as a person at a terminal would drive it.
//!
//! The test reads the console's output through a terminal emulator (vt100)
//! and asserts on the screen; the emulator's cursor also answers the
//! console's cursor-position queries, as a real terminal does.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::simulator::{CallSpec, Extension, Simulator, SimulatorConfig};
use rexpect::process::{PtyProcess, WaitStatus};

const ROWS: u16 = 60;
const COLS: u16 = 200;
/// Every wait for the screen gives up (and fails the test) after this.
const WAIT: Duration = Duration::from_secs(15);

/// A console running in a pseudo-terminal.
struct Console {
    process: PtyProcess,
    input: File,
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

/// A fresh home for one test: config, data and HOME all inside it.
fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "librevox-console-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const DSR: &[u8] = b"\x1b[6n";

impl Console {
    fn spawn(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Console {
        let bin = env!("CARGO_BIN_EXE_librevox");
        // The terminal's size is set the way a shell user would.
        let mut script = format!("stty rows {ROWS} cols {COLS}; exec '{bin}'");
        for a in args {
            script.push_str(&format!(" '{a}'"));
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        for var in [
            "LIBREVOX_HOST",
            "LIBREVOX_PORT",
            "LIBREVOX_PASSWORD",
            "LIBREVOX_USER",
            "LIBREVOX_TIMEOUT",
            "LIBREVOX_JOB_TIMEOUT",
            "LIBREVOX_PROFILE",
            "LIBREVOX_CONFIG",
            "NO_COLOR",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = PtyProcess::new(cmd).expect("spawning in a pty");
        process.set_kill_timeout(Some(2000));
        let mut output = process.get_file_handle().unwrap();
        let mut answer = process.get_file_handle().unwrap();
        let input = process.get_file_handle().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            1000,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (screen.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut held: Vec<u8> = Vec::new();
            loop {
                let n = match output.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                r.lock().unwrap().extend_from_slice(&buf[..n]);
                held.extend_from_slice(&buf[..n]);
                // Feed the emulator up to each cursor-position query and
                // answer it from the emulator's cursor.
                while let Some(i) = held.windows(DSR.len()).position(|w| w == DSR) {
                    let mut p = s.lock().unwrap();
                    p.process(&held[..i + DSR.len()]);
                    let (row, col) = p.screen().cursor_position();
                    drop(p);
                    let _ = write!(answer, "\x1b[{};{}R", row + 1, col + 1);
                    held.drain(..i + DSR.len());
                }
                // Keep back a possible start of a query split across reads.
                let keep = (1..DSR.len())
                    .rev()
                    .find(|&k| held.ends_with(&DSR[..k]))
                    .unwrap_or(0);
                let upto = held.len() - keep;
                s.lock().unwrap().process(&held[..upto]);
                held.drain(..upto);
            }
        });
        Console {
            process,
            input,
            screen,
            raw,
        }
    }

    fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// The screen and its scrollback, as text.
    fn text(&self) -> String {
        let mut p = self.screen.lock().unwrap();
        let mut all = String::new();
        // Row 0 of a view scrolled back by `k` is the `k`-th line above
        // the screen: walk from the oldest line to the newest.
        let mut back = Vec::new();
        for k in (1..=p.screen().scrollback_len()).rev() {
            p.screen_mut().set_scrollback(k);
            back.push(p.screen().rows(0, COLS).next().unwrap_or_default());
        }
        p.screen_mut().set_scrollback(0);
        back.extend(p.screen().rows(0, COLS));
        for line in back {
            all.push_str(line.trim_end());
            all.push('\n');
        }
        all
    }

    /// Waits until the screen satisfies `pred`; fails with the screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {WAIT:?} for {what}; the screen:\n{text}\nraw output: {:?}",
                    String::from_utf8_lossy(&self.raw.lock().unwrap())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_text(&self, needle: &str) -> String {
        self.wait_for(&format!("{needle:?}"), |t| t.contains(needle))
    }

    /// The line the cursor is on (the prompt and what is being typed).
    fn cursor_line(&self) -> String {
        let p = self.screen.lock().unwrap();
        let (row, _) = p.screen().cursor_position();
        let line = p.screen().rows(0, COLS).nth(row as usize);
        line.unwrap_or_default().trim_end().to_owned()
    }

    fn wait_cursor_line(&self, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let line = self.cursor_line();
            if line == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {WAIT:?} for the line {expected:?}; it is {line:?}; screen:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The colour of the first cell of the first screen row holding `needle`.
    fn color_of(&self, needle: &str) -> vt100::Color {
        let p = self.screen.lock().unwrap();
        let screen = p.screen();
        for (row, line) in screen.rows(0, COLS).enumerate() {
            if let Some(col) = line.find(needle) {
                return screen
                    .cell(row as u16, col as u16)
                    .map(|c| c.fgcolor())
                    .unwrap();
            }
        }
        panic!("{needle:?} is not on the screen:\n{}", screen.contents());
    }

    fn raw(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    /// Waits for the process to end; its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.process.status() {
                Some(WaitStatus::Exited(_, code)) => return code,
                Some(WaitStatus::StillAlive) | None => {}
                Some(other) => panic!("the console ended with {other:?}"),
            }
            if Instant::now() > deadline {
                panic!("the console did not exit; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn sim_on(port: u16) -> Simulator {
    Simulator::start(
        SimulatorConfig {
            listen: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            ..SimulatorConfig::default()
        }
        .extension(Extension::park("park")),
    )
    .await
    .unwrap()
}

async fn sim() -> (Simulator, u16) {
    let sim = sim_on(0).await;
    let port = sim.local_addr().unwrap().port();
    (sim, port)
}

/// Everything the simulator received, as text.
fn received(sim: &Simulator) -> Vec<String> {
    sim.connections()
        .iter()
        .flat_map(|c| {
            c.received
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        })
        .collect()
}

fn prompt(port: u16) -> String {
    format!("127.0.0.1:{port}>")
}

/// Runs blocking console steps off the runtime the simulator lives on.
async fn steps<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runs_and_its_output_shows() {
    let (sim, port) = sim().await;
    let home = home("command");
    let p = port.to_string();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("status\r");
        c.wait_text("FreeSWITCH (Version");
        let t = c.wait_text("UP 0 years");
        assert!(t.contains(&format!("{} status", prompt(port))), "{t}");
        c.send("no_such_command\r");
        c.wait_text("-ERR no_such_command Command not found!");
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
    assert!(received(&sim).contains(&"api status\n\n".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_kept_across_runs_recalled_and_searched() {
    let (_sim, port) = sim().await;
    let home = home("history");
    let p = port.to_string();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("echo first-run-marker\r");
        c.wait_for("the echo", |t| t.matches("first-run-marker").count() >= 2);
        c.send("echo second\r");
        c.wait_for("the second echo", |t| t.matches("second").count() >= 2);
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
        let file = std::fs::read_to_string(home.join("data/librevox/history")).unwrap();
        assert!(file.contains("echo first-run-marker"), "{file:?}");

        // A new console recalls it: Up twice, then Enter.
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("\x1b[A");
        c.wait_cursor_line(&format!("{} echo second", prompt(port)));
        c.send("\x1b[A");
        c.wait_cursor_line(&format!("{} echo first-run-marker", prompt(port)));
        c.send("\r");
        c.wait_for("the recalled echo", |t| {
            t.lines().filter(|l| l.trim() == "first-run-marker").count() == 1
        });
        // Ctrl-R finds it by a piece of it.
        c.send("\x12");
        c.send("run-mar");
        c.wait_for("the search", |t| t.contains("reverse-search: run-mar"));
        // Enter takes the match into the line, a second Enter runs it.
        c.send("\r");
        c.wait_cursor_line(&format!("{} echo first-run-marker", prompt(port)));
        c.send("\r");
        c.wait_for("the searched echo", |t| {
            t.lines().filter(|l| l.trim() == "first-run-marker").count() == 2
        });
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_completes_channel_uuids_and_console_commands() {
    let (sim, port) = sim().await;
    let call = sim.place_call(CallSpec::new("park"));
    sim.wait_for(WAIT, |s| s.channel(&call.uuid).is_some())
        .await
        .unwrap();
    let home = home("complete");
    let p = port.to_string();
    let uuid = call.uuid.clone();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("uuid_kill \t");
        c.wait_cursor_line(&format!("{} uuid_kill {uuid}", prompt(port)));
        c.send("\r");
        c.wait_text("+OK");
        c.send("/he\t");
        c.wait_cursor_line(&format!("{} /help", prompt(port)));
        c.send("\r");
        c.wait_text("Console commands:");
        c.send("/log deb\t");
        c.wait_cursor_line(&format!("{} /log debug", prompt(port)));
        // Ctrl-C drops the line; Ctrl-D on an empty line leaves.
        c.send("\x03");
        c.wait_cursor_line(&prompt(port));
        // API names and their arguments come from the switch's own
        // `console_complete`.
        c.send("sho\t");
        c.wait_cursor_line(&format!("{} show", prompt(port)));
        c.send("chan\t");
        c.wait_cursor_line(&format!("{} show channels", prompt(port)));
        c.send("\x03");
        c.wait_cursor_line(&prompt(port));
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
    sim.wait_for(WAIT, |s| s.channel(&call.uuid).is_none())
        .await
        .unwrap();
    assert!(received(&sim)
        .iter()
        .any(|p| p == "api show channels as json\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_arrive_coloured_by_level() {
    let (sim, port) = sim().await;
    let home = home("log");
    let p = port.to_string();
    let sim = Arc::new(sim);
    let s = sim.clone();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("/log debug\r");
        c.wait_text("+OK log level debug [7]");
        s.log(7, "a-debug-line");
        s.log(3, "an-error-line");
        c.wait_text("[DEBUG] simulator.c:1 a-debug-line");
        c.wait_text("[ERR] simulator.c:1 an-error-line");
        assert_eq!(c.color_of("a-debug-line"), vt100::Color::Idx(3), "yellow");
        assert_eq!(c.color_of("an-error-line"), vt100::Color::Idx(1), "red");
        // The prompt is still usable under the stream.
        c.wait_cursor_line(&prompt(port));
        c.send("/nolog\r");
        c.wait_text("+OK no longer logging");
        s.log(3, "after-nolog");
        c.send("echo done\r");
        c.wait_for("the echo", |t| t.lines().any(|l| l.trim() == "done"));
        assert!(!c.text().contains("after-nolog"));
        c.send("/quit\r");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_color_turns_colours_off() {
    let (sim, port) = sim().await;
    let home = home("nocolor");
    let p = port.to_string();
    let sim = Arc::new(sim);
    let s = sim.clone();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[("NO_COLOR", "1")]);
        c.wait_cursor_line(&prompt(port));
        c.send("/log err\r");
        c.wait_text("+OK log level err [3]");
        s.log(3, "an-error-line");
        c.wait_text("an-error-line");
        assert_eq!(c.color_of("an-error-line"), vt100::Color::Default);
        assert_eq!(c.color_of(&prompt(port)), vt100::Color::Default);
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
        // No colour sequence anywhere (SGR 30-37, 90-97, 38;5).
        let raw = c.raw();
        for code in ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[1;3", "\x1b[38;5"] {
            assert!(!raw.contains(code), "{code:?} in {raw:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_line_wider_than_the_terminal_is_shown_whole() {
    let (sim, port) = sim().await;
    let home = home("wide");
    let p = port.to_string();
    let sim = Arc::new(sim);
    let s = sim.clone();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("/event CHANNEL_PARK\r");
        c.wait_text("+OK event listener enabled plain");
        // A caller number long enough that the event's line wraps.
        let caller: String = (0..COLS as usize)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect();
        let call = s.place_call(CallSpec::new("park").caller(&caller));
        c.wait_text(&format!("CHANNEL_PARK [{}]", call.uuid));
        c.wait_cursor_line(&prompt(port));
        // The wrapped rows, joined, hold the whole line: the prompt did not
        // overwrite its continuation.
        let flat: String = c.text().lines().collect();
        assert!(
            flat.contains(&format!("{caller}->park")),
            "the continuation of the wrapped line is missing:\n{}",
            c.text()
        );
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_background_jobs_print_while_the_prompt_waits() {
    let (sim, port) = sim().await;
    let home = home("events");
    let p = port.to_string();
    let sim = Arc::new(sim);
    let s = sim.clone();
    steps(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("/event CHANNEL_PARK\r");
        c.wait_text("+OK event listener enabled plain");
        let call = s.place_call(CallSpec::new("park"));
        c.wait_text(&format!("CHANNEL_PARK [{}]", call.uuid));
        c.send("/bgapi msleep 300\r");
        c.wait_text("Job-UUID: ");
        c.wait_text("done:\n+OK");
        c.send("/noevents\r");
        c.wait_text("+OK no longer listening for events");
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    })
    .await;
    let got = received(&sim);
    assert!(
        got.contains(&"event plain CHANNEL_PARK\n\n".to_owned()),
        "{got:?}"
    );
    assert!(
        got.iter().any(|p| p.starts_with("bgapi msleep 300\n")),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_reconnects_after_a_switch_restart() {
    let (sim, port) = sim().await;
    let home = home("restart");
    let p = port.to_string();
    // The console's steps tell the test when to stop and start the switch.
    let (say, mut heard) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let (tell, told) = std::sync::mpsc::channel::<&'static str>();
    let console = tokio::task::spawn_blocking(move || {
        let mut c = Console::spawn(&home, &["--port", &p], &[]);
        c.wait_cursor_line(&prompt(port));
        c.send("/log info\r");
        c.wait_text("+OK log level info [6]");
        say.send("stop").unwrap();
        c.wait_text(&format!("librevox: lost 127.0.0.1:{port}"));
        c.wait_for("the reconnecting prompt", |_| {
            c.cursor_line()
                .starts_with(&format!("127.0.0.1:{port} (reconnecting, attempt "))
        });
        c.send("status\r");
        c.wait_text(&format!("not connected: reconnecting to 127.0.0.1:{port}"));
        say.send("start").unwrap();
        c.wait_text(&format!("librevox: reconnected to 127.0.0.1:{port}"));
        c.wait_cursor_line(&prompt(port));
        assert_eq!(told.recv_timeout(WAIT).unwrap(), "restored");
        c.send("status\r");
        c.wait_text("UP 0 years");
        c.send("\x04");
        assert_eq!(c.exit_code(), 0);
    });
    assert_eq!(heard.recv().await, Some("stop"));
    sim.shutdown().await;
    drop(sim);
    assert_eq!(heard.recv().await, Some("start"));
    let restarted = sim_on(port).await;
    // The console restores its choices on the new connection.
    restarted
        .wait_for(WAIT, |s| {
            s.connections()
                .iter()
                .any(|c| c.received.iter().any(|p| p.as_ref() == b"log info\n\n"))
        })
        .await
        .unwrap();
    tell.send("restored").unwrap();
    console.await.unwrap();
    let got = received(&restarted);
    assert!(
        got.contains(&"event plain BACKGROUND_JOB\n\n".to_owned()),
        "{got:?}"
    );
}
