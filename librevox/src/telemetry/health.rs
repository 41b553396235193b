//! Which listeners are ready: what `/ready` reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The readiness of this process's listeners: an inbound listener is ready
/// while it is connected, authenticated and subscribed; an outbound server
/// while it is accepting calls. Listeners register themselves as they start
/// and leave when they stop; [`Health::global`] is the registry every
/// listener uses and `/ready` reports.
#[derive(Clone, Debug, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<u64, (String, bool)>>>,
}

/// The answer to "is everything ready?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Names of the listeners that are not ready (for example
    /// `inbound 127.0.0.1:8021`); empty when all are.
    pub not_ready: Vec<String>,
}

impl Readiness {
    /// True when every registered listener is ready.
    pub fn is_ready(&self) -> bool {
        self.not_ready.is_empty()
    }

    /// The small JSON body `/ready` answers with:
    /// `{"ready":false,"not_ready":["inbound 127.0.0.1:8021"]}`.
    pub fn to_json(&self) -> String {
        let names = serde_json::to_string(&self.not_ready).unwrap_or_else(|_| "[]".into());
        format!(r#"{{"not_ready":{names},"ready":{}}}"#, self.is_ready())
    }
}

impl Health {
    /// The process-wide registry the listeners report to.
    pub fn global() -> &'static Health {
        static GLOBAL: OnceLock<Health> = OnceLock::new();
        GLOBAL.get_or_init(Health::default)
    }

    /// The listeners that are not ready now.
    pub fn readiness(&self) -> Readiness {
        let map = self.components.lock().unwrap_or_else(|p| p.into_inner());
        Readiness {
            not_ready: map
                .values()
                .filter(|(_, ready)| !ready)
                .map(|(name, _)| name.clone())
                .collect(),
        }
    }

    /// Registers a listener named `name`, not ready yet; it leaves the
    /// registry when the returned guard is dropped.
    pub(crate) fn register(&self, name: String) -> Component {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, (name, false));
        Component {
            health: self.clone(),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (String, bool)>> {
        self.components.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One listener's entry in a [`Health`].
pub(crate) struct Component {
    health: Health,
    id: u64,
}

impl Component {
    pub(crate) fn set_ready(&self, ready: bool) {
        if let Some(entry) = self.health.lock().get_mut(&self.id) {
            entry.1 = ready;
        }
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.health.lock().remove(&self.id);
    }
}
