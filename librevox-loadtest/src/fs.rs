//! The FreeSWITCH side of every workload: an inbound event blaster, an `api`
//! responder and an outbound dialer. Everything they write is serialized
//! before the clock starts (or patched in place: UUIDs only), and written in
//! large batches, so that they are never what limits a measurement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use librevox::protocol::packet::{read_packet, Packet};
use librevox::protocol::server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::frames::{self, InboundCycle, OutboundScript, UUID_LEN};

/// Reads client packets the way FreeSWITCH does.
pub struct PacketReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
}

impl PacketReader {
    pub fn new(rd: OwnedReadHalf) -> PacketReader {
        PacketReader {
            rd,
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// The next packet, or `None` at EOF (or on a packet FreeSWITCH would
    /// drop the connection for).
    pub async fn next(&mut self) -> Option<Packet> {
        loop {
            match read_packet(&mut self.buf) {
                Ok(Some(p)) => return Some(p),
                Ok(None) => {}
                Err(_) => return None,
            }
            self.buf.reserve(16 * 1024);
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Every packet already buffered (reading once if none is).
    pub async fn next_batch(&mut self, out: &mut Vec<Packet>) -> bool {
        loop {
            while let Ok(Some(p)) = read_packet(&mut self.buf) {
                out.push(p);
            }
            if !out.is_empty() {
                return true;
            }
            self.buf.reserve(16 * 1024);
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }
}

fn reply(text: &str) -> bytes::Bytes {
    server::command_reply(text)
}

/// Greets, then answers `auth` and everything else with `+OK` until the
/// `event` subscription; returns the halves.
async fn inbound_handshake(stream: TcpStream) -> Option<(PacketReader, OwnedWriteHalf)> {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = PacketReader::new(rd);
    wr.write_all(&server::auth_request()).await.ok()?;
    loop {
        let p = rd.next().await?;
        let word = p.command.split_whitespace().next().unwrap_or("");
        match word {
            "auth" => wr.write_all(&reply("+OK accepted")).await.ok()?,
            "event" => {
                wr.write_all(&reply("+OK event listener enabled plain"))
                    .await
                    .ok()?;
                return Some((rd, wr));
            }
            _ => wr.write_all(&reply("+OK")).await.ok()?,
        }
    }
}

/// Answers `exit` as FreeSWITCH does and closes.
async fn goodbye(mut wr: OwnedWriteHalf) {
    let mut out = reply("+OK bye").to_vec();
    out.extend_from_slice(&server::disconnect_notice(server::GOODBYE));
    let _ = wr.write_all(&out).await;
    let _ = wr.shutdown().await;
}

/// The inbound blaster: one connection; after the subscription it writes
/// `n` event frames, cycle after cycle (each cycle with fresh call UUIDs),
/// and records when it started writing. Then it waits for `exit`.
pub async fn inbound_blaster(
    listener: TcpListener,
    cycle: Arc<InboundCycle>,
    n: usize,
    started: Arc<OnceLock<Instant>>,
) {
    let Ok((stream, _)) = listener.accept().await else {
        return;
    };
    let Some((mut rd, mut wr)) = inbound_handshake(stream).await else {
        return;
    };
    let blast = tokio::spawn(async move {
        let mut buf = cycle.bytes.clone();
        let per = cycle.frame_ends.len();
        let mut sent = 0;
        let _ = started.set(Instant::now());
        while sent < n {
            for at in &cycle.uuid_at {
                frames::patch(&mut buf, at, &frames::uuid_bytes());
            }
            let take = (n - sent).min(per);
            if wr
                .write_all(&buf[..cycle.frame_ends[take - 1]])
                .await
                .is_err()
            {
                return None;
            }
            sent += take;
        }
        Some(wr)
    });
    while let Some(p) = rd.next().await {
        if p.command.starts_with("exit") {
            if let Ok(Some(wr)) = blast.await {
                goodbye(wr).await;
            }
            return;
        }
    }
    blast.abort();
}

/// The `api` responder: every connection is greeted and authenticated;
/// each `api` command gets the `status` output; replies to the commands read
/// in one go are written in one go.
pub async fn api_responder(listener: TcpListener) {
    let status = server::api_response(frames::STATUS_BODY.as_bytes());
    while let Ok((stream, _)) = listener.accept().await {
        let status = status.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (rd, mut wr) = stream.into_split();
            let mut rd = PacketReader::new(rd);
            if wr.write_all(&server::auth_request()).await.is_err() {
                return;
            }
            let mut batch = Vec::new();
            let mut out = Vec::with_capacity(64 * 1024);
            while rd.next_batch(&mut batch).await {
                out.clear();
                let mut exit = false;
                for p in batch.drain(..) {
                    if p.command.starts_with("api ") {
                        out.extend_from_slice(&status);
                    } else if p.command.starts_with("auth") {
                        out.extend_from_slice(&reply("+OK accepted"));
                    } else if p.command.starts_with("exit") {
                        exit = true;
                        break;
                    } else {
                        out.extend_from_slice(&reply("+OK"));
                    }
                }
                if !out.is_empty() && wr.write_all(&out).await.is_err() {
                    return;
                }
                if exit {
                    goodbye(wr).await;
                    return;
                }
            }
        });
    }
}

/// Counters of the outbound dialer.
#[derive(Default)]
pub struct DialStats {
    /// Calls that went through every step in order and were closed after
    /// `exit`.
    pub completed: AtomicUsize,
    /// Calls where the client sent something out of order or malformed, or
    /// closed early.
    pub protocol_errors: AtomicUsize,
    /// Calls between TCP connect and the `linger` reply right now.
    pub in_handshake: AtomicUsize,
    /// The most calls ever in their handshake at once.
    pub peak_handshakes: AtomicUsize,
    /// Calls parked in playback (hold mode).
    pub parked: AtomicUsize,
    /// The first protocol error seen, for the report.
    pub first_error: OnceLock<String>,
}

impl DialStats {
    fn error(&self, what: String) {
        self.protocol_errors.fetch_add(1, Ordering::Relaxed);
        let _ = self.first_error.set(what);
    }
}

/// How the dialer places calls.
#[derive(Clone)]
pub struct DialPlan {
    pub addr: std::net::SocketAddr,
    pub calls: usize,
    pub concurrency: usize,
    /// When set, each playback is held (after PLAYBACK_START) until the
    /// value turns true.
    pub hold: Option<watch::Receiver<bool>>,
}

/// The outbound dialer: places `plan.calls` calls to the listener at
/// `plan.addr`, `plan.concurrency` at a time, and plays FreeSWITCH's side of
/// each (connect, myevents, linger, then the applications, the hangup, the
/// linger notice, and `exit`). Returns the elapsed time from the first dial
/// to the last call's end.
pub async fn dial(plan: DialPlan, script: Arc<OutboundScript>, stats: Arc<DialStats>) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    // Bound connects in flight, so that a burst never overflows the
    // listener's accept backlog (SYN retries would add whole seconds).
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.min(plan.calls).max(1) {
        let next = next.clone();
        let plan = plan.clone();
        let script = script.clone();
        let stats = stats.clone();
        let connecting = connecting.clone();
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < plan.calls {
                if let Err(e) = one_call(&plan, &script, &stats, &connecting).await {
                    stats.error(e);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    start.elapsed()
}

fn header<'a>(p: &'a Packet, name: &str) -> Option<&'a str> {
    p.header(name)
}

/// Keeps `in_handshake` right whichever way a call ends.
struct Handshake<'a> {
    stats: &'a DialStats,
    active: bool,
}

impl Handshake<'_> {
    fn done(&mut self) {
        if std::mem::take(&mut self.active) {
            self.stats.in_handshake.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Handshake<'_> {
    fn drop(&mut self) {
        self.done();
    }
}

const EXPECTED: [&str; 7] = [
    "connect", "myevents", "linger", "answer", "playback", "hangup", "exit",
];

async fn one_call(
    plan: &DialPlan,
    script: &OutboundScript,
    stats: &DialStats,
    connecting: &tokio::sync::Semaphore,
) -> Result<(), String> {
    let mut permit = Some(connecting.acquire().await.map_err(|e| e.to_string())?);
    let stream = TcpStream::connect(plan.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = PacketReader::new(rd);
    let channel = frames::uuid_bytes();
    let none = [b'0'; UUID_LEN];
    let mut out = Vec::with_capacity(16 * 1024);
    let n = stats.in_handshake.fetch_add(1, Ordering::Relaxed) + 1;
    stats.peak_handshakes.fetch_max(n, Ordering::Relaxed);
    let mut handshake = Handshake {
        stats,
        active: true,
    };
    let mut step = 0usize;
    while let Some(p) = rd.next().await {
        out.clear();
        let cmd = p.command.as_str();
        let what = if cmd == "sendmsg" {
            header(&p, "execute-app-name").unwrap_or("?")
        } else {
            cmd
        };
        if EXPECTED.get(step) != Some(&what) {
            return Err(format!(
                "step {step}: expected {:?}, got {what:?}",
                EXPECTED.get(step)
            ));
        }
        step += 1;
        match what {
            "connect" => {
                script.connect.render(&mut out, &channel, &none);
                permit.take();
            }
            "myevents" => out.extend_from_slice(&reply("+OK Events Enabled")),
            "linger" => {
                out.extend_from_slice(&reply("+OK will linger"));
                handshake.done();
            }
            "exit" => {
                goodbye(wr).await;
                // Wait for the client to close its side.
                while rd.next().await.is_some() {}
                stats.completed.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            app => {
                let uuid = header(&p, "Event-UUID").unwrap_or("");
                let app_uuid: [u8; UUID_LEN] = uuid
                    .as_bytes()
                    .try_into()
                    .map_err(|_| format!("Event-UUID `{uuid}` is not a UUID"))?;
                if header(&p, "call-command") != Some("execute") {
                    return Err("sendmsg without call-command: execute".to_owned());
                }
                out.extend_from_slice(&reply("+OK"));
                let steps: &[frames::Template] = match app {
                    "answer" => &script.answer,
                    "playback" => &script.playback_start,
                    "hangup" => &script.hangup,
                    _ => &script.other,
                };
                for t in steps {
                    t.render(&mut out, &channel, &app_uuid);
                }
                if app == "playback" {
                    if let Some(hold) = &plan.hold {
                        wr.write_all(&out).await.map_err(|e| e.to_string())?;
                        out.clear();
                        stats.parked.fetch_add(1, Ordering::Relaxed);
                        let mut hold = hold.clone();
                        let _ = hold.wait_for(|go| *go).await;
                        stats.parked.fetch_sub(1, Ordering::Relaxed);
                    }
                    for t in &script.playback_end {
                        t.render(&mut out, &channel, &app_uuid);
                    }
                }
            }
        }
        wr.write_all(&out).await.map_err(|e| e.to_string())?;
    }
    Err(format!("the client closed the socket after step {step}"))
}
