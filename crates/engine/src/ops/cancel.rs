//! Cancellation tokens: a flag and an optional deadline, checked without I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Someone asked for it: the operation ends `canceled`.
    User,
    /// The per-type timeout passed: the operation ends `failed`.
    Timeout,
    /// The process is stopping: the operation ends `interrupted`.
    Shutdown,
}

#[derive(Clone, Debug)]
pub struct CancelToken {
    state: Arc<AtomicU8>,
    deadline: Option<Instant>,
}

const LIVE: u8 = 0;

impl CancelToken {
    pub fn new(deadline: Option<Instant>) -> Self {
        Self {
            state: Arc::new(AtomicU8::new(LIVE)),
            deadline,
        }
    }

    /// The first reason given wins.
    pub fn cancel(&self, reason: CancelReason) {
        let code = match reason {
            CancelReason::User => 1,
            CancelReason::Timeout => 2,
            CancelReason::Shutdown => 3,
        };
        let _ = self
            .state
            .compare_exchange(LIVE, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<CancelReason> {
        match self.state.load(Ordering::Relaxed) {
            1 => Some(CancelReason::User),
            2 => Some(CancelReason::Timeout),
            3 => Some(CancelReason::Shutdown),
            _ => match self.deadline {
                Some(d) if Instant::now() >= d => {
                    self.cancel(CancelReason::Timeout);
                    self.reason()
                }
                _ => None,
            },
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_reason_wins_and_deadline_times_out() {
        let t = CancelToken::new(None);
        assert!(!t.is_cancelled());
        t.cancel(CancelReason::User);
        t.cancel(CancelReason::Shutdown);
        assert_eq!(t.reason(), Some(CancelReason::User));
        let d = CancelToken::new(Some(Instant::now() - Duration::from_millis(1)));
        assert_eq!(d.reason(), Some(CancelReason::Timeout));
    }
}
