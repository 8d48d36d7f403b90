//! External metadata sources, each behind a circuit breaker that lives as
//! long as the process.

pub mod breaker;
pub mod openlibrary;

pub use breaker::{BreakerState, Breakers, CircuitBreaker};
