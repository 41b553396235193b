//! What a connection keeps of the hangups it reads (issue 13 item 13).
//!
//! A connection remembers each channel that hung up until its
//! CHANNEL_HANGUP_COMPLETE or the end of `hangup_grace`. An inbound socket
//! sees every hangup of the switch, and one subscribed without
//! CHANNEL_HANGUP_COMPLETE keeps every entry for the whole grace: at 36k
//! hangups a second the soak held 300-600 MB of CHANNEL_HANGUP events that
//! way. The entry keeps the event only while an application that ends the
//! call waits on the channel. This binary counts live heap bytes with a
//! global allocator, so it holds this one test alone.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use librevox::protocol::Message;
use librevox::{Connection, ConnectionConfig};
use support::peer::{api, event, Peer};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A CHANNEL_HANGUP of about 4 KB, as FreeSWITCH's are (3-4 KB).
fn hangup(i: usize) -> String {
    let uuid = format!("{i:08}-0000-4000-8000-000000000000");
    let padding = "x".repeat(4000);
    event(
        &[
            ("Event-Name", "CHANNEL_HANGUP"),
            ("Unique-ID", &uuid),
            ("Hangup-Cause", "NORMAL_CLEARING"),
            ("variable_padding", &padding),
        ],
        None,
    )
}

/// Sends hangups `from..to`, then proves with an `api` round trip that the
/// driver routed them all, then takes them off the stream and drops them.
async fn hangups(
    conn: &Connection,
    events: &mut librevox::EventStream,
    peer: &mut Peer,
    from: usize,
    to: usize,
) {
    for i in from..to {
        peer.send(hangup(i)).await;
    }
    let c = conn.clone();
    let reply = tokio::spawn(async move { c.api("status").await });
    peer.packet().await;
    peer.send(api("UP")).await;
    tokio::time::timeout(Duration::from_secs(10), reply)
        .await
        .expect("the api reply")
        .unwrap()
        .unwrap();
    for i in from..to {
        match events.try_recv() {
            Some(Message::Event(e)) => assert!(e.is("CHANNEL_HANGUP"), "event {i}: {e:?}"),
            other => panic!("event {i}: expected CHANNEL_HANGUP, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn hangups_within_the_grace_are_remembered_without_their_events() {
    // No CHANNEL_HANGUP_COMPLETE comes and the grace outlasts the test:
    // every channel stays remembered.
    let config = ConnectionConfig {
        hangup_grace: Duration::from_secs(3600),
        ..ConnectionConfig::default()
    };
    let (client, server) = tokio::io::duplex(1 << 16);
    let (conn, mut events) = Connection::new(client, config);
    let mut peer = Peer::new(server);
    // Warm-up: buffers, maps and the runtime reach their working sizes.
    hangups(&conn, &mut events, &mut peer, 0, 500).await;
    let before = LIVE.load(Ordering::Relaxed);
    const N: usize = 2_000;
    hangups(&conn, &mut events, &mut peer, 500, 500 + N).await;
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // Keeping the events: at least N × 4 KB = 8 MB. Remembering the
    // channels (UUID, deadline, cause; maps doubling): well under 1 MB.
    let event_bytes = (N * hangup(0).len()) as isize;
    assert!(
        grown < event_bytes / 8,
        "{N} hangups of {} bytes each grew the heap by {grown} bytes",
        hangup(0).len()
    );
}
