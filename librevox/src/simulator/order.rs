//! The orders the real switch varies between calls, and the seeded mode that
//! gives each simulated call one of them ([`Order`]).
//!
//! FreeSWITCH delivers a channel's events from its event-dispatch thread
//! and its socket's notices from the channel's thread, so some frames come
//! in a different order from one call to the next (seen on 1.11.3 by the
//! differential test, `testdata/live/differential/`):
//! * on a sync outbound socket, the linger disconnect-notice comes after
//!   the hangup's events, or before them (in about 2 of 5 calls): before
//!   the `hangup` application's CHANNEL_EXECUTE, or before CHANNEL_HANGUP
//!   when the channel hung up under another application;
//! * on an async outbound socket, CHANNEL_PARK comes a variable time after
//!   `connect` (a media tick, about 20 ms), so it lands among the replies to
//!   the client's first commands at different places.
//!
//! The simulator produces one order unless asked: [`Order::Fixed`] (the
//! default) uses [`SimulatorConfig::sync_hangup_order`] and
//! [`SimulatorConfig::park_delay`] for every call; [`Order::Seeded`] draws
//! each call's order ([`CallOrder`]) from the seed and the call's UUID, so a
//! test run across several seeds meets each order the switch produces, and
//! one seed with [`SimulatorConfig::deterministic`] (or fixed UUIDs)
//! reproduces a run exactly.

use std::time::Duration;

use super::clock::splitmix64;
use super::config::{SimulatorConfig, SyncHangupOrder};

/// How the simulator orders what the real switch delivers in a varying
/// order ([`SimulatorConfig::order`]; see the [module](self) for the orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Order {
    /// Every call in the same order: the configured
    /// [`SimulatorConfig::sync_hangup_order`] and
    /// [`SimulatorConfig::park_delay`].
    #[default]
    Fixed,
    /// Each call in an order drawn from this seed and the call's UUID
    /// ([`SimulatorConfig::call_order`]): the linger notice first in about
    /// 2 of 5 sync calls, and the park after a delay of ½, 1 or 1½ times
    /// [`SimulatorConfig::park_delay`].
    Seeded(u64),
}

/// The order one call gets ([`SimulatorConfig::call_order`]).
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

impl SimulatorConfig {
    /// The order the call with UUID `uuid` gets under
    /// [`SimulatorConfig::order`].
    ///
    /// ```
    /// use librevox::simulator::{Order, SimulatorConfig, SyncHangupOrder};
    ///
    /// let mut config = SimulatorConfig::default();
    /// let uuid = "94d9b7e2-d60f-4ec3-8648-0acb4dc403be";
    /// assert_eq!(config.call_order(uuid).sync_hangup, SyncHangupOrder::EventsFirst);
    /// config.order = Order::Seeded(1);
    /// // Some seed puts the linger notice first for this call.
    /// assert!((0..20).any(|seed| {
    ///     config.order = Order::Seeded(seed);
    ///     config.call_order(uuid).sync_hangup == SyncHangupOrder::NoticeFirst
    /// }));
    /// ```
    pub fn call_order(&self, uuid: &str) -> CallOrder {
        match self.order {
            Order::Fixed => CallOrder {
                sync_hangup: self.sync_hangup_order,
                park_delay: self.park_delay,
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
                let halves = 1 + u32::try_from((draw >> 32) % 3).unwrap_or(0);
                CallOrder {
                    sync_hangup,
                    park_delay: self.park_delay * halves / 2,
                }
            }
        }
    }
}

/// Whether a sync socket's linger notice overtakes the CHANNEL_EXECUTE of
/// `app` on the channel `uuid`: the `hangup` application, when the call
/// drew [`SyncHangupOrder::NoticeFirst`].
pub(crate) fn notice_before_execute(cfg: &SimulatorConfig, uuid: &str, app: &str) -> bool {
    app.eq_ignore_ascii_case("hangup")
        && cfg.call_order(uuid).sync_hangup == SyncHangupOrder::NoticeFirst
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for ms in [10, 20, 30] {
            assert!(
                orders
                    .iter()
                    .any(|o| o.park_delay == Duration::from_millis(ms)),
                "no call parks after {ms} ms"
            );
        }
        assert!(orders.iter().all(|o| [10, 20, 30]
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
