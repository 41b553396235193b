//! What the differential test and its replay share: a raw ESL connection
//! read frame by frame, fresh UUIDs, and UUID masking.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use librevox::protocol::{EslCodec, Frame};
use librevox_live_tests::WAIT;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_util::codec::Decoder as _;

/// Replaces every UUID in `value` (8-4-4-4-12 hex digits) with `<uuid>`.
pub(crate) fn mask_uuids(value: &str) -> String {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    const LEN: usize = 36;
    let is_uuid = |w: &[u8]| {
        let mut at = 0;
        GROUPS.iter().enumerate().all(|(i, &n)| {
            let group = w[at..at + n].iter().all(u8::is_ascii_hexdigit);
            at += n;
            let dash = i == GROUPS.len() - 1 || w[at] == b'-';
            at += 1;
            group && dash
        })
    };
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let (mut i, mut copied) = (0, 0);
    while i + LEN <= bytes.len() {
        if is_uuid(&bytes[i..i + LEN]) {
            // Only ASCII was matched, so both ends are char boundaries.
            out.push_str(&value[copied..i]);
            out.push_str("<uuid>");
            i += LEN;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&value[copied..]);
    out
}

/// One connection, read frame by frame with the library's decoder.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) codec: EslCodec,
    pub(crate) buf: BytesMut,
}

impl Conn {
    /// The next frame; `None` when the peer closed. Waits at most `limit`
    /// (`Err` then).
    pub(crate) async fn frame(&mut self, limit: Duration) -> Result<Option<Frame>, String> {
        let read = async {
            loop {
                match self.codec.decode(&mut self.buf) {
                    Ok(Some(frame)) => return Ok(Some(frame)),
                    Ok(None) => {}
                    Err(e) => return Err(format!("undecodable: {e}")),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) => return Ok(None),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        };
        tokio::time::timeout(limit, read)
            .await
            .unwrap_or_else(|_| Err(format!("no frame within {limit:?}")))
    }

    /// Reads `n` frames whose content does not matter; stops at the
    /// first error or the peer closing.
    pub(crate) async fn skip(&mut self, n: usize) {
        for _ in 0..n {
            if !matches!(self.frame(WAIT).await, Ok(Some(_))) {
                return;
            }
        }
    }
}

/// A UUID no other run of this process uses (and, by the time in it,
/// unlikely to match a leftover of an earlier process).
pub(crate) fn fresh_uuid() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        std::process::id(),
        n & 0xffff,
        (nanos >> 48) & 0xfff,
        (nanos >> 36) & 0xfff,
        nanos & 0xffff_ffff_ffff
    )
}
