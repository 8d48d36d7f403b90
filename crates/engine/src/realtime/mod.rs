//! The event hub: numbers every event, keeps a replay ring, fans events out
//! to clients with filters, bounded buffers and lag notices, and shapes each
//! client's stream (heartbeats, progress coalescing, status diffs). Knows
//! nothing of HTTP: the SSE and WebSocket handlers drive a `ClientStream`.

mod client;
mod hub;

pub use client::{ClientOptions, ClientStream, Outgoing};
pub use hub::{Backlog, Filter, Hub, HubConfig, HubEvent, Replay, Subscription, sse_frame};
