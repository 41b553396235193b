//! A scripted FreeSWITCH peer: reads client packets as FreeSWITCH does and
//! writes exact frames.

use std::time::Duration;

use bytes::BytesMut;
use librevox::protocol::packet::{read_packet, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Anything a peer can talk over (a duplex half or a TCP stream).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The FreeSWITCH side of an in-memory connection.
pub struct Peer<T = tokio::io::DuplexStream> {
    pub io: T,
    pub buf: BytesMut,
}

impl<T: Io> Peer<T> {
    pub fn new(io: T) -> Self {
        Peer {
            io,
            buf: BytesMut::new(),
        }
    }

    pub async fn packet(&mut self) -> Packet {
        loop {
            if let Some(p) = read_packet(&mut self.buf).expect("well-formed client packet") {
                return p;
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_buf(&mut self.buf))
                .await
                .expect("the client sent nothing")
                .unwrap();
            assert!(n > 0, "client closed the connection");
        }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.io.write_all(bytes.as_ref()).await.unwrap();
    }

    /// Plays FreeSWITCH's side of an outbound session's setup, checking each
    /// packet: `connect` (answered with a real captured connect reply),
    /// `myevents`, `linger`.
    pub async fn outbound_handshake(&mut self) {
        assert_eq!(self.packet().await.raw.as_ref(), b"connect\n\n");
        self.send(connect_reply()).await;
        assert_eq!(self.packet().await.raw.as_ref(), b"myevents\n\n");
        self.send(reply("+OK Events Enabled")).await;
        assert_eq!(self.packet().await.raw.as_ref(), b"linger\n\n");
        self.send(reply("+OK will linger")).await;
    }

    /// Reads until the client closes; returns everything it still sent.
    pub async fn until_closed(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_buf(&mut self.buf))
                .await
                .expect("the client did not close")
                .unwrap_or(0);
            if n == 0 {
                rest.extend_from_slice(&self.buf);
                return rest;
            }
        }
    }
}

pub fn reply(text: &str) -> String {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n")
}

pub fn api(body: &str) -> String {
    format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    )
}

pub fn event(headers: &[(&str, &str)], body: Option<&str>) -> String {
    let mut payload = String::new();
    for (n, v) in headers {
        payload.push_str(&format!("{n}: {v}\n"));
    }
    match body {
        Some(b) => payload.push_str(&format!("Content-Length: {}\n\n{b}", b.len())),
        None => payload.push('\n'),
    }
    format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n{payload}",
        payload.len()
    )
}

pub const GOODBYE: &str = "Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// The first frame of call_plain_outbound: FreeSWITCH's real `connect`
/// reply (channel abb8cff4-588a-4fed-b53c-81fd8b81441b).
pub fn connect_reply() -> Vec<u8> {
    let raw = super::raw("call_plain_outbound");
    let end = raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    raw[..end].to_vec()
}
