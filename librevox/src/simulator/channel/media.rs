//! Media on a channel's thread: how long a file plays, playing it (with its
//! events and variables), the caller's scripted DTMF, and collecting digits
//! behind a prompt. The applications build on these.

use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::runner::{Runner, Wait};

/// What collecting digits gave.
pub(crate) struct Collected {
    pub(crate) digits: String,
    /// The terminator pressed, if any.
    pub(crate) terminator: Option<char>,
    pub(crate) hung_up: bool,
}

/// The limits of one digit collection.
pub(crate) struct Collect<'a> {
    pub(crate) prompt: &'a str,
    pub(crate) max: usize,
    pub(crate) first_timeout: Duration,
    pub(crate) digit_timeout: Duration,
    pub(crate) terminators: &'a str,
}

/// The length of a `tone_stream://` description: the sum of every
/// `%(on,off,...)` segment's on and off times, times `loops=` (`None` for
/// `loops=-1`, which plays forever).
fn tone_duration(desc: &str) -> Option<Duration> {
    if desc.contains("loops=-1") {
        return None;
    }
    let mut total = 0u64;
    let mut s = desc;
    while let Some(i) = s.find("%(") {
        let inner = &s[i + 2..];
        let end = inner.find(')').unwrap_or(inner.len());
        let nums: Vec<u64> = inner[..end]
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        total += nums.first().copied().unwrap_or(0) + nums.get(1).copied().unwrap_or(0);
        s = &inner[end..];
    }
    let loops: u64 = desc
        .split(';')
        .find_map(|p| p.strip_prefix("loops="))
        .and_then(|l| l.parse().ok())
        .unwrap_or(1);
    Some(Duration::from_millis(total * loops.max(1)))
}

impl Runner {
    /// How long `file` plays (`None`: until interrupted).
    pub(crate) fn file_duration(&self, file: &str) -> Option<Duration> {
        if let Some(d) = self.core.cfg.file_durations.get(file) {
            return (*d != Duration::MAX).then_some(*d);
        }
        if let Some(rest) = file.strip_prefix("silence_stream://") {
            let ms: i64 = rest.split([',', ';']).next()?.trim().parse().ok()?;
            return (ms >= 0).then(|| Duration::from_millis(ms as u64));
        }
        if let Some(rest) = file.strip_prefix("tone_stream://") {
            return tone_duration(rest);
        }
        Some(self.core.cfg.playback_duration)
    }

    /// Plays a file; true when it played to the end.
    pub(crate) async fn play(&mut self, file: &str, nested: bool) -> bool {
        let ftype = file
            .split_once("://")
            .map(|(s, _)| s.to_owned())
            .or_else(|| file.rsplit_once('.').map(|(_, e)| e.to_owned()))
            .unwrap_or_default();
        let src = ("switch_ivr_play_say.c", "switch_ivr_play_file", 1649);
        let headers = [
            ("Playback-File-Type", ftype.as_str()),
            ("Playback-File-Path", file),
        ];
        self.ch
            .fire(&self.core, "PLAYBACK_START", src, true, &headers);
        let dur = self.file_duration(file);
        let started = Instant::now();
        let done = matches!(self.wait(dur, nested, false).await, Wait::Elapsed);
        self.set_playback_vars(started.elapsed());
        let status = if done { "done" } else { "break" };
        self.ch.fire(
            &self.core,
            "PLAYBACK_STOP",
            ("switch_ivr_play_say.c", "switch_ivr_play_file", 2023),
            true,
            &[headers[0], headers[1], ("Playback-Status", status)],
        );
        done
    }

    fn set_playback_vars(&self, played: Duration) {
        let ms = played.as_millis() as u64;
        let samples = (ms * 8).to_string();
        self.ch.set_var("playback_last_offset_pos", &samples);
        self.ch
            .set_var("playback_seconds", &(ms / 1000).to_string());
        self.ch.set_var("playback_ms", &ms.to_string());
        self.ch.set_var("playback_samples", &samples);
    }

    /// Starts feeding the caller's next scripted input.
    pub(crate) fn feed_input(&self) {
        let (input, interval) = self.ch.with(|d| {
            let i = d.inputs_used;
            d.inputs_used += 1;
            (d.script.inputs.get(i).cloned(), d.script.digit_interval)
        });
        let Some(digits) = input.filter(|s| !s.is_empty()) else {
            return;
        };
        if interval.is_zero() {
            // Typed ahead: every digit is in the buffer at once.
            self.ch.send_dtmf(&digits);
            return;
        }
        let ch = self.ch.clone();
        tokio::spawn(async move {
            for c in digits.chars() {
                sleep(interval).await;
                ch.send_dtmf(&c.to_string());
            }
        });
    }

    /// Plays a prompt interruptible by DTMF, then collects digits.
    pub(crate) async fn collect(&mut self, c: &Collect<'_>, nested: bool) -> Collected {
        let mut got = Collected {
            digits: String::new(),
            terminator: None,
            hung_up: false,
        };
        // The prompt: stops at the first digit.
        let started = Instant::now();
        let dur = self.file_duration(c.prompt);
        let mut first = match self.wait(dur, nested, true).await {
            Wait::Hangup => {
                self.set_playback_vars(started.elapsed());
                got.hung_up = true;
                return got;
            }
            Wait::Dtmf(d) => Some(d),
            Wait::Elapsed => None,
        };
        self.set_playback_vars(started.elapsed());
        let mut timeout = c.first_timeout;
        while got.digits.len() < c.max {
            let d = match first.take() {
                Some(d) => d,
                None => match self.wait(Some(timeout), nested, true).await {
                    Wait::Dtmf(d) => d,
                    Wait::Elapsed => break,
                    Wait::Hangup => {
                        got.hung_up = true;
                        return got;
                    }
                },
            };
            if c.terminators.contains(d) {
                got.terminator = Some(d);
                break;
            }
            got.digits.push(d);
            timeout = c.digit_timeout;
        }
        got
    }
}
