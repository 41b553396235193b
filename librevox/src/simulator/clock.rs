//! Simulated wall clock, date formatting and UUID generation.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The simulator's clock: a fixed or real epoch base plus tokio time elapsed
/// since start (so `start_paused` tests are deterministic).
#[derive(Debug)]
pub(crate) struct Clock {
    base_us: u64,
    start: Instant,
}

impl Clock {
    pub(crate) fn new(base_us: Option<u64>) -> Clock {
        let base_us = base_us.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0)
        });
        Clock {
            base_us,
            start: Instant::now(),
        }
    }

    /// Microseconds since the Unix epoch.
    pub(crate) fn now_us(&self) -> u64 {
        self.base_us + self.start.elapsed().as_micros() as u64
    }

    /// Time since the simulator started.
    pub(crate) fn uptime(&self) -> Duration {
        self.start.elapsed()
    }
}

/// (year, month, day, hour, minute, second, weekday 0=Sunday) of a Unix
/// time in seconds (UTC).
pub(crate) fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (h, mi, s) = (
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    );
    let weekday = ((days + 4).rem_euclid(7)) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, h, mi, s, weekday)
}

/// `YYYY-MM-DD hh:mm:ss` (the simulator's local time is UTC).
pub(crate) fn date_local(us: u64) -> String {
    let (y, m, d, h, mi, s, _) = civil(us / 1_000_000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `YYYY-MM-DD hh:mm:ss.uuuuuu`, the log line time stamp.
pub(crate) fn date_log(us: u64) -> String {
    format!("{}.{:06}", date_local(us), us % 1_000_000)
}

/// RFC 822 date as FreeSWITCH writes `Event-Date-GMT`.
pub(crate) fn date_gmt(us: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, h, mi, s, wd) = civil(us / 1_000_000);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

/// One step of splitmix64: advances `state` and returns the next value.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// UUID source: random v4, or a deterministic sequence from a seed.
#[derive(Debug)]
pub(crate) struct UuidGen {
    state: Mutex<Option<u64>>,
}

impl UuidGen {
    pub(crate) fn new(seed: Option<u64>) -> UuidGen {
        UuidGen {
            state: Mutex::new(seed),
        }
    }

    fn next_u64(state: &mut u64) -> u64 {
        splitmix64(state)
    }

    pub(crate) fn next(&self) -> String {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            None => uuid::Uuid::new_v4().to_string(),
            Some(state) => {
                let hi = Self::next_u64(state);
                let lo = Self::next_u64(state);
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&hi.to_be_bytes());
                bytes[8..].copy_from_slice(&lo.to_be_bytes());
                uuid::Builder::from_random_bytes(bytes)
                    .into_uuid()
                    .to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 1795662491571947 µs is Thu, 26 Nov 2026 03:08:11 GMT (captures).
        assert_eq!(date_gmt(1795662491571947), "Thu, 26 Nov 2026 03:08:11 GMT");
        assert_eq!(date_local(1795662491571947), "2026-11-26 03:08:11");
        assert_eq!(date_log(1795662491571947), "2026-11-26 03:08:11.571947");
    }
}
