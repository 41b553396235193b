//! Memory: the library's outbound server runs in a child process of its own
//! (this binary, `serve-outbound`), so that its RSS is not mixed with the
//! dialer's. The parent asks it for `/proc/self/status` figures over stdin.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio_util::sync::CancellationToken;

use crate::library;

/// `VmRSS` and `VmHWM` of this process, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child: serves the outbound listener on an ephemeral loopback port,
/// prints `PORT <n>`, then answers `rss` lines with
/// `RSS <VmRSS KiB> <VmHWM KiB> <sessions completed> <session errors> <warnings logged>`
/// until `quit` or the end of stdin.
pub async fn serve_child() -> std::io::Result<()> {
    let warnings = crate::count_warnings();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stats = Arc::new(library::OutboundStats {
        no_latency: true,
        ..Default::default()
    });
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(library::outbound_server(
        listener,
        stats.clone(),
        shutdown.clone(),
        false,
    ));
    let mut out = tokio::io::stdout();
    out.write_all(format!("PORT {port}\n").as_bytes()).await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "rss" => {
                let (rss, hwm) = rss_kib();
                let reply = format!(
                    "RSS {rss} {hwm} {} {} {}\n",
                    stats.completed.load(Ordering::Relaxed),
                    stats.errors.load(Ordering::Relaxed),
                    warnings.load(Ordering::Relaxed)
                );
                out.write_all(reply.as_bytes()).await?;
                out.flush().await?;
            }
            _ => break,
        }
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    Ok(())
}

/// A figure reported by the child.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildRss {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub completed: u64,
    pub errors: u64,
    pub warnings: u64,
}

/// The parent's handle on the child.
pub struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub addr: std::net::SocketAddr,
}

impl ServerProcess {
    pub async fn spawn() -> std::io::Result<ServerProcess> {
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .arg("serve-outbound")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| std::io::Error::other("the server process did not start"))??
            .unwrap_or_default();
        let port: u16 = first
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("unexpected first line `{first}`")))?;
        Ok(ServerProcess {
            child,
            stdin,
            lines,
            addr: ([127, 0, 0, 1], port).into(),
        })
    }

    pub async fn rss(&mut self) -> std::io::Result<ChildRss> {
        self.stdin.write_all(b"rss\n").await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .map_err(|_| std::io::Error::other("the server process did not answer"))??
            .unwrap_or_default();
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() != 5 {
            return Err(std::io::Error::other(format!("unexpected reply `{line}`")));
        }
        Ok(ChildRss {
            rss_kib: v[0],
            hwm_kib: v[1],
            completed: v[2],
            errors: v[3],
            warnings: v[4],
        })
    }

    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
