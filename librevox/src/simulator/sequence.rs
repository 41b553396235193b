//! A control over the simulator's event numbering, for tests of what a
//! client makes of lost events.

use std::sync::atomic::Ordering;

use super::Simulator;

impl Simulator {
    /// Skips the next `n` `Event-Sequence` numbers: no event will carry
    /// them, as if the switch had fired `n` events this connection never
    /// received. Returns the first number skipped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use librevox::simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    /// let first = sim.fire_event("CUSTOM", &[("Event-Subclass", "x")], None);
    /// let skipped = sim.skip_sequence(5);
    /// let after = sim.fire_event("CUSTOM", &[("Event-Subclass", "x")], None);
    /// let seq = |e: &librevox::Event| e.header("Event-Sequence").unwrap().parse::<u64>().unwrap();
    /// assert_eq!(skipped, seq(&first) + 1);
    /// assert_eq!(seq(&after), skipped + 5);
    /// # }
    /// ```
    pub fn skip_sequence(&self, n: u64) -> u64 {
        self.core.seq.fetch_add(n, Ordering::Relaxed)
    }
}
