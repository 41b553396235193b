//! An inbound listener fed from NATS JetStream instead of a switch socket
//! (feature `nats`): a durable pull consumer on the stream a
//! [`Bridge`](crate::bridge::Bridge) fills.
//!
//! # Guarantee
//! * **At least once.** A message is acknowledged after the listener's hook
//!   for it has finished (`on_event` and the matching hooks). A hook that
//!   panics gets its message **nak'ed**, so JetStream delivers it again at
//!   once; a process that dies, or hooks still running when the shutdown
//!   grace ends, leave their messages unacknowledged, and JetStream delivers
//!   them again after [`StreamSettings::ack_wait`]. So a hook may see an
//!   event twice: make it idempotent, keyed on the event's
//!   `Core-UUID` + `Event-Sequence` (the bridge's `Nats-Msg-Id`). An event
//!   no hook wants is acknowledged without running anything; a message that
//!   is not an event (bad JSON) is terminated (`+TERM`, never redelivered)
//!   and counted in `librevox_stream_bad_messages_total`.
//! * **Order per channel, for a single consumer process.** Messages come in
//!   stream order, which is each switch's delivery order (see the bridge);
//!   events of one channel (`Unique-ID`) run one at a time in that order,
//!   channels independently, as on a socket. A redelivery (after a nak or
//!   an ack timeout) comes after later events of its channel that were
//!   handled meanwhile: order holds only until something is redelivered.
//! * **A shared consumer** (several processes with the same consumer name)
//!   splits the messages between the processes: each event is handled by
//!   one of them (at least once), and the work spreads, but a channel's
//!   events go to different processes and run concurrently there, so
//!   **per-channel order is given up**, as is any one process seeing a
//!   whole call.
//!
//! The consumer's filter comes from the listener's subscription when it is
//! one subject: `events = ["CHANNEL_ANSWER"]` filters
//! `freeswitch.*.event.CHANNEL_ANSWER`, one CUSTOM subclass
//! `freeswitch.*.event.CUSTOM.<subclass as tokens>`; anything else (`ALL`,
//! several names: nats-server 2.9 takes one filter subject per consumer)
//! takes `freeswitch.*.event.>` and acknowledges unwanted events unhandled.
//! [`StreamSettings::filter_subject`] sets it by hand (one switch:
//! `freeswitch.fs1.event.>`). An existing durable consumer is used as it is
//! configured (its filter and ack wait are not changed); it starts, when
//! created, at the start of the stream (`DeliverPolicy::All`).
//!
//! Hooks get an [`Inbound`] whose [`switch`](Inbound::switch) names the
//! switch from the subject and whose `Core-UUID` is the event's; it has no
//! event socket: its commands fail with [`Error::Closed`](crate::Error::Closed) saying so (send
//! commands to a bridge: a NATS request on `freeswitch.<switch>.api`).
//! `connection_completed` and `reconnected` are not called.
//!
//! In `/ready` ([`telemetry`](crate::telemetry)) the listener is
//! `stream <stream>/<consumer> <nats url>`: ready while its NATS
//! connection is up and its pull consumer is bound and fetching; not ready
//! while NATS is unreachable (the client reconnects on its own, or the
//! consumer is bound again) and until the consumer is bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use tracing::{error, info, warn};

use super::dispatch::{panic_text, CatchUnwind, Dispatcher, Routed};
use super::inbound::{Inbound, Reconnect, Switch};
use super::{Backoff, InboundListener, Shutdown, Subscription};
use crate::bridge::NatsAuth;
use crate::error::Result;
use crate::fleet::SUBJECT_ROOT;
use crate::protocol::{event_json, Event};
use crate::telemetry::{Component, Health};

/// Where and how a listener consumes from JetStream.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// The NATS URL (`nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// NATS credentials (default none).
    pub nats_auth: NatsAuth,
    /// The stream (default `FREESWITCH`, the bridge's).
    pub stream: String,
    /// The durable consumer's name: processes with the same name share the
    /// work.
    pub consumer: String,
    /// The consumer's filter subject (default: from the subscription).
    pub filter_subject: Option<String>,
    /// How long JetStream waits for an ack before delivering again
    /// (default 30 s), when it creates the consumer.
    pub ack_wait: Duration,
    /// Unacknowledged messages the consumer may have out at once (default
    /// 1000), when it creates the consumer.
    pub max_ack_pending: i64,
    /// Per-channel mailbox size (default 1024).
    pub mailbox_capacity: usize,
    /// Handle every event one at a time in stream order (default false).
    pub serial: bool,
    /// How long hooks may run on after shutdown (default 5 s); their
    /// messages are redelivered after `ack_wait`.
    pub shutdown_grace: Duration,
    /// Delays between attempts to reach NATS, the stream and the consumer.
    pub backoff: Backoff,
}

impl StreamSettings {
    /// Settings for the durable consumer `consumer` at `nats_url`.
    pub fn new(nats_url: impl Into<String>, consumer: impl Into<String>) -> StreamSettings {
        StreamSettings {
            nats_url: nats_url.into(),
            nats_auth: NatsAuth::None,
            stream: "FREESWITCH".to_owned(),
            consumer: consumer.into(),
            filter_subject: None,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1000,
            mailbox_capacity: 1024,
            serial: false,
            shutdown_grace: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }
}

/// The one subject that carries what `sub` subscribes to, for every switch:
/// `freeswitch.*.event.<NAME>`, `...event.CUSTOM.<subclass tokens>`, or
/// `...event.>` when that is not one subject.
pub fn filter_subject(sub: &Subscription) -> String {
    let words: Vec<&str> = sub
        .events
        .iter()
        .flat_map(|e| e.split_whitespace())
        .collect();
    let all = format!("{SUBJECT_ROOT}.*.event.>");
    match words.as_slice() {
        [name] if !name.eq_ignore_ascii_case("ALL") && !name.eq_ignore_ascii_case("CUSTOM") => {
            format!("{SUBJECT_ROOT}.*.event.{name}")
        }
        [custom] if custom.eq_ignore_ascii_case("CUSTOM") => {
            format!("{SUBJECT_ROOT}.*.event.CUSTOM.>")
        }
        [custom, subclass] if custom.eq_ignore_ascii_case("CUSTOM") => {
            let e = Event::new("CUSTOM").with_header("Event-Subclass", subclass);
            // The bridge's subject for it, with the switch token widened.
            let one = crate::fleet::event_subject(
                &crate::fleet::SwitchName::new("x").expect("a valid name"),
                &e,
            );
            one.replacen(
                &format!("{SUBJECT_ROOT}.x."),
                &format!("{SUBJECT_ROOT}.*."),
                1,
            )
        }
        _ => all,
    }
}

/// An event and its message, through the dispatcher.
struct Delivery {
    event: Event,
    msg: jetstream::Message,
    ctx: Inbound,
}

impl Routed for Delivery {
    fn event(&self) -> &Event {
        &self.event
    }
}

/// Consecutive message-stream errors before the consumer is bound again.
const MAX_FAILURES: u32 = 5;

const NO_SOCKET: &str = "this listener consumes from JetStream and has no event socket; \
     send commands through a bridge (a NATS request on freeswitch.<switch>.api)";

/// A stream listener's `/ready` entry: ready while the NATS connection of
/// the current bind is up and its consumer is bound.
struct StreamReady {
    /// Set under one lock, so concurrent updates cannot leave the entry
    /// stale.
    state: Mutex<ReadyState>,
}

struct ReadyState {
    /// The entry; `None` once the listener stopped (a NATS client still
    /// closing may call back after that: it must not bring the entry back
    /// or mark it not ready).
    component: Option<Component>,
    /// The current bind's number.
    bind: u64,
    /// Its NATS connection is up.
    nats: bool,
    /// Its consumer is bound and fetching.
    bound: bool,
}

impl StreamReady {
    fn register(settings: &StreamSettings) -> StreamReady {
        let component = Health::global().register(format!(
            "stream {}/{} {}",
            settings.stream, settings.consumer, settings.nats_url
        ));
        StreamReady {
            state: Mutex::new(ReadyState {
                component: Some(component),
                bind: 0,
                nats: false,
                bound: false,
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ReadyState)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state);
        if let Some(c) = &state.component {
            c.set_ready(state.nats && state.bound);
        }
    }

    /// A new bind begins: its number; nothing of it is up yet.
    fn next_bind(&self) -> u64 {
        let mut n = 0;
        self.update(|s| {
            s.bind += 1;
            (s.nats, s.bound) = (false, false);
            n = s.bind;
        });
        n
    }

    /// Bind `n`'s NATS connection went up or down (a client of an older
    /// bind, being dropped, does not count).
    fn nats(&self, n: u64, up: bool) {
        self.update(|s| {
            if s.bind == n {
                s.nats = up;
            }
        });
    }

    fn bound(&self, bound: bool) {
        self.update(|s| s.bound = bound);
    }

    /// The listener stopped: its entry leaves `/ready`.
    fn close(&self) {
        self.update(|s| s.component = None);
    }
}

/// Takes the entry out of `/ready` however [`run_stream`] returns.
struct CloseOnDrop(Arc<StreamReady>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs `listener` on the events of a JetStream stream until `shutdown`:
/// binds (or creates) the durable pull consumer, hands each event to the
/// hooks and acknowledges it once they have finished (see [the
/// module](self) for the guarantee). NATS, stream or consumer trouble is
/// retried with [`StreamSettings::backoff`]; it never returns an error
/// for them.
pub async fn run_stream<L: InboundListener>(
    listener: Arc<L>,
    settings: StreamSettings,
    shutdown: impl Into<Shutdown>,
) -> Result<()> {
    let shutdown: Shutdown = shutdown.into();
    let mut retry = Reconnect::new(settings.backoff);
    let ready = Arc::new(StreamReady::register(&settings));
    let _close = CloseOnDrop(ready.clone());
    loop {
        let outcome = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            r = bind(&listener, &settings, &ready) => r,
        };
        let delay = match outcome {
            Ok(messages) => {
                retry.connected();
                info!(stream = %settings.stream, consumer = %settings.consumer, "consuming from JetStream");
                ready.bound(true);
                let stopped = serve(&listener, messages, &settings, &shutdown).await;
                ready.bound(false);
                if stopped {
                    return Ok(());
                }
                let d = retry.next_delay();
                warn!(consumer = %settings.consumer, "JetStream message stream ended; binding again in {d:?}");
                d
            }
            Err(e) => {
                let d = retry.next_delay();
                warn!(consumer = %settings.consumer, error = %e, "cannot consume from JetStream; retrying in {d:?}");
                d
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn bind<L: InboundListener>(
    listener: &Arc<L>,
    settings: &StreamSettings,
    ready: &Arc<StreamReady>,
) -> std::result::Result<pull::Stream, String> {
    let n = ready.next_bind();
    let on_event = ready.clone();
    let opts = async_nats::ConnectOptions::new()
        .name("librevox-stream")
        .max_reconnects(None)
        .event_callback(move |ev| {
            let ready = on_event.clone();
            async move {
                match ev {
                    async_nats::Event::Connected => ready.nats(n, true),
                    async_nats::Event::Disconnected => {
                        warn!("NATS disconnected; the stream listener is not ready");
                        ready.nats(n, false);
                    }
                    other => tracing::debug!("NATS: {other}"),
                }
            }
        });
    let opts = match &settings.nats_auth {
        NatsAuth::None => opts,
        NatsAuth::UserPassword(u, p) => opts.user_and_password(u.clone(), p.clone()),
        NatsAuth::Token(t) => opts.token(t.clone()),
    };
    let client = tokio::time::timeout(Duration::from_secs(10), opts.connect(&settings.nats_url))
        .await
        .map_err(|_| format!("connecting to NATS at {}: timed out", settings.nats_url))?
        .map_err(|e| format!("connecting to NATS at {}: {e}", settings.nats_url))?;
    ready.nats(n, true);
    let js = jetstream::new(client);
    let stream = js
        .get_stream(&settings.stream)
        .await
        .map_err(|e| format!("stream `{}`: {e} (does a bridge run?)", settings.stream))?;
    let filter = settings
        .filter_subject
        .clone()
        .unwrap_or_else(|| filter_subject(&listener.subscription()));
    let config = pull::Config {
        durable_name: Some(settings.consumer.clone()),
        filter_subject: filter,
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_ack_pending: settings.max_ack_pending,
        ..Default::default()
    };
    let consumer = stream
        .get_or_create_consumer(&settings.consumer, config)
        .await
        .map_err(|e| format!("consumer `{}`: {e}", settings.consumer))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("consumer `{}`: {e}", settings.consumer))
}

/// Handles messages until shutdown (true) or the end of the message
/// stream (false).
async fn serve<L: InboundListener>(
    listener: &Arc<L>,
    mut messages: pull::Stream,
    settings: &StreamSettings,
    shutdown: &Shutdown,
) -> bool {
    let l = listener.clone();
    let mut dispatcher = Dispatcher::new(
        Arc::new(move |d: Delivery| {
            let l = l.clone();
            Box::pin(async move {
                let Delivery { event, msg, ctx } = d;
                let done = CatchUnwind(Box::pin(l.handle_event(&ctx, &event))).await;
                let ack = match done {
                    Ok(()) => msg.ack().await,
                    Err(panic) => {
                        error!(
                            event = event.name().unwrap_or(""),
                            panic = %panic_text(panic.as_ref()),
                            "an event hook panicked; its message is nak'ed for redelivery"
                        );
                        msg.ack_with(AckKind::Nak(None)).await
                    }
                };
                if let Err(e) = ack {
                    warn!(error = %e, "JetStream ack failed; the message will be redelivered");
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        }),
        settings.mailbox_capacity,
    );
    if settings.serial {
        dispatcher = dispatcher.serial();
    }
    // One context per (switch, Core-UUID): a restarted switch gets a new one.
    let mut contexts: HashMap<(String, String), Inbound> = HashMap::new();
    let mut counters = crate::telemetry::EventCounters::new();
    let mut failures = 0u32;
    let ended = loop {
        let next = tokio::select! {
            _ = shutdown.wait() => break true,
            m = messages.next() => m,
        };
        let msg = match next {
            None => break false,
            Some(Err(e)) => {
                // Missed heartbeats, a deleted consumer: a few in a row and
                // the consumer is bound again (with backoff).
                failures += 1;
                warn!(error = %e, failures, "JetStream consumer");
                if failures >= MAX_FAILURES {
                    break false;
                }
                continue;
            }
            Some(Ok(msg)) => {
                failures = 0;
                msg
            }
        };
        let event = match std::str::from_utf8(&msg.payload)
            .map_err(|e| e.to_string())
            .and_then(|s| event_json::from_str(s).map_err(|e| e.to_string()))
        {
            Ok(event) => event,
            Err(e) => {
                error!(subject = %msg.subject, error = %e, "a stream message that is not an event; terminated");
                metrics::counter!("librevox_stream_bad_messages_total").increment(1);
                let _ = msg.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let wanted = event.name().is_some_and(|n| listener.wants_event(n));
        if !wanted {
            if let Err(e) = msg.ack().await {
                warn!(error = %e, "JetStream ack failed");
            }
            continue;
        }
        let switch = msg.subject.split('.').nth(1).unwrap_or("_").to_owned();
        let core = event.header("Core-UUID").unwrap_or("").to_owned();
        let ctx = contexts
            .entry((switch.clone(), core))
            .or_insert_with(|| detached(&switch, &settings.nats_url, shutdown))
            .clone();
        ctx.switch().observe(&event);
        counters.check_recorder();
        counters.received(event.name());
        dispatcher.dispatch(Delivery { event, msg, ctx }).await;
    };
    if tokio::time::timeout(settings.shutdown_grace, dispatcher.finish())
        .await
        .is_err()
    {
        warn!("event hooks still running after the shutdown grace period; their messages will be redelivered");
    }
    ended
}

/// A context without an event socket, for events from `switch`.
fn detached(switch: &str, nats_url: &str, shutdown: &Shutdown) -> Inbound {
    let (io, _peer) = tokio::io::duplex(64);
    let (conn, _events) = crate::connection::Connection::new(io, Default::default());
    conn.close_now(NO_SOCKET);
    Inbound::new(conn, Switch::new(Some(switch), nats_url), shutdown.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(events: &[&str]) -> Subscription {
        Subscription {
            events: events.iter().map(|e| e.to_string()).collect(),
            ..Subscription::default()
        }
    }

    #[test]
    fn one_subject_when_the_subscription_is_one() {
        assert_eq!(
            filter_subject(&sub(&["CHANNEL_ANSWER"])),
            "freeswitch.*.event.CHANNEL_ANSWER"
        );
        assert_eq!(
            filter_subject(&sub(&["CUSTOM conference::maintenance"])),
            "freeswitch.*.event.CUSTOM.conference.maintenance"
        );
        assert_eq!(
            filter_subject(&sub(&["CUSTOM"])),
            "freeswitch.*.event.CUSTOM.>"
        );
        for many in [
            &["ALL"][..],
            &["CHANNEL_ANSWER", "CHANNEL_HANGUP"],
            &["CHANNEL_ANSWER CHANNEL_HANGUP"],
            &["CUSTOM a::b c::d"],
        ] {
            assert_eq!(
                filter_subject(&sub(many)),
                "freeswitch.*.event.>",
                "{many:?}"
            );
        }
    }
}
