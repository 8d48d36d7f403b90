//! Telemetry sent to collectors the user already runs: OpenTelemetry
//! traces over OTLP/HTTP (`otlp.rs`). Follows the event bus; knows nothing
//! of HTTP serving.

pub mod otlp;
