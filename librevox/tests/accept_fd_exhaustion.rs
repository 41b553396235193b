//! The outbound accept loop while file descriptors are exhausted (issue
//! 13.5): accepting pauses (5 ms doubling to 500 ms) instead of failing every
//! 50 ms, one warning a second at most with a count, and the pending call is
//! served once descriptors are free again.
//!
//! The only test of its own binary, so its own process: it lowers
//! `RLIMIT_NOFILE` and uses up every descriptor, which would break tests
//! running beside it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use librevox::listener::{serve_outbound, OutboundListener, OutboundSettings, Session};
use librevox::Shutdown;

struct Idle;

impl OutboundListener for Idle {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        Ok(())
    }
}

/// The log lines, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The number after `field=` in a log line.
fn field(line: &str, field: &str) -> u64 {
    let at = line.find(&format!("{field}=")).expect("the field") + field.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn set_nofile(limit: u64) {
    let rlim = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct it is given and nothing else.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn out_of_descriptors_the_accept_loop_pauses_and_warns_once_a_second() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let settings = OutboundSettings {
            shutdown_grace: Duration::from_secs(1),
            ..OutboundSettings::default()
        };
        let server = tokio::spawn(serve_outbound(
            listener,
            || Idle,
            settings,
            shutdown.clone(),
        ));
        // A few descriptors above what is open, then every one of them taken
        // but the one the caller's socket needs.
        set_nofile(open_descriptors() + 32);
        let mut hog = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hog.push(f),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(hog.len() >= 16, "only {} descriptors were free", hog.len());
        hog.pop();
        let mut caller = std::net::TcpStream::connect(addr).unwrap();
        let exhausted = Instant::now();
        // The window the accept loop fails in.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let warnings = logs.lines("accept failed");
        let elapsed = exhausted.elapsed();
        drop(hog);
        // The pending call is accepted at the end of the current pause
        // (500 ms at most) and served.
        caller
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut greeting = [0u8; 9];
        caller.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting, b"connect\n\n");
        // Logged before the call was started, so already there.
        let recovered = logs.lines("accepting calls again");
        assert_eq!(recovered.len(), 1, "{recovered:?}");
        let failures = field(&recovered[0], "failures");
        // One line a second at most, the first at once.
        assert!(!warnings.is_empty(), "no warning at all");
        assert!(
            warnings.len() as u64 <= 1 + elapsed.as_secs(),
            "{} warnings in {elapsed:?}: {warnings:#?}",
            warnings.len()
        );
        for w in &warnings {
            assert!(w.contains("WARN"), "{w}");
            assert!(w.contains("Too many open files"), "{w}");
        }
        let reported: u64 = warnings.iter().map(|w| field(w, "failures")).sum();
        assert!(reported <= failures, "{reported} reported of {failures}");
        // Pauses of 5, 10, .. 320 ms, then 500 ms each: in the window and the
        // last pause at most 8 + (elapsed + 500 ms) / 500 ms attempts (every
        // 50 ms before: about 60).
        let bound = 8 + (elapsed.as_millis() as u64 + 500) / 500;
        assert!(
            (2..=bound).contains(&failures),
            "{failures} failed accepts in {elapsed:?} (at most {bound})"
        );
        drop(caller);
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stopped")
            .unwrap()
            .unwrap();
    });
}
