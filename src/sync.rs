//! The one lock helper: a `Mutex` lock that recovers from poisoning.
//!
//! tracewire's locks guard state that is valid at every step (lists of
//! scopes, idle connections, seen messages), and nothing panics while
//! holding one, so a poisoned lock is taken as it is rather than turned
//! into a panic on every later caller. No lock is ever taken on the
//! record path's per-span work.
//!
//! This module must never block on anything but the lock itself.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning.
///
/// ```
/// let m = std::sync::Mutex::new(1);
/// *tracewire::internal::lock(&m) += 1;
/// assert_eq!(*m.lock().unwrap(), 2);
/// ```
#[inline]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
