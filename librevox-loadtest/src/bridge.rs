//! The bridge workload (issue 16.6): events from the blaster through
//! `librevox::bridge` into a local nats-server's JetStream, against a raw
//! `async-nats` JetStream publisher of the same events, pre-serialized, in
//! the same run.
//!
//! * **The server**: a nats-server started here on a free 127.0.0.1 port
//!   with `-js` and a temporary store directory, killed (and its store
//!   removed) when the workload ends, however it ends.
//! * **The events**: the inbound workload's (3.7 KB, 105 headers; 16
//!   interleaved calls and a HEARTBEAT, fresh UUIDs every cycle), each with
//!   its own `Event-Sequence`, so every event has its own `Nats-Msg-Id` and
//!   is stored.
//! * **The stream**: deleted before every run, then created with the
//!   bridge's own configuration (the bridge creates it on its runs; the raw
//!   publisher creates the same: subjects `freeswitch.*.event.>`, a 2-minute
//!   duplicate window, file storage, the server's other defaults). After
//!   each run the stream must hold exactly the events sent.
//! * **The same ack discipline**: one JetStream context built as the bridge
//!   builds its own (ack timeout 5 s, `max_ack_inflight` 256), at most 256
//!   publishes awaiting their ack, acks awaited in publish order; the next
//!   publish goes out as soon as the oldest ack came back.
//! * **The bridge** reads the blaster (`event plain ALL`), turns each event
//!   into its subject, headers and JSON (`event_json`) and publishes it; its
//!   figure runs from the blaster's first write to the last ack
//!   (`SwitchStats::acked` reaching the count, read every millisecond). The
//!   raw publisher's runs from its first publish to its last ack, with every
//!   subject, header map and JSON payload built before the clock starts.
//! * **Publish latency**: from a publish to its ack, both sides measured
//!   alike (the bridge's through its `librevox_bridge_publish_seconds`
//!   histogram, captured by the load tool's recorder).

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use librevox::bridge::{Bridge, BridgeConfig, SwitchConfig};
use librevox::fleet::{self, SwitchName};
use librevox::protocol::event_json;

use crate::{fmt_rate, frames, median, percentile, Report, Sizes};

/// The stream both sides publish into.
const STREAM: &str = "FREESWITCH";
/// The bridge's in-flight window (its default), also the raw publisher's.
const WINDOW: usize = 256;
/// The ack timeout of the bridge's JetStream context (its default).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// `$NATS_SERVER`, then `/usr/sbin/nats-server`, then `nats-server` on PATH.
fn nats_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nats-server")
    }
}

/// A nats-server of this workload: killed and its store removed on drop.
struct NatsServer {
    port: u16,
    store: PathBuf,
    child: Child,
}

impl NatsServer {
    /// [`nats_binary`] on a free port with JetStream; waits (at most 10 s)
    /// until it listens.
    fn start() -> Result<NatsServer, String> {
        let bin = nats_binary();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let store = std::env::temp_dir().join(format!(
            "librevox-loadtest-nats-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&store).map_err(|e| format!("{}: {e}", store.display()))?;
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}): install nats-server (`apt-get install -y nats-server`) \
                     or set NATS_SERVER to its path",
                    bin.display()
                )
            })?;
        let server = NatsServer { port, store, child };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() >= deadline {
                return Err(format!("nats-server did not listen on {addr} within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's pid, for `ps`/`perf` while the workload runs.
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// One event as the raw publisher sends it: what the bridge would build.
struct Prepared {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
}

fn prepare(switch: &SwitchName, events: &[librevox::Event]) -> Vec<Prepared> {
    events
        .iter()
        .map(|e| {
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                fleet::msg_id(e).expect("every event has a Msg-Id").as_str(),
            );
            if let Some(u) = e.header("Unique-ID") {
                headers.insert("Unique-ID", u);
            }
            if let Some(n) = e.header("Event-Name") {
                headers.insert("Event-Name", n);
            }
            Prepared {
                subject: fleet::event_subject(switch, e),
                headers,
                payload: Bytes::from(event_json::to_string(e)),
            }
        })
        .collect()
}

/// The stream as the bridge creates it when it is missing.
fn stream_config() -> stream::Config {
    stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![format!("{}.*.event.>", fleet::SUBJECT_ROOT)],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// The JetStream context as the bridge builds its own (one switch).
fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::context::ContextBuilder::new()
        .timeout(ACK_TIMEOUT)
        .max_ack_inflight(WINDOW)
        .build(client)
}

/// Publish latencies the bridge recorded (`librevox_bridge_publish_seconds`),
/// captured by the load tool's recorder while a run is on.
pub fn capture() -> &'static Mutex<Option<Vec<f64>>> {
    static CAPTURE: Mutex<Option<Vec<f64>>> = Mutex::new(None);
    &CAPTURE
}

/// The histogram handle for `librevox_bridge_publish_seconds`: into
/// [`capture`] when a run captures.
pub struct Capture;

impl metrics::HistogramFn for Capture {
    fn record(&self, value: f64) {
        if let Some(v) = capture().lock().expect("capture").as_mut() {
            v.push(value);
        }
    }
}

/// One run's figures.
struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn fresh_stream(js: &jetstream::Context) -> Result<(), String> {
    match js.delete_stream(STREAM).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("not found") => {}
        Err(e) => return Err(format!("deleting the stream: {e}")),
    }
    Ok(())
}

async fn stored(js: &jetstream::Context) -> Result<(u64, stream::Config), String> {
    let mut s = js
        .get_stream(STREAM)
        .await
        .map_err(|e| format!("the stream: {e}"))?;
    let info = s.info().await.map_err(|e| format!("stream info: {e}"))?;
    Ok((info.state.messages, info.config.clone()))
}

/// The raw publisher: every prepared event, `WINDOW` in flight, acks in
/// order.
/// A JetStream context on `url` (as the bridge builds its own) with the
/// stream deleted; a failure is reported under `side`.
async fn connect_fresh(url: &str, side: &str, report: &mut Report) -> Option<jetstream::Context> {
    let client = match async_nats::connect(url).await {
        Ok(c) => c,
        Err(e) => {
            report.check(false, format!("{side}: cannot connect to NATS: {e}"));
            return None;
        }
    };
    let js = context(client);
    if let Err(e) = fresh_stream(&js).await {
        report.check(false, format!("{side}: {e}"));
        return None;
    }
    Some(js)
}

async fn raw_once(
    url: &str,
    events: &[Prepared],
    deadline: Duration,
    report: &mut Report,
) -> Option<Run> {
    let js = connect_fresh(url, "bridge (raw)", report).await?;
    if let Err(e) = js.create_stream(stream_config()).await {
        report.check(false, format!("bridge (raw): creating the stream: {e}"));
        return None;
    }
    let mut latencies = Vec::with_capacity(events.len());
    let mut failures = 0usize;
    let mut duplicates = 0usize;
    let publish = async {
        let start = Instant::now();
        let mut acks = VecDeque::with_capacity(WINDOW);
        let mut next = events.iter();
        loop {
            while acks.len() < WINDOW {
                let Some(e) = next.next() else { break };
                let msg = jetstream::message::PublishMessage::build()
                    .payload(e.payload.clone())
                    .headers(e.headers.clone());
                let sent_at = Instant::now();
                match js.send_publish(e.subject.clone(), msg).await {
                    Ok(f) => acks.push_back((sent_at, f.into_future())),
                    Err(_) => failures += 1,
                }
            }
            let Some((sent_at, ack)) = acks.pop_front() else {
                break;
            };
            match ack.await {
                Ok(a) => {
                    latencies.push(sent_at.elapsed());
                    duplicates += a.duplicate as usize;
                }
                Err(_) => failures += 1,
            }
        }
        start.elapsed()
    };
    let elapsed = match tokio::time::timeout(deadline, publish).await {
        Ok(t) => t,
        Err(_) => {
            report.check(false, format!("bridge (raw): not done within {deadline:?}"));
            return None;
        }
    };
    report.check(
        failures == 0 && duplicates == 0,
        format!("bridge (raw): {failures} publishes failed, {duplicates} duplicates"),
    );
    match stored(&js).await {
        Ok((n, _)) => report.check(
            n == events.len() as u64,
            format!(
                "bridge (raw): the stream holds {n} messages, {} published",
                events.len()
            ),
        ),
        Err(e) => report.check(false, format!("bridge (raw): {e}")),
    }
    latencies.sort();
    Some(Run {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    })
}

/// The bridge: the blaster's events through `Bridge` into the stream.
async fn bridge_once(
    url: &str,
    esl: &Arc<frames::InboundCycle>,
    deadline: Duration,
    report: &mut Report,
) -> Option<Run> {
    let n = esl.frame_ends.len();
    let js = connect_fresh(url, "bridge", report).await?;
    let (addr, started) = crate::blaster(esl, n).await;
    let mut config = BridgeConfig::new(url);
    config.switches.push(SwitchConfig::new(
        SwitchName::new("fs1").expect("a valid name"),
        addr.to_string(),
        "ClueCon",
    ));
    *capture().lock().expect("capture") = Some(Vec::with_capacity(n));
    let bridge = match Bridge::start(config).await {
        Ok(b) => b,
        Err(e) => {
            report.check(false, format!("bridge: does not start: {e}"));
            return None;
        }
    };
    let until = Instant::now() + deadline;
    let mut done = None;
    let mut backlog = 0u64;
    while Instant::now() < until {
        let st = &bridge.stats()[0];
        let acked = st.acked;
        backlog = backlog.max(st.received - acked);
        if acked >= n as u64 {
            done = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stats = bridge.stop().await;
    if std::env::var_os("LOADTEST_BRIDGE_BACKLOG").is_some() {
        eprintln!("bridge: at most {backlog} events read and not yet acknowledged");
    }
    let mut latencies: Vec<Duration> = capture()
        .lock()
        .expect("capture")
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(Duration::from_secs_f64)
        .collect();
    let s = &stats[0];
    report.check(
        done.is_some(),
        format!(
            "bridge: {} of {n} events acknowledged within {deadline:?}",
            s.acked
        ),
    );
    report.check(
        s.received == n as u64
            && s.acked == n as u64
            && s.duplicates == 0
            && s.dropped == 0
            && s.retries == 0,
        format!("bridge: {s:?}, {n} sent"),
    );
    report.check(
        latencies.len() == n,
        format!(
            "bridge: {} publish latencies recorded, {n} events",
            latencies.len()
        ),
    );
    match stored(&js).await {
        Ok((stored, config)) => {
            report.check(
                stored == n as u64,
                format!("bridge: the stream holds {stored} messages, {n} sent"),
            );
            let want = stream_config();
            report.check(
                config.subjects == want.subjects
                    && config.duplicate_window == want.duplicate_window
                    && config.storage == want.storage,
                format!(
                    "bridge: the stream it created differs from the raw publisher's: {:?} {:?} {:?}",
                    config.subjects, config.duplicate_window, config.storage
                ),
            );
        }
        Err(e) => report.check(false, format!("bridge: {e}")),
    }
    let (start, end) = (*started.get()?, done?);
    latencies.sort();
    Some(Run {
        rate: n as f64 / (end - start).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// [`NatsServer::start`], a failure reported.
fn start_server(report: &mut Report) -> Option<NatsServer> {
    NatsServer::start()
        .map_err(|e| report.check(false, format!("bridge: {e}")))
        .ok()
}

/// The workload: `repeat` pairs, alternating which side goes first; the
/// medians, and the median of the pairs' ratios.
pub async fn bridge(sizes: &Sizes, n: usize, report: &mut Report) {
    // The recorder that captures the bridge's publish latencies.
    crate::metrics_cost::record(false);
    let Some(server) = start_server(report) else {
        return;
    };
    let url = server.url();
    let built = Instant::now();
    let stream = frames::bridge_stream(n);
    let switch = SwitchName::new("fs1").expect("a valid name");
    let prepared = prepare(&switch, &stream.events);
    let payload = prepared.iter().map(|p| p.payload.len()).sum::<usize>() as f64 / n as f64;
    let esl = Arc::new(stream.esl);
    drop(stream.events);
    println!(
        "bridge: {n} events ({:.0} bytes as ESL, {payload:.0} bytes as JSON on average), \
         nats-server {} (pid {}) at {url}; built in {:.1} s",
        esl.bytes.len() as f64 / n as f64,
        nats_version(),
        server.pid(),
        built.elapsed().as_secs_f64()
    );
    let mut bridge_runs = Vec::new();
    let mut raw_runs = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..sizes.repeat.max(1) {
        let (b, r) = if round % 2 == 0 {
            let r = raw_once(&url, &prepared, sizes.deadline, report).await;
            let b = bridge_once(&url, &esl, sizes.deadline, report).await;
            (b, r)
        } else {
            let b = bridge_once(&url, &esl, sizes.deadline, report).await;
            let r = raw_once(&url, &prepared, sizes.deadline, report).await;
            (b, r)
        };
        if let (Some(b), Some(r)) = (b, r) {
            println!(
                "bridge: round {round}: bridge {} events/s (p50 {}, p99 {}), raw {} (p50 {}, p99 {})",
                fmt_rate(b.rate),
                ms(b.p50),
                ms(b.p99),
                fmt_rate(r.rate),
                ms(r.p50),
                ms(r.p99)
            );
            ratios.push(b.rate / r.rate);
            bridge_runs.push(b);
            raw_runs.push(r);
        }
    }
    let pairs = ratios.len();
    if pairs == 0 {
        return;
    }
    let ratio = median(ratios);
    let med = |runs: &[Run], f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let (b_rate, r_rate) = (med(&bridge_runs, |r| r.rate), med(&raw_runs, |r| r.rate));
    let secs = |x: f64| Duration::from_secs_f64(x);
    let (b_p99, r_p99) = (
        secs(med(&bridge_runs, |r| r.p99.as_secs_f64())),
        secs(med(&raw_runs, |r| r.p99.as_secs_f64())),
    );
    let (b_p50, r_p50) = (
        secs(med(&bridge_runs, |r| r.p50.as_secs_f64())),
        secs(med(&raw_runs, |r| r.p50.as_secs_f64())),
    );
    report.row(
        "bridge",
        format!(
            "events/s ({n} events into JetStream, {WINDOW} acks in flight, {pairs} pairs, interleaved): \
             blaster → `librevox::bridge` vs raw async-nats publisher of the pre-serialized events"
        ),
        fmt_rate(b_rate),
        fmt_rate(r_rate),
        format!("{ratio:.2}"),
        "≥ 0.5 × raw (median of the pairs' ratios)",
        Some(ratio >= 0.5),
    );
    report.row(
        "bridge",
        "publish → ack latency, p50 / p99 (median over the runs)",
        format!("{} / {}", ms(b_p50), ms(b_p99)),
        format!("{} / {}", ms(r_p50), ms(r_p99)),
        format!("{:.2}", b_p99.as_secs_f64() / r_p99.as_secs_f64().max(1e-9)),
        "(information)",
        None,
    );
    drop(server);
}

/// One side once, for a profiler (`--profile-bridge bridge|raw`).
pub async fn profile(sizes: &Sizes, n: usize, raw: bool, report: &mut Report) {
    crate::metrics_cost::record(false);
    let Some(server) = start_server(report) else {
        return;
    };
    let stream = frames::bridge_stream(n);
    let switch = SwitchName::new("fs1").expect("a valid name");
    let run = if raw {
        let t = Instant::now();
        let prepared = prepare(&switch, &stream.events);
        println!(
            "prepared {n} events (subject, headers, JSON) in {:.2} s: {:.1} µs each",
            t.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        raw_once(&server.url(), &prepared, sizes.deadline, report).await
    } else {
        let esl = Arc::new(stream.esl);
        bridge_once(&server.url(), &esl, sizes.deadline, report).await
    };
    if let Some(r) = run {
        println!(
            "{} events/s, publish p50 {}, p99 {}",
            fmt_rate(r.rate),
            ms(r.p50),
            ms(r.p99)
        );
    }
}

/// `nats-server --version`'s answer, for the report.
fn nats_version() -> String {
    Command::new(nats_binary())
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
