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
    /// [`SimulatorConfig::sync_hangup_order`](super::SimulatorConfig::sync_hangup_order) and
    /// [`SimulatorConfig::park_delay`](super::SimulatorConfig::park_delay).
    #[default]
    Fixed,
    /// Each call in an order drawn from this seed and the call's UUID
    /// ([`SimulatorConfig::call_order`](super::SimulatorConfig::call_order)): the linger notice first in about
    /// 2 of 5 sync calls, and the park after a delay of 0 (before a
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
}

/// How many of [`NOTICE_FIRST_OF`] seeded calls get
/// [`SyncHangupOrder::NoticeFirst`].
const NOTICE_FIRST: u64 = 2;
const NOTICE_FIRST_OF: u64 = 5;

/// The order of the call `uuid` under `order`; `sync_hangup` and
/// `park_delay` are the configured ones
/// ([`SimulatorConfig::call_order`](super::SimulatorConfig::call_order)).
pub(crate) fn draw(
    order: Order,
    uuid: &str,
    sync_hangup: SyncHangupOrder,
    park_delay: Duration,
) -> CallOrder {
    match order {
        Order::Fixed => CallOrder {
            sync_hangup,
            park_delay,
        },
        Order::Seeded(seed) => {
            let mut state = seed;
            for b in uuid.bytes() {
                state ^= u64::from(b);
                splitmix64(&mut state);
            }
            let draw = splitmix64(&mut state);
            let sync_hangup = if draw % NOTICE_FIRST_OF < NOTICE_FIRST {
                SyncHangupOrder::NoticeFirst
            } else {
                SyncHangupOrder::EventsFirst
            };
            let halves = u32::try_from((draw >> 32) % 4).unwrap_or(0);
            CallOrder {
                sync_hangup,
                park_delay: park_delay * halves / 2,
            }
        }
    }
}

/// Whether a sync socket's linger notice overtakes the CHANNEL_EXECUTE of
/// `app` on the channel `uuid`: the `hangup` application, when the call
/// drew [`SyncHangupOrder::NoticeFirst`].
pub(crate) fn notice_before_execute(call: CallOrder, app: &str) -> bool {
    app.eq_ignore_ascii_case("hangup") && call.sync_hangup == SyncHangupOrder::NoticeFirst
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
            }
        );
    }
}
