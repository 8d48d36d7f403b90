//! What every layer of audiobook-organizer shares and nothing else: the
//! `Clock` time-based features read, ComputeFileHash, and the maps keyed
//! by paths and ids.

pub mod clock;
pub mod fast_map;
pub mod hash;
