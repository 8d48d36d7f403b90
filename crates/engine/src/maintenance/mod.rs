//! Background tasks of a serving engine: log and operation retention,
//! daily growth snapshots, the integrity schedule and health pings. Each is
//! a thread that sleeps on a shared stop signal; none knows about HTTP.

pub mod growth;
pub mod health;
pub mod retention;
pub mod schedule;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Wakes sleeping tasks when the engine stops.
#[derive(Default)]
pub struct Stopper {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stopper {
    /// Sleeps up to `d`; true when the engine is stopping.
    pub fn sleep(&self, d: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// The running tasks; stopping joins them.
#[derive(Default)]
pub struct Maintenance {
    stopper: Arc<Stopper>,
    threads: Vec<JoinHandle<()>>,
}

impl Maintenance {
    /// What the tasks sleep on; long tasks also check it between steps.
    pub fn stopper(&self) -> Arc<Stopper> {
        self.stopper.clone()
    }

    /// Runs `tick` now and then every `period` until stopped.
    pub fn every(&mut self, name: &str, period: Duration, mut tick: impl FnMut() + Send + 'static) {
        let stopper = self.stopper.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                loop {
                    if stopper.is_stopped() {
                        return;
                    }
                    tick();
                    if stopper.sleep(period) {
                        return;
                    }
                }
            })
            .expect("spawn maintenance thread");
        self.threads.push(handle);
    }

    /// A thread of the engine's that stops with the others (it watches
    /// `stopper()`).
    pub fn adopt(&mut self, handle: JoinHandle<()>) {
        self.threads.push(handle);
    }

    pub fn stop(self) {
        self.stopper.stop();
        let me = std::thread::current().id();
        for t in self.threads {
            // The last engine handle may be dropped by a task itself.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}
