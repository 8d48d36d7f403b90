//! What every layer of audiobook-organizer shares and nothing else: the
//! `Clock` time-based features read, ComputeFileHash, and the maps keyed
//! by paths and ids (`fast_map`, `sorted_map`).

pub mod clock;
pub mod fast_map;
pub mod hash;
pub mod limits;
pub mod memory;
pub mod sorted_map;

/// The message a caught panic carried.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
