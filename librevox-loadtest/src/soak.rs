//! Soak: a long run that must neither leak nor err.
//!
//! * Outbound: `calls` calls, `concurrency` at once, against the library's
//!   outbound server in a process of its own ([`memory::ServerProcess`]),
//!   dialled in batches of `sample_every` calls; the server's RSS is read
//!   after each batch.
//! * Inbound: a stream of `events` events into an `#[inbound]`-style
//!   listener in this process; this process's RSS is read every
//!   `events / 10` events.
//!
//! Checks: every call completed and every event handled, no protocol error,
//! no failed session, nothing logged at WARN or above, and (outside
//! `--smoke`) every RSS sample after the first (the warm-up) within 5 % of
//! the second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{dial_on_peer, frames, library, memory, Report};

/// How big a soak is.
pub struct SoakSizes {
    pub calls: usize,
    pub concurrency: usize,
    pub sample_every: usize,
    pub events: usize,
    /// Whether RSS flatness is asserted (not in the short CI version).
    pub check_flat: bool,
    /// Deadline of each batch and of the event stream.
    pub deadline: Duration,
}

/// Samples after the warm-up (the first), each within 5 % of the first of
/// them. Returns the largest deviation, as a fraction.
fn deviation(samples: &[u64]) -> Option<f64> {
    let [_, base, rest @ ..] = samples else {
        return None;
    };
    let base = *base as f64;
    Some(
        rest.iter()
            .map(|&s| (s as f64 - base).abs() / base)
            .fold(0.0, f64::max),
    )
}

fn series(samples: &[u64]) -> String {
    samples
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Reports one RSS series and, unless this is a smoke run, fails the run
/// when it is not flat within 5 % after warm-up.
fn judge(report: &mut Report, sizes: &SoakSizes, side: &str, what: String, samples: &[u64]) {
    let dev = deviation(samples);
    report.row(
        "soak",
        what,
        series(samples),
        "",
        dev.map_or("n/a".into(), |d| format!("±{:.1} %", d * 100.0)),
        "flat within 5 % after warm-up",
        dev.map(|d| d <= 0.05),
    );
    if sizes.check_flat {
        report.check(
            dev.is_some_and(|d| d <= 0.05),
            format!("soak: {side} RSS not flat: {}", series(samples)),
        );
    }
}

pub async fn soak(sizes: &SoakSizes, report: &mut Report) {
    outbound(sizes, report).await;
    inbound(sizes, report).await;
}

async fn outbound(sizes: &SoakSizes, report: &mut Report) {
    let script = Arc::new(frames::outbound_script());
    let Ok(mut server) = memory::ServerProcess::spawn().await else {
        report.check(false, "soak: cannot start the server process");
        return;
    };
    let batches = sizes.calls.div_ceil(sizes.sample_every.max(1));
    let mut samples = Vec::with_capacity(batches);
    let mut done_calls = 0usize;
    let started = Instant::now();
    println!(
        "soak outbound: {} calls, {} at once, RSS sampled every {} calls",
        sizes.calls, sizes.concurrency, sizes.sample_every
    );
    for batch in 1..=batches {
        let calls = sizes.sample_every.min(sizes.calls - done_calls);
        let plan = crate::fs::DialPlan {
            addr: server.addr,
            calls,
            concurrency: sizes.concurrency.min(calls),
            hold: None,
        };
        let stats = Arc::new(crate::fs::DialStats::default());
        let done = dial_on_peer(plan, script.clone(), stats.clone()).await;
        let finished = tokio::time::timeout(sizes.deadline, done).await.is_ok();
        report.check(finished, format!("soak: batch {batch} did not finish"));
        crate::check_dial(report, &format!("soak batch {batch}"), &stats, calls);
        done_calls += calls;
        let r = match server.rss().await {
            Ok(r) => r,
            Err(e) => {
                report.check(false, format!("soak: server did not report: {e}"));
                break;
            }
        };
        println!(
            "  {done_calls:>9} calls  RSS {:>7} KiB  (VmHWM {} KiB, {:.0} s)",
            r.rss_kib,
            r.hwm_kib,
            started.elapsed().as_secs_f64()
        );
        samples.push(r.rss_kib);
        report.check(
            r.completed == done_calls as u64 && r.errors == 0 && r.warnings == 0,
            format!(
                "soak: server completed {} of {done_calls} sessions, {} failed, {} warnings",
                r.completed, r.errors, r.warnings
            ),
        );
        if !report.failures.is_empty() {
            break;
        }
    }
    server.quit().await;
    let elapsed = started.elapsed().as_secs_f64();
    judge(
        report,
        sizes,
        "outbound",
        format!(
            "outbound: server RSS (KiB) every {} of {} calls, {} at once ({:.0} s, {:.0} calls/s)",
            sizes.sample_every,
            done_calls,
            sizes.concurrency,
            elapsed,
            done_calls as f64 / elapsed
        ),
        &samples,
    );
}

async fn inbound(sizes: &SoakSizes, report: &mut Report) {
    const CALLS: usize = 16;
    let cycle = Arc::new(frames::inbound_cycle(CALLS));
    let n = sizes.events;
    let step = (n / 10).max(1) as u64;
    println!("soak inbound: {n} events, RSS sampled every {step} events");
    let (addr, _started) = crate::blaster(&cycle, n).await;
    let state = library::InboundState::new(n as u64, None);
    let sampler_state = state.clone();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut next = step;
        let started = Instant::now();
        // Bounded: it stops at the last sample or when its handle is
        // aborted after the stream ends.
        while next <= sampler_state.target {
            let count = sampler_state.count.load(Ordering::Acquire);
            if count >= next {
                let (rss, _) = memory::rss_kib();
                println!(
                    "  {count:>9} events RSS {rss:>7} KiB  ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
                samples.push(rss);
                next += step;
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        samples
    });
    let started = Instant::now();
    let reached = library::inbound(addr, state.clone(), |_| {}, sizes.deadline).await;
    let elapsed = started.elapsed().as_secs_f64();
    let count = state.count.load(Ordering::Acquire);
    report.check(reached, format!("soak: {count} of {n} events handled"));
    report.check(
        state.dropped() == 0,
        format!("soak: {} events dropped", state.dropped()),
    );
    let unusable = state.unusable.load(Ordering::Relaxed);
    report.check(unusable == 0, format!("soak: {unusable} events unusable"));
    let mut sampler = sampler;
    let samples = match tokio::time::timeout(Duration::from_secs(5), &mut sampler).await {
        Ok(Ok(s)) => s,
        _ => {
            // The stream fell short (already reported): stop sampling.
            sampler.abort();
            Vec::new()
        }
    };
    judge(report, sizes, "inbound", format!(
            "inbound: process RSS (KiB) every {step} of {count} events ({elapsed:.0} s, {:.0}k events/s)",
            count as f64 / elapsed / 1000.0
        ), &samples);
}

#[cfg(test)]
mod tests {
    use super::deviation;

    #[test]
    fn the_first_sample_is_warm_up_and_the_rest_compare_to_the_second() {
        assert_eq!(deviation(&[5]), None);
        assert_eq!(deviation(&[5, 100]), Some(0.0));
        assert_eq!(deviation(&[5, 100, 104, 97]), Some(0.04));
        assert!(deviation(&[5, 100, 106]).unwrap() > 0.05);
    }
}
