//! `socket <host:port>[|<host:port>...] [async] [full]` (§5.1): dials the
//! first target that answers and hands the stream to the ESL layer (the
//! switch's socket host). An async socket then parks the channel; a sync
//! one runs the socket's `sendmsg`s inline on the channel thread.

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::protocol::LogLevel;
use crate::simulator::bus::Out;
use crate::simulator::channel::model::Inline;
use crate::simulator::channel::runner::{wait_true, wait_zero, BoxFut, Runner};
use crate::simulator::channel::switch::OutboundCtx;
use crate::simulator::core::TextChannel;

/// mod_event_socket's default port when a target has none.
const DEFAULT_PORT: u16 = 8084;

/// The argument: targets and mode words.
struct SocketArg<'a> {
    targets: &'a str,
    async_mode: bool,
    full: bool,
}

fn parse(data: &str) -> SocketArg<'_> {
    let mut words = data.split(' ').filter(|w| !w.is_empty());
    let targets = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    let has = |word: &str| rest.iter().any(|w| w.eq_ignore_ascii_case(word));
    SocketArg {
        targets,
        async_mode: has("async"),
        full: has("full"),
    }
}

/// Tries each `host[:port][/path]` in turn (a target without a port uses
/// the previous one's); sets `socket_host` / `socket_path` as it goes.
async fn dial(r: &Runner, targets: &str) -> Option<(TcpStream, String)> {
    let mut port = DEFAULT_PORT;
    for target in targets.split('|') {
        let (hostport, path) = match target.split_once('/') {
            Some((hp, p)) => (hp, Some(p)),
            None => (target, None),
        };
        let host = match hostport.rsplit_once(':') {
            Some((h, p)) => {
                port = p.parse().unwrap_or(port);
                h
            }
            None => hostport,
        };
        r.ch.set_var("socket_host", host);
        if let Some(p) = path {
            r.ch.set_var("socket_path", p);
        }
        if let Ok(s) = TcpStream::connect((host, port)).await {
            let _ = s.set_nodelay(true);
            return Some((s, format!("{host}:{port}")));
        }
    }
    None
}

pub(super) fn socket<'a>(r: &'a mut Runner, data: &'a str, _: bool) -> BoxFut<'a, Option<String>> {
    Box::pin(async move {
        let arg = parse(data);
        let Some((stream, target)) = dial(r, arg.targets).await else {
            r.core.log(
                LogLevel::Err.number(),
                TextChannel::Session,
                ("mod_event_socket.c", "socket_function", 2580),
                &r.ch.uuid,
                "Socket Error!\n",
            );
            return None;
        };
        let (tx, connected) = oneshot::channel();
        let (itx, irx) = mpsc::unbounded_channel::<Inline>();
        if !arg.async_mode {
            r.ch.set_inline(Some(itx));
        }
        r.ch.hold();
        let ctx = OutboundCtx {
            async_mode: arg.async_mode,
            full: arg.full,
            on_connect: Some(tx),
        };
        let switch = r.switch.clone();
        switch
            .sockets()
            .serve(switch.clone(), stream, r.ch.clone(), target, ctx);
        if arg.async_mode {
            run_async(r, connected).await;
        } else {
            // Nothing to wait for: `connect` replies at once.
            drop(connected);
            run_sync(r, irx).await;
        }
        None
    })
}

/// Async: once the client sent `connect` (and FreeSWITCH's short delay
/// passed), the channel parks until the socket lets it go.
async fn run_async(r: &mut Runner, connected: oneshot::Receiver<oneshot::Sender<()>>) {
    let parked = tokio::select! {
        ack = connected => ack.ok(),
        _ = wait_true(&mut r.down) => None,
    };
    let delay = r.core.cfg.call_order(&r.ch.uuid).park_delay;
    if !r.down() && !delay.is_zero() {
        drop(parked);
        let _ = r.wait(Some(delay), false, false).await;
        r.park(true, None).await;
    } else {
        r.park(true, parked).await;
    }
}

/// Sync: the socket is served from the channel thread; a sendmsg runs
/// inline and its `+OK` is written after the application returned. The
/// socket learns of the hangup from here, after the running application.
async fn run_sync(r: &mut Runner, mut irx: mpsc::UnboundedReceiver<Inline>) {
    let (core, ch) = (r.core.clone(), r.ch.clone());
    let mut holds = ch.holds();
    let mut marked = false;
    let mut mark = |r: &Runner| {
        if r.down() && !marked {
            marked = true;
            core.send_to_session(&ch.uuid, true, || Out::Down);
        }
        marked
    };
    loop {
        let marked_now = mark(r);
        tokio::select! {
            biased;
            changed = r.down.changed(), if !marked_now => {
                if changed.is_err() {
                    break;
                }
            }
            req = irx.recv() => {
                let Some((msg, done)) = req else { break };
                if !r.down() {
                    r.sendmsg(msg).await;
                }
                mark(r);
                let _ = done.send(());
            }
            _ = wait_zero(&mut holds) => break,
        }
    }
    ch.set_inline(None);
}
