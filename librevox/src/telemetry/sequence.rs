//! Sequence gaps: FreeSWITCH numbers every event it fires (`Event-Sequence`,
//! per `Core-UUID`), so on a subscription to all events without filters a
//! number that never arrives is an event lost. The real switch does not
//! always deliver in order, so a number counts as missing only once it is
//! still absent after a reordering window: [`WINDOW_EVENTS`] later numbers
//! or [`WINDOW_TIME`] after the gap was first seen (checked as events
//! arrive; a switch sends `HEARTBEAT` every 20 s).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::protocol::Event;

/// How many later numbers may arrive before a missing one counts as lost.
pub const WINDOW_EVENTS: u64 = 1_000;
/// How long a missing number may stay missing before it counts as lost.
pub const WINDOW_TIME: Duration = Duration::from_secs(1);

/// A gap declared: `missed` numbers from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) first: u64,
    pub(crate) missed: u64,
}

impl Gap {
    /// Whether the gap is logged as a warning. The real FreeSWITCH (1.11.3)
    /// numbers one event per `loopback/` call that it never delivers to
    /// event sockets, so a single missing number is routine there: it is
    /// counted like any gap and logged at info; two or more missing at once
    /// are warned.
    pub(crate) fn warns(&self) -> bool {
        self.missed > 1
    }
}

/// One inbound listener's view of its switch's numbering, across
/// reconnects (a new `Core-UUID` after one means the switch restarted).
#[derive(Debug)]
pub(crate) struct Sequence {
    switch: String,
    counts_gaps: bool,
    core: Option<String>,
    /// The lowest number not seen yet; `None` before the first event.
    next: Option<u64>,
    /// Numbers above `next` that arrived.
    ahead: BTreeSet<u64>,
    /// When the gap at `next` was first seen.
    since: Option<Instant>,
}

impl Sequence {
    /// Follows `switch`'s numbering; gaps are counted only when
    /// `counts_gaps` (a subscription that receives every event).
    pub(crate) fn new(switch: &str, counts_gaps: bool) -> Sequence {
        Sequence {
            switch: switch.to_owned(),
            counts_gaps,
            core: None,
            next: None,
            ahead: BTreeSet::new(),
            since: None,
        }
    }

    /// A new connection: what was missed in between was missed (and said);
    /// numbering is followed afresh.
    pub(crate) fn connected(&mut self) {
        self.next = None;
        self.ahead.clear();
        self.since = None;
    }

    /// Looks at one event's `Core-UUID` and `Event-Sequence`.
    pub(crate) fn observe(&mut self, event: &Event) {
        let core = event.header("Core-UUID");
        // Only an all-events subscription reads the number (it is near the
        // end of the core headers: a narrower one saves the scan).
        let seq = if self.counts_gaps {
            event
                .header("Event-Sequence")
                .and_then(|s| s.parse::<u64>().ok())
        } else {
            None
        };
        for gap in self.observe_at(core, seq, Instant::now()) {
            if gap.warns() {
                warn!(
                    switch = %self.switch,
                    missed = gap.missed,
                    first = gap.first,
                    last = gap.first + gap.missed - 1,
                    "events lost: Event-Sequence numbers never arrived on this all-events subscription"
                );
            } else {
                info!(
                    switch = %self.switch,
                    missed = gap.missed,
                    first = gap.first,
                    "one Event-Sequence number never arrived on this all-events subscription (FreeSWITCH 1.11 leaves one per loopback call)"
                );
            }
            metrics::counter!("librevox_event_sequence_gaps_total", "switch" => self.switch.clone())
                .increment(1);
            metrics::counter!("librevox_events_missed_total", "switch" => self.switch.clone())
                .increment(gap.missed);
        }
    }

    /// The core of [`observe`](Self::observe), clock given: the gaps that
    /// this event makes certain.
    pub(crate) fn observe_at(
        &mut self,
        core: Option<&str>,
        seq: Option<u64>,
        now: Instant,
    ) -> Vec<Gap> {
        if let Some(core) = core {
            match &self.core {
                Some(known) if known == core => {}
                Some(known) => {
                    info!(
                        switch = %self.switch,
                        was = %known,
                        now = %core,
                        "Core-UUID changed: the switch restarted; its event numbering starts over"
                    );
                    metrics::counter!("librevox_core_uuid_changes_total", "switch" => self.switch.clone())
                        .increment(1);
                    self.core = Some(core.to_owned());
                    self.connected();
                }
                None => self.core = Some(core.to_owned()),
            }
        }
        let (Some(seq), true) = (seq, self.counts_gaps) else {
            return Vec::new();
        };
        let Some(mut next) = self.next else {
            self.next = Some(seq + 1);
            return Vec::new();
        };
        if seq < next {
            // Seen already, or declared missing and late after all.
            return Vec::new();
        }
        if seq == next {
            next = self.run_from(next + 1);
        } else if self.ahead.insert(seq) && self.since.is_none() {
            self.since = Some(now);
        }
        let mut gaps = Vec::new();
        while let (Some(&low), Some(&high), Some(since)) =
            (self.ahead.first(), self.ahead.last(), self.since)
        {
            if high - next < WINDOW_EVENTS && now.duration_since(since) < WINDOW_TIME {
                break;
            }
            gaps.push(Gap {
                first: next,
                missed: low - next,
            });
            next = self.run_from(low);
            self.since = Some(now);
        }
        if self.ahead.is_empty() {
            self.since = None;
        }
        self.next = Some(next);
        gaps
    }

    /// The first number from `from` on that has not arrived, taking those
    /// that have out of `ahead`.
    fn run_from(&mut self, from: u64) -> u64 {
        let mut next = from;
        while self.ahead.remove(&next) {
            next += 1;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Sequence {
        Sequence::new("fs", true)
    }

    /// Feeds numbers at `now`; returns every gap declared.
    fn feed(s: &mut Sequence, nums: impl IntoIterator<Item = u64>, now: Instant) -> Vec<Gap> {
        nums.into_iter()
            .flat_map(|n| s.observe_at(Some("core-a"), Some(n), now))
            .collect()
    }

    #[test]
    fn in_order_and_reordered_numbers_are_no_gap() {
        let now = Instant::now();
        let mut s = all();
        assert!(feed(&mut s, [10, 11, 13, 12, 14, 16, 15], now).is_empty());
        assert!(feed(&mut s, 17..2_000, now).is_empty());
        assert_eq!(s.next, Some(2_000));
        assert!(s.ahead.is_empty() && s.since.is_none());
    }

    #[test]
    fn a_gap_counts_after_a_thousand_later_numbers() {
        let now = Instant::now();
        let mut s = all();
        assert!(feed(&mut s, 1..=5, now).is_empty());
        // 6..=8 never come.
        assert!(feed(&mut s, 9..1_006, now).is_empty());
        assert_eq!(
            feed(&mut s, [1_006], now),
            [Gap {
                first: 6,
                missed: 3
            }]
        );
        assert!(
            feed(&mut s, [6, 7, 1_007], now).is_empty(),
            "late ones are ignored"
        );
        assert_eq!(s.next, Some(1_008));
    }

    #[test]
    fn a_gap_counts_after_a_second() {
        let t0 = Instant::now();
        let mut s = all();
        assert!(feed(&mut s, [1, 2, 4], t0).is_empty());
        assert!(feed(&mut s, [5], t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(
            feed(&mut s, [6], t0 + WINDOW_TIME),
            [Gap {
                first: 3,
                missed: 1
            }]
        );
        assert_eq!(s.next, Some(7));
    }

    #[test]
    fn two_gaps_are_two() {
        let now = Instant::now();
        let mut s = all();
        let gaps = feed(&mut s, [1, 3, 5].into_iter().chain(6..1_010), now);
        assert_eq!(
            gaps,
            [
                Gap {
                    first: 2,
                    missed: 1
                },
                Gap {
                    first: 4,
                    missed: 1
                }
            ]
        );
    }

    #[test]
    fn a_single_missing_number_is_no_warning_but_two_are() {
        let now = Instant::now();
        let mut s = all();
        let gaps = feed(&mut s, [1, 3, 4, 7].into_iter().chain(8..1_010), now);
        assert_eq!(
            gaps,
            [
                Gap {
                    first: 2,
                    missed: 1
                },
                Gap {
                    first: 5,
                    missed: 2
                }
            ]
        );
        assert!(!gaps[0].warns());
        assert!(gaps[1].warns());
    }

    #[test]
    fn a_narrow_subscription_counts_nothing() {
        let mut s = Sequence::new("fs", false);
        assert!(feed(&mut s, [1, 5000, 9000], Instant::now() + WINDOW_TIME).is_empty());
    }

    #[test]
    fn a_new_core_uuid_starts_the_numbering_over() {
        let now = Instant::now();
        let mut s = all();
        assert!(feed(&mut s, [100, 101], now).is_empty());
        assert!(s.observe_at(Some("core-b"), Some(1), now).is_empty());
        assert_eq!(s.core.as_deref(), Some("core-b"));
        assert_eq!(s.next, Some(2));
    }
}
