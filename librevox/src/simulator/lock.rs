//! Mutex locking for the simulator's shared state.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning (a panicking test thread must not make
/// the simulator unusable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
