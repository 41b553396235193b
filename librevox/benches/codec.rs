//! Micro benchmarks of the protocol layer on the captured FreeSWITCH bytes.
//!
//! Run with `cargo bench -p librevox --bench codec`. Throughput is reported in
//! bytes (MB/s) and, for the event groups, in events per second.

use std::hint::black_box;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use librevox::protocol::{Command, EslCodec, Event, EventFormat, Frame, Message, SendMsg};
use tokio_util::codec::Decoder;

fn capture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/captures")
        .join(format!("{name}.raw.txt"));
    std::fs::read(path).expect("capture file")
}

/// Only the event frames of a capture, concatenated: the shape of an inbound
/// socket's steady state.
fn event_frames(name: &str, content_type: &str) -> (Vec<u8>, usize) {
    let raw = capture(name);
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&raw[..]);
    let mut out = Vec::new();
    let mut count = 0;
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        if frame.content_type() == Some(content_type) {
            out.extend_from_slice(
                format!(
                    "Content-Length: {}\nContent-Type: {content_type}\n\n",
                    frame.body().len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(frame.body());
            count += 1;
        }
    }
    (out, count)
}

fn repeat(bytes: &[u8], count: usize, times: usize) -> (Bytes, usize) {
    let mut out = Vec::with_capacity(bytes.len() * times);
    for _ in 0..times {
        out.extend_from_slice(bytes);
    }
    (Bytes::from(out), count * times)
}

fn decode_frames(input: &Bytes) -> usize {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&input[..]);
    let mut n = 0;
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        black_box(&frame);
        n += 1;
    }
    n
}

fn decode_messages(input: &Bytes) -> usize {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&input[..]);
    let mut n = 0;
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        let msg = Message::from_frame(frame).unwrap();
        black_box(&msg);
        n += 1;
    }
    n
}

fn bench_decode(c: &mut Criterion) {
    for (label, name, ct) in [
        ("plain", "call_plain_inbound", "text/event-plain"),
        ("json", "call_json_inbound", "text/event-json"),
        ("xml", "outbound_divert_events", "text/event-xml"),
    ] {
        let (frames, count) = event_frames(name, ct);
        let (input, events) = repeat(&frames, count, (4 << 20) / frames.len().max(1) + 1);

        let mut g = c.benchmark_group(format!("decode_frames/{label}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("bytes", |b| b.iter(|| decode_frames(&input)));
        g.finish();

        let mut g = c.benchmark_group(format!("decode_and_parse_events/{label}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("bytes", |b| b.iter(|| decode_messages(&input)));
        g.throughput(Throughput::Elements(events as u64));
        g.bench_function("events", |b| b.iter(|| decode_messages(&input)));
        g.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let msg = SendMsg::execute("playback", "ivr/ivr-welcome_to_freeswitch.wav")
        .event_lock(true)
        .event_uuid("0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d");
    g.bench_function("sendmsg_execute", |b| {
        b.iter(|| black_box(Command::sendmsg(black_box(&msg)).encode().unwrap()))
    });
    let api = Command::api("status");
    g.bench_function("api_status", |b| {
        b.iter(|| black_box(black_box(&api).encode().unwrap()))
    });
    g.finish();
}

fn bench_lookup(c: &mut Criterion) {
    let (frames, _) = event_frames("call_plain_inbound", "text/event-plain");
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(&frames[..]);
    let mut biggest: Option<Frame> = None;
    while let Some(f) = codec.decode(&mut buf).unwrap() {
        if biggest
            .as_ref()
            .is_none_or(|b| f.body().len() > b.body().len())
        {
            biggest = Some(f);
        }
    }
    let frame = biggest.unwrap();
    let event = Event::parse(EventFormat::Plain, frame.body()).unwrap();
    let mut g = c.benchmark_group("header_lookup");
    g.throughput(Throughput::Elements(1));
    g.bench_function("first_header", |b| {
        b.iter(|| black_box(black_box(&event).header("Event-Name")))
    });
    g.bench_function("unique_id", |b| {
        b.iter(|| black_box(black_box(&event).unique_id()))
    });
    g.bench_function("last_variable", |b| {
        let last = event.headers().last().unwrap().0.to_owned();
        b.iter(|| black_box(black_box(&event).header(&last)))
    });
    g.bench_function("missing", |b| {
        b.iter(|| black_box(black_box(&event).header("X-Not-There")))
    });
    g.bench_function("ignore_case", |b| {
        b.iter(|| black_box(black_box(&event).header_ignore_case("unique-id")))
    });
    g.finish();
    let mut g = c.benchmark_group("parse_one_event");
    g.throughput(Throughput::Bytes(frame.body().len() as u64));
    g.bench_function("largest_plain", |b| {
        b.iter_batched(
            || frame.body().clone(),
            |body| black_box(Event::parse_plain(&body).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode, bench_lookup);
criterion_main!(benches);
