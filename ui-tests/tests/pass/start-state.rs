//! Listeners with state: `start!(Type = value)` for inbound listeners,
//! `factory` for outbound ones, filter values computed when the listener
//! connects. The futures are built, not run.

use std::sync::Arc;

use librevox::{inbound, outbound, start, Event, InboundListener, Session};

/// No `Default`: it needs its configuration.
struct Monitor {
    context: String,
    extra: Vec<String>,
}

fn from_config() -> String {
    "example".to_owned()
}

#[inbound(events = ["CHANNEL_ANSWER"],
          filters("Caller-Context" = self.context.clone(),
                  "Caller-Dest" = ["100", from_config()],
                  "X-Extra" = &self.extra,
                  "X-Fixed" = "yes"))]
impl Monitor {
    async fn on_event(&self, _event: &Event) {}
}

/// Each call gets a fresh value sharing the pool.
struct Ivr {
    pool: Arc<String>,
}

#[outbound]
impl Ivr {
    async fn session_initiated(&self, _call: &Session) -> librevox::Result<()> {
        let _ = self.pool.len();
        Ok(())
    }
}

fn make_ivr(pool: Arc<String>) -> impl Fn() -> Ivr + Send + Sync + 'static {
    move || Ivr { pool: pool.clone() }
}

fn main() {
    let monitor = Monitor {
        context: "default".to_owned(),
        extra: vec!["a".to_owned(), "b".to_owned()],
    };
    let filters: Vec<(String, String)> = monitor.subscription().filters;
    let filters: Vec<(&str, &str)> = filters.iter().map(|(h, v)| (h.as_str(), v.as_str())).collect();
    assert_eq!(
        filters,
        [
            ("Caller-Context", "default"),
            ("Caller-Dest", "100"),
            ("Caller-Dest", "example"),
            ("X-Extra", "a"),
            ("X-Extra", "b"),
            ("X-Fixed", "yes"),
        ]
    );

    let pool = Arc::new("postgres://".to_owned());
    let run = start!(
        Monitor = monitor,
        Monitor(port = 8022, password = "pw") = Monitor {
            context: "public".to_owned(),
            extra: Vec::new(),
        },
        Ivr(factory = {
            let pool = pool.clone();
            move || Ivr { pool: pool.clone() }
        }),
        Ivr(port = 8085, factory = make_ivr(pool)),
    );
    drop(run);
}
