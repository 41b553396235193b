//! One event-socket connection (inbound or outbound): packet reading,
//! command dispatch (§3), subscriptions, filters, event delivery.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Duration, Instant};

use super::api;
use super::bus::{Filter, Fired, Out, Subscriber};
use super::channel::{ChanMsg, Channel, OutboundCtx, SendMsgData, SocketHost, Switch};
use super::config::EslUser;
use super::core::{level_by_name, ConnectionKind, ConnectionRecord, Core};
use super::lock::lock;
use super::serialize::{self, GOODBYE};
use crate::protocol::names::canonical;
use crate::protocol::packet::{read_packet, Packet, PacketError};
use crate::protocol::{Event, EventFormat};

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

enum Flow {
    Continue,
    Close,
}

struct Conn<W> {
    switch: Arc<Switch>,
    core: Arc<Core>,
    shared: Arc<Subscriber>,
    rx: mpsc::UnboundedReceiver<Out>,
    writer: W,
    record: Arc<Mutex<ConnectionRecord>>,
    authed: bool,
    perms: Option<EslUser>,
    outbound: Option<OutboundCtx>,
    session: Option<Arc<Channel>>,
    holds_channel: bool,
    linger: Option<i64>,
    linger_deadline: Option<Instant>,
    down_seen: bool,
    first_packet_done: bool,
    packets: u64,
    close_after_reply: bool,
}

fn starts_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn new_shared(core: &Core) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Out>) {
    Subscriber::new(core.next_id())
}

/// Serves an inbound connection until it closes.
pub(crate) async fn serve_inbound<T>(switch: Arc<Switch>, io: T, peer: Option<SocketAddr>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let core = switch.core.clone();
    let (reader, writer) = tokio::io::split(io);
    let (shared, rx) = new_shared(&core);
    let record = core.new_record(ConnectionKind::Inbound { peer });
    let mut conn = Conn {
        switch: switch.clone(),
        core: core.clone(),
        shared: shared.clone(),
        rx,
        writer,
        record,
        authed: false,
        perms: None,
        outbound: None,
        session: None,
        holds_channel: false,
        linger: None,
        linger_deadline: None,
        down_seen: false,
        first_packet_done: false,
        packets: 0,
        close_after_reply: false,
    };
    let allowed = match (peer, &core.cfg.acl) {
        (None, _) => true,
        (Some(p), Some(acl)) => acl(p.ip()),
        (Some(p), None) => p.ip().is_loopback(),
    };
    if !allowed {
        conn.write(serialize::rude_rejection_frame()).await;
        conn.write(serialize::disconnect_notice_frame(GOODBYE))
            .await;
        conn.finish().await;
        return;
    }
    core.add_subscriber(shared);
    if conn.write(serialize::auth_request_frame()).await {
        conn.run(reader).await;
    }
    conn.finish().await;
}

/// Serves an outbound connection for `channel`.
pub(crate) async fn serve_outbound<T>(
    switch: Arc<Switch>,
    io: T,
    channel: Arc<Channel>,
    target: String,
    ctx: OutboundCtx,
) where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let core = switch.core.clone();
    let (reader, writer) = tokio::io::split(io);
    let (shared, rx) = new_shared(&core);
    {
        let mut s = lock(&shared.subs);
        s.session = Some(channel.uuid.clone());
        s.deferred_down = !ctx.async_mode;
    }
    let record = core.new_record(ConnectionKind::Outbound {
        channel: channel.uuid.clone(),
        target,
    });
    let mut conn = Conn {
        switch: switch.clone(),
        core: core.clone(),
        shared: shared.clone(),
        rx,
        writer,
        record,
        authed: true,
        perms: None,
        outbound: Some(ctx),
        session: Some(channel),
        holds_channel: true,
        linger: None,
        linger_deadline: None,
        down_seen: false,
        first_packet_done: false,
        packets: 0,
        close_after_reply: false,
    };
    core.add_subscriber(shared);
    conn.run(reader).await;
    conn.finish().await;
}

impl<W: AsyncWrite + Unpin> Conn<W> {
    /// Writes one frame; false when the peer is gone.
    async fn write(&mut self, frame: Bytes) -> bool {
        let ok = self.writer.write_all(&frame).await.is_ok() && self.writer.flush().await.is_ok();
        lock(&self.record).sent.push(frame);
        self.core.notify();
        ok
    }

    async fn reply(&mut self, text: &str) -> bool {
        self.write(serialize::command_reply_frame(text)).await
    }

    fn goodbye_frame(&self) -> Bytes {
        match &self.session {
            Some(ch) => serialize::session_disconnect_notice_frame(&ch.uuid, GOODBYE),
            None => serialize::disconnect_notice_frame(GOODBYE),
        }
    }

    async fn finish(&mut self) {
        lock(&self.shared.subs).closed = true;
        self.core.remove_subscriber(self.shared.id);
        let _ = self.writer.shutdown().await;
        if self.holds_channel {
            self.holds_channel = false;
            if let Some(ch) = &self.session {
                ch.release();
            }
        }
        lock(&self.record).closed = true;
        self.core.notify();
    }

    async fn run<R: AsyncRead + Unpin>(&mut self, mut reader: R) {
        let mut buf = BytesMut::with_capacity(4096);
        let first_deadline = Instant::now() + self.core.cfg.first_packet_timeout;
        loop {
            loop {
                match read_packet(&mut buf) {
                    Ok(Some(pkt)) => {
                        self.first_packet_done = true;
                        lock(&self.record).received.push(pkt.raw.clone());
                        self.core.notify();
                        if let Flow::Close = self.handle(pkt).await {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(PacketError::Nul) => {
                        self.reply("-ERR command parse error.").await;
                        let f = self.goodbye_frame();
                        self.write(f).await;
                        return;
                    }
                    Err(PacketError::BadContentLength(_)) => {
                        let f = self.goodbye_frame();
                        self.write(f).await;
                        return;
                    }
                }
            }
            let idle = buf.iter().all(|&b| b == b'\n' || b == b'\r');
            let linger_deadline = self.linger_deadline;
            tokio::select! {
                biased;
                out = self.rx.recv(), if idle => {
                    if let Some(out) = out {
                        if let Flow::Close = self.deliver(out).await {
                            return;
                        }
                    }
                }
                r = reader.read_buf(&mut buf) => {
                    if !matches!(r, Ok(n) if n > 0) {
                        return;
                    }
                }
                _ = sleep_until(first_deadline), if !self.first_packet_done => {
                    let f = self.goodbye_frame();
                    self.write(f).await;
                    return;
                }
                _ = sleep_until(linger_deadline.unwrap_or_else(Instant::now)), if linger_deadline.is_some() => {
                    let f = self.goodbye_frame();
                    self.write(f).await;
                    return;
                }
            }
        }
    }

    async fn deliver(&mut self, out: Out) -> Flow {
        let ok = match out {
            Out::Event(fired) => {
                let format = lock(&self.shared.subs).format;
                let payload = match format {
                    EventFormat::Json => serialize::to_json_with(
                        &fired.event,
                        serialize::JsonOptions {
                            empty_body: fired.empty_body,
                        },
                    ),
                    f => serialize::event_payload(f, &fired.event),
                };
                self.write(serialize::wrap_event_payload(format, &payload))
                    .await
            }
            Out::Diverted(event) => {
                let format = lock(&self.shared.subs).format;
                self.write(serialize::event_frame(format, &event)).await
            }
            Out::Log(line) => self.write(serialize::log_data_frame(&line)).await,
            Out::Down => return self.channel_down().await,
            Out::Shutdown => {
                let f = match &self.session {
                    Some(ch) => {
                        serialize::session_disconnect_notice_frame(&ch.uuid, serialize::SHUTDOWN)
                    }
                    None => serialize::disconnect_notice_frame(serialize::SHUTDOWN),
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

    /// §5.5: the socket loop noticed that its channel is down.
    async fn channel_down(&mut self) -> Flow {
        if self.down_seen {
            return Flow::Continue;
        }
        self.down_seen = true;
        let Some(ch) = self.session.clone() else {
            return Flow::Continue;
        };
        match self.linger {
            None => {
                // Queued, unwritten events are discarded.
                while self.rx.try_recv().is_ok() {}
                let f = self.goodbye_frame();
                self.write(f).await;
                Flow::Close
            }
            Some(t) => {
                let name = ch.name();
                self.write(serialize::linger_notice_frame(&ch.uuid, &name, t))
                    .await;
                if t >= 0 {
                    self.linger_deadline = Some(Instant::now() + Duration::from_secs(t as u64));
                }
                Flow::Continue
            }
        }
    }

    fn full(&self) -> bool {
        self.outbound.as_ref().is_none_or(|o| o.full)
    }

    async fn handle(&mut self, pkt: Packet) -> Flow {
        self.packets += 1;
        let suppress =
            self.outbound.is_some() && self.packets == 1 && !starts_ci(&pkt.command, "connect");
        let result = self.dispatch(&pkt).await;
        match result {
            Reply::Text(t) => {
                if !suppress && !self.reply(&t).await {
                    return Flow::Close;
                }
                if self.close_after_reply {
                    // Sync socket, channel hung up inline, no linger: queued
                    // events are discarded (§5.5).
                    let f = self.goodbye_frame();
                    self.write(f).await;
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
            Reply::None => Flow::Continue,
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

    async fn dispatch(&mut self, pkt: &Packet) -> Reply {
        let cmd = pkt.command.as_str();
        if starts_ci(cmd, "exit") || cmd.starts_with("...") {
            return Reply::Close(vec![
                serialize::command_reply_frame("+OK bye"),
                self.goodbye_frame(),
            ]);
        }
        if !self.authed {
            return self.unauthenticated(cmd);
        }
        if starts_ci(cmd, "filter ") {
            return Reply::Text(self.filter(&cmd[7..]));
        }
        if starts_ci(cmd, "resume") && self.session.is_some() {
            if let Some(ch) = &self.session {
                ch.set_var("socket_resume", "true");
            }
            return Reply::Text("+OK".into());
        }
        if self.session.is_some() || starts_ci(cmd, "myevents ") {
            if starts_ci(cmd, "connect") {
                if let Some(ch) = self.session.clone() {
                    let (async_mode, full) = self
                        .outbound
                        .as_ref()
                        .map_or((true, true), |o| (o.async_mode, o.full));
                    let data = ch.channel_data_event(&self.core);
                    if let Some(tx) = self.outbound.as_mut().and_then(|o| o.on_connect.take()) {
                        let _ = tx.send(());
                    }
                    return Reply::Frame(serialize::connect_reply_frame(&data, async_mode, full));
                }
            } else if starts_ci(cmd, "getvar") {
                if let Some(ch) = &self.session {
                    let name = cmd[6..].trim();
                    let value = if name.is_empty() { None } else { ch.var(name) };
                    return Reply::Text(match value {
                        Some(v) if !v.is_empty() => v,
                        _ => "-ERR command not found".into(),
                    });
                }
            } else if starts_ci(cmd, "myevents") {
                return Reply::Text(self.myevents(cmd));
            }
        }
        if starts_ci(cmd, "divert_events") {
            if self.session.is_none() {
                return Reply::Text("-ERR not controlling a session.".into());
            }
            let arg = cmd[13..].trim();
            if arg.is_empty() {
                return Reply::Text("-ERR missing value.".into());
            }
            let on = arg.eq_ignore_ascii_case("on");
            lock(&self.shared.subs).divert = on;
            return Reply::Text(
                if on {
                    "+OK events diverted"
                } else {
                    "+OK events not diverted"
                }
                .into(),
            );
        }
        if starts_ci(cmd, "sendmsg") {
            return Reply::Text(self.sendmsg(pkt).await);
        }
        if !self.full() {
            return Reply::Text("-ERR command not found".into());
        }
        if starts_ci(cmd, "sendevent") {
            return Reply::Text(self.sendevent(pkt));
        }
        if starts_ci(cmd, "api ") {
            return self.api(pkt).await;
        }
        if starts_ci(cmd, "bgapi ") {
            return Reply::Frame(self.bgapi(pkt));
        }
        if starts_ci(cmd, "log") {
            return Reply::Text(self.log(&cmd[3..]));
        }
        if starts_ci(cmd, "linger") {
            if self.session.is_none() {
                return Reply::Text("-ERR not controlling a session".into());
            }
            let arg = cmd[6..].trim();
            return Reply::Text(match arg.parse::<i64>() {
                Ok(n) if !arg.is_empty() => {
                    self.linger = Some(n);
                    format!("+OK will linger {n} seconds")
                }
                _ => {
                    self.linger = Some(-1);
                    "+OK will linger".into()
                }
            });
        }
        if starts_ci(cmd, "nolinger") {
            if self.session.is_none() {
                return Reply::Text("-ERR not controlling a session".into());
            }
            self.linger = None;
            return Reply::Text("+OK will not linger".into());
        }
        if starts_ci(cmd, "nolog") {
            let mut s = lock(&self.shared.subs);
            return Reply::Text(if s.log_level.take().is_some() {
                drop(s);
                self.drain(|o| matches!(o, Out::Log(_)));
                "+OK no longer logging".into()
            } else {
                "-ERR not loging".into()
            });
        }
        if starts_ci(cmd, "event") {
            return Reply::Text(self.event(cmd));
        }
        if starts_ci(cmd, "nixevent") {
            return Reply::Text(self.nixevent(cmd));
        }
        if starts_ci(cmd, "noevents") {
            let was_on = {
                let mut s = lock(&self.shared.subs);
                let was = s.events_on;
                if was {
                    s.events_on = false;
                    s.all = false;
                    s.set_every(false);
                    s.subclasses.clear();
                }
                was
            };
            if was_on {
                self.drain(|o| matches!(o, Out::Event(_) | Out::Diverted(_)));
                return Reply::Text("+OK no longer listening for events".into());
            }
            return Reply::Text("-ERR not listening for events".into());
        }
        Reply::Text("-ERR command not found".into())
    }

    /// Drops queued items matching `pred`, keeping the others in order.
    fn drain(&mut self, pred: impl Fn(&Out) -> bool) {
        let mut keep = Vec::new();
        while let Ok(o) = self.rx.try_recv() {
            if !pred(&o) {
                keep.push(o);
            }
        }
        for o in keep {
            self.shared.push(o);
        }
    }

    fn unauthenticated(&mut self, cmd: &str) -> Reply {
        if starts_ci(cmd, "auth ") {
            if cmd[5..] == self.core.cfg.password {
                self.authed = true;
                return Reply::Text("+OK accepted".into());
            }
            return self.auth_failed();
        }
        if starts_ci(cmd, "userauth ") {
            let arg = &cmd[9..];
            // user@domain:password or user:password@domain
            let parsed = arg.split_once(':').and_then(|(a, b)| {
                if a.contains('@') {
                    Some((a.to_owned(), b.to_owned()))
                } else {
                    let (pass, domain) = b.rsplit_once('@')?;
                    Some((format!("{a}@{domain}"), pass.to_owned()))
                }
            });
            let user = parsed.and_then(|(user, pass)| {
                self.core
                    .cfg
                    .users
                    .iter()
                    .find(|u| {
                        u.user == user
                            && u.password
                                .as_deref()
                                .is_some_and(|p| !p.is_empty() && p == pass)
                    })
                    .cloned()
            });
            return match user {
                Some(u) => {
                    self.authed = true;
                    let events = u.allowed_events.clone().unwrap_or_else(|| "all".into());
                    let api = u.allowed_api.clone().unwrap_or_else(|| "all".into());
                    let log = if u.allowed_log { "true" } else { "false" };
                    let frame = serialize::command_reply_frame_with(
                        "+OK accepted",
                        &[
                            ("Allowed-Events", &events),
                            ("Allowed-API", &api),
                            ("Allowed-LOG", log),
                        ],
                    );
                    self.perms = Some(u);
                    Reply::Frame(frame)
                }
                None => self.auth_failed(),
            };
        }
        Reply::Text("-ERR command not found".into())
    }

    fn auth_failed(&self) -> Reply {
        Reply::Close(vec![
            serialize::command_reply_frame("-ERR invalid"),
            serialize::disconnect_notice_frame(GOODBYE),
        ])
    }

    fn filter(&mut self, rest: &str) -> String {
        let mut s = lock(&self.shared.subs);
        if starts_ci(rest, "delete") {
            let args = rest[6..].trim_start();
            if args.is_empty() {
                return "-ERR invalid syntax".into();
            }
            let (header, value) = match args.split_once(' ') {
                Some((h, v)) => (h, Some(v)),
                None => (args, None),
            };
            if header.eq_ignore_ascii_case("all") {
                s.filters.clear();
            } else {
                s.filters.retain(|f| {
                    !(f.header.eq_ignore_ascii_case(header) && value.is_none_or(|v| f.raw == v))
                });
            }
            return format!("+OK filter deleted. [{header}][{}]", value.unwrap_or(""));
        }
        let rest = if starts_ci(rest, "add ") {
            &rest[4..]
        } else {
            rest
        };
        match rest.split_once(' ') {
            Some((header, value)) if !header.is_empty() && !value.is_empty() => {
                s.filters.push(Filter::new(header, value));
                format!("+OK filter added. [{header}]=[{value}]")
            }
            _ => "-ERR invalid syntax".into(),
        }
    }

    fn allowed_event(&self, what: &str) -> bool {
        match self
            .perms
            .as_ref()
            .and_then(|p| p.allowed_events.as_deref())
        {
            None => true,
            Some(list) => list
                .split([',', ' '])
                .any(|x| x.eq_ignore_ascii_case(what) || x.eq_ignore_ascii_case("all")),
        }
    }

    fn allowed_api(&self, command: &str, args: &str) -> bool {
        let Some(list) = self.perms.as_ref().and_then(|p| p.allowed_api.as_deref()) else {
            return true;
        };
        let ok = |c: &str| {
            list.split([',', ' '])
                .any(|x| x.eq_ignore_ascii_case(c) || x.eq_ignore_ascii_case("all"))
        };
        if !ok(command) {
            return false;
        }
        if ["bgapi", "sched_api", "eval", "expand", "xml_wrap"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(command))
        {
            let inner = args.split(' ').next().unwrap_or("");
            return ok(inner);
        }
        true
    }

    fn event(&mut self, cmd: &str) -> String {
        let rest = cmd.split_once(' ').map(|(_, r)| r).unwrap_or("");
        let mut custom = false;
        let mut keys = 0;
        let mut s = lock(&self.shared.subs);
        for (i, tok) in rest.split(' ').filter(|t| !t.is_empty()).enumerate() {
            if custom {
                if !self.allowed_event(tok) {
                    return "-ERR permission denied".into();
                }
                s.subclasses.insert(tok.to_owned());
                continue;
            }
            if i == 0 {
                if let Ok(f) = tok.parse::<EventFormat>() {
                    s.format = f;
                    continue;
                }
            }
            let bare = if starts_ci(tok, "SWITCH_EVENT_") {
                &tok[13..]
            } else {
                tok
            };
            if bare.eq_ignore_ascii_case("ALL") {
                if !self.allowed_event("ALL") {
                    return "-ERR permission denied".into();
                }
                keys += 1;
                s.all = true;
                s.set_every(true);
                let registered = self.core.cfg.registered_subclasses.clone();
                s.subclasses.extend(registered);
            } else if let Some(name) = canonical(tok) {
                if !self.allowed_event(name) {
                    return "-ERR permission denied".into();
                }
                keys += 1;
                if name == "CUSTOM" {
                    custom = true;
                }
                s.set(name, true);
            }
        }
        if keys == 0 {
            return "-ERR no keywords supplied".into();
        }
        s.events_on = true;
        format!("+OK event listener enabled {}", s.format)
    }

    fn nixevent(&mut self, cmd: &str) -> String {
        let rest = cmd.split_once(' ').map(|(_, r)| r).unwrap_or("");
        let mut custom = false;
        let mut keys = 0;
        let mut s = lock(&self.shared.subs);
        for tok in rest.split(' ').filter(|t| !t.is_empty()) {
            if custom {
                s.subclasses.remove(tok);
                continue;
            }
            let bare = if starts_ci(tok, "SWITCH_EVENT_") {
                &tok[13..]
            } else {
                tok
            };
            if bare.eq_ignore_ascii_case("ALL") {
                keys += 1;
                s.all = false;
                s.set_every(false);
            } else if let Some(name) = canonical(tok) {
                keys += 1;
                if name == "CUSTOM" {
                    custom = true;
                } else {
                    if s.all {
                        s.all = false;
                        s.set_every(true);
                    }
                    s.set(name, false);
                }
            }
        }
        if keys == 0 {
            "-ERR no keywords supplied".into()
        } else {
            "+OK events nixed".into()
        }
    }

    fn myevents(&mut self, cmd: &str) -> String {
        let mut s = lock(&self.shared.subs);
        if s.myevents {
            return "-ERR aready enabled.".into();
        }
        if self.session.is_some() {
            if cmd.contains("json") || cmd.contains("JSON") {
                s.format = EventFormat::Json;
            } else if cmd.contains("xml") || cmd.contains("XML") {
                s.format = EventFormat::Xml;
            }
            s.subscribe_myevents();
            return "+OK Events Enabled".into();
        }
        let mut words = cmd[9..].split(' ').filter(|w| !w.is_empty());
        let uuid = words.next().unwrap_or("");
        let has_format = words.next().is_some();
        match self.switch.channel(uuid) {
            Some(ch) => {
                s.session = Some(ch.uuid.clone());
                s.subscribe_myevents();
                drop(s);
                self.session = Some(ch);
                "+OK Events Enabled".into()
            }
            None if has_format => "-ERR invalid uuid".into(),
            None => {
                s.subscribe_myevents();
                "+OK Events Enabled".into()
            }
        }
    }

    async fn sendmsg(&mut self, pkt: &Packet) -> String {
        let arg = pkt.command[7..].trim();
        let (target, command_value) = if !arg.is_empty() {
            (arg.to_owned(), pkt.command.clone())
        } else {
            let head_len = pkt.raw.len() - pkt.body.as_ref().map_or(0, |b| b.len());
            let raw = String::from_utf8_lossy(&pkt.raw[..head_len]).into_owned();
            let t = pkt
                .header("Session-ID")
                .map(str::to_owned)
                .or_else(|| self.session.as_ref().map(|c| c.uuid.clone()))
                .unwrap_or_default();
            (t, raw)
        };
        let Some(ch) = self.switch.channel(&target).filter(|c| !c.is_destroyed()) else {
            return format!("-ERR invalid session id [{target}]");
        };
        let own = self.session.as_ref().is_some_and(|s| s.uuid == ch.uuid);
        let data = SendMsgData {
            command: command_value,
            headers: pkt.headers.clone(),
            body: pkt.body.clone(),
        };
        let sync_inline = own
            && self.outbound.as_ref().is_some_and(|o| !o.async_mode)
            && !pkt
                .header("async")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if sync_inline {
            let (tx, rx) = oneshot::channel();
            if ch.inline(data, tx) {
                let _ = rx.await;
            }
            if ch.is_down() && self.linger.is_none() {
                self.close_after_reply = true;
            }
        } else {
            ch.queue(ChanMsg::SendMsg(data));
        }
        "+OK".into()
    }

    fn sendevent(&mut self, pkt: &Packet) -> String {
        let name_word = pkt.command[9..].trim();
        let name = name_word.split(' ').next().unwrap_or("");
        let ev_name = canonical(name).unwrap_or("CUSTOM");
        let subclass = if ev_name == "CUSTOM" {
            pkt.header("Event-Subclass").map(str::to_owned)
        } else {
            None
        };
        let event_uuid = self.core.uuids.next();
        let mut queued = Event::empty();
        queued.push_header("Command", &pkt.command);
        for (n, v) in &pkt.headers {
            if subclass.is_some() && n.eq_ignore_ascii_case("Event-Subclass") {
                continue;
            }
            queued.push_header(n, v);
        }
        queued.push_header("Event-UUID", &event_uuid);
        if let Some(sub) = &subclass {
            queued.push_header("Event-Subclass", sub);
        }
        if let Some(b) = &pkt.body {
            queued.set_body(b.clone());
        }
        let target = pkt
            .header("Unique-ID")
            .and_then(|u| self.switch.channel(u))
            .filter(|c| !c.is_destroyed());
        match target {
            Some(ch) => ch.queue(ChanMsg::Event(queued, ev_name.to_owned())),
            None => {
                let e = self.core.sendevent_form(&queued, ev_name);
                self.core.fire(e);
            }
        }
        format!("+OK {event_uuid}")
    }

    async fn api(&mut self, pkt: &Packet) -> Reply {
        let line = pkt.command[4..].trim();
        let (command, args) = match line.split_once(' ') {
            Some((c, a)) => (c.trim(), a.trim()),
            None => (line, ""),
        };
        if !self.allowed_api(command, args) {
            return Reply::Text("-ERR permission denied".into());
        }
        let session = self.session.as_ref().map(|c| c.uuid.clone());
        let out = api::execute(&self.switch, command, args, session.as_deref()).await;
        let body = serialize::api_body(command, out.as_deref());
        let frame = serialize::api_response_frame(body.as_bytes());
        let ok = self.write(frame).await;
        api::fire_api_event(&self.core, command, args);
        if ok {
            Reply::None
        } else {
            Reply::Close(Vec::new())
        }
    }

    fn bgapi(&mut self, pkt: &Packet) -> Bytes {
        let line = pkt.command[6..].trim();
        let (command, args) = match line.split_once(' ') {
            Some((c, a)) => (c.trim().to_owned(), a.trim().to_owned()),
            None => (line.to_owned(), String::new()),
        };
        if !self.allowed_api(&command, &args) {
            return serialize::command_reply_frame("-ERR permission denied");
        }
        let job = pkt
            .header("Job-UUID")
            .map(str::to_owned)
            .unwrap_or_else(|| self.core.uuids.next());
        let owner = self.session.as_ref().map(|c| c.uuid.clone());
        let switch = self.switch.clone();
        let job2 = job.clone();
        tokio::spawn(async move {
            let core = &switch.core;
            let out = api::execute(&switch, &command, &args, owner.as_deref()).await;
            api::fire_api_event(core, &command, &args);
            let body = match out {
                None => format!("-ERR {command} Command not found!\n"),
                Some(s) => s,
            };
            let mut e = core.base_event("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1580);
            e.push_header("Job-UUID", &job2);
            if let Some(o) = &owner {
                e.push_header("Job-Owner-UUID", o);
            }
            e.push_header("Job-Command", &command);
            if !args.is_empty() {
                e.push_header("Job-Command-Arg", &args);
            }
            let empty = body.is_empty();
            e.set_body(body);
            core.fire_with(Fired {
                event: e,
                empty_body: empty,
            });
        });
        serialize::command_reply_frame_with(&format!("+OK Job-UUID: {job}"), &[("Job-UUID", &job)])
    }

    fn log(&mut self, rest: &str) -> String {
        if self.perms.as_ref().is_some_and(|p| !p.allowed_log) {
            return "-ERR permission denied".into();
        }
        let text = rest.trim_start_matches(' ');
        let word = text.split(' ').next().unwrap_or("");
        let level = if word.is_empty() {
            Some(7)
        } else if let Ok(n) = word.parse::<i64>() {
            Some(if n > 64 {
                63
            } else if n < 0 {
                0
            } else {
                n as u8
            })
        } else {
            level_by_name(word)
        };
        match level {
            Some(l) => {
                lock(&self.shared.subs).log_level = Some(l);
                format!("+OK log level {word} [{l}]")
            }
            None => "-ERR invalid log level".into(),
        }
    }
}

enum Reply {
    Text(String),
    Frame(Bytes),
    None,
    Close(Vec<Bytes>),
}
