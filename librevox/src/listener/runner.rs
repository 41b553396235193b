//! Running several listeners together, with graceful shutdown and logging.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use super::inbound::{run_inbound, InboundSettings};
use super::outbound::{serve_outbound, OutboundSettings};
use super::shutdown::Shutdown;
use super::{InboundListener, OutboundListener};
use crate::error::{Error, Result};

type Task = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Starter = Box<dyn FnOnce(Shutdown) -> Task + Send>;

/// Runs inbound and outbound listeners together until Ctrl-C or SIGTERM (or
/// [`Runner::shutdown_handle`] is triggered). On shutdown, outbound servers
/// stop accepting and give running calls a deadline; inbound listeners send
/// `exit`.
///
/// Each listener watches a [child](Shutdown::child) of the runner's handle:
/// a hook that triggers its own listener's handle
/// ([`Inbound::shutdown`](crate::Inbound::shutdown),
/// [`Session::shutdown`](crate::Session::shutdown)) stops that listener and
/// leaves the others running; [`run`](Runner::run) returns once every
/// listener has stopped.
///
/// `librevox::start!` builds one of these; you can also build it by hand:
///
/// ```no_run
/// # use librevox::listener::*;
/// # struct Monitor;
/// # impl InboundListener for Monitor {
/// #     async fn handle_event(&self, _: &Inbound, _: &librevox::Event) {}
/// # }
/// # async fn f() -> librevox::Result<()> {
/// Runner::new()
///     .inbound(Monitor, InboundSettings::new("127.0.0.1:8021"))
///     .run()
///     .await
/// # }
/// ```
pub struct Runner {
    starters: Vec<(String, Starter)>,
    shutdown: Shutdown,
    signals: bool,
    logging: Option<LogOptions>,
    #[cfg(feature = "prometheus")]
    metrics: Option<String>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field(
                "listeners",
                &self.starters.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    /// An empty runner that stops on Ctrl-C / SIGTERM.
    pub fn new() -> Runner {
        Runner {
            starters: Vec::new(),
            shutdown: Shutdown::new(),
            signals: true,
            logging: Some(LogOptions::default()),
            #[cfg(feature = "prometheus")]
            metrics: None,
        }
    }

    /// Log with these options (file, level) when the runner starts. By
    /// default it installs [`init_logging`]'s subscriber with default options
    /// (standard error, `RUST_LOG` or `info`), unless the program installed a
    /// `tracing` subscriber of its own first.
    pub fn logging(mut self, options: LogOptions) -> Runner {
        self.logging = Some(options);
        self
    }

    /// Serve Prometheus metrics, `/health` and `/ready` on `addr` (for
    /// example `127.0.0.1:9464`) while the runner runs; see
    /// [`telemetry::serve`](crate::telemetry::serve). `run` fails at once
    /// when the address cannot be bound.
    #[cfg(feature = "prometheus")]
    pub fn metrics(mut self, addr: impl Into<String>) -> Runner {
        self.metrics = Some(addr.into());
        self
    }

    /// Do not install a `tracing` subscriber.
    pub fn without_logging(mut self) -> Runner {
        self.logging = None;
        self
    }

    /// Do not install the Ctrl-C / SIGTERM handlers (stop only through
    /// [`shutdown_handle`](Self::shutdown_handle)).
    pub fn without_signals(mut self) -> Runner {
        self.signals = false;
        self
    }

    /// The handle that stops every listener of this runner when triggered
    /// (what Ctrl-C and SIGTERM do). Give it to a listener value to let its
    /// hooks stop the whole program.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Adds an inbound listener.
    pub fn inbound<L: InboundListener>(self, listener: L, settings: InboundSettings) -> Runner {
        self.inbound_many(listener, [settings])
    }

    /// Adds one inbound listener value connected to several switches: one
    /// connection per entry of `switches`, each independent (its own
    /// handshake, reconnects and backoff, liveness probes, metrics and
    /// `/ready` entry, event dispatch), all calling the hooks of the same
    /// `listener`. Hooks tell the switches apart with
    /// [`Inbound::switch`](crate::Inbound::switch); give each switch a
    /// [`name`](InboundSettings::name) to choose what it returns. Events of
    /// one channel keep their order per switch; events of different
    /// switches are handled concurrently.
    ///
    /// A connection that stops with an error (a refused password with
    /// [`give_up_on_refusal`](InboundSettings::give_up_on_refusal), a
    /// subscription FreeSWITCH refuses) stops the runner, as a single
    /// listener does; a switch that goes away is retried while the others
    /// keep delivering.
    ///
    /// ```no_run
    /// # use librevox::listener::*;
    /// # struct Monitor;
    /// # impl InboundListener for Monitor {
    /// #     async fn handle_event(&self, _: &Inbound, _: &librevox::Event) {}
    /// # }
    /// # async fn f() -> librevox::Result<()> {
    /// Runner::new()
    ///     .inbound_many(
    ///         Monitor,
    ///         [
    ///             InboundSettings::new("10.0.0.1:8021").name("fs1"),
    ///             InboundSettings::new("10.0.0.2:8021").name("fs2"),
    ///         ],
    ///     )
    ///     .run()
    ///     .await
    /// # }
    /// ```
    pub fn inbound_many<L: InboundListener>(
        mut self,
        listener: L,
        switches: impl IntoIterator<Item = InboundSettings>,
    ) -> Runner {
        let listener = Arc::new(listener);
        for settings in switches {
            let name = match &settings.name {
                Some(n) => format!("inbound {n} {}", settings.addr),
                None => format!("inbound {}", settings.addr),
            };
            let listener = listener.clone();
            self.starters.push((
                name,
                Box::new(move |token| Box::pin(run_inbound(listener, settings, token))),
            ));
        }
        self
    }

    /// Adds an inbound listener fed from NATS JetStream instead of a switch
    /// socket (feature `nats`): a durable pull consumer on the bridge's
    /// stream; see [`listener::stream`](super::stream) for the guarantee.
    ///
    /// ```no_run
    /// # use librevox::listener::*;
    /// # struct Billing;
    /// # impl InboundListener for Billing {
    /// #     async fn handle_event(&self, _: &Inbound, _: &librevox::Event) {}
    /// # }
    /// # async fn f() -> librevox::Result<()> {
    /// Runner::new()
    ///     .stream(Billing, StreamSettings::new("nats://127.0.0.1:4222", "billing"))
    ///     .run()
    ///     .await
    /// # }
    /// ```
    #[cfg(feature = "nats")]
    pub fn stream<L: InboundListener>(
        mut self,
        listener: L,
        settings: super::stream::StreamSettings,
    ) -> Runner {
        let name = format!("stream {} {}", settings.consumer, settings.nats_url);
        let listener = Arc::new(listener);
        self.starters.push((
            name,
            Box::new(move |token| Box::pin(super::stream::run_stream(listener, settings, token))),
        ));
        self
    }

    /// Adds an outbound server whose calls each get a listener from `factory`.
    pub fn outbound<L, F>(mut self, factory: F, settings: OutboundSettings) -> Runner
    where
        L: OutboundListener,
        F: Fn() -> L + Send + Sync + 'static,
    {
        let name = format!("outbound {}", settings.bind);
        self.starters.push((
            name,
            Box::new(move |token| {
                Box::pin(async move {
                    let listener = TcpListener::bind(&settings.bind).await.map_err(|e| {
                        Error::from(std::io::Error::new(
                            e.kind(),
                            format!("cannot listen on {}: {e}", settings.bind),
                        ))
                    })?;
                    serve_outbound(listener, factory, settings, token).await
                })
            }),
        ));
        self
    }

    /// Runs every listener until shutdown. Returns the first error a listener
    /// stopped with (an outbound port that cannot be bound, for example).
    pub async fn run(self) -> Result<()> {
        if let Some(options) = &self.logging {
            init_logging(options)?;
        }
        #[cfg(feature = "prometheus")]
        if let Some(addr) = &self.metrics {
            crate::telemetry::serve(addr).await?;
        }
        let shutdown = self.shutdown.clone();
        let signals = self.signals.then(|| {
            let s = shutdown.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                info!("shutdown requested; stopping listeners");
                s.trigger();
            })
        });
        info!(listeners = self.starters.len(), "starting librevox");
        let mut set = tokio::task::JoinSet::new();
        for (name, start) in self.starters {
            let fut = start(shutdown.child());
            set.spawn(async move { (name, fut.await) });
        }
        let mut first_err = None;
        while let Some(done) = set.join_next().await {
            match done {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => {
                    tracing::error!(listener = %name, error = %e, "listener stopped with an error");
                    shutdown.trigger();
                    first_err.get_or_insert(e);
                }
                Err(join) => {
                    shutdown.trigger();
                    first_err
                        .get_or_insert(Error::protocol(format!("listener task failed: {join}")));
                }
            }
        }
        if let Some(signals) = signals {
            signals.abort();
        }
        info!("librevox stopped");
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Builds a multi-threaded tokio runtime and runs until shutdown: for a
    /// plain `fn main`.
    pub fn run_blocking(self) -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(self.run())
    }
}

/// Completes on the first SIGINT (Ctrl-C) or, on Unix, SIGTERM: what
/// [`Runner`] waits for before shutting down, for programs that run their
/// own loop (the `librevox bridge` command, for one).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logging options, as the original's `log_file` / `log_level`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct LogOptions {
    /// Write logs to this file instead of standard error.
    pub file: Option<PathBuf>,
    /// Default level filter (`info` unless `RUST_LOG` says otherwise), e.g.
    /// `"debug"` or `"librevox=trace,info"`.
    pub level: Option<String>,
    /// Text lines for people, or JSON lines for a log pipeline.
    pub format: LogFormat,
}

/// How [`init_logging`] writes each record: always one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum LogFormat {
    /// tracing-subscriber's text format: time, level, the spans with their
    /// fields, the message and its fields. A line break inside a value
    /// (a disconnect notice, a FreeSWITCH log line) is written as `\n`.
    #[default]
    Text,
    /// tracing-subscriber's JSON format, one object per line:
    /// `timestamp`, `level`, `fields` (with `message`), `target`, `span`
    /// (the innermost) and `spans` (outermost first), each span with its
    /// `name` and fields, e.g.
    /// `"spans":[{"name":"session","uuid":"...","caller":"1000"},{"name":"application","name":"playback",...}]`.
    Json,
}

/// A writer that keeps each record on one line: tracing-subscriber writes a
/// record with one `write_all`, ending in its line break; a line break
/// before that (in a value) is escaped as `\n`, a carriage return as `\r`.
struct OneLine<W>(W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        if !body.iter().any(|&b| b == b'\n' || b == b'\r') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        if body.len() < buf.len() {
            line.push(b'\n');
        }
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Installs a `tracing` subscriber that honours `RUST_LOG` (falling back to
/// `options.level`, then `info`), writing to standard error or to
/// `options.file`. Does nothing if a subscriber is already installed. Lines
/// are coloured only when standard error is a terminal (see
/// [`use_colour`]); a file never gets colours.
pub fn init_logging(options: &LogOptions) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(options.level.as_deref().unwrap_or("info")))
        .map_err(|e| Error::protocol(format!("invalid log level: {e}")))?;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let (writer, ansi) = match &options.file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let file = std::sync::Arc::new(std::sync::Mutex::new(file));
            let make = BoxMakeWriter::new(move || OneLine(FileWriter(file.clone())));
            (make, false)
        }
        None => {
            use std::io::IsTerminal;
            (
                BoxMakeWriter::new(|| OneLine(std::io::stderr())),
                use_colour(std::io::stderr().is_terminal()),
            )
        }
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match options.format {
        LogFormat::Text => builder.with_ansi(ansi).with_writer(writer).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .try_init(),
    };
    // An already installed subscriber wins; that is not an error.
    let _ = result;
    Ok(())
}

/// A log file shared by the writers `init_logging` hands out.
struct FileWriter(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// Whether output to a stream should carry ANSI colours: only when the
/// stream is a terminal, `NO_COLOR` is unset or empty (<https://no-color.org>)
/// and `TERM` is not `dumb`. [`init_logging`] asks it for standard error;
/// call it with your own stream's
/// [`is_terminal`](std::io::IsTerminal::is_terminal) to follow the same
/// policy.
///
/// ```
/// use std::io::IsTerminal;
/// let colour = librevox::listener::use_colour(std::io::stdout().is_terminal());
/// # let _ = colour;
/// ```
pub fn use_colour(stream_is_terminal: bool) -> bool {
    colour_policy(
        stream_is_terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn colour_policy(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_escapes_line_breaks_inside_a_record() {
        use std::io::Write;
        let mut out = super::OneLine(Vec::new());
        out.write_all(b"INFO closed reason=bye.\nSee you\r\n\n")
            .unwrap();
        out.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "INFO closed reason=bye.\\nSee you\\r\\n\nINFO plain\n"
        );
    }

    use super::colour_policy;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_a_dumb_term() {
        let some = |s| Some(OsStr::new(s));
        let xterm = some("xterm-256color");
        assert!(colour_policy(true, None, xterm));
        assert!(colour_policy(true, None, None));
        assert!(
            colour_policy(true, some(""), xterm),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour_policy(false, None, xterm), "a file or a pipe");
        assert!(!colour_policy(true, some("1"), xterm));
        assert!(
            !colour_policy(true, some("0"), xterm),
            "any non-empty value"
        );
        assert!(!colour_policy(true, None, some("dumb")));
    }
}
