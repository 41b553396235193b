//! The orders the real switch varies between calls, and the seeded mode
//! that gives each simulated call one of them ([`Order`]).

use std::time::Duration;

use super::clock::splitmix64;

/// The order in which a sync (`Socket-Mode: static`) outbound socket
/// delivers the end of its call.
///
/// The real FreeSWITCH writes the linger disconnect-notice from the
/// channel's thread, while events reach the socket through the event
/// dispatch thread; so the notice can overtake CHANNEL_HANGUP and the
/// completion of the application that was running, and when the `hangup`
/// application hung up, that application's CHANNEL_EXECUTE too (seen on
/// FreeSWITCH 1.11.3 in about 2 of 5 calls). Tests of a client select each
/// order to prove it copes with both, or run across seeds of
/// [`Order::Seeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncHangupOrder {
    /// CHANNEL_HANGUP and the running application's CHANNEL_EXECUTE_COMPLETE,
    /// then the linger notice (the usual order).
    #[default]
    EventsFirst,
    /// The linger notice first, then CHANNEL_HANGUP and the running
    /// application's CHANNEL_EXECUTE_COMPLETE; when the `hangup`
    /// application hangs up, the notice comes before its CHANNEL_EXECUTE.
    NoticeFirst,
}

/// How the simulator orders what the real switch delivers in a varying
/// order ([`SimulatorConfig::order`](super::SimulatorConfig::order)).
///
/// FreeSWITCH delivers a channel's events from its event-dispatch thread
/// and its socket's notices from the channel's thread, so some frames come
/// in a different order from one call to the next (seen on 1.11.3 by the
/// differential test, `testdata/live/differential/`):
/// * on a sync outbound socket, the linger disconnect-notice comes after
///   the hangup's events, or before them ([`SyncHangupOrder`]);
/// * on either socket, when the dispatch thread lags, the notice also
///   overtakes the events still in dispatch as the hangup begins
///   ([`CallOrder::dispatch_lag`]);
/// * on an async outbound socket, CHANNEL_PARK comes a variable time after
///   `connect` (a media tick, about 20 ms), so it lands among the replies
///   to the client's first commands at different places, or before the
///   client's `myevents` took effect (the client never sees it).
///
/// [`Order::Fixed`] (the default) gives every call the configured order;
/// [`Order::Seeded`] draws each call's ([`CallOrder`]) from the seed and
/// the call's UUID, so a test run across several seeds meets each order
/// the switch produces, and a seed with
/// [`SimulatorConfig::deterministic`](super::SimulatorConfig::deterministic)
/// (or fixed [`CallSpec::uuid`](super::CallSpec::uuid)s) reproduces a run
/// exactly.
///
/// ```
/// use librevox::simulator::{Order, SimulatorConfig};
///
/// let config = SimulatorConfig {
///     order: Order::Seeded(3),
///     ..SimulatorConfig::deterministic(1)
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Order {
    /// Every call in the same order: the configured
    /// [`SimulatorConfig::sync_hangup_order`](super::SimulatorConfig::sync_hangup_order),
    /// [`SimulatorConfig::dispatch_lag`](super::SimulatorConfig::dispatch_lag) and
    /// [`SimulatorConfig::park_delay`](super::SimulatorConfig::park_delay).
    #[default]
    Fixed,
    /// Each call in an order drawn from this seed and the call's UUID
    /// ([`SimulatorConfig::call_order`](super::SimulatorConfig::call_order)): the linger notice first in about
    /// 2 of 5 sync calls, a dispatch lag of one event in about 1 of 5
    /// calls (sync or async), and the park after a delay of 0 (before a
    /// client's `myevents` can take effect), ½, 1 or 1½ times
    /// [`SimulatorConfig::park_delay`](super::SimulatorConfig::park_delay).
    Seeded(u64),
}

/// The order one call gets ([`SimulatorConfig::call_order`](super::SimulatorConfig::call_order)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOrder {
    /// On a sync outbound socket: the linger notice before or after the
    /// hangup's events.
    pub sync_hangup: SyncHangupOrder,
    /// On an async outbound socket: how long after `connect` the channel
    /// parks.
    pub park_delay: Duration,
    /// How many events of the outbound socket the event-dispatch thread
    /// still holds when the call's hangup begins: with a lag, the linger
    /// disconnect-notice (sync or async socket) is written as the hangup
    /// begins, before the hangup's events, and before the `dispatch_lag`
    /// events the socket was last sent, each of them held back at most
    /// [`DISPATCH_HOLD`] (so a client that waits for an event still gets
    /// it: the notice can only overtake events fired just before the
    /// hangup, e.g. the playback's CHANNEL_EXECUTE_COMPLETE when the client
    /// queued playback and hangup at once). 0: no lag, the notice where
    /// [`CallOrder::sync_hangup`] says (sync) or after the channel's last
    /// event (async).
    ///
    /// Why the real switch does this (mod_event_socket.c, FreeSWITCH
    /// 1.10/1.11): the socket's listener loop writes the notice straight to
    /// the socket when it finds `switch_channel_down(channel)`, a flag the
    /// session thread sets as the hangup begins, while the channel's events
    /// go through the core's event-dispatch thread into the listener's
    /// queue; the notice overtakes whatever is still in dispatch, as many
    /// events as dispatch lags (load decides, the code bounds nothing).
    pub dispatch_lag: u32,
}

/// The longest the simulator holds an event back for a
/// [`CallOrder::dispatch_lag`]: a held event goes out when the next one
/// comes past the lag, when the notice has been written, or after this
/// long, whichever is first.
pub const DISPATCH_HOLD: Duration = Duration::from_millis(200);

/// How many of [`NOTICE_FIRST_OF`] seeded calls get
/// [`SyncHangupOrder::NoticeFirst`].
const NOTICE_FIRST: u64 = 2;
const NOTICE_FIRST_OF: u64 = 5;

/// How many of [`LAG_OF`] seeded calls get a [`CallOrder::dispatch_lag`]
/// of one event.
const LAG: u64 = 1;
const LAG_OF: u64 = 5;

/// The configured order, what [`Order::Fixed`] gives every call.
pub(crate) struct Configured {
    pub(crate) sync_hangup: SyncHangupOrder,
    pub(crate) park_delay: Duration,
    pub(crate) dispatch_lag: u32,
}

/// The order of the call `uuid` under `order`; `configured` is what the
/// configuration says
/// ([`SimulatorConfig::call_order`](super::SimulatorConfig::call_order)).
pub(crate) fn draw(order: Order, uuid: &str, configured: Configured) -> CallOrder {
    let Configured {
        sync_hangup,
        park_delay,
        dispatch_lag,
    } = configured;
    match order {
        Order::Fixed => CallOrder {
            sync_hangup,
            park_delay,
            dispatch_lag,
        },
        Order::Seeded(seed) => {
            // Each byte folded into a mixed state: UUIDs that differ in a
            // digit draw independently (xor-then-add collided: 200
            // numbered UUIDs drew 30 distinct orders).
            let mut state = seed;
            for b in uuid.bytes() {
                state = splitmix64(&mut state) ^ u64::from(b);
            }
            let draw = splitmix64(&mut state);
            let sync_hangup = if draw % NOTICE_FIRST_OF < NOTICE_FIRST {
                SyncHangupOrder::NoticeFirst
            } else {
                SyncHangupOrder::EventsFirst
            };
            let halves = u32::try_from((draw >> 32) % 4).unwrap_or(0);
            // A second draw, so the first's orders stay what they were.
            let lag = u32::from(splitmix64(&mut state) % LAG_OF < LAG);
            CallOrder {
                sync_hangup,
                park_delay: park_delay * halves / 2,
                dispatch_lag: lag,
            }
        }
    }
}

/// Whether the call's socket (`sync`: a sync one) writes its linger
/// notice as the hangup begins, before the hangup's events: a sync socket
/// under [`SyncHangupOrder::NoticeFirst`], and either socket with a
/// [`CallOrder::dispatch_lag`].
pub(crate) fn notice_at_hangup(call: CallOrder, sync: bool) -> bool {
    call.dispatch_lag > 0 || (sync && call.sync_hangup == SyncHangupOrder::NoticeFirst)
}

/// Whether the socket's linger notice overtakes the CHANNEL_EXECUTE of
/// `app`: the `hangup` application, when the notice comes as the hangup
/// begins ([`notice_at_hangup`]).
pub(crate) fn notice_before_execute(call: CallOrder, app: &str, sync: bool) -> bool {
    app.eq_ignore_ascii_case("hangup") && notice_at_hangup(call, sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimulatorConfig;

    #[test]
    fn seeded_calls_get_every_order_and_the_same_call_the_same_one() {
        let mut config = SimulatorConfig {
            order: Order::Seeded(7),
            ..SimulatorConfig::default()
        };
        let uuids: Vec<String> = (0..200)
            .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
            .collect();
        let orders: Vec<CallOrder> = uuids.iter().map(|u| config.call_order(u)).collect();
        let first = orders
            .iter()
            .filter(|o| o.sync_hangup == SyncHangupOrder::NoticeFirst)
            .count();
        // About 2 in 5 (80 of 200), well away from never and always.
        assert!((50..=110).contains(&first), "{first} of 200 notice-first");
        for ms in [0, 10, 20, 30] {
            assert!(
                orders
                    .iter()
                    .any(|o| o.park_delay == Duration::from_millis(ms)),
                "no call parks after {ms} ms"
            );
        }
        assert!(orders.iter().all(|o| [0, 10, 20, 30]
            .map(Duration::from_millis)
            .contains(&o.park_delay)));
        let distinct: std::collections::HashSet<_> =
            orders.iter().map(|o| format!("{o:?}")).collect();
        // 2 x 4 x 2 orders: each met, not a few repeated.
        assert_eq!(distinct.len(), 16, "{distinct:?}");
        let lagging = orders.iter().filter(|o| o.dispatch_lag == 1).count();
        // About 1 in 5 (40 of 200); never more than one event.
        assert!((20..=65).contains(&lagging), "{lagging} of 200 lagging");
        assert!(orders.iter().all(|o| o.dispatch_lag <= 1));
        // The lag is drawn apart: lagging calls of both hangup orders.
        for sync_hangup in [SyncHangupOrder::EventsFirst, SyncHangupOrder::NoticeFirst] {
            assert!(orders
                .iter()
                .any(|o| o.dispatch_lag == 1 && o.sync_hangup == sync_hangup));
        }
        assert_eq!(config.call_order(&uuids[3]), orders[3]);
        config.order = Order::Seeded(8);
        let other: Vec<CallOrder> = uuids.iter().map(|u| config.call_order(u)).collect();
        assert_ne!(other, orders, "another seed, other orders");
        config.order = Order::Fixed;
        config.sync_hangup_order = SyncHangupOrder::NoticeFirst;
        assert_eq!(
            config.call_order(&uuids[0]),
            CallOrder {
                sync_hangup: SyncHangupOrder::NoticeFirst,
                park_delay: config.park_delay,
                dispatch_lag: 0,
            }
        );
        config.dispatch_lag = 1;
        assert_eq!(config.call_order(&uuids[0]).dispatch_lag, 1);
    }
}
