//! A turn that one job holds at a time, waited for without missing a
//! cancellation: a waiting operation stays cancellable and starts the
//! moment the turn is free.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often a waiting job looks at its cancellation token.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct OneAtATime {
    busy: Mutex<bool>,
    freed: Condvar,
}

/// Holding the turn; dropping it hands the turn on.
pub struct Turn<'a>(&'a OneAtATime);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.freed.notify_one();
    }
}

fn lock(m: &Mutex<bool>) -> MutexGuard<'_, bool> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl OneAtATime {
    /// The turn, once it is free; `waiting` is called once if it is not
    /// free at first. None if `cancelled` says so while waiting.
    pub fn take(&self, cancelled: impl Fn() -> bool, waiting: impl FnOnce()) -> Option<Turn<'_>> {
        let mut busy = lock(&self.busy);
        let mut waiting = Some(waiting);
        while *busy {
            if cancelled() {
                return None;
            }
            if let Some(w) = waiting.take() {
                w();
            }
            busy = self
                .freed
                .wait_timeout(busy, CANCEL_CHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *busy = true;
        Some(Turn(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn one_holder_at_a_time_and_a_waiter_can_give_up() {
        let gate = OneAtATime::default();
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _turn = gate.take(|| false, || {}).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);

        let held = gate.take(|| false, || {}).unwrap();
        let told = AtomicBool::new(false);
        let asked = AtomicUsize::new(0);
        // Cancelled on its third look: told once that it waits, then gives up.
        let gave_up = gate.take(
            || asked.fetch_add(1, Ordering::SeqCst) == 2,
            || told.store(true, Ordering::SeqCst),
        );
        assert!(gave_up.is_none());
        assert!(told.load(Ordering::SeqCst));
        drop(held);
        assert!(gate.take(|| true, || panic!("free: no wait")).is_some());
    }
}
