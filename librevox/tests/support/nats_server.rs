//! A real nats-server for the NATS tier, started and killed by a test
//! (shared by `librevox/tests/nats.rs` and `librevox-cli/tests/bridge.rs`).
//!
//! The server is found in `$NATS_SERVER`, then `/usr/sbin/nats-server`, then
//! `nats-server` on PATH; a missing server fails the test, never skips it.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or killed) nats-server with its own port and store.
pub struct NatsServer {
    /// Its client port.
    pub port: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// The nats-server binary to run.
pub fn nats_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        return sbin;
    }
    PathBuf::from("nats-server")
}

impl NatsServer {
    /// Starts one on a free port with JetStream and a temporary store.
    pub fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = std::env::temp_dir().join(format!(
            "librevox-nats-{}-{port}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&store).expect("temp store dir");
        let mut s = NatsServer {
            port,
            store,
            child: None,
        };
        s.spawn();
        s
    }

    /// Starts the server (again) on the same port with the same store.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let bin = nats_server_binary();
        let child = Command::new(&bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): install nats-server (`apt-get install -y nats-server`) \
                     or set NATS_SERVER to its path",
                    bin.display()
                )
            });
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
