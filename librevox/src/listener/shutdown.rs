//! [`Shutdown`]: the handle that stops listeners.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A handle that stops listeners: cheap to clone, every clone is the same
/// switch.
///
/// [`trigger`](Shutdown::trigger) it once and everything watching it stops:
/// an inbound listener finishes its running hooks and sends `exit`, an
/// outbound server stops accepting and gives running calls their grace
/// period. Triggering is idempotent and cannot be undone.
///
/// A [`child`](Shutdown::child) stops when its parent does, but triggering
/// the child leaves the parent alone. A [`Runner`](crate::Runner) gives each
/// of its listeners a child of its own handle, so a hook that triggers its
/// listener's handle ([`Inbound::shutdown`](crate::Inbound::shutdown),
/// [`Session::shutdown`](crate::Session::shutdown)) stops that listener
/// only, while [`Runner::shutdown_handle`](crate::Runner::shutdown_handle)
/// stops them all.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shutdown = librevox::Shutdown::new();
/// let listener = shutdown.child();
/// let waiter = tokio::spawn({
///     let listener = listener.clone();
///     async move { listener.wait().await }
/// });
/// shutdown.trigger();
/// waiter.await.unwrap();
/// assert!(listener.is_triggered());
/// # }
/// ```
///
/// Programs that already use tokio-util's `CancellationToken` can pass one
/// wherever a `Shutdown` is taken (`Shutdown: From<CancellationToken>`); the
/// two then share their state.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Stops everything watching this handle (and its children). Calling it
    /// again does nothing.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once this handle or one of its ancestors was triggered.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once this handle is triggered (at once if it already was).
    /// It has no deadline of its own: it is the thing other waits race
    /// against.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        self.token.cancelled()
    }

    /// A handle that is triggered with this one, and can be triggered alone.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }
}

impl From<CancellationToken> for Shutdown {
    /// Wraps the token: cancelling it triggers the handle and vice versa.
    fn from(token: CancellationToken) -> Shutdown {
        Shutdown { token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_stops_with_its_parent_but_not_the_other_way_round() {
        let root = Shutdown::new();
        let a = root.child();
        let b = root.child();
        let grandchild = a.child();
        a.trigger();
        assert!(a.is_triggered() && grandchild.is_triggered());
        assert!(!root.is_triggered() && !b.is_triggered());
        root.trigger();
        assert!(b.is_triggered());
        // Idempotent.
        root.trigger();
        assert!(root.is_triggered());
    }

    #[test]
    fn clones_and_wrapped_tokens_share_their_state() {
        let token = CancellationToken::new();
        let shutdown = Shutdown::from(token.clone());
        let copy = shutdown.clone();
        assert!(!copy.is_triggered());
        token.cancel();
        assert!(shutdown.is_triggered() && copy.is_triggered());

        let token = CancellationToken::new();
        Shutdown::from(token.clone()).trigger();
        assert!(token.is_cancelled());
    }

    fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn wait_completes_once_triggered() {
        let shutdown = Shutdown::new();
        let mut wait = std::pin::pin!(shutdown.wait());
        assert!(poll_once(wait.as_mut()).is_pending());
        shutdown.trigger();
        assert!(poll_once(wait.as_mut()).is_ready());
        // Already triggered: ready at once.
        assert!(poll_once(std::pin::pin!(shutdown.wait())).is_ready());
    }
}
