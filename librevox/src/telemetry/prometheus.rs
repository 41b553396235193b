//! The built-in Prometheus exporter (feature `prometheus`): `/metrics`,
//! `/health` and `/ready` on one HTTP port.
//!
//! metrics-exporter-prometheus renders the series; its own HTTP listener
//! answers every path with the metrics, so hyper serves the three paths.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tracing::{debug, info};

use super::Health;
use crate::{Error, Result};

/// Histogram buckets (seconds) for the `_seconds` series.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// The Prometheus recorder, installed once per process as the global
/// `metrics` recorder.
fn handle() -> Result<PrometheusHandle> {
    static HANDLE: OnceLock<std::result::Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| {
                format!("another metrics recorder is installed already ({e}); use it instead of the built-in exporter")
            })?;
            Ok(handle)
        })
        .clone()
        .map_err(Error::Config)
}

/// A running exporter: where it listens. It serves until the runtime stops.
#[derive(Clone, Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
}

impl MetricsServer {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Installs the Prometheus recorder (once per process) and serves, on
/// `addr`, `/metrics` (Prometheus text format), `/health` (200 while the
/// process runs) and `/ready` (200 when every listener in
/// [`Health::global`] is ready, else 503 with a JSON body naming those that
/// are not). Fails when `addr` cannot be bound or another `metrics`
/// recorder was installed first.
pub async fn serve(addr: &str) -> Result<MetricsServer> {
    let handle = handle()?;
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Error::from(std::io::Error::new(
            e.kind(),
            format!("cannot serve metrics on {addr}: {e}"),
        ))
    })?;
    let local = listener.local_addr()?;
    info!(addr = %local, "serving /metrics, /health and /ready");
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(respond(&handle, &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = tokio::time::timeout(Duration::from_secs(30), conn).await {
                    debug!(error = %e, "metrics connection timed out");
                }
            });
        }
    });
    Ok(MetricsServer { addr: local })
}

fn respond(handle: &PrometheusHandle, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, kind, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", handle.render()),
        "/health" => (
            StatusCode::OK,
            "application/json",
            r#"{"status":"ok"}"#.to_owned(),
        ),
        "/ready" => {
            let readiness = Health::global().readiness();
            let status = if readiness.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, "application/json", readiness.to_json())
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /health or /ready\n".to_owned(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
