//! Reading one switch and publishing its events with acknowledgements.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishError, context::PublishErrorKind};
use async_nats::HeaderMap;
use bytes::Bytes;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::{BridgeConfig, Counters, SwitchConfig};
use crate::command_socket::{CommandSocket, ConnectOptions};
use crate::connection::Connection;
use crate::fleet::{self, SwitchName};
use crate::listener::{Reconnect, Shutdown};
use crate::protocol::{event_json, Command, Event, EventFormat, Message};

/// One event ready to publish.
pub(super) struct Item {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    /// Its share of the byte budget, released when it is acknowledged.
    _permit: Option<OwnedSemaphorePermit>,
}

impl Item {
    fn new(switch: &SwitchName, event: &Event) -> Item {
        let mut headers = HeaderMap::new();
        match fleet::msg_id(event) {
            Some(id) => headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str()),
            None => tracing::warn!(
                switch = %switch,
                "event without Core-UUID/Event-Sequence: published without a Msg-Id (no dedup)"
            ),
        }
        if let Some(uuid) = event.header("Unique-ID") {
            headers.insert("Unique-ID", uuid);
        }
        if let Some(name) = event.header("Event-Name") {
            headers.insert("Event-Name", name);
        }
        Item {
            subject: fleet::event_subject(switch, event),
            headers,
            payload: Bytes::from(event_json::to_string(event)),
            _permit: None,
        }
    }
}

type AckFuture =
    Pin<Box<dyn Future<Output = Result<jetstream::publish::PublishAck, PublishError>> + Send>>;

/// Connects to the switch (again and again), subscribes to every event and
/// hands them to the publisher, waiting when its buffer is full (so the
/// switch's socket is not read).
pub(super) async fn read_switch(
    sw: SwitchConfig,
    config: Arc<BridgeConfig>,
    tx: mpsc::Sender<Item>,
    bytes: Arc<Semaphore>,
    counters: Arc<Counters>,
    conn_tx: watch::Sender<Option<Connection>>,
    shutdown: Shutdown,
) {
    // A connection lost before it stayed up `healthy_after` is one more
    // failure: the delays keep growing (issue 13.2).
    let mut retry = Reconnect::new(config.backoff);
    loop {
        let session = async {
            let mut opts = ConnectOptions::new(sw.address.clone())
                .password(sw.password.clone())
                .keep_events(true);
            if let Some(u) = &sw.user {
                opts = opts.user(u.clone());
            }
            let mut sock = CommandSocket::connect_with(opts).await?;
            let events = sock
                .take_events()
                .ok_or_else(|| crate::Error::protocol("no event stream"))?;
            sock.command(&Command::event(EventFormat::Plain, &["ALL"]))
                .await?;
            Ok::<_, crate::Error>((sock, events))
        };
        let connected = tokio::select! {
            _ = shutdown.wait() => return,
            r = session => r,
        };
        let (sock, mut events) = match connected {
            Ok(c) => c,
            Err(e) => {
                let delay = retry.next_delay();
                tracing::warn!(switch = %sw.name, address = %sw.address, "cannot connect: {e}; retrying in {delay:?}");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
        };
        retry.connected();
        counters.connects.fetch_add(1, Ordering::Relaxed);
        counters.set_connected(true);
        conn_tx.send_replace(Some(sock.connection().clone()));
        tracing::info!(switch = %sw.name, address = %sw.address, "switch connected");
        let budget = config.max_buffered_bytes.min(Semaphore::MAX_PERMITS);
        loop {
            let msg = tokio::select! {
                _ = shutdown.wait() => break,
                m = events.recv() => m,
            };
            let Some(msg) = msg else { break };
            let Message::Event(event) = msg else { continue };
            counters.received.fetch_add(1, Ordering::Relaxed);
            let mut item = Item::new(&sw.name, &event);
            // An event bigger than the whole budget takes all of it.
            let want = item.payload.len().clamp(1, budget) as u32;
            // An event already read is handed over whenever there is room
            // (biased: a stop does not win a race against a free buffer, or
            // a graceful stop would drop it); the stop only ends a wait for
            // room, and that event is counted as dropped.
            let permit = tokio::select! {
                biased;
                p = bytes.clone().acquire_many_owned(want) => p,
                _ = shutdown.wait() => { count_drop(&sw.name, &counters, 1, "the bridge stopped"); break }
            };
            item._permit = permit.ok();
            let sent = tokio::select! {
                biased;
                r = tx.send(item) => r,
                _ = shutdown.wait() => { count_drop(&sw.name, &counters, 1, "the bridge stopped"); break }
            };
            if sent.is_err() {
                count_drop(&sw.name, &counters, 1, "the publisher ended");
                break;
            }
        }
        counters.set_connected(false);
        conn_tx.send_replace(None);
        if shutdown.is_triggered() {
            drop(sock);
            return;
        }
        let delay = retry.next_delay();
        tracing::warn!(switch = %sw.name, "switch connection lost: {}; reconnecting in {delay:?}", sock.connection().closed().await);
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

pub(super) fn count_drop(switch: &SwitchName, counters: &Counters, n: u64, why: &str) {
    if n > 0 {
        counters.dropped.fetch_add(n, Ordering::Relaxed);
        tracing::error!(switch = %switch, dropped = n, "{n} event(s) not published: {why}");
    }
}

/// Publishes one switch's events in order, at most `max_in_flight` awaiting
/// their ack; on a failed ack, everything from the oldest unacknowledged
/// event on is published again (the Msg-Id makes that safe).
pub(super) async fn publish_loop(
    switch: SwitchName,
    config: Arc<BridgeConfig>,
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Item>,
    _bytes: Arc<Semaphore>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) {
    let window = config.max_in_flight;
    // Items taken from the channel, oldest first; the first `acks.len()`
    // have been published and wait for their ack.
    let mut queue: VecDeque<Item> = VecDeque::with_capacity(window);
    // With the time each was published (`librevox_bridge_publish_seconds`).
    let mut acks: VecDeque<(Instant, AckFuture)> = VecDeque::with_capacity(window);
    let publish_seconds =
        metrics::histogram!("librevox_bridge_publish_seconds", "switch" => switch.to_string());
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut failures = 0u32;
    let mut stopping_at: Option<tokio::time::Instant> = None;
    let mut input_open = true;
    loop {
        // Publish what the window allows (unless waiting to retry).
        if retry_at.is_none() {
            while acks.len() < queue.len() && acks.len() < window {
                let item = &queue[acks.len()];
                let msg = jetstream::message::PublishMessage::build()
                    .payload(item.payload.clone())
                    .headers(item.headers.clone());
                let sent_at = Instant::now();
                match js.send_publish(item.subject.clone(), msg).await {
                    Ok(fut) => acks.push_back((sent_at, fut.into_future())),
                    Err(e) => {
                        tracing::warn!(switch = %switch, "publish failed: {e}; retrying");
                        retry_at = Some(tokio::time::Instant::now() + retry_delay(failures));
                        failures = failures.saturating_add(1);
                        break;
                    }
                }
            }
        }
        if !input_open && queue.is_empty() {
            return;
        }
        let stop_deadline = stopping_at;
        tokio::select! {
            biased;
            _ = shutdown.wait(), if stopping_at.is_none() => {
                stopping_at = Some(tokio::time::Instant::now() + config.stop_grace);
                // The reader stops too and drops its sender: what it read
                // until then still comes through (closing the channel here
                // would drop an event it was handing over), then `None`.
            }
            _ = sleep_until_opt(stop_deadline), if stop_deadline.is_some() => {
                let left = queue.len() as u64 + drain_count(&mut rx);
                count_drop(&switch, &counters, left, "not acknowledged within the stop grace");
                return;
            }
            _ = sleep_until_opt(retry_at), if retry_at.is_some() => {
                retry_at = None;
            }
            ack = async { acks.front_mut().expect("guarded").1.as_mut().await }, if !acks.is_empty() => {
                let (sent_at, _) = acks.pop_front().expect("guarded");
                match ack {
                    Ok(ack) => {
                        publish_seconds.record(sent_at.elapsed().as_secs_f64());
                        queue.pop_front();
                        failures = 0;
                        counters.acked.fetch_add(1, Ordering::Relaxed);
                        if ack.duplicate {
                            counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        // Everything after it is republished too, in order.
                        let n = acks.len() as u64 + 1;
                        acks.clear();
                        counters.retries.fetch_add(n, Ordering::Relaxed);
                        let delay = if matches!(e.kind(), PublishErrorKind::TimedOut) { Duration::ZERO } else { retry_delay(failures) };
                        failures = failures.saturating_add(1);
                        tracing::warn!(switch = %switch, "publish not acknowledged ({e}); publishing {n} event(s) again");
                        retry_at = Some(tokio::time::Instant::now() + delay);
                    }
                }
            }
            item = rx.recv(), if input_open && queue.len() < window => {
                match item {
                    Some(item) => queue.push_back(item),
                    None => input_open = false,
                }
            }
        }
    }
}

fn drain_count(rx: &mut mpsc::Receiver<Item>) -> u64 {
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    n
}

fn retry_delay(failures: u32) -> Duration {
    (Duration::from_millis(50) * (1u32 << failures.min(5))).min(Duration::from_secs(1))
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
