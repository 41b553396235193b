//! The ceiling: raw tokio clients that do the same exchanges as the library
//! with nothing but frame splitting by `Content-Length` (no typing, no
//! parsing, no dispatch).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Splits a byte stream into (header block, body) by `Content-Length`.
pub struct RawFrames<R> {
    rd: R,
    buf: BytesMut,
    chunk: usize,
}

fn content_length(head: &[u8]) -> usize {
    const KEY: &[u8] = b"Content-Length: ";
    let Some(at) = memchr::memmem::find(head, KEY) else {
        return 0;
    };
    head[at + KEY.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, b| n * 10 + (b - b'0') as usize)
}

impl<R: AsyncRead + Unpin> RawFrames<R> {
    pub fn new(rd: R, chunk: usize) -> Self {
        RawFrames {
            rd,
            buf: BytesMut::with_capacity(chunk),
            chunk,
        }
    }

    /// Splits off the next frame if it is buffered whole.
    pub fn split(&mut self) -> Option<(Bytes, Bytes)> {
        while self.buf.first() == Some(&b'\n') {
            self.buf.advance(1);
        }
        let head_end = memchr::memmem::find(&self.buf, b"\n\n")?;
        let len = content_length(&self.buf[..head_end]);
        if self.buf.len() < head_end + 2 + len {
            return None;
        }
        let head = self.buf.split_to(head_end).freeze();
        self.buf.advance(2);
        let body = self.buf.split_to(len).freeze();
        Some((head, body))
    }

    /// Reads once; false at EOF.
    pub async fn fill(&mut self) -> bool {
        if self.buf.capacity() - self.buf.len() < self.chunk / 4 {
            self.buf.reserve(self.chunk);
        }
        matches!(self.rd.read_buf(&mut self.buf).await, Ok(n) if n > 0)
    }

    /// The next frame, or `None` at EOF.
    pub async fn next(&mut self) -> Option<(Bytes, Bytes)> {
        loop {
            if let Some(f) = self.split() {
                return Some(f);
            }
            if !self.fill().await {
                return None;
            }
        }
    }
}

/// Raw inbound: authenticate, subscribe, then split `n` frames; returns the
/// instant the last one was split.
pub async fn inbound(addr: std::net::SocketAddr, n: usize) -> std::io::Result<Instant> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut frames = RawFrames::new(rd, 256 * 1024);
    frames.next().await; // auth/request
    wr.write_all(b"auth ClueCon\n\n").await?;
    frames.next().await;
    wr.write_all(b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP HEARTBEAT\n\n")
        .await?;
    frames.next().await;
    let mut count = 0;
    while count < n {
        match frames.next().await {
            Some(f) => {
                std::hint::black_box(&f);
                count += 1;
            }
            None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
    let end = Instant::now();
    wr.write_all(b"exit\n\n").await?;
    while frames.next().await.is_some() {}
    Ok(end)
}

async fn api_connect(
    addr: std::net::SocketAddr,
) -> std::io::Result<(
    RawFrames<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut frames = RawFrames::new(rd, 64 * 1024);
    frames.next().await;
    wr.write_all(b"auth ClueCon\n\n").await?;
    frames.next().await;
    Ok((frames, wr))
}

/// Raw sequential `api status`: per-request latencies.
pub async fn api_sequential(
    addr: std::net::SocketAddr,
    n: usize,
) -> std::io::Result<Vec<Duration>> {
    let (mut frames, mut wr) = api_connect(addr).await?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        wr.write_all(b"api status\n\n").await?;
        let (_, body) = frames
            .next()
            .await
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        std::hint::black_box(body);
        lat.push(t.elapsed());
    }
    wr.write_all(b"exit\n\n").await?;
    while frames.next().await.is_some() {}
    Ok(lat)
}

/// Raw pipelined `api status`, `window` in flight; returns the elapsed time.
pub async fn api_pipelined(
    addr: std::net::SocketAddr,
    n: usize,
    window: usize,
) -> std::io::Result<Duration> {
    let (mut frames, mut wr) = api_connect(addr).await?;
    let requests = b"api status\n\n".repeat(window);
    let start = Instant::now();
    let first = window.min(n);
    wr.write_all(&requests[..first * 12]).await?;
    let mut sent = first;
    let mut got = 0;
    while got < n {
        let mut refill = 0;
        while let Some((_, body)) = frames.split() {
            std::hint::black_box(body);
            got += 1;
            if sent < n {
                refill += 1;
                sent += 1;
            }
        }
        if refill > 0 {
            wr.write_all(&requests[..refill * 12]).await?;
        }
        if got < n && !frames.fill().await {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    let elapsed = start.elapsed();
    wr.write_all(b"exit\n\n").await?;
    while frames.next().await.is_some() {}
    Ok(elapsed)
}

/// Shared counters of the raw outbound server.
#[derive(Default)]
pub struct RawOutboundStats {
    pub completed: AtomicUsize,
    pub errors: AtomicUsize,
    pub app_latency: Mutex<Vec<Duration>>,
}

/// Raw outbound server: for each accepted call, the exchange the library's
/// session does (connect, myevents, linger, answer, playback, hangup, each
/// awaiting its CHANNEL_EXECUTE_COMPLETE, then the latch and `exit`).
pub async fn outbound_server(
    listener: TcpListener,
    apps: &'static [(&'static str, &'static str)],
    stats: Arc<RawOutboundStats>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let stats = stats.clone();
        tokio::spawn(async move {
            match raw_call(stream, apps).await {
                Ok(lat) => {
                    stats.app_latency.lock().unwrap().extend(lat);
                    stats.completed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// The end of a call: the disconnect-notice and CHANNEL_HANGUP_COMPLETE.
#[derive(Default)]
struct Latch {
    notice: bool,
    hangup_complete: bool,
}

impl Latch {
    fn observe(&mut self, head: &[u8], body: &[u8]) {
        if memchr::memmem::find(head, b"text/disconnect-notice").is_some() {
            self.notice = true;
        } else if body.starts_with(b"Event-Name: CHANNEL_HANGUP_COMPLETE\n") {
            self.hangup_complete = true;
        }
    }
}

async fn raw_call(stream: TcpStream, apps: &[(&str, &str)]) -> std::io::Result<Vec<Duration>> {
    let eof = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut frames = RawFrames::new(rd, 64 * 1024);
    let mut latch = Latch::default();
    for cmd in [&b"connect\n\n"[..], b"myevents\n\n", b"linger\n\n"] {
        wr.write_all(cmd).await?;
        loop {
            let (head, body) = frames.next().await.ok_or_else(eof)?;
            if memchr::memmem::find(&head, b"command/reply").is_some() {
                break;
            }
            latch.observe(&head, &body);
        }
    }
    let mut lat = Vec::with_capacity(apps.len());
    for (app, arg) in apps {
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut msg = format!("sendmsg\ncall-command: execute\nexecute-app-name: {app}\n");
        if !arg.is_empty() {
            msg.push_str(&format!("execute-app-arg: {arg}\n"));
        }
        msg.push_str(&format!("event-lock: true\nEvent-UUID: {uuid}\n\n"));
        let t = Instant::now();
        wr.write_all(msg.as_bytes()).await?;
        let want = format!("\nApplication-UUID: {uuid}\n");
        loop {
            let (head, body) = frames.next().await.ok_or_else(eof)?;
            latch.observe(&head, &body);
            if body.starts_with(b"Event-Name: CHANNEL_EXECUTE_COMPLETE\n")
                && memchr::memmem::find(&body, want.as_bytes()).is_some()
            {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    while !(latch.notice && latch.hangup_complete) {
        let (head, body) = frames.next().await.ok_or_else(eof)?;
        latch.observe(&head, &body);
    }
    wr.write_all(b"exit\n\n").await?;
    while frames.next().await.is_some() {}
    Ok(lat)
}
