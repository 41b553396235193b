//! One event-socket connection, inbound or outbound: its lifecycle (the
//! greeting, the first-packet timer, the controlled channel going down,
//! linger, closing), packet reading as FreeSWITCH's `read_packet` reads,
//! and event delivery from the bus. The commands are in `commands.rs`
//! (the dispatch table) and the files it names.

mod api;
mod auth;
mod commands;
mod conn;
mod events;
mod sendmsg;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Duration, Instant};

use self::conn::{starts_ci, Conn, Phase, Reply};
use super::bus::{Fired, Out};
use super::channel::{Channel, OutboundCtx, SocketHost, Switch};
use super::core::{ConnectionKind, Core};
use super::order::DISPATCH_HOLD;
use super::sync::lock;
use crate::protocol::packet::{Packet, PacketError, PacketReader};
use crate::protocol::server::{self, GOODBYE};
use crate::protocol::{event_frame, EventFormat, JsonOptions};

/// The ESL layer as the `socket` application's host.
pub(crate) struct EslSockets;

impl SocketHost for EslSockets {
    fn serve(
        &self,
        switch: Arc<Switch>,
        stream: TcpStream,
        channel: Arc<Channel>,
        target: String,
        ctx: OutboundCtx,
    ) {
        tokio::spawn(serve_outbound(switch, stream, channel, target, ctx));
    }
}

/// Whether the connection goes on.
enum Flow {
    Continue,
    Close,
}

/// The inbound ACL: in-memory connections (no peer) always pass; without
/// an ACL, FreeSWITCH's default `loopback.auto`.
fn allowed(core: &Core, peer: Option<SocketAddr>) -> bool {
    match (peer, &core.cfg.acl) {
        (None, _) => true,
        (Some(p), Some(acl)) => acl(p.ip()),
        (Some(p), None) => p.ip().is_loopback(),
    }
}

/// Serves an inbound connection until it closes.
pub(crate) async fn serve_inbound<T>(switch: Arc<Switch>, io: T, peer: Option<SocketAddr>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    let mut conn = Conn::new(&switch, writer, ConnectionKind::Inbound { peer });
    if !allowed(&conn.core, peer) {
        conn.write(server::rude_rejection()).await;
        conn.write(server::disconnect_notice(GOODBYE)).await;
        conn.finish().await;
        return;
    }
    conn.core.add_subscriber(conn.shared.clone());
    if conn.write(server::auth_request()).await {
        conn.run(reader).await;
    }
    conn.finish().await;
}

/// Serves an outbound connection for `channel` (the socket application
/// dialed it).
pub(crate) async fn serve_outbound<T>(
    switch: Arc<Switch>,
    io: T,
    channel: Arc<Channel>,
    target: String,
    ctx: OutboundCtx,
) where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    let kind = ConnectionKind::Outbound {
        channel: channel.uuid.clone(),
        target,
    };
    let mut conn = Conn::new(&switch, writer, kind);
    {
        let mut s = lock(&conn.shared.subs);
        s.session = Some(channel.uuid.clone());
        s.deferred_down = !ctx.async_mode;
    }
    conn.lag =
        usize::try_from(conn.core.cfg.call_order(&channel.uuid).dispatch_lag).unwrap_or(usize::MAX);
    conn.outbound = Some(ctx);
    conn.session = Some(channel);
    conn.core.add_subscriber(conn.shared.clone());
    conn.run(reader).await;
    conn.finish().await;
}

impl Conn {
    /// Reads and handles packets, and delivers queued items while no
    /// packet is half read, until the connection closes.
    async fn run<R: AsyncRead + Unpin>(&mut self, mut reader: R) {
        let mut buf = BytesMut::with_capacity(4096);
        // Keeps its place across reads: a slow peer costs linear work.
        let mut packets = PacketReader::new();
        let first_deadline = Instant::now() + self.core.cfg.first_packet_timeout;
        loop {
            if let Flow::Close = self.handle_buffered(&mut packets, &mut buf).await {
                return;
            }
            let idle = buf.iter().all(|&b| b == b'\n' || b == b'\r');
            let linger_deadline = match self.phase {
                Phase::Lingering(deadline) => deadline,
                _ => None,
            };
            let held_until = self.held.front().map(|(until, _)| *until);
            tokio::select! {
                biased;
                out = self.rx.recv(), if idle => {
                    if let Some(out) = out {
                        if let Flow::Close = self.deliver(out).await {
                            return;
                        }
                    }
                }
                _ = sleep_until(held_until.unwrap_or_else(Instant::now)), if idle && held_until.is_some() => {
                    if let Some((_, fired)) = self.held.pop_front() {
                        if !self.write_fired(&fired).await {
                            return;
                        }
                    }
                }
                r = reader.read_buf(&mut buf) => {
                    if !matches!(r, Ok(n) if n > 0) {
                        return;
                    }
                }
                _ = sleep_until(first_deadline), if self.phase == Phase::AwaitingFirst => {
                    self.goodbye().await;
                    return;
                }
                _ = sleep_until(linger_deadline.unwrap_or_else(Instant::now)), if linger_deadline.is_some() => {
                    self.goodbye().await;
                    return;
                }
            }
        }
    }

    /// Handles every whole packet in the buffer.
    async fn handle_buffered(&mut self, packets: &mut PacketReader, buf: &mut BytesMut) -> Flow {
        loop {
            match packets.read(buf) {
                Ok(Some(pkt)) => {
                    lock(&self.record).received.push(pkt.raw.clone());
                    self.core.notify();
                    if let Flow::Close = self.handle(pkt).await {
                        return Flow::Close;
                    }
                }
                Ok(None) => return Flow::Continue,
                Err(PacketError::Nul) => {
                    self.write(server::command_reply("-ERR command parse error."))
                        .await;
                    self.goodbye().await;
                    return Flow::Close;
                }
                Err(PacketError::BadContentLength(_)) => {
                    self.goodbye().await;
                    return Flow::Close;
                }
            }
        }
    }

    /// One packet: the command's reply (an outbound socket's first packet
    /// other than `connect` gets none), then what the reply asks for.
    async fn handle(&mut self, pkt: Packet) -> Flow {
        let first = self.phase == Phase::AwaitingFirst;
        if first {
            self.phase = if self.outbound.is_some() {
                Phase::Ready
            } else {
                Phase::Unauthenticated
            };
        }
        let suppress = first && self.outbound.is_some() && !starts_ci(&pkt.command, "connect");
        match commands::dispatch(self, &pkt).await {
            Reply::Text(t) => {
                if !suppress && !self.write(server::command_reply(&t)).await {
                    return Flow::Close;
                }
                if self.phase == Phase::Closing {
                    // Sync socket, channel hung up inline, no linger: queued
                    // events are discarded (§5.5).
                    self.goodbye().await;
                    return Flow::Close;
                }
                Flow::Continue
            }
            Reply::Frame(f) => {
                if !suppress && !self.write(f).await {
                    return Flow::Close;
                }
                Flow::Continue
            }
            Reply::Written => Flow::Continue,
            Reply::Close(frames) => {
                for f in frames {
                    if suppress && f.starts_with(b"Content-Type: command/reply") {
                        continue;
                    }
                    self.write(f).await;
                }
                Flow::Close
            }
        }
    }

    /// Writes one queued item.
    async fn deliver(&mut self, out: Out) -> Flow {
        let ok = match out {
            Out::Event(fired) if self.lag > 0 => {
                // Held back for the dispatch lag: the oldest goes out once
                // more than the lag are held.
                self.held.push_back((Instant::now() + DISPATCH_HOLD, fired));
                let mut ok = true;
                while ok && self.held.len() > self.lag {
                    if let Some((_, oldest)) = self.held.pop_front() {
                        ok = self.write_fired(&oldest).await;
                    }
                }
                ok
            }
            Out::Event(fired) => self.write_fired(&fired).await,
            Out::Diverted(event) => {
                let format = lock(&self.shared.subs).format;
                self.write_event(event.to_frame(format)).await
            }
            Out::Log(line) => self.write(server::log_data(&line)).await,
            Out::Down => return self.channel_down().await,
            Out::Shutdown => {
                self.held.clear();
                let f = match &self.session {
                    Some(ch) => server::session_disconnect_notice(&ch.uuid, server::SHUTDOWN),
                    None => server::disconnect_notice(server::SHUTDOWN),
                };
                self.write(f).await;
                return Flow::Close;
            }
        };
        if ok {
            Flow::Continue
        } else {
            Flow::Close
        }
    }

    /// Writes one fired event in the connection's format.
    async fn write_fired(&mut self, fired: &Fired) -> bool {
        let format = lock(&self.shared.subs).format;
        let payload = match format {
            EventFormat::Json => fired
                .event
                .to_json_with(JsonOptions::new().empty_body(fired.empty_body)),
            f => fired.event.encode(f),
        };
        self.write_event(event_frame(format, &payload)).await
    }

    /// Writes one event frame, counted once written.
    async fn write_event(&mut self, frame: bytes::Bytes) -> bool {
        let ok = self.write(frame).await;
        if ok {
            self.metrics.event_sent();
        }
        ok
    }

    /// §5.5: the socket loop noticed that its channel is down. Without
    /// linger it says goodbye and closes (queued events are discarded);
    /// with linger it sends the linger notice and lingers. Events held
    /// back for the dispatch lag come after the notice (or are discarded
    /// with the queue).
    async fn channel_down(&mut self) -> Flow {
        if matches!(self.phase, Phase::Lingering(_)) {
            return Flow::Continue;
        }
        let Some(ch) = self.session.clone() else {
            return Flow::Continue;
        };
        match self.linger {
            None => {
                self.held.clear();
                while self.rx.try_recv().is_ok() {}
                self.goodbye().await;
                Flow::Close
            }
            Some(t) => {
                let name = ch.name();
                self.write(server::linger_notice(&ch.uuid, &name, t)).await;
                let deadline =
                    u64::try_from(t).map(|secs| Instant::now() + Duration::from_secs(secs));
                self.phase = Phase::Lingering(deadline.ok());
                // What dispatch still held follows the notice; from now on
                // events go out as they come (their order is kept anyway).
                self.lag = 0;
                while let Some((_, fired)) = self.held.pop_front() {
                    if !self.write_fired(&fired).await {
                        return Flow::Close;
                    }
                }
                Flow::Continue
            }
        }
    }
}
