//! Reading the built-in exporter over HTTP, as Prometheus would.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A plain HTTP/1.0 GET: (status code, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut buf))
        .await
        .expect("the exporter answered")
        .unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The value of the series whose line starts with `prefix` (name and
/// labels, e.g. `librevox_commands_total{kind="api"}`).
pub fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `/metrics` now.
pub async fn metrics(addr: SocketAddr) -> String {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    text
}
