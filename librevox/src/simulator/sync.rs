//! Concurrency helpers shared by the simulator's modules.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};

/// A boxed, sendable future (for recursion and for tables of async
/// functions).
pub(crate) type BoxFut<'a, T = ()> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Locks a mutex, ignoring poisoning (a panicking test thread must not make
/// the simulator unusable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
